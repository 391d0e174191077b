//! `moat db` end to end: the real binary, an embedded SQLite state and a
//! real PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "../../moat-state/tests/support/postgres.rs"]
mod postgres_server;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use moat_state::events::{Action, Control, Event, EventStore, Severity};
use moat_state::{
    Ban, BanStore, BanSubject, KeyManager, KeyStore, ObjectKey, OwnershipStore, PostgresOptions,
    PostgresStore, SqliteStore, unix_now,
};
use postgres_server::PostgresServer;
use support::{ECHO_SPEC, MOAT, config, tempdir, write};

const PEPPER: &[u8] = b"db-test-pepper-0123456789abcdef-0123456789";

/// `moat db ARGS…` with `env` set; nothing inherited that names a store.
fn moat(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(MOAT)
        .arg("db")
        .args(args)
        .env_remove("MOAT_CONFIG")
        .env_remove("MOAT_POSTGRES_URL")
        .envs(env.iter().copied())
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

fn failed(out: Output) -> String {
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// A config whose `state.sqlite` is `state.db` in `dir`, and that state
/// filled with two keys, an owner, a ban and three events; the config
/// path and one key.
async fn embedded_state(dir: &Path) -> (std::path::PathBuf, String) {
    write(dir, "spec.yaml", ECHO_SPEC);
    let config = write(
        dir,
        "moat.yaml",
        &format!(
            "{}state:\n  sqlite: state.db\n",
            config("http://127.0.0.1:9", "")
        ),
    );
    let store = Arc::new(SqliteStore::open(&dir.join("state.db")).await.unwrap());
    let keys = KeyManager::new(store.clone(), PEPPER).unwrap();
    let (_, issued) = keys
        .create("alice", None, &["read".into()], None)
        .await
        .unwrap();
    keys.create("bob", Some("ci"), &[], None).await.unwrap();
    let order = ObjectKey {
        api: "echo".into(),
        kind: "item".into(),
        id: "1".into(),
    };
    store.record(&order, "alice", 5).await.unwrap();
    store
        .add(&Ban {
            subject: BanSubject::from_key("consumer:mallory").unwrap(),
            reason: "abuse".into(),
            source: "cli".into(),
            created_at: 5,
            expires_at: None,
        })
        .await
        .unwrap();
    let events: Vec<Event> = (0..3)
        .map(|_| {
            Event::new(
                Control::Identity,
                "key-refused",
                Severity::Medium,
                Action::Denied,
            )
        })
        .collect();
    store.append(&events).await.unwrap();
    store.close().await;
    (config, issued.expose().to_string())
}

#[tokio::test]
async fn an_embedded_state_moves_to_postgres() {
    let dir = tempdir();
    let (config, key) = embedded_state(dir.path()).await;
    let config = config.to_str().unwrap();
    let dump = dir.path().join("dump.jsonl");
    let out = moat(
        &[
            "export",
            "--config",
            config,
            "--output",
            dump.to_str().unwrap(),
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    ok(out);
    assert!(
        stderr.contains("exported 2 keys, 1 object owners, 1 bans, 0 admin tokens, 0 discovered operations, 3 events"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&dump).unwrap();
    assert!(!text.contains(&key));

    let server = PostgresServer::start();
    let url = server.url();
    let env = [("MOAT_POSTGRES_URL", url.as_str())];

    // A corrupt dump: refused with its line, nothing written.
    let mut lines: Vec<&str> = text.lines().collect();
    lines[3] = r#"{"type":"ban","subject":"nobody"}"#;
    let corrupt = write(dir.path(), "corrupt.jsonl", &lines.join("\n"));
    let stderr = failed(moat(&["import", corrupt.to_str().unwrap()], &env));
    assert!(stderr.contains("nothing was imported: line 4:"), "{stderr}");
    assert!(!stderr.contains(server.password()), "{stderr}");
    let pg = PostgresStore::connect(&PostgresOptions::new(url.clone()))
        .await
        .unwrap();
    assert!(KeyStore::list(&pg, None).await.unwrap().is_empty());
    assert_eq!(pg.verify().await.unwrap().checked, 0);

    // The real one.
    let stdout = ok(moat(&["import", dump.to_str().unwrap()], &env));
    assert!(
        stdout.contains("imported 2 keys, 1 object owners, 1 bans"),
        "{stdout}"
    );
    assert_eq!(KeyStore::list(&pg, None).await.unwrap().len(), 2);
    assert_eq!(BanStore::list(&pg, unix_now()).await.unwrap().len(), 1);
    let order = ObjectKey {
        api: "echo".into(),
        kind: "item".into(),
        id: "1".into(),
    };
    assert_eq!(pg.owner(&order).await.unwrap().as_deref(), Some("alice"));
    let keys = KeyManager::new(Arc::new(pg.clone()), PEPPER).unwrap();
    let verified = keys.verify(&key, unix_now()).await.unwrap();
    assert_eq!(verified.consumer_id, "alice");
    let report = pg.verify().await.unwrap();
    assert_eq!(report.checked, 3);
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    // Again: refused (the target holds state), or skipped with --merge.
    let stderr = failed(moat(&["import", dump.to_str().unwrap()], &env));
    assert!(stderr.contains("already holds state"), "{stderr}");
    let stdout = ok(moat(&["import", "--merge", dump.to_str().unwrap()], &env));
    assert!(stdout.contains("imported 0 keys"), "{stdout}");
    assert!(
        stdout.contains("skipped (already there) 2 keys"),
        "{stdout}"
    );
}

#[tokio::test]
async fn migrating_twice_is_a_no_op() {
    let server = PostgresServer::start();
    let url = server.url();
    let env = [("MOAT_POSTGRES_URL", url.as_str())];
    let first = ok(moat(&["migrate"], &env));
    let name = format!("PostgreSQL 127.0.0.1:{}/moat", server.port());
    assert!(
        first.starts_with(&format!("{name}: schema version 0 → ")),
        "{first}"
    );
    let second = ok(moat(&["migrate"], &env));
    assert!(second.contains("up to date"), "{second}");
    assert!(!first.contains(server.password()) && !second.contains(server.password()));

    let dir = tempdir();
    let db = dir.path().join("fresh.db");
    let db = db.to_str().unwrap();
    let first = ok(moat(&["migrate", "--sqlite", db], &[]));
    assert!(first.contains(": schema version 0 → "), "{first}");
    let second = ok(moat(&["migrate", "--sqlite", db], &[]));
    assert!(second.contains("up to date"), "{second}");
}

#[tokio::test]
async fn an_unreachable_server_is_named_without_its_password() {
    let mut server = PostgresServer::start();
    let url = server.url();
    server.kill();
    let stderr = failed(moat(&["migrate"], &[("MOAT_POSTGRES_URL", url.as_str())]));
    assert!(
        stderr.contains(&format!("PostgreSQL 127.0.0.1:{}/moat", server.port())),
        "{stderr}"
    );
    assert!(!stderr.contains(server.password()), "{stderr}");
    let stderr = failed(moat(&["export"], &[]));
    assert!(stderr.contains("name the store"), "{stderr}");
}
