//! `moat demo`: a self-contained showcase of the gateway in front of a
//! deliberately vulnerable sample API, so its protections can be seen without
//! bringing an API of one's own.

pub mod bookstore;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use moat_gateway::{ConfigLoader, Gateway};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::commands::{announce, start_failed};

const CONFIG: &str = include_str!("../../../../examples/bookstore/moat.yaml");
const SPEC: &str = include_str!("../../../../examples/bookstore/openapi.yaml");

/// Options of `moat demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where the gateway listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the admin listener (metrics) listens.
    #[arg(long, default_value = "127.0.0.1:9901")]
    admin: SocketAddr,
}

/// Starts the bookstore and the gateway, prints a guide, serves until Ctrl-C.
pub async fn run(args: DemoArgs) -> ExitCode {
    let dir = std::env::temp_dir().join(format!("moat-demo-{}", std::process::id()));
    let token = format!("{}{}", uuid_hex(), uuid_hex());
    if let Err(e) = write_files(&dir, &token) {
        eprintln!(
            "moat demo: cannot write the demo config to {}: {e}",
            dir.display()
        );
        return ExitCode::FAILURE;
    }
    let result = run_in(&dir, &args, &token).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run_in(dir: &Path, args: &DemoArgs, token: &str) -> ExitCode {
    let upstream = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("moat demo: cannot start the bookstore API: {e}");
            return ExitCode::FAILURE;
        }
    };
    let upstream_addr = match upstream.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("moat demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let bookstore = tokio::spawn(bookstore::serve(upstream, async move {
        let _ = stop_rx.await;
    }));

    let config = dir.join("moat.yaml");
    let (listen, admin) = (args.listen, args.admin);
    let loader: ConfigLoader = Arc::new(move || {
        let mut loaded = moat_config::load(&config)?;
        let cfg = &mut loaded.config;
        if let Some(u) = cfg.upstreams.get_mut("bookstore") {
            u.targets = vec![format!("http://{upstream_addr}")];
        }
        if let Some(l) = cfg.listeners.first_mut() {
            l.bind = listen;
        }
        if let Some(a) = cfg.admin.as_mut() {
            a.bind = admin;
        }
        Ok(loaded)
    });
    let gateway = match Gateway::start(loader).await {
        Ok(g) => g,
        Err(e) => {
            let _ = stop_tx.send(());
            let code = start_failed(&e);
            eprintln!("hint: choose other ports with --listen and --admin");
            return code;
        }
    };
    announce(&gateway);
    print_guide(&gateway, upstream_addr, token);
    let code = match gateway.run_until_signal().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("moat demo: {e}");
            ExitCode::FAILURE
        }
    };
    let _ = stop_tx.send(());
    let _ = bookstore.await;
    code
}

fn write_files(dir: &Path, token: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("moat.yaml"), CONFIG)?;
    std::fs::write(dir.join("openapi.yaml"), SPEC)?;
    std::fs::write(dir.join("admin.token"), token)?;
    Ok(dir.to_path_buf())
}

fn uuid_hex() -> String {
    // The gateway already depends on uuid's v4 generator (request ids).
    moat_gateway::forwarding::new_request_id()
}

fn print_guide(gateway: &Gateway, upstream: SocketAddr, token: &str) {
    let gw = gateway
        .listen_addrs()
        .first()
        .map_or_else(|| "127.0.0.1:8080".to_string(), ToString::to_string);
    let admin = gateway
        .admin_addr()
        .map_or_else(|| "127.0.0.1:9901".to_string(), |a| a.to_string());
    println!(
        "
moat demo: a sample bookstore API (deliberately vulnerable) behind the gateway.

  gateway    http://{gw}/api/books
  bookstore  http://{upstream}/api/books   (direct, unprotected)
  metrics    curl -H 'Authorization: Bearer {token}' http://{admin}/metrics

Try these through the gateway:

  curl -i http://{gw}/api/books                  # 200: a documented operation
  curl -i http://{gw}/api/books/1                # 200: path parameter matched
  curl -i http://{gw}/api/debug/config           # 404: shadow endpoint blocked
  curl -i http://{upstream}/api/debug/config    #      (what it leaks without moat)
  curl -i -X PUT http://{gw}/api/books/1         # 405: undocumented method
  curl -i http://{gw}/api/v1/books               # 200 + Deprecation: zombie endpoint flagged
  curl -i --path-as-is 'http://{gw}/api/x/../debug/config'   # 404: same decision for any spelling
  curl -i 'http://{gw}/api/books%2f1'            # 400: encoded slash refused

Every request is logged as one JSON line below. Ctrl-C stops everything.
"
    );
}
