use super::*;
use crate::sensitive::BodySource;
use crate::template::Templater;

fn names(risk: &Risk) -> Vec<&'static str> {
    risk.factors.iter().map(RiskFactor::as_str).collect()
}

fn input(method: &str, auth: AuthPresence) -> RiskInput {
    RiskInput {
        auth,
        ..RiskInput::new(method)
    }
}

#[test]
fn each_factor_applies_alone_with_its_weight() {
    let cases: Vec<(RiskInput, &str, u8)> = vec![
        (input("GET", AuthPresence::Never), "unauthenticated", 25),
        (
            input("GET", AuthPresence::Sometimes),
            "sometimes_unauthenticated",
            10,
        ),
        (
            RiskInput {
                shadow: true,
                ..RiskInput::new("GET")
            },
            "shadow",
            20,
        ),
        (
            RiskInput {
                zombie: true,
                ..RiskInput::new("GET")
            },
            "zombie",
            20,
        ),
        (
            RiskInput {
                object_id_in_path: true,
                has_ownership_rule: Some(false),
                ..RiskInput::new("GET")
            },
            "object_id_without_ownership",
            20,
        ),
        (
            RiskInput {
                has_rate_limit: Some(false),
                ..RiskInput::new("GET")
            },
            "no_rate_limit",
            10,
        ),
        (
            RiskInput {
                returned: [SensitiveKind::Email].into(),
                ..RiskInput::new("GET")
            },
            "sensitive_data_returned",
            15,
        ),
        (
            RiskInput {
                returned: [SensitiveKind::Jwt].into(),
                ..RiskInput::new("GET")
            },
            "secrets_in_answers",
            20,
        ),
        (
            RiskInput {
                undocumented_answer_fields: 3,
                ..RiskInput::new("GET")
            },
            "undocumented_answer_fields",
            10,
        ),
    ];
    for (input, name, weight) in cases {
        let risk = assess(&input);
        assert_eq!(names(&risk), [name], "{input:?}");
        assert_eq!(risk.score, weight, "{name}");
        assert!(!risk.factors[0].explain().is_empty());
    }
    // Excessive exposure comes with the undocumented fields it is in.
    let risk = assess(&RiskInput {
        undocumented_answer_fields: 1,
        exposed: [SensitiveKind::NationalId].into(),
        ..RiskInput::new("GET")
    });
    assert_eq!(
        risk.factors,
        [
            RiskFactor::ExcessiveDataExposure(vec![SensitiveKind::NationalId]),
            RiskFactor::UndocumentedAnswerFields(1)
        ]
    );
    assert_eq!(
        risk.factors[0].explain(),
        "undocumented answer fields carry sensitive data (national_id)"
    );
}

#[test]
fn nothing_known_scores_nothing() {
    let risk = assess(&RiskInput::new("DELETE"));
    assert_eq!((risk.score, risk.level()), (0, RiskLevel::Low));
    assert!(risk.factors.is_empty());
    // An id in the path is a factor only when the config says no rule
    // covers it; authenticated writes are not writes without auth.
    let risk = assess(&RiskInput {
        object_id_in_path: true,
        has_ownership_rule: Some(true),
        has_rate_limit: Some(true),
        ..input("DELETE", AuthPresence::Always)
    });
    assert!(risk.factors.is_empty());
    let risk = assess(&RiskInput {
        object_id_in_path: true,
        ..input("DELETE", AuthPresence::Unobserved)
    });
    assert!(risk.factors.is_empty());
}

#[test]
fn scores_order_operations_by_exposure() {
    let authenticated_read = assess(&input("GET", AuthPresence::Always));
    let anonymous_read = assess(&input("GET", AuthPresence::Never));
    let anonymous_write = assess(&input("POST", AuthPresence::Never));
    let worst = assess(&RiskInput {
        returned: [SensitiveKind::CardNumber, SensitiveKind::Password].into(),
        shadow: true,
        zombie: true,
        object_id_in_path: true,
        has_ownership_rule: Some(false),
        has_rate_limit: Some(false),
        ..input("PUT", AuthPresence::Never)
    });
    assert!(authenticated_read.score < anonymous_read.score);
    assert!(anonymous_read.score < anonymous_write.score);
    assert!(anonymous_write.score < worst.score);
    assert_eq!(
        [
            authenticated_read.level(),
            anonymous_read.level(),
            anonymous_write.level()
        ],
        [RiskLevel::Low, RiskLevel::Medium, RiskLevel::High]
    );
    assert_eq!(
        names(&anonymous_write),
        ["unauthenticated", "write_without_auth"]
    );
    assert_eq!(worst.score, 100);
    assert_eq!(worst.factors.len(), 8);
    // Heaviest first.
    assert!(
        worst
            .factors
            .windows(2)
            .all(|w| w[0].weight() >= w[1].weight())
    );
    assert_eq!(
        worst
            .factors
            .iter()
            .find(|f| matches!(f, RiskFactor::SensitiveDataReturned(_))),
        Some(&RiskFactor::SensitiveDataReturned(vec![
            SensitiveKind::CardNumber
        ]))
    );
}

#[test]
fn auth_from_a_documented_policy() {
    let doc = r#"
openapi: 3.1.0
info: {title: t, version: "1"}
components:
  securitySchemes: {key: {type: apiKey, in: header, name: X-Key}}
paths:
  /open: {get: {operationId: open, security: [], responses: {"200": {description: ok}}}}
  /optional: {get: {operationId: optional, security: [{}, {key: []}], responses: {"200": {description: ok}}}}
  /closed: {get: {operationId: closed, security: [{key: []}], responses: {"200": {description: ok}}}}
"#;
    let spec = moat_spec::load_text("t.yaml", doc).unwrap();
    let auth = |id: &str| AuthPresence::from_policy(&spec.operation(id).unwrap().policy);
    assert_eq!(
        [auth("open"), auth("optional"), auth("closed")],
        [
            AuthPresence::Never,
            AuthPresence::Sometimes,
            AuthPresence::Always
        ]
    );
}

#[test]
fn inputs_from_a_judged_operation_its_findings_drift_and_rules() {
    let mut t = Templater::new();
    for id in 1..=6 {
        t.observe("DELETE", &format!("/v1/orders/{id}")).unwrap();
        t.observe("DELETE", &format!("/v2/orders/{id}")).unwrap();
    }
    t.observe("GET", "/v2/files/report").unwrap();
    let ops = t.operations();
    let table = moat_spec::OperationTable::new(
        moat_spec::load_text(
            "d.yaml",
            "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n",
        )
        .unwrap(),
    );
    let drift = crate::compare(&ops, &table);
    let v1 = drift
        .operations
        .iter()
        .find(|j| j.discovered.template() == "/v1/orders/{orderId}")
        .unwrap();
    let mut findings = Findings::new();
    findings.record_json(
        BodySource::Response,
        &serde_json::json!({"email": "a@example.com", "token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXZhbHVl"}),
    );
    findings.record_json(
        BodySource::Request,
        &serde_json::json!({"card": "4111111111111111"}),
    );
    let rules = ConfiguredRules::new(
        [("delete", "/v2/orders/{id}")].into_iter().collect(),
        [("DELETE", "/v1/orders/{x}")].into_iter().collect(),
    );
    let template = v1.discovered.template();
    let input = RiskInput::from_judged(v1)
        .with_findings(&findings)
        .with_rules(Some(&rules), &template);
    assert!(input.shadow && input.zombie && input.object_id_in_path);
    // Only what answers carried; the card was in a request.
    assert_eq!(
        input.returned,
        [SensitiveKind::Email, SensitiveKind::Jwt].into()
    );
    assert_eq!(
        (input.has_ownership_rule, input.has_rate_limit),
        (Some(false), Some(true))
    );
    assert_eq!(
        names(&assess(&input)),
        [
            "secrets_in_answers",
            "shadow",
            "zombie",
            "object_id_without_ownership",
            "sensitive_data_returned"
        ]
    );
    // Without a document: no shadow, the version still makes a zombie.
    let zombies = crate::version_zombies(&ops);
    let (i, op) = ops
        .iter()
        .enumerate()
        .find(|(_, o)| o.template() == "/v1/orders/{orderId}")
        .unwrap();
    let alone = RiskInput::from_discovered(op, zombies[i].is_some());
    assert!(!alone.shadow && alone.zombie && alone.object_id_in_path);
    // Without a config, the rules are unknown and not scored.
    let unknown = RiskInput::from_judged(v1).with_rules(None, &template);
    assert_eq!(
        (unknown.has_ownership_rule, unknown.has_rate_limit),
        (None, None)
    );
    // A path of literals names no object.
    let files = drift
        .operations
        .iter()
        .find(|j| j.discovered.method == "GET")
        .unwrap();
    assert!(!RiskInput::from_judged(files).object_id_in_path);
}

#[test]
fn nothing_in_a_risk_is_a_value() {
    let mut findings = Findings::new();
    findings.record_json(
        BodySource::Response,
        &serde_json::json!({"email": "alice@example.com", "password": "hunter22"}),
    );
    let risk = assess(&RiskInput::new("GET").with_findings(&findings));
    let all: String = risk
        .factors
        .iter()
        .map(|f| format!("{f:?} {}", f.explain()))
        .collect();
    assert!(all.contains("email") && all.contains("password"), "{all}");
    for value in ["alice@example.com", "hunter22"] {
        assert!(!all.contains(value), "{value} in {all}");
    }
}
