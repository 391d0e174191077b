//! Response protection through the gateway: undeclared properties removed,
//! secrets masked, undocumented error bodies scrubbed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::*;

const SPEC: &str = r##"
openapi: 3.0.3
info: {title: leaky, version: "1"}
paths:
  /leaky/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
    get:
      operationId: getUser
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {$ref: "#/components/schemas/User"}
  /crash:
    get:
      operationId: crash
      responses: {"200": {description: ok}}
components:
  schemas:
    User:
      type: object
      properties:
        id: {type: integer}
        name: {type: string}
        email: {type: string, format: email}
        card: {type: string}
"##;

async fn setup(extra: &str) -> (tempfile::TempDir, Upstream, Moat) {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", SPEC);
    write(dir.path(), "moat.yaml", &config(&up.url(), extra));
    let moat = Moat::start(dir.path());
    (dir, up, moat)
}

#[tokio::test]
async fn undeclared_fields_are_removed_and_secrets_masked() {
    let (_dir, _up, moat) = setup("").await;
    let r = client().get(moat.url("/leaky/1")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("server").is_none());
    assert!(r.headers().get("x-powered-by").is_none());
    let len: usize = r.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let text = r.text().await.unwrap();
    assert_eq!(len, text.len(), "Content-Length matches the filtered body");
    let user: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(user["name"], "alice");
    assert_eq!(user["email"], "alice@example.com");
    for leaked in ["passwordHash", "ssn", "internal"] {
        assert!(
            user.get(leaked).is_none(),
            "{leaked} must not leave: {user}"
        );
    }
    assert_eq!(
        user["card"], "************1111",
        "a declared card number is masked"
    );
    let log = moat.wait_log(|l| l["operation"] == "getUser").await;
    assert_eq!(log["verdict"], "flagged");
}

#[tokio::test]
async fn undocumented_error_bodies_are_scrubbed() {
    let (_dir, _up, moat) = setup("").await;
    let r = client().get(moat.url("/crash")).send().await.unwrap();
    assert_eq!(r.status(), 500, "the status is kept");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let text = r.text().await.unwrap();
    assert!(
        !text.contains("Traceback") && !text.contains("SELECT"),
        "{text}"
    );
    let p: Value = serde_json::from_str(&text).unwrap();
    assert!(p["request_id"].as_str().is_some());
}

#[tokio::test]
async fn protection_can_be_turned_off() {
    let extra = "    responses: {undeclared: allow, mask_sensitive: false, scrub_errors: false}\n";
    let (_dir, _up, moat) = setup(extra).await;
    let user: Value = client()
        .get(moat.url("/leaky/1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(user["ssn"], "123-45-6789");
    let text = client()
        .get(moat.url("/crash"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("Traceback"));
}

#[tokio::test]
async fn undeclared_properties_can_block_the_response() {
    let (_dir, _up, moat) = setup("    responses: {undeclared: block}\n").await;
    let r = client().get(moat.url("/leaky/1")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let text = r.text().await.unwrap();
    assert!(
        !text.contains("alice@example.com") && !text.contains("10.0.0.5"),
        "{text}"
    );
    let p: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(p["type"], "urn:moat:problem:upstream-error");
    let log = moat
        .wait_log(|l| l["finding"] == "undeclared-property")
        .await;
    assert_eq!(log["verdict"], "denied");
    assert_eq!(log["status"], 502);
}

#[tokio::test]
async fn a_response_block_follows_the_mode() {
    // In monitor mode nothing is refused: the answer goes out filtered and
    // the would-be block is recorded.
    let (_dir, _up, moat) = setup("    mode: monitor\n    responses: {undeclared: block}\n").await;
    let r = client().get(moat.url("/leaky/1")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(!text.contains("10.0.0.5"), "{text}");
    let log = moat
        .wait_log(|l| l["finding"] == "undeclared-property")
        .await;
    assert_eq!(log["verdict"], "monitored");
    assert_eq!(log["status"], 200);
}
