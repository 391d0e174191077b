//! How well `moat discover` recovers an API it has never seen: four APIs
//! with different id styles, versions and auth are driven with seeded,
//! varied traffic of real requests; every exchange is written down as a
//! HAR; the real binary reads it back, and its OpenAPI document is
//! measured against the API's true one: operation recall and precision
//! (method + path template exact, parameter names aside) and the type of
//! each path and query parameter found. Each API is measured at several
//! capture sizes: a small capture is where a few ids each seen once look
//! most like routes.
//!
//! `cargo test -p moat --test discover_accuracy -- --nocapture` prints the
//! table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod discover_accuracy {
    pub mod bookstore;
    pub mod community;
    pub mod measure;
    pub mod projects;
    pub mod server;
    pub mod shop;
    pub mod traffic;
}

use std::process::Command;

use discover_accuracy::measure::{Scores, score};
use discover_accuracy::traffic::{Call, Rng, har, record};
use discover_accuracy::{bookstore, community, projects, server, shop};
use moat_spec::OperationTable;
use serde_json::Value;
use support::*;

/// Capture sizes: the first this many exchanges of the traffic.
const SIZES: [usize; 3] = [150, 500, 1500];

/// Recall, precision and type accuracy each API must reach at every size.
const FLOOR: f64 = 0.98;

/// Records `calls` against `base`, runs `moat discover --format openapi`
/// on the first `size` exchanges for each size, and scores each document
/// against `truth`.
async fn measure(
    api: &'static str,
    base: &str,
    calls: Vec<Call>,
    truth: &OperationTable,
) -> Vec<Scores> {
    let entries = record(&client(), base, calls).await;
    let dir = tempdir();
    SIZES
        .iter()
        .map(|&size| {
            let capture: &[Value] = &entries[..size.min(entries.len())];
            let path = write(dir.path(), &format!("{api}-{size}.har"), &har(capture));
            let out = Command::new(MOAT)
                .args(["discover", path.to_str().unwrap(), "--format", "openapi"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let yaml = String::from_utf8(out.stdout).unwrap();
            let discovered = moat_spec::load_text("discovered.yaml", &yaml).unwrap();
            score(api, truth, capture, &discovered)
        })
        .collect()
}

/// Prints the scores (one table per API: tests run in parallel) and
/// asserts each reaches [`FLOOR`].
fn report(scores: &[Scores]) {
    let mut table = format!("\n{}\n", Scores::HEADER);
    let mut failures = Vec::new();
    for s in scores {
        table.push_str(&format!("{s}\n"));
        if let Err(e) = s.check(FLOOR) {
            failures.push(e);
        }
    }
    println!("{table}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn the_demo_bookstore_is_recovered() {
    let moat = Moat::spawn(&["demo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"]);
    let guide = moat.wait_log_text("Try these through the gateway").await;
    let creds = bookstore::Credentials::from_guide(&guide);
    let truth = OperationTable::new(moat_spec::load(std::path::Path::new(bookstore::DOC)).unwrap());
    let calls = bookstore::plan(&creds, &mut Rng::new(1), SIZES[2]);
    let base = moat.url("");
    report(&measure("bookstore", base.trim_end_matches('/'), calls, &truth).await);
}

#[tokio::test]
async fn a_uuid_api_with_versions_and_nesting_is_recovered() {
    let mut rng = Rng::new(2);
    let data = projects::Data::new(&mut rng);
    let addr = server::serve(projects::handler(&data)).await;
    let truth = OperationTable::new(moat_spec::load_text("projects.yaml", projects::DOC).unwrap());
    let calls = projects::plan(&data, &mut rng, SIZES[2]);
    report(&measure("projects", &format!("http://{addr}"), calls, &truth).await);
}

#[tokio::test]
async fn an_api_of_usernames_slugs_and_titles_is_recovered() {
    let mut rng = Rng::new(3);
    let data = community::Data::new(&mut rng);
    let addr = server::serve(community::handler(&data)).await;
    let truth =
        OperationTable::new(moat_spec::load_text("community.yaml", community::DOC).unwrap());
    let calls = community::plan(&data, &mut rng, SIZES[2]);
    report(&measure("community", &format!("http://{addr}"), calls, &truth).await);
}

/// An API written after the templating rules were set, measured on the
/// same floor: prefixed ids, a few store names each requested very
/// often, small integer line numbers, an API key in the query and a
/// session cookie.
#[tokio::test]
async fn an_api_the_rules_were_not_tuned_on_is_recovered() {
    let mut rng = Rng::new(4);
    let data = shop::Data::new(&mut rng);
    let addr = server::serve(shop::handler(&data)).await;
    let truth = OperationTable::new(moat_spec::load_text("shop.yaml", shop::DOC).unwrap());
    let calls = shop::plan(&data, &mut rng, SIZES[2]);
    report(&measure("shop", &format!("http://{addr}"), calls, &truth).await);
}
