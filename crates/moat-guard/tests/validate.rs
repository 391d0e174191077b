//! Request validation against small inline specs and the real petstore.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use http::{HeaderMap, HeaderValue, StatusCode};
use moat_guard::request::MediaType;
use moat_guard::validate::{
    MediaPlan, OperationValidator, ValidationOptions, Violations, compile_spec,
};
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
    op.validate_raw_body(Some("application/json"), body.as_bytes())
        .unwrap_err()
}

#[test]
fn body_checks() {
    let ops = compile(SPEC, &ValidationOptions::default());
    let op = &ops[0];
    op.validate_raw_body(
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
    let e = op
        .validate_raw_body(Some("application/json"), b"")
        .unwrap_err();
    assert_eq!(rules(&e), vec![("body".into(), "".into(), "required")]);
    let e = op.validate_raw_body(Some("text/plain"), b"x").unwrap_err();
    assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let e = op.validate_raw_body(None, b"{}").unwrap_err();
    assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[test]
fn unknown_properties_allowed_when_configured() {
    let mut options = ValidationOptions::default();
    options.refuse_unknown_properties = false;
    let ops = compile(SPEC, &options);
    ops[0]
        .validate_raw_body(Some("application/json"), br#"{"name":"a","extra":1}"#)
        .unwrap();
}

#[test]
fn param_checks() {
    let ops = compile(SPEC, &ValidationOptions::default());
    let op = &ops[0];
    let path = vec![("id".to_string(), "4".to_string())];
    let mut headers = HeaderMap::new();
    headers.insert("x-trace", HeaderValue::from_static("true"));
    op.validate_raw_params(
        &path,
        Some("limit=3&color=red&tags=1&tags=2&ids=1,2&code=abc"),
        &headers,
    )
    .unwrap();

    let e = op
        .validate_raw_params(&path, Some("color=green"), &HeaderMap::new())
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
        .validate_raw_params(
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
        .validate_raw_params(&path, Some("limit=abc&code=abcdefg"), &headers)
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
        .validate_raw_params(&path, Some("limit=1"), &headers)
        .unwrap_err();
    assert_eq!(rules(&e), vec![("header".into(), "X-Trace".into(), "type")]);
    let e = op
        .validate_raw_params(&path, Some("limit=%zz"), &headers)
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
    op.validate_raw_body(Some("application/json"), br#"{"name":"Rex","tag":"dog"}"#)
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

const MORE: &str = r#"
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /pets:
    post:
      operationId: addPet
      parameters:
        - {name: session, in: cookie, required: true, schema: {type: string, minLength: 2}}
        - {name: ids, in: cookie, schema: {type: array, items: {type: integer}}}
        - {name: small, in: cookie, schema: {type: integer, format: int32}}
        - {name: big, in: query, schema: {type: integer, format: int64}}
        - {name: page, in: query, schema: {type: integer, format: int32}}
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Pet'}
          application/x-www-form-urlencoded:
            schema: {$ref: '#/components/schemas/Form'}
            encoding:
              csv: {explode: false}
          multipart/form-data:
            schema: {$ref: '#/components/schemas/Form'}
      responses: {"200": {description: ok}}
  /owners:
    post:
      operationId: addOwner
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Holder'}
      responses: {"200": {description: ok}}
    put:
      operationId: putOwner
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Holder'}
      responses: {"200": {description: ok}}
components:
  schemas:
    Owner:
      type: object
      required: [nick]
      properties:
        nick: {type: string}
        age: {type: integer, format: int32}
    Holder:
      type: object
      properties:
        owner:
          allOf: [{$ref: '#/components/schemas/Owner'}]
          nullable: true
        backup:
          $ref: '#/components/schemas/Owner'
          nullable: true
        id: {type: integer, format: int64}
    Base:
      type: object
      required: [petType]
      properties:
        petType: {type: string}
        name: {type: string}
    Cat:
      allOf:
        - $ref: '#/components/schemas/Base'
        - type: object
          properties:
            huntingSkill: {type: string, enum: [lazy, clueless]}
    Dog:
      allOf:
        - $ref: '#/components/schemas/Base'
        - type: object
          properties:
            packSize: {type: integer, minimum: 0}
    Lizard:
      allOf:
        - $ref: '#/components/schemas/Base'
        - type: object
          properties:
            lovesRocks: {type: boolean}
    Pet:
      oneOf:
        - $ref: '#/components/schemas/Cat'
        - $ref: '#/components/schemas/Dog'
        - $ref: '#/components/schemas/Lizard'
      discriminator:
        propertyName: petType
        mapping:
          cat: '#/components/schemas/Cat'
          kitty: Cat
    Form:
      type: object
      required: [name]
      properties:
        name: {type: string, pattern: "^[a-z]+$"}
        count: {type: integer, minimum: 1, format: int32}
        ratio: {type: number}
        flag: {type: boolean}
        kind: {type: string, enum: [a, b]}
        tags: {type: array, items: {type: integer}}
        csv: {type: array, items: {type: string}, maxItems: 2}
        meta: {type: object, properties: {k: {type: string}}}
"#;

fn sorted(v: &Violations) -> Vec<(String, String, &'static str)> {
    let mut r = rules(v);
    r.sort();
    r
}

fn cookie(text: &'static str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.append("cookie", HeaderValue::from_static(text));
    h
}

#[test]
fn cookie_params() {
    let ops = compile(MORE, &ValidationOptions::default());
    let op = &ops[0];
    op.validate_raw_params(&[], None, &cookie("session=abc; ids=1; ids=2; small=7"))
        .unwrap();
    let mut two = cookie("other=x");
    two.append("cookie", HeaderValue::from_static("session=\"ab\""));
    op.validate_raw_params(&[], None, &two).unwrap();
    let e = op
        .validate_raw_params(&[], None, &cookie("other=1"))
        .unwrap_err();
    assert_eq!(
        rules(&e),
        vec![("cookie".into(), "session".into(), "required")]
    );
    assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    let e = op
        .validate_raw_params(&[], None, &cookie("session=a; ids=1; ids=x; small=y"))
        .unwrap_err();
    assert_eq!(
        sorted(&e),
        vec![
            ("cookie".into(), "ids".into(), "type"),
            ("cookie".into(), "session".into(), "minLength"),
            ("cookie".into(), "small".into(), "type"),
        ]
    );
    let text = e.to_problem_details().to_string();
    assert!(!text.contains("\"a\""), "{text}");
}

#[test]
fn integer_formats() {
    let ops = compile(MORE, &ValidationOptions::default());
    let op = &ops[0];
    let jar = cookie("session=abc");
    op.validate_raw_params(&[], Some("page=-2147483648&big=9223372036854775807"), &jar)
        .unwrap();
    let e = op
        .validate_raw_params(
            &[],
            Some("page=2147483648&big=9223372036854775808"),
            &cookie("session=abc; small=-2147483649"),
        )
        .unwrap_err();
    assert_eq!(
        sorted(&e),
        vec![
            ("cookie".into(), "small".into(), "format"),
            ("query".into(), "big".into(), "format"),
            ("query".into(), "page".into(), "format"),
        ]
    );
    let holder = &ops[1];
    holder
        .validate_raw_body(
            Some("application/json"),
            br#"{"id":-9223372036854775808,"owner":{"nick":"n","age":2147483647}}"#,
        )
        .unwrap();
    assert_eq!(
        sorted(&body_err(
            holder,
            r#"{"id":1e19,"owner":{"nick":"n","age":2147483648}}"#
        )),
        vec![
            ("body".into(), "/id".into(), "format"),
            ("body".into(), "/owner/age".into(), "format"),
        ]
    );
    assert_eq!(
        rules(&body_err(holder, r#"{"id":18446744073709551615}"#)),
        vec![("body".into(), "/id".into(), "format")]
    );
}

#[test]
fn nullable_refs() {
    let ops = compile(MORE, &ValidationOptions::default());
    let holder = &ops[1];
    holder
        .validate_raw_body(Some("application/json"), br#"{"owner":null,"backup":null}"#)
        .unwrap();
    holder
        .validate_raw_body(
            Some("application/json"),
            br#"{"owner":{"nick":"a"},"backup":{"nick":"b"}}"#,
        )
        .unwrap();
    let e = body_err(holder, r#"{"owner":5,"backup":{"age":1}}"#);
    let got = sorted(&e);
    assert!(
        got.contains(&("body".into(), "/owner".into(), "type")),
        "{got:?}"
    );
    assert!(
        got.contains(&("body".into(), "/backup/nick".into(), "required")),
        "{got:?}"
    );
    // Still closed: an undeclared property inside the nullable reference.
    assert_eq!(
        rules(&body_err(holder, r#"{"owner":{"nick":"a","admin":true}}"#)),
        vec![("body".into(), "/owner/admin".into(), "additionalProperties")]
    );
    assert_eq!(
        rules(&body_err(holder, r#"{"backup":{"nick":"a","admin":true}}"#)),
        vec![(
            "body".into(),
            "/backup/admin".into(),
            "additionalProperties"
        )]
    );
}

#[test]
fn discriminator() {
    let ops = compile(MORE, &ValidationOptions::default());
    let op = &ops[0];
    let ok = |body: &str| {
        op.validate_raw_body(Some("application/json"), body.as_bytes())
            .unwrap_or_else(|e| panic!("{body}: {:?}", rules(&e)));
    };
    // Valid variants, by mapping and by schema name; a body that matches
    // several branches (all open) is still one variant.
    ok(r#"{"petType":"cat","name":"Tom","huntingSkill":"lazy"}"#);
    ok(r#"{"petType":"kitty"}"#);
    ok(r#"{"petType":"Dog","packSize":3}"#);
    ok(r#"{"petType":"Lizard","lovesRocks":true}"#);
    // A value naming no variant; a missing discriminator.
    assert_eq!(
        rules(&body_err(op, r#"{"petType":"Unicorn","name":"x"}"#)),
        vec![("body".into(), "/petType".into(), "enum")]
    );
    assert_eq!(
        rules(&body_err(op, r#"{"name":"x"}"#)),
        vec![("body".into(), "/petType".into(), "required")]
    );
    // The variant's own rules, and its properties only.
    assert_eq!(
        rules(&body_err(op, r#"{"petType":"Dog","packSize":-1}"#)),
        vec![("body".into(), "/packSize".into(), "minimum")]
    );
    assert_eq!(
        rules(&body_err(op, r#"{"petType":"Dog","huntingSkill":"lazy"}"#)),
        vec![(
            "body".into(),
            "/huntingSkill".into(),
            "additionalProperties"
        )]
    );
    assert_eq!(
        rules(&body_err(op, r#"{"petType":"cat","extra":1}"#)),
        vec![("body".into(), "/extra".into(), "additionalProperties")]
    );
}

#[test]
fn form_bodies() {
    let ops = compile(MORE, &ValidationOptions::default());
    let op = &ops[0];
    let form = "application/x-www-form-urlencoded";
    assert!(matches!(
        op.media_plan(Some(&MediaType::parse(form).unwrap())),
        MediaPlan::Buffer
    ));
    assert!(matches!(
        op.media_plan(Some(
            &MediaType::parse("multipart/form-data; boundary=x").unwrap()
        )),
        MediaPlan::Stream
    ));
    assert!(matches!(
        op.media_plan(Some(&MediaType::parse("application/json").unwrap())),
        MediaPlan::Buffer
    ));
    op.validate_raw_body(
        Some("application/x-www-form-urlencoded; charset=utf-8"),
        b"name=abc&count=2&ratio=1.5&flag=true&kind=a&tags=1&tags=2&csv=x,y&meta=%7B%22k%22%3A%22v%22%7D",
    )
    .unwrap();
    op.validate_raw_body(Some(form), b"name=abc&tags=3")
        .unwrap();
    let err = |body: &str| {
        sorted(
            &op.validate_raw_body(Some(form), body.as_bytes())
                .unwrap_err(),
        )
    };
    assert_eq!(
        err("name=ABC&count=0&flag=yes&kind=c&tags=1&tags=x&csv=a,b,c&ratio=z"),
        vec![
            ("body".into(), "/count".into(), "minimum"),
            ("body".into(), "/csv".into(), "maxItems"),
            ("body".into(), "/flag".into(), "type"),
            ("body".into(), "/kind".into(), "enum"),
            ("body".into(), "/name".into(), "pattern"),
            ("body".into(), "/ratio".into(), "type"),
            ("body".into(), "/tags/1".into(), "type"),
        ]
    );
    // Undeclared fields (reported once nothing else is wrong).
    assert_eq!(
        err("name=abc&extra=1"),
        vec![("body".into(), "/extra".into(), "additionalProperties")]
    );
    assert_eq!(
        err("count=1"),
        vec![("body".into(), "/name".into(), "required")]
    );
    assert_eq!(
        err("name=a&name=b"),
        vec![("body".into(), "/name".into(), "type")]
    );
    assert_eq!(
        err("name=a&count=2147483648"),
        vec![("body".into(), "/count".into(), "format")]
    );
    assert_eq!(
        err("name=%zz"),
        vec![("body".into(), "".into(), "encoding")]
    );
    // Multipart has no schema check here, but the request view reads it,
    // and refuses what frameworks would read differently.
    op.validate_raw_body(
        Some("multipart/form-data; boundary=x"),
        b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x--\r\n",
    )
    .unwrap();
    assert_eq!(
        sorted(
            &op.validate_raw_body(Some("multipart/form-data; boundary=x"), b"anything")
                .unwrap_err()
        ),
        vec![("body".into(), "".into(), "multipart")]
    );
}

#[test]
fn unknown_properties_allowed_per_operation() {
    let mut options = ValidationOptions::default();
    options.allow_unknown_properties.insert("addOwner".into());
    options
        .allow_unknown_properties
        .insert("noSuchOperation".into());
    let ops = compile(MORE, &options);
    let body = br#"{"owner":{"nick":"a","admin":true},"extra":1}"#;
    ops[1]
        .validate_raw_body(Some("application/json"), body)
        .unwrap();
    // The other operation sharing the components stays closed.
    assert_eq!(
        rules(&body_err(&ops[2], std::str::from_utf8(body).unwrap())),
        vec![("body".into(), "/owner/admin".into(), "additionalProperties")]
    );
    assert_eq!(
        rules(&body_err(&ops[2], r#"{"owner":null,"extra":1}"#)),
        vec![("body".into(), "/extra".into(), "additionalProperties")]
    );
    // Everything else is still checked for the open operation.
    assert_eq!(
        rules(&body_err(&ops[1], r#"{"owner":{"age":1}}"#)),
        vec![("body".into(), "/owner/nick".into(), "required")]
    );
    // And the pets operation is unaffected.
    assert_eq!(
        rules(&body_err(&ops[0], r#"{"petType":"cat","extra":1}"#)),
        vec![("body".into(), "/extra".into(), "additionalProperties")]
    );
}

#[test]
fn compile_errors_are_positioned_in_the_document_and_never_quote_referenced_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("spec.yaml");
    std::fs::write(
        &root,
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema: {$ref: 'shared.yaml#/S'}\n      responses: {'200': {description: ok}}\n  /b:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema: {type: object, minLength: s3cr3t-root}\n      responses: {'200': {description: ok}}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("shared.yaml"),
        "S: {type: object, minLength: s3cr3t-shared}\n",
    )
    .unwrap();
    let spec = moat_spec::load(&root).unwrap();
    let diags = compile_spec(&spec, &ValidationOptions::default()).unwrap_err();
    assert_eq!(diags.0.len(), 2, "{diags}");
    let text = diags.to_string();
    assert!(!text.contains("s3cr3t-shared"), "{text}");
    for d in &diags.0 {
        assert!(d.message.contains("cannot be compiled"), "{d}");
    }
    // Each at its keyword, in the file that holds it.
    let shared = &diags.0[0];
    assert!(shared.file.ends_with("shared.yaml"), "{shared}");
    assert_eq!(
        shared.position.map(|p| (p.line, p.column)),
        Some((1, 30)),
        "{shared}"
    );
    assert!(!shared.message.contains("not of type"), "{shared}");
    let own = &diags.0[1];
    assert!(own.file.ends_with("spec.yaml"), "{own}");
    assert_eq!(
        own.position.map(|p| (p.line, p.column)),
        Some((16, 47)),
        "{own}"
    );
    assert!(
        own.message.contains("\"s3cr3t-root\" is not of type"),
        "{own}"
    );

    // The compiler's message, at the keyword.
    std::fs::write(
        &root,
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /b:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema:\n              type: object\n              minLength: nope\n      responses: {'200': {description: ok}}\n",
    )
    .unwrap();
    let spec = moat_spec::load(&root).unwrap();
    let diags = compile_spec(&spec, &ValidationOptions::default()).unwrap_err();
    let d = &diags.0[0];
    assert!(d.message.contains("\"nope\" is not of type"), "{d}");
    assert_eq!(d.position.map(|p| p.line), Some(11), "{d}");
}
