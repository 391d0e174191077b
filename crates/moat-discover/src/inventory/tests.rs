use moat_spec::OperationTable;
use serde_json::{Value, json};

use super::*;
use crate::input::{Body, Sample};
use crate::template::Templater;

const DOC: &str = r#"
openapi: 3.1.0
info: {title: shop, version: "1"}
paths:
  /users:
    get: {operationId: listUsers, responses: {"200": {description: ok}}}
  /users/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
    get: {operationId: getUser, responses: {"200": {description: ok}}}
    delete: {operationId: deleteUser, responses: {"204": {description: gone}}}
  /v1/users:
    get: {operationId: listUsersV1, deprecated: true, responses: {"200": {description: ok}}}
"#;

fn sample(method: &str, url: &str, status: u16, resp: Option<&str>) -> Sample {
    Sample {
        method: method.into(),
        url: url.into(),
        status: Some(status),
        request_headers: vec![(
            "authorization".into(),
            "Bearer abcdefghijklmnopqrstuvwxyz0123456789".into(),
        )],
        response_headers: Vec::new(),
        request_body: None,
        response_body: resp.map(|t| Body {
            mime: Some("application/json".into()),
            text: t.into(),
        }),
    }
}

/// Traffic on the shop: users listed with a page and a sort order, users
/// by id (with their email in the answer), the deprecated listing, and an
/// undocumented debug route; read as `moat discover` reads it, with the
/// document when `judged`.
pub(crate) fn inventory(judged: bool) -> Inventory {
    let mut samples = Vec::new();
    for (page, sort) in [(1, "name"), (2, "age"), (3, "name")] {
        samples.push(sample(
            "GET",
            &format!("/users?page={page}&sort={sort}"),
            200,
            Some("[]"),
        ));
    }
    for id in [1, 2, 3, 4, 5, 17] {
        let body = format!(r#"{{"id":{id},"email":"user{id}@example.com"}}"#);
        samples.push(sample("GET", &format!("/users/{id}"), 200, Some(&body)));
    }
    samples.push(sample("GET", "/users/99", 404, None));
    samples.push(sample("GET", "/v1/users", 200, Some("[]")));
    samples.push(sample("GET", "/_debug/vars", 200, None));
    let mut t = Templater::new();
    for s in &samples {
        t.observe(&s.method, s.url.split('?').next().unwrap())
            .unwrap();
    }
    let operations = t.operations();
    let doc = crate::openapi::document("shop", &operations);
    let table = OperationTable::new(
        moat_spec::load_text("d.yaml", &crate::openapi::to_yaml(&doc)).unwrap(),
    );
    let mut profiler = Profiler::new(table);
    for s in &samples {
        profiler.observe(s);
    }
    let documented = OperationTable::new(moat_spec::load_text("shop.yaml", DOC).unwrap());
    let drift = judged.then(|| crate::compare(&operations, &documented));
    Inventory::new(
        &Sources {
            operations: &operations,
            document: drift.as_ref().map(|d| (documented.spec(), d)),
            profiler: Some(&profiler),
            rules: None,
        },
        InputStats::new(samples.len() as u64, 2, 1),
    )
}

fn op<'a>(inv: &'a Inventory, method: &str, path: &str) -> &'a Operation {
    inv.operations
        .iter()
        .find(|o| o.method == method && o.path == path)
        .unwrap_or_else(|| panic!("{method} {path} not in {inv:#?}"))
}

#[test]
fn operations_carry_parameters_statuses_standing_and_sensitive_data() {
    let inv = inventory(true);
    let by_id = op(&inv, "GET", "/users/{userId}");
    assert_eq!(by_id.requests, 7);
    assert_eq!(by_id.statuses, [200, 404]);
    assert_eq!(
        by_id.content_types.iter().collect::<Vec<_>>(),
        [(&"application/json".to_string(), &6)]
    );
    assert_eq!(
        by_id.judgement,
        Some(Judgement {
            standing: Standing::Documented,
            documented_as: Some("getUser".into())
        })
    );
    assert_eq!(by_id.parameters.len(), 1);
    let id = &by_id.parameters[0];
    assert_eq!(
        (id.name.as_str(), id.location, id.value_type, id.required),
        ("userId", ParamLocation::Path, "integer", true)
    );
    assert!(
        by_id
            .sensitive
            .iter()
            .any(|f| f.location == "response.body#/email"
                && f.kind == SensitiveKind::Email
                && f.count == 6),
        "{:?}",
        by_id.sensitive
    );

    let list = op(&inv, "GET", "/users");
    let page = list.parameters.iter().find(|p| p.name == "page").unwrap();
    assert_eq!(
        (page.location, page.value_type, page.required),
        (ParamLocation::Query, "integer", true)
    );
    let sort = list.parameters.iter().find(|p| p.name == "sort").unwrap();
    assert_eq!((sort.value_type, sort.repeated), ("string", false));

    assert_eq!(
        op(&inv, "GET", "/v1/users")
            .judgement
            .as_ref()
            .unwrap()
            .standing,
        Standing::Zombie
    );
    let debug = op(&inv, "GET", "/_debug/vars").judgement.as_ref().unwrap();
    assert_eq!(
        (debug.standing, debug.documented_as.as_deref()),
        (Standing::Shadow, None)
    );
    assert_eq!(
        inv.orphans,
        Some(vec![Orphan {
            method: "DELETE".into(),
            path: "/users/{id}".into()
        }])
    );
    assert_eq!(
        inv.summary,
        Summary {
            operations: 4,
            with_sensitive_data: 4,
            risk: inv.summary.risk,
            with_schema_drift: inv.summary.with_schema_drift,
            standings: Some(StandingCounts {
                documented: 2,
                shadow: 1,
                zombie: 1,
                orphan: 1
            }),
        }
    );
    assert_eq!(
        inv.input,
        InputStats {
            requests: 12,
            skipped: 3,
            malformed: 2,
            no_canonical_path: 1
        }
    );
}

#[test]
fn the_json_keeps_its_field_names_and_no_value() {
    let inv = inventory(true);
    let json: Value = serde_json::from_str(&inv.to_json()).unwrap();
    assert_eq!(
        (json["requests"].as_u64(), json["skipped"].as_u64()),
        (Some(12), Some(3))
    );
    assert_eq!(json["summary"]["standings"]["zombie"], 1);
    assert_eq!(
        json["orphans"],
        json!([{"method": "DELETE", "path": "/users/{id}"}])
    );
    let by_id = json["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["path"] == "/users/{userId}")
        .unwrap();
    assert_eq!(by_id["standing"], "documented");
    assert_eq!(by_id["documented_as"], "getUser");
    assert_eq!(
        by_id["parameters"],
        json!([{"name": "userId", "in": "path", "type": "integer", "required": true, "repeated": false}])
    );
    assert_eq!(by_id["statuses"], json!([200, 404]));
    assert!(
        by_id["sensitive"]
            .as_array()
            .unwrap()
            .contains(&json!({"location": "response.body#/email", "kind": "email", "count": 6}))
    );
    let shadow = json["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["standing"] == "shadow")
        .unwrap();
    assert!(shadow["documented_as"].is_null() && shadow.get("documented_as").is_some());
    let text = json.to_string();
    for value in [
        "user1@example.com",
        "abcdefghijklmnopqrstuvwxyz0123456789",
        "\"17\"",
    ] {
        assert!(!text.contains(value), "{value} in {text}");
    }
}

#[test]
fn without_a_document_there_is_no_standing_and_no_orphan() {
    let json: Value = serde_json::from_str(&inventory(false).to_json()).unwrap();
    assert!(json.get("orphans").is_none());
    assert!(json["summary"].get("standings").is_none());
    assert!(
        json["operations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o.get("standing").is_none() && o.get("documented_as").is_none())
    );
}
