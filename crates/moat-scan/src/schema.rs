//! Schemas as the scan uses them: `$ref`s resolved into one value, and
//! sample values a schema accepts.

use moat_spec::{ApiSpec, DocId};
use serde_json::{Map, Value, json};

/// How deep `$ref`s are followed; a recursive schema stops here as `{}`.
const MAX_REF_DEPTH: usize = 8;

/// `value` with every `$ref` replaced by what it points at.
pub fn resolve(spec: &ApiSpec, doc: DocId, value: &Value) -> Value {
    resolve_in(spec, doc, value, 0)
}

fn resolve_in(spec: &ApiSpec, doc: DocId, value: &Value, depth: usize) -> Value {
    match value {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                if depth >= MAX_REF_DEPTH {
                    return Value::Object(Map::new());
                }
                return match spec.resolve_ref(doc, reference) {
                    Ok(target) => resolve_in(spec, target.doc, target.value, depth + 1),
                    Err(_) => Value::Object(Map::new()),
                };
            }
            Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), resolve_in(spec, doc, v, depth)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| resolve_in(spec, doc, v, depth))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The schema's `type`, the first non-null one when it lists several.
pub fn type_of(schema: &Value) -> Option<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => Some(t),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null"),
        _ => None,
    }
}

/// The object schema's properties (of `allOf` members too).
pub fn properties(schema: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        out.extend(props.clone());
    }
    for member in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.extend(properties(member));
    }
    out
}

/// The names the object schema requires.
pub fn required(schema: &Value) -> Vec<String> {
    let mut out: Vec<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    for member in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.extend(required(member));
    }
    out
}

/// Whether the schema forbids properties it does not list.
pub fn is_closed(schema: &Value) -> bool {
    schema.get("additionalProperties") == Some(&Value::Bool(false))
        || schema.get("unevaluatedProperties") == Some(&Value::Bool(false))
}

/// A value the schema accepts: its `example`, `default` or first `enum`
/// value when it has one, otherwise one built from its type and format.
/// Objects get every property that is not `readOnly`.
pub fn sample(schema: &Value) -> Value {
    sample_at(schema, 0)
}

fn sample_at(schema: &Value, depth: usize) -> Value {
    if depth > 6 {
        return Value::Null;
    }
    for key in ["example", "default"] {
        if let Some(v) = schema.get(key) {
            return v.clone();
        }
    }
    if let Some(first) = schema
        .get("examples")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(first) = schema
            .get(key)
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return sample_at(first, depth + 1);
        }
    }
    match type_of(schema) {
        Some("object") | None
            if schema.get("properties").is_some() || schema.get("allOf").is_some() =>
        {
            let mut out = Map::new();
            for (name, prop) in properties(schema) {
                if prop.get("readOnly") == Some(&Value::Bool(true)) {
                    continue;
                }
                out.insert(name, sample_at(&prop, depth + 1));
            }
            Value::Object(out)
        }
        Some("object") => json!({}),
        Some("array") => {
            let item = schema
                .get("items")
                .map_or(Value::Null, |i| sample_at(i, depth + 1));
            Value::Array(vec![item])
        }
        Some("integer") => json!(bounded_number(schema, 1.0) as i64),
        Some("number") => json!(bounded_number(schema, 1.5)),
        Some("boolean") => json!(true),
        Some("string") => Value::String(sample_string(schema)),
        _ => Value::Null,
    }
}

fn bounded_number(schema: &Value, fallback: f64) -> f64 {
    let min = schema.get("minimum").and_then(Value::as_f64);
    let max = schema.get("maximum").and_then(Value::as_f64);
    match (min, max) {
        (Some(min), _) if fallback < min => min,
        (_, Some(max)) if fallback > max => max,
        _ => fallback,
    }
}

fn sample_string(schema: &Value) -> String {
    let text = match schema.get("format").and_then(Value::as_str) {
        Some("email") => "moat-scan@example.com",
        Some("uuid") => "00000000-0000-4000-8000-000000000000",
        Some("date") => "2024-01-01",
        Some("date-time") => "2024-01-01T00:00:00Z",
        Some("uri" | "url") => "https://example.com/",
        Some("ipv4") => "192.0.2.1",
        Some("password") => "moat-Scan-1",
        _ => "moat-scan",
    };
    let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    let max = schema
        .get("maxLength")
        .and_then(Value::as_u64)
        .map(|m| m as usize);
    let mut out = text.to_string();
    while out.chars().count() < min {
        out.push('x');
    }
    if let Some(max) = max {
        out = out.chars().take(max.max(1)).collect();
    }
    out
}
