//! Attack inspection at the gateway: what the document says about each value
//! (schema hints), exclusions for known false positives, and the decision.

use std::collections::HashSet;
use std::sync::Arc;

use moat_config::{AttackToolAction, InspectionConfig, InspectionExclusion};
use moat_guard::authorization::operations_matching;
use moat_inspect::graphql::GraphqlLimits;
use moat_inspect::xml::XmlLimits;
use moat_inspect::{
    DetectorKind, Finding, HeaderSelection, InspectOptions, Inspector, Report, ToolAction,
};
use moat_spec::ApiSpec;

mod hints;

pub use hints::{BodyHints, SchemaHints};

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
    /// The hints of the operations' JSON request bodies.
    body_hints: BodyHints,
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

    /// The compiled body hints, with operation `index`'s body schema node.
    pub fn body_hints(&self, index: usize) -> Option<(&BodyHints, usize)> {
        self.body_hints
            .root(index)
            .map(|root| (&self.body_hints, root))
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
                headers: HeaderSelection::excluding(&cfg.headers.exclude),
                attack_tools: match cfg.attack_tools {
                    AttackToolAction::Flag => ToolAction::Flag,
                    AttackToolAction::Block => ToolAction::Block,
                },
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
            body_hints: BodyHints::compile(spec),
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

/// The security event's detail for a report: the most severe finding's
/// detector and location, and every finding's reason and redacted snippet
/// (the shape of the value, its letters and digits masked; see
/// `moat_inspect::snippet`), at most a few hundred characters.
pub(crate) fn event_detail(report: &Report) -> crate::pipeline::Detail {
    let findings = report.findings();
    let top = findings.iter().max_by_key(|f| f.severity.score());
    let mut evidence = String::new();
    for f in findings {
        if evidence.len() > 300 {
            evidence.push_str(" …");
            break;
        }
        if !evidence.is_empty() {
            evidence.push_str("; ");
        }
        evidence.push_str(&format!(
            "{}@{}: {} `{}`",
            f.detector.as_str(),
            f.location,
            f.reason,
            f.snippet
        ));
    }
    crate::pipeline::Detail {
        rule: top.map(|f| f.detector.as_str().to_string()),
        location: top.map(|f| f.location.to_string()),
        evidence: Some(evidence),
        ..Default::default()
    }
}

/// The request headers whose values a verifier consumed as credentials
/// for `operation` (lower case): when the request was identified, the
/// headers its security schemes read (`authorization` for HTTP, OAuth 2
/// and OpenID Connect schemes, an API key's header). With no identity
/// (the operation needs no credential, or the credential was not
/// verified) nothing was consumed, and every header is a value to inspect.
pub fn consumed_credentials<'s>(
    spec: &'s ApiSpec,
    operation: &'s moat_spec::Operation,
    identified: bool,
) -> Vec<&'s str> {
    use moat_spec::{ApiKeyLocation, SchemeKind};
    let mut out = Vec::new();
    if !identified {
        return out;
    }
    for name in operation.policy.scheme_names() {
        let header = match spec.schemes.get(name).map(|s| &s.kind) {
            Some(SchemeKind::ApiKey {
                name,
                location: ApiKeyLocation::Header,
            }) => name.as_str(),
            Some(
                SchemeKind::HttpBasic
                | SchemeKind::HttpBearer
                | SchemeKind::HttpOther(_)
                | SchemeKind::OAuth2 { .. }
                | SchemeKind::OpenIdConnect { .. },
            ) => "authorization",
            _ => continue,
        };
        if !out.iter().any(|h: &&str| h.eq_ignore_ascii_case(header)) {
            out.push(header);
        }
    }
    out
}
