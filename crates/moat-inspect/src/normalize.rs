//! Normalisation: the views of a value detectors look at.
//!
//! Attackers encode payloads so that naive matching misses them. Every view
//! is computed in one bounded pass per step, so the whole is linear in the
//! input and never larger than [`MAX_VIEW_BYTES`].
//!
//! The steps, in order:
//!
//! 1. percent-decoding (`%27`, and IIS-style `%u0027`), repeated while it
//!    changes something, at most [`MAX_PERCENT_ROUNDS`] rounds;
//! 2. one pass decoding HTML character references (named ones attackers
//!    use, `&#NN`/`&#xHH` with or without `;`), `\uXXXX`, `\u{X…}` and
//!    `\xHH` escapes, overlong UTF-8 forms of ASCII (`%c0%ae`), full-width
//!    forms (U+FF01–U+FF5E, U+3000) to ASCII, and dropping NUL;
//! 3. the folded view: ASCII lower case, closed SQL comments `/* … */`
//!    folded to a space (MySQL's `/*! … */` keeps its text; an unclosed
//!    `/*` is kept, it comments out the rest of a query), runs of
//!    whitespace folded to one space ([`fold_lines`] keeps line breaks, for
//!    SQL's line comments).
//!
//! No step makes its input longer, and a clean value (the common case) is
//! only scanned: every view borrows the input.

use std::borrow::Cow;

/// The largest view kept; longer values are cut (detection still sees the
/// first [`MAX_VIEW_BYTES`] bytes of every view).
pub const MAX_VIEW_BYTES: usize = 64 * 1024;

/// The most rounds of percent-decoding.
pub const MAX_PERCENT_ROUNDS: usize = 3;

/// The views of one value.
#[derive(Debug, Clone)]
pub struct Normalized<'a> {
    /// The value as received (cut at [`MAX_VIEW_BYTES`]).
    pub raw: &'a str,
    /// Decoded: percent-decoding repeated while it changes (at most three
    /// rounds), then HTML entities, `\uXXXX`/`\xXX` escapes, full-width
    /// forms folded to ASCII, NUL bytes dropped.
    pub decoded: Cow<'a, str>,
    /// `decoded`, lower-cased, with runs of whitespace and SQL comments
    /// (`/* … */`) folded to one space. An unclosed `/*` is kept as it is
    /// (it comments out the rest of a query).
    pub folded: Cow<'a, str>,
}

/// Computes the views of `raw`.
pub fn normalize(raw: &str) -> Normalized<'_> {
    let raw = cut(raw, MAX_VIEW_BYTES);
    let decoded = decode(raw);
    let folded = match &decoded {
        Cow::Borrowed(s) => fold(s),
        Cow::Owned(s) => Cow::Owned(fold(s).into_owned()),
    };
    Normalized {
        raw,
        decoded,
        folded,
    }
}

fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Whether `s` holds a byte of `class`. Checked a block at a time, without
/// stopping early inside a block, which the compiler turns into vector
/// compares: several times faster than stopping at the first hit on the
/// clean values that are the common case.
#[inline]
pub(crate) fn has_any(s: &[u8], class: impl Fn(u8) -> bool) -> bool {
    s.chunks(SCAN_BLOCK).any(|block| block_has(block, &class))
}

/// How many bytes [`has_any`] and [`find_any`] check at once.
const SCAN_BLOCK: usize = 32;

/// Whether `block` holds a byte of `class`, looking at every byte (no
/// early exit: the form the compiler vectorises).
#[inline]
fn block_has(block: &[u8], class: &impl Fn(u8) -> bool) -> bool {
    block.iter().fold(false, |seen, &c| seen | class(c))
}

/// Where the first byte of `class` in `s` is: [`has_any`]'s block check,
/// then a look inside the one block that has it. (`has_any` does not call
/// this: on short values full of punctuation, the common hit, the extra
/// look costs more than the check.)
#[inline]
pub(crate) fn find_any(s: &[u8], class: impl Fn(u8) -> bool) -> Option<usize> {
    let mut at = 0;
    for block in s.chunks(SCAN_BLOCK) {
        if block_has(block, &class) {
            return block.iter().position(|&c| class(c)).map(|p| at + p);
        }
        at += block.len();
    }
    None
}

/// The decoded view of `raw`.
pub fn decode(raw: &str) -> Cow<'_, str> {
    let b = raw.as_bytes();
    // Every step starts at one of these bytes.
    if !has_any(b, |c| matches!(c, b'%' | b'&' | b'\\' | 0 | 0xEF | 0xE3)) {
        return Cow::Borrowed(raw);
    }
    let mut cur: Cow<'_, [u8]> = Cow::Borrowed(b);
    for _ in 0..MAX_PERCENT_ROUNDS {
        match percent_round(&cur) {
            Some(next) => cur = Cow::Owned(next),
            None => break,
        }
    }
    let bytes = match escape_pass(&cur) {
        Some(v) => v,
        None => match cur {
            Cow::Borrowed(_) => return Cow::Borrowed(raw),
            Cow::Owned(v) => v,
        },
    };
    let s = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    if s.len() > MAX_VIEW_BYTES {
        Cow::Owned(cut(&s, MAX_VIEW_BYTES).to_string())
    } else {
        Cow::Owned(s)
    }
}

fn hex(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'a'..=b'f' => Some(u32::from(c - b'a' + 10)),
        b'A'..=b'F' => Some(u32::from(c - b'A' + 10)),
        _ => None,
    }
}

/// `n` hex digits at `b[i..]`, as a number.
fn hex_n(b: &[u8], i: usize, n: usize) -> Option<u32> {
    let digits = b.get(i..i + n)?;
    let mut v = 0u32;
    for &d in digits {
        v = v * 16 + hex(d)?;
    }
    Some(v)
}

fn push_char(out: &mut Vec<u8>, cp: u32) {
    let c = char::from_u32(cp).unwrap_or('\u{FFFD}');
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// One round of percent-decoding (`%HH`, `%uHHHH`); `None` if nothing was
/// decoded.
fn percent_round(b: &[u8]) -> Option<Vec<u8>> {
    let first = b.iter().position(|&c| c == b'%')?;
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&b[..first]);
    let mut changed = false;
    let mut i = first;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            if let Some(v) = hex_n(b, i + 1, 2) {
                out.push(v as u8);
                i += 3;
                changed = true;
                continue;
            }
            if matches!(b.get(i + 1), Some(b'u' | b'U'))
                && let Some(v) = hex_n(b, i + 2, 4)
            {
                push_char(&mut out, v);
                i += 6;
                changed = true;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    changed.then_some(out)
}

/// Named character references attackers use; the lower-cased name and its
/// text. Matched case-insensitively.
const ENTITIES: &[(&[u8], &str)] = &[
    (b"lt", "<"),
    (b"gt", ">"),
    (b"amp", "&"),
    (b"quot", "\""),
    (b"apos", "'"),
    (b"sol", "/"),
    (b"bsol", "\\"),
    (b"colon", ":"),
    (b"semi", ";"),
    (b"lpar", "("),
    (b"rpar", ")"),
    (b"lsqb", "["),
    (b"lbrack", "["),
    (b"rsqb", "]"),
    (b"rbrack", "]"),
    (b"lcub", "{"),
    (b"lbrace", "{"),
    (b"rcub", "}"),
    (b"rbrace", "}"),
    (b"tab", "\t"),
    (b"newline", "\n"),
    (b"nbsp", "\u{a0}"),
    (b"excl", "!"),
    (b"num", "#"),
    (b"dollar", "$"),
    (b"percnt", "%"),
    (b"ast", "*"),
    (b"midast", "*"),
    (b"plus", "+"),
    (b"comma", ","),
    (b"period", "."),
    (b"equals", "="),
    (b"quest", "?"),
    (b"commat", "@"),
    (b"grave", "`"),
    (b"lowbar", "_"),
    (b"verbar", "|"),
    (b"vert", "|"),
    (b"hat", "^"),
];

/// Names a browser decodes without the `;`.
const LEGACY: &[&[u8]] = &[b"lt", b"gt", b"amp", b"quot", b"nbsp"];

/// A character reference at `b[i]` (`&`): its text and length.
fn entity(b: &[u8], i: usize, out: &mut Vec<u8>) -> Option<usize> {
    let mut j = i + 1;
    if b.get(j) == Some(&b'#') {
        j += 1;
        let is_hex = matches!(b.get(j), Some(b'x' | b'X'));
        if is_hex {
            j += 1;
        }
        let start = j;
        let mut v: u32 = 0;
        while let Some(&c) = b.get(j) {
            let d = if is_hex {
                hex(c)
            } else if c.is_ascii_digit() {
                Some(u32::from(c - b'0'))
            } else {
                None
            };
            let Some(d) = d else { break };
            v = v
                .saturating_mul(if is_hex { 16 } else { 10 })
                .saturating_add(d);
            j += 1;
        }
        if j == start {
            return None;
        }
        if b.get(j) == Some(&b';') {
            j += 1;
        }
        // NUL is dropped, as NUL bytes are.
        if v != 0 {
            push_char(out, v);
        }
        return Some(j - i);
    }
    let start = j;
    while j < b.len() && j - start < 8 && b[j].is_ascii_alphanumeric() {
        j += 1;
    }
    let name = &b[start..j];
    if name.is_empty() {
        return None;
    }
    let semi = b.get(j) == Some(&b';');
    let (_, text) = ENTITIES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))?;
    if !semi && !LEGACY.iter().any(|n| n.eq_ignore_ascii_case(name)) {
        return None;
    }
    out.extend_from_slice(text.as_bytes());
    Some(j - i + usize::from(semi))
}

/// A `\uXXXX`, `\u{X…}` or `\xHH` escape at `b[i]` (`\`): its length.
fn backslash_escape(b: &[u8], i: usize, out: &mut Vec<u8>) -> Option<usize> {
    match b.get(i + 1)? {
        b'x' | b'X' => {
            let v = hex_n(b, i + 2, 2)?;
            push_char(out, v);
            Some(4)
        }
        b'u' | b'U' => {
            if b.get(i + 2) == Some(&b'{') {
                let mut j = i + 3;
                let mut v = 0u32;
                while j < b.len() && j - (i + 3) < 6 {
                    let Some(d) = hex(b[j]) else { break };
                    v = v * 16 + d;
                    j += 1;
                }
                if j == i + 3 || b.get(j) != Some(&b'}') {
                    return None;
                }
                push_char(out, v);
                return Some(j + 1 - i);
            }
            let v = hex_n(b, i + 2, 4)?;
            // A surrogate pair written as two escapes.
            if (0xD800..0xDC00).contains(&v)
                && b.get(i + 6) == Some(&b'\\')
                && matches!(b.get(i + 7), Some(b'u' | b'U'))
                && let Some(lo) = hex_n(b, i + 8, 4)
                && (0xDC00..0xE000).contains(&lo)
            {
                push_char(out, 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00));
                return Some(12);
            }
            push_char(out, v);
            Some(6)
        }
        _ => None,
    }
}

/// Entities, escapes, overlong and full-width forms, NUL; `None` if there
/// was nothing to do.
fn escape_pass(b: &[u8]) -> Option<Vec<u8>> {
    let first = b
        .iter()
        .position(|&c| matches!(c, b'&' | b'\\' | 0 | 0xEF | 0xE3 | 0xE0 | 0xC0 | 0xC1))?;
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&b[..first]);
    let mut changed = false;
    let mut i = first;
    while i < b.len() {
        let c = b[i];
        let used = match c {
            b'&' => entity(b, i, &mut out),
            b'\\' => backslash_escape(b, i, &mut out),
            0 => Some(1),
            // Overlong two-byte forms of ASCII.
            0xC0 | 0xC1 => match b.get(i + 1) {
                Some(&n) if n & 0xC0 == 0x80 => {
                    let v = ((c & 0x01) << 6) | (n & 0x3F);
                    if v != 0 {
                        out.push(v);
                    }
                    Some(2)
                }
                _ => None,
            },
            // Overlong three-byte forms (E0 80..9F xx).
            0xE0 => match (b.get(i + 1), b.get(i + 2)) {
                (Some(&n1), Some(&n2)) if (0x80..0xA0).contains(&n1) && n2 & 0xC0 == 0x80 => {
                    let v = (u32::from(n1 & 0x3F) << 6) | u32::from(n2 & 0x3F);
                    if v != 0 {
                        push_char(&mut out, v);
                    }
                    Some(3)
                }
                _ => None,
            },
            // Full-width forms U+FF01..U+FF5E (EF BC 81 .. EF BD 9E).
            0xEF => match (b.get(i + 1), b.get(i + 2)) {
                (Some(&0xBC), Some(&n2)) if (0x81..=0xBF).contains(&n2) => {
                    out.push(n2 - 0x81 + 0x21);
                    Some(3)
                }
                (Some(&0xBD), Some(&n2)) if (0x80..=0x9E).contains(&n2) => {
                    out.push(n2 - 0x80 + 0x60);
                    Some(3)
                }
                _ => None,
            },
            // Ideographic space U+3000 (E3 80 80).
            0xE3 => match (b.get(i + 1), b.get(i + 2)) {
                (Some(&0x80), Some(&0x80)) => {
                    out.push(b' ');
                    Some(3)
                }
                _ => None,
            },
            _ => None,
        };
        match used {
            Some(n) => {
                changed = true;
                i += n;
            }
            None => {
                out.push(c);
                i += 1;
            }
        }
    }
    changed.then_some(out)
}

const fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C)
}

/// Whether folding would change `b`.
fn needs_fold(b: &[u8]) -> bool {
    let mut prev = 0u8;
    for &c in b {
        if c.is_ascii_uppercase()
            || matches!(c, b'\t' | b'\n' | b'\r' | 0x0B | 0x0C)
            || (c == b' ' && prev == b' ')
            || (c == b'*' && prev == b'/')
            || (c == 0xA0 && prev == 0xC2)
        {
            return true;
        }
        prev = c;
    }
    false
}

/// The folded view of `s` (see [`Normalized::folded`]).
pub fn fold(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    if !needs_fold(b) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(fold_bytes(b, false))
}

/// [`fold`], except that a run of whitespace holding a line break folds
/// to one `\n`: for SQL, where `#` and `--` comments end at the line's
/// end (`1 #\nunion select …`).
pub fn fold_lines(s: &str) -> String {
    fold_bytes(s.as_bytes(), true)
}

/// Bytes that fold only to their lower case wherever they are, outside an
/// executable comment: not whitespace, not `/` (a comment may start), not
/// the lead byte of a no-break space.
const PLAIN: [bool; 256] = {
    let mut t = [true; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = !(is_space(b) || b == b'/' || b == 0xC2);
        c += 1;
    }
    t
};

/// Bytes [`fold_bytes`] checks and copies at a time on its fast path.
const PLAIN_BLOCK: usize = 32;

fn fold_bytes(b: &[u8], keep_lines: bool) -> String {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let mut space = false;
    let mut line = false;
    let mut exec_open = false;
    // Once a search for `*/` failed, every later one fails too.
    let mut no_close = false;
    while i < b.len() {
        // A run of bytes folding changes only in case (a lone space between
        // two of them included) is copied lower-cased in one go.
        if !space && !exec_open {
            // Whole blocks first, in a form the compiler vectorises: a
            // block without whitespace but lone spaces, without `/` and
            // without a no-break space's lead byte, where every space is
            // followed by a plain byte (the block's last one included).
            while let Some(ahead) = b.get(i..=i + PLAIN_BLOCK) {
                let (Ok(block), Ok(after)) = (
                    <&[u8; PLAIN_BLOCK]>::try_from(&ahead[..PLAIN_BLOCK]),
                    <&[u8; PLAIN_BLOCK]>::try_from(&ahead[1..]),
                ) else {
                    break;
                };
                let special = |c: u8| (c.wrapping_sub(b'\t') < 5) | (c == b'/') | (c == 0xC2);
                let mut stop = 0u8;
                for (&c, &n) in block.iter().zip(after) {
                    stop |= u8::from(special(c) | ((c == b' ') & (special(n) | (n == b' '))));
                }
                if stop != 0 {
                    break;
                }
                out.extend(block.iter().map(u8::to_ascii_lowercase));
                i += PLAIN_BLOCK;
            }
            let mut j = i;
            while j < b.len() {
                if PLAIN[usize::from(b[j])] {
                    j += 1;
                } else if b[j] == b' ' && b.get(j + 1).is_some_and(|&n| PLAIN[usize::from(n)]) {
                    j += 2;
                } else {
                    break;
                }
            }
            if j > i {
                out.extend(b[i..j].iter().map(u8::to_ascii_lowercase));
                i = j;
                continue;
            }
        }
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            if b.get(i + 2) == Some(&b'!') {
                // MySQL executable comment: its text counts.
                let mut j = i + 3;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                exec_open = true;
                space = true;
                i = j;
                continue;
            }
            if !no_close {
                match find_close(b, i + 2) {
                    Some(end) => {
                        space = true;
                        i = end + 2;
                        continue;
                    }
                    None => no_close = true,
                }
            }
        }
        if exec_open && c == b'*' && b.get(i + 1) == Some(&b'/') {
            exec_open = false;
            space = true;
            i += 2;
            continue;
        }
        if is_space(c) {
            space = true;
            line |= keep_lines && (c == b'\n' || c == b'\r');
            i += 1;
            continue;
        }
        if c == 0xC2 && b.get(i + 1) == Some(&0xA0) {
            space = true;
            i += 2;
            continue;
        }
        if space {
            out.push(if line { b'\n' } else { b' ' });
            space = false;
            line = false;
        }
        out.push(c.to_ascii_lowercase());
        i += 1;
    }
    if space {
        out.push(if line { b'\n' } else { b' ' });
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

fn find_close(b: &[u8], from: usize) -> Option<usize> {
    let mut j = from;
    while j + 1 < b.len() {
        if b[j] == b'*' && b[j + 1] == b'/' {
            return Some(j);
        }
        j += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Folding one byte at a time, as the definition reads: the oracle for
    /// `fold_bytes`, which copies plain runs in one go.
    fn fold_slowly(b: &[u8], keep_lines: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let (mut i, mut space, mut line, mut exec_open, mut no_close) =
            (0, false, false, false, false);
        while i < b.len() {
            let c = b[i];
            if c == b'/' && b.get(i + 1) == Some(&b'*') {
                if b.get(i + 2) == Some(&b'!') {
                    let mut j = i + 3;
                    while j < b.len() && b[j].is_ascii_digit() {
                        j += 1;
                    }
                    (exec_open, space, i) = (true, true, j);
                    continue;
                }
                if !no_close {
                    match find_close(b, i + 2) {
                        Some(end) => {
                            (space, i) = (true, end + 2);
                            continue;
                        }
                        None => no_close = true,
                    }
                }
            }
            if exec_open && c == b'*' && b.get(i + 1) == Some(&b'/') {
                (exec_open, space, i) = (false, true, i + 2);
                continue;
            }
            if is_space(c) {
                space = true;
                line |= keep_lines && (c == b'\n' || c == b'\r');
                i += 1;
                continue;
            }
            if c == 0xC2 && b.get(i + 1) == Some(&0xA0) {
                (space, i) = (true, i + 2);
                continue;
            }
            if space {
                out.push(if line { b'\n' } else { b' ' });
                (space, line) = (false, false);
            }
            out.push(c.to_ascii_lowercase());
            i += 1;
        }
        if space {
            out.push(if line { b'\n' } else { b' ' });
        }
        out
    }

    /// The bytes folding treats apart (the no-break space as one token).
    const TOKENS: [&[u8]; 10] = [
        b"a",
        b"Q",
        b" ",
        b"\n",
        b"\t",
        b"/",
        b"*",
        b"!",
        b"7",
        b"\xC2\xA0",
    ];

    #[test]
    fn fold_agrees_with_folding_byte_by_byte() {
        // Every string of up to five tokens.
        let mut input = Vec::new();
        let mut stack = vec![0usize; 0];
        loop {
            input.clear();
            for &t in &stack {
                input.extend_from_slice(TOKENS[t]);
            }
            assert_folds_alike(&input);
            // Next string: count in base TOKENS.len(), up to five digits.
            let mut k = stack.len();
            loop {
                if k == 0 {
                    if stack.len() == 5 {
                        return;
                    }
                    stack = vec![0; stack.len() + 1];
                    break;
                }
                k -= 1;
                stack[k] += 1;
                if stack[k] < TOKENS.len() {
                    break;
                }
                stack[k] = 0;
            }
        }
    }

    /// `fold_bytes` and the byte-by-byte definition agree on `input`,
    /// keeping line breaks or not.
    fn assert_folds_alike(input: &[u8]) {
        for keep_lines in [false, true] {
            assert_eq!(
                fold_bytes(input, keep_lines).as_bytes(),
                fold_slowly(input, keep_lines),
                "{:?} keep_lines={keep_lines}",
                String::from_utf8_lossy(input)
            );
        }
    }

    fn dec(s: &str) -> String {
        normalize(s).decoded.into_owned()
    }
    fn fol(s: &str) -> String {
        normalize(s).folded.into_owned()
    }

    #[test]
    fn fold_agrees_with_folding_byte_by_byte_on_long_values() {
        // Long values, mostly plain with lone spaces, so that the block
        // fast path runs and meets every other byte at every offset of a
        // block. A fixed xorshift sequence keeps the test repeatable.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = 20 + next() % 150;
            let mut input = Vec::new();
            for _ in 0..len {
                let token = match next() % 100 {
                    0..=44 => TOKENS[0],
                    45..=69 => TOKENS[1],
                    70..=79 => TOKENS[8],
                    80..=93 => TOKENS[2],
                    r => TOKENS[usize::try_from(r).unwrap_or(0) % TOKENS.len()],
                };
                input.extend_from_slice(token);
            }
            assert_folds_alike(&input);
        }
    }

    #[test]
    fn clean_values_borrow() {
        for s in ["hello world", "o'brien@example.com", "1 < 2", "a-b_c.d"] {
            let n = normalize(s);
            assert!(matches!(n.decoded, Cow::Borrowed(_)), "{s}");
            assert!(matches!(n.folded, Cow::Borrowed(_)), "{s}");
        }
        let n = normalize("Hello World");
        assert!(matches!(n.decoded, Cow::Borrowed(_)));
        assert_eq!(n.folded, "hello world");
        // Escapes that decode to nothing new still borrow.
        let n = normalize("50% off & more \\n");
        assert!(matches!(n.decoded, Cow::Borrowed(_)));
    }

    #[test]
    fn percent_decoding_repeats_up_to_three_rounds() {
        assert_eq!(dec("%27"), "'");
        assert_eq!(dec("%2527"), "'");
        assert_eq!(dec("%252527"), "'");
        // A fourth layer stays.
        assert_eq!(dec("%25252527"), "%27");
        assert_eq!(dec("%u0027%U003C"), "'<");
        assert_eq!(dec("%uff1c"), "<"); // %u full-width, then folded
        assert_eq!(dec("100%"), "100%");
        assert_eq!(dec("%zz%4"), "%zz%4");
        assert_eq!(dec("%u12"), "%u12");
    }

    #[test]
    fn entities() {
        assert_eq!(dec("&lt;script&gt;"), "<script>");
        assert_eq!(dec("&LT;b&GT"), "<b>");
        assert_eq!(dec("&#60;&#x3C;&#X3c&#0060"), "<<<<");
        assert_eq!(
            dec("javascript&colon;alert&lpar;1&rpar;"),
            "javascript:alert(1)"
        );
        assert_eq!(dec("jav&Tab;ascript&NewLine;"), "jav\tascript\n");
        assert_eq!(dec("&quot;&apos;&sol;"), "\"'/");
        assert_eq!(
            dec("AT&T &unknown; &; &#; &#x;"),
            "AT&T &unknown; &; &#; &#x;"
        );
        // `&apos` needs its `;`.
        assert_eq!(dec("&apos x"), "&apos x");
        assert_eq!(dec("&#0;a&#x110000;"), "a\u{FFFD}");
        assert_eq!(dec("&#99999999999999999999;"), "\u{FFFD}");
        assert_eq!(dec("%26lt%3B"), "<");
    }

    #[test]
    fn backslash_escapes() {
        assert_eq!(dec("\\u003cscript\\u003E"), "<script>");
        assert_eq!(dec("\\x3c\\X3E"), "<>");
        assert_eq!(dec("\\u{3c}\\u{1F600}"), "<\u{1F600}");
        assert_eq!(dec("\\ud83d\\ude00"), "\u{1F600}");
        assert_eq!(dec("\\ud83d"), "\u{FFFD}");
        assert_eq!(dec("C:\\users\\xavier\\u12"), "C:\\users\\xavier\\u12");
        assert_eq!(dec("\\u{}\\u{zz}\\u{1234567}"), "\\u{}\\u{zz}\\u{1234567}");
    }

    #[test]
    fn full_width_overlong_nul() {
        assert_eq!(dec("＜ｓｃｒｉｐｔ＞"), "<script>");
        assert_eq!(dec("ＳＥＬＥＣＴ\u{3000}１"), "SELECT 1");
        assert_eq!(dec("%c0%ae%c0%ae%c0%af"), "../");
        assert_eq!(dec("%e0%80%ae"), ".");
        assert_eq!(dec("a\0b%00c"), "abc");
        assert_eq!(dec("%ff%fe"), "\u{FFFD}\u{FFFD}");
        // Other non-ASCII text is kept.
        assert_eq!(dec("Zoë Ó Súilleabháin 東京"), "Zoë Ó Súilleabháin 東京");
    }

    #[test]
    fn folding() {
        assert_eq!(fol("UNION/**/SELECT"), "union select");
        assert_eq!(fol("UN/**/ION"), "un ion");
        assert_eq!(fol("/*!50000UNION*/ /*!SELECT*/ 1"), " union select 1");
        assert_eq!(fol("a \t\n\r b"), "a b");
        assert_eq!(fol("1 /* x */ OR /**/ 1"), "1 or 1");
        // An unclosed comment is kept: it truncates a query.
        assert_eq!(fol("admin'/*"), "admin'/*");
        assert_eq!(fol("a/*b/*c*/d"), "a d");
        assert_eq!(fol("A\u{a0}B"), "a b");
        assert_eq!(fol("%55NION%20%53ELECT"), "union select");
        assert_eq!(
            fold_lines("1 #x \r\n\t UNION/**/ Select"),
            "1 #x\nunion select"
        );
    }

    #[test]
    fn adversarial_inputs_stay_bounded_and_fast() {
        // Huge: cut at the limit, on a char boundary.
        let huge = "é".repeat(MAX_VIEW_BYTES);
        let n = normalize(&huge);
        assert!(n.raw.len() <= MAX_VIEW_BYTES);
        assert!(n.decoded.len() <= MAX_VIEW_BYTES && n.folded.len() <= MAX_VIEW_BYTES);

        // Deeply encoded.
        let mut deep = "<".to_string();
        for _ in 0..20 {
            deep = deep.replace('%', "%25").replace('<', "%3C");
        }
        let n = normalize(&deep);
        assert!(n.decoded.len() <= deep.len());

        // Many unclosed comments: linear, not quadratic.
        let comments = "/*a".repeat(MAX_VIEW_BYTES / 3);
        let t = std::time::Instant::now();
        let n = normalize(&comments);
        assert_eq!(n.folded.len(), comments.len());
        assert!(t.elapsed().as_millis() < 500);

        // Invalid and truncated escapes everywhere.
        for s in [
            "%", "%%", "%u", "%uD800", "&", "&#", "&#x", "\\", "\\u", "\\x4", "\\u{", "&#x;",
            "\u{FF5F}", "\u{FF00}", "\u{EF}", "%c0", "%e0%80", "%ef%bc",
        ] {
            let n = normalize(s);
            assert!(n.decoded.len() <= s.len().max(3), "{s:?}");
        }
        let mixed = "%25u0027&#x26;lt;\\u0026&amp;\0%c0%bc".repeat(5000);
        let n = normalize(&mixed);
        assert!(n.decoded.len() <= MAX_VIEW_BYTES);
        assert!(n.folded.len() <= MAX_VIEW_BYTES);
    }
}
