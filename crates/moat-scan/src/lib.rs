//! moat's API scanner: tests a running API for the OWASP API Security Top
//! 10 (2023) from its OpenAPI document, acting as anonymous, as ordinary
//! users and as a privileged user.
//!
//! A scan runs in named phases:
//!
//! 1. **identities** ([`identity`]): credentials as given, or from login
//!    flows (registering the users first when writes are allowed);
//! 2. **harvest** ([`harvest`]): every identity lists and reads what it can
//!    (and creates, with writes allowed) to collect real object ids;
//! 3. **checks** ([`checks`]): each family in turn, reporting findings
//!    mapped to OWASP categories, with evidence and the gateway fix;
//! 4. **report** ([`report`]): terminal, JSON, SARIF, JUnit, Markdown,
//!    HTML.
//!
//! Every request goes through one [`Client`]: target only, safe methods
//! unless writes are allowed, a bounded rate and a bounded total.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod canary;
pub mod checks;
pub mod client;
pub mod config;
pub mod curl;
pub mod finding;
pub mod harvest;
pub mod identity;
pub mod objects;
pub mod progress;
pub mod report;
pub mod schema;
pub mod target;

use std::sync::Arc;
use std::time::Instant;

pub use client::{Client, Exchange, Limits, Probe, SendError};
pub use finding::{Category, Finding, Rule, Severity};
pub use report::Report;
pub use reqwest::Url;

use checks::{Check, Context, Outcome};
use identity::{Identities, Identity, IdentityConfig};
use progress::Observer;

/// What to scan and how.
pub struct Scan {
    pub target: reqwest::Url,
    pub spec: Arc<moat_spec::ApiSpec>,
    pub identities: Vec<IdentityConfig>,
    pub limits: Limits,
    /// Rule ids, families or categories to run; all when empty.
    pub selected: Vec<String>,
    pub canary: config::CanaryConfig,
}

/// Why a scan could not start.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("cannot set up the HTTP client: {0}")]
    Client(SendError),
    #[error(transparent)]
    Identity(#[from] identity::IdentityError),
    #[error("the scan needs {0}")]
    Identities(String),
}

impl Scan {
    /// The checks this scan runs.
    pub fn checks(&self) -> Vec<Box<dyn Check>> {
        checks::all()
    }

    /// Lines describing what the scan would do, without sending anything.
    pub fn plan(&self) -> Result<Vec<String>, ScanError> {
        let client =
            Client::new(&self.target, self.limits.clone(), true).map_err(ScanError::Client)?;
        let cx = Context {
            client,
            spec: Arc::clone(&self.spec),
            ops: target::operations(&self.spec),
            identities: Identities::new(
                self.identities
                    .iter()
                    .map(|c| Identity::with_headers(&c.name, c.role, Vec::new()))
                    .collect(),
            ),
            objects: objects::Objects::default(),
            selected: self.selected.clone(),
            observer: Arc::new(progress::Silent),
            canary: None,
        };
        let mut lines = vec![
            format!(
                "target {} (requests go to this origin only, redirects are not followed)",
                cx.client.origin()
            ),
            format!(
                "at most {} requests, {} per second, {:?} each; writes {}",
                self.limits.max_requests,
                self.limits.rate,
                self.limits.timeout,
                if self.limits.allow_writes {
                    "allowed"
                } else {
                    "not sent (GET, HEAD, OPTIONS and TRACE only, and the identities' logins)"
                }
            ),
            format!("{} documented operations", cx.ops.len()),
        ];
        for config in &self.identities {
            lines.push(format!(
                "identity {} ({})",
                config.name,
                config.role.as_str()
            ));
        }
        lines.push("harvest: every identity lists and reads the GET operations".to_string());
        for check in self.checks() {
            if !check.rules().iter().any(|r| cx.enabled(r)) {
                continue;
            }
            lines.push(format!("check {}:", check.name()));
            for step in check.plan(&cx) {
                lines.push(format!("  {step}"));
            }
        }
        Ok(lines)
    }

    /// Runs the scan.
    pub async fn run(&self, observer: Arc<dyn Observer>) -> Result<Report, ScanError> {
        let started = Instant::now();
        let started_at = humantime_now();
        let client =
            Client::new(&self.target, self.limits.clone(), false).map_err(ScanError::Client)?;
        let checks = self.checks();
        let total = checks.len() + 2;
        observer.phase("identities", 1, total);
        let mut identities = Vec::new();
        for config in &self.identities {
            identities.push(Identity::resolve(config, &client).await?);
        }
        let canary = canary::start(&self.canary).await;
        let mut cx = Context {
            client,
            spec: Arc::clone(&self.spec),
            ops: target::operations(&self.spec),
            identities: Identities::new(identities),
            objects: objects::Objects::default(),
            selected: self.selected.clone(),
            observer: Arc::clone(&observer),
            canary: canary.as_ref().map(|c| c.canary.clone()),
        };
        observer.phase("harvest", 2, total);
        harvest::harvest(&mut cx).await;
        let mut outcome = Outcome::default();
        for (i, check) in checks.iter().enumerate() {
            if !check.rules().iter().any(|r| cx.enabled(r)) {
                continue;
            }
            observer.phase(check.name(), i + 3, total);
            let mut found = Outcome::default();
            check.run(&cx, &mut found).await;
            for finding in found.findings {
                if cx.enabled(finding.rule()) {
                    observer.finding(&finding);
                    outcome.findings.push(finding);
                }
            }
            outcome.skipped.extend(found.skipped);
        }
        observer.done();
        let mut errors = Vec::new();
        if cx.client.sent() >= self.limits.max_requests {
            errors.push(format!(
                "the request budget ({}) was spent: checks after that point sent nothing (raise --max-requests)",
                self.limits.max_requests
            ));
        }
        let (document, locations) = report::locate(&self.spec);
        outcome
            .findings
            .sort_by(|a, b| b.severity.cmp(&a.severity).then(a.rule.cmp(b.rule)));
        Ok(Report {
            tool: concat!("moat ", env!("CARGO_PKG_VERSION")),
            target: self.target.to_string(),
            api: format!("{} {}", self.spec.title, self.spec.version),
            started: started_at,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            requests: cx.client.sent(),
            identities: cx
                .identities
                .all()
                .map(|i| report::IdentitySummary {
                    name: i.name().to_string(),
                    role: i.role().as_str(),
                })
                .collect(),
            findings: outcome.findings,
            skipped: outcome.skipped,
            errors,
            rules: checks
                .iter()
                .flat_map(|c| c.rules().iter().copied())
                .filter(|r| cx.enabled(r))
                .collect(),
            document,
            locations,
            comparison: None,
        })
    }
}

fn humantime_now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
