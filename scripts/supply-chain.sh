#!/usr/bin/env bash
# Checks the dependency tree against deny.toml with cargo-deny: licences,
# banned crates (a second TLS stack or crypto provider), sources (crates.io
# only) and, when the RustSec advisory database can be fetched (from
# GitHub), known vulnerabilities and yanked crates.
#
# Usage, from anywhere in the repository:
#   bash scripts/supply-chain.sh              # licences, bans, sources; advisories when reachable
#   ADVISORIES=required bash scripts/supply-chain.sh   # fail when the database cannot be fetched
#
# Installs cargo-deny (from crates.io) when it is missing. Exits non-zero
# when a check fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v cargo-deny >/dev/null 2>&1; then
    echo "supply-chain.sh: installing cargo-deny" >&2
    cargo install cargo-deny --locked --no-default-features
fi

cargo deny --locked check bans licenses sources

advisories="${ADVISORIES:-when-reachable}"
if cargo deny --locked fetch db >/dev/null 2>&1; then
    cargo deny --locked check --disable-fetch advisories
elif [ "${advisories}" = required ]; then
    echo "supply-chain.sh: the RustSec advisory database cannot be fetched" >&2
    exit 1
else
    echo "supply-chain.sh: the RustSec advisory database cannot be fetched (no route to GitHub); advisories not checked" >&2
fi
