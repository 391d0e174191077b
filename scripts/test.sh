#!/usr/bin/env bash
# The whole test suite: unit tests, integration tests through real sockets
# (the moat binary, a real upstream, TLS with generated certificates), the
# OpenAPI documents in ../shared/specs, doc tests, a compile of every
# benchmark, and a short run of every fuzz target. Installs what the tests
# need and is not on the machine yet.
set -euo pipefail
cd "$(dirname "$0")/.."

need_debian() {
  # need_debian COMMAND PACKAGE: install PACKAGE when COMMAND is missing.
  if ! command -v "$1" >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
      echo "test.sh: '$1' is missing; install the Debian package '$2'" >&2
      exit 1
    fi
    echo "test.sh: installing $2" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  fi
}

# kill(1) sends SIGHUP/SIGTERM to the gateway in the lifecycle tests.
need_debian kill procps
# ss(8): the listen backlog tests read the listening sockets.
need_debian ss iproute2
# The JWT tests generate RSA keys with openssl(1).
need_debian openssl openssl
# The Redis limit store tests run a real redis-server, and read its keys
# with redis-cli.
need_debian redis-server redis-server
need_debian redis-cli redis-tools
# The PostgreSQL store tests run a real PostgreSQL (initdb and postgres,
# on PATH or in the Debian package's /usr/lib/postgresql/*/bin).
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need_debian initdb postgresql
fi
# The console tests drive a headless chromium through chromedriver.
need_debian chromium chromium
need_debian chromedriver chromium-driver

specs="../shared/specs"
if [ ! -d "$specs" ]; then
  echo "test.sh: the shared OpenAPI documents are missing: expected $(pwd)/$specs" >&2
  exit 1
fi

# Supply chain, offline: no crate deny.toml bans (a second TLS stack or
# crypto provider) in the dependency graph, every package from crates.io.
# The full cargo-deny check is `bash scripts/supply-chain.sh`.
bash scripts/supply-chain.sh --quick

# Every fuzz target, briefly: 60 s of fuzzing in all, split across the
# targets, on an unoptimised build without the sanitizer, which builds in
# half the time (cargo-fuzz on the nightly toolchain; long runs:
# FUZZ_SECONDS=600 bash scripts/fuzz.sh).
FUZZ_BUDGET="${FUZZ_BUDGET:-60}" FUZZ_FLAGS="${FUZZ_FLAGS:---dev -s none}" bash scripts/fuzz.sh

cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked
