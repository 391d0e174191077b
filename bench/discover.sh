#!/usr/bin/env bash
# `moat discover` on a large generated HAR, end to end: the release binary
# on a capture of SIZE_MB megabytes (10^6 bytes; default 100) in every
# output format, with wall time, CPU time and peak resident set from GNU
# time, and throughput in MB/s of HAR (each format but `table` reads the
# file twice; MB/s counts the file once).
#
#   bench/discover.sh [SIZE_MB]
#
# The HAR is generated (crates/moat/tests/har_gen: 30 operations, ids of
# every kind, nested JSON bodies, base64 answers) into a temporary
# directory and removed at the end. Needs GNU time (/usr/bin/time).
set -euo pipefail

SIZE_MB=${1:-100}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
die() { echo "discover.sh: $*" >&2; exit 1; }
[[ -x /usr/bin/time ]] || die "GNU time is missing (Debian/Ubuntu: sudo apt-get install -y time)"

cd "$ROOT"
cargo build --release -q -p moat --bin moat --example gen_har
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/release
HAR=$TMP/capture.har
"$TARGET/examples/gen_har" "$SIZE_MB" "$HAR" >"$TMP/entries"
BYTES=$(stat -c %s "$HAR")
echo "HAR: $BYTES bytes, $(cut -d' ' -f1 "$TMP/entries") entries"
printf '%-9s %8s %8s %8s %10s %12s\n' format wall_s user_s sys_s MB/s peak_RSS_MiB
for format in table json openapi markdown html; do
    /usr/bin/time -f '%e %U %S %M' -o "$TMP/time" \
        "$TARGET/moat" discover "$HAR" --format "$format" -o "$TMP/out.$format" 2>"$TMP/err" ||
        die "moat discover --format $format failed: $(cat "$TMP/err")"
    read -r wall user sys rss_kib <"$TMP/time"
    awk -v f="$format" -v w="$wall" -v u="$user" -v s="$sys" -v b="$BYTES" -v r="$rss_kib" \
        'BEGIN { printf "%-9s %8.2f %8.2f %8.2f %10.1f %12.1f\n", f, w, u, s, b / 1e6 / w, r / 1024 }'
done
