//! The access log across a shutdown under load (every answered request has
//! its line, every request cut at the end of the grace period too) and
//! across log rotation (`SIGUSR1` and renames).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// The echo config with the access log in `access.log` and `grace`.
fn logged(up: &Upstream, grace: &str) -> String {
    config(&up.url(), "")
        .replace("response_timeout: 2s", "response_timeout: 10s")
        .replace("grace_period: 5s", &format!("grace_period: {grace}"))
        + "access_log:\n  target: access.log\n"
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l}: {e}")))
        .collect()
}

/// Waits until `path` holds at least `n` lines.
async fn wait_lines(path: &Path, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = lines(path);
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{} lines in {}, expected {n}",
            got.len(),
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_sigterm_under_load_every_answered_and_every_cut_request_has_its_line() {
    let up = upstream(None).await;
    for round in 0..4 {
        let dir = tempdir();
        write(dir.path(), "spec.yaml", ECHO_SPEC);
        write(dir.path(), "moat.yaml", &logged(&up, "300ms"));
        let mut moat = Moat::start(dir.path());
        // Requests the grace period cuts: the upstream takes 1.5 s.
        let slow: Vec<_> = (0..3)
            .map(|_| tokio::spawn(client().get(moat.url("/slow")).send()))
            .collect();
        // Load: every answer's request id, until the gateway stops.
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..16)
            .map(|_| {
                let (url, stop) = (moat.url("/items"), stop.clone());
                tokio::spawn(async move {
                    let c = client();
                    let mut ids = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let Ok(r) = c.get(&url).send().await else {
                            break;
                        };
                        let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
                        if r.bytes().await.is_ok() {
                            ids.push(id);
                        }
                    }
                    ids
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(400)).await;
        moat.signal("TERM");
        let status = moat.wait_exit(Duration::from_secs(10));
        assert!(status.success(), "{status:?}\n{}", moat.stderr());
        stop.store(true, Ordering::Relaxed);
        let mut answered = Vec::new();
        for w in workers {
            answered.extend(w.await.unwrap());
        }
        for s in slow {
            assert!(s.await.unwrap().is_err(), "a cut request got an answer");
        }
        // Read after the exit: nothing may come later.
        let logged = lines(&dir.path().join("access.log"));
        let ids: HashSet<&str> = logged
            .iter()
            .map(|l| l["request_id"].as_str().unwrap())
            .collect();
        let missing: Vec<&String> = answered
            .iter()
            .filter(|id| !ids.contains(id.as_str()))
            .collect();
        println!(
            "round {round}: {} answered, {} lines, {} missing",
            answered.len(),
            logged.len(),
            missing.len()
        );
        assert!(answered.len() > 100, "{}", answered.len());
        assert!(
            missing.is_empty(),
            "{} answered requests have no line",
            missing.len()
        );
        let cut: Vec<&Value> = logged.iter().filter(|l| l["cut"] == true).collect();
        assert_eq!(cut.len(), 3, "{cut:?}");
        for l in cut {
            assert_eq!(l["path"], "/slow", "{l}");
            assert_eq!(l["status"], 499, "{l}");
        }
        // Answered lines say nothing about cutting.
        assert!(
            logged
                .iter()
                .all(|l| l["cut"] == true || l.get("cut").is_none())
        );
    }
}

#[tokio::test]
async fn sigusr1_reopens_the_log_after_rotation_without_losing_a_line() {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    write(dir.path(), "moat.yaml", &logged(&up, "5s"));
    let moat = Moat::start(dir.path());
    let c = client();
    let path = dir.path().join("access.log");
    let rotated = dir.path().join("access.log.1");
    for _ in 0..5 {
        assert_eq!(get_status(&c, moat.url("/items")).await, 200);
    }
    wait_lines(&path, 5).await;
    // logrotate: rename, then tell the process.
    std::fs::rename(&path, &rotated).unwrap();
    moat.signal("USR1");
    moat.wait_stderr("access log reopened").await;
    assert!(path.exists(), "no new file at the path");
    for _ in 0..7 {
        assert_eq!(get_status(&c, moat.url("/items")).await, 200);
    }
    let new = wait_lines(&path, 7).await;
    assert_eq!(new.len(), 7);
    assert_eq!(lines(&rotated).len(), 5);
}

#[tokio::test]
async fn a_renamed_log_is_reopened_by_itself() {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    write(dir.path(), "moat.yaml", &logged(&up, "5s"));
    let moat = Moat::start(dir.path());
    let c = client();
    let path = dir.path().join("access.log");
    let rotated = dir.path().join("access.log.1");
    assert_eq!(get_status(&c, moat.url("/items")).await, 200);
    wait_lines(&path, 1).await;
    std::fs::rename(&path, &rotated).unwrap();
    // Within about a second, without a signal.
    moat.wait_stderr("access log reopened").await;
    for _ in 0..3 {
        assert_eq!(get_status(&c, moat.url("/items")).await, 200);
    }
    assert_eq!(wait_lines(&path, 3).await.len(), 3);
    assert_eq!(lines(&rotated).len(), 1);
}
