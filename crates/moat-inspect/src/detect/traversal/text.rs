//! Small byte-level helpers shared by the detectors of this family
//! (command injection, traversal, SSRF, template, LDAP, CRLF, JNDI, XXE):
//! ASCII case-insensitive search (memchr finds the candidates) and a few
//! classifications. Everything is linear in the haystack times the (short,
//! constant) needle.

use crate::report::ValueKind;
use crate::{Hints, detect::Context, detect::Hit, report::Severity};

/// Whether `hay[at..]` starts with `needle` (given in lower case), ignoring
/// ASCII case.
pub(in crate::detect) fn starts_with_ci(hay: &[u8], at: usize, needle: &[u8]) -> bool {
    hay.len() >= at + needle.len()
        && hay[at..at + needle.len()]
            .iter()
            .zip(needle)
            .all(|(a, b)| a.to_ascii_lowercase() == *b)
}

/// Where a case-insensitive search for `needle` (lower case) in `hay`
/// jumps with memchr: the needle's rarest byte (either case) and its
/// offset in the needle, so that a needle like `this.` stops at each `.`
/// rather than at each `t` of ordinary text. `None` when nothing can
/// match: an empty needle, one longer than `hay`, or an upper-case one
/// (the haystack is compared lower-cased).
fn anchor(hay: &[u8], needle: &[u8]) -> Option<(usize, u8, u8)> {
    if needle.iter().any(u8::is_ascii_uppercase) || hay.len() < needle.len() {
        return None;
    }
    let (off, &lower) = needle
        .iter()
        .enumerate()
        .min_by_key(|&(_, &b)| crate::detect::needles::commonness(b))?;
    Some((off, lower, lower.to_ascii_uppercase()))
}

/// The first position at or after `from` where `needle` (lower case)
/// occurs, ignoring ASCII case.
pub(in crate::detect) fn find_ci(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let (off, lower, upper) = anchor(hay, needle)?;
    let last = hay.len() - needle.len();
    let mut start = from;
    while start <= last {
        let window = &hay[start + off..=last + off];
        let at = start
            + if upper == lower {
                memchr::memchr(lower, window)?
            } else {
                memchr::memchr2(lower, upper, window)?
            };
        if starts_with_ci(hay, at, needle) {
            return Some(at);
        }
        start = at + 1;
    }
    None
}

/// The last position where `needle` (lower case) occurs in `hay`,
/// ignoring ASCII case.
pub(in crate::detect) fn rfind_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (off, lower, upper) = anchor(hay, needle)?;
    // Candidates for the start of the match are `0..=end`.
    let mut end = hay.len() - needle.len();
    loop {
        let window = &hay[off..=end + off];
        let at = if upper == lower {
            memchr::memrchr(lower, window)?
        } else {
            memchr::memrchr2(lower, upper, window)?
        };
        if starts_with_ci(hay, at, needle) {
            return Some(at);
        }
        end = at.checked_sub(1)?;
    }
}

/// Whether `needle` (lower case) occurs in `hay`, ignoring ASCII case.
pub(in crate::detect) fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    find_ci(hay, needle, 0).is_some()
}

/// Whether values of this kind may hold free, multi-line text (prose,
/// code snippets, markdown), where shell- or path-like fragments are
/// weaker signals than in a query parameter or a header.
pub(in crate::detect) fn is_prose(kind: ValueKind) -> bool {
    matches!(
        kind,
        ValueKind::JsonString
            | ValueKind::FormField
            | ValueKind::XmlText
            | ValueKind::GraphqlArgument
    )
}

/// Whether the schema's `maxLength` says the field is short (cannot hold
/// prose).
pub(in crate::detect) fn is_short(hints: &Hints) -> bool {
    hints.max_length.is_some_and(|m| m <= 64)
}

/// Whether a value in this context should be weighed as free text.
pub(in crate::detect) fn prose_context(ctx: &Context<'_>) -> bool {
    is_prose(ctx.kind) && !is_short(ctx.hints)
}

/// An identifier byte (`[A-Za-z0-9_]`).
pub(in crate::detect) fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// A hit.
pub(in crate::detect) const fn hit(severity: Severity, paranoia: u8, reason: &'static str) -> Hit {
    Hit {
        severity,
        paranoia,
        reason,
    }
}

/// The more serious of two verdicts: higher severity, then lower paranoia.
pub(in crate::detect) fn worse(a: Option<Hit>, b: Option<Hit>) -> Option<Hit> {
    match (a, b) {
        (Some(x), Some(y)) => {
            if (y.severity, std::cmp::Reverse(y.paranoia))
                > (x.severity, std::cmp::Reverse(x.paranoia))
            {
                Some(y)
            } else {
                Some(x)
            }
        }
        (x, None) => x,
        (None, y) => y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adversarial values for every detector of this family: each must
    /// stay fast (linear) on the largest value the normaliser keeps.
    #[test]
    fn adversarial_values_stay_fast() {
        use crate::detect::Detector;
        use crate::normalize::normalize;
        let detectors: Vec<Box<dyn Detector>> = crate::detect::all();
        let n = 60_000;
        let inputs: Vec<String> = [
            ";",
            "; cat food ",
            "|",
            "| id |\n",
            "&&",
            "${",
            "${${",
            "{{",
            "{{7*",
            "${{<%",
            "<!ENTITY ",
            "<!DOCTYPE ",
            ")(",
            ")(a=",
            "\r\n",
            "\\r\\n",
            "../",
            "....//",
            "%2e%2e%2f",
            "://",
            "http://",
            "a://b@",
            "this.",
            "'||",
            ";return true;",
            "db.",
            "$ne",
            "[$ne]",
            "`",
            "$(",
            "${IFS}",
            "c'a't ",
            "{{#with ",
            "#set($",
            "__class__",
            "/etc/passwd",
            " ",
            "a",
            "\u{FFFD}",
            "①",
            "](javascript:x ",
            "[x](javascript:alert(1) ",
            "{\"$ne\":",
            "db.a.find({$ne:",
            "x'||f(",
            "1 and json_a(",
            "select a from b where ",
            "<!--#",
            "['a'+",
            "\n2026-12-05 ",
            "\nA1 LOGIN ",
            "(|(a=*)",
        ]
        .iter()
        .map(|p| p.repeat(n / p.len().max(1)))
        .collect();
        let hints = Hints::default();
        let mut slow = Vec::new();
        for kind in [
            ValueKind::Query,
            ValueKind::JsonString,
            ValueKind::ParamName,
        ] {
            let ctx = Context {
                kind,
                hints: &hints,
                paranoia: 1,
            };
            for input in &inputs {
                let views = normalize(input);
                for d in &detectors {
                    let t = std::time::Instant::now();
                    let _ = d.detect(&views, &ctx);
                    let took = t.elapsed();
                    if took > std::time::Duration::from_millis(300) {
                        slow.push(format!(
                            "{:?} on {:?}… ({kind:?}) took {took:?}",
                            d.kind(),
                            &input.chars().take(12).collect::<String>()
                        ));
                    }
                }
            }
        }
        assert!(slow.is_empty(), "{slow:#?}");
    }

    /// Hard negatives for the whole family: no hit that counts at
    /// paranoia 1, in any kind of value.
    #[test]
    fn hard_negatives_across_detectors() {
        use crate::detect::Detector;
        use crate::normalize::normalize;
        let detectors: Vec<Box<dyn Detector>> = crate::detect::all();
        let values = [
            "O'Brien",
            "Zoë Saldaña-Pérez",
            "José María Aznar López",
            "Dr. Jane Smith, Ph.D.",
            "It's a great product; I'd buy it again & recommend it to friends!",
            "Q: how do I reset my password? A: click 'forgot password' | then check mail",
            "# Title\n\n- item one\n- item two\n\n| col | type |\n|-----|------|\n| id | int |",
            "```bash\nnpm install && npm run build\n```",
            "for (let i = 0; i < n; i++) { total += a[i] * 2; }",
            "SELECT is a keyword; so is FROM",
            "if (a && b || c) { return x; }",
            "https://example.com/path/to/page?x=1&y=2#frag",
            "https://cdn.example.com/img/../assets/logo.png",
            "mailto:someone@example.com?subject=Hi",
            "Ünïcödé テキスト 中文 العربية עברית русский",
            "これは日本語の文章です。よろしくお願いします。",
            "Привет, как дела? Всё хорошо; спасибо!",
            "aGVsbG8gd29ybGQgdGhpcyBpcyBiYXNlNjQ=",
            "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl",
            "$19.99",
            "Total: $1,234.56 (incl. 20% VAT)",
            "€5 | £4 | ¥600",
            "2 * (3 + 4) = 14; 10 / 2 = 5",
            "x^2 + y^2 = r^2",
            "1..10",
            "v2.3.1..v2.4.0",
            "a < b && c > d",
            "I <3 cats :) (and dogs)",
            "Meeting 10:30-11:00 (room 4); bring laptop",
            "C:\\Users\\Public\\Documents\\report.docx",
            "/home/user/projects/app/src/main.rs",
            "./configure --prefix=/usr/local",
            "192.0.2.10",
            "2001:db8::ff00:42:8329",
            "550e8400-e29b-41d4-a716-446655440000",
            "+1 (555) 010-9999",
            "#hashtag @mention",
            "Hello {name}, your order {order_id} shipped",
            "Rock & Roll | Jazz | Blues",
            "see section (a)(1) and (b)(2)",
            "ping me when you're back; cat pics attached",
            "The find command and the type command are useful",
            "user@example.com",
            "ftp.example.com",
            "SGVsbG8sIFdvcmxkIQ==",
            "Set the value; then cat the results into a file (later)",
        ];
        let hints = Hints::default();
        for kind in [
            ValueKind::Query,
            ValueKind::JsonString,
            ValueKind::FormField,
            ValueKind::Header,
            ValueKind::Cookie,
        ] {
            let ctx = Context {
                kind,
                hints: &hints,
                paranoia: 1,
            };
            for v in values {
                let views = normalize(v);
                for d in &detectors {
                    let h = d.detect(&views, &ctx);
                    assert!(
                        h.is_none_or(|h| h.paranoia > 1 || h.severity < Severity::Error),
                        "{:?} on {v:?} ({kind:?}): {h:?}",
                        d.kind()
                    );
                }
            }
        }
    }

    /// Random values built from the characters the scanners care about
    /// (and multi-byte ones): no panic, whatever the kind.
    #[test]
    fn random_values_do_not_panic() {
        use crate::detect::Detector;
        use crate::normalize::normalize;
        let detectors: Vec<Box<dyn Detector>> = crate::detect::all();
        let pieces = [
            "$", "{", "}", "(", ")", "[", "]", "<", ">", "%", "!", "&", "|", ";", "`", "'", "\"",
            "\\", "/", ".", ":", "@", "#", "*", "?", "=", "-", "\r", "\n", " ", "\t", "\0", "a",
            "Z", "0", "7", "x", "jndi", "ENTITY", "etc", "passwd", "cat", "id", "http", "0x", "::",
            "ffff", "%2e", "%c0", "%u002e", "é", "①", "\u{FFFD}", "\u{560A}", "日本", "ﬀ", "${",
            "{{", "<%", "..", "://", "$ne", "this.", "db.", "IFS", "127", "169.254",
        ];
        let hints = Hints::default();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let len = (next() % 40) as usize;
            let v: String = (0..len)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            let views = normalize(&v);
            for kind in [
                ValueKind::Path,
                ValueKind::Query,
                ValueKind::ParamName,
                ValueKind::JsonKey,
                ValueKind::JsonString,
                ValueKind::Header,
            ] {
                let ctx = Context {
                    kind,
                    hints: &hints,
                    paranoia: 1,
                };
                for d in &detectors {
                    let _ = d.detect(&views, &ctx);
                }
            }
        }
    }

    #[test]
    fn case_insensitive_search() {
        assert_eq!(find_ci(b"abcDEF", b"def", 0), Some(3));
        assert_eq!(find_ci(b"abc", b"abcd", 0), None);
        assert!(starts_with_ci(b"XjNdI:", 1, b"jndi:"));
        assert!(!contains_ci(b"", b"a"));
    }

    #[test]
    fn find_ci_agrees_with_a_plain_scan() {
        fn plain(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
            (from..=hay.len().checked_sub(needle.len())?)
                .find(|&i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
        }
        fn plain_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
            (0..=hay.len().checked_sub(needle.len())?)
                .rev()
                .find(|&i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
        }
        let hays: [&[u8]; 8] = [
            b"",
            b"This is THIS. this.x and tHiS.y",
            b"../..\\..%2f ../etc/passwd",
            b"${jndi:ldap://x} ${JNDI:",
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
            b"\xff\x00t\x80T",
            b"';RETURN true; var x = this.a; return 1; Var y='",
            b"db.users.drop(); DB.x; () { :; }; .",
        ];
        let needles: [&[u8]; 12] = [
            b"this.", b"..", b"${jndi:", b"ab", b"t", b"/", b"var ", b"return", b"db.", b"() {",
            b"", b"THIS",
        ];
        for hay in hays {
            for needle in needles {
                // An empty or upper-case needle matches nothing.
                let usable = !needle.is_empty() && !needle.iter().any(u8::is_ascii_uppercase);
                for from in 0..hay.len() + 2 {
                    let want = plain(hay, needle, from).filter(|_| usable);
                    assert_eq!(
                        find_ci(hay, needle, from),
                        want,
                        "{hay:?} {needle:?} {from}"
                    );
                }
                let want = plain_last(hay, needle).filter(|_| usable);
                assert_eq!(rfind_ci(hay, needle), want, "{hay:?} {needle:?}");
            }
        }
    }
}
