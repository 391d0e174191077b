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
    dispatch_discriminator(map);
    mark_integer_format(map);
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

/// The keyword that carries an integer `format` (`int32`, `int64`) to the
/// range check registered by the compiler: JSON Schema formats only apply to
/// strings, so the OpenAPI ones for integers need a keyword of their own.
pub(crate) const INTEGER_FORMAT: &str = "x-moat-integer-format";

/// Keywords that can refuse `null` even where `type` allows it.
const NULL_REFUSING: &[&str] = &["$ref", "allOf", "anyOf", "oneOf", "not"];

/// OpenAPI 3.0 spellings that JSON Schema 2020-12 writes differently.
fn convert_30(map: &mut Map<String, Value>) {
    if let Some(nullable) = map.remove("nullable")
        && nullable == Value::Bool(true)
    {
        if NULL_REFUSING.iter().any(|k| map.contains_key(*k)) {
            // `allOf: [{$ref: X}], nullable: true` (or `nullable` next to a
            // `$ref`): the referenced schema says nothing of `null`, so the
            // whole schema becomes "null, or what it said".
            let inner = std::mem::take(map);
            map.insert(
                "anyOf".into(),
                Value::Array(vec![
                    serde_json::json!({"type": "null"}),
                    Value::Object(inner),
                ]),
            );
            return;
        }
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
    let pointer = super::params::percent_decode(fragment)?;
    snapshot.pointer(&pointer)
}

/// `int32`/`int64` on an integer (or number) schema: marks it for the range
/// check (see [`INTEGER_FORMAT`]).
fn mark_integer_format(map: &mut Map<String, Value>) {
    let Some(Value::String(format)) = map.get("format") else {
        return;
    };
    if format != "int32" && format != "int64" {
        return;
    }
    let numeric = match map.get("type") {
        None => true,
        Some(Value::String(t)) => t == "integer" || t == "number",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "integer" || t == "number"),
        Some(_) => false,
    };
    if numeric {
        let format = Value::String(format.clone());
        map.insert(INTEGER_FORMAT.into(), format);
    }
}

/// Whether a JSON value fits an integer `format`: `int32` or `int64`. Values
/// that are not numbers, and numbers with a fraction (which `type` refuses
/// anyway), are left to the other keywords.
pub(crate) fn fits_integer_format(format: &str, value: &Value) -> bool {
    let Value::Number(n) = value else {
        return true;
    };
    let (min, max) = match format {
        "int32" => (i64::from(i32::MIN), i64::from(i32::MAX)),
        _ => (i64::MIN, i64::MAX),
    };
    if let Some(i) = n.as_i64() {
        return (min..=max).contains(&i);
    }
    if n.as_u64().is_some() {
        // Above `i64::MAX`.
        return false;
    }
    match n.as_f64() {
        // `min`/`max` as f64: `i64::MAX` rounds up to 2^63, which is out of
        // range, hence the strict upper bound.
        #[allow(clippy::cast_precision_loss)]
        Some(f) if f.fract() == 0.0 => f >= min as f64 && f < (max as f64) + 1.0,
        _ => true,
    }
}

/// OpenAPI's `discriminator` next to `oneOf`/`anyOf`: the named property
/// picks the variant, so the branches are replaced by a dispatch on its
/// value. Exactly that variant must then match (JSON Schema's `oneOf` alone
/// would refuse a body that happens to match two variants, and accept one
/// whose discriminator names none), and a value that names no variant is
/// refused (`enum`). The value of each variant is its `mapping` key, or else
/// the name of the schema its `$ref` points to. Branches that are not
/// `$ref`s cannot be named, so without any `$ref` branch nothing changes.
fn dispatch_discriminator(map: &mut Map<String, Value>) {
    let Some(Value::Object(disc)) = map.get("discriminator") else {
        return;
    };
    let Some(property) = disc.get("propertyName").and_then(Value::as_str) else {
        return;
    };
    let property = property.to_string();
    let Some(key) = ["oneOf", "anyOf"]
        .into_iter()
        .find(|k| map.get(*k).is_some_and(Value::is_array))
    else {
        return;
    };
    // (value, $ref) in order: explicit mapping first, then implicit names.
    let mut variants: Vec<(String, String)> = Vec::new();
    if let Some(Value::Object(mapping)) = disc.get("mapping") {
        for (value, target) in mapping {
            let Some(target) = target.as_str() else {
                continue;
            };
            let reference = if target.contains('#') || target.contains('/') {
                target.to_string()
            } else {
                format!("#/components/schemas/{target}")
            };
            variants.push((value.clone(), reference));
        }
    }
    let branches: Vec<String> = map
        .get(key)
        .and_then(Value::as_array)
        .map(|bs| {
            bs.iter()
                .filter_map(|b| b.get("$ref").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    for reference in &branches {
        // A branch already named by the mapping keeps only its mapped names.
        if variants.iter().any(|(_, r)| r == reference) {
            continue;
        }
        let name = reference.rsplit('/').next().unwrap_or(reference);
        let Some(name) = super::params::percent_decode(name) else {
            continue;
        };
        let name = name.replace("~1", "/").replace("~0", "~");
        if !variants.iter().any(|(v, _)| *v == name) {
            variants.push((name, reference.clone()));
        }
    }
    if variants.is_empty() {
        return;
    }
    map.remove(key);
    let values: Vec<Value> = variants
        .iter()
        .map(|(v, _)| Value::String(v.clone()))
        .collect();
    let mut all_of = vec![serde_json::json!({
        "required": [property],
        "properties": {property.as_str(): {"enum": values}},
    })];
    for (value, reference) in variants {
        all_of.push(serde_json::json!({
            "if": {
                "required": [property],
                "properties": {property.as_str(): {"const": value}},
            },
            "then": {"$ref": reference},
        }));
    }
    match map.get_mut("allOf") {
        Some(Value::Array(existing)) => existing.extend(all_of),
        _ => {
            map.insert("allOf".into(), Value::Array(all_of));
        }
    }
}
