# Helpers shared by the end-to-end benchmarks (sourced, not run): cleanup
# of the processes and temporary directory, wrk latency units, and CPU time
# read from /proc. The sourcing script defines PIDS, TMP and log().

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
