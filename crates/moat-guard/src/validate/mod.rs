//! Positive request validation: a request must be what the API's OpenAPI
//! document says the operation accepts.
//!
//! Everything is compiled once per spec ([`compile_spec`]); checking a
//! request is then pure computation on its parts, with no I/O, so the gateway
//! can call it wherever it has the body buffered. Violations name the place
//! and the rule, never the submitted value (see [`Violations`]).
//!
//! Not yet covered: form and multipart bodies (accepted once their media type
//! matches), object-typed parameters, `label`/`matrix` path styles (read as
//! `simple`), unknown query parameters, and cookies.

mod convert;
mod media;
mod params;
mod violation;

use std::fmt;

use http::HeaderMap;
use jsonschema::{Draft, PatternOptions, Registry, Validator};
use moat_spec::{ApiSpec, OpenApiVersion, Operation, ParameterLocation};
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
}

impl Default for ValidationOptions {
    fn default() -> Self {
        Self {
            refuse_unknown_properties: true,
        }
    }
}

/// A schema that could not be compiled; the spec cannot be enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// The operation's [`Operation::id`].
    pub operation: String,
    /// Where in the spec the schema is.
    pub pointer: String,
    /// What the schema compiler said.
    pub message: String,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "operation {}: schema at {} cannot be compiled: {}",
            self.operation, self.pointer, self.message
        )
    }
}

impl std::error::Error for CompileError {}

/// The documented body of one media type.
struct MediaEntry {
    /// The key as documented, lower-cased, without parameters.
    key: String,
    /// The compiled schema, for JSON media types that give one.
    schema: Option<Validator>,
}

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
pub fn compile_spec(
    spec: &ApiSpec,
    options: &ValidationOptions,
) -> Result<Vec<OperationValidator>, CompileError> {
    let conversion = Conversion {
        openapi30: spec.openapi == OpenApiVersion::V3_0,
        close_objects: options.refuse_unknown_properties,
    };
    let mut resources = Vec::new();
    for (i, doc) in spec.documents().iter().enumerate() {
        let mut converted = doc.value.clone();
        convert::convert_document(&mut converted, &doc.value, conversion);
        resources.push((doc_uri(spec, i), converted));
    }
    let registry = Registry::new()
        .draft(Draft::Draft202012)
        .extend(resources)
        .and_then(|b| b.prepare())
        .map_err(|e| CompileError {
            operation: String::new(),
            pointer: String::new(),
            message: e.to_string(),
        })?;
    let compiler = Compiler {
        spec,
        registry: &registry,
    };
    spec.operations
        .iter()
        .map(|op| compiler.operation(op))
        .collect()
}

struct Compiler<'a> {
    spec: &'a ApiSpec,
    registry: &'a Registry<'a>,
}

impl Compiler<'_> {
    /// A validator for the (converted) schema at `pointer` in document `doc`.
    fn schema(&self, op: &Operation, doc: usize, pointer: &str) -> Result<Validator, CompileError> {
        let wrapper = json!({"$ref": format!("{}#{}", doc_uri(self.spec, doc), fragment(pointer))});
        jsonschema::options()
            .with_draft(Draft::Draft202012)
            .with_registry(self.registry)
            .with_pattern_options(PatternOptions::regex())
            .should_validate_formats(true)
            .build(&wrapper)
            .map_err(|e| CompileError {
                operation: op.id().to_string(),
                pointer: pointer.to_string(),
                message: e.to_string(),
            })
    }

    fn operation(&self, op: &Operation) -> Result<OperationValidator, CompileError> {
        let mut media = Vec::new();
        let mut body_required = false;
        if let Some(body) = &op.request_body {
            body_required = body.value.get("required") == Some(&Value::Bool(true));
            if let Some(Value::Object(content)) = body.value.get("content") {
                for (key, mt) in content {
                    let essence = media::essence(key);
                    let schema = if mt.get("schema").is_some()
                        && (media::is_json(&essence) || essence.ends_with("/*"))
                    {
                        let mut pointer = body.pointer.clone();
                        moat_config::source::push_pointer(&mut pointer, "content");
                        moat_config::source::push_pointer(&mut pointer, key);
                        moat_config::source::push_pointer(&mut pointer, "schema");
                        Some(self.schema(op, body.doc.index(), &pointer)?)
                    } else {
                        None
                    };
                    media.push(MediaEntry {
                        key: essence,
                        schema,
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
                ParameterLocation::Cookie => continue,
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
            let resolved = p
                .schema
                .as_ref()
                .and_then(|s| self.spec.resolve(p.doc, s).ok().map(|t| (t.doc, t.value)));
            let schema_value = resolved.map(|(_, v)| v);
            let is_array = schema_value.and_then(|s| s.get("type")).is_some_and(|t| {
                t == "array"
                    || t.as_array()
                        .is_some_and(|ts| ts.iter().any(|t| t == "array"))
            });
            let is_object = schema_value
                .and_then(|s| s.get("type"))
                .is_some_and(|t| t == "object");
            let shape = if is_object {
                Shape::Opaque
            } else if is_array {
                let items = schema_value.and_then(|s| s.get("items")).and_then(|items| {
                    let doc = resolved.map_or(p.doc, |(d, _)| d);
                    self.spec.resolve(doc, items).ok().map(|t| t.value)
                });
                let style = raw.and_then(|r| r.get("style")).and_then(Value::as_str);
                let form_like = matches!(location, Location::Query);
                let explode = raw
                    .and_then(|r| r.get("explode"))
                    .and_then(Value::as_bool)
                    .unwrap_or(form_like && style.is_none_or(|s| s == "form"));
                let delimiter = match style {
                    Some("spaceDelimited") => ' ',
                    Some("pipeDelimited") => '|',
                    _ => ',',
                };
                Shape::Array {
                    item: Scalar::of(items),
                    explode: explode && form_like,
                    delimiter,
                }
            } else {
                Shape::Scalar(Scalar::of(schema_value))
            };
            let schema = if p.schema.is_some() && shape != Shape::Opaque {
                Some(self.schema(op, p.doc.index(), &schema_pointer)?)
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

impl OperationValidator {
    /// Checks a request body. An empty body counts as absent: refused when
    /// the body is required, accepted otherwise. A present body needs a
    /// documented `Content-Type` (415 otherwise); JSON bodies must parse and
    /// match their schema.
    /// What to do with a request body of `content_type` before reading it:
    /// refuse it (undocumented media type, or no body documented at all),
    /// stream it (a documented type with nothing to check in the bytes), or
    /// buffer it for [`validate_body`](Self::validate_body) (JSON with a
    /// schema).
    pub fn media_plan(&self, content_type: Option<&str>) -> MediaPlan {
        let essence = content_type.map(media::essence);
        let entry = essence.as_deref().and_then(|e| {
            let key = media::best_match(self.media.iter().map(|m| m.key.as_str()), e)?;
            self.media.iter().find(|m| m.key == key)
        });
        match (entry, essence) {
            (Some(entry), Some(essence)) if media::is_json(&essence) && entry.schema.is_some() => {
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

    pub fn validate_body(&self, content_type: Option<&str>, body: &[u8]) -> Result<(), Violations> {
        let mut out = Violations::new();
        if body.is_empty() {
            if self.body_required {
                out.push(Violation {
                    location: Location::Body,
                    pointer: String::new(),
                    rule: "required",
                });
            }
            return out.into_result();
        }
        let essence = content_type.map(media::essence);
        let entry = essence.as_deref().and_then(|e| {
            let key = media::best_match(self.media.iter().map(|m| m.key.as_str()), e)?;
            self.media.iter().find(|m| m.key == key)
        });
        let (Some(entry), Some(essence)) = (entry, essence) else {
            // A body the operation does not document, or of an
            // undocumented type, is refused rather than passed on unread.
            out.push(Violation::unsupported_media_type());
            return out.into_result();
        };
        if !media::is_json(&essence) {
            return Ok(());
        }
        let Some(schema) = &entry.schema else {
            return Ok(());
        };
        let Ok(value) = serde_json::from_slice::<Value>(body) else {
            out.push(Violation {
                location: Location::Body,
                pointer: String::new(),
                rule: RULE_JSON,
            });
            return out.into_result();
        };
        report(schema, &value, Location::Body, None, &mut out);
        out.into_result()
    }

    /// Checks path, query and header parameters. `path_params` are the
    /// router's already-decoded values; `query` is the raw query string
    /// (without `?`).
    pub fn validate_params(
        &self,
        path_params: &[(String, String)],
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<(), Violations> {
        let mut out = Violations::new();
        let query_pairs = match query.map(params::parse_query) {
            Some(Ok(pairs)) => pairs,
            Some(Err(())) => {
                out.push(Violation {
                    location: Location::Query,
                    pointer: String::new(),
                    rule: RULE_ENCODING,
                });
                Vec::new()
            }
            None => Vec::new(),
        };
        for p in &self.params {
            let raw: Vec<String> = match p.location {
                Location::Path => path_params
                    .iter()
                    .filter(|(n, _)| *n == p.name)
                    .map(|(_, v)| v.clone())
                    .collect(),
                Location::Query => query_pairs
                    .iter()
                    .filter(|(n, _)| *n == p.name)
                    .map(|(_, v)| v.clone())
                    .collect(),
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
                Location::Body | Location::Cookie => continue,
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

fn violation(p: &ParamCheck, rule: &'static str) -> Violation {
    Violation {
        location: p.location,
        pointer: p.name.clone(),
        rule,
    }
}

/// Escapes a JSON pointer token.
fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
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
    let errors: Vec<_> = schema.iter_errors(value).take(MAX_VIOLATIONS * 2).collect();
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
            kind => out.push(at(path, violation::rule_name(kind.keyword()))),
        }
    }
}
