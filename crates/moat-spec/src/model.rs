//! What moat needs to know about a spec: its operations and their inputs.
//!
//! Only what routing and request validation use is modelled; everything else
//! stays available as raw JSON through [`ApiSpec::documents`], so later work
//! (schema validation, security schemes) can read it without this crate
//! growing a full OpenAPI object model.

use std::collections::BTreeMap;
use std::fmt;

use moat_config::diagnostic::Diagnostic;
use moat_config::source::Document;
use serde_json::Value;

use crate::documents::{DocId, DocumentSet, Target};
use crate::reference::ResolveError;
use crate::security::{SecurityPolicy, SecurityScheme};

/// The OpenAPI versions moat reads.
///
/// They differ in how schemas are written (3.0's `nullable` vs 3.1's JSON
/// Schema 2020-12 types), which the validator needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpenApiVersion {
    /// `openapi: 3.0.x`.
    V3_0,
    /// `openapi: 3.1.x`.
    V3_1,
}

impl fmt::Display for OpenApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V3_0 => "3.0",
            Self::V3_1 => "3.1",
        })
    }
}

/// The eight HTTP methods an OpenAPI path item can describe.
///
/// The order is the one the OpenAPI specification lists them in, and the
/// order `Allow` lists are reported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// GET
    Get,
    /// PUT
    Put,
    /// POST
    Post,
    /// DELETE
    Delete,
    /// OPTIONS
    Options,
    /// HEAD
    Head,
    /// PATCH
    Patch,
    /// TRACE
    Trace,
}

impl Method {
    /// Every method, in OpenAPI order.
    pub const ALL: [Method; 8] = [
        Method::Get,
        Method::Put,
        Method::Post,
        Method::Delete,
        Method::Options,
        Method::Head,
        Method::Patch,
        Method::Trace,
    ];

    /// The request-line spelling: `GET`, `POST`, …
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Put => "PUT",
            Self::Post => "POST",
            Self::Delete => "DELETE",
            Self::Options => "OPTIONS",
            Self::Head => "HEAD",
            Self::Patch => "PATCH",
            Self::Trace => "TRACE",
        }
    }

    /// The key under which a path item holds this method: `get`, `post`, …
    pub const fn openapi_key(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Put => "put",
            Self::Post => "post",
            Self::Delete => "delete",
            Self::Options => "options",
            Self::Head => "head",
            Self::Patch => "patch",
            Self::Trace => "trace",
        }
    }

    /// Parses a request method.
    ///
    /// HTTP methods are case-sensitive (RFC 9110 §9.1), so `get` is not
    /// `GET`; anything else (`CONNECT`, WebDAV verbs) is `None`.
    pub fn from_request(method: &str) -> Option<Method> {
        Self::ALL.into_iter().find(|m| m.as_str() == method)
    }

    /// Parses a path item key (`get`, `post`, …).
    pub fn from_openapi_key(key: &str) -> Option<Method> {
        Self::ALL.into_iter().find(|m| m.openapi_key() == key)
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a parameter is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParameterLocation {
    /// A `{name}` in the path template.
    Path,
    /// The query string.
    Query,
    /// A request header.
    Header,
    /// A cookie.
    Cookie,
}

impl ParameterLocation {
    /// Parses the `in` field.
    pub fn from_openapi(s: &str) -> Option<Self> {
        match s {
            "path" => Some(Self::Path),
            "query" => Some(Self::Query),
            "header" => Some(Self::Header),
            "cookie" => Some(Self::Cookie),
            _ => None,
        }
    }

    /// The `in` spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::Query => "query",
            Self::Header => "header",
            Self::Cookie => "cookie",
        }
    }
}

/// A parameter an operation accepts, with `$ref`s resolved.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Parameter {
    /// The parameter's name (for headers, as written; compare them
    /// case-insensitively).
    pub name: String,
    /// Where it is carried.
    pub location: ParameterLocation,
    /// Whether a request must carry it; always true for path parameters.
    pub required: bool,
    /// The parameter's schema: `schema`, or for a parameter described with
    /// `content`, the schema of its (single) media type.
    pub schema: Option<Value>,
    /// The document the parameter object is in: `$ref`s in `schema` are
    /// relative to it.
    pub doc: DocId,
    /// The JSON pointer of the parameter object inside `doc`.
    pub pointer: String,
}

/// A value that was reached through `$ref`s, with where it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The document the value is in: `$ref`s inside it are relative to it.
    pub doc: DocId,
    /// The JSON pointer of the value inside `doc`.
    pub pointer: String,
    /// The value (a copy of the raw JSON).
    pub value: Value,
}

/// One documented operation: a method on a path template.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Operation {
    /// The HTTP method.
    pub method: Method,
    /// The path template as written in the spec, e.g. `/pets/{id}`.
    pub path_template: String,
    /// The `operationId`, when the spec gives one.
    pub operation_id: Option<String>,
    /// Whether the spec marks the operation deprecated.
    pub deprecated: bool,
    /// The operation's tags.
    pub tags: Vec<String>,
    /// The document the operation object is in (the root, unless its path
    /// item is a `$ref` to another file).
    pub doc: DocId,
    /// The JSON pointer of the operation object in `doc`, e.g.
    /// `/paths/~1pets~1{id}/get`.
    pub pointer: String,
    /// Path-item and operation parameters merged: an operation parameter
    /// replaces a path-item one with the same name and location. Header
    /// parameters named `Accept`, `Content-Type` or `Authorization` are left
    /// out, as the OpenAPI specification says they are ignored.
    pub parameters: Vec<Parameter>,
    /// The operation's own `security` requirement, overriding the root one.
    pub security: Option<Value>,
    /// The credentials the operation requires: its own `security`, or else
    /// the root one.
    pub policy: SecurityPolicy,
    /// The request body object, resolved.
    pub request_body: Option<Resolved>,
    /// The raw `responses` object (`null` when absent); `$ref`s inside are
    /// relative to `doc`.
    pub responses: Value,
    /// The server paths from operation- or path-item-level `servers`, when
    /// present; `None` means [`ApiSpec::server_paths`] apply.
    pub server_paths: Option<Vec<String>>,
    pub(crate) id: String,
}

impl Operation {
    /// A stable name for the operation, for logs and metrics: the
    /// `operationId`, or else `METHOD /template`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The path parameter declared for `name`, if any.
    pub fn path_parameter(&self, name: &str) -> Option<&Parameter> {
        self.parameters
            .iter()
            .find(|p| p.location == ParameterLocation::Path && p.name == name)
    }
}

/// A loaded and checked OpenAPI document, with every file it refers to.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApiSpec {
    /// The `openapi` version family.
    pub openapi: OpenApiVersion,
    /// `info.title` (empty, with a warning, when missing).
    pub title: String,
    /// `info.version` (empty, with a warning, when missing).
    pub version: String,
    /// The path part of each root-level `servers[].url`, server variables
    /// replaced by their defaults, without a trailing slash (`""` for the
    /// root), de-duplicated. `[""]` when there are no servers.
    pub server_paths: Vec<String>,
    /// Every operation, in document order.
    pub operations: Vec<Operation>,
    /// The raw `components.securitySchemes`.
    pub security_schemes: Option<Value>,
    /// The security schemes, parsed, by name.
    pub schemes: BTreeMap<String, SecurityScheme>,
    /// The raw root `security` requirement.
    pub security: Option<Value>,
    /// Problems that break no rule moat relies on, but that a spec author
    /// would want to know about.
    pub warnings: Vec<Diagnostic>,
    pub(crate) documents: DocumentSet,
}

impl ApiSpec {
    /// Every file the document was read from: the document itself and
    /// each file its `$ref`s reached.
    pub fn files(&self) -> impl Iterator<Item = &std::path::Path> {
        self.documents.all().iter().map(|d| d.path())
    }

    /// Every document the spec was loaded from; index with [`DocId::index`].
    /// The first is the root.
    pub fn documents(&self) -> &[Document] {
        self.documents.all()
    }

    /// One document of the spec.
    pub fn document(&self, id: DocId) -> Option<&Document> {
        self.documents.get(id)
    }

    /// Follows `value` while it is a `$ref` (bounded, loops reported) and
    /// returns the value it names. `doc` is the document `value` is in, which
    /// relative references are resolved against.
    ///
    /// Schemas may be recursive, so nothing is inlined at load: callers
    /// resolve one reference at a time, when they reach it.
    pub fn resolve<'a>(&'a self, doc: DocId, value: &'a Value) -> Result<Target<'a>, ResolveError> {
        self.documents.follow(doc, value)
    }

    /// Follows a single `$ref` string written in document `doc`, without
    /// following any reference the target itself is.
    pub fn resolve_ref(&self, doc: DocId, reference: &str) -> Result<Target<'_>, ResolveError> {
        let (doc, pointer, value) = self.documents.step(doc, reference)?;
        Ok(Target {
            doc,
            pointer: Some(pointer),
            value,
        })
    }

    /// The value at a JSON pointer in one of the spec's documents.
    pub fn value_at(&self, doc: DocId, pointer: &str) -> Option<&Value> {
        self.documents.get(doc)?.value.pointer(pointer)
    }

    /// The operation with this [`Operation::id`].
    pub fn operation(&self, id: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.id() == id)
    }
}
