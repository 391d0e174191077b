//! The documented API as the scan sees it: each operation with its full
//! path on the target (server path included), its parameters and its
//! request body schema with every `$ref` resolved.

use std::collections::BTreeMap;

use moat_spec::{ApiSpec, Method, Operation, ParameterLocation};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use crate::finding::OperationRef;

/// Characters left as they are in a path segment: RFC 3986's unreserved
/// set. Everything else, `/` included, is percent-encoded, so a value is
/// always one segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A path segment or query value, percent-encoded.
pub fn encode(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// A form field name or value (`application/x-www-form-urlencoded`).
pub fn encode_form(value: &str) -> String {
    encode(value)
}

/// A query string from pairs, `?a=1&b=2`, or empty.
pub fn query_string(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let joined = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    format!("?{joined}")
}

/// One documented operation.
#[derive(Debug, Clone)]
pub struct Op {
    pub method: Method,
    /// The document's template, `/books/{bookId}`.
    pub template: String,
    /// The template as the target serves it, server path included:
    /// `/api/books/{bookId}`.
    pub full_template: String,
    pub operation_id: Option<String>,
    pub deprecated: bool,
    pub tags: Vec<String>,
    /// Whether the document requires credentials for it.
    pub secured: bool,
    /// The security schemes its requirements name.
    pub schemes: Vec<String>,
    /// The OAuth scopes its requirements name, if any.
    pub scopes: Vec<String>,
    pub parameters: Vec<Param>,
    /// The JSON request body schema, `$ref`s resolved.
    pub body: Option<Value>,
    /// The media types the request body may have.
    pub body_types: Vec<String>,
    /// Answer schemas by status (`"200"`, `"default"`), `$ref`s resolved.
    pub responses: BTreeMap<String, Value>,
    /// The operation object's own extensions (`x-…`), for document hints.
    pub extensions: BTreeMap<String, Value>,
}

#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub location: ParameterLocation,
    pub required: bool,
    /// Its schema, `$ref`s resolved.
    pub schema: Value,
}

impl Op {
    pub fn reference(&self) -> OperationRef {
        OperationRef {
            method: self.method.as_str().to_string(),
            path: self.template.clone(),
            operation_id: self.operation_id.clone(),
        }
    }

    pub fn http_method(&self) -> http::Method {
        http::Method::from_bytes(self.method.as_str().as_bytes()).unwrap_or(http::Method::GET)
    }

    /// Whether the method changes or removes an object that exists
    /// already (PUT, PATCH, DELETE). Checks send those only on objects the
    /// scan created, or with values that leave the object as it was; a
    /// probe with sample values would overwrite real data.
    pub fn changes_existing(&self) -> bool {
        matches!(self.method, Method::Put | Method::Patch | Method::Delete)
    }

    /// Whether the method reads only.
    pub fn is_read(&self) -> bool {
        matches!(self.method, Method::Get | Method::Head | Method::Options)
    }

    pub fn path_params(&self) -> impl Iterator<Item = &Param> {
        self.parameters
            .iter()
            .filter(|p| p.location == ParameterLocation::Path)
    }

    pub fn query_params(&self) -> impl Iterator<Item = &Param> {
        self.parameters
            .iter()
            .filter(|p| p.location == ParameterLocation::Query)
    }

    /// The path on the target with `values` put in for the path
    /// parameters, each percent-encoded as one segment; `None` when a path
    /// parameter has no value.
    pub fn path_with(&self, values: &BTreeMap<String, String>) -> Option<String> {
        let mut out = String::with_capacity(self.full_template.len());
        let mut rest = self.full_template.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..].find('}')? + open;
            let name = &rest[open + 1..close];
            out.push_str(&encode(values.get(name)?));
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        Some(out)
    }

    /// The path with one raw (already encoded or deliberately unencoded)
    /// text in place of `param` and `values` for the rest: for probes that
    /// must control the bytes of a segment.
    pub fn path_with_raw(
        &self,
        values: &BTreeMap<String, String>,
        param: &str,
        raw: &str,
    ) -> Option<String> {
        let marker = "\u{1}moat\u{1}";
        let mut values = values.clone();
        values.insert(param.to_string(), marker.to_string());
        let path = self.path_with(&values)?;
        Some(path.replace(&encode(marker), raw))
    }

    /// The extension `name` (`x-moat-flow`) of the operation, if set.
    pub fn extension(&self, name: &str) -> Option<&Value> {
        self.extensions.get(name)
    }
}

#[cfg(test)]
impl Op {
    /// An operation with nothing but its method and template (served at
    /// that path), secured, for unit tests.
    pub(crate) fn bare(method: Method, template: &str) -> Op {
        Op {
            method,
            template: template.to_string(),
            full_template: template.to_string(),
            operation_id: None,
            deprecated: false,
            tags: Vec::new(),
            secured: true,
            schemes: Vec::new(),
            scopes: Vec::new(),
            parameters: Vec::new(),
            body: None,
            body_types: Vec::new(),
            responses: BTreeMap::new(),
            extensions: BTreeMap::new(),
        }
    }
}

/// Every documented operation of `spec`, in document order.
pub fn operations(spec: &ApiSpec) -> Vec<Op> {
    spec.operations.iter().map(|op| view(spec, op)).collect()
}

fn view(spec: &ApiSpec, op: &Operation) -> Op {
    let prefix = op
        .server_paths
        .as_ref()
        .and_then(|p| p.first())
        .or_else(|| spec.server_paths.first())
        .map(|p| p.trim_end_matches('/').to_string())
        .unwrap_or_default();
    let parameters = op
        .parameters
        .iter()
        .map(|p| Param {
            name: p.name.clone(),
            location: p.location,
            required: p.required,
            schema: p
                .schema
                .as_ref()
                .map(|s| crate::schema::resolve(spec, p.doc, s))
                .unwrap_or(Value::Null),
        })
        .collect();
    let (body, body_types) = match &op.request_body {
        Some(body) => {
            let content = body.value.get("content").and_then(Value::as_object);
            let types = content
                .map(|c| c.keys().cloned().collect())
                .unwrap_or_default();
            let schema = content
                .and_then(|c| {
                    c.iter()
                        .find(|(t, _)| t.contains("json"))
                        .and_then(|(_, m)| m.get("schema"))
                })
                .map(|s| crate::schema::resolve(spec, body.doc, s));
            (schema, types)
        }
        None => (None, Vec::new()),
    };
    let responses = op
        .responses
        .as_object()
        .map(|r| {
            r.iter()
                .filter_map(|(status, answer)| {
                    let answer = crate::schema::resolve(spec, op.doc, answer);
                    let schema = answer
                        .get("content")
                        .and_then(Value::as_object)
                        .and_then(|c| {
                            c.iter()
                                .find(|(t, _)| t.contains("json"))
                                .and_then(|(_, m)| m.get("schema"))
                        })?
                        .clone();
                    Some((status.clone(), schema))
                })
                .collect()
        })
        .unwrap_or_default();
    let operation_object = spec.value_at(op.doc, &op.pointer);
    let extensions = operation_object
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter(|(k, _)| k.starts_with("x-"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let mut scopes: Vec<String> = op
        .policy
        .alternatives
        .iter()
        .flat_map(|r| {
            r.schemes
                .iter()
                .flat_map(|(_, scopes)| scopes.iter().cloned())
        })
        .collect();
    scopes.dedup();
    Op {
        method: op.method,
        template: op.path_template.clone(),
        full_template: format!("{prefix}{}", op.path_template),
        operation_id: op.operation_id.clone(),
        deprecated: op.deprecated,
        tags: op.tags.clone(),
        secured: !op.policy.allows_anonymous(),
        schemes: op
            .policy
            .scheme_names()
            .into_iter()
            .map(str::to_string)
            .collect(),
        scopes,
        parameters,
        body,
        body_types,
        responses,
        extensions,
    }
}
