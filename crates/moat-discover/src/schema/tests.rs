//! JSON Schemas merged over samples.

use serde_json::{Value, json};

use super::SchemaBuilder;
use super::json::{MAX_DEPTH, MAX_NODES, MAX_PROPERTIES};

fn merged(samples: &[Value]) -> Value {
    let mut builder = SchemaBuilder::new();
    for sample in samples {
        builder.observe(sample);
    }
    assert_eq!(builder.samples(), samples.len() as u64);
    builder.to_schema()
}

fn assert_valid(schema: &Value, samples: &[Value]) {
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(schema)
        .expect("the generated schema compiles");
    for sample in samples {
        assert!(validator.is_valid(sample), "{sample} against {schema}");
    }
}

#[test]
fn optional_and_required_properties() {
    let samples = [
        json!({ "id": 1, "name": "a", "tags": [] }),
        json!({ "id": 2, "name": "b" }),
    ];
    let schema = merged(&samples);
    assert_eq!(
        schema,
        json!({
            "type": "object",
            "properties": {
                "id": { "type": "integer" },
                "name": { "type": "string" },
                "tags": { "type": "array" },
            },
            "required": ["id", "name"],
        })
    );
    assert!(schema.get("additionalProperties").is_none(), "left open");
    assert_valid(&schema, &samples);
}

#[test]
fn nullable_and_mixed_types() {
    let samples = [
        json!({ "a": "x", "b": 1, "c": null, "d": 1, "e": [1] }),
        json!({ "a": null, "b": true, "c": null, "d": 2.5, "e": "x" }),
    ];
    let schema = merged(&samples);
    assert_eq!(
        schema["properties"]["a"],
        json!({ "type": ["string", "null"] })
    );
    assert_eq!(
        schema["properties"]["b"],
        json!({ "type": ["boolean", "integer"] })
    );
    assert_eq!(schema["properties"]["c"], json!({ "type": "null" }));
    assert_eq!(schema["properties"]["d"], json!({ "type": "number" }));
    assert_eq!(
        schema["properties"]["e"],
        json!({ "anyOf": [{ "type": "string" }, { "type": "array", "items": { "type": "integer" } }] })
    );
    assert_valid(&schema, &samples);
}

#[test]
fn arrays_of_objects_with_differing_fields() {
    let samples = [json!([
        { "id": 1, "kind": "book", "isbn": "x" },
        { "id": 2, "kind": "film", "minutes": 90 },
        { "id": 3.5, "kind": null },
    ])];
    let schema = merged(&samples);
    assert_eq!(
        schema,
        json!({
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": { "type": "number" },
                    "isbn": { "type": "string" },
                    "kind": { "type": ["string", "null"] },
                    "minutes": { "type": "integer" },
                },
                "required": ["id", "kind"],
            },
        })
    );
    assert_valid(&schema, &samples);
}

#[test]
fn formats_only_when_every_sample_has_one() {
    let samples = [
        json!({
            "id": "0b6e9d7c-6f1a-4d0e-9a3b-2c1d0e9f8a7b", "mail": "a@example.com",
            "at": "2024-03-14T09:26:53Z", "day": "2024-03-14", "v4": "10.0.0.1",
            "v6": "::1", "link": "https://example.com/x", "mixed": "2024-03-14",
        }),
        json!({
            "id": "1d5b1e9c-0000-4d0e-9a3b-2c1d0e9f8a7b", "mail": "b@example.org",
            "at": "2024-03-15T10:00:00.5+02:00", "day": "2024-02-29", "v4": "192.168.1.1",
            "v6": "2001:db8::1", "link": "http://example.org", "mixed": "soon",
        }),
    ];
    let schema = merged(&samples);
    let formats = [
        ("id", "uuid"),
        ("mail", "email"),
        ("at", "date-time"),
        ("day", "date"),
        ("v4", "ipv4"),
        ("v6", "ipv6"),
        ("link", "uri"),
    ];
    for (name, format) in formats {
        assert_eq!(
            schema["properties"][name],
            json!({ "type": "string", "format": format }),
            "{name}"
        );
    }
    assert_eq!(schema["properties"]["mixed"], json!({ "type": "string" }));
    assert_valid(&schema, &samples);
}

#[test]
fn enumerations_of_strings_and_nulls() {
    let samples: Vec<Value> = (0..15)
        .map(|i| match i % 3 {
            0 => json!({ "status": "active" }),
            1 => json!({ "status": "closed" }),
            _ => json!({ "status": null }),
        })
        .collect();
    let schema = merged(&samples);
    assert_eq!(
        schema["properties"]["status"],
        json!({ "type": ["string", "null"], "enum": ["active", "closed", null] })
    );
    assert_valid(&schema, &samples);
}

#[test]
fn secret_strings_never_reach_the_schema() {
    let secrets = [
        "hunter2-Secret",
        "sk_live_51HqLyjWDarjtT1zdp7dc",
        "alice@example.com",
        "swordfish",
    ];
    // Each secret repeated often enough to be an enumeration, were it a
    // short word under an innocent name.
    let samples: Vec<Value> = (0..20)
        .map(|i| {
            let s = secrets[i % secrets.len()];
            json!({
                "password": "swordfish",
                "note": s,
                "nested": [{ "apiKey": "swordfish" }],
                "byUser": { "alice@example.com": { "token": s } },
            })
        })
        .collect();
    let schema = merged(&samples);
    let text = schema.to_string();
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert_eq!(
        schema["properties"]["byUser"]["additionalProperties"]["properties"]["token"],
        json!({ "type": "string" })
    );
    assert_valid(&schema, &samples);
}

#[test]
fn depth_is_capped() {
    let mut deep = json!("leaf");
    for _ in 0..(MAX_DEPTH + 10) {
        deep = json!({ "a": deep });
    }
    let schema = merged(std::slice::from_ref(&deep));
    let mut node = &schema;
    for _ in 0..MAX_DEPTH {
        assert_eq!(node["type"], "object");
        node = &node["properties"]["a"];
    }
    assert!(node.get("type").is_none(), "{node}");
    assert!(
        node["$comment"]
            .as_str()
            .is_some_and(|c| c.contains("deeper"))
    );
    assert_valid(&schema, &[deep]);
}

#[test]
fn properties_per_object_are_capped() {
    let wide: serde_json::Map<String, Value> = (0..MAX_PROPERTIES + 50)
        .map(|i| (format!("field_{i:04}"), json!(i)))
        .collect();
    let sample = Value::Object(wide);
    let schema = merged(std::slice::from_ref(&sample));
    let properties = schema["properties"].as_object().expect("properties");
    assert_eq!(properties.len(), MAX_PROPERTIES);
    assert_eq!(schema["additionalProperties"], json!(true));
    assert!(schema["$comment"].is_string());
    assert_valid(&schema, &[sample]);
}

#[test]
fn positions_in_all_are_capped() {
    // Each sample brings new property names at new positions.
    let mut builder = SchemaBuilder::new();
    for i in 0..200 {
        let inner: serde_json::Map<String, Value> = (0..150)
            .map(|j| (format!("p{i}_{j}"), json!({ "x": 1 })))
            .collect();
        builder.observe(&json!({ format!("group{i}"): inner }));
    }
    let schema = builder.to_schema();
    fn count(v: &Value) -> usize {
        match v {
            Value::Object(m) => 1 + m.values().map(count).sum::<usize>(),
            Value::Array(a) => a.iter().map(count).sum(),
            _ => 0,
        }
    }
    // A schema node is a handful of JSON objects at most.
    assert!(count(&schema) < MAX_NODES * 4, "{}", count(&schema));
    let groups = schema["properties"].as_object().expect("properties");
    assert!(groups.len() < 200);
    assert!(
        groups
            .values()
            .any(|g| g["additionalProperties"] == json!(true))
    );
}

#[test]
fn nothing_observed_is_anything() {
    assert_eq!(SchemaBuilder::new().to_schema(), json!({}));
}

#[test]
fn fields_list_every_position_by_name_and_pointer_without_values() {
    use super::{FieldStep, field_pointer};
    let mut builder = SchemaBuilder::new();
    builder.observe(&json!({
        "user": {"name": "alice", "a/b~c": 1},
        "items": [{"sku": "X-1"}, {"sku": "X-2", "qty": 2}],
        "by_day": {"2024-01-01": {"n": 1}}
    }));
    let before = builder.to_schema();
    let pointers: Vec<String> = builder.fields().iter().map(|f| field_pointer(f)).collect();
    assert_eq!(
        pointers,
        [
            "/by_day",
            "/by_day/*",
            "/by_day/*/n",
            "/items",
            "/items/*",
            "/items/*/qty",
            "/items/*/sku",
            "/user",
            "/user/a~1b~0c",
            "/user/name",
        ]
    );
    assert_eq!(
        builder.fields()[1],
        [FieldStep::Property("by_day".into()), FieldStep::AnyKey]
    );
    // A read-only view: the schema is unchanged, and holds no value.
    assert_eq!(builder.to_schema(), before);
    let all = format!("{:?}", builder.fields());
    for value in ["alice", "X-1", "2024-01-01"] {
        assert!(!all.contains(value), "{value} in {all}");
    }
}
