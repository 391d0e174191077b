//! Request validation against small inline specs and the real petstore.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use http::{HeaderMap, HeaderValue, StatusCode};
use moat_guard::validate::{OperationValidator, ValidationOptions, Violations, compile_spec};
use moat_spec::ApiSpec;

const SPEC: &str = r#"
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /items/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer, minimum: 1}}
    post:
      operationId: create
      parameters:
        - {name: limit, in: query, required: true, schema: {type: integer, maximum: 10}}
        - {name: color, in: query, schema: {type: string, enum: [red, blue]}}
        - {name: tags, in: query, schema: {type: array, items: {type: integer}}}
        - {name: ids, in: query, explode: false, schema: {type: array, items: {type: integer}}}
        - {name: code, in: query, schema: {type: string, pattern: "^[a-z]+$", maxLength: 5}}
        - {name: X-Trace, in: header, required: true, schema: {type: boolean}}
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Item'}
      responses: {"200": {description: ok}}
components:
  schemas:
    Base:
      type: object
      properties:
        id: {type: integer, readOnly: true}
        note: {type: string, nullable: true}
    Item:
      allOf:
        - $ref: '#/components/schemas/Base'
        - type: object
          required: [name]
          properties:
            name: {type: string}
            meta: {type: object}
            owner:
              type: object
              properties: {nick: {type: string}}
"#;

fn load(text: &str) -> ApiSpec {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spec.yaml");
    std::fs::write(&path, text).unwrap();
    moat_spec::load(&path).unwrap()
}

fn compile(text: &str, options: &ValidationOptions) -> Vec<OperationValidator> {
    compile_spec(&load(text), options).unwrap()
}

fn rules(v: &Violations) -> Vec<(String, String, &'static str)> {
    v.iter()
        .map(|v| (v.location.to_string(), v.pointer.clone(), v.rule))
        .collect()
}

fn body_err(op: &OperationValidator, body: &str) -> Violations {
    op.validate_body(Some("application/json"), body.as_bytes())
        .unwrap_err()
}

#[test]
fn body_checks() {
    let ops = compile(SPEC, &ValidationOptions::default());
    let op = &ops[0];
    op.validate_body(
        Some("application/json; charset=utf-8"),
        br#"{"name":"a","note":null,"meta":{"x":1},"owner":{"nick":"n"}}"#,
    )
    .unwrap();
    // Unknown property, at the top (through allOf) and nested.
    let e = body_err(op, r#"{"name":"a","extra":1}"#);
    assert_eq!(
        rules(&e),
        vec![("body".into(), "/extra".into(), "additionalProperties")]
    );
    assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let e = body_err(op, r#"{"name":"a","owner":{"nick":"n","admin":true}}"#);
    assert_eq!(
        rules(&e),
        vec![("body".into(), "/owner/admin".into(), "additionalProperties")]
    );
    // readOnly, type, required.
    assert_eq!(
        rules(&body_err(op, r#"{"name":"a","id":3}"#)),
        vec![("body".into(), "/id".into(), "readOnly")]
    );
    assert_eq!(
        rules(&body_err(op, r#"{"name":5}"#)),
        vec![("body".into(), "/name".into(), "type")]
    );
    assert_eq!(
        rules(&body_err(op, r#"{}"#)),
        vec![("body".into(), "/name".into(), "required")]
    );
    // Values are never echoed.
    let e = body_err(op, r#"{"name":"secret-value","zzz":"other-secret"}"#);
    let text = e.to_problem_details().to_string();
    assert!(!text.contains("secret"), "{text}");
    // Malformed, missing, wrong media type.
    let e = body_err(op, "{not json");
    assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    let e = op.validate_body(Some("application/json"), b"").unwrap_err();
    assert_eq!(rules(&e), vec![("body".into(), "".into(), "required")]);
    let e = op.validate_body(Some("text/plain"), b"x").unwrap_err();
    assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let e = op.validate_body(None, b"{}").unwrap_err();
    assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[test]
fn unknown_properties_allowed_when_configured() {
    let mut options = ValidationOptions::default();
    options.refuse_unknown_properties = false;
    let ops = compile(SPEC, &options);
    ops[0]
        .validate_body(Some("application/json"), br#"{"name":"a","extra":1}"#)
        .unwrap();
}

#[test]
fn param_checks() {
    let ops = compile(SPEC, &ValidationOptions::default());
    let op = &ops[0];
    let path = vec![("id".to_string(), "4".to_string())];
    let mut headers = HeaderMap::new();
    headers.insert("x-trace", HeaderValue::from_static("true"));
    op.validate_params(
        &path,
        Some("limit=3&color=red&tags=1&tags=2&ids=1,2&code=abc"),
        &headers,
    )
    .unwrap();

    let e = op
        .validate_params(&path, Some("color=green"), &HeaderMap::new())
        .unwrap_err();
    let mut got = rules(&e);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("header".into(), "X-Trace".into(), "required"),
            ("query".into(), "color".into(), "enum"),
            ("query".into(), "limit".into(), "required"),
        ]
    );
    assert_eq!(e.status(), StatusCode::BAD_REQUEST);

    let bad = vec![("id".to_string(), "0".to_string())];
    let e = op
        .validate_params(
            &bad,
            Some("limit=11&tags=1&tags=x&ids=1,y&code=AB"),
            &headers,
        )
        .unwrap_err();
    let mut got = rules(&e);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("path".into(), "id".into(), "minimum"),
            ("query".into(), "code".into(), "pattern"),
            ("query".into(), "ids".into(), "type"),
            ("query".into(), "limit".into(), "maximum"),
            ("query".into(), "tags".into(), "type"),
        ]
    );
    let e = op
        .validate_params(&path, Some("limit=abc&code=abcdefg"), &headers)
        .unwrap_err();
    let mut got = rules(&e);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("query".into(), "code".into(), "maxLength"),
            ("query".into(), "limit".into(), "type")
        ]
    );
    let mut headers = HeaderMap::new();
    headers.insert("x-trace", HeaderValue::from_static("maybe"));
    let e = op
        .validate_params(&path, Some("limit=1"), &headers)
        .unwrap_err();
    assert_eq!(rules(&e), vec![("header".into(), "X-Trace".into(), "type")]);
    let e = op
        .validate_params(&path, Some("limit=%zz"), &headers)
        .unwrap_err();
    assert!(e.iter().any(|v| v.rule == "encoding"));
}

#[test]
fn petstore_expanded_new_pet() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/specs/oai-petstore-expanded.yaml"
    );
    assert!(
        std::path::Path::new(path).exists(),
        "missing test spec {path}"
    );
    let spec = moat_spec::load(std::path::Path::new(path)).unwrap();
    let ops = compile_spec(&spec, &ValidationOptions::default()).unwrap();
    let index = spec
        .operations
        .iter()
        .position(|o| o.id() == "addPet")
        .unwrap();
    let op = &ops[index];
    op.validate_body(Some("application/json"), br#"{"name":"Rex","tag":"dog"}"#)
        .unwrap();
    assert_eq!(
        rules(&body_err(op, r#"{"name":"Rex","owner":"me"}"#)),
        vec![("body".into(), "/owner".into(), "additionalProperties")]
    );
    assert_eq!(
        rules(&body_err(op, r#"{"name":7}"#)),
        vec![("body".into(), "/name".into(), "type")]
    );
    assert_eq!(
        rules(&body_err(op, r#"{"tag":"dog"}"#)),
        vec![("body".into(), "/name".into(), "required")]
    );
}
