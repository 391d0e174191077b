//! Turning an OpenAPI document's schemas into JSON Schema 2020-12 that
//! enforces what a request may carry.
//!
//! The conversion works on a copy of each document (the spec itself stays as
//! written) and is meant for requests only: `readOnly` properties become
//! `false` schemas, which would be wrong for responses.

use serde_json::{Map, Value};

/// How to convert.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Conversion {
    /// OpenAPI 3.0: `nullable`, boolean `exclusiveMinimum`/`exclusiveMaximum`
    /// become their JSON Schema spelling.
    pub openapi30: bool,
    /// Refuse properties no schema declares (mass assignment).
    pub close_objects: bool,
}

/// OpenAPI-only keywords JSON Schema does not know; dropped so that nothing
/// reads them as assertions (and `discriminator` is enforced through the
/// `oneOf`/`anyOf` it sits next to).
const OPENAPI_ONLY: &[&str] = &[
    "discriminator",
    "xml",
    "example",
    "externalDocs",
    "deprecated",
];

/// How deep `$ref`s are followed when deciding whether a schema declares
/// properties; recursive schemas stop here.
const MAX_REF_DEPTH: usize = 16;

/// Converts every schema of a document in place: the values of `schema`
/// members (parameters, media types, headers) and of `components.schemas`.
/// `snapshot` is the document before conversion, read to follow local
/// `$ref`s.
pub(crate) fn convert_document(doc: &mut Value, snapshot: &Value, c: Conversion) {
    walk(doc, snapshot, c);
}

fn walk(v: &mut Value, snapshot: &Value, c: Conversion) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "schema" {
                    convert_schema(child, snapshot, c, true);
                } else if k == "schemas" {
                    if let Value::Object(schemas) = child {
                        for s in schemas.values_mut() {
                            convert_schema(s, snapshot, c, false);
                        }
                    }
                } else {
                    walk(child, snapshot, c);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| walk(i, snapshot, c)),
        _ => {}
    }
}

/// Converts one schema and its subschemas. A `use_site` is a place where a
/// value is validated against the schema as a whole (a body root, a
/// property, array items), as opposed to an `allOf` branch or a component
/// definition: only there can the set of allowed properties be known, so
/// only there is an object closed.
pub(crate) fn convert_schema(v: &mut Value, snapshot: &Value, c: Conversion, use_site: bool) {
    let Value::Object(map) = v else { return };
    if c.openapi30 {
        convert_30(map);
    }
    for k in OPENAPI_ONLY {
        map.remove(*k);
    }
    refuse_read_only(map, snapshot);

    for key in [
        "properties",
        "patternProperties",
        "dependentSchemas",
        "$defs",
        "definitions",
    ] {
        if let Some(Value::Object(props)) = map.get_mut(key) {
            let site = key != "$defs" && key != "definitions";
            for p in props.values_mut() {
                convert_schema(p, snapshot, c, site);
            }
        }
    }
    for key in [
        "additionalProperties",
        "unevaluatedProperties",
        "items",
        "contains",
        "additionalItems",
    ] {
        match map.get_mut(key) {
            Some(s @ Value::Object(_)) => convert_schema(s, snapshot, c, true),
            Some(Value::Array(items)) => items
                .iter_mut()
                .for_each(|s| convert_schema(s, snapshot, c, true)),
            _ => {}
        }
    }
    if let Some(Value::Array(items)) = map.get_mut("prefixItems") {
        items
            .iter_mut()
            .for_each(|s| convert_schema(s, snapshot, c, true));
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = map.get_mut(key) {
            branches
                .iter_mut()
                .for_each(|s| convert_schema(s, snapshot, c, false));
        }
    }
    for key in ["not", "if", "then", "else", "propertyNames"] {
        if let Some(s) = map.get_mut(key) {
            convert_schema(s, snapshot, c, false);
        }
    }

    if use_site
        && c.close_objects
        && !has_explicit_extra(map)
        && declares_properties(map, snapshot, 0)
    {
        // `unevaluatedProperties` sees through `$ref` and `allOf`/`anyOf`/
        // `oneOf`, so a property declared by any branch stays allowed, where
        // `additionalProperties: false` would refuse everything a sibling
        // branch declares.
        map.insert("unevaluatedProperties".into(), Value::Bool(false));
    }
}

/// OpenAPI 3.0 spellings that JSON Schema 2020-12 writes differently.
fn convert_30(map: &mut Map<String, Value>) {
    if let Some(nullable) = map.remove("nullable")
        && nullable == Value::Bool(true)
    {
        if let Some(Value::String(t)) = map.get("type") {
            let t = Value::String(t.clone());
            map.insert(
                "type".into(),
                Value::Array(vec![t, Value::String("null".into())]),
            );
        }
        if let Some(Value::Array(values)) = map.get_mut("enum")
            && !values.contains(&Value::Null)
        {
            values.push(Value::Null);
        }
    }
    for (exclusive, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if let Some(Value::Bool(flag)) = map.get(exclusive) {
            let flag = *flag;
            map.remove(exclusive);
            if flag && let Some(b) = map.remove(bound) {
                map.insert(exclusive.into(), b);
            }
        }
    }
}

/// A client may not send what the server owns: each `readOnly` property
/// becomes a `false` schema (reported as rule `readOnly`) and stops being
/// required, as OpenAPI says `required` applies to it in responses only.
fn refuse_read_only(map: &mut Map<String, Value>, snapshot: &Value) {
    let Some(Value::Object(props)) = map.get_mut("properties") else {
        return;
    };
    let mut read_only = Vec::new();
    for (name, schema) in props.iter_mut() {
        if is_read_only(schema, snapshot) {
            *schema = Value::Bool(false);
            read_only.push(name.clone());
        }
    }
    if read_only.is_empty() {
        return;
    }
    if let Some(Value::Array(required)) = map.get_mut("required") {
        required.retain(|r| r.as_str().is_none_or(|r| !read_only.iter().any(|n| n == r)));
    }
}

fn is_read_only(schema: &Value, snapshot: &Value) -> bool {
    if schema.get("readOnly") == Some(&Value::Bool(true)) {
        return true;
    }
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| local_target(r, snapshot))
        .is_some_and(|t| t.get("readOnly") == Some(&Value::Bool(true)))
}

/// Whether the schema itself decides about undeclared properties; then the
/// author's choice stands.
fn has_explicit_extra(map: &Map<String, Value>) -> bool {
    map.contains_key("additionalProperties") || map.contains_key("unevaluatedProperties")
}

/// Whether the schema, or what it reaches through `$ref` and combinators,
/// declares properties. A schema with none (`type: object` alone) is a
/// free-form map and stays open.
fn declares_properties(map: &Map<String, Value>, snapshot: &Value, depth: usize) -> bool {
    if depth > MAX_REF_DEPTH {
        return false;
    }
    if map.contains_key("properties") || map.contains_key("patternProperties") {
        return true;
    }
    if depth > 0 && has_explicit_extra(map) {
        return false;
    }
    if let Some(target) = map
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| local_target(r, snapshot))
        .and_then(Value::as_object)
        && declares_properties(target, snapshot, depth + 1)
    {
        return true;
    }
    ["allOf", "anyOf", "oneOf"].iter().any(|k| {
        map.get(*k)
            .and_then(Value::as_array)
            .is_some_and(|branches| {
                branches
                    .iter()
                    .filter_map(Value::as_object)
                    .any(|b| declares_properties(b, snapshot, depth + 1))
            })
    })
}

/// The target of a same-document `$ref` (`#/components/schemas/Pet`).
/// References to other files are not followed here; such objects stay open
/// unless they close themselves.
fn local_target<'a>(reference: &str, snapshot: &'a Value) -> Option<&'a Value> {
    let fragment = reference.strip_prefix('#')?;
    let pointer = super::params::percent_decode(fragment, false)?;
    snapshot.pointer(&pointer)
}
