//! Positive request validation through the gateway: parameters and bodies
//! against the document, mass assignment refused, violations listed by
//! pointer without the submitted values.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::*;

const SPEC: &str = r##"
openapi: 3.0.3
info: {title: pets, version: "1"}
paths:
  /pets:
    get:
      operationId: listPets
      parameters:
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 100}}
        - {name: tags, in: query, style: form, explode: false, schema: {type: array, items: {type: string, enum: [cat, dog]}}}
      responses: {"200": {description: ok}}
    post:
      operationId: createPet
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Pet"}
          application/x-www-form-urlencoded:
            schema: {$ref: "#/components/schemas/Pet"}
      responses: {"201": {description: ok}}
  /pets/{petId}:
    parameters:
      - {name: petId, in: path, required: true, schema: {type: integer, format: int32}}
    patch:
      operationId: updatePet
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Pet"}
      responses: {"200": {description: ok}}
  /me:
    get:
      operationId: whoami
      parameters:
        - {name: session, in: cookie, required: true, schema: {type: string, pattern: "^[a-f0-9]{8}$"}}
      responses: {"200": {description: ok}}
components:
  schemas:
    Named:
      type: object
      required: [name]
      properties:
        id: {type: integer, readOnly: true}
        name: {type: string, maxLength: 20}
    Pet:
      allOf:
        - $ref: "#/components/schemas/Named"
        - type: object
          properties:
            tag: {type: string, nullable: true}
            born: {type: string, format: date}
"##;

async fn setup(extra: &str) -> (tempfile::TempDir, Upstream, Moat) {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", SPEC);
    write(dir.path(), "moat.yaml", &config(&up.url(), extra));
    let moat = Moat::start(dir.path());
    (dir, up, moat)
}

async fn post(moat: &Moat, content_type: &str, body: &str) -> (u16, Value) {
    let r = client()
        .post(moat.url("/pets"))
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn bodies_are_validated_and_mass_assignment_refused() {
    let (_dir, up, moat) = setup("").await;
    let (s, _) = post(
        &moat,
        "application/json; charset=utf-8",
        r#"{"name":"Rex","tag":null}"#,
    )
    .await;
    assert_eq!(s, 200);

    // an undeclared property: mass assignment
    let (s, p) = post(
        &moat,
        "application/json",
        r#"{"name":"Rex","isAdmin":true}"#,
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(p["type"], "urn:moat:problem:schema-violation");
    let v = &p["violations"][0];
    assert_eq!(v["in"], "body");
    assert_eq!(v["pointer"], "/isAdmin");
    assert!(
        !p.to_string().contains("true,") && !p.to_string().contains("Rex"),
        "values are never echoed: {p}"
    );

    // a readOnly property set by the client
    let (s, p) = post(&moat, "application/json", r#"{"name":"Rex","id":7}"#).await;
    assert_eq!(s, 422);
    assert_eq!(p["violations"][0]["pointer"], "/id");
    assert_eq!(p["violations"][0]["rule"], "readOnly");

    // properties of both allOf branches are declared; formats are checked
    let (s, _) = post(
        &moat,
        "application/json",
        r#"{"name":"Rex","tag":"good","born":"2020-02-29"}"#,
    )
    .await;
    assert_eq!(s, 200);
    let (s, p) = post(
        &moat,
        "application/json",
        r#"{"name":"Rex","born":"2021-02-29"}"#,
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(p["violations"][0]["pointer"], "/born");
    assert_eq!(p["violations"][0]["rule"], "format");

    // wrong type, too long, missing required
    let (s, p) = post(&moat, "application/json", r#"{"name":12}"#).await;
    assert_eq!(
        (s, p["violations"][0]["pointer"].as_str()),
        (422, Some("/name"))
    );
    let (s, _) = post(
        &moat,
        "application/json",
        &format!(r#"{{"name":"{}"}}"#, "x".repeat(21)),
    )
    .await;
    assert_eq!(s, 422);
    let (s, _) = post(&moat, "application/json", r#"{"tag":"x"}"#).await;
    assert_eq!(s, 422);

    // malformed JSON, an undocumented media type, no body at all
    let (s, p) = post(&moat, "application/json", r#"{"name":"#).await;
    assert_eq!(
        (s, p["type"].as_str()),
        (400, Some("urn:moat:problem:invalid-request"))
    );
    let (s, p) = post(&moat, "text/xml", "<pet/>").await;
    assert_eq!(
        (s, p["type"].as_str()),
        (415, Some("urn:moat:problem:unsupported-media-type"))
    );
    let r = client().post(moat.url("/pets")).send().await.unwrap();
    assert_eq!(r.status(), 400, "the body is required");

    assert_eq!(up.hits(), 2, "only the valid requests reached the upstream");
}

#[tokio::test]
async fn parameters_are_validated() {
    let (_dir, up, moat) = setup("").await;
    let c = client();
    assert_eq!(
        get_status(&c, moat.url("/pets?limit=10&tags=cat,dog")).await,
        200
    );
    for bad in [
        "/pets?limit=abc",
        "/pets?limit=0",
        "/pets?limit=1000",
        "/pets?tags=cat,bird",
    ] {
        let r = c.get(moat.url(bad)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["violations"][0]["in"], "query", "{bad}");
    }
    assert_eq!(up.hits(), 1);
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let (_dir, _up, moat) = setup("    validation: {max_body_bytes: 64}\n").await;
    let body = format!(r#"{{"name":"Rex","tag":"{}"}}"#, "x".repeat(100));
    let (s, p) = post(&moat, "application/json", &body).await;
    assert_eq!(
        (s, p["type"].as_str()),
        (413, Some("urn:moat:problem:payload-too-large"))
    );
}

#[tokio::test]
async fn monitor_mode_and_disabled_validation_forward() {
    let (_dir, up, moat) = setup("    mode: monitor\n").await;
    let (s, _) = post(
        &moat,
        "application/json",
        r#"{"name":"Rex","isAdmin":true}"#,
    )
    .await;
    assert_eq!(s, 200);
    let log = moat.wait_log(|l| l["operation"] == "createPet").await;
    assert_eq!(log["verdict"], "monitored");
    assert_eq!(log["finding"], "schema-violation");
    assert_eq!(up.hits(), 1);

    let (_dir, up, moat) = setup("    validation: {enabled: false}\n").await;
    let (s, _) = post(
        &moat,
        "application/json",
        r#"{"name":"Rex","isAdmin":true}"#,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(up.hits(), 1);
}

#[tokio::test]
async fn form_bodies_cookies_int32_and_open_operations() {
    let extra = "    validation: {allow_unknown_properties: [updatePet]}\n";
    let (_dir, up, moat) = setup(extra).await;
    let form = "application/x-www-form-urlencoded";
    // form bodies: fields typed and checked like JSON
    assert_eq!(post(&moat, form, "name=Rex&tag=good").await.0, 200);
    let (s, p) = post(&moat, form, "name=Rex&isAdmin=true").await;
    assert_eq!(s, 422);
    assert_eq!(p["violations"][0]["pointer"], "/isAdmin");
    let (s, p) = post(&moat, form, "tag=good").await;
    assert_eq!(s, 422);
    assert_eq!(p["violations"][0]["rule"], "required");
    assert_eq!(post(&moat, form, "name=Rex&id=7").await.0, 422, "readOnly");
    let c = client();
    // cookies
    let me = |cookie: Option<&'static str>| {
        let mut r = c.get(moat.url("/me"));
        if let Some(v) = cookie {
            r = r.header("cookie", v);
        }
        async move { r.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(me(Some("theme=dark; session=deadbeef")).await, 200);
    assert_eq!(me(None).await, 400);
    assert_eq!(me(Some("session=DEADBEEF-x")).await, 400);
    // int32 range
    let patch = |path: &'static str, body: &'static str| {
        c.patch(moat.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let ok = patch("/pets/2147483647", r#"{"name":"Rex"}"#)
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let big = patch("/pets/2147483648", r#"{"name":"Rex"}"#)
        .await
        .unwrap();
    assert_eq!(big.status(), 400);
    let p: Value = big.json().await.unwrap();
    assert_eq!(p["violations"][0]["rule"], "format");
    // one operation may take undeclared properties; the others still refuse
    let open = patch("/pets/1", r#"{"name":"Rex","nickname":"R"}"#)
        .await
        .unwrap();
    assert_eq!(open.status(), 200);
    let closed = post(
        &moat,
        "application/json",
        r#"{"name":"Rex","nickname":"R"}"#,
    )
    .await;
    assert_eq!(closed.0, 422);
    let seen = up.state.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "{seen:?}");
}

#[test]
fn open_operations_must_exist() {
    let err = check_api_fails(
        SPEC,
        "    validation: {allow_unknown_properties: [updatePett]}\n",
    );
    assert!(
        err.contains("no operation has the operationId `updatePett`"),
        "{err}"
    );
    assert!(err.contains("did you mean `updatePet`?"), "{err}");
}
