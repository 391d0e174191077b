//! "Did you mean …?" for names in specs.
//!
//! moat-config's [`did_you_mean`] counts a swapped pair of letters as two
//! edits, which for short names (`Pte` for `Pet`, `qurey` for `query`) is
//! over its threshold; those are the commonest typos, so they are accepted
//! here too, as are differences of case only.

use moat_config::diagnostic::did_you_mean;

/// The candidate `input` most likely is a typo of.
pub(crate) fn suggest<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
) -> Option<&'a str> {
    did_you_mean(input, candidates.clone()).or_else(|| {
        candidates
            .into_iter()
            .find(|c| c.eq_ignore_ascii_case(input) || is_transposition(input, c))
    })
}

/// True when `a` is `b` with two adjacent characters swapped.
fn is_transposition(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len() != b.len() {
        return false;
    }
    let diffs: Vec<usize> = (0..a.len()).filter(|&i| a.get(i) != b.get(i)).collect();
    match diffs.as_slice() {
        [i, j] => *j == i + 1 && a.get(*i) == b.get(*j) && a.get(*j) == b.get(*i),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos() {
        let names = ["Pet", "Pets", "Owner"];
        assert_eq!(suggest("Pte", names), Some("Pet"));
        assert_eq!(suggest("pets", names), Some("Pets"));
        assert_eq!(suggest("Onwer", names), Some("Owner"));
        assert_eq!(suggest("Ownerr", names), Some("Owner"));
        assert_eq!(suggest("Zebra", names), None);
        assert_eq!(
            suggest("qurey", ["path", "query", "header", "cookie"]),
            Some("query")
        );
    }
}
