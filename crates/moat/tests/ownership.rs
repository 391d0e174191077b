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

/// Notes named by their creator (the title in the create request, or the
/// path), and profiles whose answer names their owner.
const NAMED_SPEC: &str = r#"
openapi: 3.0.3
info: {title: notes, version: "1"}
security: [{Basic: []}]
paths:
  /notes:
    post:
      operationId: createNote
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties: {title: {type: string}, text: {type: string}}
      responses: {"200": {description: created}}
  /notes/{title}:
    parameters: [{name: title, in: path, required: true, schema: {type: string}}]
    get: {operationId: getNote, responses: {"200": {description: ok}}}
    put: {operationId: putDraft, responses: {"200": {description: ok}}}
  /drafts/{name}:
    parameters: [{name: name, in: path, required: true, schema: {type: string}}]
    put: {operationId: createDraft, responses: {"200": {description: created}}}
    get: {operationId: getDraft, responses: {"200": {description: ok}}}
  /owned/{who}:
    parameters: [{name: who, in: path, required: true, schema: {type: string}}]
    get: {operationId: getProfile, responses: {"200": {description: ok}}}
components:
  securitySchemes:
    Basic: {type: http, scheme: basic}
"#;

const NAMED: &str = "    security:\n      Basic: {type: basic}\n    object_access:\n      exempt_roles: [support]\n      learn:\n        - {kind: note, create: createNote, request_pointer: /title, parameter: title, operations: [getNote, putDraft]}\n        - {kind: draft, create: createDraft, request_parameter: name, parameter: name, operations: [getDraft]}\n      answer_bindings:\n        - {operation: getProfile, pointer: /owner}\n";

#[tokio::test]
async fn objects_named_in_their_create_request_are_owned_by_their_creator() {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", NAMED_SPEC);
    write(dir.path(), "moat.yaml", &orders_config(&up.url(), NAMED));
    let moat = Moat::start(dir.path());
    let c = Caller::new(&moat);
    let post = |user: &'static str, title: &'static str| {
        let client = c.client.clone();
        let url = format!("{}/notes", c.base);
        async move {
            client
                .post(url)
                .basic_auth(user, Some("pw"))
                .json(&serde_json::json!({"title": title, "text": "hello"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // The upstream's create answer carries no id: the title names the note.
    assert_eq!(post("alice", "alice diary").await, 200);
    assert_eq!(c.get("alice", "/notes/alice%20diary").await, 200);
    assert_eq!(c.get("bob", "/notes/alice%20diary").await, 403);
    assert_eq!(
        c.send("bob", reqwest::Method::PUT, "/notes/alice%20diary")
            .await
            .0,
        403
    );
    assert_eq!(c.get("sam", "/notes/alice%20diary").await, 200, "support");
    // Bob cannot take it over by "creating" it again: the first owner keeps it.
    assert_eq!(post("bob", "alice diary").await, 200);
    assert_eq!(c.get("bob", "/notes/alice%20diary").await, 403);
    moat.wait_log(|l| l["finding"] == "ownership-conflict")
        .await;

    // Named by the create request's path parameter.
    assert_eq!(
        c.send("bob", reqwest::Method::PUT, "/drafts/plan").await.0,
        200
    );
    assert_eq!(c.get("bob", "/drafts/plan").await, 200);
    assert_eq!(c.get("alice", "/drafts/plan").await, 403);
}

#[tokio::test]
async fn an_answer_that_names_another_owner_is_withheld() {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", NAMED_SPEC);
    write(dir.path(), "moat.yaml", &orders_config(&up.url(), NAMED));
    let moat = Moat::start(dir.path());
    let c = Caller::new(&moat);
    let (status, body) = c.send("alice", reqwest::Method::GET, "/owned/alice").await;
    assert_eq!(status, 200);
    assert!(body.contains("private"));
    let (status, body) = c.send("alice", reqwest::Method::GET, "/owned/bob").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("ownership-violation"), "{body}");
    assert!(!body.contains("private"), "{body}");
    assert_eq!(c.get("sam", "/owned/bob").await, 200, "support");
    assert_eq!(up.hits(), 3);
}

#[test]
fn a_learning_rule_names_its_id_one_way() {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", NAMED_SPEC);
    let api = "    security:\n      Basic: {type: basic}\n    object_access:\n      learn:\n        - {kind: note, create: createNote, id_pointer: /id, request_pointer: /title, parameter: title, operations: [getNote]}\n        - {kind: draft, create: createDraft, request_parameter: nope, parameter: name, operations: [getDraft]}\n      answer_bindings:\n        - {operation: getProfile, pointer: owner}\n";
    write(
        dir.path(),
        "moat.yaml",
        &orders_config("http://127.0.0.1:9", api),
    );
    let err = check_fails(dir.path());
    assert!(
        err.contains("give one of `id_pointer`, `request_pointer` and `request_parameter`"),
        "{err}"
    );
    assert!(
        err.contains("has no path or query parameter `nope`"),
        "{err}"
    );
    assert!(err.contains("`pointer` must be a JSON pointer"), "{err}");
}
