//! The shape of a JSON body: nesting depth, array lengths, string sizes and
//! property counts, checked before anything parses the body into a tree.
//!
//! [`check`] reads the bytes once, left to right, with an explicit stack no
//! deeper than `max_depth`: no recursion (a megabyte of `[[[[…` cannot
//! overflow the stack), no allocation per value, time linear in the body.
//! It also rejects what is not JSON (RFC 8259: UTF-8, one value, no trailing
//! commas, no lone surrogate escapes). A violation names its rule and the
//! JSON pointer where the limit was crossed, never the offending value.

use std::fmt;

/// Limits on the shape of a JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonShapeLimits {
    /// Most nested arrays and objects: `[[1]]` has depth 2, a scalar 0.
    pub max_depth: usize,
    /// Most items in one array.
    pub max_array_items: usize,
    /// Most bytes in one string (key or value), counted decoded (UTF-8,
    /// escapes resolved).
    pub max_string_bytes: usize,
    /// Most properties (keys, duplicates included) in one object.
    pub max_properties: usize,
}

impl Default for JsonShapeLimits {
    /// Generous for real APIs, far below what hurts a parser or a database:
    /// depth 32, 10 000 items per array, 1 MiB per string, 1 000 properties
    /// per object.
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_array_items: 10_000,
            max_string_bytes: 1024 * 1024,
            max_properties: 1_000,
        }
    }
}

/// Which limit a body broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShapeRule {
    /// Nested deeper than `max_depth`.
    MaxDepth,
    /// An array with more than `max_array_items` items.
    MaxArrayItems,
    /// A string (key or value) longer than `max_string_bytes`.
    MaxStringBytes,
    /// An object with more than `max_properties` properties.
    MaxProperties,
    /// Not JSON at all (syntax, invalid UTF-8, bad escape, trailing data).
    Json,
}

impl ShapeRule {
    /// The rule's name: the limit's field name, or `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            ShapeRule::MaxDepth => "max_depth",
            ShapeRule::MaxArrayItems => "max_array_items",
            ShapeRule::MaxStringBytes => "max_string_bytes",
            ShapeRule::MaxProperties => "max_properties",
            ShapeRule::Json => "json",
        }
    }
}

/// Where and how a body broke its shape limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeViolation {
    /// The rule.
    pub rule: ShapeRule,
    /// RFC 6901 pointer: the container that is too deep, too long or has
    /// too many properties; the string that is too long (its object, for a
    /// key); the value being read when the syntax broke. Object keys longer
    /// than [`POINTER_KEY_MAX`] bytes are cut and end in `…`.
    pub pointer: String,
}

impl fmt::Display for ShapeViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "the root"
        } else {
            &self.pointer
        };
        write!(f, "{} exceeded at {at}", self.rule.as_str())
    }
}

impl std::error::Error for ShapeViolation {}

/// The longest object key written into a pointer, in bytes.
pub const POINTER_KEY_MAX: usize = 128;

/// Checks `body` against `limits`; the first violation in document order.
pub fn check(body: &[u8], limits: &JsonShapeLimits) -> Result<(), ShapeViolation> {
    Scanner {
        b: body,
        i: 0,
        limits,
        stack: Vec::new(),
    }
    .run()
}

/// One open array or object.
enum Frame {
    /// `items` so far; the current item's index is `items - 1`.
    Array { items: usize },
    /// `props` so far; `key` is the raw (escaped) span of the current key.
    Object {
        props: usize,
        key: Option<(usize, usize)>,
    },
}

/// What may come next.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A value (top level, after `:` or `,` in an array).
    Value,
    /// A value or `]` (just after `[`).
    ValueOrClose,
    /// A key or `}` (just after `{`).
    KeyOrClose,
    /// A key (after `,` in an object).
    Key,
    /// `:` after a key.
    Colon,
    /// `,` or the closing bracket of the current container.
    CommaOrClose,
    /// Nothing but whitespace.
    End,
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    limits: &'a JsonShapeLimits,
    stack: Vec<Frame>,
}

impl Scanner<'_> {
    fn run(mut self) -> Result<(), ShapeViolation> {
        let mut expect = Expect::Value;
        loop {
            self.skip_whitespace();
            let Some(&c) = self.b.get(self.i) else {
                // Cut short: the innermost open container is unfinished.
                return if expect == Expect::End {
                    Ok(())
                } else {
                    Err(self.fail(ShapeRule::Json, self.open_container()))
                };
            };
            expect = match expect {
                Expect::End => return Err(self.fail(ShapeRule::Json, 0)),
                Expect::Value => self.value(c)?,
                Expect::ValueOrClose if c == b']' => self.close(),
                Expect::ValueOrClose => self.value(c)?,
                Expect::KeyOrClose if c == b'}' => self.close(),
                Expect::KeyOrClose | Expect::Key => self.key(c)?,
                Expect::Colon if c == b':' => {
                    self.i += 1;
                    Expect::Value
                }
                Expect::Colon => return Err(self.fail(ShapeRule::Json, self.open_container())),
                Expect::CommaOrClose => match (c, self.stack.last()) {
                    (b',', Some(Frame::Array { .. })) => {
                        self.i += 1;
                        Expect::Value
                    }
                    (b',', Some(Frame::Object { .. })) => {
                        self.i += 1;
                        Expect::Key
                    }
                    (b']', Some(Frame::Array { .. })) | (b'}', Some(Frame::Object { .. })) => {
                        self.close()
                    }
                    _ => return Err(self.fail(ShapeRule::Json, self.open_container())),
                },
            };
        }
    }

    /// The frames naming the innermost open container.
    fn open_container(&self) -> usize {
        self.stack.len().saturating_sub(1)
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// Reads one value starting with `c`; a container is only opened.
    fn value(&mut self, c: u8) -> Result<Expect, ShapeViolation> {
        // Count the item before anything else, so the pointer names it.
        let depth = self.stack.len();
        if let Some(Frame::Array { items }) = self.stack.last_mut() {
            *items += 1;
            if *items > self.limits.max_array_items {
                return Err(self.fail(ShapeRule::MaxArrayItems, depth - 1));
            }
        }
        match c {
            b'[' | b'{' => {
                if depth >= self.limits.max_depth {
                    return Err(self.fail(ShapeRule::MaxDepth, depth));
                }
                self.i += 1;
                if c == b'[' {
                    self.stack.push(Frame::Array { items: 0 });
                    Ok(Expect::ValueOrClose)
                } else {
                    self.stack.push(Frame::Object {
                        props: 0,
                        key: None,
                    });
                    Ok(Expect::KeyOrClose)
                }
            }
            b'"' => {
                self.string().map_err(|rule| self.fail(rule, depth))?;
                Ok(self.after_value())
            }
            b'-' | b'0'..=b'9' => {
                if !self.number() {
                    return Err(self.fail(ShapeRule::Json, depth));
                }
                Ok(self.after_value())
            }
            b't' | b'f' | b'n' => {
                let word: &[u8] = match c {
                    b't' => b"true",
                    b'f' => b"false",
                    _ => b"null",
                };
                if !self.b[self.i..].starts_with(word) {
                    return Err(self.fail(ShapeRule::Json, depth));
                }
                self.i += word.len();
                Ok(self.after_value())
            }
            _ => Err(self.fail(ShapeRule::Json, depth)),
        }
    }

    /// Reads a key (and counts it) inside the current object.
    fn key(&mut self, c: u8) -> Result<Expect, ShapeViolation> {
        let object = self.open_container();
        if c != b'"' {
            return Err(self.fail(ShapeRule::Json, object));
        }
        if let Some(Frame::Object { props, key }) = self.stack.last_mut() {
            *props += 1;
            // A key that cannot be read is not part of any pointer.
            *key = None;
            if *props > self.limits.max_properties {
                return Err(self.fail(ShapeRule::MaxProperties, object));
            }
        }
        let start = self.i + 1;
        self.string().map_err(|rule| self.fail(rule, object))?;
        if let Some(Frame::Object { key, .. }) = self.stack.last_mut() {
            *key = Some((start, self.i - 1));
        }
        Ok(Expect::Colon)
    }

    /// Closes the current container (the byte at `i` is its bracket).
    fn close(&mut self) -> Expect {
        self.i += 1;
        self.stack.pop();
        self.after_value()
    }

    fn after_value(&self) -> Expect {
        if self.stack.is_empty() {
            Expect::End
        } else {
            Expect::CommaOrClose
        }
    }

    /// Reads a string whose `"` is at `i`, leaving `i` after the closing
    /// quote; checks its decoded length, escapes and UTF-8.
    fn string(&mut self) -> Result<(), ShapeRule> {
        let b = self.b;
        let max = self.limits.max_string_bytes;
        let start = self.i + 1;
        let mut i = start;
        let mut decoded = 0usize;
        let mut ascii = true;
        loop {
            // The plain run up to the next quote, backslash or control byte.
            let run_start = i;
            while let Some(&c) = b.get(i) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                ascii &= c < 0x80;
                i += 1;
            }
            decoded += i - run_start;
            if decoded > max {
                return Err(ShapeRule::MaxStringBytes);
            }
            match b.get(i) {
                Some(b'"') => break,
                Some(b'\\') => {
                    let (len, width) = escape(&b[i..]).ok_or(ShapeRule::Json)?;
                    i += len;
                    decoded += width;
                    if decoded > max {
                        return Err(ShapeRule::MaxStringBytes);
                    }
                }
                // A control byte, or the end of the body.
                _ => return Err(ShapeRule::Json),
            }
        }
        if !ascii && std::str::from_utf8(&b[start..i]).is_err() {
            return Err(ShapeRule::Json);
        }
        self.i = i + 1;
        Ok(())
    }

    /// Reads a number at `i` (RFC 8259 grammar); `false` if malformed.
    fn number(&mut self) -> bool {
        let b = self.b;
        let mut i = self.i;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => i = digits(b, i),
            _ => return false,
        }
        if b.get(i) == Some(&b'.') {
            let after = digits(b, i + 1);
            if after == i + 1 {
                return false;
            }
            i = after;
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            let after = digits(b, i);
            if after == i {
                return false;
            }
            i = after;
        }
        self.i = i;
        true
    }

    /// The violation of `rule` at the pointer made of the first `frames`
    /// frames of the stack.
    fn fail(&self, rule: ShapeRule, frames: usize) -> ShapeViolation {
        let mut pointer = String::new();
        for frame in self.stack.iter().take(frames) {
            pointer.push('/');
            match frame {
                Frame::Array { items } => pointer.push_str(&items.saturating_sub(1).to_string()),
                Frame::Object {
                    key: Some((s, e)), ..
                } => {
                    push_key(&mut pointer, &self.b[*s..*e]);
                }
                // Only reached when the key itself is what failed, and then
                // the pointer stops at the object.
                Frame::Object { key: None, .. } => {}
            }
        }
        ShapeViolation { rule, pointer }
    }
}

/// The end of the run of ASCII digits starting at `i`.
fn digits(b: &[u8], mut i: usize) -> usize {
    while let Some(b'0'..=b'9') = b.get(i) {
        i += 1;
    }
    i
}

/// The escape at the start of `s` (`\` first): its length in the body and
/// its decoded UTF-8 width, or `None` if invalid (unknown escape, bad hex,
/// lone surrogate).
fn escape(s: &[u8]) -> Option<(usize, usize)> {
    match s.get(1)? {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some((2, 1)),
        b'u' => {
            let unit = hex4(s.get(2..6)?)?;
            match unit {
                0xD800..=0xDBFF => {
                    // A high surrogate must be followed by a low one.
                    if s.get(6..8)? != b"\\u" {
                        return None;
                    }
                    let low = hex4(s.get(8..12)?)?;
                    (0xDC00..=0xDFFF).contains(&low).then_some((12, 4))
                }
                0xDC00..=0xDFFF => None,
                0..0x80 => Some((6, 1)),
                0x80..0x800 => Some((6, 2)),
                _ => Some((6, 3)),
            }
        }
        _ => None,
    }
}

fn hex4(h: &[u8]) -> Option<u32> {
    h.iter().try_fold(0u32, |acc, &c| {
        let d = (c as char).to_digit(16)?;
        Some(acc * 16 + d)
    })
}

/// Appends an already validated raw key, decoded and escaped for a pointer
/// (`~` → `~0`, `/` → `~1`), cut at [`POINTER_KEY_MAX`] bytes.
fn push_key(pointer: &mut String, raw: &[u8]) {
    let mut written = 0;
    let mut i = 0;
    while i < raw.len() {
        let (ch, len) = if raw[i] == b'\\' {
            decode_escape(&raw[i..])
        } else {
            let end = raw[i..]
                .iter()
                .position(|&c| c == b'\\')
                .map_or(raw.len(), |p| i + p);
            let text = String::from_utf8_lossy(&raw[i..end]);
            for ch in text.chars() {
                if !push_pointer_char(pointer, ch, &mut written) {
                    return;
                }
            }
            i = end;
            continue;
        };
        if !push_pointer_char(pointer, ch, &mut written) {
            return;
        }
        i += len;
    }
}

/// Pushes one key character; `false` (after writing `…`) once the key is
/// too long.
fn push_pointer_char(pointer: &mut String, ch: char, written: &mut usize) -> bool {
    if *written + ch.len_utf8() > POINTER_KEY_MAX {
        pointer.push('…');
        return false;
    }
    *written += ch.len_utf8();
    match ch {
        '~' => pointer.push_str("~0"),
        '/' => pointer.push_str("~1"),
        c => pointer.push(c),
    }
    true
}

/// The character of a validated escape and its length in the body.
fn decode_escape(s: &[u8]) -> (char, usize) {
    let simple = |c| (c, 2);
    match s.get(1) {
        Some(b'b') => simple('\u{8}'),
        Some(b'f') => simple('\u{c}'),
        Some(b'n') => simple('\n'),
        Some(b'r') => simple('\r'),
        Some(b't') => simple('\t'),
        Some(b'u') => {
            let unit = s.get(2..6).and_then(hex4).unwrap_or(0xFFFD);
            if (0xD800..=0xDBFF).contains(&unit) {
                let low = s.get(8..12).and_then(hex4).unwrap_or(0xDC00);
                let cp = 0x10000 + ((unit - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3FF);
                (char::from_u32(cp).unwrap_or('\u{FFFD}'), 12)
            } else {
                (char::from_u32(unit).unwrap_or('\u{FFFD}'), 6)
            }
        }
        Some(&c) => simple(c as char),
        None => simple('\\'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> JsonShapeLimits {
        JsonShapeLimits {
            max_depth: 4,
            max_array_items: 3,
            max_string_bytes: 8,
            max_properties: 3,
        }
    }

    fn violation(body: &str) -> (&'static str, String) {
        violation_bytes(body.as_bytes(), &limits())
    }

    fn violation_bytes(body: &[u8], l: &JsonShapeLimits) -> (&'static str, String) {
        let v = check(body, l).expect_err("a violation");
        (v.rule.as_str(), v.pointer)
    }

    fn ok(body: &str) {
        assert_eq!(check(body.as_bytes(), &limits()), Ok(()), "{body}");
    }

    #[test]
    fn accepts_json_within_limits() {
        for body in [
            "null",
            " true ",
            "false",
            "0",
            "-0.5e+10",
            "12E3",
            "\"12345678\"",
            "[]",
            "{}",
            "[1,2,3]",
            r#"{"a":1,"b":[true,false,null],"c":{"d":"e"}}"#,
            "[[[[]]]]",
            r#"{"k":"\u00e9\u00e9\u00e9\u00e9"}"#,
            r#"["\ud83d\ude00\ud83d\ude00"]"#,
            "\"caf\u{e9}\"",
            "\r\n\t [ 1 , { \"a\" : 2 } ] \n",
        ] {
            ok(body);
        }
    }

    #[test]
    fn agrees_with_serde_json_on_validity() {
        for body in [
            "",
            " ",
            "[",
            "]",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a:1}",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "+1",
            "tru",
            "nul",
            "[1 2]",
            "{\"a\":1}}",
            "[]]",
            "1 2",
            "\"a",
            "\"\\x\"",
            "\"\\u12G4\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"tab\there\"",
            "[\"a\"\"b\"]",
            "{\"a\":}",
            "{,}",
            "[,1]",
            "NaN",
            "\u{feff}1",
            "[1,2,3]",
            "{\"a\":[1,{\"b\":null}]}",
            "\"\\ud83d\\ude00\"",
            "-0",
            "1E-2",
        ] {
            let ours = check(body.as_bytes(), &JsonShapeLimits::default()).is_ok();
            let serde = serde_json::from_str::<serde_json::Value>(body).is_ok();
            assert_eq!(ours, serde, "{body:?}");
        }
    }

    #[test]
    fn malformed_input_is_json_with_its_location() {
        assert_eq!(violation(""), ("json", String::new()));
        assert_eq!(violation("[1,]"), ("json", "/1".into()));
        assert_eq!(violation(r#"{"a":[1,x]}"#), ("json", "/a/1".into()));
        assert_eq!(violation(r#"{"a":1,}"#), ("json", String::new()));
        assert_eq!(violation("[1] [2]"), ("json", String::new()));
        assert_eq!(violation(r#"{"a":[1"#), ("json", "/a".into()));
    }

    #[test]
    fn invalid_utf8_is_json() {
        for body in [
            &b"\"\xff\""[..],
            b"[\"ok\", \"\xc3\x28\"]",
            b"\"\xed\xa0\x80\"", // an encoded surrogate
            b"\"\xe2\x82\"",     // truncated sequence
            b"\xef\xbb\xbf{}",   // a BOM is not JSON
            b"[1,\xff]",
        ] {
            let v = check(body, &JsonShapeLimits::default()).unwrap_err();
            assert_eq!(v.rule, ShapeRule::Json, "{body:?}");
        }
        let v = check(b"{\"a\":[\"\xc3\x28\"]}", &JsonShapeLimits::default()).unwrap_err();
        assert_eq!(v.pointer, "/a/0");
    }

    #[test]
    fn depth_is_counted_in_containers() {
        ok("[[[[1]]]]");
        assert_eq!(violation("[[[[[1]]]]]"), ("max_depth", "/0/0/0/0".into()));
        assert_eq!(
            violation(r#"{"a":{"b":[{"c":{}}]}}"#),
            ("max_depth", "/a/b/0/c".into())
        );
    }

    #[test]
    fn array_items_point_at_the_array() {
        ok("[1,2,3]");
        assert_eq!(violation("[1,2,3,4]"), ("max_array_items", String::new()));
        assert_eq!(
            violation(r#"{"x":[[],[1,2,3,[]]]}"#),
            ("max_array_items", "/x/1".into())
        );
    }

    #[test]
    fn properties_point_at_the_object() {
        ok(r#"{"a":1,"b":2,"c":3}"#);
        assert_eq!(
            violation(r#"{"o":{"a":1,"b":2,"c":3,"d":4}}"#),
            ("max_properties", "/o".into())
        );
        // Duplicates count: each one is work for whoever parses the body.
        assert_eq!(
            violation(r#"{"a":1,"a":2,"a":3,"a":4}"#),
            ("max_properties", String::new())
        );
    }

    #[test]
    fn strings_are_measured_decoded() {
        ok(r#""12345678""#);
        assert_eq!(
            violation(r#"["123456789"]"#),
            ("max_string_bytes", "/0".into())
        );
        // Eight escaped characters are eight bytes, not 48.
        ok(r#""\u0041\u0041\u0041\u0041\u0041\u0041\u0041\u0041""#);
        assert_eq!(
            violation(r#"{"s":"\n\n\n\n\n\n\n\n\n"}"#),
            ("max_string_bytes", "/s".into())
        );
        // é is two bytes in UTF-8, whether raw or escaped.
        ok("\"\u{e9}\u{e9}\u{e9}\u{e9}\"");
        assert_eq!(
            violation("[\"\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\"]"),
            ("max_string_bytes", "/0".into())
        );
        assert_eq!(
            violation(r#"["\u00e9\u00e9\u00e9\u00e9\u00e9"]"#),
            ("max_string_bytes", "/0".into())
        );
        // A surrogate pair is one four-byte character.
        ok(r#""\ud83d\ude00\ud83d\ude00""#);
        assert_eq!(
            violation(r#"["\ud83d\ude00\ud83d\ude00a"]"#),
            ("max_string_bytes", "/0".into())
        );
        // A key that is too long points at its object.
        assert_eq!(
            violation(r#"{"a":{"123456789":1}}"#),
            ("max_string_bytes", "/a".into())
        );
    }

    #[test]
    fn pointers_escape_keys() {
        assert_eq!(
            violation(r#"{"a/b":{"m~n":[1,2,3,4]}}"#),
            ("max_array_items", "/a~1b/m~0n".into())
        );
        // Keys are decoded before they are escaped.
        assert_eq!(
            violation(r#"{"\u002f\u007e\"":[1,2,3,4]}"#),
            ("max_array_items", "/~1~0\"".into())
        );
        assert_eq!(
            violation(r#"{"":{"\ud83d\ude00":[[[[]]]]}}"#),
            ("max_depth", "//\u{1f600}/0/0".into())
        );
    }

    #[test]
    fn long_keys_are_cut_in_pointers() {
        let l = JsonShapeLimits {
            max_string_bytes: 10_000,
            ..limits()
        };
        let key = "k".repeat(1000);
        let body = format!(r#"{{"{key}":[1,2,3,4]}}"#);
        let (rule, pointer) = violation_bytes(body.as_bytes(), &l);
        assert_eq!(rule, "max_array_items");
        assert_eq!(pointer, format!("/{}…", "k".repeat(POINTER_KEY_MAX)));
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let l = JsonShapeLimits::default();
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        let (rule, pointer) = violation_bytes(deep.as_bytes(), &l);
        assert_eq!(rule, "max_depth");
        assert_eq!(pointer, "/0".repeat(32));
        // Unclosed, and a megabyte of it, as objects.
        let deep = r#"{"a":"#.repeat(200_000);
        let (rule, _) = violation_bytes(deep.as_bytes(), &l);
        assert_eq!(rule, "max_depth");
        // Within a high limit, the stack is on the heap.
        let huge = JsonShapeLimits {
            max_depth: 1_000_000,
            ..l
        };
        let deep = "[".repeat(500_000) + &"]".repeat(500_000);
        assert_eq!(check(deep.as_bytes(), &huge), Ok(()));
        let unclosed = "[".repeat(500_000);
        let (rule, pointer) = violation_bytes(unclosed.as_bytes(), &huge);
        assert_eq!(rule, "json");
        assert_eq!(pointer.len(), 2 * (500_000 - 1));
    }

    #[test]
    fn huge_arrays_stop_at_the_limit() {
        let l = JsonShapeLimits::default();
        let items = vec!["0"; 1_000_000].join(",");
        let body = format!("[{items}]");
        let (rule, pointer) = violation_bytes(body.as_bytes(), &l);
        assert_eq!((rule, pointer.as_str()), ("max_array_items", ""));
        let body = format!("[{}]", vec!["0"; 10_000].join(","));
        assert_eq!(check(body.as_bytes(), &l), Ok(()));
        let props: Vec<String> = (0..1001).map(|i| format!("\"k{i}\":{i}")).collect();
        let body = format!("{{\"o\":{{{}}}}}", props.join(","));
        let (rule, pointer) = violation_bytes(body.as_bytes(), &l);
        assert_eq!((rule, pointer.as_str()), ("max_properties", "/o"));
    }

    #[test]
    fn long_strings_with_escapes() {
        let l = JsonShapeLimits::default();
        let at_limit = format!("\"{}\"", "\\\"".repeat(1024 * 1024));
        assert_eq!(check(at_limit.as_bytes(), &l), Ok(()));
        let over = format!("[\"{}x\"]", "\\u00e9".repeat(512 * 1024));
        let (rule, pointer) = violation_bytes(over.as_bytes(), &l);
        assert_eq!((rule, pointer.as_str()), ("max_string_bytes", "/0"));
        // A backslash at the very end of the body.
        let cut = format!("\"{}\\", "a".repeat(100));
        assert_eq!(violation_bytes(cut.as_bytes(), &l).0, "json");
        let cut = "\"\\u12";
        assert_eq!(violation_bytes(cut.as_bytes(), &l).0, "json");
    }

    #[test]
    fn violations_never_carry_values() {
        let body = r#"{"user":{"password":"hunter2-secret-value","x":[1,2,3,4]}}"#;
        let l = JsonShapeLimits {
            max_string_bytes: 100,
            ..limits()
        };
        let v = check(body.as_bytes(), &l).unwrap_err();
        assert_eq!(v.pointer, "/user/x");
        assert!(!v.to_string().contains("hunter2"));
        assert_eq!(v.to_string(), "max_array_items exceeded at /user/x");
    }
}
