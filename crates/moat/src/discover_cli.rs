//! `moat discover`: the API's operations recovered from traffic (HAR files
//! or JSON-lines logs), as a table, the JSON inventory, an OpenAPI
//! document, or a Markdown or HTML report; with `--diff`, measured against
//! the API's document, with an exit code for CI.

use std::fs::File;
use std::io::{BufReader, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use moat_discover::input::{read_har, read_jsonl};
use moat_discover::inventory::{InputStats, Inventory, Sources};
use moat_discover::profile::Profiler;
use moat_discover::{Drift, Standing, Templater, openapi, report};

use crate::discover_progress::{Pass, Progress};
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
    /// `table`, `json` (the inventory), `openapi` (an OpenAPI 3.1
    /// document, YAML), `markdown` or `html` (a report).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write to this file (replaced atomically) instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Measure the traffic against this OpenAPI document: shadow, zombie
    /// and orphan operations. Exits 1 when they disagree.
    #[arg(long, value_name = "DOCUMENT")]
    diff: Option<PathBuf>,
    /// The API's title in the OpenAPI document and the reports.
    #[arg(long, default_value = "Discovered API")]
    title: String,
    /// moat's config for this API: its ownership rules and rate limits
    /// tell the risk score which operations they protect (without it, those
    /// two factors are unknown and not scored). Compiled as `moat check`
    /// compiles it.
    #[arg(long, value_name = "CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
    Openapi,
    Markdown,
    Html,
}

/// Runs `moat discover`.
pub async fn run(args: DiscoverArgs) -> ExitCode {
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
    if let Some(state) = &args.state {
        let as_json = match args.format {
            Format::Table => false,
            Format::Json => true,
            Format::Openapi | Format::Markdown | Format::Html => {
                eprintln!(
                    "moat: --state shows the captured operations as a table or JSON; --format {} reads traffic files",
                    args.format
                        .to_possible_value()
                        .map_or_else(String::new, |v| v.get_name().to_string())
                );
                return ExitCode::from(2);
            }
        };
        return crate::discover_capture::run(state, table.as_ref(), as_json).await;
    }
    let rules = match &args.config {
        Some(path) => {
            let compiled = match moat_config::load(path) {
                Ok(loaded) => moat_gateway::protections::configured_rules(loaded).await,
                Err(d) => Err(d),
            };
            match compiled {
                Ok(rules) => Some(rules),
                Err(d) => {
                    eprintln!("{d}");
                    return ExitCode::from(2);
                }
            }
        }
        None => None,
    };
    // The table needs the operations only; every other format profiles
    // them in a second pass.
    let passes = if args.format == Format::Table { 1 } else { 2 };
    let mut progress = Progress::stderr();
    // First pass: the operations.
    let mut templater = Templater::new();
    let (mut requests, mut malformed, mut no_canonical_path) = (0u64, 0u64, 0u64);
    let first = Pass {
        number: 1,
        of: passes,
        what: "operations",
    };
    for input in &args.inputs {
        let mut each = |sample: moat_discover::input::Sample| {
            let path_only = sample.url.split(['?', '#']).next().unwrap_or("/");
            if templater.observe(&sample.method, path_only).is_err() {
                no_canonical_path += 1;
            } else {
                requests += 1;
            }
        };
        match read_samples(input, &mut progress, first, &mut each) {
            Ok(skipped) => malformed += skipped,
            Err(message) => {
                progress.finish();
                eprintln!("moat: {message}");
                return ExitCode::from(2);
            }
        }
    }
    let input = InputStats::new(requests, malformed, no_canonical_path);
    let operations = templater.operations();
    let drift = table
        .as_ref()
        .map(|t| moat_discover::compare(&operations, t));
    let mut document = openapi::document(&args.title, &operations);
    // Second pass: parameters, bodies and sensitive data per operation.
    let profiler = if passes == 1 {
        None
    } else {
        match profile(&args.inputs, &document, &mut progress, passes) {
            Ok(p) => Some(p),
            Err(message) => {
                progress.finish();
                eprintln!("moat: {message}");
                return ExitCode::from(2);
            }
        }
    };
    progress.finish();
    if input.skipped > 0 {
        eprintln!(
            "moat discover: {} requests read; {} entries skipped as malformed, {} paths without one canonical form",
            input.requests, input.malformed, input.no_canonical_path
        );
    }
    if let Some(p) = &profiler {
        p.annotate(&mut document);
    }
    let sources = Sources {
        operations: &operations,
        document: table.as_ref().map(|t| t.spec()).zip(drift.as_ref()),
        profiler: profiler.as_ref(),
        rules: rules.as_ref(),
    };
    let inventory = || Inventory::new(&sources, input);
    let out = match args.format {
        Format::Openapi => openapi::to_yaml(&document),
        Format::Json => inventory().to_json(),
        Format::Markdown => report::markdown(&args.title, &inventory()),
        Format::Html => report::html(&args.title, &inventory()),
        Format::Table => table_text(&operations, drift.as_ref()),
    };
    let written = match &args.output {
        Some(path) => write_atomically(path, out.as_bytes()),
        None => std::io::stdout()
            .lock()
            .write_all(out.as_bytes())
            .map_err(|e| format!("cannot write to standard output: {e}")),
    };
    if let Err(message) = written {
        eprintln!("moat: {message}");
        return ExitCode::from(2);
    }
    match drift {
        Some(d) if d.has_drift() => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    }
}

/// Writes `bytes` to a new file beside `path`, then renames it over
/// `path`: a reader sees the old file or the whole new one, never a part.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.as_file().sync_all().map_err(fail)?;
    file.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Reads every sample of `path` (a HAR by its extension, else JSON lines)
/// into `each`, showing `pass` on `progress`; returns how many entries
/// were skipped as malformed.
fn read_samples(
    path: &Path,
    progress: &mut Progress,
    pass: Pass,
    each: &mut dyn FnMut(moat_discover::input::Sample),
) -> Result<u64, String> {
    let file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    progress.start(pass, path, total);
    let file = progress.counted(file);
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
        read_jsonl(BufReader::with_capacity(64 * 1024, file), &mut each)
            .map(|s| s.skipped.count)
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The second pass: each sample profiled against the operations found.
fn profile(
    inputs: &[PathBuf],
    document: &serde_json::Value,
    progress: &mut Progress,
    passes: u8,
) -> Result<Profiler, String> {
    let spec = moat_spec::load_text("discovered.yaml", &openapi::to_yaml(document))
        .map_err(|d| format!("the discovered document does not load: {d}"))?;
    let mut profiler = Profiler::new(moat_spec::OperationTable::new(spec));
    let pass = Pass {
        number: 2,
        of: passes,
        what: "profiles",
    };
    for input in inputs {
        read_samples(input, progress, pass, &mut |sample| {
            profiler.observe(&sample)
        })?;
    }
    Ok(profiler)
}

fn standing_of(drift: Option<&Drift>, i: usize) -> Option<&moat_discover::Judged> {
    drift.and_then(|d| d.operations.get(i))
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
