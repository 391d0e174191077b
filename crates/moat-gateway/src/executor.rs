//! The async runtime moat runs on.
//!
//! tokio's multi-threaded runtime, with one worker per CPU the process may
//! use (or `TOKIO_WORKER_THREADS`), except where that is one worker: then
//! tokio's current-thread runtime, which does the same work on one thread
//! without the multi-threaded scheduler's hand-offs between the thread that
//! accepts, the worker and the I/O driver. On one CPU it costs about a fifth
//! less CPU per proxied request (docs/benchmarks.md). Blocking work (config
//! loading, password hashing) goes to tokio's blocking pool either way.

/// A runtime builder by the rule above; the caller enables drivers and
/// builds it.
pub fn builder() -> tokio::runtime::Builder {
    if workers() == Some(1) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
}

/// How many workers tokio's multi-threaded runtime would start:
/// `TOKIO_WORKER_THREADS` when it is a number, else the CPUs available.
fn workers() -> Option<usize> {
    std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
}
