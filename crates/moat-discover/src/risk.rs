//! A risk score per operation, and the factors that explain it.
//!
//! The score (0–100) is the sum of the weights of the factors that apply,
//! capped at 100; [`RiskLevel`] buckets it (`high` from 40, `medium` from
//! 20). Each factor says in one line why it counts ([`RiskFactor::explain`]).
//! The model is computed from a plain [`RiskInput`], so discovery (from
//! traffic) and the gateway's inventory (from the document and the config)
//! score operations the same way.
//!
//! | factor | weight | when |
//! |---|---|---|
//! | `unauthenticated` | 25 | no request carries credentials (or the document requires none) |
//! | `sometimes_unauthenticated` | 10 | some requests carry none (or credentials are optional) |
//! | `write_without_auth` | 20 | a method other than GET, HEAD, OPTIONS, TRACE that passes without credentials |
//! | `sensitive_data_returned` | 15 | personal data (emails, phones, cards, IBANs, national ids, birth dates, IP addresses) in answers |
//! | `secrets_in_answers` | 20 | passwords, secrets, API keys or JWTs in answers |
//! | `shadow` | 20 | not in the document |
//! | `zombie` | 20 | deprecated, or an older version still used beside a newer one |
//! | `object_id_without_ownership` | 20 | an object id in the path, and no ownership rule for it |
//! | `no_rate_limit` | 10 | no rate limit or quota applies |
//! | `undocumented_answer_fields` | 10 | answers carry fields the document does not describe |
//! | `excessive_data_exposure` | 20 | such undocumented fields carry sensitive data |
//!
//! What is not known is not scored: without a document there is no
//! shadow or undocumented field; without a config
//! ([`RiskInput::has_ownership_rule`] and [`RiskInput::has_rate_limit`]
//! left `None`) no ownership or rate-limit factor; with [`AuthPresence::Unobserved`] no
//! authentication factor.

use std::collections::BTreeSet;

use crate::auth::AuthPresence;
use crate::drift::{Judged, Standing};
use crate::schema_drift::SchemaDrift;
use crate::segment::SegmentKind;
use crate::sensitive::{Findings, SensitiveKind};
use crate::template::{DiscoveredOperation, Part};

/// Score from which an operation is [`RiskLevel::High`].
pub const HIGH: u8 = 40;
/// Score from which an operation is [`RiskLevel::Medium`].
pub const MEDIUM: u8 = 20;

/// What the risk of one operation is computed from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RiskInput {
    /// The HTTP method.
    pub method: String,
    /// Whether a path parameter names an object (an id).
    pub object_id_in_path: bool,
    /// Not in the document.
    pub shadow: bool,
    /// Deprecated, or an older version still used.
    pub zombie: bool,
    /// Whether requests carried credentials.
    pub auth: AuthPresence,
    /// Sensitive kinds seen in answers (bodies and headers).
    pub returned: BTreeSet<SensitiveKind>,
    /// Answer fields the document does not describe.
    pub undocumented_answer_fields: usize,
    /// Sensitive kinds seen at those undocumented answer fields.
    pub exposed: BTreeSet<SensitiveKind>,
    /// Whether an ownership rule covers the operation; `None`: unknown.
    pub has_ownership_rule: Option<bool>,
    /// Whether a rate limit or quota applies; `None`: unknown.
    pub has_rate_limit: Option<bool>,
}

impl RiskInput {
    /// An operation known only by its method.
    pub fn new(method: &str) -> RiskInput {
        RiskInput {
            method: method.to_string(),
            ..RiskInput::default()
        }
    }

    /// What a discovered operation tells without a document: whether its
    /// path names an object, and whether it is a zombie (an older version,
    /// from [`crate::drift::version_zombies`]).
    pub fn from_discovered(op: &DiscoveredOperation, zombie: bool) -> RiskInput {
        RiskInput {
            object_id_in_path: object_id_in_path(&op.parts),
            zombie,
            ..RiskInput::new(&op.method)
        }
    }

    /// What a judged discovered operation tells: its standing, whether it
    /// is a zombie, whether its path names an object.
    pub fn from_judged(judged: &Judged) -> RiskInput {
        RiskInput {
            shadow: judged.standing == Standing::Shadow,
            ..RiskInput::from_discovered(&judged.discovered, !judged.zombie.is_empty())
        }
    }

    /// Adds the sensitive kinds seen in the operation's answers.
    pub fn with_findings(mut self, findings: &Findings) -> RiskInput {
        self.returned.extend(
            findings
                .iter()
                .filter(|f| f.location.starts_with("response."))
                .map(|f| f.kind),
        );
        self
    }

    /// Adds the undocumented answer fields and what they exposed.
    pub fn with_schema_drift(mut self, drift: &SchemaDrift) -> RiskInput {
        self.undocumented_answer_fields = drift.answer_fields.len();
        self.exposed.extend(
            drift
                .answer_fields
                .iter()
                .flat_map(|f| f.sensitive.iter().copied()),
        );
        self
    }

    /// Adds whether the config has ownership and rate-limit rules for the
    /// operation `template` (`None`: no config, left unknown).
    pub fn with_rules(mut self, rules: Option<&ConfiguredRules>, template: &str) -> RiskInput {
        if let Some(rules) = rules {
            self.has_ownership_rule = Some(rules.ownership.contains(&self.method, template));
            self.has_rate_limit = Some(rules.rate_limited.contains(&self.method, template));
        }
        self
    }

    fn writes(&self) -> bool {
        !matches!(
            self.method.to_ascii_uppercase().as_str(),
            "GET" | "HEAD" | "OPTIONS" | "TRACE"
        )
    }
}

/// Whether a discovered path names an object: a parameter whose values
/// were ids (integers, UUIDs, ObjectIds, hex ids, email addresses) or
/// whose name says it is one.
pub fn object_id_in_path(parts: &[Part]) -> bool {
    parts.iter().any(|p| match p {
        Part::Param { name, kind } => {
            matches!(
                kind,
                SegmentKind::Integer
                    | SegmentKind::Uuid
                    | SegmentKind::ObjectId
                    | SegmentKind::Hex
                    | SegmentKind::Email
            ) || is_id_name(name)
        }
        Part::Literal(_) => false,
    })
}

/// `id`, `uuid`, `guid`, or a name ending in `Id`, `ID`, `_id`, `-id`,
/// `Uuid`, `_uuid`.
fn is_id_name(name: &str) -> bool {
    matches!(name, "id" | "uuid" | "guid")
        || ["Id", "ID", "_id", "-id", "Uuid", "_uuid"]
            .iter()
            .any(|s| name.len() > s.len() && name.ends_with(s))
}

/// A set of operations by method and path template; templates compare
/// with their parameters' names set aside (`/books/{id}` is
/// `/books/{bookId}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperationSet(BTreeSet<(String, String)>);

impl OperationSet {
    /// Whether `method` on `template` is in the set.
    pub fn contains(&self, method: &str, template: &str) -> bool {
        self.0
            .contains(&(method.to_ascii_uppercase(), shape(template)))
    }
}

impl<M: AsRef<str>, T: AsRef<str>> FromIterator<(M, T)> for OperationSet {
    fn from_iter<I: IntoIterator<Item = (M, T)>>(iter: I) -> Self {
        OperationSet(
            iter.into_iter()
                .map(|(m, t)| (m.as_ref().to_ascii_uppercase(), shape(t.as_ref())))
                .collect(),
        )
    }
}

/// `template` with its parameter names erased, as the gateway's table
/// compares templates; text that is no template is kept as it is.
fn shape(template: &str) -> String {
    moat_spec::shape_of(template).unwrap_or_else(|| template.to_string())
}

/// The operations moat's config protects, for the factors that depend on
/// it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfiguredRules {
    /// Operations with an ownership rule (a binding or a learning rule).
    pub ownership: OperationSet,
    /// Operations a rate limit or quota applies to.
    pub rate_limited: OperationSet,
}

impl ConfiguredRules {
    /// The rules from the two sets of `(method, path template)`.
    pub fn new(ownership: OperationSet, rate_limited: OperationSet) -> Self {
        ConfiguredRules {
            ownership,
            rate_limited,
        }
    }
}

/// One reason an operation is risky.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RiskFactor {
    /// Requests pass without credentials.
    Unauthenticated,
    /// Some requests pass without credentials.
    SometimesUnauthenticated,
    /// A write passes without credentials.
    WriteWithoutAuth,
    /// Personal data is returned.
    SensitiveDataReturned(Vec<SensitiveKind>),
    /// Credentials or secrets are returned.
    SecretsInAnswers(Vec<SensitiveKind>),
    /// Not in the document.
    Shadow,
    /// Deprecated or an older version, still used.
    Zombie,
    /// An object id in the path without an ownership rule.
    ObjectIdWithoutOwnership,
    /// No rate limit or quota.
    NoRateLimit,
    /// Answers carry this many undocumented fields.
    UndocumentedAnswerFields(usize),
    /// Undocumented answer fields carry sensitive data.
    ExcessiveDataExposure(Vec<SensitiveKind>),
}

impl RiskFactor {
    /// What the factor adds to the score.
    pub fn weight(&self) -> u8 {
        match self {
            RiskFactor::Unauthenticated => 25,
            RiskFactor::SometimesUnauthenticated
            | RiskFactor::NoRateLimit
            | RiskFactor::UndocumentedAnswerFields(_) => 10,
            RiskFactor::SensitiveDataReturned(_) => 15,
            RiskFactor::WriteWithoutAuth
            | RiskFactor::SecretsInAnswers(_)
            | RiskFactor::Shadow
            | RiskFactor::Zombie
            | RiskFactor::ObjectIdWithoutOwnership
            | RiskFactor::ExcessiveDataExposure(_) => 20,
        }
    }

    /// The factor's name in reports.
    pub fn as_str(&self) -> &'static str {
        match self {
            RiskFactor::Unauthenticated => "unauthenticated",
            RiskFactor::SometimesUnauthenticated => "sometimes_unauthenticated",
            RiskFactor::WriteWithoutAuth => "write_without_auth",
            RiskFactor::SensitiveDataReturned(_) => "sensitive_data_returned",
            RiskFactor::SecretsInAnswers(_) => "secrets_in_answers",
            RiskFactor::Shadow => "shadow",
            RiskFactor::Zombie => "zombie",
            RiskFactor::ObjectIdWithoutOwnership => "object_id_without_ownership",
            RiskFactor::NoRateLimit => "no_rate_limit",
            RiskFactor::UndocumentedAnswerFields(_) => "undocumented_answer_fields",
            RiskFactor::ExcessiveDataExposure(_) => "excessive_data_exposure",
        }
    }

    /// One line saying why it counts.
    pub fn explain(&self) -> String {
        let kinds =
            |k: &[SensitiveKind]| k.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ");
        match self {
            RiskFactor::Unauthenticated => "answers requests without credentials".to_string(),
            RiskFactor::SometimesUnauthenticated => {
                "answers some requests without credentials".to_string()
            }
            RiskFactor::WriteWithoutAuth => {
                "changes data for callers without credentials".to_string()
            }
            RiskFactor::SensitiveDataReturned(k) => {
                format!("returns personal data ({})", kinds(k))
            }
            RiskFactor::SecretsInAnswers(k) => format!("returns credentials ({})", kinds(k)),
            RiskFactor::Shadow => "not in the API's document".to_string(),
            RiskFactor::Zombie => {
                "still used although deprecated or replaced by a newer version".to_string()
            }
            RiskFactor::ObjectIdWithoutOwnership => {
                "names an object in its path with no ownership rule (BOLA)".to_string()
            }
            RiskFactor::NoRateLimit => "no rate limit or quota applies".to_string(),
            RiskFactor::UndocumentedAnswerFields(n) => {
                format!("answers carry {n} field(s) the document does not describe")
            }
            RiskFactor::ExcessiveDataExposure(k) => {
                format!(
                    "undocumented answer fields carry sensitive data ({})",
                    kinds(k)
                )
            }
        }
    }
}

/// A score's bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RiskLevel {
    /// Below [`MEDIUM`].
    Low,
    /// From [`MEDIUM`].
    Medium,
    /// From [`HIGH`].
    High,
}

impl RiskLevel {
    /// The level's name in reports: `low`, `medium`, `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
        }
    }
}

/// An operation's risk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Risk {
    /// 0–100.
    pub score: u8,
    /// The factors, heaviest first.
    pub factors: Vec<RiskFactor>,
}

impl Risk {
    /// The score's bucket.
    pub fn level(&self) -> RiskLevel {
        if self.score >= HIGH {
            RiskLevel::High
        } else if self.score >= MEDIUM {
            RiskLevel::Medium
        } else {
            RiskLevel::Low
        }
    }
}

/// Credentials and secrets, as opposed to personal data.
fn is_secret(kind: SensitiveKind) -> bool {
    matches!(
        kind,
        SensitiveKind::Jwt
            | SensitiveKind::ApiKey
            | SensitiveKind::Secret
            | SensitiveKind::Password
    )
}

/// Scores one operation.
pub fn assess(input: &RiskInput) -> Risk {
    let mut factors = Vec::new();
    let open = matches!(input.auth, AuthPresence::Never | AuthPresence::Sometimes);
    match input.auth {
        AuthPresence::Never => factors.push(RiskFactor::Unauthenticated),
        AuthPresence::Sometimes => factors.push(RiskFactor::SometimesUnauthenticated),
        AuthPresence::Always | AuthPresence::Unobserved => {}
    }
    if open && input.writes() {
        factors.push(RiskFactor::WriteWithoutAuth);
    }
    let (secrets, personal): (Vec<SensitiveKind>, Vec<SensitiveKind>) =
        input.returned.iter().copied().partition(|k| is_secret(*k));
    if !personal.is_empty() {
        factors.push(RiskFactor::SensitiveDataReturned(personal));
    }
    if !secrets.is_empty() {
        factors.push(RiskFactor::SecretsInAnswers(secrets));
    }
    if input.shadow {
        factors.push(RiskFactor::Shadow);
    }
    if input.zombie {
        factors.push(RiskFactor::Zombie);
    }
    if input.object_id_in_path && input.has_ownership_rule == Some(false) {
        factors.push(RiskFactor::ObjectIdWithoutOwnership);
    }
    if input.has_rate_limit == Some(false) {
        factors.push(RiskFactor::NoRateLimit);
    }
    if input.undocumented_answer_fields > 0 {
        factors.push(RiskFactor::UndocumentedAnswerFields(
            input.undocumented_answer_fields,
        ));
    }
    if !input.exposed.is_empty() {
        factors.push(RiskFactor::ExcessiveDataExposure(
            input.exposed.iter().copied().collect(),
        ));
    }
    // Heaviest first; equal weights keep the order above.
    factors.sort_by_key(|f| std::cmp::Reverse(f.weight()));
    let total: u32 = factors.iter().map(|f| u32::from(f.weight())).sum();
    Risk {
        score: u8::try_from(total.min(100)).unwrap_or(100),
        factors,
    }
}

#[cfg(test)]
mod tests;
