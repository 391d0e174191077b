//! Injection shapes the fingerprints do not see, read directly on the
//! folded text (lower case, blanks folded, SQL comments removed):
//!
//! | shape | example | verdict |
//! |---|---|---|
//! | a statement whose `where` holds a literal tautology | `select … from users where id = 1 or 1=1; --` | critical |
//! | a quote breakout into `\|\|` concatenation with a call | `name'\|\|substr(password,5,1)\|\|'` | critical |
//! | a JSON function compared in a boolean chain after a value | `1 and json_length(json_array(1,2))=2` | critical |
//!
//! Each search looks at a bounded window after its anchor, so the whole is
//! linear in the value's length.

use memchr::memmem;

use super::super::traversal::text::hit;
use super::Hit;
use crate::report::Severity;

/// Bytes looked at after an anchor.
const WINDOW: usize = 256;

/// The first shape found, if any (`s` is the folded view).
pub(super) fn find(s: &[u8]) -> Option<Hit> {
    // Every shape holds `=`, `|` or a comparison after a call: most values
    // have none of these bytes and stop here.
    let eq = memchr::memchr(b'=', s).is_some();
    let bar = memchr::memchr(b'|', s).is_some();
    if !eq && !bar && memchr::memchr2(b'<', b'>', s).is_none() {
        return None;
    }
    if eq && statement_tautology(s) {
        return Some(hit(Severity::Critical, 1, "sql statement with a tautology"));
    }
    if bar && concatenation_breakout(s) {
        return Some(hit(Severity::Critical, 1, "sql concatenation breakout"));
    }
    if json_function_condition(s) {
        return Some(hit(
            Severity::Critical,
            1,
            "sql json function in a condition",
        ));
    }
    None
}

fn window(s: &[u8], from: usize) -> &[u8] {
    &s[from.min(s.len())..s.len().min(from.saturating_add(WINDOW))]
}

fn skip_blanks(s: &[u8], mut i: usize) -> usize {
    while s.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

/// `select … from … where … or <x> = <x>` (also `update … where`,
/// `delete from … where`).
fn statement_tautology(s: &[u8]) -> bool {
    let Some(select) = [&b"select "[..], b"update ", b"delete from "]
        .iter()
        .filter_map(|k| memmem::find(s, k))
        .min()
    else {
        return false;
    };
    let Some(w) = memmem::find(window(s, select), b" where ") else {
        return false;
    };
    let clause = window(s, select + w + 7);
    memmem::find_iter(clause, b"or ").any(|p| {
        (p == 0 || !clause[p - 1].is_ascii_alphanumeric()) && literal_tautology(clause, p + 3)
    })
}

/// `<literal> = <literal>`, the same literal twice, at `i`.
fn literal_tautology(s: &[u8], i: usize) -> bool {
    let i = skip_blanks(s, i);
    let Some((a, end)) = literal(s, i) else {
        return false;
    };
    let j = skip_blanks(s, end);
    if s.get(j) != Some(&b'=') {
        return false;
    }
    let k = skip_blanks(s, j + 1);
    literal(s, k).is_some_and(|(b, _)| a == b)
}

/// A number or a quoted string at `i`: its bytes and where it ends.
fn literal(s: &[u8], i: usize) -> Option<(&[u8], usize)> {
    match s.get(i)? {
        q @ (b'\'' | b'"') => {
            let close = s[i + 1..].iter().take(64).position(|c| c == q)?;
            Some((&s[i + 1..i + 1 + close], i + close + 2))
        }
        c if c.is_ascii_digit() => {
            let n = s[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            let end = i + n;
            // `1=1` must not be `1=12` or `1a`.
            (!s.get(end).is_some_and(u8::is_ascii_alphanumeric)).then_some((&s[i..end], end))
        }
        _ => None,
    }
}

/// `'||name(` … `)||'`: out of a string, a function call concatenated
/// into the string the query builds.
fn concatenation_breakout(s: &[u8]) -> bool {
    memmem::find_iter(s, b"||").any(|p| {
        let before = s[..p].trim_ascii_end();
        if !before.last().is_some_and(|&c| c == b'\'' || c == b'"') {
            return false;
        }
        let i = skip_blanks(s, p + 2);
        let name = s[i..]
            .iter()
            .take(32)
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
            .count();
        let call = s.get(skip_blanks(s, i + name)) == Some(&b'(');
        call && memmem::find_iter(window(s, i + name), b"||").any(|q| {
            let after = skip_blanks(s, i + name + q + 2);
            matches!(s.get(after), Some(b'\'' | b'"'))
        })
    })
}

/// `<value> and|or json_…(…) <comparison>`: a JSON function used as a
/// condition right after the value the query expected.
fn json_function_condition(s: &[u8]) -> bool {
    memmem::find_iter(s, b"json").any(|p| {
        let name = s[p..]
            .iter()
            .take(32)
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
            .count();
        if name <= 4 || s.get(p + name) != Some(&b'(') {
            return false;
        }
        // The operator before it, and a value before the operator.
        let before = s[..p].trim_ascii_end();
        let op = [&b"and"[..], b"or", b"&&", b"||"]
            .iter()
            .find(|op| before.ends_with(op))
            .map(|op| op.len());
        let Some(op) = op else { return false };
        let rest = &before[..before.len() - op];
        // `and`/`or` must be words (`brand`, `for` are not).
        let word_op = before[before.len() - op].is_ascii_alphabetic();
        if word_op && rest.last().is_some_and(u8::is_ascii_alphanumeric) {
            return false;
        }
        let head = rest.trim_ascii_end();
        let anchored = head
            .last()
            .is_some_and(|&c| c.is_ascii_digit() || c == b'\'' || c == b'"' || c == b')');
        if !anchored {
            return false;
        }
        // The call's closing parenthesis, then a comparison.
        let mut depth = 0usize;
        let w = window(s, p + name);
        for (k, &c) in w.iter().enumerate() {
            match c {
                b'(' => depth += 1,
                b')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        let after = skip_blanks(w, k + 1);
                        return matches!(w.get(after), Some(b'=' | b'<' | b'>' | b'!'))
                            || w[after..].starts_with(b"like ")
                            || w[after..].starts_with(b"is ");
                    }
                }
                _ => {}
            }
        }
        false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(v: &str) -> bool {
        find(crate::normalize::normalize(v).folded.as_bytes()).is_some()
    }

    #[test]
    fn shapes() {
        for v in [
            "SELECT username, password FROM users WHERE id = 1 OR 1=1; --",
            "select * from accounts where name = '' or ''='' --",
            "admin'||substr(password,5,1)||'",
            "x' || (select version()) || '",
            "1 AND JSON_EXTRACT('{\"a\":1}','$.a')=1",
            "1' and json_length(json_array(1,2))=2 -- -",
        ] {
            assert!(found(v), "{v}");
        }
        for v in [
            "SELECT email, count(*) FROM users GROUP BY email HAVING count(*) > 1;",
            "select the plan where you pay less or 12=1 dozen",
            "the || operator concatenates 'a' || 'b' in postgres",
            "we store settings as json and json_extract(col, '$.a') reads them",
            "Tom and Jerry",
        ] {
            assert!(!found(v), "{v}");
        }
    }
}
