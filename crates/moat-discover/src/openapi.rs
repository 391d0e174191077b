//! An OpenAPI 3.1 document from discovered operations, as YAML that moat
//! itself loads: a starting point for the API's policy, to be reviewed.

use std::borrow::Cow;

use saphyr::{Mapping, Scalar, Yaml, YamlEmitter};
use serde_json::{Map, Value, json};

use crate::template::{DiscoveredOperation, Part};

/// The document for `operations` (an API called `title`).
pub fn document(title: &str, operations: &[DiscoveredOperation]) -> Value {
    let mut paths = Map::new();
    for op in operations {
        let entry = paths
            .entry(op.template())
            .or_insert_with(|| Value::Object(Map::new()));
        let parameters: Vec<Value> = op
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::Param { name, kind } => {
                    let (ty, format) = kind.schema();
                    let mut schema = json!({ "type": ty });
                    if let Some(f) = format {
                        schema["format"] = json!(f);
                    }
                    Some(json!({"name": name, "in": "path", "required": true, "schema": schema}))
                }
                Part::Literal(_) => None,
            })
            .collect();
        let mut operation = json!({
            "operationId": operation_id(op),
            "responses": {"default": {"description": "Not described yet: discovered from traffic."}},
            "x-moat-discovered": {"requests": op.requests},
        });
        if !parameters.is_empty() {
            operation["parameters"] = Value::Array(parameters);
        }
        if let Value::Object(methods) = entry {
            methods.insert(op.method.to_ascii_lowercase(), operation);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": "discovered",
            "description": "Discovered from traffic by `moat discover`. Review it before enforcing it.",
        },
        "paths": paths,
    })
}

/// `getBooksBookId` for `GET /books/{bookId}`.
fn operation_id(op: &DiscoveredOperation) -> String {
    let mut id = op.method.to_ascii_lowercase();
    for part in &op.parts {
        let word = match part {
            Part::Literal(s) | Part::Param { name: s, .. } => s,
        };
        for piece in word.split(|c: char| !c.is_ascii_alphanumeric()) {
            let mut chars = piece.chars();
            if let Some(first) = chars.next() {
                id.push(first.to_ascii_uppercase());
                id.push_str(chars.as_str());
            }
        }
    }
    id
}

/// `value` as YAML text.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    let yaml = convert(value);
    // Writing to a String cannot fail; an emitter error leaves what was
    // written so far, which a caller would see as a broken document.
    let _ = YamlEmitter::new(&mut out).dump(&yaml);
    out.push('\n');
    out
}

fn convert(value: &Value) -> Yaml<'static> {
    match value {
        Value::Null => Yaml::Value(Scalar::Null),
        Value::Bool(b) => Yaml::Value(Scalar::Boolean(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Value(Scalar::Integer(i)),
            // The documents made here hold integers only.
            None => Yaml::Value(Scalar::String(Cow::Owned(n.to_string()))),
        },
        Value::String(s) => Yaml::Value(Scalar::String(Cow::Owned(s.clone()))),
        Value::Array(items) => Yaml::Sequence(items.iter().map(convert).collect()),
        Value::Object(map) => {
            let mut m = Mapping::new();
            for (k, v) in map {
                m.insert(
                    Yaml::Value(Scalar::String(Cow::Owned(k.clone()))),
                    convert(v),
                );
            }
            Yaml::Mapping(m)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Templater;

    #[test]
    fn the_document_loads_in_moat_and_matches_its_traffic() {
        let mut t = Templater::new();
        for id in 1..=6 {
            t.observe("GET", &format!("/books/{id}")).unwrap();
        }
        t.observe("POST", "/books").unwrap();
        for u in ["alice", "bob", "carol", "dave", "erin"] {
            t.observe("GET", &format!("/users/{u}")).unwrap();
        }
        t.observe("GET", "/users/me").unwrap();
        t.observe("GET", "/users/me").unwrap();
        t.observe("GET", "/users/me").unwrap();
        t.observe("GET", "/users/me").unwrap();
        t.observe("GET", "/users/me").unwrap();
        t.observe("GET", "/users/me").unwrap();
        t.observe("GET", "/status/200").unwrap();
        let ops = t.operations();
        let text = to_yaml(&document("shop", &ops));
        assert!(text.contains("openapi: 3.1.0"), "{text}");
        // moat's own loader reads it, and its table routes the traffic.
        let spec = moat_spec::load_text("discovered.yaml", &text).unwrap();
        let table = moat_spec::OperationTable::new(spec);
        let drift = crate::drift::compare(&ops, &table);
        assert!(!drift.has_drift(), "{drift:#?}\n{text}");
        assert_eq!(table.spec().operations.len(), ops.len());
        let get_book = table.spec().operation("getBooksBookId").unwrap();
        assert_eq!(get_book.path_template, "/books/{bookId}");
        assert!(text.contains("/status/{statusId}"), "{text}");
    }
}
