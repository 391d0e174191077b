//! API3 Broken Object Property Level Authorization: writes that store
//! properties the caller must not set (mass assignment), and answers that
//! carry fields the document does not declare or sensitive data.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use moat_discover::SensitiveKind;
use serde_json::{Map, Value, json};

use super::{Check, Context, Outcome};
use crate::client::{Exchange, Probe};
use crate::finding::{Category, Finding, Rule, Severity};
use crate::harvest::{created_ids, item_ops};
use crate::identity::Identity;
use crate::objects::is_account_param;
use crate::schema;
use crate::target::Op;

pub static MASS_ASSIGNMENT: Rule = Rule {
    id: "property.mass-assignment",
    name: "A write stores a property the caller must not set",
    category: Category::Api3,
    severity: Severity::High,
    cwe: Some(915),
    description: "A create or update accepts a property the document forbids (undeclared in a closed schema), marks readOnly, or that grants privilege (role, isAdmin, discount, price), and the value persists.",
};

pub static UNDECLARED_FIELD: Rule = Rule {
    id: "property.undeclared-field",
    name: "An answer carries a field its schema does not declare",
    category: Category::Api3,
    severity: Severity::Medium,
    cwe: Some(213),
    description: "A successful answer carries a field its documented schema does not declare: internal data leaks to clients that were never meant to see it.",
};

pub static SENSITIVE_FIELD: Rule = Rule {
    id: "property.sensitive-field",
    name: "An answer carries passwords, secrets or personal data",
    category: Category::Api3,
    severity: Severity::High,
    cwe: Some(200),
    description: "A successful answer carries a password, a secret, a key, a card or national id number, or personal data the document does not declare.",
};

static RULES: &[&Rule] = &[&MASS_ASSIGNMENT, &UNDECLARED_FIELD, &SENSITIVE_FIELD];

/// The most operations read, fields reported per answer, and writes tried.
const MAX_READS: usize = 40;
const MAX_FIELDS: usize = 10;
const MAX_WRITES: usize = 20;
/// How deep an answer is compared with its schema, and how many items of
/// an array.
const MAX_DEPTH: usize = 6;
const MAX_ITEMS: usize = 20;

/// Property names that grant privilege, with the value sent for each.
fn privileged_properties() -> Vec<(&'static str, Value)> {
    vec![
        ("role", json!("admin")),
        ("isAdmin", json!(true)),
        ("admin", json!(true)),
        ("discount", json!(100)),
        ("price", json!(0)),
    ]
}

/// Sensitive kinds that never belong in an answer, declared or not.
const NEVER: &[SensitiveKind] = &[
    SensitiveKind::Password,
    SensitiveKind::Secret,
    SensitiveKind::ApiKey,
    SensitiveKind::CardNumber,
    SensitiveKind::Iban,
    SensitiveKind::NationalId,
];

pub struct Property;

#[async_trait]
impl Check for Property {
    fn name(&self) -> &'static str {
        "object property authorization"
    }

    fn rules(&self) -> &'static [&'static Rule] {
        RULES
    }

    fn plan(&self, cx: &Context) -> Vec<String> {
        let mut lines = Vec::new();
        if cx.enabled(&UNDECLARED_FIELD) || cx.enabled(&SENSITIVE_FIELD) {
            for op in reads(cx) {
                lines.push(format!(
                    "GET {}: one read, its answer compared with the documented schema and searched for sensitive data",
                    op.template
                ));
            }
        }
        if cx.enabled(&MASS_ASSIGNMENT) {
            for op in writes(cx) {
                lines.push(format!(
                    "{} {} (writes only): read-only and privilege-like properties sent, then the object read back; changed read-only values set back",
                    op.method.as_str(),
                    op.template
                ));
            }
        }
        lines
    }

    async fn run(&self, cx: &Context, out: &mut Outcome) {
        if cx.enabled(&UNDECLARED_FIELD) || cx.enabled(&SENSITIVE_FIELD) {
            for op in reads(cx) {
                read(cx, op, out).await;
            }
        }
        if cx.enabled(&MASS_ASSIGNMENT) {
            if !cx.client.writes_allowed() {
                out.skip(
                    self.name(),
                    "mass assignment needs writes (--allow-writes): nothing was created or changed",
                );
                return;
            }
            let Some(user) = cx.identities.users.first() else {
                out.skip(self.name(), "mass assignment needs an ordinary user");
                return;
            };
            for op in writes(cx) {
                for finding in assign(cx, op, user).await {
                    out.found(finding);
                }
            }
        }
    }
}

/// The documented reads with a JSON answer schema.
fn reads(cx: &Context) -> Vec<&Op> {
    cx.ops
        .iter()
        .filter(|op| op.method == moat_spec::Method::Get)
        .filter(|op| op.responses.keys().any(|s| s.starts_with('2')))
        .take(MAX_READS)
        .collect()
}

/// Creates (POST to a collection) and partial updates (PATCH) with a JSON
/// object body, of secured operations.
fn writes(cx: &Context) -> Vec<&Op> {
    cx.ops
        .iter()
        .filter(|op| op.secured && op.body.is_some())
        .filter(|op| match op.method {
            moat_spec::Method::Post => op.path_params().next().is_none(),
            moat_spec::Method::Patch => op.path_params().next().is_some(),
            _ => false,
        })
        .take(MAX_WRITES)
        .collect()
}

/// Who reads `op`: a privileged identity for operations only one may call,
/// otherwise the first user (anonymous when there is none).
fn reader<'a>(cx: &'a Context, op: &Op) -> &'a Identity {
    if super::bfla::is_privileged(op)
        && let Some(p) = cx.identities.privileged.first()
    {
        return p;
    }
    cx.identities
        .users
        .first()
        .or(cx.identities.privileged.first())
        .unwrap_or(&cx.identities.anonymous)
}

async fn read(cx: &Context, op: &Op, out: &mut Outcome) {
    let identity = reader(cx, op);
    let Some(values) = cx.path_values(op, Some(identity.name())) else {
        return;
    };
    let Some(probe) = cx.probe(op, &values) else {
        return;
    };
    let Ok(answer) = cx.send(&probe, identity).await else {
        return;
    };
    if !answer.is_success() {
        return;
    }
    let (Some(body), Some(schema)) = (answer.json(), answer_schema(op, answer.status)) else {
        return;
    };
    let mut undeclared = BTreeSet::new();
    walk_undeclared(schema, &body, "", 0, &mut undeclared);
    if cx.enabled(&UNDECLARED_FIELD) {
        for field in undeclared.iter().take(MAX_FIELDS) {
            out.found(
                Finding::new(
                    &UNDECLARED_FIELD,
                    format!("the answer carries the undeclared field `{field}`"),
                    format!(
                        "{} {} answered {} with `{field}`, which its documented schema does not declare.",
                        op.method.as_str(),
                        op.template,
                        answer.status
                    ),
                )
                .at(op.reference())
                .by(identity.name())
                .evidence(Context::evidence(&answer, format!("the field `{field}`")))
                .fix("apis:\n  - name: <api>\n    responses:\n      undeclared: remove")
                .fix_api(format!(
                    "answer only the documented fields (or declare `{field}` in the response schema if clients need it)"
                )),
            );
        }
    }
    if cx.enabled(&SENSITIVE_FIELD) {
        let mut found: BTreeMap<String, SensitiveKind> = BTreeMap::new();
        moat_discover::sensitive::scan_json(&body, |pointer, kind| {
            let field = field_of(pointer);
            let declared = !undeclared.iter().any(|u| u.ends_with(&field));
            if NEVER.contains(&kind) || !declared {
                found.entry(field).or_insert(kind);
            }
        });
        for (field, kind) in found.into_iter().take(MAX_FIELDS) {
            out.found(
                Finding::new(
                    &SENSITIVE_FIELD,
                    format!("the answer carries {} in `{field}`", kind_words(kind)),
                    format!(
                        "{} {} answered {} with a value of kind {} in `{field}` (the value is not repeated here).",
                        op.method.as_str(),
                        op.template,
                        answer.status,
                        kind.as_str()
                    ),
                )
                .at(op.reference())
                .by(identity.name())
                .evidence(Context::evidence(
                    &answer,
                    format!("`{field}` holds {}", kind_words(kind)),
                ))
                .fix("apis:\n  - name: <api>\n    responses:\n      undeclared: remove\n      mask_sensitive: true")
                .fix_api(format!("never send `{field}` to clients")),
            );
        }
    }
}

/// The schema documented for `status` (or `2XX`, or `default`).
fn answer_schema(op: &Op, status: u16) -> Option<&Value> {
    op.responses
        .get(&status.to_string())
        .or_else(|| op.responses.get("2XX"))
        .or_else(|| op.responses.get("default"))
}

/// Collects into `out` the paths (`items[].ssn` as `ssn`, nested as
/// `owner.ssn`) of the members of `value` its `schema` does not declare.
/// Schemas that declare no properties, allow any (`additionalProperties`
/// set to anything but `false`... unless absent), or branch (`oneOf`,
/// `anyOf`) are not judged.
fn walk_undeclared(
    schema: &Value,
    value: &Value,
    at: &str,
    depth: usize,
    out: &mut BTreeSet<String>,
) {
    if depth > MAX_DEPTH || schema.get("oneOf").is_some() || schema.get("anyOf").is_some() {
        return;
    }
    match value {
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for v in items.iter().take(MAX_ITEMS) {
                    walk_undeclared(item, v, at, depth + 1, out);
                }
            }
        }
        Value::Object(members) => {
            let declared = schema::properties(schema);
            let open = matches!(
                schema.get("additionalProperties"),
                Some(Value::Bool(true) | Value::Object(_))
            );
            if declared.is_empty() {
                return;
            }
            for (name, member) in members {
                let path = if at.is_empty() {
                    name.clone()
                } else {
                    format!("{at}.{name}")
                };
                match declared.get(name) {
                    Some(sub) => walk_undeclared(sub, member, &path, depth + 1, out),
                    None if !open => {
                        out.insert(path);
                    }
                    None => {}
                }
            }
        }
        _ => {}
    }
}

/// The member name a JSON pointer ends at (array indexes skipped).
fn field_of(pointer: &str) -> String {
    pointer
        .split('/')
        .rev()
        .find(|s| !s.is_empty() && !s.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_default()
        .replace("~1", "/")
        .replace("~0", "~")
}

fn kind_words(kind: SensitiveKind) -> &'static str {
    match kind {
        SensitiveKind::Password => "a password",
        SensitiveKind::Secret => "a secret",
        SensitiveKind::ApiKey => "an API key",
        SensitiveKind::CardNumber => "a card number",
        SensitiveKind::Iban => "an IBAN",
        SensitiveKind::NationalId => "a national id number",
        SensitiveKind::Email => "an email address",
        SensitiveKind::Phone => "a phone number",
        SensitiveKind::Jwt => "a JSON Web Token",
        SensitiveKind::IpAddress => "an IP address",
        SensitiveKind::DateOfBirth => "a date of birth",
    }
}

/// The properties to try on a write with body `schema`: two groups, sent
/// apart so that refusing one does not hide the other: the read-only ones
/// it declares, and privilege-like ones it does not.
fn candidates(schema: &Value, current: &Map<String, Value>) -> Vec<Map<String, Value>> {
    let declared = schema::properties(schema);
    let mut read_only = Map::new();
    for (name, prop) in &declared {
        if prop.get("readOnly") == Some(&Value::Bool(true)) {
            read_only.insert(name.clone(), other_value(prop, current.get(name)));
        }
    }
    let mut undeclared = Map::new();
    for (name, value) in privileged_properties() {
        if !declared.contains_key(name) {
            undeclared.insert(name.to_string(), value);
        }
    }
    [read_only, undeclared]
        .into_iter()
        .filter(|m| !m.is_empty())
        .collect()
}

/// A value for `prop` unlike `current`: another enum member (`admin`
/// first), the other boolean, a number, a marker text.
fn other_value(prop: &Value, current: Option<&Value>) -> Value {
    if let Some(options) = prop.get("enum").and_then(Value::as_array) {
        let mut options: Vec<&Value> = options.iter().filter(|o| Some(*o) != current).collect();
        options.sort_by_key(|o| o.as_str() != Some("admin"));
        if let Some(first) = options.first() {
            return (*first).clone();
        }
    }
    match schema::type_of(prop) {
        Some("boolean") => json!(!current.and_then(Value::as_bool).unwrap_or(false)),
        Some("integer" | "number") => {
            json!(current.and_then(Value::as_i64).map_or(7_654_321, |n| n + 1))
        }
        _ => json!("moat-scan-assigned"),
    }
}

/// Tries each group of properties on `op` as `user`: a finding per write
/// whose properties persist.
async fn assign(cx: &Context, op: &Op, user: &Identity) -> Vec<Finding> {
    let Some(schema) = op.body.as_ref() else {
        return Vec::new();
    };
    let mut findings = Vec::new();
    if op.method == moat_spec::Method::Post {
        for group in candidates(schema, &Map::new()) {
            let mut body = schema::sample(schema);
            let Some(object) = body.as_object_mut() else {
                return findings;
            };
            object.extend(group.clone());
            let Some(probe) = cx.probe(op, &BTreeMap::new()) else {
                return findings;
            };
            let Ok(write) = cx.send(&probe.json(&body), user).await else {
                continue;
            };
            if !write.is_success() {
                continue;
            }
            let ids = created_ids(cx, op, &body, &write);
            let Some(read_op) = item_ops(cx, op)
                .into_iter()
                .find(|o| o.method == moat_spec::Method::Get)
            else {
                continue;
            };
            if let Some(finding) = read_back(cx, op, read_op, &ids, user, &group, &write).await {
                findings.push(finding);
                break;
            }
        }
    } else if let Some(finding) = update(cx, op, schema, user).await {
        findings.push(finding);
    }
    findings
}

/// A PATCH on the user's own object (or account): reads it, sends each
/// group, reads it back, and sets changed values back.
async fn update(cx: &Context, op: &Op, schema: &Value, user: &Identity) -> Option<Finding> {
    let mut values = BTreeMap::new();
    for param in op.path_params() {
        let value = if is_account_param(&param.name) {
            cx.objects.account_id(user.name())
        } else {
            cx.objects
                .of(user.name(), &param.name)
                .into_iter()
                .find(|h| h.provenance == crate::objects::Provenance::Created)
                .map(|h| h.value.clone())
        }?;
        values.insert(param.name.clone(), value);
    }
    let read_op = cx
        .ops
        .iter()
        .find(|o| o.method == moat_spec::Method::Get && o.template == op.template)?;
    let path = op.path_with(&values)?;
    let before = cx
        .send(&Probe::get(read_op.path_with(&values)?), user)
        .await
        .ok()?;
    let current = before.json()?.as_object()?.clone();
    for group in candidates(schema, &current) {
        let probe = Probe::new(op.http_method(), path.clone()).json(&Value::Object(group.clone()));
        let Ok(write) = cx.send(&probe, user).await else {
            continue;
        };
        if !write.is_success() {
            continue;
        }
        if let Some(finding) = read_back(cx, op, read_op, &values, user, &group, &write).await {
            // Set back what changed, where the read before showed it (or
            // the schema's first allowed value).
            let mut revert = Map::new();
            for name in group.keys() {
                let prop = schema::properties(schema).get(name).cloned();
                let original = current.get(name).cloned().or_else(|| {
                    prop.as_ref()
                        .and_then(|p| p.get("default").or_else(|| p.get("enum")?.get(0)))
                        .cloned()
                });
                if let Some(original) = original {
                    revert.insert(name.clone(), original);
                }
            }
            let reverted = if revert.is_empty() {
                false
            } else {
                let probe = Probe::new(op.http_method(), path.clone()).json(&Value::Object(revert));
                cx.send(&probe, user).await.is_ok_and(|e| e.is_success())
            };
            let mut finding = finding;
            finding.detail.push_str(if reverted {
                " The scan set the values back."
            } else {
                " The scan could not set the values back: check the object."
            });
            return Some(finding);
        }
    }
    None
}

/// Reads the object back through `read_op`: a finding when one of
/// `group`'s values is there.
async fn read_back(
    cx: &Context,
    op: &Op,
    read_op: &Op,
    values: &BTreeMap<String, String>,
    user: &Identity,
    group: &Map<String, Value>,
    write: &Exchange,
) -> Option<Finding> {
    let path = read_op.path_with(values)?;
    let read = cx.send(&Probe::get(path), user).await.ok()?;
    if !read.is_success() {
        return None;
    }
    let object = read.json()?;
    let kept: Vec<&str> = group
        .iter()
        .filter(|(name, value)| object.get(name.as_str()) == Some(value))
        .map(|(name, _)| name.as_str())
        .collect();
    if kept.is_empty() {
        return None;
    }
    let declared = schema::properties(op.body.as_ref()?);
    let read_only = kept.iter().any(|k| declared.contains_key(*k));
    let list = kept
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let fix = if read_only {
        format!(
            "# the document marks {list} readOnly; moat refuses read-only properties in requests\napis:\n  - name: <api>\n    validation:\n      enabled: true"
        )
    } else {
        format!(
            "# in the document: additionalProperties: false on the request body of {}\napis:\n  - name: <api>\n    validation:\n      enabled: true\n      refuse_unknown_properties: true",
            op.operation_id.as_deref().unwrap_or(&op.template)
        )
    };
    Some(
        Finding::new(
            &MASS_ASSIGNMENT,
            format!(
                "the write stores {} {list}",
                if read_only {
                    "the read-only"
                } else {
                    "the undeclared"
                }
            ),
            format!(
                "{} sent {list} to {} {}; reading the object back through {} {} shows the value stored.",
                user.name(),
                op.method.as_str(),
                op.template,
                read_op.method.as_str(),
                read_op.template
            ),
        )
        .at(op.reference())
        .by(user.name())
        .evidence(Context::evidence(write, format!("{list} accepted")))
        .evidence(Context::evidence(&read, format!("{list} stored")))
        .fix(fix)
        .fix_api("bind requests to an allow-list of the properties a caller may set"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undeclared_members_are_found_at_any_depth_and_open_schemas_are_respected() {
        let schema = json!({
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "owner": {"type": "object", "properties": {"name": {"type": "string"}}},
                    "meta": {"type": "object", "additionalProperties": true, "properties": {"a": {}}},
                    "free": {"type": "object"}
                }
            }
        });
        let body = json!([
            {"id": 1, "ssn": "x", "owner": {"name": "a", "hash": "h"}, "meta": {"b": 1}, "free": {"c": 1}},
            {"id": 2}
        ]);
        let mut out = BTreeSet::new();
        walk_undeclared(&schema, &body, "", 0, &mut out);
        assert_eq!(
            out.into_iter().collect::<Vec<_>>(),
            ["owner.hash".to_string(), "ssn".to_string()]
        );
    }

    #[test]
    fn candidates_are_read_only_ones_and_undeclared_privileged_ones() {
        let schema = json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "name": {"type": "string"},
                "role": {"type": "string", "enum": ["user", "admin"], "readOnly": true},
                "price": {"type": "number"}
            }
        });
        let current = json!({"role": "user"});
        let groups = candidates(&schema, current.as_object().unwrap());
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0], *json!({"role": "admin"}).as_object().unwrap());
        assert!(groups[1].contains_key("isAdmin") && !groups[1].contains_key("price"));
        assert!(!groups[1].contains_key("role"));
    }

    #[test]
    fn field_names_come_from_pointers() {
        assert_eq!(field_of("/0/passwordHash"), "passwordHash");
        assert_eq!(field_of("/a~1b/3"), "a/b");
    }
}
