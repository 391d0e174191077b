//! `moat discover`: the API's operations recovered from traffic (HAR files
//! or JSON-lines logs), as a table, JSON or an OpenAPI document; with
//! `--diff`, measured against the API's document, with an exit code for
//! CI.

use std::fs::File;
use std::io::{BufReader, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use moat_discover::input::{read_har, read_jsonl};
use moat_discover::profile::Profiler;
use moat_discover::{Drift, Standing, Templater, openapi};
use serde_json::json;

use crate::state_cli::clean;

/// Options of `moat discover`.
#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// Traffic to read: HAR files (`.har`) or JSON-lines logs (anything
    /// else: moat's access log, or one `{"method", "path", "status"}` per
    /// line).
    #[arg(required_unless_present = "state", value_name = "FILE")]
    inputs: Vec<PathBuf>,
    /// Read the operations the gateway captured (`discovery.capture`) from
    /// this state file instead of traffic files.
    #[arg(long, value_name = "STATE_FILE", conflicts_with = "inputs")]
    state: Option<PathBuf>,
    /// `table`, `json` (the inventory) or `openapi` (an OpenAPI 3.1
    /// document, YAML).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Measure the traffic against this OpenAPI document: shadow, zombie
    /// and orphan operations. Exits 1 when they disagree.
    #[arg(long, value_name = "DOCUMENT")]
    diff: Option<PathBuf>,
    /// The API's title in the OpenAPI document.
    #[arg(long, default_value = "Discovered API")]
    title: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
    Openapi,
}

/// What reading the inputs found, beside the operations.
#[derive(Debug, Default)]
struct Read {
    samples: u64,
    skipped: u64,
    no_canonical_path: u64,
}

/// Runs `moat discover`.
pub async fn run(args: DiscoverArgs) -> ExitCode {
    if let Some(state) = &args.state {
        return crate::discover_capture::run(
            state,
            args.diff.as_deref(),
            args.format == Format::Json,
        )
        .await;
    }
    let table = match &args.diff {
        Some(doc) => match moat_spec::load(doc) {
            Ok(spec) => Some(moat_spec::OperationTable::new(spec)),
            Err(d) => {
                eprintln!("{d}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    // First pass: the operations.
    let mut templater = Templater::new();
    let mut read = Read::default();
    for input in &args.inputs {
        let mut each = |sample: moat_discover::input::Sample| {
            let path_only = sample.url.split(['?', '#']).next().unwrap_or("/");
            if templater.observe(&sample.method, path_only).is_err() {
                read.no_canonical_path += 1;
            } else {
                read.samples += 1;
            }
        };
        match read_samples(input, &mut each) {
            Ok(skipped) => read.skipped += skipped,
            Err(message) => {
                eprintln!("moat: {message}");
                return ExitCode::from(2);
            }
        }
    }
    if read.skipped + read.no_canonical_path > 0 {
        eprintln!(
            "moat discover: {} requests read; {} entries skipped as malformed, {} paths without one canonical form",
            read.samples, read.skipped, read.no_canonical_path
        );
    }
    let operations = templater.operations();
    let drift = table
        .as_ref()
        .map(|t| moat_discover::compare(&operations, t));
    let mut document = openapi::document(&args.title, &operations);
    // Second pass, for the document and the inventory: parameters, bodies
    // and sensitive data per operation.
    let profiler = if args.format == Format::Table {
        None
    } else {
        match profile(&args.inputs, &document) {
            Ok(p) => Some(p),
            Err(message) => {
                eprintln!("moat: {message}");
                return ExitCode::from(2);
            }
        }
    };
    if let Some(p) = &profiler {
        p.annotate(&mut document);
    }
    let out = match args.format {
        Format::Openapi => openapi::to_yaml(&document),
        Format::Json => inventory_json(&operations, drift.as_ref(), profiler.as_ref(), &read),
        Format::Table => table_text(&operations, drift.as_ref()),
    };
    let mut stdout = std::io::stdout().lock();
    if stdout.write_all(out.as_bytes()).is_err() {
        return ExitCode::FAILURE;
    }
    match drift {
        Some(d) if d.has_drift() => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    }
}

/// Reads every sample of `path` (a HAR by its extension, else JSON lines)
/// into `each`; returns how many entries were skipped as malformed.
fn read_samples(
    path: &Path,
    each: &mut dyn FnMut(moat_discover::input::Sample),
) -> Result<u64, String> {
    let file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut each = |sample| {
        each(sample);
        ControlFlow::Continue(())
    };
    let har = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("har"));
    if har {
        read_har(file, &mut each)
            .map(|s| s.skipped.count)
            .map_err(|e| format!("{}: {e}", path.display()))
    } else {
        read_jsonl(BufReader::new(file), &mut each)
            .map(|s| s.skipped.count)
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The second pass: each sample profiled against the operations found.
fn profile(inputs: &[PathBuf], document: &serde_json::Value) -> Result<Profiler, String> {
    let spec = moat_spec::load_text("discovered.yaml", &openapi::to_yaml(document))
        .map_err(|d| format!("the discovered document does not load: {d}"))?;
    let mut profiler = Profiler::new(moat_spec::OperationTable::new(spec));
    for input in inputs {
        read_samples(input, &mut |sample| profiler.observe(&sample))?;
    }
    Ok(profiler)
}

fn standing_of(drift: Option<&Drift>, i: usize) -> Option<&moat_discover::Judged> {
    drift.and_then(|d| d.operations.get(i))
}

fn inventory_json(
    operations: &[moat_discover::DiscoveredOperation],
    drift: Option<&Drift>,
    profiler: Option<&Profiler>,
    read: &Read,
) -> String {
    let ops: Vec<_> = operations
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let mut v =
                json!({"method": op.method, "path": op.template(), "requests": op.requests});
            if let Some(j) = standing_of(drift, i) {
                v["standing"] = json!(j.standing.as_str());
                v["documented_as"] = json!(j.documented_as);
            }
            if let Some(p) = profiler.and_then(|p| p.profile_of(&op.method, &op.example)) {
                let sensitive: Vec<_> = p
                    .findings
                    .iter()
                    .map(|f| json!({"location": f.location, "kind": f.kind.as_str(), "count": f.count}))
                    .collect();
                v["sensitive"] = json!(sensitive);
            }
            v
        })
        .collect();
    let mut out = json!({
        "operations": ops,
        "requests": read.samples,
        "skipped": read.skipped + read.no_canonical_path,
    });
    if let Some(d) = drift {
        out["orphans"] = json!(
            d.orphans
                .iter()
                .map(|(m, p)| json!({"method": m, "path": p}))
                .collect::<Vec<_>>()
        );
    }
    let mut text = serde_json::to_string_pretty(&out).unwrap_or_default();
    text.push('\n');
    text
}

fn table_text(operations: &[moat_discover::DiscoveredOperation], drift: Option<&Drift>) -> String {
    let mut out = String::new();
    for (i, op) in operations.iter().enumerate() {
        let standing = standing_of(drift, i).map_or("", |j| j.standing.as_str());
        out.push_str(&format!(
            "{:<7} {:<50} {:>8}  {}\n",
            op.method,
            clean(&op.template()),
            op.requests,
            standing
        ));
    }
    if let Some(d) = drift {
        for (method, path) in &d.orphans {
            out.push_str(&format!(
                "{method:<7} {:<50} {:>8}  orphan\n",
                clean(path),
                0
            ));
        }
        let count = |s: Standing| d.of(s).count();
        out.push_str(&format!(
            "\n{} documented, {} shadow, {} zombie, {} orphan\n",
            count(Standing::Documented),
            count(Standing::Shadow),
            count(Standing::Zombie),
            d.orphans.len()
        ));
    }
    out
}
