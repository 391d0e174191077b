//! What inspection found: findings with their place, and the score.

use std::fmt;

use crate::detect::DetectorKind;

/// How bad a hit is; its score, as in the OWASP Core Rule Set's anomaly
/// scoring (critical 5, error 4, warning 3, notice 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Suspicious, rarely an attack alone.
    Notice,
    /// Probably an attack.
    Warning,
    /// An attack, with little doubt.
    Error,
    /// An attack that works as it stands.
    Critical,
}

impl Severity {
    /// The anomaly score it adds.
    pub const fn score(self) -> u32 {
        match self {
            Self::Notice => 2,
            Self::Warning => 3,
            Self::Error => 4,
            Self::Critical => 5,
        }
    }

    /// Lower-case name, for logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Notice => "notice",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Critical => "critical",
        }
    }
}

/// Where a value was in the request: a part (`path`, `query`, `header`,
/// `cookie`, `body`) and a name or JSON pointer inside it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// `path`, `query`, `header`, `cookie`, `body`, `graphql`, `xml`.
    pub part: &'static str,
    /// The parameter, header or cookie name, or a JSON pointer (`/a/0/b`),
    /// or an XPath-like path for XML (`/Envelope/Body/@id`).
    pub name: String,
}

impl Location {
    /// A place in the request.
    pub fn new(part: &'static str, name: impl Into<String>) -> Self {
        Self {
            part,
            name: name.into(),
        }
    }

    /// A query parameter.
    pub fn query(name: impl Into<String>) -> Self {
        Self::new("query", name)
    }

    /// A JSON pointer into the body.
    pub fn body(pointer: impl Into<String>) -> Self {
        Self::new("body", pointer)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.part, self.name)
    }
}

/// What kind of value it is: detectors weigh contexts differently (a path
/// segment cannot hold SQL prose; a header is rarely free text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// A path segment (already decoded once by the router).
    Path,
    /// A query parameter's value.
    Query,
    /// A query parameter's or form field's name.
    ParamName,
    /// A request header's value.
    Header,
    /// A cookie's value.
    Cookie,
    /// A JSON string value.
    JsonString,
    /// A JSON object key.
    JsonKey,
    /// A form or multipart field's value.
    FormField,
    /// XML text or an attribute value.
    XmlText,
    /// A GraphQL argument or variable value.
    GraphqlArgument,
}

/// One hit that counts at the configured paranoia level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Which detector.
    pub detector: DetectorKind,
    /// How bad.
    pub severity: Severity,
    /// Where.
    pub location: Location,
    /// Why, in a few words (`sql fingerprint s&1c`, `<script> tag`).
    pub reason: &'static str,
    /// The start of the value, with letters and digits of long runs
    /// replaced, so logs show the shape of the attack without its data.
    pub snippet: String,
}

/// Everything inspection found in one request.
#[derive(Debug, Clone, Default)]
pub struct Report {
    findings: Vec<Finding>,
    score: u32,
}

impl Report {
    /// Adds a finding and its score.
    pub fn push(&mut self, finding: Finding) {
        self.score = self.score.saturating_add(finding.severity.score());
        self.findings.push(finding);
    }

    /// The anomaly score so far.
    pub fn score(&self) -> u32 {
        self.score
    }

    /// The findings, in the order they were made.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.findings.is_empty()
    }

    /// The finding with the highest severity.
    pub fn worst(&self) -> Option<&Finding> {
        self.findings.iter().max_by_key(|f| f.severity)
    }
}

/// At most this many characters of a value go into a snippet.
pub const SNIPPET_CHARS: usize = 48;

/// The redacted start of `value`: runs of more than three letters or digits
/// keep their first three characters, the rest become `*`; punctuation (the
/// shape of an injection) is kept. Control characters become `?`.
pub fn snippet(value: &str) -> String {
    let mut out = String::new();
    let mut run = 0usize;
    for c in value.chars().take(SNIPPET_CHARS) {
        if c.is_alphanumeric() {
            run += 1;
            out.push(if run > 3 { '*' } else { c });
        } else {
            run = 0;
            out.push(if c.is_control() { '?' } else { c });
        }
    }
    if value.chars().count() > SNIPPET_CHARS {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_keep_the_shape_not_the_data() {
        assert_eq!(snippet("1' OR '1'='1"), "1' OR '1'='1");
        assert_eq!(snippet("password123"), "pas********");
        assert_eq!(snippet("a\nb"), "a?b");
        assert!(snippet(&"x".repeat(100)).ends_with('…'));
    }
}
