//! `moat bans` end to end: the real binary against a config and an SQLite
//! file in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use moat_state::{Ban, BanStore, BanSubject, SqliteStore, unix_now};
use serde_json::Value;
use support::{ADMIN_TOKEN, ECHO_SPEC, MOAT, config, tempdir, write};

/// Writes the spec and a config with a `state` section; the config path.
fn setup(dir: &Path) -> PathBuf {
    write(dir, "spec.yaml", ECHO_SPEC);
    let text = format!(
        "{}state:\n  sqlite: state.db\n",
        config("http://127.0.0.1:9", "")
    );
    write(dir, "moat.yaml", &text)
}

fn moat(config: &Path, args: &[&str]) -> Output {
    Command::new(MOAT)
        .arg("bans")
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("MOAT_CONFIG")
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

fn failed(out: Output, code: i32) -> String {
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn json(out: Output) -> Vec<Value> {
    let v: Value = serde_json::from_str(&ok(out)).unwrap();
    v.as_array().unwrap().clone()
}

#[tokio::test]
async fn add_list_remove() {
    let dir = tempdir();
    let cfg = setup(dir.path());
    assert_eq!(ok(moat(&cfg, &["list"])).trim(), "No bans.");

    let out = ok(moat(
        &cfg,
        &[
            "add",
            "--address",
            "203.0.113.7",
            "--for",
            "1h",
            "--reason",
            "scanner",
        ],
    ));
    assert!(
        out.starts_with("Banned address 203.0.113.7 until "),
        "{out}"
    );
    assert!(out.contains("(in 1h)") || out.contains("(in 59m)"), "{out}");
    let out = ok(moat(
        &cfg,
        &[
            "add",
            "--address",
            "198.51.100.9/24",
            "--reason",
            "botnet range",
        ],
    ));
    assert_eq!(out.trim(), "Banned network 198.51.100.0/24 permanently.");
    let out = ok(moat(
        &cfg,
        &[
            "add",
            "--consumer",
            "mallory",
            "--for",
            "2d",
            "--reason",
            "abuse",
        ],
    ));
    assert!(out.contains("consumer `mallory`"), "{out}");

    // A shorter ban leaves the longer one alone.
    let out = ok(moat(
        &cfg,
        &[
            "add",
            "--address",
            "198.51.100.0/24",
            "--for",
            "1m",
            "--reason",
            "x",
        ],
    ));
    assert!(out.contains("already banned permanently"), "{out}");

    let table = ok(moat(&cfg, &["list"]));
    assert!(table.starts_with("SUBJECT"), "{table}");
    let row = table
        .lines()
        .find(|l| l.contains("198.51.100.0/24"))
        .unwrap();
    for word in ["address", "cli", "never", "botnet range"] {
        assert!(row.contains(word), "{word} missing in {row}");
    }
    assert!(
        table
            .lines()
            .any(|l| l.contains("mallory") && l.contains("abuse"))
    );

    let listed = json(moat(&cfg, &["list", "--json"]));
    assert_eq!(listed.len(), 3);
    let by_value = |v: &str| listed.iter().find(|b| b["value"] == v).unwrap().clone();
    let host = by_value("203.0.113.7");
    assert_eq!(host["subject"], "address");
    assert_eq!(host["reason"], "scanner");
    assert_eq!(host["source"], "cli");
    let left = host["expires_in_secs"].as_i64().unwrap();
    assert!((3590..=3600).contains(&left), "{left}");
    assert!(by_value("198.51.100.0/24")["expires_at"].is_null());
    assert_eq!(by_value("mallory")["subject"], "consumer");

    // What the gateway will read.
    let store = SqliteStore::open(&dir.path().join("state.db"))
        .await
        .unwrap();
    let list = moat_state::BanList::from_bans(store.list(unix_now()).await.unwrap());
    let ip = |s: &str| s.parse().unwrap();
    assert!(
        list.is_banned(ip("198.51.100.200"), None, unix_now())
            .is_some()
    );
    assert!(
        list.is_banned(ip("192.0.2.1"), Some("mallory"), unix_now())
            .is_some()
    );
    assert!(
        list.is_banned(ip("192.0.2.1"), Some("alice"), unix_now())
            .is_none()
    );
    store.close().await;

    let out = ok(moat(&cfg, &["remove", "--address", "198.51.100.0/24"]));
    assert!(
        out.contains("Lifted the ban on network 198.51.100.0/24"),
        "{out}"
    );
    let stderr = failed(moat(&cfg, &["remove", "--address", "198.51.100.0/24"]), 1);
    assert!(
        stderr.contains("no ban on network 198.51.100.0/24"),
        "{stderr}"
    );
    ok(moat(&cfg, &["remove", "--consumer", "mallory"]));
    let listed = json(moat(&cfg, &["list", "--json"]));
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn expired_bans_are_not_listed() {
    let dir = tempdir();
    let cfg = setup(dir.path());
    ok(moat(
        &cfg,
        &[
            "add",
            "--consumer",
            "brief",
            "--for",
            "3s",
            "--reason",
            "short",
        ],
    ));
    // One written by a detector, already over.
    let store = SqliteStore::open(&dir.path().join("state.db"))
        .await
        .unwrap();
    let now = unix_now();
    store
        .add(&Ban {
            subject: BanSubject::Address("192.0.2.1".parse().unwrap()),
            reason: "credential stuffing".into(),
            source: "credential_stuffing".into(),
            created_at: now - 7200,
            expires_at: Some(now - 3600),
        })
        .await
        .unwrap();
    store.close().await;
    let listed = json(moat(&cfg, &["list", "--json"]));
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["value"], "brief");
    std::thread::sleep(std::time::Duration::from_millis(3200));
    assert_eq!(ok(moat(&cfg, &["list"])).trim(), "No bans.");
    // An ended ban can be imposed again.
    let out = ok(moat(
        &cfg,
        &[
            "add",
            "--address",
            "192.0.2.1",
            "--for",
            "10m",
            "--reason",
            "again",
        ],
    ));
    assert!(out.starts_with("Banned address 192.0.2.1 until"), "{out}");
}

#[test]
fn bad_input_is_explained() {
    let dir = tempdir();
    let cfg = setup(dir.path());
    for (args, expected) in [
        (
            vec!["add", "--address", "203.0.113.300", "--reason", "x"],
            "`203.0.113.300` is not an IP address or network",
        ),
        (
            vec!["add", "--address", "203.0.113.0/33", "--reason", "x"],
            "at most 32",
        ),
        (
            vec!["add", "--address", "0.0.0.0/0", "--reason", "x"],
            "larger than /8",
        ),
        (
            vec!["add", "--consumer", "a", "--for", "0s", "--reason", "x"],
            "`--for` is zero",
        ),
        (
            vec![
                "add",
                "--consumer",
                "a",
                "--until",
                "2001-01-01T00:00:00Z",
                "--reason",
                "x",
            ],
            "is not in the future",
        ),
        (
            vec!["add", "--consumer", "a", "--reason", "  "],
            "`--reason` is empty",
        ),
        (
            vec!["remove", "--consumer", "nobody"],
            "no ban on consumer `nobody`",
        ),
    ] {
        let stderr = failed(moat(&cfg, &args), 1);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempdir();
    let cfg = setup(dir.path());
    for args in [
        vec!["add", "--reason", "no subject"],
        vec!["add", "--address", "192.0.2.1"],
        vec![
            "add",
            "--address",
            "192.0.2.1",
            "--consumer",
            "a",
            "--reason",
            "x",
        ],
        vec!["add", "--consumer", "a", "--for", "soon", "--reason", "x"],
        vec![
            "add",
            "--consumer",
            "a",
            "--for",
            "1h",
            "--until",
            "2099-01-01T00:00:00Z",
            "--reason",
            "x",
        ],
        vec!["remove"],
        vec!["frobnicate"],
    ] {
        failed(moat(&cfg, &args), 2);
    }
    assert!(!dir.path().join("state.db").exists());
    let out = Command::new(MOAT)
        .args(["bans", "list"])
        .env_remove("MOAT_CONFIG")
        .output()
        .unwrap();
    assert!(failed(out, 2).contains("--config"));
    // A config that cannot be read, or whose `state` is wrong, is reported
    // as such, with exit status 1.
    for text in [
        "listeners: [nope\n",
        "state: nope\n",
        "state: {sqlit: x.db}\n",
    ] {
        let broken = write(dir.path(), "broken.yaml", text);
        let stderr = failed(moat(&broken, &["list"]), 1);
        assert!(stderr.contains("broken.yaml:"), "{stderr}");
    }
    assert!(!dir.path().join("moat.db").exists());
}

#[test]
fn only_the_state_section_is_needed() {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    // The gateway's secrets are not set on this shell, and a part of the
    // config the store does not use is wrong: the bans commands still work.
    let text = config("http://127.0.0.1:9", "")
        .replace(ADMIN_TOKEN, "${env:MOAT_BANS_TEST_UNSET_ADMIN_TOKEN}")
        .replace("response_timeout: 2s", "response_timeout: soon");
    let text = format!(
        "{text}keys:\n  pepper: ${{env:MOAT_BANS_TEST_UNSET_PEPPER}}\nstate:\n  sqlite: state.db\n"
    );
    let cfg = write(dir.path(), "moat.yaml", &text);
    ok(moat(
        &cfg,
        &[
            "add",
            "--address",
            "192.0.2.7",
            "--for",
            "1h",
            "--reason",
            "scan",
        ],
    ));
    let listed = json(moat(&cfg, &["list", "--json"]));
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(dir.path().join("state.db").exists());
    // The gateway itself refuses that config, of course.
    let out = Command::new(MOAT)
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("MOAT_BANS_TEST_UNSET_PEPPER"), "{stderr}");

    // A reference in the `state` section itself must resolve.
    let text = text.replace("sqlite: state.db", "sqlite: ${env:MOAT_BANS_TEST_UNSET_DB}");
    write(dir.path(), "moat.yaml", &text);
    let stderr = failed(moat(&cfg, &["list"]), 1);
    assert!(stderr.contains("MOAT_BANS_TEST_UNSET_DB"), "{stderr}");
    assert!(!stderr.contains("PEPPER"), "{stderr}");
    assert!(stderr.contains("moat.yaml:"), "{stderr}");

    // A state directory that does not exist is refused, nothing created.
    let text = text.replace(
        "sqlite: ${env:MOAT_BANS_TEST_UNSET_DB}",
        "sqlite: missing/state.db",
    );
    write(dir.path(), "moat.yaml", &text);
    let stderr = failed(moat(&cfg, &["list"]), 1);
    assert!(
        stderr.contains("the directory of the state file"),
        "{stderr}"
    );
    assert!(!dir.path().join("missing").exists());
}
