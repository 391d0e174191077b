//! Cross-site scripting: the decoded value is tokenised the way a browser's
//! HTML tokenizer reads it (tags, attribute names, unquoted and quoted
//! attribute values, comments, `<!…>`, `</…>`), and what makes script run
//! is flagged: script-capable tags, `on*=` event handlers, `javascript:`
//! URLs in URL attributes, script in `style`. Outside tags it looks for
//! the two other ways out of a page's context: an attribute breakout
//! (`" onmouseover="…`), and a JavaScript string breakout (`';alert(1)//`,
//! `';alert.call(null,1)//`, `"-(alert)(1)-"`). Without a tag or a
//! breakout: `javascript:` URLs as the value or as a markdown link target
//! (`[x](javascript:…)`), the Function constructor
//! (`constructor.constructor(…)()`), a concatenated property name called
//! (`window['al'+'ert'](1)`), a sink called indirectly at the start of the
//! value (`alert.call(null,1)`, `(alert)(1)`), and the `<XSS>` probe.
//!
//! Less-than signs that are not tags (`a < b`, `x<5`, `<3`, `if (a<b)`,
//! `<alice@example.com>`) are text to the browser and to this detector;
//! harmless tags (`<b>`, `<p>`) count only at paranoia 3.
//!
//! Scanning is one pass over the value; attribute values are looked at
//! once each.

use super::{Context, Detector, DetectorKind, Hit};
use crate::normalize::Normalized;
use crate::report::Severity;

/// The XSS detector.
pub struct CrossSiteScripting;

impl Detector for CrossSiteScripting {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Xss
    }

    fn detect(&self, value: &Normalized<'_>, ctx: &Context<'_>) -> Option<Hit> {
        let s = value.decoded.as_bytes();
        let mut scan = Scan {
            paranoia: ctx.paranoia,
            ..Scan::default()
        };
        if memchr::memchr(b'<', s).is_some() {
            scan_tags(s, &mut scan);
        }
        if scan.is_critical() {
            return scan.best;
        }
        if memchr::memchr(b'=', s).is_some() {
            attribute_breakout(s, &mut scan);
        }
        if memchr::memchr(b':', s).is_some() {
            script_url_value(s, &mut scan);
            // Markdown links and autolinks: `[text](javascript:…)`,
            // `<javascript:…>` (rendered into `href`).
            for p in memchr::memmem::find_iter(s, b"](") {
                if scan.is_critical() {
                    break;
                }
                script_url_value(link_target(&s[p + 2..]), &mut scan);
            }
            // A URL (a `Referer`, a link field): its query values too.
            for (a, b) in super::sqli::url_query_values(s) {
                script_url_value(&s[a..b], &mut scan);
            }
        }
        if memchr::memchr(b'(', s).is_some() || memchr::memchr(b'`', s).is_some() {
            js_breakout(s, &mut scan);
            if !scan.is_critical() {
                js_expression(s, &mut scan);
            }
        }
        scan.finish()
    }
}

#[derive(Default)]
struct Scan {
    best: Option<Hit>,
    /// The configured level: of several candidates, the hit that scores
    /// most there is kept.
    paranoia: u8,
    /// A `<script>` that looked like a generic (`Promise<Script>`).
    generic_script: bool,
    /// A `</script>` was seen.
    script_closed: bool,
}

impl Scan {
    fn add(&mut self, severity: Severity, paranoia: u8, reason: &'static str) {
        let h = Hit {
            severity,
            paranoia,
            reason,
        };
        let better = match self.best {
            None => true,
            Some(b) => h.rank_at(self.paranoia) > b.rank_at(self.paranoia),
        };
        if better {
            self.best = Some(h);
        }
    }

    fn critical(&mut self, reason: &'static str) {
        self.add(Severity::Critical, 1, reason);
    }

    fn is_critical(&self) -> bool {
        self.best
            .is_some_and(|h| h.paranoia == 1 && h.severity == Severity::Critical)
    }

    fn finish(mut self) -> Option<Hit> {
        if self.generic_script {
            if self.script_closed {
                self.critical("<script> element");
            } else {
                self.add(Severity::Warning, 2, "<script> tag");
            }
        }
        self.best
    }
}

fn is_html_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0C)
}

fn lower_eq(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Tags whose mere presence runs or loads active content.
fn dangerous_tag(name: &[u8]) -> Option<&'static str> {
    const TAGS: &[(&[u8], &str)] = &[
        (b"script", "<script> tag"),
        (b"iframe", "<iframe> tag"),
        (b"frame", "<frame> tag"),
        (b"frameset", "<frameset> tag"),
        (b"object", "<object> tag"),
        (b"embed", "<embed> tag"),
        (b"applet", "<applet> tag"),
        (b"portal", "<portal> tag"),
        // Not a tag at all: the classic probe (`'';!--"<XSS>=&{()}`).
        (b"xss", "XSS probe"),
    ];
    TAGS.iter()
        .find(|(n, _)| lower_eq(n, name))
        .map(|(_, r)| *r)
}

/// Tags that are unusual in user input and can carry script.
fn suspicious_tag(name: &[u8]) -> Option<&'static str> {
    const TAGS: &[(&[u8], &str)] = &[
        (b"svg", "<svg> tag"),
        (b"math", "<math> tag"),
        (b"base", "<base> tag"),
        (b"meta", "<meta> tag"),
        (b"link", "<link> tag"),
        (b"style", "<style> tag"),
        (b"form", "<form> tag"),
        (b"xml", "<xml> tag"),
        (b"template", "<template> tag"),
        (b"noscript", "<noscript> tag"),
        (b"isindex", "<isindex> tag"),
        (b"xmp", "<xmp> tag"),
        (b"import", "<import> tag"),
    ];
    TAGS.iter()
        .find(|(n, _)| lower_eq(n, name))
        .map(|(_, r)| *r)
}

/// Ordinary HTML tags: harmless alone.
fn known_tag(name: &[u8]) -> bool {
    const TAGS: &[&[u8]] = &[
        b"a",
        b"abbr",
        b"audio",
        b"b",
        b"body",
        b"br",
        b"button",
        b"code",
        b"details",
        b"div",
        b"em",
        b"h1",
        b"h2",
        b"h3",
        b"h4",
        b"h5",
        b"h6",
        b"head",
        b"hr",
        b"html",
        b"i",
        b"img",
        b"image",
        b"input",
        b"keygen",
        b"label",
        b"li",
        b"marquee",
        b"ol",
        b"option",
        b"p",
        b"pre",
        b"select",
        b"source",
        b"span",
        b"strong",
        b"sub",
        b"summary",
        b"sup",
        b"table",
        b"td",
        b"textarea",
        b"th",
        b"title",
        b"tr",
        b"u",
        b"ul",
        b"video",
        b"track",
        b"picture",
        b"u",
        b"s",
        b"q",
        b"font",
        b"center",
        b"blockquote",
        b"dialog",
        b"area",
        b"map",
        b"animate",
        b"set",
        b"use",
        b"image",
        b"foreignobject",
        b"x",
    ];
    TAGS.iter().any(|n| lower_eq(n, name))
}

/// Attributes whose value is a URL (or holds one).
fn url_attribute(name: &[u8]) -> bool {
    const NAMES: &[&[u8]] = &[
        b"href",
        b"src",
        b"action",
        b"formaction",
        b"xlink:href",
        b"data",
        b"background",
        b"poster",
        b"lowsrc",
        b"dynsrc",
        b"codebase",
        b"cite",
        b"ping",
        b"content",
        b"values",
        b"to",
        b"from",
        b"by",
        b"code",
        b"archive",
        b"srcset",
        b"icon",
        b"manifest",
        b"longdesc",
        b"usemap",
        b"profile",
    ];
    NAMES.iter().any(|n| lower_eq(n, name))
}

/// `on` followed by letters: an event handler attribute.
fn is_event_handler(name: &[u8]) -> bool {
    name.len() >= 5 && lower_eq(&name[..2], b"on") && name[2..].iter().all(u8::is_ascii_alphabetic)
}

/// Event handlers common in attacks (for values that are not inside a
/// tag, where `once=`, `online=` are more likely prose).
fn known_event_handler(name: &[u8]) -> bool {
    const NAMES: &[&[u8]] = &[
        b"onerror",
        b"onload",
        b"onclick",
        b"ondblclick",
        b"onmouseover",
        b"onmouseenter",
        b"onmousemove",
        b"onmousedown",
        b"onmouseup",
        b"onmouseout",
        b"onmouseleave",
        b"onfocus",
        b"onfocusin",
        b"onfocusout",
        b"onblur",
        b"onchange",
        b"oninput",
        b"onkeydown",
        b"onkeyup",
        b"onkeypress",
        b"onsubmit",
        b"onreset",
        b"onselect",
        b"onscroll",
        b"onwheel",
        b"oncopy",
        b"oncut",
        b"onpaste",
        b"ondrag",
        b"ondragstart",
        b"ondragend",
        b"ondragover",
        b"ondragenter",
        b"ondrop",
        b"onanimationstart",
        b"onanimationend",
        b"onanimationiteration",
        b"ontransitionend",
        b"ontransitionstart",
        b"onpointerover",
        b"onpointerenter",
        b"onpointerdown",
        b"onpointerup",
        b"onpointermove",
        b"onpointerout",
        b"onpointerleave",
        b"onpointerrawupdate",
        b"ontoggle",
        b"onbeforetoggle",
        b"onbegin",
        b"onend",
        b"onrepeat",
        b"onshow",
        b"onpageshow",
        b"onhashchange",
        b"onpopstate",
        b"onresize",
        b"onunload",
        b"onbeforeunload",
        b"onmessage",
        b"onstart",
        b"onfinish",
        b"onauxclick",
        b"oncontextmenu",
        b"onplay",
        b"onplaying",
        b"oncanplay",
        b"oncanplaythrough",
        b"onloadstart",
        b"onloadeddata",
        b"onloadedmetadata",
        b"onprogress",
        b"onended",
        b"onpause",
        b"onseeked",
        b"onseeking",
        b"ontimeupdate",
        b"onvolumechange",
        b"onwaiting",
        b"oninvalid",
        b"onsearch",
        b"onbeforeinput",
        b"onafterprint",
        b"onbeforeprint",
        b"ontouchstart",
        b"ontouchend",
        b"ontouchmove",
        b"onwebkitanimationstart",
        b"onwebkitanimationend",
        b"onwebkittransitionend",
        b"onfullscreenchange",
        b"onselectstart",
        b"onselectionchange",
        b"onreadystatechange",
        b"onformdata",
        b"onscrollend",
        b"oncontentvisibilityautostatechange",
    ];
    NAMES.iter().any(|n| lower_eq(n, name))
}

/// Whether `v`, with ASCII whitespace and control characters removed and
/// lower-cased (as browsers read URLs), holds a script scheme.
fn has_script_scheme(v: &[u8]) -> bool {
    const SCHEMES: &[&[u8]] = &[
        b"javascript:",
        b"vbscript:",
        b"livescript:",
        b"data:text/html",
        b"data:image/svg+xml",
        b"data:application/xhtml",
        b"data:text/xml",
    ];
    contains_compact(v, SCHEMES)
}

/// Whether `v`, compacted (lower case, no ASCII whitespace, controls or
/// backslashes), contains one of `needles`. Linear: the needles are short.
fn contains_compact(v: &[u8], needles: &[&[u8]]) -> bool {
    // A rolling window of the last 24 compacted bytes.
    let mut win = [0u8; 24];
    let mut len = 0usize;
    for &c in v {
        if c <= 0x20 || c == b'\\' || c == 0x7F {
            continue;
        }
        let c = c.to_ascii_lowercase();
        if len == win.len() {
            win.copy_within(1.., 0);
            len -= 1;
        }
        win[len] = c;
        len += 1;
        let w = &win[..len];
        if needles.iter().any(|n| w.ends_with(n)) {
            return true;
        }
    }
    false
}

/// Script in a `style` value.
fn style_has_script(v: &[u8]) -> bool {
    // CSS escapes (`\6a avascript`) are decoded first.
    let unescaped;
    let v = if v.contains(&b'\\') {
        unescaped = css_unescape(v);
        &unescaped[..]
    } else {
        v
    };
    contains_compact(
        v,
        &[
            b"expression(",
            b"javascript:",
            b"vbscript:",
            b"behavior:",
            b"behaviour:",
            b"-moz-binding",
            b"@import",
        ],
    )
}

/// Decodes CSS escapes: `\` and one to six hex digits (and one optional
/// space) is that character; `\` and another character is that character.
fn css_unescape(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] != b'\\' {
            out.push(v[i]);
            i += 1;
            continue;
        }
        let mut j = i + 1;
        let mut cp = 0u32;
        while j < v.len() && j - (i + 1) < 6 && v[j].is_ascii_hexdigit() {
            cp = cp * 16 + (v[j] as char).to_digit(16).unwrap_or(0);
            j += 1;
        }
        if j == i + 1 {
            // `\x` is `x`.
            i += 1;
            continue;
        }
        if v.get(j) == Some(&b' ') {
            j += 1;
        }
        let c = char::from_u32(cp).unwrap_or('\u{FFFD}');
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        i = j;
    }
    out
}

/// Walks the tags of `s`.
fn scan_tags(s: &[u8], scan: &mut Scan) {
    let mut i = 0;
    while i < s.len() {
        let Some(p) = memchr::memchr(b'<', &s[i..]) else {
            return;
        };
        let lt = i + p;
        i = lt + 1;
        let Some(&c) = s.get(i) else { return };
        match c {
            b'!' => {
                // Comment `<!-- … -->` or bogus comment `<!…>`.
                if s.get(i + 1..i + 3) == Some(b"--") {
                    i = find(s, i + 3, b"-->").map_or(s.len(), |e| e + 3);
                } else {
                    i = s[i..]
                        .iter()
                        .position(|&c| c == b'>')
                        .map_or(s.len(), |e| i + e + 1);
                }
            }
            b'?' => {
                i = s[i..]
                    .iter()
                    .position(|&c| c == b'>')
                    .map_or(s.len(), |e| i + e + 1);
            }
            b'/' => {
                let start = i + 1;
                if !s.get(start).is_some_and(u8::is_ascii_alphabetic) {
                    continue;
                }
                let end = name_end(s, start);
                if lower_eq(&s[start..end], b"script") {
                    scan.script_closed = true;
                }
                i = end;
            }
            c if c.is_ascii_alphabetic() => {
                i = tag(s, lt, scan);
                if scan.is_critical() {
                    return;
                }
            }
            _ => {}
        }
    }
}

fn find(s: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(s.get(from..)?, needle).map(|p| from + p)
}

/// The end of a tag name starting at `i`.
fn name_end(s: &[u8], i: usize) -> usize {
    let mut j = i;
    while j < s.len() && !is_html_space(s[j]) && !matches!(s[j], b'/' | b'>' | b'<') {
        j += 1;
    }
    j
}

/// Reads the start tag at `lt` (`<`); returns the index after it.
fn tag(s: &[u8], lt: usize, scan: &mut Scan) -> usize {
    let start = lt + 1;
    let end = name_end(s, start);
    let name = &s[start..end];
    let mut i = end;
    let mut attrs = 0usize;
    let mut has_href = false;
    // `<link rel=import|stylesheet>` loads active content (an Atom
    // `<link href>` does not).
    let mut active_rel = false;
    loop {
        while i < s.len() && (is_html_space(s[i]) || s[i] == b'/') {
            i += 1;
        }
        if i >= s.len() || s[i] == b'>' || s[i] == b'<' {
            break;
        }
        let an = i;
        i += 1; // a name may start with `=`
        while i < s.len() && !is_html_space(s[i]) && !matches!(s[i], b'/' | b'>' | b'=' | b'<') {
            i += 1;
        }
        let aname = &s[an..i];
        while i < s.len() && is_html_space(s[i]) {
            i += 1;
        }
        let mut value: Option<&[u8]> = None;
        if s.get(i) == Some(&b'=') {
            i += 1;
            while i < s.len() && is_html_space(s[i]) {
                i += 1;
            }
            match s.get(i) {
                Some(&q @ (b'"' | b'\'')) => {
                    let vs = i + 1;
                    let ve = s[vs..]
                        .iter()
                        .position(|&c| c == q)
                        .map_or(s.len(), |p| vs + p);
                    value = Some(&s[vs..ve]);
                    i = (ve + 1).min(s.len());
                }
                _ => {
                    let vs = i;
                    while i < s.len() && !is_html_space(s[i]) && s[i] != b'>' {
                        i += 1;
                    }
                    value = Some(&s[vs..i]);
                }
            }
        }
        attrs += 1;
        attribute(name, aname, value, scan);
        if lower_eq(aname, b"href") || lower_eq(aname, b"xlink:href") {
            has_href = true;
        }
        if lower_eq(aname, b"rel")
            && value
                .is_some_and(|v| contains_compact(v, &[b"import", b"stylesheet", b"modulepreload"]))
        {
            active_rel = true;
        }
        if scan.is_critical() {
            return i;
        }
    }
    if let Some(reason) = dangerous_tag(name) {
        let generic = lower_eq(name, b"script")
            && attrs == 0
            && lt > 0
            && (s[lt - 1].is_ascii_alphanumeric() || s[lt - 1] == b'_');
        if generic {
            scan.generic_script = true;
        } else {
            scan.critical(reason);
        }
    } else if let Some(reason) = suspicious_tag(name) {
        if lower_eq(name, b"base") && has_href {
            scan.critical("<base href> tag");
        } else if lower_eq(name, b"link") && has_href && active_rel {
            scan.critical("<link href> tag");
        } else if lower_eq(name, b"style") && {
            // The style sheet: up to the next tag.
            let body = &s[i.min(s.len())..];
            let end = body.iter().position(|&c| c == b'<').unwrap_or(body.len());
            style_has_script(&body[..end])
        } {
            scan.critical("script in <style>");
        } else {
            scan.add(Severity::Warning, 2, reason);
        }
    } else if known_tag(name) {
        scan.add(Severity::Notice, 3, "html tag");
    }
    i
}

/// One attribute of a tag named `tag`.
fn attribute(tag: &[u8], name: &[u8], value: Option<&[u8]>, scan: &mut Scan) {
    if is_event_handler(name) {
        if value.is_some() {
            scan.critical("event handler attribute");
        } else {
            scan.add(Severity::Warning, 2, "event handler attribute");
        }
        return;
    }
    let Some(v) = value else { return };
    if url_attribute(name) {
        if has_script_scheme(v) {
            scan.critical("script url in attribute");
        }
    } else if lower_eq(name, b"style") {
        if style_has_script(v) {
            scan.critical("script in style attribute");
        }
    } else if lower_eq(name, b"srcdoc") {
        if v.contains(&b'<') || v.contains(&b'&') {
            scan.critical("srcdoc attribute");
        }
    } else if lower_eq(name, b"attributename") && is_event_handler(v) {
        // `<set attributeName=onmouseover to=alert(1)>`
        scan.critical("event handler set by animation");
    } else if (lower_eq(name, b"attributename") && lower_eq(v, b"href"))
        || (lower_eq(tag, b"meta") && lower_eq(name, b"http-equiv") && lower_eq(v, b"refresh"))
    {
        scan.add(Severity::Warning, 2, "script-capable attribute");
    } else if has_script_scheme(v) {
        scan.add(Severity::Error, 2, "script url in attribute");
    }
}

/// An attribute breakout outside any tag: a known event handler name at a
/// word start followed by `=`. Right after a quote or `/` (`" onfocus="`,
/// `'/onload=`) it is an attack; after a space, when the value calls a
/// sink (`x onmouseover=alert(1)`).
fn attribute_breakout(s: &[u8], scan: &mut Scan) {
    let mut i = 0;
    while i + 2 < s.len() {
        let c = s[i];
        if (c == b'o' || c == b'O')
            && matches!(s[i + 1], b'n' | b'N')
            && (i == 0 || !s[i - 1].is_ascii_alphanumeric())
        {
            let mut j = i + 2;
            while j < s.len() && s[j].is_ascii_alphabetic() {
                j += 1;
            }
            let name = &s[i..j];
            let mut k = j;
            while k < s.len() && is_html_space(s[k]) {
                k += 1;
            }
            if s.get(k) == Some(&b'=') && is_event_handler(name) {
                let before = prev_non_space(s, i);
                let known = known_event_handler(name);
                let after_quote = matches!(before, Some(b'"' | b'\'' | b'/' | b'`'));
                let sink = calls_sink(&s[k + 1..(k + 80).min(s.len())]);
                if known && (after_quote || sink) {
                    scan.critical("event handler attribute breakout");
                    return;
                }
                if known || sink {
                    scan.add(Severity::Warning, 2, "event handler attribute");
                }
            }
            i = j;
            continue;
        }
        i += 1;
    }
}

/// The last non-space byte before `i`, skipping other attribute names
/// (`' autofocus onfocus=`).
fn prev_non_space(s: &[u8], i: usize) -> Option<u8> {
    let mut j = i;
    let mut words = 0;
    loop {
        while j > 0 && is_html_space(s[j - 1]) {
            j -= 1;
        }
        if j == 0 {
            return None;
        }
        let c = s[j - 1];
        if c.is_ascii_alphabetic() && words < 3 {
            // A preceding boolean attribute like `autofocus`.
            let mut w = j;
            while w > 0 && (s[w - 1].is_ascii_alphanumeric() || s[w - 1] == b'-') {
                w -= 1;
            }
            if j - w > 20 {
                return Some(c);
            }
            let word = &s[w..j];
            if BOOLEAN_ATTRS.iter().any(|b| lower_eq(b, word)) {
                j = w;
                words += 1;
                continue;
            }
            return Some(c);
        }
        return Some(c);
    }
}

const BOOLEAN_ATTRS: &[&[u8]] = &[
    b"autofocus",
    b"contenteditable",
    b"tabindex",
    b"draggable",
    b"open",
    b"hidden",
    b"x",
    b"id",
];

/// Whether `v` (an attribute or script text) calls a JavaScript sink.
fn calls_sink(v: &[u8]) -> bool {
    contains_compact(
        v,
        &[
            b"alert(",
            b"alert`",
            b"prompt(",
            b"prompt`",
            b"confirm(",
            b"confirm`",
            b"eval(",
            b"fetch(",
            b"import(",
            b"document.cookie",
            b"document.domain",
            b"document.location",
            b"document.write",
            b"window.location",
            b"location.href",
            b"location=",
            b"fromcharcode",
            b"atob(",
            b"settimeout(",
            b"setinterval(",
            b"constructor(",
            b"print(",
            b"top[",
            b"window[",
            b"self[",
        ],
    )
}

/// Longest markdown link target looked at.
const MAX_LINK: usize = 512;

/// The target of a markdown link, `rest` starting after `](`: up to the
/// first blank after it (a URL holds none), at most [`MAX_LINK`] bytes, so
/// that many links cost no more than their length.
fn link_target(rest: &[u8]) -> &[u8] {
    let lead = rest
        .iter()
        .take(MAX_LINK)
        .take_while(|c| **c <= b' ')
        .count();
    let end = rest[lead..]
        .iter()
        .take(MAX_LINK)
        .position(|c| c.is_ascii_whitespace())
        .map_or(rest.len().min(lead + MAX_LINK), |e| lead + e);
    &rest[..end]
}

/// The whole value is a script URL (`javascript:alert(1)`), as pasted into
/// a link or redirect target.
fn script_url_value(s: &[u8], scan: &mut Scan) {
    let mut i = 0;
    while i < s.len() && (s[i] <= 0x20 || s[i] == 0x7F) {
        i += 1;
    }
    let rest = &s[i..];
    // Find the scheme: letters, with tabs and newlines ignored.
    let mut scheme = [0u8; 16];
    let mut n = 0;
    let mut j = 0;
    while j < rest.len() && n < scheme.len() {
        let c = rest[j];
        if matches!(c, b'\t' | b'\n' | b'\r') {
            j += 1;
            continue;
        }
        if c == b':' {
            break;
        }
        if !c.is_ascii_alphabetic() {
            return;
        }
        scheme[n] = c.to_ascii_lowercase();
        n += 1;
        j += 1;
    }
    if rest.get(j) != Some(&b':') {
        return;
    }
    let after = &rest[j + 1..];
    match &scheme[..n] {
        b"javascript" | b"vbscript" | b"livescript" => {
            let payload = after.contains(&b'(')
                || after.contains(&b'`')
                || after.starts_with(b"//")
                || after.contains(&b'=')
                || !after.contains(&b' ');
            if payload && !after.is_empty() {
                scan.critical("script url");
            } else {
                scan.add(Severity::Notice, 3, "script url");
            }
        }
        b"data"
            if contains_compact(
                &after[..after.len().min(40)],
                &[
                    b"text/html",
                    b"image/svg+xml",
                    b"application/xhtml",
                    b"text/xml",
                ],
            ) =>
        {
            scan.critical("data: url with html");
        }
        _ => {}
    }
}

/// A JavaScript string breakout: a quote, then an operator or `;`, then a
/// sink call (`';alert(1)//`, `"-alert(1)-"`, `\";alert(1);//`), or a
/// template-literal expression calling one (`${alert(1)}`).
fn js_breakout(s: &[u8], scan: &mut Scan) {
    for (i, &c) in s.iter().enumerate() {
        if !matches!(c, b'\'' | b'"' | b'`' | b'$') {
            continue;
        }
        let mut j = i + 1;
        if c == b'$' {
            if s.get(j) != Some(&b'{') {
                continue;
            }
            j += 1;
        } else {
            // Closers and one operator.
            while j < s.len() && (is_html_space(s[j]) || matches!(s[j], b')' | b']' | b'}')) {
                j += 1;
            }
            if !s.get(j).is_some_and(|&o| {
                matches!(
                    o,
                    b';' | b'+'
                        | b'-'
                        | b'*'
                        | b'/'
                        | b'|'
                        | b'&'
                        | b','
                        | b'^'
                        | b'%'
                        | b'<'
                        | b'>'
                        | b'='
                        | b'?'
                        | b':'
                        | b'('
                )
            }) {
                continue;
            }
            j += 1;
        }
        while j < s.len()
            && (is_html_space(s[j]) || matches!(s[j], b'(' | b'!' | b'~' | b'+' | b'-' | b'['))
        {
            j += 1;
        }
        let Some(tail) = s.get(j..) else { continue };
        let tail = &tail[..tail.len().min(32)];
        if starts_with_sink(tail) {
            scan.critical("javascript string breakout");
            return;
        }
    }
}

/// Script without a tag or a breakout, as it runs where a value lands in
/// a script context or an `eval`: the Function constructor
/// (`constructor.constructor('…')()`), a property name built from strings
/// and called (`window['al'+'ert'](1)`), and a sink called indirectly
/// (`(alert)(1)`, `alert.call(null,1)`) at the start of the value.
fn js_expression(s: &[u8], scan: &mut Scan) {
    if contains_compact(s, &[b"constructor.constructor("]) {
        scan.critical("Function constructor call");
        return;
    }
    // `[ 'al' + 'ert' ](` — a concatenated property name, called.
    let mut from = 0;
    while let Some(p) = memchr::memchr(b'[', &s[from..]).map(|p| from + p) {
        from = p + 1;
        let window = &s[p + 1..s.len().min(p + 65)];
        let Some(close) = memchr::memchr(b']', window) else {
            continue;
        };
        let inner = window[..close].trim_ascii();
        let quoted = inner.first().is_some_and(|&q| q == b'\'' || q == b'"');
        let concatenated = inner
            .windows(3)
            .any(|w| matches!(w[0], b'\'' | b'"') && w[1] == b'+' && matches!(w[2], b'\'' | b'"'))
            || inner.windows(5).any(|w| {
                matches!(w[0], b'\'' | b'"') && w[2] == b'+' && matches!(w[4], b'\'' | b'"')
            });
        let called = window
            .get(close + 1..)
            .is_some_and(|rest| matches!(rest.trim_ascii_start().first(), Some(b'(' | b'`')));
        if quoted && concatenated && called {
            scan.critical("concatenated property call");
            return;
        }
    }
    // The value itself starts with an indirect sink call (a plain
    // `alert(1)` with no breakout is left to the other checks: a function
    // named in prose or code).
    let t = s.trim_ascii_start();
    let (wrapped, t) = match t.strip_prefix(b"(") {
        Some(rest) => (true, rest.trim_ascii_start()),
        None => (false, t),
    };
    const SINKS: &[&[u8]] = &[b"alert", b"prompt", b"confirm", b"eval"];
    for sink in SINKS {
        if t.len() > sink.len() && lower_eq(&t[..sink.len()], sink) {
            let rest = &t[sink.len()..];
            if rest.starts_with(b".call(")
                || rest.starts_with(b".apply(")
                || (wrapped && rest.starts_with(b")("))
            {
                scan.critical("indirect javascript sink call");
            }
            return;
        }
    }
}

/// Whether `t` starts with a call of a JavaScript sink (`alert(`,
/// ``alert`1` ``, `eval(`), a sensitive property (`document.cookie`), or
/// bracket obfuscation (`top['al'+'ert']`). Plain property reads in code
/// (`'a' + document.title`) are not sinks.
fn starts_with_sink(t: &[u8]) -> bool {
    // Called: a `(` or a backtick must follow.
    const CALLS: &[&[u8]] = &[
        b"alert",
        b"prompt",
        b"confirm",
        b"eval",
        b"fetch",
        b"settimeout",
        b"setinterval",
        b"import",
        b"string.fromcharcode",
        b"constructor",
        b"window.open",
        b"document.write",
        b"document.writeln",
    ];
    // Whole: complete as they are.
    const WHOLE: &[&[u8]] = &[
        b"document.cookie",
        b"document.domain",
        b"document.location",
        b"window.location",
        b"location=",
        b"location.href=",
        b"top[",
        b"self[",
        b"this[",
        b"window[",
        b"parent[",
        b"frames[",
    ];
    let starts = |k: &[u8]| t.len() >= k.len() && lower_eq(&t[..k.len()], k);
    // `alert(1)`, ``alert`1` ``, and called indirectly: `alert.call(…)`,
    // `alert.apply(…)`, `(alert)(1)`.
    let called = |rest: &[u8]| {
        matches!(rest.first(), Some(b'(' | b'`'))
            || rest.starts_with(b".call(")
            || rest.starts_with(b".apply(")
            || rest.starts_with(b".bind(")
            || rest.starts_with(b")(")
    };
    CALLS.iter().any(|k| starts(k) && called(&t[k.len()..])) || WHOLE.iter().any(|k| starts(k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Hints;
    use crate::normalize::normalize;
    use crate::report::ValueKind;

    fn run(v: &str) -> Option<Hit> {
        let n = normalize(v);
        CrossSiteScripting.detect(
            &n,
            &Context {
                kind: ValueKind::JsonString,
                hints: &Hints::default(),
                paranoia: 1,
            },
        )
    }

    fn blocks(v: &str) -> bool {
        run(v).is_some_and(|h| h.paranoia == 1 && h.severity == Severity::Critical)
    }

    fn pl1_score(v: &str) -> u32 {
        run(v)
            .filter(|h| h.paranoia == 1)
            .map_or(0, |h| h.severity.score())
    }

    #[test]
    fn attacks_block_at_pl1() {
        let attacks = [
            "<script>alert(1)</script>",
            "<ScRiPt>alert(1)</sCrIpT>",
            "<script src=//evil.example/x.js></script>",
            "<script/src=data:,alert(1)>",
            "\"><script>alert(document.cookie)</script>",
            "</title><script>alert(1)</script>",
            "<scr<script>ipt>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "<img src=x onerror=alert(1)//",
            "<IMG SRC=\"javascript:alert('XSS');\">",
            "<img src=javascript:alert(1)>",
            "<svg onload=alert(1)>",
            "<svg/onload=alert(1)>",
            "<body onload=alert(1)>",
            "<iframe src=\"javascript:alert(1)\"></iframe>",
            "<iframe srcdoc=\"&lt;script&gt;alert(1)&lt;/script&gt;\">",
            "<object data=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">",
            "<embed src=x.swf>",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<a href=\"jav&#x09;ascript:alert(1)\">x</a>",
            "<a href=\"jav\tascript:alert(1)\">x</a>",
            "<a href=\"&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)\">x</a>",
            "<a href=\"javascript&colon;alert&lpar;1&rpar;\">x</a>",
            "<a href=' JaVaScRiPt:alert(1)'>x</a>",
            "<form action=javascript:alert(1)><input type=submit>",
            "<form><button formaction=javascript:alert(1)>x</button></form>",
            "<svg><a xlink:href=\"javascript:alert(1)\"><text>x</text></a></svg>",
            "<math><maction actiontype=statusline xlink:href=javascript:alert(1)>x</maction></math>",
            "<div style=\"width: expression(alert(1))\">",
            "<div style=\"background:url(javascript:alert(1))\">",
            "<input autofocus onfocus=alert(1)>",
            "<details open ontoggle=alert(1)>",
            "<video><source onerror=\"alert(1)\">",
            "<marquee onstart=alert(1)>",
            "<x onpointerrawupdate=alert(1)>",
            "<base href=\"//evil.example/\">",
            "\" onmouseover=\"alert(1)",
            "' autofocus onfocus='alert(1)",
            "\" onfocus=alert(1) autofocus x=\"",
            "x onmouseover=alert(document.cookie)",
            "javascript:alert(1)",
            " javascript:alert(document.domain)",
            "JaVaScRiPt:alert(1)",
            "javascript://%0aalert(1)",
            "vbscript:msgbox(1)",
            "data:text/html,<script>alert(1)</script>",
            "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
            "';alert(1)//",
            "\";alert(1);//",
            "'-alert(1)-'",
            "\"-alert(1)-\"",
            "';alert(String.fromCharCode(88,83,83))//",
            "\\\";alert(1);//",
            "'}};alert(1);//",
            "${alert(1)}",
            "%3Cscript%3Ealert(1)%3C/script%3E",
            "%253Cscript%253Ealert(1)%253C%252Fscript%253E",
            "&lt;script&gt;alert(1)&lt;/script&gt;",
            "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e",
            "\\x3cimg src=x onerror=alert(1)\\x3e",
            "＜script＞alert(1)＜/script＞",
            "<img src=x oNeRrOr=alert`1`>",
            "<img\nsrc=x\nonerror=alert(1)>",
            "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
            "<!--<img src=\"--><img src=x onerror=alert(1)//\">",
            "<sCrIpT>alert(1)",
            "<script>",
            "x<script>alert(1)</script>",
            "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
            "<link rel=stylesheet href=javascript:alert(1)>",
            "<img src=x onerror=\"&#x61;lert(1)\">",
            "<a/href=javascript&colon;alert(1)>x",
            "&#x3c;link rel&#x3d;import href&#x3d;&#x22;&#x2f;&#x2f;evil.example&#x2f;x.html&#x22;&#x3e;",
            "<style>@import 'javascript:alert(1)';</style>",
            "<STYLE>li {list-style-image: url(\"javascript:alert('XSS')\");}</STYLE>",
            "<DIV STYLE=\"background-image:\\0075\\0072\\006C\\0028'\\006a\\0061\\0076\\0061\\0073\\0063\\0072\\0069\\0070\\0074\\003a\\0061\\006c\\0065\\0072\\0074\\0028.1027\\0058.1053\\0053\\0027\\0029'\\0029\">",
            "<svg><set attributeName=onmouseover to=alert(1)>",
            "https://shop.example.com/search?q=vbscript%3Amsgbox%28%22xss%22%29",
            "<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=alert(\"XSS\")>",
        ];
        let missed: Vec<_> = attacks.iter().filter(|a| !blocks(a)).collect();
        assert!(missed.is_empty(), "missed: {missed:#?}");
    }

    #[test]
    fn text_does_not_block() {
        let benign = [
            "a < b",
            "x<5 and y>3",
            "if (a<b) {}",
            "if (a<b && c>d) { return a; }",
            "<3",
            "I <3 you",
            "<alice@example.com>",
            "Alice <alice@example.com>",
            "<https://example.com/a?b=c>",
            "1 <= 2 >= 0",
            "a<b>c",
            "<b>bold</b> and <i>italic</i>",
            "<p>Hello</p>",
            "**bold** _italic_ `code` [link](https://example.com)",
            "Use the script to load the page",
            "The onload event fires when the page loads",
            "the onclick handler",
            "I wrote a script: it runs onload.",
            "javascript: the good parts",
            "JavaScript: The Definitive Guide",
            "Vec<String> and HashMap<K, V>",
            "List<Map<String, Object>>",
            "Promise<Script>",
            "fn foo<T: Clone>(x: T) -> T",
            "once = true",
            "online=yes",
            "alert('hi')",
            "please confirm(yes) by email",
            "It's 'great' - really",
            "She said \"hi\" - then left",
            "don't; it's fine",
            "price: $5 + tax",
            "${HOME}/bin",
            "mailto:alice@example.com",
            "https://example.com/path?x=1&y=2",
            "data:image/png;base64,iVBORw0KGgo=",
            "10:30 - 11:00",
            "note: see <https://example.com>",
            "<!-- a comment -->",
            "<!DOCTYPE html>",
            "<?xml version=\"1.0\"?>",
            "=> arrow",
            "a => b",
            "key=value; other=thing",
            "O'Brien's \"quote\" + more",
            "\"x\" + \"y\"",
            "'a' || 'b'",
            "He said 'alert the team'",
            "var title = 'Hello, ' + document.title;",
            "console.log('x: ' + x);",
            "alert('Saved!')",
            "'a' + location.hash",
            "window.location is a property",
            "x < y > z",
            "<<< merge conflict >>>",
            "<- arrow ->",
            "< script >",
            "<scriptx>",
            "email: bob@example.com <Bob Smith>",
            "<name>John</name>",
            "<user id=\"5\">",
            "on=1",
            "onset=fast",
            "<?xml version=\"1.0\"?><feed><entry><title>Q2</title><link href=\"https://example.com/q2\"/></entry></feed>",
            "https://example.com/search?q=javascript%20tutorial&page=2",
            "<style>.a { color: red }</style>",
            "Prices: <$50, >$100",
            "Emoticons >_< and ^_^ and <(^_^)>",
            "std::vector<int> v;",
            "template <typename T> class Foo {};",
        ];
        let flagged: Vec<_> = benign
            .iter()
            .filter(|b| pl1_score(b) >= 5)
            .map(|b| (b, run(b)))
            .collect();
        assert!(flagged.is_empty(), "flagged: {flagged:#?}");
        // Harmless tags: notice at PL3 at most.
        let h = run("<b>bold</b>").unwrap();
        assert_eq!((h.severity, h.paranoia), (Severity::Notice, 3));
        assert_eq!(run("a < b"), None);
        assert_eq!(run("Use the script onload"), None);
    }

    #[test]
    fn hostile_inputs_are_linear() {
        let t = std::time::Instant::now();
        for s in [
            "<".repeat(60_000),
            "<a ".repeat(20_000),
            "<a b=\"".repeat(10_000),
            "'".repeat(60_000),
            "on=".repeat(20_000),
            "<!--".repeat(15_000),
            "'-".repeat(30_000),
        ] {
            let _ = run(&s);
        }
        assert!(t.elapsed().as_millis() < 2000);
    }

    #[test]
    fn script_without_a_tag() {
        for v in [
            "See [my portfolio](javascript:alert(document.cookie)) for details",
            "';alert.call(null,1)//",
            "\"-(alert)(1)-\"",
            "alert.call(null,1)",
            "(alert)(1)",
            "window['al'+'ert'](1)",
            "constructor.constructor('alert(1)')()",
            "'';!--\"<XSS>=&{()}",
        ] {
            assert!(blocks(v), "{v}: {:?}", run(v));
        }
        for v in [
            "Call alert(1) when the form is invalid, then prompt(2)",
            "Use arr['first'+'Name'] in the template",
            "I wrote [docs](https://example.com/javascript:intro) and [guide](./guide.md)",
            "The constructor pattern and Object.constructor are different",
        ] {
            assert!(!blocks(v), "{v}: {:?}", run(v));
        }
    }
}
