//! Deadlines that reuse one timer per connection.
//!
//! Every request on a connection runs under two deadlines: the request head
//! must arrive within `header_read_timeout` (hyper's timer) and the
//! upstream must answer within `response_timeout`. A fresh tokio timer per
//! deadline is allocated, entered into the runtime's timer wheel when first
//! polled and taken out again when the request is done: about 3,000
//! instructions a request, a sixth of what moat adds to a plain proxy
//! (docs/benchmarks.md). [`Deadlines`] keeps one spare timer per
//! connection and purpose instead (hyper's header deadline has one, the
//! upstream response deadline another: deadlines of different lengths
//! sharing a timer would move it back and forth). A deadline borrows it, moves it to the new time and
//! gives it back when it ends; tokio moves a timer that is still in the
//! wheel to a later time with one atomic update (the wheel learns of it
//! only when the earlier time comes), so a keep-alive connection's
//! deadlines cost almost nothing after the first.
//!
//! Deadlines are kept with a little slack, as nginx keeps its timers: a
//! timer is set [`slack`] after the time asked for, and a later deadline
//! that still falls before it keeps it as it is. A request on a busy
//! keep-alive connection then moves no timer at all, and a timeout fires at
//! most 1/32 of its length, and never more than 100 ms, late.
//!
//! A spare timer left in the wheel may, once per timeout period, wake the
//! connection's task when its old time comes: one extra poll, which finds
//! nothing to do. Deadlines that overlap (HTTP/2 streams) take a new timer
//! when the spare is lent; only one is kept.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::time::Sleep;

/// One connection's spare timer.
#[derive(Debug, Default)]
pub struct Deadlines {
    spare: Mutex<Option<Pin<Box<Sleep>>>>,
}

impl Deadlines {
    /// A connection's deadlines, with no timer yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A future that completes at `deadline` (or up to `slack` after it).
    pub fn until(self: &Arc<Self>, deadline: Instant, slack: Duration) -> Deadline {
        self.lend(tokio::time::Instant::from_std(deadline), slack)
    }

    /// The spare timer (or a new one), set to end between `deadline` and
    /// `deadline + slack`.
    fn lend(self: &Arc<Self>, deadline: tokio::time::Instant, slack: Duration) -> Deadline {
        let spare = self
            .spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let sleep = match spare {
            Some(mut sleep) => {
                let set = sleep.deadline();
                if set < deadline || set > deadline + slack {
                    sleep.as_mut().reset(deadline + slack);
                }
                sleep
            }
            None => Box::pin(tokio::time::sleep_until(deadline + slack)),
        };
        Deadline {
            sleep: Some(sleep),
            home: Arc::clone(self),
        }
    }

    /// Runs `work`, or gives up when `timeout` (and at most its
    /// [`slack`]) has passed. `work` is pinned where the caller made it
    /// (`std::pin::pin!`): a future taken by value is copied at each step
    /// of the wait, and a request's upstream call is large.
    pub async fn within<F: Future>(
        self: &Arc<Self>,
        timeout: Duration,
        work: Pin<&mut F>,
    ) -> Result<F::Output, Elapsed> {
        let mut deadline = self.lend(tokio::time::Instant::now() + timeout, slack(timeout));
        tokio::select! {
            biased;
            out = work => Ok(out),
            () = &mut deadline => Err(Elapsed),
        }
    }
}

/// How late a deadline of `timeout` may fire: 1/32 of it, at most 100 ms.
pub fn slack(timeout: Duration) -> Duration {
    (timeout / 32).min(Duration::from_millis(100))
}

/// The deadline passed before the work was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("deadline elapsed")]
pub struct Elapsed;

/// A deadline on a connection's timer; the timer goes back to the
/// connection when this is dropped.
#[derive(Debug)]
pub struct Deadline {
    sleep: Option<Pin<Box<Sleep>>>,
    home: Arc<Deadlines>,
}

impl Future for Deadline {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.sleep.as_mut() {
            Some(sleep) => sleep.as_mut().poll(cx),
            None => Poll::Ready(()),
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Some(sleep) = self.sleep.take() {
            let mut spare = self
                .home
                .spare
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if spare.is_none() {
                *spare = Some(sleep);
            }
        }
    }
}

/// hyper's timer for one connection (the HTTP/1 header read deadline),
/// on the connection's [`Deadlines`], with the slack of `timeout` (the
/// header read timeout).
#[derive(Debug, Clone)]
pub struct ConnTimer {
    deadlines: Arc<Deadlines>,
    slack: Duration,
}

impl ConnTimer {
    /// hyper's timer on `deadlines`, for deadlines `timeout` away.
    pub fn new(deadlines: Arc<Deadlines>, timeout: Duration) -> Self {
        Self {
            deadlines,
            slack: slack(timeout),
        }
    }
}

impl hyper::rt::Timer for ConnTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(
            self.deadlines
                .lend(tokio::time::Instant::now() + duration, slack(duration)),
        )
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(self.deadlines.until(deadline, self.slack))
    }
}

impl hyper::rt::Sleep for Deadline {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The timer wheel's resolution: a timer fires at the next millisecond.
    const TICK: Duration = Duration::from_millis(1);

    /// `after` from now on tokio's (paused) clock.
    fn later(after: Duration) -> Instant {
        (tokio::time::Instant::now() + after).into_std()
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_ends_at_its_time_and_gives_its_timer_back() {
        let deadlines = Deadlines::new();
        let start = tokio::time::Instant::now();
        deadlines
            .until(later(Duration::from_secs(5)), Duration::ZERO)
            .await;
        assert!(start.elapsed() >= Duration::from_secs(5));
        assert!(deadlines.spare.lock().unwrap().is_some(), "kept for reuse");

        // The reused timer runs to its new, later time, not the old one.
        let start = tokio::time::Instant::now();
        let late = deadlines.until(later(Duration::from_secs(30)), Duration::ZERO);
        assert!(deadlines.spare.lock().unwrap().is_none(), "lent");
        late.await;
        assert!(start.elapsed() >= Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn work_that_finishes_first_wins_and_slow_work_times_out() {
        let deadlines = Deadlines::new();
        let quick = deadlines
            .within(Duration::from_secs(10), std::pin::pin!(async { 7 }))
            .await;
        assert_eq!(quick, Ok(7));
        // The timer went back pointing 10 s ahead; the next deadline is
        // earlier than that, and still holds.
        let start = tokio::time::Instant::now();
        let slow = deadlines
            .within(
                Duration::from_secs(2),
                std::pin::pin!(tokio::time::sleep(Duration::from_secs(60))),
            )
            .await;
        assert_eq!(slow, Err(Elapsed));
        let took = start.elapsed();
        assert!(
            took >= Duration::from_secs(2)
                && took <= Duration::from_secs(2) + slack(Duration::from_secs(2)) + TICK,
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_deadline_within_the_slack_keeps_the_timer_and_fires_late_by_less_than_it() {
        let deadlines = Deadlines::new();
        let slack = Duration::from_millis(100);
        drop(deadlines.until(later(Duration::from_secs(10)), slack));
        let set = deadlines.spare.lock().unwrap().as_ref().unwrap().deadline();
        // 50 ms later: the timer set for 10.1 s still serves a deadline of
        // 10.05 s.
        tokio::time::advance(Duration::from_millis(50)).await;
        let start = tokio::time::Instant::now();
        let d = deadlines.until(later(Duration::from_secs(10)), slack);
        assert_eq!(d.sleep.as_ref().unwrap().deadline(), set, "not moved");
        d.await;
        let took = start.elapsed();
        assert!(
            took >= Duration::from_secs(10) && took <= Duration::from_secs(10) + slack + TICK,
            "{took:?}"
        );
        // A deadline past the slack moves it.
        let d = deadlines.until(later(Duration::from_secs(20)), slack);
        assert!(d.sleep.as_ref().unwrap().deadline() > set + Duration::from_secs(10));
    }

    #[test]
    fn slack_is_a_thirty_second_capped_at_100_ms() {
        assert_eq!(slack(Duration::from_millis(320)), Duration::from_millis(10));
        assert_eq!(slack(Duration::from_secs(60)), Duration::from_millis(100));
        assert_eq!(slack(Duration::ZERO), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn overlapping_deadlines_each_get_a_timer() {
        let deadlines = Deadlines::new();
        let start = tokio::time::Instant::now();
        let a = deadlines.until(later(Duration::from_secs(1)), Duration::ZERO);
        let b = deadlines.until(later(Duration::from_secs(2)), Duration::ZERO);
        a.await;
        assert!(start.elapsed() >= Duration::from_secs(1));
        b.await;
        assert!(start.elapsed() >= Duration::from_secs(2));
        assert!(deadlines.spare.lock().unwrap().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn hyper_sleeps_end_on_time() {
        use hyper::rt::Timer;
        let timer = ConnTimer::new(Deadlines::new(), Duration::from_secs(10));
        let start = tokio::time::Instant::now();
        timer.sleep(Duration::from_millis(1500)).await;
        assert!(start.elapsed() >= Duration::from_millis(1500));
        timer.sleep(Duration::from_millis(100)).await;
        assert!(start.elapsed() >= Duration::from_millis(1600));
    }
}
