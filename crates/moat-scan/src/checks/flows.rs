//! API6 Unrestricted Access to Sensitive Business Flows: a business flow
//! (redeeming a coupon, buying, transferring, voting, inviting) that one
//! user may repeat at once, without a limit.
//!
//! An operation is a business flow when the document marks it with
//! `x-moat-flow` (a name, or `true`; `false` leaves it out), or when its
//! operationId, path or tags hold one of [`HINTS`]. Creating an order is
//! not among the hints (`createOrder` repeated is ordering more books, not
//! an abuse by itself): mark it `x-moat-flow` to have it tried.

use async_trait::async_trait;
use serde_json::Value;

use super::{Check, Context, Outcome};
use crate::client::Exchange;
use crate::finding::{Category, Finding, Rule, Severity};
use crate::target::Op;

pub static UNTHROTTLED: Rule = Rule {
    id: "flow.unthrottled",
    name: "A business flow can be repeated without limit",
    category: Category::Api6,
    severity: Severity::Medium,
    cwe: Some(799),
    description: "A sensitive business flow (redeeming, buying, transferring, voting, inviting) is accepted every time one user repeats it in quick succession: nothing limits how often it may be used.",
};

static RULES: &[&Rule] = &[&UNTHROTTLED];

/// Words that mark a business flow in an operationId, path or tag.
pub const HINTS: &[&str] = &[
    "redeem", "coupon", "voucher", "purchase", "checkout", "transfer", "vote", "signup", "invite",
    "referral", "giftcard",
];

/// The document extension that marks (or unmarks) a business flow.
pub const EXTENSION: &str = "x-moat-flow";

/// How many times a flow is sent in a row, and the most flows tried.
pub const REPEATS: usize = 5;
const MAX_FLOWS: usize = 10;

pub struct Flows;

/// Whether `op` is a business flow, by its extension or its names.
pub fn is_flow(op: &Op) -> bool {
    match op.extension(EXTENSION) {
        Some(Value::Bool(marked)) => return *marked,
        Some(Value::String(_)) => return true,
        _ => {}
    }
    let names = [
        op.operation_id.clone().unwrap_or_default(),
        op.template.clone(),
        op.tags.join(" "),
    ]
    .join(" ")
    .to_ascii_lowercase();
    HINTS.iter().any(|h| names.contains(h))
}

fn flows(cx: &Context) -> Vec<&Op> {
    cx.ops
        .iter()
        .filter(|op| !op.is_read() && is_flow(op))
        .take(MAX_FLOWS)
        .collect()
}

#[async_trait]
impl Check for Flows {
    fn name(&self) -> &'static str {
        "business flows"
    }

    fn rules(&self) -> &'static [&'static Rule] {
        RULES
    }

    fn plan(&self, cx: &Context) -> Vec<String> {
        flows(cx)
            .into_iter()
            .map(|op| {
                format!(
                    "{} {} (writes only): {REPEATS} times in a row as one user",
                    op.method.as_str(),
                    op.template
                )
            })
            .collect()
    }

    async fn run(&self, cx: &Context, out: &mut Outcome) {
        let ops = flows(cx);
        if ops.is_empty() {
            return;
        }
        if !cx.client.writes_allowed() {
            out.skip(
                self.name(),
                format!(
                    "{} business flow(s) not tried: they are writes (--allow-writes)",
                    ops.len()
                ),
            );
            return;
        }
        let Some(user) = cx.identities.users.first() else {
            out.skip(self.name(), "business flows need an ordinary user");
            return;
        };
        for op in ops {
            let Some(values) = cx.path_values(op, Some(user.name())) else {
                continue;
            };
            let Some(probe) = cx.probe(op, &values) else {
                continue;
            };
            let probe = probe.want_429();
            let mut answers: Vec<Exchange> = Vec::new();
            for _ in 0..REPEATS {
                match cx.send(&probe, user).await {
                    Ok(answer) if answer.is_success() => answers.push(answer),
                    _ => break,
                }
            }
            if answers.len() < REPEATS {
                continue;
            }
            let (Some(first), Some(last)) = (answers.first(), answers.last()) else {
                continue;
            };
            let name = op
                .operation_id
                .clone()
                .unwrap_or_else(|| format!("{} {}", op.method.as_str(), op.template));
            out.found(
                Finding::new(
                    &UNTHROTTLED,
                    "the business flow is accepted every time it is repeated",
                    format!(
                        "{} sent the same {} {} {REPEATS} times in a row ({} ms in all); every one was accepted.",
                        user.name(),
                        op.method.as_str(),
                        op.template,
                        answers.iter().map(|a| a.elapsed.as_millis()).sum::<u128>()
                    ),
                )
                .at(op.reference())
                .by(user.name())
                .evidence(Context::evidence(first, "the first one accepted"))
                .evidence(Context::evidence(
                    last,
                    format!("the {REPEATS}th, identical, accepted too"),
                ))
                .fix(format!(
                    "apis:\n  - name: <api>\n    rate_limits:\n      - {{name: {name}-rate, key: consumer, rate: 1, per: 10s, operations: [{name}]}}\n    quotas:\n      - {{name: {name}-daily, key: consumer, limit: 3, per: 24h, operations: [{name}]}}"
                ))
                .fix_api("allow the flow once per user (or per object), and limit how often it may be tried"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use serde_json::json;

    fn op(id: &str, template: &str, extensions: BTreeMap<String, Value>) -> Op {
        Op {
            operation_id: Some(id.to_string()),
            extensions,
            ..Op::bare(moat_spec::Method::Post, template)
        }
    }

    #[test]
    fn flows_are_named_by_hints_or_the_extension() {
        assert!(is_flow(&op(
            "redeemCoupon",
            "/coupons/redeem",
            BTreeMap::new()
        )));
        assert!(!is_flow(&op("createOrder", "/orders", BTreeMap::new())));
        let marked = BTreeMap::from([(EXTENSION.to_string(), json!("ordering"))]);
        assert!(is_flow(&op("createOrder", "/orders", marked)));
        let unmarked = BTreeMap::from([(EXTENSION.to_string(), json!(false))]);
        assert!(!is_flow(&op("redeemCoupon", "/coupons/redeem", unmarked)));
    }

    const SPEC: &str = r#"
openapi: 3.0.3
info: {title: shop, version: "1"}
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer}
security: [{bearer: []}]
paths:
  /coupons/redeem:
    post:
      operationId: redeemCoupon
      requestBody:
        content:
          application/json:
            schema: {type: object, properties: {code: {type: string, example: C1}}}
      responses: {"200": {description: ok}}
"#;

    async fn scan(once: bool, writes: bool) -> Outcome {
        let base = crate::checks::test_api::serve(move |r| match (r.method, r.n) {
            ("POST", n) if once && n > 0 => (409, r#"{"detail":"redeemed already"}"#.into()),
            ("POST", _) => (200, r#"{"discount":10}"#.into()),
            _ => (405, "{}".into()),
        })
        .await;
        let cx = crate::checks::test_api::context(
            &base,
            SPEC,
            crate::objects::Objects::default(),
            writes,
        );
        let mut out = Outcome::default();
        Flows.run(&cx, &mut out).await;
        out
    }

    #[tokio::test]
    async fn a_flow_accepted_every_time_is_a_finding_and_one_refused_is_not() {
        let open = scan(false, true).await;
        assert_eq!(open.findings.len(), 1, "{:?}", open.findings);
        assert_eq!(open.findings[0].rule, "flow.unthrottled");
        assert!(scan(true, true).await.findings.is_empty());
        let without_writes = scan(false, false).await;
        assert!(without_writes.findings.is_empty());
        assert_eq!(without_writes.skipped.len(), 1);
    }
}
