//! Well-formed requests to documented read operations, sent as someone
//! allowed to make them: what the misconfiguration and inventory checks
//! look at (headers, versions) and compare against.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::client::{Exchange, Probe};
use crate::identity::Identity;
use crate::schema;
use crate::target::{Op, encode};

use super::Context;

/// Who may call `op`: anonymous for a public operation, the first
/// identity with credentials for a secured one (`None` when there is
/// none).
pub fn reader<'a>(cx: &'a Context, op: &Op) -> Option<&'a Identity> {
    if op.secured {
        cx.identities.authenticated().next()
    } else {
        Some(&cx.identities.anonymous)
    }
}

/// A well-formed probe of `op` as `identity`, from harvested values.
pub fn probe_for(cx: &Context, op: &Op, identity: &Identity) -> Option<Probe> {
    let values = cx.path_values(op, Some(identity.name()))?;
    cx.probe(op, &values)
}

/// Up to `max` documented GET operations (in document order, deprecated
/// ones left out) with a well-formed probe each and who sends it: the
/// first identity with credentials when there is one (an authenticated
/// answer), anonymous otherwise.
pub fn reads(cx: &Context, max: usize) -> Vec<(&Op, &Identity, Probe)> {
    cx.ops
        .iter()
        .filter(|op| op.method == moat_spec::Method::Get && !op.deprecated)
        .filter_map(|op| {
            let identity = cx
                .identities
                .authenticated()
                .next()
                .or_else(|| reader(cx, op))?;
            let probe = probe_for(cx, op, identity)?;
            Some((op, identity, probe))
        })
        .take(max)
        .collect()
}

/// The answers of [`reads`] that succeeded (2xx).
pub async fn answered(cx: &Context, max: usize) -> Vec<(&Op, Exchange)> {
    let mut out = Vec::new();
    for (op, identity, probe) in reads(cx, max) {
        if let Ok(exchange) = cx.send(&probe, identity).await
            && exchange.is_success()
        {
            out.push((op, exchange));
        }
    }
    out
}

/// Where a probe carries a value a check chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Query(String),
    Path(String),
    /// A JSON pointer into the body.
    Body(String),
}

impl Place {
    /// `` `name` (query) ``, for titles.
    pub fn describe(&self) -> String {
        match self {
            Place::Query(name) => format!("`{name}` (query)"),
            Place::Path(name) => format!("`{name}` (path)"),
            Place::Body(pointer) => format!("`{pointer}` (body)"),
        }
    }
}

/// `probe` (built by [`Context::probe`] from `values`) with `value` in
/// `place`: a query parameter replaced or added, a path segment
/// (percent-encoded), or a field of the sample body.
pub fn with_value(
    op: &Op,
    place: &Place,
    values: &BTreeMap<String, String>,
    probe: Probe,
    value: &str,
) -> Option<Probe> {
    let (path, query) = match probe.path_and_query.split_once('?') {
        Some((path, query)) => (path.to_string(), query.to_string()),
        None => (probe.path_and_query.clone(), String::new()),
    };
    match place {
        Place::Query(name) => {
            let encoded = encode(name);
            let mut pairs: Vec<String> = query
                .split('&')
                .filter(|p| !p.is_empty() && p.split('=').next() != Some(encoded.as_str()))
                .map(str::to_string)
                .collect();
            pairs.push(format!("{encoded}={}", encode(value)));
            Some(Probe {
                path_and_query: format!("{path}?{}", pairs.join("&")),
                ..probe
            })
        }
        Place::Path(name) => {
            let path = op.path_with_raw(values, name, &encode(value))?;
            let query = if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            };
            Some(Probe {
                path_and_query: format!("{path}{query}"),
                ..probe
            })
        }
        Place::Body(pointer) => {
            let mut body = op.body.as_ref().map(schema::sample)?;
            *body.pointer_mut(pointer)? = Value::String(value.to_string());
            Some(probe.json(&body))
        }
    }
}

/// A context for `target` with the document `doc`, no identities but
/// anonymous and no canary: for the checks' tests against local servers.
#[cfg(test)]
pub(crate) fn test_context(target: &reqwest::Url, doc: &str) -> Context {
    use std::sync::Arc;
    let spec = Arc::new(moat_spec::load_text("openapi.yaml", doc).unwrap());
    Context {
        client: crate::client::Client::new(
            target,
            crate::client::Limits {
                rate: 1000.0,
                ..crate::client::Limits::default()
            },
            false,
        )
        .unwrap(),
        ops: crate::target::operations(&spec),
        spec,
        identities: crate::identity::Identities::new(Vec::new()),
        objects: crate::objects::Objects::default(),
        selected: Vec::new(),
        observer: Arc::new(crate::progress::Silent),
        canary: None,
    }
}
