//! API1 Broken Object Level Authorization: one user's objects read by
//! another, through an id in the path, the query or a JSON body.
//!
//! For each pair (owner, other) of ordinary users and each operation that
//! takes an id, the owner's own objects ([`Objects::owned_by`]: created by
//! it, or seen by it alone) are requested as the owner (which must
//! succeed), then as the other user and as anonymous. A finding is an
//! answer that *is the owner's object*: the same body, or the same id
//! field, never just a 2xx.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::Value;

use super::{Check, Context, Outcome, scalar_text};
use crate::client::{Exchange, Probe};
use crate::finding::{Category, Finding, Rule, Severity};
use crate::identity::Identity;
use crate::objects::{Objects, is_account_param};
use crate::target::{Op, query_string};

pub static PATH: Rule = Rule {
    id: "bola.path",
    name: "Another user's object read through a path id",
    category: Category::Api1,
    severity: Severity::High,
    cwe: Some(639),
    description: "An operation answers one user's object to another user (or to anyone) who names its id in the path: the API does not check that the object belongs to the caller.",
};

pub static QUERY: Rule = Rule {
    id: "bola.query",
    name: "Another user's object read through a query id",
    category: Category::Api1,
    severity: Severity::High,
    cwe: Some(639),
    description: "An operation answers one user's object to another user who names its id in a query parameter.",
};

pub static BODY: Rule = Rule {
    id: "bola.body",
    name: "Another user's object read through an id in the body",
    category: Category::Api1,
    severity: Severity::High,
    cwe: Some(639),
    description: "An operation answers one user's object to another user who names its id in the JSON request body.",
};

pub static WRITE: Rule = Rule {
    id: "bola.write",
    name: "Another user's object deleted",
    category: Category::Api1,
    severity: Severity::Critical,
    cwe: Some(639),
    description: "A DELETE naming one user's object succeeds for another user, and the object is gone: the API does not check who owns what it changes.",
};

static RULES: &[&Rule] = &[&PATH, &QUERY, &BODY, &WRITE];

/// The most operations tried, and the owner's values tried per operation,
/// parameter and pair of users.
const MAX_OPS: usize = 50;
const MAX_VALUES: usize = 2;

pub struct Bola;

/// Where an operation takes an object id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Path,
    Query,
    Body,
}

impl Place {
    fn rule(self) -> &'static Rule {
        match self {
            Place::Path => &PATH,
            Place::Query => &QUERY,
            Place::Body => &BODY,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Place::Path => "path parameter",
            Place::Query => "query parameter",
            Place::Body => "body field",
        }
    }
}

/// One id an operation takes.
#[derive(Debug, Clone)]
struct Slot<'a> {
    op: &'a Op,
    place: Place,
    name: String,
}

#[async_trait]
impl Check for Bola {
    fn name(&self) -> &'static str {
        "object-level authorization"
    }

    fn rules(&self) -> &'static [&'static Rule] {
        RULES
    }

    fn plan(&self, cx: &Context) -> Vec<String> {
        let mut lines = Vec::new();
        if cx.enabled(&WRITE) {
            for op in deletes(cx) {
                lines.push(format!(
                    "DELETE {} (writes only): another user deletes an object the owner created for the scan; the owner reads it after",
                    op.template
                ));
            }
        }
        for slot in slots(cx).into_iter().filter(|s| cx.enabled(s.place.rule())) {
            lines.push(format!(
                "{} {}: each user's own `{}` ({}) as its owner, then as every other user and anonymous (at most {MAX_VALUES} values per pair)",
                slot.op.method.as_str(),
                slot.op.template,
                slot.name,
                slot.place.words(),
            ));
        }
        lines
    }

    async fn run(&self, cx: &Context, out: &mut Outcome) {
        if cx.identities.users.len() < 2 {
            out.skip(
                self.name(),
                "needs two ordinary users (role: user) to try one's objects as the other",
            );
            return;
        }
        let slots: Vec<Slot> = slots(cx)
            .into_iter()
            .filter(|s| cx.enabled(s.place.rule()))
            .collect();
        let mut tried = false;
        for slot in &slots {
            if slot.place == Place::Body && !cx.client.writes_allowed() {
                out.skip(
                    self.name(),
                    format!(
                        "{} {}: ids in the body are sent with {}, a write (--allow-writes)",
                        slot.op.method.as_str(),
                        slot.op.template,
                        slot.op.method.as_str()
                    ),
                );
                continue;
            }
            for (owner, other) in cx.identities.user_pairs() {
                let values = owned_values(&cx.objects, owner, other, &slot.name);
                tried |= !values.is_empty();
                let mut found = None;
                for value in values.iter().take(MAX_VALUES) {
                    found = try_value(cx, slot, owner, other, value).await;
                    if found.is_some() {
                        break;
                    }
                }
                if let Some(finding) = found {
                    out.found(finding);
                    break;
                }
            }
        }
        if cx.enabled(&WRITE) {
            delete_others(cx, out).await;
        }
        if !tried {
            out.skip(
                self.name(),
                if cx.client.writes_allowed() {
                    "no object id belongs to one user alone: nothing to try as another"
                } else {
                    "no object id belongs to one user alone: run with --allow-writes so each user creates its own"
                },
            );
        }
    }
}

/// The secured DELETE operations on an item with a read beside them.
fn deletes(cx: &Context) -> Vec<&Op> {
    cx.ops
        .iter()
        .filter(|op| op.secured && op.method == moat_spec::Method::Delete)
        .filter(|op| op.path_params().next().is_some())
        .filter(|op| read_of(cx, op).is_some())
        .take(MAX_OPS)
        .collect()
}

fn read_of<'a>(cx: &'a Context, op: &Op) -> Option<&'a Op> {
    cx.ops
        .iter()
        .find(|o| o.method == moat_spec::Method::Get && o.template == op.template)
}

/// `bola.write`: for each pair, the other user deletes one object the owner
/// created (never one it only saw); a finding when that succeeds and the
/// owner can no longer read it.
async fn delete_others(cx: &Context, out: &mut Outcome) {
    let ops = deletes(cx);
    if ops.is_empty() {
        return;
    }
    if !cx.client.writes_allowed() {
        out.skip(
            "object-level authorization",
            "bola.write: deleting another user's object needs writes (--allow-writes)",
        );
        return;
    }
    for op in ops {
        let Some(read) = read_of(cx, op) else {
            continue;
        };
        'pairs: for (owner, other) in cx.identities.user_pairs() {
            let mut values = BTreeMap::new();
            for param in op.path_params() {
                let Some(created) = cx
                    .objects
                    .of(owner.name(), &param.name)
                    .into_iter()
                    .find(|h| h.provenance == crate::objects::Provenance::Created)
                else {
                    continue 'pairs;
                };
                values.insert(param.name.clone(), created.value.clone());
            }
            let (Some(path), Some(read_path)) = (op.path_with(&values), read.path_with(&values))
            else {
                continue;
            };
            let Ok(before) = cx.send(&Probe::get(read_path.clone()), owner).await else {
                continue;
            };
            if !before.is_success() {
                continue;
            }
            let Ok(deleted) = cx.send(&Probe::new(op.http_method(), path), other).await else {
                continue;
            };
            if !deleted.is_success() {
                continue;
            }
            let Ok(after) = cx.send(&Probe::get(read_path), owner).await else {
                continue;
            };
            if after.is_success() {
                continue;
            }
            let (fix, api) = fix_for(&Slot {
                op,
                place: Place::Path,
                name: op
                    .path_params()
                    .last()
                    .map(|p| p.name.clone())
                    .unwrap_or_default(),
            });
            out.found(
                Finding::new(
                    &WRITE,
                    "another user's object can be deleted",
                    format!(
                        "{other} deleted an object {owner} created for the scan ({}); {owner} can no longer read it.",
                        values
                            .iter()
                            .map(|(k, v)| format!("{k} = {v}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        other = other.name(),
                        owner = owner.name(),
                    ),
                )
                .at(op.reference())
                .by(other.name())
                .evidence(Context::evidence(&before, format!("{} reads its object", owner.name())))
                .evidence(Context::evidence(&deleted, format!("{} deletes it", other.name())))
                .evidence(Context::evidence(&after, "it is gone"))
                .fix(fix)
                .fix_api(api),
            );
            break;
        }
    }
}

/// Every id slot of the secured operations: path parameters of reads,
/// query parameters of reads that name harvested ids, and the one
/// required body field of a look-up (`POST /orders/lookup {"orderId"}`).
fn slots(cx: &Context) -> Vec<Slot<'_>> {
    let known = cx.objects.params();
    let mut slots = Vec::new();
    for op in cx.ops.iter().filter(|op| op.secured).take(MAX_OPS) {
        if op.is_read() {
            for param in op.path_params() {
                slots.push(Slot {
                    op,
                    place: Place::Path,
                    name: param.name.clone(),
                });
            }
            for param in op.query_params() {
                if known.contains(param.name.as_str()) || param.name.ends_with("Id") {
                    slots.push(Slot {
                        op,
                        place: Place::Query,
                        name: param.name.clone(),
                    });
                }
            }
        } else if op.method == moat_spec::Method::Post
            && op.path_params().next().is_none()
            && let Some(body) = &op.body
        {
            // A look-up: the body names one object and nothing else.
            let required = crate::schema::required(body);
            if let [name] = required.as_slice()
                && (known.contains(name.as_str()) || name.ends_with("Id"))
            {
                slots.push(Slot {
                    op,
                    place: Place::Body,
                    name: name.clone(),
                });
            }
        }
    }
    slots
}

/// The owner's values of `param` that `other` has not seen: what it
/// created or alone saw, and its own account's id for an account
/// parameter.
fn owned_values(objects: &Objects, owner: &Identity, other: &Identity, param: &str) -> Vec<String> {
    let mut values: Vec<String> = objects
        .owned_by(owner.name(), param, &[other.name()])
        .into_iter()
        .map(|h| h.value.clone())
        .collect();
    if is_account_param(param)
        && let Some(id) = objects.account_id(owner.name())
        && objects.account_id(other.name()).as_deref() != Some(id.as_str())
        && !values.contains(&id)
    {
        values.insert(0, id);
    }
    values
}

/// Tries `value` (the owner's) as the owner, then as `other` and as
/// anonymous: a finding when either gets the owner's object.
async fn try_value(
    cx: &Context,
    slot: &Slot<'_>,
    owner: &Identity,
    other: &Identity,
    value: &str,
) -> Option<Finding> {
    let probe = probe_for(cx, slot, owner, value)?;
    let mine = cx.send(&probe, owner).await.ok()?;
    if !mine.is_success() {
        return None;
    }
    let expected = mine.json()?;
    for intruder in [other, &cx.identities.anonymous] {
        let Ok(theirs) = cx.send(&probe, intruder).await else {
            continue;
        };
        if theirs.is_success()
            && theirs
                .json()
                .is_some_and(|got| same_object(&expected, &got, &slot.name))
        {
            return Some(finding(slot, owner, intruder, value, &mine, &theirs));
        }
    }
    None
}

/// The request for `slot` with `value` in it, the rest from `owner`'s
/// values and the schemas' samples.
fn probe_for(cx: &Context, slot: &Slot<'_>, owner: &Identity, value: &str) -> Option<Probe> {
    let op = slot.op;
    let mut values = cx.path_values(op, Some(owner.name()))?;
    match slot.place {
        Place::Path => {
            values.insert(slot.name.clone(), value.to_string());
            cx.probe(op, &values)
        }
        Place::Query => {
            let path = op.path_with(&values)?;
            let mut query: Vec<(String, String)> = op
                .query_params()
                .filter(|p| p.required && p.name != slot.name)
                .filter_map(|p| {
                    Some((
                        p.name.clone(),
                        scalar_text(&crate::schema::sample(&p.schema))?,
                    ))
                })
                .collect();
            query.push((slot.name.clone(), value.to_string()));
            Some(Probe::new(
                op.http_method(),
                format!("{path}{}", query_string(&query)),
            ))
        }
        Place::Body => {
            let schema = op.body.as_ref()?;
            let mut body = crate::schema::sample(schema);
            let field = crate::schema::properties(schema)
                .get(&slot.name)
                .cloned()
                .unwrap_or(Value::Null);
            body.as_object_mut()?
                .insert(slot.name.clone(), typed(&field, value));
            Some(cx.probe(op, &values)?.json(&body))
        }
    }
}

/// `text` as the JSON type `schema` asks for (an integer id as a number).
pub(crate) fn typed(schema: &Value, text: &str) -> Value {
    match crate::schema::type_of(schema) {
        Some("integer") => text
            .parse::<i64>()
            .map_or_else(|_| Value::String(text.to_string()), Value::from),
        Some("number") => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Value::String(text.to_string()), Value::Number),
        _ => Value::String(text.to_string()),
    }
}

/// Whether `got` is the object `expected` (the owner's answer): the same
/// body, or the same non-empty id (`id` or the field named like the
/// parameter).
pub(crate) fn same_object(expected: &Value, got: &Value, param: &str) -> bool {
    if expected == got {
        return !matches!(expected, Value::Null)
            && expected.as_object().is_none_or(|o| !o.is_empty())
            && expected.as_array().is_none_or(|a| !a.is_empty());
    }
    let (Some(expected), Some(got)) = (expected.as_object(), got.as_object()) else {
        return false;
    };
    [param, "id"].iter().any(|key| {
        expected
            .get(*key)
            .filter(|v| !v.is_null())
            .is_some_and(|v| got.get(*key) == Some(v))
    })
}

fn finding(
    slot: &Slot<'_>,
    owner: &Identity,
    intruder: &Identity,
    value: &str,
    mine: &Exchange,
    theirs: &Exchange,
) -> Finding {
    let op = slot.op;
    let (fix, api) = fix_for(slot);
    Finding::new(
        slot.place.rule(),
        format!(
            "another user's object is answered through the {} `{}`",
            slot.place.words(),
            slot.name
        ),
        format!(
            "{owner} reads its own object with {} = {value}; {intruder} sends the same request and gets the same object.",
            slot.name,
            owner = owner.name(),
            intruder = intruder.name(),
        ),
    )
    .at(op.reference())
    .by(intruder.name())
    .evidence(Context::evidence(
        mine,
        format!("{} reads its own object", owner.name()),
    ))
    .evidence(Context::evidence(
        theirs,
        format!(
            "{} gets the same object (same body or the same `{}`/`id`)",
            intruder.name(),
            slot.name
        ),
    ))
    .fix(fix)
    .fix_api(api)
}

/// The moat config that binds the object to its owner.
fn fix_for(slot: &Slot<'_>) -> (String, String) {
    let op_id = slot
        .op
        .operation_id
        .clone()
        .unwrap_or_else(|| format!("{} {}", slot.op.method.as_str(), slot.op.template));
    let moat = if is_account_param(&slot.name) {
        format!(
            "# in the document, on {op_id}: the parameter must be the caller's own id\nx-moat-owner: {{parameter: {}, equals: \"attribute:user_id\"}}",
            slot.name
        )
    } else {
        let pointer = match slot.place {
            Place::Body => format!("/{}", slot.name),
            _ => "/id".to_string(),
        };
        format!(
            "object_access:\n  learn:\n    - kind: {kind}\n      create: <the operationId that creates it>\n      id_pointer: {pointer}\n      parameter: {param}\n      operations: [{op_id}]",
            kind = slot.name.trim_end_matches("Id"),
            param = slot.name,
        )
    };
    (
        moat,
        format!(
            "check in {op_id} that the object named by `{}` belongs to the caller (answer 404 otherwise)",
            slot.name
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_same_object_is_the_same_body_or_the_same_id() {
        let order = json!({"id": 7, "total": 3.5});
        assert!(same_object(&order, &order, "orderId"));
        assert!(same_object(
            &order,
            &json!({"id": 7, "total": 3.5, "extra": 1}),
            "orderId"
        ));
        assert!(same_object(
            &json!({"orderId": 7, "total": 1}),
            &json!({"orderId": 7, "total": 2}),
            "orderId"
        ));
        assert!(!same_object(
            &order,
            &json!({"id": 8, "total": 3.5}),
            "orderId"
        ));
        assert!(!same_object(&json!({}), &json!({}), "orderId"));
        assert!(!same_object(&json!([]), &json!([]), "orderId"));
        assert!(!same_object(
            &json!({"id": null, "a": 1}),
            &json!({"id": null, "a": 2}),
            "x"
        ));
        assert!(!same_object(&order, &json!("forbidden"), "orderId"));
    }

    #[test]
    fn ids_are_typed_as_their_schema_says() {
        assert_eq!(typed(&json!({"type": "integer"}), "12"), json!(12));
        assert_eq!(typed(&json!({"type": "integer"}), "x"), json!("x"));
        assert_eq!(typed(&json!({"type": "string"}), "12"), json!("12"));
    }
}

/// The check against a real API on a local socket: one that answers any
/// caller's object, one that checks ownership, and one that answers 2xx
/// with a refusal in the body.
#[cfg(test)]
mod server_tests {
    use super::*;
    use crate::checks::Outcome;
    use crate::checks::test_api::{context, serve};
    use crate::objects::{Harvested, Objects, Provenance};

    const SPEC: &str = r#"
openapi: 3.0.3
info: {title: things, version: "1"}
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer}
security: [{bearer: []}]
paths:
  /things/{thingId}:
    get:
      operationId: getThing
      parameters: [{name: thingId, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
"#;

    #[derive(Clone, Copy)]
    enum Api {
        /// Answers anyone.
        Open,
        /// Answers the owner only (404 to others).
        Careful,
        /// Answers 200 to everyone, with a refusal for others.
        Refuses200,
    }

    async fn scan(api: Api) -> Outcome {
        let base = serve(move |r| {
            let owner = r.caller == "alice";
            match (api, owner) {
                _ if r.path != "/things/t-1" => (404, "{}".into()),
                (Api::Open, _) | (_, true) => (200, r#"{"id":"t-1","text":"alice's"}"#.into()),
                (Api::Careful, false) => (404, "{}".into()),
                (Api::Refuses200, false) => (200, r#"{"error":"not yours"}"#.into()),
            }
        })
        .await;
        let mut objects = Objects::default();
        objects.add(
            "alice",
            "thingId",
            Harvested {
                value: "t-1".into(),
                provenance: Provenance::Created,
                source: "POST /things".into(),
            },
        );
        let cx = context(&base, SPEC, objects, false);
        let mut out = Outcome::default();
        Bola.run(&cx, &mut out).await;
        out
    }

    #[tokio::test]
    async fn another_users_object_answered_is_a_finding() {
        let out = scan(Api::Open).await;
        assert_eq!(out.findings.len(), 1, "{:?}", out.findings);
        let finding = &out.findings[0];
        assert_eq!(finding.rule, "bola.path");
        assert_eq!(finding.identity.as_deref(), Some("bob"));
        assert_eq!(
            finding.title,
            "another user's object is answered through the path parameter `thingId`"
        );
        assert!(!finding.title.contains("t-1"), "no id in the title");
    }

    #[tokio::test]
    async fn a_refusal_or_a_2xx_without_the_object_is_not() {
        for api in [Api::Careful, Api::Refuses200] {
            let out = scan(api).await;
            assert!(out.findings.is_empty(), "{:?}", out.findings);
        }
    }
}
