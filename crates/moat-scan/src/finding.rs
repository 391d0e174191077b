//! What a scan reports: findings, each an instance of a [`Rule`] (one kind
//! of weakness, mapped to its OWASP API Security Top 10 2023 category), with
//! the evidence to reproduce it and the change that closes it at the gateway.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// How bad a finding is. Ordered: `Info < Low < Medium < High < Critical`,
/// so `--fail-on high` is `severity >= High`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A severity name that is not one of the five.
#[derive(Debug, thiserror::Error)]
#[error("unknown severity `{0}`: expected one of critical, high, medium, low, info")]
pub struct UnknownSeverity(pub String);

impl FromStr for Severity {
    type Err = UnknownSeverity;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownSeverity(s.to_string()))
    }
}

/// The OWASP API Security Top 10 (2023) categories.
///
/// Injection has no category of its own in the 2023 list; its findings are
/// filed under API8 (security misconfiguration), as the list's own text does,
/// and carry their CWE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Category {
    /// API1:2023 Broken Object Level Authorization.
    Api1,
    /// API2:2023 Broken Authentication.
    Api2,
    /// API3:2023 Broken Object Property Level Authorization.
    Api3,
    /// API4:2023 Unrestricted Resource Consumption.
    Api4,
    /// API5:2023 Broken Function Level Authorization.
    Api5,
    /// API6:2023 Unrestricted Access to Sensitive Business Flows.
    Api6,
    /// API7:2023 Server Side Request Forgery.
    Api7,
    /// API8:2023 Security Misconfiguration.
    Api8,
    /// API9:2023 Improper Inventory Management.
    Api9,
    /// API10:2023 Unsafe Consumption of APIs.
    Api10,
}

impl Category {
    pub const ALL: [Category; 10] = [
        Category::Api1,
        Category::Api2,
        Category::Api3,
        Category::Api4,
        Category::Api5,
        Category::Api6,
        Category::Api7,
        Category::Api8,
        Category::Api9,
        Category::Api10,
    ];

    /// `API1:2023`.
    pub const fn code(self) -> &'static str {
        match self {
            Category::Api1 => "API1:2023",
            Category::Api2 => "API2:2023",
            Category::Api3 => "API3:2023",
            Category::Api4 => "API4:2023",
            Category::Api5 => "API5:2023",
            Category::Api6 => "API6:2023",
            Category::Api7 => "API7:2023",
            Category::Api8 => "API8:2023",
            Category::Api9 => "API9:2023",
            Category::Api10 => "API10:2023",
        }
    }

    pub const fn title(self) -> &'static str {
        match self {
            Category::Api1 => "Broken Object Level Authorization",
            Category::Api2 => "Broken Authentication",
            Category::Api3 => "Broken Object Property Level Authorization",
            Category::Api4 => "Unrestricted Resource Consumption",
            Category::Api5 => "Broken Function Level Authorization",
            Category::Api6 => "Unrestricted Access to Sensitive Business Flows",
            Category::Api7 => "Server Side Request Forgery",
            Category::Api8 => "Security Misconfiguration",
            Category::Api9 => "Improper Inventory Management",
            Category::Api10 => "Unsafe Consumption of APIs",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.title())
    }
}

/// One kind of weakness a check looks for. Rules are static: the SARIF
/// report lists them, the docs describe each, and findings point at one.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Stable id, `area.what` (`bola.path`, `auth.alg-none`): what
    /// `--checks` selects and SARIF's `ruleId` carries.
    pub id: &'static str,
    /// A short title.
    pub name: &'static str,
    pub category: Category,
    pub severity: Severity,
    /// The CWE it is an instance of, where one fits.
    pub cwe: Option<u32>,
    /// What the weakness is and why it matters, in a sentence or two.
    pub description: &'static str,
}

/// The documented operation a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperationRef {
    pub method: String,
    /// The document's path template, `/api/books/{bookId}`.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
}

impl fmt::Display for OperationRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        if let Some(id) = &self.operation_id {
            write!(f, " ({id})")?;
        }
        Ok(())
    }
}

/// One exchange that shows the weakness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// A curl command that repeats the request, credentials redacted
    /// ([`crate::curl`]).
    pub curl: String,
    /// The answer's status, when one came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// What in the answer shows it (a field name, a header, a timing),
    /// never a secret value.
    pub observed: String,
}

/// How to close a finding: the gateway config and/or the document change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Fix {
    /// Text, usually YAML for moat's config or the OpenAPI document, that
    /// closes the weakness at the gateway.
    pub moat: String,
    /// Where in the API itself the weakness should also be fixed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
}

/// A weakness found.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The rule's id; [`Finding::rule`] gives the rule itself.
    pub rule: &'static str,
    #[serde(skip)]
    rule_ref: &'static Rule,
    pub category: Category,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<OperationRef>,
    /// The request path when no documented operation applies (an
    /// undocumented route found by the inventory checks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The identity the weakness was shown with, and against whose objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// One line that says what was found, specific to this instance.
    pub title: String,
    /// What was sent and observed, in a few sentences.
    pub detail: String,
    pub evidence: Vec<Evidence>,
    pub fix: Fix,
}

impl Finding {
    /// A finding of `rule`, at the rule's severity.
    pub fn new(rule: &'static Rule, title: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            rule: rule.id,
            rule_ref: rule,
            category: rule.category,
            severity: rule.severity,
            operation: None,
            path: None,
            identity: None,
            title: title.into(),
            detail: detail.into(),
            evidence: Vec::new(),
            fix: Fix::default(),
        }
    }

    pub fn rule(&self) -> &'static Rule {
        self.rule_ref
    }

    pub fn at(mut self, operation: OperationRef) -> Self {
        self.operation = Some(operation);
        self
    }

    pub fn at_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub fn by(mut self, identity: impl Into<String>) -> Self {
        self.identity = Some(identity.into());
        self
    }

    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    pub fn evidence(mut self, evidence: Evidence) -> Self {
        self.evidence.push(evidence);
        self
    }

    pub fn fix(mut self, moat: impl Into<String>) -> Self {
        self.fix.moat = moat.into();
        self
    }

    pub fn fix_api(mut self, api: impl Into<String>) -> Self {
        self.fix.api = Some(api.into());
        self
    }

    /// What identifies this finding across scans: the rule, the operation
    /// (or path) and the parameter or field named in the title. Used to
    /// tell which findings of a baseline a later scan no longer shows.
    pub fn key(&self) -> String {
        let place = match (&self.operation, &self.path) {
            (Some(op), _) => format!("{} {}", op.method, op.path),
            (None, Some(path)) => path.clone(),
            (None, None) => String::new(),
        };
        format!("{}|{}|{}", self.rule, place, self.title)
    }
}
