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

/// A request body cut off after `limit` bytes: past it, the body ends in an
/// error (which aborts the upstream request) and `tripped` is set, so the
/// pipeline can answer `413` rather than `502`.
pub struct Capped {
    inner: Body,
    left: u64,
    tripped: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// The body was longer than its cap.
#[derive(Debug, thiserror::Error)]
#[error("the request body is larger than allowed")]
pub struct TooLarge;

impl Capped {
    /// Wraps `inner`; `tripped` is set when it exceeds `limit` bytes.
    pub fn new(
        inner: Body,
        limit: u64,
        tripped: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Self {
        Self {
            inner,
            left: limit,
            tripped,
        }
    }
}

impl http_body::Body for Capped {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        use std::task::Poll;
        let frame = match std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            other => return other,
        };
        if let Some(data) = frame.data_ref() {
            let len = data.len() as u64;
            if len > self.left {
                self.tripped
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                return Poll::Ready(Some(Err(Box::new(TooLarge))));
            }
            self.left -= len;
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
