//! Soak: the gateway, with its default settings, under a mix of legitimate
//! users and attackers for `SOAK_SECONDS` (15 by default; `bash
//! scripts/soak.sh` runs it for minutes), over real loopback sockets.
//!
//! - Legitimate users (API keys, paced like people's clients) on 127.0.0.1,
//!   the attackers' address, and on 127.0.0.2: every one of their requests
//!   must be answered as the document says, throughout.
//! - Attackers on 127.0.0.1: injection payloads, a few wrong keys, bodies
//!   over the limit, malformed and ambiguous heads on raw sockets, heads
//!   sent a byte at a time, connections opened and dropped.
//!
//! The gateway's resident memory and open file descriptors are sampled
//! from /proc every 250 ms: memory must stay flat after the warm-up (the
//! first quarter), and once the clients are gone the descriptors must come
//! back to where they were after a 3-second warm-up round of the same
//! traffic (what the gateway opens on first use is open by then). The
//! samples and any descriptor left over are printed, for the record.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SPEC: &str = r#"
openapi: 3.0.3
info: {title: soak, version: "1"}
security: [{ApiKey: []}]
paths:
  /items:
    get: {operationId: listItems, responses: {"200": {description: ok}}}
    post:
      operationId: createItem
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties: {name: {type: string, maxLength: 64}}
              additionalProperties: false
      responses: {"201": {description: created}}
  /items/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
    get: {operationId: getItem, responses: {"200": {description: ok}}}
  /public:
    get:
      operationId: publicInfo
      security: []
      parameters: [{name: q, in: query, schema: {type: string}}]
      responses: {"200": {description: ok}}
components:
  securitySchemes:
    ApiKey: {type: apiKey, in: header, name: X-Api-Key}
"#;

const PEPPER: &str = "soak-test-pepper-0123456789abcdef-0123456789abcdef";

fn seconds() -> u64 {
    std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15)
}

/// Resident memory (KiB) and open descriptors of process `pid`.
fn sample(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    (rss, fds)
}

/// What each of the process's descriptors points at: a TCP socket as its
/// ports and state (`tcp 41234->8080 ESTABLISHED`), anything else as the
/// kernel names it (a file name, `anon_inode:[eventfd]`...), to say what a
/// leak holds.
fn descriptors(pid: u32) -> Vec<String> {
    let mut tcp = std::collections::HashMap::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let port = |a: &str| u16::from_str_radix(a.rsplit(':').next().unwrap(), 16).unwrap();
            let state = match f[3] {
                "01" => "ESTABLISHED",
                "06" => "TIME_WAIT",
                "08" => "CLOSE_WAIT",
                "0A" => "LISTEN",
                other => other,
            };
            tcp.insert(
                format!("socket:[{}]", f[9]),
                format!("tcp {}->{} {state}", port(f[1]), port(f[2])),
            );
        }
    }
    let mut all: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|t| t.display().to_string())
        .map(|t| tcp.get(&t).cloned().unwrap_or(t))
        .collect();
    all.sort();
    all
}

/// Established TCP connections to `port` (IPv4 loopback): the gateway's
/// pooled connections to the upstream, which it keeps for the pool's idle
/// time by design.
fn connections_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let remote_port = f[2].rsplit(':').next().unwrap();
            u16::from_str_radix(remote_port, 16).unwrap() == port && f[3] == "01"
        })
        .count()
}

async fn create_key(moat: &Moat, consumer: &str) -> String {
    admin_create_key(moat, consumer).await.0
}

#[derive(Default)]
struct Tally {
    legit: AtomicU64,
    legit_wrong: AtomicU64,
    attacks: AtomicU64,
}

/// One person's client: keep-alive, from `from`, about 10 requests a
/// second; every answer must be the documented one.
async fn user(
    moat: Arc<Moat>,
    key: String,
    from: IpAddr,
    n: u64,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) -> Vec<String> {
    let c = reqwest::Client::builder()
        .local_address(from)
        .build()
        .unwrap();
    let mut wrong = Vec::new();
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let (req, want) = match i % 4 {
            0 => (c.get(moat.url("/items")), 200),
            1 => (
                c.get(moat.url(&format!("/items/{}", n * 1000 + i % 50))),
                200,
            ),
            // The test upstream answers 200 to everything.
            2 => (
                c.post(moat.url("/items"))
                    .json(&json!({"name": format!("item {i}")})),
                200,
            ),
            _ => (c.get(moat.url("/public?q=books")), 200),
        };
        let got = match req.header("x-api-key", &key).send().await {
            Ok(r) => r.status().as_u16(),
            Err(e) => {
                wrong.push(format!("user {n}: {e}"));
                0
            }
        };
        tally.legit.fetch_add(1, Ordering::Relaxed);
        if got != want && got != 0 {
            tally.legit_wrong.fetch_add(1, Ordering::Relaxed);
            wrong.push(format!("user {n} request {i}: {got}, not {want}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wrong
}

/// Sends `raw` on a new connection and reads until the gateway answers or
/// closes.
async fn raw(addr: SocketAddr, raw: &[u8]) {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return;
    };
    let _ = s.write_all(raw).await;
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await;
}

/// Anonymous attacks from 127.0.0.1, as fast as they are answered.
async fn attacker(moat: Arc<Moat>, kind: u64, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let c = client();
    let addr = moat.addrs[0];
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        match (kind + i) % 7 {
            0 => {
                let _ = c
                    .get(moat.url("/public?q=1%27%20OR%201%3D1--"))
                    .send()
                    .await;
            }
            1 => {
                let _ = c
                    .get(moat.url("/public?q=%3Cscript%3Ealert(1)%3C/script%3E"))
                    .send()
                    .await;
            }
            2 => {
                // A few wrong keys, as mistyped ones are: never a list.
                let _ = c
                    .get(moat.url("/items"))
                    .header("x-api-key", format!("wrong-key-{}", i % 3))
                    .send()
                    .await;
            }
            3 => {
                let _ = c
                    .post(moat.url("/items"))
                    .header("content-type", "application/json")
                    .body(vec![b' '; 2 << 20])
                    .send()
                    .await;
            }
            4 => {
                raw(
                    addr,
                    b"POST /public HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\
                      Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                )
                .await
            }
            5 => raw(addr, b"GET /public HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").await,
            _ => {
                // A head a byte at a time, then gone; and a connection that
                // sends nothing.
                if let Ok(mut s) = TcpStream::connect(addr).await {
                    for b in b"GET /public HT" {
                        if s.write_all(&[*b]).await.is_err() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                drop(TcpStream::connect(addr).await);
            }
        }
        tally.attacks.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs the eight users and four attackers for `total`, sampling the
/// gateway's memory and descriptors every 250 ms. Returns the samples and
/// the legitimate requests that were answered otherwise than documented.
async fn traffic(
    moat: &Arc<Moat>,
    keys: &[String],
    tally: &Arc<Tally>,
    total: Duration,
) -> (Vec<(f64, (u64, usize))>, Vec<String>) {
    let pid = moat.pid();
    let stop = Arc::new(AtomicBool::new(false));
    let mut users = Vec::new();
    for (n, key) in keys.iter().enumerate() {
        // Half share the attackers' address.
        let from: IpAddr = if n % 2 == 0 { "127.0.0.1" } else { "127.0.0.2" }
            .parse()
            .unwrap();
        users.push(tokio::spawn(user(
            moat.clone(),
            key.clone(),
            from,
            n as u64,
            stop.clone(),
            tally.clone(),
        )));
    }
    let attackers: Vec<_> = (0..4)
        .map(|k| tokio::spawn(attacker(moat.clone(), k, stop.clone(), tally.clone())))
        .collect();
    let started = Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < total {
        tokio::time::sleep(Duration::from_millis(250)).await;
        samples.push((started.elapsed().as_secs_f64(), sample(pid)));
    }
    stop.store(true, Ordering::Relaxed);
    let mut wrong = Vec::new();
    for u in users {
        wrong.extend(u.await.unwrap());
    }
    for a in attackers {
        a.await.unwrap();
    }
    (samples, wrong)
}

/// Waits (up to 20 s) until the gateway holds no client connection on
/// `listener`, then counts its descriptors, less the connections its pool
/// keeps to `upstream`, and names them.
async fn quiet(pid: u32, listener: u16, upstream: u16) -> (usize, Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let client = format!("tcp {listener}->");
    loop {
        let named = descriptors(pid);
        let clients = named
            .iter()
            .filter(|d| d.starts_with(&client) && !d.ends_with("LISTEN"))
            .count();
        if clients == 0 || Instant::now() >= deadline {
            let held = named.len() - connections_to(upstream);
            return (held, named);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_and_descriptors_stay_flat_under_mixed_traffic() {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", SPEC);
    let api = "    security:\n      ApiKey: {type: api_key}\n";
    let consumers: String = (0..8).map(|n| format!("  - id: user{n}\n")).collect();
    let text = format!(
        "{}consumers:\n{consumers}keys:\n  pepper: {PEPPER}\naccess_log:\n  target: access.log\n",
        config(&up.url(), api)
    );
    write(dir.path(), "moat.yaml", &text);
    let moat = Arc::new(Moat::start(dir.path()));
    let pid = moat.pid();
    let mut keys = Vec::new();
    for n in 0..8 {
        keys.push(create_key(&moat, &format!("user{n}")).await);
    }
    let listener = moat.addrs[0].port();
    let upstream = up.addr.port();

    // Warm-up: a few seconds of the same traffic, so that what the gateway
    // opens on first use (store connections, pools) is open before the
    // descriptors are counted.
    let tally = Arc::new(Tally::default());
    let (_, mut wrong) = traffic(&moat, &keys, &tally, Duration::from_secs(3)).await;
    let (fds_before, named_before) = quiet(pid, listener, upstream).await;

    let total = Duration::from_secs(seconds());
    let (samples, more) = traffic(&moat, &keys, &tally, total).await;
    wrong.extend(more);

    // Descriptors: back to where they were once the clients are gone, but
    // for the upstream connections the pool keeps.
    let (fds_after, named_after) = quiet(pid, listener, upstream).await;
    let pooled = connections_to(upstream);

    let warm = samples.len() / 4;
    let rss_warm = samples[warm..warm + 4.min(samples.len() - warm)]
        .iter()
        .map(|s| s.1.0)
        .max()
        .unwrap();
    let rss_end = samples[samples.len() - 4..]
        .iter()
        .map(|s| s.1.0)
        .max()
        .unwrap();
    let rss_peak = samples.iter().map(|s| s.1.0).max().unwrap();
    let fds_peak = samples.iter().map(|s| s.1.1).max().unwrap();
    println!(
        "soak {:?}: {} legitimate requests ({} answered otherwise), {} attacks; \
         RSS after warm-up {} KiB, at the end {} KiB, peak {} KiB; \
         descriptors before {}, peak {}, after {} (and {} pooled upstream connections)",
        total,
        tally.legit.load(Ordering::Relaxed),
        tally.legit_wrong.load(Ordering::Relaxed),
        tally.attacks.load(Ordering::Relaxed),
        rss_warm,
        rss_end,
        rss_peak,
        fds_before,
        fds_peak,
        fds_after,
        pooled
    );
    println!(
        "descriptors opened: {:?}; closed: {:?}",
        named_after
            .iter()
            .filter(|d| !named_before.contains(d))
            .collect::<Vec<_>>(),
        named_before
            .iter()
            .filter(|d| !named_after.contains(d))
            .collect::<Vec<_>>()
    );
    for (t, (rss, fds)) in samples.iter().step_by(4) {
        println!("  {t:6.1} s  {rss:>8} KiB  {fds:>5} fds");
    }

    assert!(
        wrong.is_empty(),
        "legitimate requests answered otherwise: {wrong:#?}"
    );
    assert!(tally.legit.load(Ordering::Relaxed) > 8 * seconds() * 5);
    assert!(tally.attacks.load(Ordering::Relaxed) > 100);
    // Flat: what the gateway holds after the warm-up is bounded (tables
    // with caps, buffers reused), so the end is within 20% (and 8 MiB of
    // allocator slack) of the warm-up.
    assert!(
        rss_end <= rss_warm + rss_warm / 5 + 8 * 1024,
        "memory grew from {rss_warm} KiB to {rss_end} KiB"
    );
    assert!(
        fds_after <= fds_before + 2,
        "{fds_before} descriptors before, {fds_after} after; before: {named_before:?}, after: {named_after:?}"
    );
    // Still serving.
    assert_eq!(get_status(&client(), moat.url("/public")).await, 200);
}
