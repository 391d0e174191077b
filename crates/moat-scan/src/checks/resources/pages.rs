//! `resources.unbounded-page`: page-size parameters far above their bound.

use serde_json::Value;

use super::{UNBOUNDED_PAGE, base, get, sender};
use crate::checks::{Context, Outcome};
use crate::client::{Exchange, Probe};
use crate::finding::Finding;
use crate::schema;
use crate::target::{Op, Param, query_string};

/// Page-size parameters tried, at most.
const MAX_PAGE_PARAMS: usize = 5;
/// The page size sent when none is documented, or when the documented one
/// is smaller.
const BIG_PAGE: u64 = 10_000;
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

pub(super) fn plan(cx: &Context) -> String {
    format!(
        "{} page-size parameters: the documented maximum far exceeded (or {BIG_PAGE} with none documented)",
        page_params(cx).len()
    )
}

pub(super) fn page_params(cx: &Context) -> Vec<(&Op, &Param)> {
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

pub(super) async fn pages(cx: &Context, out: &mut Outcome) {
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
