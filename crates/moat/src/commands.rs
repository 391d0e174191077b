//! `moat serve` and `moat check`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use moat_gateway::{ConfigLoader, Gateway, StartError};

/// Runs the gateway until SIGTERM/SIGINT.
pub async fn serve(config: PathBuf) -> ExitCode {
    // An absolute path, so that reloads and relative references keep working
    // whatever the working directory becomes.
    let config = std::path::absolute(&config).unwrap_or(config);
    let loader: ConfigLoader = Arc::new(move || moat_config::load(&config));
    run_gateway(loader).await
}

/// Starts a gateway from `loader`, prints where it listens and serves until a
/// signal.
pub async fn run_gateway(loader: ConfigLoader) -> ExitCode {
    let gateway = match Gateway::start(loader).await {
        Ok(g) => g,
        Err(e) => return start_failed(&e),
    };
    announce(&gateway);
    match gateway.run_until_signal().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("moat: cannot install signal handlers: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the bound addresses: one line each, for people and scripts.
pub fn announce(gateway: &Gateway) {
    for addr in gateway.listen_addrs() {
        eprintln!("moat: listening on {addr}");
    }
    if let Some(addr) = gateway.admin_addr() {
        eprintln!("moat: admin on {addr}");
    }
}

/// Explains why the gateway did not start.
pub fn start_failed(e: &StartError) -> ExitCode {
    match e {
        StartError::Config(d) => eprintln!("{d}"),
        other => eprintln!("moat: {other}"),
    }
    ExitCode::FAILURE
}

/// Validates a config and its documents.
pub async fn check(config: &Path) -> ExitCode {
    let result = match moat_config::load(config) {
        Ok(loaded) => moat_gateway::check(loaded).await,
        Err(d) => Err(d),
    };
    match result {
        Ok(report) => {
            for w in &report.warnings {
                eprintln!("{w}");
            }
            let (apis, operations) = (report.apis, report.operations);
            println!(
                "{}: OK ({apis} API{}, {operations} operation{})",
                config.display(),
                if apis == 1 { "" } else { "s" },
                if operations == 1 { "" } else { "s" }
            );
            ExitCode::SUCCESS
        }
        Err(d) => {
            eprintln!("{d}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the argon2id hash of the password on the first line of stdin.
pub fn hash_password() -> ExitCode {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("moat: cannot read the password from standard input: {e}");
        return ExitCode::FAILURE;
    }
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        eprintln!(
            "moat: the password is empty; type it, or pipe it in: `moat hash-password < file`"
        );
        return ExitCode::FAILURE;
    }
    match moat_gateway::identity::hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("moat: cannot hash the password: {e}");
            ExitCode::FAILURE
        }
    }
}
