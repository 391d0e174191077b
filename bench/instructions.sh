#!/usr/bin/env bash
# Instructions per request of one proxy configuration, counted by
# callgrind: a measure that does not move from one run (or machine load)
# to the next, unlike CPU time, so small changes to the request path can
# be compared. User space only; the kernel's share is not counted.
#
# Starts, on 127.0.0.1 only, the nginx upstream and the moat configs of
# bench/pipeline.sh (the OpenAPI document is read from that script, so both
# measure the same API), runs the proxy under `valgrind --tool=callgrind`
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
missing=()
for tool in valgrind:valgrind nginx:nginx curl:curl python3:python3; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || [[ -x /usr/sbin/${tool%%:*} ]] || missing+=("${tool##*:}")
done
install_missing "${missing[@]}"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

read -r UP PORT <<<"$(free_ports 2)"
NOTE_GET='{"id":42,"title":"Quarterly planning notes","body":"Agree on the roadmap for the next quarter and the hiring plan.","tags":["work","planning"],"pinned":false,"priority":2,"created_at":"2024-03-14T09:26:53Z"}'
NOTE_CREATED='{"id":1001,"title":"Notes from the team offsite","body":"Saved.","tags":["work","offsite","planning"],"pinned":true,"priority":3,"created_at":"2024-05-02T16:45:10Z"}'
mkdir -p "$TMP/ngx"
cat >"$TMP/ngx/nginx.conf" <<NG
daemon off; worker_processes 1; error_log $TMP/ngx/error.log warn; pid $TMP/ngx/nginx.pid;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $TMP/ngx/cb; proxy_temp_path $TMP/ngx/p;
 fastcgi_temp_path $TMP/ngx/f; uwsgi_temp_path $TMP/ngx/u; scgi_temp_path $TMP/ngx/s;
 keepalive_requests 1000000;
 server { listen 127.0.0.1:$UP; default_type application/json;
  location ~ ^/notes/[0-9]+\$ { return 200 '$NOTE_GET'; }
  location = /notes { return 201 '$NOTE_CREATED'; } } }
NG
"$NGINX" -p "$TMP/ngx" -c "$TMP/ngx/nginx.conf" &
PIDS+=($!)

# The document bench/pipeline.sh writes, taken from its here-document.
sed -n '/^cat >"\$TMP\/openapi.yaml" <<.EOF.$/,/^EOF$/p' "$(dirname "$0")/pipeline.sh" | sed '1d;$d' >"$TMP/openapi.yaml"
[[ -s $TMP/openapi.yaml ]] || die "no OpenAPI document found in bench/pipeline.sh"
python3 - >"$TMP/post.json" <<'PY'
import json
body = ("We spent most of the morning on the roadmap for the next two quarters. The main decision is to ship the new billing pages before the summer, which means the reporting work moves to September. Anna will write up the migration plan for existing customers, and Tom will check with the support team whether the old invoices can stay where they are for now. In the afternoon we talked about hiring: two engineers and one designer this year, with interviews starting in April. Everyone agreed that the on-call rotation is too heavy for four people, so it will be shared with the platform team until the new hires are up to speed. Open questions: the budget for the conference in October, whether to move the weekly sync to Thursdays, and who owns the accessibility review. Next steps are in the shared document; please add comments there by Friday, 12 April. Lunch was good, the coffee was not, and the train home was late again.")
print(json.dumps({"title": "Notes from the team offsite", "body": body, "tags": ["work", "offsite", "planning"], "pinned": True, "priority": 3, "color": "yellow", "due": "2024-04-12"}, separators=(",", ":")), end="")
PY

if [[ $TARGET == pass ]]; then
    API="    validation: {enabled: false}
    inspection: {enabled: false}
    responses: {undeclared: allow, mask_sensitive: false, scrub_errors: false}
    deprecated: allow
    rate_limits: []
    quotas: []"
    TOP="lockout: {enabled: false}
anomaly: {enabled: false}
rate_limiting: {headers: false}"
else
    API="    mode: enforce
    validation: {enabled: true, refuse_unknown_properties: true}
    inspection: {enabled: true, paranoia: 1}
    responses: {undeclared: remove, mask_sensitive: true, scrub_errors: true}
    rate_limits:
      - {name: per-client, key: client_ip, rate: 100000000, per: 1s}"
    TOP="rate_limiting: {headers: true}"
fi
cat >"$TMP/moat.yaml" <<Y
mode: enforce
listeners:
  - bind: 127.0.0.1:$PORT
upstreams:
  nginx:
    targets: ["http://127.0.0.1:$UP"]
apis:
  - name: notes
    spec: openapi.yaml
    upstream: nginx
$API
access_log: {enabled: false}
reload:
  watch: false
shutdown:
  grace_period: 1s
state:
  sqlite: $TMP/state.db
$TOP
Y
if [[ $TARGET == floor ]]; then
    CMD=("$BIN" "127.0.0.1:$PORT" "127.0.0.1:$UP")
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
