//! Operations' risk, scored with discovery's one model
//! ([`moat_discover::risk`]) from what the gateway knows: a documented
//! operation's enforced requirement and its config's protections, and for
//! an operation captured from traffic, also what its samples carried.

use moat_discover::auth::AuthPresence;
use moat_discover::drift::Standing;
use moat_discover::risk::{Risk, RiskInput, assess, object_id_in_path};
use moat_discover::segment::SegmentKind;
use moat_discover::template::Part;
use moat_spec::Operation;
use serde_json::{Map, Value, json};

use crate::capture::CapturedOperation;
use crate::runtime::Api;

/// The risk of the documented operation at `index` of `api`: from its
/// method, its enforced security requirement, deprecation, whether its
/// path names an object and an ownership rule covers it, and whether a
/// rate limit or quota applies.
pub fn of_documented(api: &Api, op: &Operation, index: usize) -> Risk {
    let protections = api.protections(index);
    assess(&RiskInput {
        object_id_in_path: api.objects.of(index).is_some(),
        zombie: op.deprecated,
        auth: AuthPresence::from_policy(&op.policy),
        has_ownership_rule: Some(protections.ownership),
        has_rate_limit: Some(protections.rate_limited),
        ..RiskInput::new(op.method.as_str())
    })
}

/// The risk of a captured operation, judged `standing`; `documented` is
/// its API and documented operation's index when it has one (the
/// requirement the gateway enforces and the config's protections then
/// apply; otherwise whether its samples carried credentials does, and
/// protections are unknown). Sensitive data its answers carried counts.
pub fn of_captured(
    op: &CapturedOperation,
    standing: Standing,
    documented: Option<(&Api, usize)>,
) -> Risk {
    let parts: Vec<Part> = op
        .template
        .split('/')
        .skip(1)
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => Part::Param {
                    name: name.to_string(),
                    kind: SegmentKind::Text,
                },
                None => Part::Literal(s.to_string()),
            },
        )
        .collect();
    let mut input = RiskInput {
        object_id_in_path: object_id_in_path(&parts),
        shadow: standing == Standing::Shadow,
        zombie: standing == Standing::Zombie,
        auth: presence(op),
        ..RiskInput::new(&op.method)
    };
    if let Some((api, index)) = documented
        && let Some(documented) = api.table.spec().operations.get(index)
    {
        let protections = api.protections(index);
        input.auth = AuthPresence::from_policy(&documented.policy);
        input.object_id_in_path |= api.objects.of(index).is_some();
        input.has_ownership_rule = Some(protections.ownership);
        input.has_rate_limit = Some(protections.rate_limited);
    }
    assess(&input.with_findings(&op.shape.profile.findings))
}

/// Whether the samples carried credentials: any kind but `none` counts
/// (verified, rejected, or presented where nothing verifies them).
fn presence(op: &CapturedOperation) -> AuthPresence {
    let total: u64 = op.shape.auth.values().sum();
    let none = op.shape.auth.get("none").copied().unwrap_or(0);
    AuthPresence::from_counts(total, none)
}

/// The risk as the admin API shows it: `risk` (the level), `risk_score`
/// and `risk_factors` (`factor`, `weight`, `explain`).
pub fn fields(risk: &Risk) -> Map<String, Value> {
    let factors: Vec<Value> = risk
        .factors
        .iter()
        .map(|f| json!({"factor": f.as_str(), "weight": f.weight(), "explain": f.explain()}))
        .collect();
    let mut out = Map::new();
    out.insert("risk".into(), json!(risk.level().as_str()));
    out.insert("risk_score".into(), json!(risk.score));
    out.insert("risk_factors".into(), Value::Array(factors));
    out
}
