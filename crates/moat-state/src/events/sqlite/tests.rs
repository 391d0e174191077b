//! The event store on a real SQLite file and a real PostgreSQL: every
//! filter, both cursor directions, retention, and tampering done with raw
//! SQL. Each test runs on both backends (see `both!` at the end).

use std::any::Any;
use std::ops::Deref;

use super::*;
use crate::events::chain::{ChainProblem, GENESIS};
use crate::postgres::PostgresStore;

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Sqlite,
    Postgres,
}

/// A store of either backend, with raw SQL for tampering.
#[derive(Clone)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Deref for Backend {
    type Target = dyn EventStore;
    fn deref(&self) -> &Self::Target {
        match self {
            Backend::Sqlite(s) => s,
            Backend::Postgres(p) => p,
        }
    }
}

impl Backend {
    /// A second handle with its own connections (another process or node).
    async fn another(&self) -> Backend {
        match self {
            Backend::Sqlite(s) => Backend::Sqlite(SqliteStore::open(s.path()).await.unwrap()),
            Backend::Postgres(p) => Backend::Postgres(p.another_for_tests().await),
        }
    }

    /// One integer from `sql`.
    async fn scalar(&self, sql: &'static str) -> i64 {
        match self {
            Backend::Sqlite(s) => sqlx::query_scalar(sql)
                .fetch_one(&s.pool_for_tests())
                .await
                .unwrap(),
            Backend::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p.pool()).await.unwrap(),
        }
    }
}

/// Keeps a backend's file or server alive.
type Guard = Box<dyn Any>;

async fn store(kind: Kind) -> (Guard, Backend) {
    match kind {
        Kind::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(&dir.path().join("state.db"))
                .await
                .unwrap();
            (Box::new(dir), Backend::Sqlite(store))
        }
        Kind::Postgres => {
            let (server, store) = crate::tests::postgres().await;
            (Box::new(server), Backend::Postgres(store))
        }
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
    e.evidence = Some(format!("event {i}"));
    e
}

/// `n` plain events, appended one batch.
async fn filled(kind: Kind, n: i64) -> (Guard, Backend) {
    let (dir, store) = store(kind).await;
    let events: Vec<Event> = (1..=n).map(event).collect();
    assert_eq!(store.append(&events).await.unwrap(), n);
    (dir, store)
}

fn seqs(page: &EventPage) -> Vec<i64> {
    page.events.iter().map(|e| e.seq).collect()
}

async fn run(store: &Backend, sql: &str) {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    match store {
        Backend::Sqlite(s) => {
            sqlx::raw_sql(sql)
                .execute(&s.pool_for_tests())
                .await
                .unwrap();
        }
        Backend::Postgres(p) => {
            sqlx::raw_sql(sql).execute(p.pool()).await.unwrap();
        }
    }
}

async fn appended_events_come_back_whole_and_chained(kind: Kind) {
    let (_dir, store) = store(kind).await;
    assert_eq!(store.append(&[]).await.unwrap(), 0);
    let mut a = event(1);
    a.request_id = Some("req-1".into());
    a.api = Some("shop".into());
    a.operation = Some("getOrder".into());
    a.consumer = Some("alice".into());
    a.client = Some("203.0.113.7".into());
    a.method = Some("GET".into());
    a.path = Some("/orders/1".into());
    a.rule = Some("sqli".into());
    a.location = Some("query.q".into());
    a.status = Some(403);
    a.actor = Some("cli:root".into());
    let b = event(2);
    assert_eq!(store.append(&[a.clone(), b.clone()]).await.unwrap(), 2);
    assert_eq!(store.append(&[event(3)]).await.unwrap(), 3);

    let got = store.get(&a.id).await.unwrap().unwrap();
    assert_eq!(got.seq, 1);
    assert_eq!(got.event, a);
    assert_eq!(got.prev_hash, GENESIS);
    assert_eq!(got.hash, chain::link(GENESIS, &a));
    let second = store.get(&b.id).await.unwrap().unwrap();
    assert_eq!(second.prev_hash, got.hash);
    assert_eq!(store.get("no-such-id").await.unwrap(), None);

    let report = store.verify().await.unwrap();
    assert_eq!(report.checked, 3);
    assert_eq!(report.first_seq, Some(1));
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let newest = store.query(&EventQuery::default()).await.unwrap();
    assert_eq!(report.head.as_deref(), Some(newest.events[0].hash.as_str()));
}

async fn every_filter_narrows_the_query(kind: Kind) {
    let (_dir, store) = store(kind).await;
    let mut events = Vec::new();
    for i in 1..=12 {
        let mut e = event(i);
        e.api = Some(if i % 2 == 0 { "shop" } else { "admin" }.into());
        e.operation = Some(format!("op{}", i % 3));
        e.consumer = Some(if i <= 4 { "alice" } else { "bob" }.into());
        e.client = Some(format!("198.51.100.{}", i % 4));
        e.control = if i % 4 == 0 {
            Control::Identity
        } else {
            Control::Inspection
        };
        e.kind = if i % 5 == 0 {
            "shadow-endpoint"
        } else {
            "attack-detected"
        }
        .into();
        e.severity = Severity::ALL[usize::try_from(i % 5).unwrap()];
        e.action = if i == 7 {
            Action::Monitored
        } else {
            Action::Denied
        };
        events.push(e);
    }
    store.append(&events).await.unwrap();
    let matching = |f: &dyn Fn(&Event) -> bool| -> Vec<i64> {
        let mut v: Vec<i64> = (1..=12)
            .filter(|i| f(&events[usize::try_from(*i - 1).unwrap()]))
            .collect();
        v.reverse();
        v
    };
    let cases: Vec<(EventQuery, Vec<i64>)> = vec![
        (
            EventQuery {
                since: Some(event(5).time),
                ..Default::default()
            },
            (5..=12).rev().collect(),
        ),
        (
            EventQuery {
                until: Some(event(5).time),
                ..Default::default()
            },
            (1..=4).rev().collect(),
        ),
        (
            EventQuery {
                api: Some("shop".into()),
                ..Default::default()
            },
            matching(&|e| e.api.as_deref() == Some("shop")),
        ),
        (
            EventQuery {
                operation: Some("op1".into()),
                ..Default::default()
            },
            matching(&|e| e.operation.as_deref() == Some("op1")),
        ),
        (
            EventQuery {
                consumer: Some("alice".into()),
                ..Default::default()
            },
            vec![4, 3, 2, 1],
        ),
        (
            EventQuery {
                client: Some("198.51.100.3".into()),
                ..Default::default()
            },
            vec![11, 7, 3],
        ),
        (
            EventQuery {
                control: Some(Control::Identity),
                ..Default::default()
            },
            vec![12, 8, 4],
        ),
        (
            EventQuery {
                kind: Some("shadow-endpoint".into()),
                ..Default::default()
            },
            vec![10, 5],
        ),
        (
            EventQuery {
                min_severity: Some(Severity::High),
                ..Default::default()
            },
            matching(&|e| e.severity >= Severity::High),
        ),
        (
            EventQuery {
                action: Some(Action::Monitored),
                ..Default::default()
            },
            vec![7],
        ),
        (
            EventQuery {
                api: Some("shop".into()),
                consumer: Some("bob".into()),
                min_severity: Some(Severity::Medium),
                ..Default::default()
            },
            matching(&|e| {
                e.api.as_deref() == Some("shop")
                    && e.consumer.as_deref() == Some("bob")
                    && e.severity >= Severity::Medium
            }),
        ),
        (
            // A value that looks like SQL is only ever a value.
            EventQuery {
                api: Some("shop' OR '1'='1".into()),
                ..Default::default()
            },
            vec![],
        ),
    ];
    for (query, expected) in cases {
        assert!(!expected.is_empty() || query.api.is_some(), "{query:?}");
        let page = store.query(&query).await.unwrap();
        assert_eq!(seqs(&page), expected, "{query:?}");
        assert_eq!(page.next, None);
    }
}

async fn cursors_page_both_ways_to_the_end(kind: Kind) {
    let (_dir, store) = filled(kind, 25).await;
    // Newest first, back to the oldest.
    let mut query = EventQuery {
        limit: 10,
        ..Default::default()
    };
    let mut back = Vec::new();
    loop {
        let page = store.query(&query).await.unwrap();
        back.extend(seqs(&page));
        match page.next {
            Some(seq) => query.cursor = Cursor::Before(seq),
            None => break,
        }
    }
    assert_eq!(back, (1..=25).rev().collect::<Vec<_>>());

    // Oldest first, following the stream.
    let mut query = EventQuery {
        limit: 10,
        cursor: Cursor::After(0),
        ..Default::default()
    };
    let mut forward = Vec::new();
    let mut pages = 0;
    loop {
        let page = store.query(&query).await.unwrap();
        pages += 1;
        forward.extend(seqs(&page));
        match page.next {
            Some(seq) => query.cursor = Cursor::After(seq),
            None => break,
        }
    }
    assert_eq!(forward, (1..=25).collect::<Vec<_>>());
    assert_eq!(pages, 3);

    // A page exactly full says there may be more; the next one is empty.
    let page = store
        .query(&EventQuery {
            limit: 5,
            cursor: Cursor::After(20),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(seqs(&page), [21, 22, 23, 24, 25]);
    assert_eq!(page.next, Some(25));
    let page = store
        .query(&EventQuery {
            limit: 5,
            cursor: Cursor::After(25),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(page.events.is_empty() && page.next.is_none());

    // Before with a filter.
    let page = store
        .query(&EventQuery {
            since: Some(event(10).time),
            cursor: Cursor::Before(13),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(seqs(&page), [12, 11, 10]);
}

async fn the_page_size_is_capped(kind: Kind) {
    let (_dir, store) = filled(kind, 1001).await;
    let page = store.query(&EventQuery::default()).await.unwrap();
    assert_eq!(page.events.len(), 100);
    assert_eq!(page.next, Some(902));
    let page = store
        .query(&EventQuery {
            limit: u32::MAX,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.events.len(), usize::try_from(MAX_PAGE).unwrap());
    assert_eq!(page.next, Some(2));
}

async fn retention_by_age_count_and_bytes_keeps_the_chain_intact(kind: Kind) {
    let (_dir, store) = filled(kind, 20).await;
    let none = Retention {
        max_age_ms: None,
        max_events: None,
        max_bytes: None,
    };
    assert_eq!(store.prune(none, 0).await.unwrap(), 0);

    // By age: events 1..=5 are older than 15 s before event 20's time.
    let now = event(20).time;
    let by_age = Retention {
        max_age_ms: Some(now - event(6).time),
        ..none
    };
    assert_eq!(store.prune(by_age, now).await.unwrap(), 5);
    let report = store.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!((report.checked, report.first_seq), (15, Some(6)));
    assert_eq!(store.prune(by_age, now).await.unwrap(), 0);

    // By count.
    let by_count = Retention {
        max_events: Some(10),
        ..none
    };
    assert_eq!(store.prune(by_count, now).await.unwrap(), 5);
    let report = store.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!((report.checked, report.first_seq), (10, Some(11)));

    // By bytes: every event has the same size here.
    let size = json_size(&event(11));
    let by_bytes = Retention {
        max_bytes: Some(u64::try_from(size * 4 + size / 2).unwrap()),
        ..none
    };
    assert_eq!(store.prune(by_bytes, now).await.unwrap(), 6);
    let report = store.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!((report.checked, report.first_seq), (4, Some(17)));
    let total = store.scalar("SELECT total_bytes FROM event_chain").await;
    assert_eq!(total, size * 4);

    // The chain goes on from the head; the seqs are not reused.
    assert_eq!(store.append(&[event(21)]).await.unwrap(), 21);
    // Everything removed: nothing stored, still intact, seqs go on.
    let all = Retention {
        max_events: Some(0),
        ..none
    };
    assert_eq!(store.prune(all, now).await.unwrap(), 5);
    let report = store.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!((report.checked, report.first_seq), (0, None));
    assert_eq!(store.append(&[event(22)]).await.unwrap(), 22);
    let report = store.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!((report.checked, report.first_seq), (1, Some(22)));
}

async fn the_strictest_bound_wins(kind: Kind) {
    let (_dir, store) = filled(kind, 10).await;
    let retention = Retention {
        max_age_ms: Some(1_000_000),
        max_events: Some(7),
        max_bytes: Some(u64::MAX),
    };
    assert_eq!(store.prune(retention, event(10).time).await.unwrap(), 3);
    let retention = Retention {
        max_age_ms: Some(event(10).time - event(6).time),
        max_events: Some(7),
        max_bytes: None,
    };
    assert_eq!(store.prune(retention, event(10).time).await.unwrap(), 2);
    assert!(store.verify().await.unwrap().problems.is_empty());
}

async fn an_edited_column_is_found(kind: Kind) {
    let (_dir, store) = filled(kind, 6).await;
    run(
        &store,
        "UPDATE security_events SET evidence = 'nothing' WHERE seq = 3",
    )
    .await;
    assert_eq!(
        store.verify().await.unwrap().problems,
        [ChainProblem::Modified { seq: 3 }]
    );
    // A value this code never writes still reports as a modification.
    run(
        &store,
        "UPDATE security_events SET control = 'bogus' WHERE seq = 5",
    )
    .await;
    assert_eq!(
        store.verify().await.unwrap().problems,
        [
            ChainProblem::Modified { seq: 3 },
            ChainProblem::Modified { seq: 5 }
        ]
    );
    // The severity rank is not hashed, but it is what `>=` filters use:
    // the hashed name is what counts, and the hash covers it.
    run(
        &store,
        "UPDATE security_events SET severity = 'low' WHERE seq = 1",
    )
    .await;
    assert_eq!(
        store.verify().await.unwrap().problems[0],
        ChainProblem::Modified { seq: 1 }
    );
}

async fn deleted_rows_are_found(kind: Kind) {
    let (_dir, store) = filled(kind, 8).await;
    run(&store, "DELETE FROM security_events WHERE seq IN (4, 5)").await;
    assert_eq!(
        store.verify().await.unwrap().problems,
        [ChainProblem::Removed {
            after: Some(3),
            seq: 6,
            missing: 2
        }]
    );

    let (_dir, store) = filled(kind, 8).await;
    run(&store, "DELETE FROM security_events WHERE seq <= 2").await;
    let report = store.verify().await.unwrap();
    assert_eq!(
        report.problems,
        [ChainProblem::Removed {
            after: None,
            seq: 3,
            missing: 0
        }]
    );
    assert_eq!(report.first_seq, Some(3));

    // The newest rows, the chain record left alone.
    let (_dir, store) = filled(kind, 8).await;
    run(&store, "DELETE FROM security_events WHERE seq >= 7").await;
    assert_eq!(
        store.verify().await.unwrap().problems,
        [ChainProblem::Truncated {
            last: Some(6),
            head_seq: 8
        }]
    );
}

async fn swapped_seqs_are_found(kind: Kind) {
    let (_dir, store) = filled(kind, 5).await;
    run(
        &store,
        "UPDATE security_events SET seq = -2 WHERE seq = 2;
         UPDATE security_events SET seq = 2 WHERE seq = 3;
         UPDATE security_events SET seq = 3 WHERE seq = -2;",
    )
    .await;
    assert_eq!(
        store.verify().await.unwrap().problems,
        [
            ChainProblem::Reordered { seq: 2, follows: 3 },
            ChainProblem::Reordered { seq: 3, follows: 1 },
            ChainProblem::Reordered { seq: 4, follows: 2 },
        ]
    );
}

async fn a_rehashed_row_is_found(kind: Kind) {
    let (_dir, store) = filled(kind, 5).await;
    // Edit event 5 (the newest) and recompute its hash: only the recorded
    // head shows it.
    let mut last = store.query(&EventQuery::default()).await.unwrap().events[0].clone();
    last.event.evidence = Some("nothing".into());
    let hash = chain::link(&last.prev_hash, &last.event);
    // `hash` is hex: safe to paste.
    run(
        &store,
        &format!("UPDATE security_events SET evidence = 'nothing', hash = '{hash}' WHERE seq = 5"),
    )
    .await;
    assert_eq!(
        store.verify().await.unwrap().problems,
        [ChainProblem::Truncated {
            last: Some(5),
            head_seq: 5
        }]
    );
}

async fn concurrent_appends_build_one_chain(kind: Kind) {
    let (dir, store) = store(kind).await;
    let _dir = dir;
    let other = store.another().await;
    let write = |s: Backend, base: i64| async move {
        for i in 0..20 {
            s.append(&[event(base + i), event(base + i + 100)])
                .await
                .unwrap();
        }
    };
    tokio::join!(write(store.clone(), 0), write(other, 1000));
    let report = store.verify().await.unwrap();
    assert_eq!(report.checked, 80);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

/// Each test above, once per backend.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Kind::Sqlite).await;
            })*
        }
        mod on_postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Kind::Postgres).await;
            })*
        }
    };
}

both!(
    appended_events_come_back_whole_and_chained,
    every_filter_narrows_the_query,
    cursors_page_both_ways_to_the_end,
    the_page_size_is_capped,
    retention_by_age_count_and_bytes_keeps_the_chain_intact,
    the_strictest_bound_wins,
    an_edited_column_is_found,
    deleted_rows_are_found,
    swapped_seqs_are_found,
    a_rehashed_row_is_found,
    concurrent_appends_build_one_chain,
);
