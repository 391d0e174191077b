//! Attack inspection at the gateway: what the document says about each value
//! (schema hints), exclusions for known false positives, and the decision.

use std::collections::HashSet;
use std::sync::Arc;

use moat_config::{InspectionConfig, InspectionExclusion};
use moat_guard::authorization::operations_matching;
use moat_inspect::graphql::GraphqlLimits;
use moat_inspect::xml::XmlLimits;
use moat_inspect::{DetectorKind, Finding, HintSource, Hints, InspectOptions, Inspector, Report};
use moat_spec::{ApiSpec, DocId, Operation, ParameterLocation};
use serde_json::Value;

/// String formats that pin a value down as tightly as a pattern: values
/// that passed validation against them cannot carry an injection.
const STRICT_FORMATS: &[&str] = &[
    "uuid",
    "date",
    "date-time",
    "time",
    "email",
    "ipv4",
    "ipv6",
    "int32",
    "int64",
    "float",
    "double",
    "byte",
    "duration",
    "hostname",
];

/// How deep `$ref`s and `allOf` are followed when finding a value's schema.
const MAX_SCHEMA_STEPS: usize = 32;

/// Inspection for one API, compiled.
pub struct ApiInspection {
    /// The engine.
    pub inspector: Inspector,
    /// Exclusions, with their operations resolved to indexes.
    exclusions: Vec<Exclusion>,
    /// Largest body read for inspection.
    pub max_body_bytes: u64,
    /// Which operations are GraphQL endpoints, by operation index.
    pub graphql_operations: Vec<bool>,
    /// GraphQL limits (introspection decided per request).
    pub graphql: GraphqlLimits,
    /// Roles that may use introspection.
    pub introspection_roles: Vec<String>,
    /// Remove field suggestions from GraphQL error responses.
    pub mask_suggestions: bool,
    /// Accepted query hashes, when an allow-list is configured.
    pub persisted_queries: Option<HashSet<String>>,
    /// XML limits.
    pub xml: XmlLimits,
    /// Refuse SOAP actions that name another operation.
    pub soap_action_consistency: bool,
}

struct Exclusion {
    operations: Option<Vec<usize>>,
    locations: Option<Vec<String>>,
    detectors: Option<Vec<DetectorKind>>,
}

/// A problem with the inspection config: the JSON pointer (relative to the
/// API's `inspection`) and the message.
pub struct InspectionError {
    /// Where, under `inspection`.
    pub at: String,
    /// What.
    pub message: String,
}

impl ApiInspection {
    /// Whether operation `index` is a GraphQL endpoint.
    pub fn is_graphql(&self, index: Option<usize>) -> bool {
        index.is_some_and(|i| self.graphql_operations.get(i).copied().unwrap_or(false))
    }

    /// Compiles an API's inspection config; `None` when it is off.
    pub fn compile(
        cfg: &InspectionConfig,
        spec: &ApiSpec,
    ) -> Result<Option<Arc<Self>>, Vec<InspectionError>> {
        if !cfg.enabled {
            return Ok(None);
        }
        let mut errors = Vec::new();
        if !(1..=4).contains(&cfg.paranoia) {
            errors.push(InspectionError {
                at: "/paranoia".into(),
                message: format!("paranoia must be 1 to 4, not {}", cfg.paranoia),
            });
        }
        if cfg.threshold == 0 {
            errors.push(InspectionError {
                at: "/threshold".into(),
                message: "the threshold must be above zero".into(),
            });
        }
        let detectors = match &cfg.detectors {
            None => DetectorKind::ALL.to_vec(),
            Some(names) => parse_detectors(names, "/detectors", &mut errors),
        };
        let mut exclusions = Vec::new();
        for (i, e) in cfg.exclusions.iter().enumerate() {
            exclusions.push(compile_exclusion(e, i, spec, &mut errors));
        }
        let g = &cfg.graphql;
        let mut graphql_operations = vec![false; spec.operations.len()];
        match &g.operations {
            None => {
                for (i, op) in spec.operations.iter().enumerate() {
                    graphql_operations[i] = op.path_template.ends_with("/graphql");
                }
            }
            Some(grants) => {
                for (j, grant) in grants.iter().enumerate() {
                    match operations_matching(grant, spec) {
                        Ok(m) => m.into_iter().for_each(|i| graphql_operations[i] = true),
                        Err(message) => errors.push(InspectionError {
                            at: format!("/graphql/operations/{j}"),
                            message,
                        }),
                    }
                }
            }
        }
        let persisted_queries = g.persisted_queries.as_ref().map(|hashes| {
            let mut set = HashSet::new();
            for (j, h) in hashes.iter().enumerate() {
                if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
                    set.insert(h.to_ascii_lowercase());
                } else {
                    errors.push(InspectionError {
                        at: format!("/graphql/persisted_queries/{j}"),
                        message: format!("`{h}` is not a SHA-256 hash (64 hex digits)"),
                    });
                }
            }
            set
        });
        if !errors.is_empty() {
            return Err(errors);
        }
        let to_usize = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
        let graphql = GraphqlLimits {
            max_depth: to_usize(g.max_depth),
            max_aliases: to_usize(g.max_aliases),
            max_root_fields: to_usize(g.max_root_fields),
            max_directives: to_usize(g.max_directives),
            max_cost: u64::from(g.max_cost),
            field_weights: g
                .field_weights
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            max_operations_per_batch: to_usize(g.max_operations_per_batch),
            allow_introspection: false,
            ..GraphqlLimits::default()
        };
        let x = &cfg.xml;
        let xml = XmlLimits {
            max_depth: to_usize(x.max_depth),
            max_attributes: to_usize(x.max_attributes),
            max_children: to_usize(x.max_children),
            max_bytes: usize::try_from(cfg.max_body_bytes).unwrap_or(usize::MAX),
            max_text_bytes: usize::try_from(x.max_text_bytes).unwrap_or(usize::MAX),
        };
        Ok(Some(Arc::new(Self {
            inspector: Inspector::new(InspectOptions {
                paranoia: cfg.paranoia,
                threshold: cfg.threshold,
                detectors,
            }),
            exclusions,
            max_body_bytes: cfg.max_body_bytes,
            graphql_operations,
            graphql,
            introspection_roles: g.introspection_roles.clone(),
            mask_suggestions: g.mask_suggestions,
            persisted_queries,
            xml,
            soap_action_consistency: x.soap_action_consistency,
        })))
    }

    /// Drops the findings an exclusion covers for operation `index`, and
    /// returns the report with the rest.
    pub fn apply_exclusions(&self, index: Option<usize>, report: Report) -> Report {
        if self.exclusions.is_empty() {
            return report;
        }
        let mut kept = Report::default();
        for f in report.findings() {
            if !self.excluded(index, f) {
                kept.push(f.clone());
            }
        }
        kept
    }

    fn excluded(&self, index: Option<usize>, f: &Finding) -> bool {
        let location = f.location.to_string();
        self.exclusions.iter().any(|e| {
            e.operations
                .as_ref()
                .is_none_or(|ops| index.is_some_and(|i| ops.contains(&i)))
                && e.detectors.as_ref().is_none_or(|d| d.contains(&f.detector))
                && e.locations
                    .as_ref()
                    .is_none_or(|locs| locs.iter().any(|l| location_matches(l, &location)))
        })
    }
}

fn location_matches(pattern: &str, location: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => location.starts_with(prefix),
        None => pattern == location,
    }
}

fn parse_detectors(
    names: &[String],
    at: &str,
    errors: &mut Vec<InspectionError>,
) -> Vec<DetectorKind> {
    let mut out = Vec::new();
    for (i, n) in names.iter().enumerate() {
        match DetectorKind::parse(n) {
            Some(k) => out.push(k),
            None => {
                let known = DetectorKind::ALL.map(DetectorKind::as_str);
                let hint = moat_config::diagnostic::did_you_mean(n, known.iter().copied())
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_else(|| format!("; use {}", known.join(", ")));
                errors.push(InspectionError {
                    at: format!("{at}/{i}"),
                    message: format!("unknown detector `{n}`{hint}"),
                });
            }
        }
    }
    out
}

fn compile_exclusion(
    e: &InspectionExclusion,
    i: usize,
    spec: &ApiSpec,
    errors: &mut Vec<InspectionError>,
) -> Exclusion {
    let operations = e.operations.as_ref().map(|grants| {
        let mut out = Vec::new();
        for (j, g) in grants.iter().enumerate() {
            match operations_matching(g, spec) {
                Ok(m) => out.extend(m),
                Err(message) => errors.push(InspectionError {
                    at: format!("/exclusions/{i}/operations/{j}"),
                    message,
                }),
            }
        }
        out
    });
    let detectors = e
        .detectors
        .as_ref()
        .map(|d| parse_detectors(d, &format!("/exclusions/{i}/detectors"), errors));
    if let Some(locs) = &e.locations {
        for (j, l) in locs.iter().enumerate() {
            let part = l.split(':').next().unwrap_or_default();
            if !l.contains(':')
                || ![
                    "query",
                    "header",
                    "cookie",
                    "path",
                    "body",
                    "graphql",
                    "variables",
                    "xml",
                ]
                .contains(&part)
            {
                errors.push(InspectionError {
                    at: format!("/exclusions/{i}/locations/{j}"),
                    message: format!(
                        "`{l}` is not a location: write query:<name>, header:<name>, cookie:<name>, path:<index> or body:<JSON pointer>"
                    ),
                });
            }
        }
    }
    Exclusion {
        operations,
        locations: e.locations.clone(),
        detectors,
    }
}

/// Hints from the operation's parameters and JSON request body schema.
/// Only used when validation has run in enforce mode: a value held to an
/// `enum`, a `pattern`, a strict `format` or a non-string type has then
/// already been checked against something stricter than any detector.
pub struct SchemaHints<'a> {
    /// The document.
    pub spec: &'a ApiSpec,
    /// The operation.
    pub operation: &'a Operation,
}

impl HintSource for SchemaHints<'_> {
    type At<'s>
        = (DocId, &'s Value)
    where
        Self: 's;

    fn param(&self, part: &'static str, name: &str) -> Hints {
        let location = match part {
            "query" => ParameterLocation::Query,
            "header" => ParameterLocation::Header,
            "cookie" => ParameterLocation::Cookie,
            "path" => ParameterLocation::Path,
            _ => return Hints::default(),
        };
        let Some(p) = self.operation.parameters.iter().find(|p| {
            p.location == location
                && if location == ParameterLocation::Header {
                    p.name.eq_ignore_ascii_case(name)
                } else {
                    p.name == name
                }
        }) else {
            return Hints::default();
        };
        match &p.schema {
            Some(schema) => hints_of(self.spec, p.doc, schema),
            None => Hints::default(),
        }
    }

    fn body_root(&self) -> Option<(DocId, &Value)> {
        let body = self.operation.request_body.as_ref()?;
        let schema = body
            .value
            .get("content")
            .and_then(|c| c.get("application/json"))
            .and_then(|m| m.get("schema"))?;
        Some((body.doc, schema))
    }

    fn body_child<'s>(
        &'s self,
        at: (DocId, &'s Value),
        segment: &str,
    ) -> Option<(DocId, &'s Value)> {
        child_schema(self.spec, at.0, at.1, segment, 0)
    }

    fn body_hints(&self, at: (DocId, &Value)) -> Hints {
        hints_of(self.spec, at.0, at.1)
    }
}

/// The schema of `segment` (a property name or an array index) inside
/// `schema`, through `$ref` and `allOf`.
fn child_schema<'a>(
    spec: &'a ApiSpec,
    doc: DocId,
    schema: &'a Value,
    segment: &str,
    steps: usize,
) -> Option<(DocId, &'a Value)> {
    if steps > MAX_SCHEMA_STEPS {
        return None;
    }
    let target = spec.resolve(doc, schema).ok()?;
    let (doc, schema) = (target.doc, target.value);
    if let Some(p) = schema.get("properties").and_then(|p| p.get(segment)) {
        return Some((doc, p));
    }
    if segment.bytes().all(|b| b.is_ascii_digit())
        && let Some(items) = schema.get("items")
    {
        return Some((doc, items));
    }
    schema
        .get("allOf")
        .and_then(Value::as_array)?
        .iter()
        .find_map(|branch| child_schema(spec, doc, branch, segment, steps + 1))
}

fn hints_of(spec: &ApiSpec, doc: DocId, schema: &Value) -> Hints {
    let Ok(target) = spec.resolve(doc, schema) else {
        return Hints::default();
    };
    let s = target.value;
    let typ = s.get("type").and_then(Value::as_str);
    let format = s.get("format").and_then(Value::as_str);
    let constrained = s.get("enum").is_some()
        || s.get("const").is_some()
        || s.get("pattern").is_some()
        || format.is_some_and(|f| STRICT_FORMATS.contains(&f))
        || matches!(typ, Some("integer" | "number" | "boolean"));
    Hints {
        constrained,
        max_length: s
            .get("maxLength")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok()),
    }
}

/// A one-line account of a report for logs: `sqli@query:id(critical), …`.
pub fn describe(report: &Report) -> String {
    report
        .findings()
        .iter()
        .map(|f| {
            format!(
                "{}@{}({}) `{}`",
                f.detector.as_str(),
                f.location,
                f.severity.as_str(),
                f.snippet
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
