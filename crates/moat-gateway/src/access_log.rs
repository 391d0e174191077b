//! One JSON line per request, written off the request path.
//!
//! Lines go through a bounded queue to a writer thread, so a slow disk or a
//! blocked stdout never stalls a request. When the queue is full the line is
//! dropped and counted (`moat_access_log_dropped_total`): an overloaded
//! gateway keeps serving. Only the canonical path is logged, never the query
//! string, headers or bodies, which may carry credentials.
//!
//! [`AccessLog::flush`] waits until every line queued before it is written
//! (the gateway calls it last when it stops). A file target is reopened at
//! its path on [`AccessLog::reopen`] (`SIGUSR1`, for log rotation), and by
//! itself within a second of the file being renamed or removed: lines
//! written until then go to the renamed file, none is lost.

use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{
    Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError, sync_channel,
};
use std::time::{Duration, Instant, SystemTime};

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
    /// No response was sent: the client went away before it, or the
    /// shutdown grace period ended (the status is then `499`). Only
    /// written when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cut: bool,
}

/// Milliseconds with microsecond precision.
pub fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

/// RFC 3339 UTC time with milliseconds.
fn rfc3339_millis<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*t))
}

/// What the writer thread is sent.
enum Msg {
    Line(Vec<u8>),
    /// Write and flush everything before this, then answer.
    Flush(SyncSender<()>),
    /// Wakes the writer to look at the reopen flag.
    Wake,
}

/// The access log's sending side.
#[derive(Clone)]
pub struct AccessLog {
    tx: Option<SyncSender<Msg>>,
    reopen: Arc<AtomicBool>,
}

/// The longest [`AccessLog::flush`] waits for the writer.
const FLUSH_WAIT: Duration = Duration::from_secs(5);

/// How often a file target's path is checked for a rename.
const RENAME_CHECK: Duration = Duration::from_secs(1);

impl AccessLog {
    /// Opens the configured target and starts the writer thread.
    pub fn open(cfg: &AccessLogConfig) -> std::io::Result<Self> {
        let reopen = Arc::new(AtomicBool::new(false));
        if !cfg.enabled {
            return Ok(Self { tx: None, reopen });
        }
        let target = match cfg.target.as_str() {
            "stdout" => Target::Stdout,
            "stderr" => Target::Stderr,
            path => Target::File(PathBuf::from(path)),
        };
        let (out, opened) = target.open()?;
        let (tx, rx) = sync_channel(QUEUE);
        let writer = Writer {
            out: std::io::BufWriter::with_capacity(64 * 1024, out),
            target,
            opened,
            checked: Instant::now(),
            reopen: reopen.clone(),
        };
        std::thread::Builder::new()
            .name("moat-access-log".into())
            .spawn(move || writer.run(rx))?;
        Ok(Self {
            tx: Some(tx),
            reopen,
        })
    }

    /// Queues one record; never blocks.
    pub fn log(&self, record: &AccessRecord<'_>) {
        let Some(tx) = &self.tx else { return };
        let Ok(mut line) = serde_json::to_vec(record) else {
            return;
        };
        line.push(b'\n');
        if let Err(TrySendError::Full(_)) = tx.try_send(Msg::Line(line)) {
            metrics::counter!("moat_access_log_dropped_total").increment(1);
        }
    }

    /// Reopens a file target at its path (after log rotation renamed it);
    /// lines queued before are written to the old file. Never blocks.
    pub fn reopen(&self) {
        let Some(tx) = &self.tx else { return };
        self.reopen.store(true, Ordering::Release);
        // A full queue means the writer is busy: it sees the flag anyway.
        let _ = tx.try_send(Msg::Wake);
    }

    /// Blocks until every line queued before the call is written and
    /// flushed, or for at most five seconds.
    pub fn flush(&self) {
        let Some(tx) = &self.tx else { return };
        let (done, wait) = sync_channel(1);
        if tx.send(Msg::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(FLUSH_WAIT);
        }
    }
}

/// Where lines go.
enum Target {
    Stdout,
    Stderr,
    File(PathBuf),
}

/// A file's device and inode, to notice it was renamed.
type FileId = (u64, u64);

impl Target {
    fn open(&self) -> std::io::Result<(Box<dyn Write + Send>, Option<FileId>)> {
        Ok(match self {
            Target::Stdout => (Box::new(std::io::stdout()), None),
            Target::Stderr => (Box::new(std::io::stderr()), None),
            Target::File(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?;
                let meta = file.metadata()?;
                (Box::new(file), Some((meta.dev(), meta.ino())))
            }
        })
    }

    /// The file now at the path, if any.
    fn current(&self) -> Option<FileId> {
        let Target::File(path) = self else {
            return None;
        };
        std::fs::metadata(path)
            .ok()
            .map(|meta| (meta.dev(), meta.ino()))
    }
}

/// While lines keep coming, the writer drains the queue every
/// [`BUSY_POLL`] instead of sleeping on it: a sender that finds the writer
/// parked must wake it with a system call, which under load costs more than
/// writing the line. Only a nap that brings nothing new sends the writer back
/// to blocking. Lines reach the target at most `BUSY_POLL` late.
const BUSY_POLL: std::time::Duration = std::time::Duration::from_millis(5);

/// The writer thread's side.
struct Writer {
    out: std::io::BufWriter<Box<dyn Write + Send>>,
    target: Target,
    /// The file written to, when the target is a file.
    opened: Option<FileId>,
    /// When the path was last checked for a rename.
    checked: Instant,
    reopen: Arc<AtomicBool>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) {
        // Both loops end once every sender is gone; what is buffered is
        // then written out.
        'idle: loop {
            // Idle: block until a line arrives, looking at the path now and
            // then.
            match rx.recv_timeout(RENAME_CHECK) {
                Ok(msg) => self.handle(msg),
                Err(RecvTimeoutError::Timeout) => {
                    self.tick();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
            // Busy: drain, flush, nap; back to blocking when a nap brought
            // nothing.
            let Some(_) = self.drain(&rx) else { break };
            loop {
                self.tick();
                std::thread::sleep(BUSY_POLL);
                match self.drain(&rx) {
                    Some(0) => break,
                    Some(_) => {}
                    None => break 'idle,
                }
            }
        }
        let _ = self.out.flush();
    }

    /// Handles every queued message; how many, or `None` once every
    /// sender is gone.
    fn drain(&mut self, rx: &Receiver<Msg>) -> Option<usize> {
        let mut handled = 0;
        loop {
            match rx.try_recv() {
                Ok(msg) => {
                    self.handle(msg);
                    handled += 1;
                }
                Err(TryRecvError::Empty) => return Some(handled),
                Err(TryRecvError::Disconnected) => return None,
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Line(line) => {
                let _ = self.out.write_all(&line);
            }
            Msg::Flush(done) => {
                let _ = self.out.flush();
                let _ = done.try_send(());
            }
            Msg::Wake => self.tick(),
        }
    }

    /// Flushes, and reopens the file when asked to or when its path no
    /// longer leads to it.
    fn tick(&mut self) {
        let _ = self.out.flush();
        let asked = self.reopen.swap(false, Ordering::AcqRel);
        let renamed = self.opened.is_some() && self.checked.elapsed() >= RENAME_CHECK && {
            self.checked = Instant::now();
            self.target.current() != self.opened
        };
        if asked || renamed {
            self.reopen_now();
        }
    }

    fn reopen_now(&mut self) {
        let Target::File(path) = &self.target else {
            return;
        };
        match self.target.open() {
            Ok((out, opened)) => {
                let _ = self.out.flush();
                *self.out.get_mut() = out;
                self.opened = opened;
                tracing::info!(path = %path.display(), "access log reopened");
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e,
                    "cannot reopen the access log; still writing to the old file");
            }
        }
    }
}
