//! Client listeners: accept, TLS, HTTP/1.1 and HTTP/2, connection limits,
//! request-head limits, graceful shutdown.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use moat_config::ListenerConfig;
use moat_guard::{Finding, ProblemKind};
use moat_state::IpPrefix;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::body::{Body, empty};
use crate::client_cert::ClientCert;
use crate::forwarding::{RequestId, client_ip, is_trusted};
use crate::idle::{Open, Streams};
use crate::pipeline::{
    ConnInfo, Exchange, Outcome, Shared, answer, finish_headers, handle, record, request_id,
};
use crate::slots::Slots;
use crate::telemetry;
use crate::timer::{ConnTimer, Deadlines};

/// What the workers accepting on one listener share: its connection slots,
/// in all and per client address.
pub struct Gate {
    permits: Arc<Semaphore>,
    /// Open connections per client (IPv4 address, IPv6 /64): an entry
    /// exists only while its client holds a connection.
    clients: Arc<Slots<IpPrefix>>,
    per_client: u32,
}

impl Gate {
    /// The slots of a listener configured as `cfg`.
    pub fn new(cfg: &ListenerConfig) -> Arc<Self> {
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(cfg.max_connections)),
            clients: Arc::default(),
            per_client: u32::try_from(cfg.max_connections_per_client).unwrap_or(u32::MAX),
        })
    }
}

/// A listening socket on `addr` with a kernel accept queue of `backlog`
/// connections (`SO_REUSEADDR` set, as `TcpListener::bind` does).
pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Accepts on one listener, on the runtime of the calling worker, until
/// `shutdown` turns true, then drains the connections it accepted for at
/// most `grace`.
pub async fn serve(
    socket: std::net::TcpListener,
    index: usize,
    cfg: ListenerConfig,
    gate: Arc<Gate>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
) {
    let name: Arc<str> = Arc::from(cfg.bind.to_string());
    let listener = match TcpListener::from_std(socket) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(listener = %name, error = %e, "cannot register the listener with this worker");
            return;
        }
    };
    let graceful = GracefulShutdown::new();
    // Turned true when the grace period is over: connections still open
    // are dropped, so each request in flight records itself as cut, and
    // the listener waits for that (every receiver dropped) before it ends.
    let (cut_tx, cut) = watch::channel(false);
    let cfg = Arc::new(cfg);
    loop {
        let permit = tokio::select! {
            p = gate.permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(listener = %name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        // One client may not take every slot: beyond its share, its
        // connections are closed at once. An IPv6 client is its /64, as
        // one host routinely holds a whole /64. Behind a trusted proxy every
        // client shares the proxy's address, so those are not counted.
        let slot = if is_trusted(peer.ip(), &shared.runtime.load().trusted_proxies) {
            None
        } else {
            match gate
                .clients
                .try_acquire(IpPrefix::client(peer.ip()), gate.per_client)
            {
                Some(slot) => Some(slot),
                None => {
                    telemetry::connection_refused(&name, "per_client_limit");
                    tracing::debug!(listener = %name, %peer, "too many connections from this client; closed");
                    drop(stream);
                    continue;
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let cfg = cfg.clone();
        let name = name.clone();
        let watcher = graceful.watcher();
        let before = Before {
            deadline: tokio::time::Instant::now() + cfg.header_read_timeout,
            shutdown: shutdown.clone(),
        };
        let mut cut = cut.clone();
        tokio::spawn(async move {
            telemetry::connections(&name, 1.0);
            tokio::select! {
                () = serve_connection(stream, peer, index, &cfg, shared, watcher, before) => {}
                () = cut_off(&mut cut) => {}
            }
            drop(cut);
            telemetry::connections(&name, -1.0);
            drop(slot);
            drop(permit);
        });
        // Every worker is woken by a new connection; letting the others
        // take the next ones spreads a burst of connections over the
        // workers instead of leaving all of it to the first one awake.
        if crate::executor::count() > 1 {
            tokio::task::yield_now().await;
        }
    }
    drop(listener);
    tracing::info!(listener = %name, "stopped accepting; draining connections");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(listener = %name, "grace period over; closing remaining connections");
    }
    drop(cut);
    let _ = cut_tx.send(true);
    // Dropping a request records it at once; a bound all the same.
    let _ = tokio::time::timeout(CUT_WAIT, cut_tx.closed()).await;
}

/// The longest a listener waits for its cut connections to end.
const CUT_WAIT: Duration = Duration::from_secs(1);

/// Resolves when the grace period is over (never if the listener is gone
/// without saying so).
async fn cut_off(cut: &mut watch::Receiver<bool>) {
    if cut.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    index: usize,
    cfg: &ListenerConfig,
    shared: Arc<Shared>,
    watcher: hyper_util::server::graceful::Watcher,
    mut before: Before,
) {
    // The TLS handshake and the first bytes of the first request share the
    // header deadline: a client that connects and stalls holds a connection
    // slot for no longer than that. From then on hyper's header timer takes
    // over, for the first request head and every later one (keep-alive).

    if let Some(redirect) = &cfg.redirect_to_https {
        let port = redirect.port;
        let limits = HeadLimits::from(cfg);
        let svc = service_fn(move |req| async move {
            let resp = match limits.violation(&req) {
                Some(kind) => status_only(kind),
                None => redirect_to_https(&req, port),
            };
            Ok::<_, std::convert::Infallible>(resp)
        });
        let Some(io) = sniffed(stream, &mut before, peer).await else {
            return;
        };
        let builder = builder(cfg);
        let conn = builder.serve_connection(TokioIo::new(io), svc);
        let _ = watcher.watch(conn.into_owned()).await;
        return;
    }

    let acceptor = shared.runtime.load().tls_acceptor(index).cloned();
    let Some(acceptor) = acceptor else {
        let info = Arc::new(ConnInfo::new(peer, false, index, None));
        let Some(io) = sniffed(stream, &mut before, peer).await else {
            return;
        };
        serve_http(io, cfg, shared, info, watcher, before.shutdown).await;
        return;
    };

    let tls = match before.run(acceptor.accept(stream)).await {
        Some(Ok(tls)) => tls,
        Some(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        None => {
            tracing::debug!(%peer, "no TLS handshake within header_read_timeout, or shutting down");
            return;
        }
    };
    // rustls verified any client certificate against the CA; keep what
    // identifies its holder for the identity phase.
    let client_cert = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|leaf| ClientCert::from_der(leaf.as_ref()))
        .map(Arc::new);
    let info = Arc::new(ConnInfo::new(peer, true, index, client_cert));
    let Some(io) = sniffed(tls, &mut before, peer).await else {
        return;
    };
    serve_http(io, cfg, shared, info, watcher, before.shutdown).await;
}

/// The HTTP/1.1 and HTTP/2 settings of a listener, for one connection
/// (with its own timer for the header read deadlines).
fn builder(cfg: &ListenerConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    {
        let mut h1 = builder.http1();
        h1.timer(ConnTimer::new(Deadlines::new(), cfg.header_read_timeout))
            .header_read_timeout(cfg.header_read_timeout)
            .keep_alive(true)
            // The read buffer caps the request head: a head that does not
            // fit is refused with `431` while it is read, so no connection
            // buffers more than this. hyper's floor is 8 KiB; smaller limits
            // are enforced exactly by `HeadLimits` once the head is parsed.
            .max_buf_size(cfg.max_header_bytes.max(HYPER_MIN_BUF_SIZE));
        // hyper refuses a head with more fields than its slots with an
        // empty `431`, before any service runs; a head over the limit that
        // fits the slots reaches `HeadLimits` and gets the problem body.
        // Below 100, hyper's default slots (kept on the stack, and not
        // even initialised) leave that room at no cost per request: any
        // explicit count fills the slots at every request, and more than
        // 100 moves them to the heap (up to 400 instructions of a
        // pass-through GET, measured). A limit of 100 or more gets twice
        // its slots.
        if cfg.max_header_count >= HYPER_DEFAULT_MAX_HEADERS {
            h1.max_headers(cfg.max_header_count.saturating_mul(2));
        }
    }
    // HTTP/2 counts 32 bytes of overhead per field on top of names and
    // values; allow for it so both protocols accept the same heads.
    let h2_list = cfg
        .max_header_bytes
        .saturating_add(cfg.max_header_count.saturating_mul(32));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(h2_list).unwrap_or(u32::MAX))
        .keep_alive_interval(cfg.http2_keep_alive_interval)
        .keep_alive_timeout(cfg.http2_keep_alive_timeout);
    if !cfg.http2 {
        builder = builder.http1_only();
    }
    builder
}

/// hyper's smallest `max_buf_size`.
const HYPER_MIN_BUF_SIZE: usize = 8192;
/// hyper's default (stack-allocated) header count.
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// Serves requests on an established (plain or TLS) connection, checking
/// the listener's head limits before the pipeline sees a request. An
/// HTTP/2 connection with no stream open for `http2_idle_timeout` is shut
/// down gracefully (`GOAWAY`).
async fn serve_http<S>(
    io: Prefixed<S>,
    cfg: &ListenerConfig,
    shared: Arc<Shared>,
    info: Arc<ConnInfo>,
    watcher: hyper_util::server::graceful::Watcher,
    shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = info.peer;
    let limits = HeadLimits::from(cfg);
    let streams = io.is_http2().then(|| Arc::new(Streams::default()));
    let (parse_shared, parse_info) = (shared.clone(), info.clone());
    let counted = streams.clone();
    let svc = service_fn(move |req: Request<Incoming>| {
        let shared = shared.clone();
        let info = info.clone();
        let open = counted.as_ref().map(Streams::open);
        async move {
            let resp = match limits.violation(&req) {
                Some(kind) => refuse(&shared, &info, &req, kind),
                None => match handle(shared, info, req).await {
                    Ok(resp) => resp,
                    Err(never) => match never {},
                },
            };
            // The stream stays open until its answer has been sent.
            Ok::<_, std::convert::Infallible>(match open {
                Some(open) => resp.map(|body| held_open(body, open)),
                None => resp,
            })
        }
    });
    let builder = builder(cfg);
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(io), svc)
        .into_owned();
    let idle = async {
        match &streams {
            Some(streams) => streams.idle_for(cfg.http2_idle_timeout).await,
            None => std::future::pending().await,
        }
    };
    // The connection runs to its end; it is shut down gracefully (HTTP/2
    // `GOAWAY`, HTTP/1.1 closing once idle) when the listener stops or
    // the idle time runs out.
    let mut shutdown = shutdown;
    let mut conn = std::pin::pin!(conn);
    let mut idle = std::pin::pin!(idle);
    let mut stopping = false;
    let result = loop {
        tokio::select! {
            out = conn.as_mut() => break out,
            _ = shutdown.wait_for(|stopping| *stopping), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            () = &mut idle, if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    };
    // The listener's drain waits for this connection until here.
    drop(watcher);
    if let Err(e) = result {
        match e.downcast_ref::<hyper::Error>() {
            Some(h) if h.is_parse() || h.is_parse_too_large() => {
                record_parse_error(&parse_shared, &parse_info, h);
            }
            _ => tracing::debug!(%peer, error = %e, "connection ended with an error"),
        }
    }
}

/// A response body that keeps its stream counted as open until it is
/// dropped (sent in full, or its stream reset).
fn held_open(body: Body, open: Open) -> Body {
    use http_body_util::BodyExt;
    body.map_frame(move |frame| {
        let _open = &open;
        frame
    })
    .boxed()
}

/// The request-head limits of a listener, checked on every parsed request.
/// hyper already refused heads too large to buffer and (HTTP/1.1) too many
/// header fields; this gives the exact limits on both protocols, and a
/// problem body.
#[derive(Debug, Clone, Copy)]
struct HeadLimits {
    max_url_bytes: usize,
    max_header_count: usize,
    max_header_bytes: usize,
}

impl From<&ListenerConfig> for HeadLimits {
    fn from(cfg: &ListenerConfig) -> Self {
        Self {
            max_url_bytes: cfg.max_url_bytes,
            max_header_count: cfg.max_header_count,
            max_header_bytes: cfg.max_header_bytes,
        }
    }
}

impl HeadLimits {
    /// The limit `req` breaks, if any: the target first, then the header
    /// count, then the head's size.
    fn violation<B>(&self, req: &Request<B>) -> Option<ProblemKind> {
        let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
        if target > self.max_url_bytes {
            return Some(ProblemKind::UriTooLong);
        }
        if req.headers().len() > self.max_header_count {
            return Some(ProblemKind::HeadersTooLarge);
        }
        if head_bytes(req) > self.max_header_bytes {
            return Some(ProblemKind::HeadersTooLarge);
        }
        None
    }
}

/// The size of the request head as HTTP/1.1 writes it: request line, one
/// `name: value` line per field, the empty line. For HTTP/2 the scheme and
/// authority count as part of the target.
fn head_bytes<B>(req: &Request<B>) -> usize {
    let uri = req.uri();
    let target = uri.path_and_query().map_or(1, |pq| pq.as_str().len())
        + uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len());
    // "METHOD SP target SP HTTP/1.1 CRLF"
    let request_line = req.method().as_str().len() + 1 + target + 1 + 8 + 2;
    let fields: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    request_line + fields + 2
}

/// The problem answer to a request that breaks a head limit, recorded like
/// any refusal (the pipeline's recording: access log, metrics) but never
/// passed to the pipeline.
fn refuse(
    shared: &Shared,
    conn: &ConnInfo,
    req: &Request<Incoming>,
    kind: ProblemKind,
) -> Response<Body> {
    let arrived = SystemTime::now();
    let started = Instant::now();
    let rt = shared.runtime.load();
    let trusted = is_trusted(conn.peer.ip(), &rt.trusted_proxies);
    let mut ex = Exchange::new(
        request_id(&rt, trusted, req.headers()),
        client_ip(conn.peer, req.headers(), &rt.trusted_proxies),
        req.method().clone(),
    );
    // The path may be the very thing that is too long: log a prefix only,
    // and never the query.
    ex.path = prefix(req.uri().path(), 256).to_string();
    tracing::debug!(request_id = %ex.request_id, client = %ex.client, finding = kind.slug(),
        "request head over a listener limit");
    let mut resp = answer("-", &mut ex, Finding::new(kind));
    finish_headers(&rt, conn, &mut ex, &mut resp);
    record(
        shared,
        &ex,
        resp.status().as_u16(),
        arrived,
        started.elapsed(),
    );
    resp
}

/// Records a request that hyper refused before it could reach the
/// pipeline (a malformed or oversized HTTP/1.1 head: invalid characters in
/// the target, conflicting framing, too many or too large fields). hyper
/// has already answered it (`400` or `431`, no body); it still gets a
/// request id, an access-log line, a metric and a warning.
fn record_parse_error(shared: &Shared, conn: &ConnInfo, error: &hyper::Error) {
    let (kind, status) = if error.is_parse_too_large() {
        (ProblemKind::HeadersTooLarge, 431)
    } else {
        (ProblemKind::InvalidRequest, 400)
    };
    let mut ex = Exchange::new(
        RequestId::new(),
        conn.peer.ip(),
        http::Method::from_bytes(b"-").unwrap_or_default(),
    );
    ex.path = "-".to_string();
    let detail = crate::pipeline::Detail {
        control: Some(moat_state::events::Control::Listener),
        rule: Some("http-parser".to_string()),
        ..Default::default()
    };
    ex.note_with("-", kind.slug(), Outcome::Denied, Some(Box::new(detail)));
    tracing::info!(request_id = %ex.request_id, client = %ex.client, finding = kind.slug(),
        error = %error, "request head refused by the HTTP parser");
    record(shared, &ex, status, SystemTime::now(), Duration::ZERO);
}

/// The first `max` bytes of `s`, cut at a character boundary.
fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A bare status answer (redirect listeners send no bodies).
fn status_only(kind: ProblemKind) -> Response<Body> {
    let mut r = Response::new(empty());
    *r.status_mut() = StatusCode::from_u16(kind.status()).unwrap_or(StatusCode::BAD_REQUEST);
    r
}

/// The HTTP/2 client preface; anything else is HTTP/1.x.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Reads the first bytes of the connection, as far as needed to tell
/// HTTP/2 (the full preface) from HTTP/1.x (the first byte that differs),
/// within `before`. hyper-util's protocol detection has no timeout of its
/// own, so a client that connects and sends nothing, or a few bytes of the
/// preface, would otherwise hold its connection slot forever (and delay a
/// graceful shutdown). `None` when the client closed, failed or ran out of
/// time.
async fn sniffed<S>(mut io: S, before: &mut Before, peer: SocketAddr) -> Option<Prefixed<S>>
where
    S: AsyncRead + Unpin,
{
    let read = async {
        let mut buf = [0u8; 24];
        let mut filled = 0;
        while filled < H2_PREFACE.len() {
            let n = io.read(&mut buf[filled..]).await?;
            if n == 0 {
                break;
            }
            let start = filled;
            filled += n;
            if buf[start..filled] != H2_PREFACE[start..filled] {
                break;
            }
        }
        Ok::<_, io::Error>(buf[..filled].to_vec())
    };
    match before.run(read).await {
        Some(Ok(prefix)) if !prefix.is_empty() => Some(Prefixed {
            prefix,
            read: 0,
            inner: io,
        }),
        Some(Ok(_)) => None,
        Some(Err(e)) => {
            tracing::debug!(%peer, error = %e, "connection failed before a request");
            None
        }
        None => {
            tracing::debug!(%peer, "no request within header_read_timeout, or shutting down; closed");
            None
        }
    }
}

/// What ends a connection before hyper serves it: its header deadline, or
/// the listener shutting down (hyper's graceful shutdown only reaches
/// connections it serves).
struct Before {
    deadline: tokio::time::Instant,
    shutdown: watch::Receiver<bool>,
}

impl Before {
    /// `fut`'s output, or `None` if the deadline or a shutdown comes first.
    async fn run<F: Future>(&mut self, fut: F) -> Option<F::Output> {
        tokio::select! {
            out = tokio::time::timeout_at(self.deadline, fut) => out.ok(),
            _ = self.shutdown.wait_for(|stopping| *stopping) => None,
        }
    }
}

/// A stream whose first bytes were already read: they are replayed first.
struct Prefixed<S> {
    prefix: Vec<u8>,
    read: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    /// Whether the client opened with the HTTP/2 preface.
    fn is_http2(&self) -> bool {
        self.prefix == H2_PREFACE
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(rest) = this.prefix.get(this.read..).filter(|r| !r.is_empty()) {
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.read += n;
            if this.read == this.prefix.len() {
                this.prefix = Vec::new();
                this.read = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// `308` to the same host and target on HTTPS.
fn redirect_to_https(req: &Request<Incoming>, port: u16) -> Response<Body> {
    let host = moat_guard::request::head::host(req.uri(), req.headers(), req.version());
    let Some(host) = host.ok().flatten().filter(|h| {
        h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b))
    }) else {
        let mut r = Response::new(empty());
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return r;
    };
    let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let location = if port == 443 {
        format!("https://{host}{target}")
    } else {
        format!("https://{host}:{port}{target}")
    };
    let mut r = Response::new(empty());
    *r.status_mut() = StatusCode::PERMANENT_REDIRECT;
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> HeadLimits {
        HeadLimits {
            max_url_bytes: 20,
            max_header_count: 2,
            max_header_bytes: 100,
        }
    }

    #[test]
    fn head_limits_check_target_count_and_size() {
        let ok = Request::get("/a?b=c").header("x", "1").body(()).unwrap();
        assert_eq!(limits().violation(&ok), None);
        let long = Request::get(format!("/{}", "a".repeat(20)))
            .body(())
            .unwrap();
        assert_eq!(limits().violation(&long), Some(ProblemKind::UriTooLong));
        let many = Request::get("/")
            .header("a", "1")
            .header("b", "2")
            .header("a", "3")
            .body(())
            .unwrap();
        assert_eq!(
            limits().violation(&many),
            Some(ProblemKind::HeadersTooLarge)
        );
        let big = Request::get("/")
            .header("x", "v".repeat(80))
            .body(())
            .unwrap();
        assert_eq!(limits().violation(&big), Some(ProblemKind::HeadersTooLarge));
    }

    #[test]
    fn head_bytes_is_the_http1_wire_size() {
        let req = Request::get("/p?q").header("host", "h").body(()).unwrap();
        let wire = "GET /p?q HTTP/1.1\r\nhost: h\r\n\r\n";
        assert_eq!(head_bytes(&req), wire.len());
    }

    #[tokio::test]
    async fn sniffing_replays_what_it_read() {
        let (mut client, server) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut client, b"GET / HTTP/1.1\r\n")
            .await
            .unwrap();
        let (_stop, shutdown) = watch::channel(false);
        let mut before = Before {
            deadline: tokio::time::Instant::now() + Duration::from_secs(5),
            shutdown,
        };
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut io = sniffed(server, &mut before, peer).await.unwrap();
        // HTTP/1.x is told apart at the first read: no waiting for 24 bytes.
        assert_eq!(io.prefix, b"GET / HTTP/1.1\r\n");
        drop(client);
        let mut all = Vec::new();
        io.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"GET / HTTP/1.1\r\n");
    }

    #[tokio::test]
    async fn sniffing_gives_up_at_the_deadline() {
        let (mut client, server) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut client, b"PRI * ")
            .await
            .unwrap();
        let (_stop, shutdown) = watch::channel(false);
        let mut before = Before {
            deadline: tokio::time::Instant::now() + Duration::from_millis(50),
            shutdown,
        };
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(sniffed(server, &mut before, peer).await.is_none());
    }

    #[tokio::test]
    async fn sniffing_gives_up_on_shutdown() {
        let (_client, server) = tokio::io::duplex(64);
        let (stop, shutdown) = watch::channel(false);
        let mut before = Before {
            deadline: tokio::time::Instant::now() + Duration::from_secs(60),
            shutdown,
        };
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let sniffing =
            tokio::spawn(async move { sniffed(server, &mut before, peer).await.is_none() });
        tokio::time::sleep(Duration::from_millis(20)).await;
        stop.send(true).unwrap();
        let gave_up = tokio::time::timeout(Duration::from_secs(5), sniffing).await;
        assert!(gave_up.unwrap().unwrap());
    }
}
