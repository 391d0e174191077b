//! `moat demo`: a self-contained showcase of the gateway in front of a
//! deliberately vulnerable sample API, so its protections can be seen without
//! bringing an API of one's own.

pub mod bookstore;
mod warmup;

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

/// Where the gateway listens by default.
const GATEWAY_ADDR: &str = "127.0.0.1:8080";
/// Where `--upstream-only` serves the bookstore by default: the upstream
/// address of examples/bookstore/moat.yaml.
const BOOKSTORE_ADDR: &str = "127.0.0.1:8081";

/// Options of `moat demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where the gateway listens [default: 127.0.0.1:8080]; with
    /// `--upstream-only`, where the bookstore API listens
    /// [default: 127.0.0.1:8081].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Where the admin listener (metrics) listens.
    #[arg(long, default_value = "127.0.0.1:9901")]
    admin: SocketAddr,
    /// Start only the sample bookstore API, without the gateway: the
    /// upstream for running examples/bookstore/moat.yaml with `moat serve`.
    #[arg(long)]
    upstream_only: bool,
    /// The bookstore's planted weaknesses: `all` (the default), `none` (the
    /// fixed API), or a comma-separated list (`all,-cors` leaves one out).
    /// See docs/scanner.md for each.
    #[arg(long, default_value = "all", value_name = "LIST")]
    weaknesses: bookstore::Weaknesses,
}

/// Starts the bookstore and the gateway, prints a guide, serves until Ctrl-C.
pub async fn run(args: DemoArgs) -> ExitCode {
    if args.upstream_only {
        let addr = args.listen.unwrap_or_else(|| default_addr(BOOKSTORE_ADDR));
        return run_upstream_only(addr, bookstore::Settings::with(args.weaknesses)).await;
    }
    let dir = std::env::temp_dir().join(format!("moat-demo-{}", std::process::id()));
    let token = format!("{}{}", uuid_hex(), uuid_hex());
    let settings = bookstore::Settings::with(args.weaknesses.clone());
    if let Err(e) = write_files(&dir, &token, &settings.jwt_secret) {
        eprintln!(
            "moat demo: cannot write the demo config to {}: {e}",
            dir.display()
        );
        return ExitCode::FAILURE;
    }
    let result = run_in(&dir, &args, &token, settings).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn default_addr(addr: &str) -> SocketAddr {
    addr.parse()
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// Serves the bookstore API alone on `addr` until SIGINT or SIGTERM.
async fn run_upstream_only(addr: SocketAddr, settings: bookstore::Settings) -> ExitCode {
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "moat demo: cannot listen on {addr}: {e}\nhint: choose another address with --listen"
            );
            return ExitCode::FAILURE;
        }
    };
    let bound = listener.local_addr().unwrap_or(addr);
    eprintln!("moat demo: bookstore API listening on {bound}");
    eprintln!(
        "moat demo: it is deliberately vulnerable: keep it on loopback, behind `moat serve --config examples/bookstore/moat.yaml`"
    );
    match bookstore::serve_with(listener, stop_signal(), settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("moat demo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn run_in(
    dir: &Path,
    args: &DemoArgs,
    token: &str,
    settings: bookstore::Settings,
) -> ExitCode {
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
    let bookstore = tokio::spawn(bookstore::serve_with(
        upstream,
        async move {
            let _ = stop_rx.await;
        },
        settings,
    ));

    let config = dir.join("moat.yaml");
    let listen = args.listen.unwrap_or_else(|| default_addr(GATEWAY_ADDR));
    let admin = args.admin;
    // Failures this client may make before it is locked out, for the guide.
    let max_failures = moat_config::load(&config)
        .map(|l| l.config.lockout.max_failures)
        .unwrap_or_default();
    let override_until = weak_override_until();
    let guide_until = override_until.clone();
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
        // A weak-key deployment under its override, while it is rotated.
        for api in &mut cfg.apis {
            if let Some(moat_config::VerifierConfig::Jwt(jwt)) = api.security.get_mut("bearerAuth")
            {
                jwt.weak_secret_until = Some(override_until.clone());
            }
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
    let creds = match issue_credentials(dir).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("moat demo: cannot issue the demo credentials: {e}");
            let _ = stop_tx.send(());
            gateway.shutdown().await;
            return ExitCode::FAILURE;
        }
    };
    if let Some(gw) = gateway.listen_addrs().first() {
        warmup::run(*gw, &creds.api_key, &creds.jwt).await;
    }
    print_guide(
        &gateway,
        upstream_addr,
        token,
        &creds,
        max_failures,
        &guide_until,
        &dir.join("moat.yaml"),
    );
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

/// The last day of the demo's weak-key override: 30 days from now.
fn weak_override_until() -> String {
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(30 * 24 * 3600);
    humantime::format_rfc3339_seconds(later)
        .to_string()
        .chars()
        .take(10)
        .collect()
}

fn write_files(dir: &Path, token: &str, jwt_secret: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("moat.yaml"), CONFIG)?;
    std::fs::write(dir.join("openapi.yaml"), SPEC)?;
    std::fs::write(dir.join("admin.token"), token)?;
    // Fresh secrets for every run: nothing reusable is shipped.
    std::fs::write(dir.join("pepper"), format!("{}{}", uuid_hex(), uuid_hex()))?;
    // The bookstore signs its tokens with jwt.io's published example
    // secret, as too many deployments do: moat accepts it only under the
    // time-boxed override the loader adds (`weak_secret_until`).
    std::fs::write(dir.join("jwt.secret"), jwt_secret)?;
    Ok(dir.to_path_buf())
}

/// Credentials the guide hands out: an API key issued to alice, and JWTs
/// for alice and bob, signed with the demo's secret.
struct DemoCredentials {
    api_key: String,
    jwt: String,
    bob_jwt: String,
}

async fn issue_credentials(dir: &Path) -> Result<DemoCredentials, String> {
    let pepper = std::fs::read_to_string(dir.join("pepper")).map_err(|e| e.to_string())?;
    let store = moat_state::SqliteStore::open(&dir.join("moat.db"))
        .await
        .map_err(|e| e.to_string())?;
    let keys = moat_state::KeyManager::new(Arc::new(store), pepper.as_bytes())
        .map_err(|e| e.to_string())?;
    let (_, issued) = keys
        .create("alice", Some("demo"), &["books:write".to_string()], None)
        .await
        .map_err(|e| e.to_string())?;
    let secret = std::fs::read_to_string(dir.join("jwt.secret")).map_err(|e| e.to_string())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let jwt_for = |sub: &str| {
        let claims = serde_json::json!({
            "sub": sub, "iss": "https://auth.bookstore.example", "aud": "bookstore",
            "iat": now, "exp": now + 3600, "scope": "orders:write orders:read",
        });
        bookstore::caller::sign(&claims, secret.as_bytes())
    };
    Ok(DemoCredentials {
        api_key: issued.expose().to_string(),
        jwt: jwt_for("alice"),
        bob_jwt: jwt_for("bob"),
    })
}

fn uuid_hex() -> String {
    // The gateway already depends on uuid's v4 generator (request ids).
    moat_gateway::forwarding::RequestId::new().to_string()
}

/// Prints the tour. Its steps are meant to be run in order, and the
/// statuses it announces are those of a run in order: the invalid token
/// of the authentication steps is the first refused credential of the
/// lockout step.
fn print_guide(
    gateway: &Gateway,
    upstream: SocketAddr,
    token: &str,
    creds: &DemoCredentials,
    max_failures: u32,
    weak_until: &str,
    config: &Path,
) {
    let (key, jwt, bob) = (&creds.api_key, &creds.jwt, &creds.bob_jwt);
    let config = config.display();
    // Two refused credentials came before the loop (the invalid token and
    // the unknown user's login); the loop makes the rest, and its last
    // attempt finds the address locked out.
    let (refused, attempts) = (
        max_failures.saturating_sub(2),
        max_failures.saturating_sub(1),
    );
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
  console    http://{admin}/console/   (admin token: {token})
  metrics    curl -H 'Authorization: Bearer {token}' http://{admin}/metrics
  events     moat events --config {config} --follow

Try these through the gateway:

  curl -i http://{gw}/api/books                  # 200: a documented operation
  curl -i http://{gw}/api/books/1                # 200: path parameter matched
  curl -i http://{gw}/api/debug/config           # 404: shadow endpoint blocked
  curl -i http://{upstream}/api/debug/config    #      (what it leaks without moat)
  curl -i -X PUT http://{gw}/api/books/1         # 405: undocumented method
  curl -i http://{gw}/api/v1/books               # 200 + Deprecation: zombie endpoint flagged
  curl -i --path-as-is 'http://{gw}/api/x/../debug/config'   # 404: same decision for any spelling
  curl -i 'http://{gw}/api/books%2f1'            # 400: encoded slash refused

Authentication, as the document requires it:

  curl -i -X POST http://{gw}/api/books -H 'content-type: application/json' \\
       -d '{{\"title\":\"Dune\",\"author\":\"Frank Herbert\"}}'            # 401: API key required
  curl -i -X POST http://{gw}/api/books -H 'content-type: application/json' \\
       -H 'X-Api-Key: {key}' \\
       -d '{{\"title\":\"Dune\",\"author\":\"Frank Herbert\"}}'            # 201: alice's API key
  curl -i -X POST http://{gw}/api/books -H 'content-type: application/json' \\
       -H 'X-Api-Key: {key}' \\
       -d '{{\"title\":\"Dune\",\"author\":\"Frank Herbert\",\"discount\":100}}'   # 422: mass assignment refused
  curl -i -X POST http://{gw}/api/orders -H 'content-type: application/json' \\
       -H 'Authorization: Bearer {jwt}' \\
       -d '{{\"bookId\":1,\"quantity\":1}}'                             # 201: alice's JWT; order 1 is hers
  curl -i http://{gw}/api/orders/1 -H 'Authorization: Bearer {jwt}'  # 200: her own order
  curl -i http://{gw}/api/orders/1 -H 'Authorization: Bearer {bob}'  # 403: bob reading alice's order (BOLA)
  curl -i http://{gw}/api/users/1 -H 'Authorization: Bearer {jwt}'   # 200: her own user, without passwordHash/ssn
  curl -i http://{gw}/api/users/2 -H 'Authorization: Bearer {jwt}'   # 403: another user's record (BOLA)
  curl -i http://{gw}/api/users/1 -H 'Authorization: Bearer not.a.token'   # 401: invalid_token

Objects named by their creator, and the logins the bookstore performs:

  curl -i -X POST http://{gw}/api/notes -H 'content-type: application/json' \\
       -H 'Authorization: Bearer {jwt}' \\
       -d '{{\"title\":\"alice-plans\",\"text\":\"read Dune\"}}'      # 201: named by its title, no id in the answer
  curl -i http://{gw}/api/notes/alice-plans -H 'Authorization: Bearer {bob}'   # 403: bob reading alice's note
  curl -i -X POST http://{upstream}/api/login -H 'content-type: application/json' \\
       -d '{{\"username\":\"mallory\",\"password\":\"x\"}}'           #      (404 \"no such user\": who exists, without moat)
  curl -i -X POST http://{gw}/api/login -H 'content-type: application/json' \\
       -d '{{\"username\":\"mallory\",\"password\":\"x\"}}'           # 401: the same answer as a wrong password
  curl -i -X POST http://{gw}/api/login -H 'content-type: application/json' \\
       -d '{{\"username\":\"alice\",\"password\":\"wonderland\"}}'     # 200: her session token reaches her, unmasked

Abuse controls:

  for i in 1 2 3 4 5 6; do curl -s -o /dev/null -w '%{{http_code}} ' http://{gw}/api/books; done; echo
  curl -i http://{gw}/api/books                  # 429 + Retry-After, RateLimit-Policy, RateLimit
  for i in $(seq {attempts}); do curl -s -o /dev/null -w '%{{http_code}} ' http://{gw}/api/users/1 \
       -H \"Authorization: Bearer guessed.token.$i\"; done; echo   # 401 x{refused}, then 429: brute force locked out
                                                 # ({max_failures} refused credentials in a minute, the invalid token
                                                 # and the failed login above included; your address, for a
                                                 # minute: try it last)

alice's API key was issued with `moat keys` into the demo's key store; the
upstream sees her as `x-moat-consumer: alice`, never her credentials.

The bookstore signs its tokens with jwt.io's published example secret. moat
refuses such keys; this demo accepts it until the end of {weak_until} only
because its config says `weak_secret_until`, warns at every start (above),
and shows the deadline in moat_jwt_weak_secret_override_until_seconds.

The console already shows a few attacks: the demo sent some of the requests
above from 127.0.0.2 as it started. Everything you try appears there (and in
`moat events`) as it happens.

Every request is logged as one JSON line below. Ctrl-C stops everything.
"
    );
}
