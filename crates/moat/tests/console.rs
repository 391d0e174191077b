//! The web console end to end: the real moat binary with its admin listener,
//! a real upstream, and Debian's `chromium` driven through `chromedriver`
//! (WebDriver). Attacks go through the gateway and are watched arriving in
//! the console; keys made in the console are used through the gateway.
//!
//! chromium and chromedriver must be installed (`chromium`,
//! `chromium-driver`); without them these tests fail, they never skip.
//! Screenshots of every view at laptop and phone widths are written to
//! `<target>/console-screenshots/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::{Client, ClientBuilder, Locator, elements::Element, key::Key};
use serde_json::{Value, json};
use support::*;

/// `/items` needs an API key; `/public` needs nothing and takes a query.
const SPEC: &str = r#"
openapi: 3.0.3
info: {title: shop, version: "1"}
paths:
  /items:
    get:
      operationId: listItems
      security: [{ApiKey: []}]
      responses: {"200": {description: ok}}
  /public:
    get:
      operationId: search
      parameters: [{name: q, in: query, schema: {type: string}}]
      responses: {"200": {description: ok}}
components:
  securitySchemes:
    ApiKey: {type: apiKey, in: header, name: X-Api-Key}
"#;

const PEPPER: &str = "console-test-pepper-0123456789-abcdefghijkl";
const LAPTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (375, 800);
const WAIT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------
// The gateway.

struct Gateway {
    _dir: tempfile::TempDir,
    _upstream: Upstream,
    moat: Moat,
    /// An operator token made with `moat admin token create`.
    operator: String,
    /// A viewer token.
    viewer: String,
}

impl Gateway {
    async fn start() -> Gateway {
        let upstream = upstream(None).await;
        let dir = tempdir();
        write(dir.path(), "spec.yaml", SPEC);
        // Repeats coalesced quickly (3 a second), so a test sees a summary;
        // every exchange's shape captured, so the inventory shows them.
        let text = format!(
            "{}keys:\n  pepper: {PEPPER}\nconsumers:\n  - id: alice\n\
             events:\n  coalesce: {{max: 3, window: 1s}}\n\
             discovery:\n  capture: {{sample: 1}}\n",
            config(
                &upstream.url(),
                "    security:\n      ApiKey: {type: api_key}\n"
            )
        );
        write(dir.path(), "moat.yaml", &text);
        let moat = Moat::start(dir.path());
        let operator = create_admin_token(dir.path(), "console-operator", "operator");
        let viewer = create_admin_token(dir.path(), "console-viewer", "viewer");
        Gateway {
            _dir: dir,
            _upstream: upstream,
            moat,
            operator,
            viewer,
        }
    }

    fn admin(&self) -> SocketAddr {
        self.moat.admin.expect("an admin listener")
    }

    fn console(&self) -> String {
        format!("http://{}/console/", self.admin())
    }

    /// POSTs `body` to the admin API with the operator token; the answer.
    async fn admin_post(&self, path: &str, body: Value) -> Value {
        let r = client()
            .post(format!("http://{}{path}", self.admin()))
            .bearer_auth(&self.operator)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// The status of a GET through the gateway, with `key` in `X-Api-Key`.
    async fn get(&self, path: &str, key: Option<&str>) -> u16 {
        let mut r = client().get(self.moat.url(path));
        if let Some(k) = key {
            r = r.header("x-api-key", k);
        }
        r.send().await.unwrap().status().as_u16()
    }
}

// ---------------------------------------------------------------------------
// The browser.

/// A running chromedriver, ended on drop.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts chromedriver on a free loopback port. chromedriver cannot pick
/// its own port (`--port=0` is refused), so one is found by binding and
/// releasing it; another process may take it meanwhile, hence the retries.
async fn chromedriver() -> Driver {
    let mut last = String::new();
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run chromedriver ({e}): the console tests need the Debian \
                     packages chromium and chromium-driver"
                )
            });
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                last = format!("chromedriver on port {port} exited: {status}");
                break;
            }
            let ready = client()
                .get(format!("http://127.0.0.1:{port}/status"))
                .send()
                .await
                .ok()
                .and_then(|r| r.status().is_success().then_some(r));
            if let Some(r) = ready {
                let status: Value = r.json().await.unwrap();
                if status["value"]["ready"] == true {
                    return Driver {
                        child,
                        port,
                        _profile: tempdir(),
                    };
                }
            }
            if Instant::now() > deadline {
                last = format!("chromedriver on port {port} never became ready");
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    panic!("{last}");
}

/// A headless chromium session at `size`.
struct Browser {
    client: Client,
    session: String,
    closed: bool,
    driver: Driver,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A failing test never reaches `close`: end the session here, so
        // that chromedriver quits the chromium it started before chromedriver
        // itself is ended. Blocking, as drop cannot wait for a future.
        if !self.closed {
            end_session(self.driver.port, &self.session);
        }
    }
}

/// `DELETE /session/{id}` over a plain blocking socket.
fn end_session(port: u16, id: &str) {
    use std::io::{Read, Write};
    if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = write!(
            s,
            "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
    }
}

impl Browser {
    async fn start(size: (u32, u32)) -> Browser {
        let driver = chromedriver().await;
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            format!("--window-size={},{}", size.0, size.1),
            format!("--user-data-dir={}", driver._profile.path().display()),
        ];
        let caps = json!({"browserName": "chrome", "goog:chromeOptions": {"args": args}});
        let caps = match caps {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .unwrap_or_else(|e| {
                panic!("chromium did not start (is the Debian package chromium installed?): {e}")
            });
        let session = client.session_id().await.unwrap().unwrap();
        let b = Browser {
            client,
            session,
            closed: false,
            driver,
        };
        b.client.set_window_size(size.0, size.1).await.unwrap();
        b
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        self.closed = true;
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Navigates within the console (hash routes).
    async fn route(&self, path: &str) {
        self.js(&format!("location.hash = '#{path}'")).await;
    }

    /// The one element with `data-test="{name}"`, waited for.
    async fn el(&self, name: &str) -> Element {
        self.find(&format!("[data-test=\"{name}\"]")).await
    }

    async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                return e;
            }
            if Instant::now() > deadline {
                self.fail(&format!("no element matches {css}")).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Waits until `script` (a JS expression) is truthy; returns its value.
    async fn until(&self, what: &str, expr: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self.js(&format!("return {expr};")).await;
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                self.fail(&format!("timed out waiting for {what} ({expr})"))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Fails the test with a screenshot of the page and its text.
    async fn fail(&self, why: &str) -> ! {
        let test = std::thread::current()
            .name()
            .unwrap_or("test")
            .replace("::", "-");
        self.screenshot(&format!("failure-{test}")).await;
        let text = self
            .js("return document.body.innerText")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string();
        panic!("{why}\npage text:\n{text}");
    }

    async fn type_into(&self, name: &str, text: &str) {
        let e = self.el(name).await;
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    /// Presses and releases `key` wherever the focus is.
    async fn press(&self, key: Key) {
        let k: char = key.into();
        let actions = KeyActions::new("keyboard".to_string())
            .then(KeyAction::Down { value: k })
            .then(KeyAction::Up { value: k });
        self.client.perform_actions(actions).await.unwrap();
    }

    async fn click(&self, name: &str) {
        self.el(name).await.click().await.unwrap();
    }

    async fn select(&self, name: &str, value: &str) {
        self.el(name).await.select_by_value(value).await.unwrap();
    }

    /// Saves a PNG to `<target>/console-screenshots/{name}.png`.
    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Logs in with the operator token and waits for the overview.
    async fn login(&self, gw: &Gateway) {
        self.login_with(gw, &gw.operator).await;
    }

    async fn login_with(&self, gw: &Gateway, token: &str) {
        self.goto(&gw.console()).await;
        self.type_into("login-token", token).await;
        self.click("login-submit").await;
        self.el("overview").await;
    }

    /// The page is no wider than the window: nothing scrolls sideways but
    /// the tables, inside their own boxes.
    async fn assert_fits(&self, view: &str) {
        let v = self
            .js("const d = document.documentElement; return [d.scrollWidth, d.clientWidth];")
            .await;
        let (scroll, client) = (v[0].as_u64().unwrap(), v[1].as_u64().unwrap());
        assert!(
            scroll <= client,
            "{view}: the page is {scroll} px wide in a {client} px window"
        );
    }
}

fn screenshot_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp.
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("console-screenshots")
}

/// The number of event rows shown.
const ROWS: &str = "document.querySelectorAll('[data-test=event-row]').length";

/// A JS expression: every row's `data-test` cell texts, as an array.
fn cells(name: &str) -> String {
    format!(
        "[...document.querySelectorAll('[data-test=event-row] [data-test={name}]')].map(e => e.textContent)"
    )
}

// ---------------------------------------------------------------------------
// The scenarios.

#[tokio::test]
async fn login_refuses_a_wrong_token_and_logout_forgets_the_right_one() {
    let gw = Gateway::start().await;
    // The page is served without a token, under its policy.
    let r = client().get(gw.console()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let r = client()
        .get(format!("{}app.js", gw.console()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let b = Browser::start(LAPTOP).await;
    b.goto(&gw.console()).await;
    b.type_into("login-token", "not-the-admin-token-0123456789")
        .await;
    b.click("login-submit").await;
    let msg = b
        .until(
            "the refusal",
            "!document.querySelector('[data-test=login-error]').hidden && document.querySelector('[data-test=login-error]').textContent",
        )
        .await;
    assert_eq!(msg, "The token was refused.");
    assert_eq!(b.js("return sessionStorage.length").await, json!(0));
    b.screenshot("login-refused-1280").await;

    b.type_into("login-token", &gw.operator).await;
    b.click("login-submit").await;
    b.el("overview").await;
    assert_eq!(
        b.el("session-name").await.text().await.unwrap(),
        "console-operator (operator)"
    );
    // The token is kept for this tab only: in sessionStorage, not in
    // localStorage, cookies or the URL.
    assert_eq!(
        b.js("return sessionStorage.getItem('moat.token')").await,
        json!(gw.operator)
    );
    assert_eq!(b.js("return localStorage.length").await, json!(0));
    assert_eq!(b.js("return document.cookie").await, json!(""));
    assert!(
        !b.client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains(&gw.operator)
    );

    b.click("logout").await;
    b.el("login-form").await;
    assert_eq!(
        b.js("return sessionStorage.getItem('moat.token')").await,
        Value::Null
    );
    // Without a token every view leads back to the login form.
    b.route("/events").await;
    b.until("the login form", "location.hash === '#/login'")
        .await;
    b.el("login-form").await;
    b.close().await;
}

#[tokio::test]
async fn attacks_appear_live_and_can_be_filtered_and_opened() {
    let gw = Gateway::start().await;
    let b = Browser::start(LAPTOP).await;
    b.login(&gw).await;
    b.route("/events").await;
    b.until(
        "the live stream",
        "document.querySelector('[data-test=events-live-state]').textContent === 'live'",
    )
    .await;
    let before = b.js(&format!("return {ROWS}")).await.as_u64().unwrap();

    // Attacks through the gateway, while the page only listens.
    assert_eq!(gw.get("/public?q=' OR 1=1--", None).await, 403);
    assert_eq!(
        gw.get("/public?q=<script>document.title='owned'</script>", None)
            .await,
        403
    );
    assert_eq!(gw.get("/wp-login.php", None).await, 404);
    b.until(
        "three new events, live",
        &format!("{ROWS} >= {} ", before + 3),
    )
    .await;
    let controls = b.js(&format!("return {}", cells("event-control"))).await;
    let controls: Vec<&str> = controls
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(controls.contains(&"inspection"), "{controls:?}");
    assert!(controls.contains(&"routing"), "{controls:?}");
    // Attacker text is shown as text: nothing it carries becomes markup.
    assert_eq!(
        b.js("return document.querySelectorAll('main script, main img').length")
            .await,
        json!(0)
    );
    assert_ne!(b.js("return document.title").await, json!("owned"));
    b.screenshot("events-live-1280").await;

    // Filter by control: only routing events remain.
    b.select("filter-control", "routing").await;
    b.click("filters-apply").await;
    b.until(
        "only routing events",
        &format!(
            "{ROWS} > 0 && {}.every(c => c === 'routing')",
            cells("event-control")
        ),
    )
    .await;
    let paths = b.js(&format!("return {}", cells("event-path"))).await;
    assert!(
        paths
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().contains("/wp-login.php")),
        "{paths}"
    );

    // Filter by severity ("at least"): high or critical only.
    b.select("filter-control", "").await;
    b.select("filter-severity", "high").await;
    b.click("filters-apply").await;
    b.until(
        "only high and critical events",
        &format!(
            "{ROWS} > 0 && {}.every(s => s === 'high' || s === 'critical')",
            cells("event-severity")
        ),
    )
    .await;
    let severities = b.js(&format!("return {}", cells("event-severity"))).await;
    b.select("filter-severity", "").await;
    b.click("filters-apply").await;
    b.until(
        "every event again",
        &format!(
            "{ROWS} > {}",
            severities.as_array().map(Vec::len).unwrap_or(0)
        ),
    )
    .await;

    // A row is reached with the keyboard and opened with Enter.
    let row = b.find("[data-test=event-row]").await;
    let seq = row.attr("data-seq").await.unwrap().unwrap();
    b.js(&format!(
        "document.querySelector('[data-test=event-row][data-seq=\"{seq}\"]').focus()"
    ))
    .await;
    let focused = b.client.active_element().await.unwrap();
    assert_eq!(
        focused.attr("data-seq").await.unwrap().as_deref(),
        Some(seq.as_str())
    );
    focused.send_keys(&Key::Enter.to_string()).await.unwrap();
    b.el("event-detail").await;
    let seq_shown = b.el("detail-seq").await.text().await.unwrap();
    assert!(seq_shown.ends_with(&seq), "{seq_shown}");
    for field in ["detail-time", "detail-id", "detail-control", "detail-hash"] {
        b.el(field).await;
    }
    assert_eq!(
        b.js("return document.querySelectorAll('[data-test=event-detail] script, [data-test=event-detail] img').length")
            .await,
        json!(0)
    );
    // Times are local, with UTC in the title.
    let title = b
        .find("[data-test=detail-time] time")
        .await
        .attr("title")
        .await
        .unwrap()
        .unwrap();
    assert!(title.ends_with(" UTC"), "{title}");
    b.screenshot("detail-keyboard-1280").await;

    // Back, then open the inspection event with a click.
    b.click("detail-back").await;
    b.select("filter-control", "inspection").await;
    b.click("filters-apply").await;
    b.until(
        "only inspection events",
        &format!(
            "{ROWS} > 0 && {}.every(c => c === 'inspection')",
            cells("event-control")
        ),
    )
    .await;
    b.find("[data-test=event-row]").await.click().await.unwrap();
    let control = b.el("detail-control").await.text().await.unwrap();
    assert!(control.ends_with("inspection"), "{control}");
    // The newest inspection event is the XSS attempt: its evidence names
    // the `<script>` tag, which the page shows as text, not as an element.
    let evidence = b.el("detail-evidence").await.text().await.unwrap();
    assert!(evidence.contains("<script>"), "{evidence}");
    assert_eq!(
        b.js("return document.querySelectorAll('main script').length")
            .await,
        json!(0)
    );
    b.close().await;
}

#[tokio::test]
async fn a_key_made_in_the_console_is_shown_once_works_rotates_and_is_revoked() {
    let gw = Gateway::start().await;
    let b = Browser::start(LAPTOP).await;
    b.login(&gw).await;
    b.route("/keys").await;
    b.find("[data-test=consumer-row][data-consumer=alice]")
        .await;

    b.type_into("key-consumer", "alice").await;
    b.type_into("key-name", "laptop").await;
    b.click("key-create").await;
    b.el("key-dialog").await;
    let key = b.el("new-key").await.prop("value").await.unwrap().unwrap();
    assert!(key.len() >= 32, "{key}");
    let warning = b.el("key-warning").await.text().await.unwrap();
    assert!(warning.contains("only time"), "{warning}");
    b.screenshot("key-created-1280").await;
    b.click("key-dialog-close").await;
    // Shown once: once the dialog is closed the key is nowhere in the page.
    b.until(
        "the dialog closed",
        "!document.querySelector('[data-test=key-dialog]')",
    )
    .await;
    let everywhere = b
        .js("return document.documentElement.outerHTML + [...document.querySelectorAll('input')].map(i => i.value).join(' ')")
        .await;
    assert!(!everywhere.as_str().unwrap().contains(&key));

    // The key works through the gateway.
    assert_eq!(gw.get("/items", Some(&key)).await, 200);
    let row = b.find("[data-test=key-row][data-status=active]").await;
    let key_id = row.attr("data-key-id").await.unwrap().unwrap();

    // Rotate it: a successor, shown once; the old key keeps working for
    // the grace period.
    row.find(Locator::Css("[data-test=key-rotate]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.click("confirm-ok").await;
    b.el("key-dialog").await;
    let successor = b.el("new-key").await.prop("value").await.unwrap().unwrap();
    let successor_id = b.el("new-key-id").await.text().await.unwrap();
    assert_ne!(successor, key);
    assert_ne!(successor_id, key_id);
    b.click("key-dialog-close").await;
    b.find(&format!(
        "[data-test=key-row][data-key-id=\"{successor_id}\"][data-status=active]"
    ))
    .await;
    assert_eq!(gw.get("/items", Some(&successor)).await, 200);
    assert_eq!(gw.get("/items", Some(&key)).await, 200);

    // Revoke the old key in the console, after a confirmation.
    b.find(&format!(
        "[data-test=key-row][data-key-id=\"{key_id}\"] [data-test=key-revoke]"
    ))
    .await
    .click()
    .await
    .unwrap();
    b.click("confirm-ok").await;
    b.find(&format!(
        "[data-test=key-row][data-key-id=\"{key_id}\"][data-status=revoked]"
    ))
    .await;
    b.screenshot("key-revoked-1280").await;

    // The gateway refuses it now, and still takes its successor.
    let deadline = Instant::now() + WAIT;
    loop {
        let status = gw.get("/items", Some(&key)).await;
        if status == 401 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the revoked key still gets {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(gw.get("/items", Some(&successor)).await, 200);
    b.close().await;
}

#[tokio::test]
async fn bans_are_added_and_lifted() {
    let gw = Gateway::start().await;
    let b = Browser::start(LAPTOP).await;
    b.login(&gw).await;
    b.route("/bans").await;
    b.el("ban-form").await;
    b.select("ban-kind", "address").await;
    b.type_into("ban-subject", "203.0.113.7").await;
    b.type_into("ban-reason", "scanning").await;
    b.click("ban-add").await;
    let row = b
        .find("[data-test=ban-row][data-subject=\"address:203.0.113.7\"]")
        .await;
    assert!(row.text().await.unwrap().contains("scanning"));
    b.screenshot("ban-added-1280").await;
    row.find(Locator::Css("[data-test=ban-lift]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.click("confirm-ok").await;
    b.until(
        "the ban gone",
        "!document.querySelector('[data-test=ban-row][data-subject=\"address:203.0.113.7\"]')",
    )
    .await;
    b.close().await;
}

/// The console's own event-stream parser, in the browser, fed the way a
/// network delivers: fields, line ends and CRLF pairs split across chunks.
#[tokio::test]
async fn the_event_stream_parser_survives_any_chunking() {
    let gw = Gateway::start().await;
    let b = Browser::start(LAPTOP).await;
    b.goto(&gw.console()).await;
    b.el("login-form").await;
    let chunks = json!([
        ": a comment\n",
        "id: 1\nevent: security-event\nda",
        "ta: {\"a\":\r",
        "\ndata: 1}\r\n\r",
        "\n",
        "data: x\n\n",
        "event: no-data-so-no-message\n\n",
        "retry: 5000\n",
        // The last message ends with CR CR and nothing follows: it is
        // complete, although a CR could begin a CRLF.
        "id: 2\ndata:y\r\r",
    ]);
    let got = b
        .client
        .execute_async(
            "const [chunks, done] = arguments;
             import('./sse.js').then(({ SseParser }) => {
               const got = [];
               const p = new SseParser((m) => got.push(m));
               for (const c of chunks) p.push(c);
               done({ got, retry: p.retry });
             }, (e) => done(String(e)));",
            vec![chunks],
        )
        .await
        .unwrap();
    assert_eq!(
        got,
        json!({
            "got": [
                {"id": "1", "event": "security-event", "data": "{\"a\":\n1}"},
                {"id": "1", "event": "message", "data": "x"},
                {"id": "2", "event": "message", "data": "y"},
            ],
            "retry": 5000,
        })
    );
    b.close().await;
}

#[tokio::test]
async fn a_viewer_sees_everything_and_is_offered_no_changes() {
    let gw = Gateway::start().await;
    gw.admin_post("/admin/keys", json!({"consumer": "alice"}))
        .await;
    gw.admin_post("/admin/bans", json!({"subject": "consumer:mallory"}))
        .await;
    let b = Browser::start(LAPTOP).await;
    b.login_with(&gw, &gw.viewer).await;
    assert_eq!(
        b.el("session-name").await.text().await.unwrap(),
        "console-viewer (viewer)"
    );
    // Each view is waited for by something only it shows.
    for (view, ready, forbidden) in [
        (
            "keys",
            "[data-test=key-row]",
            "[data-test=key-create-form], [data-test=key-rotate], [data-test=key-revoke]",
        ),
        (
            "bans",
            "[data-test=ban-row]",
            "[data-test=ban-form], [data-test=ban-lift]",
        ),
    ] {
        b.route(&format!("/{view}")).await;
        b.find(ready).await;
        let n = b
            .js(&format!(
                "return document.querySelectorAll('{forbidden}').length"
            ))
            .await;
        assert_eq!(n, json!(0), "{view} offers a viewer a change");
    }
    b.close().await;
}

#[tokio::test]
async fn every_view_fits_a_laptop_and_a_phone() {
    let gw = Gateway::start().await;
    // Something to show: allowed requests, attacks, shadow endpoints, a
    // key and a ban (made through the admin API).
    for _ in 0..8 {
        assert_eq!(gw.get("/public?q=books", None).await, 200);
    }
    assert_eq!(gw.get("/public?q=' OR 1=1--", None).await, 403);
    assert_eq!(
        gw.get("/public?q=<script>alert(1)</script>", None).await,
        403
    );
    assert_eq!(gw.get("/wp-login.php", None).await, 404);
    assert_eq!(gw.get("/.env", None).await, 404);
    assert_eq!(gw.get("/items", None).await, 401);
    let key = gw
        .admin_post("/admin/keys", json!({"consumer": "alice", "name": "ci"}))
        .await;
    assert_eq!(gw.get("/items", key["key"].as_str()).await, 200);
    gw.admin_post(
        "/admin/bans",
        json!({"subject": "address:203.0.113.0/24", "reason": "scanning", "duration": "24h"}),
    )
    .await;

    for (width, height) in [LAPTOP, PHONE] {
        let b = Browser::start((width, height)).await;
        b.goto(&gw.console()).await;
        b.el("login-form").await;
        b.assert_fits("login").await;
        b.screenshot(&format!("login-{width}")).await;
        b.login(&gw).await;

        b.until(
            "the charts",
            "document.querySelectorAll('[data-test=chart-outcomes] rect').length > 0",
        )
        .await;
        let events = b.el("total-events").await.text().await.unwrap();
        assert_ne!(events, "0", "the overview counts the events");
        b.select("overview-window", "15m").await;
        b.el("chart-denials").await;
        b.assert_fits("overview").await;
        b.screenshot(&format!("overview-{width}")).await;

        for (view, ready) in [
            ("events", "[data-test=event-row]"),
            ("inventory", "[data-test=inventory-row]"),
            ("keys", "[data-test=consumer-row]"),
            ("bans", "[data-test=ban-row]"),
        ] {
            b.route(&format!("/{view}")).await;
            b.find(ready).await;
            if view == "inventory" {
                // A shadow endpoint captured from traffic, refused (404)
                // in enforce mode and still recorded.
                let row = b
                    .find("[data-test=discovered-row][data-standing=shadow]")
                    .await;
                let text = row.text().await.unwrap();
                assert!(
                    text.contains("/wp-login.php") || text.contains("/.env"),
                    "{text}"
                );
                assert!(text.contains("404"), "{text}");
                // Scored like the documented operations: shadow is a factor.
                let risk = row
                    .find(Locator::Css("[data-test=discovered-risk]"))
                    .await
                    .unwrap();
                let factors = risk.attr("title").await.unwrap().unwrap_or_default();
                assert!(factors.contains("not in the API's document"), "{factors}");
            }
            b.assert_fits(view).await;
            b.screenshot(&format!("{view}-{width}")).await;
        }
        // Each operation's risk: its level and score, the factors on hover.
        b.route("/inventory").await;
        let risk = b.find("[data-test=inventory-risk]").await;
        let text = risk.text().await.unwrap();
        let (level, score) = text.split_once(' ').unwrap();
        assert!(
            ["low", "medium", "high"].contains(&level) && score.parse::<u8>().is_ok(),
            "{text}"
        );
        let why = risk.attr("title").await.unwrap().unwrap_or_default();
        assert!(why.contains("(+"), "{why}");
        // The detail of an attack (high severity).
        b.route("/events").await;
        b.find("[data-test=event-row].sev-high")
            .await
            .click()
            .await
            .unwrap();
        b.el("event-detail").await;
        b.assert_fits("detail").await;
        b.screenshot(&format!("detail-{width}")).await;

        // On a fresh page the skip link is the keyboard's first stop, and
        // it leads to the content.
        b.goto(&gw.console()).await;
        b.el("overview").await;
        b.press(Key::Tab).await;
        let first = b.client.active_element().await.unwrap();
        assert_eq!(
            first.attr("data-test").await.unwrap().as_deref(),
            Some("skip-link")
        );
        b.press(Key::Enter).await;
        b.until(
            "the content focused",
            "document.activeElement.id === 'main'",
        )
        .await;
        b.close().await;
    }
}

#[tokio::test]
async fn a_summary_of_repeats_says_how_many_events_it_stands_for() {
    let gw = Gateway::start().await;
    let b = Browser::start(LAPTOP).await;
    b.login(&gw).await;
    // Eight probes of one undocumented path: three stored one by one, then
    // one summary standing for the other five when the second is over.
    for _ in 0..8 {
        assert_eq!(gw.get("/wp-login.php", None).await, 404);
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    b.route("/events").await;
    b.until(
        "the summary's row",
        &format!("{}.some(k => k.endsWith('×5'))", cells("event-kind")),
    )
    .await;
    let kinds = b.js(&format!("return {}", cells("event-kind"))).await;
    let kinds: Vec<&str> = kinds
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| k.starts_with("shadow-endpoint"))
            .count(),
        4,
        "{kinds:?}"
    );
}
