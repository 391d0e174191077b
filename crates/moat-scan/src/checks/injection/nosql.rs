//! NoSQL operator injection (`injection.nosql`): MongoDB-style operators
//! in place of a value change the outcome. At a login, a wrong password
//! fails and `{"$ne": <wrong password>}` succeeds; in a query,
//! `name[$ne]=<no match>` returns more than `name=<no match>`.

use serde_json::{Value, json};

use super::answer::Shape;
use super::point::{Place, Point};
use super::{Kind, report};
use crate::checks::{Context, Outcome};
use crate::client::Probe;
use crate::finding::{Category, Finding, Rule, Severity};
use crate::target::encode;

pub static NOSQL: Rule = Rule {
    id: "injection.nosql",
    name: "NoSQL operator injection",
    category: Category::Api8,
    severity: Severity::Critical,
    cwe: Some(943),
    description: "A MongoDB-style operator object (`{\"$ne\": …}`) sent where a value belongs is taken as a query operator: a login succeeds without the password, a filter matches everything.",
};

/// A password no account has, and a value nothing matches.
const WRONG: &str = "moat-scan-wrong-password";
const NO_MATCH: &str = "moat-scan-no-match";

/// Operators tried, in order.
const OPERATORS: [&str; 2] = ["$ne", "$gt"];

/// The logins of the identities (one per method and path): the password
/// field (the string field whose name says so, else the last string field)
/// replaced by a wrong password, then by operators.
pub async fn logins(cx: &Context, out: &mut Outcome) {
    let mut seen = Vec::new();
    for identity in cx.identities.authenticated() {
        let Some(login) = identity.login() else {
            continue;
        };
        let Some(body) = login.json.as_ref().and_then(Value::as_object) else {
            continue;
        };
        if seen.contains(&(login.method.clone(), login.path.clone())) {
            continue;
        }
        seen.push((login.method.clone(), login.path.clone()));
        let Some(field) = body
            .iter()
            .filter(|(_, v)| v.is_string())
            .map(|(k, _)| k.clone())
            .find(|k| k.to_ascii_lowercase().contains("pass"))
            .or_else(|| {
                body.iter()
                    .filter(|(_, v)| v.is_string())
                    .map(|(k, _)| k.clone())
                    .next_back()
            })
        else {
            continue;
        };
        let send = |value: Value| {
            let mut body = body.clone();
            body.insert(field.clone(), value);
            let probe =
                Probe::new(login.method.clone(), login.path.clone()).json(&Value::Object(body));
            async move { cx.send(&probe, &cx.identities.anonymous).await.ok() }
        };
        let Some(control) = send(Value::String(WRONG.to_string())).await else {
            continue;
        };
        if control.is_success() {
            continue;
        }
        for op in OPERATORS {
            let Some(answer) = send(json!({ op: WRONG })).await else {
                continue;
            };
            if answer.is_success() {
                let operation = cx
                    .ops
                    .iter()
                    .find(|o| o.full_template == login.path && o.http_method() == login.method);
                let title = format!("The login takes a `{op}` operator in `{field}`");
                let mut finding = Finding::new(
                    &NOSQL,
                    title,
                    format!("The login with `{field}` set to a wrong password was answered {}; with `{{\"{op}\": <the wrong password>}}` it was answered {}: the operator matched the stored value.", control.status, answer.status),
                )
                .by(identity.name())
                .evidence(Context::evidence(&answer, format!("{} for an operator where a wrong password got {}", answer.status, control.status)))
                .fix(super::fix(Kind::Nosql, &field, false))
                .fix_api(super::fix_api(Kind::Nosql));
                finding = match operation {
                    Some(op) => finding.at(op.reference()),
                    None => finding.at_path(login.path.clone()),
                };
                out.found(finding);
                break;
            }
        }
    }
    if seen.is_empty() {
        out.skip(
            super::NAME,
            "no identity logs in with a JSON body: no login was probed for NoSQL operators",
        );
    }
}

/// `name[$ne]=<no match>` against `name=<no match>` in a query, and
/// `{"$ne": <no match>}` against `<no match>` in a JSON body field (writes
/// only); a bracket or object that is no operator is the control.
pub async fn query(cx: &Context, point: &Point<'_>, out: &mut Outcome) {
    let form = |op: &str| -> Option<(String, Probe)> {
        match point.place {
            Place::Query => {
                let raw = format!("{}[{op}]={}", encode(&point.name), encode(NO_MATCH));
                Some((raw.clone(), point.probe_raw_query(&raw)?))
            }
            Place::Body => {
                let value = json!({ op: NO_MATCH });
                let shown = format!("\"{}\": {value}", point.name);
                Some((shown, point.with_body_field(cx, value)?))
            }
            Place::Path => None,
        }
    };
    let Some((_, ignored)) = form("moat") else {
        return;
    };
    let (Some(plain), Ok(ignored)) = (
        point.send(cx, NO_MATCH, None).await,
        cx.send(&ignored, point.identity).await,
    ) else {
        return;
    };
    let (plain_shape, ignored_shape) = (Shape::of(&plain), Shape::of(&ignored));
    for op in OPERATORS {
        let Some((shown, probe)) = form(op) else {
            return;
        };
        let mut answers = Vec::new();
        for _ in 0..2 {
            match cx.send(&probe, point.identity).await {
                Ok(answer) => answers.push(answer),
                Err(_) => return,
            }
        }
        let (a, b) = (Shape::of(&answers[0]), Shape::of(&answers[1]));
        if a == b && a.more_than(&plain_shape) && a.more_than(&ignored_shape) {
            out.found(report(
                &NOSQL,
                Kind::Nosql,
                point,
                format!("The {} takes a `{op}` operator", point.describe()),
                format!("`{shown}` answered {} ({} bytes) twice where the plain value `{NO_MATCH}` answered {} ({} bytes) and a non-operator {}: the operator matched.", answers[0].status, answers[0].body.len(), plain.status, plain.body.len(), ignored.status),
                &answers[0],
                "more in the answer with the operator than with the plain value",
            ));
            return;
        }
    }
}
