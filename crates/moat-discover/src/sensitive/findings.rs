//! Counts of sensitive data by location and kind.

use std::collections::BTreeMap;

use serde_json::Value;

use super::json::{Step, push_escaped, walk};
use super::{SensitiveKind, scan_text};
use crate::segment::SegmentKind;

/// Where a single named value was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextSource {
    /// A query parameter: `query.<name>`.
    Query,
    /// A request header: `header.<name>` (lower-cased).
    Header,
    /// One request cookie, by its name: `cookie.<name>`.
    Cookie,
    /// A response header: `response.header.<name>` (lower-cased).
    ResponseHeader,
}

/// Which body a JSON document was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodySource {
    /// `request.body#<pointer>`.
    Request,
    /// `response.body#<pointer>`.
    Response,
}

/// One location and kind, and how many values of that kind were seen there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding<'a> {
    /// Where: `query.email`, `header.authorization`,
    /// `request.body#/user/email`, `response.body#/items/*/card`.
    pub location: &'a str,
    /// What.
    pub kind: SensitiveKind,
    /// How many values.
    pub count: u64,
}

/// Sensitive data seen, counted by location and kind. Values are never
/// kept. Locations generalise: array indexes become `*`, and so do names
/// and object keys that are data rather than names (ids, UUIDs, dates,
/// email addresses or anything else sensitive, whitespace, or over 64
/// characters), so neither a value nor an id reaches a report and
/// documents keyed by ids do not grow the table.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "Stored", from = "Stored")]
pub struct Findings {
    counts: BTreeMap<(String, SensitiveKind), u64>,
    dropped: u64,
}

impl Findings {
    /// Most distinct (location, kind) pairs kept; findings at further
    /// locations are only counted in [`Findings::dropped`], so that hostile
    /// traffic cannot grow the table without bound.
    pub const MAX_LOCATIONS: usize = 4096;

    /// No findings.
    pub fn new() -> Findings {
        Findings::default()
    }

    /// Scans one named value (a query parameter, header or cookie).
    pub fn record_text(&mut self, source: TextSource, name: &str, value: &str) {
        let kinds = scan_text(Some(name), value);
        if kinds.is_empty() {
            return;
        }
        let mut location = String::from(match source {
            TextSource::Query => "query.",
            TextSource::Header => "header.",
            TextSource::Cookie => "cookie.",
            TextSource::ResponseHeader => "response.header.",
        });
        match source {
            TextSource::Header | TextSource::ResponseHeader => {
                location.push_str(&display_name(name).to_ascii_lowercase());
            }
            TextSource::Query | TextSource::Cookie => location.push_str(display_name(name)),
        }
        for kind in kinds {
            self.add(location.clone(), kind, 1);
        }
    }

    /// Scans a JSON body.
    pub fn record_json(&mut self, source: BodySource, value: &Value) {
        let prefix = match source {
            BodySource::Request => "request.body#",
            BodySource::Response => "response.body#",
        };
        walk(value, &mut |steps, kind| {
            self.add(location(prefix, steps), kind, 1);
        });
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &Findings) {
        for ((location, kind), count) in &other.counts {
            self.add(location.clone(), *kind, *count);
        }
        self.dropped = self.dropped.saturating_add(other.dropped);
    }

    /// The findings, ordered by location then kind.
    pub fn iter(&self) -> impl Iterator<Item = Finding<'_>> {
        self.counts.iter().map(|((location, kind), count)| Finding {
            location,
            kind: *kind,
            count: *count,
        })
    }

    /// How many values of `kind` were seen at `location`.
    pub fn count(&self, location: &str, kind: SensitiveKind) -> u64 {
        self.counts
            .get(&(location.to_string(), kind))
            .copied()
            .unwrap_or(0)
    }

    /// How many findings were not kept because [`Findings::MAX_LOCATIONS`]
    /// was reached.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether nothing sensitive was seen.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.dropped == 0
    }

    fn add(&mut self, location: String, kind: SensitiveKind, count: u64) {
        let full = self.counts.len() >= Findings::MAX_LOCATIONS;
        match self.counts.get_mut(&(location.clone(), kind)) {
            Some(n) => *n = n.saturating_add(count),
            None if full => self.dropped = self.dropped.saturating_add(count),
            None => {
                self.counts.insert((location, kind), count);
            }
        }
    }
}

/// [`Findings`] as stored (a JSON map cannot have a pair as its key):
/// each location, kind and count, and the findings dropped. Read back
/// through the same cap.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    counts: Vec<(String, SensitiveKind, u64)>,
    dropped: u64,
}

impl From<Findings> for Stored {
    fn from(f: Findings) -> Stored {
        Stored {
            counts: f
                .counts
                .into_iter()
                .map(|((location, kind), n)| (location, kind, n))
                .collect(),
            dropped: f.dropped,
        }
    }
}

impl From<Stored> for Findings {
    fn from(s: Stored) -> Findings {
        let mut f = Findings {
            counts: BTreeMap::new(),
            dropped: s.dropped,
        };
        for (location, kind, n) in s.counts {
            f.add(location, kind, n);
        }
        f
    }
}

/// `prefix` and the generalised JSON pointer of `steps`.
fn location(prefix: &str, steps: &[Step<'_>]) -> String {
    let mut out = String::from(prefix);
    for step in steps {
        out.push('/');
        match step {
            Step::Key(key) => push_escaped(&mut out, display_name(key)),
            Step::Index(_) => out.push('*'),
        }
    }
    out
}

/// Longest name kept in a location.
const MAX_NAME_LEN: usize = 64;

/// `name` as a location shows it: itself when it reads as a name, `*` when
/// it is data.
fn display_name(name: &str) -> &str {
    let data = name.is_empty()
        || name.len() > MAX_NAME_LEN
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
        || !matches!(SegmentKind::of(name), SegmentKind::Word | SegmentKind::Text)
        || !scan_text(None, name).is_empty();
    if data { "*" } else { name }
}
