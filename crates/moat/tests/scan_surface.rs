//! `moat scan`'s SSRF (API7), misconfiguration (API8) and inventory (API9)
//! checks, end to end: the real binary against the demo bookstore with
//! its surface weaknesses on (each is found, where it is) and off
//! (nothing is), and against HTTPS and network-address targets for the
//! transport rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::{Bookstore, rules_found, scan, scan_bookstore, tempdir};

/// The families of this area, as `--checks` takes them.
const FAMILIES: &str = "ssrf,cors,headers,errors,methods,server,tls,inventory";

/// The findings of `rule`: (operation `METHOD path` or path, title).
fn places(report: &Value, rule: &str) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule)
        .map(|f| {
            let place = support::finding_place(f);
            (place, f["title"].as_str().unwrap().to_string())
        })
        .collect()
}

fn has(report: &Value, rule: &str, place: &str, title: &str) -> bool {
    places(report, rule)
        .iter()
        .any(|(p, t)| p == place && t == title)
}

#[test]
fn every_surface_weakness_is_found_with_safe_probes_only() {
    let dir = tempdir();
    let store = Bookstore::start("all");
    let report = scan_bookstore(dir.path(), &store.url(), &["--checks", FAMILIES]);
    let expected = [
        (
            "ssrf.fetch",
            "GET /covers/preview",
            "`url` (query) is fetched by the server",
        ),
        (
            "cors.reflected-origin",
            "GET /books",
            "any Origin is allowed with credentials",
        ),
        (
            "headers.missing",
            "GET /books",
            "answers lack `X-Content-Type-Options: nosniff`",
        ),
        (
            "headers.missing",
            "GET /books",
            "authenticated answers lack `Cache-Control: no-store`",
        ),
        (
            "headers.missing",
            "GET /books",
            "answers lack `frame-ancestors` (Content-Security-Policy) or `X-Frame-Options`",
        ),
        // Without writes, the login (which the identities use anyway) is
        // the one operation a malformed body may be sent to.
        (
            "errors.verbose",
            "POST /login",
            "a malformed JSON body is answered with internals",
        ),
        ("methods.trace", "GET /books", "TRACE echoes the request"),
        (
            "methods.undocumented",
            "GET /books",
            "CORS preflights allow undocumented methods",
        ),
        (
            "server.version",
            "GET /books",
            "`Server` names software and its version",
        ),
        (
            "server.version",
            "GET /books",
            "`X-Powered-By` names software and its version",
        ),
        (
            "inventory.old-version",
            "/api/v0/books",
            "`/api/v0/books` answers beside documented `/api/v1/books`",
        ),
        (
            "inventory.deprecated-live",
            "GET /v1/books",
            "deprecated operation still answers",
        ),
        (
            "inventory.debug-route",
            "/api/debug/config",
            "`/api/debug/config` answers (debug or admin route)",
        ),
        (
            "inventory.exposed-docs",
            "/api/openapi.json",
            "`/api/openapi.json` serves the API description or a console",
        ),
        (
            "inventory.exposed-docs",
            "/api/docs",
            "`/api/docs` serves the API description or a console",
        ),
    ];
    for (rule, place, title) in expected {
        assert!(
            has(&report, rule, place, title),
            "{rule} at {place} ({title}) not found: {:?}",
            places(&report, rule)
        );
    }
    // A loopback target is not plain HTTP on a network.
    let found = rules_found(&report);
    assert!(!found.iter().any(|r| r.starts_with("tls.")), "{found:?}");
    // No canary token, random origin or made-up path in a title: titles
    // are what a later scan is compared by.
    for finding in report["findings"].as_array().unwrap() {
        let title = finding["title"].as_str().unwrap();
        assert!(
            !title.contains("moat-scan") && !title.contains("moat-canary"),
            "{title}"
        );
    }
}

#[test]
fn the_fixed_bookstore_shows_none_even_with_writes() {
    let dir = tempdir();
    let store = Bookstore::start("none");
    let report = scan_bookstore(
        dir.path(),
        &store.url(),
        &["--checks", FAMILIES, "--allow-writes"],
    );
    assert_eq!(rules_found(&report), Vec::<String>::new(), "{report:#}");
    assert!(
        report["requests"].as_u64().unwrap() > 50,
        "the checks ran: {report}"
    );
}

/// A minimal document for the test upstream, which answers any GET.
fn items_spec(dir: &std::path::Path) -> std::path::PathBuf {
    support::write(
        dir,
        "items.yaml",
        "openapi: 3.0.3\ninfo: {title: items, version: '1'}\npaths:\n  /items:\n    get:\n      responses:\n        '200': {description: ok}\n",
    )
}

fn scan_target(dir: &std::path::Path, target: &str) -> Value {
    let config = support::write(
        dir,
        "scan.yaml",
        &format!(
            "target: {target}\nspec: {}\nrate: 100\n",
            items_spec(dir).display()
        ),
    );
    let (code, stdout, stderr) = scan(&[
        "--config",
        config.to_str().unwrap(),
        "--format",
        "json",
        "--checks",
        "tls",
    ]);
    assert!(
        code == 0 || code == 1,
        "moat scan failed ({code}):\n{stderr}"
    );
    serde_json::from_str(&stdout).unwrap()
}

#[tokio::test]
async fn an_untrusted_certificate_and_no_hsts_are_found() {
    let dir = tempdir();
    let pki = support::pki();
    let upstream = support::upstream(Some(support::acceptor(&pki))).await;
    let target = format!("https://localhost:{}", upstream.addr.port());
    let report = tokio::task::spawn_blocking(move || scan_target(dir.path(), &target))
        .await
        .unwrap();
    let mut found = rules_found(&report);
    found.sort();
    assert_eq!(found, ["tls.certificate", "tls.no-hsts"], "{report:#}");
    assert!(
        has(
            &report,
            "tls.certificate",
            "GET /items",
            "the certificate does not verify"
        ),
        "{report:#}"
    );
}

#[tokio::test]
async fn plain_http_on_a_network_address_is_found() {
    // This machine's address on its default route (no packet is sent),
    // forwarding to a plain upstream on loopback.
    let own = {
        let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        socket.connect("192.0.2.1:9").unwrap();
        socket.local_addr().unwrap().ip()
    };
    assert!(!own.is_loopback(), "the machine needs a network address");
    let upstream = support::upstream(None).await;
    let listener = tokio::net::TcpListener::bind((own, 0)).await.unwrap();
    let front = listener.local_addr().unwrap();
    let back = upstream.addr;
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(back).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    let dir = tempdir();
    let report =
        tokio::task::spawn_blocking(move || scan_target(dir.path(), &format!("http://{front}")))
            .await
            .unwrap();
    assert_eq!(rules_found(&report), ["tls.plaintext"], "{report:#}");
    assert!(
        has(
            &report,
            "tls.plaintext",
            "GET /items",
            "the API answers over plain HTTP"
        ),
        "{report:#}"
    );
}
