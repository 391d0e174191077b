//! Capture (`discovery.capture`): the shapes of sampled exchanges,
//! aggregated per API, method and operation template, and kept in the
//! state file.
//!
//! A sampled exchange carries a [`Draft`] through the pipeline: the
//! operation's template (or, for a request no operation matches, its path
//! within the API), the query string, the request's header fields and its
//! JSON body when small. When it is answered, the draft, with the status,
//! content type and how the caller authenticated, is handed to the
//! [`recorder`] task through a bounded queue (a full queue drops it and
//! counts it); a JSON answer is copied as it streams to the client
//! ([`answer`], at most `max_body_bytes`) and the sample queued when it
//! ends. The task infers the shape with moat-discover's profile
//! (parameter types, body schemas, sensitive-data kinds), templates
//! undocumented paths with its templater, and writes the aggregate to the
//! state file every `flush` and at shutdown. Unsampled exchanges pay one
//! atomic add.
//!
//! Values reach the task's memory only: what is kept and stored is the
//! shape (names, types, counts, short enum words), never a value.

mod aggregate;
mod answer;
mod recorder;
pub mod view;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use moat_config::CaptureConfig;
use tokio::sync::mpsc;

pub(crate) use aggregate::Aggregate;
pub use aggregate::{CapturedOperation, Shape};
pub(crate) use answer::CaptureBody;
pub(crate) use recorder::Recorder;

/// Samples waiting for the recorder; more are dropped. Each may hold two
/// bodies of up to `max_body_bytes`, so this bounds the queue's memory
/// (256 × 2 × 64 KiB = 32 MiB at the defaults, at worst).
const QUEUE: usize = 256;

/// How the caller authenticated, as the exchange's identity result says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthKind {
    /// A credential of this kind was verified (`api_key`, `bearer`,
    /// `basic`, `client_certificate`).
    Verified(&'static str),
    /// Credentials were presented and refused.
    Rejected,
    /// The operation was reached without a verified credential.
    None,
    /// No operation matched, so nothing was verified; the kind of
    /// `Authorization` the request presented, if any.
    Unverified(Option<&'static str>),
}

impl AuthKind {
    /// The label stored and shown.
    pub(crate) fn label(self) -> &'static str {
        match self {
            AuthKind::Verified(kind) => kind,
            AuthKind::Rejected => "rejected",
            AuthKind::None => "none",
            AuthKind::Unverified(Some("bearer")) => "unverified-bearer",
            AuthKind::Unverified(Some("basic")) => "unverified-basic",
            AuthKind::Unverified(Some(_)) => "unverified-other",
            AuthKind::Unverified(None) => "none",
        }
    }
}

/// What a sampled exchange carries through the pipeline.
#[derive(Debug, Default)]
pub(crate) struct Draft {
    /// The API.
    pub api: String,
    /// The matched operation's template, relative to the API's base path.
    pub template: Option<String>,
    /// The request's path within the API (for a request no operation
    /// matches).
    pub path: String,
    /// The raw query string.
    pub query: Option<String>,
    /// Request header fields (names lower-case; values for the
    /// sensitive-data scan only).
    pub headers: Vec<(String, String)>,
    /// The JSON request body, when small enough.
    pub body: Option<Bytes>,
    /// The body's media type.
    pub media: Option<String>,
    /// The `Authorization` scheme presented.
    pub presented: Option<&'static str>,
}

/// A finished sample, queued for the recorder.
#[derive(Debug)]
pub(crate) struct Captured {
    pub draft: Draft,
    pub method: String,
    pub status: u16,
    pub content_type: Option<String>,
    pub auth: AuthKind,
    /// Unix ms.
    pub at: i64,
    /// The answer's body, when JSON and at most `max_body_bytes`.
    pub answer: Option<Bytes>,
}

/// The capture's handle on the request path.
pub struct Capture {
    /// Sample one exchange in `every` (1 / `sample`, rounded).
    every: u64,
    seen: AtomicU64,
    max_body_bytes: usize,
    tx: Option<mpsc::Sender<Captured>>,
    dropped: AtomicU64,
    aggregate: Arc<Mutex<Aggregate>>,
}

impl Capture {
    /// Capture off.
    pub fn disabled() -> Self {
        Self {
            every: 0,
            seen: AtomicU64::new(0),
            max_body_bytes: 0,
            tx: None,
            dropped: AtomicU64::new(0),
            aggregate: Arc::default(),
        }
    }

    /// Capture per `cfg`, starting from `stored`; the recorder to run.
    pub(crate) fn start(
        cfg: &CaptureConfig,
        store: Arc<dyn moat_state::DiscoveryStore>,
        stored: Vec<moat_state::DiscoveredRow>,
    ) -> (Arc<Self>, Option<Recorder>) {
        if !cfg.enabled {
            return (Arc::new(Self::disabled()), None);
        }
        let aggregate = Arc::new(Mutex::new(Aggregate::from_rows(stored)));
        let (tx, rx) = mpsc::channel(QUEUE);
        let capture = Arc::new(Self {
            every: every(cfg.sample),
            seen: AtomicU64::new(0),
            max_body_bytes: cfg.max_body_bytes,
            tx: Some(tx),
            dropped: AtomicU64::new(0),
            aggregate: aggregate.clone(),
        });
        let recorder = Recorder::new(rx, aggregate, store, cfg.flush);
        (capture, Some(recorder))
    }

    /// A draft when this exchange is sampled: one in `every`, counted, so
    /// that the share is exact whatever the rate.
    pub(crate) fn sample(&self) -> Option<Box<Draft>> {
        if self.tx.is_none() || self.every == 0 {
            return None;
        }
        let n = self.seen.fetch_add(1, Ordering::Relaxed);
        n.is_multiple_of(self.every).then(Box::default)
    }

    /// The largest JSON body read for its shape.
    pub(crate) fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// Queues a finished sample; dropped (and counted) when the queue is
    /// full.
    pub(crate) fn submit(&self, captured: Captured) {
        let Some(tx) = &self.tx else { return };
        if tx.try_send(captured).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Samples dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Whether capture is on.
    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// The operations captured so far (stored and new), by API, template
    /// and method.
    pub(crate) fn operations(&self) -> Vec<CapturedOperation> {
        match self.aggregate.lock() {
            Ok(a) => a.operations(),
            Err(_) => Vec::new(),
        }
    }
}

/// One in how many exchanges a fraction samples.
fn every(sample: f64) -> u64 {
    if sample.is_nan() || sample <= 0.0 {
        return 0;
    }
    let n = (1.0 / sample.min(1.0)).round();
    if n >= u64::MAX as f64 {
        u64::MAX
    } else {
        (n as u64).max(1)
    }
}

/// The `Authorization` scheme a request presented, for requests no
/// operation verified.
pub(crate) fn presented_scheme(headers: &http::HeaderMap) -> Option<&'static str> {
    let value = headers.get(http::header::AUTHORIZATION)?.as_bytes();
    let scheme = value.split(|b| *b == b' ').next().unwrap_or_default();
    Some(if scheme.eq_ignore_ascii_case(b"bearer") {
        "bearer"
    } else if scheme.eq_ignore_ascii_case(b"basic") {
        "basic"
    } else {
        "other"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fraction_samples_one_in_n_exactly() {
        assert_eq!(
            (every(1.0), every(0.05), every(0.3), every(0.0)),
            (1, 20, 3, 0)
        );
        let capture = Capture {
            every: every(0.25),
            seen: AtomicU64::new(0),
            max_body_bytes: 0,
            tx: Some(mpsc::channel(1).0),
            dropped: AtomicU64::new(0),
            aggregate: Arc::default(),
        };
        let sampled = (0..100).filter(|_| capture.sample().is_some()).count();
        assert_eq!(sampled, 25);
    }
}
