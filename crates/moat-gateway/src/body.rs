//! The one body type that flows through the gateway.
//!
//! Client bodies, upstream bodies and moat's own answers all become a
//! [`Body`], so the pipeline streams whatever it is handed and buffers only
//! where a guard asks for it.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};

/// Boxed error of any body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A streaming body.
pub type Body = BoxBody<Bytes, BoxError>;

/// A body from bytes in memory.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An empty body.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// Boxes any body whose error converts into [`BoxError`].
pub fn boxed<B>(body: B) -> Body
where
    B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed()
}

/// Why a client's streamed body was cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trip {
    /// It ran past its cap (`413`).
    TooLarge,
    /// The client stopped sending it (`408`).
    Stalled,
}

/// How a [`ClientBody`] is getting on: whether it is still streaming
/// (the upstream's response deadline waits for it), and why it ended in
/// an error, for the pipeline to answer `413` or `408` rather than `502`.
#[derive(Debug)]
pub struct BodyProgress {
    trip: std::sync::atomic::AtomicU8,
    streaming: std::sync::atomic::AtomicBool,
}

impl Default for BodyProgress {
    fn default() -> Self {
        Self {
            trip: std::sync::atomic::AtomicU8::new(0),
            streaming: std::sync::atomic::AtomicBool::new(true),
        }
    }
}

impl BodyProgress {
    fn set(&self, trip: Trip) {
        let code = match trip {
            Trip::TooLarge => 1,
            Trip::Stalled => 2,
        };
        self.trip.store(code, std::sync::atomic::Ordering::Relaxed);
        self.ended();
    }

    fn ended(&self) {
        self.streaming
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// Why the body was cut off, if it was.
    pub fn tripped(&self) -> Option<Trip> {
        match self.trip.load(std::sync::atomic::Ordering::Relaxed) {
            1 => Some(Trip::TooLarge),
            2 => Some(Trip::Stalled),
            _ => None,
        }
    }

    /// Whether the client is still sending the body (and sent some within
    /// the body read timeout).
    pub fn streaming(&self) -> bool {
        self.streaming.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A client's request body as it streams to the upstream: cut off after
/// `cap` bytes (when capped), or when no data comes for `idle`. Either
/// way the body ends in an error, which aborts the upstream request, and
/// [`BodyProgress`] says why. The idle timer is armed only when the client
/// keeps the gateway waiting: a body that arrives with its head costs no
/// timer.
pub struct ClientBody {
    inner: Body,
    left: Option<u64>,
    idle: std::time::Duration,
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    progress: std::sync::Arc<BodyProgress>,
}

/// The body was longer than its cap.
#[derive(Debug, thiserror::Error)]
#[error("the request body is larger than allowed")]
pub struct TooLarge;

/// The client sent no more of the body within the body read timeout.
#[derive(Debug, thiserror::Error)]
#[error("the client stopped sending the request body")]
pub struct Stalled;

impl ClientBody {
    /// Wraps `inner`: cut off past `cap` bytes (`None`: never) or after
    /// `idle` without data.
    pub fn new(
        inner: Body,
        cap: Option<u64>,
        idle: std::time::Duration,
        progress: std::sync::Arc<BodyProgress>,
    ) -> Self {
        Self {
            inner,
            left: cap,
            idle,
            timer: None,
            progress,
        }
    }
}

impl http_body::Body for ClientBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        use std::future::Future;
        use std::task::Poll;
        let this = &mut *self;
        let frame = match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Pending => {
                let idle = this.idle;
                let timer = this.timer.get_or_insert_with(|| {
                    Box::pin(tokio::time::sleep_until(tokio::time::Instant::now() + idle))
                });
                if timer.as_mut().poll(cx).is_ready() {
                    this.progress.set(Trip::Stalled);
                    return Poll::Ready(Some(Err(Box::new(Stalled))));
                }
                return Poll::Pending;
            }
            other => {
                this.progress.ended();
                return other;
            }
        };
        if let Some(data) = frame.data_ref() {
            let len = data.len() as u64;
            if let Some(left) = &mut this.left {
                if len > *left {
                    this.progress.set(Trip::TooLarge);
                    return Poll::Ready(Some(Err(Box::new(TooLarge))));
                }
                *left -= len;
            }
            // Data came: the wait starts again at the next stall.
            if let Some(timer) = &mut this.timer {
                timer
                    .as_mut()
                    .reset(tokio::time::Instant::now() + this.idle);
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
