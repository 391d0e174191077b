//! What the commands working on the state database (`moat keys`,
//! `moat bans`, `moat events`, `moat audit`, `moat admin`) share: loading
//! the config, opening the store it names, recording admin actions in the
//! audit trail, and printing times and stored text safely.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use moat_config::{LoadedConfig, StateConfig};
use moat_state::events::admin::AdminAction;
use moat_state::{DurableStore, UnixTime};
use serde_json::Value;

/// A failure, already worded for people.
pub struct Failure(pub String);

/// The config path, or the usage error (exit status 2) clap would give
/// for a missing required `--config` of `moat <command>`.
pub fn require_config(config: Option<PathBuf>, command: &str) -> Result<PathBuf, ExitCode> {
    config.ok_or_else(|| {
        eprintln!(
            "error: the following required argument was not provided:\n  --config <FILE>\n\n\
             Usage: moat {command} --config <FILE> <COMMAND>\n\n\
             (or set MOAT_CONFIG)"
        );
        ExitCode::from(2)
    })
}

/// Loads the config, fully validated as `moat check` does.
pub fn load_config(config: &Path) -> Result<LoadedConfig, Failure> {
    moat_config::load(config).map_err(|d| Failure(d.to_string()))
}

/// Loads only the config's `state` section: for commands that need the
/// store and nothing else, so that the gateway's secrets need not be set.
pub fn load_state(config: &Path) -> Result<StateConfig, Failure> {
    moat_config::load_state(config).map_err(|d| Failure(d.to_string()))
}

/// Opens the store of the config's `state` section: the SQLite file of
/// `state.sqlite` (created if needed), or a cluster's PostgreSQL.
pub async fn open_store(state: &StateConfig) -> Result<DurableStore, Failure> {
    let target = moat_gateway::state::durable_target(state);
    DurableStore::open(&target)
        .await
        .map_err(|e| Failure(format!("moat: {e}")))
}

/// Opens the SQLite file of the config's `state.sqlite` for commands that
/// only read what is there (`moat events`, `moat audit verify`): a file
/// that does not exist is an error, not a new empty store (an empty audit
/// trail "verifying" a mistyped path would be false comfort).
pub async fn open_existing_store(state: &StateConfig) -> Result<DurableStore, Failure> {
    if state.backend == moat_config::StateBackend::Embedded && !state.sqlite.exists() {
        return Err(Failure(format!(
            "moat: there is no state file at {}
hint: it is created by the gateway or by              `moat keys`, `moat bans` and `moat admin`; check `state.sqlite` in the config",
            state.sqlite.display()
        )));
    }
    open_store(state).await
}

/// The state file named by the `state` section of `config` (the only
/// section read), or the exit code once the reason is printed. `existing`:
/// refuse a missing file rather than create an empty one.
pub async fn state_store(config: &Path, existing: bool) -> Result<DurableStore, ExitCode> {
    let store = match load_state(config) {
        Ok(state) if existing => open_existing_store(&state).await,
        Ok(state) => open_store(&state).await,
        Err(f) => Err(f),
    };
    store.map_err(|Failure(message)| {
        eprintln!("{message}");
        ExitCode::FAILURE
    })
}

/// Who is acting, for the audit trail: `cli:` and the login name (`$USER`,
/// `$LOGNAME`) or else the user id. Informative, not authenticated: what
/// guards the state is who may write its file.
pub fn cli_actor() -> String {
    let name = ["USER", "LOGNAME"]
        .into_iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|v| v.trim().chars().take(64).collect::<String>())
        .find(|v| !v.is_empty());
    match name {
        Some(name) => format!("cli:{name}"),
        None => format!(
            "cli:uid {}",
            uid().map_or("unknown".into(), |u| u.to_string())
        ),
    }
}

#[cfg(target_os = "linux")]
fn uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

#[cfg(not(target_os = "linux"))]
fn uid() -> Option<u32> {
    None
}

/// Records an admin action made from the command line in the audit trail
/// (the state file's event store). Called after the action is done and
/// reported, so a key shown once is shown even when recording fails; the
/// failure then says the change stands but is not recorded.
pub async fn record_admin(store: &DurableStore, action: AdminAction) -> Result<(), Failure> {
    let event = moat_state::events::admin::event(&action, &cli_actor());
    store
        .events()
        .append(&[event])
        .await
        .map(|_| ())
        .map_err(|e| {
            Failure(format!(
                "the change was made, but recording it in the audit trail failed: {e}"
            ))
        })
}

pub fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// RFC 3339, UTC, whole seconds.
pub fn time(t: UnixTime) -> String {
    let at = UNIX_EPOCH + Duration::from_secs(u64::try_from(t).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}

/// "in 1d 4h", "in 59m" or "2d ago": the two largest units, rounded down.
pub fn from_now(t: UnixTime, now: UnixTime) -> String {
    let span = |s: i64| {
        let units = [
            (s / 86_400, "d"),
            (s % 86_400 / 3600, "h"),
            (s % 3600 / 60, "m"),
        ];
        let Some(first) = units.iter().position(|(n, _)| *n > 0) else {
            return "less than a minute".to_string();
        };
        units[first..]
            .iter()
            .take(2)
            .filter(|(n, _)| *n > 0)
            .map(|(n, unit)| format!("{n}{unit}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    if t >= now {
        format!("in {}", span(t - now))
    } else {
        format!("{} ago", span(now - t))
    }
}

pub fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Control characters escaped, so stored text cannot drive the terminal.
pub fn clean(s: &str) -> String {
    if s.chars().any(char::is_control) {
        s.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        s.to_string()
    }
}

/// Prints `rows` under `header`, columns padded to their widest cell.
pub fn print_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(&header);
    for row in rows {
        line(&row.each_ref().map(String::as_str));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_cleaning() {
        assert_eq!(time(0), "1970-01-01T00:00:00Z");
        assert_eq!(time(1_800_000_000), "2027-01-15T08:00:00Z");
        assert_eq!(from_now(1000 + 3600 + 59, 1000), "in 1h");
        assert_eq!(from_now(1000, 1000 + 120), "2m ago");
        assert_eq!(from_now(90 * 86_400 + 7200 + 5, 0), "in 90d 2h");
        assert_eq!(from_now(86_400 + 60, 0), "in 1d");
        assert_eq!(from_now(3599, 0), "in 59m");
        assert_eq!(from_now(30, 0), "in less than a minute");
        assert_eq!(clean("a\x1b[31mb"), "a\\u{1b}[31mb");
        assert_eq!(clean("plain"), "plain");
    }
}
