//! The PostgreSQL schema: versioned, forward-only migrations recorded in
//! `moat_schema`. Its versions are its own (SQLite's file has its list in
//! `crate::sqlite`). Bump by appending to [`MIGRATIONS`]; never edit one
//! that has shipped.
//!
//! Text that is sorted (ids, subjects, names) uses the `C` collation, so
//! lists come back in the same byte order as from SQLite whatever the
//! database's locale.

use sqlx::postgres::PgPool;

use crate::store::StoreError;

/// The newest schema this build knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The advisory lock key that serialises migrations across nodes
/// (`moat` and `schema` in ASCII, so it is unlikely to meet another
/// application's key).
const MIGRATION_LOCK: i64 = 0x6d6f_6174_7363_6865;

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: everything SQLite schema 8 holds, in PostgreSQL types.
    r#"CREATE TABLE api_keys (
        key_id       TEXT COLLATE "C" PRIMARY KEY,
        consumer_id  TEXT COLLATE "C" NOT NULL,
        name         TEXT,
        scopes       TEXT NOT NULL,
        secret_hash  BYTEA NOT NULL,
        created_at   BIGINT NOT NULL,
        expires_at   BIGINT,
        last_used_at BIGINT,
        revoked_at   BIGINT,
        rotated_from TEXT
    );
    CREATE INDEX api_keys_by_consumer ON api_keys (consumer_id, created_at);

    CREATE TABLE object_owners (
        api         TEXT NOT NULL,
        kind        TEXT NOT NULL,
        object_id   TEXT NOT NULL,
        consumer_id TEXT NOT NULL,
        created_at  BIGINT NOT NULL,
        PRIMARY KEY (api, kind, object_id)
    );

    CREATE TABLE quota_windows (
        key          TEXT COLLATE "C" PRIMARY KEY,
        window_index BIGINT NOT NULL,
        current      BIGINT NOT NULL,
        previous     BIGINT NOT NULL,
        expires_at   BIGINT NOT NULL
    );
    CREATE INDEX quota_windows_by_expiry ON quota_windows (expires_at);

    CREATE TABLE bans (
        subject    TEXT COLLATE "C" PRIMARY KEY,
        reason     TEXT NOT NULL,
        source     TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT
    );
    CREATE INDEX bans_by_expiry ON bans (expires_at);

    CREATE TABLE security_events (
        seq           BIGINT PRIMARY KEY,
        id            TEXT NOT NULL,
        time          BIGINT NOT NULL,
        request_id    TEXT,
        api           TEXT COLLATE "C",
        operation     TEXT COLLATE "C",
        consumer      TEXT COLLATE "C",
        client        TEXT COLLATE "C",
        method        TEXT,
        path          TEXT,
        control       TEXT NOT NULL,
        kind          TEXT COLLATE "C" NOT NULL,
        rule          TEXT,
        location      TEXT,
        severity      TEXT NOT NULL,
        severity_rank BIGINT NOT NULL,
        action        TEXT NOT NULL,
        status        BIGINT,
        evidence      TEXT,
        actor         TEXT,
        size          BIGINT NOT NULL,
        prev_hash     TEXT NOT NULL,
        hash          TEXT NOT NULL,
        repeats       BIGINT
    );
    CREATE INDEX security_events_by_time ON security_events (time);
    CREATE INDEX security_events_by_api ON security_events (api, time);
    CREATE INDEX security_events_by_client ON security_events (client, time);
    CREATE INDEX security_events_by_consumer ON security_events (consumer, time);
    CREATE INDEX security_events_by_kind ON security_events (kind);
    CREATE INDEX security_events_by_id ON security_events (id);
    CREATE TABLE event_chain (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        anchor      TEXT NOT NULL,
        head        TEXT NOT NULL,
        head_seq    BIGINT NOT NULL,
        total_bytes BIGINT NOT NULL
    );
    INSERT INTO event_chain (id, anchor, head, head_seq, total_bytes) VALUES (1,
        '0000000000000000000000000000000000000000000000000000000000000000',
        '0000000000000000000000000000000000000000000000000000000000000000', 0, 0);

    CREATE TABLE admin_tokens (
        id           TEXT COLLATE "C" PRIMARY KEY,
        name         TEXT NOT NULL,
        role         TEXT NOT NULL,
        token_hash   BYTEA NOT NULL,
        created_at   BIGINT NOT NULL,
        last_used_at BIGINT,
        revoked_at   BIGINT
    );
    CREATE UNIQUE INDEX admin_tokens_unrevoked_name ON admin_tokens (name)
        WHERE revoked_at IS NULL;

    CREATE TABLE discovered_operations (
        api        TEXT COLLATE "C" NOT NULL,
        method     TEXT COLLATE "C" NOT NULL,
        template   TEXT COLLATE "C" NOT NULL,
        requests   BIGINT NOT NULL,
        first_seen BIGINT NOT NULL,
        last_seen  BIGINT NOT NULL,
        shape      TEXT NOT NULL,
        PRIMARY KEY (api, method, template)
    );"#,
];

/// Creates `moat_schema` when missing.
const SCHEMA_TABLE: &str = "CREATE TABLE IF NOT EXISTS moat_schema (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
)";

/// The database's version; 0 when it has no `moat_schema` (empty).
pub(super) async fn version(pool: &PgPool) -> Result<i64, StoreError> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('moat_schema') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(0);
    }
    Ok(
        sqlx::query_scalar("SELECT version FROM moat_schema WHERE id = 1")
            .fetch_optional(pool)
            .await?
            .unwrap_or(0),
    )
}

/// Applies the missing migrations in one transaction, under an advisory
/// lock so that nodes starting together migrate once; `(from, to)`.
pub(super) async fn migrate(pool: &PgPool) -> Result<(i64, i64), StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(SCHEMA_TABLE).execute(&mut *tx).await?;
    let found: i64 = sqlx::query_scalar("SELECT version FROM moat_schema WHERE id = 1")
        .fetch_optional(&mut *tx)
        .await?
        .unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found == SCHEMA_VERSION {
        tx.commit().await?;
        return Ok((found, found));
    }
    for migration in MIGRATIONS.iter().skip(usize::try_from(found).unwrap_or(0)) {
        sqlx::raw_sql(*migration).execute(&mut *tx).await?;
    }
    sqlx::query(
        "INSERT INTO moat_schema (id, version) VALUES (1, $1)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version",
    )
    .bind(SCHEMA_VERSION)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((found, SCHEMA_VERSION))
}
