//! `moat events`: read the security events in the state file named by the
//! config, filtered, as a table or JSON lines, and optionally follow new
//! ones as they are appended.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, ValueEnum};
use moat_state::DurableStore;
use moat_state::events::{
    Action, Control, Cursor, EventQuery, MAX_PAGE, Severity, StoredEvent, UnixMillis,
};

use crate::state_cli::{Failure, clean, require_config, state_store};

/// How often `--follow` looks for new events.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(500);

/// Evidence longer than this is cut in the table (JSON has it whole).
const EVIDENCE_WIDTH: usize = 60;

/// Options of `moat events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// The config file (YAML): its `state.sqlite` holds the events.
    #[arg(short, long, value_name = "FILE", env = "MOAT_CONFIG")]
    config: Option<PathBuf>,
    /// Only events at or after this time: a duration back from now (`1h`,
    /// `7d`) or an RFC 3339 time (`2026-12-01T00:00:00Z`).
    #[arg(long, value_name = "WHEN", value_parser = parse_time)]
    since: Option<UnixMillis>,
    /// Only events before this time (same forms as `--since`).
    #[arg(long, value_name = "WHEN", value_parser = parse_time)]
    until: Option<UnixMillis>,
    /// Only this API.
    #[arg(long, value_name = "NAME")]
    api: Option<String>,
    /// Only this operation (`operationId`, or `METHOD /template`).
    #[arg(long, value_name = "OPERATION")]
    operation: Option<String>,
    /// Only this consumer.
    #[arg(long, value_name = "ID")]
    consumer: Option<String>,
    /// Only this client address.
    #[arg(long, value_name = "ADDRESS")]
    client: Option<String>,
    /// Only this control.
    #[arg(long, value_name = "CONTROL", value_parser = parse_control)]
    control: Option<Control>,
    /// Only this kind (`attack-detected`, `key-created`, …).
    #[arg(long, value_name = "KIND")]
    kind: Option<String>,
    /// Only this severity and above.
    #[arg(long, value_name = "MIN", value_parser = parse_severity)]
    severity: Option<Severity>,
    /// Only this action.
    #[arg(long, value_name = "ACTION", value_parser = parse_action)]
    action: Option<Action>,
    /// The newest this many matching events, printed oldest first (0 with
    /// `--follow`: only events appended from now on).
    #[arg(long, value_name = "N", default_value_t = 100)]
    limit: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Then keep printing matching events as they are appended, until
    /// interrupted.
    #[arg(long)]
    follow: bool,
}

/// How events are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One line each, columns for people.
    Table,
    /// One stored event per line, as JSON (seq and hashes included).
    Json,
}

fn allowed(names: impl IntoIterator<Item = &'static str>) -> String {
    names.into_iter().collect::<Vec<_>>().join(", ")
}

fn parse_control(s: &str) -> Result<Control, String> {
    Control::parse(s).ok_or_else(|| {
        format!(
            "unknown control; one of: {}",
            allowed(Control::ALL.map(Control::as_str))
        )
    })
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    Severity::parse(s).ok_or_else(|| {
        format!(
            "unknown severity; one of: {}",
            allowed(Severity::ALL.map(Severity::as_str))
        )
    })
}

fn parse_action(s: &str) -> Result<Action, String> {
    Action::parse(s).ok_or_else(|| {
        format!(
            "unknown action; one of: {}",
            allowed(Action::ALL.map(Action::as_str))
        )
    })
}

/// `1h` (that long ago) or an RFC 3339 time, as milliseconds.
fn parse_time(s: &str) -> Result<UnixMillis, String> {
    let at = match humantime::parse_duration(s) {
        Ok(ago) => SystemTime::now()
            .checked_sub(ago)
            .ok_or_else(|| format!("`{s}` reaches back before 1970"))?,
        Err(_) => humantime::parse_rfc3339_weak(s).map_err(|_| {
            "neither a duration (`30m`, `1h`, `7d`) nor an RFC 3339 time \
             (`2026-12-01T00:00:00Z`)"
                .to_string()
        })?,
    };
    let ms = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| format!("`{s}` is before 1970"))?
        .as_millis();
    Ok(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// Runs `moat events`.
pub async fn run(args: EventsArgs) -> ExitCode {
    let config = match require_config(args.config.clone(), "events") {
        Ok(c) => c,
        Err(code) => return code,
    };
    let store = match state_store(&config, true).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let result = execute(&store, &args).await;
    store.close().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("moat: {message}");
            ExitCode::FAILURE
        }
    }
}

fn query_of(args: &EventsArgs) -> EventQuery {
    EventQuery {
        since: args.since,
        until: args.until,
        api: args.api.clone(),
        operation: args.operation.clone(),
        consumer: args.consumer.clone(),
        client: args.client.clone(),
        control: args.control,
        kind: args.kind.clone(),
        min_severity: args.severity,
        action: args.action,
        cursor: Cursor::Newest,
        limit: MAX_PAGE,
    }
}

async fn execute(store: &DurableStore, args: &EventsArgs) -> Result<(), Failure> {
    let failed = |e: moat_state::StoreError| Failure(e.to_string());
    let mut query = query_of(args);
    // The newest seq first, then only events up to it: `--follow` goes on
    // from there, so nothing appended in between is missed or repeated.
    let head = store
        .events()
        .query(&EventQuery {
            limit: 1,
            ..EventQuery::default()
        })
        .await
        .map_err(failed)?
        .events
        .first()
        .map_or(0, |e| e.seq);
    query.cursor = Cursor::Before(head.saturating_add(1));
    let wanted = usize::try_from(args.limit).unwrap_or(usize::MAX);
    let mut newest_first: Vec<StoredEvent> = Vec::new();
    while newest_first.len() < wanted {
        let page = store.events().query(&query).await.map_err(failed)?;
        newest_first.extend(page.events);
        match page.next {
            Some(seq) => query.cursor = Cursor::Before(seq),
            None => break,
        }
    }
    newest_first.truncate(wanted);
    let mut printer = Printer::new(args.format);
    printer.header();
    for event in newest_first.iter().rev() {
        printer.print(event)?;
    }
    if !args.follow {
        if newest_first.is_empty() && args.format == Format::Table {
            eprintln!("moat: no matching events");
        }
        return Ok(());
    }
    follow(store, query, head, &mut printer).await
}

/// Prints matching events appended after `after`, until SIGINT or
/// SIGTERM.
async fn follow(
    store: &DurableStore,
    mut query: EventQuery,
    mut after: i64,
    printer: &mut Printer,
) -> Result<(), Failure> {
    let stop = stop_signal()?;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return Ok(()),
            () = tokio::time::sleep(FOLLOW_INTERVAL) => {}
        }
        loop {
            query.cursor = Cursor::After(after);
            let page = store
                .events()
                .query(&query)
                .await
                .map_err(|e| Failure(e.to_string()))?;
            for event in &page.events {
                printer.print(event)?;
                after = event.seq;
            }
            if page.next.is_none() {
                break;
            }
        }
    }
}

/// Resolves at the first SIGINT or SIGTERM.
fn stop_signal() -> Result<impl std::future::Future<Output = ()>, Failure> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let listen =
            |kind| signal(kind).map_err(|e| Failure(format!("cannot listen for signals: {e}")));
        let mut int = listen(SignalKind::interrupt())?;
        let mut term = listen(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// Writes events to stdout in the chosen format. A closed stdout (`| head`)
/// ends the command quietly instead of panicking.
struct Printer {
    format: Format,
}

/// Column widths of the table: fixed, so that rows printed by `--follow`
/// line up with the first ones.
const COLUMNS: [(&str, usize); 8] = [
    ("TIME", 20),
    ("SEVERITY", 8),
    ("ACTION", 9),
    ("CONTROL/KIND", 32),
    ("API/OPERATION", 28),
    ("CLIENT", 15),
    ("CONSUMER/ACTOR", 16),
    ("EVIDENCE", 0),
];

impl Printer {
    fn new(format: Format) -> Self {
        Printer { format }
    }

    fn header(&mut self) {
        if self.format == Format::Table {
            let cells = COLUMNS.map(|(name, _)| name.to_string());
            // A closed stdout is noticed at the first event.
            let _ = self.line(&row(&cells));
        }
    }

    fn print(&mut self, e: &StoredEvent) -> Result<(), Failure> {
        let text = match self.format {
            Format::Json => serde_json::to_string(e).map_err(|err| Failure(err.to_string()))?,
            Format::Table => row(&cells(e)),
        };
        self.line(&text)
    }

    fn line(&mut self, text: &str) -> Result<(), Failure> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}")
            .and_then(|()| out.flush())
            .map_err(|e| Failure(format!("cannot write to standard output: {e}")))
    }
}

fn cells(e: &StoredEvent) -> [String; 8] {
    let ev = &e.event;
    let pair = |a: &Option<String>, b: &Option<String>| match (a, b) {
        (Some(a), Some(b)) => format!("{}/{}", clean(a), clean(b)),
        (Some(a), None) => clean(a),
        (None, Some(b)) => clean(b),
        (None, None) => "-".into(),
    };
    let actor_or_consumer = match (&ev.consumer, &ev.actor) {
        (Some(c), _) => clean(c),
        (None, Some(a)) => clean(a),
        (None, None) => "-".into(),
    };
    [
        time_ms(ev.time),
        ev.severity.as_str().into(),
        ev.action.as_str().into(),
        format!("{}/{}", ev.control.as_str(), clean(&ev.kind)),
        pair(&ev.api, &ev.operation),
        ev.client.as_deref().map_or("-".into(), clean),
        actor_or_consumer,
        ev.evidence
            .as_deref()
            .map_or("-".into(), |t| cut(&clean(t), EVIDENCE_WIDTH)),
    ]
}

/// The cells padded to [`COLUMNS`]; a cell wider than its column pushes
/// the rest right rather than being cut (ids and addresses stay whole).
fn row(cells: &[String; 8]) -> String {
    let padded: Vec<String> = cells
        .iter()
        .zip(COLUMNS)
        .map(|(c, (_, w))| format!("{c:<w$}"))
        .collect();
    padded.join("  ").trim_end().to_string()
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

/// RFC 3339, UTC, whole seconds.
fn time_ms(t: UnixMillis) -> String {
    crate::state_cli::time(t.div_euclid(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_are_checked_with_the_allowed_ones() {
        assert_eq!(parse_severity("high"), Ok(Severity::High));
        let e = parse_severity("urgent").unwrap_err();
        assert!(e.contains("info, low, medium, high, critical"), "{e}");
        assert_eq!(parse_control("object-access"), Ok(Control::ObjectAccess));
        assert!(parse_control("waf").unwrap_err().contains("inspection"));
        assert_eq!(parse_action("denied"), Ok(Action::Denied));
        assert!(parse_action("x").unwrap_err().contains("recorded"));
    }

    #[test]
    fn times_are_durations_back_or_rfc3339() {
        assert_eq!(parse_time("2026-12-01T00:00:00Z"), Ok(1_796_083_200_000));
        let an_hour_ago = parse_time("1h").unwrap();
        let expected = moat_state::events::unix_millis_now() - 3_600_000;
        assert!((an_hour_ago - expected).abs() < 5_000, "{an_hour_ago}");
        assert!(parse_time("yesterday").unwrap_err().contains("RFC 3339"));
    }

    #[test]
    fn long_evidence_is_cut() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
        assert_eq!(time_ms(1_796_083_200_999), "2026-12-01T00:00:00Z");
    }
}
