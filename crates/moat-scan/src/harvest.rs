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
        // Objects named by a request field (a note by its title).
        for item in item_ops(cx, op) {
            for param in item.path_params() {
                if let Some(value) = body.get(&param.name).and_then(scalar_text) {
                    objects.add(
                        identity.name(),
                        &param.name,
                        Harvested {
                            value,
                            provenance: Provenance::Created,
                            source: source.clone(),
                        },
                    );
                }
            }
        }
        if let Some(json) = answer.json() {
            collect(cx, op, &json, identity.name(), Provenance::Created, objects);
        }
        if let Some(last) = answer
            .header("location")
            .and_then(|l| l.rsplit('/').next())
            .filter(|s| !s.is_empty())
        {
            for item in item_ops(cx, op) {
                if let Some(param) = item.path_params().last() {
                    objects.add(
                        identity.name(),
                        &param.name,
                        Harvested {
                            value: last.to_string(),
                            provenance: Provenance::Created,
                            source: source.clone(),
                        },
                    );
                }
            }
        }
    }
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
fn item_ops<'a>(cx: &'a Context, op: &Op) -> Vec<&'a Op> {
    let prefix = format!("{}/{{", op.template.trim_end_matches('/'));
    cx.ops
        .iter()
        .filter(|o| {
            o.template.starts_with(&prefix) && o.template[prefix.len()..].find('/').is_none()
        })
        .collect()
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
