//! An outage does not write one warning per request: each call site writes
//! its first warning, then at most one a second with the count of those it
//! left out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upstream_outage_writes_a_bounded_number_of_warnings_with_the_count() {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    let down = format!("http://127.0.0.1:{}", closed_port());
    write(dir.path(), "moat.yaml", &config(&down, ""));
    let moat = Moat::start(dir.path());
    let window = Duration::from_millis(2500);
    let until = Instant::now() + window;
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let url = moat.url("/items");
            tokio::spawn(async move {
                let c = client();
                let mut n = 0;
                while Instant::now() < until {
                    let status = get_status(&c, &url).await;
                    assert_eq!(status, 502);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut requests = 0;
    for w in workers {
        requests += w.await.unwrap();
    }
    // The last line is written when the next request comes a second later.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let c = client();
    assert_eq!(get_status(&c, moat.url("/items")).await, 502);
    moat.wait_stderr("suppressed=").await;
    let stderr = moat.stderr();
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("upstream call failed"))
        .collect();
    let suppressed: u64 = warnings
        .iter()
        .filter_map(|l| l.split("suppressed=").nth(1))
        .map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    println!(
        "{requests} failed requests, {} warnings, {suppressed} suppressed",
        warnings.len()
    );
    assert!(requests > 200, "{requests}");
    // One at the start, then at most one a second (3.6 s in all).
    assert!(
        (2..=5).contains(&warnings.len()),
        "{} warnings:\n{}",
        warnings.len(),
        warnings.join("\n")
    );
    // Every request is accounted for: written or counted as left out.
    assert_eq!(warnings.len() as u64 + suppressed, requests + 1);
}
