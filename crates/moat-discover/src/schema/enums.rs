//! Enumerations: the few values a parameter or JSON string always takes,
//! and the only raw values a schema may keep.
//!
//! A value is kept only while it can still be part of an enumeration: a
//! short word (at most 24 of letters, digits, `-`, `_`, `.`, with a letter
//! and at most two digits, and no digits beside mixed case), under a name
//! that does not look like a credential. The
//! first value that is not such a word, or a ninth distinct value, drops
//! them all for good, so no more than [`MAX_VALUES`] short words are ever
//! held.

use std::collections::BTreeMap;

/// Distinct values an enumeration may have.
pub const MAX_VALUES: usize = 8;
/// Times each value must be seen.
pub const MIN_EACH: u64 = 2;
/// Observations needed before an enumeration is inferred.
pub const MIN_OBSERVATIONS: u64 = 10;
/// Longest value kept.
const MAX_LEN: usize = 24;

/// Fragments of names whose values are never kept (matched in lower case).
const SENSITIVE_NAMES: &[&str] = &[
    "pass",
    "pwd",
    "secret",
    "token",
    "auth",
    "key",
    "session",
    "cookie",
    "sig",
    "credential",
    "otp",
    "ssn",
    "card",
    "cvv",
    "iban",
    "account",
    "email",
    "phone",
    "jwt",
    "bearer",
    "nonce",
    "csrf",
    "xsrf",
];

/// Whether values under `name` (a parameter or property name) may be
/// secrets or personal data.
pub fn is_sensitive_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SENSITIVE_NAMES.iter().any(|s| lower.contains(s))
}

/// Counts the distinct values seen, while they may still be an
/// enumeration.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EnumTracker {
    /// `None` once an enumeration is ruled out.
    values: Option<BTreeMap<String, u64>>,
    observations: u64,
}

impl EnumTracker {
    /// A tracker; `sensitive` rules any enumeration out from the start.
    pub fn new(sensitive: bool) -> Self {
        EnumTracker {
            values: (!sensitive).then(BTreeMap::new),
            observations: 0,
        }
    }

    /// Rules an enumeration out for good (a value that is no word).
    pub fn rule_out(&mut self) {
        self.values = None;
    }

    /// Counts one value.
    pub fn observe(&mut self, value: &str) {
        self.observations += 1;
        let Some(values) = &mut self.values else {
            return;
        };
        if let Some(n) = values.get_mut(value) {
            *n += 1;
        } else if values.len() < MAX_VALUES && is_candidate(value) {
            values.insert(value.to_owned(), 1);
        } else {
            self.values = None;
        }
    }

    /// The enumeration, when the values are few and each came back: at
    /// most [`MAX_VALUES`], each seen [`MIN_EACH`] times, over
    /// [`MIN_OBSERVATIONS`] observations or more. Sorted.
    pub fn values(&self) -> Option<Vec<&str>> {
        let values = self.values.as_ref()?;
        let enough = self.observations >= MIN_OBSERVATIONS
            && !values.is_empty()
            && values.values().all(|n| *n >= MIN_EACH);
        enough.then(|| values.keys().map(String::as_str).collect())
    }
}

/// A short word that names a choice (`asc`, `desc`, `en-US`, `v2`), not an
/// identifier, a number, an address or a token.
fn is_candidate(value: &str) -> bool {
    let digits = value.bytes().filter(u8::is_ascii_digit).count();
    (1..=MAX_LEN).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && value.bytes().any(|b| b.is_ascii_alphabetic())
        && digits <= 2
        && !(digits > 0 && mixed_case(value))
}

/// Upper and lower case letters together: with digits, a token (`aB3xQ9`).
fn mixed_case(value: &str) -> bool {
    value.bytes().any(|b| b.is_ascii_uppercase()) && value.bytes().any(|b| b.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(values: &[&str]) -> EnumTracker {
        let mut t = EnumTracker::new(false);
        for v in values {
            t.observe(v);
        }
        t
    }

    #[test]
    fn few_repeated_words_are_an_enum() {
        let t = tracker(&[
            "asc", "desc", "asc", "desc", "asc", "asc", "desc", "asc", "desc", "asc",
        ]);
        assert_eq!(t.values(), Some(vec!["asc", "desc"]));
    }

    #[test]
    fn too_few_observations_or_a_single_sighting_is_not() {
        assert_eq!(tracker(&["asc", "desc", "asc", "desc"]).values(), None);
        let mut values = vec!["asc"; 10];
        values.push("desc");
        assert_eq!(tracker(&values).values(), None);
    }

    #[test]
    fn ids_emails_tokens_and_many_values_are_never_kept() {
        for odd in [
            "12345",
            "alice@example.com",
            "a1b2c3d4",
            "hello world",
            "x".repeat(30).as_str(),
        ] {
            let mut values = vec!["asc"; 10];
            values.push(odd);
            values.push(odd);
            let t = tracker(&values);
            assert_eq!(t.values(), None, "{odd}");
            assert!(t.values.is_none(), "{odd}");
        }
        let many: Vec<String> = (0..9).map(|i| format!("w{i}")).collect();
        let mut values: Vec<&str> = many.iter().map(String::as_str).collect();
        values.extend(many.iter().map(String::as_str));
        assert_eq!(tracker(&values).values(), None);
    }

    #[test]
    fn sensitive_names_keep_nothing() {
        assert!(is_sensitive_name("X-Api-Key"));
        assert!(is_sensitive_name("password"));
        assert!(!is_sensitive_name("sort"));
        let mut t = EnumTracker::new(true);
        for _ in 0..10 {
            t.observe("asc");
        }
        assert_eq!(t.values(), None);
    }
}
