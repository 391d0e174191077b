#!/usr/bin/env bash
# End-to-end proxy overhead of moat.
#
# Starts, on 127.0.0.1 only:
#   - nginx serving a fixed JSON document at /api/books (the "upstream");
#   - nginx as a plain reverse proxy in front of it (the reference: a proxy
#     doing no policy work);
#   - moat in front of it, enforcing an OpenAPI document that documents
#     `GET /api/books`, once without and once with an access log to a file;
# then measures each with wrk, plus moat answering an undocumented path
# itself (the cost of a denial), and prints requests/s, p50 and p99, plus the
# CPU time the servers (nginx and moat) spent per request, read from /proc.
#
# Usage (from the repository root):
#   bash bench/e2e.sh
# Knobs (environment):
#   CONNS=32      wrk connections (wrk always uses one thread: -t1)
#   DURATION=10   seconds measured per target (after a 2 s warm-up)
#   ROUNDS=1      how many times to measure the whole set of targets
#   PIN=1         pin wrk to CPU 0 and nginx + moat to the other CPUs (taskset),
#                 so the load generator does not compete with the servers
#   KEEP_TMP=1    keep the temporary directory (configs, wrk output, logs)
#   LIMITS=1      also measure moat with a rate limit that never refuses,
#                 counted in memory and in Redis (starts redis-server)
set -euo pipefail

CONNS="${CONNS:-32}"
DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-1}"
LIMITS="${LIMITS:-0}"
PIN="${PIN:-0}"
WARMUP=2

die() { echo "e2e: $*" >&2; exit 1; }
log() { echo "e2e: $*" >&2; }
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -f Cargo.toml && -d crates/moat ]] || die "run me from the repository root: bash bench/e2e.sh"
for knob in CONNS DURATION ROUNDS; do
    [[ "${!knob}" =~ ^[1-9][0-9]*$ ]] || die "$knob must be a positive integer, got '${!knob}'"
done

# --- tools -------------------------------------------------------------------
need_pkgs=()
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || need_pkgs+=(nginx)
command -v wrk >/dev/null 2>&1 || need_pkgs+=(wrk)
if [[ "$LIMITS" == 1 ]]; then
    command -v redis-server >/dev/null 2>&1 || need_pkgs+=(redis-server)
fi
install_missing "${need_pkgs[@]}"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
command -v python3 >/dev/null 2>&1 || die "python3 is needed to pick free ports"
command -v ps >/dev/null 2>&1 || die "ps is needed (apt-get install -y procps)"
command -v curl >/dev/null 2>&1 || die "curl is needed for the sanity checks (apt-get install -y curl)"

# CPU placement: unpinned by default; with PIN=1, wrk on CPU 0, servers on the rest.
ON_WRK=()
ON_SERVERS=()
placement="unpinned (wrk, nginx and moat share all CPUs)"
if [[ "$PIN" == 1 ]]; then
    command -v taskset >/dev/null 2>&1 || die "PIN=1 needs taskset (apt-get install -y util-linux)"
    ncpu=$(nproc)
    ((ncpu >= 2)) || die "PIN=1 needs at least 2 CPUs"
    ON_WRK=(taskset -c 0)
    ON_SERVERS=(taskset -c "1-$((ncpu - 1))")
    placement="pinned: wrk on CPU 0, nginx and moat on CPU 1-$((ncpu - 1))"
fi

# --- build -------------------------------------------------------------------
log "building moat (release)"
cargo build --release -p moat
MOAT="$PWD/target/release/moat"
[[ -x "$MOAT" ]] || die "no binary at $MOAT after the build"

# --- temp dir and cleanup ----------------------------------------------------
TMP="$(mktemp -d -t moat-e2e.XXXXXX)"
PIDS=()
# Stops every process in PIDS and removes TMP (unless KEEP_TMP=1) on exit.
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- free ports (asked from the OS, all held open until every one is picked) --
read -r UP_PORT NGX_PROXY_PORT MOAT_PORT MOAT_LOG_PORT MOAT_RL_PORT MOAT_REDIS_PORT REDIS_PORT <<<"$(free_ports 7)"
log "ports: upstream $UP_PORT, nginx proxy $NGX_PROXY_PORT, moat $MOAT_PORT, moat+log $MOAT_LOG_PORT"


# --- nginx: upstream + reference proxy ---------------------------------------
BODY='{"id":1,"title":"Dune","author":"Frank Herbert","price":9.99}'
mkdir -p "$TMP/nginx"
cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
error_log $TMP/nginx/error.log warn;
pid $TMP/nginx/nginx.pid;

events {
    worker_connections 4096;
}

http {
    access_log off;
    client_body_temp_path $TMP/nginx/client_body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    # nginx closes a keep-alive connection after 1000 requests by default;
    # every target would then measure reconnects too. Keep connections open.
    keepalive_requests 1000000;

    # (a) The upstream: a fixed JSON answer.
    server {
        listen 127.0.0.1:$UP_PORT;
        location /api/books {
            default_type application/json;
            return 200 '$BODY';
        }
    }

    # (b) The reference: nginx as a reverse proxy in front of (a).
    upstream bench_upstream {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$NGX_PROXY_PORT;
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
"$NGINX" -t -q -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" \
    || die "nginx rejected its config ($TMP/nginx/nginx.conf)"
"${ON_SERVERS[@]}" "$NGINX" -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" \
    >"$TMP/nginx/stdout.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_http "http://127.0.0.1:$UP_PORT/api/books" 200 "nginx upstream"
wait_http "http://127.0.0.1:$NGX_PROXY_PORT/api/books" 200 "nginx proxy"

# --- moat: document and configs ----------------------------------------------
cat >"$TMP/openapi.yaml" <<'EOF'
openapi: 3.0.3
info:
  title: Benchmark books API
  version: 1.0.0
paths:
  /api/books:
    get:
      operationId: listBooks
      summary: The one book there is
      responses:
        "200":
          description: A book.
          content:
            application/json:
              schema:
                type: object
                properties:
                  id: { type: integer }
                  title: { type: string }
                  author: { type: string }
                  price: { type: number }
EOF

write_moat_config() { # file port access-log-yaml [api-lines] [top-level-lines]
    cat >"$1" <<EOF
mode: enforce
listeners:
  - bind: 127.0.0.1:$2
upstreams:
  nginx:
    targets: ["http://127.0.0.1:$UP_PORT"]
apis:
  - name: bench
    spec: openapi.yaml
    upstream: nginx
${4:-}
access_log: $3
reload:
  watch: false
shutdown:
  grace_period: 1s
state:
  sqlite: $TMP/$(basename "$1" .yaml).db
${5:-}
EOF
}
# A limit per client address that never refuses: what a decision costs.
RATE_LIMIT="    rate_limits:
      - {name: per-client, key: client_ip, rate: 100000000, per: 1s}"
write_moat_config "$TMP/moat.yaml" "$MOAT_PORT" "{enabled: false}"
write_moat_config "$TMP/moat-log.yaml" "$MOAT_LOG_PORT" "{target: $TMP/access.log}"

start_moat() { # config stderr-file
    local config=$1 err=$2
    "$MOAT" check --config "$config" >&2 || die "moat check failed for $config"
    "${ON_SERVERS[@]}" "$MOAT" serve --config "$config" >"$err.stdout" 2>"$err" &
    local pid=$!
    PIDS+=("$pid")
    MOAT_PIDS+=("$pid")
    for _ in $(seq 100); do
        grep -q 'moat: listening on' "$err" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || { cat "$err" >&2; die "moat exited at start ($config)"; }
        sleep 0.1
    done
    cat "$err" >&2
    die "moat did not say 'moat: listening on' within 10 s ($config)"
}
MOAT_PIDS=()
start_moat "$TMP/moat.yaml" "$TMP/moat.stderr"
start_moat "$TMP/moat-log.yaml" "$TMP/moat-log.stderr"
if [[ "$LIMITS" == 1 ]]; then
    "${ON_SERVERS[@]}" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" \
        --appendonly no --dir "$TMP" >"$TMP/redis.log" 2>&1 &
    PIDS+=("$!")
    MOAT_PIDS+=("$!") # its CPU counts towards the limited targets
    write_moat_config "$TMP/moat-rl.yaml" "$MOAT_RL_PORT" "{enabled: false}" "$RATE_LIMIT"
    write_moat_config "$TMP/moat-redis.yaml" "$MOAT_REDIS_PORT" "{enabled: false}" "$RATE_LIMIT" \
        "rate_limiting: {backend: redis, redis: {url: \"redis://127.0.0.1:$REDIS_PORT\"}}"
    start_moat "$TMP/moat-rl.yaml" "$TMP/moat-rl.stderr"
    start_moat "$TMP/moat-redis.yaml" "$TMP/moat-redis.stderr"
    wait_http "http://127.0.0.1:$MOAT_REDIS_PORT/api/books" 200 "moat (Redis limit)"
fi
wait_http "http://127.0.0.1:$MOAT_PORT/api/books" 200 "moat"
wait_http "http://127.0.0.1:$MOAT_LOG_PORT/api/books" 200 "moat (access log)"
wait_http "http://127.0.0.1:$MOAT_PORT/api/nope" 404 "moat (undocumented path)"
got=$(curl -s "http://127.0.0.1:$MOAT_PORT/api/books")
[[ "$got" == "$BODY" ]] || die "moat forwarded a different body: $got"

# --- measurement --------------------------------------------------------------
TARGETS=(
    "upstream (nginx, direct)|http://127.0.0.1:$UP_PORT/api/books"
    "nginx as reverse proxy|http://127.0.0.1:$NGX_PROXY_PORT/api/books"
    "moat (no access log)|http://127.0.0.1:$MOAT_PORT/api/books"
    "moat (access log to file)|http://127.0.0.1:$MOAT_LOG_PORT/api/books"
    "moat, undocumented path (404)|http://127.0.0.1:$MOAT_PORT/api/nope"
)
if [[ "$LIMITS" == 1 ]]; then
    TARGETS+=(
        "moat + rate limit (memory)|http://127.0.0.1:$MOAT_RL_PORT/api/books"
        "moat + rate limit (Redis)|http://127.0.0.1:$MOAT_REDIS_PORT/api/books"
    )
fi

# to_ms, cpu_ticks, machine_ticks, children_cpu_s, CLK_TCK: bench/lib.sh.
nginx_pids() { echo "$NGINX_PID" $(ps -o pid= --ppid "$NGINX_PID"); }

cpu_model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
machine="$(nproc) CPUs, ${cpu_model:-unknown CPU}, $(uname -sr)"

ROW='| %-29s | %10s | %7s | %7s | %17s | %15s | %7s | %s | %s |'
LOGGED_REQS=1 # the sanity check above
summary="$TMP/summary.txt"
: >"$summary"
for round in $(seq "$ROUNDS"); do
    rows=()
    for t in "${TARGETS[@]}"; do
        name=${t%%|*}
        url=${t#*|}
        out="$TMP/wrk-r$round-$(echo "$name" | tr -c 'a-zA-Z0-9' '_').txt"
        log "round $round/$ROUNDS: $name ($url): ${WARMUP}s warm-up, ${DURATION}s measured"
        "${ON_WRK[@]}" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "$url" >"$out.warmup"
        read -r -a ngx <<<"$(nginx_pids)"
        ngx0=$(cpu_ticks "${ngx[@]}")
        moat0=$(cpu_ticks "${MOAT_PIDS[@]}")
        read -r busy0 total0 <<<"$(machine_ticks)"
        times >"$TMP/times0"
        "${ON_WRK[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$url" >"$out"
        ngx1=$(cpu_ticks "${ngx[@]}")
        moat1=$(cpu_ticks "${MOAT_PIDS[@]}")
        read -r busy1 total1 <<<"$(machine_ticks)"
        times >"$TMP/times1"
        kids0=$(children_cpu_s "$TMP/times0")
        kids1=$(children_cpu_s "$TMP/times1")
        # Share of the machine used by anything else (other people's builds,
        # other guests' steal) while wrk ran: it should be near 0.
        other=$(awk -v b=$((busy1 - busy0)) -v t=$((total1 - total0)) \
            -v ours=$((ngx1 - ngx0 + moat1 - moat0)) -v k0="$kids0" -v k1="$kids1" -v hz="$CLK_TCK" \
            'BEGIN { o = b - ours - (k1 - k0) * hz; if (o < 0) o = 0; printf "%.0f", t ? 100 * o / t : 0 }')
        reqs=$(awk '/ requests in / { print $1 }' "$out")
        if [[ "$url" == "http://127.0.0.1:$MOAT_LOG_PORT/"* ]]; then
            LOGGED_REQS=$((LOGGED_REQS + reqs + $(awk '/ requests in / { print $1 }' "$out.warmup")))
        fi
        # Server CPU per request: nginx (upstream, and proxy when it is the
        # proxy) plus moat, in microseconds; and moat's own share.
        cpu_all=$(awk -v t=$((ngx1 - ngx0 + moat1 - moat0)) -v hz="$CLK_TCK" -v n="$reqs" \
            'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }')
        cpu_moat=$(awk -v t=$((moat1 - moat0)) -v hz="$CLK_TCK" -v n="$reqs" \
            'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }')
        [[ "$name" == moat* ]] || cpu_moat="-"
        rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
        p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
        p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
        non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
        sockerr=$(awk -F'Socket errors: ' '/Socket errors:/ { print $2 }' "$out")
        rows+=("$(printf "$ROW" "$name" "$rps" "$p50" "$p99" "$cpu_all" "$cpu_moat" \
            "${non2xx:-0}" "${sockerr:-none}" "$other%")")
        ((other < 10)) || log "warning: other processes used ${other}% of the machine during '$name'; this measurement is disturbed"
    done
    {
        echo
        echo "Round $round/$ROUNDS: wrk -t1 -c$CONNS -d${DURATION}s --latency, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "Machine: $machine; $placement"
        printf "$ROW\n" "target" "requests/s" "p50 ms" "p99 ms" \
            "server CPU µs/req" "moat CPU µs/req" "non-2xx" "socket errors" "other load"
        printf "$ROW\n" ":-----" "-----:" "-----:" "-----:" "-----:" "-----:" "-----:" ":-----" "-----:"
        printf '%s\n' "${rows[@]}"
    } >>"$summary"
done

# moat's diagnostics go to stderr (filter: MOAT_LOG, default info). Say how much
# the runs wrote there: a line per request would be a cost every target pays.
for f in "$TMP/moat.stderr" "$TMP/moat-log.stderr"; do
    log "$(basename "$f"): $(wc -l <"$f") lines, $(du -h "$f" | cut -f1)"
done
if [[ -s "$TMP/access.log" ]]; then
    # wrk counts only completed responses; requests in flight when it stops
    # are answered (and logged) too, so expect up to CONNS more lines per run.
    sleep 1
    log "access log: $(wc -l <"$TMP/access.log") lines for $LOGGED_REQS requests completed by wrk, $(du -h "$TMP/access.log" | cut -f1)"
fi
grep -hiE 'error|warn|panic' "$TMP/moat.stderr" "$TMP/moat-log.stderr" "$TMP/nginx/error.log" 2>/dev/null \
    | head -n 20 | sed 's/^/e2e: log: /' >&2 || true

cat "$summary"
