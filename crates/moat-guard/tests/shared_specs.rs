//! Every operation of every public spec in `../shared/specs/`: a request
//! generated from the operation's documented parameters and body must pass,
//! and each mutation of it (a required parameter removed, a typed parameter
//! given a wrong value, an undeclared body property, a required body property
//! removed, a body property of the wrong type) must be refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use http::{HeaderMap, HeaderName, HeaderValue};
use moat_guard::validate::{
    MediaPlan, OperationValidator, ValidationOptions, Violations, compile_spec,
};
use moat_spec::{ApiSpec, DocId, Operation, ParameterLocation};
use serde_json::{Map, Value, json};

const SPECS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/specs/");

/// How deep the generator follows `$ref`s and nesting.
const MAX_DEPTH: usize = 24;

/// The property name no spec declares.
const UNDECLARED: &str = "zzUndeclaredProperty";

// ---------------------------------------------------------------------------
// Generating valid instances from schemas.

/// A minimal string matching a regex of the usual spec subset: literals,
/// escapes, classes, groups with alternatives (the first is taken), and
/// quantifiers (their minimum, at least one for `+`).
fn from_pattern(pattern: &str) -> String {
    fn one(chars: &[char], i: &mut usize) -> Vec<String> {
        // Returns the alternatives-resolved text of one atom.
        let c = chars[*i];
        *i += 1;
        match c {
            '\\' => {
                let e = chars[*i];
                *i += 1;
                vec![
                    match e {
                        'd' => "0",
                        'w' => "a",
                        's' => " ",
                        _ => return vec![e.to_string()],
                    }
                    .to_string(),
                ]
            }
            '[' => {
                let negated = chars.get(*i) == Some(&'^');
                if negated {
                    *i += 1;
                }
                let first = chars[*i];
                let first = if first == '\\' {
                    *i += 1;
                    match chars[*i] {
                        'd' => '0',
                        'w' => 'a',
                        other => other,
                    }
                } else {
                    first
                };
                while chars[*i] != ']' {
                    if chars[*i] == '\\' {
                        *i += 1;
                    }
                    *i += 1;
                }
                *i += 1;
                vec![if negated {
                    "a".to_string()
                } else {
                    first.to_string()
                }]
            }
            '(' => {
                if chars.get(*i) == Some(&'?') && chars.get(*i + 1) == Some(&':') {
                    *i += 2;
                }
                let mut first = String::new();
                let mut taking = true;
                let mut depth = 0;
                while *i < chars.len() {
                    match chars[*i] {
                        ')' if depth == 0 => break,
                        '|' if depth == 0 => {
                            taking = false;
                            *i += 1;
                            continue;
                        }
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    if taking {
                        let text: String = one(chars, i).concat();
                        first.push_str(&text);
                        first.push_str(&quantified(chars, i, &text));
                    } else {
                        *i += 1;
                    }
                }
                *i += 1;
                vec![first]
            }
            '.' => vec!["a".to_string()],
            other => vec![other.to_string()],
        }
    }
    /// Extra repetitions the quantifier after an atom asks for (the atom
    /// itself was emitted once already); an optional atom is kept.
    fn quantified(chars: &[char], i: &mut usize, atom: &str) -> String {
        match chars.get(*i) {
            Some('{') => {
                let end = (*i..chars.len()).find(|&j| chars[j] == '}').unwrap();
                let inner: String = chars[*i + 1..end].iter().collect();
                *i = end + 1;
                let min: usize = inner.split(',').next().unwrap().trim().parse().unwrap();
                atom.repeat(min.max(1) - 1)
            }
            Some('+' | '*' | '?') => {
                *i += 1;
                String::new()
            }
            _ => String::new(),
        }
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '^' || chars[i] == '$' {
            i += 1;
            continue;
        }
        let text = one(&chars, &mut i).concat();
        out.push_str(&text);
        out.push_str(&quantified(&chars, &mut i, &text));
    }
    out
}

/// What an object schema amounts to through `$ref`s and `allOf` (and the
/// chosen `oneOf`/`anyOf` branch).
#[derive(Default)]
struct ObjectView<'a> {
    properties: Vec<(String, DocId, &'a Value)>,
    required: Vec<String>,
    /// The root's `additionalProperties`, if it says.
    additional: Option<&'a Value>,
    /// The discriminator property and the chosen variant's value.
    discriminator: Option<(String, String)>,
    /// Whether some part says `type: object` or declares properties.
    is_object: bool,
}

struct Gen<'a> {
    spec: &'a ApiSpec,
}

impl<'a> Gen<'a> {
    fn resolve(&self, doc: DocId, v: &'a Value) -> (DocId, &'a Value) {
        let t = self.spec.resolve(doc, v).unwrap();
        (t.doc, t.value)
    }

    fn first_type(schema: &Value) -> Option<&str> {
        match schema.get("type")? {
            Value::String(t) => Some(t),
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null"),
            _ => None,
        }
    }

    /// The `type` of a schema, through `$ref` and combinators.
    fn type_of(&self, doc: DocId, v: &'a Value, depth: usize) -> Option<&'a str> {
        assert!(depth < MAX_DEPTH, "schema nesting too deep");
        let (doc, v) = self.resolve(doc, v);
        if let Some(t) = Self::first_type(v) {
            return Some(t);
        }
        if v.get("properties").is_some() {
            return Some("object");
        }
        ["allOf", "oneOf", "anyOf"].iter().find_map(|k| {
            v.get(*k)?
                .as_array()?
                .iter()
                .find_map(|b| self.type_of(doc, b, depth + 1))
        })
    }

    fn read_only(&self, doc: DocId, v: &'a Value) -> bool {
        let (_, v) = self.resolve(doc, v);
        v.get("readOnly") == Some(&Value::Bool(true))
    }

    /// The variant a `discriminator` + `oneOf`/`anyOf` picks first: its
    /// value and schema reference.
    fn variant(&self, v: &'a Value) -> Option<(String, String, String)> {
        let disc = v.get("discriminator")?;
        let property = disc.get("propertyName")?.as_str()?.to_string();
        if let Some((value, target)) = disc
            .get("mapping")
            .and_then(Value::as_object)
            .and_then(|m| m.iter().next())
        {
            let target = target.as_str().unwrap();
            let reference = if target.contains('/') {
                target.to_string()
            } else {
                format!("#/components/schemas/{target}")
            };
            return Some((property, value.clone(), reference));
        }
        let branches = v.get("oneOf").or_else(|| v.get("anyOf"))?.as_array()?;
        let reference = branches.iter().find_map(|b| b.get("$ref")?.as_str())?;
        let name = reference.rsplit('/').next().unwrap().to_string();
        Some((property, name, reference.to_string()))
    }

    fn view(&self, doc: DocId, v: &'a Value, out: &mut ObjectView<'a>, depth: usize) {
        assert!(depth < MAX_DEPTH, "schema nesting too deep");
        let (doc, v) = self.resolve(doc, v);
        if Self::first_type(v) == Some("object") {
            out.is_object = true;
        }
        if let Some(Value::Object(props)) = v.get("properties") {
            out.is_object = true;
            for (name, p) in props {
                if !out.properties.iter().any(|(n, _, _)| n == name) {
                    out.properties.push((name.clone(), doc, p));
                }
            }
        }
        if let Some(Value::Array(req)) = v.get("required") {
            for r in req.iter().filter_map(Value::as_str) {
                if !out.required.iter().any(|x| x == r) {
                    out.required.push(r.to_string());
                }
            }
        }
        if depth == 0 {
            out.additional = v.get("additionalProperties");
        }
        if let Some(Value::Array(all)) = v.get("allOf") {
            for b in all {
                self.view(doc, b, out, depth + 1);
            }
        }
        if let Some((property, value, reference)) = self.variant(v) {
            let target = self.spec.resolve_ref(doc, &reference).unwrap();
            out.discriminator = Some((property, value));
            self.view(target.doc, target.value, out, depth + 1);
        } else if let Some(first) = ["oneOf", "anyOf"]
            .iter()
            .find_map(|k| v.get(*k)?.as_array()?.first())
        {
            self.view(doc, first, out, depth + 1);
        }
    }

    fn object_view(&self, doc: DocId, v: &'a Value) -> ObjectView<'a> {
        let mut view = ObjectView::default();
        self.view(doc, v, &mut view, 0);
        view
    }

    /// A minimal valid instance of the schema `v` (in document `doc`).
    fn instance(&self, doc: DocId, v: &'a Value, depth: usize) -> Value {
        self.instance_of(doc, v, depth, false)
    }

    /// A valid instance of the schema `v`: minimal, or with `full`, with
    /// every declared writable property of objects (down to a few levels).
    fn instance_of(&self, doc: DocId, v: &'a Value, depth: usize, full: bool) -> Value {
        assert!(depth < MAX_DEPTH, "schema nesting too deep");
        let (doc, v) = self.resolve(doc, v);
        if let Some(Value::Array(values)) = v.get("enum") {
            return values
                .iter()
                .find(|x| !x.is_null())
                .cloned()
                .expect("enum with a non-null value");
        }
        if let Some(c) = v.get("const") {
            return c.clone();
        }
        if let Some(d) = v.get("default") {
            // A documented default is valid by definition.
            return d.clone();
        }
        let Some(t) = self.type_of(doc, v, 0) else {
            return json!("x");
        };
        if Self::first_type(v).is_none() && t != "object" {
            // Typed only through a combinator: the first branch that is.
            let branch = ["allOf", "oneOf", "anyOf"]
                .iter()
                .filter_map(|k| v.get(*k)?.as_array())
                .flatten()
                .find(|b| self.type_of(doc, b, 0).is_some())
                .unwrap();
            return self.instance_of(doc, branch, depth + 1, full);
        }
        match t {
            "object" => {
                let view = self.object_view(doc, v);
                let mut obj = Map::new();
                let mut names = view.required.clone();
                if full && depth < 3 {
                    for (n, _, _) in &view.properties {
                        if !names.contains(n) {
                            names.push(n.clone());
                        }
                    }
                }
                for name in &names {
                    match view.properties.iter().find(|(n, _, _)| n == name) {
                        Some((_, d, p)) if !self.read_only(*d, p) => {
                            obj.insert(name.clone(), self.instance_of(*d, p, depth + 1, full));
                        }
                        Some(_) => {}
                        None => {
                            obj.insert(name.clone(), json!("x"));
                        }
                    }
                }
                if let Some((p, value)) = view.discriminator {
                    obj.insert(p, Value::String(value));
                }
                Value::Object(obj)
            }
            "array" => {
                let min = v.get("minItems").and_then(Value::as_u64).unwrap_or(1);
                let item = v
                    .get("items")
                    .map_or(json!("x"), |i| self.instance_of(doc, i, depth + 1, full));
                Value::Array(vec![item; usize::try_from(min.max(1)).unwrap()])
            }
            "integer" | "number" => {
                let mut n = v.get("minimum").and_then(Value::as_i64).unwrap_or(1);
                if let Some(Value::Number(x)) = v.get("exclusiveMinimum") {
                    n = x.as_i64().unwrap() + 1;
                } else if v.get("exclusiveMinimum") == Some(&Value::Bool(true)) {
                    n += 1;
                }
                if let Some(max) = v.get("maximum").and_then(Value::as_i64) {
                    n = n.min(max);
                }
                json!(n)
            }
            "boolean" => json!(true),
            "null" => Value::Null,
            _ => {
                let mut s = match v.get("format").and_then(Value::as_str) {
                    Some("date-time") => "2024-01-02T03:04:05Z".to_string(),
                    Some("date") => "2024-01-02".to_string(),
                    Some("time") => "03:04:05Z".to_string(),
                    Some("uri" | "url" | "iri") => "https://example.com/x".to_string(),
                    Some("uri-reference" | "iri-reference") => "/x".to_string(),
                    Some("email" | "idn-email") => "a@example.com".to_string(),
                    Some("uuid") => "123e4567-e89b-12d3-a456-426614174000".to_string(),
                    Some("hostname" | "idn-hostname") => "example.com".to_string(),
                    Some("ipv4") => "192.0.2.1".to_string(),
                    Some("ipv6") => "2001:db8::1".to_string(),
                    Some("byte") => "eA==".to_string(),
                    _ => match v.get("pattern").and_then(Value::as_str) {
                        Some(p) => from_pattern(p),
                        None => "x".to_string(),
                    },
                };
                if v.get("pattern").is_none() {
                    let min = v.get("minLength").and_then(Value::as_u64).unwrap_or(0);
                    while (s.chars().count() as u64) < min {
                        s.push('a');
                    }
                }
                json!(s)
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Serialising a request.

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            write!(out, "%{b:02X}").unwrap();
        }
    }
    out
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A parameter value as the texts its style lays out: one per repetition.
#[derive(Clone)]
struct Param {
    name: String,
    location: ParameterLocation,
    texts: Vec<String>,
}

#[derive(Clone, Default)]
struct Request {
    params: Vec<Param>,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Request {
    fn check_params(&self, v: &OperationValidator) -> Result<(), Violations> {
        let mut path = Vec::new();
        let mut query = Vec::new();
        let mut headers = HeaderMap::new();
        let mut cookies = Vec::new();
        for p in &self.params {
            match p.location {
                ParameterLocation::Path => path.push((p.name.clone(), p.texts.join(","))),
                ParameterLocation::Query => {
                    for t in &p.texts {
                        query.push(format!("{}={}", encode(&p.name), encode(t)));
                    }
                }
                ParameterLocation::Header => {
                    headers.append(
                        HeaderName::from_bytes(p.name.as_bytes()).unwrap(),
                        HeaderValue::from_str(&p.texts.join(",")).unwrap(),
                    );
                }
                ParameterLocation::Cookie => {
                    for t in &p.texts {
                        cookies.push(format!("{}={}", p.name, encode(t)));
                    }
                }
            }
        }
        if !cookies.is_empty() {
            headers.append(
                "cookie",
                HeaderValue::from_str(&cookies.join("; ")).unwrap(),
            );
        }
        let query = query.join("&");
        v.validate_raw_params(
            &path,
            (!query.is_empty()).then_some(query.as_str()),
            &headers,
        )
    }

    fn check_body(&self, v: &OperationValidator) -> Result<(), Violations> {
        v.validate_raw_body(self.content_type.as_deref(), &self.body)
    }
}

/// A body in its media type.
fn serialise(form: bool, body: &Value) -> Vec<u8> {
    if !form {
        return serde_json::to_vec(body).unwrap();
    }
    let mut parts = Vec::new();
    for (k, v) in body.as_object().expect("a form body is an object") {
        match v {
            Value::Array(items) => {
                for i in items {
                    parts.push(format!("{}={}", encode(k), encode(&text(i))));
                }
            }
            other => parts.push(format!("{}={}", encode(k), encode(&text(other)))),
        }
    }
    parts.join("&").into_bytes()
}

// ---------------------------------------------------------------------------
// The run.

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    operations: usize,
    valid: usize,
    bodies: usize,
    /// Parameters given a valid value (all of them, once per operation).
    params_given: usize,
    /// Bodies with every declared property checked as valid.
    full_bodies: usize,
    required_param_removed: usize,
    param_wrong_value: usize,
    body_undeclared: usize,
    body_required_removed: usize,
    body_wrong_type: usize,
    /// Required-field removals that left a form body empty, which is an
    /// absent body, accepted where the body is optional (not a mutation).
    empty_optional_body: usize,
}

impl Counts {
    fn mutations(&self) -> usize {
        self.required_param_removed
            + self.param_wrong_value
            + self.body_undeclared
            + self.body_required_removed
            + self.body_wrong_type
    }
}

fn has(v: &Violations, pointer: &str, rule: Option<&str>) -> bool {
    v.iter()
        .any(|x| x.pointer == pointer && rule.is_none_or(|r| x.rule == r))
}

fn describe(v: &Violations) -> String {
    v.iter()
        .map(|x| format!("{} {} {}", x.location, x.pointer, x.rule))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A wrong text for a parameter of this schema, or `None` when any text
/// would do (an unconstrained string).
fn wrong_param_text(generator: &Gen<'_>, doc: DocId, schema: &Value) -> Option<&'static str> {
    let (doc, s) = generator.resolve(doc, schema);
    if s.get("enum").is_some() {
        return Some("zz-not-in-enum");
    }
    match generator.type_of(doc, s, 0)? {
        "integer" | "number" => Some("not-a-number"),
        "boolean" => Some("maybe"),
        "array" => {
            let items = s.get("items")?;
            wrong_param_text(generator, doc, items)
        }
        _ => None,
    }
}

fn run_operation(generator: &Gen<'_>, op: &Operation, v: &OperationValidator, counts: &mut Counts) {
    let id = op.id();
    // Parameters: the required ones.
    let mut request = Request::default();
    let mut all_params = Vec::new();
    for p in &op.parameters {
        let schema = p.schema.as_ref();
        let value = schema.map_or(json!("x"), |s| generator.instance(p.doc, s, 0));
        let texts = match (&value, p.location) {
            (Value::Array(items), ParameterLocation::Query | ParameterLocation::Cookie) => {
                items.iter().map(text).collect()
            }
            (Value::Array(items), _) => vec![items.iter().map(text).collect::<Vec<_>>().join(",")],
            (other, _) => vec![text(other)],
        };
        let param = Param {
            name: p.name.clone(),
            location: p.location,
            texts,
        };
        if p.required {
            request.params.push(param.clone());
        }
        all_params.push(param);
    }

    // The body: JSON first, then a form, then whatever is documented.
    let mut body_schema = None;
    if let Some(rb) = &op.request_body {
        let content = rb.value.get("content").and_then(Value::as_object).unwrap();
        let key = ["application/json", "application/x-www-form-urlencoded"]
            .into_iter()
            .find(|k| content.contains_key(*k))
            .or_else(|| content.keys().next().map(String::as_str))
            .unwrap();
        let form = key == "application/x-www-form-urlencoded";
        request.content_type = Some(key.to_string());
        match content[key].get("schema") {
            Some(s) if form || key == "application/json" => {
                let body = generator.instance(rb.doc, s, 0);
                request.body = serialise(form, &body);
                body_schema = Some((rb.doc, s, form, body));
                assert!(
                    matches!(
                        v.media_plan(moat_guard::request::MediaType::parse(key).ok().as_ref()),
                        MediaPlan::Buffer
                    ),
                    "{id}: {key} with a schema is buffered"
                );
            }
            _ => request.body = b"x".to_vec(),
        }
    }

    if let Err(e) = request.check_params(v) {
        panic!("{id}: valid parameters refused: {}", describe(&e));
    }
    if let Err(e) = request.check_body(v) {
        panic!(
            "{id}: valid body refused: {} (body {})",
            describe(&e),
            String::from_utf8_lossy(&request.body)
        );
    }
    counts.valid += 1;
    // Every documented parameter given must pass as well.
    let mut m = request.clone();
    m.params.clone_from(&all_params);
    if let Err(e) = m.check_params(v) {
        panic!("{id}: all valid parameters refused: {}", describe(&e));
    }
    counts.params_given += all_params.len();
    // Every declared property filled in must pass as well.
    if let Some((doc, schema, form, _)) = &body_schema {
        let full = generator.instance_of(*doc, schema, 0, true);
        let mut m = request.clone();
        m.body = serialise(*form, &full);
        if let Err(e) = m.check_body(v) {
            panic!(
                "{id}: valid full body refused: {} (body {})",
                describe(&e),
                String::from_utf8_lossy(&m.body)
            );
        }
        counts.full_bodies += 1;
    }

    // (i) Each required parameter removed.
    for (i, p) in request.params.iter().enumerate() {
        let mut m = request.clone();
        m.params.remove(i);
        let e = m
            .check_params(v)
            .expect_err(&format!("{id}: missing {} accepted", p.name));
        assert!(has(&e, &p.name, Some("required")), "{id}: {}", describe(&e));
        counts.required_param_removed += 1;
    }
    // (ii) Each typed parameter given a wrong value.
    for p in &op.parameters {
        let Some(wrong) = p
            .schema
            .as_ref()
            .and_then(|s| wrong_param_text(generator, p.doc, s))
        else {
            continue;
        };
        let mut m = request.clone();
        m.params
            .retain(|q| !(q.name == p.name && q.location == p.location));
        m.params.push(Param {
            name: p.name.clone(),
            location: p.location,
            texts: vec![wrong.to_string()],
        });
        let e = m
            .check_params(v)
            .expect_err(&format!("{id}: {} = {wrong} accepted", p.name));
        assert!(has(&e, &p.name, None), "{id}: {}", describe(&e));
        counts.param_wrong_value += 1;
    }

    let Some((doc, schema, form, body)) = body_schema else {
        return;
    };
    counts.bodies += 1;
    let view = generator.object_view(doc, schema);
    let Value::Object(object) = &body else {
        assert!(!view.is_object, "{id}: object body not generated as one");
        return;
    };
    let with = |f: &dyn Fn(&mut Map<String, Value>)| {
        let mut o = object.clone();
        f(&mut o);
        let mut m = request.clone();
        m.body = serialise(form, &Value::Object(o));
        m
    };
    // (iii) An undeclared property.
    let open = view.additional.is_some_and(|a| a != &Value::Bool(false));
    if !view.properties.is_empty() && !open {
        let m = with(&|o| {
            o.insert(UNDECLARED.into(), json!("x"));
        });
        let e = m
            .check_body(v)
            .expect_err(&format!("{id}: undeclared property accepted"));
        let pointer = format!("/{UNDECLARED}");
        assert!(
            has(&e, &pointer, Some("additionalProperties")),
            "{id}: {}",
            describe(&e)
        );
        counts.body_undeclared += 1;
    }
    // (iv) Each required property removed.
    for name in object.keys() {
        if !view.required.iter().any(|r| r == name) {
            continue;
        }
        let filler = view
            .properties
            .iter()
            .find(|(n, d, p)| n != name && !generator.read_only(*d, p))
            .map(|(n, d, p)| (n.clone(), generator.instance(*d, p, 0)));
        if form && object.len() == 1 && filler.is_none() {
            // Without its only field a form body is empty, which is no
            // body at all: refused only when the body is required.
            let mut m = request.clone();
            m.body.clear();
            let required = op
                .request_body
                .as_ref()
                .is_some_and(|b| b.value.get("required") == Some(&Value::Bool(true)));
            match m.check_body(v) {
                Err(e) if required => assert!(has(&e, "", Some("required")), "{id}"),
                Ok(()) if !required => counts.empty_optional_body += 1,
                other => panic!("{id}: empty body: {other:?}"),
            }
            continue;
        }
        let m = with(&|o| {
            o.remove(name);
            // An empty form is no body at all: another field keeps it there.
            if form
                && o.is_empty()
                && let Some((other, value)) = &filler
            {
                o.insert(other.clone(), value.clone());
            }
        });
        let e = m
            .check_body(v)
            .expect_err(&format!("{id}: missing {name} accepted"));
        assert!(
            has(&e, &format!("/{name}"), Some("required")),
            "{id}: {}",
            describe(&e)
        );
        counts.body_required_removed += 1;
    }
    // (v) Each typed property given a value of the wrong type. In a form,
    // every value is text: only numbers and booleans can be wrong.
    for (name, pdoc, prop) in &view.properties {
        if generator.read_only(*pdoc, prop) {
            continue;
        }
        let Some(t) = generator.type_of(*pdoc, prop, 0) else {
            continue;
        };
        let wrong = match (form, t) {
            (true, "integer" | "number" | "boolean") => json!("not-a-number"),
            (true, _) => continue,
            (false, "string") => json!(12345),
            (false, _) => json!("not-the-type"),
        };
        let m = with(&|o| {
            o.insert(name.clone(), wrong.clone());
        });
        let e = m
            .check_body(v)
            .expect_err(&format!("{id}: {name} of the wrong type accepted"));
        assert!(
            e.iter().any(|x| x.pointer == format!("/{name}")),
            "{id}: {name}: {}",
            describe(&e)
        );
        counts.body_wrong_type += 1;
    }
}

fn run_spec(path: &Path) -> Counts {
    let spec = moat_spec::load(path).unwrap();
    let validators = compile_spec(&spec, &ValidationOptions::default()).unwrap();
    assert_eq!(validators.len(), spec.operations.len());
    let generator = Gen { spec: &spec };
    let mut counts = Counts {
        operations: spec.operations.len(),
        ..Counts::default()
    };
    for (op, v) in spec.operations.iter().zip(&validators) {
        run_operation(&generator, op, v, &mut counts);
    }
    counts
}

/// The operations of the root document, counted from its raw `paths`.
fn raw_operation_count(spec: &ApiSpec) -> usize {
    let root = &spec.documents()[0].value;
    root.get("paths")
        .and_then(Value::as_object)
        .unwrap()
        .values()
        .map(|item| {
            let item = spec.resolve(DocId::ROOT, item).unwrap().value;
            [
                "get", "put", "post", "delete", "options", "head", "patch", "trace",
            ]
            .iter()
            .filter(|m| item.get(**m).is_some())
            .count()
        })
        .sum()
}

/// What each spec holds, counted from the documents independently of the
/// generator: operations, required parameters, typed parameters.
fn expected(spec: &ApiSpec) -> (usize, usize, usize) {
    let generator = Gen { spec };
    let required = spec
        .operations
        .iter()
        .flat_map(|o| &o.parameters)
        .filter(|p| p.required)
        .count();
    let typed = spec
        .operations
        .iter()
        .flat_map(|o| &o.parameters)
        .filter(|p| {
            p.schema
                .as_ref()
                .is_some_and(|s| wrong_param_text(&generator, p.doc, s).is_some())
        })
        .count();
    (spec.operations.len(), required, typed)
}

#[test]
fn every_operation_of_every_shared_spec() {
    let dir = PathBuf::from(SPECS);
    assert!(dir.is_dir(), "missing {}", dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        })
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for known in [
        "oai-api-with-examples.yaml",
        "oai-petstore-expanded.yaml",
        "oai-petstore.yaml",
        "oai-uspto.yaml",
        "twilio_api_v2010.yaml",
    ] {
        assert!(names.iter().any(|n| n == known), "{known} missing");
    }
    let mut total = Counts::default();
    for path in &files {
        let counts = run_spec(path);
        let name = path.file_name().unwrap().to_string_lossy();
        println!("{name}: {counts:?} ({} mutations)", counts.mutations());
        let spec = moat_spec::load(path).unwrap();
        let (operations, required, typed) = expected(&spec);
        assert!(counts.operations > 0, "{name}: no operations");
        assert_eq!(counts.operations, operations, "{name}");
        assert_eq!(operations, raw_operation_count(&spec), "{name}");
        let documented = match &*name {
            "oai-api-with-examples.yaml" => Some(2),
            "oai-petstore-expanded.yaml" => Some(4),
            "oai-petstore.yaml" => Some(3),
            "oai-uspto.yaml" => Some(3),
            "twilio_api_v2010.yaml" => Some(197),
            _ => None,
        };
        if let Some(n) = documented {
            assert_eq!(operations, n, "{name}: operation count");
        }
        assert_eq!(
            counts.params_given,
            spec.operations
                .iter()
                .map(|o| o.parameters.len())
                .sum::<usize>()
        );
        assert_eq!(counts.valid, operations, "{name}: every operation checked");
        assert_eq!(counts.required_param_removed, required, "{name}");
        assert_eq!(counts.param_wrong_value, typed, "{name}");
        total.operations += counts.operations;
        total.valid += counts.valid;
        total.bodies += counts.bodies;
        total.params_given += counts.params_given;
        total.full_bodies += counts.full_bodies;
        total.required_param_removed += counts.required_param_removed;
        total.param_wrong_value += counts.param_wrong_value;
        total.body_undeclared += counts.body_undeclared;
        total.body_required_removed += counts.body_required_removed;
        total.body_wrong_type += counts.body_wrong_type;
        total.empty_optional_body += counts.empty_optional_body;
    }
    println!("total: {total:?} ({} mutations)", total.mutations());
    assert!(total.mutations() > 0);
    assert!(total.body_undeclared > 0 && total.body_required_removed > 0);
    assert!(total.body_wrong_type > 0 && total.param_wrong_value > 0);
}
