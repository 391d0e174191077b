//! A SQLite state dumped and loaded into PostgreSQL (and back), refusals
//! that leave the target untouched, and merging.

use std::sync::Arc;

use super::*;
use crate::events::{Action, Control, Event, EventStore, Retention, Severity};
use crate::{
    AdminRole, AdminTokenStore, Ban, BanStore, BanSubject, DiscoveredRow, DiscoveryStore,
    KeyManager, ObjectKey, OwnershipStore, SqliteStore, unix_now,
};

const PEPPER: &[u8] = b"0123456789abcdef0123456789abcdef-test-pepper";

fn event(i: i64) -> Event {
    let mut e = Event::new(
        Control::Identity,
        "key-refused",
        Severity::Medium,
        Action::Denied,
    );
    e.time = 1_000_000 + i;
    e.status = Some(401);
    e
}

/// A SQLite state with some of everything, the events pruned once so the
/// chain starts at a moved anchor; and a key that verifies.
async fn filled() -> (tempfile::TempDir, DurableStore, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Arc::new(SqliteStore::open(&dir.path().join("s.db")).await.unwrap());
    let keys = KeyManager::new(sqlite.clone(), PEPPER).unwrap();
    let (_, issued) = keys
        .create("alice", Some("laptop"), &["read".into()], None)
        .await
        .unwrap();
    keys.create("bob", None, &[], Some(unix_now() + 3600))
        .await
        .unwrap();
    let object = ObjectKey {
        api: "shop".into(),
        kind: "order".into(),
        id: "7".into(),
    };
    sqlite.record(&object, "alice", 10).await.unwrap();
    sqlite
        .add(&Ban {
            subject: BanSubject::from_key("address:203.0.113.0/24").unwrap(),
            reason: "scraping".into(),
            source: "cli".into(),
            created_at: 10,
            expires_at: None,
        })
        .await
        .unwrap();
    let (_, token) = sqlite
        .create_token("ops", AdminRole::Operator, 10)
        .await
        .unwrap();
    sqlite
        .save_discovered(&[DiscoveredRow {
            api: "shop".into(),
            method: "GET".into(),
            template: "/orders/{id}".into(),
            requests: 3,
            first_seen: 1,
            last_seen: 2,
            shape: r#"{"query":[]}"#.into(),
        }])
        .await
        .unwrap();
    let events: Vec<Event> = (1..=12).map(event).collect();
    sqlite.append(&events).await.unwrap();
    let retention = Retention {
        max_age_ms: None,
        max_events: Some(10),
        max_bytes: None,
    };
    assert_eq!(sqlite.prune(retention, 0).await.unwrap(), 2);
    (
        dir,
        DurableStore::Sqlite(sqlite),
        issued.expose().to_string(),
        token.expose().to_string(),
    )
}

#[tokio::test]
async fn a_sqlite_state_moves_to_postgres_whole() {
    let (_dir, sqlite, key, token) = filled().await;
    let mut dump = Vec::new();
    let counts = export(&sqlite, &mut dump).await.unwrap();
    let expected = Counts {
        keys: 2,
        owners: 1,
        bans: 1,
        admin_tokens: 1,
        discovered: 1,
        events: 10,
    };
    assert_eq!(counts, expected);
    let text = String::from_utf8(dump.clone()).unwrap();
    assert!(text.starts_with(r#"{"type":"header","format":"moat-state","version":1}"#));
    assert!(!text.contains(&key) && !text.contains(&token));

    let (_server, pg) = crate::tests::postgres().await;
    let pg = DurableStore::Postgres(Arc::new(pg));
    let done = import(&pg, &mut dump.as_slice(), false).await.unwrap();
    assert_eq!(done.written, expected);
    let keys = KeyManager::new(pg.keys(), PEPPER).unwrap();
    assert_eq!(
        keys.verify(&key, unix_now()).await.unwrap().consumer_id,
        "alice"
    );
    assert!(
        pg.admin_tokens()
            .verify_token(&token, 20)
            .await
            .unwrap()
            .is_some()
    );
    let report = pg.events().verify().await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!((report.checked, report.first_seq), (10, Some(3)));
    // Appending goes on from the imported head.
    assert_eq!(pg.events().append(&[event(13)]).await.unwrap(), 13);
    assert!(pg.events().verify().await.unwrap().problems.is_empty());

    // The same records, dumped again, read the same.
    let mut again = Vec::new();
    export(&pg, &mut again).await.unwrap();
    let mut original = Vec::new();
    export(&sqlite, &mut original).await.unwrap();
    let lines = |b: &[u8]| {
        String::from_utf8(b.to_vec())
            .unwrap()
            .lines()
            .filter(|l| !l.contains(r#""type":"event""#) && !l.contains(r#""type":"chain""#))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let mut pg_lines = lines(&again);
    let mut sqlite_lines = lines(&original);
    // The key verified above has a last use on PostgreSQL only after a flush;
    // tokens record theirs at once.
    pg_lines.retain(|l| !l.contains("admin_token"));
    sqlite_lines.retain(|l| !l.contains("admin_token"));
    assert_eq!(pg_lines, sqlite_lines);

    // Into a store that holds state: refused, unless merging, which skips
    // what is there (the same chain included).
    let err = import(&pg, &mut dump.as_slice(), false).await.unwrap_err();
    assert!(matches!(err, DumpError::NotEmpty(_)), "{err}");
    let done = import(&pg, &mut dump.as_slice(), true).await.unwrap();
    assert_eq!(done.written, Counts::default());
    assert_eq!(done.skipped, expected);
}

#[tokio::test]
async fn a_bad_dump_is_refused_with_its_line_and_nothing_is_written() {
    let (_dir, sqlite, _, _) = filled().await;
    let mut dump = Vec::new();
    export(&sqlite, &mut dump).await.unwrap();
    let text = String::from_utf8(dump).unwrap();
    let target_dir = tempfile::tempdir().unwrap();
    let target = DurableStore::Sqlite(Arc::new(
        SqliteStore::open(&target_dir.path().join("t.db"))
            .await
            .unwrap(),
    ));
    let empty = |t: DurableStore| async move {
        assert!(t.keys().list(None).await.unwrap().is_empty());
        assert!(t.bans().list(0).await.unwrap().is_empty());
        assert_eq!(t.events().verify().await.unwrap().checked, 0);
    };

    // A malformed line after valid ones.
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(4, r#"{"type":"key","key_id":"x"}"#);
    let err = import(&target, &mut lines.join("\n").as_bytes(), false)
        .await
        .unwrap_err();
    assert!(matches!(err, DumpError::Line { line: 5, .. }), "{err}");
    empty(target.clone()).await;

    // An edited event: the chain does not verify.
    let edited = text.replacen(r#""status":401"#, r#""status":200"#, 1);
    let err = import(&target, &mut edited.as_bytes(), false)
        .await
        .unwrap_err();
    assert!(matches!(err, DumpError::Chain(_)), "{err}");
    empty(target.clone()).await;

    // Not a dump at all.
    let err = import(&target, &mut "{}\n".as_bytes(), false)
        .await
        .unwrap_err();
    assert!(matches!(err, DumpError::Line { line: 1, .. }), "{err}");

    // A record whose key the target has, in a store with other events:
    // merging keys works, merging chains is refused as a whole.
    target.events().append(&[event(99)]).await.unwrap();
    let err = import(&target, &mut text.as_bytes(), true)
        .await
        .unwrap_err();
    assert!(matches!(err, DumpError::Chain(_)), "{err}");
    assert!(target.keys().list(None).await.unwrap().is_empty());
}
