//! The gateway's life: config diagnostics, reload while serving, graceful
//! shutdown, health and metrics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::*;

const UPSTREAM: &str = "http://127.0.0.1:9";

#[test]
fn check_accepts_a_good_config() {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    write(dir.path(), "moat.yaml", &config(UPSTREAM, ""));
    let (ok, out, err) = check(dir.path());
    assert!(ok, "{err}");
    assert!(
        out.ends_with("moat.yaml: OK (1 API, 8 operations)\n"),
        "{out}"
    );
}

#[test]
fn config_errors_name_file_line_column_and_hint() {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);

    // unknown key, with a suggestion
    let text = config(UPSTREAM, "    deprecatd: block\n");
    write(dir.path(), "moat.yaml", &text);
    let (ok, _, err) = check(dir.path());
    assert!(!ok);
    assert!(
        err.contains("moat.yaml:14:5: error: unknown key `deprecatd`"),
        "{err}"
    );
    assert!(err.contains("hint: did you mean `deprecated`?"), "{err}");
    assert!(err.contains("14 |     deprecatd: block"), "{err}");

    // bad YAML
    write(
        dir.path(),
        "moat.yaml",
        "listeners:\n  - bind: [127.0.0.1:0\nupstreams: {}\n",
    );
    let (ok, _, err) = check(dir.path());
    assert!(!ok);
    assert!(err.contains("moat.yaml:3:"), "{err}");
    assert!(err.contains("error: invalid YAML"), "{err}");

    // missing spec file
    write(
        dir.path(),
        "moat.yaml",
        &config(UPSTREAM, "").replace("spec: spec.yaml", "spec: nope.yaml"),
    );
    let (ok, _, err) = check(dir.path());
    assert!(!ok);
    assert!(
        err.contains("moat.yaml:12:11: error: cannot read OpenAPI document"),
        "{err}"
    );
    assert!(err.contains("nope.yaml"), "{err}");

    // a bad $ref in the OpenAPI document is positioned in that document
    let spec = ECHO_SPEC.replace(
        "    get: {operationId: listItems, responses: {\"200\": {description: ok}}}",
        "    get: {operationId: listItems, responses: {\"200\": {$ref: \"#/components/responses/Nope\"}}}",
    );
    write(dir.path(), "spec.yaml", &spec);
    write(dir.path(), "moat.yaml", &config(UPSTREAM, ""));
    let (ok, _, err) = check(dir.path());
    assert!(!ok);
    assert!(err.contains("spec.yaml:6:"), "{err}");
    assert!(err.contains("#/components/responses/Nope"), "{err}");

    // several problems are reported in one run
    let text = config("ftp://x", "").replace("upstream: echo", "upstream: ech");
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    write(dir.path(), "moat.yaml", &text);
    let (ok, _, err) = check(dir.path());
    assert!(!ok);
    assert!(err.contains("invalid upstream target `ftp://x`"), "{err}");
    assert!(err.contains("unknown upstream `ech`"), "{err}");
    assert!(err.contains("hint: did you mean `echo`?"), "{err}");
    assert!(err.trim_end().ends_with("2 errors"), "{err}");
}

#[test]
fn serve_refuses_a_bad_config_with_the_same_diagnostics() {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    write(
        dir.path(),
        "moat.yaml",
        &config(UPSTREAM, "    mode: enforced\n"),
    );
    let out = Command::new(MOAT)
        .args(["serve", "--config"])
        .arg(dir.path().join("moat.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("moat.yaml:14:11: error: unknown value `enforced`"),
        "{err}"
    );
    assert!(err.contains("did you mean `enforce`?"), "{err}");
}

#[test]
fn bad_cli_arguments_get_usage_not_a_crash() {
    let out = Command::new(MOAT)
        .args(["serve"])
        .env_remove("MOAT_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config <FILE>"));
    let out = Command::new(MOAT).args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Writes a file the way deploy tools do: a new file renamed over the old.
fn replace(dir: &std::path::Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

#[tokio::test]
async fn reloads_under_load_without_failing_a_request() {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    let good = config(&up.url(), "");
    write(dir.path(), "moat.yaml", &good);
    let moat = Moat::start(dir.path());

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        let url = moat.url("/items");
        load.push(tokio::spawn(async move {
            let c = client();
            while !stop.load(Ordering::Relaxed) {
                match c.get(&url).send().await {
                    Ok(r) if r.status() == 200 => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => failed
                        .lock()
                        .unwrap()
                        .push(format!("status {}", r.status())),
                    Err(e) => failed.lock().unwrap().push(format!("error {e}")),
                }
            }
        }));
    }
    let c = client();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // 1. a changed document is picked up by the file watch
    assert_eq!(get_status(&c, moat.url("/new")).await, 404);
    let spec2 = format!(
        "{ECHO_SPEC}  /new:\n    get: {{operationId: newThing, responses: {{\"200\": {{description: ok}}}}}}\n"
    );
    replace(dir.path(), "spec.yaml", &spec2);
    let deadline = Instant::now() + Duration::from_secs(10);
    while get_status(&c, moat.url("/new")).await != 200 {
        assert!(
            Instant::now() < deadline,
            "the new document was not loaded:\n{}",
            moat.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // 2. a bad config is refused and the running one keeps serving
    replace(
        dir.path(),
        "moat.yaml",
        &good.replace("listeners:", "listenerz:"),
    );
    moat.wait_stderr("config reload refused").await;
    assert!(
        moat.stderr().contains("unknown key `listenerz`"),
        "{}",
        moat.stderr()
    );
    assert_eq!(get_status(&c, moat.url("/new")).await, 200);

    // 3. a good config again, then SIGHUP reloads it too (still under load)
    replace(dir.path(), "moat.yaml", &good);
    let deadline = Instant::now() + Duration::from_secs(10);
    while moat.stderr().matches("config reloaded").count() < 2 {
        assert!(
            Instant::now() < deadline,
            "the good config was not reloaded:\n{}",
            moat.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    moat.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while moat.stderr().matches("config reloaded").count() < 3 {
        assert!(
            Instant::now() < deadline,
            "no reload after SIGHUP:\n{}",
            moat.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(moat.stderr().contains("SIGHUP: reloading config"));

    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    let failed = failed.lock().unwrap();
    assert!(
        failed.is_empty(),
        "{} requests failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(ok.load(Ordering::Relaxed) > 100, "the load loop barely ran");
}

#[tokio::test]
async fn listener_changes_need_a_restart() {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    write(dir.path(), "moat.yaml", &config(&up.url(), ""));
    let moat = Moat::start(dir.path());
    let two = config(&up.url(), "").replace(
        "  - bind: 127.0.0.1:0\nadmin",
        "  - bind: 127.0.0.1:0\n  - bind: 127.0.0.2:0\nadmin",
    );
    replace(dir.path(), "moat.yaml", &two);
    moat.wait_stderr("the listeners changed").await;
    assert_eq!(
        client()
            .get(moat.url("/items"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn shutdown_drains_requests_in_flight() {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    write(
        dir.path(),
        "moat.yaml",
        &config(&up.url(), "").replace("response_timeout: 2s", "response_timeout: 5s"),
    );
    let mut moat = Moat::start(dir.path());
    let slow = tokio::spawn(client().get(moat.url("/slow")).send());
    // wait until the request is at the upstream
    let deadline = Instant::now() + Duration::from_secs(5);
    while up.hits() == 0 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    moat.signal("TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // no new connections once shutdown began
    assert!(
        tokio::net::TcpStream::connect(moat.addrs[0]).await.is_err(),
        "still accepting after SIGTERM"
    );
    // the request in flight completes
    let r = slow.await.unwrap().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "slow done");
    let status = moat.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}\n{}", moat.stderr());
    assert!(moat.stderr().contains("stopped"));
}

/// The echo API's config with file watching off and a 5 s response
/// timeout (the slow answer takes 1.5 s), plus `extra` API lines.
fn unwatched(up: &Upstream, extra: &str) -> String {
    config(&up.url(), extra)
        .replace("reload:\n", "reload:\n  watch: false\n")
        .replace("response_timeout: 2s", "response_timeout: 5s")
}

/// `moat serve` of [`unwatched`] in `dir`, with `workers` worker threads.
fn serve_on_workers(up: &Upstream, dir: &std::path::Path, workers: &str) -> Moat {
    write(dir, "spec.yaml", ECHO_SPEC);
    write(dir, "moat.yaml", &unwatched(up, ""));
    let config = dir.join("moat.yaml");
    Moat::spawn_with_env(
        &["serve", "--config", config.to_str().unwrap()],
        &[("TOKIO_WORKER_THREADS", workers)],
    )
}

/// With one worker thread moat runs on tokio's current-thread runtime:
/// everything must still happen at once on that thread. A slow upstream
/// answer holds up no other request, a reload happens while it waits, and
/// shutdown (usually begun while it still waits) lets it finish.
#[tokio::test]
async fn one_worker_thread_serves_reloads_and_drains() {
    let up = upstream(None).await;
    let dir = tempdir();
    let mut moat = serve_on_workers(&up, dir.path(), "1");
    let c = client();
    let slow = tokio::spawn(c.get(moat.url("/slow")).send());
    let deadline = Instant::now() + Duration::from_secs(5);
    while up.hits() == 0 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Twenty requests are answered while the slow one still waits (1.5 s
    // at the upstream).
    let fast: Vec<_> = (0..20)
        .map(|i| tokio::spawn(get_status_of(c.clone(), moat.url(&format!("/items/{i}")))))
        .collect();
    for f in fast {
        assert_eq!(f.await.unwrap(), 200);
    }
    assert!(!slow.is_finished(), "requests waited for the slow one");
    assert_eq!(get_status(&c, moat.url("/undocumented")).await, 404);
    replace(
        dir.path(),
        "moat.yaml",
        &unwatched(&up, "    mode: monitor\n"),
    );
    moat.signal("HUP");
    moat.wait_stderr("config reloaded").await;
    assert_eq!(get_status(&c, moat.url("/undocumented")).await, 200);
    moat.signal("TERM");
    let r = slow.await.unwrap().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "slow done");
    let status = moat.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}\n{}", moat.stderr());
}

/// With several workers each is a thread of its own (named
/// `moat-worker-<i>`) accepting on the same listener: connections opened
/// at once are all served, a slow answer holds up none of them, and
/// shutdown lets the slow one finish on whichever worker holds it.
#[tokio::test]
async fn several_worker_threads_share_the_listener_and_drain() {
    let up = upstream(None).await;
    let dir = tempdir();
    let mut moat = serve_on_workers(&up, dir.path(), "4");
    // A worker thread takes its name when it starts, which may be just
    // after moat says it listens.
    let workers = || {
        let mut names: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", moat.pid()))
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .map(|n| n.trim().to_string())
            .filter(|n| n.starts_with("moat-worker-"))
            .collect();
        names.sort();
        names
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut names = workers();
    while names.len() < 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        names = workers();
    }
    assert_eq!(
        names,
        [
            "moat-worker-0",
            "moat-worker-1",
            "moat-worker-2",
            "moat-worker-3"
        ]
    );
    let slow = tokio::spawn(client().get(moat.url("/slow")).send());
    let deadline = Instant::now() + Duration::from_secs(5);
    while up.hits() == 0 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Sixteen clients, each on a connection of its own, three requests
    // each, all at once, while the slow answer (1.5 s) is awaited.
    let clients: Vec<_> = (0..16)
        .map(|i| {
            let url = moat.url(&format!("/items/{i}"));
            tokio::spawn(async move {
                let c = client();
                let mut statuses = Vec::new();
                for _ in 0..3 {
                    statuses.push(get_status(&c, url.clone()).await);
                }
                statuses
            })
        })
        .collect();
    for c in clients {
        assert_eq!(c.await.unwrap(), [200, 200, 200]);
    }
    assert!(!slow.is_finished(), "requests waited for the slow one");
    moat.signal("TERM");
    let r = slow.await.unwrap().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "slow done");
    let status = moat.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}\n{}", moat.stderr());
}

async fn get_status_of(c: reqwest::Client, url: String) -> u16 {
    get_status(&c, url).await
}

fn metric(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| labels.iter().all(|lab| l.contains(lab)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    // a second API, mounted at /down, whose upstream is not listening
    let cfg = config(&up.url(), "")
        .replace(
            "apis:\n",
            &format!("  down:\n    targets: [\"http://127.0.0.1:{}\"]\napis:\n", closed_port()),
        )
        .replace(
            "reload:\n",
            "  - name: down\n    spec: spec.yaml\n    upstream: down\n    base_path: /down\nreload:\n",
        );
    write(dir.path(), "moat.yaml", &cfg);
    let moat = Moat::start(dir.path());
    let admin = moat.admin.unwrap();
    assert!(admin.ip().is_loopback());
    let c = client();
    assert_eq!(get_status(&c, moat.url("/items")).await, 200);
    assert_eq!(get_status(&c, moat.url("/items")).await, 200);
    assert_eq!(get_status(&c, moat.url("/secret")).await, 404);
    assert_eq!(get_status(&c, moat.url("/old")).await, 200);

    let base = format!("http://{admin}");
    assert_eq!(get_status(&c, format!("{base}/healthz")).await, 200);
    assert_eq!(get_status(&c, format!("{base}/readyz")).await, 200);
    let r = c.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let r = c
        .get(format!("{base}/metrics"))
        .bearer_auth("wrong-token-wrong-token-wrong-tok")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(format!("{base}/metrics"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();

    // Every family has its `# HELP` and `# TYPE`, HELP first.
    let lines: Vec<&str> = text.lines().collect();
    let mut families = 0;
    for (i, line) in lines.iter().enumerate() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            families += 1;
            let name = rest.split(' ').next().unwrap();
            let help = i.checked_sub(1).map(|j| lines[j]).unwrap_or_default();
            assert!(
                help.starts_with(&format!("# HELP {name} ")) && help.len() > name.len() + 10,
                "no HELP for {name}:\n{text}"
            );
        }
    }
    for line in &lines {
        if !line.starts_with('#') && !line.is_empty() {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|f| text.contains(&format!("# TYPE {f} histogram")))
                .unwrap_or(name);
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "{name}:\n{text}"
            );
        }
    }
    assert!(families >= 3, "{text}");

    let ok = [
        "api=\"echo\"",
        "operation=\"listItems\"",
        "status=\"200\"",
        "verdict=\"allowed\"",
    ];
    assert_eq!(
        metric(&text, "moat_requests_total", &ok),
        Some(2.0),
        "{text}"
    );
    let denied = [
        "api=\"echo\"",
        "operation=\"-\"",
        "status=\"404\"",
        "verdict=\"denied\"",
    ];
    assert_eq!(
        metric(&text, "moat_requests_total", &denied),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "moat_denials_total", &["reason=\"shadow-endpoint\""]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "moat_findings_total",
            &["reason=\"zombie-endpoint\"", "action=\"flagged\""]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "moat_request_duration_seconds_count",
            &["api=\"echo\""]
        ),
        Some(4.0),
        "{text}"
    );
    assert!(
        text.contains("moat_request_duration_seconds_bucket{api=\"echo\",le=\"0.005\"}"),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "moat_upstream_duration_seconds_count",
            &["upstream=\"echo\""]
        ),
        Some(3.0),
        "{text}"
    );

    // upstream errors are counted by kind
    let r = c.get(moat.url("/down/items")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let text = c
        .get(format!("{base}/metrics"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        metric(
            &text,
            "moat_upstream_errors_total",
            &["upstream=\"down\"", "kind=\"connect\""]
        ),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test]
async fn shutdown_does_not_wait_past_the_grace_period() {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    let cfg = config(&up.url(), "")
        .replace("response_timeout: 2s", "response_timeout: 10s")
        .replace("grace_period: 5s", "grace_period: 200ms");
    write(dir.path(), "moat.yaml", &cfg);
    let mut moat = Moat::start(dir.path());
    // /slow takes 1.5 s upstream: longer than the grace period
    let slow = tokio::spawn(client().get(moat.url("/slow")).send());
    while up.hits() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let signalled = Instant::now();
    moat.signal("TERM");
    let status = moat.wait_exit(Duration::from_secs(5));
    let took = signalled.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took < Duration::from_millis(1400),
        "exit took {took:?}: the grace period was not enforced"
    );
    assert!(
        slow.await.unwrap().is_err(),
        "the cut-off request cannot have completed"
    );
    assert!(
        moat.stderr().contains("grace period over"),
        "{}",
        moat.stderr()
    );
}

#[tokio::test]
async fn sighup_applies_a_change_when_watching_is_off() {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    let unwatched =
        |extra: &str| config(&up.url(), extra).replace("reload:\n", "reload:\n  watch: false\n");
    write(dir.path(), "moat.yaml", &unwatched(""));
    let moat = Moat::start(dir.path());
    let c = client();
    assert_eq!(get_status(&c, moat.url("/undocumented")).await, 404);
    replace(dir.path(), "moat.yaml", &unwatched("    mode: monitor\n"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        get_status(&c, moat.url("/undocumented")).await,
        404,
        "no watch: nothing changes by itself"
    );
    moat.signal("HUP");
    moat.wait_stderr("config reloaded").await;
    assert_eq!(
        get_status(&c, moat.url("/undocumented")).await,
        200,
        "monitor mode after SIGHUP"
    );
}

#[test]
fn check_prints_document_warnings_but_passes() {
    let dir = tempdir();
    // `required: true` is missing on a path parameter: legal to load, likely a slip
    let spec = ECHO_SPEC.replace(
        "parameters: [{name: id, in: path, required: true, schema: {type: string}}]",
        "parameters: [{name: id, in: path, schema: {type: string}}]",
    );
    write(dir.path(), "spec.yaml", &spec);
    write(dir.path(), "moat.yaml", &config(UPSTREAM, ""));
    let (ok, out, err) = check(dir.path());
    assert!(ok, "{err}");
    assert!(out.contains("OK (1 API, 8 operations)"), "{out}");
    assert!(
        err.contains(
            "spec.yaml:15:18: warning: path parameter `id` is not marked `required: true`"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_change_to_a_file_a_document_references_reloads_it() {
    let up = upstream(None).await;
    let dir = tempdir();
    let spec = r#"
openapi: 3.0.3
info: {title: refs, version: "1"}
paths:
  /notes:
    post:
      operationId: createNote
      requestBody:
        content:
          application/json:
            schema: {$ref: "schemas/note.yaml"}
      responses: {"200": {description: ok}}
"#;
    write(dir.path(), "spec.yaml", spec);
    std::fs::create_dir(dir.path().join("schemas")).unwrap();
    let note = |max: u32| {
        format!("type: object\nproperties:\n  title: {{type: string, maxLength: {max}}}\n")
    };
    write(dir.path(), "schemas/note.yaml", &note(5));
    write(dir.path(), "moat.yaml", &config(&up.url(), ""));
    let moat = Moat::start(dir.path());
    let c = client();
    let post = || {
        c.post(moat.url("/notes"))
            .json(&serde_json::json!({"title": "a longer title"}))
            .send()
    };
    assert_eq!(post().await.unwrap().status(), 422);
    // Only the referenced file changes: the watch sees it.
    replace(&dir.path().join("schemas"), "note.yaml", &note(50));
    let deadline = Instant::now() + Duration::from_secs(10);
    while post().await.unwrap().status() != 200 {
        assert!(
            Instant::now() < deadline,
            "the referenced file's change was not loaded:\n{}",
            moat.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    moat.wait_stderr("config reloaded").await;
}
