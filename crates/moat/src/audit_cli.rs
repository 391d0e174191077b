//! `moat audit verify`: walk the hash chain of the security events in the
//! state file and say whether it is intact.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use moat_state::events::ChainReport;

use crate::state_cli::{require_config, state_store};

/// Options of `moat audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The config file (YAML): its `state.sqlite` holds the audit trail.
    #[arg(short, long, value_name = "FILE", env = "MOAT_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check that no stored event was changed, removed or moved. Exits 0
    /// when the chain is intact, 1 when it is not (each break is printed).
    Verify,
}

/// Runs `moat audit …`.
pub async fn run(args: AuditArgs) -> ExitCode {
    let config = match require_config(args.config, "audit") {
        Ok(c) => c,
        Err(code) => return code,
    };
    let store = match state_store(&config, true).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let AuditCommand::Verify = args.command;
    let report = store.events().verify().await;
    store.close().await;
    match report {
        Ok(report) => {
            let (text, intact) = describe(&report);
            println!("{text}");
            if intact {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("moat: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What to print, and whether the chain is intact.
fn describe(report: &ChainReport) -> (String, bool) {
    let span = match (report.first_seq, report.checked) {
        (Some(first), n) if n > 0 => {
            let last = first.saturating_add(i64::try_from(n).unwrap_or(i64::MAX) - 1);
            format!(" (seq {first}..{last})")
        }
        _ => String::new(),
    };
    let head = report
        .head
        .as_deref()
        .map_or(String::new(), |h| format!(", head {h}"));
    let plural = if report.checked == 1 { "" } else { "s" };
    if report.problems.is_empty() {
        return (
            format!("intact: {} event{plural}{span}{head}", report.checked),
            true,
        );
    }
    let mut lines: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    lines.push(format!(
        "BROKEN: {} problem{} in {} event{plural} checked",
        report.problems.len(),
        if report.problems.len() == 1 { "" } else { "s" },
        report.checked
    ));
    (lines.join("\n"), false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_state::events::chain::ChainProblem;

    #[test]
    fn reports_read_as_documented() {
        let mut report = ChainReport {
            checked: 3,
            first_seq: Some(4),
            head: Some("ab".into()),
            problems: vec![],
        };
        assert_eq!(
            describe(&report),
            ("intact: 3 events (seq 4..6), head ab".to_string(), true)
        );
        report.problems.push(ChainProblem::Modified { seq: 5 });
        let (text, intact) = describe(&report);
        assert!(!intact);
        assert_eq!(
            text,
            "event 5 was modified: its content no longer matches its hash\n\
             BROKEN: 1 problem in 3 events checked"
        );
        let empty = ChainReport {
            checked: 0,
            first_seq: None,
            head: None,
            problems: vec![],
        };
        assert_eq!(describe(&empty), ("intact: 0 events".to_string(), true));
    }
}
