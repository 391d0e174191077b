//! What only PostgreSQL has to get right: migrations under concurrency,
//! several nodes (pools) writing at once, a server that goes away, and
//! messages without the password. The lifecycle tests in `crate::tests`
//! run against this store too.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::events::{Action, Control, Event, EventQuery, EventStore, Retention, Severity};
use crate::tests::postgres;
use crate::{
    AdminRole, AdminTokenStore, DiscoveredRow, DiscoveryStore, KeyManager, KeyStore, StoreError,
};

const PEPPER: &[u8] = b"0123456789abcdef0123456789abcdef-test-pepper";

fn options(url: String) -> PostgresOptions {
    PostgresOptions {
        url,
        max_connections: 4,
        timeout: Duration::from_secs(2),
    }
}

fn event(i: i64) -> Event {
    let mut e = Event::new(
        Control::Inspection,
        "attack-detected",
        Severity::High,
        Action::Denied,
    );
    e.time = 1_000_000 + i * 1000;
    e.client = Some(format!("203.0.113.{}", i % 3));
    e.evidence = Some(format!("event {i}"));
    e
}

#[tokio::test]
async fn migrating_twice_is_a_no_op_and_a_newer_schema_is_refused() {
    let server = crate::postgres_server::PostgresServer::start();
    let store = PostgresStore::connect(&options(server.url()))
        .await
        .unwrap();
    assert_eq!(
        store.schema_state().await.unwrap(),
        (0, SCHEMA_VERSION_FOR_TESTS)
    );
    assert_eq!(
        store.migrate().await.unwrap(),
        (0, SCHEMA_VERSION_FOR_TESTS)
    );
    assert_eq!(
        store.migrate().await.unwrap(),
        (SCHEMA_VERSION_FOR_TESTS, SCHEMA_VERSION_FOR_TESTS)
    );
    sqlx::query("UPDATE moat_schema SET version = 99")
        .execute(store.pool())
        .await
        .unwrap();
    assert_eq!(store.schema_state().await.unwrap().0, 99);
    let err = store.migrate().await.unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found: 99, .. }),
        "{err}"
    );
}

const SCHEMA_VERSION_FOR_TESTS: i64 = POSTGRES_SCHEMA_VERSION;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_starting_together_migrate_once() {
    let server = crate::postgres_server::PostgresServer::start();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let node = PostgresStore::connect(&options(server.url()))
            .await
            .unwrap();
        tasks.push(tokio::spawn(async move { node.migrate().await.unwrap() }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let migrated = results.iter().filter(|r| r.0 == 0).count();
    assert_eq!(migrated, 1, "{results:?}");
    assert!(results.iter().all(|r| r.1 == SCHEMA_VERSION_FOR_TESTS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_appending_at_once_build_one_chain() {
    let (_server, first) = postgres().await;
    let url = _server.url();
    let mut tasks = Vec::new();
    for node in 0..4i64 {
        let store = PostgresStore::connect(&options(url.clone())).await.unwrap();
        tasks.push(tokio::spawn(async move {
            for batch in 0..25i64 {
                let base = node * 1000 + batch * 2;
                store.append(&[event(base), event(base + 1)]).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let report = first.verify().await.unwrap();
    assert_eq!(report.checked, 200);
    assert_eq!(report.first_seq, Some(1));
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let newest = first.query(&EventQuery::default()).await.unwrap();
    assert_eq!(newest.events[0].seq, 200);
    // Each batch stayed together: appends took turns.
    let all = first
        .query(&EventQuery {
            cursor: crate::events::Cursor::After(0),
            limit: 1000,
            ..EventQuery::default()
        })
        .await
        .unwrap();
    for pair in all.events.chunks(2) {
        assert_eq!(pair[0].prev_hash.len(), 64);
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
}

#[tokio::test]
async fn events_query_prune_summary_and_tampering() {
    let (_server, store) = postgres().await;
    let events: Vec<Event> = (1..=10).map(event).collect();
    assert_eq!(store.append(&events).await.unwrap(), 10);
    let got = EventStore::get(&store, &events[3].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.seq, 4);
    assert_eq!(got.event, events[3]);
    let page = store
        .query(&EventQuery {
            client: Some("203.0.113.1".into()),
            limit: 2,
            ..EventQuery::default()
        })
        .await
        .unwrap();
    let seqs: Vec<i64> = page.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [10, 7]);
    assert_eq!(page.next, Some(7));
    let summary = store.summary(0, 60_000, 2).await.unwrap();
    assert_eq!(summary.events, 10);
    assert_eq!(summary.top_clients.len(), 2);
    let retention = Retention {
        max_age_ms: None,
        max_events: Some(4),
        max_bytes: None,
    };
    assert_eq!(store.prune(retention, 0).await.unwrap(), 6);
    let report = store.verify().await.unwrap();
    assert_eq!((report.checked, report.first_seq), (4, Some(7)));
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    sqlx::query("UPDATE security_events SET evidence = 'edited' WHERE seq = 8")
        .execute(store.pool())
        .await
        .unwrap();
    let report = store.verify().await.unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
}

#[tokio::test]
async fn a_server_that_goes_away_is_unavailable_until_it_returns() {
    let (mut server, store) = postgres().await;
    let keys = KeyManager::new(Arc::new(store.clone()), PEPPER).unwrap();
    let (_, issued) = keys.create("alice", None, &[], None).await.unwrap();
    server.kill();
    let err = KeyStore::get(&store, "anything").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(store.ping().await.is_err());
    server.restart();
    // The pool replaces its dead connections by itself: each idle one
    // fails at most one query (16 at most: the pool's size).
    let mut failures = 0;
    while let Err(e) = store.ping().await {
        assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
        failures += 1;
        assert!(failures <= 16, "the pool does not recover: {e}");
    }
    store.ping().await.unwrap();
    keys.verify(issued.expose(), crate::unix_now())
        .await
        .unwrap();
}

#[tokio::test]
async fn connection_errors_name_the_server_but_never_the_password() {
    let server = crate::postgres_server::PostgresServer::start();
    let wrong = server.url().replace(server.password(), "not-the-password");
    let err = PostgresStore::connect(&options(wrong)).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Connect { .. }), "{text}");
    assert!(
        text.contains(&format!("PostgreSQL 127.0.0.1:{}/moat", server.port())),
        "{text}"
    );
    assert!(!text.contains("not-the-password"), "{text}");
    let mut down = crate::postgres_server::PostgresServer::start();
    let url = down.url();
    down.kill();
    let err = PostgresStore::connect(&options(url)).await.unwrap_err();
    assert!(!err.to_string().contains(down.password()), "{err}");
    assert!(!format!("{:?}", options(server.url())).contains(server.password()));
    let err = PostgresStore::connect(&options("mysql://u:secret@h/db".into()))
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("secret"), "{err}");
}

#[tokio::test]
async fn admin_tokens_discovery_and_quotas_are_shared_by_nodes() {
    let (server, a) = postgres().await;
    let b = PostgresStore::connect(&options(server.url()))
        .await
        .unwrap();
    // Admin tokens: created on one node, verified and revoked on another.
    let (record, token) = a
        .create_token("ops", AdminRole::Operator, 100)
        .await
        .unwrap();
    assert!(matches!(
        a.create_token("ops", AdminRole::Viewer, 101).await,
        Err(StoreError::NameTaken(_))
    ));
    let seen = b.verify_token(token.expose(), 200).await.unwrap().unwrap();
    assert_eq!(seen.id, record.id);
    assert_eq!(seen.last_used_at, Some(200));
    assert_eq!(a.list_tokens().await.unwrap()[0].last_used_at, Some(200));
    assert!(b.revoke_token("ops", 300).await.unwrap());
    assert!(a.verify_token(token.expose(), 400).await.unwrap().is_none());
    // Discovery: first and last seen only widen.
    let row = |requests, first, last, shape: &str| DiscoveredRow {
        api: "shop".into(),
        method: "GET".into(),
        template: "/a".into(),
        requests,
        first_seen: first,
        last_seen: last,
        shape: shape.into(),
    };
    a.save_discovered(&[row(1, 10, 10, "{}")]).await.unwrap();
    b.save_discovered(&[row(3, 20, 30, r#"{"n":3}"#)])
        .await
        .unwrap();
    assert_eq!(
        a.discovered().await.unwrap(),
        [row(3, 10, 30, r#"{"n":3}"#)]
    );
    // Quotas: both nodes count against one window.
    use crate::limits::{LimitCheck, QuotaStore, SlidingWindow};
    let check = [LimitCheck {
        key: "shop:orders:alice".to_string(),
        rule: SlidingWindow::new(3, Duration::from_secs(86_400)).unwrap(),
        cost: 1,
    }];
    assert!(QuotaStore::acquire(&a, &check).await.unwrap()[0].allowed);
    assert!(QuotaStore::acquire(&b, &check).await.unwrap()[0].allowed);
    assert!(QuotaStore::acquire(&a, &check).await.unwrap()[0].allowed);
    assert!(!QuotaStore::acquire(&b, &check).await.unwrap()[0].allowed);
    assert_eq!(a.sweep_quotas().await.unwrap(), 0);
    // Keys written on one node are read on the other.
    let keys = KeyManager::new(Arc::new(a.clone()), PEPPER).unwrap();
    let (created, issued) = keys.create("alice", None, &[], None).await.unwrap();
    let other = KeyManager::new(Arc::new(b.clone()), PEPPER).unwrap();
    let verified = other
        .verify(issued.expose(), crate::unix_now())
        .await
        .unwrap();
    assert_eq!(verified.key_id, created.key_id);
    assert_eq!(KeyStore::list(&b, Some("alice")).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_counting_claiming_and_flushing_at_once_agree() {
    use crate::limits::{LimitCheck, QuotaStore, SlidingWindow};
    use crate::{ObjectKey, OwnershipStore, Recorded};
    let (_server, first) = postgres().await;
    let keys = KeyManager::new(Arc::new(first.clone()), PEPPER).unwrap();
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(
            keys.create(&format!("c{i}"), None, &[], None)
                .await
                .unwrap()
                .0
                .key_id,
        );
    }
    let day = Duration::from_secs(86_400);
    // Two limits in opposite orders on alternate requests: the row locks
    // are taken in key order whatever the order of the checks.
    let checks = |flip: bool| {
        let mut c = vec![
            LimitCheck {
                key: "shop:orders:alice".to_string(),
                rule: SlidingWindow::new(25, day).unwrap(),
                cost: 1,
            },
            LimitCheck {
                key: "shop:all:alice".to_string(),
                rule: SlidingWindow::new(1000, day).unwrap(),
                cost: 1,
            },
        ];
        if flip {
            c.reverse();
        }
        c
    };
    let mut tasks = Vec::new();
    for node in 0..4u32 {
        let store = first.another_for_tests().await;
        let ids = ids.clone();
        let checks = checks(node % 2 == 1);
        tasks.push(tokio::spawn(async move {
            let mut allowed = 0;
            let mut new_owner = 0;
            for i in 0..10i64 {
                if QuotaStore::acquire(&store, &checks)
                    .await
                    .unwrap()
                    .iter()
                    .all(|d| d.allowed)
                {
                    allowed += 1;
                }
                let object = ObjectKey {
                    api: "shop".into(),
                    kind: "order".into(),
                    id: i.to_string(),
                };
                let consumer = format!("node{node}");
                if store.record(&object, &consumer, 1).await.unwrap() == Recorded::New {
                    new_owner += 1;
                }
                // Overlapping batches, in different orders per node.
                let mut uses: Vec<(String, i64)> =
                    ids.iter().map(|id| (id.clone(), 100 + i)).collect();
                if node % 2 == 1 {
                    uses.reverse();
                }
                store.record_last_used(&uses).await.unwrap();
            }
            (allowed, new_owner)
        }));
    }
    let (mut allowed, mut owners) = (0, 0);
    for t in tasks {
        let (a, o) = t.await.unwrap();
        allowed += a;
        owners += o;
    }
    assert_eq!(
        allowed, 25,
        "the quota admitted {allowed} of 40 for a limit of 25"
    );
    assert_eq!(owners, 10, "each object has exactly one first owner");
    for key in KeyStore::list(&first, None).await.unwrap() {
        assert_eq!(key.last_used_at, Some(109));
    }
}
