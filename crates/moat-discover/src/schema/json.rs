//! JSON Schemas (2020-12, as OpenAPI 3.1 uses them) merged over sample
//! bodies.
//!
//! Every sample is folded into one tree that mirrors the shapes seen:
//! which JSON types each position took, the properties of its objects
//! and how often each was present, the merged items of its arrays, the
//! common `format` of its strings. The tree is bounded whatever the
//! input: below [`MAX_DEPTH`] levels nothing is inferred, an object keeps
//! at most [`MAX_PROPERTIES`] properties and the whole tree at most
//! [`MAX_NODES`] positions; beyond, the schema says so and stays open.
//! Raw strings are never kept, except the few words of an enumeration
//! (see [`super::enums`]). Property names that are identifiers (numbers,
//! UUIDs, hex ids, dates, emails) or very long are not kept either: such
//! an object is a map, and its values are merged into
//! `additionalProperties`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::enums::{EnumTracker, is_sensitive_name};
use super::value::ValueType;
use crate::segment::SegmentKind;
use crate::sensitive::push_escaped;

/// Levels of nesting inferred; deeper values are accepted as anything.
pub const MAX_DEPTH: usize = 32;
/// Properties kept per object; further ones are allowed, not described.
pub const MAX_PROPERTIES: usize = 200;
/// Positions (schema nodes) kept per builder.
pub const MAX_NODES: usize = 10_000;
/// Longest property name kept as a name.
const MAX_NAME_LEN: usize = 128;

/// A JSON Schema merged over the samples observed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SchemaBuilder {
    root: Node,
    nodes: usize,
    samples: u64,
}

impl Default for SchemaBuilder {
    fn default() -> Self {
        SchemaBuilder {
            root: Node::new(false),
            nodes: 1,
            samples: 0,
        }
    }
}

impl SchemaBuilder {
    /// A builder that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds one sample in.
    pub fn observe(&mut self, sample: &Value) {
        self.samples += 1;
        let mut budget = Budget(MAX_NODES.saturating_sub(self.nodes));
        self.root.observe(sample, 0, &mut budget);
        self.nodes = MAX_NODES - budget.0;
    }

    /// Samples observed.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The schema every observed sample is valid against (`{}` before any
    /// sample).
    pub fn to_schema(&self) -> Value {
        self.root.to_schema()
    }

    /// Every position observed below the root, as the steps that reach it,
    /// each parent before its children: the fields [`Self::to_schema`]
    /// describes, without their types. Bounded like the schema (at most
    /// [`MAX_NODES`] positions); no value is in it, only property names.
    pub fn fields(&self) -> Vec<Vec<FieldStep>> {
        let mut out = Vec::new();
        self.root.fields(&mut Vec::new(), &mut out);
        out
    }
}

/// One step from a JSON body's root towards a position in it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FieldStep {
    /// The named property of an object.
    Property(String),
    /// Any element of an array.
    Item,
    /// The value under any key of an object whose keys are data
    /// (identifiers), not names: a map.
    AnyKey,
}

/// `steps` as a JSON pointer (RFC 6901 escaping), array elements and map
/// values written `*`, as sensitive-data locations write them:
/// `/items/*/email`.
pub fn field_pointer(steps: &[FieldStep]) -> String {
    let mut out = String::new();
    for step in steps {
        out.push('/');
        match step {
            FieldStep::Property(name) => push_escaped(&mut out, name),
            FieldStep::Item | FieldStep::AnyKey => out.push('*'),
        }
    }
    out
}

/// Nodes that may still be created.
struct Budget(usize);

impl Budget {
    fn take(&mut self) -> bool {
        let ok = self.0 > 0;
        self.0 = self.0.saturating_sub(1);
        ok
    }
}

/// One position in the samples: everything seen there.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Node {
    /// Times a value was seen here.
    seen: u64,
    /// Under a name that looks like a credential: no enumeration.
    sensitive: bool,
    too_deep: bool,
    null: bool,
    boolean: bool,
    integer: bool,
    number: bool,
    string: Option<Strings>,
    array: Option<Box<Array>>,
    object: Option<Box<Object>>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Strings {
    /// The type all strings share (its format, if it has one).
    ty: ValueType,
    enums: EnumTracker,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Array {
    items: Option<Node>,
    truncated: bool,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Object {
    seen: u64,
    properties: BTreeMap<String, Node>,
    /// The values under identifier-like names, merged.
    keyed: Option<Node>,
    truncated: bool,
}

impl Node {
    fn new(sensitive: bool) -> Self {
        Node {
            seen: 0,
            sensitive,
            too_deep: false,
            null: false,
            boolean: false,
            integer: false,
            number: false,
            string: None,
            array: None,
            object: None,
        }
    }

    fn observe(&mut self, value: &Value, depth: usize, budget: &mut Budget) {
        self.seen += 1;
        if depth >= MAX_DEPTH {
            self.too_deep = true;
            return;
        }
        match value {
            Value::Null => self.null = true,
            Value::Bool(_) => self.boolean = true,
            Value::Number(n) if n.is_i64() || n.is_u64() => self.integer = true,
            Value::Number(_) => self.number = true,
            Value::String(s) => self.observe_string(s),
            Value::Array(items) => {
                let array = self.array.get_or_insert_with(Box::default);
                for item in items {
                    match &mut array.items {
                        Some(node) => node.observe(item, depth + 1, budget),
                        None if budget.take() => {
                            let mut node = Node::new(self.sensitive);
                            node.observe(item, depth + 1, budget);
                            array.items = Some(node);
                        }
                        None => {
                            array.truncated = true;
                            break;
                        }
                    }
                }
            }
            Value::Object(map) => {
                // Whether a member's values are sensitive is decided once,
                // when its node is made: a node keeps it.
                let parent_sensitive = self.sensitive;
                let sensitive = |name: &str| parent_sensitive || is_sensitive_name(name);
                let object = self.object.get_or_insert_with(Box::default);
                object.seen += 1;
                for (name, value) in map {
                    let node = if is_map_key(name) {
                        if object.keyed.is_none() {
                            if !budget.take() {
                                object.truncated = true;
                                continue;
                            }
                            object.keyed = Some(Node::new(sensitive(name)));
                        }
                        object.keyed.as_mut()
                    } else {
                        if !object.properties.contains_key(name) {
                            if object.properties.len() >= MAX_PROPERTIES || !budget.take() {
                                object.truncated = true;
                                continue;
                            }
                            object
                                .properties
                                .insert(name.clone(), Node::new(sensitive(name)));
                        }
                        object.properties.get_mut(name)
                    };
                    if let Some(node) = node {
                        node.observe(value, depth + 1, budget);
                    }
                }
            }
        }
    }

    fn fields(&self, path: &mut Vec<FieldStep>, out: &mut Vec<Vec<FieldStep>>) {
        let mut child = |step: FieldStep, node: &Node, out: &mut Vec<Vec<FieldStep>>| {
            path.push(step);
            out.push(path.clone());
            node.fields(path, out);
            path.pop();
        };
        if let Some(items) = self.array.as_ref().and_then(|a| a.items.as_ref()) {
            child(FieldStep::Item, items, out);
        }
        if let Some(object) = &self.object {
            for (name, node) in &object.properties {
                child(FieldStep::Property(name.clone()), node, out);
            }
            if let Some(keyed) = &object.keyed {
                child(FieldStep::AnyKey, keyed, out);
            }
        }
    }

    fn observe_string(&mut self, s: &str) {
        let ty = ValueType::of(s);
        let strings = self.string.get_or_insert_with(|| Strings {
            ty,
            enums: EnumTracker::new(self.sensitive),
        });
        strings.ty = strings.ty.join(ty);
        if ty == ValueType::String {
            strings.enums.observe(s);
        } else {
            strings.enums.rule_out();
        }
    }

    fn to_schema(&self) -> Value {
        if self.too_deep {
            return json!({ "$comment": format!("nested deeper than {MAX_DEPTH} levels: not inferred") });
        }
        let mut variants = Vec::new();
        if self.boolean {
            variants.push(json!({ "type": "boolean" }));
        }
        if self.number {
            variants.push(json!({ "type": "number" }));
        } else if self.integer {
            variants.push(json!({ "type": "integer" }));
        }
        if let Some(strings) = &self.string {
            variants.push(strings.to_schema());
        }
        if let Some(array) = &self.array {
            variants.push(array.to_schema());
        }
        if let Some(object) = &self.object {
            variants.push(object.to_schema());
        }
        combine(variants, self.null)
    }
}

impl Strings {
    fn to_schema(&self) -> Value {
        let mut schema = json!({ "type": "string" });
        if let Some(format) = self.ty.format() {
            schema["format"] = json!(format);
        }
        if let Some(values) = self.enums.values() {
            schema["enum"] = json!(values);
        }
        schema
    }
}

impl Array {
    fn to_schema(&self) -> Value {
        let mut schema = json!({ "type": "array" });
        if let Some(items) = &self.items {
            schema["items"] = items.to_schema();
        }
        if self.truncated {
            schema["$comment"] = json!("items beyond the inference limit: not inferred");
        }
        schema
    }
}

impl Object {
    fn to_schema(&self) -> Value {
        let mut schema = json!({ "type": "object" });
        if !self.properties.is_empty() {
            let properties: Map<String, Value> = self
                .properties
                .iter()
                .map(|(name, node)| (name.clone(), node.to_schema()))
                .collect();
            schema["properties"] = Value::Object(properties);
        }
        let required: Vec<&str> = self
            .properties
            .iter()
            .filter(|(_, node)| node.seen == self.seen)
            .map(|(name, _)| name.as_str())
            .collect();
        if !required.is_empty() {
            schema["required"] = json!(required);
        }
        if self.truncated {
            schema["additionalProperties"] = json!(true);
            schema["$comment"] = json!(format!(
                "more properties than the inference limit ({MAX_PROPERTIES} per object, \
                 {MAX_NODES} in all): the others are not described"
            ));
        } else if let Some(keyed) = &self.keyed {
            schema["additionalProperties"] = keyed.to_schema();
        }
        schema
    }
}

/// One schema for a position that took the `variants` (and null when
/// `null`): the variant itself, a list of types when the variants are
/// bare types, else `anyOf`.
fn combine(mut variants: Vec<Value>, null: bool) -> Value {
    let bare = |v: &Value| v.as_object().is_some_and(|o| o.len() == 1);
    match variants.len() {
        0 if null => json!({ "type": "null" }),
        0 => json!({}),
        1 => {
            let mut schema = variants.remove(0);
            if null {
                let ty = schema["type"].take();
                schema["type"] = json!([ty, "null"]);
                if let Some(values) = schema.get_mut("enum").and_then(Value::as_array_mut) {
                    values.push(Value::Null);
                }
            }
            schema
        }
        _ if variants.iter().all(bare) => {
            let mut types: Vec<Value> = variants.iter_mut().map(|v| v["type"].take()).collect();
            if null {
                types.push(json!("null"));
            }
            json!({ "type": types })
        }
        _ => {
            if null {
                variants.push(json!({ "type": "null" }));
            }
            json!({ "anyOf": variants })
        }
    }
}

/// A property name that is data, not a field: an identifier or very long.
fn is_map_key(name: &str) -> bool {
    name.len() > MAX_NAME_LEN
        || matches!(
            SegmentKind::of(name),
            SegmentKind::Integer
                | SegmentKind::Uuid
                | SegmentKind::ObjectId
                | SegmentKind::Hex
                | SegmentKind::Date
                | SegmentKind::Email
        )
}
