//! What credentials each operation requires, as the document says.
//!
//! OpenAPI's `security` is a list of alternatives (any one may be met), each
//! a set of schemes that must all be met, each with the scopes it needs. An
//! empty alternative (`{}`) means anonymous access is allowed; an empty list
//! (`security: []`) or no `security` anywhere means no credentials are
//! required. An operation's own `security` replaces the root one.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::documents::DocId;
use crate::operations::Builder;

/// Where an API key is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyLocation {
    /// A request header.
    Header,
    /// A query parameter.
    Query,
    /// A cookie.
    Cookie,
}

impl ApiKeyLocation {
    /// The OpenAPI name: `header`, `query`, `cookie`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiKeyLocation::Header => "header",
            ApiKeyLocation::Query => "query",
            ApiKeyLocation::Cookie => "cookie",
        }
    }
}

/// The kind of a security scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemeKind {
    /// `type: apiKey`: a key in a header, query parameter or cookie.
    ApiKey {
        /// The header, parameter or cookie name.
        name: String,
        /// Where it is sent.
        location: ApiKeyLocation,
    },
    /// `type: http, scheme: basic`.
    HttpBasic,
    /// `type: http, scheme: bearer` (`bearerFormat` is informative only).
    HttpBearer,
    /// `type: http` with another scheme (e.g. `digest`): moat cannot verify it.
    HttpOther(String),
    /// `type: oauth2`: a bearer token, with the scopes its flows declare.
    OAuth2 {
        /// Every scope any flow declares.
        scopes: Vec<String>,
    },
    /// `type: openIdConnect`: a bearer token from the provider at `url`.
    OpenIdConnect {
        /// The `openIdConnectUrl` (the discovery document).
        url: String,
    },
    /// `type: mutualTLS` (OpenAPI 3.1): a client certificate.
    MutualTls,
}

impl SchemeKind {
    /// A short name for messages: `apiKey`, `http basic`, ….
    pub fn describe(&self) -> String {
        match self {
            SchemeKind::ApiKey { location, .. } => format!("apiKey in {}", location.as_str()),
            SchemeKind::HttpBasic => "http basic".to_string(),
            SchemeKind::HttpBearer => "http bearer".to_string(),
            SchemeKind::HttpOther(s) => format!("http {s}"),
            SchemeKind::OAuth2 { .. } => "oauth2".to_string(),
            SchemeKind::OpenIdConnect { .. } => "openIdConnect".to_string(),
            SchemeKind::MutualTls => "mutualTLS".to_string(),
        }
    }
}

/// A named entry of `components.securitySchemes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityScheme {
    /// Its name: the key under `securitySchemes`.
    pub name: String,
    /// What it is.
    pub kind: SchemeKind,
}

/// One alternative: every listed scheme must be met, with its scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirement {
    /// `(scheme name, required scopes)`, in document order. Empty means
    /// anonymous access is allowed.
    pub schemes: Vec<(String, Vec<String>)>,
}

/// The effective requirement of an operation: any one alternative suffices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityPolicy {
    /// The alternatives. Empty means no credentials are required.
    pub alternatives: Vec<Requirement>,
}

impl SecurityPolicy {
    /// True when a request without credentials may pass.
    pub fn allows_anonymous(&self) -> bool {
        self.alternatives.is_empty() || self.alternatives.iter().any(|r| r.schemes.is_empty())
    }

    /// Every scheme named by any alternative, without repeats.
    pub fn scheme_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for r in &self.alternatives {
            for (name, _) in &r.schemes {
                if !names.contains(&name.as_str()) {
                    names.push(name);
                }
            }
        }
        names
    }
}

impl Builder<'_> {
    /// Reads `components.securitySchemes` of the root document.
    pub(crate) fn security_schemes(&mut self) -> BTreeMap<String, SecurityScheme> {
        let mut out = BTreeMap::new();
        let Some(root) = self.set.get(DocId::ROOT) else {
            return out;
        };
        let Some(map) = root
            .value
            .pointer("/components/securitySchemes")
            .and_then(Value::as_object)
        else {
            return out;
        };
        for (name, raw) in map {
            let mut pointer = String::from("/components/securitySchemes");
            moat_config::source::push_pointer(&mut pointer, name);
            // A scheme may be a `$ref`; linking has already checked it.
            let Ok(target) = self.set.follow(DocId::ROOT, raw) else {
                continue;
            };
            let (doc, ptr) = (target.doc, target.pointer.unwrap_or(pointer));
            if let Some(kind) = self.scheme_kind(doc, &ptr, target.value) {
                out.insert(
                    name.clone(),
                    SecurityScheme {
                        name: name.clone(),
                        kind,
                    },
                );
            }
        }
        out
    }

    fn scheme_kind(&mut self, doc: DocId, pointer: &str, v: &Value) -> Option<SchemeKind> {
        let field = |k: &str| v.get(k).and_then(Value::as_str);
        let Some(kind) = field("type") else {
            self.error(
                doc,
                pointer,
                "the security scheme has no `type`",
                "use apiKey, http, oauth2, openIdConnect or mutualTLS",
            );
            return None;
        };
        match kind {
            "apiKey" => {
                let location = match field("in") {
                    Some("header") => ApiKeyLocation::Header,
                    Some("query") => ApiKeyLocation::Query,
                    Some("cookie") => ApiKeyLocation::Cookie,
                    _ => {
                        self.error(
                            doc,
                            pointer,
                            "an apiKey scheme needs `in: header`, `query` or `cookie`",
                            "say where clients send the key",
                        );
                        return None;
                    }
                };
                let Some(name) = field("name").filter(|n| !n.is_empty()) else {
                    self.error(
                        doc,
                        pointer,
                        "an apiKey scheme needs a `name`",
                        "the name of the header, query parameter or cookie carrying the key",
                    );
                    return None;
                };
                Some(SchemeKind::ApiKey {
                    name: name.to_string(),
                    location,
                })
            }
            "http" => match field("scheme").map(str::to_ascii_lowercase).as_deref() {
                Some("basic") => Some(SchemeKind::HttpBasic),
                Some("bearer") => Some(SchemeKind::HttpBearer),
                Some(other) => Some(SchemeKind::HttpOther(other.to_string())),
                None => {
                    self.error(
                        doc,
                        pointer,
                        "an http scheme needs a `scheme`",
                        "e.g. `scheme: bearer` or `scheme: basic`",
                    );
                    None
                }
            },
            "oauth2" => {
                let mut scopes: Vec<String> = Vec::new();
                if let Some(flows) = v.get("flows").and_then(Value::as_object) {
                    for flow in flows.values() {
                        if let Some(s) = flow.get("scopes").and_then(Value::as_object) {
                            for name in s.keys() {
                                if !scopes.contains(name) {
                                    scopes.push(name.clone());
                                }
                            }
                        }
                    }
                }
                Some(SchemeKind::OAuth2 { scopes })
            }
            "openIdConnect" => Some(SchemeKind::OpenIdConnect {
                url: field("openIdConnectUrl").unwrap_or_default().to_string(),
            }),
            "mutualTLS" => Some(SchemeKind::MutualTls),
            other => {
                self.error(
                    doc,
                    &format!("{pointer}/type"),
                    format!("unknown security scheme type `{other}`"),
                    "use apiKey, http, oauth2, openIdConnect or mutualTLS",
                );
                None
            }
        }
    }

    /// Reads a `security` value (root or operation) into a policy, checking
    /// that every scheme it names is defined.
    pub(crate) fn security_policy(
        &mut self,
        doc: DocId,
        pointer: &str,
        value: &Value,
        schemes: &BTreeMap<String, SecurityScheme>,
    ) -> SecurityPolicy {
        let mut policy = SecurityPolicy::default();
        let Some(list) = value.as_array() else {
            self.error(
                doc,
                pointer,
                "`security` must be a list of requirement objects",
                "e.g. `security: [{ApiKey: []}]`",
            );
            return policy;
        };
        for (i, req) in list.iter().enumerate() {
            let req_ptr = format!("{pointer}/{i}");
            let Some(map) = req.as_object() else {
                self.error(
                    doc,
                    &req_ptr,
                    "a security requirement must be an object",
                    "map scheme names to scope lists, e.g. `{OAuth: [read]}`",
                );
                continue;
            };
            let mut requirement = Requirement::default();
            for (name, scopes) in map {
                let mut p = req_ptr.clone();
                moat_config::source::push_pointer(&mut p, name);
                if !schemes.contains_key(name) {
                    let known: Vec<&str> = schemes.keys().map(String::as_str).collect();
                    let hint = match crate::suggest::suggest(name, known.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None if known.is_empty() => {
                            "define it under `components.securitySchemes`".to_string()
                        }
                        None => format!("defined schemes: {}", known.join(", ")),
                    };
                    self.error_at_key(
                        doc,
                        &p,
                        format!("security scheme `{name}` is not defined"),
                        hint,
                    );
                    continue;
                }
                let scopes = scopes
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                requirement.schemes.push((name.clone(), scopes));
            }
            policy.alternatives.push(requirement);
        }
        policy
    }
}
