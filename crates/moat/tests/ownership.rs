//! Learned object ownership through the real binary: owners recorded from
//! create answers of a real upstream, enforced across consumers, kept in
//! the SQLite state file across restarts, forgotten on delete.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::*;

const ORDERS_SPEC: &str = r#"
openapi: 3.0.3
info: {title: orders, version: "1"}
security: [{Basic: []}]
paths:
  /tickets:
    post:
      operationId: createOrder
      responses: {"201": {description: created}}
  /tickets/{orderId}:
    parameters: [{name: orderId, in: path, required: true, schema: {type: integer}}]
    get: {operationId: getOrder, responses: {"200": {description: ok}}}
    delete: {operationId: deleteOrder, responses: {"200": {description: gone}}}
components:
  securitySchemes:
    Basic: {type: http, scheme: basic}
"#;

const LEARN: &str = "    security:\n      Basic: {type: basic}\n    object_access:\n      exempt_roles: [support]\n      learn:\n        - kind: order\n          create: createOrder\n          id_pointer: /order/id\n          parameter: orderId\n          operations: [getOrder, deleteOrder]\n";

/// A config for alice, bob and sam (role `support`), all with password
/// `pw`, with `api` lines added to the API entry.
fn orders_config(upstream: &str, api: &str) -> String {
    let h = hash_password("pw");
    let mut cfg = format!("{}consumers:\n", config(upstream, api));
    for (id, roles) in [("alice", "[]"), ("bob", "[]"), ("sam", "[support]")] {
        cfg.push_str(&format!(
            "  - id: {id}\n    roles: {roles}\n    basic: {{username: {id}, password_hash: \"{h}\"}}\n"
        ));
    }
    cfg
}

struct Caller {
    client: reqwest::Client,
    base: String,
}

impl Caller {
    fn new(moat: &Moat) -> Self {
        Self {
            client: client(),
            base: moat.url(""),
        }
    }

    async fn send(&self, user: &str, method: reqwest::Method, path: &str) -> (u16, String) {
        let r = self
            .client
            .request(method, format!("{}{path}", self.base))
            .basic_auth(user, Some("pw"))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn get(&self, user: &str, path: &str) -> u16 {
        self.send(user, reqwest::Method::GET, path).await.0
    }

    async fn delete(&self, user: &str, path: &str) -> u16 {
        self.send(user, reqwest::Method::DELETE, path).await.0
    }

    /// Creates an order; returns the id the upstream gave it.
    async fn create(&self, user: &str, query: &str) -> u64 {
        let (status, body) = self
            .send(user, reqwest::Method::POST, &format!("/tickets{query}"))
            .await;
        assert_eq!(status, 201, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["order"]["id"].as_u64().unwrap()
    }
}

#[tokio::test]
async fn owners_learned_from_creates_keep_other_consumers_out() {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ORDERS_SPEC);
    write(dir.path(), "moat.yaml", &orders_config(&up.url(), LEARN));
    let mut moat = Moat::start(dir.path());
    let c = Caller::new(&moat);

    let alices = c.create("alice", "").await;
    let bobs = c.create("bob", "").await;
    assert_ne!(alices, bobs);

    // Each owner reaches their own order, in any spelling of its id.
    assert_eq!(c.get("alice", &format!("/tickets/{alices}")).await, 200);
    assert_eq!(c.get("alice", &format!("/tickets/00{alices}")).await, 200);
    assert_eq!(c.get("bob", &format!("/tickets/{bobs}")).await, 200);
    let hits = up.hits();

    // Another consumer does not, in any spelling, for any operation naming it.
    let (status, body) = c
        .send("bob", reqwest::Method::GET, &format!("/tickets/{alices}"))
        .await;
    assert_eq!(status, 403);
    assert!(
        body.contains("urn:moat:problem:ownership-violation"),
        "{body}"
    );
    assert_eq!(c.get("bob", &format!("/tickets/0{alices}")).await, 403);
    assert_eq!(c.delete("bob", &format!("/tickets/{alices}")).await, 403);
    assert_eq!(c.get("alice", &format!("/tickets/{bobs}")).await, 403);
    assert_eq!(up.hits(), hits, "refused requests never reach the upstream");
    let log = moat
        .wait_log(|l| l["finding"] == "ownership-violation" && l["consumer"] == "bob")
        .await;
    assert_eq!(log["operation"], "getOrder");
    assert_eq!(log["status"], 403);

    // The exempt role reaches everything; unknown ids are forwarded.
    assert_eq!(c.get("sam", &format!("/tickets/{alices}")).await, 200);
    assert_eq!(c.get("bob", "/tickets/9999").await, 200);

    // An upstream that answers a create with an id someone owns does not
    // move the object to the new caller.
    assert_eq!(c.create("alice", &format!("?reuse={bobs}")).await, bobs);
    moat.wait_log(|l| l["finding"] == "ownership-conflict")
        .await;
    assert_eq!(c.get("alice", &format!("/tickets/{bobs}")).await, 403);

    // A successful delete by the owner forgets the object; whoever the
    // upstream gives the id to next owns it.
    assert_eq!(c.delete("alice", &format!("/tickets/{alices}")).await, 200);
    assert_eq!(c.create("bob", &format!("?reuse={alices}")).await, alices);
    assert_eq!(c.get("alice", &format!("/tickets/{alices}")).await, 403);
    assert_eq!(c.get("bob", &format!("/tickets/{alices}")).await, 200);

    // Records are in the state file: a restarted gateway still knows them.
    moat.signal("TERM");
    assert!(moat.wait_exit(Duration::from_secs(10)).success());
    let moat = Moat::start(dir.path());
    let c = Caller::new(&moat);
    assert_eq!(c.get("alice", &format!("/tickets/{alices}")).await, 403);
    assert_eq!(c.get("bob", &format!("/tickets/{alices}")).await, 200);
    assert_eq!(c.get("alice", &format!("/tickets/{bobs}")).await, 403);
    assert!(dir.path().join("moat.db").exists());
}

#[tokio::test]
async fn unknown_objects_can_be_refused() {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ORDERS_SPEC);
    let api = format!("{LEARN}      unknown_objects: deny\n");
    write(dir.path(), "moat.yaml", &orders_config(&up.url(), &api));
    let moat = Moat::start(dir.path());
    let c = Caller::new(&moat);
    assert_eq!(c.get("alice", "/tickets/9999").await, 403);
    assert_eq!(c.get("sam", "/tickets/9999").await, 200);
    let id = c.create("alice", "").await;
    assert_eq!(c.get("alice", &format!("/tickets/{id}")).await, 200);
    assert_eq!(c.get("bob", &format!("/tickets/{id}")).await, 403);
}

#[test]
fn learning_rules_that_do_not_fit_the_document_are_config_errors() {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ORDERS_SPEC);
    let api = LEARN
        .replace("create: createOrder", "create: createOrdr")
        .replace("[getOrder, deleteOrder]", "[getOrder, listOrders]");
    write(
        dir.path(),
        "moat.yaml",
        &orders_config("http://127.0.0.1:9", &api),
    );
    let err = check_fails(dir.path());
    assert!(err.contains("moat.yaml:19:11: error: `order`"), "{err}");
    assert!(err.contains("did you mean `createOrder`?"), "{err}");
    assert!(
        err.contains("no operation has the operationId `listOrders`"),
        "{err}"
    );
}
