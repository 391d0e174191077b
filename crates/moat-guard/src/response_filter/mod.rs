//! Excessive data exposure protection: responses are cut down to what the
//! API's OpenAPI document says they carry, and secrets are masked.
//!
//! Each operation's response schemas are compiled once ([`compile_filters`])
//! into a small graph of object/array shapes (recursive schemas become
//! cycles). Filtering a body is then a walk of the JSON value along that
//! graph, with no access to the spec.
//!
//! Removal drops object properties the schema does not declare (unless
//! `additionalProperties` allows them) and properties marked `writeOnly`.
//! Masking replaces string values whose property name looks secret, or whose
//! value looks like a card number, a private key, a JWT, an AWS access key id
//! or a US SSN, unless the property's schema says `x-moat-sensitive: false`.
//!
//! A credential an operation issues to its caller must reach the caller: in
//! the success answers of an operation that issues credentials, properties
//! the schema declares with a credential's name (`access_token`,
//! `refresh_token`, `id_token`, `auth_token`, `session_token`, `token`,
//! `api_key`, `client_secret`…) are not masked. An operation issues
//! credentials when it says so (`x-moat-issues-credentials: true`), or when
//! it is a `POST` that needs no credentials (a login or token operation) and
//! does not say `x-moat-issues-credentials: false`. Passwords, private keys,
//! card numbers and the like are masked everywhere; so are credential names
//! in every other operation's answers, and undeclared ones.
//!
//! A value whose JSON type the schema does not allow (an object where it
//! says array) is a type mismatch: it is reported, and removed when
//! undeclared properties are; the walk never falls back to masking only
//! without saying so.

mod unchanged;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::LazyLock;

use base64::Engine;
use moat_request::json::push_pointer;
use moat_spec::{ApiSpec, DocId, Operation};
use serde_json::{Map, Value};

/// How deep schema composition and `$ref` chains are followed at compile
/// time; deeper parts are left unfiltered (masking still applies).
const MAX_SCHEMA_DEPTH: usize = 64;

/// The replacement for a masked value.
const MASK: &str = "****";

/// Endings of property names (lowercase, without `_` and `-`) whose values
/// are secrets: `password` also catches `dbPassword` and `db_password`.
/// Tokens are listed by kind, so pagination tokens (`nextPageToken`) stay.
const SECRET_SUFFIXES: &[&str] = &[
    "password",
    "passwd",
    "passwordhash",
    "passphrase",
    "secret",
    "apikey",
    "accesskey",
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "sessiontoken",
    "authtoken",
    "bearertoken",
    "privatekey",
    "ssn",
    "socialsecuritynumber",
    "cvv",
    "cvc",
];

/// Endings of property names (as for [`SECRET_SUFFIXES`]) of credentials an
/// operation may issue to its caller.
const CREDENTIAL_SUFFIXES: &[&str] = &[
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "sessiontoken",
    "authtoken",
    "bearertoken",
    "token",
    "apikey",
    "clientsecret",
];

/// The operation extension that says whether it issues credentials.
const ISSUES_CREDENTIALS: &str = "x-moat-issues-credentials";

/// What response filtering does.
#[derive(Debug, Clone)]
pub struct FilterOptions {
    /// Remove object properties the response schema does not declare, and
    /// properties it marks `writeOnly`.
    pub remove_undeclared: bool,
    /// Mask values that look secret, by property name or by shape.
    pub mask_sensitive: bool,
}

impl Default for FilterOptions {
    fn default() -> Self {
        Self {
            remove_undeclared: true,
            mask_sensitive: true,
        }
    }
}

/// What [`ResponseFilter::filter`] changed; JSON pointers into the original
/// body, never the values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterReport {
    /// Pointers of removed properties.
    pub removed: Vec<String>,
    /// Pointers of masked values.
    pub masked: Vec<String>,
    /// Pointers of values whose JSON type the schema does not allow
    /// (schema drift). Removed when undeclared properties are, except the
    /// whole answer (pointer `""`), which is left for the caller to refuse.
    pub mismatched: Vec<String>,
}

impl FilterReport {
    /// Whether nothing was removed, masked or found mismatched.
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.masked.is_empty() && self.mismatched.is_empty()
    }

    /// Whether the whole answer is of a type its schema does not allow.
    pub fn root_mismatched(&self) -> bool {
        self.mismatched.iter().any(String::is_empty)
    }
}

/// JSON types, as bits: what a schema's `type` allows.
mod json_type {
    pub const NULL: u8 = 1;
    pub const BOOLEAN: u8 = 2;
    pub const NUMBER: u8 = 4;
    pub const STRING: u8 = 8;
    pub const ARRAY: u8 = 16;
    pub const OBJECT: u8 = 32;
    pub const ANY: u8 = 63;

    /// The bit of a `type` name (`integer` is a number: JSON does not tell
    /// them apart).
    pub fn named(name: &str) -> u8 {
        match name {
            "null" => NULL,
            "boolean" => BOOLEAN,
            "number" | "integer" => NUMBER,
            "string" => STRING,
            "array" => ARRAY,
            "object" => OBJECT,
            _ => ANY,
        }
    }

    /// The bit of a value.
    pub fn of(value: &serde_json::Value) -> u8 {
        match value {
            serde_json::Value::Null => NULL,
            serde_json::Value::Bool(_) => BOOLEAN,
            serde_json::Value::Number(_) => NUMBER,
            serde_json::Value::String(_) => STRING,
            serde_json::Value::Array(_) => ARRAY,
            serde_json::Value::Object(_) => OBJECT,
        }
    }
}

type NodeId = usize;

/// The node that keeps everything (masking still applies).
const KEEP: NodeId = 0;

#[derive(Debug, Clone, Default)]
struct Node {
    /// `None`: any key is kept (free-form object, or no object schema).
    object: Option<ObjectRule>,
    /// The schema array elements are walked with; `None`: keep them.
    items: Option<NodeId>,
    /// The JSON types the schema allows ([`json_type`] bits); `None`: any
    /// (no `type`, or alternatives whose union is not worked out).
    types: Option<u8>,
}

#[derive(Debug, Clone)]
struct ObjectRule {
    /// Looked up for every property of every answer; the keys come from
    /// the document, so a fast hash is safe.
    props: foldhash::HashMap<String, Prop>,
    /// `None`: undeclared keys are removed; `Some(node)`: kept and walked
    /// with `node`.
    additional: Option<NodeId>,
}

#[derive(Debug, Clone)]
struct Prop {
    node: NodeId,
    write_only: bool,
    /// `x-moat-sensitive: false`.
    exempt: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusKey {
    Exact(u16),
    Range(u16),
    Default,
}

#[derive(Debug, Clone)]
struct DocumentedResponse {
    key: StatusKey,
    /// The JSON schema's root node, when the response has a JSON media type
    /// with a schema.
    json: Option<NodeId>,
    /// A success answer of an operation that issues credentials: declared
    /// credential properties are not masked.
    issues_credentials: bool,
}

/// One operation's response filter, compiled once.
#[derive(Debug, Clone)]
pub struct ResponseFilter {
    nodes: Vec<Node>,
    responses: Vec<DocumentedResponse>,
    options: FilterOptions,
}

/// Compiles one filter per operation of `spec`, in the same order as
/// [`ApiSpec::operations`]. Never fails: a schema that cannot be resolved is
/// left unfiltered (masking still applies).
pub fn compile_filters(spec: &ApiSpec, opts: &FilterOptions) -> Vec<ResponseFilter> {
    spec.operations
        .iter()
        .map(|op| compile_operation(spec, op, opts))
        .collect()
}

fn compile_operation(spec: &ApiSpec, op: &Operation, opts: &FilterOptions) -> ResponseFilter {
    let mut compiler = Compiler {
        spec,
        nodes: vec![Node::default()],
        memo: HashMap::new(),
    };
    let issues = spec
        .value_at(op.doc, &op.pointer)
        .and_then(|v| v.get(ISSUES_CREDENTIALS))
        .and_then(Value::as_bool)
        .unwrap_or_else(|| op.method == moat_spec::Method::Post && op.policy.allows_anonymous());
    let mut responses = Vec::new();
    if let Some(map) = op.responses.as_object() {
        let base = format!("{}/responses", op.pointer);
        for (code, response) in map {
            let Some(key) = parse_status_key(code) else {
                continue;
            };
            let pointer = format!("{base}/{}", escape(code));
            let json = compiler.response_schema(op.doc, pointer, response);
            let success = match key {
                StatusKey::Exact(code) => (200..300).contains(&code),
                StatusKey::Range(class) => class == 2,
                StatusKey::Default => false,
            };
            responses.push(DocumentedResponse {
                key,
                json,
                issues_credentials: issues && success,
            });
        }
    }
    ResponseFilter {
        nodes: compiler.nodes,
        responses,
        options: opts.clone(),
    }
}

fn parse_status_key(key: &str) -> Option<StatusKey> {
    if key == "default" {
        return Some(StatusKey::Default);
    }
    let bytes = key.as_bytes();
    if bytes.len() != 3 {
        return None;
    }
    if bytes[1..].iter().all(|b| b.eq_ignore_ascii_case(&b'x')) && (b'1'..=b'5').contains(&bytes[0])
    {
        return Some(StatusKey::Range(u16::from(bytes[0] - b'0')));
    }
    key.parse::<u16>()
        .ok()
        .filter(|c| (100..=599).contains(c))
        .map(StatusKey::Exact)
}

/// Whether a media type (a `content` key or a `Content-Type` value) is JSON:
/// `application/json` or any `…/…+json`, parameters ignored.
fn is_json_media(media: &str) -> bool {
    let essence = media.split(';').next().unwrap_or("").trim().as_bytes();
    let suffix = essence.len().checked_sub(5).map(|at| &essence[at..]);
    essence.eq_ignore_ascii_case(b"application/json")
        || (essence.contains(&b'/') && suffix.is_some_and(|s| s.eq_ignore_ascii_case(b"+json")))
}

fn escape(token: &str) -> String {
    let mut out = String::with_capacity(token.len() + 1);
    push_pointer(&mut out, token);
    out.split_off(1)
}

/// A schema with where it is, after `$ref`s are followed.
#[derive(Clone)]
struct Source<'a> {
    doc: DocId,
    pointer: String,
    value: &'a Value,
}

struct Compiler<'a> {
    spec: &'a ApiSpec,
    nodes: Vec<Node>,
    memo: HashMap<Vec<(DocId, String)>, NodeId>,
}

/// The schemas one node is made of, with composition flattened.
#[derive(Default)]
struct Parts<'a> {
    all: Vec<Source<'a>>,
    /// An `oneOf`/`anyOf` branch is a free-form object: keep everything.
    open: bool,
    /// Some part is an `oneOf`/`anyOf` branch: the types allowed are not
    /// worked out (any is accepted).
    alternatives: bool,
}

impl<'a> Compiler<'a> {
    fn follow(&self, doc: DocId, pointer: String, value: &'a Value) -> Option<Source<'a>> {
        if value.get("$ref").is_none() {
            return Some(Source {
                doc,
                pointer,
                value,
            });
        }
        let target = self.spec.resolve(doc, value).ok()?;
        Some(Source {
            doc: target.doc,
            pointer: target.pointer.unwrap_or(pointer),
            value: target.value,
        })
    }

    fn response_schema(
        &mut self,
        doc: DocId,
        pointer: String,
        response: &'a Value,
    ) -> Option<NodeId> {
        let response = self.follow(doc, pointer, response)?;
        let content = response.value.get("content")?.as_object()?;
        let (media, object) = content
            .iter()
            .filter(|(media, object)| is_json_media(media) && object.get("schema").is_some())
            .min_by_key(|(media, _)| !media.eq_ignore_ascii_case("application/json"))?;
        let schema = object.get("schema")?;
        let pointer = format!("{}/content/{}/schema", response.pointer, escape(media));
        let Some(source) = self.follow(response.doc, pointer, schema) else {
            return Some(KEEP);
        };
        Some(self.compile(vec![source], 0))
    }

    /// Compiles the union of `sources` (already `$ref`-resolved).
    fn compile(&mut self, sources: Vec<Source<'a>>, depth: usize) -> NodeId {
        if depth > MAX_SCHEMA_DEPTH || sources.is_empty() {
            return KEEP;
        }
        let mut key: Vec<(DocId, String)> =
            sources.iter().map(|s| (s.doc, s.pointer.clone())).collect();
        key.sort();
        key.dedup();
        if let Some(&id) = self.memo.get(&key) {
            return id;
        }
        let id = self.nodes.len();
        self.nodes.push(Node::default());
        self.memo.insert(key, id);

        let mut parts = Parts::default();
        for source in sources {
            if !self.flatten(source, false, depth, &mut parts) {
                // Something could not be resolved: leave it unfiltered.
                return id;
            }
        }
        let node = self.build(parts, depth);
        self.nodes[id] = node;
        id
    }

    /// Adds `source` and its `allOf`/`oneOf`/`anyOf` branches to `parts`;
    /// false when a reference cannot be resolved.
    fn flatten(
        &self,
        source: Source<'a>,
        alternative: bool,
        depth: usize,
        parts: &mut Parts<'a>,
    ) -> bool {
        if depth > MAX_SCHEMA_DEPTH {
            return false;
        }
        let value = source.value;
        if alternative && is_free_form_object(value) {
            parts.open = true;
        }
        parts.alternatives |= alternative;
        for keyword in ["allOf", "oneOf", "anyOf"] {
            let Some(branches) = value.get(keyword).and_then(Value::as_array) else {
                continue;
            };
            for (i, branch) in branches.iter().enumerate() {
                let pointer = format!("{}/{keyword}/{i}", source.pointer);
                let Some(branch) = self.follow(source.doc, pointer, branch) else {
                    return false;
                };
                let alt = alternative || keyword != "allOf";
                if !self.flatten(branch, alt, depth + 1, parts) {
                    return false;
                }
            }
        }
        parts.all.push(source);
        true
    }

    fn build(&mut self, parts: Parts<'a>, depth: usize) -> Node {
        let mut props: Vec<(String, Vec<Source<'a>>, bool, bool)> = Vec::new();
        let mut declares = false;
        let mut additional: Vec<Source<'a>> = Vec::new();
        let mut additional_open = false;
        let mut closed_map = false;
        let mut items: Vec<Source<'a>> = Vec::new();
        let mut unresolved = false;

        for part in &parts.all {
            if let Some(properties) = part.value.get("properties").and_then(Value::as_object) {
                declares = true;
                for (name, schema) in properties {
                    let pointer = format!("{}/properties/{}", part.pointer, escape(name));
                    let write_only = flag(schema, "writeOnly");
                    let exempt = schema.get("x-moat-sensitive") == Some(&Value::Bool(false));
                    let Some(resolved) = self.follow(part.doc, pointer, schema) else {
                        unresolved = true;
                        continue;
                    };
                    let write_only = write_only || flag(resolved.value, "writeOnly");
                    let exempt = exempt
                        || resolved.value.get("x-moat-sensitive") == Some(&Value::Bool(false));
                    match props.iter_mut().find(|(n, ..)| n == name) {
                        Some(entry) => {
                            entry.1.push(resolved);
                            entry.2 |= write_only;
                            entry.3 |= exempt;
                        }
                        None => props.push((name.clone(), vec![resolved], write_only, exempt)),
                    }
                }
            }
            match part.value.get("additionalProperties") {
                Some(Value::Bool(true)) => additional_open = true,
                Some(Value::Bool(false)) => closed_map = true,
                Some(schema @ Value::Object(_)) => {
                    let pointer = format!("{}/additionalProperties", part.pointer);
                    match self.follow(part.doc, pointer, schema) {
                        Some(resolved) => additional.push(resolved),
                        None => additional_open = true,
                    }
                }
                _ => {}
            }
            if let Some(schema @ Value::Object(_)) = part.value.get("items") {
                let pointer = format!("{}/items", part.pointer);
                match self.follow(part.doc, pointer, schema) {
                    Some(resolved) => items.push(resolved),
                    None => unresolved = true,
                }
            }
        }

        let items = if items.is_empty() || unresolved {
            None
        } else {
            Some(self.compile(items, depth + 1))
        };
        let types = if parts.alternatives || unresolved {
            None
        } else {
            allowed_types(&parts.all)
        };
        let restricts = declares || closed_map || !additional.is_empty();
        let object = if parts.open || unresolved || !restricts {
            None
        } else {
            let additional = if additional_open {
                Some(KEEP)
            } else if additional.is_empty() {
                None
            } else {
                Some(self.compile(additional, depth + 1))
            };
            let mut compiled = foldhash::HashMap::default();
            for (name, sources, write_only, exempt) in props {
                let node = self.compile(sources, depth + 1);
                compiled.insert(
                    name,
                    Prop {
                        node,
                        write_only,
                        exempt,
                    },
                );
            }
            Some(ObjectRule {
                props: compiled,
                additional,
            })
        };
        Node {
            object,
            items,
            types,
        }
    }
}

/// The JSON types every one of `parts` allows (`allOf`: all must hold), or
/// `None` when none says. `null` is always allowed: it carries no data,
/// and many documents leave out `nullable: true`.
fn allowed_types(parts: &[Source<'_>]) -> Option<u8> {
    let mut allowed: Option<u8> = None;
    for part in parts {
        let bits = match part.value.get("type") {
            Some(Value::String(t)) => json_type::named(t),
            Some(Value::Array(types)) => types
                .iter()
                .map(|t| t.as_str().map_or(json_type::ANY, json_type::named))
                .fold(0, |a, b| a | b),
            _ => continue,
        };
        allowed = Some(allowed.unwrap_or(json_type::ANY) & (bits | json_type::NULL));
    }
    allowed.filter(|&t| t != json_type::ANY)
}

fn flag(schema: &Value, name: &str) -> bool {
    schema.get(name) == Some(&Value::Bool(true))
}

/// An object schema that constrains no keys: `{type: object}`.
fn is_free_form_object(schema: &Value) -> bool {
    let is_object = match schema.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
        _ => false,
    };
    is_object
        && schema.get("properties").is_none()
        && schema.get("additionalProperties").is_none()
        && ["allOf", "oneOf", "anyOf", "$ref"]
            .iter()
            .all(|k| schema.get(k).is_none())
}

#[derive(Clone, Copy, Default)]
struct Context {
    secret_name: bool,
    exempt: bool,
    /// Within a success answer of an operation that issues credentials.
    issuing: bool,
}

/// What becomes of one property: the node its value is walked with,
/// whether it is exempt from masking, and whether it is kept at all.
struct Step {
    node: NodeId,
    exempt: bool,
    keep: bool,
}

impl ResponseFilter {
    fn response(&self, status: u16) -> Option<&DocumentedResponse> {
        let exact = self
            .responses
            .iter()
            .find(|r| r.key == StatusKey::Exact(status));
        exact
            .or_else(|| {
                self.responses
                    .iter()
                    .find(|r| r.key == StatusKey::Range(status / 100))
            })
            .or_else(|| self.responses.iter().find(|r| r.key == StatusKey::Default))
    }

    /// Whether a response with this status and content type has a documented
    /// JSON schema worth reading the body for.
    pub fn wants_body(&self, status: u16, content_type: Option<&str>) -> bool {
        if !self.options.remove_undeclared && !self.options.mask_sensitive {
            return false;
        }
        let Some(content_type) = content_type else {
            return false;
        };
        is_json_media(content_type) && self.response(status).is_some_and(|r| r.json.is_some())
    }

    /// Whether `status` is documented for the operation (exact code,
    /// `4XX`-style range, or `default`).
    pub fn documents_status(&self, status: u16) -> bool {
        self.response(status).is_some()
    }

    /// Filters a JSON body: returns None when nothing changed, Some(new
    /// bytes, report) otherwise. Invalid JSON → None.
    pub fn filter(&self, status: u16, body: &[u8]) -> Option<(Vec<u8>, FilterReport)> {
        if self.unchanged(status, body)? {
            return None;
        }
        let mut value: Value = serde_json::from_slice(body).ok()?;
        let report = self.filter_value(status, &mut value);
        if report.is_empty() {
            return None;
        }
        let bytes = serde_json::to_vec(&value).ok()?;
        Some((bytes, report))
    }

    /// Whether filtering would leave the JSON `body` as it is, read without
    /// building it (the common answer, so it costs no allocation but for
    /// escaped strings); `None` when it is not JSON.
    pub fn unchanged(&self, status: u16, body: &[u8]) -> Option<bool> {
        let (root, ctx) = self.root(status);
        unchanged::check(self, root, ctx, body)
    }

    /// The root node of the answer with `status`, and the context its
    /// walk starts in.
    fn root(&self, status: u16) -> (NodeId, Context) {
        let response = self.response(status);
        let ctx = Context {
            issuing: response.is_some_and(|r| r.issues_credentials),
            ..Context::default()
        };
        (response.and_then(|r| r.json).unwrap_or(KEEP), ctx)
    }

    /// Whether node `node` allows a value of JSON type `bit`.
    fn fits(&self, node: NodeId, bit: u8) -> bool {
        self.node(node).types.is_none_or(|t| t & bit != 0)
    }

    /// Filters a parsed JSON answer in place (for a gateway that parses the
    /// answer once for every control that reads it); the report says what
    /// changed.
    pub fn filter_value(&self, status: u16, value: &mut Value) -> FilterReport {
        let (root, ctx) = self.root(status);
        let mut report = FilterReport::default();
        let mut pointer = String::new();
        // A mismatched root cannot be removed: the report says so.
        let _ = self.walk(value, root, &mut pointer, ctx, &mut report);
        report
    }

    fn node(&self, id: NodeId) -> &Node {
        // Ids are only ever made by the compiler that filled `nodes`.
        static EMPTY: Node = Node {
            object: None,
            items: None,
            types: None,
        };
        self.nodes.get(id).unwrap_or(&EMPTY)
    }

    /// What becomes of property `key` of an object walked with `rule` in
    /// context `ctx`.
    fn property(&self, rule: Option<&ObjectRule>, key: &str, ctx: Context) -> Step {
        let remove = self.options.remove_undeclared;
        let (node, exempt, keep) = match rule {
            None => (KEEP, false, true),
            Some(rule) => match rule.props.get(key) {
                Some(prop) => (
                    prop.node,
                    prop.exempt || (ctx.issuing && is_credential_name(key)),
                    !(remove && prop.write_only),
                ),
                None => match rule.additional {
                    Some(extra) => (extra, false, true),
                    None => (KEEP, false, !remove),
                },
            },
        };
        Step { node, exempt, keep }
    }

    /// The masked form of string `s`, when masking changes it.
    fn masked(&self, s: &str, ctx: Context) -> Option<String> {
        if !self.options.mask_sensitive || ctx.exempt {
            return None;
        }
        mask_string(s, ctx.secret_name).filter(|masked| masked != s)
    }

    /// Walks `value` with `node`; `true` when the value must be removed
    /// (its type is not one the schema allows, and undeclared values are
    /// removed), which its parent does.
    fn walk(
        &self,
        value: &mut Value,
        node: NodeId,
        pointer: &mut String,
        ctx: Context,
        report: &mut FilterReport,
    ) -> bool {
        let node = if self.fits(node, json_type::of(value)) {
            node
        } else {
            report.mismatched.push(pointer.clone());
            if self.options.remove_undeclared && !pointer.is_empty() {
                return true;
            }
            // Kept: whatever it holds is masked, nothing else is known.
            KEEP
        };
        match value {
            Value::String(s) => {
                if let Some(masked) = self.masked(s, ctx) {
                    *s = masked;
                    report.masked.push(pointer.clone());
                }
            }
            Value::Array(elements) => {
                let items = self.node(node).items.unwrap_or(KEEP);
                let mut dropped: Vec<usize> = Vec::new();
                for (i, element) in elements.iter_mut().enumerate() {
                    let len = pointer.len();
                    let _ = write!(pointer, "/{i}");
                    if self.walk(element, items, pointer, ctx, report) {
                        dropped.push(i);
                    }
                    pointer.truncate(len);
                }
                for i in dropped.into_iter().rev() {
                    elements.remove(i);
                }
            }
            Value::Object(map) => self.walk_object(map, node, pointer, ctx, report),
            _ => {}
        }
        false
    }

    fn walk_object(
        &self,
        map: &mut Map<String, Value>,
        node: NodeId,
        pointer: &mut String,
        outer: Context,
        report: &mut FilterReport,
    ) {
        let rule = self.node(node).object.as_ref();
        // One pass that changes values in place; the keys to drop (rare)
        // are removed after it, keeping the others' order.
        let mut dropped: Vec<String> = Vec::new();
        for (key, value) in map.iter_mut() {
            let len = pointer.len();
            push_pointer(pointer, key);
            let step = self.property(rule, key, outer);
            if step.keep {
                // Only strings are masked for their name (an array's
                // strings included).
                let stringy = matches!(value, Value::String(_) | Value::Array(_));
                let ctx = Context {
                    secret_name: stringy && is_secret_name(key),
                    exempt: step.exempt,
                    issuing: outer.issuing,
                };
                if self.walk(value, step.node, pointer, ctx, report) {
                    dropped.push(key.clone());
                }
            } else {
                report.removed.push(pointer.clone());
                dropped.push(key.clone());
            }
            pointer.truncate(len);
        }
        if !dropped.is_empty() {
            map.retain(|key, _| !dropped.contains(key));
        }
    }
}

/// Whether a property name looks like it holds a secret: it ends with one
/// of [`SECRET_SUFFIXES`], ignoring case, `_` and `-` (no allocation: this
/// runs for every property of every filtered response).
fn is_secret_name(name: &str) -> bool {
    ends_with_any(name, SECRET_SUFFIXES)
}

/// Whether a property name is that of a credential an operation may issue
/// (one of [`CREDENTIAL_SUFFIXES`], as for [`is_secret_name`]).
fn is_credential_name(name: &str) -> bool {
    ends_with_any(name, CREDENTIAL_SUFFIXES)
}

/// Whether `name`, lower-cased and without `_` and `-`, ends with one of
/// `suffixes`.
fn ends_with_any(name: &str, suffixes: &[&str]) -> bool {
    if name.len() > 64 {
        return false;
    }
    suffixes.iter().any(|suffix| {
        let mut letters = name
            .bytes()
            .rev()
            .filter(|b| *b != b'_' && *b != b'-')
            .map(|b| b.to_ascii_lowercase());
        suffix.bytes().rev().all(|s| letters.next() == Some(s))
    })
}

/// The masked form of `value`, when it must be masked.
fn mask_string(value: &str, secret_name: bool) -> Option<String> {
    if secret_name {
        return Some(MASK.to_owned());
    }
    // The shape checks below read the value without surrounding spaces.
    let trimmed = value.trim();
    if let Some(digits) = card_digits(trimmed) {
        let keep = digits.len().saturating_sub(4);
        let mut masked = "*".repeat(keep);
        masked.push_str(&digits[keep..]);
        return Some(masked);
    }
    if is_pem_private_key(value) || is_jwt(trimmed) || is_aws_key_id(trimmed) || is_ssn(trimmed) {
        return Some(MASK.to_owned());
    }
    None
}

/// The digits of a payment card number (`value` trimmed): 13–19 digits,
/// spaces and dashes allowed between them, Luhn valid.
fn card_digits(value: &str) -> Option<String> {
    if value.len() > 40 || !value.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    // Most values that start with a digit (dates, amounts, ids) are not
    // card numbers: decided before anything is allocated.
    let mut count = 0;
    for b in value.bytes() {
        match b {
            b'0'..=b'9' => count += 1,
            b' ' | b'-' => {}
            _ => return None,
        }
    }
    if !(13..=19).contains(&count) {
        return None;
    }
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10).then_some(digits)
}

/// `-----BEGIN … PRIVATE KEY-----` anywhere in the value.
fn is_pem_private_key(value: &str) -> bool {
    const BEGIN: &str = "-----BEGIN ";
    // Built once: a searcher costs more to set up than to run on most
    // values.
    static FINDER: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(BEGIN));
    // `-----BEGIN PRIVATE KEY-----` is the shortest.
    if value.len() < BEGIN.len() + "PRIVATE KEY-----".len() {
        return false;
    }
    let mut rest = value;
    while let Some(start) = FINDER.find(rest.as_bytes()) {
        rest = &rest[start + BEGIN.len()..];
        if let Some(end) = rest.find("-----") {
            let label = &rest[..end];
            if label.len() <= 64 && !label.contains('\n') && label.ends_with("PRIVATE KEY") {
                return true;
            }
        }
    }
    false
}

/// Three base64url parts, the first decoding to a JSON object with `alg`
/// (`value` trimmed).
fn is_jwt(value: &str) -> bool {
    // Two dots exactly, found in one pass before anything is split.
    if memchr::memchr_iter(b'.', value.as_bytes()).take(3).count() != 2 {
        return false;
    }
    let mut parts = value.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let b64url = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
    };
    if header.is_empty()
        || payload.is_empty()
        || !b64url(header)
        || !b64url(payload)
        || !b64url(signature)
    {
        return false;
    }
    let Ok(decoded) =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header.trim_end_matches('='))
    else {
        return false;
    };
    serde_json::from_slice::<Value>(&decoded)
        .ok()
        .is_some_and(|h| h.get("alg").is_some())
}

/// `AKIA` followed by 16 uppercase letters or digits (`value` trimmed).
fn is_aws_key_id(value: &str) -> bool {
    value.len() == 20
        && value.starts_with("AKIA")
        && value
            .bytes()
            .skip(4)
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// `ddd-dd-dddd`.
fn is_ssn(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() == 11
        && bytes.iter().enumerate().all(|(i, b)| match i {
            3 | 6 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detectors() {
        assert!(card_digits("4111 1111 1111 1111").is_some());
        assert!(card_digits("4111-1111-1111-1112").is_none());
        assert!(card_digits("123").is_none());
        assert!(is_pem_private_key("-----BEGIN RSA PRIVATE KEY-----\nabc"));
        assert!(is_pem_private_key("-----BEGIN PRIVATE KEY-----"));
        assert!(!is_pem_private_key("-----BEGIN PRIVATE KEY----"));
        assert!(!is_pem_private_key("-----BEGIN CERTIFICATE-----\nabc"));
        assert!(is_aws_key_id("AKIAIOSFODNN7EXAMPLE"));
        assert!(!is_aws_key_id("AKIAIOSFODNN7EXAMPL"));
        assert!(is_ssn("123-45-6789"));
        assert!(!is_ssn("123-456-789"));
        for secret in [
            "Password_Hash",
            "password",
            "db_password",
            "dbPassword",
            "DB-PASSWORD",
            "client_secret",
            "webhookSecret",
            "stripe_api_key",
            "aws_secret_access_key",
            "id_token",
            "sessionToken",
            "user_ssn",
            "card_cvv",
        ] {
            assert!(is_secret_name(secret), "{secret}");
        }
        for plain in [
            "name",
            "nextPageToken",
            "tokenType",
            "passwordUpdatedAtX",
            "secretQuestionId",
            "business",
            "",
            "_-_",
        ] {
            assert!(!is_secret_name(plain), "{plain}");
        }
        for credential in [
            "access_token",
            "auth_token",
            "refreshToken",
            "token",
            "client_secret",
        ] {
            assert!(is_credential_name(credential), "{credential}");
        }
        for other in [
            "password",
            "private_key",
            "webhookSecret",
            "card_cvv",
            "tokenType",
        ] {
            assert!(!is_credential_name(other), "{other}");
        }
        assert_eq!(parse_status_key("2xx"), Some(StatusKey::Range(2)));
        assert_eq!(parse_status_key("404"), Some(StatusKey::Exact(404)));
        assert!(is_json_media("application/problem+json; charset=utf-8"));
        assert!(!is_json_media("text/plain"));
        assert!(is_json_media(" Application/JSON "));
        assert!(is_json_media("application/vnd.api+JSON;x=1"));
        assert!(!is_json_media("+json"));
        assert!(!is_json_media("json"));
        assert!(!is_json_media("application/jsonx"));
    }
}
