//! Object harvesting: each identity lists and reads what it can, and, with
//! writes allowed, creates an object through each create operation, so the
//! object-level checks have real ids to try as someone else.
//!
//! Safe by default: only GET answers are harvested unless writes are
//! allowed, and every request goes through the scan's [`crate::Client`].

use std::collections::BTreeMap;

use serde_json::Value;

use crate::checks::{Context, scalar_text};
use crate::identity::Identity;
use crate::objects::{Harvested, Objects, Provenance};
use crate::target::Op;

/// Fills `cx.objects` as every identity.
pub async fn harvest(cx: &mut Context) {
    let mut objects = Objects::default();
    let identities: Vec<Identity> = cx.identities.all().cloned().collect();
    let mut reads: Vec<&Op> = cx
        .ops
        .iter()
        .filter(|op| op.method == moat_spec::Method::Get)
        .collect();
    // Collections before items: an item's id comes from its collection.
    reads.sort_by_key(|op| op.path_params().count());
    for identity in &identities {
        if cx.client.writes_allowed() && identity.role() != crate::identity::Role::Anonymous {
            create(cx, identity, &mut objects).await;
        }
        for op in &reads {
            let Some(values) = values_for(op, identity, &objects) else {
                continue;
            };
            let Some(probe) = cx.probe(op, &values) else {
                continue;
            };
            let Ok(answer) = cx.send(&probe, identity).await else {
                continue;
            };
            if !answer.is_success() {
                continue;
            }
            if let Some(body) = answer.json() {
                collect(
                    cx,
                    op,
                    &body,
                    identity.name(),
                    Provenance::Seen,
                    &mut objects,
                );
            }
        }
    }
    cx.objects = objects;
}

/// Path values from what `identity` harvested so far.
fn values_for(op: &Op, identity: &Identity, objects: &Objects) -> Option<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    for param in op.path_params() {
        let mine = objects.of(identity.name(), &param.name);
        let value = mine.first().map(|h| h.value.clone())?;
        values.insert(param.name.clone(), value);
    }
    Some(values)
}

/// Creates one object through each create operation as `identity`.
async fn create(cx: &Context, identity: &Identity, objects: &mut Objects) {
    for op in cx
        .ops
        .iter()
        .filter(|op| op.method == moat_spec::Method::Post)
    {
        if op.path_params().next().is_some() || op.body.is_none() {
            continue;
        }
        let Some(mut probe) = cx.probe(op, &BTreeMap::new()) else {
            continue;
        };
        // Names unique to the identity, so each sees only its own.
        let mut body = op
            .body
            .as_ref()
            .map(crate::schema::sample)
            .unwrap_or(Value::Null);
        personalise(&mut body, identity.name());
        probe = probe.json(&body);
        let Ok(answer) = cx.send(&probe, identity).await else {
            continue;
        };
        if !answer.is_success() {
            continue;
        }
        let source = format!("{} {}", op.method.as_str(), op.template);
        if let Some(json) = answer.json() {
            collect(cx, op, &json, identity.name(), Provenance::Created, objects);
        }
        for (param, value) in created_ids(cx, op, &body, &answer) {
            objects.add(
                identity.name(),
                &param,
                Harvested {
                    value,
                    provenance: Provenance::Created,
                    source: source.clone(),
                },
            );
        }
    }
}

/// The ids of the object `op` (a create) made with request `body` and
/// `answer`, by the path parameter of its item operations that names it: a
/// request field naming it (a note's `title`), the answer's field of that
/// name or `id`, or the last segment of `Location`.
pub fn created_ids(
    cx: &Context,
    op: &Op,
    body: &Value,
    answer: &crate::client::Exchange,
) -> BTreeMap<String, String> {
    let json = answer.json();
    let location = answer
        .header("location")
        .and_then(|l| l.rsplit('/').next())
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let mut out = BTreeMap::new();
    for item in item_ops(cx, op) {
        let Some(param) = item.path_params().last() else {
            continue;
        };
        let value = body
            .get(&param.name)
            .and_then(scalar_text)
            .or_else(|| {
                json.as_ref().and_then(|j| {
                    j.get(&param.name)
                        .or_else(|| j.get("id"))
                        .and_then(scalar_text)
                })
            })
            .or_else(|| location.clone());
        if let Some(value) = value {
            out.entry(param.name.clone()).or_insert(value);
        }
    }
    // The id under the name other operations give it in a query or body
    // (`GET /invoices?orderId=` for `POST /orders`).
    if let Some(name) = id_name(op)
        && !out.contains_key(&name)
        && cx.ops.iter().any(|o| takes(o, &name))
        && let Some(value) = json
            .as_ref()
            .and_then(|j| j.get("id"))
            .and_then(scalar_text)
    {
        out.insert(name, value);
    }
    out
}

/// The name an id of `op`'s collection goes by elsewhere: `orderId` for
/// `/orders`.
fn id_name(op: &Op) -> Option<String> {
    let last = op.template.trim_end_matches('/').rsplit('/').next()?;
    let singular = last.strip_suffix('s').unwrap_or(last);
    (!singular.is_empty() && !singular.contains('{')).then(|| format!("{singular}Id"))
}

/// Whether `op` takes a parameter or a body property named `name`.
fn takes(op: &Op, name: &str) -> bool {
    op.parameters.iter().any(|p| p.name == name)
        || op
            .body
            .as_ref()
            .is_some_and(|b| crate::schema::properties(b).contains_key(name))
}

/// Appends the identity's name to every string in `body` that is not an
/// enum, a format or a bounded short text.
fn personalise(body: &mut Value, name: &str) {
    if let Some(object) = body.as_object_mut() {
        for value in object.values_mut() {
            if let Value::String(s) = value
                && s == "moat-scan"
            {
                *s = format!("moat-scan-{name}");
            }
        }
    }
}

/// The operations that address one item of the collection `op` serves:
/// `GET /notes/{title}` for `POST /notes`.
pub fn item_ops<'a>(cx: &'a Context, op: &Op) -> Vec<&'a Op> {
    let prefix = format!("{}/{{", op.template.trim_end_matches('/'));
    cx.ops
        .iter()
        .filter(|o| {
            o.template.starts_with(&prefix) && o.template[prefix.len()..].find('/').is_none()
        })
        .collect()
}

/// The identity whose account `fields` is: its `name`, `username`, `login`
/// or `email` is one of the names the identity logs in with.
fn account_of(cx: &Context, fields: &serde_json::Map<String, Value>) -> Option<String> {
    fields.get("id")?;
    let named: Vec<&str> = ["name", "username", "login", "email"]
        .iter()
        .filter_map(|k| fields.get(*k).and_then(Value::as_str))
        .collect();
    cx.identities
        .authenticated()
        .find(|i| login_names(i).iter().any(|n| named.contains(&n.as_str())))
        .map(|i| i.name().to_string())
}

/// The names `identity` is known by: its own, and the user name or email
/// its login sends.
pub fn login_names(identity: &Identity) -> Vec<String> {
    let mut names = vec![identity.name().to_string()];
    let fields = identity
        .login()
        .and_then(|l| l.json.as_ref())
        .and_then(Value::as_object);
    for key in ["username", "user", "login", "email", "name"] {
        if let Some(name) = fields.and_then(|f| f.get(key)).and_then(Value::as_str) {
            names.push(name.to_string());
        }
    }
    names
}

/// The password `identity`'s login sends, when it is in a JSON body.
pub fn login_password(identity: &Identity) -> Option<(String, String)> {
    let fields = identity
        .login()
        .and_then(|l| l.json.as_ref())
        .and_then(Value::as_object)?;
    fields
        .iter()
        .find(|(k, v)| k.to_ascii_lowercase().contains("pass") && v.is_string())
        .and_then(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
}

/// Records the ids in `body`, an answer of `op`.
fn collect(
    cx: &Context,
    op: &Op,
    body: &Value,
    identity: &str,
    provenance: Provenance,
    objects: &mut Objects,
) {
    let source = format!("{} {}", op.method.as_str(), op.template);
    let items: Vec<&Value> = match body {
        Value::Array(items) => items.iter().collect(),
        Value::Object(map) => {
            let nested = ["items", "data", "results", "content", "records"]
                .iter()
                .find_map(|k| map.get(*k).and_then(Value::as_array));
            match nested {
                Some(items) => items.iter().collect(),
                None => vec![body],
            }
        }
        _ => Vec::new(),
    };
    // The item operations of the collection `op` serves (or is an item of).
    let collection = if op.path_params().next().is_some() && op.template.ends_with('}') {
        op.template
            .rsplit_once('/')
            .map_or(op.template.as_str(), |(c, _)| c)
            .to_string()
    } else {
        op.template.clone()
    };
    let prefix = format!("{}/{{", collection.trim_end_matches('/'));
    let item_params: Vec<&str> = cx
        .ops
        .iter()
        .filter(|o| o.template.starts_with(&prefix))
        .filter_map(|o| {
            let rest = &o.template[prefix.len()..];
            rest.split_once('}').map(|(name, _)| name)
        })
        .collect();
    for item in items.into_iter().take(20) {
        let Some(fields) = item.as_object() else {
            continue;
        };
        if let Some(owner) = account_of(cx, fields) {
            objects.set_account(&owner, fields.clone());
        }
        for param in &item_params {
            let value = fields
                .get(*param)
                .or_else(|| fields.get("id"))
                .and_then(scalar_text);
            if let Some(value) = value {
                objects.add(
                    identity,
                    param,
                    Harvested {
                        value,
                        provenance,
                        source: source.clone(),
                    },
                );
            }
        }
        // Fields named like another operation's path parameter (`bookId`).
        for other in cx.ops.iter().flat_map(Op::path_params) {
            if item_params.contains(&other.name.as_str()) {
                continue;
            }
            if let Some(value) = fields.get(&other.name).and_then(scalar_text) {
                objects.add(
                    identity,
                    &other.name,
                    Harvested {
                        value,
                        provenance,
                        source: source.clone(),
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_collection_names_its_ids_in_the_singular() {
        let op = |template: &str| Op::bare(moat_spec::Method::Post, template);

        assert_eq!(id_name(&op("/orders")).as_deref(), Some("orderId"));
        assert_eq!(
            id_name(&op("/api/v1/invoices/")).as_deref(),
            Some("invoiceId")
        );
        assert_eq!(id_name(&op("/things/{id}")), None);
    }
}
