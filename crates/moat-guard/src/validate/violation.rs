//! What a failed validation reports: where, and which rule, never the value.
//!
//! Submitted values are left out on purpose: echoing them back would turn the
//! gateway into a reflector (of secrets, of injection payloads) and would put
//! personal data into logs that store problem responses.

use std::fmt;

use serde_json::{Value, json};

/// Most violations reported for one request. An attacker can craft a body
/// with thousands of errors; the list, and the work of producing it, stays
/// bounded.
pub const MAX_VIOLATIONS: usize = 32;

/// The rule name of a `Content-Type` the operation does not document.
pub const RULE_MEDIA_TYPE: &str = "mediaType";
/// The rule name of a body that is not well-formed JSON.
pub const RULE_JSON: &str = "json";
/// Rules of the JSON shape limits (`request_limits.json`): a body that
/// breaks them is refused as malformed (`400`) before any schema is read.
pub const SHAPE_RULES: &[&str] = &[
    "max_depth",
    "max_array_items",
    "max_string_bytes",
    "max_properties",
];

/// The rule name of a JSON object key given twice.
pub const RULE_DUPLICATE_KEY: &str = "duplicate_key";
/// The rule name of a multipart body that frameworks would read differently.
pub const RULE_MULTIPART: &str = "multipart";

/// The rule name of a value that could not be decoded (bad percent-encoding,
/// invalid UTF-8, a header that is not visible ASCII).
pub const RULE_ENCODING: &str = "encoding";

/// Where the offending input was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Location {
    /// The request body; `pointer` is a JSON pointer into it.
    Body,
    /// The query string; `pointer` is the parameter name.
    Query,
    /// A path parameter; `pointer` is its name.
    Path,
    /// A header (including `Content-Type`); `pointer` is its name.
    Header,
    /// A cookie; `pointer` is its name.
    Cookie,
}

impl Location {
    /// The spelling used in problem details (OpenAPI's `in` values, plus
    /// `body`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Body => "body",
            Self::Query => "query",
            Self::Path => "path",
            Self::Header => "header",
            Self::Cookie => "cookie",
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Violation {
    /// Where the input was.
    pub location: Location,
    /// A JSON pointer into the body, or a parameter name. Names of unknown
    /// body properties do appear here (the client needs to know which one to
    /// drop); values never do.
    pub pointer: String,
    /// The JSON Schema keyword (or OpenAPI notion) that failed: `type`,
    /// `required`, `enum`, `additionalProperties`, `readOnly`, `mediaType`,
    /// `json`, `encoding`, …
    pub rule: &'static str,
}

impl Violation {
    /// A `Content-Type` the operation does not document (415).
    pub fn unsupported_media_type() -> Self {
        Self {
            location: Location::Header,
            pointer: "content-type".to_string(),
            rule: RULE_MEDIA_TYPE,
        }
    }

    /// What a body the request view could not read one way reports: the
    /// JSON rule (syntax, a shape limit, a duplicate key) at its pointer,
    /// a form body's `encoding`, or a multipart body's `multipart`. Such
    /// bodies are malformed (400).
    pub fn unreadable_body(e: &moat_request::BodyError) -> Self {
        let (pointer, rule) = match e {
            moat_request::BodyError::Json(j) => (j.pointer.clone(), j.rule.as_str()),
            moat_request::BodyError::FormEncoding => (String::new(), RULE_ENCODING),
            moat_request::BodyError::Multipart(_) => (String::new(), RULE_MULTIPART),
        };
        Self {
            location: Location::Body,
            pointer,
            rule,
        }
    }

    /// Whether the violation is about the media type rather than the content.
    pub fn is_media_type(&self) -> bool {
        self.rule == RULE_MEDIA_TYPE
    }

    /// Whether the request is malformed rather than semantically wrong: every
    /// parameter problem, unparsable JSON and a missing body. Such requests
    /// get 400; body schema violations get 422, which says "well-formed, but
    /// not what the API accepts".
    fn is_malformed(&self) -> bool {
        self.location != Location::Body
            || self.rule == RULE_JSON
            || self.pointer.is_empty() && self.rule == "required"
            || SHAPE_RULES.contains(&self.rule)
            || self.rule == RULE_DUPLICATE_KEY
            || self.rule == RULE_MULTIPART
            || self.rule == RULE_ENCODING
    }
}

/// Every violation found in a request (at most [`MAX_VIOLATIONS`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations {
    items: Vec<Violation>,
    truncated: bool,
}

impl Violations {
    /// No violations yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one violation; duplicates (the same rule broken twice at the
    /// same place, e.g. by several `anyOf` branches) are kept once.
    pub fn push(&mut self, v: Violation) {
        if self.items.contains(&v) {
            return;
        }
        if self.items.len() >= MAX_VIOLATIONS {
            self.truncated = true;
            return;
        }
        self.items.push(v);
    }

    /// Whether the list is full and later violations were dropped.
    pub fn is_full(&self) -> bool {
        self.items.len() >= MAX_VIOLATIONS
    }

    /// Whether some violations were dropped to stay under the bound.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// The violations, in the order found.
    pub fn iter(&self) -> std::slice::Iter<'_, Violation> {
        self.items.iter()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `Ok` when empty, else `Err(self)`.
    pub fn into_result(self) -> Result<(), Violations> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    /// The response status: 415 when the media type is not documented (the
    /// content was not even looked at), 400 when the request is malformed
    /// (parameters, unparsable JSON, missing body), 422 when only the body's
    /// content breaks its schema.
    pub fn status(&self) -> http::StatusCode {
        if self.items.iter().any(Violation::is_media_type) {
            http::StatusCode::UNSUPPORTED_MEDIA_TYPE
        } else if self.items.iter().any(Violation::is_malformed) {
            http::StatusCode::BAD_REQUEST
        } else {
            http::StatusCode::UNPROCESSABLE_ENTITY
        }
    }

    /// The violations as a JSON list for a problem+json `violations` member:
    /// `[{"in": "body", "pointer": "/name", "rule": "required"}, …]`.
    pub fn to_problem_details(&self) -> Value {
        Value::Array(
            self.items
                .iter()
                .map(|v| json!({"in": v.location.as_str(), "pointer": v.pointer, "rule": v.rule}))
                .collect(),
        )
    }
}

impl<'a> IntoIterator for &'a Violations {
    type Item = &'a Violation;
    type IntoIter = std::slice::Iter<'a, Violation>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

/// The keywords a violation can be reported under. `jsonschema` names them
/// with borrowed strings; reports want `'static` ones.
const RULES: &[&str] = &[
    "additionalItems",
    "additionalProperties",
    "anyOf",
    "const",
    "contains",
    "contentEncoding",
    "contentMediaType",
    "dependentRequired",
    "dependentSchemas",
    "enum",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "format",
    "maxItems",
    "maximum",
    "maxLength",
    "maxProperties",
    "minItems",
    "minimum",
    "minLength",
    "minProperties",
    "multipleOf",
    "not",
    "oneOf",
    "pattern",
    "propertyNames",
    "required",
    "type",
    "unevaluatedItems",
    "unevaluatedProperties",
    "uniqueItems",
    "$ref",
];

/// The `'static` name of a keyword, or `schema` for one not listed.
pub(crate) fn rule_name(keyword: &str) -> &'static str {
    RULES
        .iter()
        .copied()
        .find(|r| *r == keyword)
        .unwrap_or("schema")
}
