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

/// An upstream that answers each path with a fixed JSON body.
async fn canned(routes: &'static [(&'static str, &'static str)]) -> std::net::SocketAddr {
    use http_body_util::Full;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = service_fn(
                    move |req: http::Request<hyper::body::Incoming>| async move {
                        let body = routes
                            .iter()
                            .find(|(path, _)| *path == req.uri().path())
                            .map_or("{}", |(_, body)| *body);
                        Ok::<_, std::convert::Infallible>(
                            http::Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(bytes::Bytes::from_static(body.as_bytes())))
                                .unwrap(),
                        )
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";

const CREDENTIALS_SPEC: &str = r##"
openapi: 3.0.3
info: {title: auth, version: "1"}
paths:
  /login:
    post:
      operationId: login
      security: []
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties: {username: {type: string}, password: {type: string}}
      responses:
        "200":
          description: the caller's new credentials
          content: {application/json: {schema: {$ref: "#/components/schemas/Session"}}}
  /sessions/current:
    get:
      operationId: currentSession
      security: []
      responses:
        "200":
          description: the session, as anyone may look at it
          content: {application/json: {schema: {$ref: "#/components/schemas/Session"}}}
  /profile:
    get:
      operationId: profile
      security: []
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema:
                type: object
                properties:
                  name: {type: string}
                  roles: {type: array, items: {type: string}}
  /tags:
    get:
      operationId: tags
      security: []
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {type: array, items: {type: object, properties: {name: {type: string}}}}
components:
  schemas:
    Session:
      type: object
      properties:
        auth_token: {type: string}
        access_token: {type: string}
        refresh_token: {type: string}
        token_type: {type: string}
        password: {type: string}
"##;

const SESSION: &str = r#"{"auth_token":"tok-7f3a","access_token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl","refresh_token":"r-91c2","token_type":"Bearer","password":"hunter2"}"#;

const CANNED: &[(&str, &str)] = &[
    ("/login", SESSION),
    ("/sessions/current", SESSION),
    // Drift: an object where the document says array, at two depths.
    (
        "/profile",
        r#"{"name":"alice","roles":{"admin":true,"db":"10.0.0.5"}}"#,
    ),
    ("/tags", r#"{"name":"x","internal":"10.0.0.5"}"#),
];

async fn credentials_setup(extra: &str) -> (tempfile::TempDir, Moat) {
    credentials_setup_with(CREDENTIALS_SPEC, extra).await
}

async fn credentials_setup_with(spec: &str, extra: &str) -> (tempfile::TempDir, Moat) {
    let addr = canned(CANNED).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", spec);
    write(
        dir.path(),
        "moat.yaml",
        &config(&format!("http://{addr}"), extra),
    );
    let moat = Moat::start(dir.path());
    (dir, moat)
}

#[tokio::test]
async fn a_login_answer_keeps_the_credentials_it_issues() {
    let (_dir, moat) = credentials_setup("").await;
    let session: Value = client()
        .post(moat.url("/login"))
        .json(&serde_json::json!({"username": "alice", "password": "pw"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // A POST that needs no credentials and declares these properties hands
    // them to its caller.
    assert_eq!(session["auth_token"], "tok-7f3a", "{session}");
    assert_eq!(session["access_token"], JWT, "{session}");
    assert_eq!(session["refresh_token"], "r-91c2", "{session}");
    assert_eq!(session["token_type"], "Bearer");
    // A password is never a credential an operation issues.
    assert_eq!(session["password"], "****", "{session}");

    // The same names in another operation's answer are masked.
    let other: Value = client()
        .get(moat.url("/sessions/current"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for name in ["auth_token", "access_token", "refresh_token", "password"] {
        assert_eq!(other[name], "****", "{name}: {other}");
    }
}

#[tokio::test]
async fn an_operation_can_say_it_does_not_issue_credentials() {
    let spec = CREDENTIALS_SPEC.replace(
        "      operationId: login\n",
        "      operationId: login\n      x-moat-issues-credentials: false\n",
    );
    let (_dir, moat) = credentials_setup_with(&spec, "").await;
    let session: Value = client()
        .post(moat.url("/login"))
        .json(&serde_json::json!({"username": "alice", "password": "pw"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["auth_token"], "****", "{session}");
}

#[tokio::test]
async fn a_type_mismatch_is_removed_and_recorded_by_default() {
    let (_dir, moat) = credentials_setup("").await;
    let r = client().get(moat.url("/profile")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let profile: Value = r.json().await.unwrap();
    assert_eq!(profile, serde_json::json!({"name": "alice"}));
    let log = moat
        .wait_log(|l| l["finding"] == "response-type-mismatch")
        .await;
    assert_eq!(log["verdict"], "flagged");
    // A whole answer of the wrong type leaves nothing to forward.
    let r = client().get(moat.url("/tags")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let text = r.text().await.unwrap();
    assert!(!text.contains("10.0.0.5"), "{text}");
    let log = moat
        .wait_log(|l| l["finding"] == "response-type-mismatch" && l["status"] == 502)
        .await;
    assert_eq!(log["verdict"], "denied");
}

#[tokio::test]
async fn a_type_mismatch_blocks_the_answer_under_block() {
    let (_dir, moat) = credentials_setup("    responses: {undeclared: block}\n").await;
    let r = client().get(moat.url("/profile")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let text = r.text().await.unwrap();
    assert!(!text.contains("10.0.0.5"), "{text}");
    let p: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(p["type"], "urn:moat:problem:upstream-error");
    let log = moat
        .wait_log(|l| l["finding"] == "response-type-mismatch")
        .await;
    assert_eq!(
        (log["verdict"].as_str(), log["status"].as_u64()),
        (Some("denied"), Some(502))
    );
}

#[tokio::test]
async fn a_type_mismatch_is_forwarded_and_recorded_under_allow() {
    let (_dir, moat) = credentials_setup("    responses: {undeclared: allow}\n").await;
    let profile: Value = client()
        .get(moat.url("/profile"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(profile["roles"]["db"], "10.0.0.5", "{profile}");
    let log = moat
        .wait_log(|l| l["finding"] == "response-type-mismatch")
        .await;
    assert_eq!(
        (log["verdict"].as_str(), log["status"].as_u64()),
        (Some("flagged"), Some(200))
    );
    let r = client().get(moat.url("/tags")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
