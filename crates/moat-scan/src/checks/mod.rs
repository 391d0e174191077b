//! The checks, one module per weakness family, each mapped to its OWASP
//! API Security Top 10 (2023) category through its [`Rule`]s.
//!
//! A check reads the [`Context`] (the documented operations, the
//! identities, the objects harvested, the client) and reports into an
//! [`Outcome`]: findings, and the steps it skipped with the reason, so a
//! report never reads "nothing found" where nothing was tried.

pub mod injection;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use moat_spec::ApiSpec;
use serde::Serialize;

use crate::client::{Client, Exchange, Probe, SendError};
use crate::finding::{Evidence, Finding, Rule};
use crate::identity::{Identities, Identity};
use crate::objects::Objects;
use crate::progress::Observer;
use crate::schema;
use crate::target::{Op, query_string};

pub mod auth;
pub mod bfla;
pub mod bola;
pub mod flows;
pub mod graphql;
pub mod inventory;
pub mod jwt;
pub mod login;
pub mod misconfig;
pub mod property;
pub mod resources;
pub mod sampling;
pub mod ssrf;
#[cfg(test)]
mod test_api;
pub mod timing;
pub mod token;

/// One family of checks.
#[async_trait]
pub trait Check: Send + Sync {
    /// Its name in progress output and the plan, `object-level authorization`.
    fn name(&self) -> &'static str;
    /// Every rule it may report.
    fn rules(&self) -> &'static [&'static Rule];
    /// What it would send, one line per step, for `--dry-run`. Nothing is
    /// sent to build it.
    fn plan(&self, cx: &Context) -> Vec<String>;
    /// Runs the check.
    async fn run(&self, cx: &Context, out: &mut Outcome);
}

/// Every check, in the order a scan runs them: the ones that change state
/// or send bursts last, so they do not disturb the others.
pub fn all() -> Vec<Box<dyn Check>> {
    vec![
        Box::new(misconfig::Misconfig),
        Box::new(inventory::Inventory),
        Box::new(ssrf::Ssrf),
        Box::new(graphql::Graphql),
        Box::new(injection::Injection),
        Box::new(bola::Bola),
        Box::new(property::Property),
        Box::new(bfla::Bfla),
        Box::new(auth::Credentials),
        Box::new(jwt::Tokens),
        Box::new(flows::Flows),
        // Failed logins (they may lock the last user out) and bursts last.
        Box::new(login::Logins),
        Box::new(resources::Resources),
    ]
}

/// Every rule of every check: what SARIF lists and the docs describe.
pub fn all_rules() -> Vec<&'static Rule> {
    all()
        .iter()
        .flat_map(|c| c.rules().iter().copied())
        .collect()
}

/// Why a step of a check was not taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skip {
    pub check: &'static str,
    pub reason: String,
}

/// What a check found and what it could not try.
#[derive(Debug, Default)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub skipped: Vec<Skip>,
}

impl Outcome {
    pub fn found(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    pub fn skip(&mut self, check: &'static str, reason: impl Into<String>) {
        self.skipped.push(Skip {
            check,
            reason: reason.into(),
        });
    }
}

/// Everything a check may use.
pub struct Context {
    pub client: Client,
    pub spec: Arc<ApiSpec>,
    pub ops: Vec<Op>,
    pub identities: Identities,
    pub objects: Objects,
    /// Rule ids and categories the scan is limited to (`--checks`); empty
    /// means all.
    pub selected: Vec<String>,
    pub observer: Arc<dyn Observer>,
    /// Where the SSRF canary listens and how the target can reach it.
    pub canary: Option<crate::canary::Canary>,
}

impl Context {
    /// Whether `rule` is part of this scan.
    pub fn enabled(&self, rule: &Rule) -> bool {
        self.selected.is_empty()
            || self.selected.iter().any(|s| {
                s.eq_ignore_ascii_case(rule.id)
                    || rule.id.starts_with(&format!("{s}."))
                    || s.eq_ignore_ascii_case(rule.category.code())
                    || rule
                        .category
                        .code()
                        .split(':')
                        .next()
                        .is_some_and(|c| c.eq_ignore_ascii_case(s))
            })
    }

    /// Sends `probe` as `identity`, telling the observer.
    pub async fn send(&self, probe: &Probe, identity: &Identity) -> Result<Exchange, SendError> {
        let result = self.client.send(probe, identity).await;
        self.observer.request(self.client.sent());
        result
    }

    /// Values for `op`'s path parameters: what `identity` harvested, then
    /// what anyone harvested, then the schema's sample. `None` when a
    /// parameter has no value at all.
    pub fn path_values(&self, op: &Op, identity: Option<&str>) -> Option<BTreeMap<String, String>> {
        let mut values = BTreeMap::new();
        for param in op.path_params() {
            let harvested = identity
                .and_then(|i| {
                    self.objects
                        .of(i, &param.name)
                        .first()
                        .map(|h| h.value.clone())
                })
                .or_else(|| self.objects.any(&param.name).map(str::to_string));
            let value = harvested.or_else(|| scalar_text(&schema::sample(&param.schema)))?;
            values.insert(param.name.clone(), value);
        }
        Some(values)
    }

    /// A well-formed request for `op` with path values `values`: required
    /// query parameters from their samples, and a sample JSON body when
    /// the operation takes one.
    pub fn probe(&self, op: &Op, values: &BTreeMap<String, String>) -> Option<Probe> {
        let path = op.path_with(values)?;
        let query: Vec<(String, String)> = op
            .query_params()
            .filter(|p| p.required)
            .filter_map(|p| Some((p.name.clone(), scalar_text(&schema::sample(&p.schema))?)))
            .collect();
        let mut probe = Probe::new(op.http_method(), format!("{path}{}", query_string(&query)));
        if let Some(body) = &op.body {
            probe = probe.json(&schema::sample(body));
        }
        Some(probe)
    }

    /// Evidence for `exchange`: its redacted curl, status and `observed`.
    pub fn evidence(exchange: &Exchange, observed: impl Into<String>) -> Evidence {
        Evidence {
            curl: exchange.curl(),
            status: Some(exchange.status),
            observed: observed.into(),
        }
    }
}

/// A scalar JSON value as path or query text.
pub fn scalar_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
