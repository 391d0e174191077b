//! One JSON line per request, written off the request path.
//!
//! Lines go through a bounded queue to a writer thread, so a slow disk or a
//! blocked stdout never stalls a request. When the queue is full the line is
//! dropped and counted (`moat_access_log_dropped_total`): an overloaded
//! gateway keeps serving. Only the canonical path is logged, never the query
//! string, headers or bodies, which may carry credentials.

use std::io::Write;
use std::net::IpAddr;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::time::{Duration, SystemTime};

use moat_config::AccessLogConfig;
use serde::Serialize;

const QUEUE: usize = 65_536;

/// The fields of one access-log line.
#[derive(Debug, Serialize)]
pub struct AccessRecord<'a> {
    /// RFC 3339 time the request arrived, UTC, milliseconds (formatted
    /// only when a line is written).
    #[serde(serialize_with = "rfc3339_millis")]
    pub time: SystemTime,
    /// The request id (also in the `X-Request-Id` response header).
    pub request_id: &'a str,
    /// The client address (see `proxy.trusted_proxies`).
    pub client: IpAddr,
    /// HTTP method.
    pub method: &'a str,
    /// Canonical path, without the query.
    pub path: &'a str,
    /// API name, or `-` when none matched.
    pub api: &'a str,
    /// Operation id, or `-` when none matched.
    pub operation: &'a str,
    /// Response status.
    pub status: u16,
    /// Milliseconds the upstream took to send its response head, when called.
    pub upstream_ms: Option<f64>,
    /// Milliseconds from request head to response head.
    pub total_ms: f64,
    /// `allowed`, `denied`, `monitored` or `flagged`.
    pub verdict: &'static str,
    /// The control that denied or flagged, if any.
    pub finding: Option<&'static str>,
    /// The verified consumer, if the operation required credentials.
    pub consumer: Option<&'a str>,
}

/// Milliseconds with microsecond precision.
pub fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

/// RFC 3339 UTC time with milliseconds.
fn rfc3339_millis<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*t))
}

/// The access log's sending side.
#[derive(Clone)]
pub struct AccessLog {
    tx: Option<SyncSender<Vec<u8>>>,
}

impl AccessLog {
    /// Opens the configured target and starts the writer thread.
    pub fn open(cfg: &AccessLogConfig) -> std::io::Result<Self> {
        if !cfg.enabled {
            return Ok(Self { tx: None });
        }
        let out: Box<dyn Write + Send> = match cfg.target.as_str() {
            "stdout" => Box::new(std::io::stdout()),
            "stderr" => Box::new(std::io::stderr()),
            path => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
        };
        let (tx, rx) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("moat-access-log".into())
            .spawn(move || write_lines(rx, out))?;
        Ok(Self { tx: Some(tx) })
    }

    /// Queues one record; never blocks.
    pub fn log(&self, record: &AccessRecord<'_>) {
        let Some(tx) = &self.tx else { return };
        let Ok(mut line) = serde_json::to_vec(record) else {
            return;
        };
        line.push(b'\n');
        if let Err(TrySendError::Full(_)) = tx.try_send(line) {
            metrics::counter!("moat_access_log_dropped_total").increment(1);
        }
    }
}

/// While lines keep coming, the writer drains the queue every
/// [`BUSY_POLL`] instead of sleeping on it: a sender that finds the writer
/// parked must wake it with a system call, which under load costs more than
/// writing the line. Only a nap that brings nothing new sends the writer back
/// to blocking. Lines reach the target at most `BUSY_POLL` late.
const BUSY_POLL: std::time::Duration = std::time::Duration::from_millis(5);

fn write_lines(rx: Receiver<Vec<u8>>, out: Box<dyn Write + Send>) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    // Idle: block until a line arrives.
    while let Ok(line) = rx.recv() {
        let _ = out.write_all(&line);
        // Busy: drain, flush, nap; back to blocking when a nap brought nothing.
        loop {
            loop {
                match rx.try_recv() {
                    Ok(more) => {
                        let _ = out.write_all(&more);
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        let _ = out.flush();
                        return;
                    }
                }
            }
            let _ = out.flush();
            std::thread::sleep(BUSY_POLL);
            match rx.try_recv() {
                Ok(more) => {
                    let _ = out.write_all(&more);
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
    }
    let _ = out.flush();
}
