//! Server-side request forgery: URL-like values that point inside.
//!
//! Only values that parse as a URL (`scheme:` + authority) or as a bare
//! `host[:port][/path]` count, plus URLs embedded in other values (a URL
//! in a redirect parameter of another URL, a URL in text). The small parser
//! here mirrors the lenient parsers the fetchers use: backslashes and
//! missing slashes after the scheme are accepted, `user@host` userinfo is
//! skipped, and when parsers disagree about the host
//! (`http://a@127.0.0.1#@b`, `http://127.0.0.1\@b`) every candidate host is
//! judged. Hosts are classified in [`host`]: IPv4 in every `inet_aton`
//! form (decimal `2130706433`, hex `0x7f.1`, octal `0177.0.0.1`, short
//! `127.1`), IPv6 with embedded IPv4 (`[::ffff:7f00:1]`), loopback and
//! metadata names, and DNS-rebinding names (`127.0.0.1.nip.io`).
//!
//! Names are not resolved: this crate is pure. A name that resolves to an
//! internal address (`internal.example.com → 10.0.0.5`) is not found here;
//! the gateway may resolve the hosts of URL-typed values and re-check them.
//!
//! | found | severity | paranoia |
//! |---|---|---|
//! | URL to metadata, loopback, link-local or a private range | critical | 1 |
//! | URL with an obfuscated internal address | critical | 1 |
//! | `gopher:`, `dict:`, `file:`, `ldap:`, `tftp:`, `jar:`, `netdoc:`… URL | critical | 1 |
//! | URL with an obfuscated public address (`http://3627734734`) | error | 1 |
//! | bare metadata host | critical | 1 |
//! | bare obfuscated or internal `host:port` | error | 1 |
//! | bare internal address without port | warning | 2 |
//! | internal URL mentioned in free text | warning | 2 |
//! | in headers: a URL to cloud metadata | critical | 1 |
//! | in headers (`Referer`, `Origin`): an obfuscated internal address | warning | 2 |
//! | in headers: loopback / private (development origins) | notice | 4 |
//! | `ftp://` to a public host | notice | 3 |

mod host;

use host::{HostInfo, Target, classify};

use super::traversal::text::{hit, prose_context, worse};
use super::{Context, Detector, DetectorKind, Hit};
use crate::normalize::{Normalized, has_any};
use crate::report::{Severity, ValueKind};
use memchr::memmem;

/// The Ssrf detector.
pub struct Ssrf;

/// Schemes that reach non-HTTP services (smuggling protocol commands) or
/// local files: attacks whatever the host.
const DANGEROUS_SCHEMES: &[&str] = &[
    "gopher", "dict", "file", "ldap", "ldaps", "tftp", "jar", "netdoc", "smb", "redis", "expect",
    "phar", "telnet", "sftp", "mysql", "memcache", "fastcgi", "rmi", "iiop", "corba",
];

/// Embedded URLs judged per value, and the bytes of each: bounds the work.
const MAX_EMBEDDED: usize = 64;
const MAX_URL: usize = 2048;

/// Schemes whose authority is a network host.
const WEB_SCHEMES: &[&str] = &["http", "https", "ws", "wss", "ftp", "ftps"];

impl Detector for Ssrf {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Ssrf
    }

    fn detect(&self, value: &Normalized<'_>, ctx: &Context<'_>) -> Option<Hit> {
        // A JSON key names a field; it is never fetched.
        if ctx.kind == ValueKind::JsonKey {
            return None;
        }
        // A URL, a port, a dotted or bracketed host and a path all need one
        // of these (non-ASCII: look-alikes of digits and dots).
        if !has_any(value.decoded.as_bytes(), |c| {
            matches!(c, b':' | b'.' | b'/' | b'\\' | b'[') || c >= 0x80
        }) {
            return None;
        }
        let folded = fold_lookalikes(&value.decoded);
        let s = folded.trim();
        let s = s.trim_matches(|c| c == '"' || c == '\'' || c == '<' || c == '>');
        if s.is_empty() {
            return None;
        }
        let header = ctx.kind == ValueKind::Header;
        let prose = prose_context(ctx);
        let mut found = None;
        if let Some(scheme_end) = scheme(s) {
            found = url(s, scheme_end, header, false);
        } else if s.starts_with("//") || s.starts_with("\\\\") {
            // Scheme-relative: `//127.0.0.1/admin`.
            let with_scheme = format!("http:{s}");
            found = url(&with_scheme, 4, header, false);
        } else if !s.bytes().any(|c| c.is_ascii_whitespace())
            && (s.is_ascii() || !s.contains(char::is_whitespace))
        {
            found = bare(s, header);
        }
        if found.is_some_and(|h| h.severity == Severity::Critical) {
            return found;
        }
        // URLs embedded further in: `…?next=http://127.0.0.1/`, text.
        let b = s.as_bytes();
        let mut from = 1;
        let mut seen = 0;
        while let Some(p) = b
            .get(from..)
            .and_then(|r| memmem::find(r, b"://"))
            .map(|p| p + from)
        {
            seen += 1;
            if seen > MAX_EMBEDDED {
                break;
            }
            let mut start = p;
            while start > 0
                && (b[start - 1].is_ascii_alphanumeric()
                    || matches!(b[start - 1], b'+' | b'-' | b'.'))
            {
                start -= 1;
            }
            if start > 0
                && start < p
                && let Some(e) = scheme(&s[start..])
            {
                let mut limit = (start + MAX_URL).min(s.len());
                while !s.is_char_boundary(limit) {
                    limit -= 1;
                }
                let end = s[start..limit]
                    .find(|c: char| {
                        c.is_whitespace() || c == '"' || c == '\'' || c == '<' || c == '>'
                    })
                    .map_or(limit, |e| start + e);
                let verdict = url(&s[start..end], e, header, prose);
                found = worse(found, verdict);
            }
            from = p + 3;
        }
        found
    }
}

/// Folds characters that URL parsers (IDNA / NFKC) turn into ASCII
/// digits, letters and dots: enclosed alphanumerics (`①②⑦.⓪.⓪.①`),
/// circled and parenthesised forms, ideographic and other full stops.
/// The normaliser already folds full-width forms.
fn fold_lookalikes(s: &str) -> std::borrow::Cow<'_, str> {
    if s.is_ascii() {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let n = c as u32;
        match n {
            // ①..⑳ → 1..20
            0x2460..=0x2473 => out.push_str(&(n - 0x2460 + 1).to_string()),
            // ⑴..⒇ → 1..20
            0x2474..=0x2487 => out.push_str(&(n - 0x2474 + 1).to_string()),
            // ⒈..⒛ → "1." .. "20."
            0x2488..=0x249B => {
                out.push_str(&(n - 0x2488 + 1).to_string());
                out.push('.');
            }
            // ⒜..⒵, Ⓐ..Ⓩ, ⓐ..ⓩ → letters
            0x249C..=0x24B5 => out.push(char::from(b'a' + (n - 0x249C) as u8)),
            0x24B6..=0x24CF => out.push(char::from(b'a' + (n - 0x24B6) as u8)),
            0x24D0..=0x24E9 => out.push(char::from(b'a' + (n - 0x24D0) as u8)),
            0x24EA | 0x24FF => out.push('0'),
            // ⓫..⓴ → 11..20, ⓵..⓾ → 1..10
            0x24EB..=0x24F4 => out.push_str(&(n - 0x24EB + 11).to_string()),
            0x24F5..=0x24FE => out.push_str(&(n - 0x24F5 + 1).to_string()),
            // ideographic, halfwidth ideographic and small full stops
            0x3002 | 0xFF61 | 0xFE52 => out.push('.'),
            // mathematical digits 𝟎..𝟿
            0x1D7CE..=0x1D7FF => out.push(char::from(b'0' + ((n - 0x1D7CE) % 10) as u8)),
            _ => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The end of a leading `scheme:` (letters, digits, `+-.`), if any.
fn scheme(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if !b.first()?.is_ascii_alphabetic() {
        return None;
    }
    let end = b
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')))?;
    // `localhost:8080` is a host and a port, not a scheme.
    let port = b.get(end + 1).is_some_and(u8::is_ascii_digit);
    (b[end] == b':' && end <= 32 && !port).then_some(end)
}

/// Judges a URL whose scheme ends at `scheme_end`. `embedded`: found
/// inside free text rather than as the value itself.
fn url(s: &str, scheme_end: usize, header: bool, embedded: bool) -> Option<Hit> {
    let scheme = s[..scheme_end].to_ascii_lowercase();
    let rest = &s[scheme_end + 1..];
    if scheme == "jar" || scheme == "netdoc" {
        return Some(hit(Severity::Critical, 1, "non-HTTP URL scheme"));
    }
    let dangerous = DANGEROUS_SCHEMES.contains(&scheme.as_str());
    let web = WEB_SCHEMES.contains(&scheme.as_str());
    if !dangerous && !web {
        return None;
    }
    let slashes = rest
        .bytes()
        .take_while(|&c| c == b'/' || c == b'\\')
        .count();
    if dangerous {
        // `file:/etc/passwd` needs no slashes; others need an authority.
        if slashes >= 2 || scheme == "file" {
            return Some(hit(
                if header {
                    Severity::Warning
                } else {
                    Severity::Critical
                },
                if header { 2 } else { 1 },
                "non-HTTP URL scheme",
            ));
        }
        return None;
    }
    let after = &rest[slashes..];
    // Candidate hosts: the standard one (after the last `@` of the
    // authority), the userinfo, and what follows an `@` after a `#`, `?`
    // or `\` (parsers disagree).
    let auth_end = after.find(['/', '?', '#', '\\']).unwrap_or(after.len());
    let authority = &after[..auth_end];
    let mut worst: Option<HostInfo> = None;
    let mut consider = |h: &str| {
        if let Some(info) = host_port(h) {
            worst = Some(match worst {
                Some(w) if (w.target, w.obfuscated) >= (info.target, info.obfuscated) => w,
                _ => info,
            });
        }
    };
    match authority.rfind('@') {
        Some(at) => {
            consider(&authority[at + 1..]);
            let userinfo = &authority[..at];
            consider(userinfo.split('@').next_back().unwrap_or(userinfo));
            consider(userinfo.split('@').next().unwrap_or(userinfo));
        }
        None => consider(authority),
    }
    let tail = &after[auth_end..];
    if let Some(at) = tail.find('@') {
        let h = &tail[at + 1..];
        let h_end = h.find(['/', '?', '#', '\\']).unwrap_or(h.len());
        consider(&h[..h_end]);
    }
    let info = worst?;
    judge_url(info, &scheme, header, embedded)
}

fn judge_url(info: HostInfo, scheme: &str, header: bool, embedded: bool) -> Option<Hit> {
    let internal = info.target != Target::Public;
    if header {
        // Cloud metadata has no business in any header (a callback or
        // proxy header naming it is an SSRF attempt); a loopback `Origin`
        // or `Referer` is a developer's browser.
        return if info.target == Target::Metadata {
            Some(hit(
                Severity::Critical,
                1,
                "URL to cloud metadata in a header",
            ))
        } else if info.obfuscated && internal {
            Some(hit(Severity::Warning, 2, "internal URL in a header"))
        } else if internal {
            Some(hit(Severity::Notice, 4, "internal URL in a header"))
        } else {
            None
        };
    }
    match info.target {
        Target::Metadata => Some(hit(Severity::Critical, 1, "URL to cloud metadata")),
        _ if internal && info.obfuscated => {
            Some(hit(Severity::Critical, 1, "obfuscated internal URL"))
        }
        _ if internal && embedded => Some(hit(Severity::Warning, 2, "internal URL in text")),
        Target::Loopback => Some(hit(Severity::Critical, 1, "URL to loopback")),
        Target::LinkLocal => Some(hit(Severity::Critical, 1, "URL to link-local address")),
        Target::Private => Some(hit(Severity::Critical, 1, "URL to private address")),
        Target::Public if info.obfuscated => Some(hit(Severity::Error, 1, "obfuscated IP in URL")),
        Target::Public if scheme == "ftp" => Some(hit(Severity::Notice, 3, "ftp URL")),
        Target::Public => None,
    }
}

/// `host[:port]` (userinfo already removed).
fn host_port(s: &str) -> Option<HostInfo> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.starts_with('[') {
        let end = s.find(']')?;
        return classify(&s[..=end]);
    }
    let host = match s.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|c| c.is_ascii_digit()) => h,
        Some(_) if s.matches(':').count() >= 2 => s, // bare IPv6
        Some(_) => return None,
        None => s,
    };
    classify(host)
}

/// A bare `host[:port][/path]` value.
fn bare(s: &str, header: bool) -> Option<Hit> {
    let s = s.strip_prefix("//").unwrap_or(s);
    let end = s.find(['/', '?', '#']).unwrap_or(s.len());
    let hp = &s[..end];
    let has_port = hp.rsplit_once(':').is_some_and(|(h, p)| {
        !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) && !h.contains(':')
            || hp.starts_with('[')
    });
    let info = host_port(hp)?;
    if !info.literal && info.target == Target::Public {
        return None;
    }
    // A single-label name alone (`metadata`, `localhost`) is a word: only
    // a port or a path makes it a host.
    if !info.literal && !hp.contains('.') && !has_port && end == s.len() {
        return None;
    }
    // A bare number (an id), a decimal (`127.1` as a price) or a dotted
    // version is only a host with a port.
    let dots = hp.matches('.').count();
    let plain_number = hp.bytes().all(|c| c.is_ascii_digit() || c == b'.');
    if info.literal
        && !hp.starts_with('[')
        && !has_port
        && (dots < 3 && plain_number || !hp.contains('.') && !hp.contains(':'))
    {
        return None;
    }
    if header {
        return (info.target == Target::Metadata)
            .then(|| hit(Severity::Warning, 2, "metadata address in a header"));
    }
    match info.target {
        Target::Metadata => Some(hit(Severity::Critical, 1, "cloud metadata host")),
        Target::Public if info.obfuscated && has_port => {
            Some(hit(Severity::Warning, 2, "obfuscated address"))
        }
        Target::Public => None,
        _ if info.obfuscated || has_port => Some(hit(Severity::Error, 1, "internal host:port")),
        Target::Loopback | Target::LinkLocal => Some(hit(Severity::Warning, 2, "internal address")),
        Target::Private => Some(hit(Severity::Notice, 3, "private address")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(v: &str, kind: ValueKind) -> Option<Hit> {
        crate::detect::run(&Ssrf, v, kind)
    }

    fn critical(v: &str) -> bool {
        [ValueKind::Query, ValueKind::JsonString]
            .into_iter()
            .all(|k| {
                check(v, k).is_some_and(|h| h.severity == Severity::Critical && h.paranoia == 1)
            })
    }

    #[test]
    fn internal_urls() {
        for v in [
            "http://127.0.0.1/admin",
            "http://localhost:8080/",
            "https://LOCALHOST/",
            "http://0.0.0.0:6379/",
            "http://0/",
            "http://[::1]/",
            "http://[0:0:0:0:0:0:0:1]:80/",
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://[fd00:ec2::254]/latest/meta-data/",
            "http://100.100.100.200/latest/meta-data/",
            "http://10.0.0.5/internal",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://[fc00::1]/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://017700000001/",
            "http://0xa9.0xfe.0xa9.0xfe/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://trusted.com@169.254.169.254/",
            "http://user:pass@127.0.0.1:22/",
            "http://evil.com#@127.0.0.1/",
            "http://127.0.0.1\\@example.com/",
            "http:\\\\127.0.0.1\\",
            "http:/127.0.0.1/",
            "gopher://127.0.0.1:6379/_FLUSHALL",
            "dict://127.0.0.1:11211/stat",
            "file:///etc/passwd",
            "ldap://127.0.0.1:389/",
            "ftp://10.0.0.1/",
            "tftp://evil.com/x",
            "jar:http://evil.com/x.jar!/",
            "netdoc:///etc/passwd",
            "http://127.0.0.1.nip.io/",
            "https://example.com/redirect?url=http://169.254.169.254/",
            "http%3A%2F%2F169.254.169.254%2Flatest",
            "  http://127.0.0.1  ",
            "169.254.169.254",
            "metadata.google.internal",
            "metadata:80",
            "metadata/computeMetadata/v1/",
            "http://①②⑦.⓪.⓪.①/",
            "//127.0.0.1/admin",
            "http://127。0。0。1/",
            "http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/",
        ] {
            assert!(critical(v), "{v}: {:?}", check(v, ValueKind::Query));
        }
        for v in [
            "127.0.0.1:6379",
            "localhost:8080",
            "10.0.0.1:22",
            "0x7f.0.0.1",
        ] {
            assert_eq!(
                check(v, ValueKind::Query).map(|h| h.severity),
                Some(Severity::Error),
                "{v}"
            );
        }
        assert_eq!(
            check("http://3627734734/", ValueKind::Query).map(|h| h.severity),
            Some(Severity::Error)
        );
    }

    #[test]
    fn benign() {
        for (v, kind) in [
            ("https://example.com/x", ValueKind::Query),
            ("http://8.8.8.8/", ValueKind::Query),
            ("https://api.github.com/repos", ValueKind::JsonString),
            ("2130706433", ValueKind::Query),
            ("127.1", ValueKind::Query),
            ("10.5", ValueKind::Query),
            ("1.2.3", ValueKind::Query),
            ("0", ValueKind::Query),
            ("10.0.0.1", ValueKind::Header),
            ("http://localhost:3000/page", ValueKind::Header),
            ("mailto:bob@example.com", ValueKind::Query),
            ("urn:isbn:0451450523", ValueKind::Query),
            ("tel:+1-555-0100", ValueKind::Query),
            ("data:image/png;base64,iVBORw0KGgo=", ValueKind::JsonString),
            ("Meet at 10:30", ValueKind::JsonString),
            ("ratio 16:9", ValueKind::Query),
            (
                "See http://localhost:3000 in your browser",
                ValueKind::JsonString,
            ),
            ("myapp://callback?code=1", ValueKind::Query),
            ("https://example.com/@user/post", ValueKind::Query),
            ("https://user@example.com/", ValueKind::Query),
            ("12:34:56", ValueKind::Query),
            ("version 1.0.0.1", ValueKind::JsonString),
            ("2001:db8::1", ValueKind::Query),
            ("https://例え.jp/パス", ValueKind::Query),
            ("c:\\temp", ValueKind::Query),
            ("① first ② second", ValueKind::JsonString),
            ("//comment", ValueKind::Query),
            ("//example.com/x", ValueKind::Query),
            ("metadata", ValueKind::Query),
            ("metadata", ValueKind::JsonString),
            ("Metadata", ValueKind::Header),
            ("localhost", ValueKind::Query),
            ("instance-data", ValueKind::JsonString),
            ("metadata", ValueKind::JsonKey),
            ("http://127.0.0.1/", ValueKind::JsonKey),
        ] {
            let h = check(v, kind);
            assert!(
                h.is_none() || h.is_some_and(|h| h.paranoia >= 2),
                "{v}: {h:?}"
            );
        }
    }
}
