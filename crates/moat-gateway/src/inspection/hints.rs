//! Schema hints: what the API's document says about each value, so that
//! inspection does not second-guess validation.
//!
//! Only used when validation has run in enforce mode: a value held to an
//! `enum`, a `pattern`, a strict `format` or a non-string type has then
//! already been checked against something stricter than any detector.
//!
//! The hints of the JSON request bodies of an API's operations are
//! compiled once into a [`BodyHints`] graph (one node per schema, `$ref`s
//! resolved, a schema shared by several operations or recursive a single
//! node), so that inspection finds a value's hints with one look-up per key
//! or index.

use std::collections::HashMap;

use moat_inspect::{HintSource, Hints};
use moat_spec::{ApiSpec, DocId, Operation, ParameterLocation};
use serde_json::Value;

/// String formats that pin a value down as tightly as a pattern: values
/// that passed validation against them cannot carry an injection.
const STRICT_FORMATS: &[&str] = &[
    "uuid",
    "date",
    "date-time",
    "time",
    "email",
    "ipv4",
    "ipv6",
    "int32",
    "int64",
    "float",
    "double",
    "duration",
    "hostname",
];

/// How deep `$ref`s and `allOf` are followed when finding a value's schema.
const MAX_SCHEMA_STEPS: usize = 32;

/// How many levels of nested schemas are compiled; values deeper than that
/// get no hints (every detector runs on them).
const MAX_COMPILED_DEPTH: usize = 64;

/// The hints of the JSON request bodies of an API's operations.
#[derive(Debug, Default)]
pub struct BodyHints {
    nodes: Vec<Node>,
    /// Each operation's body schema node, by operation index.
    roots: Vec<Option<usize>>,
}

/// One schema, its `$ref` followed.
#[derive(Debug, Default)]
struct Node {
    hints: Hints,
    /// Its `properties` (keys from the document: a fast hash is safe).
    properties: foldhash::HashMap<String, usize>,
    /// Its `items`.
    items: Option<usize>,
    /// Its `allOf` branches, in order.
    all_of: Vec<usize>,
}

impl BodyHints {
    /// Compiles the hints of the `application/json` bodies of every
    /// operation of `spec`.
    pub fn compile(spec: &ApiSpec) -> Self {
        let mut hints = Self::default();
        let mut seen = HashMap::new();
        for operation in &spec.operations {
            let schema = operation.request_body.as_ref().and_then(|body| {
                let schema = body
                    .value
                    .get("content")
                    .and_then(|c| c.get("application/json"))
                    .and_then(|m| m.get("schema"))?;
                Some((body.doc, schema))
            });
            let root = schema.map(|(doc, schema)| hints.node(spec, doc, schema, &mut seen, 0));
            hints.roots.push(root);
        }
        hints
    }

    /// The body schema node of operation `index`.
    pub fn root(&self, index: usize) -> Option<usize> {
        self.roots.get(index).copied().flatten()
    }

    /// The node of `schema` (in `doc`), compiled on first sight.
    fn node(
        &mut self,
        spec: &ApiSpec,
        doc: DocId,
        schema: &Value,
        seen: &mut HashMap<(DocId, *const Value), usize>,
        depth: usize,
    ) -> usize {
        let at = self.nodes.len();
        let Ok(target) = spec.resolve(doc, schema) else {
            self.nodes.push(Node::default());
            return at;
        };
        let (doc, s) = (target.doc, target.value);
        if let Some(&known) = seen.get(&(doc, std::ptr::from_ref(s))) {
            return known;
        }
        seen.insert((doc, std::ptr::from_ref(s)), at);
        self.nodes.push(Node {
            hints: hints_of_resolved(s),
            ..Node::default()
        });
        if depth >= MAX_COMPILED_DEPTH {
            return at;
        }
        let mut properties = foldhash::HashMap::default();
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            for (name, p) in props {
                properties.insert(name.clone(), self.node(spec, doc, p, seen, depth + 1));
            }
        }
        let items = s
            .get("items")
            .map(|items| self.node(spec, doc, items, seen, depth + 1));
        let all_of = s
            .get("allOf")
            .and_then(Value::as_array)
            .map(|branches| {
                branches
                    .iter()
                    .map(|b| self.node(spec, doc, b, seen, depth + 1))
                    .collect()
            })
            .unwrap_or_default();
        let node = &mut self.nodes[at];
        node.properties = properties;
        node.items = items;
        node.all_of = all_of;
        at
    }

    /// The node of `segment` (a property name, or an array index) inside
    /// node `at`: its own properties first, then its items for an index,
    /// then its `allOf` branches in order.
    fn child(&self, at: usize, segment: &str, steps: usize) -> Option<usize> {
        if steps > MAX_SCHEMA_STEPS {
            return None;
        }
        let node = self.nodes.get(at)?;
        if let Some(&p) = node.properties.get(segment) {
            return Some(p);
        }
        if segment.bytes().all(|b| b.is_ascii_digit())
            && let Some(items) = node.items
        {
            return Some(items);
        }
        node.all_of
            .iter()
            .find_map(|&branch| self.child(branch, segment, steps + 1))
    }
}

/// Hints from the operation's parameters and the API's compiled body
/// hints.
pub struct SchemaHints<'a> {
    /// The document.
    pub spec: &'a ApiSpec,
    /// The operation.
    pub operation: &'a Operation,
    /// The API's body hints and the operation's body schema node in them.
    pub body: Option<(&'a BodyHints, usize)>,
}

impl HintSource for SchemaHints<'_> {
    /// A node of the body hints.
    type At<'s>
        = usize
    where
        Self: 's;

    fn param(&self, part: &'static str, name: &str) -> Hints {
        let location = match part {
            "query" => ParameterLocation::Query,
            "header" => ParameterLocation::Header,
            "cookie" => ParameterLocation::Cookie,
            "path" => ParameterLocation::Path,
            _ => return Hints::default(),
        };
        let Some(p) = self.operation.parameters.iter().find(|p| {
            p.location == location
                && if location == ParameterLocation::Header {
                    p.name.eq_ignore_ascii_case(name)
                } else {
                    p.name == name
                }
        }) else {
            return Hints::default();
        };
        match &p.schema {
            Some(schema) => match self.spec.resolve(p.doc, schema) {
                Ok(target) => hints_of_resolved(target.value),
                Err(_) => Hints::default(),
            },
            None => Hints::default(),
        }
    }

    fn body_root(&self) -> Option<usize> {
        self.body.map(|(_, root)| root)
    }

    fn body_child(&self, at: usize, segment: &str) -> Option<usize> {
        self.body?.0.child(at, segment, 0)
    }

    fn body_hints(&self, at: usize) -> Hints {
        self.body
            .and_then(|(b, _)| b.nodes.get(at))
            .map(|n| n.hints.clone())
            .unwrap_or_default()
    }
}

/// The hints a schema (its `$ref` already followed) gives its value.
fn hints_of_resolved(s: &Value) -> Hints {
    let typ = s.get("type").and_then(Value::as_str);
    let format = s.get("format").and_then(Value::as_str);
    let constrained = s.get("enum").is_some()
        || s.get("const").is_some()
        || s.get("pattern").is_some()
        || format.is_some_and(|f| STRICT_FORMATS.contains(&f))
        || matches!(typ, Some("integer" | "number" | "boolean"));
    Hints {
        constrained,
        // Base64 (`format: byte`): its decoded text is inspected.
        base64: format == Some("byte"),
        max_length: s
            .get("maxLength")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r##"
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /notes:
    post:
      operationId: createNote
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Note"}
      responses: {"200": {description: ok}}
    put:
      operationId: replaceNote
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Note"}
      responses: {"200": {description: ok}}
components:
  schemas:
    Note:
      allOf:
        - {$ref: "#/components/schemas/Base"}
        - type: object
          properties:
            title: {type: string, maxLength: 40}
            body: {type: string}
            tags: {type: array, items: {type: string, enum: [a, b]}}
            reply: {$ref: "#/components/schemas/Note"}
    Base:
      type: object
      properties:
        id: {type: string, format: uuid}
        "0": {type: integer}
"##;

    fn spec() -> ApiSpec {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spec.yaml");
        std::fs::write(&path, SPEC).unwrap();
        moat_spec::load(&path).unwrap()
    }

    fn hints(pointer: &str) -> Hints {
        let spec = spec();
        let body = BodyHints::compile(&spec);
        SchemaHints {
            spec: &spec,
            operation: &spec.operations[0],
            body: body.root(0).map(|root| (&body, root)),
        }
        .body(pointer)
    }

    #[test]
    fn body_hints_follow_refs_all_of_items_and_recursion() {
        let free = Hints::default();
        let pinned = Hints {
            constrained: true,
            ..Hints::default()
        };
        assert_eq!(hints("/id"), pinned, "from the first allOf branch");
        assert_eq!(hints("/0"), pinned, "a property named like an index");
        assert_eq!(hints("/body"), free);
        assert_eq!(
            hints("/title"),
            Hints {
                max_length: Some(40),
                ..Hints::default()
            }
        );
        assert_eq!(hints("/tags/3"), pinned, "array items");
        assert_eq!(hints("/reply/reply/id"), pinned, "a recursive schema");
        assert_eq!(hints("/reply/nothing"), free, "an undocumented key");
        assert_eq!(hints("/body/0"), free, "below a string");
    }

    #[test]
    fn operations_sharing_a_schema_share_its_nodes() {
        let spec = spec();
        let body = BodyHints::compile(&spec);
        assert_eq!(spec.operations.len(), 2);
        assert!(body.root(0).is_some());
        assert_eq!(body.root(0), body.root(1));
        assert_eq!(body.root(2), None);
        // Note, its two allOf branches (Base, the inline object), Base's
        // two properties, the inline object's three (`reply` is Note
        // again) and the tags' items: each once.
        assert_eq!(body.nodes.len(), 9, "{body:#?}");
    }
}
