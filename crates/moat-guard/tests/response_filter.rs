//! Response filtering (excessive data exposure) against small inline specs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use moat_guard::response_filter::{FilterOptions, FilterReport, ResponseFilter, compile_filters};
use moat_spec::ApiSpec;
use serde_json::{Value, json};

const SPEC: &str = r#"
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /users/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    get:
      operationId: getUser
      responses:
        "200":
          description: ok
          content:
            application/json; charset=utf-8:
              schema: {$ref: '#/components/schemas/User'}
        "2XX":
          description: other success
          content:
            application/vnd.api+json:
              schema:
                type: object
                properties:
                  ok: {type: boolean}
        "404":
          description: gone
        default:
          description: error
          content:
            application/problem+json:
              schema:
                type: object
                properties:
                  title: {type: string}
  /users:
    get:
      operationId: listUsers
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema:
                type: array
                items: {$ref: '#/components/schemas/User'}
        "201":
          description: text
          content:
            text/plain:
              schema: {type: string}
  /things:
    get:
      operationId: things
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema:
                oneOf:
                  - type: object
                    properties: {a: {type: string}}
                  - type: object
                    properties: {b: {type: string}}
components:
  schemas:
    Base:
      type: object
      properties:
        id: {type: integer}
        passwordHash: {type: string}
    User:
      allOf:
        - $ref: '#/components/schemas/Base'
        - type: object
          properties:
            name: {type: string}
            password: {type: string, writeOnly: true}
            card: {type: string}
            note: {type: string}
            ssn: {type: string, x-moat-sensitive: false}
            public: {type: string, x-moat-sensitive: false}
            address:
              type: object
              properties:
                city: {type: string}
            friends:
              type: array
              items: {$ref: '#/components/schemas/User'}
            labels:
              type: object
              additionalProperties: true
              properties:
                main: {type: string}
            extra: {type: object}
            scores:
              type: object
              additionalProperties:
                type: object
                properties: {value: {type: integer}}
"#;

fn load(text: &str) -> ApiSpec {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spec.yaml");
    std::fs::write(&path, text).unwrap();
    moat_spec::load(&path).unwrap()
}

fn filters(options: &FilterOptions) -> Vec<ResponseFilter> {
    let spec = load(SPEC);
    let filters = compile_filters(&spec, options);
    assert_eq!(filters.len(), spec.operations.len());
    filters
}

fn by_id(options: &FilterOptions, id: &str) -> ResponseFilter {
    let spec = load(SPEC);
    let index = spec.operations.iter().position(|o| o.id() == id).unwrap();
    compile_filters(&spec, options).swap_remove(index)
}

/// Filters `body`, after checking that the read-only check agrees with the
/// walk over the parsed value on whether anything changes.
fn run(filter: &ResponseFilter, status: u16, body: &Value) -> Option<(Value, FilterReport)> {
    let bytes = serde_json::to_vec(body).unwrap();
    let mut walked = body.clone();
    let report = filter.filter_value(status, &mut walked);
    assert_eq!(
        filter.unchanged(status, &bytes),
        Some(report.is_empty()),
        "the check and the walk disagree on {body}"
    );
    filter
        .filter(status, &bytes)
        .map(|(out, report)| (serde_json::from_slice(&out).unwrap(), report))
}

const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";

#[test]
fn unchanged_reads_escaped_keys_and_refuses_what_is_not_json() {
    let f = by_id(&FilterOptions::default(), "getUser");
    // `password`, spelled with an escape: masked, so not unchanged.
    assert_eq!(f.unchanged(200, br#"{"pass\u0077ord":"p"}"#), Some(false));
    assert_eq!(f.unchanged(200, br#"{"name":"ann"}"#), Some(true));
    assert_eq!(f.unchanged(200, b"not json"), None);
    assert_eq!(f.unchanged(200, br#"{"name":"ann"} {}"#), None);
    assert_eq!(f.unchanged(200, br#"{"name":"ann""#), None);
}

#[test]
fn one_filter_per_operation() {
    assert_eq!(filters(&FilterOptions::default()).len(), 3);
}

#[test]
fn unchanged_body_is_none() {
    let f = by_id(&FilterOptions::default(), "getUser");
    assert!(run(&f, 200, &json!({"id": 1, "name": "ann"})).is_none());
    assert!(f.filter(200, b"not json").is_none());
}

#[test]
fn undeclared_and_write_only_removed() {
    let f = by_id(&FilterOptions::default(), "getUser");
    let (out, report) = run(
        &f,
        200,
        &json!({"id": 1, "name": "ann", "internal": true, "password": "x", "a/b": 1}),
    )
    .unwrap();
    assert_eq!(out, json!({"id": 1, "name": "ann"}));
    assert_eq!(report.removed, ["/internal", "/password", "/a~1b"]);
    assert!(report.masked.is_empty());
}

#[test]
fn key_order_preserved() {
    let f = by_id(&FilterOptions::default(), "getUser");
    let body = br#"{"name":"ann","zz":1,"id":2}"#;
    let (out, _) = f.filter(200, body).unwrap();
    assert_eq!(out, br#"{"name":"ann","id":2}"#);
}

#[test]
fn nested_objects_and_arrays() {
    let f = by_id(&FilterOptions::default(), "listUsers");
    let body = json!([
        {"id": 1, "address": {"city": "x", "geo": [1, 2]}, "friends": [{"id": 2, "secretFlag": 1}]},
        {"id": 3, "role": "admin"}
    ]);
    let (out, report) = run(&f, 200, &body).unwrap();
    assert_eq!(
        out,
        json!([{"id": 1, "address": {"city": "x"}, "friends": [{"id": 2}]}, {"id": 3}])
    );
    assert_eq!(
        report.removed,
        ["/0/address/geo", "/0/friends/0/secretFlag", "/1/role"]
    );
}

#[test]
fn additional_properties_and_free_form_kept() {
    let f = by_id(&FilterOptions::default(), "getUser");
    let body = json!({
        "labels": {"main": "a", "other": "b"},
        "extra": {"anything": {"deep": 1}},
        "scores": {"math": {"value": 1, "hidden": 2}}
    });
    let (out, report) = run(&f, 200, &body).unwrap();
    assert_eq!(
        out,
        json!({
            "labels": {"main": "a", "other": "b"},
            "extra": {"anything": {"deep": 1}},
            "scores": {"math": {"value": 1}}
        })
    );
    assert_eq!(report.removed, ["/scores/math/hidden"]);
}

#[test]
fn one_of_keeps_union() {
    let f = by_id(&FilterOptions::default(), "things");
    let (out, report) = run(&f, 200, &json!({"a": "1", "b": "2", "c": "3"})).unwrap();
    assert_eq!(out, json!({"a": "1", "b": "2"}));
    assert_eq!(report.removed, ["/c"]);
}

#[test]
fn no_schema_masks_only() {
    // The loader refuses broken `$ref`s, so an undocumented status stands in
    // for a response without a usable schema: nothing removed, masking kept.
    let f = by_id(&FilterOptions::default(), "things");
    assert!(run(&f, 418, &json!({"whatever": 1})).is_none());
    let (out, report) = run(&f, 418, &json!({"password": "p"})).unwrap();
    assert_eq!(out, json!({"password": "****"}));
    assert_eq!(report.masked, ["/password"]);
}

#[test]
fn masking_by_name() {
    let f = by_id(&FilterOptions::default(), "getUser");
    let (out, report) = run(
        &f,
        200,
        &json!({"passwordHash": "$2b$abc", "extra": {"api_key": "k", "Client-Secret": "s"}}),
    )
    .unwrap();
    assert_eq!(
        out,
        json!({"passwordHash": "****", "extra": {"api_key": "****", "Client-Secret": "****"}})
    );
    assert_eq!(
        report.masked,
        ["/passwordHash", "/extra/api_key", "/extra/Client-Secret"]
    );
    assert!(report.removed.is_empty());
}

#[test]
fn masking_by_value() {
    let f = by_id(&FilterOptions::default(), "getUser");
    let body = json!({
        "card": "4111 1111 1111 1111",
        "note": "4111111111111112",
        "extra": {
            "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
            "cert": "-----BEGIN CERTIFICATE-----\nMIIE\n-----END CERTIFICATE-----",
            "token": JWT,
            "dotted": "a.b.c",
            "aws": "AKIAIOSFODNN7EXAMPLE",
            "tax": "123-45-6789",
            "list": ["5555555555554444", "plain"]
        }
    });
    let (out, report) = run(&f, 200, &body).unwrap();
    assert_eq!(out["card"], "************1111");
    assert_eq!(out["note"], "4111111111111112");
    assert_eq!(out["extra"]["pem"], "****");
    assert_eq!(out["extra"]["cert"], body["extra"]["cert"]);
    assert_eq!(out["extra"]["token"], "****");
    assert_eq!(out["extra"]["dotted"], "a.b.c");
    assert_eq!(out["extra"]["aws"], "****");
    assert_eq!(out["extra"]["tax"], "****");
    assert_eq!(out["extra"]["list"], json!(["************4444", "plain"]));
    assert_eq!(
        report.masked,
        [
            "/card",
            "/extra/pem",
            "/extra/token",
            "/extra/aws",
            "/extra/tax",
            "/extra/list/0"
        ]
    );
}

#[test]
fn sensitive_false_exempts() {
    let f = by_id(&FilterOptions::default(), "getUser");
    let body = json!({"ssn": "123-45-6789", "public": "AKIAIOSFODNN7EXAMPLE"});
    assert!(run(&f, 200, &body).is_none());
}

#[test]
fn options_disable_steps() {
    let no_remove = FilterOptions {
        remove_undeclared: false,
        mask_sensitive: true,
    };
    let f = by_id(&no_remove, "getUser");
    let (out, report) = run(&f, 200, &json!({"zz": 1, "password": "p"})).unwrap();
    assert_eq!(out, json!({"zz": 1, "password": "****"}));
    assert!(report.removed.is_empty());

    let no_mask = FilterOptions {
        remove_undeclared: true,
        mask_sensitive: false,
    };
    let f = by_id(&no_mask, "getUser");
    assert!(run(&f, 200, &json!({"passwordHash": "h"})).is_none());
}

#[test]
fn status_lookup() {
    let f = by_id(&FilterOptions::default(), "getUser");
    // Exact.
    assert!(f.documents_status(200));
    assert!(f.wants_body(200, Some("application/json")));
    // Range: 201 uses 2XX, where only `ok` is declared.
    assert!(f.documents_status(201));
    assert!(f.wants_body(201, Some("application/vnd.api+json")));
    let (out, _) = run(&f, 201, &json!({"ok": true, "id": 1})).unwrap();
    assert_eq!(out, json!({"ok": true}));
    // Documented without content.
    assert!(f.documents_status(404));
    assert!(!f.wants_body(404, Some("application/json")));
    // Default.
    assert!(f.documents_status(500));
    assert!(f.wants_body(500, Some("application/problem+json")));
    let (out, _) = run(&f, 500, &json!({"title": "x", "trace": "t"})).unwrap();
    assert_eq!(out, json!({"title": "x"}));
    // Non-JSON content type.
    assert!(!f.wants_body(200, Some("text/html")));
    assert!(!f.wants_body(200, None));

    let f = by_id(&FilterOptions::default(), "listUsers");
    assert!(!f.documents_status(404));
    assert!(!f.wants_body(404, Some("application/json")));
    assert!(f.documents_status(201));
    assert!(!f.wants_body(201, Some("application/json")));
}

#[test]
fn a_value_of_another_type_is_removed_and_reported() {
    let f = by_id(&FilterOptions::default(), "getUser");
    // An object where the schema says array, a string where it says
    // object, a number where it says string: each removed, each reported.
    let body = json!({
        "id": 1, "name": "a",
        "friends": {"secret": "x"},
        "address": "Main Street 1",
        "note": 7,
        "labels": null,
    });
    let (out, report) = run(&f, 200, &body).unwrap();
    assert_eq!(out, json!({"id": 1, "name": "a", "labels": null}));
    assert_eq!(report.mismatched, ["/friends", "/address", "/note"]);
    assert!(report.removed.is_empty(), "{report:?}");
    assert!(!report.root_mismatched());
    // An array element of another type is dropped from the array.
    let body = json!({"friends": [{"id": 2}, "eve", [1]]});
    let (out, report) = run(&f, 200, &body).unwrap();
    assert_eq!(out, json!({"friends": [{"id": 2}]}));
    assert_eq!(report.mismatched, ["/friends/1", "/friends/2"]);
}

#[test]
fn a_whole_answer_of_another_type_is_left_for_the_caller_to_refuse() {
    let f = by_id(&FilterOptions::default(), "listUsers");
    let body = json!({"id": 1, "passwordHash": "h"});
    let (out, report) = run(&f, 200, &body).unwrap();
    assert!(report.root_mismatched(), "{report:?}");
    // Masking still applies to what is kept.
    assert_eq!(out["passwordHash"], "****");
    // An array of the right type is not drift.
    assert!(run(&f, 200, &json!([{"id": 1}])).is_none());
}

#[test]
fn a_type_mismatch_is_kept_but_reported_when_undeclared_values_are_allowed() {
    let allow = FilterOptions {
        remove_undeclared: false,
        mask_sensitive: true,
    };
    let f = by_id(&allow, "getUser");
    let body = json!({"friends": {"db": "10.0.0.5"}});
    let mut walked = body.clone();
    let report = f.filter_value(200, &mut walked);
    assert_eq!(walked, body);
    assert_eq!(report.mismatched, ["/friends"]);
    let bytes = serde_json::to_vec(&body).unwrap();
    assert_eq!(f.unchanged(200, &bytes), Some(false));
}

#[test]
fn alternatives_and_untyped_schemas_are_not_type_checked() {
    let f = by_id(&FilterOptions::default(), "things");
    assert!(run(&f, 200, &json!({"a": "x"})).is_none());
    assert!(run(&f, 200, &json!(["x"])).is_none());
}

const ISSUING_SPEC: &str = r#"
openapi: 3.0.3
info: {title: t, version: "1"}
security: [{Bearer: []}]
paths:
  /token:
    post:
      operationId: token
      security: []
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Token'}}}}
        "400": {description: no, content: {application/json: {schema: {$ref: '#/components/schemas/Token'}}}}
  /token/refresh:
    post:
      operationId: refresh
      x-moat-issues-credentials: true
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Token'}}}}
  /session:
    get:
      operationId: session
      security: []
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Token'}}}}
  /login:
    post:
      operationId: login
      security: []
      x-moat-issues-credentials: false
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Token'}}}}
components:
  securitySchemes:
    Bearer: {type: http, scheme: bearer}
  schemas:
    Token:
      type: object
      additionalProperties: true
      properties:
        access_token: {type: string}
        refreshToken: {type: string}
        password: {type: string}
        nested:
          type: object
          properties:
            api_key: {type: string}
"#;

#[test]
fn operations_that_issue_credentials_hand_them_over() {
    let spec = load(ISSUING_SPEC);
    let filters = compile_filters(&spec, &FilterOptions::default());
    let filter = |id: &str| {
        let i = spec.operations.iter().position(|o| o.id() == id).unwrap();
        &filters[i]
    };
    let body = json!({
        "access_token": JWT, "refreshToken": "r1", "password": "p",
        "nested": {"api_key": "k1"}, "extra_token": JWT,
    });
    for id in ["token", "refresh"] {
        let (out, report) = run(filter(id), 200, &body).unwrap();
        assert_eq!(out["access_token"], JWT, "{id}");
        assert_eq!(out["refreshToken"], "r1", "{id}");
        assert_eq!(out["nested"]["api_key"], "k1", "{id}");
        // Not a credential; and an undeclared one is masked as before.
        assert_eq!(out["password"], "****", "{id}");
        assert_eq!(out["extra_token"], "****", "{id}");
        assert_eq!(report.masked, ["/password", "/extra_token"], "{id}");
    }
    // Not a success answer; a GET; an operation that says it does not.
    let (out, _) = run(filter("token"), 400, &body).unwrap();
    assert_eq!(out["access_token"], "****");
    for id in ["session", "login"] {
        let (out, _) = run(filter(id), 200, &body).unwrap();
        assert_eq!(out["access_token"], "****", "{id}");
        assert_eq!(out["nested"]["api_key"], "****", "{id}");
    }
}
