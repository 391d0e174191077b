//! API4 Unrestricted Resource Consumption: page sizes above their bound,
//! oversized bodies, patterns with super-linear matching time, and no rate
//! limit on a cheap read or on the login.
//!
//! The burst runs last: against a rate-limited target it empties the
//! client's allowance, which the scan's pacing then waits out.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::Value;

use super::timing::{Step, median, super_linear};
use super::{Check, Context, Outcome, scalar_text};
use crate::client::{Exchange, Probe};
use crate::finding::{Category, Finding, Rule, Severity};
use crate::identity::Identity;
use crate::schema;
use crate::target::{Op, Param, query_string};

pub static NO_RATE_LIMIT: Rule = Rule {
    id: "resources.no-rate-limit",
    name: "No rate limit",
    category: Category::Api4,
    severity: Severity::Medium,
    cwe: Some(770),
    description: "A burst of requests is answered in full, without 429 or rate-limit headers: one client can use up the API (or guess passwords at full speed).",
};

pub static UNBOUNDED_PAGE: Rule = Rule {
    id: "resources.unbounded-page",
    name: "Page size not bounded",
    category: Category::Api4,
    severity: Severity::Medium,
    cwe: Some(770),
    description: "A page-size parameter far above its documented maximum (or any value, with none documented) is taken: one request can ask for the whole collection.",
};

pub static UNBOUNDED_BODY: Rule = Rule {
    id: "resources.unbounded-body",
    name: "Request body size not bounded",
    category: Category::Api4,
    severity: Severity::Medium,
    cwe: Some(400),
    description: "A request body of several megabytes is read and judged instead of refused with 413.",
};

pub static REDOS: Rule = Rule {
    id: "resources.redos",
    name: "Super-linear matching time (ReDoS)",
    category: Category::Api4,
    severity: Severity::High,
    cwe: Some(1333),
    description: "A parameter's check takes time that grows super-linearly with crafted input: a few requests can keep the server busy.",
};

/// Requests of one burst, and how many are in flight at once.
pub const BURST: usize = 200;
pub const BURST_CONCURRENCY: usize = 32;
/// The body sent to write operations.
pub const BIG_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Write operations sent the big body, at most.
const MAX_BODY_OPERATIONS: usize = 3;
/// Page-size parameters tried, at most.
const MAX_PAGE_PARAMS: usize = 5;
/// The page size sent when none is documented, or when the documented one
/// is smaller.
const BIG_PAGE: u64 = 10_000;
/// Parameters tried for ReDoS, at most, and time spent on each.
const MAX_REDOS_PARAMS: usize = 4;
const REDOS_BUDGET: Duration = Duration::from_secs(8);
const REDOS_LENGTHS: [usize; 7] = [16, 20, 24, 28, 32, 36, 40];
const REDOS_SAMPLES: usize = 3;
/// An adversarial median this slow ends the escalation.
const REDOS_STOP: Duration = Duration::from_millis(400);

/// Names of page-size parameters (compared without case, `_` and `-`).
const PAGE_NAMES: &[&str] = &[
    "limit",
    "perpage",
    "pagesize",
    "size",
    "count",
    "max",
    "top",
    "first",
    "take",
    "maxresults",
];

const FIX_RATE: &str = "# moat limits each client (GCRA); a 429 with Retry-After beyond the rate:\napis:\n  - name: my-api\n    rate_limits:\n      - {name: per-client, key: client_ip, rate: 10, per: 1s, burst: 20}\n      - {name: logins, key: client_ip, rate: 10, per: 1m, operations: [login]}";
const FIX_BODY: &str = "# moat refuses larger bodies with 413 before the API reads them:\napis:\n  - name: my-api\n    request_limits:\n      max_body_bytes: 1048576";

static RULES: &[&Rule] = &[&UNBOUNDED_PAGE, &UNBOUNDED_BODY, &REDOS, &NO_RATE_LIMIT];

pub struct Resources;

#[async_trait]
impl Check for Resources {
    fn name(&self) -> &'static str {
        "resource consumption"
    }

    fn rules(&self) -> &'static [&'static Rule] {
        RULES
    }

    fn plan(&self, cx: &Context) -> Vec<String> {
        let pages = page_params(cx).len();
        let redos = redos_params(cx).len();
        vec![
            format!(
                "{pages} page-size parameters: the documented maximum far exceeded (or {BIG_PAGE} with none documented)"
            ),
            format!(
                "with --allow-writes, a {BIG_BODY_BYTES}-byte JSON body to at most {MAX_BODY_OPERATIONS} write operations"
            ),
            format!(
                "{redos} parameters with a pattern or an email/URL-like name: `a`×n + `!` against a benign input of the same length, n from 16 up to 40 (within maxLength), {REDOS_SAMPLES} timings each, at most {REDOS_BUDGET:?} per parameter"
            ),
            format!(
                "a burst of {BURST} requests ({BURST_CONCURRENCY} at a time, unpaced) to a cheap read and to the login"
            ),
        ]
    }

    async fn run(&self, cx: &Context, out: &mut Outcome) {
        if cx.enabled(&UNBOUNDED_PAGE) {
            pages(cx, out).await;
        }
        if cx.enabled(&UNBOUNDED_BODY) {
            bodies(cx, out).await;
        }
        if cx.enabled(&REDOS) {
            redos(cx, out).await;
        }
        if cx.enabled(&NO_RATE_LIMIT) {
            bursts(cx, out).await;
        }
    }
}

/// Who sends requests to `op`: the first user where it is secured.
fn sender<'a>(cx: &'a Context, op: &Op) -> Option<&'a Identity> {
    if op.secured {
        cx.identities.users.first()
    } else {
        Some(&cx.identities.anonymous)
    }
}

/// The path of `op` and its required query parameters but `except`.
fn base(
    cx: &Context,
    op: &Op,
    identity: &Identity,
    except: &str,
) -> Option<(String, Vec<(String, String)>)> {
    let values = cx.path_values(op, Some(identity.name()))?;
    let path = op.path_with(&values)?;
    let query = op
        .query_params()
        .filter(|p| p.required && p.name != except)
        .filter_map(|p| Some((p.name.clone(), scalar_text(&schema::sample(&p.schema))?)))
        .collect();
    Some((path, query))
}

fn get(path: &str, query: &[(String, String)], extra: (&str, &str)) -> Probe {
    let mut pairs = query.to_vec();
    pairs.push((extra.0.to_string(), extra.1.to_string()));
    Probe::get(format!("{path}{}", query_string(&pairs)))
}

// ---------------------------------------------------------------------------
// Page sizes
// ---------------------------------------------------------------------------

fn page_params(cx: &Context) -> Vec<(&Op, &Param)> {
    cx.ops
        .iter()
        .filter(|op| op.method == moat_spec::Method::Get)
        .flat_map(|op| op.query_params().map(move |p| (op, p)))
        .filter(|(_, p)| {
            let name: String = p
                .name
                .chars()
                .filter(|c| *c != '_' && *c != '-')
                .collect::<String>()
                .to_ascii_lowercase();
            PAGE_NAMES.contains(&name.as_str())
                && matches!(schema::type_of(&p.schema), Some("integer" | "number"))
        })
        .take(MAX_PAGE_PARAMS)
        .collect()
}

/// The number of items in a list answer: a top-level array, or the
/// longest array among the top-level fields.
fn items(answer: &Exchange) -> Option<usize> {
    match answer.json()? {
        Value::Array(items) => Some(items.len()),
        Value::Object(fields) => fields
            .values()
            .filter_map(|v| v.as_array().map(Vec::len))
            .max(),
        _ => None,
    }
}

async fn pages(cx: &Context, out: &mut Outcome) {
    for (op, param) in page_params(cx) {
        let Some(identity) = sender(cx, op) else {
            continue;
        };
        let Some((path, query)) = base(cx, op, identity, &param.name) else {
            continue;
        };
        let maximum = param.schema.get("maximum").and_then(Value::as_f64);
        let big = match maximum {
            Some(m) if m >= BIG_PAGE as f64 => (m * 10.0).min(1e15) as u64,
            _ => BIG_PAGE,
        };
        let control = Probe::get(format!("{path}{}", query_string(&query)));
        let Ok(control) = cx.send(&control, identity).await else {
            continue;
        };
        if !control.is_success() {
            continue;
        }
        let Ok(answer) = cx
            .send(
                &get(&path, &query, (&param.name, &big.to_string())),
                identity,
            )
            .await
        else {
            continue;
        };
        if !answer.is_success() {
            continue;
        }
        let (sent, got) = (items(&control), items(&answer));
        let detail = match maximum {
            Some(m) => format!(
                "`{}={big}` (documented maximum {m}) was answered {} with {} items, where a bounded API refuses it as its document says ({} items without the parameter).",
                param.name,
                answer.status,
                got.map_or("?".to_string(), |n| n.to_string()),
                sent.map_or("?".to_string(), |n| n.to_string()),
            ),
            None => {
                // Without a documented bound, only a larger page counts.
                if got.unwrap_or(0) <= sent.unwrap_or(usize::MAX) {
                    continue;
                }
                format!(
                    "`{}={big}` (no documented maximum) was honoured: {} items, against {} without the parameter.",
                    param.name,
                    got.unwrap_or(0),
                    sent.unwrap_or(0),
                )
            }
        };
        let bound = maximum.map_or(100, |m| m as u64);
        out.found(
            Finding::new(
                &UNBOUNDED_PAGE,
                format!("page size `{}` is not bounded", param.name),
                detail,
            )
            .at(op.reference())
            .by(identity.name())
            .evidence(Context::evidence(&answer, format!("`{}={big}` answered 2xx", param.name)))
            .fix(format!(
                "# in the document (moat validates parameters against it):\nparameters:\n  - name: {}\n    in: query\n    schema: {{type: integer, minimum: 1, maximum: {bound}}}",
                param.name
            ))
            .fix_api(format!("Refuse `{}` above {bound} with 400 (or clamp it).", param.name)),
        );
    }
}

// ---------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------

async fn bodies(cx: &Context, out: &mut Outcome) {
    if !cx.client.writes_allowed() {
        out.skip(
            "resource consumption",
            "oversized bodies not sent without --allow-writes",
        );
        return;
    }
    // A JSON string, not an object: any API that reads it refuses it
    // (nothing is created), and one that bounds bodies answers 413 first.
    let mut big = String::with_capacity(BIG_BODY_BYTES);
    big.push('"');
    big.push_str(&"a".repeat(BIG_BODY_BYTES - 2));
    big.push('"');
    let big = bytes::Bytes::from(big);
    let writes = cx
        .ops
        .iter()
        .filter(|op| !op.is_read() && op.body.is_some())
        .take(MAX_BODY_OPERATIONS);
    for op in writes {
        let Some(identity) = sender(cx, op) else {
            continue;
        };
        let Some(path) = cx
            .path_values(op, Some(identity.name()))
            .and_then(|v| op.path_with(&v))
        else {
            continue;
        };
        let probe = Probe::new(op.http_method(), path)
            .body("application/json", big.clone())
            .timeout(Duration::from_secs(30));
        // A closed connection or a timeout is a refusal too.
        let Ok(answer) = cx.send(&probe, identity).await else {
            continue;
        };
        if !(answer.is_success() || matches!(answer.status, 400 | 409 | 422)) {
            continue;
        }
        out.found(
            Finding::new(
                &UNBOUNDED_BODY,
                "a 2 MiB request body is read",
                format!(
                    "A {BIG_BODY_BYTES}-byte JSON body was read and answered {} instead of being refused with 413.",
                    answer.status
                ),
            )
            .at(op.reference())
            .by(identity.name())
            .evidence(Context::evidence(&answer, format!("answered {} to a {BIG_BODY_BYTES}-byte body", answer.status)))
            .fix(FIX_BODY)
            .fix_api("Bound the body size the server reads (413 beyond it)."),
        );
    }
}

// ---------------------------------------------------------------------------
// ReDoS
// ---------------------------------------------------------------------------

fn redos_params(cx: &Context) -> Vec<(&Op, &Param)> {
    cx.ops
        .iter()
        .filter(|op| op.method == moat_spec::Method::Get)
        .flat_map(|op| op.query_params().map(move |p| (op, p)))
        .filter(|(_, p)| {
            let name = p.name.to_ascii_lowercase();
            let format = p.schema.get("format").and_then(Value::as_str).unwrap_or("");
            schema::type_of(&p.schema) == Some("string")
                && (p.schema.get("pattern").is_some()
                    || matches!(
                        format,
                        "email" | "idn-email" | "uri" | "url" | "hostname" | "idn-hostname"
                    )
                    || ["email", "mail", "url", "uri", "host", "domain", "website"]
                        .iter()
                        .any(|w| name.contains(w)))
        })
        .take(MAX_REDOS_PARAMS)
        .collect()
}

async fn redos(cx: &Context, out: &mut Outcome) {
    for (op, param) in redos_params(cx) {
        let Some(identity) = sender(cx, op) else {
            continue;
        };
        let Some((path, query)) = base(cx, op, identity, &param.name) else {
            continue;
        };
        let max_length = param
            .schema
            .get("maxLength")
            .and_then(Value::as_u64)
            .map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX));
        let started = Instant::now();
        let mut steps = Vec::new();
        let mut slowest = None;
        for length in REDOS_LENGTHS.into_iter().filter(|n| *n <= max_length) {
            if started.elapsed() > REDOS_BUDGET {
                break;
            }
            let adversarial = format!("{}!", "a".repeat(length - 1));
            let benign = if length > 12 {
                format!("{}@example.com", "a".repeat(length - 12))
            } else {
                "a".repeat(length)
            };
            let (mut a_times, mut b_times) = (Vec::new(), Vec::new());
            for _ in 0..REDOS_SAMPLES {
                let timeout = Duration::from_secs(5);
                let probe = get(&path, &query, (&param.name, &adversarial)).timeout(timeout);
                let Ok(a) = cx.send(&probe, identity).await else {
                    break;
                };
                a_times.push(a.elapsed);
                slowest = Some(a);
                let probe = get(&path, &query, (&param.name, &benign)).timeout(timeout);
                let Ok(b) = cx.send(&probe, identity).await else {
                    break;
                };
                b_times.push(b.elapsed);
            }
            let (Some(a), Some(b)) = (median(&a_times), median(&b_times)) else {
                break;
            };
            if a_times.len() < REDOS_SAMPLES || b_times.len() < REDOS_SAMPLES {
                break;
            }
            steps.push(Step {
                length,
                adversarial: a,
                benign: b,
            });
            if a >= REDOS_STOP {
                break;
            }
        }
        if !super_linear(&steps) {
            continue;
        }
        let (Some(first), Some(last), Some(slowest)) = (steps.first(), steps.last(), slowest)
        else {
            continue;
        };
        out.found(
            Finding::new(
                &REDOS,
                format!("parameter `{}`: matching time grows super-linearly", param.name),
                format!(
                    "`a`×n + `!` took a median {:?} at n={} and {:?} at n={}, while a benign value of length {} took {:?}.",
                    first.adversarial, first.length, last.adversarial, last.length, last.length, last.benign
                ),
            )
            .at(op.reference())
            .by(identity.name())
            .evidence(Context::evidence(&slowest, format!("took {:?}", slowest.elapsed)))
            .fix(format!(
                "# in the document: a short maxLength (moat refuses longer values before the API sees them):\nparameters:\n  - name: {}\n    in: query\n    schema: {{type: string, maxLength: 64}}",
                param.name
            ))
            .fix_api("Use a linear-time matcher (no nested quantifiers, or a regex engine without backtracking) and bound the input length."),
        );
    }
}

// ---------------------------------------------------------------------------
// Bursts
// ---------------------------------------------------------------------------

/// What a burst saw.
#[derive(Debug, Default)]
struct Burst {
    statuses: BTreeMap<u16, usize>,
    failed: usize,
    limit_headers: bool,
    last: Option<Exchange>,
    elapsed: Duration,
}

impl Burst {
    /// Whether nothing in it shows a limit: every request answered, no 429
    /// or 503, no rate-limit headers.
    fn unlimited(&self) -> bool {
        let answered: usize = self.statuses.values().sum();
        self.failed == 0
            && answered == BURST
            && !self.statuses.contains_key(&429)
            && !self.statuses.contains_key(&503)
            && !self.limit_headers
    }
}

const LIMIT_HEADERS: &[&str] = &[
    "retry-after",
    "ratelimit",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-policy",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-rate-limit-limit",
    "x-rate-limit-remaining",
];

async fn burst(cx: &Context, probe: &Probe, identity: &Identity) -> Burst {
    let probe = probe.clone().want_429().unpaced();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..BURST_CONCURRENCY {
        let (client, probe, identity) = (cx.client.clone(), probe.clone(), identity.clone());
        let count = BURST / BURST_CONCURRENCY + usize::from(worker < BURST % BURST_CONCURRENCY);
        tasks.spawn(async move {
            let mut answers = Vec::with_capacity(count);
            for _ in 0..count {
                answers.push(client.send(&probe, &identity).await);
            }
            answers
        });
    }
    let mut seen = Burst::default();
    while let Some(joined) = tasks.join_next().await {
        for answer in joined.unwrap_or_default() {
            match answer {
                Ok(exchange) => {
                    *seen.statuses.entry(exchange.status).or_default() += 1;
                    seen.limit_headers |= LIMIT_HEADERS
                        .iter()
                        .any(|h| exchange.headers.contains_key(*h));
                    seen.last = Some(exchange);
                }
                Err(_) => seen.failed += 1,
            }
        }
    }
    seen.elapsed = started.elapsed();
    cx.observer.request(cx.client.sent());
    seen
}

async fn bursts(cx: &Context, out: &mut Outcome) {
    let read = cx.ops.iter().find(|op| {
        op.method == moat_spec::Method::Get
            && op.path_params().next().is_none()
            && !op.query_params().any(|p| p.required)
            && !op.deprecated
    });
    let mut targets: Vec<(&Op, Probe, Identity, &str)> = Vec::new();
    if let Some(op) = read
        && let Some(identity) = sender(cx, op)
    {
        targets.push((
            op,
            Probe::get(op.full_template.clone()),
            identity.clone(),
            "a cheap read",
        ));
    }
    let login = cx.identities.users.iter().find_map(|i| {
        let login = i.login()?;
        let mut body = login.json.clone()?;
        let fields = body.as_object_mut()?;
        for (key, value) in fields.iter_mut() {
            if value.is_string() {
                *value = Value::String(format!("moat-scan-burst-{key}"));
            }
        }
        let op = cx
            .ops
            .iter()
            .find(|op| op.full_template == login.path && op.http_method() == login.method)?;
        Some((
            op,
            Probe::new(login.method.clone(), login.path.clone()).json(&body),
        ))
    });
    if let Some((op, probe)) = login {
        targets.push((
            op,
            probe,
            cx.identities.anonymous.clone(),
            "the login (an unknown user, a wrong password)",
        ));
    }
    if targets.is_empty() {
        out.skip(
            "resource consumption",
            "no cheap read and no documented login to send a burst to",
        );
        return;
    }
    for (op, probe, identity, what) in targets {
        let seen = burst(cx, &probe, &identity).await;
        if !seen.unlimited() {
            continue;
        }
        let Some(last) = &seen.last else { continue };
        let statuses = seen
            .statuses
            .iter()
            .map(|(s, n)| format!("{n}×{s}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.found(
            Finding::new(
                &NO_RATE_LIMIT,
                format!("a burst of {BURST} requests is answered in full"),
                format!(
                    "{BURST} requests to {what}, {BURST_CONCURRENCY} at a time, took {:?} and were all answered ({statuses}), without 429, 503 or rate-limit headers.",
                    seen.elapsed
                ),
            )
            .at(op.reference())
            .by(identity.name())
            .evidence(Context::evidence(last, format!("the last of {BURST} answers")))
            .fix(FIX_RATE)
            .fix_api("Limit requests per client and per account; answer 429 with Retry-After beyond the limit."),
        );
    }
}
