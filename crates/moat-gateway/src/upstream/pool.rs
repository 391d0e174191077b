//! Keep-alive connections to one target, on hyper's own HTTP/1 client
//! connections.
//!
//! Why not hyper-util's pooled client: it keeps every upstream's idle
//! connections in one `HashMap` keyed on scheme and authority, whose `Hash`
//! feeds SipHash one byte at a time, three times a request; with its
//! checkout future, the race against a lazy connect and the return to the
//! pool, a callgrind count of moat's pass-through GET put it at about a
//! sixth of moat's instructions. Here each target owns a short list of idle
//! senders. A sender goes back to the list when the answer's body has been
//! read to its end ([`PooledBody`]); a connection whose answer was not
//! read to the end, or that switched protocols, is not reused.
//!
//! Each worker thread keeps its own list ([`crate::executor`]): a
//! connection's driver runs on the worker that opened it, and a request
//! sent on it from another worker would wake that worker twice.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service;

use super::UpstreamFailure;
use crate::body::{Body, BoxError};

/// One idle connection.
struct Idle {
    sender: SendRequest<Body>,
    since: Instant,
}

/// The idle connections of one target, and how to open a new one.
pub(super) struct Pool {
    connector: HttpsConnector<HttpConnector>,
    /// `scheme://authority/` of the target, for the connector.
    address: Uri,
    /// Per worker, most recently used last.
    idle: Box<[Mutex<Vec<Idle>>]>,
    /// Per worker.
    max_idle: usize,
    idle_timeout: Duration,
    /// Longest wait for the next piece of an answer's body.
    body_timeout: Duration,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool for the target at `address`, with a list for each of
    /// `workers` workers; answers whose body stalls for `body_timeout` are
    /// cut off.
    pub fn new(
        connector: HttpsConnector<HttpConnector>,
        address: Uri,
        max_idle: usize,
        idle_timeout: Duration,
        body_timeout: Duration,
        workers: usize,
    ) -> Self {
        Self {
            connector,
            address,
            idle: (0..workers.max(1)).map(|_| Mutex::default()).collect(),
            max_idle,
            idle_timeout,
            body_timeout,
        }
    }

    /// Sends `req` (origin-form target, `Host` set) and waits for the
    /// answer's head. A request that never left on a kept connection
    /// (the upstream closed it meanwhile) is sent again, on another one.
    /// When no connection could be made the request comes back with the
    /// failure, untouched.
    pub async fn send(
        self: &Arc<Self>,
        mut req: Request<Body>,
    ) -> Result<Response<PooledBody>, (UpstreamFailure, Option<Request<Body>>)> {
        loop {
            let (mut sender, reused) = match self.checkout().await {
                Ok(checked_out) => checked_out,
                Err(failure) => return Err((failure, Some(req))),
            };
            match sender.try_send_request(req).await {
                Ok(resp) => return Ok(self.track(sender, resp)),
                Err(mut failed) => match failed.take_message() {
                    Some(unsent) if reused => req = unsent,
                    _ => return Err((failure_of(failed.error()), None)),
                },
            }
        }
    }

    /// The most recently used live idle connection, else a new one; `true`
    /// when it was kept from an earlier request.
    async fn checkout(&self) -> Result<(SendRequest<Body>, bool), UpstreamFailure> {
        loop {
            let Some(Idle { mut sender, since }) = self.lock().pop() else {
                break;
            };
            if since.elapsed() > self.idle_timeout || sender.is_closed() {
                continue;
            }
            // Ready once the connection has finished the previous
            // exchange; an error when it closed.
            if sender.ready().await.is_ok() {
                return Ok((sender, true));
            }
        }
        self.connect().await.map(|sender| (sender, false))
    }

    async fn connect(&self) -> Result<SendRequest<Body>, UpstreamFailure> {
        let io = self
            .connector
            .clone()
            .call(self.address.clone())
            .await
            .map_err(|_| UpstreamFailure::Connect)?;
        let (sender, conn) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(|_| UpstreamFailure::Connect)?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "upstream connection closed");
            }
        });
        Ok(sender)
    }

    /// The answer, with its body holding the sender until it ends.
    fn track(
        self: &Arc<Self>,
        sender: SendRequest<Body>,
        resp: Response<Incoming>,
    ) -> Response<PooledBody> {
        // A connection that switched protocols belongs to the tunnel.
        let back =
            (resp.status() != StatusCode::SWITCHING_PROTOCOLS).then(|| (sender, Arc::clone(self)));
        let idle = self.body_timeout;
        let mut resp = resp.map(|inner| PooledBody {
            inner,
            back,
            idle,
            stall: None,
        });
        if resp.body().inner.is_end_stream() {
            // Nothing to read (no body, or all of it already here): the
            // connection can go back now.
            resp.body_mut().release();
        }
        resp
    }

    /// Keeps `sender` for a later request, unless the list is full or the
    /// connection closed.
    fn put(&self, sender: SendRequest<Body>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.lock();
        if idle.len() < self.max_idle {
            idle.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    /// Closes the connections idle for longer than the idle timeout, on
    /// every worker's list.
    pub fn sweep(&self) {
        let timeout = self.idle_timeout;
        for list in &self.idle {
            lock(list).retain(|i| i.since.elapsed() <= timeout && !i.sender.is_closed());
        }
    }

    /// How many connections are idle, on every worker's list.
    #[cfg(test)]
    pub fn idle(&self) -> usize {
        self.idle.iter().map(|list| lock(list).len()).sum()
    }

    /// The calling worker's list.
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        lock(&self.idle[crate::executor::worker() % self.idle.len()])
    }
}

/// What a failed exchange was: the connection closed or reset before the
/// answer's head, or something else (a malformed answer).
fn failure_of(error: &hyper::Error) -> UpstreamFailure {
    if error.is_incomplete_message() || error.is_canceled() {
        return UpstreamFailure::Reset;
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
            if matches!(io.kind(), ConnectionReset | ConnectionAborted | BrokenPipe) {
                return UpstreamFailure::Reset;
            }
        }
        source = cause.source();
    }
    UpstreamFailure::Protocol
}

fn lock(list: &Mutex<Vec<Idle>>) -> std::sync::MutexGuard<'_, Vec<Idle>> {
    // Nothing panics while holding it; a poisoned list is still a list.
    list.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An upstream answer's body; when it has been read to its end, its
/// connection goes back to the pool. A body that sends nothing for the
/// pool's `body_timeout` ends with [`BodyStalled`] (and its connection is
/// closed).
pub struct PooledBody {
    inner: Incoming,
    back: Option<(SendRequest<Body>, Arc<Pool>)>,
    idle: Duration,
    /// Armed while waiting for the next frame.
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// The upstream sent nothing of an answer's body for `body_timeout`.
#[derive(Debug, thiserror::Error)]
#[error("the upstream sent nothing of the answer's body for {0:?}")]
pub struct BodyStalled(pub Duration);

impl PooledBody {
    fn release(&mut self) {
        if let Some((sender, pool)) = self.back.take() {
            pool.put(sender);
        }
    }
}

impl http_body::Body for PooledBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Pending => {
                let idle = self.idle;
                let stall = self
                    .stall
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                if stall.as_mut().poll(cx).is_ready() {
                    // The rest of the answer may still come on the
                    // connection: it goes with the sender.
                    self.back = None;
                    self.stall = None;
                    return Poll::Ready(Some(Err(Box::new(BodyStalled(idle)))));
                }
                return Poll::Pending;
            }
            Poll::Ready(None) => self.release(),
            Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream() => self.release(),
            _ => {}
        }
        let idle = self.idle;
        if let Some(stall) = self.stall.as_mut() {
            // Something came: the wait for the next piece starts again.
            stall.as_mut().reset(tokio::time::Instant::now() + idle);
        }
        polled.map(|frame| frame.map(|f| f.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // Dropped before its end: the rest of the answer is still on the
        // connection, which is closed with the sender.
        if self.inner.is_end_stream() {
            self.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// How the test upstream ends each answer.
    #[derive(Clone, Copy)]
    enum After {
        /// Keeps the connection open.
        KeepAlive,
        /// Says `Connection: close` and closes.
        Close,
        /// Closes without saying so (as an upstream whose keep-alive
        /// timeout ran out does).
        SilentClose,
    }

    /// Connections accepted and connections seen closed by the test
    /// upstream.
    #[derive(Default)]
    struct Seen {
        accepted: AtomicUsize,
        closed: AtomicUsize,
    }

    /// An HTTP/1.1 upstream on 127.0.0.1 answering every request head with
    /// a 10-byte body.
    async fn upstream(after: After) -> (Uri, Arc<Seen>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let counts = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counts.accepted.fetch_add(1, Ordering::SeqCst);
                let counts = counts.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    loop {
                        let n = stream.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            let close = match after {
                                After::KeepAlive | After::SilentClose => "",
                                After::Close => "connection: close\r\n",
                            };
                            let answer = format!(
                                "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n{close}\r\n0123456789"
                            );
                            if stream.write_all(answer.as_bytes()).await.is_err() {
                                break;
                            }
                            if !matches!(after, After::KeepAlive) {
                                let _ = stream.shutdown().await;
                                counts.closed.fetch_add(1, Ordering::SeqCst);
                                return;
                            }
                        }
                    }
                    counts.closed.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        (format!("http://{addr}/").parse().unwrap(), seen)
    }

    fn pool(address: Uri, idle_timeout: Duration) -> Arc<Pool> {
        pool_for(address, idle_timeout, 1)
    }

    fn pool_for(address: Uri, idle_timeout: Duration, workers: usize) -> Arc<Pool> {
        let tls = moat_identity::trust::Trust::system()
            .unwrap()
            .client_config();
        let connector = super::super::connector(tls, Duration::from_secs(2));
        Arc::new(Pool::new(
            connector,
            address,
            8,
            idle_timeout,
            Duration::from_secs(60),
            workers,
        ))
    }

    fn get(address: &Uri) -> Request<Body> {
        Request::builder()
            .uri("/x")
            .header(http::header::HOST, address.authority().unwrap().as_str())
            .body(crate::body::empty())
            .unwrap()
    }

    async fn read_all(resp: Response<PooledBody>) -> Bytes {
        resp.into_body().collect().await.unwrap().to_bytes()
    }

    #[tokio::test]
    async fn a_connection_is_kept_and_used_again() {
        let (address, seen) = upstream(After::KeepAlive).await;
        let pool = pool(address.clone(), Duration::from_secs(60));
        for _ in 0..5 {
            let resp = pool.send(get(&address)).await.unwrap();
            assert_eq!(read_all(resp).await, "0123456789");
        }
        assert_eq!(seen.accepted.load(Ordering::SeqCst), 1);
        assert_eq!(pool.idle(), 1);
    }

    #[tokio::test]
    async fn an_answer_not_read_to_its_end_takes_its_connection_along() {
        let (address, seen) = upstream(After::KeepAlive).await;
        let pool = pool(address.clone(), Duration::from_secs(60));
        let resp = pool.send(get(&address)).await.unwrap();
        drop(resp);
        assert_eq!(pool.idle(), 0);
        let resp = pool.send(get(&address)).await.unwrap();
        assert_eq!(read_all(resp).await, "0123456789");
        assert_eq!(seen.accepted.load(Ordering::SeqCst), 2);
        assert_eq!(pool.idle(), 1);
    }

    #[tokio::test]
    async fn connections_the_upstream_closes_are_replaced() {
        for after in [After::Close, After::SilentClose] {
            let (address, seen) = upstream(after).await;
            let pool = pool(address.clone(), Duration::from_secs(60));
            for i in 1..=4 {
                let resp = pool.send(get(&address)).await.unwrap();
                assert_eq!(read_all(resp).await, "0123456789");
                // Give the close time to arrive (or not: a request on a
                // connection closed meanwhile is sent again).
                if i % 2 == 0 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            assert_eq!(seen.accepted.load(Ordering::SeqCst), 4);
        }
    }

    #[tokio::test]
    async fn connections_idle_past_the_timeout_are_closed() {
        let (address, seen) = upstream(After::KeepAlive).await;
        let pool = pool(address.clone(), Duration::from_millis(50));
        let resp = pool.send(get(&address)).await.unwrap();
        read_all(resp).await;
        assert_eq!(pool.idle(), 1);
        pool.sweep();
        assert_eq!(pool.idle(), 1, "not yet past the timeout");
        tokio::time::sleep(Duration::from_millis(100)).await;
        pool.sweep();
        assert_eq!(pool.idle(), 0);
        // The upstream sees the connection close.
        for _ in 0..100 {
            if seen.closed.load(Ordering::SeqCst) == 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the idle connection was not closed");
    }

    #[tokio::test]
    async fn each_worker_keeps_its_own_connections() {
        let (address, seen) = upstream(After::KeepAlive).await;
        let pool = pool_for(address.clone(), Duration::from_secs(60), 2);
        let workers = crate::executor::Workers::start(2).unwrap();
        // One exchange on the given worker; the answer is read there, so
        // the connection goes back to that worker's list.
        let exchange_on = |w: usize| {
            let (pool, address) = (pool.clone(), address.clone());
            workers.handles()[w].spawn(async move {
                let resp = pool.send(get(&address)).await.unwrap();
                read_all(resp).await
            })
        };
        assert_eq!(exchange_on(0).await.unwrap(), "0123456789");
        assert_eq!(seen.accepted.load(Ordering::SeqCst), 1);
        // Worker 1 does not take worker 0's connection: it opens its own.
        assert_eq!(exchange_on(1).await.unwrap(), "0123456789");
        assert_eq!(seen.accepted.load(Ordering::SeqCst), 2);
        // Each then uses its own again.
        assert_eq!(exchange_on(0).await.unwrap(), "0123456789");
        assert_eq!(exchange_on(1).await.unwrap(), "0123456789");
        assert_eq!(seen.accepted.load(Ordering::SeqCst), 2);
        assert_eq!(pool.idle(), 2);
        // The sweep reaches every worker's list.
        assert_eq!(
            pool.idle
                .iter()
                .map(|list| lock(list).len())
                .collect::<Vec<_>>(),
            [1, 1]
        );
    }

    #[tokio::test]
    async fn a_target_that_refuses_connections_is_a_connect_failure() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address: Uri = format!("http://{}/", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        drop(listener);
        let pool = pool(address.clone(), Duration::from_secs(60));
        // The request comes back unsent, to be sent elsewhere.
        assert!(matches!(
            pool.send(get(&address)).await,
            Err((UpstreamFailure::Connect, Some(_)))
        ));
    }
}
