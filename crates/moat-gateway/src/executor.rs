//! The threads and async runtimes moat runs on: one thread per worker, each
//! with its own tokio current-thread runtime.
//!
//! The number of workers is `TOKIO_WORKER_THREADS` when that is a number,
//! else the CPUs the process may use. The main thread runs a current-thread
//! runtime of its own for what is not a client's request: loading and
//! reloading the config, the admin listener, upkeep, signals. With one
//! worker, that runtime serves the listeners as well, and moat is a single
//! thread (plus tokio's blocking pool for config loading and password
//! hashing). With more, the gateway starts [`Workers`]: each worker accepts
//! on every listener and serves the connections it accepted from start to
//! end, and keeps its own idle upstream connections
//! ([`worker`] picks the list), so a request never moves between threads.
//! This is the shape of nginx's worker processes and Envoy's worker
//! threads; tokio's work-stealing scheduler instead hands tasks and I/O
//! readiness between threads, and measured here that cost more CPU per
//! request the more work each request does (docs/benchmarks.md). The price
//! is balance: connections are spread as they are accepted, not requests,
//! so one busy keep-alive or HTTP/2 connection stays on one worker.

use std::cell::Cell;
use std::io;
use std::sync::OnceLock;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The builder of the main thread's runtime; the caller enables drivers
/// and builds it.
pub fn builder() -> tokio::runtime::Builder {
    tokio::runtime::Builder::new_current_thread()
}

/// How many workers serve the listeners: `TOKIO_WORKER_THREADS` when it is
/// a positive number, else the CPUs available (read once).
pub fn count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        std::env::var("TOKIO_WORKER_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)
            .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
            .unwrap_or(1)
    })
}

thread_local! {
    static WORKER: Cell<usize> = const { Cell::new(0) };
}

/// The index of the worker running the caller: `0..count()`; 0 on any
/// thread that is not a worker (the main thread, blocking threads).
pub fn worker() -> usize {
    WORKER.with(Cell::get)
}

/// Worker threads, each driving its own current-thread runtime until this
/// value is dropped (which cancels what still runs on them).
pub struct Workers {
    handles: Vec<Handle>,
    /// Dropping a sender ends its worker's runtime.
    _stop: Vec<oneshot::Sender<()>>,
}

impl Workers {
    /// Starts `n` workers, named `moat-worker-<i>`.
    pub fn start(n: usize) -> io::Result<Self> {
        let mut handles = Vec::with_capacity(n);
        let mut stops = Vec::with_capacity(n);
        for index in 0..n {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(runtime.handle().clone());
            let (stop, stopped) = oneshot::channel::<()>();
            stops.push(stop);
            std::thread::Builder::new()
                .name(format!("moat-worker-{index}"))
                .spawn(move || {
                    WORKER.with(|w| w.set(index));
                    runtime.block_on(async {
                        let _ = stopped.await;
                    });
                    // Blocking work still running (a password hash) is not
                    // waited for long.
                    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
                })?;
        }
        Ok(Self {
            handles,
            _stop: stops,
        })
    }

    /// The workers' runtimes, to spawn their tasks on.
    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("count", &self.handles.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn each_worker_is_a_thread_of_its_own_that_knows_its_index() {
        assert_eq!(worker(), 0, "not a worker: index 0");
        let workers = Workers::start(3).unwrap();
        let mut seen = Vec::new();
        for handle in workers.handles() {
            let (index, name) = handle
                .spawn(async { (worker(), std::thread::current().name().map(String::from)) })
                .await
                .unwrap();
            seen.push((index, name.unwrap_or_default()));
        }
        assert_eq!(
            seen,
            [
                (0, "moat-worker-0".to_string()),
                (1, "moat-worker-1".to_string()),
                (2, "moat-worker-2".to_string())
            ]
        );
    }

    #[tokio::test]
    async fn dropping_the_workers_ends_what_runs_on_them() {
        let workers = Workers::start(2).unwrap();
        let (held, released) = oneshot::channel::<()>();
        workers.handles()[1].spawn(async move {
            let _held = held;
            std::future::pending::<()>().await;
        });
        drop(workers);
        // The task is dropped with its runtime, and with it the sender.
        let ended = tokio::time::timeout(Duration::from_secs(5), released).await;
        assert!(matches!(ended, Ok(Err(_))), "the worker's task still runs");
    }
}
