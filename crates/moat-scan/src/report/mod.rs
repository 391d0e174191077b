//! A scan's result, and the formats it is written in.

pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod sarif;
pub mod terminal;

use serde::{Deserialize, Serialize};

use crate::checks::Skip;
use crate::finding::{Finding, Rule, Severity};

/// What a scan found.
#[derive(Debug, Serialize)]
pub struct Report {
    /// moat's version.
    pub tool: &'static str,
    pub target: String,
    /// The document's title and version.
    pub api: String,
    /// When the scan started, RFC 3339.
    pub started: String,
    pub duration_ms: u64,
    pub requests: u64,
    /// Who the scan acted as.
    pub identities: Vec<IdentitySummary>,
    pub findings: Vec<Finding>,
    pub skipped: Vec<Skip>,
    /// Problems that stopped part of the scan (an identity that could not
    /// log in, the budget spent).
    pub errors: Vec<String>,
    /// Every rule the scan ran.
    #[serde(skip)]
    pub rules: Vec<&'static Rule>,
    /// Set when a baseline was given: what it had that this scan no longer
    /// finds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
}

impl Report {
    /// Findings per severity, most severe first.
    pub fn counts(&self) -> Vec<(Severity, usize)> {
        Severity::ALL
            .into_iter()
            .map(|s| (s, self.findings.iter().filter(|f| f.severity == s).count()))
            .collect()
    }

    /// Whether any finding is at `threshold` or worse.
    pub fn fails(&self, threshold: Severity) -> bool {
        self.findings.iter().any(|f| f.severity >= threshold)
    }

    /// Compares with an earlier report (`--baseline`).
    pub fn compare(&mut self, baseline: &Baseline) {
        let now: std::collections::BTreeSet<String> =
            self.findings.iter().map(Finding::key).collect();
        let before: std::collections::BTreeSet<&str> =
            baseline.findings.iter().map(|f| f.key.as_str()).collect();
        self.comparison = Some(Comparison {
            baseline_target: baseline.target.clone(),
            closed: baseline
                .findings
                .iter()
                .filter(|f| !now.contains(&f.key))
                .cloned()
                .collect(),
            still_open: self
                .findings
                .iter()
                .filter(|f| before.contains(f.key().as_str()))
                .count(),
            new: self
                .findings
                .iter()
                .filter(|f| !before.contains(f.key().as_str()))
                .count(),
        });
    }
}

/// An identity of the scan: its name and role, never its credentials.
#[derive(Debug, Clone, Serialize)]
pub struct IdentitySummary {
    pub name: String,
    pub role: &'static str,
}

/// This scan beside a baseline.
#[derive(Debug, Serialize)]
pub struct Comparison {
    pub baseline_target: String,
    /// Findings of the baseline this scan does not show.
    pub closed: Vec<PriorFinding>,
    pub still_open: usize,
    pub new: usize,
}

/// An earlier JSON report, as `--baseline` reads it.
#[derive(Debug, Deserialize)]
pub struct Baseline {
    pub target: String,
    pub findings: Vec<PriorFinding>,
}

/// A finding of an earlier report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PriorFinding {
    pub key: String,
    pub rule: String,
    pub severity: String,
    pub title: String,
}
