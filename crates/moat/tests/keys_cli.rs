//! `moat keys` end to end: the real binary against a config and an SQLite
//! file in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::Value;
use support::{ECHO_SPEC, MOAT, config, tempdir, write};

const PEPPER: &str = "cli-test-pepper-0123456789abcdef-0123456789";

/// Writes the spec and a config with `state`/`keys` sections using
/// `pepper` and one consumer, `alice`; returns the config path.
fn setup(dir: &Path, pepper_line: &str) -> std::path::PathBuf {
    write(dir, "spec.yaml", ECHO_SPEC);
    let text = format!(
        "{}state:\n  sqlite: keys.db\nconsumers:\n  - id: alice\n{pepper_line}",
        config("http://127.0.0.1:9", "")
    );
    write(dir, "moat.yaml", &text)
}

fn moat(config: &Path, args: &[&str]) -> Output {
    Command::new(MOAT)
        .arg("keys")
        .arg("--config")
        .arg(config)
        .args(args)
        .env("MOAT_TEST_PEPPER", PEPPER)
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

fn json(out: Output) -> Value {
    serde_json::from_str(&ok(out)).unwrap()
}

/// The one `moat_…` word in the output.
fn key_in(text: &str) -> String {
    let keys: Vec<&str> = text
        .split_whitespace()
        .filter(|w| w.starts_with("moat_") && w.len() == 56)
        .collect();
    assert_eq!(keys.len(), 1, "{text}");
    keys[0].to_string()
}

#[tokio::test]
async fn create_list_show_rotate_revoke() {
    let dir = tempdir();
    let cfg = setup(dir.path(), "keys:\n  pepper: ${env:MOAT_TEST_PEPPER}\n");

    let out = ok(moat(
        &cfg,
        &[
            "create",
            "--consumer",
            "alice",
            "--name",
            "laptop",
            "--scope",
            "read",
            "--scope",
            "write",
            "--expires-in",
            "90d",
        ],
    ));
    assert!(out.contains("only time the key is shown"), "{out}");
    let key = key_in(&out);
    let key_id = key[5..17].to_string();
    let secret = &key[18..];
    assert!(out.contains(&format!("Created API key {key_id}")), "{out}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("keys.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The printed key verifies against the file with the same pepper.
    let store = moat_state::SqliteStore::open(&dir.path().join("keys.db"))
        .await
        .unwrap();
    let keys = moat_state::KeyManager::new(Arc::new(store), PEPPER.as_bytes()).unwrap();
    let record = keys.verify(&key, moat_state::unix_now()).await.unwrap();
    assert_eq!(record.consumer_id, "alice");
    assert_eq!(record.scopes, ["read", "write"]);

    let table = ok(moat(&cfg, &["list"]));
    assert!(table.starts_with("KEY ID"), "{table}");
    let row = table.lines().find(|l| l.contains(&key_id)).unwrap();
    for word in ["alice", "laptop", "read,write", "never", "active"] {
        assert!(row.contains(word), "{word} missing in {row}");
    }
    assert!(!table.contains(secret));

    let listed = json(moat(&cfg, &["list", "--json"]));
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["key_id"], key_id.as_str());
    assert_eq!(listed[0]["status"], "active");
    assert!(listed[0].get("secret_hash").is_none() && listed[0].get("key").is_none());
    assert!(!listed[0].to_string().contains(secret));

    let shown = ok(moat(&cfg, &["show", &key_id]));
    assert!(
        shown.contains("laptop") && shown.contains("status:       active"),
        "{shown}"
    );
    let shown = json(moat(&cfg, &["show", &key_id, "--json"]));
    assert_eq!(shown["name"], "laptop");
    assert!(shown["expires_at"].as_str().unwrap().ends_with('Z'));

    let out = ok(moat(&cfg, &["rotate", &key_id, "--overlap", "1h"]));
    let new_key = key_in(&out);
    let new_id = new_key[5..17].to_string();
    assert_ne!(new_id, key_id);
    assert!(
        out.contains(&format!("The old key {key_id} stays valid until")),
        "{out}"
    );
    assert!(out.contains("(in 59m") || out.contains("(in 1h"), "{out}");

    let listed = json(moat(&cfg, &["list", "--consumer", "alice", "--json"]));
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    let new = listed
        .iter()
        .find(|r| r["key_id"] == new_id.as_str())
        .unwrap();
    assert_eq!(new["rotated_from"], key_id.as_str());
    assert_eq!(new["scopes"], serde_json::json!(["read", "write"]));
    assert!(listed.iter().all(|r| r["status"] == "active"));
    // Both keys work during the overlap.
    keys.verify(&key, moat_state::unix_now()).await.unwrap();
    keys.verify(&new_key, moat_state::unix_now()).await.unwrap();

    let out = ok(moat(&cfg, &["revoke", &key_id]));
    assert!(out.contains(&format!("Revoked API key {key_id}")), "{out}");
    let shown = json(moat(&cfg, &["show", &key_id, "--json"]));
    assert_eq!(shown["status"], "revoked");
    assert!(shown["revoked_at"].is_string());
    let out = ok(moat(&cfg, &["revoke", &key_id]));
    assert!(out.contains("already revoked"), "{out}");
    let out = moat(&cfg, &["rotate", &key_id]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is revoked, so it cannot be rotated"),
        "{stderr}"
    );
    let table = ok(moat(&cfg, &["list"]));
    assert!(
        table
            .lines()
            .any(|l| l.contains(&key_id) && l.ends_with("revoked")),
        "{table}"
    );
    // The running process's manager sees the revocation at once.
    assert!(keys.verify(&key, moat_state::unix_now()).await.is_err());

    assert!(
        ok(moat(&cfg, &["list", "--consumer", "bob"])).contains("No API keys."),
        "an unknown consumer lists nothing"
    );
}

#[test]
fn bad_key_ids_fail_with_a_message() {
    let dir = tempdir();
    let cfg = setup(dir.path(), "keys:\n  pepper: ${env:MOAT_TEST_PEPPER}\n");
    for (args, expected) in [
        (vec!["show", "nope"], "`nope` is not a key id"),
        (vec!["revoke", "nope"], "`nope` is not a key id"),
        (
            vec!["show", "AAAAAAAAAAAA"],
            "no API key with id `AAAAAAAAAAAA`",
        ),
        (
            vec!["rotate", "AAAAAAAAAAAA"],
            "no API key with id `AAAAAAAAAAAA`",
        ),
        (
            vec!["revoke", "AAAAAAAAAAAA"],
            "no API key with id `AAAAAAAAAAAA`",
        ),
    ] {
        let out = moat(&cfg, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }

    // A whole key pasted instead of its id is not echoed back.
    let key = key_in(&ok(moat(&cfg, &["create", "--consumer", "alice"])));
    let out = moat(&cfg, &["show", &key]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pass only its key id"), "{stderr}");
    assert!(!stderr.contains(&key[18..]), "{stderr}");

    let out = moat(
        &cfg,
        &["create", "--consumer", "alice", "--scope", "two words"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid scope"));
}

#[test]
fn a_key_for_an_unknown_consumer_is_refused_and_nothing_is_written() {
    let dir = tempdir();
    let cfg = setup(dir.path(), "keys:\n  pepper: ${env:MOAT_TEST_PEPPER}\n");
    let out = moat(&cfg, &["create", "--consumer", "alcie", "--scope", "read"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no consumer `alcie`"), "{stderr}");
    assert!(
        stderr.contains("hint:") && stderr.contains("alice"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!dir.path().join("keys.db").exists());

    // Once the store exists, a refused create still adds nothing to it.
    ok(moat(&cfg, &["create", "--consumer", "alice"]));
    let out = moat(&cfg, &["create", "--consumer", "bob", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let listed = json(moat(&cfg, &["list", "--json"]));
    let consumers: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["consumer_id"].as_str().unwrap())
        .collect();
    assert_eq!(consumers, ["alice"]);
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempdir();
    let cfg = setup(dir.path(), "keys:\n  pepper: ${env:MOAT_TEST_PEPPER}\n");
    for args in [
        vec!["create"],
        vec!["create", "--consumer", "a", "--expires-in", "soon"],
        vec!["rotate", "AAAAAAAAAAAA", "--overlap", "x"],
        vec!["frobnicate"],
    ] {
        let out = moat(&cfg, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    // No config at all.
    let out = Command::new(MOAT)
        .args(["keys", "list"])
        .env_remove("MOAT_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config"));
}

#[test]
fn config_from_the_environment_and_after_the_subcommand() {
    let dir = tempdir();
    let cfg = setup(dir.path(), "keys:\n  pepper: ${env:MOAT_TEST_PEPPER}\n");
    let out = Command::new(MOAT)
        .args(["keys", "list", "--json"])
        .env("MOAT_CONFIG", &cfg)
        .env("MOAT_TEST_PEPPER", PEPPER)
        .output()
        .unwrap();
    assert_eq!(ok(out).trim(), "[]");
    let out = Command::new(MOAT)
        .args(["keys", "list", "--config"])
        .arg(&cfg)
        .env("MOAT_TEST_PEPPER", PEPPER)
        .env_remove("MOAT_CONFIG")
        .output()
        .unwrap();
    assert!(ok(out).contains("No API keys."));
}

#[test]
fn short_pepper_is_a_positioned_config_error() {
    let dir = tempdir();
    let cfg = setup(dir.path(), "keys:\n  pepper: too-short\n");
    let out = moat(&cfg, &["list"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = cfg.display().to_string();
    let lines_before = std::fs::read_to_string(&cfg)
        .unwrap()
        .lines()
        .position(|l| l.contains("pepper:"))
        .unwrap();
    assert!(
        stderr.contains(&format!("{line}:{}:", lines_before + 1)),
        "{stderr}"
    );
    assert!(stderr.contains("pepper"), "{stderr}");
    assert!(stderr.contains("openssl rand"), "{stderr}");
    assert!(!dir.path().join("keys.db").exists());
}

#[test]
fn missing_keys_section_is_explained() {
    let dir = tempdir();
    let cfg = setup(dir.path(), "");
    let out = moat(&cfg, &["list"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no `keys` section"), "{stderr}");
}
