//! The shape of an answer, for the comparisons of the boolean checks: did
//! a payload get "more rows" than the control, and do two forms differ
//! from each other every time they are sent.

use crate::client::Exchange;

/// Bytes by which a body may grow because it echoes a longer value (a
/// payload quoted back, escaped): not "more rows".
pub const ECHO_MARGIN: usize = 32;

/// What the comparisons look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub status: u16,
    /// Items of a JSON array answer.
    pub items: Option<usize>,
    pub len: usize,
}

impl Shape {
    pub fn of(exchange: &Exchange) -> Self {
        Self {
            status: exchange.status,
            items: exchange.json().and_then(|v| v.as_array().map(Vec::len)),
            len: exchange.body.len(),
        }
    }

    /// Whether this answer carries more than `other`: more array items, or
    /// a body longer by more than [`ECHO_MARGIN`], both successful.
    pub fn more_than(&self, other: &Shape) -> bool {
        if !(200..300).contains(&self.status) || !(200..300).contains(&other.status) {
            return false;
        }
        match (self.items, other.items) {
            (Some(a), Some(b)) => a > b,
            _ => self.len > other.len + ECHO_MARGIN,
        }
    }
}

/// Whether an always-true form (sent twice) and an always-false form (sent
/// twice) answer consistently, differently from each other, with the true
/// form carrying more than the control does.
pub fn boolean_injectable(control: Shape, truthy: [Shape; 2], falsy: [Shape; 2]) -> bool {
    truthy[0] == truthy[1]
        && falsy[0] == falsy[1]
        && truthy[0] != falsy[0]
        && truthy[0].more_than(&control)
        && truthy[0].more_than(&falsy[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize) -> Shape {
        Shape {
            status: 200,
            items: Some(n),
            len: 2 + 20 * n,
        }
    }

    #[test]
    fn more_rows_for_the_true_form_is_injection() {
        assert!(boolean_injectable(
            rows(1),
            [rows(3), rows(3)],
            [rows(0), rows(0)]
        ));
    }

    #[test]
    fn equal_answers_or_inconsistent_ones_are_not() {
        assert!(!boolean_injectable(
            rows(0),
            [rows(0), rows(0)],
            [rows(0), rows(0)]
        ));
        assert!(
            !boolean_injectable(rows(1), [rows(3), rows(2)], [rows(0), rows(0)]),
            "unstable"
        );
        let error = Shape {
            status: 500,
            items: None,
            len: 80,
        };
        assert!(
            !boolean_injectable(rows(1), [error, error], [rows(0), rows(0)]),
            "an error is not more rows"
        );
        assert!(
            !boolean_injectable(rows(3), [rows(3), rows(3)], [rows(0), rows(0)]),
            "no more than the control"
        );
    }

    #[test]
    fn a_longer_body_counts_only_beyond_an_echo_of_the_payload() {
        let echo = |len| Shape {
            status: 201,
            items: None,
            len,
        };
        assert!(!boolean_injectable(
            echo(40),
            [echo(52), echo(52)],
            [echo(20), echo(20)]
        ));
        assert!(boolean_injectable(
            echo(40),
            [echo(400), echo(400)],
            [echo(20), echo(20)]
        ));
    }
}
