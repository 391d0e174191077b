//! Whether an answer's time follows the delay a payload asked for: the
//! decisions of the time-based checks, apart from the sending, so they can
//! be tested with made-up timings.

use std::time::Duration;

/// The least extra time that counts as an effect of a payload that asks
/// for work rather than a delay (SQLite's recursive count).
pub const MIN_EFFECT: Duration = Duration::from_millis(200);

/// The most an answer may run over the requested delay and still count as
/// following it (a slow network, a busy target).
const SLACK: Duration = Duration::from_secs(3);

/// Whether `observed` is the `control` time plus (most of) the `requested`
/// delay, and not far over it.
pub fn follows_delay(control: Duration, requested: Duration, observed: Duration) -> bool {
    observed >= control + requested.mul_f64(0.8) && observed <= control + requested + SLACK
}

/// Whether a payload asked for `short` and then `long` seconds delayed the
/// answer by each, on top of `control`: the two-size confirmation.
pub fn confirms_delays(
    control: Duration,
    (short, short_observed): (Duration, Duration),
    (long, long_observed): (Duration, Duration),
) -> bool {
    follows_delay(control, short, short_observed)
        && follows_delay(control, long, long_observed)
        && long_observed >= short_observed + (long - short).mul_f64(0.5)
}

/// Whether the answer to a payload asking for four times the work took
/// clearly longer than the one asking for a quarter of it, both measured
/// over `control`: work that grows with the size asked for.
pub fn grows_with_size(control: Duration, small: Duration, large: Duration) -> bool {
    let small = small.saturating_sub(control);
    let large = large.saturating_sub(control);
    large >= MIN_EFFECT && large >= small.mul_f64(2.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_delay_is_followed_within_bounds() {
        assert!(follows_delay(ms(20), ms(2000), ms(2030)));
        assert!(follows_delay(ms(20), ms(2000), ms(1700)));
        assert!(!follows_delay(ms(20), ms(2000), ms(900)));
        assert!(!follows_delay(ms(20), ms(2000), ms(9000)), "far over");
        assert!(
            !follows_delay(ms(1500), ms(2000), ms(2100)),
            "a slow control"
        );
    }

    #[test]
    fn two_delays_must_each_show_and_differ() {
        let c = ms(10);
        assert!(confirms_delays(
            c,
            (ms(1000), ms(1020)),
            (ms(2000), ms(2015))
        ));
        assert!(
            !confirms_delays(c, (ms(1000), ms(2020)), (ms(2000), ms(2015))),
            "same time for both"
        );
        assert!(
            !confirms_delays(c, (ms(1000), ms(15)), (ms(2000), ms(2015))),
            "one stall"
        );
    }

    #[test]
    fn work_must_grow_with_its_size() {
        assert!(grows_with_size(ms(5), ms(150), ms(610)));
        assert!(grows_with_size(ms(5), ms(6), ms(400)));
        assert!(!grows_with_size(ms(5), ms(6), ms(7)), "no effect at all");
        assert!(!grows_with_size(ms(5), ms(300), ms(320)), "a stall on both");
        assert!(
            !grows_with_size(ms(5), ms(6), ms(150)),
            "below the least effect"
        );
    }
}
