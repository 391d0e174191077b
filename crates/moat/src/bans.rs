//! `moat bans`: ban client addresses, networks or consumers, list the bans
//! in force and lift them, in the embedded store named by the config.
//!
//! Works while the gateway runs: the store is a WAL-mode SQLite file, and
//! the gateway reloads the bans from it periodically. Bans added and
//! lifted are recorded in the audit trail (`moat events --control admin`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{ArgGroup, Args, Subcommand};
use moat_state::events::admin::AdminAction;
use moat_state::{Ban, BanSubject, DurableStore, IpPrefix, UnixTime, unix_now};
use serde_json::{Value, json};

use crate::state_cli::{
    Failure, clean, from_now, pretty, record_admin, require_config, seconds, state_store, time,
};

/// The shortest network prefix accepted: a ban on a larger network is
/// almost certainly a typo that would lock out a large part of the
/// internet.
const MIN_V4_PREFIX: u8 = 8;
const MIN_V6_PREFIX: u8 = 16;

/// Options of `moat bans`.
#[derive(Debug, Args)]
pub struct BansArgs {
    /// The config file (YAML): its `state.sqlite` holds the bans.
    #[arg(short, long, value_name = "FILE", env = "MOAT_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: BansCommand,
}

/// Who: exactly one of `--address` and `--consumer`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("subject").required(true).args(["address", "consumer"])))]
struct SubjectArgs {
    /// A client address (`203.0.113.7`, `2001:db8::1`) or network
    /// (`203.0.113.0/24`, `2001:db8::/48`).
    #[arg(long, value_name = "ADDRESS[/LEN]")]
    address: Option<String>,
    /// A consumer id (as authenticated by the gateway).
    #[arg(long, value_name = "ID")]
    consumer: Option<String>,
}

#[derive(Debug, Subcommand)]
enum BansCommand {
    /// List the bans in force.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Ban an address, a network or a consumer: its requests are refused.
    #[command(group(ArgGroup::new("length").args(["for_", "until"])))]
    Add {
        #[command(flatten)]
        subject: SubjectArgs,
        /// How long, e.g. `30m`, `12h`, `7d`. Permanent when neither this
        /// nor `--until` is given.
        #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
        for_: Option<Duration>,
        /// Until this time (RFC 3339, UTC: `2026-12-31T23:00:00Z`).
        #[arg(long, value_name = "TIME", value_parser = humantime::parse_rfc3339_weak)]
        until: Option<SystemTime>,
        /// Why, for whoever reads the list later.
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Lift a ban.
    Remove {
        #[command(flatten)]
        subject: SubjectArgs,
    },
}

/// Runs `moat bans …`.
pub async fn run(args: BansArgs) -> ExitCode {
    let config = match require_config(args.config, "bans") {
        Ok(c) => c,
        Err(code) => return code,
    };
    // Arguments first: a typo should not create a database file.
    let command = match Checked::from(args.command) {
        Ok(c) => c,
        Err(Failure(message)) => {
            eprintln!("moat: {message}");
            return ExitCode::FAILURE;
        }
    };
    // Only the `state` section: banning must not need the gateway's
    // secrets on the operator's shell.
    let store = match state_store(&config, false).await {
        Ok(s) => s,
        Err(code) => return code,
    };
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

/// A command whose arguments passed every check.
enum Checked {
    List { json: bool },
    Add(Ban),
    Remove(BanSubject),
}

impl Checked {
    fn from(command: BansCommand) -> Result<Self, Failure> {
        Ok(match command {
            BansCommand::List { json } => Checked::List { json },
            BansCommand::Add {
                subject,
                for_,
                until,
                reason,
            } => {
                let subject = subject_of(subject)?;
                let now = unix_now();
                let expires_at = match (for_, until) {
                    (Some(d), _) if d.is_zero() => {
                        return Err(Failure(
                            "the ban length `--for` is zero; give a positive duration such as \
                             `1h`, or leave it out for a permanent ban"
                                .into(),
                        ));
                    }
                    (Some(d), _) => Some(now.saturating_add(seconds(d).max(1))),
                    (None, Some(t)) => {
                        let at = t
                            .duration_since(UNIX_EPOCH)
                            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
                        if at <= now {
                            return Err(Failure(format!(
                                "`--until` {} is not in the future",
                                time(at)
                            )));
                        }
                        Some(at)
                    }
                    (None, None) => None,
                };
                let reason = reason.trim().to_string();
                if reason.is_empty() {
                    return Err(Failure(
                        "the `--reason` is empty; say why, for whoever reads the list later".into(),
                    ));
                }
                Checked::Add(Ban {
                    subject,
                    reason,
                    source: "cli".into(),
                    created_at: now,
                    expires_at,
                })
            }
            BansCommand::Remove { subject } => Checked::Remove(subject_of(subject)?),
        })
    }
}

/// The subject named on the command line, checked.
fn subject_of(args: SubjectArgs) -> Result<BanSubject, Failure> {
    match (args.address, args.consumer) {
        (Some(address), _) => {
            let prefix: IpPrefix = address
                .trim()
                .parse()
                .map_err(|e| Failure(format!("{e}")))?;
            let min = match prefix.addr() {
                std::net::IpAddr::V4(_) => MIN_V4_PREFIX,
                std::net::IpAddr::V6(_) => MIN_V6_PREFIX,
            };
            if prefix.prefix_len() < min {
                return Err(Failure(format!(
                    "`{}` is a network of /{}; moat refuses to ban networks larger than /{min}, \
                     which would shut out a large part of the internet",
                    clean(&address),
                    prefix.prefix_len()
                )));
            }
            Ok(BanSubject::Address(prefix))
        }
        (None, Some(consumer)) => {
            if consumer.is_empty() || consumer.chars().any(char::is_control) {
                return Err(Failure(format!(
                    "`{}` is not a consumer id: it is empty or holds control characters",
                    clean(&consumer)
                )));
            }
            Ok(BanSubject::Consumer(consumer))
        }
        // clap's group requires one of the two.
        (None, None) => Err(Failure("give --address or --consumer".into())),
    }
}

/// The subject as people read it: `address 203.0.113.7`,
/// `network 203.0.113.0/24`, `consumer `alice``.
fn describe(subject: &BanSubject) -> String {
    match subject {
        BanSubject::Address(p) if p.is_host() => format!("address {p}"),
        BanSubject::Address(p) => format!("network {p}"),
        BanSubject::Consumer(c) => format!("consumer `{}`", clean(c)),
    }
}

fn value_of(subject: &BanSubject) -> String {
    match subject {
        BanSubject::Address(p) => p.to_string(),
        BanSubject::Consumer(c) => c.clone(),
    }
}

async fn execute(store: &DurableStore, command: Checked) -> Result<(), Failure> {
    let failed = |e: moat_state::StoreError| Failure(e.to_string());
    match command {
        Checked::List { json } => {
            let now = unix_now();
            let bans = store.bans().list(now).await.map_err(failed)?;
            if json {
                let all: Vec<Value> = bans.iter().map(|b| ban_json(b, now)).collect();
                println!("{}", pretty(&Value::Array(all)));
            } else if bans.is_empty() {
                println!("No bans.");
            } else {
                print_table(&bans, now);
            }
        }
        Checked::Add(ban) => {
            let now = ban.created_at;
            if store.bans().add(&ban).await.map_err(failed)? {
                match ban.expires_at {
                    Some(t) => println!(
                        "Banned {} until {} ({}).",
                        describe(&ban.subject),
                        time(t),
                        from_now(t, now)
                    ),
                    None => println!("Banned {} permanently.", describe(&ban.subject)),
                }
                let action = AdminAction::BanAdded {
                    subject: ban.subject,
                    expires_at: ban.expires_at,
                    reason: ban.reason,
                };
                record_admin(store, action).await?;
            } else {
                let until = match store
                    .bans()
                    .active(&ban.subject, now)
                    .await
                    .map_err(failed)?
                {
                    Some(Ban {
                        expires_at: Some(t),
                        ..
                    }) => format!("until {}", time(t)),
                    _ => "permanently".into(),
                };
                println!(
                    "{} is already banned {until}, at least as long; the ban is unchanged \
                     (`moat bans remove` first to shorten it).",
                    describe(&ban.subject)
                );
            }
        }
        Checked::Remove(subject) => {
            if store.bans().remove(&subject).await.map_err(failed)? {
                println!(
                    "Lifted the ban on {}; gateways apply it at their next reload of the bans.",
                    describe(&subject)
                );
                record_admin(store, AdminAction::BanLifted { subject }).await?;
            } else {
                return Err(Failure(format!("no ban on {}", describe(&subject))));
            }
        }
    }
    Ok(())
}

fn ban_json(b: &Ban, now: UnixTime) -> Value {
    json!({
        "subject": b.subject.kind(),
        "value": value_of(&b.subject),
        "reason": b.reason,
        "source": b.source,
        "created_at": time(b.created_at),
        "expires_at": b.expires_at.map(time),
        "expires_in_secs": b.expires_at.map(|t| (t - now).max(0)),
    })
}

fn print_table(bans: &[Ban], now: UnixTime) {
    const HEADER: [&str; 6] = ["SUBJECT", "VALUE", "SOURCE", "CREATED", "EXPIRES", "REASON"];
    let rows: Vec<[String; 6]> = bans
        .iter()
        .map(|b| {
            [
                b.subject.kind().to_string(),
                clean(&value_of(&b.subject)),
                clean(&b.source),
                time(b.created_at),
                b.expires_at.map_or("never".into(), |t| {
                    format!("{} ({})", time(t), from_now(t, now))
                }),
                clean(&b.reason),
            ]
        })
        .collect();
    crate::state_cli::print_table(HEADER, &rows);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(address: Option<&str>, consumer: Option<&str>) -> Result<BanSubject, String> {
        subject_of(SubjectArgs {
            address: address.map(str::to_string),
            consumer: consumer.map(str::to_string),
        })
        .map_err(|Failure(m)| m)
    }

    #[test]
    fn subjects_are_checked() {
        assert_eq!(
            subject(Some("203.0.113.7/24"), None).unwrap().key(),
            "address:203.0.113.0/24"
        );
        assert!(
            subject(Some("10.0.0.0/7"), None)
                .unwrap_err()
                .contains("/8")
        );
        assert!(subject(Some("::/0"), None).unwrap_err().contains("/16"));
        assert!(
            subject(Some("300.1.1.1"), None)
                .unwrap_err()
                .contains("not an IP address")
        );
        assert!(subject(None, Some("a\nb")).unwrap_err().contains("control"));
        assert_eq!(
            describe(&subject(None, Some("alice")).unwrap()),
            "consumer `alice`"
        );
    }
}
