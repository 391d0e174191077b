//! Decisions from timings, kept apart from the network so they can be
//! tested with made-up numbers. Each takes several samples and asks for a
//! margin wide enough that scheduling noise on a busy machine does not
//! decide.

use std::time::Duration;

/// The median of `samples` (the lower middle of an even count).
pub fn median(samples: &[Duration]) -> Option<Duration> {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted.get(sorted.len().saturating_sub(1) / 2).copied()
}

/// Whether `slow` is consistently slower than `fast`: every sample of
/// `slow` above every sample of `fast`, the medians at least twice apart
/// and at least `floor` apart. Three samples or more of each.
pub fn consistently_slower(slow: &[Duration], fast: &[Duration], floor: Duration) -> bool {
    if slow.len() < 3 || fast.len() < 3 {
        return false;
    }
    let (Some(slow_min), Some(fast_max)) = (slow.iter().min(), fast.iter().max()) else {
        return false;
    };
    let (Some(slow_median), Some(fast_median)) = (median(slow), median(fast)) else {
        return false;
    };
    slow_min > fast_max && slow_median >= fast_median * 2 && slow_median >= fast_median + floor
}

/// One input length tried by the ReDoS check: the medians of the
/// adversarial and of the benign input of that length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub length: usize,
    pub adversarial: Duration,
    pub benign: Duration,
}

/// The slowest adversarial median that counts, and the ratio to its
/// benign control that does.
pub const REDOS_FLOOR: Duration = Duration::from_millis(200);
pub const REDOS_RATIO: u32 = 10;

/// Whether `steps` (by increasing length) show super-linear time: the
/// longest adversarial input is slower than [`REDOS_FLOOR`] and
/// [`REDOS_RATIO`] times its benign control, and time grew more than twice
/// as fast as length from the first step to the last.
pub fn super_linear(steps: &[Step]) -> bool {
    let (Some(first), Some(last)) = (steps.first(), steps.last()) else {
        return false;
    };
    if steps.len() < 2 || last.length <= first.length || first.length == 0 {
        return false;
    }
    let slow_enough = last.adversarial >= REDOS_FLOOR;
    let above_control = last.adversarial >= last.benign * REDOS_RATIO;
    let time_growth = last.adversarial.as_secs_f64() / first.adversarial.as_secs_f64().max(0.001);
    let length_growth = last.length as f64 / first.length as f64;
    slow_enough && above_control && time_growth > 2.0 * length_growth
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_millis(*v)).collect()
    }

    #[test]
    fn medians() {
        assert_eq!(median(&ms(&[5, 1, 3])), Some(Duration::from_millis(3)));
        assert_eq!(median(&ms(&[4, 1, 3, 2])), Some(Duration::from_millis(2)));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn slower_only_without_overlap_and_with_margin() {
        let floor = Duration::from_millis(25);
        assert!(consistently_slower(
            &ms(&[120, 110, 130]),
            &ms(&[2, 3, 4]),
            floor
        ));
        // One fast sample among the slow ones: noise, not a pattern.
        assert!(!consistently_slower(
            &ms(&[120, 3, 130]),
            &ms(&[2, 3, 4]),
            floor
        ));
        // Twice as slow but within the floor.
        assert!(!consistently_slower(
            &ms(&[8, 9, 10]),
            &ms(&[2, 3, 4]),
            floor
        ));
        // Too few samples.
        assert!(!consistently_slower(&ms(&[120, 130]), &ms(&[2, 3]), floor));
    }

    #[test]
    fn redos_needs_growth_slowness_and_a_fast_control() {
        let step = |length, a, b| Step {
            length,
            adversarial: Duration::from_millis(a),
            benign: Duration::from_millis(b),
        };
        // Doubling with each letter.
        assert!(super_linear(&[
            step(12, 2, 1),
            step(20, 40, 1),
            step(28, 800, 1)
        ]));
        // Linear growth, however slow: a slow endpoint, not ReDoS.
        assert!(!super_linear(&[step(100, 100, 90), step(200, 210, 200)]));
        // Super-linear but fast: under the floor.
        assert!(!super_linear(&[step(12, 1, 1), step(28, 150, 1)]));
        // Slow, but so is the benign input of the same length.
        assert!(!super_linear(&[step(12, 2, 2), step(28, 800, 700)]));
        assert!(!super_linear(&[step(28, 800, 1)]));
    }
}
