//! A sampled exchange's answer body, copied while it streams to the
//! client (at most `max_body_bytes` of it): the sample is queued when the
//! body ends, with the body when it was JSON and small enough, without it
//! otherwise. The client's answer is never held back.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body as HttpBody, Frame, SizeHint};

use super::{Capture, Captured};
use crate::body::{Body, BoxError};

/// The answer's body, copied for the capture.
pub(crate) struct CaptureBody {
    inner: Body,
    /// Taken when queued (at the end, or when dropped before it).
    pending: Option<Captured>,
    capture: Arc<Capture>,
    copy: BytesMut,
    max: usize,
    /// Longer than `max`: the copy was given up.
    over: bool,
}

impl CaptureBody {
    pub(crate) fn new(inner: Body, captured: Captured, capture: Arc<Capture>) -> Self {
        let max = capture.max_body_bytes();
        Self {
            inner,
            pending: Some(captured),
            capture,
            copy: BytesMut::new(),
            max,
            over: false,
        }
    }

    fn queue(&mut self, complete: bool) {
        if let Some(mut c) = self.pending.take() {
            if complete && !self.over && !self.copy.is_empty() {
                c.answer = Some(std::mem::take(&mut self.copy).freeze());
            }
            self.capture.submit(c);
        }
    }
}

impl HttpBody for CaptureBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref()
                    && !this.over
                {
                    if this.copy.len() + data.len() > this.max {
                        this.over = true;
                        this.copy = BytesMut::new();
                    } else {
                        this.copy.extend_from_slice(data);
                    }
                }
                if this.inner.is_end_stream() {
                    this.queue(true);
                }
            }
            Poll::Ready(None) => this.queue(true),
            Poll::Ready(Some(Err(_))) => this.queue(false),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for CaptureBody {
    fn drop(&mut self) {
        // A client that went away: the shape without the answer's body.
        self.queue(false);
    }
}
