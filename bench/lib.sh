# Helpers shared by the end-to-end benchmarks (sourced, not run): Debian
# packages, free ports, HTTP probes, cleanup of the processes and temporary
# directory, wrk latency units, and CPU time read from /proc. The sourcing
# script defines die() and log(), and PIDS and TMP before it exits.

# Installs the Debian packages named (with apt-get, as root), or dies saying
# how to install them.
install_missing() {
    (($#)) || return 0
    if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
        log "installing $* with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    else
        die "missing $*: install them (Debian/Ubuntu: sudo apt-get install -y $*)"
    fi
}

# Installs what is missing of TOOL:PACKAGE pairs (a tool may live in
# /usr/sbin, as nginx does).
require_tools() { # tool:package...
    local tool missing=()
    for tool in "$@"; do
        command -v "${tool%%:*}" >/dev/null 2>&1 || [[ -x /usr/sbin/${tool%%:*} ]] || missing+=("${tool##*:}")
    done
    install_missing "${missing[@]}"
}

# N free TCP ports on 127.0.0.1, asked from the OS and all held open until
# every one is picked (so no two are the same).
free_ports() {
    python3 -c '
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(*(s.getsockname()[1] for s in socks))
' "$1"
}

# The status code of a request (curl arguments), "000" when no answer.
http_code() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" || true
}

# Waits up to 10 s for URL to answer WANT; dies naming WHAT otherwise.
wait_http() { # url want what
    local url=$1 want=$2 what=$3 got=""
    for _ in $(seq 100); do
        got=$(http_code "$url")
        [[ "$got" == "$want" ]] && return 0
        sleep 0.1
    done
    die "$what: $url answered '$got', expected $want"
}

# Stops every process in PIDS (TERM, then KILL after 5 s) and removes TMP,
# unless KEEP_TMP=1.
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ "${KEEP_TMP:-0}" == 1 ]]; then
        log "kept $TMP"
    else
        rm -rf "$TMP"
    fi
}

# wrk prints latencies as 312.00us, 1.23ms, 2.00s, 1.00m: normalise to ms.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.3f", n
    }'
}

# CPU time (user + system, in clock ticks) used so far by a set of processes,
# all their threads included.
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() {
    local pid total=0 stat rest
    for pid in "$@"; do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        rest=${stat##*) }             # after "pid (comm) ": field 3 onwards
        read -r -a f <<<"$rest"
        total=$((total + f[11] + f[12])) # utime, stime (fields 14, 15)
    done
    echo "$total"
}
# Context switches (voluntary + involuntary) so far by a set of processes,
# all their threads included.
ctx_switches() {
    local pid total=0
    for pid in "$@"; do
        total=$((total + $(cat /proc/"$pid"/task/*/status 2>/dev/null \
            | awk '/^(non)?voluntary_ctxt_switches:/ { n += $2 } END { print n + 0 }')))
    done
    echo "$total"
}
# Machine-wide CPU ticks from /proc/stat: "busy total" (busy excludes idle and
# iowait; steal counts as busy, it is time taken by other guests).
machine_ticks() {
    awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat
}
# CPU seconds used by this shell's finished children (wrk among them), from the
# output of `times` (which must run in this shell, not in a $(...) subshell).
children_cpu_s() {
    awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$1"
}
