# The notes API that the pipeline benchmarks measure (sourced, not run):
# the upstream's answers, the ~1 KB note a POST sends, the OpenAPI document
# and the two moat configs (pass-through and full pipeline). Shared by
# bench/pipeline.sh and bench/instructions.sh, so that both measure the
# same requests on the same API. Needs python3; the sourcing script defines
# die() and TMP; write_moat_config() reads UP_PORT, the upstream's port.

# The upstream's answers (no '$' or "'" in them: they go into nginx strings).
NOTE_GET='{"id":42,"title":"Quarterly planning notes","body":"Agree on the roadmap for the next quarter and the hiring plan.","tags":["work","planning"],"pinned":false,"priority":2,"created_at":"2024-03-14T09:26:53Z"}'
NOTE_CREATED='{"id":1001,"title":"Notes from the team offsite","body":"Saved.","tags":["work","offsite","planning"],"pinned":true,"priority":3,"created_at":"2024-05-02T16:45:10Z"}'
# A realistic ~1 KB note: ordinary prose (with the punctuation prose has), a
# few tags and small fields.
POST_BODY=$(python3 -c '
import json
body = (
    "We spent most of the morning on the roadmap for the next two quarters. "
    "The main decision is to ship the new billing pages before the summer, "
    "which means the reporting work moves to September. Anna will write up "
    "the migration plan for existing customers, and Tom will check with the "
    "support team whether the old invoices can stay where they are for now. "
    "In the afternoon we talked about hiring: two engineers and one designer "
    "this year, with interviews starting in April. Everyone agreed that the "
    "on-call rotation is too heavy for four people, so it will be shared with "
    "the platform team until the new hires are up to speed. Open questions: "
    "the budget for the conference in October, whether to move the weekly "
    "sync to Thursdays, and who owns the accessibility review. Next steps are "
    "in the shared document; please add comments there by Friday, 12 April. "
    "Lunch was good, the coffee was not, and the train home was late again."
)
note = {
    "title": "Notes from the team offsite",
    "body": body,
    "tags": ["work", "offsite", "planning"],
    "pinned": True,
    "priority": 3,
    "color": "yellow",
    "due": "2024-04-12",
}
print(json.dumps(note, separators=(",", ":")))
')
POST_BYTES=${#POST_BODY}
((POST_BYTES >= 900 && POST_BYTES <= 1200)) || die "the POST body is $POST_BYTES bytes, expected about 1 KB"
# nginx's server block for the upstream on port $1: `return` discards the
# request body.
upstream_server_block() { # port
    echo "
    server {
        listen 127.0.0.1:$1;
        default_type application/json;
        location ~ ^/notes/[0-9]+\$ {
            return 200 '$NOTE_GET';
        }
        location = /notes {
            return 201 '$NOTE_CREATED';
        }
    }"
}

# Starts an nginx serving the upstream of the notes API on UP_PORT, with
# its files in DIR; prefix the command with PREFIX (e.g. taskset). Adds
# its pid to PIDS.
start_upstream_nginx() { # dir [prefix...]
    local dir=$1
    shift
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<NG
daemon off; worker_processes 1; error_log $dir/error.log warn; pid $dir/nginx.pid;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $dir/cb; proxy_temp_path $dir/p;
 fastcgi_temp_path $dir/f; uwsgi_temp_path $dir/u; scgi_temp_path $dir/s;
 keepalive_requests 1000000;
$(upstream_server_block "$UP_PORT")
}
NG
    "$@" "$(command -v nginx || echo /usr/sbin/nginx)" -p "$dir" -c "$dir/nginx.conf" &
    PIDS+=($!)
}

write_openapi() { # file
    cat >"$1" <<'EOF'
openapi: 3.0.3
info:
  title: Benchmark notes API
  version: 1.0.0
paths:
  /notes:
    post:
      operationId: createNote
      summary: Create a note
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: "#/components/schemas/NewNote"
      responses:
        "201":
          description: The note was created.
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/Note"
        "400":
          $ref: "#/components/responses/Problem"
        "422":
          $ref: "#/components/responses/Problem"
  /notes/{id}:
    get:
      operationId: getNote
      summary: Get one note
      parameters:
        - name: id
          in: path
          required: true
          schema:
            type: integer
            format: int64
            minimum: 1
      responses:
        "200":
          description: The note.
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/Note"
        "400":
          $ref: "#/components/responses/Problem"
        "404":
          $ref: "#/components/responses/Problem"
components:
  responses:
    Problem:
      description: A problem.
      content:
        application/problem+json:
          schema:
            type: object
            properties:
              type: { type: string }
              title: { type: string }
              status: { type: integer }
              detail: { type: string }
  schemas:
    NewNote:
      type: object
      required: [title, body]
      additionalProperties: false
      properties:
        title: { type: string, minLength: 1, maxLength: 200 }
        body: { type: string, maxLength: 20000 }
        tags:
          type: array
          maxItems: 20
          uniqueItems: true
          items: { type: string, minLength: 1, maxLength: 40 }
        pinned: { type: boolean }
        priority: { type: integer, minimum: 0, maximum: 5 }
        color: { type: string, enum: [white, yellow, green, blue, red] }
        due: { type: string, format: date }
    Note:
      type: object
      required: [id, title, body, created_at]
      properties:
        id: { type: integer, format: int64 }
        title: { type: string }
        body: { type: string }
        tags: { type: array, items: { type: string } }
        pinned: { type: boolean }
        priority: { type: integer }
        color: { type: string }
        due: { type: string, format: date }
        created_at: { type: string, format: date-time }
EOF
}

# Keys of the current HEAD's config (docs/configuration.md).
# pass-through: every guard that can be switched off is off. (Not
# switchable: routing to the operation, the listener's header/URL limits and
# request_limits.max_body_bytes, which compare numbers from the request head.)
API_PASS="    validation: {enabled: false}
    inspection: {enabled: false}
    responses: {undeclared: allow, mask_sensitive: false, scrub_errors: false}
    deprecated: allow
    rate_limits: []
    quotas: []"
TOP_PASS="lockout: {enabled: false}
anomaly: {enabled: false}
rate_limiting: {headers: false}"
# full pipeline: everything on, enforce mode; lockout and anomaly detectors
# stay at their defaults (on).
API_FULL="    mode: enforce
    validation: {enabled: true, refuse_unknown_properties: true}
    inspection: {enabled: true, paranoia: 1}
    responses: {undeclared: remove, mask_sensitive: true, scrub_errors: true}
    rate_limits:
      - {name: per-client, key: client_ip, rate: 100000000, per: 1s}"
TOP_FULL="rate_limiting: {headers: true}"

# MOAT_EXTRA_TOP (environment): more top-level lines for every config, e.g.
# `events: {enabled: false}` to measure a switch.
write_moat_config() { # file port api-lines top-level-lines
    cat >"$1" <<EOF
mode: enforce
listeners:
  - bind: 127.0.0.1:$2
upstreams:
  nginx:
    targets: ["http://127.0.0.1:$UP_PORT"]
apis:
  - name: notes
    spec: openapi.yaml
    upstream: nginx
$3
access_log: {enabled: false}
reload:
  watch: false
shutdown:
  grace_period: 1s
state:
  sqlite: $TMP/$(basename "$1" .yaml).db
$4
${MOAT_EXTRA_TOP:-}
EOF
}
