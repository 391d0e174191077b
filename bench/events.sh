#!/usr/bin/env bash
# What security events cost on the request path, and that a full event
# queue never delays a request.
#
# Starts, on 127.0.0.1 only, the nginx upstream of the notes API
# (bench/notes.sh) and four moats with the full pipeline of
# bench/pipeline.sh (enforce mode):
#   - "events off":  `events: {enabled: false}`;
#   - "events on":   the defaults (queue of 10,000, SQLite store, repeats
#                    coalesced: 10 per 10 s stored one by one, the rest
#                    counted in a summary);
#   - "events every": every event stored one by one
#                    (`events: {coalesce: {enabled: false}}`);
#   - "events full": `events: {queue: 1}`, so that under load nearly every
#                    event finds the queue full and is dropped;
# and measures each with wrk under two loads: benign `GET /notes/42` (no
# finding, no event: what every request pays for events being on) and an
# attack, `GET /notes/42?q=' OR '1'='1` (refused with 403 by inspection:
# one event per request). For each it prints requests/s, p50, p99 and the
# CPU moat used per request (all its threads, from /proc), and for the
# attack the events dropped (moat_events_dropped_total).
#
# The detectors and rate limits that would ban a single attacking address
# are off in the attack configs (anomaly: {enabled: false}), so that every
# request goes through inspection and makes its event.
#
# Usage (from the repository root):
#   bash bench/events.sh
# Knobs: MOAT_BIN (default: cargo build --release -p moat), CONNS=32,
# DURATION=10, WARMUP=2, PIN=1 (wrk on CPU 0, the rest on the others).
# Needs nginx, wrk, curl and python3 (installed with apt-get as root).
set -euo pipefail

die() { echo "events: $*" >&2; exit 1; }
log() { echo "events: $*" >&2; }
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

read -r UP_PORT ON_PORT OFF_PORT FULL_PORT EVERY_PORT A1 A2 A3 A4 <<<"$(free_ports 9)"
# shellcheck source=bench/notes.sh
source "$(dirname "${BASH_SOURCE[0]}")/notes.sh"
start_upstream_nginx "$TMP/ngx" "${ON_SERVERS[@]}"
write_openapi "$TMP/openapi.yaml"

TOP="anomaly: {enabled: false}
lockout: {enabled: false}
admin:
  bind: 127.0.0.1:PORT
  token: bench-admin-token-0123456789"
declare -A PID_OF=() ADMIN_OF=()
start() { # label port admin-port events-lines
    local label=$1 port=$2 admin=$3 cfg="$TMP/$1.yaml"
    write_moat_config "$cfg" "$port" "$API_FULL" "${TOP/PORT/$admin}
$4"
    "$MOAT_BIN" check --config "$cfg" >&2 || die "$label: moat check failed"
    (cd "$TMP" && exec "${ON_SERVERS[@]}" "$MOAT_BIN" serve --config "$cfg" >"$TMP/$label.out" 2>"$TMP/$label.err") &
    PID_OF[$label]=$!
    ADMIN_OF[$label]=$admin
    PIDS+=($!)
    wait_http "http://127.0.0.1:$port/notes/42" 200 "$label"
}
start on "$ON_PORT" "$A1" ""
start off "$OFF_PORT" "$A2" "events: {enabled: false}"
start full "$FULL_PORT" "$A3" "events: {queue: 1}"
start every "$EVERY_PORT" "$A4" "events: {coalesce: {enabled: false}}"
ATTACK="/notes/42?q=%27%20OR%20%271%27%3D%271"
for p in "$ON_PORT" "$OFF_PORT" "$FULL_PORT" "$EVERY_PORT"; do
    [[ $(http_code "http://127.0.0.1:$p$ATTACK") == 403 ]] || die "port $p does not refuse the attack"
done

dropped() { # label
    curl -s -H "Authorization: Bearer bench-admin-token-0123456789" \
        "http://127.0.0.1:${ADMIN_OF[$1]}/metrics" |
        awk '/^moat_events_dropped_total / { print $2; f = 1 } END { if (!f) print 0 }'
}
per_req_us() { awk -v t="$1" -v hz="$CLK_TCK" -v n="$2" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }'; }

printf '| %-11s | %-6s | %10s | %8s | %8s | %12s | %14s |\n' target load "requests/s" "p50 ms" "p99 ms" "CPU µs/req" "events dropped"
printf '|%s|\n' "-------------|--------|------------|----------|----------|--------------|----------------"
for label in off on every full; do
    port=$(case $label in on) echo "$ON_PORT" ;; off) echo "$OFF_PORT" ;; full) echo "$FULL_PORT" ;; every) echo "$EVERY_PORT" ;; esac)
    for load in benign attack; do
        url="http://127.0.0.1:$port/notes/42"
        [[ $load == attack ]] && url="http://127.0.0.1:$port$ATTACK"
        "${ON_WRK[@]}" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "$url" >/dev/null
        d0=$(dropped "$label")
        c0=$(cpu_ticks "${PID_OF[$label]}")
        "${ON_WRK[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$url" >"$TMP/wrk.txt"
        c1=$(cpu_ticks "${PID_OF[$label]}")
        d1=$(dropped "$label")
        reqs=$(awk '/ requests in / { print $1 }' "$TMP/wrk.txt")
        rps=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$TMP/wrk.txt")
        p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$TMP/wrk.txt")")
        p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$TMP/wrk.txt")")
        printf '| %-11s | %-6s | %10s | %8s | %8s | %12s | %14s |\n' "events $label" "$load" "$rps" "$p50" "$p99" \
            "$(per_req_us $((c1 - c0)) "$reqs")" "$(awk -v a="$d0" -v b="$d1" 'BEGIN { printf "%.0f", b - a }')"
    done
done
