//! Capture (`discovery.capture`) through the real binary: a gateway in
//! monitor mode in front of a real upstream records the shapes of the
//! requests it answers, documented and undocumented, and the admin API
//! shows them with their standing against the document, never a value;
//! a restart keeps them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::time::Duration;

use moat_state::{DiscoveryStore, SqliteStore};
use serde_json::Value;
use support::*;

const SPEC: &str = r#"
openapi: 3.0.3
info: {title: shop, version: "1"}
paths:
  /users:
    post:
      operationId: createUser
      security: [{Basic: []}]
      requestBody:
        content: {application/json: {schema: {type: object}}}
      responses: {"201": {description: created}}
  /items:
    get:
      operationId: searchItems
      parameters:
        - {name: q, in: query, schema: {type: string}}
        - {name: page, in: query, schema: {type: integer}}
      responses: {"200": {description: ok}}
  /old:
    get: {operationId: oldItems, deprecated: true, responses: {"200": {description: ok}}}
  /reports:
    get: {operationId: listReports, responses: {"200": {description: ok}}}
components:
  securitySchemes:
    Basic: {type: http, scheme: basic}
"#;

/// Values sent that must never come back.
const EMAIL: &str = "zed.quux@example.org";
const PASSWORD: &str = "Sw0rdfish-9911-Tq";
const NAME: &str = "Zedediah Quuxley";
const IDS: [&str; 4] = [
    "88127311",
    "88127322",
    "88127333",
    "5d1e0a2c-7f3b-4c1a-9e2d-0b6f8a4c3e21",
];

fn setup(dir: &Path, upstream: &str) {
    write(dir, "spec.yaml", SPEC);
    let hash = hash_password("correct horse battery");
    let text = format!(
        "{}consumers:\n  - id: alice\n    basic: {{username: alice, password_hash: \"{hash}\"}}\n\
         discovery:\n  capture:\n    sample: 1\n    flush: 1s\n",
        config(
            upstream,
            "    mode: monitor\n    security:\n      Basic: {type: basic}\n"
        )
    );
    write(dir, "moat.yaml", &text);
}

async fn discovery(c: &reqwest::Client, moat: &Moat) -> (String, Value) {
    let r = c
        .get(format!("http://{}/admin/discovery", moat.admin.unwrap()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap();
    (text, v)
}

fn find<'a>(d: &'a Value, method: &str, path: &str) -> Option<&'a Value> {
    d["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["method"] == method && o["path"] == path)
}

#[tokio::test]
async fn sampled_traffic_becomes_an_inventory_of_shapes_that_survives_a_restart() {
    let up = upstream(None).await;
    let dir = tempdir();
    setup(dir.path(), &up.url());
    let c = client();
    let mut moat = Moat::start(dir.path());
    for _ in 0..2 {
        let r = c
            .post(moat.url("/users"))
            .basic_auth("alice", Some("correct horse battery"))
            .json(
                &serde_json::json!({"name": NAME, "email": EMAIL, "password": PASSWORD, "age": 41}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    for (q, page) in [("lampshade-xyz", 3), ("teapot-abc", 4)] {
        assert_eq!(
            get_status(&c, moat.url(&format!("/items?q={q}&page={page}"))).await,
            200
        );
    }
    assert_eq!(get_status(&c, moat.url("/items?page=5")).await, 200);
    // An undocumented path family, let through in monitor mode.
    for id in IDS {
        assert_eq!(
            get_status(&c, moat.url(&format!("/things/{id}"))).await,
            200
        );
    }
    assert_eq!(get_status(&c, moat.url("/old")).await, 200);

    // The shapes reach the admin API once the recorder has folded them in.
    for _ in 0..200 {
        let seen = discovery(&c, &moat).await.1;
        if find(&seen, "GET", "/things/{thingId}").is_some_and(|o| o["requests"] == 4)
            && find(&seen, "GET", "/old").is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (text, d) = discovery(&c, &moat).await;
    assert_eq!(d["enabled"], true);

    let users = find(&d, "POST", "/users").unwrap_or_else(|| panic!("{d:#}"));
    assert_eq!(users["standing"], "documented");
    assert_eq!(users["operation"], "createUser");
    assert_eq!(users["requests"], 2);
    assert_eq!(users["auth"]["basic"], 2, "{users:#}");
    assert_eq!(users["statuses"]["200"], 2);
    assert_eq!(users["content_types"]["application/json"], 2);
    let props = &users["request_body"]["properties"];
    assert_eq!(props["email"]["format"], "email", "{users:#}");
    assert_eq!(props["age"]["type"], "integer");
    let kinds: Vec<&str> = users["sensitive"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"email"), "{kinds:?}");
    assert!(kinds.contains(&"password"), "{kinds:?}");

    let items = find(&d, "GET", "/items").unwrap();
    assert_eq!(items["auth"]["none"], 3);
    // The upstream's JSON answers, copied as they streamed.
    let answer = &items["responses"]["200"]["schema"]["properties"];
    assert_eq!(answer["method"]["type"], "string", "{items:#}");
    assert_eq!(answer["headers"]["type"], "object", "{items:#}");
    let params = items["parameters"].as_array().unwrap();
    let param = |name: &str| params.iter().find(|p| p["name"] == name).unwrap();
    assert_eq!(param("page")["schema"]["type"], "integer");
    assert_eq!(param("page")["required"], true);
    assert_eq!(param("q")["schema"]["type"], "string");
    assert_eq!(param("q")["required"], false);

    let things = find(&d, "GET", "/things/{thingId}").unwrap_or_else(|| panic!("{d:#}"));
    assert_eq!(things["standing"], "shadow", "{d:#}");
    assert_eq!(things["requests"], 4, "{d:#}");
    assert_eq!(things["auth"]["none"], 4);
    // Scored with discovery's risk model: undocumented, anonymous, naming
    // an object.
    let factors = |o: &serde_json::Value| -> Vec<String> {
        o["risk_factors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["factor"].as_str().unwrap().to_string())
            .collect()
    };
    let thing_factors = factors(things);
    for f in ["shadow", "unauthenticated"] {
        assert!(thing_factors.iter().any(|x| x == f), "{things:#}");
    }
    assert_eq!(things["risk"], "high", "{things:#}");
    // A documented create that answered with personal data it was sent.
    assert!(users["risk_score"].as_u64().is_some(), "{users:#}");
    assert_eq!(find(&d, "GET", "/old").unwrap()["standing"], "zombie");
    assert!(factors(find(&d, "GET", "/old").unwrap()).contains(&"zombie".to_string()));
    let orphans = d["orphans"].as_array().unwrap();
    assert!(
        orphans
            .iter()
            .any(|o| o["method"] == "GET" && o["path"] == "/reports"),
        "{orphans:?}"
    );

    // No value sent is in the answer, nor in the state file.
    let secrets = [
        EMAIL,
        PASSWORD,
        NAME,
        "lampshade-xyz",
        "teapot-abc",
        "YWxpY2U6Y29ycmVjdCBob3JzZSBiYXR0ZXJ5",
    ];
    for value in secrets.iter().chain(IDS.iter()) {
        assert!(!text.contains(value), "{value} in {text}");
    }

    // A graceful stop writes the shapes; the next start reads them back.
    moat.signal("TERM");
    assert!(moat.wait_exit(Duration::from_secs(15)).success());
    // What the state file holds of them: templates and shapes.
    let store = SqliteStore::open(&dir.path().join("moat.db"))
        .await
        .unwrap();
    let rows = store.discovered().await.unwrap();
    store.close().await;
    assert!(
        rows.iter()
            .any(|r| r.template == "/things/{thingId}" && r.requests == 4),
        "{rows:?}"
    );
    let stored = format!("{rows:?}");
    for value in [EMAIL, PASSWORD, NAME].iter().chain(IDS.iter()) {
        assert!(!stored.contains(value), "{value} in the state file");
    }
    // `moat discover --state` reads the same shapes, judged against the
    // document; drift exits 1.
    let state = dir.path().join("moat.db");
    let out = std::process::Command::new(MOAT)
        .args(["discover", "--format", "json", "--diff"])
        .arg(dir.path().join("spec.yaml"))
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let cli: Value = serde_json::from_str(&text).unwrap();
    let shadow = find(&cli, "GET", "/things/{thingId}").unwrap_or_else(|| panic!("{cli:#}"));
    assert_eq!(
        (shadow["standing"].as_str(), shadow["requests"].as_u64()),
        (Some("shadow"), Some(4))
    );
    assert_eq!(find(&cli, "GET", "/old").unwrap()["standing"], "zombie");
    assert_eq!(
        find(&cli, "POST", "/users").unwrap()["request_body"],
        users["request_body"]
    );
    for value in secrets.iter().chain(IDS.iter()) {
        assert!(!text.contains(value), "{value} in {text}");
    }
    let out = std::process::Command::new(MOAT)
        .arg("discover")
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    let line = table
        .lines()
        .find(|l| l.contains("/things/{thingId}"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(line.contains("shadow") && line.contains(" 4 "), "{line}");

    let moat = Moat::start(dir.path());
    let (_, after) = discovery(&c, &moat).await;
    let things = find(&after, "GET", "/things/{thingId}").unwrap_or_else(|| panic!("{after:#}"));
    assert_eq!(things["requests"], 4);
    assert_eq!(
        find(&after, "POST", "/users").unwrap()["request_body"],
        users["request_body"]
    );
    // New samples add to what was stored.
    assert_eq!(get_status(&c, moat.url("/things/99120001")).await, 200);
    for _ in 0..200 {
        let (_, d) = discovery(&c, &moat).await;
        if find(&d, "GET", "/things/{thingId}").is_some_and(|o| o["requests"] == 5) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the fifth request was not added to the stored four");
}

#[test]
fn capture_settings_out_of_range_are_refused_where_they_are_written() {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    let base = config("http://127.0.0.1:9", "");
    // The config's last lines are the discovery section: its line numbers
    // follow the base config's.
    let line = base.lines().count() + 3;
    write(
        dir.path(),
        "moat.yaml",
        &format!(
            "{base}discovery:\n  capture:\n    sample: 1.5\n    max_body_bytes: 99999999\n    flush: 10ms\n"
        ),
    );
    let err = check_fails(dir.path());
    for (l, key) in [
        (line, "capture `sample` is 1.5"),
        (line + 1, "capture `max_body_bytes` is 99999999"),
        (line + 2, "capture `flush` must be at least one second"),
    ] {
        assert!(
            err.lines()
                .any(|e| e.contains(&format!("moat.yaml:{l}:")) && e.contains(key)),
            "{key} at line {l}:\n{err}"
        );
    }
    // Off: the other settings are not checked.
    write(
        dir.path(),
        "moat.yaml",
        &format!("{base}discovery:\n  capture:\n    enabled: false\n    sample: 0\n"),
    );
    assert!(check(dir.path()).0, "{}", check(dir.path()).2);
}

/// A sampled exchange is answered as an unsampled one would be: a body
/// read only for its shape is forwarded as it came, even when it is not
/// JSON the gateway would accept.
#[tokio::test]
async fn a_sampled_request_is_answered_as_an_unsampled_one() {
    const ECHO: &str = r#"
openapi: 3.0.3
info: {title: echo, version: "1"}
paths:
  /echo:
    post:
      operationId: echo
      requestBody:
        content: {application/json: {}}
      responses: {"200": {description: ok}}
"#;
    let up = upstream(None).await;
    let c = client();
    let mut answers = Vec::new();
    for capture in ["enabled: false", "sample: 1"] {
        let dir = tempdir();
        write(dir.path(), "spec.yaml", ECHO);
        write(
            dir.path(),
            "moat.yaml",
            &format!(
                "{}discovery:\n  capture: {{{capture}}}\n",
                config(&up.url(), "    inspection: {enabled: false}\n")
            ),
        );
        let moat = Moat::start(dir.path());
        let mut statuses = Vec::new();
        // The last one declares a content coding, which a body read for a
        // schema would be refused for.
        for (body, coding) in [
            (r#"{"a": 1}"#, None),
            (r#"{"a": 1, "a": 2}"#, None),
            ("{not json", None),
            ("[1, 2", None),
            (r#"{"a": 1}"#, Some("br")),
        ] {
            let mut r = c
                .post(moat.url("/echo"))
                .header("content-type", "application/json");
            if let Some(coding) = coding {
                r = r.header("content-encoding", coding);
            }
            let r = r.body(body).send().await.unwrap();
            let status = r.status().as_u16();
            let echoed: Value = r.json().await.unwrap_or_default();
            statuses.push((status, echoed["body"].as_str().map(str::to_string)));
        }
        answers.push(statuses);
        if capture == "sample: 1" {
            let mut seen = 0;
            for _ in 0..200 {
                let (_, d) = discovery(&c, &moat).await;
                seen = find(&d, "POST", "/echo").map_or(0, |o| o["requests"].as_u64().unwrap_or(0));
                if seen == 5 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            assert_eq!(seen, 5, "every request was sampled");
        }
    }
    assert_eq!(answers[0], answers[1]);
}
