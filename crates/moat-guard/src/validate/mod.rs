//! Positive request validation: a request must be what the API's OpenAPI
//! document says the operation accepts.
//!
//! Everything is compiled once per spec ([`compile_spec`]); checking a
//! request is then pure computation on its parts, with no I/O, so the gateway
//! can call it wherever it has the body buffered. Violations name the place
//! and the rule, never the submitted value (see [`Violations`]).
//!
//! Covered:
//! - path, query, header and cookie parameters (cookies read from the
//!   `Cookie` headers, RFC 6265 `a=b; c=d`), scalars and arrays in their
//!   `form`/`simple`/`spaceDelimited`/`pipeDelimited` styles, each value
//!   typed and checked against its schema; a missing required one is
//!   `required`;
//! - JSON bodies (`application/json`, `+json`), and
//!   `application/x-www-form-urlencoded` bodies with a schema: fields are
//!   typed as their property schemas say (integer, number, boolean, string;
//!   arrays from repeated keys, or from delimited values where the media
//!   type's `encoding` says `explode: false`; object-typed fields read as
//!   JSON) and the resulting object is checked like a JSON body;
//! - undeclared body properties are refused (`refuse_unknown_properties`),
//!   except for the operations in `allow_unknown_properties`;
//! - `readOnly` properties are refused in requests;
//! - OpenAPI 3.0 `nullable` (also next to `$ref`/`allOf`/`oneOf`/`anyOf`),
//!   boolean `exclusiveMinimum`/`exclusiveMaximum`;
//! - `format: int32`/`int64` ranges (rule `format`), and the JSON Schema
//!   string formats (`date-time`, `date`, `uri`, `email`, `uuid`, …);
//! - `discriminator` next to `oneOf`/`anyOf`: the property picks the variant
//!   (by `mapping`, or the `$ref`'d schema's name), a value naming no variant
//!   is refused (`enum`).
//!
//! Not covered: multipart bodies and other non-JSON, non-form media types
//! (accepted unread once their media type matches), object-typed parameters
//! and `deepObject`, `label`/`matrix` path styles (read as `simple`), unknown
//! query parameters, cookies' and headers' `content` encodings (read as
//! plain text), a `discriminator` without `oneOf`/`anyOf` (inheritance
//! through `allOf`), and `$ref` siblings are applied, not ignored as 3.0
//! says.

mod convert;
mod media;
mod params;
mod patterns;
mod violation;

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use http::HeaderMap;
use jsonschema::{Draft, Keyword, PatternOptions, Registry, ValidationError, Validator};
use moat_config::source::Document;
use moat_request::json::push_pointer;
use moat_request::{Cookies, MediaType, ParsedBody, Query};
use moat_spec::{
    ApiSpec, Diagnostic, Diagnostics, DocId, OpenApiVersion, Operation, ParameterLocation,
};
use serde_json::{Value, json};

pub use violation::{
    Location, MAX_VIOLATIONS, RULE_ENCODING, RULE_JSON, RULE_MEDIA_TYPE, Violation, Violations,
};

use convert::Conversion;
use params::{Scalar, Shape};

/// How the gateway should handle a request body; see
/// [`OperationValidator::media_plan`].
#[derive(Debug)]
pub enum MediaPlan {
    /// Refuse before reading: 415.
    Refuse(Violations),
    /// Forward as it streams.
    Stream,
    /// Read it (under a cap) and validate it.
    Buffer,
}

/// What validation enforces beyond the document's letter.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ValidationOptions {
    /// Refuse body properties that no schema declares, even where the schema
    /// does not say `additionalProperties: false` (mass assignment). Objects
    /// that declare no properties at all are free-form maps and stay open.
    pub refuse_unknown_properties: bool,
    /// Operations (by [`Operation::id`]: the `operationId`, or else
    /// `METHOD /template`) whose bodies may carry undeclared properties even
    /// though `refuse_unknown_properties` is set. Ids that name no operation
    /// are ignored (the caller checks them).
    pub allow_unknown_properties: BTreeSet<String>,
}

impl Default for ValidationOptions {
    fn default() -> Self {
        Self {
            refuse_unknown_properties: true,
            allow_unknown_properties: BTreeSet::new(),
        }
    }
}

/// A schema that could not be compiled; the spec cannot be enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CompileError {
    /// The document the schema is in.
    doc: usize,
    /// Where in that document the schema is.
    pointer: String,
    /// The keyword the compiler stopped at: its JSON pointer in the
    /// document that holds it.
    keyword: String,
    /// What the schema compiler said.
    message: String,
}

impl CompileError {
    /// The error, positioned in the document the schema is in: at the
    /// keyword the compiler stopped at when the document has it, else at the
    /// schema.
    fn diagnostic(&self, spec: &ApiSpec, operation: &str) -> Diagnostic {
        let docs = spec.documents();
        let hint = "fix the schema, or set `validation.enabled: false` for this API";
        // The compiler names the keyword by its pointer in the document it
        // is in, without saying which document: this schema's when the
        // pointer lies below it there, else the one document having it.
        let has = |d: &Document| d.value.pointer(&self.keyword).is_some();
        let here = docs
            .get(self.doc)
            .filter(|d| self.keyword.starts_with(&self.pointer) && has(d))
            .map(|d| (self.doc, d));
        let elsewhere = || {
            let mut found = docs.iter().enumerate().filter(|(_, d)| has(d));
            match (found.next(), found.next()) {
                (Some(one), None) => Some(one),
                _ => None,
            }
        };
        let (located, doc, pointer) = match here.or_else(elsewhere) {
            Some((i, d)) => (Some(i), Some(d), self.keyword.as_str()),
            None => (None, docs.get(self.doc), self.pointer.as_str()),
        };
        // The compiler quotes the offending value: shown only when it is in
        // the root document. A file reached through `$ref` may hold anything
        // (see moat-spec's linker): neither its values nor its lines are
        // quoted.
        let message = if located == Some(DocId::ROOT.index()) {
            format!(
                "operation {operation}: the schema cannot be compiled for request validation: {}",
                self.message
            )
        } else {
            format!(
                "operation {operation}: the schema cannot be compiled for request validation: \
                 it, or a schema it refers to, is not valid JSON Schema (the compiler's message \
                 is not shown: it quotes values of a file the document refers to)"
            )
        };
        match doc {
            Some(doc) if located == Some(DocId::ROOT.index()) => {
                doc.error_at(pointer, message).with_hint(hint)
            }
            // Positioned, without quoting the line.
            Some(doc) => doc.secret_error_at(pointer, message).with_hint(hint),
            None => Diagnostic::new(
                docs.first().map_or(std::path::Path::new(""), |d| d.path()),
                None,
                message,
            )
            .with_hint(hint),
        }
    }
}

/// The documented body of one media type.
struct MediaEntry {
    /// The key as documented, lower-cased, without parameters.
    key: String,
    /// The compiled schema, for JSON and form media types that give one.
    schema: Option<Validator>,
    /// For a form body with a schema: how to type each field.
    form: Option<HashMap<String, Field>>,
}

/// How a form field's text is read into JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// One value.
    Scalar(Scalar),
    /// Repeated keys (`explode`), or one value split at `delimiter`.
    Array {
        item: Scalar,
        explode: bool,
        delimiter: char,
    },
    /// An object: its value is JSON text.
    Json,
}

/// How deep `$ref`s and combinators are followed when typing parameters and
/// form fields.
const MAX_DEPTH: usize = 16;

/// One documented parameter, ready to check.
struct ParamCheck {
    name: String,
    location: Location,
    required: bool,
    shape: Shape,
    schema: Option<Validator>,
}

/// Everything needed to validate requests to one operation.
pub struct OperationValidator {
    body_required: bool,
    media: Vec<MediaEntry>,
    params: Vec<ParamCheck>,
}

impl fmt::Debug for OperationValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperationValidator")
            .field("body_required", &self.body_required)
            .field(
                "media",
                &self.media.iter().map(|m| &m.key).collect::<Vec<_>>(),
            )
            .field(
                "params",
                &self.params.iter().map(|p| &p.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The URI each document is registered under, so that `$ref`s between files
/// resolve the way the loader resolved them.
fn doc_uri(spec: &ApiSpec, index: usize) -> String {
    let path = spec
        .documents()
        .get(index)
        .map(|d| d.path().to_string_lossy().replace('\\', "/"))
        .unwrap_or_default();
    let mut uri = String::from("file:///");
    for b in path.trim_start_matches('/').bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    if path.is_empty() {
        uri.push_str(&format!("moat-doc-{index}"));
    }
    uri
}

/// A JSON pointer as a URI fragment.
fn fragment(pointer: &str) -> String {
    let mut out = String::new();
    for b in pointer.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Compiles validators for every operation of `spec`, in the order of
/// `spec.operations`, so the router's operation index picks its validator.
///
/// Every problem is reported, each positioned in the document it is in:
/// first every pattern the matcher cannot run (see [`patterns`]), then the
/// schemas that cannot be compiled.
pub fn compile_spec(
    spec: &ApiSpec,
    options: &ValidationOptions,
) -> Result<Vec<OperationValidator>, Diagnostics> {
    let mut refused = Vec::new();
    for doc in spec.documents() {
        patterns::check(doc, &mut refused);
    }
    if !refused.is_empty() {
        return Err(Diagnostics(refused));
    }
    let openapi30 = spec.openapi == OpenApiVersion::V3_0;
    let registry = build_registry(
        spec,
        Conversion {
            openapi30,
            close_objects: options.refuse_unknown_properties,
        },
    )?;
    // Components are shared through `$ref`, so operations allowed undeclared
    // properties need their own, open, copy of the documents.
    let wants_open = options.refuse_unknown_properties
        && spec
            .operations
            .iter()
            .any(|op| is_open(op, &options.allow_unknown_properties));
    let open = if wants_open {
        Some(build_registry(
            spec,
            Conversion {
                openapi30,
                close_objects: false,
            },
        )?)
    } else {
        None
    };
    let compiler = Compiler {
        spec,
        registry: &registry,
        open: open.as_ref(),
        allow: &options.allow_unknown_properties,
    };
    let mut validators = Vec::with_capacity(spec.operations.len());
    let mut errors = Diagnostics::default();
    for op in &spec.operations {
        match compiler.operation(op) {
            Ok(v) => validators.push(v),
            Err(e) => errors.push(e.diagnostic(spec, op.id())),
        }
    }
    errors.into_result(validators)
}

fn is_open(op: &Operation, allow: &BTreeSet<String>) -> bool {
    allow.contains(op.id())
        || op
            .operation_id
            .as_ref()
            .is_some_and(|id| allow.contains(id))
}

/// Every document of `spec`, converted, under the URI its `$ref`s use.
fn build_registry(
    spec: &ApiSpec,
    conversion: Conversion,
) -> Result<Registry<'static>, Diagnostics> {
    let mut resources = Vec::new();
    for (i, doc) in spec.documents().iter().enumerate() {
        let mut converted = doc.value.clone();
        convert::convert_document(&mut converted, &doc.value, conversion);
        resources.push((doc_uri(spec, i), converted));
    }
    Registry::new()
        .draft(Draft::Draft202012)
        .extend(resources)
        .and_then(|b| b.prepare())
        .map_err(|e| {
            let root = spec.documents().first();
            let d = match root {
                Some(doc) => doc.error_at(
                    "",
                    format!("the documents cannot be prepared for request validation: {e}"),
                ),
                None => Diagnostic::new(std::path::Path::new(""), None, e.to_string()),
            };
            Diagnostics::from(
                d.with_hint("fix the schema, or set `validation.enabled: false` for this API"),
            )
        })
}

/// The range check of `format: int32`/`int64` (see
/// [`convert::INTEGER_FORMAT`]).
struct IntegerFormat {
    int32: bool,
}

impl<'i> Keyword<'i> for IntegerFormat {
    fn validate(&self, instance: &'i Value) -> Result<(), ValidationError<'i>> {
        if Keyword::is_valid(self, instance) {
            Ok(())
        } else {
            Err(ValidationError::custom("integer out of its format's range"))
        }
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        let format = if self.int32 { "int32" } else { "int64" };
        convert::fits_integer_format(format, instance)
    }
}

fn integer_format<'a>(
    _parent: &'a serde_json::Map<String, Value>,
    value: &'a Value,
    _path: jsonschema::paths::Location,
) -> Result<Box<dyn for<'i> Keyword<'i>>, ValidationError<'a>> {
    Ok(Box::new(IntegerFormat {
        int32: value.as_str() == Some("int32"),
    }))
}

struct Compiler<'a> {
    spec: &'a ApiSpec,
    registry: &'a Registry<'a>,
    /// Documents converted without closing objects, when some operation is
    /// allowed undeclared properties.
    open: Option<&'a Registry<'a>>,
    allow: &'a BTreeSet<String>,
}

impl Compiler<'_> {
    /// A validator for the (converted) schema at `pointer` in document `doc`.
    fn schema(
        &self,
        registry: &Registry<'_>,
        doc: usize,
        pointer: &str,
    ) -> Result<Validator, CompileError> {
        let wrapper = json!({"$ref": format!("{}#{}", doc_uri(self.spec, doc), fragment(pointer))});
        jsonschema::options()
            .with_draft(Draft::Draft202012)
            .with_registry(registry)
            .with_pattern_options(PatternOptions::regex())
            .with_keyword(convert::INTEGER_FORMAT, integer_format)
            .should_validate_formats(true)
            .build(&wrapper)
            .map_err(|e| CompileError {
                doc,
                pointer: pointer.to_string(),
                keyword: e.schema_path().to_string(),
                message: e.to_string(),
            })
    }

    /// The schema that gives `value` (in document `doc`) its `type`:
    /// `value` itself, or what it reaches through `$ref` and the first
    /// combinator branches that say.
    fn typed<'s>(
        &'s self,
        doc: DocId,
        value: &'s Value,
        depth: usize,
    ) -> Option<(DocId, &'s Value)> {
        if depth > MAX_DEPTH {
            return None;
        }
        let target = self.spec.resolve(doc, value).ok()?;
        let (doc, value) = (target.doc, target.value);
        if value.get("type").is_some() {
            return Some((doc, value));
        }
        ["allOf", "oneOf", "anyOf"].iter().find_map(|k| {
            value
                .get(*k)
                .and_then(Value::as_array)?
                .iter()
                .find_map(|b| self.typed(doc, b, depth + 1))
        })
    }

    /// The scalar type of the items of an array schema.
    fn item_scalar(&self, doc: DocId, array: &Value) -> Scalar {
        Scalar::of(
            array
                .get("items")
                .and_then(|items| self.typed(doc, items, 0))
                .map(|(_, v)| v),
        )
    }

    /// How each declared property of a form body's schema is read, through
    /// `$ref`s and combinators; `encoding` is the media type's.
    fn form_fields(
        &self,
        doc: DocId,
        schema: &Value,
        encoding: Option<&Value>,
        depth: usize,
        out: &mut HashMap<String, Field>,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        let Ok(target) = self.spec.resolve(doc, schema) else {
            return;
        };
        let (doc, schema) = (target.doc, target.value);
        if let Some(Value::Object(props)) = schema.get("properties") {
            for (name, prop) in props {
                if out.contains_key(name) {
                    continue;
                }
                let typed = self.typed(doc, prop, 0);
                let field = match typed {
                    Some((d, t)) if has_type(t, "array") => {
                        let enc = encoding.and_then(|e| e.get(name));
                        let style = enc.and_then(|e| e.get("style")).and_then(Value::as_str);
                        let explode = enc
                            .and_then(|e| e.get("explode"))
                            .and_then(Value::as_bool)
                            .unwrap_or(style.is_none_or(|s| s == "form"));
                        Field::Array {
                            item: self.item_scalar(d, t),
                            explode,
                            delimiter: delimiter(style),
                        }
                    }
                    Some((_, t)) if has_type(t, "object") => Field::Json,
                    typed => Field::Scalar(Scalar::of(typed.map(|(_, t)| t))),
                };
                out.insert(name.clone(), field);
            }
        }
        for k in ["allOf", "oneOf", "anyOf"] {
            if let Some(Value::Array(branches)) = schema.get(k) {
                for b in branches {
                    self.form_fields(doc, b, encoding, depth + 1, out);
                }
            }
        }
    }

    fn operation(&self, op: &Operation) -> Result<OperationValidator, CompileError> {
        let registry = match self.open {
            Some(open) if is_open(op, self.allow) => open,
            _ => self.registry,
        };
        let mut media = Vec::new();
        let mut body_required = false;
        if let Some(body) = &op.request_body {
            body_required = body.value.get("required") == Some(&Value::Bool(true));
            if let Some(Value::Object(content)) = body.value.get("content") {
                for (key, mt) in content {
                    let essence = media::essence(key);
                    let form = media::is_form(&essence);
                    let schema = if mt.get("schema").is_some()
                        && (media::is_json(&essence) || form || essence.ends_with("/*"))
                    {
                        let mut pointer = body.pointer.clone();
                        moat_config::source::push_pointer(&mut pointer, "content");
                        moat_config::source::push_pointer(&mut pointer, key);
                        moat_config::source::push_pointer(&mut pointer, "schema");
                        Some(self.schema(registry, body.doc.index(), &pointer)?)
                    } else {
                        None
                    };
                    let form = match (form, mt.get("schema")) {
                        (true, Some(s)) => {
                            let mut fields = HashMap::new();
                            self.form_fields(body.doc, s, mt.get("encoding"), 0, &mut fields);
                            Some(fields)
                        }
                        _ => None,
                    };
                    media.push(MediaEntry {
                        key: essence,
                        schema,
                        form,
                    });
                }
            }
        }
        let mut checks = Vec::new();
        for p in &op.parameters {
            let location = match p.location {
                ParameterLocation::Path => Location::Path,
                ParameterLocation::Query => Location::Query,
                ParameterLocation::Header => Location::Header,
                ParameterLocation::Cookie => Location::Cookie,
            };
            let raw = self.spec.value_at(p.doc, &p.pointer);
            let mut schema_pointer = p.pointer.clone();
            if raw.is_some_and(|r| r.get("schema").is_some()) {
                moat_config::source::push_pointer(&mut schema_pointer, "schema");
            } else if let Some(Value::Object(content)) = raw.and_then(|r| r.get("content"))
                && let Some(key) = content.keys().next()
            {
                moat_config::source::push_pointer(&mut schema_pointer, "content");
                moat_config::source::push_pointer(&mut schema_pointer, key);
                moat_config::source::push_pointer(&mut schema_pointer, "schema");
            }
            let typed = p.schema.as_ref().and_then(|s| self.typed(p.doc, s, 0));
            let schema_value = typed.map(|(_, v)| v);
            let shape = if schema_value.is_some_and(|s| has_type(s, "object")) {
                Shape::Opaque
            } else if let Some((doc, array)) = typed.filter(|(_, s)| has_type(s, "array")) {
                let style = raw.and_then(|r| r.get("style")).and_then(Value::as_str);
                // Query and cookie parameters default to `form` style, which
                // explodes arrays into repeated names.
                let form_like = matches!(location, Location::Query | Location::Cookie);
                let explode = raw
                    .and_then(|r| r.get("explode"))
                    .and_then(Value::as_bool)
                    .unwrap_or(form_like && style.is_none_or(|s| s == "form"));
                Shape::Array {
                    item: self.item_scalar(doc, array),
                    explode: explode && form_like,
                    delimiter: delimiter(style),
                }
            } else {
                Shape::Scalar(Scalar::of(schema_value))
            };
            let schema = if p.schema.is_some() && shape != Shape::Opaque {
                Some(self.schema(registry, p.doc.index(), &schema_pointer)?)
            } else {
                None
            };
            checks.push(ParamCheck {
                name: p.name.clone(),
                location,
                required: p.required,
                shape,
                schema,
            });
        }
        Ok(OperationValidator {
            body_required,
            media,
            params: checks,
        })
    }
}

/// Whether a schema's `type` is `t`, or a list naming it (3.1, or 3.0
/// `nullable`).
fn has_type(schema: &Value, t: &str) -> bool {
    schema
        .get("type")
        .is_some_and(|ty| ty == t || ty.as_array().is_some_and(|ts| ts.iter().any(|x| x == t)))
}

/// The item delimiter of an array parameter or form field's `style`.
fn delimiter(style: Option<&str>) -> char {
    match style {
        Some("spaceDelimited") => ' ',
        Some("pipeDelimited") => '|',
        _ => ',',
    }
}

impl OperationValidator {
    /// What to do with a request body of `content_type` before reading it:
    /// refuse it (undocumented media type, or no body documented at all),
    /// stream it (a documented type with nothing to check in the bytes), or
    /// buffer it for [`validate_body`](Self::validate_body) (JSON, or a
    /// form body, with a schema).
    pub fn media_plan(&self, media: Option<&MediaType>) -> MediaPlan {
        let essence = media.map(MediaType::essence);
        let entry = essence.and_then(|e| self.entry(e));
        match (entry, essence) {
            (Some(entry), Some(essence))
                if (media::is_json(essence) || entry.form.is_some()) && entry.schema.is_some() =>
            {
                MediaPlan::Buffer
            }
            (Some(_), Some(_)) => MediaPlan::Stream,
            _ => {
                let mut out = Violations::new();
                out.push(Violation::unsupported_media_type());
                MediaPlan::Refuse(out)
            }
        }
    }

    /// The documented entry for a media type essence.
    fn entry(&self, essence: &str) -> Option<&MediaEntry> {
        let key = media::best_match(self.media.iter().map(|m| m.key.as_str()), essence)?;
        self.media.iter().find(|m| m.key == key)
    }

    /// Checks a request body, as the request view parsed it. An empty body
    /// counts as absent: refused when the body is required, accepted
    /// otherwise. A present body needs a documented `Content-Type` (415
    /// otherwise); JSON bodies must match their schema, and so must form
    /// bodies once their fields are typed.
    pub fn validate_body(
        &self,
        media: Option<&MediaType>,
        body: &ParsedBody,
    ) -> Result<(), Violations> {
        let mut out = Violations::new();
        if matches!(body, ParsedBody::Empty) {
            if self.body_required {
                out.push(Violation {
                    location: Location::Body,
                    pointer: String::new(),
                    rule: "required",
                });
            }
            return out.into_result();
        }
        let entry = media.and_then(|m| self.entry(m.essence()));
        let Some(entry) = entry else {
            // A body the operation does not document, or of an
            // undocumented type, is refused rather than passed on unread.
            out.push(Violation::unsupported_media_type());
            return out.into_result();
        };
        let Some(schema) = &entry.schema else {
            return Ok(());
        };
        match (body, &entry.form) {
            (ParsedBody::Form(form), Some(fields)) => {
                let value = form_value(fields, form);
                report(schema, &value, Location::Body, None, &mut out);
            }
            (ParsedBody::Json(value), _) => report(schema, value, Location::Body, None, &mut out),
            _ => {}
        }
        out.into_result()
    }

    /// [`validate_body`](Self::validate_body) for a body given as text:
    /// parsed by the request view first, as the gateway does (for tools
    /// that start from recorded traffic, and for tests), under the default
    /// body limits.
    pub fn validate_raw_body(
        &self,
        content_type: Option<&str>,
        bytes: &[u8],
    ) -> Result<(), Violations> {
        let limits = &moat_request::BodyLimits::default();
        let media = match content_type.map(MediaType::parse) {
            Some(Ok(m)) => Some(m),
            Some(Err(_)) if !bytes.is_empty() => {
                let mut out = Violations::new();
                out.push(Violation::unsupported_media_type());
                return Err(out);
            }
            _ => None,
        };
        match ParsedBody::parse(media.as_ref(), bytes, limits) {
            Ok(body) => self.validate_body(media.as_ref(), &body),
            Err(e) => {
                let mut out = Violations::new();
                out.push(Violation::unreadable_body(&e));
                Err(out)
            }
        }
    }

    /// [`validate_params`](Self::validate_params) for a raw query string
    /// and headers, read by the request view first.
    pub fn validate_raw_params(
        &self,
        path_params: &[(String, String)],
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<(), Violations> {
        let query = query.map(Query::parse).unwrap_or_default();
        self.validate_params(path_params, &query, headers, &Cookies::parse(headers))
    }

    /// Checks path, query, header and cookie parameters. `path_params` are
    /// the router's already-decoded values; `query` is the raw query string
    /// (without `?`); cookies are read from the `Cookie` headers.
    pub fn validate_params(
        &self,
        path_params: &[(String, String)],
        query: &Query,
        headers: &HeaderMap,
        cookies: &Cookies,
    ) -> Result<(), Violations> {
        let mut out = Violations::new();
        if query.is_malformed() {
            out.push(Violation {
                location: Location::Query,
                pointer: String::new(),
                rule: RULE_ENCODING,
            });
        }
        let mut cookie_encoding_reported = false;
        for p in &self.params {
            let raw: Vec<String> = match p.location {
                Location::Cookie => {
                    if cookies.is_undecodable() && !cookie_encoding_reported {
                        cookie_encoding_reported = true;
                        out.push(Violation {
                            location: Location::Header,
                            pointer: "cookie".to_string(),
                            rule: RULE_ENCODING,
                        });
                    }
                    cookies.values(&p.name).map(str::to_string).collect()
                }
                Location::Path => path_params
                    .iter()
                    .filter(|(n, _)| *n == p.name)
                    .map(|(_, v)| v.clone())
                    .collect(),
                Location::Query => query.values(&p.name).map(str::to_string).collect(),
                Location::Header => {
                    let mut values = Vec::new();
                    for v in headers.get_all(p.name.as_str()) {
                        match v.to_str() {
                            Ok(s) => values.push(s.trim().to_string()),
                            Err(_) => out.push(violation(p, RULE_ENCODING)),
                        }
                    }
                    if values.is_empty() {
                        values
                    } else {
                        vec![values.join(",")]
                    }
                }
                Location::Body => continue,
            };
            if raw.is_empty() {
                if p.required {
                    out.push(violation(p, "required"));
                }
                continue;
            }
            let value = match p.shape {
                Shape::Opaque => continue,
                Shape::Scalar(s) => {
                    if raw.len() > 1 {
                        out.push(violation(p, "maxItems"));
                        continue;
                    }
                    raw.first().and_then(|r| s.coerce(r))
                }
                Shape::Array {
                    item,
                    explode,
                    delimiter,
                } => {
                    let texts: Vec<&str> = if explode {
                        raw.iter().map(String::as_str).collect()
                    } else {
                        raw.iter().flat_map(|r| r.split(delimiter)).collect()
                    };
                    texts
                        .iter()
                        .map(|t| item.coerce(t))
                        .collect::<Option<Vec<_>>>()
                        .map(Value::Array)
                }
            };
            let Some(value) = value else {
                out.push(violation(p, "type"));
                continue;
            };
            if let Some(schema) = &p.schema {
                report(schema, &value, p.location, Some(&p.name), &mut out);
            }
        }
        out.into_result()
    }
}

/// A form body as the JSON object its schema is checked against: each
/// field typed as its property says; text that is not of the type stays a
/// string, so that the schema reports it (`type`) at the field. `None` when
/// the body cannot be decoded.
fn form_value(fields: &HashMap<String, Field>, form: &Query) -> Value {
    // Repeated keys gathered, in first-seen order.
    let mut grouped: Vec<(&str, Vec<&str>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (k, v) in form.pairs() {
        match index.get(k.as_str()) {
            Some(&i) => {
                if let Some((_, values)) = grouped.get_mut(i) {
                    values.push(v);
                }
            }
            None => {
                index.insert(k, grouped.len());
                grouped.push((k, vec![v]));
            }
        }
    }
    let typed = |s: Scalar, t: &str| s.coerce(t).unwrap_or_else(|| Value::String(t.to_string()));
    let mut object = serde_json::Map::with_capacity(grouped.len());
    for (name, values) in grouped {
        let value = match fields.get(name).copied() {
            Some(Field::Array {
                item,
                explode,
                delimiter,
            }) => {
                let items: Vec<Value> = if explode {
                    values.iter().map(|v| typed(item, v)).collect()
                } else {
                    values
                        .iter()
                        .flat_map(|v| v.split(delimiter))
                        .map(|v| typed(item, v))
                        .collect()
                };
                Value::Array(items)
            }
            field => {
                let one = |v: &str| match field {
                    Some(Field::Json) => {
                        moat_request::json::parse(v.as_bytes(), &Default::default())
                            .unwrap_or_else(|_| Value::String(v.to_string()))
                    }
                    Some(Field::Scalar(s)) => typed(s, v),
                    _ => Value::String(v.to_string()),
                };
                match values.as_slice() {
                    [v] => one(v),
                    // A scalar given several times: its schema refuses the list.
                    _ => Value::Array(values.iter().map(|v| one(v)).collect()),
                }
            }
        };
        object.insert(name.to_string(), value);
    }
    Value::Object(object)
}

fn violation(p: &ParamCheck, rule: &'static str) -> Violation {
    Violation {
        location: p.location,
        pointer: p.name.clone(),
        rule,
    }
}

/// Escapes a JSON pointer token.
fn escape_token(token: &str) -> String {
    let mut out = String::with_capacity(token.len() + 1);
    push_pointer(&mut out, token);
    out.split_off(1)
}

/// Adds `error` to `out`, or, for an `anyOf`/`oneOf` that failed because
/// one branch did while the others only refused the value's type (as with
/// `nullable` next to a `$ref`, which becomes `anyOf: [{type: null}, …]`),
/// that branch's errors, which say what is actually wrong. Where every
/// branch refused only the type, that is a `type` error.
fn expand<'e, 'i>(
    error: &'e ValidationError<'i>,
    out: &mut Vec<&'e ValidationError<'i>>,
    depth: usize,
) {
    use jsonschema::error::ValidationErrorKind as K;
    let context = match error.kind() {
        K::AnyOf { context } | K::OneOfNotValid { context } if depth < MAX_DEPTH => context,
        _ => {
            out.push(error);
            return;
        }
    };
    let here = error.instance_path().as_str();
    let type_only = |branch: &Vec<ValidationError<'static>>| {
        !branch.is_empty()
            && branch
                .iter()
                .all(|e| matches!(e.kind(), K::Type { .. }) && e.instance_path().as_str() == here)
    };
    let mut real = context.iter().filter(|b| !type_only(b));
    match (real.next(), real.next()) {
        (Some(branch), None) if context.len() > 1 => {
            for e in branch {
                expand(e, out, depth + 1);
            }
        }
        (None, _) => match context.iter().flatten().next() {
            Some(first) => out.push(first),
            None => out.push(error),
        },
        _ => out.push(error),
    }
}

/// Records each schema error, by place and keyword. For parameters the
/// place is the parameter's name; for the body, a JSON pointer.
fn report(
    schema: &Validator,
    value: &Value,
    location: Location,
    name: Option<&str>,
    out: &mut Violations,
) {
    use jsonschema::error::ValidationErrorKind as K;
    // A failing `allOf` branch yields no annotations, so while anything else
    // fails, `unevaluatedProperties` would also list valid properties: its
    // errors are reported only once they are the only ones.
    let found: Vec<_> = schema.iter_errors(value).take(MAX_VIOLATIONS * 2).collect();
    let mut errors: Vec<&ValidationError<'_>> = Vec::with_capacity(found.len());
    for e in &found {
        expand(e, &mut errors, 0);
    }
    let only_unevaluated = errors
        .iter()
        .all(|e| matches!(e.kind(), K::UnevaluatedProperties { .. }));
    // Likewise a failing nested object hides the annotations of its
    // parents: only the innermost unknown-property errors are right.
    let paths: Vec<String> = errors
        .iter()
        .map(|e| e.instance_path().as_str().to_string())
        .collect();
    for error in &errors {
        if matches!(error.kind(), K::UnevaluatedProperties { .. }) {
            let prefix = format!("{}/", error.instance_path().as_str());
            if !only_unevaluated || paths.iter().any(|p| p.starts_with(&prefix)) {
                continue;
            }
        }
        if out.is_full() {
            out.push(Violation {
                location,
                pointer: String::new(),
                rule: "schema",
            });
            break;
        }
        let path = error.instance_path().as_str().to_string();
        let at = |pointer: String, rule: &'static str| Violation {
            location,
            pointer: name.map_or(pointer, str::to_string),
            rule,
        };
        match error.kind() {
            K::AdditionalProperties { unexpected } | K::UnevaluatedProperties { unexpected } => {
                for p in unexpected {
                    out.push(at(
                        format!("{path}/{}", escape_token(p)),
                        "additionalProperties",
                    ));
                }
            }
            K::Required { property } => {
                let prop = property.as_str().map(escape_token).unwrap_or_default();
                out.push(at(format!("{path}/{prop}"), "required"));
            }
            K::FalseSchema => out.push(at(path, "readOnly")),
            K::Custom { keyword, .. } if keyword == convert::INTEGER_FORMAT => {
                out.push(at(path, "format"));
            }
            kind => out.push(at(path, violation::rule_name(kind.keyword()))),
        }
    }
}
