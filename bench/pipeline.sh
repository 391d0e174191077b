#!/usr/bin/env bash
# The cost of moat's request pipeline, side by side with nginx.
#
# Starts, on 127.0.0.1 only:
#   - an nginx "upstream" (its own nginx instance) answering
#       GET  /notes/{id}  200 with a small JSON note,
#       POST /notes       201 with a small JSON note (the body is discarded);
#   - a second, separate nginx as a plain reverse proxy in front of it (the
#     reference), so that the proxy's own CPU is measured apart from the
#     upstream's;
#   - moat "pass-through": the two operations documented, every guard that can
#     be turned off turned off (validation, inspection, response filtering,
#     limits, lockout, anomaly detectors, access log);
#   - moat "full pipeline", in enforce mode: a per-client-address rate limit
#     that never refuses, request validation (the POST body schema and the
#     integer path parameter), attack inspection at paranoia 1, response
#     filtering against the documented response schemas;
#   - with MOAT_BASE, the same two moat configs served by a second binary
#     (rows labelled "base"), e.g. a build of an older commit;
#   - "hyper floor" (unless FLOOR=0): the smallest reverse proxy on the
#     stack moat is built on (tokio, on the runtime moat would pick,
#     hyper-util's server builder and moat's upstream pool, no checks at all;
#     crates/moat-gateway/examples/floor_proxy.rs), so that what moat's own
#     code costs can be told apart from what the stack costs;
# checks with curl that every moat behaves as configured (the full pipeline
# answers 201/200, refuses attacks with 403 and invalid bodies with 4xx; the
# pass-through forwards them), then measures each with wrk: a ~1 KB JSON
# `POST /notes` and a `GET /notes/42`. For each it prints requests/s, p50,
# p99 and the CPU time the proxy under test (nginx proxy or moat, all its
# threads) spent per request, read from /proc, with both as ratios to the
# nginx proxy.
#
# Usage (from the repository root):
#   bash bench/pipeline.sh
# Knobs (environment):
#   MOAT_BIN=path  the moat binary to measure (default: `cargo build --release
#                  -p moat`, then target/release/moat)
#   MOAT_BASE=path a second moat binary measured with the same configs
#                  (rows labelled "base"); configs use keys of the current
#                  HEAD, so a much older binary may refuse them (`moat check`
#                  runs first and says so)
#   THREADS=N      moat's worker threads: the script exports
#                  TOKIO_WORKER_THREADS=N to moat and the floor proxy, and
#                  runs the reference nginx proxy with N worker processes.
#                  Unset: the CPUs they may run on (their affinity: 1 with
#                  PIN=1 on a 2-CPU machine). One worker serves on the main
#                  thread; more are threads of their own, each with its own
#                  current-thread runtime (crates/moat-gateway/src/executor.rs).
#   CONNS=32       wrk connections (wrk always uses one thread: -t1)
#   DURATION=10    seconds measured per target (after a 2 s warm-up)
#   ROUNDS=1       how many times to measure the whole set of targets
#   PIN=1          pin wrk to CPU 0 and both nginx and every moat to the other
#                  CPUs (taskset), so the load generator does not compete with
#                  the servers
#   PROFILE=1      afterwards, profile moat's full pipeline under the POST load
#                  with `perf record` for PROFILE_SECONDS (default 10) and
#                  write the shares of samples by component (kernel, libc
#                  allocator, each crate) and `perf report` (flat,
#                  --no-children, top symbols) to PROFILE_OUT (default:
#                  profile-pipeline-post.txt in the temporary directory,
#                  which is then kept). Needs perf (linux-perf). PROFILE=base
#                  profiles the MOAT_BASE binary instead. PROFILE_CALLGRAPH=fp
#                  or dwarf adds call graphs (release builds have no frame
#                  pointers: dwarf is the useful one, and it is heavy).
#   FLOOR=0        leave out the "hyper floor" row
#   FLOOR_BIN=path the floor proxy binary (default: `cargo build --release
#                  -p moat-gateway --example floor_proxy`)
#   KEEP_TMP=1     keep the temporary directory (configs, wrk output, logs)
set -euo pipefail

CONNS="${CONNS:-32}"
DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-1}"
PIN="${PIN:-0}"
THREADS="${THREADS:-}"
PROFILE="${PROFILE:-0}"
PROFILE_SECONDS="${PROFILE_SECONDS:-10}"
PROFILE_CALLGRAPH="${PROFILE_CALLGRAPH:-}"
MOAT_BIN="${MOAT_BIN:-}"
MOAT_BASE="${MOAT_BASE:-}"
FLOOR="${FLOOR:-1}"
FLOOR_BIN="${FLOOR_BIN:-}"
WARMUP=2

die() { echo "pipeline: $*" >&2; exit 1; }
log() { echo "pipeline: $*" >&2; }
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -f Cargo.toml && -d crates/moat ]] || die "run me from the repository root: bash bench/pipeline.sh"
for knob in CONNS DURATION ROUNDS PROFILE_SECONDS; do
    [[ "${!knob}" =~ ^[1-9][0-9]*$ ]] || die "$knob must be a positive integer, got '${!knob}'"
done
[[ -z "$THREADS" || "$THREADS" =~ ^[1-9][0-9]*$ ]] || die "THREADS must be a positive integer, got '$THREADS'"
[[ "$PROFILE" =~ ^(0|1|base)$ ]] || die "PROFILE must be 0, 1 or base, got '$PROFILE'"
[[ "$PROFILE" != base || -n "$MOAT_BASE" ]] || die "PROFILE=base needs MOAT_BASE"
[[ -z "$PROFILE_CALLGRAPH" || "$PROFILE_CALLGRAPH" =~ ^(fp|dwarf)$ ]] \
    || die "PROFILE_CALLGRAPH must be fp or dwarf, got '$PROFILE_CALLGRAPH'"

# --- tools -------------------------------------------------------------------
need_pkgs=()
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || need_pkgs+=(nginx)
command -v wrk >/dev/null 2>&1 || need_pkgs+=(wrk)
install_missing "${need_pkgs[@]}"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
command -v python3 >/dev/null 2>&1 || die "python3 is needed to pick free ports and compare JSON"
command -v ps >/dev/null 2>&1 || die "ps is needed (apt-get install -y procps)"
command -v curl >/dev/null 2>&1 || die "curl is needed for the sanity checks (apt-get install -y curl)"
if [[ "$PROFILE" != 0 ]]; then
    command -v perf >/dev/null 2>&1 || die "PROFILE needs perf (Debian: apt-get install -y linux-perf)"
    perf record -q -o /dev/null -- true >/dev/null 2>&1 \
        || die "PROFILE: perf cannot record here (see /proc/sys/kernel/perf_event_paranoid: $(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null))"
fi

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

# --- binaries ----------------------------------------------------------------
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
if [[ -z "$MOAT_BIN" ]]; then
    log "building moat (release)"
    cargo build --release -p moat
    MOAT_BIN="$TARGET_DIR/release/moat"
fi
if [[ "$FLOOR" != 0 && -z "$FLOOR_BIN" ]]; then
    log "building the floor proxy (release)"
    cargo build --release -p moat-gateway --example floor_proxy
    FLOOR_BIN="$TARGET_DIR/release/examples/floor_proxy"
fi
if [[ "$FLOOR" != 0 ]]; then
    FLOOR_BIN="$(realpath "$FLOOR_BIN")"
    [[ -x "$FLOOR_BIN" ]] || die "FLOOR_BIN: no executable at $FLOOR_BIN"
fi
MOAT_BIN="$(realpath "$MOAT_BIN")"
[[ -x "$MOAT_BIN" ]] || die "MOAT_BIN: no executable at $MOAT_BIN"
BINS=("moat|$MOAT_BIN")
if [[ -n "$MOAT_BASE" ]]; then
    MOAT_BASE="$(realpath "$MOAT_BASE")"
    [[ -x "$MOAT_BASE" ]] || die "MOAT_BASE: no executable at $MOAT_BASE"
    BINS+=("moat base|$MOAT_BASE")
fi
# The reference nginx proxy runs as many worker processes as moat has
# worker threads (the upstream nginx always one).
if [[ -n "$THREADS" ]]; then
    threads_note="TOKIO_WORKER_THREADS=$THREADS"
    PROXY_WORKERS=$THREADS
else
    threads_note="default workers (the CPUs moat may run on)"
    PROXY_WORKERS=$("${ON_SERVERS[@]}" nproc)
fi
threads_note="$threads_note; nginx proxy: $PROXY_WORKERS worker process(es)"

# --- temp dir and cleanup ----------------------------------------------------
TMP="$(mktemp -d -t moat-pipeline.XXXXXX)"
# A profile written into the temporary directory keeps it.
[[ "$PROFILE" == 0 || -n "${PROFILE_OUT:-}" ]] || KEEP_TMP=1
PIDS=()
# Stops every process in PIDS and removes TMP (unless KEEP_TMP=1) on exit.
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- free ports (asked from the OS, all held open until every one is picked) --
read -r UP_PORT NGX_PROXY_PORT MOAT_PASS_PORT MOAT_FULL_PORT BASE_PASS_PORT BASE_FULL_PORT FLOOR_PORT <<<"$(free_ports 7)"
log "ports: upstream $UP_PORT, nginx proxy $NGX_PROXY_PORT, moat pass-through $MOAT_PASS_PORT, moat full $MOAT_FULL_PORT"


# --- request and response bodies, document, configs ---------------------------
# shellcheck source=bench/notes.sh
source "$(dirname "${BASH_SOURCE[0]}")/notes.sh"
# Variations for the checks: two attacks, a body breaking its schema.
post_with() { # python expression on `note` -> JSON
    python3 -c "import json, sys; note = json.loads(sys.argv[1]); $1; print(json.dumps(note))" "$POST_BODY"
}
ATTACK_SQLI=$(post_with "note['title'] = \"1' OR '1'='1' --\"")
ATTACK_XSS=$(post_with "note['body'] = '<script>alert(1)</script>'")
INVALID_MISSING=$(post_with "del note['title']")
INVALID_EXTRA=$(post_with "note['owner_id'] = 7")

cat >"$TMP/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[$POST_BODY]==]
EOF

# --- nginx: upstream and reference proxy, two instances ----------------------
nginx_conf() { # dir workers server-block
    mkdir -p "$1"
    cat >"$1/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes $2;
error_log $1/error.log warn;
pid $1/nginx.pid;

events {
    worker_connections 4096;
}

http {
    access_log off;
    client_body_temp_path $1/client_body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    # nginx closes a keep-alive connection after 1000 requests by default;
    # every target would then measure reconnects too. Keep connections open.
    keepalive_requests 1000000;
$3
}
EOF
    "$NGINX" -t -q -p "$1" -e "$1/error.log" -c "$1/nginx.conf" \
        || die "nginx rejected its config ($1/nginx.conf)"
}
start_nginx() { # dir -> sets NGINX_STARTED
    "${ON_SERVERS[@]}" "$NGINX" -p "$1" -e "$1/error.log" -c "$1/nginx.conf" >"$1/stdout.log" 2>&1 &
    NGINX_STARTED=$!
    PIDS+=("$NGINX_STARTED")
}
# (a) The upstream. `return` discards the request body.
nginx_conf "$TMP/nginx-up" 1 "$(upstream_server_block "$UP_PORT")"
# (b) The reference: nginx as a reverse proxy in front of (a).
nginx_conf "$TMP/nginx-proxy" "$PROXY_WORKERS" "
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
            proxy_set_header Connection \"\";
        }
    }"
start_nginx "$TMP/nginx-up"
NGINX_UP_PID=$NGINX_STARTED
start_nginx "$TMP/nginx-proxy"
NGINX_PROXY_PID=$NGINX_STARTED
wait_http "http://127.0.0.1:$UP_PORT/notes/42" 200 "nginx upstream"
wait_http "http://127.0.0.1:$NGX_PROXY_PORT/notes/42" 200 "nginx proxy"
got=$(http_code -X POST -H 'Content-Type: application/json' --data-binary "$POST_BODY" "http://127.0.0.1:$NGX_PROXY_PORT/notes")
[[ "$got" == 201 ]] || die "nginx proxy: POST /notes answered $got, expected 201"

# --- moat: document and configs ----------------------------------------------
write_openapi "$TMP/openapi.yaml"


MOAT_ENV=()
[[ -z "$THREADS" ]] || MOAT_ENV=(env "TOKIO_WORKER_THREADS=$THREADS")
declare -A MOAT_PID_OF=()
start_moat() { # label binary config port
    local label=$1 bin=$2 config=$3 port=$4 err="$TMP/$(basename "$3" .yaml).stderr"
    "$bin" check --config "$config" >&2 || die "$label: moat check failed for $config"
    "${MOAT_ENV[@]}" "${ON_SERVERS[@]}" "$bin" serve --config "$config" >"$err.stdout" 2>"$err" &
    local pid=$!
    PIDS+=("$pid")
    MOAT_PID_OF[$label]=$pid
    for _ in $(seq 100); do
        grep -q 'moat: listening on' "$err" 2>/dev/null && {
            wait_http "http://127.0.0.1:$port/notes/42" 200 "$label"
            return 0
        }
        kill -0 "$pid" 2>/dev/null || { cat "$err" >&2; die "$label: moat exited at start ($config)"; }
        sleep 0.1
    done
    cat "$err" >&2
    die "$label: moat did not say 'moat: listening on' within 10 s ($config)"
}

# --- checks: each moat does what its config says, before anything is measured --
expect() { # what want got
    [[ "$3" == "$2" ]] || die "check failed: $1: got $3, expected $2"
}
same_json() { # what expected actual
    python3 -c 'import json, sys; sys.exit(json.loads(sys.argv[1]) != json.loads(sys.argv[2]))' "$2" "$3" 2>/dev/null \
        || die "check failed: $1: the body differs from the upstream's: $3"
}
post() { # url body [curl args...] -> status
    local url=$1 body=$2
    shift 2
    http_code -X POST -H 'Content-Type: application/json' --data-binary "$body" "$@" "$url"
}
check_answers() { # label base: both operations answer as the upstream does
    local base=$2
    expect "$1: POST /notes" 201 "$(post "$base/notes" "$POST_BODY")"
    same_json "$1: POST /notes" "$NOTE_CREATED" "$(curl -s --max-time 5 -X POST -H 'Content-Type: application/json' --data-binary "$POST_BODY" "$base/notes")"
    expect "$1: GET /notes/42" 200 "$(http_code "$base/notes/42")"
    same_json "$1: GET /notes/42" "$NOTE_GET" "$(curl -s --max-time 5 "$base/notes/42")"
}
expect_4xx() { # what got
    [[ "$2" =~ ^4[0-9][0-9]$ ]] || die "check failed: $1: got $2, expected 4xx"
}
check_pass() { # label port
    local base="http://127.0.0.1:$2" got
    check_answers "$1" "$base"
    # Nothing is inspected or validated: attacks and invalid bodies go through.
    expect "$1: SQL injection forwarded (inspection off)" 201 "$(post "$base/notes" "$ATTACK_SQLI")"
    expect "$1: XSS forwarded (inspection off)" 201 "$(post "$base/notes" "$ATTACK_XSS")"
    expect "$1: body without title forwarded (validation off)" 201 "$(post "$base/notes" "$INVALID_MISSING")"
    expect "$1: undocumented path" 404 "$(http_code "$base/nope")"
    got=$(curl -s -D - -o /dev/null --max-time 5 "$base/notes/42" | tr -d '\r' | grep -ci '^ratelimit' || true)
    expect "$1: no RateLimit headers (no limit)" 0 "$got"
}
check_full() { # label port
    local base="http://127.0.0.1:$2" got
    check_answers "$1" "$base"
    # Inspection refuses attacks in free text.
    expect "$1: SQL injection in the title refused" 403 "$(post "$base/notes" "$ATTACK_SQLI")"
    expect "$1: XSS in the body refused" 403 "$(post "$base/notes" "$ATTACK_XSS")"
    # Validation refuses what breaks the schema.
    expect_4xx "$1: body without title" "$(post "$base/notes" "$INVALID_MISSING")"
    expect_4xx "$1: undeclared property" "$(post "$base/notes" "$INVALID_EXTRA")"
    expect_4xx "$1: GET /notes/abc" "$(http_code "$base/notes/abc")"
    expect "$1: undocumented path" 404 "$(http_code "$base/nope")"
    # The rate limit applies (and says so in its headers).
    got=$(curl -s -D - -o /dev/null --max-time 5 "$base/notes/42" | tr -d '\r' | grep -ci '^ratelimit-policy:.*per-client' || true)
    expect "$1: RateLimit-Policy header of the per-client limit" 1 "$got"
}

TARGETS=("nginx proxy|nginx|$NGX_PROXY_PORT")
ports=("$MOAT_PASS_PORT $MOAT_FULL_PORT" "$BASE_PASS_PORT $BASE_FULL_PORT")
i=0
for b in "${BINS[@]}"; do
    label=${b%%|*}
    bin=${b#*|}
    read -r pass_port full_port <<<"${ports[$i]}"
    tag=$(echo "$label" | tr ' ' '-')
    write_moat_config "$TMP/$tag-pass.yaml" "$pass_port" "$API_PASS" "$TOP_PASS"
    write_moat_config "$TMP/$tag-full.yaml" "$full_port" "$API_FULL" "$TOP_FULL"
    start_moat "$label pass-through" "$bin" "$TMP/$tag-pass.yaml" "$pass_port"
    start_moat "$label full pipeline" "$bin" "$TMP/$tag-full.yaml" "$full_port"
    check_pass "$label pass-through" "$pass_port"
    check_full "$label full pipeline" "$full_port"
    TARGETS+=("$label pass-through|$label pass-through|$pass_port" "$label full pipeline|$label full pipeline|$full_port")
    log "$label ($bin): checks passed"
    i=$((i + 1))
done
if [[ "$FLOOR" != 0 ]]; then
    "${ON_SERVERS[@]}" "$FLOOR_BIN" "127.0.0.1:$FLOOR_PORT" "127.0.0.1:$UP_PORT" >"$TMP/floor.stderr" 2>&1 &
    MOAT_PID_OF["hyper floor"]=$!
    PIDS+=("$!")
    wait_http "http://127.0.0.1:$FLOOR_PORT/notes/42" 200 "hyper floor"
    check_answers "hyper floor" "http://127.0.0.1:$FLOOR_PORT"
    TARGETS+=("hyper floor|hyper floor|$FLOOR_PORT")
    log "hyper floor ($FLOOR_BIN): checks passed"
fi

# --- measurement --------------------------------------------------------------
# to_ms, cpu_ticks, machine_ticks, children_cpu_s, CLK_TCK: bench/lib.sh.
tree_pids() { echo "$1" $(ps -o pid= --ppid "$1"); } # nginx master and workers
per_req_us() { # ticks requests
    awk -v t="$1" -v hz="$CLK_TCK" -v n="$2" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }'
}
ratio() { # a b -> a/b
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'
}
wrk_args() { # kind port
    case $1 in
        post) echo "-s $TMP/post.lua http://127.0.0.1:$2/notes" ;;
        get) echo "http://127.0.0.1:$2/notes/42" ;;
    esac
}

cpu_model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
machine="$(nproc) CPUs, ${cpu_model:-unknown CPU}, $(uname -sr)"
declare -A KIND_NAME=([post]="POST $POST_BYTES B" [get]="GET")

ROW='| %-23s | %-11s | %10s | %7s | %7s | %17s | %12s | %14s | %13s | %16s | %7s | %-13s | %10s |'
summary="$TMP/summary.txt"
: >"$summary"
read -r -a up_pids <<<"$(tree_pids "$NGINX_UP_PID")"
read -r -a proxy_pids <<<"$(tree_pids "$NGINX_PROXY_PID")"
all_moat_pids=("${MOAT_PID_OF[@]}")
for round in $(seq "$ROUNDS"); do
    declare -A RPS=() CPU=() LINE=()
    for t in "${TARGETS[@]}"; do
        IFS='|' read -r name pidkey port <<<"$t"
        if [[ "$pidkey" == nginx ]]; then
            measured=("${proxy_pids[@]}")
        else
            measured=("${MOAT_PID_OF[$pidkey]}")
        fi
        for kind in post get; do
            out="$TMP/wrk-r$round-$(echo "$name-$kind" | tr -c 'a-zA-Z0-9' '_').txt"
            read -r -a args <<<"$(wrk_args "$kind" "$port")"
            log "round $round/$ROUNDS: $name, ${KIND_NAME[$kind]}: ${WARMUP}s warm-up, ${DURATION}s measured"
            "${ON_WRK[@]}" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "${args[@]}" >"$out.warmup"
            ours0=$(cpu_ticks "${up_pids[@]}" "${proxy_pids[@]}" "${all_moat_pids[@]}")
            up0=$(cpu_ticks "${up_pids[@]}")
            m0=$(cpu_ticks "${measured[@]}")
            cs0=$(ctx_switches "${measured[@]}")
            read -r busy0 total0 <<<"$(machine_ticks)"
            times >"$TMP/times0"
            "${ON_WRK[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "${args[@]}" >"$out"
            ours1=$(cpu_ticks "${up_pids[@]}" "${proxy_pids[@]}" "${all_moat_pids[@]}")
            up1=$(cpu_ticks "${up_pids[@]}")
            m1=$(cpu_ticks "${measured[@]}")
            cs1=$(ctx_switches "${measured[@]}")
            read -r busy1 total1 <<<"$(machine_ticks)"
            times >"$TMP/times1"
            kids0=$(children_cpu_s "$TMP/times0")
            kids1=$(children_cpu_s "$TMP/times1")
            # Share of the machine used by anything else (other people's
            # builds, other guests' steal) while wrk ran: it should be near 0.
            other=$(awk -v b=$((busy1 - busy0)) -v t=$((total1 - total0)) -v ours=$((ours1 - ours0)) \
                -v k0="$kids0" -v k1="$kids1" -v hz="$CLK_TCK" \
                'BEGIN { o = b - ours - (k1 - k0) * hz; if (o < 0) o = 0; printf "%.0f", t ? 100 * o / t : 0 }')
            reqs=$(awk '/ requests in / { print $1 }' "$out")
            [[ -n "$reqs" && "$reqs" -gt 0 ]] || { cat "$out" >&2; die "$name, $kind: wrk completed no request"; }
            rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
            p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
            p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
            non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
            sockerr=$(awk -F'Socket errors: ' '/Socket errors:/ { print $2 }' "$out")
            cpu=$(per_req_us $((m1 - m0)) "$reqs")
            cpu_up=$(per_req_us $((up1 - up0)) "$reqs")
            switches=$(awk -v c=$((cs1 - cs0)) -v n="$reqs" 'BEGIN { printf "%.2f", c / n }')
            RPS[$name/$kind]=$rps
            CPU[$name/$kind]=$cpu
            LINE[$name/$kind]="$rps|$p50|$p99|$cpu|$switches|$cpu_up|${non2xx:-0}|${sockerr:-none}|$other%"
            ((other < 10)) || log "warning: other processes used ${other}% of the machine during '$name, $kind'; this measurement is disturbed"
            [[ -z "$non2xx" ]] || log "warning: $name, $kind: $non2xx responses were not 2xx"
        done
    done
    {
        echo
        echo "Round $round/$ROUNDS: wrk -t1 -c$CONNS -d${DURATION}s --latency, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "Machine: $machine; $placement; moat: $threads_note"
        echo "moat: $MOAT_BIN${MOAT_BASE:+; moat base: $MOAT_BASE}"
        printf "$ROW\n" "target" "request" "requests/s" "p50 ms" "p99 ms" "proxy CPU µs/req" \
            "CPU vs nginx" "req/s vs nginx" "switches/req" "upstream µs/req" "non-2xx" "socket errors" "other load"
        printf "$ROW\n" ":-----" ":-----" "-----:" "-----:" "-----:" "-----:" "-----:" "-----:" "-----:" "-----:" ":-----" "-----:"
        for t in "${TARGETS[@]}"; do
            name=${t%%|*}
            for kind in post get; do
                IFS='|' read -r rps p50 p99 cpu switches cpu_up non2xx sockerr other <<<"${LINE[$name/$kind]}"
                printf "$ROW\n" "$name" "${KIND_NAME[$kind]}" "$rps" "$p50" "$p99" "$cpu" \
                    "$(ratio "$cpu" "${CPU[nginx proxy/$kind]}")" "$(ratio "$rps" "${RPS[nginx proxy/$kind]}")" \
                    "$switches" "$cpu_up" "$non2xx" "$sockerr" "$other"
            done
        done
    } >>"$summary"
    unset RPS CPU LINE
done

# --- profile ------------------------------------------------------------------
if [[ "$PROFILE" != 0 ]]; then
    if [[ "$PROFILE" == base ]]; then plabel="moat base"; else plabel="moat"; fi
    ppid=${MOAT_PID_OF[$plabel full pipeline]}
    for t in "${TARGETS[@]}"; do
        IFS='|' read -r name pidkey port <<<"$t"
        [[ "$name" == "$plabel full pipeline" ]] && pport=$port
    done
    PROFILE_OUT="${PROFILE_OUT:-$TMP/profile-pipeline-post.txt}"
    cg=()
    [[ -z "$PROFILE_CALLGRAPH" ]] || cg=(--call-graph "$PROFILE_CALLGRAPH")
    log "profiling $plabel full pipeline (pid $ppid), POST, ${PROFILE_SECONDS}s"
    read -r -a args <<<"$(wrk_args post "$pport")"
    "${ON_WRK[@]}" wrk -t1 -c"$CONNS" -d"$((PROFILE_SECONDS + 2))s" "${args[@]}" >"$TMP/wrk-profile.txt" &
    wrk_pid=$!
    sleep 1
    perf record -q -F 999 "${cg[@]}" -p "$ppid" -o "$TMP/perf.data" -- sleep "$PROFILE_SECONDS" 2>"$TMP/perf-record.log" \
        || { cat "$TMP/perf-record.log" >&2; die "perf record failed"; }
    wait "$wrk_pid" || true
    {
        echo "# perf record -F 999${cg[*]:+ ${cg[*]}} -p <pid of $plabel full pipeline> -- sleep $PROFILE_SECONDS"
        echo "# under: wrk -t1 -c$CONNS POST /notes ($POST_BYTES B); $placement; moat: $threads_note"
        echo "# binary: $([[ "$PROFILE" == base ]] && echo "$MOAT_BASE" || echo "$MOAT_BIN")"
        echo "# wrk: $(grep -E 'requests in|Requests/sec' "$TMP/wrk-profile.txt" | tr -s ' ' | tr '\n' ' ')"
        echo "#"
        echo "# Share of samples by component (kernel; libc allocator or other; crate of the symbol):"
        perf report -i "$TMP/perf.data" --stdio --no-children --percent-limit 0 -q \
            --sort dso,symbol 2>/dev/null | awk '
            $1 ~ /%$/ {
                pct = $1 + 0; dso = $2
                sym = $0; sub(/^[^]]*\] /, "", sym); sub(/ +$/, "", sym)
                if (dso ~ /kernel/) key = "kernel"
                else if (dso ~ /^libc/) key = (sym ~ /malloc|free|realloc|calloc|memalign|unlink_chunk|consolidate|tcache/) ? "libc allocator" : "libc other"
                else if (dso ~ /^\[/ || sym ~ /^0x/) key = dso
                else {
                    key = sym; sub(/^</, "", key)
                    sub(/^[&*]*(mut |const )?[A-Z][A-Za-z0-9_]* as /, "", key) # <&T as core::fmt::Debug>
                    sub(/::.*/, "", key); sub(/<.*/, "", key)
                }
                share[key] += pct
            }
            END { for (k in share) printf "#   %6.2f%%  %s\n", share[k], k }' | sort -t'%' -k1,1 -rn | head -n 25
        echo "#"
        perf report -i "$TMP/perf.data" --stdio --no-children --percent-limit 0.1 \
            --sort dso,symbol 2>/dev/null | grep -v '^$' | sed -E 's/( +-)* *$//' | head -n 200
    } >"$PROFILE_OUT"
    log "profile written to $PROFILE_OUT"
fi

# moat's diagnostics go to stderr: say how much each wrote, and show problems.
for f in "$TMP"/*.stderr; do
    log "$(basename "$f"): $(wc -l <"$f") lines"
done
grep -hiE 'error|warn|panic' "$TMP"/*.stderr "$TMP"/nginx-*/error.log 2>/dev/null \
    | head -n 20 | sed 's/^/pipeline: log: /' >&2 || true

cat "$summary"
