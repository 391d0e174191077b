//! The inventory: everything discovery learned, as one serialisable value
//! that every output (JSON, Markdown, HTML) is rendered from.
//!
//! Built from the discovered operations, their standing against the API's
//! document (when there is one) and their profiles. It holds names, types,
//! statuses, short enum words and counts: never a value from the traffic.
//! Each operation's facts are one field each: its standing and why it is
//! a zombie, its parameters, statuses, the credentials its requests
//! carried, sensitive data, schema drift against its documented
//! operation, and its risk with the factors that explain it.

use std::collections::BTreeMap;

use moat_spec::{ApiSpec, ParameterLocation};
use serde::{Serialize, Serializer};

use crate::auth::AuthPresence;
use crate::drift::{Drift, Judged, Standing, ZombieReason};
use crate::profile::{Profile, Profiler};
use crate::risk::{ConfiguredRules, RiskInput, RiskLevel, assess};
use crate::schema::ParamSummary;
use crate::schema_drift::{BodyPart, SchemaDrift, compare_profile};
use crate::sensitive::SensitiveKind;
use crate::template::{DiscoveredOperation, Part};

/// What an inventory is built from.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// The operations found in the traffic.
    pub operations: &'a [DiscoveredOperation],
    /// The document they were compared with, and the comparison (over the
    /// same operations, in the same order).
    pub document: Option<(&'a ApiSpec, &'a Drift)>,
    /// What the second pass learned of each operation.
    pub profiler: Option<&'a Profiler>,
    /// The operations moat's config protects with ownership rules and
    /// rate limits; without it those risk factors are unknown.
    pub rules: Option<&'a ConfiguredRules>,
}

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
    /// Operations by risk level.
    pub risk: RiskCounts,
    /// Operations whose traffic carried what their document does not
    /// describe; `None` without a document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub with_schema_drift: Option<usize>,
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

/// Operations by risk level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RiskCounts {
    pub high: usize,
    pub medium: usize,
    pub low: usize,
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
    /// Why it is a zombie: deprecated in the document, or an older
    /// version used beside a newer one (found with or without a document).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub zombie: Vec<Zombie>,
    /// Path parameters, then query, header and cookie parameters.
    pub parameters: Vec<Parameter>,
    /// Response statuses seen, in order.
    pub statuses: Vec<u16>,
    /// Answers by media type (lower case, without parameters).
    pub content_types: BTreeMap<String, u64>,
    /// The credentials its requests carried; `None` without a second pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    /// Sensitive data seen, by location and kind.
    pub sensitive: Vec<SensitiveFinding>,
    /// What its traffic carried that its documented operation does not
    /// describe; `None` unless it is documented and was profiled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_drift: Option<SchemaDriftView>,
    /// How risky it is, and why.
    pub risk: RiskView,
}

/// Why an operation is a zombie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Zombie {
    /// `deprecated` or `older_version`.
    pub reason: &'static str,
    /// For an older version, the newest version's template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newer: Option<String>,
}

impl From<&ZombieReason> for Zombie {
    fn from(z: &ZombieReason) -> Zombie {
        Zombie {
            reason: z.as_str(),
            newer: match z {
                ZombieReason::OlderVersion { newer } => Some(newer.clone()),
                ZombieReason::Deprecated => None,
            },
        }
    }
}

/// The credentials an operation's requests carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Auth {
    /// `always`, `sometimes`, `never` or `unobserved`.
    #[serde(serialize_with = "presence_name")]
    pub presence: AuthPresence,
    /// The schemes seen (`bearer_jwt`, `basic`,
    /// `api_key:header:x-api-key`, …), with the requests that carried each.
    pub schemes: Vec<SchemeCount>,
}

/// One scheme and the requests that carried it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemeCount {
    pub scheme: String,
    pub requests: u64,
}

/// Schema drift, as reported: names and JSON pointers, never values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SchemaDriftView {
    /// Parameters the document does not have.
    pub parameters: Vec<NamedParameter>,
    /// Request-body properties the document does not have (mass
    /// assignment).
    pub request_fields: Vec<String>,
    /// Answer fields the document does not have, by status; those that
    /// held sensitive data name its kinds (excessive data exposure).
    pub answer_fields: Vec<AnswerField>,
    /// Statuses answered that the document does not list.
    pub undocumented_statuses: Vec<u16>,
    /// Positions whose documented schema describes nothing to compare.
    pub uncompared: Vec<UncomparedView>,
}

/// A parameter by location and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedParameter {
    #[serde(rename = "in")]
    pub location: ParamLocation,
    pub name: String,
}

/// An undocumented answer field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnswerField {
    pub status: u16,
    pub pointer: String,
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "kind_names")]
    pub sensitive: Vec<SensitiveKind>,
}

/// A position not compared, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UncomparedView {
    /// `request` or the status of the answer.
    pub body: String,
    pub pointer: String,
    pub reason: &'static str,
}

impl From<&SchemaDrift> for SchemaDriftView {
    fn from(d: &SchemaDrift) -> SchemaDriftView {
        let body = |b: BodyPart| match b {
            BodyPart::Request => "request".to_string(),
            BodyPart::Response(status) => status.to_string(),
        };
        SchemaDriftView {
            parameters: d
                .parameters
                .iter()
                .map(|p| NamedParameter {
                    location: p.location.into(),
                    name: p.name.clone(),
                })
                .collect(),
            request_fields: d.request_fields.iter().map(|f| f.pointer.clone()).collect(),
            answer_fields: d
                .answer_fields
                .iter()
                .map(|f| AnswerField {
                    status: match f.body {
                        BodyPart::Response(s) => s,
                        BodyPart::Request => 0,
                    },
                    pointer: f.pointer.clone(),
                    sensitive: f.sensitive.clone(),
                })
                .collect(),
            undocumented_statuses: d.undocumented_statuses.clone(),
            uncompared: d
                .uncompared
                .iter()
                .map(|u| UncomparedView {
                    body: body(u.body),
                    pointer: u.pointer.clone(),
                    reason: u.reason.as_str(),
                })
                .collect(),
        }
    }
}

/// An operation's risk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RiskView {
    /// 0–100.
    pub score: u8,
    /// `high`, `medium` or `low`.
    #[serde(serialize_with = "level_name")]
    pub level: RiskLevel,
    /// The factors, heaviest first.
    pub factors: Vec<FactorView>,
}

/// One risk factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FactorView {
    pub factor: &'static str,
    pub weight: u8,
    pub explain: String,
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
    Header,
    Cookie,
}

impl ParamLocation {
    /// The name in reports (OpenAPI's `in`).
    pub fn as_str(self) -> &'static str {
        match self {
            ParamLocation::Path => "path",
            ParamLocation::Query => "query",
            ParamLocation::Header => "header",
            ParamLocation::Cookie => "cookie",
        }
    }
}

impl From<ParameterLocation> for ParamLocation {
    fn from(l: ParameterLocation) -> ParamLocation {
        match l {
            ParameterLocation::Path => ParamLocation::Path,
            ParameterLocation::Query => ParamLocation::Query,
            ParameterLocation::Header => ParamLocation::Header,
            ParameterLocation::Cookie => ParamLocation::Cookie,
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

    fn learned(location: ParameterLocation, name: &str, summary: ParamSummary) -> Parameter {
        let ty = summary
            .value_type
            .unwrap_or(crate::schema::ValueType::String);
        Parameter {
            name: name.to_string(),
            location: location.into(),
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
    /// The inventory of what `sources` hold.
    pub fn new(sources: &Sources<'_>, input: InputStats) -> Inventory {
        let drift = sources.document.map(|(_, d)| d);
        let zombies_by_version = match drift {
            Some(_) => Vec::new(),
            None => crate::drift::version_zombies(sources.operations),
        };
        let operations: Vec<Operation> = sources
            .operations
            .iter()
            .enumerate()
            .map(|(i, op)| {
                let judged = drift.and_then(|d| d.operations.get(i));
                let profile = sources
                    .profiler
                    .and_then(|p| p.profile_of(&op.method, &op.example));
                let zombie_reasons: Vec<ZombieReason> = match judged {
                    Some(j) => j.zombie.clone(),
                    None => zombies_by_version
                        .get(i)
                        .cloned()
                        .flatten()
                        .into_iter()
                        .collect(),
                };
                let schema_drift = match (sources.document, judged, profile) {
                    (Some((spec, _)), Some(j), Some(p)) => j
                        .documented_index
                        .and_then(|index| spec.operations.get(index))
                        .map(|documented| compare_profile(p, documented, spec)),
                    _ => None,
                };
                Operation::new(
                    op,
                    judged,
                    &zombie_reasons,
                    profile,
                    schema_drift.as_ref(),
                    sources.rules,
                )
            })
            .collect();
        let standings = drift.map(|d| StandingCounts {
            documented: d.of(Standing::Documented).count(),
            shadow: d.of(Standing::Shadow).count(),
            zombie: d.of(Standing::Zombie).count(),
            orphan: d.orphans.len(),
        });
        let level = |l: RiskLevel| operations.iter().filter(|o| o.risk.level == l).count();
        let summary = Summary {
            operations: operations.len(),
            with_sensitive_data: operations
                .iter()
                .filter(|o| !o.sensitive.is_empty())
                .count(),
            risk: RiskCounts {
                high: level(RiskLevel::High),
                medium: level(RiskLevel::Medium),
                low: level(RiskLevel::Low),
            },
            with_schema_drift: drift.map(|_| {
                operations
                    .iter()
                    .filter(|o| {
                        o.schema_drift
                            .as_ref()
                            .is_some_and(SchemaDriftView::has_drift)
                    })
                    .count()
            }),
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

impl Operation {
    fn new(
        op: &DiscoveredOperation,
        judged: Option<&Judged>,
        zombie: &[ZombieReason],
        profile: Option<&Profile>,
        schema_drift: Option<&SchemaDrift>,
        rules: Option<&ConfiguredRules>,
    ) -> Operation {
        let template = op.template();
        let mut parameters: Vec<Parameter> = op
            .parts
            .iter()
            .filter_map(|part| match part {
                Part::Param { name, kind } => Some(Parameter::path(name, *kind)),
                Part::Literal(_) => None,
            })
            .collect();
        let mut risk = match judged {
            Some(j) => RiskInput::from_judged(j),
            None => RiskInput::from_discovered(op, !zombie.is_empty()),
        }
        .with_rules(rules, &template);
        let content_types = profile
            .map(|p| p.content_types().clone())
            .unwrap_or_default();
        let (statuses, sensitive, auth) = match profile {
            Some(p) => {
                parameters.extend(
                    p.parameter_summaries()
                        .map(|(l, n, s)| Parameter::learned(l, n, s)),
                );
                risk = risk.with_findings(&p.findings);
                risk.auth = p.auth().presence();
                let sensitive = p
                    .findings
                    .iter()
                    .map(|f| SensitiveFinding {
                        location: f.location.to_string(),
                        kind: f.kind,
                        count: f.count,
                    })
                    .collect();
                let auth = Auth {
                    presence: p.auth().presence(),
                    schemes: p
                        .auth()
                        .schemes()
                        .map(|(scheme, requests)| SchemeCount {
                            scheme: scheme.label(),
                            requests,
                        })
                        .collect(),
                };
                (p.statuses().collect(), sensitive, Some(auth))
            }
            None => (Vec::new(), Vec::new(), None),
        };
        if let Some(d) = schema_drift {
            risk = risk.with_schema_drift(d);
        }
        let assessed = assess(&risk);
        Operation {
            method: op.method.clone(),
            path: template,
            requests: op.requests,
            judgement: judged.map(|j| Judgement {
                standing: j.standing,
                documented_as: j.documented_as.clone(),
            }),
            zombie: zombie.iter().map(Zombie::from).collect(),
            parameters,
            statuses,
            content_types,
            auth,
            sensitive,
            schema_drift: schema_drift.map(SchemaDriftView::from),
            risk: RiskView {
                score: assessed.score,
                level: assessed.level(),
                factors: assessed
                    .factors
                    .iter()
                    .map(|f| FactorView {
                        factor: f.as_str(),
                        weight: f.weight(),
                        explain: f.explain(),
                    })
                    .collect(),
            },
        }
    }
}

impl SchemaDriftView {
    /// Whether the traffic carried anything undocumented.
    pub fn has_drift(&self) -> bool {
        !self.parameters.is_empty()
            || !self.request_fields.is_empty()
            || !self.answer_fields.is_empty()
            || !self.undocumented_statuses.is_empty()
    }
}

fn presence_name<S: Serializer>(p: &AuthPresence, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(p.as_str())
}

fn level_name<S: Serializer>(l: &RiskLevel, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(l.as_str())
}

fn kind_names<S: Serializer>(kinds: &[SensitiveKind], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(kinds.iter().map(|k| k.as_str()))
}

fn standing_name<S: Serializer>(standing: &Standing, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(standing.as_str())
}

fn kind_name<S: Serializer>(kind: &SensitiveKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

#[cfg(test)]
pub(crate) mod tests;
