#!/usr/bin/env bash
# Soak: the gateway with its default settings under mixed legitimate and
# attack traffic for SOAK_SECONDS (default 300), on loopback only; fails if
# a legitimate request is answered otherwise, if resident memory grows after
# the warm-up, or if file descriptors are not returned. CI runs the same test
# for 15 s (`cargo test --test soak`). Prints RSS and descriptors over time.
#
# Usage: SOAK_SECONDS=600 bash scripts/soak.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SOAK_SECONDS="${SOAK_SECONDS:-300}" cargo test --release --locked -p moat --test soak -- --nocapture
