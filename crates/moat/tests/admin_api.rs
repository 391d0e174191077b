//! The admin API through the real binary: authentication and roles,
//! moat's own guards on it, events (filters, pages, one event, the live
//! stream), the overview, the inventory, keys and bans that take effect at
//! the gateway, the redacted config, reloads, TLS, and events that outlive
//! a graceful restart or a full queue.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::*;

const SPEC: &str = r#"
openapi: 3.0.3
info: {title: shop, version: "1"}
paths:
  /items:
    get:
      operationId: searchItems
      parameters:
        - {name: q, in: query, schema: {type: string}}
      responses: {"200": {description: ok}}
  /items/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
    get: {operationId: getItem, responses: {"200": {description: ok}}}
  /private:
    get:
      operationId: private
      security: [{ApiKey: []}]
      x-moat-rate-limit: {rate: 1000, per: 1m, key: client_ip}
      responses: {"200": {description: ok}}
  /old:
    get: {operationId: oldItems, deprecated: true, responses: {"200": {description: ok}}}
components:
  securitySchemes:
    ApiKey: {type: apiKey, in: header, name: X-Api-Key}
"#;

const PEPPER: &str = "admin-test-pepper-0123456789abcdef-0123456789";

fn setup(dir: &Path, upstream: &str, extra_top: &str) {
    write(dir, "spec.yaml", SPEC);
    let text = format!(
        "{}consumers:\n  - id: alice\nkeys:\n  pepper: {PEPPER}\n{extra_top}",
        config(upstream, "    security:\n      ApiKey: {type: api_key}\n")
    );
    write(dir, "moat.yaml", &text);
}

async fn start(extra_top: &str) -> (tempfile::TempDir, Upstream, Moat) {
    let up = upstream(None).await;
    let dir = tempdir();
    setup(dir.path(), &up.url(), extra_top);
    let moat = Moat::start(dir.path());
    (dir, up, moat)
}

fn admin_url(moat: &Moat, path: &str) -> String {
    format!("http://{}{path}", moat.admin.unwrap())
}

async fn get(c: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let r = c.get(url).bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// POSTs `body` as JSON; `Value::Null` sends no body at all.
async fn post(c: &reqwest::Client, url: &str, token: &str, body: Value) -> (u16, Value) {
    let mut req = c.post(url).bearer_auth(token);
    if !body.is_null() {
        req = req.json(&body);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Waits until `GET /admin/events?query` returns at least `n` events.
async fn wait_events(c: &reqwest::Client, moat: &Moat, query: &str, n: usize) -> Vec<Value> {
    let url = admin_url(moat, &format!("/admin/events?{query}"));
    for _ in 0..200 {
        let (status, page) = get(c, &url, ADMIN_TOKEN).await;
        assert_eq!(status, 200, "{page}");
        let events = page["events"].as_array().unwrap().clone();
        if events.len() >= n {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("fewer than {n} events for {query}");
}

#[tokio::test]
async fn admin_tokens_and_roles() {
    let (dir, _up, moat) = start("").await;
    let c = client();
    let session = admin_url(&moat, "/admin/session");
    // No token, a wrong one, a malformed header: 401 with a challenge.
    let r = c.get(&session).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert_eq!(get(&c, &session, "moat_admin_nope_nope").await.0, 401);
    assert_eq!(get(&c, &session, "wrong").await.0, 401);
    // The bootstrap token is an operator.
    let (status, me) = get(&c, &session, ADMIN_TOKEN).await;
    assert_eq!((status, me["role"].as_str()), (200, Some("operator")));

    let viewer = create_admin_token(dir.path(), "dashboards", "viewer");
    let operator = create_admin_token(dir.path(), "oncall", "operator");
    assert!(viewer.starts_with("moat_admin_"), "{viewer}");
    let (status, me) = get(&c, &session, &viewer).await;
    assert_eq!(
        (status, &me),
        (200, &json!({"name": "dashboards", "role": "viewer"}))
    );
    // A viewer reads, but may not change anything.
    assert_eq!(
        get(&c, &admin_url(&moat, "/admin/bans"), &viewer).await.0,
        200
    );
    let ban = json!({"subject": "address:203.0.113.9"});
    let (status, problem) = post(&c, &admin_url(&moat, "/admin/bans"), &viewer, ban.clone()).await;
    assert_eq!(status, 403, "{problem}");
    assert_eq!(problem["type"], "urn:moat:problem:forbidden");
    assert_eq!(
        post(&c, &admin_url(&moat, "/admin/reload"), &viewer, Value::Null)
            .await
            .0,
        403
    );
    assert_eq!(
        post(&c, &admin_url(&moat, "/admin/bans"), &operator, ban)
            .await
            .0,
        201
    );
    // Metrics take any admin token.
    assert_eq!(
        get_status_with(&c, &admin_url(&moat, "/metrics"), &viewer).await,
        200
    );
    assert_eq!(
        c.get(admin_url(&moat, "/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    // A revoked token is refused from then on.
    let out = Command::new(MOAT)
        .args(["admin", "token", "revoke", "--config"])
        .arg(dir.path().join("moat.yaml"))
        .arg("dashboards")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(get(&c, &session, &viewer).await.0, 401);
    // Failed attempts are security events.
    let failed = wait_events(&c, &moat, "kind=admin-auth-failed", 3).await;
    assert!(
        failed
            .iter()
            .all(|e| e["control"] == "admin" && e["client"] == "127.0.0.1")
    );
}

async fn get_status_with(c: &reqwest::Client, url: &str, token: &str) -> u16 {
    c.get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_admin_api_is_guarded_by_its_own_document() {
    let (_dir, _up, moat) = start("").await;
    let c = client();
    let t = ADMIN_TOKEN;
    // Undocumented operations, even with a token.
    let (status, p) = get(&c, &admin_url(&moat, "/admin/nothing"), t).await;
    assert_eq!(
        (status, p["type"].as_str()),
        (404, Some("urn:moat:problem:shadow-endpoint"))
    );
    let r = c
        .delete(admin_url(&moat, "/admin/events"))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    // Parameters the document does not name, given twice, or of the wrong type.
    assert_eq!(
        get(&c, &admin_url(&moat, "/admin/events?colour=red"), t)
            .await
            .0,
        400
    );
    assert_eq!(
        get(&c, &admin_url(&moat, "/admin/events?api=a&api=b"), t)
            .await
            .0,
        400
    );
    assert_eq!(
        get(&c, &admin_url(&moat, "/admin/events?severity=dire"), t)
            .await
            .0,
        400
    );
    assert_eq!(
        get(&c, &admin_url(&moat, "/admin/events?limit=5000"), t)
            .await
            .0,
        400
    );
    // Bodies: unknown properties and wrong types are refused.
    let url = admin_url(&moat, "/admin/bans");
    let (status, p) = post(
        &c,
        &url,
        t,
        json!({"subject": "consumer:x", "role": "admin"}),
    )
    .await;
    assert!(status == 400 || status == 422, "{status} {p}");
    assert!(p["violations"].is_array(), "{p}");
    assert!(post(&c, &url, t, json!({"subject": 7})).await.0 >= 400);
    // The document itself.
    let (status, doc) = get(&c, &admin_url(&moat, "/admin/openapi.json"), t).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/events",
        "/events/stream",
        "/inventory",
        "/keys",
        "/bans",
        "/config",
        "/reload",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is not documented");
    }
}

#[tokio::test]
async fn events_record_what_was_refused_with_filters_and_pages() {
    let (_dir, up, moat) = start("").await;
    let c = client();
    // An injection, an undocumented path, a missing credential, a bad
    // parameter, and an ordinary request (no event).
    assert_eq!(
        get_status(&c, moat.url("/items?q=1'%20OR%20'1'%3D'1")).await,
        403
    );
    assert_eq!(get_status(&c, moat.url("/admin/export")).await, 404);
    assert_eq!(get_status(&c, moat.url("/private")).await, 401);
    assert_eq!(get_status(&c, moat.url("/items/abc")).await, 400);
    assert_eq!(get_status(&c, moat.url("/items?q=books")).await, 200);
    assert_eq!(up.hits(), 1);

    let events = wait_events(&c, &moat, "", 4).await;
    assert_eq!(events.len(), 4, "{events:#?}");
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "invalid-request",
            "unauthenticated",
            "shadow-endpoint",
            "attack-detected"
        ],
        "newest first"
    );
    let attack = &events[3];
    assert_eq!(attack["control"], "inspection");
    assert_eq!(attack["severity"], "high");
    assert_eq!(attack["action"], "denied");
    assert_eq!(attack["status"], 403);
    assert_eq!(attack["api"], "echo");
    assert_eq!(attack["operation"], "searchItems");
    assert_eq!(attack["client"], "127.0.0.1");
    assert_eq!(attack["rule"], "sqli");
    assert_eq!(attack["location"], "query:q");
    assert!(attack["request_id"].is_string() && attack["hash"].is_string());
    let bad = &events[0];
    assert_eq!(
        (bad["control"].as_str(), bad["location"].as_str()),
        (Some("validation"), Some("path:id"))
    );

    // Filters.
    let only = |q: &'static str| {
        let c = c.clone();
        let url = admin_url(&moat, &format!("/admin/events?{q}"));
        async move {
            get(&c, &url, ADMIN_TOKEN).await.1["events"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    assert_eq!(only("control=inspection").await.len(), 1);
    assert_eq!(only("severity=high").await.len(), 1);
    assert_eq!(only("severity=medium").await.len(), 2, "shadow and attack");
    assert_eq!(
        only("kind=shadow-endpoint").await[0]["path"],
        "/admin/export"
    );
    assert_eq!(only("operation=getItem").await.len(), 1);
    assert_eq!(only("client=192.0.2.1").await.len(), 0);
    assert_eq!(only("api=echo&action=denied").await.len(), 4);
    let since = attack["time"].as_i64().unwrap() + 1_000_000;
    assert_eq!(only_since(&c, &moat, since).await, 0);

    // Pages: newest first with `before`, then `after` goes the other way.
    let (_, p1) = get(&c, &admin_url(&moat, "/admin/events?limit=3"), ADMIN_TOKEN).await;
    assert_eq!(p1["events"].as_array().unwrap().len(), 3);
    let next = p1["next"].as_i64().unwrap();
    let (_, p2) = get(
        &c,
        &admin_url(&moat, &format!("/admin/events?limit=3&before={next}")),
        ADMIN_TOKEN,
    )
    .await;
    let p2 = p2["events"].as_array().unwrap().clone();
    assert_eq!(p2.len(), 1);
    assert_eq!(p2[0]["kind"], "attack-detected");
    let first = p2[0]["seq"].as_i64().unwrap();
    let (_, asc) = get(
        &c,
        &admin_url(&moat, &format!("/admin/events?after={first}")),
        ADMIN_TOKEN,
    )
    .await;
    let asc: Vec<&str> = asc["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        asc,
        ["shadow-endpoint", "unauthenticated", "invalid-request"]
    );

    // One event by id.
    let id = attack["id"].as_str().unwrap();
    let (status, one) = get(
        &c,
        &admin_url(&moat, &format!("/admin/events/{id}")),
        ADMIN_TOKEN,
    )
    .await;
    assert_eq!((status, &one), (200, attack));
    let missing = admin_url(&moat, "/admin/events/00000000-0000-4000-8000-000000000000");
    assert_eq!(get(&c, &missing, ADMIN_TOKEN).await.0, 404);
}

async fn only_since(c: &reqwest::Client, moat: &Moat, since: i64) -> usize {
    let url = admin_url(moat, &format!("/admin/events?since={since}"));
    get(c, &url, ADMIN_TOKEN).await.1["events"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn the_live_stream_sends_new_events_as_they_are_stored() {
    let (_dir, _up, moat) = start("").await;
    let c = client();
    let mut stream = c
        .get(admin_url(&moat, "/admin/events/stream?control=inspection"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    // Not an inspection event: filtered out of this stream.
    assert_eq!(get_status(&c, moat.url("/nowhere")).await, 404);
    assert_eq!(
        get_status(&c, moat.url("/items?q=%3Cscript%3Ealert(1)%3C/script%3E")).await,
        403
    );
    let mut text = String::new();
    let read = async {
        while !text.contains("\n\n") || !text.contains("data: ") {
            let chunk = stream.chunk().await.unwrap().expect("the stream ended");
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("no event streamed");
    let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    let event: Value = serde_json::from_str(data).unwrap();
    assert_eq!(
        (event["control"].as_str(), event["rule"].as_str()),
        (Some("inspection"), Some("xss"))
    );
    let id = text.lines().find_map(|l| l.strip_prefix("id: ")).unwrap();
    assert_eq!(id, event["seq"].to_string());
    assert!(text.contains("event: security-event"));
}

#[tokio::test]
async fn overview_and_inventory_count_traffic() {
    let (_dir, _up, moat) = start("").await;
    let c = client();
    for _ in 0..3 {
        assert_eq!(get_status(&c, moat.url("/items?q=ok")).await, 200);
    }
    assert_eq!(
        get_status(
            &c,
            moat.url("/items?q=1%20UNION%20SELECT%20password%20FROM%20users--")
        )
        .await,
        403
    );
    assert_eq!(get_status(&c, moat.url("/old")).await, 200);
    assert_eq!(get_status(&c, moat.url("/.env")).await, 404);
    assert_eq!(get_status(&c, moat.url("/.env")).await, 404);
    wait_events(&c, &moat, "kind=shadow-endpoint", 2).await;

    let (status, inv) = get(&c, &admin_url(&moat, "/admin/inventory"), ADMIN_TOKEN).await;
    assert_eq!(status, 200);
    let ops = inv["operations"].as_array().unwrap();
    let op = |id: &str| ops.iter().find(|o| o["operation"] == id).unwrap().clone();
    let search = op("searchItems");
    assert_eq!(
        (search["requests"].as_u64(), search["denials"].as_u64()),
        (Some(4), Some(1))
    );
    assert!(search["last_seen"].as_i64().unwrap() > 0);
    assert_eq!(search["auth"], "none");
    assert_eq!(search["path"], "/items");
    assert_eq!(op("private")["auth"], "ApiKey");
    assert_eq!(op("private")["requests"], 0);
    assert_eq!(op("private")["last_seen"], Value::Null);
    let old = op("oldItems");
    assert!(
        old["flags"].as_array().unwrap().contains(&json!("zombie")),
        "{old}"
    );
    assert_eq!(old["deprecated"], true);
    // The risk model: factors, their weights summed, the level.
    let factors = |o: &Value| -> Vec<String> {
        o["risk_factors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["factor"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(factors(&search), ["unauthenticated", "no_rate_limit"]);
    assert_eq!(
        (search["risk_score"].as_u64(), search["risk"].as_str()),
        (Some(35), Some("medium"))
    );
    // Credentials required and a rate limit: nothing to flag.
    assert_eq!(factors(&op("private")), Vec::<String>::new());
    assert_eq!(
        (
            op("private")["risk_score"].as_u64(),
            op("private")["risk"].as_str()
        ),
        (Some(0), Some("low"))
    );
    // An id in the path and no ownership rule for it.
    assert_eq!(
        factors(&op("getItem")),
        [
            "unauthenticated",
            "object_id_without_ownership",
            "no_rate_limit"
        ]
    );
    assert_eq!(
        factors(&old),
        ["unauthenticated", "zombie", "no_rate_limit"]
    );
    assert_eq!(
        (old["risk_score"].as_u64(), old["risk"].as_str()),
        (Some(55), Some("high"))
    );
    let shadow = inv["shadow"].as_array().unwrap();
    assert_eq!(shadow.len(), 1, "{shadow:?}");
    assert_eq!(
        (shadow[0]["path"].as_str(), shadow[0]["requests"].as_u64()),
        (Some("/.env"), Some(2))
    );

    let (status, ov) = get(
        &c,
        &admin_url(&moat, "/admin/overview?window=15m"),
        ADMIN_TOKEN,
    )
    .await;
    assert_eq!(status, 200, "{ov}");
    assert_eq!(ov["totals"]["requests"], 7);
    assert_eq!(ov["totals"]["denied"], 3);
    let series_total: u64 = ov["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(series_total, 7);
    let denials: u64 = ov["denials_by_reason"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| {
            b["counts"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .collect::<Vec<_>>()
        })
        .sum();
    assert_eq!(denials, 3);
    assert_eq!(ov["top_clients"][0]["client"], "127.0.0.1");
    assert_eq!(ov["top_operations"][0]["operation"], "searchItems");
    assert_eq!(
        get(
            &c,
            &admin_url(&moat, "/admin/overview?window=2d"),
            ADMIN_TOKEN
        )
        .await
        .0,
        400
    );
}

#[tokio::test]
async fn keys_made_in_the_admin_api_work_at_the_gateway_until_revoked() {
    let (_dir, _up, moat) = start("").await;
    let c = client();
    let (status, made) = post(
        &c,
        &admin_url(&moat, "/admin/keys"),
        ADMIN_TOKEN,
        json!({"consumer": "alice", "name": "laptop", "scopes": ["read"], "expires_in": "30d"}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let key = made["key"].as_str().unwrap().to_string();
    let key_id = made["record"]["key_id"].as_str().unwrap().to_string();
    assert!(key.starts_with("moat_") && key.contains(&key_id));
    let call = |key: String| {
        let c = c.clone();
        let url = moat.url("/private");
        async move {
            c.get(url)
                .header("x-api-key", key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(call(key.clone()).await, 200);
    // The consumers: alice from the config, with her key.
    let (status, consumers) = get(&c, &admin_url(&moat, "/admin/consumers"), ADMIN_TOKEN).await;
    assert_eq!(status, 200);
    assert_eq!(
        consumers["consumers"],
        json!([{"id": "alice", "source": "config", "keys": 1, "roles": []}])
    );
    // Listing never shows the key.
    let (_, list) = get(
        &c,
        &admin_url(&moat, "/admin/keys?consumer=alice"),
        ADMIN_TOKEN,
    )
    .await;
    assert_eq!(list["keys"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&key[key.len() - 20..]));
    // Rotate: a new key; the old one ends (no grace).
    let (status, rotated) = post(
        &c,
        &admin_url(&moat, &format!("/admin/keys/{key_id}/rotate")),
        ADMIN_TOKEN,
        json!({}),
    )
    .await;
    assert_eq!(status, 201, "{rotated}");
    let new_key = rotated["key"].as_str().unwrap().to_string();
    assert_eq!(call(new_key.clone()).await, 200);
    assert_eq!(call(key.clone()).await, 401);
    let new_id = rotated["record"]["key_id"].as_str().unwrap().to_string();
    let (status, revoked) = post(
        &c,
        &admin_url(&moat, &format!("/admin/keys/{new_id}/revoke")),
        ADMIN_TOKEN,
        Value::Null,
    )
    .await;
    assert_eq!(
        (status, revoked["record"]["status"].as_str()),
        (200, Some("revoked"))
    );
    assert_eq!(call(new_key.clone()).await, 401);
    assert_eq!(
        post(
            &c,
            &admin_url(&moat, "/admin/keys/nosuchkey/revoke"),
            ADMIN_TOKEN,
            Value::Null
        )
        .await
        .0,
        404
    );
    // Every change is an audit event naming the token; no key appears.
    let audit = wait_events(&c, &moat, "control=admin", 3).await;
    let kinds: Vec<&str> = audit.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["key-revoked", "key-rotated", "key-created"]);
    assert!(audit.iter().all(|e| e["actor"] == "token:config"));
    let everything = get(
        &c,
        &admin_url(&moat, "/admin/events?limit=1000"),
        ADMIN_TOKEN,
    )
    .await
    .1
    .to_string();
    for k in [&key, &new_key] {
        assert!(
            !everything.contains(&k[k.len() - 20..]),
            "a key secret is in an event"
        );
    }
}

#[tokio::test]
async fn bans_from_the_admin_api_take_effect_at_once_and_lift() {
    let (_dir, _up, moat) = start("").await;
    let c = client();
    assert_eq!(get_status(&c, moat.url("/items")).await, 200);
    let (status, ban) = post(
        &c,
        &admin_url(&moat, "/admin/bans"),
        ADMIN_TOKEN,
        json!({"subject": "address:127.0.0.1", "reason": "testing", "duration": "1h"}),
    )
    .await;
    assert_eq!(status, 201, "{ban}");
    assert_eq!(get_status(&c, moat.url("/items")).await, 403);
    let (_, list) = get(&c, &admin_url(&moat, "/admin/bans"), ADMIN_TOKEN).await;
    let bans = list["bans"].as_array().unwrap();
    assert_eq!(bans.len(), 1);
    assert_eq!(
        (bans[0]["subject"].as_str(), bans[0]["source"].as_str()),
        (Some("address:127.0.0.1"), Some("admin:config"))
    );
    let (status, lifted) = post(
        &c,
        &admin_url(&moat, "/admin/bans/lift"),
        ADMIN_TOKEN,
        json!({"subject": "address:127.0.0.1"}),
    )
    .await;
    assert_eq!((status, lifted["lifted"].as_bool()), (200, Some(true)));
    assert_eq!(get_status(&c, moat.url("/items")).await, 200);
    let (_, again) = post(
        &c,
        &admin_url(&moat, "/admin/bans/lift"),
        ADMIN_TOKEN,
        json!({"subject": "address:127.0.0.1"}),
    )
    .await;
    assert_eq!(again["lifted"], false);
    assert_eq!(
        post(
            &c,
            &admin_url(&moat, "/admin/bans"),
            ADMIN_TOKEN,
            json!({"subject": "nobody"})
        )
        .await
        .0,
        400
    );
    let audit = wait_events(&c, &moat, "control=admin", 2).await;
    let kinds: Vec<&str> = audit.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ban-lifted", "ban-added"]);
    // The banned request itself was an event too.
    let banned = wait_events(&c, &moat, "kind=banned", 1).await;
    assert_eq!(banned[0]["control"], "admission");
}

#[tokio::test]
async fn the_config_is_shown_redacted_and_reloads_are_audited() {
    let (dir, _up, moat) = start("").await;
    let c = client();
    let (status, cfg) = get(&c, &admin_url(&moat, "/admin/config"), ADMIN_TOKEN).await;
    assert_eq!(status, 200);
    assert_eq!(cfg["admin"]["token"], "[redacted]");
    assert_eq!(cfg["keys"]["pepper"], "[redacted]");
    assert_eq!(cfg["apis"][0]["name"], "echo");
    let text = cfg.to_string();
    assert!(
        !text.contains(ADMIN_TOKEN) && !text.contains(PEPPER),
        "{text}"
    );

    let (status, r) = post(
        &c,
        &admin_url(&moat, "/admin/reload"),
        ADMIN_TOKEN,
        Value::Null,
    )
    .await;
    assert_eq!((status, r["reloaded"].as_bool()), (200, Some(true)), "{r}");
    // A broken config is refused with the reason, and changes nothing.
    let good = std::fs::read_to_string(dir.path().join("moat.yaml")).unwrap();
    write(
        dir.path(),
        "moat.yaml",
        &good.replace("upstreams:", "upstreamz:"),
    );
    let (status, p) = post(
        &c,
        &admin_url(&moat, "/admin/reload"),
        ADMIN_TOKEN,
        Value::Null,
    )
    .await;
    assert_eq!(status, 422, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("upstreamz"), "{p}");
    // The state is opened once: a reload cannot move it.
    write(
        dir.path(),
        "moat.yaml",
        &format!("{good}state:\n  sqlite: elsewhere.db\n"),
    );
    let (status, p) = post(
        &c,
        &admin_url(&moat, "/admin/reload"),
        ADMIN_TOKEN,
        Value::Null,
    )
    .await;
    assert_eq!(status, 422, "{p}");
    assert!(
        p["detail"].as_str().unwrap().contains("`state` changed"),
        "{p}"
    );
    write(dir.path(), "moat.yaml", &good);
    let ok = wait_events(&c, &moat, "kind=config-reloaded", 1).await;
    assert!(ok.iter().any(|e| e["actor"] == "token:config"), "{ok:?}");
    let refused = wait_events(&c, &moat, "kind=config-reload-refused", 1).await;
    let by_token = refused
        .iter()
        .find(|e| e["actor"] == "token:config")
        .unwrap();
    assert_eq!(by_token["action"], "denied");
}

#[tokio::test]
async fn the_admin_listener_speaks_tls_and_refuses_plaintext_beyond_loopback() {
    let pki = pki();
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "admin.crt", &pki.cert_pem);
    write(dir.path(), "admin.key", &pki.key_pem);
    setup(dir.path(), &up.url(), "");
    let cfg = std::fs::read_to_string(dir.path().join("moat.yaml")).unwrap();
    let with_tls = cfg.replace(
        "admin:\n  bind: 127.0.0.1:0\n",
        "admin:\n  bind: 127.0.0.1:0\n  tls: {cert: admin.crt, key: admin.key}\n",
    );
    write(dir.path(), "moat.yaml", &with_tls);
    let moat = Moat::start(dir.path());
    let https = format!("https://{}/admin/session", moat.admin.unwrap());
    let (status, me) = get(&tls_client(&pki), &https, ADMIN_TOKEN).await;
    assert_eq!((status, me["role"].as_str()), (200, Some("operator")));
    // Plain HTTP to a TLS listener gets no answer.
    assert!(
        client()
            .get(admin_url(&moat, "/admin/session"))
            .send()
            .await
            .is_err()
    );
    drop(moat);

    // Any address but loopback needs TLS or an explicit opt-out.
    let remote = cfg.replace(
        "admin:\n  bind: 127.0.0.1:0\n",
        "admin:\n  bind: 0.0.0.0:0\n",
    );
    write(dir.path(), "moat.yaml", &remote);
    let err = check_fails(dir.path());
    assert!(err.contains("not a loopback address, without TLS"), "{err}");
    assert!(err.contains("allow_plaintext_remote"), "{err}");
    let opted = remote.replace(
        "admin:\n  bind: 0.0.0.0:0\n",
        "admin:\n  bind: 0.0.0.0:0\n  allow_plaintext_remote: true\n",
    );
    write(dir.path(), "moat.yaml", &opted);
    assert!(check(dir.path()).0, "{}", check(dir.path()).2);
    // A TLS key that is not a key: `moat check` says where.
    write(dir.path(), "bad.key", "not a key\n");
    write(
        dir.path(),
        "moat.yaml",
        &with_tls.replace("admin.key", "bad.key"),
    );
    let err = check_fails(dir.path());
    assert!(
        err.contains("/admin/tls/key") || err.contains("admin") && err.contains("key"),
        "{err}"
    );
}

#[tokio::test]
async fn queued_events_survive_a_graceful_stop_and_retention_keeps_the_chain() {
    let up = upstream(None).await;
    let dir = tempdir();
    setup(dir.path(), &up.url(), "");
    let c = client();
    let mut moat = Moat::start(dir.path());
    let attacks = (0..40).map(|i| {
        let c = c.clone();
        let url = moat.url(&format!("/items?q={i}%27%20OR%20%271%27%3D%271"));
        async move { get_status(&c, url).await }
    });
    let statuses = futures_util::future::join_all(attacks).await;
    assert!(statuses.iter().all(|s| *s == 403));
    // Stop at once: what was queued is written before the process exits.
    moat.signal("TERM");
    assert!(moat.wait_exit(Duration::from_secs(15)).success());
    let moat = Moat::start(dir.path());
    let (_, page) = get(
        &c,
        &admin_url(&moat, "/admin/events?kind=attack-detected&limit=1000"),
        ADMIN_TOKEN,
    )
    .await;
    // Repeats past `events.coalesce.max` (10 in 10 s) are one summary
    // event, written at the stop too: every attack is counted.
    let events = page["events"].as_array().unwrap();
    let counted: u64 = events
        .iter()
        .map(|e| 1 + e["repeats"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(counted, 40, "{events:#?}");
    assert_eq!(
        events.len(),
        11,
        "10 one by one and a summary standing for 30"
    );
    assert_eq!(events[0]["repeats"], 29, "the summary and 29 more");
    drop(moat);

    // Retention: at most 10 events; the oldest go, the chain stays whole.
    let cfg = std::fs::read_to_string(dir.path().join("moat.yaml")).unwrap();
    write(
        dir.path(),
        "moat.yaml",
        &format!("{cfg}events:\n  store: {{max_events: 10}}\n"),
    );
    let moat = Moat::start(dir.path());
    let url = admin_url(&moat, "/admin/events?limit=1000");
    let mut left = usize::MAX;
    for _ in 0..100 {
        left = get(&c, &url, ADMIN_TOKEN).await.1["events"]
            .as_array()
            .unwrap()
            .len();
        if left <= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(left, 10);
    let out = Command::new(MOAT)
        .args(["audit", "verify", "--config"])
        .arg(dir.path().join("moat.yaml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("intact"), "{text}");
}

#[tokio::test]
async fn a_full_queue_drops_events_and_answers_every_request() {
    let (_dir, _up, moat) = start("events:\n  queue: 1\n").await;
    let c = client();
    use futures_util::StreamExt;
    let statuses: Vec<u16> = futures_util::stream::iter(0..200)
        .map(|i| {
            let c = c.clone();
            let url = moat.url(&format!("/items?q={i}%27%20OR%20%271%27%3D%271"));
            async move { get_status(&c, url).await }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    // Every request was answered (refused: an injection, or later a ban).
    assert!(statuses.iter().all(|s| *s == 403), "{statuses:?}");
    let metrics = moat.metrics().await;
    let dropped: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("moat_events_dropped_total "))
        .map_or(0.0, |v| v.trim().parse().unwrap());
    let queued: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("moat_events_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert!(dropped + queued >= 200.0, "{metrics}");
    assert!(
        dropped > 0.0,
        "a queue of one took every event of 32 concurrent clients"
    );
    let (_, ov) = get(&c, &admin_url(&moat, "/admin/overview"), ADMIN_TOKEN).await;
    assert_eq!(ov["totals"]["events_dropped"].as_f64(), Some(dropped));
}

#[tokio::test]
async fn detector_bans_are_listed_and_lifted() {
    let (_dir, _up, moat) =
        start("anomaly:\n  scraping: {sustained_requests: 50, sustained_window: 1m, ban: 10m}\n")
            .await;
    let c = client();
    // More requests than anyone needs, anonymously: the scraping detector
    // bans the address's anonymous requests for a while.
    let mut banned = false;
    for _ in 0..80 {
        if get_status(&c, moat.url("/items")).await == 403 {
            banned = true;
            break;
        }
    }
    assert!(banned, "the detector did not ban");
    let (_, list) = get(&c, &admin_url(&moat, "/admin/bans"), ADMIN_TOKEN).await;
    let bans = list["bans"].as_array().unwrap().clone();
    let ban = bans
        .iter()
        .find(|b| b["source"] == "detector")
        .expect("a detector ban");
    assert_eq!(ban["subject"], "anonymous:127.0.0.1", "{ban}");
    assert!(ban["expires_at"].as_i64().unwrap() > 0);
    let anomaly = wait_events(&c, &moat, "control=anomaly", 1).await;
    assert_eq!(
        (anomaly[0]["action"].as_str(), anomaly[0]["rule"].as_str()),
        (Some("banned"), Some("scraping_sustained"))
    );
    let (status, lifted) = post(
        &c,
        &admin_url(&moat, "/admin/bans/lift"),
        ADMIN_TOKEN,
        json!({"subject": "anonymous:127.0.0.1"}),
    )
    .await;
    assert_eq!((status, lifted["lifted"].as_bool()), (200, Some(true)));
    assert_eq!(get_status(&c, moat.url("/items")).await, 200);
    let lifts = wait_events(&c, &moat, "kind=ban-lifted", 1).await;
    assert_eq!(lifts[0]["actor"], "token:config");
}

#[tokio::test]
async fn events_reach_the_events_file_and_the_webhooks() {
    let hook = upstream(None).await;
    let top = format!(
        "events:\n  file: {{target: events.jsonl, min_severity: medium}}\n  webhooks:\n    - {{url: \"{}/alerts\", format: slack}}\n",
        hook.url()
    );
    let (dir, _up, moat) = start(&top).await;
    let c = client();
    assert_eq!(
        get_status(&c, moat.url("/items?q=%27%20OR%20%271%27%3D%271")).await,
        403
    );
    // Low: in the store, not in the file (medium and up) nor the webhook
    // (high and up by default).
    assert_eq!(get_status(&c, moat.url("/private")).await, 401);
    wait_events(&c, &moat, "", 2).await;
    let path = dir.path().join("events.jsonl");
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .collect();
        if !lines.is_empty() && hook.hits() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["kind"], "attack-detected");
    let seen = hook.state.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].contains("POST /alerts"), "{seen:?}");
    drop(moat);

    // What moat will not post to, or cannot write, `moat check` refuses.
    let cfg = std::fs::read_to_string(dir.path().join("moat.yaml")).unwrap();
    let insecure = cfg.replace(
        &format!("{}/alerts", hook.url()),
        "http://alerts.example.com/x",
    );
    write(dir.path(), "moat.yaml", &insecure);
    let err = check_fails(dir.path());
    assert!(err.contains("error: webhook URL: must be https"), "{err}");
    assert!(
        !err.contains("alerts.example.com"),
        "the URL is a secret: {err}"
    );
    let nowhere = cfg.replace("target: events.jsonl", "target: no/such/dir/events.jsonl");
    write(dir.path(), "moat.yaml", &nowhere);
    let err = check_fails(dir.path());
    assert!(err.contains("the events file"), "{err}");
}

#[tokio::test]
async fn a_flood_of_one_attack_is_stored_as_a_few_events_and_a_count() {
    let (_dir, _up, moat) = start("events:\n  coalesce: {max: 5, window: 1s}\n").await;
    let c = client();
    for i in 0..50 {
        let url = moat.url(&format!("/items?q={i}%27%20OR%20%271%27%3D%271"));
        assert_eq!(get_status(&c, url).await, 403);
    }
    // Another kind from the same address is its own group.
    assert_eq!(get_status(&c, moat.url("/nowhere")).await, 404);
    let mut events = Vec::new();
    for _ in 0..100 {
        events = wait_events(&c, &moat, "kind=attack-detected", 5).await;
        if events.iter().any(|e| e["repeats"].is_number()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(events.len(), 6, "{events:#?}");
    assert_eq!(events[0]["repeats"], 44, "the summary and 44 more");
    assert!(
        events[0]["evidence"]
            .as_str()
            .unwrap()
            .starts_with("45 like this in 1s")
    );
    assert_eq!(
        wait_events(&c, &moat, "kind=shadow-endpoint", 1)
            .await
            .len(),
        1
    );
    // The overview counts what the summary stands for.
    let (_, ov) = get(
        &c,
        &admin_url(&moat, "/admin/overview?window=15m"),
        ADMIN_TOKEN,
    )
    .await;
    assert_eq!(ov["totals"]["events"], 51);
    assert_eq!(ov["top_operations"][0]["events"], 50);
}
