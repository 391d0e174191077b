//! `moat keys`: issue, list, show, rotate and revoke API keys in the
//! embedded store named by the config.
//!
//! The plaintext of a key exists only in the output of `create` and
//! `rotate`; everything else shows key ids and metadata, never a secret or
//! a hash. Works while the gateway runs: the store is a WAL-mode SQLite
//! file, and the gateway reads it on every request, so a revocation is
//! effective at once. Creations, rotations and revocations are recorded in
//! the audit trail by key id (`moat events --control admin`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use moat_state::events::admin::AdminAction;
use moat_state::{DurableStore, KeyError, KeyManager, KeyRecord, UnixTime, format, unix_now};
use serde_json::{Value, json};

use crate::state_cli::{
    Failure, clean, from_now, load_config, open_store, pretty, record_admin, require_config,
    seconds, time,
};

/// Options of `moat keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// The config file (YAML): its `state.sqlite` is the key database and
    /// its `keys.pepper` the hashing key.
    #[arg(short, long, value_name = "FILE", env = "MOAT_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Issue a new key. It is printed once and cannot be shown again.
    Create {
        /// The consumer the key belongs to.
        #[arg(long, value_name = "ID")]
        consumer: String,
        /// A label, e.g. "CI deploy".
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// A scope the key grants; repeat for several.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Lifetime, e.g. `90d`, `12h`. No expiry when absent.
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        expires_in: Option<Duration>,
        /// Print JSON (the key included) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List keys (never their secrets).
    List {
        /// Only this consumer's keys.
        #[arg(long, value_name = "ID")]
        consumer: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one key's details.
    Show {
        /// The key id (the 12 characters after `moat_`).
        key_id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Replace a key with a new one; the old one stays valid for the overlap.
    Rotate {
        /// The key id of the key to replace.
        key_id: String,
        /// How long the old key keeps working, so clients can switch.
        #[arg(long, value_name = "DURATION", default_value = "24h",
              value_parser = humantime::parse_duration)]
        overlap: Duration,
        /// Print JSON (the new key included) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: refused from the next request on.
    Revoke {
        /// The key id.
        key_id: String,
    },
}

impl From<KeyError> for Failure {
    fn from(e: KeyError) -> Self {
        Failure(e.to_string())
    }
}

const SHOWN_ONCE: &str =
    "This is the only time the key is shown: moat keeps only a keyed hash of it. Store it now.";

/// Runs `moat keys …`.
pub async fn run(args: KeysArgs) -> ExitCode {
    let config = match require_config(args.config, "keys") {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (keys, store) = match open(&config, &args.command).await {
        Ok(k) => k,
        Err(Failure(message)) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let result = execute(&keys, &store, args.command).await;
    store.close().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("moat: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the config (fully validated, as `moat check` does), refuses a
/// `create` for a consumer the config does not know, and opens the store it
/// names: a refused command writes nothing, not even an empty store.
async fn open(config: &Path, command: &KeysCommand) -> Result<(KeyManager, DurableStore), Failure> {
    let loaded = load_config(config)?;
    if let KeysCommand::Create { consumer, .. } = command {
        known_consumer(&loaded.config, config, consumer)?;
    }
    let Some(keys) = &loaded.config.keys else {
        return Err(Failure(format!(
            "moat: {} has no `keys` section\nhint: add `keys: {{pepper: ${{env:MOAT_KEY_PEPPER}}}}` \
             with at least 32 random bytes, e.g. from `openssl rand -base64 48`",
            config.display()
        )));
    };
    let store = open_store(&loaded.config.state).await?;
    let manager = KeyManager::new(store.keys(), keys.pepper.expose().as_bytes())
        .map_err(|e| Failure(format!("moat: {e}")))?;
    Ok((manager, store))
}

/// Runs the command; creations, rotations and revocations are recorded in
/// the audit trail of `store` once done.
async fn execute(
    keys: &KeyManager,
    store: &DurableStore,
    command: KeysCommand,
) -> Result<(), Failure> {
    match command {
        KeysCommand::Create {
            consumer,
            name,
            scopes,
            expires_in,
            json,
        } => {
            let expires_at = expires_in.map(|d| unix_now().saturating_add(seconds(d)));
            let (record, issued) = keys
                .create(&consumer, name.as_deref(), &scopes, expires_at)
                .await?;
            if json {
                let mut out = record_json(&record, unix_now());
                out["key"] = json!(issued.expose());
                println!("{}", pretty(&out));
                eprintln!("moat: {SHOWN_ONCE}");
            } else {
                println!(
                    "Created API key {} for consumer `{}`.\n\n    {}\n\n{SHOWN_ONCE}",
                    record.key_id,
                    clean(&record.consumer_id),
                    issued.expose()
                );
                print_limits(&record);
            }
            let action = AdminAction::KeyCreated {
                key_id: record.key_id,
                consumer: record.consumer_id,
            };
            record_admin(store, action).await?;
        }
        KeysCommand::List { consumer, json } => {
            let records = keys.list(consumer.as_deref()).await?;
            let now = unix_now();
            if json {
                let all: Vec<Value> = records.iter().map(|r| record_json(r, now)).collect();
                println!("{}", pretty(&Value::Array(all)));
            } else if records.is_empty() {
                println!("No API keys.");
            } else {
                print_table(&records, now);
            }
        }
        KeysCommand::Show { key_id, json } => {
            let record = existing(keys, &key_id).await?;
            let now = unix_now();
            if json {
                println!("{}", pretty(&record_json(&record, now)));
            } else {
                print_details(&record, now);
            }
        }
        KeysCommand::Rotate {
            key_id,
            overlap,
            json,
        } => {
            check_key_id(&key_id)?;
            let (record, issued) = keys.rotate(&key_id, overlap).await.map_err(|e| match e {
                KeyError::Revoked(_) | KeyError::Expired(_) => Failure(format!(
                    "{e}, so it cannot be rotated; issue a new key with `moat keys create`"
                )),
                other => other.into(),
            })?;
            let old = existing(keys, &key_id).await?;
            let now = unix_now();
            if json {
                let mut out = record_json(&record, now);
                out["key"] = json!(issued.expose());
                out["old_key_expires_at"] = json!(old.expires_at.map(time));
                println!("{}", pretty(&out));
                eprintln!("moat: {SHOWN_ONCE}");
            } else {
                println!(
                    "Rotated API key {} to {} for consumer `{}`.\n\n    {}\n\n{SHOWN_ONCE}",
                    old.key_id,
                    record.key_id,
                    clean(&record.consumer_id),
                    issued.expose()
                );
                if let Some(deadline) = old.expires_at {
                    println!(
                        "The old key {} stays valid until {} ({}); move its clients to the new key before then.",
                        old.key_id,
                        time(deadline),
                        from_now(deadline, now)
                    );
                }
                print_limits(&record);
            }
            let action = AdminAction::KeyRotated {
                old_key_id: old.key_id,
                new_key_id: record.key_id,
                consumer: record.consumer_id,
            };
            record_admin(store, action).await?;
        }
        KeysCommand::Revoke { key_id } => {
            check_key_id(&key_id)?;
            let before = existing(keys, &key_id).await?;
            let after = keys.revoke(&key_id).await?;
            match (before.revoked_at, after.revoked_at) {
                (Some(at), _) => println!("API key {key_id} was already revoked at {}.", time(at)),
                _ => {
                    println!(
                        "Revoked API key {key_id} of consumer `{}`; it is refused from the next request on.",
                        clean(&after.consumer_id)
                    );
                    let action = AdminAction::KeyRevoked {
                        key_id: after.key_id,
                        consumer: after.consumer_id,
                    };
                    record_admin(store, action).await?;
                }
            }
        }
    }
    Ok(())
}

/// Refuses a key for a consumer that is not in the config's `consumers`: the
/// gateway would accept such a key with no roles, scopes or metadata, which
/// is never what was meant (usually a typo).
fn known_consumer(
    config: &moat_config::Config,
    path: &Path,
    consumer: &str,
) -> Result<(), Failure> {
    if config.consumers.iter().any(|c| c.id == consumer) {
        return Ok(());
    }
    let ids: Vec<&str> = config.consumers.iter().map(|c| c.id.as_str()).collect();
    let hint = if ids.is_empty() {
        format!(
            "{} has no `consumers`; add one, e.g. `consumers: [{{id: {}}}]`, then create the key",
            path.display(),
            clean(consumer)
        )
    } else {
        format!(
            "the consumers of {} are: {}; add `{}` under `consumers` first if it is new",
            path.display(),
            clean(&ids.join(", ")),
            clean(consumer)
        )
    };
    Err(Failure(format!(
        "moat: no consumer `{}` in the config; no key was created\nhint: {hint}",
        clean(consumer)
    )))
}

/// The record for `key_id`, or a message saying why there is none.
async fn existing(keys: &KeyManager, key_id: &str) -> Result<KeyRecord, Failure> {
    check_key_id(key_id)?;
    keys.get(key_id)
        .await?
        .ok_or_else(|| Failure(format!("no API key with id `{key_id}`")))
}

/// Refuses what cannot be a key id before asking the store, and never
/// echoes a whole key that was pasted by mistake.
fn check_key_id(key_id: &str) -> Result<(), Failure> {
    if format::is_key_id(key_id) {
        return Ok(());
    }
    if let Ok(parsed) = format::parse(key_id) {
        return Err(Failure(format!(
            "that is a whole API key, secret included; pass only its key id: {}\n\
             (the key is now in your shell history: consider rotating it)",
            parsed.key_id()
        )));
    }
    Err(Failure(format!(
        "`{}` is not a key id: a key id is {} letters and digits, the part after `moat_` \
         (see `moat keys list`)",
        clean(key_id),
        format::KEY_ID_LEN
    )))
}

fn print_limits(record: &KeyRecord) {
    if !record.scopes.is_empty() {
        println!("Scopes: {}", clean(&record.scopes.join(", ")));
    }
    if let Some(t) = record.expires_at {
        println!("Expires: {} ({}).", time(t), from_now(t, unix_now()));
    }
}

fn print_details(r: &KeyRecord, now: UnixTime) {
    let rows = [
        ("key id", r.key_id.clone()),
        ("consumer", clean(&r.consumer_id)),
        ("name", r.name.as_deref().map_or("-".into(), clean)),
        ("scopes", scopes(r)),
        ("status", r.status(now).as_str().to_string()),
        ("created", time(r.created_at)),
        ("expires", r.expires_at.map_or("never".into(), time)),
        ("last used", r.last_used_at.map_or("never".into(), time)),
        ("revoked", r.revoked_at.map_or("-".into(), time)),
        (
            "rotated from",
            r.rotated_from.clone().unwrap_or_else(|| "-".into()),
        ),
    ];
    for (label, value) in rows {
        println!("{:<13} {value}", format!("{label}:"));
    }
}

fn print_table(records: &[KeyRecord], now: UnixTime) {
    const HEADER: [&str; 8] = [
        "KEY ID",
        "CONSUMER",
        "NAME",
        "SCOPES",
        "CREATED",
        "EXPIRES",
        "LAST USED",
        "STATUS",
    ];
    let rows: Vec<[String; 8]> = records
        .iter()
        .map(|r| {
            [
                r.key_id.clone(),
                clean(&r.consumer_id),
                r.name.as_deref().map_or("-".into(), clean),
                scopes(r),
                time(r.created_at),
                r.expires_at.map_or("never".into(), time),
                r.last_used_at.map_or("never".into(), time),
                r.status(now).as_str().to_string(),
            ]
        })
        .collect();
    crate::state_cli::print_table(HEADER, &rows);
}

/// Everything but the hash.
fn record_json(r: &KeyRecord, now: UnixTime) -> Value {
    json!({
        "key_id": r.key_id,
        "consumer_id": r.consumer_id,
        "name": r.name,
        "scopes": r.scopes,
        "status": r.status(now).as_str(),
        "created_at": time(r.created_at),
        "expires_at": r.expires_at.map(time),
        "last_used_at": r.last_used_at.map(time),
        "revoked_at": r.revoked_at.map(time),
        "rotated_from": r.rotated_from,
    })
}

fn scopes(r: &KeyRecord) -> String {
    if r.scopes.is_empty() {
        "-".into()
    } else {
        clean(&r.scopes.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_checked_before_the_store() {
        assert!(check_key_id("AbC123xyz789").is_ok());
        let Failure(m) = check_key_id("nope").err().unwrap();
        assert!(m.contains("not a key id"), "{m}");
    }
}
