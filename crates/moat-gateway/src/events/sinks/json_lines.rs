//! Events as JSON lines, to standard output or a file appended to.

use std::io::Write as _;
use std::sync::Arc;

use moat_config::EventFileConfig;
use moat_state::events::{Event, Severity};

use super::{SinkError, SinkKind, least};
use crate::telemetry;

/// Writes one JSON object per event and line, for events at or above the
/// configured severity. A batch is one write, so lines of a batch are
/// never interleaved with other output.
pub(crate) struct JsonLinesSink {
    out: Output,
    min: Severity,
    /// The batch being written, kept to reuse its allocation.
    buf: Vec<u8>,
}

/// Where the lines go. Writes run on the blocking pool: a slow disk or a
/// stalled pipe never stalls the runtime.
#[derive(Clone)]
enum Output {
    Stdout,
    File(Arc<std::fs::File>),
}

impl Output {
    fn write_all(&self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Output::Stdout => std::io::stdout().lock().write_all(bytes),
            Output::File(file) => (&**file).write_all(bytes),
        }
    }

    fn flush(&self) -> std::io::Result<()> {
        match self {
            Output::Stdout => std::io::stdout().lock().flush(),
            // Unbuffered: each write went to the file.
            Output::File(_) => Ok(()),
        }
    }
}

impl JsonLinesSink {
    /// Opens `cfg.target`: `stdout`, or a file opened for appending and
    /// created (mode 0600: events name clients and consumers) when missing.
    pub(crate) fn open(cfg: &EventFileConfig) -> Result<Self, SinkError> {
        let out = if cfg.target == "stdout" {
            Output::Stdout
        } else {
            let mut options = std::fs::OpenOptions::new();
            options.append(true).create(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let file = options
                .open(&cfg.target)
                .map_err(|source| SinkError::Open {
                    target: cfg.target.clone(),
                    source,
                })?;
            Output::File(Arc::new(file))
        };
        Ok(Self {
            out,
            min: least(cfg.min_severity),
            buf: Vec::new(),
        })
    }

    /// Writes the events at or above the minimum severity, one line each,
    /// in one write. Nothing is written when none qualifies.
    pub(crate) async fn write(&mut self, events: &[Event]) -> Result<(), SinkError> {
        self.buf.clear();
        for event in events.iter().filter(|e| e.severity >= self.min) {
            serde_json::to_writer(&mut self.buf, event).map_err(SinkError::Json)?;
            self.buf.push(b'\n');
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        let out = self.out.clone();
        let buf = std::mem::take(&mut self.buf);
        let written = tokio::task::spawn_blocking(move || {
            let result = out.write_all(&buf);
            (buf, result)
        })
        .await;
        let result = match written {
            Ok((buf, result)) => {
                self.buf = buf;
                result
            }
            Err(e) => Err(std::io::Error::other(e)),
        };
        telemetry::event_sink_write(SinkKind::File.as_str(), result.is_ok());
        result.map_err(SinkError::Write)
    }

    /// Waits until what was written has left moat's buffers.
    pub(crate) async fn flush(&mut self) -> Result<(), SinkError> {
        let out = self.out.clone();
        tokio::task::spawn_blocking(move || out.flush())
            .await
            .map_err(std::io::Error::other)
            .and_then(|flushed| flushed)
            .map_err(SinkError::Write)
    }
}

#[cfg(test)]
mod tests {
    use moat_config::EventSeverity;
    use moat_state::events::{Action, Control};

    use super::*;

    fn event(kind: &str, severity: Severity) -> Event {
        let mut e = Event::new(Control::Inspection, kind, severity, Action::Denied);
        e.api = Some("bookstore".into());
        e.client = Some("203.0.113.7".into());
        e
    }

    fn file_config(path: &std::path::Path, min: EventSeverity) -> EventFileConfig {
        EventFileConfig {
            target: path.to_string_lossy().into_owned(),
            min_severity: min,
        }
    }

    #[tokio::test]
    async fn writes_parseable_lines_at_or_above_the_severity_and_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, "{\"earlier\":true}\n").unwrap();
        let mut sink = JsonLinesSink::open(&file_config(&path, EventSeverity::Medium)).unwrap();
        let batch = [
            event("malformed-request", Severity::Low),
            event("shadow-endpoint", Severity::Medium),
            event("attack-detected", Severity::Critical),
            event("key-created", Severity::Info),
        ];
        sink.write(&batch).await.unwrap();
        sink.write(&[event("ownership", Severity::High)])
            .await
            .unwrap();
        sink.write(&[event("noise", Severity::Low)]).await.unwrap();
        sink.flush().await.unwrap();

        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[0]["earlier"], true);
        let kinds: Vec<&str> = lines[1..]
            .iter()
            .map(|l| l["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["shadow-endpoint", "attack-detected", "ownership"]);
        // Each line is a whole event, as the store would keep it.
        let back: Event = serde_json::from_value(lines[2].clone()).unwrap();
        assert_eq!(back, batch[2]);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_new_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.jsonl");
        let mut sink = JsonLinesSink::open(&file_config(&path, EventSeverity::Info)).unwrap();
        sink.write(&[event("x", Severity::Info)]).await.unwrap();
        sink.flush().await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_file_that_cannot_be_opened_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("events.jsonl");
        let err = JsonLinesSink::open(&file_config(&path, EventSeverity::Info))
            .err()
            .unwrap();
        assert!(matches!(err, SinkError::Open { .. }), "{err}");
        assert!(err.to_string().contains("missing-dir"), "{err}");
    }
}
