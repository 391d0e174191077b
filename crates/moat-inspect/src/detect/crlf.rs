//! CRLF / header injection: a line break (decoded from `%0d%0a`, an HTML
//! entity, a `\r\n` escape, or the `嘊嘍` U+560A/U+560D trick that some
//! stacks truncate to LF/CR) followed by a header line or a status line,
//! a forged log line (log forging), or an SMTP or IMAP command.
//!
//! Values that are single-line by nature (path segments, query values and
//! names, headers, cookies) have no business holding a line break at all;
//! multi-line text (JSON strings, form fields, XML text, GraphQL
//! arguments) does, so there only `Set-Cookie` lines count at PL1 — when
//! the value reads as text. A JSON string or form field whose first line is
//! a single token (`"/home\r\nLocation: …"`, `"en\nX-Forwarded-Host: …"`,
//! or nothing before the break) is judged as a single-line value: it is a
//! redirect target or a code an attacker broke, not prose — unless that
//! token opens a block (`services:`, `Steps:`, `---`, `# heading`): YAML
//! and configuration pasted into a note are text. Blanks after the
//! break (obsolete header folding, `\r\n\tSet-Cookie:`) are skipped.
//!
//! | found | where | severity | paranoia |
//! |---|---|---|---|
//! | break + `Set-Cookie:`, `Location:` … (response-steering headers) | single-line | critical | 1 |
//! | break + any `Header-Name:` | single-line | critical | 1 |
//! | break + `HTTP/1.x` status line, or a blank line + `<html` | single-line | critical | 1 |
//! | a bare CR or LF | single-line | warning | 2 |
//! | break + `Set-Cookie:` | multi-line | critical | 1 |
//! | break + other response-steering header or status line | multi-line | warning | 3 |
//! | break + a forged log line (timestamp or upper-case level first) | single-line | critical | 1 |
//! | break + an SMTP command (`RCPT TO:`, `DATA`, a lone `.`) or a tagged IMAP command | single-line | critical | 1 |
//! | break + an SMTP or IMAP command | multi-line | warning | 3 |
//! | break + a log line (a pasted log excerpt) | multi-line | notice | 4 |
//!
//! A literal `\r\n` (backslash escapes, not decoded) counts as a break
//! only in single-line values, one severity step lower unless followed by
//! a response-steering header.

use super::traversal::text::{hit, is_prose, starts_with_ci, worse};
use super::{Context, Detector, DetectorKind, Hit};
use crate::normalize::{Normalized, has_any};
use crate::report::Severity;

/// The CrlfInjection detector.
pub struct CrlfInjection;

/// Headers whose injection steers the response or the session.
const DANGEROUS: &[&[u8]] = &[
    b"set-cookie",
    b"location",
    b"content-type",
    b"content-length",
    b"transfer-encoding",
    b"refresh",
    b"access-control-allow-origin",
    b"access-control-allow-credentials",
    b"x-xss-protection",
    b"content-security-policy",
    b"content-disposition",
    b"x-forwarded-for",
    b"x-forwarded-host",
    b"host",
    b"cookie",
    b"authorization",
    b"link",
    b"cache-control",
];

impl Detector for CrlfInjection {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Crlf
    }

    fn detect(&self, value: &Normalized<'_>, ctx: &Context<'_>) -> Option<Hit> {
        // A break is CR, LF, an escaped `\r`/`\n` or U+560A/U+560D.
        let breaks = |s: &str| has_any(s.as_bytes(), |c| matches!(c, b'\r' | b'\n' | b'\\' | 0xE5));
        let same = matches!(value.decoded, std::borrow::Cow::Borrowed(_));
        if !breaks(&value.decoded) && (same || !breaks(value.raw)) {
            return None;
        }
        let text_kind = is_prose(ctx.kind);
        let multi_line = text_kind && reads_as_text(value.decoded.as_bytes());
        let a = scan(value.decoded.as_bytes(), multi_line, text_kind);
        if a.is_some_and(|h| h.severity == Severity::Critical) {
            return a;
        }
        if same {
            return a;
        }
        worse(a, scan(value.raw.as_bytes(), multi_line, text_kind))
    }
}

/// Whether a value of a free-text kind reads as multi-line text: the
/// first line (up to the first break, decoded or escaped) has words
/// separated by blanks, or is long. A JSON string like `"/home\r\nLocation:
/// …"` or `"x\nX-Forwarded-Host: …"` (a redirect target, a language code)
/// is a single-line value that an attacker broke.
fn reads_as_text(s: &[u8]) -> bool {
    let first_break = s
        .windows(2)
        .position(|w| {
            matches!(w[0], b'\r' | b'\n') || (w[0] == b'\\' && matches!(w[1], b'r' | b'n'))
        })
        .or_else(|| {
            s.last()
                .is_some_and(|&c| c == b'\r' || c == b'\n')
                .then(|| s.len() - 1)
        });
    let Some(p) = first_break else {
        return true;
    };
    let line = &s[..p];
    // A first line that opens a block (`services:`, `Steps:`, a YAML
    // document marker `---`, a `#` comment or heading) starts a document
    // or a list: the value is text, not a broken single token.
    let opens_block = line.len() > 1
        && (line.ends_with(b":") || line.starts_with(b"---") || line.starts_with(b"#"));
    opens_block || line.len() > 64 || line.iter().any(|&c| c == b' ' || c == b'\t')
}

/// What follows a line break.
#[derive(PartialEq, Eq)]
enum After {
    /// A response-steering header.
    Dangerous,
    /// Any other `Name:` header line.
    Header,
    /// `HTTP/1.1 200` or a blank line and markup.
    Response,
    /// A forged log line: a timestamp (`2026-12-05 10:22:01`,
    /// `[05/Dec/2026:…`, `10:22:01`) or an upper-case level (`INFO`,
    /// `ERROR`…) at its start.
    LogLine,
    /// An SMTP command (`RCPT TO:`, `MAIL FROM:`, `DATA`, a lone `.`) or
    /// a tagged IMAP command (`A002 DELETE INBOX`).
    MailCommand,
    /// Anything else.
    Other,
}

/// `text_kind`: a kind where line breaks are normal (a bare break is then
/// no hit even when the value is judged as single-line).
fn scan(s: &[u8], multi_line: bool, text_kind: bool) -> Option<Hit> {
    let mut found = None;
    let mut i = 0;
    while i < s.len() {
        // A break: CR, LF, a literal `\r`/`\n`, or U+560A/U+560D
        // (E5 98 8A / E5 98 8D).
        let (len, escaped) = match s[i] {
            b'\r' | b'\n' => (1, false),
            b'\\' if matches!(s.get(i + 1), Some(b'r' | b'n')) => (2, true),
            0xE5 if s.get(i + 1) == Some(&0x98) && matches!(s.get(i + 2), Some(0x8A | 0x8D)) => {
                (3, false)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        if escaped && multi_line {
            i += len;
            continue;
        }
        // Skip the rest of the break (CRLF, several breaks).
        let mut j = i + len;
        let mut blank = false;
        let mut breaks = 1;
        loop {
            match s.get(j) {
                Some(b'\r' | b'\n') => {
                    j += 1;
                    breaks += 1;
                }
                Some(b'\\') if matches!(s.get(j + 1), Some(b'r' | b'n')) => {
                    j += 2;
                    breaks += 1;
                }
                Some(0xE5)
                    if s.get(j + 1) == Some(&0x98) && matches!(s.get(j + 2), Some(0x8A | 0x8D)) =>
                {
                    j += 3;
                    breaks += 1;
                }
                _ => break,
            }
        }
        if breaks >= 3 {
            blank = true;
        }
        let after = classify(s, j, blank);
        let verdict = match (multi_line, &after) {
            (false, After::Dangerous | After::Header | After::Response) => {
                if escaped && after != After::Dangerous {
                    Some(hit(Severity::Error, 1, "escaped line break + header"))
                } else {
                    Some(hit(Severity::Critical, 1, "CRLF header injection"))
                }
            }
            (false, After::LogLine) if !escaped => {
                Some(hit(Severity::Critical, 1, "CRLF log forging"))
            }
            (false, After::MailCommand) if !escaped => {
                Some(hit(Severity::Critical, 1, "CRLF mail command injection"))
            }
            (false, After::LogLine | After::MailCommand) => Some(hit(
                Severity::Warning,
                2,
                "escaped line break + forged line",
            )),
            (false, After::Other) if escaped || text_kind => None,
            (false, After::Other) => Some(hit(
                Severity::Warning,
                2,
                "line break in a single-line value",
            )),
            (true, After::Dangerous) if starts_with_ci(s, j, b"set-cookie") => {
                Some(hit(Severity::Critical, 1, "CRLF Set-Cookie injection"))
            }
            (true, After::Dangerous | After::Response) => {
                Some(hit(Severity::Warning, 3, "header line in text"))
            }
            (true, After::MailCommand) => Some(hit(Severity::Warning, 3, "mail command in text")),
            // Log excerpts are common in tickets.
            (true, After::LogLine) => Some(hit(Severity::Notice, 4, "log line in text")),
            (true, _) => None,
        };
        if verdict.is_some_and(|h| h.severity == Severity::Critical) {
            return verdict;
        }
        found = worse(found, verdict);
        i = j.max(i + 1);
    }
    found
}

fn classify(s: &[u8], at: usize, blank: bool) -> After {
    // Obsolete line folding: `\r\n\tSet-Cookie:` still starts a header
    // for lenient parsers.
    let mut at = at;
    while at < s.len() && (s[at] == b' ' || s[at] == b'\t') {
        at += 1;
    }
    if starts_with_ci(s, at, b"http/1.") || starts_with_ci(s, at, b"http/2 ") {
        return After::Response;
    }
    if blank && s.get(at) == Some(&b'<') {
        return After::Response;
    }
    if log_line(&s[at..]) {
        return After::LogLine;
    }
    if mail_command(&s[at..]) {
        return After::MailCommand;
    }
    // `Name:` — a header token, then a colon.
    let mut i = at;
    while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'-' || s[i] == b'_') {
        i += 1;
    }
    if i == at || i - at > 64 || s.get(i) != Some(&b':') {
        return After::Other;
    }
    let name = &s[at..i];
    if DANGEROUS.iter().any(|d| name.eq_ignore_ascii_case(d)) {
        After::Dangerous
    } else {
        After::Header
    }
}

/// Whether `line` starts like a log record: a date (`2026-12-05`,
/// `05/Dec/2026`), a time (`10:22:01`), either in brackets, or an
/// upper-case level word followed by a blank, `:` or `]`.
fn log_line(line: &[u8]) -> bool {
    let l = line.strip_prefix(b"[").unwrap_or(line);
    let digits = |s: &[u8], n: usize| s.len() >= n && s[..n].iter().all(u8::is_ascii_digit);
    let iso_date = digits(l, 4)
        && l.get(4) == Some(&b'-')
        && digits(&l[5..], 2)
        && l.get(7) == Some(&b'-')
        && digits(&l[8..], 2);
    let clf_date = digits(l, 2)
        && l.get(2) == Some(&b'/')
        && l.len() > 10
        && l[3..6].iter().all(u8::is_ascii_alphabetic)
        && l.get(6) == Some(&b'/')
        && digits(&l[7..], 4);
    let time = digits(l, 2)
        && l.get(2) == Some(&b':')
        && digits(&l[3..], 2)
        && l.get(5) == Some(&b':')
        && digits(&l[6..], 2);
    if iso_date || clf_date || time {
        return true;
    }
    const LEVELS: &[&[u8]] = &[
        b"TRACE",
        b"DEBUG",
        b"INFO",
        b"NOTICE",
        b"WARN",
        b"WARNING",
        b"ERROR",
        b"SEVERE",
        b"CRITICAL",
        b"FATAL",
        b"ALERT",
        b"EMERG",
    ];
    LEVELS
        .iter()
        .any(|lv| l.starts_with(lv) && matches!(l.get(lv.len()), Some(b' ' | b'\t' | b':' | b']')))
}

/// Whether `line` starts with an SMTP command or a tagged IMAP command.
fn mail_command(line: &[u8]) -> bool {
    let end = line
        .iter()
        .position(|&c| c == b'\r' || c == b'\n')
        .unwrap_or(line.len());
    let l = &line[..end];
    const SMTP_ARGS: &[&[u8]] = &[b"mail from:", b"rcpt to:", b"helo ", b"ehlo "];
    const SMTP_ALONE: &[&[u8]] = &[b".", b"data", b"quit", b"rset"];
    if SMTP_ARGS.iter().any(|c| starts_with_ci(l, 0, c))
        || SMTP_ALONE
            .iter()
            .any(|c| l.trim_ascii_end().eq_ignore_ascii_case(c))
    {
        return true;
    }
    // IMAP: a tag (letters and digits, with a digit), a blank, a command.
    let tag = l.iter().take_while(|c| c.is_ascii_alphanumeric()).count();
    if tag == 0 || tag > 8 || !l[..tag].iter().any(u8::is_ascii_digit) || l.get(tag) != Some(&b' ')
    {
        return false;
    }
    const IMAP: &[&[u8]] = &[
        b"login ",
        b"logout",
        b"select ",
        b"examine ",
        b"create ",
        b"delete ",
        b"rename ",
        b"fetch ",
        b"store ",
        b"copy ",
        b"uid ",
        b"search ",
        b"append ",
        b"list ",
        b"expunge",
        b"authenticate ",
        b"status ",
        b"subscribe ",
    ];
    IMAP.iter().any(|c| starts_with_ci(l, tag + 1, c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ValueKind;

    fn check(v: &str, kind: ValueKind) -> Option<Hit> {
        crate::detect::run(&CrlfInjection, v, kind)
    }

    fn critical(v: &str, kind: ValueKind) -> bool {
        check(v, kind).is_some_and(|h| h.severity == Severity::Critical && h.paranoia == 1)
    }

    #[test]
    fn single_line_values() {
        for v in [
            "en\r\nSet-Cookie: session=evil",
            "x\nLocation: http://evil",
            "/home\r\nX-Injected: 1",
            "a\r\n\r\nHTTP/1.1 200 OK",
            "a\r\n\r\n<html><script>alert(1)</script>",
            "lang\rContent-Length: 0",
            "foo\\r\\nSet-Cookie: a=b",
            "x\u{560a}\u{560d}Set-Cookie: a=1",
        ] {
            for kind in [
                ValueKind::Query,
                ValueKind::Path,
                ValueKind::Header,
                ValueKind::Cookie,
            ] {
                assert!(critical(v, kind), "{v:?} {kind:?}: {:?}", check(v, kind));
            }
        }
        assert_eq!(
            check("a\nb", ValueKind::Query).map(|h| (h.severity, h.paranoia)),
            Some((Severity::Warning, 2))
        );
    }

    #[test]
    fn encoded() {
        for v in [
            "en%0d%0aSet-Cookie:%20a=b",
            "x%250d%250aLocation:%20/evil",
            "x&#13;&#10;Set-Cookie: a=b",
        ] {
            assert!(
                critical(v, ValueKind::Query),
                "{v}: {:?}",
                check(v, ValueKind::Query)
            );
        }
    }

    #[test]
    fn broken_single_line_text_fields() {
        for v in [
            "/home\r\nLocation: https://evil.example",
            "ok\r\n\r\n<html><body>fake page</body></html>",
            "x\nX-Forwarded-Host: evil.example",
            "\r\nHTTP/1.1 302 Found\r\nLocation: https://evil.example/",
            "subject\r\nBcc: victim@example.com",
            "hello\r\nContent-Type: text/html",
            "val\\r\\nSet-Cookie: esc=1",
            "%0d%0aLocation:%20https://evil.example/",
            "%0d%0a%09Set-Cookie:%20folded=1",
            "en\r\n\tSet-Cookie: folded=1",
        ] {
            assert!(
                critical(v, ValueKind::JsonString),
                "{v:?}: {:?}",
                check(v, ValueKind::JsonString)
            );
            assert!(critical(v, ValueKind::FormField), "{v:?}");
        }
    }

    #[test]
    fn multi_line_text() {
        assert!(critical("hi\r\nSet-Cookie: x=1", ValueKind::JsonString));
        assert_eq!(
            check("Hi there\nLocation: Berlin", ValueKind::JsonString).map(|h| h.paranoia),
            Some(3)
        );
        for v in [
            "Dear team,\nNote: the meeting moved.\nRegards",
            "Line one\r\nLine two\r\n",
            "Steps:\n1. open\n2. close",
            "Escaped \\n newlines: fine",
            "Subject: hello\nFrom: me",
            "これは\nテストです: はい",
        ] {
            assert!(check(v, ValueKind::JsonString).is_none(), "{v:?}");
            assert!(check(v, ValueKind::FormField).is_none(), "{v:?}");
        }
    }

    #[test]
    fn benign_single_line() {
        for v in [
            "hello world",
            "C:\\new\\folder",
            "a:b:c",
            "Mozilla/5.0 (X11; Linux x86_64)",
            "https://example.com/a?b=c",
            "\\nothing",
        ] {
            assert!(
                check(v, ValueKind::Query).is_none(),
                "{v:?}: {:?}",
                check(v, ValueKind::Query)
            );
        }
    }

    #[test]
    fn yaml_blocks_are_text() {
        for v in [
            "services:\r\n  web:\r\n    image: nginx:1.25\r\nlocation: eu-west-1\r\n",
            "server:\n  host: 0.0.0.0\ncontent-type: application/json\n",
            "Steps:\n$ curl -i https://api.example.com/\nHTTP/1.1 200 OK\ncontent-type: application/json",
            "---\nhost: api.example.com\n",
        ] {
            let h = check(v, ValueKind::JsonString);
            assert!(h.is_none_or(|h| h.paranoia >= 2), "{v:?}: {h:?}");
        }
        // A single token broken by a header is still an injection.
        assert!(critical(
            "/home\r\nLocation: https://evil.example/",
            ValueKind::JsonString
        ));
        assert!(critical("en\r\nSet-Cookie: sid=x", ValueKind::FormField));
    }

    #[test]
    fn forged_log_lines_and_mail_commands() {
        for (v, kind) in [
            (
                "bob\n2026-12-05 10:22:01 INFO User admin logged in",
                ValueKind::JsonString,
            ),
            (
                "shoes\n[2026-12-05T10:22:01Z] INFO payment approved",
                ValueKind::Query,
            ),
            (
                "mallory\r\nERROR Database connection lost",
                ValueKind::FormField,
            ),
            (
                "alice@example.com\r\nRCPT TO:<x@evil.example>",
                ValueKind::JsonString,
            ),
            (
                "Invoice\r\n.\r\nMAIL FROM:<ceo@example.com>",
                ValueKind::JsonString,
            ),
            ("INBOX\r\nA002 DELETE INBOX", ValueKind::Query),
        ] {
            assert!(critical(v, kind), "{v:?}: {:?}", check(v, kind));
        }
        // A log excerpt pasted into a ticket is text.
        let ticket =
            "The export failed last night, log below:\n2026-12-05 02:00:01 ERROR timeout\n";
        assert!(check(ticket, ValueKind::JsonString).is_none_or(|h| h.paranoia >= 2));
        // Data is not DATA on its own line.
        assert!(check("Summary\nData export failed", ValueKind::JsonString).is_none());
    }
}
