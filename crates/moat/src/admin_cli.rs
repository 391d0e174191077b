//! `moat admin token`: create, list and revoke the bearer tokens of the
//! admin API and the console, kept hashed in the state file named by the
//! config. Creations and revocations are recorded in the audit trail.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use moat_state::events::admin::AdminAction;
use moat_state::{AdminRole, AdminTokenRecord, DurableStore, unix_now};
use serde_json::{Value, json};

use crate::state_cli::{Failure, clean, pretty, record_admin, require_config, state_store, time};

/// Options of `moat admin`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The config file (YAML): its `state.sqlite` holds the tokens.
    #[arg(short, long, value_name = "FILE", env = "MOAT_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Admin API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token. It is printed once, alone, on standard output.
    Create {
        /// A label, unique among tokens not revoked, e.g. `ops-laptop`.
        #[arg(long, value_name = "NAME")]
        name: String,
        /// `viewer` reads; `operator` also changes keys, bans and tokens.
        #[arg(long, value_name = "ROLE", value_parser = parse_role)]
        role: AdminRole,
    },
    /// List tokens (never their secrets).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id or name: refused from the next request on.
    Revoke {
        /// The token's id (from `list`) or name.
        #[arg(value_name = "NAME|ID")]
        token: String,
    },
}

fn parse_role(s: &str) -> Result<AdminRole, String> {
    AdminRole::parse(s).ok_or_else(|| {
        let names: Vec<&str> = AdminRole::ALL.iter().map(|r| r.as_str()).collect();
        format!("unknown role; one of: {}", names.join(", "))
    })
}

/// Runs `moat admin …`.
pub async fn run(args: AdminArgs) -> ExitCode {
    let config = match require_config(args.config, "admin") {
        Ok(c) => c,
        Err(code) => return code,
    };
    let store = match state_store(&config, false).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let AdminCommand::Token(command) = args.command;
    let result = execute(&store, command).await;
    store.close().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("moat: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(store: &DurableStore, command: TokenCommand) -> Result<(), Failure> {
    let failed = |e: moat_state::StoreError| Failure(e.to_string());
    match command {
        TokenCommand::Create { name, role } => {
            let (token, issued) = store
                .admin_tokens()
                .create_token(&name, role, unix_now())
                .await
                .map_err(failed)?;
            // The token alone on stdout, so `$(moat admin token create …)`
            // captures exactly it; everything else on stderr.
            println!("{}", issued.expose());
            eprintln!(
                "moat: created admin token {} `{}` ({}). This is the only time it is shown: \
                 moat keeps only a hash of it. Store it now.",
                token.id,
                clean(&token.name),
                token.role.as_str()
            );
            let action = AdminAction::AdminTokenCreated {
                id: token.id,
                name: token.name,
                role: token.role,
            };
            record_admin(store, action).await?;
        }
        TokenCommand::List { json } => {
            let tokens = store.admin_tokens().list_tokens().await.map_err(failed)?;
            if json {
                let all: Vec<Value> = tokens.iter().map(token_json).collect();
                println!("{}", pretty(&Value::Array(all)));
            } else if tokens.is_empty() {
                println!("No admin tokens.");
            } else {
                print_table(&tokens);
            }
        }
        TokenCommand::Revoke { token } => {
            if token.starts_with(moat_state::admin_tokens::TOKEN_PREFIX) {
                return Err(Failure(
                    "that is a whole admin token, secret included; pass its id or name \
                     (see `moat admin token list`)\n(the token is now in your shell history: \
                     revoke it by id)"
                        .into(),
                ));
            }
            let tokens = store.admin_tokens().list_tokens().await.map_err(failed)?;
            let unrevoked = |t: &&AdminTokenRecord| t.revoked_at.is_none();
            let target = tokens
                .iter()
                .filter(unrevoked)
                .find(|t| t.id == token)
                .or_else(|| tokens.iter().filter(unrevoked).find(|t| t.name == token))
                .cloned()
                .ok_or_else(|| {
                    Failure(format!(
                        "no admin token in use with id or name `{}` (see `moat admin token list`)",
                        clean(&token)
                    ))
                })?;
            if !store
                .admin_tokens()
                .revoke_token(&target.id, unix_now())
                .await
                .map_err(failed)?
            {
                return Err(Failure(format!(
                    "admin token {} was revoked meanwhile",
                    target.id
                )));
            }
            println!(
                "Revoked admin token {} `{}`; it is refused from the next request on.",
                target.id,
                clean(&target.name)
            );
            let action = AdminAction::AdminTokenRevoked {
                id: target.id,
                name: target.name,
            };
            record_admin(store, action).await?;
        }
    }
    Ok(())
}

fn status(t: &AdminTokenRecord) -> &'static str {
    if t.revoked_at.is_some() {
        "revoked"
    } else {
        "active"
    }
}

fn token_json(t: &AdminTokenRecord) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "role": t.role.as_str(),
        "status": status(t),
        "created_at": time(t.created_at),
        "last_used_at": t.last_used_at.map(time),
        "revoked_at": t.revoked_at.map(time),
    })
}

fn print_table(tokens: &[AdminTokenRecord]) {
    const HEADER: [&str; 6] = ["ID", "NAME", "ROLE", "CREATED", "LAST USED", "STATUS"];
    let rows: Vec<[String; 6]> = tokens
        .iter()
        .map(|t| {
            [
                t.id.clone(),
                clean(&t.name),
                t.role.as_str().to_string(),
                time(t.created_at),
                t.last_used_at.map_or("never".into(), time),
                status(t).to_string(),
            ]
        })
        .collect();
    crate::state_cli::print_table(HEADER, &rows);
}
