//! Schema drift: what the traffic of a documented operation carries that
//! its document does not describe.
//!
//! - undocumented parameters, compared over `(location, name)` pairs (query
//!   parameters today; header and cookie ones compare the same way), a key
//!   an `apiKey` security scheme names counting as documented;
//! - undocumented request-body properties: what a client sends that the
//!   API did not mean to accept (mass assignment);
//! - undocumented answer fields: properties of a JSON answer its documented
//!   response (the status, else its `2XX`-style range, else `default`)
//!   does not allow, the sign of excessive data exposure. One holding
//!   sensitive data (see [`crate::sensitive`]) is marked with its kinds.
//!
//! Documented schemas are read as the document writes them: `$ref`s are
//! followed, `allOf`/`anyOf`/`oneOf` branches each document what they
//! list, `items` and `prefixItems` describe array elements, and
//! `additionalProperties` describes the other keys of an object (a schema:
//! their values; `false`: none allowed). An object schema with
//! `properties` documents those names: anything else is undocumented,
//! whether or not it says `additionalProperties: false`. A schema with
//! neither `properties` nor `additionalProperties: false` (`{}`,
//! `type: object` alone), one with `patternProperties`, an array schema
//! without `items`, a body with no JSON media type and a `$ref` that
//! cannot be followed document nothing to compare: such positions are
//! listed in [`SchemaDrift::uncompared`] with the reason, and nothing
//! below them is reported. A response documented without `content`
//! documents a body with no fields, so every field seen is undocumented.
//!
//! Only the shallowest undocumented position is reported (`/internal`,
//! not also `/internal/notes`). Reports hold JSON pointers and names,
//! never values: array elements and map values are written `*`.

use std::collections::BTreeSet;

use moat_spec::{ApiKeyLocation, ApiSpec, DocId, Operation, ParameterLocation, SchemeKind};
use serde_json::Value;

use crate::profile::Profile;
use crate::schema::{FieldStep, SchemaBuilder, field_pointer};
use crate::sensitive::{Findings, SensitiveKind};

/// Schemas visited through `$ref`s and combinators at one position; a
/// deeper (or recursive) chain documents nothing more.
const MAX_EXPANSION: usize = 64;

/// The schema of a body documented as empty: it has no fields.
static NO_FIELDS: Value = Value::Bool(false);
/// A response whose `$ref` could not be followed.
static UNRESOLVED: Value = Value::Null;

/// Which body a field is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BodyPart {
    /// The request body.
    Request,
    /// The answer with this status.
    Response(u16),
}

/// A parameter the traffic carried that the operation does not document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndocumentedParameter {
    /// Where it was carried.
    pub location: ParameterLocation,
    /// Its name, as seen.
    pub name: String,
}

/// A field seen in a body that the documented schema does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndocumentedField {
    /// The body.
    pub body: BodyPart,
    /// Its JSON pointer (`/user/internal_notes`, `/items/*/cost`).
    pub pointer: String,
    /// The sensitive data seen at it or below it: an undocumented answer
    /// field holding these is excessive data exposure.
    pub sensitive: Vec<SensitiveKind>,
}

/// Why a position could not be compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Uncompared {
    /// Its schema has neither `properties` nor `additionalProperties:
    /// false` (or is an array schema without `items`): it allows anything.
    OpenSchema,
    /// Its schema has `patternProperties`, which are not evaluated.
    PatternProperties,
    /// The documented body has no JSON media type.
    NotJson,
    /// A `$ref` could not be followed, or nested too deep.
    Unresolved,
}

impl Uncompared {
    /// The reason's name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Uncompared::OpenSchema => "open_schema",
            Uncompared::PatternProperties => "pattern_properties",
            Uncompared::NotJson => "not_json",
            Uncompared::Unresolved => "unresolved",
        }
    }
}

/// A position whose documented schema documents nothing to compare.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UncomparedField {
    /// The body.
    pub body: BodyPart,
    /// The JSON pointer of the position (`""` for the body itself).
    pub pointer: String,
    /// Why.
    pub reason: Uncompared,
}

/// What one operation's traffic has that its document does not.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchemaDrift {
    /// Parameters not documented, ordered by location and name.
    pub parameters: Vec<UndocumentedParameter>,
    /// Request-body properties not documented (mass assignment).
    pub request_fields: Vec<UndocumentedField>,
    /// Answer fields not documented (excessive data exposure), by status.
    pub answer_fields: Vec<UndocumentedField>,
    /// Statuses answered that the document does not list, not even under
    /// a range or `default`.
    pub undocumented_statuses: Vec<u16>,
    /// Positions whose schema documents nothing to compare.
    pub uncompared: Vec<UncomparedField>,
}

impl SchemaDrift {
    /// Whether the traffic carried anything undocumented.
    pub fn has_drift(&self) -> bool {
        !self.parameters.is_empty()
            || !self.request_fields.is_empty()
            || !self.answer_fields.is_empty()
            || !self.undocumented_statuses.is_empty()
    }

    /// The undocumented answer fields that held sensitive data.
    pub fn exposed(&self) -> impl Iterator<Item = &UndocumentedField> {
        self.answer_fields
            .iter()
            .filter(|f| !f.sensitive.is_empty())
    }
}

/// Compares what `profile` learned of a discovered operation with
/// `documented`, the operation of `spec` it matched
/// ([`crate::Judged::documented_index`]).
pub fn compare_profile(profile: &Profile, documented: &Operation, spec: &ApiSpec) -> SchemaDrift {
    compare_operation(
        Observed {
            parameters: &profile.parameters().collect::<Vec<_>>(),
            request_body: profile.request_body(),
            responses: &profile.responses().collect::<Vec<_>>(),
            findings: &profile.findings,
        },
        documented,
        spec,
    )
}

/// What traffic showed of one operation.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// Parameters seen, by location and name.
    pub parameters: &'a [(ParameterLocation, &'a str)],
    /// Its JSON request bodies merged.
    pub request_body: &'a SchemaBuilder,
    /// Its answers by status (a builder with no sample: no JSON body).
    pub responses: &'a [(u16, &'a SchemaBuilder)],
    /// The sensitive data seen.
    pub findings: &'a Findings,
}

/// Compares `observed` with `documented`, an operation of `spec`.
pub fn compare_operation(
    observed: Observed<'_>,
    documented: &Operation,
    spec: &ApiSpec,
) -> SchemaDrift {
    let mut drift = SchemaDrift {
        parameters: undocumented_parameters(observed.parameters, documented, spec),
        ..SchemaDrift::default()
    };
    if observed.request_body.samples() > 0 {
        let schema = match &documented.request_body {
            Some(body) => body_schema(spec, body.doc, &body.value),
            None => Documented::Nothing,
        };
        let (fields, open) = compare_body(
            spec,
            &schema,
            observed.request_body,
            BodyPart::Request,
            observed.findings,
        );
        drift.request_fields = fields;
        drift.uncompared.extend(open);
    }
    for (status, builder) in observed.responses {
        let Some(response) = response_for(spec, documented, *status) else {
            drift.undocumented_statuses.push(*status);
            if builder.samples() > 0 {
                let (fields, _) = compare_body(
                    spec,
                    &Documented::Nothing,
                    builder,
                    BodyPart::Response(*status),
                    observed.findings,
                );
                drift.answer_fields.extend(fields);
            }
            continue;
        };
        if builder.samples() == 0 {
            continue;
        }
        let schema = body_schema(spec, response.0, response.1);
        let (fields, open) = compare_body(
            spec,
            &schema,
            builder,
            BodyPart::Response(*status),
            observed.findings,
        );
        drift.answer_fields.extend(fields);
        drift.uncompared.extend(open);
    }
    drift.undocumented_statuses.sort_unstable();
    drift
        .answer_fields
        .sort_by(|a, b| (a.body, &a.pointer).cmp(&(b.body, &b.pointer)));
    drift.uncompared.sort();
    drift
}

/// Parameters in `observed` that `op` does not document. Header names
/// compare case-insensitively; `Accept`, `Content-Type` and
/// `Authorization` headers are never parameters (OpenAPI ignores them);
/// the keys of the `apiKey` schemes the operation accepts are documented.
fn undocumented_parameters(
    observed: &[(ParameterLocation, &str)],
    op: &Operation,
    spec: &ApiSpec,
) -> Vec<UndocumentedParameter> {
    let same = |location: ParameterLocation, a: &str, b: &str| match location {
        ParameterLocation::Header => a.eq_ignore_ascii_case(b),
        _ => a == b,
    };
    let keys: Vec<(ParameterLocation, &str)> = op
        .policy
        .scheme_names()
        .into_iter()
        .filter_map(|n| spec.schemes.get(n))
        .filter_map(|s| match &s.kind {
            SchemeKind::ApiKey { name, location } => Some((
                match location {
                    ApiKeyLocation::Header => ParameterLocation::Header,
                    ApiKeyLocation::Query => ParameterLocation::Query,
                    ApiKeyLocation::Cookie => ParameterLocation::Cookie,
                },
                name.as_str(),
            )),
            _ => None,
        })
        .collect();
    let mut out: Vec<UndocumentedParameter> = Vec::new();
    for &(location, name) in observed {
        let ignored = location == ParameterLocation::Header
            && ["accept", "content-type", "authorization"]
                .iter()
                .any(|h| h.eq_ignore_ascii_case(name));
        let documented = op
            .parameters
            .iter()
            .any(|p| p.location == location && same(location, &p.name, name))
            || keys
                .iter()
                .any(|&(l, k)| l == location && same(location, k, name));
        if !ignored && !documented {
            out.push(UndocumentedParameter {
                location,
                name: name.to_string(),
            });
        }
    }
    // Path, query, header, cookie; then by name.
    let rank = |l: ParameterLocation| match l {
        ParameterLocation::Path => 0,
        ParameterLocation::Query => 1,
        ParameterLocation::Header => 2,
        ParameterLocation::Cookie => 3,
    };
    out.sort_by(|a, b| (rank(a.location), &a.name).cmp(&(rank(b.location), &b.name)));
    out.dedup();
    out
}

/// What a document says a body is.
enum Documented<'a> {
    /// This JSON schema, in this document.
    Schema(DocId, &'a Value),
    /// No body: every field is undocumented.
    Nothing,
    /// Nothing comparable, for this reason.
    Uncomparable(Uncompared),
}

/// The documented response object (its document and value) for `status`:
/// the status itself, its range (`2XX`), or `default`.
fn response_for<'a>(
    spec: &'a ApiSpec,
    op: &'a Operation,
    status: u16,
) -> Option<(DocId, &'a Value)> {
    let responses = op.responses.as_object()?;
    let exact = status.to_string();
    let range = format!("{}XX", status / 100);
    let raw = responses
        .get(&exact)
        .or_else(|| {
            responses
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&range))
                .map(|(_, v)| v)
        })
        .or_else(|| responses.get("default"))?;
    match spec.resolve(op.doc, raw) {
        Ok(target) => Some((target.doc, target.value)),
        // An unresolvable response is documented, with nothing to compare.
        Err(_) => Some((op.doc, &UNRESOLVED)),
    }
}

/// The JSON schema of a request body or response object.
fn body_schema<'a>(spec: &'a ApiSpec, doc: DocId, object: &'a Value) -> Documented<'a> {
    if object.is_null() {
        return Documented::Uncomparable(Uncompared::Unresolved);
    }
    let Some(content) = object.get("content").and_then(Value::as_object) else {
        return Documented::Nothing;
    };
    if content.is_empty() {
        return Documented::Nothing;
    }
    let media = |want: &dyn Fn(&str) -> bool| {
        content
            .iter()
            .find(|(k, _)| want(&k.to_ascii_lowercase()))
            .map(|(_, v)| v)
    };
    let Some(media) = media(&|k| k.starts_with("application/json"))
        .or_else(|| media(&|k| k.contains("json")))
        .or_else(|| media(&|k| k == "*/*" || k == "application/*"))
    else {
        return Documented::Uncomparable(Uncompared::NotJson);
    };
    match spec.resolve(doc, media) {
        Ok(t) => match t.value.get("schema") {
            Some(schema) => Documented::Schema(t.doc, schema),
            None => Documented::Uncomparable(Uncompared::OpenSchema),
        },
        Err(_) => Documented::Uncomparable(Uncompared::Unresolved),
    }
}

/// The shallowest undocumented fields of `observed`, and the positions
/// not compared.
fn compare_body(
    spec: &ApiSpec,
    documented: &Documented<'_>,
    observed: &SchemaBuilder,
    body: BodyPart,
    findings: &Findings,
) -> (Vec<UndocumentedField>, Vec<UncomparedField>) {
    let root: Vec<(DocId, &Value)> = match documented {
        Documented::Schema(doc, schema) => vec![(*doc, schema)],
        Documented::Nothing => vec![(DocId::ROOT, &NO_FIELDS)],
        Documented::Uncomparable(reason) => {
            return (
                Vec::new(),
                vec![UncomparedField {
                    body,
                    pointer: String::new(),
                    reason: *reason,
                }],
            );
        }
    };
    let prefix = match body {
        BodyPart::Request => "request.body#",
        BodyPart::Response(_) => "response.body#",
    };
    let mut fields = Vec::new();
    let mut open: BTreeSet<UncomparedField> = BTreeSet::new();
    // Positions reported (or not compared): their descendants are skipped.
    let mut stop: Vec<Vec<FieldStep>> = Vec::new();
    for path in observed.fields() {
        if stop.iter().any(|s| path.starts_with(s)) {
            continue;
        }
        match walk(spec, &root, &path) {
            Walk::Documented => {}
            Walk::Undocumented(at) => {
                let steps = path.get(..=at).unwrap_or(&path).to_vec();
                let pointer = field_pointer(&steps);
                fields.push(UndocumentedField {
                    body,
                    sensitive: sensitive_at(findings, prefix, &pointer),
                    pointer,
                });
                stop.push(steps);
            }
            Walk::Open(at, reason) => {
                let steps = path.get(..at).unwrap_or(&path).to_vec();
                open.insert(UncomparedField {
                    body,
                    pointer: field_pointer(&steps),
                    reason,
                });
                stop.push(steps);
            }
        }
    }
    (fields, open.into_iter().collect())
}

/// The sensitive kinds seen at `pointer` or below.
fn sensitive_at(findings: &Findings, prefix: &str, pointer: &str) -> Vec<SensitiveKind> {
    let at = format!("{prefix}{pointer}");
    let below = format!("{at}/");
    let kinds: BTreeSet<SensitiveKind> = findings
        .iter()
        .filter(|f| f.location == at || f.location.starts_with(&below))
        .map(|f| f.kind)
        .collect();
    kinds.into_iter().collect()
}

/// Where following a path through documented schemas ended.
enum Walk {
    /// Every step is documented.
    Documented,
    /// The step at this index is not.
    Undocumented(usize),
    /// The schema reached before the step at this index documents
    /// nothing to compare.
    Open(usize, Uncompared),
}

/// What one schema says of one step.
enum Step<'a> {
    Into(Vec<(DocId, &'a Value)>),
    Open(Uncompared),
    Closed,
}

fn walk(spec: &ApiSpec, root: &[(DocId, &Value)], path: &[FieldStep]) -> Walk {
    let mut current: Vec<(DocId, &Value)> = root.to_vec();
    for (i, step) in path.iter().enumerate() {
        let mut next = Vec::new();
        let mut open = None;
        for &(doc, schema) in &current {
            let mut leaves = Vec::new();
            if !expand(spec, doc, schema, &mut leaves, &mut 0) {
                open.get_or_insert(Uncompared::Unresolved);
            }
            for (doc, leaf) in leaves {
                match step_into(doc, leaf, step) {
                    Step::Into(children) => next.extend(children),
                    Step::Open(reason) => {
                        open.get_or_insert(reason);
                    }
                    Step::Closed => {}
                }
            }
        }
        // Combinators at every level must not multiply the candidates.
        next.truncate(MAX_EXPANSION);
        if next.is_empty() {
            return match open {
                Some(reason) => Walk::Open(i, reason),
                None => Walk::Undocumented(i),
            };
        }
        current = next;
    }
    Walk::Documented
}

/// Follows `$ref`s and `allOf`/`anyOf`/`oneOf` from `schema` into the
/// schemas that each may document a step. False when a reference could not
/// be followed or the expansion was cut.
fn expand<'a>(
    spec: &'a ApiSpec,
    doc: DocId,
    schema: &'a Value,
    out: &mut Vec<(DocId, &'a Value)>,
    visited: &mut usize,
) -> bool {
    *visited += 1;
    if *visited > MAX_EXPANSION {
        return false;
    }
    let Ok(target) = spec.resolve(doc, schema) else {
        return false;
    };
    let (doc, schema) = (target.doc, target.value);
    let mut ok = true;
    let mut combined = false;
    for key in ["allOf", "anyOf", "oneOf"] {
        for branch in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            combined = true;
            ok &= expand(spec, doc, branch, out, visited);
        }
    }
    // Beside `allOf` & co., a schema's own keywords document fields only
    // when they describe some (`type: object` alone adds nothing).
    let own = schema.as_object().is_none_or(|o| {
        [
            "properties",
            "additionalProperties",
            "patternProperties",
            "items",
            "prefixItems",
        ]
        .iter()
        .any(|k| o.contains_key(*k))
    });
    if !combined || own {
        out.push((doc, schema));
    }
    ok
}

/// What one expanded schema says of `step`.
fn step_into<'a>(doc: DocId, schema: &'a Value, step: &FieldStep) -> Step<'a> {
    let object = match schema {
        Value::Bool(true) => return Step::Open(Uncompared::OpenSchema),
        Value::Object(o) => o,
        _ => return Step::Closed,
    };
    // A schema typed as something else (`type: "null"` beside an object in
    // `anyOf`, a string) has no such step.
    let wanted = match step {
        FieldStep::Item => "array",
        FieldStep::Property(_) | FieldStep::AnyKey => "object",
    };
    let typed_otherwise = match object.get("type") {
        Some(Value::String(t)) => t != wanted,
        Some(Value::Array(ts)) => !ts.iter().any(|t| t == wanted),
        _ => false,
    };
    if typed_otherwise {
        return Step::Closed;
    }
    match step {
        FieldStep::Item => {
            let mut children = Vec::new();
            match object.get("items") {
                Some(Value::Bool(false)) => {}
                Some(items) => children.push((doc, items)),
                None => {}
            }
            for p in object
                .get("prefixItems")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                children.push((doc, p));
            }
            if children.is_empty() && !object.contains_key("items") {
                return Step::Open(Uncompared::OpenSchema);
            }
            if children.is_empty() {
                Step::Closed
            } else {
                Step::Into(children)
            }
        }
        FieldStep::Property(_) | FieldStep::AnyKey => {
            if let FieldStep::Property(name) = step
                && let Some(child) = object.get("properties").and_then(|p| p.get(name.as_str()))
            {
                return Step::Into(vec![(doc, child)]);
            }
            if object.contains_key("patternProperties") {
                return Step::Open(Uncompared::PatternProperties);
            }
            match object.get("additionalProperties") {
                Some(Value::Bool(false)) => Step::Closed,
                Some(Value::Bool(true)) => Step::Open(Uncompared::OpenSchema),
                Some(extra @ Value::Object(_)) => Step::Into(vec![(doc, extra)]),
                _ if object.contains_key("properties") => Step::Closed,
                _ => Step::Open(Uncompared::OpenSchema),
            }
        }
    }
}

#[cfg(test)]
mod tests;
