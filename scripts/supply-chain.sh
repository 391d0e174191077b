#!/usr/bin/env bash
# Checks the dependency tree against deny.toml with cargo-deny: licences,
# banned crates (a second TLS stack or crypto provider), sources (crates.io
# only) and, when the RustSec advisory database can be fetched (from
# GitHub), known vulnerabilities and yanked crates.
#
# Usage, from anywhere in the repository:
#   bash scripts/supply-chain.sh              # licences, bans, sources; advisories when reachable
#   ADVISORIES=required bash scripts/supply-chain.sh   # fail when the database cannot be fetched
#   bash scripts/supply-chain.sh --quick      # bans and sources with cargo alone (the test command)
#
# Installs cargo-deny (from crates.io) when it is missing. Exits non-zero
# when a check fails.
#
# --quick needs no cargo-deny and no network, and takes seconds: no crate
# that deny.toml bans is anywhere in the dependency graph (`cargo tree`,
# every target and dependency kind), and every locked package comes from
# crates.io. The test command runs it; building cargo-deny takes longer
# than the whole suite on a 2-core machine, and the advisory database is
# on GitHub.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "${1:-}" = --quick ]; then
    failed=0
    # deny.toml's `[bans] deny` list: `{ crate = "name", reason = … }`.
    banned="$(sed -n 's/^ *{ *crate *= *"\([^"]*\)".*/\1/p' deny.toml)"
    if [ -z "${banned}" ]; then
        echo "supply-chain.sh: no banned crates found in deny.toml" >&2
        exit 1
    fi
    for crate in ${banned}; do
        if cargo tree --workspace --locked --target all -e all -i "${crate}" \
            >/dev/null 2>"${TMPDIR:-/tmp}/supply-chain.$$"; then
            echo "supply-chain.sh: banned crate ${crate} is in the dependency graph:" >&2
            cargo tree --workspace --locked --target all -e all -i "${crate}" >&2
            failed=1
        elif ! grep -q "did not match any packages" "${TMPDIR:-/tmp}/supply-chain.$$"; then
            cat "${TMPDIR:-/tmp}/supply-chain.$$" >&2
            failed=1
        fi
    done
    rm -f "${TMPDIR:-/tmp}/supply-chain.$$"
    for lock in Cargo.lock fuzz/Cargo.lock; do
        others="$(grep '^source = ' "${lock}" \
            | grep -v '^source = "registry+https://github.com/rust-lang/crates.io-index"$' || true)"
        if [ -n "${others}" ]; then
            echo "supply-chain.sh: ${lock} has packages from elsewhere than crates.io:" >&2
            echo "${others}" >&2
            failed=1
        fi
    done
    if [ "${failed}" = 0 ]; then
        echo "supply-chain.sh: none of $(echo ${banned} | wc -w) banned crates in the graph; every package from crates.io" >&2
    fi
    exit "${failed}"
fi

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
