//! The open streams of one HTTP/2 connection, and the wait until it has had
//! none for a while: an HTTP/2 client may keep a connection open without a
//! request for as long as it answers `PING`s, each one holding a connection
//! slot, so a connection with nothing open is closed after its idle time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// The streams open on one connection.
#[derive(Debug, Default)]
pub struct Streams {
    open: AtomicUsize,
    changed: Notify,
}

/// One open stream: from the moment its request arrives until its answer
/// has been sent (or the stream is reset); closed when dropped.
#[derive(Debug)]
pub struct Open(Arc<Streams>);

impl Streams {
    /// Counts a stream as open until the returned guard is dropped.
    pub fn open(self: &Arc<Self>) -> Open {
        self.open.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_one();
        Open(self.clone())
    }

    /// How many streams are open.
    pub fn count(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Returns once no stream has been open for `timeout` without a break.
    pub async fn idle_for(&self, timeout: Duration) {
        loop {
            if self.count() > 0 {
                self.changed.notified().await;
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(timeout) => {
                    if self.count() == 0 {
                        return;
                    }
                }
                // A stream opened (and perhaps closed again) meanwhile: the
                // idle time starts over.
                () = self.changed.notified() => {}
            }
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.changed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_only_after_the_timeout_with_nothing_open() {
        let streams = Arc::new(Streams::default());
        let start = tokio::time::Instant::now();
        streams.idle_for(Duration::from_secs(5)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));

        // A stream open for 8 s: idle 5 s after it closed.
        let open = streams.open();
        let start = tokio::time::Instant::now();
        let closer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(8)).await;
            drop(open);
        });
        streams.idle_for(Duration::from_secs(5)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(13));
        closer.await.unwrap();
        assert_eq!(streams.count(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_in_between_starts_the_idle_time_over() {
        let streams = Arc::new(Streams::default());
        let s = streams.clone();
        let start = tokio::time::Instant::now();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            drop(s.open());
        });
        streams.idle_for(Duration::from_secs(5)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(8));
    }
}
