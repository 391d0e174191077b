//! Where the target answers GraphQL: the document's operations that look
//! like GraphQL, and a few common paths, each confirmed by `{__typename}`
//! answering with a type name before any other query is sent.

use http::Method;
use serde_json::{Value, json};

use crate::checks::Context;
use crate::client::{Exchange, Probe};
use crate::finding::{Finding, OperationRef};
use crate::identity::Identity;
use crate::target::{Op, query_string};

/// Most GraphQL endpoints a scan tests.
pub(super) const MAX_ENDPOINTS: usize = 3;
/// Most candidate paths confirmed (documented and common together).
const MAX_CANDIDATES: usize = 8;
/// Common GraphQL paths, tried at the root and (but `/api/graphql`)
/// under each server path of the document.
const COMMON: &[&str] = &["/graphql", "/api/graphql", "/v1/graphql"];
/// The query that confirms an endpoint.
pub(super) const TYPENAME: &str = "{__typename}";

/// How queries are sent to an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transport {
    /// `GET ?query=`: sent without `--allow-writes`.
    Get,
    /// `POST {"query": …}`: needs `--allow-writes`.
    Post,
}

/// A path that may serve GraphQL, with its documented operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Candidate {
    pub(super) path: String,
    pub(super) get: Option<OperationRef>,
    pub(super) post: Option<OperationRef>,
}

/// A confirmed GraphQL endpoint.
pub(super) struct Endpoint<'a> {
    pub(super) candidate: Candidate,
    pub(super) transport: Transport,
    /// Who it answered.
    pub(super) identity: &'a Identity,
}

impl Endpoint<'_> {
    pub(super) fn path(&self) -> &str {
        &self.candidate.path
    }

    /// `query` as a request over the endpoint's transport.
    pub(super) fn query(&self, query: &str) -> Probe {
        match self.transport {
            Transport::Get => get(&self.candidate.path, query),
            Transport::Post => post(&self.candidate.path, &json!({"query": query})),
        }
    }

    /// `finding` placed at the documented operation of `transport`, or at
    /// the path when none is documented.
    pub(super) fn place(&self, finding: Finding, transport: Transport) -> Finding {
        let op = match transport {
            Transport::Get => &self.candidate.get,
            Transport::Post => &self.candidate.post,
        };
        match op {
            Some(op) => finding.at(op.clone()),
            None => finding.at_path(self.candidate.path.clone()),
        }
    }

    /// Sends `probe` as the endpoint's identity.
    pub(super) async fn send(&self, cx: &Context, probe: &Probe) -> Option<Exchange> {
        cx.send(probe, self.identity).await.ok()
    }
}

pub(super) fn get(path: &str, query: &str) -> Probe {
    Probe::get(format!(
        "{path}{}",
        query_string(&[("query".to_string(), query.to_string())])
    ))
}

pub(super) fn post(path: &str, body: &Value) -> Probe {
    Probe::new(Method::POST, path).json(body)
}

/// Whether `op` looks like GraphQL: its path ends in `graphql` or `gql`,
/// or its JSON body has a `query` string property.
pub(super) fn looks_like_graphql(op: &Op) -> bool {
    let path = op.full_template.to_ascii_lowercase();
    let by_path = path.ends_with("graphql") || path.ends_with("gql");
    let by_body = op.body.as_ref().is_some_and(|b| {
        crate::schema::properties(b)
            .iter()
            .any(|(name, s)| name == "query" && crate::schema::type_of(s) == Some("string"))
    });
    (by_path || by_body) && !op.full_template.contains('{')
}

/// The server paths of the document (`/api`), longest first, then `""`.
pub(super) fn bases(ops: &[Op]) -> Vec<String> {
    let mut bases: Vec<String> = ops
        .iter()
        .filter_map(|op| op.full_template.strip_suffix(&op.template))
        .map(|p| p.trim_end_matches('/').to_string())
        .filter(|p| !p.is_empty())
        .collect();
    bases.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    bases.dedup();
    bases.truncate(2);
    bases.push(String::new());
    bases
}

/// The paths to try: documented GraphQL operations first, then common
/// paths under each base; at most [`MAX_CANDIDATES`].
pub(super) fn candidates(ops: &[Op]) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    for op in ops.iter().filter(|op| looks_like_graphql(op)) {
        let index = match out.iter().position(|c| c.path == op.full_template) {
            Some(i) => i,
            None => {
                out.push(Candidate {
                    path: op.full_template.clone(),
                    get: None,
                    post: None,
                });
                out.len() - 1
            }
        };
        if let Some(c) = out.get_mut(index) {
            match op.method {
                moat_spec::Method::Get => c.get = Some(op.reference()),
                moat_spec::Method::Post => c.post = Some(op.reference()),
                _ => {}
            }
        }
    }
    for base in bases(ops) {
        for common in COMMON {
            if !base.is_empty() && common.starts_with("/api/") {
                continue;
            }
            let path = format!("{base}{common}");
            if !out.iter().any(|c| c.path == path) {
                out.push(Candidate {
                    path,
                    get: None,
                    post: None,
                });
            }
        }
    }
    out.truncate(MAX_CANDIDATES);
    out
}

/// Whether an answer is GraphQL's to `{__typename}`: a type name in
/// `data.__typename`.
pub(super) fn answers_typename(exchange: &Exchange) -> bool {
    exchange.is_success()
        && exchange
            .json()
            .as_ref()
            .and_then(|v| v.pointer("/data/__typename"))
            .and_then(Value::as_str)
            .is_some_and(|name| !name.is_empty())
}

/// The candidates that answer GraphQL, with the transport and identity
/// that reached each: POST first when writes are allowed, then GET;
/// anonymous first, then the first user with credentials.
pub(super) async fn confirm<'a>(cx: &'a Context) -> Vec<Endpoint<'a>> {
    let mut transports = Vec::new();
    if cx.client.writes_allowed() {
        transports.push(Transport::Post);
    }
    transports.push(Transport::Get);
    let identities: Vec<&Identity> = std::iter::once(&cx.identities.anonymous)
        .chain(cx.identities.authenticated().take(1))
        .collect();
    let mut found = Vec::new();
    'candidates: for candidate in candidates(&cx.ops) {
        if found.len() >= MAX_ENDPOINTS {
            break;
        }
        let documented = candidate.get.is_some() || candidate.post.is_some();
        for identity in &identities {
            // An undocumented path is tried as anonymous only.
            if !documented && identity.role() != crate::identity::Role::Anonymous {
                continue;
            }
            for transport in &transports {
                let endpoint = Endpoint {
                    candidate: candidate.clone(),
                    transport: *transport,
                    identity,
                };
                let Some(exchange) = endpoint.send(cx, &endpoint.query(TYPENAME)).await else {
                    continue;
                };
                if answers_typename(&exchange) {
                    found.push(endpoint);
                    continue 'candidates;
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: moat_spec::Method, template: &str, body: Option<Value>) -> Op {
        Op {
            full_template: format!("/api{template}"),
            secured: false,
            body,
            ..Op::bare(method, template)
        }
    }

    #[test]
    fn documented_graphql_operations_come_first_then_common_paths() {
        let ops = [
            op(moat_spec::Method::Get, "/books", None),
            op(moat_spec::Method::Post, "/graphql", None),
            op(moat_spec::Method::Get, "/graphql", None),
            op(
                moat_spec::Method::Post,
                "/search",
                Some(json!({"type": "object", "properties": {"query": {"type": "string"}}})),
            ),
            op(moat_spec::Method::Get, "/items/{gql}", None),
        ];
        let found = candidates(&ops);
        let paths: Vec<&str> = found.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/api/graphql",
                "/api/search",
                "/api/v1/graphql",
                "/graphql",
                "/v1/graphql"
            ]
        );
        assert!(found[0].get.is_some() && found[0].post.is_some());
        assert!(found[2].get.is_none() && found[2].post.is_none());
    }
}
