#!/usr/bin/env bash
# Attack detection, side by side: moat's inspection vs ModSecurity + the OWASP
# Core Rule Set, on the corpus of crates/moat-inspect/tests/corpus/*.jsonl.
#
# Starts, on 127.0.0.1 only (free ports asked from the OS):
#   (a) an nginx "upstream" that answers 200 to everything;
#   (b) nginx + ModSecurity v3 + OWASP CRS (Debian packages) in front of (a),
#       blocking mode (SecRuleEngine On), anomaly threshold 5, one server per
#       paranoia level of LEVELS (default 1);
#   (c) one moat per level of LEVELS in front of (a), with an OpenAPI document
#       generated from the corpus' methods and paths (free-form bodies and
#       parameters) and `inspection: {enabled: true, paranoia: LEVEL}`;
# then replays every corpus request against each (python3, standard library
# only) and prints, side by side, the rates per class, per location of the
# payload (the corpus' `in`: path, query, header, cookie, body), per finding
# group (the corpus' `group`) and for benign requests: a block is a 403 (for
# moat: a 403 whose body names `attack-detected`); any other non-2xx answer is
# counted apart ("other": e.g. ModSecurity's 400 for an XML body it cannot
# parse, nginx's 400 for a malformed request, moat's 404/415/422 from routing
# or validation). TPR counts 403 blocks only; "any" counts every refusal.
#
# Usage (from the repository root):
#   bash bench/inspect-vs-crs.sh
# Knobs (environment):
#   LEVELS="1 2 3 4"  paranoia levels measured, for CRS and moat (default: 1)
#   SKIP_MOAT=1    CRS only (no cargo build)
#   MOAT=path      use this moat binary instead of building one
#   KEEP_TMP=1     keep the temporary directory (configs, logs, results.jsonl)
#   SHOW_IDS=1     list the ids of the misses too (false positives are always listed)
#   CORPUS_DIR=holdout   replay the held-out set (tests/holdout) instead
set -euo pipefail

LEVELS="${LEVELS:-1}"
SKIP_MOAT="${SKIP_MOAT:-0}"
SHOW_IDS="${SHOW_IDS:-0}"

die() { echo "inspect-vs-crs: $*" >&2; exit 1; }
log() { echo "inspect-vs-crs: $*" >&2; }
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -f Cargo.toml && -d crates/moat-inspect/tests/corpus ]] \
    || die "run me from the repository root: bash bench/inspect-vs-crs.sh"
[[ "$LEVELS" =~ ^[1-4](\ [1-4])*$ ]] || die "LEVELS must be levels 1-4 separated by spaces, got '$LEVELS'"
CORPUS="$PWD/crates/moat-inspect/tests/${CORPUS_DIR:-corpus}"
[[ -d "$CORPUS" ]] || die "no corpus at $CORPUS"
# A benign GET of the corpus, to see that each server is up.
PROBE=$(python3 -c '
import json, pathlib, sys
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.jsonl")):
    for line in f.read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        if r["class"] == "benign" and r["method"] == "GET" and not r.get("query"):
            print(r["path"]); sys.exit(0)
print("/")
' "$CORPUS")

# --- tools -------------------------------------------------------------------
MODSEC_SO=/usr/lib/nginx/modules/ngx_http_modsecurity_module.so
CRS_LOAD=/usr/share/modsecurity-crs/owasp-crs.load
need_pkgs=()
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || need_pkgs+=(nginx)
[[ -f "$MODSEC_SO" ]] || need_pkgs+=(libnginx-mod-http-modsecurity)
[[ -f "$CRS_LOAD" ]] || need_pkgs+=(modsecurity-crs)
install_missing "${need_pkgs[@]}"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
command -v python3 >/dev/null 2>&1 || die "python3 is needed (ports, OpenAPI document, replay)"
command -v curl >/dev/null 2>&1 || die "curl is needed for the sanity checks"
# The ModSecurity base configuration: Debian installs modsecurity.conf-recommended
# as /etc/nginx/modsecurity.conf (with unicode.mapping beside it).
MODSEC_BASE=""
for f in /etc/nginx/modsecurity.conf /etc/modsecurity/modsecurity.conf-recommended \
    /usr/share/nginx/docs/modsecurity/modsecurity.conf; do
    [[ -f "$f" ]] && { MODSEC_BASE=$f; break; }
done
[[ -n "$MODSEC_BASE" ]] || die "no modsecurity.conf(-recommended) found"
UNICODE_MAP="$(dirname "$MODSEC_BASE")/unicode.mapping"
[[ -f "$UNICODE_MAP" ]] || UNICODE_MAP=/usr/share/nginx/docs/modsecurity/unicode.mapping
CRS_SETUP=/etc/modsecurity/crs/crs-setup.conf
CRS_RULES=/usr/share/modsecurity-crs/rules
[[ -f "$CRS_SETUP" && -d "$CRS_RULES" ]] || die "CRS not where Debian puts it ($CRS_SETUP, $CRS_RULES)"
CRS_EXCL_BEFORE=""
CRS_EXCL_AFTER=""
[[ -f /etc/modsecurity/crs/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf ]] \
    && CRS_EXCL_BEFORE="Include /etc/modsecurity/crs/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf"
[[ -f /etc/modsecurity/crs/RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf ]] \
    && CRS_EXCL_AFTER="Include /etc/modsecurity/crs/RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf"
CRS_VERSION=$(dpkg-query -W -f='${Version}' modsecurity-crs 2>/dev/null || echo unknown)

# --- temp dir and cleanup ----------------------------------------------------
TMP="$(mktemp -d -t moat-crs.XXXXXX)"
PIDS=()
# Stops every process in PIDS and removes TMP (unless KEEP_TMP=1) on exit.
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

read -r -a LEVEL_LIST <<<"$LEVELS"
read -r -a PORTS <<<"$(free_ports $((1 + 2 * ${#LEVEL_LIST[@]})))"
UP_PORT=${PORTS[0]}
CRS_PORTS=("${PORTS[@]:1:${#LEVEL_LIST[@]}}")
MOAT_PORTS=("${PORTS[@]:$((1 + ${#LEVEL_LIST[@]}))}")
log "ports: upstream $UP_PORT, crs ${CRS_PORTS[*]}, moat ${MOAT_PORTS[*]} (levels $LEVELS)"

wait_2xx() { # url what
    local url=$1 what=$2 got=""
    for _ in $(seq 100); do
        got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H 'Host: api.example.com' \
            -H 'User-Agent: curl/8.5.0' -H 'Accept: application/json' "$url" || true)
        [[ "$got" == 2* ]] && return 0
        sleep 0.1
    done
    die "$what: $url answered '$got', expected 2xx"
}

# --- ModSecurity + CRS rules --------------------------------------------------
write_modsec() { # file paranoia
    cat >"$1" <<EOF
# The recommended base configuration, as Debian installs it.
Include $MODSEC_BASE
# Blocking mode; no audit log (the run would write one entry per block).
SecRuleEngine On
SecAuditEngine Off
SecUnicodeMapFile $UNICODE_MAP 20127
SecTmpDir $TMP/modsec
SecDataDir $TMP/modsec
# CRS setup (ids 900000-900999 are the crs-setup.conf knobs): paranoia level,
# anomaly threshold 5 (the default: one critical hit blocks), and the methods
# of a REST API (the CRS default allows only GET HEAD POST OPTIONS).
SecAction "id:900000,phase:1,nolog,pass,t:none,setvar:tx.paranoia_level=$2"
SecAction "id:900110,phase:1,nolog,pass,t:none,setvar:tx.inbound_anomaly_score_threshold=5,setvar:tx.outbound_anomaly_score_threshold=4"
SecAction "id:900200,phase:1,nolog,pass,t:none,setvar:'tx.allowed_methods=GET HEAD POST OPTIONS PUT PATCH DELETE'"
# The CRS default content types, plus text/plain (the corpus has text/plain
# notes; without it every one is refused by policy, rule 920420, not detection).
SecAction "id:900220,phase:1,nolog,pass,t:none,setvar:'tx.allowed_request_content_type=|application/x-www-form-urlencoded| |multipart/form-data| |multipart/related| |text/xml| |application/xml| |application/soap+xml| |application/json| |application/cloudevents+json| |application/cloudevents-batch+json| |text/plain|'"
# What Debian's owasp-crs.load includes (it is written for Apache: libmodsecurity
# has no IncludeOptional, so the same files are included here one by one).
Include $CRS_SETUP
$CRS_EXCL_BEFORE
Include $CRS_RULES/*.conf
$CRS_EXCL_AFTER
EOF
}
mkdir -p "$TMP/nginx" "$TMP/modsec"
crs_servers=""
for i in "${!LEVEL_LIST[@]}"; do
    pl=${LEVEL_LIST[$i]}
    write_modsec "$TMP/modsec-pl$pl.conf" "$pl"
    crs_servers+="
    # (b) ModSecurity + CRS at PL$pl in front of it.
    server {
        listen 127.0.0.1:${CRS_PORTS[$i]} default_server;
        modsecurity on;
        modsecurity_rules_file $TMP/modsec-pl$pl.conf;
        location / { proxy_pass http://upstream_ok; proxy_http_version 1.1; proxy_set_header Connection \"\"; }
    }"
done

cat >"$TMP/nginx/nginx.conf" <<EOF
load_module $MODSEC_SO;
daemon off;
master_process on;
worker_processes 1;
error_log $TMP/nginx/error.log warn;
pid $TMP/nginx/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/client_body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    client_max_body_size 2m;
    # (a) The upstream: 200 to everything.
    server {
        listen 127.0.0.1:$UP_PORT default_server;
        location / {
            default_type application/json;
            return 200 '{"ok":true}';
        }
    }
    upstream upstream_ok {
        server 127.0.0.1:$UP_PORT;
        keepalive 16;
    }
$crs_servers
}
EOF
"$NGINX" -t -q -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" \
    || die "nginx rejected its config ($TMP/nginx/nginx.conf; KEEP_TMP=1 keeps it)"
"$NGINX" -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" \
    >"$TMP/nginx/stdout.log" 2>&1 &
PIDS+=("$!")
wait_2xx "http://127.0.0.1:$UP_PORT$PROBE" "upstream"
TARGETS=()
for i in "${!LEVEL_LIST[@]}"; do
    port=${CRS_PORTS[$i]}
    wait_2xx "http://127.0.0.1:$port$PROBE" "nginx + CRS (PL${LEVEL_LIST[$i]})"
    got=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: api.example.com' \
        "http://127.0.0.1:$port/api/v1/products?q=1%27%20OR%20%271%27%3D%271%27--")
    [[ "$got" == 403 ]] || die "CRS did not block an obvious SQL injection (answered $got): not in blocking mode?"
    TARGETS+=("crs|CRS PL${LEVEL_LIST[$i]}|http://127.0.0.1:$port")
done
log "CRS $CRS_VERSION is blocking at PL $LEVELS"

# --- moat ---------------------------------------------------------------------
if [[ "$SKIP_MOAT" != 1 ]]; then
    if [[ -z "${MOAT:-}" ]]; then
        log "building moat (release)"
        cargo build --release -p moat
        MOAT="${CARGO_TARGET_DIR:-$PWD/target}/release/moat"
    fi
    [[ -x "$MOAT" ]] || die "no moat binary at $MOAT"
    # An OpenAPI document accepting every method and path of the corpus:
    # segments outside a fixed vocabulary become string path parameters;
    # bodies are free-form; undeclared query parameters are forwarded by moat.
    python3 - "$CORPUS" >"$TMP/openapi.json" <<'PY'
import json, pathlib, sys
WORDS = set("""api v1 v2 articles calc cart comments directory search lookup documents import validate
files geo greeting health lang orders preview products proxy redirect reports download settings tools
ping dns users catalog items integrations graphql auth login reset refresh introspect emails export
feedback upload messages notes render tickets webhooks avatar slack""".split())
paths = {}
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.jsonl")):
    for line in f.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        r = json.loads(line)
        segs, params = [], []
        for i, s in enumerate(r["path"].strip("/").split("/")):
            if s in WORDS:
                segs.append(s)
            else:
                segs.append("{p%d}" % i)
                params.append("p%d" % i)
        t = "/" + "/".join(segs)
        op = {
            "operationId": (r["method"].lower() + t).replace("/", "_").replace("{", "").replace("}", ""),
            "parameters": [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params],
            "responses": {"200": {"description": "anything"}},
        }
        if r["method"] in ("POST", "PUT", "PATCH"):
            op["requestBody"] = {"required": False, "content": {
                "application/json": {"schema": {}},
                "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
                "text/plain": {"schema": {"type": "string"}},
                "text/xml": {"schema": {"type": "string"}},
            }}
        paths.setdefault(t, {})[r["method"].lower()] = op
doc = {"openapi": "3.0.3", "info": {"title": "moat inspection corpus", "version": "1.0.0"}, "paths": paths}
json.dump(doc, sys.stdout, indent=1)
PY
    for i in "${!LEVEL_LIST[@]}"; do
        pl=${LEVEL_LIST[$i]}
        port=${MOAT_PORTS[$i]}
        dir="$TMP/moat-pl$pl"
        mkdir -p "$dir"
        cp "$TMP/openapi.json" "$dir/openapi.json"
        cat >"$dir/moat.yaml" <<EOF
mode: enforce
listeners:
  - bind: 127.0.0.1:$port
upstreams:
  up:
    targets: ["http://127.0.0.1:$UP_PORT"]
apis:
  - name: corpus
    spec: openapi.json
    upstream: up
    inspection: {enabled: true, paranoia: $pl}
access_log: {enabled: false}
# Detection alone: the anomaly detectors would ban the replaying address
# (hundreds of refused requests on distinct object ids look like
# enumeration) and turn later 403s into bans.
anomaly: {enabled: false}
reload:
  watch: false
shutdown:
  grace_period: 1s
state:
  sqlite: $dir/moat.db
EOF
        if ! "$MOAT" check --config "$dir/moat.yaml" >"$dir/check.log" 2>&1; then
            log "moat rejected its config at PL$pl; measuring CRS alone. moat said:"
            cat "$dir/check.log" >&2
            break
        fi
        "$MOAT" serve --config "$dir/moat.yaml" >"$dir/stdout" 2>"$dir/stderr" &
        MOAT_PID=$!
        PIDS+=("$MOAT_PID")
        for _ in $(seq 100); do
            grep -q 'moat: listening on' "$dir/stderr" 2>/dev/null && break
            kill -0 "$MOAT_PID" 2>/dev/null || { cat "$dir/stderr" >&2; die "moat exited at start"; }
            sleep 0.1
        done
        wait_2xx "http://127.0.0.1:$port$PROBE" "moat (PL$pl)"
        TARGETS+=("moat|moat PL$pl|http://127.0.0.1:$port")
    done
fi

# --- replay -------------------------------------------------------------------
python3 - "$CORPUS" "$TMP/results.jsonl" "$SHOW_IDS" "${TARGETS[@]}" <<'PY'
import http.client, json, pathlib, sys, urllib.parse
corpus, out, show_ids, targets = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1", sys.argv[4:]
CLASSES = ["sqli", "xss", "command_injection", "path_traversal", "ssrf", "nosql", "ssti", "ldap", "crlf", "jndi", "xxe"]
cases = []
for f in sorted(corpus.glob("*.jsonl")):
    for line in f.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("//"):
            cases.append(json.loads(line))

def body_of(r):
    b = r.get("body")
    if b is None:
        return None
    return b.encode("utf-8") if isinstance(b, str) else json.dumps(b, ensure_ascii=False).encode("utf-8")

def send(conn_box, url, r):
    target = r["path"] + ("?" + r["query"] if r.get("query") else "")
    body = body_of(r)
    for attempt in (1, 2):
        conn = conn_box[0]
        try:
            conn.putrequest(r["method"], target, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", "api.example.com")
            for k, v in (r.get("headers") or {}).items():
                if k.lower() in ("host", "content-length"):
                    continue
                conn.putheader(k, v.encode("utf-8"))
            if r.get("content_type") and not any(k.lower() == "content-type" for k in (r.get("headers") or {})):
                conn.putheader("Content-Type", r["content_type"])
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
            if resp.getheader("connection", "").lower() == "close":
                conn.close()
                conn_box[0] = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
            return resp.status, data
        except (http.client.HTTPException, OSError, ValueError) as e:
            conn.close()
            conn_box[0] = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
            if attempt == 2 or isinstance(e, ValueError):
                return 0, str(e).encode()
    return 0, b""

results = {}
for t in targets:
    kind, name, base = t.split("|", 2)
    url = urllib.parse.urlsplit(base)
    box = [http.client.HTTPConnection(url.hostname, url.port, timeout=10)]
    res = {}
    for r in cases:
        status, data = send(box, url, r)
        if status == 403 and (kind != "moat" or b"attack-detected" in data):
            verdict = "blocked"
        elif 200 <= status < 300:
            verdict = "passed"
        else:
            verdict = "other:%d" % status
        res[r["id"]] = verdict
    results[name] = res
    print(f"inspect-vs-crs: replayed {len(cases)} requests against {name}", file=sys.stderr)

with open(out, "w") as f:
    for r in cases:
        f.write(json.dumps({"id": r["id"], "class": r["class"], **{n: results[n][r["id"]] for n in results}}) + "\n")

names = list(results)
attacks = [r for r in cases if r["class"] != "benign"]
benign = [r for r in cases if r["class"] == "benign"]

def cell(name, rows):
    v = [results[name][r["id"]] for r in rows]
    b = v.count("blocked")
    o = sum(1 for x in v if x.startswith("other"))
    n = max(len(rows), 1)
    return f"{100*b/n:5.1f}% /{100*(b+o)/n:5.1f}%"

def tnr(name, rows):
    v = [results[name][r["id"]] for r in rows]
    return f"{100*v.count('passed')/max(len(rows),1):5.1f}%"

def table(title, keyed, benign_rows=False):
    print()
    print(title + (" (TNR: share passed)" if benign_rows else " (TPR: share refused with 403 / with any non-2xx)"))
    print(f"{'':<28} {'n':>4} | " + " | ".join(f"{n:^15}" for n in names))
    for key, rows in keyed:
        if rows:
            f = tnr if benign_rows else cell
            print(f"{key:<28} {len(rows):>4} | " + " | ".join(f"{f(n, rows):^15}" for n in names))

print()
print(f"Corpus {corpus.name}: {len(cases)} requests ({len(attacks)} attacks, {len(benign)} benign).")
table("Per class", [(c, [r for r in attacks if r["class"] == c]) for c in CLASSES] + [("all attacks", attacks)])
locations = sorted({r.get("in", "?") for r in attacks})
table("Per location of the payload", [(l, [r for r in attacks if r.get("in", "?") == l]) for l in locations])
groups = sorted({r["group"] for r in attacks if r.get("group")})
table("Per attack group", [(g, [r for r in attacks if r.get("group") == g]) for g in groups])
bgroups = sorted({r["group"] for r in benign if r.get("group")})
table("Benign", [("all benign", benign)] + [(g, [r for r in benign if r.get("group") == g]) for g in bgroups], benign_rows=True)
print()
for n in names:
    fps = [r["id"] for r in benign if results[n][r["id"]] != "passed"]
    print(f"{n}: benign refused ({len(fps)}): " + " ".join(f"{i}({results[n][i]})" for i in fps))
    if show_ids:
        miss = [r["id"] for r in attacks if results[n][r["id"]] != "blocked"]
        print(f"{n}: attacks not blocked ({len(miss)}): " + " ".join(f"{i}({results[n][i]})" for i in miss))
PY
if grep -qE '\[(emerg|alert|crit)\]' "$TMP/nginx/error.log" 2>/dev/null; then
    log "nginx error log has serious entries:"
    grep -E '\[(emerg|alert|crit)\]' "$TMP/nginx/error.log" | head -5 >&2
fi
