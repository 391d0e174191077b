//! Path traversal and file inclusion.
//!
//! * `../` and `..\` steps, after decoding, including what the normaliser
//!   cannot turn back into ASCII: overlong UTF-8 (`%c0%ae`, `%c0%af`,
//!   `%e0%80%ae`), IIS `%u002e`, and overlong bytes a router already
//!   replaced with U+FFFD (`..\u{FFFD}\u{FFFD}`), and the filter-evasion
//!   forms `....//`, `..;/`, `.../`.
//! * Sensitive files by absolute or relative name (`/etc/passwd`,
//!   `/proc/self/environ`, `c:\windows\win.ini`, `web.config`,
//!   `.htaccess`, `.git/`, `WEB-INF/web.xml`…).
//! * Stream wrappers (`file://`, `php://filter`, `zip://`, `phar://`,
//!   `expect://`, `data://`) and NUL-byte truncation (`shell.php%00.jpg`).
//!
//! | found | where | severity | paranoia |
//! |---|---|---|---|
//! | ≥ 3 steps, or steps + sensitive file, or an evasion form | any | critical | 1 |
//! | 2 steps | single-line value | critical | 1 |
//! | 2 steps | free text | error | 1 |
//! | 1 step inside a path segment (an encoded `/`) | path | critical | 1 |
//! | 1 step | single-line value | warning | 2 |
//! | 1 step | free text | notice | 3 |
//! | absolute sensitive path (`/etc/passwd`, `c:\windows\…`) | single-line, or at the start of text | critical | 1 |
//! | absolute sensitive path in the middle of text | any | error | 2 |
//! | `php://`, `zip://`, `phar://`, `expect://`, `glob://`, `data://…;base64` | any | critical | 1 |
//! | `file://` at the start of a value | any | critical | 1 |
//! | `file://` inside text | any | warning | 2 |
//! | web-server files (`.htaccess`, `web.config`, `.git/`, `.env`) as a path | single-line | error | 1 |
//! | the same mentioned in text | free text | notice | 3 |
//! | NUL byte + extension, or NUL with any of the above | any | critical | 1 |
//! | a NUL byte alone | any | warning | 2 |
//!
//! "1..5", "v1.2..v1.3", "wait..." are not steps (a step needs a slash or
//! backslash right after the dots).

pub(super) mod text;

use std::borrow::Cow;
use std::sync::LazyLock;

use text::{find_ci, hit, is_word, prose_context, starts_with_ci, worse};

use super::needles::Needles;

use super::{Context, Detector, DetectorKind, Hit};
use crate::normalize::{Normalized, has_any};
use crate::report::{Severity, ValueKind};

/// The PathTraversal detector.
pub struct PathTraversal;

/// Files whose absolute path is an attack beyond doubt (lower case,
/// forward slashes).
const SENSITIVE_ABSOLUTE: &[&[u8]] = &[
    b"/etc/passwd",
    b"/etc/shadow",
    b"/etc/group",
    b"/etc/hosts",
    b"/etc/issue",
    b"/etc/hostname",
    b"/etc/sudoers",
    b"/etc/crontab",
    b"/etc/ssh/",
    b"/etc/mysql/",
    b"/etc/nginx/",
    b"/etc/apache2/",
    b"/etc/httpd/",
    b"/etc/os-release",
    b"/etc/resolv.conf",
    b"/etc/fstab",
    b"/etc/motd",
    b"/proc/self/",
    b"/proc/version",
    b"/proc/cmdline",
    b"/proc/mounts",
    b"/proc/net/",
    b"/var/log/",
    b"/var/run/secrets/",
    b"/root/",
    b"/.ssh/",
    b"/.aws/",
    b"/.bash_history",
    b"/windows/win.ini",
    b"/windows/system32",
    b"/windows/system.ini",
    b"/boot.ini",
    b"/winnt/",
    b"/inetpub/",
    b"/windows/repair/",
    b"/windows/panther/",
    b"/usr/local/etc/",
    b"/dev/tcp/",
];

/// Targets that make even one `../` step an attack.
const SENSITIVE_TARGETS: &[&[u8]] = &[
    b"etc/",
    b"proc/",
    b"windows/",
    b"winnt/",
    b"boot.ini",
    b"win.ini",
    b"system32",
    b"web-inf",
    b"meta-inf",
    b"web.config",
    b".htaccess",
    b".htpasswd",
    b".env",
    b".git/",
    b".git",
    b".ssh",
    b"id_rsa",
    b"wp-config",
    b"config.php",
    b"database.yml",
    b"settings.py",
    b"application.properties",
    b"appsettings.json",
    b".aws/",
    b"shadow",
    b"passwd",
    b"var/log",
    b"root/",
    b"usr/",
    b"bin/",
    b"home/",
    b"tmp/",
    b"dev/",
];

/// Web-server and repository files: attacks as a path, words in prose.
const WEB_FILES: &[&[u8]] = &[
    b".htaccess",
    b".htpasswd",
    b"web.config",
    b".git/",
    b"/.git",
    b".env",
    b"web-inf/",
    b"meta-inf/",
    b"wp-config.php",
    b".ds_store",
    b".svn/",
    b"id_rsa",
    b".bash_history",
    b"authorized_keys",
    b".aws/credentials",
    b".npmrc",
    b".dockerenv",
];

/// Stream wrappers that are attacks anywhere.
const WRAPPERS: &[&[u8]] = &[
    b"php://",
    b"zip://",
    b"phar://",
    b"expect://",
    b"glob://",
    b"compress.zlib://",
    b"compress.bzip2://",
    b"ogg://",
    b"rar://",
    b"ssh2.shell://",
    b"ssh2.exec://",
    b"data://text/plain;base64",
    b"jar:file:",
    b"netdoc:",
];

impl Detector for PathTraversal {
    fn kind(&self) -> DetectorKind {
        DetectorKind::PathTraversal
    }

    fn detect(&self, value: &Normalized<'_>, ctx: &Context<'_>) -> Option<Hit> {
        let raw = value.raw.as_bytes();
        let s = value.decoded.as_bytes();
        let nul = has_nul(raw);
        // Our own decoding of the raw value, for the overlong and `%u`
        // forms the normaliser leaves alone (or turns into U+FFFD).
        let own = raw.contains(&b'%') || value.raw.contains('\u{FFFD}');
        // Every finding needs a dot, a slash, a colon, an underscore
        // (`id_rsa`), a NUL byte or something left to decode.
        if !nul && !own && !has_any(s, |c| matches!(c, b'.' | b'/' | b'\\' | b':' | b'_')) {
            return None;
        }
        let prose = prose_context(ctx);
        let mut found = scan(s, ctx.kind, prose, nul);
        if found.is_some_and(|h| h.severity == Severity::Critical) {
            return found;
        }
        if own {
            let own = decode(raw);
            found = worse(found, scan(&own, ctx.kind, prose, nul));
        }
        found
    }
}

static WRAPPER_SET: LazyLock<Needles> = LazyLock::new(|| Needles::new(WRAPPERS));
static ABSOLUTE_SET: LazyLock<Needles> = LazyLock::new(|| Needles::new(SENSITIVE_ABSOLUTE));
static TARGET_SET: LazyLock<Needles> = LazyLock::new(|| Needles::new(SENSITIVE_TARGETS));
static WEB_SET: LazyLock<Needles> = LazyLock::new(|| Needles::new(WEB_FILES));

/// Whether the value holds a NUL byte, as a byte or still encoded.
fn has_nul(raw: &[u8]) -> bool {
    if !has_any(raw, |c| matches!(c, 0 | b'%' | b'\\' | b'&')) {
        return false;
    }
    raw.contains(&0)
        || find_ci(raw, b"%00", 0).is_some()
        || find_ci(raw, b"%2500", 0).is_some()
        || find_ci(raw, b"\\x00", 0).is_some()
        || find_ci(raw, b"\\u0000", 0).is_some()
        || find_ci(raw, b"&#0;", 0).is_some()
}

fn scan(s: &[u8], kind: ValueKind, prose: bool, nul: bool) -> Option<Hit> {
    let steps = steps(s);
    let mut found = None;

    if memchr::memchr(b':', s).is_some() {
        // Stream wrappers.
        if WRAPPER_SET.any(s) {
            return Some(hit(Severity::Critical, 1, "stream wrapper"));
        }
        if let Some(p) = find_ci(s, b"file:", 0) {
            let slashed = starts_with_ci(s, p + 5, b"//") || starts_with_ci(s, p + 5, b"\\\\");
            if slashed {
                let at_start = s[..p].trim_ascii().is_empty();
                if at_start || !prose {
                    return Some(hit(Severity::Critical, 1, "file:// URL"));
                }
                found = worse(found, Some(hit(Severity::Warning, 2, "file:// URL")));
            }
        }
    }

    // Sensitive absolute paths (slashes normalised).
    let norm = slashes(s);
    let mut sensitive = false;
    if norm.contains(&b'/') {
        // The first occurrence of each path is judged.
        let mut seen = vec![false; ABSOLUTE_SET.needles().len()];
        let mut critical = false;
        ABSOLUTE_SET.each(&norm, |idx, at| {
            if std::mem::replace(&mut seen[idx], true) {
                return true;
            }
            // `/etc/passwd` must not be the tail of a longer word
            // (`/etc/passwdx` is still it; `foo/etc/` is a relative
            // path that also counts).
            sensitive = true;
            let before = norm[..at].trim_ascii();
            let at_start = before.is_empty()
                || before.ends_with(b"=")
                || before.ends_with(b":")
                || before.ends_with(b".")
                || before.len() <= 2;
            critical = !prose || at_start || steps > 0;
            !critical
        });
        if critical {
            return Some(hit(Severity::Critical, 1, "sensitive file path"));
        }
        if sensitive {
            found = worse(
                found,
                Some(hit(Severity::Error, 2, "sensitive file path in text")),
            );
        }
    }

    if steps > 0 {
        let target = TARGET_SET.any(&norm);
        let evasion = evasion(&norm);
        let verdict = if steps >= 3 || target || evasion || (nul && steps > 0) {
            hit(Severity::Critical, 1, "path traversal")
        } else if steps == 2 {
            if prose {
                hit(Severity::Error, 1, "path traversal in text")
            } else {
                hit(Severity::Critical, 1, "path traversal")
            }
        } else if kind == ValueKind::Path {
            hit(Severity::Critical, 1, "traversal in a path segment")
        } else if prose {
            hit(Severity::Notice, 3, "relative path")
        } else {
            hit(Severity::Warning, 2, "relative path")
        };
        if verdict.severity == Severity::Critical {
            return Some(verdict);
        }
        found = worse(found, Some(verdict));
    }

    // Web-server files.
    let mut web = false;
    WEB_SET.each(&norm, |idx, at| {
        let w = WEB_FILES[idx];
        let end = at + w.len();
        // A whole name: not inside a longer word (`.environment`,
        // `my.envelope`).
        let tail_ok = w.ends_with(b"/") || norm.get(end).is_none_or(|&c| !is_word(c));
        let head_ok =
            at == 0 || !is_word(norm[at - 1]) || w.starts_with(b".") && norm[at - 1] == b'/';
        web = tail_ok && head_ok;
        !web
    });
    if web {
        let path_like = norm.iter().all(|&c| !c.is_ascii_whitespace());
        let verdict = if nul {
            hit(Severity::Critical, 1, "NUL byte and server file")
        } else if path_like && !prose {
            hit(Severity::Error, 1, "server file path")
        } else if path_like {
            hit(Severity::Warning, 2, "server file path")
        } else {
            hit(Severity::Notice, 3, "server file name")
        };
        found = worse(found, Some(verdict));
    }

    if nul {
        let ext = names_file(s);
        let verdict = if ext || sensitive || found.is_some() {
            hit(Severity::Critical, 1, "NUL byte truncation")
        } else {
            hit(Severity::Warning, 2, "NUL byte")
        };
        found = worse(found, Some(verdict));
    }
    found
}

/// Backslashes as slashes, runs of slashes as one (borrowed when there
/// is nothing to change).
fn slashes(s: &[u8]) -> Cow<'_, [u8]> {
    let clean = memchr::memchr(b'\\', s).is_none() && memchr::memmem::find(s, b"//").is_none();
    if clean {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        let c = if c == b'\\' { b'/' } else { c };
        if c == b'/' && out.last() == Some(&b'/') {
            continue;
        }
        out.push(c);
    }
    Cow::Owned(out)
}

/// The number of `..` steps: two or more dots (or `%2e`-like leftovers
/// already decoded), optionally `;` or spaces, then a slash, a backslash
/// or U+FFFD (an overlong slash a router could not decode), and either at
/// the start of the value or after a separator.
fn steps(s: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while let Some(dot) = memchr::memchr(b'.', &s[i..]) {
        i += dot;
        let start = i;
        while i < s.len() && s[i] == b'.' {
            i += 1;
        }
        let dots = i - start;
        if dots < 2 {
            continue;
        }
        let mut j = i;
        if s.get(j) == Some(&b';') {
            j += 1;
        }
        let slash = match s.get(j) {
            Some(b'/' | b'\\') => true,
            Some(0xEF) => s.get(j + 1) == Some(&0xBF) && s.get(j + 2) == Some(&0xBD),
            None => dots == 2 && start > 0 && matches!(s[start - 1], b'/' | b'\\'),
            _ => false,
        };
        let before_ok = start == 0
            || matches!(
                s[start - 1],
                b'/' | b'\\'
                    | b'='
                    | b'"'
                    | b'\''
                    | b' '
                    | b':'
                    | b';'
                    | b'\t'
                    | b','
                    | b'('
                    | b'|'
            )
            || s[start - 1] == 0xBD; // after an U+FFFD slash
        if slash && before_ok {
            n += 1;
        }
    }
    n
}

/// Filter-evasion forms: `....//`, `..././`, `..;/`, `.../`.
fn evasion(norm: &[u8]) -> bool {
    find_ci(norm, b"....", 0).is_some_and(|p| norm.get(p + 4) == Some(&b'/'))
        || find_ci(norm, b"..;/", 0).is_some()
        || find_ci(norm, b"..././", 0).is_some()
        || find_ci(norm, b"/.../", 0).is_some()
}

/// Whether a value with a NUL byte names a file (`shell.php%00.jpg`,
/// `../../etc/passwd%00`): the decoded view has dropped the NUL, a dot is
/// what is left of the extension.
fn names_file(s: &[u8]) -> bool {
    memchr::memchr(b'.', s).is_some()
}

/// Percent-decoding (three rounds) with the overlong UTF-8 and `%u`
/// forms mapped to the ASCII they smuggle.
fn decode(raw: &[u8]) -> Vec<u8> {
    let mut cur = raw.to_vec();
    for _ in 0..3 {
        if !cur.contains(&b'%') {
            break;
        }
        let mut out = Vec::with_capacity(cur.len());
        let mut i = 0;
        while i < cur.len() {
            if cur[i] == b'%' {
                if let (Some(&u), true) = (cur.get(i + 1), cur.len() >= i + 6)
                    && (u == b'u' || u == b'U')
                    && let Some(v) = hex4(&cur[i + 2..i + 6])
                {
                    match v {
                        0x2E | 0xFF0E | 0x2024 => out.push(b'.'),
                        0x2F | 0x2215 | 0xFF0F | 0x2044 => out.push(b'/'),
                        0x5C | 0xFF3C | 0x2216 => out.push(b'\\'),
                        0 => {}
                        _ => out.push(b'?'),
                    }
                    i += 6;
                    continue;
                }
                if let (Some(h), Some(l)) = (
                    cur.get(i + 1).and_then(|&c| hexv(c)),
                    cur.get(i + 2).and_then(|&c| hexv(c)),
                ) {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
            }
            out.push(cur[i]);
            i += 1;
        }
        cur = out;
    }
    // Overlong encodings of `.`, `/` and `\`.
    let mut out = Vec::with_capacity(cur.len());
    let mut i = 0;
    while i < cur.len() {
        let c = cur[i];
        let n1 = cur.get(i + 1).copied();
        let n2 = cur.get(i + 2).copied();
        match (c, n1, n2) {
            (0xC0, Some(0xAE | 0x2E), _) => {
                out.push(b'.');
                i += 2;
            }
            (0xC0, Some(0xAF | 0x2F), _) | (0xC1, Some(0x1C | 0x9C | 0xAF), _) => {
                out.push(if n1 == Some(0x9C) || n1 == Some(0x1C) {
                    b'\\'
                } else {
                    b'/'
                });
                i += 2;
            }
            (0xE0, Some(0x80), Some(0xAE)) => {
                out.push(b'.');
                i += 3;
            }
            (0xE0, Some(0x80), Some(0xAF)) => {
                out.push(b'/');
                i += 3;
            }
            (0xC0 | 0xC1 | 0xE0, _, _) => {
                out.push(b'/');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn hexv(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn hex4(b: &[u8]) -> Option<u32> {
    b.iter()
        .try_fold(0u32, |acc, &c| hexv(c).map(|v| acc * 16 + u32::from(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(v: &str, kind: ValueKind) -> Option<Hit> {
        crate::detect::run(&PathTraversal, v, kind)
    }

    fn critical(v: &str, kind: ValueKind) -> bool {
        check(v, kind).is_some_and(|h| h.severity == Severity::Critical && h.paranoia == 1)
    }

    #[test]
    fn traversal() {
        for v in [
            "../../../etc/passwd",
            "..\\..\\..\\windows\\win.ini",
            "../../etc/shadow",
            "....//....//....//etc/passwd",
            "..././..././etc/hosts",
            "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            "%252e%252e%252f%252e%252e%252fetc%252fpasswd",
            "..%c0%af..%c0%af..%c0%afetc%c0%afpasswd",
            "%c0%ae%c0%ae/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
            "..\u{FFFD}\u{FFFD}..\u{FFFD}\u{FFFD}..\u{FFFD}\u{FFFD}etc/passwd",
            "%u002e%u002e%u2215%u002e%u002e%u2215etc%u2215passwd",
            "..;/..;/..;/WEB-INF/web.xml",
            "../WEB-INF/web.xml",
            "../../config.php",
            "images/../../../../etc/passwd",
            "/var/www/../../etc/passwd",
            "../.env",
            "../../../../../../proc/self/environ",
        ] {
            for kind in [ValueKind::Query, ValueKind::JsonString, ValueKind::Path] {
                assert!(critical(v, kind), "{v} {kind:?}: {:?}", check(v, kind));
            }
        }
        assert!(critical("../x", ValueKind::Path));
        assert_eq!(
            check("../img.png", ValueKind::Query).map(|h| h.paranoia),
            Some(2)
        );
        assert!(critical("../../img.png", ValueKind::Query));
        assert_eq!(
            check("../../img.png", ValueKind::JsonString).map(|h| h.severity),
            Some(Severity::Error)
        );
    }

    #[test]
    fn files_and_wrappers() {
        for v in [
            "/etc/passwd",
            "/proc/self/environ",
            "c:\\windows\\win.ini",
            "C:/Windows/System32/drivers/etc/hosts",
            "file:///etc/passwd",
            "file://c:/windows/win.ini",
            "php://filter/convert.base64-encode/resource=index.php",
            "php://input",
            "zip://uploads/a.zip%23shell.php",
            "phar://uploads/x.phar/a",
            "expect://id",
            "data://text/plain;base64,PD9waHAgc3lzdGVtKCRfR0VUWydjJ10pOz8+",
            "shell.php%00.jpg",
            "../../etc/passwd%00",
            "//etc//passwd",
            "\\\\etc\\passwd",
        ] {
            assert!(
                critical(v, ValueKind::Query),
                "{v}: {:?}",
                check(v, ValueKind::Query)
            );
        }
        assert_eq!(
            check(".htaccess", ValueKind::Query).map(|h| h.severity),
            Some(Severity::Error)
        );
        assert_eq!(
            check("/.git/config", ValueKind::Query).map(|h| h.severity),
            Some(Severity::Error)
        );
    }

    #[test]
    fn benign() {
        for (v, kind) in [
            ("1..5", ValueKind::Query),
            ("v1.2..v1.3", ValueKind::Query),
            ("Wait... what?", ValueKind::JsonString),
            ("range 1..10/2", ValueKind::Query),
            ("See ../README.md for details", ValueKind::JsonString),
            ("https://example.com/a/b/c", ValueKind::Query),
            ("/api/v1/users/42", ValueKind::Query),
            ("docs/guide.md", ValueKind::Query),
            (
                "Edit your .htaccess file to enable rewrites",
                ValueKind::JsonString,
            ),
            (
                "The /etc directory holds configuration",
                ValueKind::JsonString,
            ),
            ("my.envelope", ValueKind::Query),
            ("settings.environment", ValueKind::Query),
            ("git/config", ValueKind::Query),
            ("Ärger… über /usr", ValueKind::JsonString),
            ("SGVsbG8uLi4vd29ybGQ=", ValueKind::Query),
            ("3.14159", ValueKind::Query),
            ("..", ValueKind::JsonString),
            ("etc.", ValueKind::JsonString),
            ("price: $10.. cheap", ValueKind::JsonString),
            ("profile.", ValueKind::Path),
        ] {
            let h = check(v, kind);
            assert!(
                h.is_none() || h.is_some_and(|h| h.paranoia >= 3),
                "{v}: {h:?}"
            );
        }
    }
}
