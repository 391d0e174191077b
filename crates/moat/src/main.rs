//! The `moat` command: gateway, config check, demo, and the state
//! commands (keys, bans, events, audit, admin tokens), discovery and the
//! scanner.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod admin_cli;
mod audit_cli;
mod bans;
mod commands;
mod db_cli;
mod demo;
mod discover_capture;
mod discover_cli;
mod discover_progress;
mod events_cli;
mod keys;
mod log;
mod scan_cli;
mod state_cli;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc: a request allocates many small, short-lived values (header
/// maps, the parsed view, response buffers); with glibc's malloc they cost
/// about a tenth of the gateway's CPU (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// moat — an API security gateway driven by the API's own OpenAPI document.
#[derive(Debug, Parser)]
#[command(name = "moat", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// The config file (YAML).
        #[arg(short, long, value_name = "FILE", env = "MOAT_CONFIG")]
        config: PathBuf,
    },
    /// Validate a config and every document it references, then exit.
    Check {
        /// The config file (YAML).
        #[arg(short, long, value_name = "FILE", env = "MOAT_CONFIG")]
        config: PathBuf,
    },
    /// Start a sample bookstore API with the gateway in front of it.
    Demo(demo::DemoArgs),
    /// Issue, list, show, rotate and revoke API keys.
    Keys(keys::KeysArgs),
    /// Ban client addresses, networks or consumers; list and lift bans.
    Bans(bans::BansArgs),
    /// Read the security events (the audit trail), or follow new ones.
    Events(events_cli::EventsArgs),
    /// Recover the API's operations from traffic (HAR files, JSON-lines
    /// logs): a table, JSON, an OpenAPI document, or a Markdown or HTML
    /// report; `--diff DOCUMENT` for shadow, zombie and orphan operations.
    Discover(discover_cli::DiscoverArgs),
    /// Test a running API for the OWASP API Security Top 10 from its
    /// OpenAPI document, as anonymous, ordinary and privileged users; text,
    /// JSON, SARIF, JUnit, Markdown and HTML reports.
    Scan(scan_cli::ScanArgs),
    /// Check the audit trail's hash chain.
    Audit(audit_cli::AuditArgs),
    /// Manage the admin API's tokens.
    Admin(admin_cli::AdminArgs),
    /// Migrate the state's schema; export it as JSON Lines or import a dump.
    Db(db_cli::DbArgs),
    /// Read a password from standard input and print its argon2id hash, for
    /// a consumer's `basic.password_hash`.
    HashPassword,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match moat_gateway::executor::builder().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("moat: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match cli.command {
            Command::Serve { config } => commands::serve(config).await,
            Command::Check { config } => commands::check(&config).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Keys(args) => keys::run(args).await,
            Command::Bans(args) => bans::run(args).await,
            Command::Events(args) => events_cli::run(args).await,
            Command::Discover(args) => discover_cli::run(args).await,
            Command::Scan(args) => scan_cli::run(args).await,
            Command::Audit(args) => audit_cli::run(args).await,
            Command::Admin(args) => admin_cli::run(args).await,
            Command::Db(args) => db_cli::run(args).await,
            Command::HashPassword => commands::hash_password(),
        }
    })
}

/// Diagnostics to stderr, client-chosen values escaped ([`log`]);
/// `MOAT_LOG` sets the filter (default `info`).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MOAT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .fmt_fields(log::fields())
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
