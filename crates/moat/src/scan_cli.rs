//! `moat scan`: tests a running API for the OWASP API Security Top 10 from
//! its OpenAPI document, with several identities, and reports in the
//! formats CI systems read.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use moat_config::Secret;
use moat_scan::config::ScanConfig;
use moat_scan::identity::{IdentityConfig, Role};
use moat_scan::report::{self, Report};
use moat_scan::{Limits, Scan, Severity};

use crate::discover_cli::write_atomically;

/// Options of `moat scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The API's OpenAPI document.
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,
    /// The API's base URL (`https://api.example.com`): every request goes
    /// to this origin and nowhere else.
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// A scan config file (YAML): identities with login flows, bounds,
    /// checks. Flags override it.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// An identity: `NAME:ROLE:bearer:TOKEN`, `NAME:ROLE:header:NAME=VALUE`
    /// or `NAME:ROLE:basic:USER:PASSWORD`, ROLE `user` or `privileged`.
    /// A value may be `${env:VAR}`. Repeat it; give two users and one
    /// privileged identity for the authorization checks.
    #[arg(long = "identity", value_name = "SPEC")]
    identities: Vec<String>,
    /// Send writes (POST, PUT, PATCH, DELETE): create objects to test with,
    /// mass assignment, body limits. Only against an API you may change.
    #[arg(long)]
    allow_writes: bool,
    /// Requests per second, at most [default: 20].
    #[arg(long)]
    rate: Option<f64>,
    /// Requests in the whole scan, at most [default: 5000].
    #[arg(long, value_name = "N")]
    max_requests: Option<u64>,
    /// How long one exchange may take [default: 10s].
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// Only these checks: rule ids (`bola.path`), families (`bola`) or
    /// OWASP categories (`API1`), comma-separated.
    #[arg(long, value_delimiter = ',')]
    checks: Vec<String>,
    /// Print what the scan would do, and send nothing.
    #[arg(long)]
    dry_run: bool,
    /// What standard output shows: `text` (the summary; a live view on a
    /// terminal), or a whole report in `json`, `sarif`, `junit`,
    /// `markdown` or `html`.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Also write the JSON report to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also write a SARIF 2.1.0 report to FILE.
    #[arg(long, value_name = "FILE")]
    sarif: Option<PathBuf>,
    /// Also write a JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Also write a Markdown report to FILE.
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Also write a self-contained HTML report to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// An earlier JSON report of the same API: the report says which of
    /// its findings this scan no longer shows (closed) and which are new.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Exit 1 when a finding is at this severity or worse: `critical`,
    /// `high`, `medium`, `low` or `info`.
    #[arg(long, value_name = "SEVERITY")]
    fail_on: Option<Severity>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
    Sarif,
    Junit,
    Markdown,
    Html,
}

/// Runs `moat scan`: 0 when done (and nothing at `--fail-on` or worse),
/// 1 when a finding reaches `--fail-on`, 2 on bad input or when the scan
/// could not run.
pub async fn run(args: ScanArgs) -> ExitCode {
    let scan = match prepare(&args) {
        Ok(scan) => scan,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if args.dry_run {
        return match scan.plan() {
            Ok(lines) => {
                println!("moat scan --dry-run: nothing is sent\n");
                for line in lines {
                    println!("{line}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("moat scan: {e}");
                ExitCode::from(2)
            }
        };
    }
    let baseline = match &args.baseline {
        Some(path) => match read_baseline(path) {
            Ok(b) => Some(b),
            Err(message) => {
                eprintln!("moat scan: {message}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let live = args.format == Format::Text && std::io::stderr().is_terminal();
    let observer: Arc<dyn moat_scan::progress::Observer> = if live {
        Arc::new(report::terminal::Live::new())
    } else {
        Arc::new(moat_scan::progress::Silent)
    };
    let mut report = match scan.run(observer).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("moat scan: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(baseline) = &baseline {
        report.compare(baseline);
    }
    if let Err(message) = write_reports(&args, &report) {
        eprintln!("moat scan: {message}");
        return ExitCode::from(2);
    }
    match args.fail_on {
        Some(threshold) if report.fails(threshold) => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    }
}

fn render(format: Format, report: &Report) -> String {
    match format {
        Format::Text => report::terminal::summary(
            report,
            report::terminal::colour_wanted(std::io::stdout().is_terminal()),
        ),
        Format::Json => report::json::render(report),
        Format::Sarif => report::sarif::render(report),
        Format::Junit => report::junit::render(report),
        Format::Markdown => report::markdown::render(report),
        Format::Html => report::html::render(report),
    }
}

fn write_reports(args: &ScanArgs, report: &Report) -> Result<(), String> {
    let files = [
        (&args.json, Format::Json),
        (&args.sarif, Format::Sarif),
        (&args.junit, Format::Junit),
        (&args.markdown, Format::Markdown),
        (&args.html, Format::Html),
    ];
    for (path, format) in files {
        if let Some(path) = path {
            write_atomically(path, render(format, report).as_bytes())?;
        }
    }
    std::io::stdout()
        .lock()
        .write_all(render(args.format, report).as_bytes())
        .map_err(|e| format!("cannot write to standard output: {e}"))
}

fn read_baseline(path: &Path) -> Result<report::Baseline, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the baseline {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: not a moat scan JSON report ({e})\nhint: write one with `moat scan … --json FILE`",
            path.display()
        )
    })
}

/// The scan the config file and flags describe.
fn prepare(args: &ScanArgs) -> Result<Scan, String> {
    let mut config = match &args.config {
        Some(path) => moat_scan::config::load(path).map_err(|d| d.to_string())?,
        None => ScanConfig::default(),
    };
    for spec in &args.identities {
        config.identities.push(parse_identity(spec)?);
    }
    let spec_path =
        args.spec.clone().or(config.spec.clone()).ok_or(
            "moat scan: no OpenAPI document\nhint: pass --spec FILE, or `spec:` in --config",
        )?;
    let target = args
        .target
        .clone()
        .or(config.target.clone())
        .ok_or("moat scan: no target\nhint: pass --target URL, or `target:` in --config")?;
    let target = moat_scan::Url::parse(&target)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            format!("moat scan: `{target}` is not an http or https URL\nhint: --target https://api.example.com")
        })?;
    let spec = moat_spec::load(&spec_path).map_err(|d| d.to_string())?;
    let defaults = Limits::default();
    let rate = args.rate.or(config.rate).unwrap_or(defaults.rate);
    if !(rate > 0.0 && rate <= 10_000.0) {
        return Err(format!(
            "moat scan: --rate {rate} is out of range\nhint: requests per second, more than 0 and at most 10000"
        ));
    }
    let mut checks = config.checks.clone();
    checks.extend(args.checks.iter().cloned());
    Ok(Scan {
        target,
        spec: Arc::new(spec),
        identities: config.identities,
        limits: Limits {
            rate,
            max_requests: args
                .max_requests
                .or(config.max_requests)
                .unwrap_or(defaults.max_requests),
            timeout: args.timeout.or(config.timeout).unwrap_or(defaults.timeout),
            allow_writes: args.allow_writes || config.allow_writes,
        },
        selected: checks,
        canary: config.canary,
    })
}

/// `NAME:ROLE:bearer:TOKEN`, `NAME:ROLE:header:NAME=VALUE` or
/// `NAME:ROLE:basic:USER:PASSWORD`.
fn parse_identity(spec: &str) -> Result<IdentityConfig, String> {
    let bad = |why: &str| {
        format!(
            "moat scan: --identity `{}`: {why}\nhint: NAME:ROLE:bearer:TOKEN, NAME:ROLE:header:NAME=VALUE or NAME:ROLE:basic:USER:PASSWORD, ROLE `user` or `privileged`",
            spec.split(':').take(3).collect::<Vec<_>>().join(":")
        )
    };
    let mut parts = spec.splitn(4, ':');
    let (Some(name), Some(role), Some(kind), Some(value)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("expected four parts"));
    };
    let role = match role {
        "user" => Role::User,
        "privileged" => Role::Privileged,
        other => return Err(bad(&format!("unknown role `{other}`"))),
    };
    if name.is_empty() || name == "anonymous" {
        return Err(bad("give the identity a name other than `anonymous`"));
    }
    let mut identity = IdentityConfig {
        name: name.to_string(),
        role,
        headers: Default::default(),
        query: Default::default(),
        cookies: Default::default(),
        bearer: None,
        basic: None,
        login: None,
        register: None,
    };
    match kind {
        "bearer" => identity.bearer = Some(secret(value).map_err(|e| bad(&e))?),
        "header" => {
            let (header, value) = value
                .split_once('=')
                .ok_or_else(|| bad("expected header:NAME=VALUE"))?;
            identity
                .headers
                .insert(header.to_string(), secret(value).map_err(|e| bad(&e))?);
        }
        "basic" => {
            let (user, password) = value
                .split_once(':')
                .ok_or_else(|| bad("expected basic:USER:PASSWORD"))?;
            identity.basic = Some(moat_scan::identity::BasicConfig {
                username: user.to_string(),
                password: secret(password).map_err(|e| bad(&e))?,
            });
        }
        other => return Err(bad(&format!("unknown credential kind `{other}`"))),
    }
    Ok(identity)
}

/// A value as given, or the environment variable `${env:NAME}` names.
fn secret(value: &str) -> Result<Secret, String> {
    match value
        .strip_prefix("${env:")
        .and_then(|v| v.strip_suffix('}'))
    {
        Some(var) => std::env::var(var)
            .map(Secret::new)
            .map_err(|_| format!("the environment variable `{var}` is not set")),
        None => Ok(Secret::new(value)),
    }
}
