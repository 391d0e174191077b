#!/usr/bin/env bash
# Instructions per request of one proxy configuration, counted by
# callgrind: a measure that does not move from one run (or machine load)
# to the next, unlike CPU time, so small changes to the request path can
# be compared. User space only; the kernel's share is not counted.
#
# Starts, on 127.0.0.1 only, the nginx upstream and the moat configs of
# bench/pipeline.sh (both take them from bench/notes.sh), runs the proxy under `valgrind --tool=callgrind`
# with instrumentation off, sends 200 warm-up requests with curl on one
# keep-alive connection (no `User-Agent` or `Accept`, as wrk sends), then
# switches instrumentation on for N requests and dumps the profile.
#
# Usage (from the repository root):
#   bash bench/instructions.sh BIN TARGET METHOD [N] [OUT]
#     BIN     the moat binary, or the floor proxy's for TARGET=floor
#             (cargo build --release -p moat-gateway --example floor_proxy)
#     TARGET  pass (every guard off), full (the full pipeline) or floor
#     METHOD  get (GET /notes/42) or post (the ~1 KB JSON POST /notes)
#     N       measured requests (default 1000)
#     OUT     where the callgrind profile is written (default: the
#             temporary directory, removed afterwards); read it with
#             `callgrind_annotate --inclusive=yes OUT`
# Prints "TARGET METHOD: N instructions per request". A release build with
# line tables names source lines in the profile:
#   CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release -p moat
# Needs valgrind, nginx, curl and python3 (installed with apt-get as root).
set -euo pipefail

die() { echo "instructions: $*" >&2; exit 1; }
log() { echo "instructions: $*" >&2; }
PIDS=()
TMP=$(mktemp -d)
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
trap cleanup EXIT

[[ $# -ge 3 ]] || die "usage: bash bench/instructions.sh BIN pass|full|floor get|post [N] [OUT]"
BIN=$(realpath "$1") TARGET=$2 METHOD=$3 N=${4:-1000} OUT=${5:-$TMP/callgrind.out}
[[ -x $BIN ]] || die "$BIN is not an executable"
[[ $TARGET =~ ^(pass|full|floor)$ ]] || die "TARGET is pass, full or floor, not $TARGET"
[[ $METHOD =~ ^(get|post)$ ]] || die "METHOD is get or post, not $METHOD"
[[ $N =~ ^[1-9][0-9]*$ ]] || die "N is a positive number, not $N"
OUT=$(realpath -m "$OUT")
require_tools valgrind:valgrind nginx:nginx curl:curl python3:python3

read -r UP_PORT PORT <<<"$(free_ports 2)"
# shellcheck source=bench/notes.sh
source "$(dirname "${BASH_SOURCE[0]}")/notes.sh"
start_upstream_nginx "$TMP/ngx"
write_openapi "$TMP/openapi.yaml"
printf '%s' "$POST_BODY" >"$TMP/post.json"
case $TARGET in
    pass) write_moat_config "$TMP/moat.yaml" "$PORT" "$API_PASS" "$TOP_PASS" ;;
    full) write_moat_config "$TMP/moat.yaml" "$PORT" "$API_FULL" "$TOP_FULL" ;;
esac
if [[ $TARGET == floor ]]; then
    CMD=("$BIN" "127.0.0.1:$PORT" "127.0.0.1:$UP_PORT")
else
    CMD=("$BIN" serve --config "$TMP/moat.yaml")
fi

cd "$TMP"
TOKIO_WORKER_THREADS=1 valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$TMP/cg.%p" "${CMD[@]}" 2>"$TMP/valgrind.log" &
VG=$!
PIDS+=("$VG")
wait_http "http://127.0.0.1:$PORT/notes/42" 200 "the proxy under valgrind"

# curl config files: one URL per request, all on one connection.
requests() { # count path
    for _ in $(seq "$1"); do
        echo "url = \"http://127.0.0.1:$PORT/notes$2\""
        echo 'output = "/dev/null"'
    done
}
EXTRA=(-H 'User-Agent:' -H 'Accept:')
if [[ $METHOD == get ]]; then
    requests 200 /42 >"$TMP/warm.cfg"
    requests "$N" /42 >"$TMP/measured.cfg"
else
    requests 200 "" >"$TMP/warm.cfg"
    requests "$N" "" >"$TMP/measured.cfg"
    EXTRA+=(-H 'Content-Type: application/json' --data-binary "@$TMP/post.json")
fi
statuses() { sort | uniq -c | awk '{printf "%s×%s ", $1, $2}'; }
log "warm-up: $(curl -s "${EXTRA[@]}" -K "$TMP/warm.cfg" -w '%{http_code}\n' | statuses)"
callgrind_control -i on "$VG" >/dev/null 2>&1
log "measured: $(curl -s "${EXTRA[@]}" -K "$TMP/measured.cfg" -w '%{http_code}\n' | statuses)"
callgrind_control -d "$VG" >/dev/null 2>&1
callgrind_control -i off "$VG" >/dev/null 2>&1
sleep 1
# The dump of the thread that served the requests is the largest.
profile=$(ls -S "$TMP"/cg.*.* 2>/dev/null | head -1 || true)
[[ -n $profile ]] || profile=$(ls "$TMP"/cg.* | head -1)
[[ $profile == "$OUT" ]] || cp "$profile" "$OUT"
total=$(grep -m1 -E '^(summary|totals):' "$OUT" | awk '{print $2}')
[[ -n $total ]] || die "no instruction total in $OUT"
echo "$TARGET $METHOD: $((total / N)) instructions per request"
