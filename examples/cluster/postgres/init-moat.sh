#!/bin/sh
# Creates moat's database and its two roles, once, when the PostgreSQL
# container initialises an empty data directory (the official image runs
# /docker-entrypoint-initdb.d/*.sh as the superuser). The same statements,
# by hand, are in docs/deployment.md ("PostgreSQL").
#
#   moat_owner  owns the schema: `moat db migrate` runs as it
#   moat_app    what the gateway nodes connect as: rows, not tables
set -eu
: "${MOAT_OWNER_PASSWORD:?}" "${MOAT_APP_PASSWORD:?}"
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \
     -v owner_password="$MOAT_OWNER_PASSWORD" -v app_password="$MOAT_APP_PASSWORD" <<'SQL'
CREATE ROLE moat_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE moat_app LOGIN PASSWORD :'app_password' CONNECTION LIMIT 64;
CREATE DATABASE moat OWNER moat_owner;
REVOKE ALL ON DATABASE moat FROM PUBLIC;
GRANT CONNECT ON DATABASE moat TO moat_app;
\connect moat
REVOKE ALL ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO moat_owner;
GRANT USAGE ON SCHEMA public TO moat_app;
-- Whatever moat_owner creates from now on (the migrations' tables and
-- sequences), moat_app may read and write, but not alter or drop.
ALTER DEFAULT PRIVILEGES FOR ROLE moat_owner IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO moat_app;
ALTER DEFAULT PRIVILEGES FOR ROLE moat_owner IN SCHEMA public
  GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO moat_app;
SQL
