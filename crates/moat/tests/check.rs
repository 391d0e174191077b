//! `moat check` is the compile `moat serve` runs: it refuses what serve
//! refuses, with the same positioned diagnostics, and reports every problem
//! of every section in one run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

const UPSTREAM: &str = "http://127.0.0.1:9";

/// Runs `moat serve` and expects it to refuse the config (killing it if it
/// starts instead); returns what it printed on stderr.
fn serve_refuses(dir: &Path) -> String {
    let mut child = Command::new(MOAT)
        .args(["serve", "--config"])
        .arg(dir.join("moat.yaml"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "moat serve started with a config check refuses:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The diagnostic lines (`file:line:col: error: …`) of an output.
fn errors(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(": error: ")).collect()
}

#[test]
fn check_refuses_what_serve_refuses_with_the_same_diagnostics() {
    let cases = [
        (
            "lockout:\n  max_failures: 0\n",
            "moat.yaml:19:17: error: lockout `max_failures` is 0; it must be between 1 and 100",
        ),
        (
            "anomaly:\n  max_subjects: 0\n",
            "moat.yaml:19:17: error: `anomaly.max_subjects` is 0; it must be between 1 and 10000000",
        ),
        (
            "rate_limiting:\n  backend: redis\n",
            "moat.yaml:19:12: error: `backend: redis` needs a `redis` section",
        ),
        (
            "access_log:\n  target: missing/access.log\n",
            "moat.yaml:19:11: error: the directory of the access log",
        ),
        (
            "state:\n  sqlite: missing/state.sqlite\n",
            "moat.yaml:19:11: error: the directory of the state file",
        ),
    ];
    for (section, expected) in cases {
        let dir = tempdir();
        write(dir.path(), "spec.yaml", ECHO_SPEC);
        write(
            dir.path(),
            "moat.yaml",
            &format!("{}{section}", config(UPSTREAM, "")),
        );
        let err = check_fails(dir.path());
        assert!(err.contains(expected), "{section}: {err}");
        assert!(err.contains("hint: "), "{section}: {err}");
        assert!(err.trim_end().ends_with("1 error"), "{section}: {err}");
        // serve refuses with exactly the same diagnostics, before anything
        // starts
        let served = serve_refuses(dir.path());
        assert!(served.starts_with(err.as_str()), "{section}: {served}");
        assert!(!dir.path().join("missing").exists(), "{section}");
    }
}

#[test]
fn check_reports_every_problem_of_every_section_in_one_run() {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    let text = format!(
        "{}lockout:\n  max_failures: 0\n  base_lockout: 1m\n  max_lockout: 10s\n\
         anomaly:\n  max_subjects: 0\n  scraping: {{window: 0s}}\n\
         rate_limiting:\n  backend: redis\n",
        config(UPSTREAM, "")
    );
    write(dir.path(), "moat.yaml", &text);
    let err = check_fails(dir.path());
    let found = errors(&err);
    for expected in [
        "moat.yaml:19:17: error: lockout `max_failures` is 0",
        "moat.yaml:21:16: error: lockout `max_lockout` (10s) is shorter than `base_lockout` (1m)",
        "moat.yaml:23:17: error: `anomaly.max_subjects` is 0",
        "moat.yaml:24:22: error: `anomaly.scraping.window` must be between 1s and 1d",
        "moat.yaml:26:12: error: `backend: redis` needs a `redis` section",
    ] {
        assert!(found.iter().any(|l| l.contains(expected)), "{expected}: {err}");
    }
    assert!(err.trim_end().ends_with("5 errors"), "{err}");
}

#[test]
fn an_upstream_that_fails_to_compile_does_not_hide_its_apis_problems() {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    write(dir.path(), "ca.pem", "not a certificate\n");
    let text = config(
        UPSTREAM,
        "    request_limits:\n      operations:\n        nope: {max_body_bytes: 10}\n",
    )
    .replace(
        "    response_timeout: 2s\n",
        "    response_timeout: 2s\n    tls: {ca: ca.pem}\n",
    );
    write(dir.path(), "moat.yaml", &text);
    let err = check_fails(dir.path());
    assert!(err.contains("ca.pem"), "{err}");
    assert!(
        err.contains("error: no operation has the operationId `nope`"),
        "{err}"
    );
    assert!(err.trim_end().ends_with("2 errors"), "{err}");
}
