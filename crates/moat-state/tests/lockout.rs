//! Brute-force lockout through the public trait, with time moved by hand:
//! the shared behaviour against both stores (the Redis one on a real
//! redis-server: the Debian package redis-server, never skipped), then what
//! is particular to each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/redis_server.rs"]
mod redis_server;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use moat_state::lockout::{MAX_FAILURE_THRESHOLD, Tracked};
use moat_state::{
    LockoutPolicy, LockoutPolicyError, LockoutStore, LockoutSubject, MemoryLockout,
    retry_after_secs,
};

const SEC: Duration = Duration::from_secs(1);
const MIN: Duration = Duration::from_secs(60);

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn store() -> MemoryLockout {
    MemoryLockout::new(LockoutPolicy::default()).unwrap()
}

fn ip(s: &str) -> LockoutSubject<'static> {
    LockoutSubject::Client(s.parse().unwrap())
}

/// Records `n` failures at `now`; the lockouts they started.
async fn fail_n(
    store: &dyn LockoutStore,
    subject: &LockoutSubject<'_>,
    n: u32,
    now: SystemTime,
) -> Vec<Duration> {
    let mut started = Vec::new();
    for _ in 0..n {
        started.extend(store.record_failure(subject, now).await.unwrap());
    }
    started
}

/// Failures until the subject is locked out; the lockout's length.
async fn lock(store: &dyn LockoutStore, subject: &LockoutSubject<'_>, now: SystemTime) -> Duration {
    for _ in 0..MAX_FAILURE_THRESHOLD {
        if let Some(d) = store.record_failure(subject, now).await.unwrap() {
            return d;
        }
    }
    panic!("{subject:?} was never locked out");
}

/// The behaviour every [`LockoutStore`] shares, as tests on the store that
/// `$make(policy).await` returns.
macro_rules! lockout_cases {
    ($make:ident) => {
        #[tokio::test]
        async fn below_the_threshold_nothing_is_locked() {
            let s = $make(LockoutPolicy::default()).await;
            let a = ip("192.0.2.1");
            for i in 0..9 {
                let now = t0() + SEC * i;
                assert_eq!(s.record_failure(&a, now).await.unwrap(), None);
                assert_eq!(s.locked(&a, now).await.unwrap(), None);
            }
        }

        #[tokio::test]
        async fn the_threshold_locks_for_the_base_duration() {
            let s = $make(LockoutPolicy::default()).await;
            let a = ip("192.0.2.1");
            assert!(fail_n(&s, &a, 9, t0()).await.is_empty());
            assert_eq!(s.record_failure(&a, t0()).await.unwrap(), Some(MIN));
            assert_eq!(s.locked(&a, t0()).await.unwrap(), Some(MIN));
        }

        #[tokio::test]
        async fn remaining_time_decreases_then_the_lockout_ends() {
            let s = $make(LockoutPolicy::default()).await;
            let a = ip("192.0.2.1");
            assert_eq!(lock(&s, &a, t0()).await, MIN);
            let remaining = |after: Duration| {
                let s = &s;
                let a = &a;
                async move { s.locked(a, t0() + after).await.unwrap() }
            };
            assert_eq!(remaining(10 * SEC).await, Some(50 * SEC));
            assert_eq!(remaining(59 * SEC).await, Some(SEC));
            assert_eq!(
                remaining(MIN - Duration::from_millis(1)).await,
                Some(Duration::from_millis(1))
            );
            assert_eq!(remaining(MIN).await, None);
            assert_eq!(remaining(2 * MIN).await, None);
        }

        #[tokio::test]
        async fn consecutive_lockouts_double_up_to_the_maximum() {
            let policy = LockoutPolicy {
                max_lockout: 5 * MIN,
                ..LockoutPolicy::default()
            };
            let s = $make(policy).await;
            let a = ip("192.0.2.1");
            let mut now = t0();
            let mut lengths = Vec::new();
            for _ in 0..6 {
                let d = lock(&s, &a, now).await;
                lengths.push(d);
                // The lockout holds until its end, and no longer.
                assert_eq!(s.locked(&a, now + d - SEC).await.unwrap(), Some(SEC));
                now += d;
                assert_eq!(s.locked(&a, now).await.unwrap(), None);
            }
            assert_eq!(lengths, [MIN, 2 * MIN, 4 * MIN, 5 * MIN, 5 * MIN, 5 * MIN]);
        }

        #[tokio::test]
        async fn the_doubling_is_forgotten_after_a_quiet_period() {
            let s = $make(LockoutPolicy::default()).await; // max_lockout (and quiet period): one hour
            let a = ip("192.0.2.1");
            assert_eq!(lock(&s, &a, t0()).await, MIN);
            let end = t0() + MIN;
            // Just short of an hour after the lockout ended: still doubled.
            assert_eq!(lock(&s, &a, end + 59 * MIN).await, 2 * MIN);
            // A full hour after the second lockout ended: back to the base.
            let end = end + 59 * MIN + 2 * MIN;
            assert_eq!(lock(&s, &a, end + 60 * MIN).await, MIN);
        }

        #[tokio::test]
        async fn a_long_lockout_is_not_a_quiet_period() {
            let policy = LockoutPolicy {
                base_lockout: 40 * MIN,
                max_lockout: 60 * MIN,
                ..LockoutPolicy::default()
            };
            let s = $make(policy).await;
            let a = ip("192.0.2.1");
            assert_eq!(lock(&s, &a, t0()).await, 40 * MIN);
            // 61 minutes after the last failure, but 21 after the lockout ended.
            assert_eq!(lock(&s, &a, t0() + 61 * MIN).await, 60 * MIN);
        }

        #[tokio::test]
        async fn success_clears_the_count_but_not_the_backoff() {
            let s = $make(LockoutPolicy::default()).await;
            let a = ip("192.0.2.1");
            assert!(fail_n(&s, &a, 9, t0()).await.is_empty());
            s.record_success(&a, t0()).await.unwrap();
            assert!(fail_n(&s, &a, 9, t0()).await.is_empty());
            assert_eq!(s.record_failure(&a, t0()).await.unwrap(), Some(MIN));

            // A success during the lockout (a request verified just before it
            // began) does not lift it.
            s.record_success(&a, t0() + SEC).await.unwrap();
            assert_eq!(s.locked(&a, t0() + SEC).await.unwrap(), Some(59 * SEC));

            // After the lockout, a success clears the count again, but the next
            // lockout is still the doubled one.
            let later = t0() + 2 * MIN;
            assert!(fail_n(&s, &a, 9, later).await.is_empty());
            s.record_success(&a, later).await.unwrap();
            assert!(fail_n(&s, &a, 9, later).await.is_empty());
            assert_eq!(s.record_failure(&a, later).await.unwrap(), Some(2 * MIN));
        }

        #[tokio::test]
        async fn failures_during_a_lockout_are_not_counted() {
            let s = $make(LockoutPolicy::default()).await;
            let a = ip("192.0.2.1");
            assert_eq!(lock(&s, &a, t0()).await, MIN);
            assert!(fail_n(&s, &a, 50, t0() + SEC).await.is_empty());
            assert_eq!(s.locked(&a, t0() + SEC).await.unwrap(), Some(59 * SEC));
            // After it, counting starts from zero.
            let after = t0() + MIN;
            assert!(fail_n(&s, &a, 9, after).await.is_empty());
            assert_eq!(s.record_failure(&a, after).await.unwrap(), Some(2 * MIN));
        }

        #[tokio::test]
        async fn failures_older_than_the_window_are_forgotten() {
            let s = $make(LockoutPolicy::default()).await;
            let a = ip("192.0.2.1");
            assert!(fail_n(&s, &a, 5, t0()).await.is_empty());
            assert!(fail_n(&s, &a, 4, t0() + 30 * SEC).await.is_empty());
            // Exactly one window after the first five: they no longer count.
            assert!(fail_n(&s, &a, 1, t0() + MIN).await.is_empty());
            // 4 (at +30 s) + 1 (at +60 s) + 5 (at +70 s) = 10 within one window.
            assert!(fail_n(&s, &a, 4, t0() + 70 * SEC).await.is_empty());
            assert_eq!(
                s.record_failure(&a, t0() + 70 * SEC).await.unwrap(),
                Some(MIN)
            );
        }

        #[tokio::test]
        async fn states_say_whether_failures_are_within_the_window() {
            let s = $make(LockoutPolicy::default()).await;
            let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
            assert!(fail_n(&s, &a, 2, t0()).await.is_empty());
            let states = s.states(&[a.clone(), b.clone()], t0() + SEC).await.unwrap();
            assert!(states[0].failures && states[0].locked.is_none());
            assert!(!states[1].failures && states[1].locked.is_none());
            // A window later they are gone.
            let later = s
                .states(std::slice::from_ref(&a), t0() + MIN + SEC)
                .await
                .unwrap();
            assert!(!later[0].failures);
        }

        #[tokio::test]
        async fn the_window_slides_with_no_burst_at_its_edge() {
            // Fixed one-minute windows would allow 9 failures at 0:59 and 9 more
            // at 1:01; a sliding window sees 10 within two seconds.
            let s = $make(LockoutPolicy::default()).await;
            let a = ip("192.0.2.1");
            assert!(fail_n(&s, &a, 9, t0() + 59 * SEC).await.is_empty());
            assert_eq!(
                s.record_failure(&a, t0() + 61 * SEC).await.unwrap(),
                Some(MIN)
            );
        }

        #[tokio::test]
        async fn credentials_and_clients_are_counted_apart() {
            let s = $make(LockoutPolicy::default()).await;
            let client = ip("192.0.2.1");
            let alice = LockoutSubject::Credential("basic:alice");
            let bob = LockoutSubject::Credential("basic:bob");
            // Credentials have their own, lower threshold.
            assert!(fail_n(&s, &alice, 4, t0()).await.is_empty());
            assert_eq!(s.record_failure(&alice, t0()).await.unwrap(), Some(MIN));
            assert_eq!(s.locked(&alice, t0()).await.unwrap(), Some(MIN));
            assert_eq!(s.locked(&bob, t0()).await.unwrap(), None);
            assert_eq!(s.locked(&client, t0()).await.unwrap(), None);
            // The client's count is its own.
            assert!(fail_n(&s, &client, 9, t0()).await.is_empty());
            assert_eq!(s.locked(&bob, t0()).await.unwrap(), None);
            // A credential whose name looks like an address is still a credential.
            let lookalike = LockoutSubject::Credential("192.0.2.2");
            assert!(fail_n(&s, &lookalike, 5, t0()).await.len() == 1);
            assert_eq!(s.locked(&ip("192.0.2.2"), t0()).await.unwrap(), None);
        }

        #[tokio::test]
        async fn a_credential_from_one_address_is_counted_apart_from_the_credential() {
            let s = $make(LockoutPolicy::default()).await;
            let from =
                |addr: &str| LockoutSubject::CredentialFrom("basic:alice", addr.parse().unwrap());
            let attacker = from("192.0.2.66");
            assert!(fail_n(&s, &attacker, 4, t0()).await.is_empty());
            assert_eq!(s.record_failure(&attacker, t0()).await.unwrap(), Some(MIN));
            assert_eq!(s.locked(&attacker, t0()).await.unwrap(), Some(MIN));
            // The owner, elsewhere, and the credential itself are not locked by it.
            assert_eq!(s.locked(&from("198.51.100.7"), t0()).await.unwrap(), None);
            assert_eq!(
                s.locked(&LockoutSubject::Credential("basic:alice"), t0())
                    .await
                    .unwrap(),
                None
            );
            // Another credential from the attacker's address is another pair.
            let other = LockoutSubject::CredentialFrom("basic:bob", "192.0.2.66".parse().unwrap());
            assert_eq!(s.locked(&other, t0()).await.unwrap(), None);
            // Addresses of one IPv6 /64 are one address.
            let v6 = |a: &str| LockoutSubject::CredentialFrom("basic:alice", a.parse().unwrap());
            assert!(fail_n(&s, &v6("2001:db8:1:2::1"), 5, t0()).await.len() == 1);
            assert_eq!(
                s.locked(&v6("2001:db8:1:2::ff"), t0()).await.unwrap(),
                Some(MIN)
            );
            assert_eq!(s.locked(&v6("2001:db8:1:3::1"), t0()).await.unwrap(), None);
        }

        #[tokio::test]
        async fn ipv6_clients_are_counted_per_64() {
            let s = $make(LockoutPolicy::default()).await;
            // Ten different addresses of one /64.
            for i in 0..10u16 {
                let addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, i, i * 7, 0xffff, i + 1);
                let started = s
                    .record_failure(&LockoutSubject::Client(addr.into()), t0())
                    .await
                    .unwrap();
                assert_eq!(started.is_some(), i == 9, "failure {i}");
            }
            assert_eq!(
                s.locked(&ip("2001:db8:1:2::99"), t0()).await.unwrap(),
                Some(MIN)
            );
            // The neighbouring /64 is someone else.
            assert_eq!(s.locked(&ip("2001:db8:1:3::1"), t0()).await.unwrap(), None);
        }

        #[tokio::test]
        async fn ipv4_is_counted_per_address_and_mapped_ipv6_as_ipv4() {
            let s = $make(LockoutPolicy::default()).await;
            let v4 = Ipv4Addr::new(192, 0, 2, 1);
            let mapped = LockoutSubject::Client(IpAddr::V6(v4.to_ipv6_mapped()));
            assert!(fail_n(&s, &ip("192.0.2.1"), 5, t0()).await.is_empty());
            assert!(fail_n(&s, &mapped, 4, t0()).await.is_empty());
            assert_eq!(s.record_failure(&mapped, t0()).await.unwrap(), Some(MIN));
            assert_eq!(s.locked(&ip("192.0.2.1"), t0()).await.unwrap(), Some(MIN));
            assert_eq!(
                s.locked(&ip("::ffff:192.0.2.1"), t0()).await.unwrap(),
                Some(MIN)
            );
            assert_eq!(s.locked(&ip("192.0.2.2"), t0()).await.unwrap(), None);
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn concurrent_failures_are_counted_exactly() {
            const SUBJECTS: u32 = 64;
            const TASKS: u32 = 16;
            let policy = LockoutPolicy {
                max_failures: 20,
                ..LockoutPolicy::default()
            };
            let s: Arc<dyn LockoutStore> = Arc::new($make(policy).await);
            let subject = |i: u32| LockoutSubject::Client(Ipv4Addr::from(0x0a00_0000 + i).into());

            // 19 failures per subject, spread over 16 tasks: nobody is locked.
            let run = |per_subject: u32| {
                let tasks: Vec<_> = (0..TASKS)
                    .map(|task| {
                        let s = Arc::clone(&s);
                        tokio::spawn(async move {
                            let mut started = 0u32;
                            for n in (task..SUBJECTS * per_subject).step_by(TASKS as usize) {
                                if s.record_failure(&subject(n % SUBJECTS), t0())
                                    .await
                                    .unwrap()
                                    .is_some()
                                {
                                    started += 1;
                                }
                                tokio::task::yield_now().await;
                            }
                            started
                        })
                    })
                    .collect();
                async move {
                    let mut started = 0;
                    for t in tasks {
                        started += t.await.unwrap();
                    }
                    started
                }
            };
            assert_eq!(run(19).await, 0);
            for i in 0..SUBJECTS {
                assert_eq!(s.locked(&subject(i), t0()).await.unwrap(), None);
            }
            // One more round of one failure each: every subject locks, once.
            assert_eq!(run(1).await, SUBJECTS);
            for i in 0..SUBJECTS {
                assert_eq!(s.locked(&subject(i), t0()).await.unwrap(), Some(MIN));
            }
            // Many more while locked: none counted, no second lockout.
            assert_eq!(run(20).await, 0);
        }

        #[tokio::test]
        async fn a_clock_stepping_back_cannot_stretch_a_lockout() {
            let s = $make(LockoutPolicy::default()).await;
            let a = ip("192.0.2.1");
            assert_eq!(lock(&s, &a, t0()).await, MIN);
            let long_ago = t0() - 24 * 60 * MIN;
            assert_eq!(s.locked(&a, long_ago).await.unwrap(), Some(60 * MIN));
            // Failures recorded with a stepped-back clock still count, in order.
            assert!(fail_n(&s, &ip("192.0.2.5"), 5, t0()).await.is_empty());
            assert!(fail_n(&s, &ip("192.0.2.5"), 4, long_ago).await.is_empty());
            assert_eq!(
                s.record_failure(&ip("192.0.2.5"), long_ago).await.unwrap(),
                Some(MIN)
            );
            // A time before 1970 reads as the epoch.
            let before_epoch = SystemTime::UNIX_EPOCH - SEC;
            assert_eq!(
                s.locked(&ip("192.0.2.9"), before_epoch).await.unwrap(),
                None
            );
        }
    };
}

/// The per-process store.
mod memory_store {
    use super::*;

    async fn make(policy: LockoutPolicy) -> MemoryLockout {
        MemoryLockout::new(policy).unwrap()
    }

    lockout_cases!(make);
}

/// The cluster store, each test on a redis-server of its own.
mod redis_store {
    use std::time::Instant;

    use moat_state::lockout::RedisLockout;
    use moat_state::redis_conn::{RedisConn, RedisOptions};

    use super::redis_server::RedisServer;
    use super::*;

    /// A store with the server it uses.
    struct OnRedis {
        store: RedisLockout,
        _server: RedisServer,
    }

    #[async_trait::async_trait]
    impl LockoutStore for OnRedis {
        async fn locked(
            &self,
            subject: &LockoutSubject<'_>,
            now: SystemTime,
        ) -> Result<Option<Duration>, moat_state::StoreError> {
            self.store.locked(subject, now).await
        }

        async fn states(
            &self,
            subjects: &[LockoutSubject<'_>],
            now: SystemTime,
        ) -> Result<Vec<moat_state::SubjectState>, moat_state::StoreError> {
            self.store.states(subjects, now).await
        }

        async fn record_failure(
            &self,
            subject: &LockoutSubject<'_>,
            now: SystemTime,
        ) -> Result<Option<Duration>, moat_state::StoreError> {
            let r = self.store.record_failure(subject, now).await;
            // Every answer in these tests must come from Redis.
            assert!(self.store.is_shared());
            r
        }

        async fn record_success(
            &self,
            subject: &LockoutSubject<'_>,
            now: SystemTime,
        ) -> Result<(), moat_state::StoreError> {
            self.store.record_success(subject, now).await
        }
    }

    fn options(server: &RedisServer) -> RedisOptions {
        RedisOptions {
            url: server.url(),
            prefix: "lo".to_string(),
            timeout: Duration::from_secs(1),
            ca: None,
        }
    }

    async fn node(server: &RedisServer, policy: LockoutPolicy) -> RedisLockout {
        let conn = RedisConn::connect(&options(server)).await.unwrap();
        RedisLockout::new(conn, policy).await.unwrap()
    }

    async fn on_redis(policy: LockoutPolicy) -> OnRedis {
        let server = RedisServer::start();
        OnRedis {
            store: node(&server, policy).await,
            _server: server,
        }
    }

    lockout_cases!(on_redis);

    async fn raw(server: &RedisServer) -> ::redis::aio::MultiplexedConnection {
        ::redis::Client::open(server.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    async fn dbsize(server: &RedisServer) -> i64 {
        ::redis::cmd("DBSIZE")
            .query_async(&mut raw(server).await)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn two_nodes_share_one_count_and_one_lockout() {
        let server = RedisServer::start();
        let a = node(&server, LockoutPolicy::default()).await;
        let b = node(&server, LockoutPolicy::default()).await;
        let now = SystemTime::now();
        let subject = ip("198.51.100.9");
        assert!(fail_n(&a, &subject, 5, now).await.is_empty());
        assert!(fail_n(&b, &subject, 4, now).await.is_empty());
        assert_eq!(b.record_failure(&subject, now).await.unwrap(), Some(MIN));
        assert_eq!(a.locked(&subject, now).await.unwrap(), Some(MIN));
        // Neither node's own count reached the threshold.
        assert_eq!(a.local().locked(&subject, now).await.unwrap(), None);
        assert_eq!(b.local().locked(&subject, now).await.unwrap(), None);
        // A success on one node clears the shared count.
        let other = LockoutSubject::Credential("apikey:k_1");
        assert!(fail_n(&a, &other, 4, now).await.is_empty());
        b.record_success(&other, now).await.unwrap();
        assert!(fail_n(&a, &other, 4, now).await.is_empty());
        assert_eq!(a.record_failure(&other, now).await.unwrap(), Some(MIN));
    }

    #[tokio::test]
    async fn one_look_up_says_who_is_locked_and_who_has_failures() {
        use moat_state::SubjectState;
        let server = RedisServer::start();
        let s = node(&server, LockoutPolicy::default()).await;
        let now = SystemTime::now();
        let locked = ip("198.51.100.1");
        let failing = LockoutSubject::Credential("apikey:k_2");
        let clean = LockoutSubject::Credential("apikey:k_3");
        assert!(fail_n(&s, &locked, 9, now).await.is_empty());
        assert_eq!(s.record_failure(&locked, now).await.unwrap(), Some(MIN));
        assert!(fail_n(&s, &failing, 2, now).await.is_empty());
        let states = s.states(&[locked, failing, clean], now).await.unwrap();
        assert_eq!(states[0].locked, Some(MIN));
        assert_eq!(
            &states[1..],
            [
                SubjectState {
                    locked: None,
                    failures: true
                },
                SubjectState {
                    locked: None,
                    failures: false
                }
            ]
        );
        // A success clears the failures; asking wrote nothing.
        s.record_success(&failing, now).await.unwrap();
        let states = s.states(&[failing, clean], now).await.unwrap();
        assert!(states.iter().all(|st| !st.failures && st.locked.is_none()));
    }

    #[tokio::test]
    async fn keys_expire_and_asking_creates_none() {
        let server = RedisServer::start();
        let s = node(&server, LockoutPolicy::default()).await;
        let now = SystemTime::now();
        for i in 0..100u32 {
            let subject = LockoutSubject::Client(Ipv4Addr::from(i).into());
            assert_eq!(s.locked(&subject, now).await.unwrap(), None);
            s.record_success(&subject, now).await.unwrap();
        }
        assert_eq!(dbsize(&server).await, 0);
        let a = ip("192.0.2.1");
        assert!(fail_n(&s, &a, 3, now).await.is_empty());
        let mut conn = raw(&server).await;
        for key in ["lo:lo:{4-c0000201}", "lo:lo:{4-c0000201}:f"] {
            let ttl: i64 = ::redis::cmd("PTTL")
                .arg(key)
                .query_async(&mut conn)
                .await
                .unwrap();
            // The window (one minute), no longer.
            assert!((50_000..=60_000).contains(&ttl), "{key}: {ttl}");
        }
        // A success with nothing else to remember removes both.
        s.record_success(&a, now).await.unwrap();
        assert_eq!(dbsize(&server).await, 0);
        // A lockout is kept for the quiet period that forgets its backoff.
        assert_eq!(lock(&s, &a, now).await, MIN);
        let ttl: i64 = ::redis::cmd("PTTL")
            .arg("lo:lo:{4-c0000201}")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(
            (MIN + 59 * MIN..=MIN + 60 * MIN).contains(&Duration::from_millis(ttl.unsigned_abs())),
            "{ttl}"
        );
    }

    #[tokio::test]
    async fn a_dead_redis_falls_back_to_local_counts_and_a_live_one_is_shared_again() {
        let mut server = RedisServer::start();
        let a = node(&server, LockoutPolicy::default()).await;
        let b = node(&server, LockoutPolicy::default()).await;
        let now = SystemTime::now();
        let early = ip("203.0.113.1");
        // Counted on this node before Redis went away: the fallback knows.
        assert!(fail_n(&a, &early, 4, now).await.is_empty());

        server.kill();
        let started = Instant::now();
        assert!(fail_n(&a, &early, 5, now).await.is_empty());
        assert_eq!(a.record_failure(&early, now).await.unwrap(), Some(MIN));
        assert!(!a.is_shared());
        assert_eq!(a.locked(&early, now).await.unwrap(), Some(MIN));
        // The other node has its own count only.
        assert_eq!(b.locked(&early, now).await.unwrap(), None);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a dead Redis held the calls for {:?}",
            started.elapsed()
        );

        server.restart();
        // Redis is tried again once per probe interval.
        let deadline = Instant::now() + 10 * moat_state::lockout::PROBE_INTERVAL;
        while !(a.is_shared() && b.is_shared()) {
            assert!(Instant::now() < deadline, "never shared again");
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = a.locked(&early, now).await.unwrap();
            let _ = b.locked(&early, now).await.unwrap();
        }
        let later = ip("203.0.113.2");
        assert!(fail_n(&a, &later, 5, now).await.is_empty());
        assert!(fail_n(&b, &later, 4, now).await.is_empty());
        assert_eq!(b.record_failure(&later, now).await.unwrap(), Some(MIN));
        assert_eq!(a.locked(&later, now).await.unwrap(), Some(MIN));
    }
}

/// What the memory store tracks for the subjects of the shared cases.
#[tokio::test]
async fn clients_and_credentials_are_tracked_apart() {
    let s = store();
    assert!(fail_n(&s, &ip("192.0.2.1"), 9, t0()).await.is_empty());
    assert!(fail_n(&s, &ip("::ffff:192.0.2.1"), 1, t0()).await.len() == 1);
    assert!(
        fail_n(&s, &LockoutSubject::Credential("basic:alice"), 5, t0())
            .await
            .len()
            == 1
    );
    assert!(
        fail_n(&s, &LockoutSubject::Credential("192.0.2.2"), 1, t0())
            .await
            .is_empty()
    );
    assert_eq!(
        s.tracked(),
        Tracked {
            clients: 1,
            credentials: 2
        }
    );
}

#[tokio::test]
async fn asking_does_not_track() {
    let s = store();
    for i in 0..1_000u32 {
        let subject = LockoutSubject::Client(Ipv4Addr::from(i).into());
        assert_eq!(s.locked(&subject, t0()).await.unwrap(), None);
        s.record_success(&subject, t0()).await.unwrap();
        let name = format!("apikey:{i}");
        let subject = LockoutSubject::Credential(&name);
        assert_eq!(s.locked(&subject, t0()).await.unwrap(), None);
    }
    assert_eq!(s.tracked(), Tracked::default());
}

/// A small deterministic generator, so the flood is "random" but
/// reproducible.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[tokio::test]
async fn a_flood_of_random_subjects_stays_within_the_cap_and_keeps_lockouts() {
    // One shard, and three (from 3 × 4096 up, the table is sharded).
    flood(1_000, 100_000).await;
    flood(12_288, 200_000).await;
}

async fn flood(cap: usize, subjects: u32) {
    let s = MemoryLockout::with_capacity(LockoutPolicy::default(), cap).unwrap();
    let victim = LockoutSubject::Credential("basic:admin");
    let attacker = ip("203.0.113.9");
    assert_eq!(lock(&s, &victim, t0()).await, MIN);
    assert_eq!(lock(&s, &attacker, t0()).await, MIN);

    let mut rng = SplitMix(7);
    for i in 0..subjects {
        // All within the lockouts and the window: nothing is dead, eviction
        // has to choose.
        let now = t0() + Duration::from_micros(u64::from(i) * 250);
        let r = rng.next();
        let client = if r & 1 == 0 {
            IpAddr::V4(Ipv4Addr::from((r >> 32) as u32))
        } else {
            IpAddr::V6(Ipv6Addr::from(u128::from(r) << 64 | u128::from(r)))
        };
        s.record_failure(&LockoutSubject::Client(client), now)
            .await
            .unwrap();
        let name = format!("apikey:{r:016x}{i}");
        s.record_failure(&LockoutSubject::Credential(&name), now)
            .await
            .unwrap();
        if i % 10_000 == 0 {
            let tracked = s.tracked();
            assert!(
                tracked.clients <= cap && tracked.credentials <= cap,
                "{tracked:?}"
            );
        }
    }
    let tracked = s.tracked();
    assert!(
        tracked.clients <= cap && tracked.credentials <= cap,
        "{tracked:?}"
    );
    // Eviction frees a batch at a time, but never more than an eighth.
    assert!(tracked.clients >= cap * 7 / 8, "{tracked:?}");
    assert!(tracked.credentials >= cap * 7 / 8, "{tracked:?}");
    let end = t0() + 50 * SEC;
    assert_eq!(s.locked(&victim, end).await.unwrap(), Some(10 * SEC));
    assert_eq!(s.locked(&attacker, end).await.unwrap(), Some(10 * SEC));
}

#[tokio::test]
async fn eviction_drops_the_least_recently_active_first() {
    const CAP: usize = 100;
    let policy = LockoutPolicy {
        max_failures: 4,
        ..LockoutPolicy::default()
    };
    let s = MemoryLockout::with_capacity(policy, CAP).unwrap();
    let subject = |i: u32| LockoutSubject::Client(Ipv4Addr::from(0x0a00_0000 + i).into());
    let ms = |n: u64| t0() + Duration::from_millis(n);
    // Two failures each, subject i at i ms.
    for i in 0..CAP as u32 {
        assert!(
            fail_n(&s, &subject(i), 2, ms(u64::from(i)))
                .await
                .is_empty()
        );
    }
    // Subject 0 fails again, so it is the most recently active.
    assert!(fail_n(&s, &subject(0), 1, ms(200)).await.is_empty());
    // A newcomer in the full table evicts the oldest eighth: 1..=12.
    assert!(fail_n(&s, &subject(1_000), 1, ms(300)).await.is_empty());
    assert_eq!(s.tracked().clients, CAP - CAP / 8 + 1);
    // Subject 0 kept its three failures: one more locks.
    assert_eq!(
        s.record_failure(&subject(0), ms(400)).await.unwrap(),
        Some(MIN)
    );
    // Subject 1 was forgotten: two more do not lock.
    assert!(fail_n(&s, &subject(1), 2, ms(400)).await.is_empty());
    // Subject 13 was kept: two more lock.
    assert_eq!(fail_n(&s, &subject(13), 2, ms(400)).await, [MIN]);
}

#[tokio::test]
async fn eviction_prefers_any_idle_subject_to_a_locked_one() {
    const CAP: usize = 50;
    let s = MemoryLockout::with_capacity(LockoutPolicy::default(), CAP).unwrap();
    let subject = |i: u32| LockoutSubject::Client(Ipv4Addr::from(0x0a00_0000 + i).into());
    // The oldest subjects of all are the locked ones.
    for i in 0..10 {
        assert_eq!(lock(&s, &subject(i), t0()).await, MIN);
    }
    // Then a flood of newer, idle subjects, many times the capacity.
    for i in 10..10_000u32 {
        let now = t0() + Duration::from_millis(u64::from(i));
        s.record_failure(&subject(i), now).await.unwrap();
        assert!(s.tracked().clients <= CAP);
    }
    let now = t0() + 30 * SEC;
    for i in 0..10 {
        assert_eq!(
            s.locked(&subject(i), now).await.unwrap(),
            Some(30 * SEC),
            "{i}"
        );
    }
}

#[tokio::test]
async fn eviction_keeps_lockouts_even_after_the_clock_steps_back() {
    // Normally a locked subject counts as active until its lockout ends,
    // so least-recently-active order alone keeps it. Idle subjects seen
    // at a later clock reading look more recent still; lockouts must win
    // regardless.
    const CAP: usize = 50;
    let s = MemoryLockout::with_capacity(LockoutPolicy::default(), CAP).unwrap();
    let subject = |i: u32| LockoutSubject::Client(Ipv4Addr::from(0x0a00_0000 + i).into());
    for i in 0..10 {
        assert_eq!(lock(&s, &subject(i), t0()).await, MIN);
    }
    for i in 10..CAP as u32 {
        s.record_failure(&subject(i), t0() + 2 * MIN).await.unwrap();
    }
    let now = t0() + 30 * SEC;
    for i in 1_000..1_100 {
        s.record_failure(&subject(i), now).await.unwrap();
    }
    assert!(s.tracked().clients <= CAP);
    for i in 0..10 {
        assert_eq!(
            s.locked(&subject(i), now).await.unwrap(),
            Some(30 * SEC),
            "{i}"
        );
    }
}

#[tokio::test]
async fn when_every_subject_is_locked_the_soonest_to_end_makes_room() {
    const CAP: usize = 10;
    let s = MemoryLockout::with_capacity(LockoutPolicy::default(), CAP).unwrap();
    let subject = |i: u32| LockoutSubject::Client(Ipv4Addr::from(0x0a00_0000 + i).into());
    // Subject i is locked at i seconds, so subject 0's lockout ends first.
    for i in 0..CAP as u32 {
        assert_eq!(lock(&s, &subject(i), t0() + SEC * i).await, MIN);
    }
    let now = t0() + 20 * SEC;
    assert_eq!(lock(&s, &subject(99), now).await, MIN);
    assert_eq!(s.tracked().clients, CAP);
    assert_eq!(s.locked(&subject(0), now).await.unwrap(), None);
    for i in 1..CAP as u32 {
        assert!(s.locked(&subject(i), now).await.unwrap().is_some(), "{i}");
    }
    assert_eq!(s.locked(&subject(99), now).await.unwrap(), Some(MIN));
}

#[tokio::test]
async fn purge_drops_only_subjects_with_nothing_to_remember() {
    let s = store();
    let idle = ip("192.0.2.1");
    let locked = ip("192.0.2.2");
    let escalated = ip("192.0.2.3");
    assert!(fail_n(&s, &idle, 3, t0()).await.is_empty());
    assert_eq!(lock(&s, &locked, t0() + 30 * SEC).await, MIN);
    assert_eq!(lock(&s, &escalated, t0()).await, MIN);
    assert_eq!(s.purge(t0() + SEC), 0);
    // At 70 s: idle's failures are out of the window; escalated's lockout
    // is over but its backoff level is remembered; locked is locked.
    assert_eq!(s.purge(t0() + 70 * SEC), 1);
    assert_eq!(s.tracked().clients, 2);
    assert_eq!(lock(&s, &escalated, t0() + 70 * SEC).await, 2 * MIN);
    // Hours later, nothing is left to remember.
    assert_eq!(s.purge(t0() + 5 * 60 * MIN), 2);
    assert_eq!(s.tracked(), Tracked::default());
}

#[tokio::test]
async fn success_with_nothing_to_remember_forgets_the_subject() {
    let s = store();
    let a = LockoutSubject::Credential("apikey:abc");
    assert!(fail_n(&s, &a, 3, t0()).await.is_empty());
    assert_eq!(s.tracked().credentials, 1);
    s.record_success(&a, t0()).await.unwrap();
    assert_eq!(s.tracked().credentials, 0);
}

#[test]
fn policies_that_cannot_work_are_refused() {
    let d = LockoutPolicy::default;
    assert_eq!(d().validate(), Ok(()));
    let cases = [
        (
            LockoutPolicy {
                max_failures: 0,
                ..d()
            },
            LockoutPolicyError::Threshold {
                field: "max_failures",
                value: 0,
            },
        ),
        (
            LockoutPolicy {
                credential_max_failures: MAX_FAILURE_THRESHOLD + 1,
                ..d()
            },
            LockoutPolicyError::Threshold {
                field: "credential_max_failures",
                value: MAX_FAILURE_THRESHOLD + 1,
            },
        ),
        (
            LockoutPolicy {
                window: Duration::from_micros(999),
                ..d()
            },
            LockoutPolicyError::TooShort { field: "window" },
        ),
        (
            LockoutPolicy {
                base_lockout: Duration::ZERO,
                ..d()
            },
            LockoutPolicyError::TooShort {
                field: "base_lockout",
            },
        ),
        (
            LockoutPolicy {
                max_lockout: 30 * SEC,
                ..d()
            },
            LockoutPolicyError::MaxBelowBase {
                base: MIN,
                max: 30 * SEC,
            },
        ),
    ];
    for (policy, error) in cases {
        assert_eq!(policy.validate(), Err(error.clone()));
        assert_eq!(MemoryLockout::new(policy).unwrap_err(), error);
    }
    assert_eq!(
        MemoryLockout::with_capacity(d(), 0).unwrap_err(),
        LockoutPolicyError::ZeroCapacity
    );
    let message = LockoutPolicyError::Threshold {
        field: "max_failures",
        value: 0,
    }
    .to_string();
    assert_eq!(
        message,
        "lockout `max_failures` is 0; it must be between 1 and 100"
    );
}

#[test]
fn retry_after_rounds_up_to_whole_seconds() {
    assert_eq!(retry_after_secs(Duration::ZERO), 1);
    assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
    assert_eq!(retry_after_secs(SEC), 1);
    assert_eq!(retry_after_secs(Duration::from_millis(1_001)), 2);
    assert_eq!(retry_after_secs(MIN), 60);
}
