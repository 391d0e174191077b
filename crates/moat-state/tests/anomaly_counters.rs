//! The cluster's anomaly counts against a real redis-server: distinct ids
//! slide, saturate and carry their flags as the detectors' local logs do;
//! request counts slide and learn their baseline as the local counts do;
//! two nodes add up; one node reports an event; the seed is shared.
//!
//! Needs `redis-server` (the Debian package redis-server). Without it these
//! tests fail, they never skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/redis_server.rs"]
mod redis_server;

use std::time::Duration;

use moat_state::anomaly_counters::{
    Count, DistinctCount, DistinctTouch, MAX_TOUCHES_PER_CALL, RedisAnomalyCounters, SlidingCount,
    SlidingTouch, Touch,
};
use moat_state::redis_conn::{RedisConn, RedisOptions};
use redis_server::RedisServer;

const T0: u64 = 1_800_000_000_000;

async fn counters(server: &RedisServer, prefix: &str) -> RedisAnomalyCounters {
    let conn = RedisConn::connect(&RedisOptions {
        url: server.url(),
        prefix: prefix.to_string(),
        timeout: Duration::from_millis(500),
        ..RedisOptions::default()
    })
    .await
    .unwrap();
    RedisAnomalyCounters::new(conn).await.unwrap()
}

fn touch(subject: u64, id: u64, flag: bool, now: u64) -> DistinctTouch {
    DistinctTouch {
        tally: "enumeration",
        subject,
        id,
        flag,
        now,
        window_ms: 100_000,
        cap: 5,
    }
}

fn count(distinct: u64, flagged: u64) -> DistinctCount {
    DistinctCount { distinct, flagged }
}

#[tokio::test]
async fn distinct_ids_slide_saturate_and_keep_their_flags() {
    let server = RedisServer::start();
    let c = counters(&server, "t1").await;
    // Ten ids, 10 ms apart, the even ones flagged; capped at 5.
    let touches: Vec<_> = (0..10u64)
        .map(|id| touch(1, id, id % 2 == 0, T0 + id * 10))
        .collect();
    let counts = c.touch(&touches).await.unwrap();
    let distinct: Vec<u64> = counts.iter().map(|c| c.distinct).collect();
    assert_eq!(distinct, [1, 2, 3, 4, 5, 5, 5, 5, 5, 5]);
    // Ids 5..9 held: 6 and 8 flagged.
    assert_eq!(counts[9], count(5, 2));
    // A repeat is not a new id, and its flag is the latest.
    let again = c.touch(&[touch(1, 9, true, T0 + 95)]).await.unwrap();
    assert_eq!(again, [count(5, 3)]);
    // Ids 5..7 (touched at 50..70) leave the window at 100 050..100 070.
    let later = c.touch(&[touch(1, 42, false, T0 + 100_075)]).await.unwrap();
    assert_eq!(later, [count(3, 2)], "8 and 9 flagged, 42 not");
    // Another subject counts apart.
    let other = c.touch(&[touch(2, 1, true, T0)]).await.unwrap();
    assert_eq!(other, [count(1, 1)]);
}

#[tokio::test]
async fn two_nodes_add_up_and_one_reports() {
    let server = RedisServer::start();
    let (a, b) = (counters(&server, "t2").await, counters(&server, "t2").await);
    assert_eq!(a.seed().await.unwrap(), b.seed().await.unwrap());
    assert_eq!(a.seed().await.unwrap().len(), 64);
    let other_cluster = counters(&server, "t2-other").await;
    assert_ne!(a.seed().await.unwrap(), other_cluster.seed().await.unwrap());

    let on_a: Vec<_> = (0..3u64).map(|id| touch(7, id, true, T0 + id)).collect();
    let on_b: Vec<_> = (3..6u64).map(|id| touch(7, id, true, T0 + id)).collect();
    a.touch(&on_a).await.unwrap();
    let counts = b.touch(&on_b).await.unwrap();
    assert_eq!(counts.last(), Some(&count(5, 5)));

    assert!(b.claim("enumeration", 7, 60_000).await.unwrap());
    assert!(!a.claim("enumeration", 7, 60_000).await.unwrap());
    assert!(a.claim("enumeration", 8, 60_000).await.unwrap());
}

#[tokio::test]
async fn a_large_batch_goes_in_one_pipeline_of_calls() {
    let server = RedisServer::start();
    let c = counters(&server, "t3").await;
    let n = MAX_TOUCHES_PER_CALL as u64 * 2 + 3;
    let touches: Vec<_> = (0..n).map(|i| touch(i % 3, i, false, T0 + i)).collect();
    let started = std::time::Instant::now();
    let counts = c.touch(&touches).await.unwrap();
    println!("{n} touches in one round trip: {:?}", started.elapsed());
    assert_eq!(counts.len(), touches.len());
    assert!(counts.iter().skip(15).all(|c| *c == count(5, 0)));
    assert_eq!(counts[0], count(1, 0));
}

#[tokio::test]
async fn keys_expire_with_their_window_and_a_restart_reloads_the_script() {
    let mut server = RedisServer::start();
    let c = counters(&server, "t4").await;
    let mut short = touch(9, 1, true, T0);
    short.window_ms = 60_000;
    c.touch(&[short]).await.unwrap();
    let mut redis = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("t4:an:*")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    for key in keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut redis)
            .await
            .unwrap();
        assert!((1..=60_000).contains(&ttl), "{key}: {ttl}");
    }
    // Down: an error, at once. Back (empty, no scripts): counts again.
    server.kill();
    assert!(c.touch(&[touch(9, 2, false, T0)]).await.is_err());
    server.restart();
    let mut counts = Err(moat_state::StoreError::Redis(String::new()));
    for _ in 0..50 {
        counts = c.touch(&[touch(9, 2, false, T0)]).await;
        if counts.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(counts.unwrap(), [count(1, 0)]);
}

fn requests(subject: u64, add: u32, flagged: u32, now: u64) -> SlidingTouch {
    SlidingTouch {
        tally: "scraping-burst",
        subject,
        now,
        window_ms: 10_000,
        add,
        flagged,
        create: true,
        baseline: Some(0.5),
        keep_ms: 40_000,
    }
}

async fn slide(c: &RedisAnomalyCounters, t: SlidingTouch) -> SlidingCount {
    match c.apply(&[Touch::Sliding(t)]).await.unwrap()[..] {
        [Count::Sliding(s)] => s,
        ref other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn request_counts_slide_and_learn_their_baseline() {
    let server = RedisServer::start();
    let c = counters(&server, "t5").await;
    // Ten requests in the first window, three of them flagged.
    let mut last = SlidingCount::default();
    for i in 0..10u64 {
        last = slide(&c, requests(1, 1, u32::from(i < 3), T0 + i * 100)).await;
    }
    assert_eq!((last.count, last.flagged), (10, 3));
    assert_eq!(
        (last.baseline, last.windows),
        (0.0, 0),
        "no window completed"
    );
    // A quarter into the next window: 1 + 10 × ¾ (7 after rounding down);
    // the first window is the baseline.
    let next = slide(&c, requests(1, 1, 0, T0 + 12_500)).await;
    assert_eq!((next.count, next.flagged), (8, 2));
    assert_eq!((next.baseline, next.windows), (10.0, 1));
    // Two windows on (one idle): 0.5 × 1 + 0.5 × 10, then halved for the
    // idle one; the previous window is out of the sliding one.
    let later = slide(&c, requests(1, 4, 0, T0 + 30_000)).await;
    assert_eq!(later.count, 4);
    assert_eq!((later.baseline, later.windows), (2.75, 3));
    // A batch adds up as one touch would.
    let two = slide(&c, requests(1, 2, 2, T0 + 30_001)).await;
    assert_eq!((two.count, two.flagged), (6, 2));

    // A count a touch may not create stays absent; one without a baseline
    // learns none.
    let mut update = requests(2, 1, 1, T0);
    update.create = false;
    assert_eq!(slide(&c, update).await, SlidingCount::default());
    assert_eq!(slide(&c, update).await, SlidingCount::default());
    let mut plain = requests(3, 1, 0, T0);
    plain.baseline = None;
    slide(&c, plain).await;
    plain.now = T0 + 10_000;
    let s = slide(&c, plain).await;
    assert_eq!((s.count, s.baseline, s.windows), (2, 0.0, 0));

    // Kept `keep_ms` after the last touch.
    let mut redis = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("t5:an:scraping-burst:{{{:016x}}}", 1u64))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!((30_000..=40_000).contains(&ttl), "{ttl}");
}

#[tokio::test]
async fn both_kinds_go_in_one_batch_and_answer_in_order() {
    let server = RedisServer::start();
    let (a, b) = (counters(&server, "t6").await, counters(&server, "t6").await);
    let batch = [
        Touch::Sliding(requests(1, 5, 0, T0)),
        Touch::Distinct(touch(1, 1, true, T0)),
        Touch::Sliding(requests(2, 1, 1, T0)),
        Touch::Distinct(touch(1, 2, false, T0 + 1)),
    ];
    let counts = a.apply(&batch).await.unwrap();
    let again = b.apply(&batch).await.unwrap();
    // The second time, ids 1 and 2 are both held already.
    let expect = |n: u64| {
        vec![
            Count::Sliding(SlidingCount {
                count: 5 * n,
                ..SlidingCount::default()
            }),
            Count::Distinct(count(n, 1)),
            Count::Sliding(SlidingCount {
                count: n,
                flagged: n,
                ..SlidingCount::default()
            }),
            Count::Distinct(count(2, 1)),
        ]
    };
    assert_eq!(counts, expect(1));
    assert_eq!(again, expect(2), "two nodes add up");
}
