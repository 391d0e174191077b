#!/usr/bin/env bash
# What the cluster path costs: one node on embedded state, one node on a
# cluster's PostgreSQL and Redis, and three nodes on the same cluster,
# beside nginx, in one run.
#
# Starts, on 127.0.0.1 only, the nginx upstream of the notes API
# (bench/notes.sh), a PostgreSQL (initdb in a temporary directory), a
# Redis, and moat with the full pipeline of bench/pipeline.sh, the notes
# API behind an API key (`x-api-key`) and a per-consumer rate limit (high
# enough never to refuse: it is there to be decided on every request):
#   - "nginx":     wrk straight to the upstream (the floor);
#   - "embedded":  one node, `state.backend: embedded` (SQLite, limits in
#                  memory);
#   - "cluster 1": one node, `state.backend: cluster` (keys from
#                  PostgreSQL through the key cache, limits in Redis);
#   - "cluster 3": three nodes on the same cluster, one wrk per node at
#                  the same time, a third of the connections each.
# For each it prints requests/s, p50 and p99 (for three nodes: the sum of
# requests/s, the worst p50 and p99), the CPU moat used per request (all
# nodes, all threads, from /proc), the CPU Redis and PostgreSQL used per
# request, and the commands Redis ran per request (its scripts' own
# calls included; the calls of each command go to stderr).
#
# Usage (from the repository root):
#   bash bench/cluster.sh
# Knobs: MOAT_BIN (default: cargo build --release -p moat), CONNS=48,
# DURATION=10, WARMUP=2.
# Needs nginx, wrk, curl, python3, redis-server and PostgreSQL (installed
# with apt-get as root).
set -euo pipefail

die() { echo "cluster: $*" >&2; exit 1; }
log() { echo "cluster: $*" >&2; }
PIDS=()
TMP=$(mktemp -d)
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
PG_CTL=""
stop_all() {
    [[ -n $PG_CTL ]] && run_as_pg "$PG_CTL" -D "$TMP/pgdata" -m immediate stop >/dev/null 2>&1 || true
    cleanup
}
trap stop_all EXIT

CONNS=${CONNS:-48} DURATION=${DURATION:-10} WARMUP=${WARMUP:-2}
require_tools nginx:nginx wrk:wrk curl:curl python3:python3 redis-server:redis-server redis-cli:redis-tools
PG_BIN=$(dirname "$(readlink -f "$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)")")
if [[ ! -x $PG_BIN/initdb ]]; then
    install_missing postgresql
    PG_BIN=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
fi
if [[ -z ${MOAT_BIN:-} ]]; then
    cargo build --release -q -p moat
    MOAT_BIN=$(pwd)/target/release/moat
fi

# PostgreSQL refuses to run as root: as root it runs as `postgres`.
run_as_pg() {
    if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

read -r UP_PORT PG_PORT REDIS_PORT E_PORT C1_PORT N1 N2 N3 <<<"$(free_ports 8)"
# shellcheck source=bench/notes.sh
source "$(dirname "${BASH_SOURCE[0]}")/notes.sh"
start_upstream_nginx "$TMP/ngx"
write_openapi "$TMP/openapi.yaml"
# The same API behind an API key.
python3 - "$TMP/openapi.yaml" <<'EOF'
import sys
p = sys.argv[1]
text = open(p).read()
text = text.replace("paths:\n", "security: [{ApiKey: []}]\npaths:\n", 1)
text = text.replace("components:\n", "components:\n  securitySchemes:\n    ApiKey: {type: apiKey, in: header, name: X-Api-Key}\n", 1)
open(p, "w").write(text)
EOF

log "starting PostgreSQL and Redis"
mkdir -p "$TMP/pgdata" "$TMP/pgsock"
[[ $(id -u) == 0 ]] && chown postgres "$TMP" "$TMP/pgdata" "$TMP/pgsock" && chmod 755 "$TMP"
echo bench-pg-password >"$TMP/pgpass" && chmod 644 "$TMP/pgpass"
run_as_pg "$PG_BIN/initdb" -D "$TMP/pgdata" -U moat --pwfile="$TMP/pgpass" -A scram-sha-256 --no-sync >/dev/null
PG_CTL=$PG_BIN/pg_ctl
run_as_pg "$PG_CTL" -D "$TMP/pgdata" -l "$TMP/pg.log" -w start \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$TMP/pgsock -c fsync=off -c max_connections=200" >/dev/null
PGPASSWORD=bench-pg-password "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U moat moat
PG_PID=$(head -1 "$TMP/pgdata/postmaster.pid")
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >"$TMP/redis.log" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

PEPPER=bench-pepper-0123456789abcdef-0123456789abcdef
API="$API_FULL
      - {name: per-consumer, key: consumer, rate: 100000000, per: 1s}
    security:
      ApiKey: {type: api_key}"
COMMON="consumers:
  - id: bench
keys:
  pepper: $PEPPER
events: {enabled: false}"
CLUSTER="state:
  backend: cluster
  postgres: {url: \"postgres://moat:bench-pg-password@127.0.0.1:$PG_PORT/moat\"}
  redis: {url: \"redis://127.0.0.1:$REDIS_PORT/\"}"

write_moat_config "$TMP/embedded.yaml" "$E_PORT" "$API" "$COMMON
$TOP_FULL"
for port in "$C1_PORT" "$N1" "$N2" "$N3"; do
    write_moat_config "$TMP/cluster-$port.yaml" "$port" "$API" "$COMMON
$TOP_FULL"
    # The embedded state section gives way to the cluster's.
    sed -i '/^state:$/,/^  sqlite: /d' "$TMP/cluster-$port.yaml"
    echo "$CLUSTER" >>"$TMP/cluster-$port.yaml"
done

key_for() { # config
    "$MOAT_BIN" keys --config "$1" create --consumer bench --json 2>/dev/null |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])'
}
declare -A PID_OF=()
start() { # label config port
    "$MOAT_BIN" check --config "$2" >&2 || die "$1: moat check failed"
    (cd "$TMP" && exec "$MOAT_BIN" serve --config "$2" >"$TMP/$1.out" 2>"$TMP/$1.err") &
    PID_OF[$1]=$!
    PIDS+=($!)
    wait_http "http://127.0.0.1:$3/notes/42" 401 "$1"
}
start embedded "$TMP/embedded.yaml" "$E_PORT"
start c1 "$TMP/cluster-$C1_PORT.yaml" "$C1_PORT"
E_KEY=$(key_for "$TMP/embedded.yaml")
C_KEY=$(key_for "$TMP/cluster-$C1_PORT.yaml")
[[ $(http_code -H "x-api-key: $E_KEY" "http://127.0.0.1:$E_PORT/notes/42") == 200 ]] || die "embedded refuses its key"
[[ $(http_code -H "x-api-key: $C_KEY" "http://127.0.0.1:$C1_PORT/notes/42") == 200 ]] || die "cluster refuses its key"

per_req_us() { awk -v t="$1" -v hz="$CLK_TCK" -v n="$2" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }'; }

# Runs wrk against each URL at once (CONNS split between them), after a
# warm-up; prints "requests rps worst-p50 worst-p99".
measure() { # key url...
    local key=$1 i=0 url
    shift
    local conns=$((CONNS / $#))
    for url in "$@"; do wrk -t1 -c"$conns" -d"${WARMUP}s" -H "x-api-key: $key" "$url" >/dev/null & done
    wait
    for url in "$@"; do
        wrk -t1 -c"$conns" -d"${DURATION}s" --latency -H "x-api-key: $key" "$url" >"$TMP/wrk.$i.txt" &
        i=$((i + 1))
    done
    wait
    cat "$TMP"/wrk.*.txt | awk '
        / requests in / { n += $1 }
        /^Requests\/sec/ { r += $2 }
        $1 == "50%" { print "p50", $2 > "/dev/stderr" }
        $1 == "99%" { print "p99", $2 > "/dev/stderr" }
        END { printf "%d %.0f\n", n, r }' 2>"$TMP/lat.txt"
    rm -f "$TMP"/wrk.*.txt
}
worst() { # p50|p99
    local worst=0 v
    while read -r name v; do
        [[ $name == "$1" ]] || continue
        v=$(to_ms "$v")
        worst=$(awk -v a="$worst" -v b="$v" 'BEGIN { print (b > a) ? b : a }')
    done <"$TMP/lat.txt"
    echo "$worst"
}
# Commands Redis ran (those its scripts call included), from INFO stats;
# the calls of each command go to stderr.
redis_commands() {
    redis-cli -p "$REDIS_PORT" info stats | tr -d '\r' | awk -F: '/^total_commands_processed:/ { print $2 + 0 }'
}
redis_breakdown() { # label requests
    redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' |
        awk -F'[:=,]' -v label="$1" -v n="$2" '/^cmdstat_/ { printf "%s: %s %.2f per request\n", label, substr($1, 9), $3 / n }' >&2
    redis-cli -p "$REDIS_PORT" config resetstat >/dev/null
}
row() { # label key pids... -- urls...
    local label=$1 key=$2 pids=() urls=()
    shift 2
    while [[ $1 != -- ]]; do pids+=("$1"); shift; done
    shift
    urls=("$@")
    local c0 s0 r0 c1 s1 r1 out
    c0=$(cpu_ticks "${pids[@]}")
    s0=$(cpu_ticks "$REDIS_PID" $(pgrep -P "$PG_PID") "$PG_PID")
    redis-cli -p "$REDIS_PORT" config resetstat >/dev/null
    r0=$(redis_commands)
    out=$(measure "$key" "${urls[@]}")
    c1=$(cpu_ticks "${pids[@]}")
    s1=$(cpu_ticks "$REDIS_PID" $(pgrep -P "$PG_PID") "$PG_PID")
    r1=$(redis_commands)
    read -r reqs rps <<<"$out"
    redis_breakdown "$label" "$reqs"
    printf '| %-10s | %10s | %8s | %8s | %15s | %19s | %14s |\n' "$label" "$rps" "$(worst p50)" "$(worst p99)" \
        "$( [[ ${#pids[@]} -gt 0 ]] && per_req_us $((c1 - c0)) "$reqs" || echo -)" "$(per_req_us $((s1 - s0)) "$reqs")" \
        "$(awk -v a="$r0" -v b="$r1" -v n="$reqs" 'BEGIN { printf "%.2f", n ? (b - a) / n : 0 }')"
}

printf '| %-10s | %10s | %8s | %8s | %15s | %19s | %14s |\n' target "requests/s" "p50 ms" "p99 ms" "moat CPU µs/req" "Redis+PG CPU µs/req" "Redis cmds/req"
printf '|%s|\n' "------------|------------|----------|----------|-----------------|---------------------|----------------"
row nginx "$E_KEY" -- "http://127.0.0.1:$UP_PORT/notes/42"
row embedded "$E_KEY" "${PID_OF[embedded]}" -- "http://127.0.0.1:$E_PORT/notes/42"
row "cluster 1" "$C_KEY" "${PID_OF[c1]}" -- "http://127.0.0.1:$C1_PORT/notes/42"
kill -TERM "${PID_OF[embedded]}" "${PID_OF[c1]}"
start n1 "$TMP/cluster-$N1.yaml" "$N1"
start n2 "$TMP/cluster-$N2.yaml" "$N2"
start n3 "$TMP/cluster-$N3.yaml" "$N3"
row "cluster 3" "$C_KEY" "${PID_OF[n1]}" "${PID_OF[n2]}" "${PID_OF[n3]}" -- \
    "http://127.0.0.1:$N1/notes/42" "http://127.0.0.1:$N2/notes/42" "http://127.0.0.1:$N3/notes/42"
