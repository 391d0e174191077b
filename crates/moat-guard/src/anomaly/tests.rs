//! Scripted traffic: each detector fires once per window on a realistic
//! attack and stays silent on the benign pattern that resembles it.

use std::net::IpAddr;
use std::time::Duration;

use moat_config::anomaly::AnomalyConfig;

use super::*;

/// 2027-01-15T08:00:00Z, in ms: a window boundary for every window used.
const T0: u64 = 1_800_000_000_000;
const SEC: u64 = 1000;
const MIN: u64 = 60 * SEC;

fn engine() -> AnomalyEngine {
    AnomalyEngine::new(&AnomalyConfig::default()).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A request as the gateway reports it; fields set by the builders below.
#[derive(Clone, Copy)]
struct Req<'a> {
    client: &'a str,
    consumer: Option<&'a str>,
    credential: Option<&'a str>,
    auth_failed: bool,
    object: Option<&'a str>,
    kind: &'a str,
    answered_by: AnsweredBy,
    status: u16,
}

impl<'a> Req<'a> {
    fn from(client: &'a str) -> Self {
        Req {
            client,
            consumer: None,
            credential: None,
            auth_failed: false,
            object: None,
            kind: "order",
            answered_by: AnsweredBy::Upstream,
            status: 200,
        }
    }
    fn consumer(mut self, c: &'a str) -> Self {
        self.consumer = Some(c);
        self
    }
    fn failed_login(mut self, credential: &'a str) -> Self {
        self.credential = Some(credential);
        self.auth_failed = true;
        self.status = 401;
        self
    }
    fn object(mut self, id: &'a str, status: u16) -> Self {
        self.object = Some(id);
        self.status = status;
        self
    }
    fn kind(mut self, kind: &'a str) -> Self {
        self.kind = kind;
        self
    }
    fn by(mut self, answered_by: AnsweredBy) -> Self {
        self.answered_by = answered_by;
        self
    }
    fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
    fn at(self, e: &AnomalyEngine, now: u64) -> Vec<SecurityEvent> {
        self.sharing(e, now, &mut Vec::new())
    }
    fn sharing(
        self,
        e: &AnomalyEngine,
        now: u64,
        touches: &mut Vec<SharedTouch>,
    ) -> Vec<SecurityEvent> {
        let obs = Observation {
            now,
            client: ip(self.client),
            consumer: self.consumer,
            credential_id: self.credential,
            auth_failed: self.auth_failed,
            object: self.object.map(|id| ObjectRef {
                kind: self.kind,
                id,
            }),
            answered_by: self.answered_by,
            status: self.status,
        };
        e.observe_sharing(&obs, touches)
    }
}

fn only(events: &[SecurityEvent], detector: &str) -> Vec<SecurityEvent> {
    events
        .iter()
        .filter(|e| e.detector == detector)
        .cloned()
        .collect()
}

#[test]
fn credential_stuffing_from_one_address_fires_once_per_window() {
    let e = engine();
    let mut events = Vec::new();
    // A combo list: a new user name every 600 ms for two minutes.
    let names: Vec<String> = (0..200)
        .map(|i| format!("basic:user{i}@example.com"))
        .collect();
    for (i, name) in names.iter().enumerate() {
        let now = T0 + i as u64 * 600;
        events.extend(Req::from("198.51.100.7").failed_login(name).at(&e, now));
    }
    let stuffing = only(&events, "credential_stuffing");
    assert_eq!(stuffing.len(), 1, "{stuffing:#?}");
    let ev = &stuffing[0];
    assert_eq!(
        ev.subject,
        EventSubject::Address {
            ip: ip("198.51.100.7"),
            prefix: 32
        }
    );
    assert_eq!((ev.observed, ev.threshold, ev.window_secs), (20, 20, 300));
    assert_eq!(ev.ban, Some(Duration::from_secs(3600)));
    assert_eq!(
        ev.summary,
        "address 198.51.100.7 failed authentication with 20 distinct credentials within 5m"
    );
    // Each user name failed once: no credential crossed its threshold.
    // (Two minutes of 401s at 100 a minute are an error storm as well.)
    assert!(
        events
            .iter()
            .all(|e| matches!(e.subject, EventSubject::Address { .. })),
        "{events:#?}"
    );

    // The attack goes on for ten more minutes: one event per window.
    for i in 200..1200u64 {
        let name = format!("basic:user{i}@example.com");
        events.extend(
            Req::from("198.51.100.7")
                .failed_login(&name)
                .at(&e, T0 + i * 600),
        );
    }
    assert_eq!(only(&events, "credential_stuffing").len(), 3, "{events:#?}");
}

#[test]
fn one_credential_from_many_addresses_is_reported_without_the_name() {
    let e = engine();
    let mut events = Vec::new();
    // A botnet: 40 addresses, each trying alice's password once, spread
    // over eight minutes (far below any per-address lockout).
    for i in 0..40u64 {
        let client = format!("203.0.{}.{}", 100 + i / 10, 1 + i % 10);
        events.extend(
            Req::from(&client)
                .failed_login("basic:alice")
                .at(&e, T0 + i * 12 * SEC),
        );
    }
    assert_eq!(events.len(), 1, "{events:#?}");
    let ev = &events[0];
    assert_eq!(ev.detector, "credential_stuffing");
    let label = credential_label("basic:alice");
    assert!(
        label.starts_with("basic:sha256:") && label.len() == 25,
        "{label}"
    );
    assert_eq!(ev.subject, EventSubject::Credential(label.clone()));
    assert_eq!((ev.observed, ev.threshold, ev.window_secs), (10, 10, 600));
    assert_eq!(ev.ban, None, "a credential cannot be banned");
    assert!(!ev.summary.contains("alice"), "{}", ev.summary);
    assert!(ev.summary.contains(&label), "{}", ev.summary);
}

#[test]
fn an_office_behind_one_nat_address_mistyping_passwords_is_not_stuffing() {
    let e = engine();
    let mut events = Vec::new();
    // 400 employees behind one address; each mistypes once in the morning
    // (one failure every 40 s on average, 7 or 8 in any five minutes) and
    // some mistype twice.
    for i in 0..400u64 {
        let name = format!("basic:employee{i}");
        let now = T0 + i * 40 * SEC;
        events.extend(Req::from("192.0.2.10").failed_login(&name).at(&e, now));
        if i % 7 == 0 {
            events.extend(
                Req::from("192.0.2.10")
                    .failed_login(&name)
                    .at(&e, now + 5 * SEC),
            );
        }
        // Then they log in, and work.
        for k in 0..20 {
            events.extend(
                Req::from("192.0.2.10")
                    .consumer(&name)
                    .at(&e, now + 10 * SEC + k * 1000),
            );
        }
    }
    // A user whose phone changes networks fails from a few addresses.
    for i in 0..4u64 {
        let client = format!("198.51.100.{}", 20 + i);
        events.extend(
            Req::from(&client)
                .failed_login("basic:roaming")
                .at(&e, T0 + i * MIN),
        );
    }
    assert!(events.is_empty(), "{events:#?}");
}

#[test]
fn probing_other_peoples_objects_is_enumeration() {
    let e = engine();
    let mut events = Vec::new();
    // mallory owns orders 1000..1010 and walks on through the ids beyond,
    // which belong to others: 404 (or 403), one request every 2 s.
    for i in 0..120u64 {
        let id = (1000 + i).to_string();
        let status = if i < 10 {
            200
        } else if i % 2 == 0 {
            404
        } else {
            403
        };
        events.extend(
            Req::from("198.51.100.50")
                .consumer("mallory")
                .object(&id, status)
                .at(&e, T0 + i * 2 * SEC),
        );
    }
    let found = only(&events, "enumeration");
    assert_eq!(found.len(), 1, "{events:#?}");
    let ev = &found[0];
    assert_eq!(ev.subject, EventSubject::Consumer("mallory".into()));
    assert_eq!((ev.observed, ev.threshold, ev.window_secs), (50, 50, 300));
    assert_eq!(ev.ban, Some(Duration::from_secs(900)));
    assert_eq!(ev.reach, BanReach::All);
    assert_eq!(
        ev.summary,
        "consumer `mallory` requested 50 distinct objects of kind `order` within 5m, 80% of them \
         refused or not found"
    );
    // The same walk from an anonymous address is reported for the address.
    let mut anon = Vec::new();
    for i in 0..60u64 {
        let id = i.to_string();
        anon.extend(
            Req::from("2001:db8:7:7::99")
                .object(&id, 404)
                .at(&e, T0 + i * SEC),
        );
    }
    let found = only(&anon, "enumeration");
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].subject,
        EventSubject::Address {
            ip: ip("2001:db8:7:7::"),
            prefix: 64
        }
    );
    // An anonymous address may be shared: its ban reaches only anonymous
    // requests for the kind it probed.
    assert_eq!(found[0].reach, BanReach::AnonymousObjects("order".into()));
}

#[test]
fn evidence_is_kept_per_kind_of_object() {
    let e = engine();
    let mut events = Vec::new();
    // Behind one address, a busy client reads 40 orders, 40 invoices and
    // 40 tickets, a third of them gone: no kind reaches the threshold.
    for kind in ["order", "invoice", "ticket"] {
        for i in 0..40u64 {
            let status = if i % 3 == 0 { 404 } else { 200 };
            events.extend(
                Req::from("203.0.113.9")
                    .kind(kind)
                    .object(&i.to_string(), status)
                    .at(&e, T0 + i * SEC),
            );
        }
    }
    assert!(only(&events, "enumeration").is_empty(), "{events:#?}");
    assert_eq!(e.tracked().enumeration, 3);
}

#[test]
fn refusals_by_other_controls_are_no_evidence_but_object_refusals_are() {
    let e = engine();
    let mut events = Vec::new();
    // 200 attacks, each naming another object, refused by attack detection
    // (403) or validation (400): the objects were never looked up.
    for i in 0..200u64 {
        let status = if i % 2 == 0 { 403 } else { 400 };
        events.extend(
            Req::from("203.0.113.10")
                .consumer("tester")
                .object(&i.to_string(), status)
                .by(AnsweredBy::Gateway)
                .at(&e, T0 + i * 100),
        );
    }
    assert!(only(&events, "enumeration").is_empty(), "{events:#?}");
    assert_eq!(e.tracked().enumeration, 0);
    // The gateway's own ownership refusals are evidence.
    for i in 0..50u64 {
        events.extend(
            Req::from("203.0.113.10")
                .consumer("tester")
                .object(&(1000 + i).to_string(), 403)
                .by(AnsweredBy::ObjectAccess)
                .at(&e, T0 + 30 * SEC + i * 100),
        );
    }
    assert_eq!(only(&events, "enumeration").len(), 1, "{events:#?}");
}

#[test]
fn paging_through_ones_own_objects_is_not_enumeration() {
    let e = engine();
    let mut events = Vec::new();
    // alice pages through her 40 orders, twice.
    for round in 0..2u64 {
        for i in 0..40u64 {
            let id = format!("ord-{i}");
            events.extend(
                Req::from("192.0.2.44")
                    .consumer("alice")
                    .object(&id, 200)
                    .at(&e, T0 + round * MIN + i * 500),
            );
        }
    }
    // A busy back office reads 300 of its own orders in three minutes,
    // a few of them deleted meanwhile (404).
    for i in 0..300u64 {
        let id = format!("ord-{i}");
        let status = if i % 20 == 0 { 404 } else { 200 };
        events.extend(
            Req::from("192.0.2.45")
                .consumer("backoffice")
                .object(&id, status)
                .at(&e, T0 + i * 600),
        );
    }
    assert!(only(&events, "enumeration").is_empty(), "{events:#?}");
}

#[test]
fn a_burst_far_above_the_baseline_is_scraping() {
    let e = engine();
    let mut events = Vec::new();
    let crawler = Req::from("192.0.2.80").consumer("partner");
    // Ten minutes at its usual 20 requests a minute.
    let mut now = T0;
    while now < T0 + 10 * MIN {
        events.extend(crawler.at(&e, now));
        now += 3 * SEC;
    }
    assert!(events.is_empty(), "{events:#?}");
    // Then 1000 requests within one minute (every 60 ms).
    for i in 0..1000u64 {
        events.extend(crawler.at(&e, now + i * 60));
    }
    let burst = only(&events, "scraping_burst");
    assert_eq!(burst.len(), 1, "{events:#?}");
    let ev = &burst[0];
    assert_eq!(ev.subject, EventSubject::Consumer("partner".into()));
    assert_eq!(ev.window_secs, 60);
    assert!(ev.observed >= 300 && ev.observed >= ev.threshold, "{ev:?}");
    assert!(ev.threshold >= 300 && ev.threshold < 400, "{ev:?}");
    assert!(
        ev.summary.contains("baseline of 20 per 1m"),
        "{}",
        ev.summary
    );
    assert_eq!(ev.ban, None);
    assert!(only(&events, "scraping_sustained").is_empty());
}

#[test]
fn a_steady_high_volume_consumer_is_not_scraping() {
    let e = engine();
    let mut events = Vec::new();
    // 600 requests a minute, every minute, for half an hour, with the
    // usual jitter.
    for i in 0..18_000u64 {
        let jitter = (i * 7919) % 90;
        events.extend(
            Req::from("192.0.2.90")
                .consumer("mobile-backend")
                .at(&e, T0 + i * 100 + jitter),
        );
    }
    assert!(events.is_empty(), "{events:#?}");
}

#[test]
fn sustained_volume_from_a_new_subject_is_scraping() {
    let e = engine();
    let mut events = Vec::new();
    // A fresh address pulling 25 requests a second for twenty minutes: no
    // baseline to compare with, but far above the sustained threshold.
    for i in 0..30_000u64 {
        events.extend(Req::from("198.51.100.99").at(&e, T0 + 17 * SEC + i * 40));
    }
    let sustained = only(&events, "scraping_sustained");
    assert_eq!(sustained.len(), 2, "one per 10m window: {events:#?}");
    assert_eq!(sustained[0].threshold, 10_000);
    assert_eq!(sustained[0].window_secs, 600);
    assert!(only(&events, "scraping_burst").is_empty(), "{events:#?}");
}

#[test]
fn an_error_storm_fires_once_per_window() {
    let e = engine();
    let mut events = Vec::new();
    // A fuzzer: 400 malformed requests within a minute, every 150 ms.
    for i in 0..400u64 {
        events.extend(Req::from("198.51.100.66").status(400).at(&e, T0 + i * 150));
    }
    let storm = only(&events, "error_storm");
    assert_eq!(storm.len(), 1, "{events:#?}");
    let ev = &storm[0];
    assert_eq!((ev.observed, ev.threshold, ev.window_secs), (100, 100, 60));
    assert_eq!(
        ev.summary,
        "address 198.51.100.66 caused 100 error answers within 1m, 100% of its requests"
    );
    // It goes on for two more minutes: two more events.
    for i in 400..1200u64 {
        events.extend(Req::from("198.51.100.66").status(422).at(&e, T0 + i * 150));
    }
    assert_eq!(only(&events, "error_storm").len(), 3);
}

#[test]
fn a_few_errors_or_errors_among_much_traffic_are_no_storm() {
    let e = engine();
    let mut events = Vec::new();
    // A busy consumer: 1000 requests a minute, one in eight an error.
    for i in 0..5000u64 {
        let status = if i % 8 == 0 { 404 } else { 200 };
        events.extend(
            Req::from("192.0.2.5")
                .consumer("busy")
                .status(status)
                .at(&e, T0 + i * 60),
        );
    }
    // A client with a bug: 30 errors a minute.
    for i in 0..300u64 {
        events.extend(Req::from("192.0.2.6").status(500).at(&e, T0 + i * 2 * SEC));
    }
    assert!(events.is_empty(), "{events:#?}");
}

#[test]
fn memory_stays_bounded_under_a_flood_of_addresses() {
    let config = AnomalyConfig {
        max_subjects: 10_000,
        ..AnomalyConfig::default()
    };
    let e = AnomalyEngine::new(&config).unwrap();
    // 100 000 distinct addresses within two minutes, each sending a
    // failed login that names an object and errors: every table is hit.
    for i in 0..100_000u32 {
        let client = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
        let name = format!("basic:u{i}");
        e.observe(&Observation {
            now: T0 + u64::from(i),
            client,
            consumer: None,
            credential_id: Some(&name),
            auth_failed: true,
            object: Some(ObjectRef {
                kind: "order",
                id: "1",
            }),
            answered_by: AnsweredBy::Upstream,
            status: 401,
        });
        if i % 10_000 == 0 {
            let t = e.tracked();
            assert!(t.stuffing_addresses <= 10_000, "{t:?}");
        }
    }
    let t = e.tracked();
    for n in [
        t.stuffing_addresses,
        t.stuffing_credentials,
        t.enumeration,
        t.scraping,
        t.error_storm,
    ] {
        assert!((8_000..=10_000).contains(&n), "{t:?}");
    }
    // Long after, everything is idle and purged.
    assert_eq!(e.purge(T0 + 24 * 60 * MIN), t.total());
    assert_eq!(e.tracked().total(), 0);
}

#[test]
fn disabled_detectors_track_nothing() {
    let mut config = AnomalyConfig {
        enabled: false,
        ..AnomalyConfig::default()
    };
    let e = AnomalyEngine::new(&config).unwrap();
    for i in 0..500u64 {
        let name = format!("basic:u{i}");
        assert!(
            Req::from("198.51.100.1")
                .failed_login(&name)
                .at(&e, T0 + i)
                .is_empty()
        );
    }
    assert_eq!(e.tracked().total(), 0);
    config.enabled = true;
    config.credential_stuffing.enabled = false;
    config.scraping.enabled = false;
    let e = AnomalyEngine::new(&config).unwrap();
    for i in 0..500u64 {
        let name = format!("basic:u{i}");
        Req::from("198.51.100.1").failed_login(&name).at(&e, T0 + i);
    }
    let t = e.tracked();
    assert_eq!((t.stuffing_addresses, t.scraping, t.error_storm), (0, 0, 1));
    config.enumeration.distinct_objects = 0;
    assert!(AnomalyEngine::new(&config).is_err());
}

#[test]
fn labels_and_subjects_are_safe_to_show() {
    assert_eq!(
        credential_label("apikey:AbC123xyz789"),
        "apikey:AbC123xyz789"
    );
    // "abc" hashes to ba7816bf8f01…
    assert_eq!(credential_label("abc"), "credential:sha256:ba7816bf8f01");
    let long_key = format!("apikey:{}", "x".repeat(40));
    assert!(credential_label(&long_key).starts_with("apikey:sha256:"));
    assert!(credential_label("basic:bob").starts_with("basic:sha256:"));
    assert!(credential_label("Basic Weird:bob").starts_with("credential:sha256:"));
    let s = EventSubject::Consumer("eve\u{1b}[31m".into()).to_string();
    assert_eq!(s, "consumer `eve\\u{1b}[31m`");
    assert_eq!(
        Address::of(ip("::ffff:192.0.2.1")).subject(),
        Address::of(ip("192.0.2.1")).subject()
    );
    assert_eq!(span(90_000), "90s");
    assert_eq!(span(3_600_000), "1h");
}

/// The cluster-wide counter, in memory: what the gateway's Redis counts do,
/// with the same primitives, and the claim that lets one node report.
#[derive(Default)]
struct Cluster {
    logs: std::collections::HashMap<(Tally, u64), window::DistinctLog>,
    slides: std::collections::HashMap<(Tally, u64), Slide>,
    /// When each (tally, subject) was last reported.
    claimed: std::collections::HashMap<(Tally, u64), u64>,
}

/// A sliding count as the cluster keeps it.
#[derive(Default)]
struct Slide {
    count: window::SlidingCount,
    flagged: window::SlidingCount,
    baseline: f64,
    windows: u32,
}

impl Cluster {
    /// Counts `touches` as one batch and has `e` decide on the answers.
    fn count(&mut self, e: &AnomalyEngine, touches: &[SharedTouch]) -> Vec<SecurityEvent> {
        touches
            .iter()
            .filter_map(|t| {
                let key = (t.tally(), t.subject());
                let (now, span) = (t.now(), t.window());
                let count = match t.measure() {
                    Measure::Distinct { id, flag, cap } => {
                        let log = self.logs.entry(key).or_default();
                        log.touch(id, now, flag, span, cap as usize);
                        SharedCount::Distinct {
                            distinct: log.len() as u64,
                            flagged: log.flagged() as u64,
                        }
                    }
                    Measure::Sliding {
                        add,
                        flagged,
                        create,
                        baseline,
                        ..
                    } => {
                        if !create && !self.slides.contains_key(&key) {
                            SharedCount::Nothing
                        } else {
                            let s = self.slides.entry(key).or_insert_with(|| Slide {
                                count: window::SlidingCount::starting(now, span),
                                flagged: window::SlidingCount::starting(now, span),
                                ..Slide::default()
                            });
                            let rolled = s.count.roll(now, span);
                            s.flagged.roll(now, span);
                            if let Some(alpha) = baseline {
                                window::learn(&mut s.baseline, &mut s.windows, rolled, alpha);
                            }
                            s.count.add(add);
                            s.flagged.add(flagged);
                            SharedCount::Sliding {
                                count: s.count.estimate(now, span),
                                flagged: s.flagged.estimate(now, span),
                                baseline: s.baseline,
                                windows: s.windows,
                            }
                        }
                    }
                };
                let event = e.decide_shared(t, count)?;
                let last = self.claimed.get(&key).copied();
                due(last, now, span).then(|| {
                    self.claimed.insert(key, now);
                    event
                })
            })
            .collect()
    }
}

fn two_nodes(config: &AnomalyConfig) -> [AnomalyEngine; 2] {
    [0, 1].map(|_| {
        let e = AnomalyEngine::new(config).unwrap();
        assert!(e.share(b"the cluster's seed"));
        assert!(!e.share(b"another seed"), "seeded once");
        e.set_cluster_decides(true);
        e
    })
}

#[test]
fn enumeration_spread_over_two_nodes_is_counted_once_cluster_wide() {
    let mut config = AnomalyConfig::default();
    config.enumeration.distinct_objects = 10;
    let nodes = two_nodes(&config);
    let mut cluster = Cluster::default();
    let mut local = Vec::new();
    let mut shared = Vec::new();
    for i in 0..12u64 {
        let node = &nodes[(i % 2) as usize];
        let mut touches = Vec::new();
        let id = (5000 + i).to_string();
        local.extend(Req::from("203.0.113.9").object(&id, 404).sharing(
            node,
            T0 + i * SEC,
            &mut touches,
        ));
        assert_eq!(touches.len(), 4, "enumeration, scraping (2), error storm");
        shared.extend(cluster.count(node, &touches));
    }
    assert!(local.is_empty(), "6 on each node: {local:#?}");
    let found = only(&shared, "enumeration");
    assert_eq!(found.len(), 1, "{shared:#?}");
    assert_eq!(found[0].observed, 10);
    assert_eq!(found[0].subject, address_subject(ip("203.0.113.9")));
    assert_eq!(found[0].reach, BanReach::AnonymousObjects("order".into()));

    // The cluster's counts stop answering: the node's own decide again.
    nodes[0].set_cluster_decides(false);
    let mut events = Vec::new();
    for i in 0..10u64 {
        let id = (7000 + i).to_string();
        events.extend(
            Req::from("203.0.113.77")
                .object(&id, 404)
                .at(&nodes[0], T0 + i * SEC),
        );
    }
    assert_eq!(only(&events, "enumeration").len(), 1, "{events:#?}");
}

#[test]
fn stuffing_spread_over_two_nodes_is_counted_cluster_wide() {
    let mut config = AnomalyConfig::default();
    config.credential_stuffing.distinct_credentials = 8;
    let nodes = two_nodes(&config);
    let mut cluster = Cluster::default();
    let mut shared = Vec::new();
    let mut local = Vec::new();
    for i in 0..8u64 {
        let node = &nodes[(i % 2) as usize];
        let mut touches = Vec::new();
        let user = format!("basic:user{i}");
        local.extend(Req::from("198.51.100.7").failed_login(&user).sharing(
            node,
            T0 + i * SEC,
            &mut touches,
        ));
        assert_eq!(
            touches.len(),
            5,
            "by address and by credential, scraping (2), error storm"
        );
        shared.extend(cluster.count(node, &touches));
    }
    assert!(local.is_empty(), "{local:#?}");
    let found = only(&shared, "credential_stuffing");
    assert_eq!(found.len(), 1, "{shared:#?}");
    assert_eq!(found[0].subject, address_subject(ip("198.51.100.7")));
    assert_eq!(found[0].observed, 8);
}

#[test]
fn an_engine_not_shared_hands_out_nothing() {
    let e = engine();
    let mut touches = Vec::new();
    Req::from("203.0.113.9")
        .object("1", 404)
        .sharing(&e, T0, &mut touches);
    assert!(touches.is_empty());
}

#[test]
fn error_storm_spread_over_two_nodes_is_counted_cluster_wide() {
    let mut config = AnomalyConfig::default();
    config.error_storm.min_errors = 20;
    config.error_storm.min_error_percent = 50;
    let nodes = two_nodes(&config);
    let mut cluster = Cluster::default();
    let (mut local, mut shared) = (Vec::new(), Vec::new());
    // 20 errors and 20 successes, half of each on either node.
    for i in 0..40u64 {
        let node = &nodes[(i % 2) as usize];
        let status = if i % 4 >= 2 { 200 } else { 500 };
        let mut touches = Vec::new();
        local.extend(Req::from("203.0.113.50").status(status).sharing(
            node,
            T0 + i * 100,
            &mut touches,
        ));
        shared.extend(cluster.count(node, &touches));
    }
    assert!(only(&local, "error_storm").is_empty(), "{local:#?}");
    let found = only(&shared, "error_storm");
    assert_eq!(found.len(), 1, "{shared:#?}");
    assert_eq!(found[0].observed, 20);
    assert!(found[0].summary.contains("52%"), "{}", found[0].summary);

    // Successes from a client that never erred start no shared count.
    let mut touches = Vec::new();
    Req::from("203.0.113.51")
        .status(200)
        .sharing(&nodes[0], T0, &mut touches);
    cluster.count(&nodes[0], &touches);
    let storm = touches
        .iter()
        .find(|t| t.tally() == Tally::ErrorStorm)
        .unwrap();
    assert!(
        !cluster
            .slides
            .contains_key(&(Tally::ErrorStorm, storm.subject()))
    );
}

#[test]
fn scraping_spread_over_two_nodes_is_counted_cluster_wide() {
    let mut config = AnomalyConfig::default();
    config.scraping.window = Duration::from_secs(10);
    config.scraping.min_requests = 50;
    config.scraping.baseline_factor = 5;
    config.scraping.warmup_windows = 2;
    config.scraping.sustained_requests = 0;
    let nodes = two_nodes(&config);
    let mut cluster = Cluster::default();
    let (mut local, mut shared) = (Vec::new(), Vec::new());
    let mut send = |count: u64, from: u64, every: u64| {
        for i in 0..count {
            let node = &nodes[(i % 2) as usize];
            let mut touches = Vec::new();
            local.extend(Req::from("198.51.100.20").sharing(node, from + i * every, &mut touches));
            shared.extend(cluster.count(node, &touches));
        }
    };
    // Four windows of 10 requests: the baseline.
    send(40, T0, 1_000);
    // Then 80 requests within 4 s: 40 per node, under min_requests on either.
    send(80, T0 + 40_000, 50);
    assert!(only(&local, "scraping_burst").is_empty(), "{local:#?}");
    let found = only(&shared, "scraping_burst");
    assert_eq!(found.len(), 1, "{shared:#?}");
    assert!(found[0].observed >= 51, "{:#?}", found[0]);
    assert!(
        found[0].summary.contains("baseline of 10"),
        "{}",
        found[0].summary
    );
}

#[test]
fn touches_of_one_sliding_count_add_up() {
    let e = engine();
    assert!(e.share(b"seed"));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    Req::from("192.0.2.7").status(500).sharing(&e, T0, &mut a);
    Req::from("192.0.2.7")
        .status(200)
        .sharing(&e, T0 + 5, &mut b);
    let storm = |v: &[SharedTouch]| {
        v.iter()
            .find(|t| t.tally() == Tally::ErrorStorm)
            .cloned()
            .unwrap()
    };
    let mut first = storm(&a);
    assert!(first.absorb(&storm(&b)));
    assert_eq!(first.now(), T0 + 5);
    assert!(matches!(
        first.measure(),
        Measure::Sliding {
            add: 2,
            flagged: 1,
            create: true,
            ..
        }
    ));
    // Another count, or distinct ids, never add up.
    let burst = a
        .iter()
        .find(|t| t.tally() == Tally::ScrapingBurst)
        .unwrap();
    assert!(!first.absorb(burst));
    let mut other = Vec::new();
    Req::from("192.0.2.8")
        .status(500)
        .sharing(&e, T0, &mut other);
    assert!(!first.absorb(&storm(&other)));
}
