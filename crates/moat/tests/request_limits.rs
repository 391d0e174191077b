//! Request caps through the real binary: body size (declared and streamed),
//! per-operation overrides, XML caps, JSON shape, and requests in flight per
//! consumer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;

async fn setup(extra: &str) -> (tempfile::TempDir, Upstream, Moat) {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    write(dir.path(), "moat.yaml", &config(&up.url(), extra));
    let moat = Moat::start(dir.path());
    (dir, up, moat)
}

#[tokio::test]
async fn bodies_over_the_cap_get_413_declared_or_streamed() {
    let extra = "    request_limits:\n      max_body_bytes: 1000\n      operations: {upload: {max_body_bytes: 100000}}\n";
    let (_dir, up, moat) = setup(extra).await;
    let c = client();
    let post = |path: &str, ct: &'static str, body: Vec<u8>| {
        c.post(moat.url(path))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    // Declared too large: refused before a byte is read.
    let r = post("/items", "text/plain", vec![b'a'; 1001])
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:moat:problem:payload-too-large");
    assert_eq!(up.hits(), 0, "refused before the upstream saw it");
    assert_eq!(
        post("/items", "text/plain", vec![b'a'; 1000])
            .await
            .unwrap()
            .status(),
        200
    );
    // The override: this operation takes 100 kB.
    let r = post("/upload", "application/octet-stream", vec![b'a'; 50_000])
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Streamed without a length: cut off at the cap, answered 413. (Only a
    // little over, so the client has written it all before the answer.)
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..25).map(|_| Ok(vec![b'b'; 4096])).collect();
    let r = c
        .post(moat.url("/upload"))
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // Still serving.
    assert_eq!(get_status(&c, moat.url("/items")).await, 200);
    moat.wait_log(|l| l["finding"] == "payload-too-large" && l["operation"] == "upload")
        .await;
}

#[tokio::test]
async fn json_shape_limits_come_before_the_schema() {
    let extra = "    request_limits:\n      json: {max_depth: 8, max_array_items: 100, max_properties: 20}\n";
    let (_dir, up, moat) = setup(extra).await;
    let c = client();
    let post = |body: String| {
        c.post(moat.url("/items"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_eq!(
        post(r#"{"a":[1,2,3],"b":{"c":{}}}"#.into())
            .await
            .unwrap()
            .status(),
        200
    );
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let cases = [
        (deep, "max_depth"),
        (format!("[{}]", vec!["1"; 101].join(",")), "max_array_items"),
        (
            format!(
                "{{{}}}",
                (0..21)
                    .map(|i| format!("\"k{i}\":1"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            "max_properties",
        ),
    ];
    for (body, rule) in cases {
        let r = post(body).await.unwrap();
        assert_eq!(r.status(), 400, "{rule}");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["violations"][0]["rule"], rule);
    }
    assert_eq!(up.hits(), 1);
}

#[tokio::test]
async fn xml_bodies_have_their_own_cap() {
    let spec = ECHO_SPEC.replace(
        "          text/plain: {}",
        "          text/plain: {}\n          application/xml: {}",
    );
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", &spec);
    let extra = "    request_limits: {xml_max_bytes: 100}\n";
    write(dir.path(), "moat.yaml", &config(&up.url(), extra));
    let moat = Moat::start(dir.path());
    let c = client();
    let post = |ct: &'static str, n: usize| {
        c.post(moat.url("/items"))
            .header("content-type", ct)
            .body(vec![b'x'; n])
            .send()
    };
    assert_eq!(post("application/xml", 101).await.unwrap().status(), 413);
    assert_eq!(post("text/plain", 101).await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_consumer_may_have_a_few_requests_in_flight() {
    let h = hash_password("pw");
    let extra = "    security:\n      Basic: {type: basic}\n    request_limits: {max_concurrent_per_consumer: 2}\n";
    let spec = ECHO_SPEC.replace(
        "info: {title: echo, version: \"1\"}",
        "info: {title: echo, version: \"1\"}\nsecurity: [{Basic: []}]\ncomponents:\n  securitySchemes:\n    Basic: {type: http, scheme: basic}",
    );
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", &spec);
    let cfg = format!(
        "{}consumers:\n  - id: alice\n    basic: {{username: alice, password_hash: \"{h}\"}}\n  - id: bob\n    basic: {{username: bob, password_hash: \"{h}\"}}\n",
        config(&up.url(), extra)
    );
    write(dir.path(), "moat.yaml", &cfg);
    let moat = Moat::start(dir.path());
    let c = client();
    let slow = |user: &'static str| {
        let r = c.get(moat.url("/slow")).basic_auth(user, Some("pw")).send();
        tokio::spawn(async move { r.await.unwrap().status().as_u16() })
    };
    // /slow answers after 1.5 s: two of alice's are in flight.
    let (a, b) = (slow("alice"), slow("alice"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let third = c
        .get(moat.url("/items"))
        .basic_auth("alice", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(third.status(), 429);
    assert_eq!(third.headers()["retry-after"], "1");
    // Another consumer is not affected.
    let bob = c
        .get(moat.url("/items"))
        .basic_auth("bob", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(bob.status(), 200);
    assert_eq!((a.await.unwrap(), b.await.unwrap()), (200, 200));
    // The slots are given back.
    let again = c
        .get(moat.url("/items"))
        .basic_auth("alice", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
}

#[test]
fn overrides_of_unknown_operations_are_config_errors() {
    let extra = "    request_limits:\n      operations: {uplod: {max_body_bytes: 10}}\n";
    let err = check_api_fails(ECHO_SPEC, extra);
    assert!(
        err.contains("no operation has the operationId `uplod`"),
        "{err}"
    );
    assert!(err.contains("did you mean `upload`?"), "{err}");
}
