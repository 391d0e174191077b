#!/usr/bin/env bash
# What capture (`discovery.capture`) costs on the request path.
#
# Starts, on 127.0.0.1 only, the nginx upstream of the notes API
# (bench/notes.sh) and three moats with the full pipeline of
# bench/pipeline.sh (enforce mode):
#   - "capture off":     `discovery: {capture: {enabled: false}}`;
#   - "capture default": the defaults (one exchange in 20 sampled);
#   - "capture every":   every exchange sampled (`sample: 1`);
# and measures each with wrk under two loads: `GET /notes/42` and
# `POST /notes` with a 1 KB JSON body (the body's schema is learned when
# the exchange is sampled). For each it prints requests/s, p50, p99 and
# the CPU moat used per request (all its threads, from /proc).
#
# Usage (from the repository root):
#   bash bench/capture.sh
# Knobs: MOAT_BIN (default: cargo build --release -p moat), CONNS=32,
# DURATION=10, WARMUP=2, PIN=0 (1: wrk on CPU 0, the rest on the others).
# Needs nginx, wrk, curl and python3 (installed with apt-get as root).
set -euo pipefail

die() { echo "capture: $*" >&2; exit 1; }
log() { echo "capture: $*" >&2; }
PIDS=()
TMP=$(mktemp -d)
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
trap cleanup EXIT

CONNS=${CONNS:-32} DURATION=${DURATION:-10} WARMUP=${WARMUP:-2} PIN=${PIN:-0}
require_tools nginx:nginx wrk:wrk curl:curl python3:python3
if [[ -z ${MOAT_BIN:-} ]]; then
    cargo build --release -q -p moat
    MOAT_BIN=$(pwd)/target/release/moat
fi
ON_WRK=() ON_SERVERS=()
if [[ $PIN == 1 ]]; then
    ON_WRK=(taskset -c 0)
    ON_SERVERS=(taskset -c "1-$(($(nproc) - 1))")
fi

read -r UP_PORT OFF_PORT ON_PORT EVERY_PORT <<<"$(free_ports 4)"
# shellcheck source=bench/notes.sh
source "$(dirname "${BASH_SOURCE[0]}")/notes.sh"
start_upstream_nginx "$TMP/ngx" "${ON_SERVERS[@]}"
write_openapi "$TMP/openapi.yaml"
cat >"$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[$POST_BODY]==]
LUA

declare -A PID_OF=()
start() { # label port top-level-lines
    local label=$1 port=$2 cfg="$TMP/$1.yaml"
    write_moat_config "$cfg" "$port" "$API_FULL" "$TOP_FULL
$3"
    "$MOAT_BIN" check --config "$cfg" >&2 || die "$label: moat check failed"
    (cd "$TMP" && exec "${ON_SERVERS[@]}" "$MOAT_BIN" serve --config "$cfg" >"$TMP/$label.out" 2>"$TMP/$label.err") &
    PID_OF[$label]=$!
    PIDS+=($!)
    wait_http "http://127.0.0.1:$port/notes/42" 200 "$label"
}
start off "$OFF_PORT" "discovery: {capture: {enabled: false}}"
start default "$ON_PORT" ""
start every "$EVERY_PORT" "discovery: {capture: {sample: 1}}"

per_req_us() { awk -v t="$1" -v hz="$CLK_TCK" -v n="$2" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }'; }

printf '| %-15s | %-4s | %10s | %8s | %8s | %12s |\n' target load "requests/s" "p50 ms" "p99 ms" "CPU µs/req"
printf '|%s|\n' "-----------------|------|------------|----------|----------|--------------"
for label in off default every; do
    port=$(case $label in off) echo "$OFF_PORT" ;; default) echo "$ON_PORT" ;; every) echo "$EVERY_PORT" ;; esac)
    for load in get post; do
        args=("http://127.0.0.1:$port/notes/42")
        [[ $load == post ]] && args=(-s "$TMP/post.lua" "http://127.0.0.1:$port/notes")
        "${ON_WRK[@]}" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "${args[@]}" >/dev/null
        c0=$(cpu_ticks "${PID_OF[$label]}")
        "${ON_WRK[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "${args[@]}" >"$TMP/wrk.txt"
        c1=$(cpu_ticks "${PID_OF[$label]}")
        reqs=$(awk '/ requests in / { print $1 }' "$TMP/wrk.txt")
        rps=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$TMP/wrk.txt")
        p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$TMP/wrk.txt")")
        p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$TMP/wrk.txt")")
        printf '| %-15s | %-4s | %10s | %8s | %8s | %12s |\n' "capture $label" "$load" "$rps" "$p50" "$p99" \
            "$(per_req_us $((c1 - c0)) "$reqs")"
    done
done
