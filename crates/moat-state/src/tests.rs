//! Behaviour of the key lifecycle against both stores. Inside the crate so a
//! test can forge a well-formed key (right checksum, wrong secret).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::format::{self, KEY_LEN, MalformedKey};
use crate::{
    IssuedKey, KeyError, KeyManager, KeyRecord, KeyRejection, KeyStatus, KeyStore, MemoryStore,
    SCHEMA_VERSION, SqliteStore, StoreError, UnixTime,
};

const PEPPER: &[u8] = b"0123456789abcdef0123456789abcdef-test-pepper";
const T0: UnixTime = 1_800_000_000;
const DAY: i64 = 24 * 3600;

/// A clock the test moves by hand.
fn clock(start: UnixTime) -> (Arc<AtomicI64>, crate::Clock) {
    let now = Arc::new(AtomicI64::new(start));
    let reader = Arc::clone(&now);
    (now, Arc::new(move || reader.load(Ordering::SeqCst)))
}

fn manager(store: Arc<dyn KeyStore>) -> KeyManager {
    let (_, c) = clock(T0);
    KeyManager::new(store, PEPPER).unwrap().with_clock(c)
}

fn scopes(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

/// What keeps a store's backing alive: its temporary directory or its
/// PostgreSQL server.
type Guard = Option<Box<dyn std::any::Any>>;

/// A migrated PostgreSQL store on a fresh server of its own.
pub(crate) async fn postgres() -> (crate::postgres_server::PostgresServer, crate::PostgresStore) {
    let server = crate::postgres_server::PostgresServer::start();
    let store = crate::PostgresStore::connect(&crate::PostgresOptions::new(server.url()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    (server, store)
}

/// Every store, so every lifecycle test covers each.
async fn stores() -> Vec<(Arc<dyn KeyStore>, Guard)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("keys.db"))
        .await
        .unwrap();
    let (server, pg) = postgres().await;
    vec![
        (Arc::new(MemoryStore::new()), None),
        (Arc::new(sqlite), Some(Box::new(dir))),
        (Arc::new(pg), Some(Box::new(server))),
    ]
}

/// The same key id with another secret and a correct checksum.
fn forge_wrong_secret(issued: &IssuedKey) -> String {
    let key = issued.expose();
    let body_len = KEY_LEN - format::CHECKSUM_LEN;
    let mut body = key.as_bytes()[..body_len].to_vec();
    let last = body_len - 1;
    body[last] = if body[last] == b'a' { b'b' } else { b'a' };
    let sum = format::checksum(&body);
    body.extend_from_slice(&sum);
    let forged = String::from_utf8(body).unwrap();
    assert!(format::parse(&forged).is_ok());
    forged
}

/// Counts lookups, to prove junk never reaches the store.
#[derive(Default)]
struct CountingStore {
    inner: MemoryStore,
    gets: AtomicUsize,
}

#[async_trait]
impl KeyStore for CountingStore {
    async fn insert(&self, r: &KeyRecord) -> Result<(), StoreError> {
        self.inner.insert(r).await
    }
    async fn get(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key_id).await
    }
    async fn list(&self, c: Option<&str>) -> Result<Vec<KeyRecord>, StoreError> {
        self.inner.list(c).await
    }
    async fn revoke(&self, key_id: &str, at: UnixTime) -> Result<bool, StoreError> {
        self.inner.revoke(key_id, at).await
    }
    async fn set_expiry(&self, key_id: &str, t: Option<UnixTime>) -> Result<bool, StoreError> {
        self.inner.set_expiry(key_id, t).await
    }
    async fn rotate(&self, old: &str, d: UnixTime, new: &KeyRecord) -> Result<bool, StoreError> {
        self.inner.rotate(old, d, new).await
    }
    async fn record_last_used(&self, uses: &[(String, UnixTime)]) -> Result<(), StoreError> {
        self.inner.record_last_used(uses).await
    }
}

#[tokio::test]
async fn create_then_verify() {
    for (store, _dir) in stores().await {
        let keys = manager(store);
        let (record, issued) = keys
            .create(
                "alice",
                Some("laptop"),
                &scopes(&["read", "write", "read"]),
                None,
            )
            .await
            .unwrap();
        assert_eq!(record.key_id, issued.key_id());
        assert_eq!(record.scopes, scopes(&["read", "write"]));
        assert_eq!(record.created_at, T0);
        assert_eq!(record.secret_hash.len(), 32);
        assert!(
            !record
                .secret_hash
                .windows(12)
                .any(|w| w == issued.key_id().as_bytes())
        );
        let got = keys.verify(issued.expose(), T0 + 1).await.unwrap();
        assert_eq!(got, record);
        assert!(got.has_scope("write") && !got.has_scope("admin"));
    }
}

#[tokio::test]
async fn wrong_secret_unknown_id_and_other_pepper_are_rejected() {
    for (store, _dir) in stores().await {
        let keys = manager(Arc::clone(&store));
        let (_, issued) = keys.create("alice", None, &[], None).await.unwrap();

        let forged = forge_wrong_secret(&issued);
        let err = keys.verify(&forged, T0).await.unwrap_err();
        assert!(matches!(err, KeyRejection::WrongSecret { .. }), "{err:?}");
        assert_eq!(err.key_id(), Some(issued.key_id()));
        assert!(err.is_credential_failure());

        // A well-formed key that was never issued here.
        let other = manager(Arc::new(MemoryStore::new()));
        let (_, stranger) = other.create("bob", None, &[], None).await.unwrap();
        let err = keys.verify(stranger.expose(), T0).await.unwrap_err();
        assert!(matches!(err, KeyRejection::Unknown { .. }), "{err:?}");
        assert!(err.is_credential_failure());

        // The right key checked with another pepper.
        let peppered = KeyManager::new(store, &[7u8; 32]).unwrap();
        let err = peppered.verify(issued.expose(), T0).await.unwrap_err();
        assert!(matches!(err, KeyRejection::WrongSecret { .. }), "{err:?}");
    }
}

#[tokio::test]
async fn malformed_keys_never_reach_the_store() {
    let store = Arc::new(CountingStore::default());
    let keys = manager(store.clone());
    let (_, issued) = keys.create("alice", None, &[], None).await.unwrap();
    let good = issued.expose();
    let huge = "moat_".repeat(1 << 18);
    let mut bad_crc = good.as_bytes().to_vec();
    bad_crc[KEY_LEN - 1] = if bad_crc[KEY_LEN - 1] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let bad_crc = String::from_utf8(bad_crc).unwrap();
    let cases = [
        String::new(),
        huge,
        good.replacen("moat_", "mote_", 1),
        good.replacen("moat_", "MOAT_", 1),
        good[..KEY_LEN - 1].to_string(),
        format!("{good}A"),
        format!(" {}", &good[1..]),
        format!("{}!{}", &good[..30], &good[31..]),
        bad_crc,
        "Bearer moat_xyz".to_string(),
    ];
    for case in &cases {
        let err = keys.verify(case, T0).await.unwrap_err();
        assert!(
            matches!(err, KeyRejection::Malformed(_)),
            "{case:.60}: {err:?}"
        );
        assert_eq!(err.key_id(), None);
        assert!(err.is_credential_failure());
    }
    assert_eq!(store.gets.load(Ordering::SeqCst), 0);
    assert!(matches!(
        keys.verify(&cases[8], T0).await,
        Err(KeyRejection::Malformed(MalformedKey::Checksum))
    ));
    keys.verify(good, T0).await.unwrap();
    assert_eq!(store.gets.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn rotation_keeps_the_old_key_until_the_deadline() {
    for (store, _dir) in stores().await {
        let (now, c) = clock(T0);
        let keys = KeyManager::new(store, PEPPER).unwrap().with_clock(c);
        let (old, old_key) = keys
            .create(
                "alice",
                Some("ci"),
                &scopes(&["deploy"]),
                Some(T0 + 90 * DAY),
            )
            .await
            .unwrap();
        now.store(T0 + 10, Ordering::SeqCst);
        let (new, new_key) = keys
            .rotate(&old.key_id, Duration::from_secs(3600))
            .await
            .unwrap();
        assert_eq!(new.rotated_from.as_deref(), Some(old.key_id.as_str()));
        assert_eq!(new.consumer_id, "alice");
        assert_eq!(new.name.as_deref(), Some("ci"));
        assert_eq!(new.scopes, scopes(&["deploy"]));
        // Same 90-day lifetime, counted from the rotation.
        assert_eq!(new.expires_at, Some(T0 + 10 + 90 * DAY));
        let deadline = T0 + 10 + 3600;
        let stored_old = keys.get(&old.key_id).await.unwrap().unwrap();
        assert_eq!(stored_old.expires_at, Some(deadline));

        keys.verify(old_key.expose(), deadline - 1).await.unwrap();
        keys.verify(new_key.expose(), deadline - 1).await.unwrap();
        let err = keys.verify(old_key.expose(), deadline).await.unwrap_err();
        assert!(matches!(err, KeyRejection::Expired { .. }), "{err:?}");
        keys.verify(new_key.expose(), deadline).await.unwrap();

        // The overlap never extends an earlier expiry.
        let (short, _) = keys.create("bob", None, &[], Some(T0 + 100)).await.unwrap();
        keys.rotate(&short.key_id, Duration::from_secs(DAY as u64))
            .await
            .unwrap();
        let short = keys.get(&short.key_id).await.unwrap().unwrap();
        assert_eq!(short.expires_at, Some(T0 + 100));

        // Revoked and expired keys are not rotated; neither are unknown ones.
        now.store(deadline, Ordering::SeqCst);
        assert!(matches!(
            keys.rotate(&old.key_id, Duration::ZERO).await,
            Err(KeyError::Expired(_))
        ));
        keys.revoke(&new.key_id).await.unwrap();
        assert!(matches!(
            keys.rotate(&new.key_id, Duration::ZERO).await,
            Err(KeyError::Revoked(_))
        ));
        assert!(matches!(
            keys.rotate("AAAAAAAAAAAA", Duration::ZERO).await,
            Err(KeyError::NotFound(_))
        ));
        assert_eq!(keys.list(Some("alice")).await.unwrap().len(), 2);
    }
}

#[tokio::test]
async fn a_key_without_expiry_rotates_to_one_without_expiry() {
    let keys = manager(Arc::new(MemoryStore::new()));
    let (old, _) = keys.create("alice", None, &[], None).await.unwrap();
    let (new, _) = keys
        .rotate(&old.key_id, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(new.expires_at, None);
    let old = keys.get(&old.key_id).await.unwrap().unwrap();
    assert_eq!(old.expires_at, Some(T0 + 60));
}

#[tokio::test]
async fn revocation_takes_effect_on_the_next_verify() {
    for (store, _dir) in stores().await {
        let keys = manager(store);
        let (record, issued) = keys.create("alice", None, &[], None).await.unwrap();
        keys.verify(issued.expose(), T0).await.unwrap();
        let revoked = keys.revoke(&record.key_id).await.unwrap();
        assert_eq!(revoked.revoked_at, Some(T0));
        assert_eq!(revoked.status(T0), KeyStatus::Revoked);
        let err = keys.verify(issued.expose(), T0).await.unwrap_err();
        assert!(matches!(err, KeyRejection::Revoked { .. }), "{err:?}");
        assert_eq!(err.reason(), "revoked");
        assert_eq!(err.key_id(), Some(record.key_id.as_str()));
        // Revoking again keeps the first time; unknown ids are an error.
        assert_eq!(
            keys.revoke(&record.key_id).await.unwrap().revoked_at,
            Some(T0)
        );
        assert!(matches!(
            keys.revoke("AAAAAAAAAAAA").await,
            Err(KeyError::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn revocation_by_another_process_is_seen_at_once() {
    // The gateway and `moat keys revoke` each open the file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.db");
    let gateway = manager(Arc::new(SqliteStore::open(&path).await.unwrap()));
    let cli = manager(Arc::new(SqliteStore::open(&path).await.unwrap()));
    let (record, issued) = cli.create("alice", None, &[], None).await.unwrap();
    gateway.verify(issued.expose(), T0).await.unwrap();
    cli.revoke(&record.key_id).await.unwrap();
    assert!(matches!(
        gateway.verify(issued.expose(), T0).await,
        Err(KeyRejection::Revoked { .. })
    ));
}

#[tokio::test]
async fn expiry() {
    for (store, _dir) in stores().await {
        let keys = manager(store);
        let (record, issued) = keys
            .create("alice", None, &[], Some(T0 + 60))
            .await
            .unwrap();
        keys.verify(issued.expose(), T0 + 59).await.unwrap();
        let err = keys.verify(issued.expose(), T0 + 60).await.unwrap_err();
        assert!(matches!(err, KeyRejection::Expired { .. }), "{err:?}");
        assert_eq!(record.status(T0 + 60), KeyStatus::Expired);
        keys.set_expiry(&record.key_id, None).await.unwrap();
        keys.verify(issued.expose(), T0 + 10 * DAY).await.unwrap();
        assert!(matches!(
            keys.create("alice", None, &[], Some(T0)).await,
            Err(KeyError::Invalid {
                field: "expiry",
                ..
            })
        ));
    }
}

#[tokio::test]
async fn sqlite_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.db");
    let (record, issued) = {
        let store = Arc::new(SqliteStore::open(&path).await.unwrap());
        let keys = manager(store.clone());
        let created = keys
            .create(
                "alice",
                Some("ünïcode name"),
                &scopes(&["a:b", "c"]),
                Some(T0 + DAY),
            )
            .await
            .unwrap();
        keys.verify(created.1.expose(), T0 + 5).await.unwrap();
        assert_eq!(keys.flush_last_used().await.unwrap(), 1);
        store.close().await;
        created
    };
    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    let keys = manager(store);
    let got = keys.verify(issued.expose(), T0 + 6).await.unwrap();
    assert_eq!(
        got,
        KeyRecord {
            last_used_at: Some(T0 + 5),
            ..record
        }
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.db");
    let store = SqliteStore::open(&path).await.unwrap();
    sqlx::query("UPDATE moat_schema SET version = 99")
        .execute(&store.pool_for_tests())
        .await
        .unwrap();
    store.close().await;
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found: 99, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn last_used_is_batched_and_never_goes_back() {
    for (store, _dir) in stores().await {
        let keys = manager(Arc::clone(&store));
        let (a, ka) = keys.create("alice", None, &[], None).await.unwrap();
        let (b, kb) = keys.create("bob", None, &[], None).await.unwrap();
        for t in [T0 + 3, T0 + 9, T0 + 5] {
            keys.verify(ka.expose(), t).await.unwrap();
        }
        keys.verify(kb.expose(), T0 + 1).await.unwrap();
        // Rejections are not uses.
        let _ = keys.verify(&forge_wrong_secret(&ka), T0 + 20).await;
        assert_eq!(keys.unflushed_last_used(), 2);
        assert_eq!(
            store.get(&a.key_id).await.unwrap().unwrap().last_used_at,
            None
        );
        assert_eq!(keys.flush_last_used().await.unwrap(), 2);
        assert_eq!(keys.unflushed_last_used(), 0);
        assert_eq!(keys.flush_last_used().await.unwrap(), 0);
        assert_eq!(
            store.get(&a.key_id).await.unwrap().unwrap().last_used_at,
            Some(T0 + 9)
        );
        assert_eq!(
            store.get(&b.key_id).await.unwrap().unwrap().last_used_at,
            Some(T0 + 1)
        );
        keys.verify(ka.expose(), T0 + 2).await.unwrap();
        keys.flush_last_used().await.unwrap();
        assert_eq!(
            store.get(&a.key_id).await.unwrap().unwrap().last_used_at,
            Some(T0 + 9)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_verifies() {
    for (store, _dir) in stores().await {
        let keys = Arc::new(manager(store));
        let mut issued = Vec::new();
        for i in 0..8 {
            let (_, k) = keys
                .create(&format!("consumer-{i}"), None, &[], None)
                .await
                .unwrap();
            issued.push(k.expose().to_string());
        }
        let mut tasks = Vec::new();
        for (i, key) in issued.iter().enumerate() {
            let keys = Arc::clone(&keys);
            let key = key.clone();
            let other = issued[(i + 1) % issued.len()].clone();
            tasks.push(tokio::spawn(async move {
                for n in 0..200 {
                    let r = keys.verify(&key, T0 + n).await.unwrap();
                    assert_eq!(r.consumer_id, format!("consumer-{i}"));
                    keys.verify(&other, T0 + n).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(keys.flush_last_used().await.unwrap(), 8);
    }
}

#[tokio::test]
async fn inputs_are_checked() {
    let keys = manager(Arc::new(MemoryStore::new()));
    let invalid = |r: Result<(KeyRecord, IssuedKey), KeyError>| match r {
        Err(KeyError::Invalid { field, .. }) => field,
        other => panic!("expected Invalid, got {other:?}"),
    };
    assert_eq!(
        invalid(keys.create("", None, &[], None).await),
        "consumer id"
    );
    assert_eq!(
        invalid(keys.create("a b", None, &[], None).await),
        "consumer id"
    );
    assert_eq!(
        invalid(keys.create(&"x".repeat(129), None, &[], None).await),
        "consumer id"
    );
    assert_eq!(
        invalid(keys.create("a", Some("bad\x1b[31m"), &[], None).await),
        "name"
    );
    for scope in ["", "two words", "quo\"te", "back\\slash", "ünï"] {
        assert_eq!(
            invalid(keys.create("a", None, &scopes(&[scope]), None).await),
            "scope",
            "{scope:?}"
        );
    }
}

#[tokio::test]
async fn duplicate_ids_are_refused_by_both_stores() {
    for (store, _dir) in stores().await {
        let keys = manager(Arc::clone(&store));
        let (record, _) = keys.create("alice", None, &[], None).await.unwrap();
        let err = store.insert(&record).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Duplicate(ref id) if *id == record.key_id),
            "{err}"
        );
    }
}

#[test]
fn short_pepper_is_refused_with_a_hint() {
    let err = KeyManager::new(Arc::new(MemoryStore::new()), &[1u8; 31]).unwrap_err();
    assert!(matches!(err, KeyError::PepperTooShort { len: 31 }));
    assert!(err.to_string().contains("openssl rand"), "{err}");
    assert!(KeyManager::new(Arc::new(MemoryStore::new()), &[1u8; 32]).is_ok());
}

#[tokio::test]
async fn secrets_stay_out_of_debug_output() {
    let keys = manager(Arc::new(MemoryStore::new()));
    let (record, issued) = keys.create("alice", None, &[], None).await.unwrap();
    let secret = &issued.expose()[18..];
    for shown in [
        format!("{issued:?}"),
        format!("{issued}"),
        format!("{record:?}"),
        format!("{keys:?}"),
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert_eq!(format!("{issued}"), format!("moat_{}_***", issued.key_id()));
}

fn order(id: &str) -> crate::ObjectKey {
    crate::ObjectKey {
        api: "shop".into(),
        kind: "order".into(),
        id: id.into(),
    }
}

#[tokio::test]
async fn ownership_first_owner_keeps_the_object_until_forgotten() {
    use crate::{MemoryOwnership, OwnershipStore, Recorded};
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("state.db"))
        .await
        .unwrap();
    let (_server, pg) = postgres().await;
    let stores: Vec<Arc<dyn OwnershipStore>> = vec![
        Arc::new(MemoryOwnership::new()),
        Arc::new(sqlite),
        Arc::new(pg),
    ];
    for store in stores {
        assert_eq!(store.owner(&order("7")).await.unwrap(), None);
        assert_eq!(
            store.record(&order("7"), "alice", T0).await.unwrap(),
            Recorded::New
        );
        assert_eq!(
            store.record(&order("7"), "alice", T0 + 1).await.unwrap(),
            Recorded::Unchanged
        );
        assert_eq!(
            store.record(&order("7"), "bob", T0 + 2).await.unwrap(),
            Recorded::Conflict {
                owner: "alice".into()
            }
        );
        assert_eq!(
            store.owner(&order("7")).await.unwrap().as_deref(),
            Some("alice")
        );
        // Kinds and APIs are separate namespaces.
        let other_kind = crate::ObjectKey {
            kind: "invoice".into(),
            ..order("7")
        };
        let other_api = crate::ObjectKey {
            api: "billing".into(),
            ..order("7")
        };
        assert_eq!(store.owner(&other_kind).await.unwrap(), None);
        assert_eq!(store.owner(&other_api).await.unwrap(), None);
        assert!(store.forget(&order("7")).await.unwrap());
        assert!(!store.forget(&order("7")).await.unwrap());
        assert_eq!(
            store.record(&order("7"), "bob", T0 + 3).await.unwrap(),
            Recorded::New
        );
        assert_eq!(
            store.owner(&order("7")).await.unwrap().as_deref(),
            Some("bob")
        );
    }
}

#[tokio::test]
async fn ownership_persists_and_a_version_one_file_is_migrated() {
    use crate::OwnershipStore;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let issued = {
        let store = Arc::new(SqliteStore::open(&path).await.unwrap());
        let (_, issued) = manager(store.clone())
            .create("alice", None, &[], None)
            .await
            .unwrap();
        // Turn the file back into what version 1 wrote.
        sqlx::raw_sql(
            "DROP TABLE object_owners; DROP TABLE quota_windows; DROP TABLE bans; \
             DROP TABLE security_events; DROP TABLE event_chain; DROP TABLE admin_tokens; \
             DROP TABLE discovered_operations; \
             UPDATE moat_schema SET version = 1",
        )
        .execute(&store.pool_for_tests())
        .await
        .unwrap();
        store.close().await;
        issued
    };
    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    manager(store.clone())
        .verify(issued.expose(), T0)
        .await
        .unwrap();
    store.record(&order("42"), "alice", T0).await.unwrap();
    store.close().await;
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        store.owner(&order("42")).await.unwrap().as_deref(),
        Some("alice")
    );
}

#[tokio::test]
async fn quotas_persist_across_reopen() {
    use crate::limits::{LimitCheck, QuotaStore, SlidingWindow};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let day = std::time::Duration::from_secs(86_400);
    let orders = LimitCheck {
        key: "shop:orders:alice".to_string(),
        rule: SlidingWindow::new(3, day).unwrap(),
        cost: 1,
    };
    let bigger = LimitCheck {
        key: "shop:all:alice".to_string(),
        rule: SlidingWindow::new(100, day).unwrap(),
        cost: 1,
    };
    let both = [bigger.clone(), orders.clone()];
    {
        let store = SqliteStore::open(&path).await.unwrap();
        for left in [2, 1] {
            let d = store.acquire(&both).await.unwrap();
            assert!(d[0].allowed && d[1].allowed);
            assert_eq!(d[1].remaining, left);
        }
        store.close().await;
    }
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.acquire(&both).await.unwrap()[1].remaining, 0);
    let refused = store.acquire(&both).await.unwrap();
    assert!(!refused[1].allowed && refused[1].retry_after.is_some());
    // The refused request was not counted by the other quota either.
    let d = store.acquire(std::slice::from_ref(&bigger)).await.unwrap();
    assert_eq!(d[0].remaining, 96);
    assert_eq!(store.sweep_quotas().await.unwrap(), 0);
}

#[tokio::test]
async fn bans_in_both_stores_keep_the_longer_ban_and_persist() {
    use crate::{Ban, BanStore, BanSubject, MemoryBans};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let sqlite = Arc::new(SqliteStore::open(&path).await.unwrap());
    let (_server, pg) = postgres().await;
    let stores: Vec<Arc<dyn BanStore>> =
        vec![Arc::new(MemoryBans::new()), sqlite.clone(), Arc::new(pg)];
    let ban = |subject: &str, created_at: UnixTime, expires_at: Option<UnixTime>| Ban {
        subject: BanSubject::from_key(subject).unwrap(),
        reason: format!("test {subject}"),
        source: "cli".into(),
        created_at,
        expires_at,
    };
    for store in &stores {
        assert!(
            store
                .add(&ban("address:203.0.113.7", T0, Some(T0 + 3600)))
                .await
                .unwrap()
        );
        // Shorter: kept as it was.
        assert!(
            !store
                .add(&ban("address:203.0.113.7", T0, Some(T0 + 60)))
                .await
                .unwrap()
        );
        // Longer: replaces.
        assert!(
            store
                .add(&ban("address:203.0.113.7", T0, Some(T0 + 7200)))
                .await
                .unwrap()
        );
        assert!(
            store
                .add(&ban("address:198.51.100.0/24", T0 + 1, None))
                .await
                .unwrap()
        );
        // Permanent is never shortened by add.
        assert!(
            !store
                .add(&ban("address:198.51.100.0/24", T0 + 2, Some(T0 + 9999)))
                .await
                .unwrap()
        );
        assert!(
            store
                .add(&ban("consumer:mallory", T0 + 2, Some(T0 + 10)))
                .await
                .unwrap()
        );

        let listed = store.list(T0 + 5).await.unwrap();
        let keys: Vec<String> = listed.iter().map(|b| b.subject.key()).collect();
        assert_eq!(
            keys,
            [
                "address:203.0.113.7",
                "address:198.51.100.0/24",
                "consumer:mallory"
            ]
        );
        assert_eq!(listed[0].expires_at, Some(T0 + 7200));
        assert_eq!(listed[1].expires_at, None);
        // Expired bans are not listed, not active, and replaced by a new one.
        assert_eq!(store.list(T0 + 10).await.unwrap().len(), 2);
        let mallory = BanSubject::Consumer("mallory".into());
        assert!(store.active(&mallory, T0 + 10).await.unwrap().is_none());
        assert!(store.active(&mallory, T0 + 9).await.unwrap().is_some());
        assert!(
            store
                .add(&ban("consumer:mallory", T0 + 20, Some(T0 + 25)))
                .await
                .unwrap()
        );
        assert!(store.active(&mallory, T0 + 21).await.unwrap().is_some());
        assert_eq!(store.purge_expired(T0 + 30).await.unwrap(), 1);
        assert!(!store.remove(&mallory).await.unwrap());
        let net = BanSubject::from_key("address:198.51.100.0/24").unwrap();
        assert!(store.remove(&net).await.unwrap());
        assert!(!store.remove(&net).await.unwrap());
    }
    sqlite.close().await;
    let reopened = SqliteStore::open(&path).await.unwrap();
    let listed = BanStore::list(&reopened, T0 + 5).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].reason, "test address:203.0.113.7");
    let list = crate::BanList::from_bans(listed);
    assert!(
        list.is_banned("203.0.113.7".parse().unwrap(), None, T0 + 5)
            .is_some()
    );
}
