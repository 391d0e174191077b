//! The inventory: everything discovery learned, as one serialisable value
//! that every output (JSON, Markdown, HTML) is rendered from.
//!
//! Built from the discovered operations, their standing against the API's
//! document (when there is one) and their profiles. It holds names, types,
//! statuses, short enum words and counts: never a value from the traffic.
//! Each operation's facts are one field each, so that a new kind of fact
//! (security schemes seen, schema drift, a risk score) is one more field.

use serde::{Serialize, Serializer};

use crate::drift::{Drift, Standing};
use crate::profile::Profiler;
use crate::schema::ParamSummary;
use crate::sensitive::SensitiveKind;
use crate::template::{DiscoveredOperation, Part};

/// What discovery found in the traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inventory {
    /// The operations, in the order they were discovered (by path, then
    /// method).
    pub operations: Vec<Operation>,
    /// Documented operations no request reached; `None` without a document
    /// to compare with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orphans: Option<Vec<Orphan>>,
    /// Counts over the whole inventory.
    pub summary: Summary,
    /// What reading the inputs found.
    #[serde(flatten)]
    pub input: InputStats,
}

/// What reading the inputs found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct InputStats {
    /// Requests read and placed in an operation.
    pub requests: u64,
    /// Entries or lines not used: malformed, or with a path that has no
    /// one canonical form (the sum of the two counts below).
    pub skipped: u64,
    /// Entries or lines skipped as malformed.
    pub malformed: u64,
    /// Requests whose path has no one canonical form (`..` past the
    /// root, an encoded `/`, …).
    pub no_canonical_path: u64,
}

impl InputStats {
    /// The counts, with `skipped` their sum.
    pub fn new(requests: u64, malformed: u64, no_canonical_path: u64) -> InputStats {
        InputStats {
            requests,
            skipped: malformed.saturating_add(no_canonical_path),
            malformed,
            no_canonical_path,
        }
    }
}

/// Counts over the whole inventory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Operations discovered.
    pub operations: usize,
    /// Operations with sensitive data in their requests or answers.
    pub with_sensitive_data: usize,
    /// Operations by standing; `None` without a document to compare with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standings: Option<StandingCounts>,
}

/// Operations by their standing against the document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StandingCounts {
    pub documented: usize,
    pub shadow: usize,
    pub zombie: usize,
    pub orphan: usize,
}

/// One discovered operation and what is known of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Operation {
    /// The HTTP method.
    pub method: String,
    /// The path template (`/users/{user}`).
    pub path: String,
    /// Requests seen.
    pub requests: u64,
    /// How it stands against the document, when there is one.
    #[serde(flatten)]
    pub judgement: Option<Judgement>,
    /// Path parameters, then query parameters.
    pub parameters: Vec<Parameter>,
    /// Response statuses seen, in order.
    pub statuses: Vec<u16>,
    /// Sensitive data seen, by location and kind.
    pub sensitive: Vec<SensitiveFinding>,
}

/// How an operation stands against the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Judgement {
    /// `documented`, `shadow` or `zombie`.
    #[serde(serialize_with = "standing_name")]
    pub standing: Standing,
    /// The documented operation it is (`operationId`, or `METHOD /path`);
    /// `null` for a shadow operation.
    pub documented_as: Option<String>,
}

/// Where a parameter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamLocation {
    Path,
    Query,
}

impl ParamLocation {
    /// The name in reports (OpenAPI's `in`).
    pub fn as_str(self) -> &'static str {
        match self {
            ParamLocation::Path => "path",
            ParamLocation::Query => "query",
        }
    }
}

/// One parameter of an operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Parameter {
    pub name: String,
    #[serde(rename = "in")]
    pub location: ParamLocation,
    /// The JSON Schema type of its values (`integer`, `string`, …).
    #[serde(rename = "type")]
    pub value_type: &'static str,
    /// The JSON Schema format of its values (`uuid`, `date`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<&'static str>,
    /// Present in every request (always, for a path parameter).
    pub required: bool,
    /// Some request carried it more than once.
    pub repeated: bool,
    /// The few short words it always takes, when it is an enumeration.
    #[serde(rename = "enum", skip_serializing_if = "Option::is_none")]
    pub enumeration: Option<Vec<String>>,
}

impl Parameter {
    fn path(name: &str, kind: crate::segment::SegmentKind) -> Parameter {
        let (value_type, format) = kind.schema();
        Parameter {
            name: name.to_string(),
            location: ParamLocation::Path,
            value_type,
            format,
            required: true,
            repeated: false,
            enumeration: None,
        }
    }

    fn query(name: &str, summary: ParamSummary) -> Parameter {
        let ty = summary
            .value_type
            .unwrap_or(crate::schema::ValueType::String);
        Parameter {
            name: name.to_string(),
            location: ParamLocation::Query,
            value_type: ty.json_type(),
            format: ty.format(),
            required: summary.required,
            repeated: summary.repeated,
            enumeration: summary.enumeration,
        }
    }
}

/// Values of one sensitive kind seen at one location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SensitiveFinding {
    /// Where: `query.email`, `header.authorization`,
    /// `request.body#/user/email`.
    pub location: String,
    /// What.
    #[serde(serialize_with = "kind_name")]
    pub kind: SensitiveKind,
    /// How many values.
    pub count: u64,
}

/// A documented operation never seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Orphan {
    pub method: String,
    pub path: String,
}

impl Inventory {
    /// The inventory of `operations`, judged by `drift` (computed over the
    /// same operations, in the same order) and profiled by `profiler`.
    pub fn new(
        operations: &[DiscoveredOperation],
        drift: Option<&Drift>,
        profiler: Option<&Profiler>,
        input: InputStats,
    ) -> Inventory {
        let operations: Vec<Operation> = operations
            .iter()
            .enumerate()
            .map(|(i, op)| {
                let judgement = drift.and_then(|d| d.operations.get(i)).map(|j| Judgement {
                    standing: j.standing,
                    documented_as: j.documented_as.clone(),
                });
                let mut parameters: Vec<Parameter> = op
                    .parts
                    .iter()
                    .filter_map(|part| match part {
                        Part::Param { name, kind } => Some(Parameter::path(name, *kind)),
                        Part::Literal(_) => None,
                    })
                    .collect();
                let profile = profiler.and_then(|p| p.profile_of(&op.method, &op.example));
                let (statuses, sensitive) = match profile {
                    Some(p) => {
                        parameters.extend(p.query_params().map(|(n, s)| Parameter::query(n, s)));
                        let sensitive = p
                            .findings
                            .iter()
                            .map(|f| SensitiveFinding {
                                location: f.location.to_string(),
                                kind: f.kind,
                                count: f.count,
                            })
                            .collect();
                        (p.statuses().collect(), sensitive)
                    }
                    None => (Vec::new(), Vec::new()),
                };
                Operation {
                    method: op.method.clone(),
                    path: op.template(),
                    requests: op.requests,
                    judgement,
                    parameters,
                    statuses,
                    sensitive,
                }
            })
            .collect();
        let standings = drift.map(|d| StandingCounts {
            documented: d.of(Standing::Documented).count(),
            shadow: d.of(Standing::Shadow).count(),
            zombie: d.of(Standing::Zombie).count(),
            orphan: d.orphans.len(),
        });
        let summary = Summary {
            operations: operations.len(),
            with_sensitive_data: operations
                .iter()
                .filter(|o| !o.sensitive.is_empty())
                .count(),
            standings,
        };
        let orphans = drift.map(|d| {
            d.orphans
                .iter()
                .map(|(method, path)| Orphan {
                    method: method.clone(),
                    path: path.clone(),
                })
                .collect()
        });
        Inventory {
            operations,
            orphans,
            summary,
            input,
        }
    }

    /// The inventory as pretty-printed JSON, ending with a newline.
    pub fn to_json(&self) -> String {
        // Serialising plain structs of strings and numbers cannot fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

fn standing_name<S: Serializer>(standing: &Standing, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(standing.as_str())
}

fn kind_name<S: Serializer>(kind: &SensitiveKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

#[cfg(test)]
pub(crate) mod tests;
