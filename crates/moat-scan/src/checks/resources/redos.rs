//! `resources.redos`: crafted input whose matching time grows
//! super-linearly, against a benign input of the same length.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{REDOS, base, get, sender};
use crate::checks::timing::{Step, median, super_linear};
use crate::checks::{Context, Outcome};
use crate::finding::Finding;
use crate::schema;
use crate::target::{Op, Param};

/// Parameters tried, at most, and time spent on each.
const MAX_REDOS_PARAMS: usize = 4;
const REDOS_BUDGET: Duration = Duration::from_secs(8);
const REDOS_LENGTHS: [usize; 7] = [16, 20, 24, 28, 32, 36, 40];
const REDOS_SAMPLES: usize = 3;
/// An adversarial median this slow ends the escalation.
const REDOS_STOP: Duration = Duration::from_millis(400);

pub(super) fn plan(cx: &Context) -> String {
    format!(
        "{} parameters with a pattern or an email/URL-like name: `a`×n + `!` against a benign input of the same length, n from 16 up to 40 (within maxLength), {REDOS_SAMPLES} timings each, at most {REDOS_BUDGET:?} per parameter",
        redos_params(cx).len()
    )
}

pub(super) fn redos_params(cx: &Context) -> Vec<(&Op, &Param)> {
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

pub(super) async fn redos(cx: &Context, out: &mut Outcome) {
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
