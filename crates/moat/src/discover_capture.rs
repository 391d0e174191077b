//! `moat discover --state FILE`: the operations the gateway captured from
//! its own traffic (`discovery.capture`), read from its state file, as a
//! table or JSON; with `--diff DOCUMENT`, each judged against it (shadow,
//! zombie, orphans), exiting 1 on drift. The state file holds shapes only,
//! so nothing shown is a value from the traffic.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use moat_discover::Standing;
use moat_gateway::capture::CapturedOperation;
use moat_gateway::capture::view::{judge, operation_json};
use moat_spec::OperationTable;
use moat_state::{DiscoveryStore, SqliteStore};
use serde_json::json;

use crate::state_cli::clean;

/// Runs `moat discover --state`.
pub async fn run(state: &Path, table: Option<&OperationTable>, as_json: bool) -> ExitCode {
    if !state.exists() {
        eprintln!("moat: no state file at {}", state.display());
        return ExitCode::from(2);
    }
    let store = match SqliteStore::open(state).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("moat: {e}");
            return ExitCode::from(2);
        }
    };
    let rows = store.discovered().await;
    store.close().await;
    let rows = match rows {
        Ok(r) => r,
        Err(e) => {
            eprintln!("moat: {e}");
            return ExitCode::from(2);
        }
    };
    let mut unreadable = 0;
    let ops: Vec<CapturedOperation> = rows
        .into_iter()
        .filter_map(|row| {
            CapturedOperation::from_row(row)
                .map_err(|_| unreadable += 1)
                .ok()
        })
        .collect();
    if unreadable > 0 {
        eprintln!("moat discover: {unreadable} stored operations could not be read");
    }
    let mut by_api: BTreeMap<&str, Vec<&CapturedOperation>> = BTreeMap::new();
    for op in &ops {
        by_api.entry(op.api.as_str()).or_default().push(op);
    }
    // Without a document, the standing recorded at capture.
    let mut judged = Vec::new();
    let mut orphans = Vec::new();
    for (api, list) in by_api {
        match table {
            Some(t) => {
                let j = judge(&list, t);
                for (op, (standing, id, _)) in list.iter().zip(j.standings) {
                    judged.push((*op, standing, id));
                }
                orphans.extend(j.orphans.into_iter().map(|(m, p)| (api, m, p)));
            }
            None => judged.extend(list.iter().map(|op| {
                let standing = if op.shape.documented {
                    Standing::Documented
                } else {
                    Standing::Shadow
                };
                (*op, standing, None)
            })),
        }
    }
    let drift = !orphans.is_empty() || judged.iter().any(|(_, s, _)| *s != Standing::Documented);
    let out = if as_json {
        let operations: Vec<_> = judged
            .iter()
            .map(|(op, standing, id)| {
                // No config here: the document's requirement and the
                // config's protections are not known, the samples are.
                let risk = moat_gateway::risk::of_captured(op, *standing, None);
                operation_json(op, &op.template, standing.as_str(), id.as_deref(), &risk)
            })
            .collect();
        let orphans: Vec<_> = orphans
            .iter()
            .map(|(api, m, p)| json!({"api": api, "method": m, "path": p}))
            .collect();
        format!(
            "{:#}\n",
            json!({"operations": operations, "orphans": orphans})
        )
    } else {
        table_text(&judged, &orphans)
    };
    if std::io::stdout().lock().write_all(out.as_bytes()).is_err() {
        return ExitCode::FAILURE;
    }
    if table.is_some() && drift {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn table_text(
    judged: &[(&CapturedOperation, Standing, Option<String>)],
    orphans: &[(&str, String, String)],
) -> String {
    let mut out = format!(
        "{:<12} {:<7} {:<40} {:>8}  {:<10}  {:<24}  {}\n",
        "API", "METHOD", "PATH", "REQUESTS", "STANDING", "AUTH", "SENSITIVE"
    );
    for (op, standing, _) in judged {
        let auth: Vec<String> = op
            .shape
            .auth
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let mut kinds: Vec<&str> = op
            .shape
            .profile
            .findings
            .iter()
            .map(|f| f.kind.as_str())
            .collect();
        kinds.sort_unstable();
        kinds.dedup();
        out.push_str(&format!(
            "{:<12} {:<7} {:<40} {:>8}  {:<10}  {:<24}  {}\n",
            clean(&op.api),
            clean(&op.method),
            clean(&op.template),
            op.shape.profile.requests,
            standing.as_str(),
            auth.join(", "),
            if kinds.is_empty() {
                "-".to_string()
            } else {
                kinds.join(", ")
            }
        ));
    }
    for (api, method, path) in orphans {
        out.push_str(&format!(
            "{:<12} {:<7} {:<40} {:>8}  {:<10}\n",
            clean(api),
            method,
            clean(path),
            0,
            "orphan"
        ));
    }
    out
}
