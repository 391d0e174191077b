//! `moat events`, `moat audit verify` and `moat admin token` end to end:
//! the real binary against a config and an SQLite file in a temporary
//! directory, the file tampered with through SQL as an attacker with write
//! access would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use moat_state::events::{Action, Control, Event, EventStore, Severity};
use moat_state::{AdminRole, AdminTokenStore, SqliteStore, unix_now};
use serde_json::Value;
use support::{ECHO_SPEC, MOAT, config, tempdir, write};

const PEPPER: &str = "events-test-pepper-0123456789abcdef-012345";

/// Where the token id starts and ends in `moat_admin_<id>_<secret>`, and
/// where the secret starts.
const ID: std::ops::Range<usize> = 11..23;
const SECRET_AT: usize = 24;

/// Writes the spec and a config with `state`, `keys` and one consumer,
/// `alice`; the config path.
fn setup(dir: &Path) -> PathBuf {
    write(dir, "spec.yaml", ECHO_SPEC);
    let text = format!(
        "{}state:\n  sqlite: state.db\nconsumers:\n  - id: alice\nkeys:\n  pepper: {PEPPER}\n",
        config("http://127.0.0.1:9", "")
    );
    write(dir, "moat.yaml", &text)
}

fn moat(config: &Path, args: &[&str]) -> Output {
    Command::new(MOAT)
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("MOAT_CONFIG")
        .env("USER", "auditor")
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Asserts the exit code is `code`; stdout and stderr.
fn failed(out: Output, code: i32) -> (String, String) {
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    (stdout, stderr)
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn admin_events(cfg: &Path) -> Vec<Value> {
    json_lines(&ok(moat(
        cfg,
        &["events", "--control", "admin", "--format", "json"],
    )))
}

#[tokio::test]
async fn admin_tokens_are_created_listed_and_revoked() {
    let dir = tempdir();
    let cfg = setup(dir.path());
    let out = moat(
        &cfg,
        &[
            "admin", "token", "create", "--name", "ops", "--role", "operator",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let stdout = ok(out);
    // The token alone on stdout.
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let token = stdout.trim().to_string();
    assert!(token.starts_with("moat_admin_"), "{token}");
    assert!(stderr.contains("only time it is shown"), "{stderr}");
    let id = &token[ID];
    let secret = &token[SECRET_AT..];

    let store = SqliteStore::open(&dir.path().join("state.db"))
        .await
        .unwrap();
    let record = store
        .verify_token(&token, unix_now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (record.name.as_str(), record.role),
        ("ops", AdminRole::Operator)
    );
    assert_eq!(record.id, id);

    // The same name again is refused while the first is in use.
    let (_, stderr) = failed(
        moat(
            &cfg,
            &[
                "admin", "token", "create", "--name", "ops", "--role", "viewer",
            ],
        ),
        1,
    );
    assert!(stderr.contains("named `ops` exists"), "{stderr}");
    ok(moat(
        &cfg,
        &[
            "admin", "token", "create", "--name", "dash", "--role", "viewer",
        ],
    ));

    let table = ok(moat(&cfg, &["admin", "token", "list"]));
    assert!(table.starts_with("ID"), "{table}");
    let row = table.lines().find(|l| l.contains(id)).unwrap();
    // The token verified above: its use is recorded.
    for word in ["ops", "operator", "active"] {
        assert!(row.contains(word), "{word} missing in {row}");
    }
    assert!(!row.contains("never"), "{row}");
    let listed: Value =
        serde_json::from_str(&ok(moat(&cfg, &["admin", "token", "list", "--json"]))).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    let dash = listed.iter().find(|t| t["name"] == "dash").unwrap();
    assert_eq!(dash["role"], "viewer");
    assert_eq!(dash["status"], "active");
    assert!(!listed.iter().any(|t| t.to_string().contains(secret)));

    let out = ok(moat(&cfg, &["admin", "token", "revoke", "ops"]));
    assert!(
        out.contains(&format!("Revoked admin token {id} `ops`")),
        "{out}"
    );
    assert_eq!(store.verify_token(&token, unix_now()).await.unwrap(), None);
    let (_, stderr) = failed(moat(&cfg, &["admin", "token", "revoke", "ops"]), 1);
    assert!(stderr.contains("no admin token in use"), "{stderr}");
    // Pasting the whole token is refused without echoing it.
    let (_, stderr) = failed(moat(&cfg, &["admin", "token", "revoke", &token]), 1);
    assert!(
        stderr.contains("whole admin token") && !stderr.contains(secret),
        "{stderr}"
    );
    let table = ok(moat(&cfg, &["admin", "token", "list"]));
    assert!(
        table
            .lines()
            .any(|l| l.contains(id) && l.contains("revoked")),
        "{table}"
    );

    // A bad role: a usage error naming the roles.
    let (_, stderr) = failed(
        moat(
            &cfg,
            &["admin", "token", "create", "--name", "x", "--role", "root"],
        ),
        2,
    );
    assert!(stderr.contains("viewer, operator"), "{stderr}");

    let events = admin_events(&cfg);
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "admin-token-created",
            "admin-token-created",
            "admin-token-revoked"
        ]
    );
    assert_eq!(events[0]["actor"], "cli:auditor");
    assert!(events[0]["evidence"].as_str().unwrap().contains(id));
    assert!(events[2]["evidence"].as_str().unwrap().contains(id));
    for e in &events {
        assert!(!e.to_string().contains(secret), "{e}");
    }
    store.close().await;
}

/// The one API key in `text`.
fn key_in(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with("moat_") && w.len() == 56)
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn key_and_ban_changes_are_recorded_without_secrets() {
    let dir = tempdir();
    let cfg = setup(dir.path());
    let key = key_in(&ok(moat(&cfg, &["keys", "create", "--consumer", "alice"])));
    let key_id = &key[5..17];
    let secret = &key[18..];

    let events = admin_events(&cfg);
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e["kind"], "key-created");
    assert_eq!(e["control"], "admin");
    assert_eq!(e["severity"], "info");
    assert_eq!(e["action"], "recorded");
    assert_eq!(e["actor"], "cli:auditor");
    assert_eq!(e["consumer"], "alice");
    assert_eq!(e["evidence"], format!("key {key_id}"));
    assert!(!e.to_string().contains(secret), "{e}");

    let new_key = key_in(&ok(moat(
        &cfg,
        &["keys", "rotate", key_id, "--overlap", "1h"],
    )));
    ok(moat(&cfg, &["keys", "revoke", key_id]));
    // Revoking again changes nothing and records nothing.
    ok(moat(&cfg, &["keys", "revoke", key_id]));
    ok(moat(
        &cfg,
        &[
            "bans",
            "add",
            "--address",
            "203.0.113.7",
            "--reason",
            "scanner",
        ],
    ));
    ok(moat(&cfg, &["bans", "remove", "--address", "203.0.113.7"]));
    ok(moat(
        &cfg,
        &[
            "bans",
            "add",
            "--consumer",
            "mallory",
            "--for",
            "1h",
            "--reason",
            "abuse",
        ],
    ));

    let events = admin_events(&cfg);
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "key-created",
            "key-rotated",
            "key-revoked",
            "ban-added",
            "ban-lifted",
            "ban-added"
        ]
    );
    assert_eq!(
        events[1]["evidence"],
        format!("key {key_id} replaced by key {}", &new_key[5..17])
    );
    assert_eq!(events[3]["client"], "203.0.113.7");
    assert_eq!(events[5]["consumer"], "mallory");
    let all = ok(moat(&cfg, &["events", "--format", "json"]));
    assert!(!all.contains(secret) && !all.contains(&new_key[18..]));

    // Filters, the limit and the table.
    let only = json_lines(&ok(moat(
        &cfg,
        &[
            "events",
            "--kind",
            "ban-added",
            "--client",
            "203.0.113.7",
            "--format",
            "json",
        ],
    )));
    assert_eq!(only.len(), 1);
    let newest = json_lines(&ok(moat(
        &cfg,
        &["events", "--limit", "2", "--format", "json"],
    )));
    let seqs: Vec<i64> = newest.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [5, 6], "the newest two, oldest first");
    let none = ok(moat(&cfg, &["events", "--severity", "high"]));
    assert_eq!(none.lines().count(), 1, "header only: {none}");
    let table = ok(moat(&cfg, &["events", "--consumer", "mallory"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("TIME"), "{table}");
    assert!(
        lines[1].contains("admin/ban-added") && lines[1].contains("mallory"),
        "{table}"
    );
    let since = ok(moat(&cfg, &["events", "--since", "1h", "--format", "json"]));
    assert_eq!(since.lines().count(), 6);
    let until = ok(moat(
        &cfg,
        &[
            "events",
            "--until",
            "2020-01-01T00:00:00Z",
            "--format",
            "json",
        ],
    ));
    assert_eq!(until, "");
}

/// A state file with six events appended through the store; its config.
async fn chain_of_six(dir: &Path) -> PathBuf {
    let cfg = setup(dir);
    let store = SqliteStore::open(&dir.join("state.db")).await.unwrap();
    let events: Vec<Event> = (1..=6)
        .map(|i| {
            let mut e = Event::new(
                Control::Inspection,
                "attack-detected",
                Severity::High,
                Action::Denied,
            );
            e.evidence = Some(format!("event {i}"));
            e
        })
        .collect();
    store.append(&events).await.unwrap();
    store.close().await;
    cfg
}

/// Runs `sql` on the state file in `dir`, as someone with write access.
async fn tamper(dir: &Path, sql: &'static str) {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(dir.join("state.db"));
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::raw_sql(sql).execute(&pool).await.unwrap();
    pool.close().await;
}

#[tokio::test]
async fn audit_verify_finds_edits_removals_and_reordering() {
    let dir = tempdir();
    let cfg = chain_of_six(dir.path()).await;
    let out = ok(moat(&cfg, &["audit", "verify"]));
    let newest = json_lines(&ok(moat(
        &cfg,
        &["events", "--limit", "1", "--format", "json"],
    )));
    let head = newest[0]["hash"].as_str().unwrap();
    assert_eq!(
        out.trim(),
        format!("intact: 6 events (seq 1..6), head {head}")
    );

    tamper(
        dir.path(),
        "UPDATE security_events SET evidence = 'nothing here' WHERE seq = 3",
    )
    .await;
    let (out, _) = failed(moat(&cfg, &["audit", "verify"]), 1);
    assert!(
        out.contains("event 3 was modified: its content no longer matches its hash"),
        "{out}"
    );
    assert!(
        out.contains("BROKEN: 1 problem in 6 events checked"),
        "{out}"
    );

    let dir = tempdir();
    let cfg = chain_of_six(dir.path()).await;
    tamper(
        dir.path(),
        "DELETE FROM security_events WHERE seq IN (3, 4)",
    )
    .await;
    let (out, _) = failed(moat(&cfg, &["audit", "verify"]), 1);
    assert!(
        out.contains("events were removed between 2 and 5 (2 missing seq numbers)"),
        "{out}"
    );

    let dir = tempdir();
    let cfg = chain_of_six(dir.path()).await;
    tamper(dir.path(), "DELETE FROM security_events WHERE seq <= 2").await;
    let (out, _) = failed(moat(&cfg, &["audit", "verify"]), 1);
    assert!(out.contains("events were removed before 3"), "{out}");

    let dir = tempdir();
    let cfg = chain_of_six(dir.path()).await;
    tamper(
        dir.path(),
        "UPDATE security_events SET seq = -1 WHERE seq = 2;
         UPDATE security_events SET seq = 2 WHERE seq = 3;
         UPDATE security_events SET seq = 3 WHERE seq = -1;",
    )
    .await;
    let (out, _) = failed(moat(&cfg, &["audit", "verify"]), 1);
    assert!(
        out.contains("event 2 was moved: it was written after event 3"),
        "{out}"
    );

    let dir = tempdir();
    let cfg = chain_of_six(dir.path()).await;
    tamper(dir.path(), "DELETE FROM security_events WHERE seq = 6").await;
    let (out, _) = failed(moat(&cfg, &["audit", "verify"]), 1);
    assert!(
        out.contains(
            "the newest events were removed: the last stored is 5, the recorded head is 6"
        ),
        "{out}"
    );
}

#[tokio::test]
async fn follow_prints_events_appended_after_it_started() {
    let dir = tempdir();
    let cfg = setup(dir.path());
    ok(moat(
        &cfg,
        &[
            "bans",
            "add",
            "--address",
            "198.51.100.1",
            "--reason",
            "before",
        ],
    ));
    let mut child = Command::new(MOAT)
        .args([
            "events",
            "--follow",
            "--format",
            "json",
            "--kind",
            "ban-added",
            "--config",
        ])
        .arg(&cfg)
        .env_remove("MOAT_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines_tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let first: Value =
        serde_json::from_str(&lines.recv_timeout(Duration::from_secs(10)).unwrap()).unwrap();
    assert!(first["evidence"].as_str().unwrap().contains("198.51.100.1"));

    // A non-matching event, then a matching one.
    ok(moat(&cfg, &["bans", "remove", "--address", "198.51.100.1"]));
    ok(moat(
        &cfg,
        &[
            "bans",
            "add",
            "--address",
            "198.51.100.2",
            "--reason",
            "after",
        ],
    ));
    let next: Value =
        serde_json::from_str(&lines.recv_timeout(Duration::from_secs(10)).unwrap()).unwrap();
    assert_eq!(next["kind"], "ban-added");
    assert!(next["evidence"].as_str().unwrap().contains("198.51.100.2"));
    assert_eq!(next["seq"], 3);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert!(lines.recv_timeout(Duration::from_millis(200)).is_err());
}

#[test]
fn bad_filter_values_are_usage_errors_naming_the_allowed_ones() {
    let dir = tempdir();
    let cfg = setup(dir.path());
    let (_, stderr) = failed(moat(&cfg, &["events", "--severity", "urgent"]), 2);
    assert!(
        stderr.contains("unknown severity; one of: info, low, medium, high, critical"),
        "{stderr}"
    );
    let (_, stderr) = failed(moat(&cfg, &["events", "--control", "waf"]), 2);
    assert!(stderr.contains("object-access"), "{stderr}");
    let (_, stderr) = failed(moat(&cfg, &["events", "--since", "yesterday"]), 2);
    assert!(stderr.contains("RFC 3339"), "{stderr}");
    // Reading commands do not create a missing state file.
    let (_, stderr) = failed(moat(&cfg, &["events"]), 1);
    assert!(stderr.contains("no state file"), "{stderr}");
    let (_, stderr) = failed(moat(&cfg, &["audit", "verify"]), 1);
    assert!(stderr.contains("no state file"), "{stderr}");
    assert!(!dir.path().join("state.db").exists());
}
