//! A SQL tokenizer in the spirit of libinjection: it reads a value as a
//! fragment of SQL and folds it into a short sequence of typed tokens.
//!
//! Token types (the letters make up the fingerprint):
//!
//! | | |
//! |---|---|
//! | `n` | number, `null`, `true`, `false` |
//! | `s` | string (`'…'`, `"…"`, `x'…'`, `n'…'`) |
//! | `b` | bareword (identifier, `` `quoted` ``) |
//! | `k` | keyword (`from`, `where`, `into`, `table`…) |
//! | `o` | operator (`=`, `<>`, `like`, `in`, `is`, `+`…) |
//! | `&` | logic operator (`and`, `or`, `xor`, `&&`, `\|\|`) |
//! | `U` | `union [all\|distinct]` |
//! | `E` | `select` |
//! | `T` | statement (`insert`, `update`, `drop`, `exec`, `waitfor`…) |
//! | `B` | `order by`, `group by`, `having`, `limit`, `procedure` |
//! | `f` | known SQL function followed by `(` |
//! | `v` | variable (`@x`, `@@version`) |
//! | `c` | comment (`--`, `#`, unclosed `/*`) running to the end |
//! | `(` `)` `,` `;` `.` `:` | themselves |
//! | `?` | anything else |

/// The most tokens looked at per context: injections are anchored at the
/// start of their context, so the first few tokens decide.
pub const WINDOW: usize = 40;

/// One token: its type and where its text is in the folded value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tok {
    /// The type letter.
    pub kind: u8,
    /// Start of the text.
    pub start: usize,
    /// End of the text.
    pub end: usize,
    /// Runs of `(` or `)` fold into one token; how many.
    pub count: u16,
    /// A string that was not closed.
    pub open: bool,
    /// A `+` operator (a space to an application that decodes twice).
    pub plus: bool,
}

impl Tok {
    pub fn text<'s>(&self, s: &'s [u8]) -> &'s [u8] {
        s.get(self.start..self.end).unwrap_or(&[])
    }
}

const EMPTY: Tok = Tok {
    kind: b'?',
    start: 0,
    end: 0,
    count: 0,
    open: false,
    plus: false,
};

/// A fixed-capacity list of at most `N` tokens (no allocation per value).
pub struct Toks<const N: usize> {
    items: [Tok; N],
    len: usize,
}

impl<const N: usize> Toks<N> {
    pub fn as_slice(&self) -> &[Tok] {
        &self.items[..self.len]
    }

    fn last(&self) -> Option<&Tok> {
        self.len.checked_sub(1).map(|i| &self.items[i])
    }

    fn last_mut(&mut self) -> Option<&mut Tok> {
        self.len.checked_sub(1).map(|i| &mut self.items[i])
    }
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

fn is_word_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c >= 0x80
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C)
}

/// The end of a string opened by `q` at `start` (the index after the
/// closing quote) and whether it was closed. `\` escapes the next byte and
/// a doubled quote is a quote.
pub fn string_end(s: &[u8], start: usize, q: u8) -> (usize, bool) {
    let mut i = start + 1;
    while i < s.len() {
        let c = s[i];
        if c == b'\\' {
            i += 2;
        } else if c == q {
            if s.get(i + 1) == Some(&q) {
                i += 2;
            } else {
                return (i + 1, true);
            }
        } else {
            i += 1;
        }
    }
    (s.len(), false)
}

/// The type of a word.
fn word_kind(w: &[u8]) -> u8 {
    match w {
        b"select" => b'E',
        b"union" => b'U',
        b"and" | b"or" | b"xor" => b'&',
        b"like" | b"rlike" | b"regexp" | b"is" | b"in" | b"between" | b"div" | b"mod"
        | b"sounds" | b"not" | b"glob" | b"escape" => b'o',
        b"null" | b"true" | b"false" => b'n',
        b"insert" | b"update" | b"delete" | b"drop" | b"create" | b"alter" | b"truncate"
        | b"exec" | b"execute" | b"declare" | b"shutdown" | b"grant" | b"revoke" | b"rename"
        | b"waitfor" | b"merge" | b"call" | b"copy" => b'T',
        b"having" | b"limit" | b"procedure" => b'B',
        b"from" | b"where" | b"into" | b"outfile" | b"dumpfile" | b"as" | b"case" | b"when"
        | b"then" | b"else" | b"end" | b"offset" | b"values" | b"set" | b"join" | b"top"
        | b"asc" | b"desc" | b"distinct" | b"all" | b"with" | b"collate" | b"delay" | b"order"
        | b"group" | b"by" => b'k',
        _ => b'b',
    }
}

/// Functions that make a time-based or error-based injection, or read or
/// run things: flagged wherever they follow a breakout.
pub fn is_danger_fn(w: &[u8]) -> bool {
    matches!(
        w,
        b"sleep"
            | b"benchmark"
            | b"pg_sleep"
            | b"extractvalue"
            | b"updatexml"
            | b"load_file"
            | b"name_const"
            | b"randomblob"
            | b"load_extension"
            | b"geometrycollection"
            | b"multipoint"
            | b"multipolygon"
            | b"multilinestring"
            | b"linestring"
            | b"polygon"
            | b"gtid_subset"
            | b"receive_message"
            | b"get_host_name"
            | b"drithsx"
            | b"sys_eval"
            | b"sys_exec"
            | b"pg_read_file"
            | b"lo_import"
            | b"dblink"
            | b"xp_cmdshell"
            | b"xp_dirtree"
            | b"utl_http"
            | b"dbms_lock"
            | b"exp"
    )
}

/// Known SQL functions (a word followed by `(` is a function only if it is
/// one of these or dangerous; `please (see below)` stays a bareword).
fn is_function(w: &[u8]) -> bool {
    is_danger_fn(w)
        || matches!(
            w,
            b"concat"
                | b"concat_ws"
                | b"group_concat"
                | b"char"
                | b"chr"
                | b"nchar"
                | b"ascii"
                | b"ord"
                | b"substring"
                | b"substr"
                | b"mid"
                | b"left"
                | b"right"
                | b"length"
                | b"len"
                | b"if"
                | b"iif"
                | b"ifnull"
                | b"isnull"
                | b"nullif"
                | b"coalesce"
                | b"count"
                | b"cast"
                | b"convert"
                | b"version"
                | b"database"
                | b"schema"
                | b"user"
                | b"current_user"
                | b"system_user"
                | b"session_user"
                | b"hex"
                | b"unhex"
                | b"md5"
                | b"sha1"
                | b"rand"
                | b"floor"
                | b"now"
                | b"sysdate"
                | b"upper"
                | b"lower"
                | b"trim"
                | b"replace"
                | b"reverse"
                | b"instr"
                | b"locate"
                | b"strcmp"
                | b"bin"
                | b"conv"
                | b"unicode"
                | b"exists"
                | b"elt"
                | b"make_set"
                | b"row"
                | b"db_name"
                | b"user_name"
                | b"is_srvrolemember"
                | b"current_database"
                | b"to_char"
                | b"xmltype"
                | b"json_keys"
                | b"sqlite_version"
                | b"waitfor"
        )
}

/// Tokenises `s` as SQL, starting either as-is or, for `quote`, inside a
/// string opened by that quote (the value's text up to the first unescaped
/// `quote` is one string token), up to `N` tokens. `None` when `quote`
/// never closes: the value cannot leave the string.
pub fn tokenize<const N: usize>(s: &[u8], quote: Option<u8>) -> Option<Toks<N>> {
    let mut toks = Toks {
        items: [EMPTY; N],
        len: 0,
    };
    let mut pos = 0;
    if let Some(q) = quote {
        // As if a quote were before the value.
        let (end, closed) = string_end_from(s, q);
        if !closed {
            return None;
        }
        push(
            &mut toks,
            Tok {
                kind: b's',
                start: 0,
                end: end.saturating_sub(1),
                count: 1,
                open: false,
                plus: false,
            },
        );
        pos = end;
    }
    while toks.len < N {
        let Some(tok) = next(s, &mut pos) else { break };
        push(&mut toks, tok);
    }
    Some(toks)
}

/// The end of the string the value starts inside of.
fn string_end_from(s: &[u8], q: u8) -> (usize, bool) {
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == b'\\' {
            i += 2;
        } else if c == q {
            if s.get(i + 1) == Some(&q) {
                i += 2;
            } else {
                return (i + 1, true);
            }
        } else {
            i += 1;
        }
    }
    (s.len(), false)
}

/// Adds a token, folding as libinjection does.
fn push<const N: usize>(toks: &mut Toks<N>, tok: Tok) {
    // `'+and+'1'='1`: a `+` before a keyword is a space decoded once too
    // few times.
    if matches!(tok.kind, b'&' | b'U' | b'E' | b'T' | b'B' | b'k')
        && toks.last().is_some_and(|t| t.plus)
    {
        toks.len -= 1;
    }
    let prev = toks.last().map(|t| t.kind);
    match tok.kind {
        b'(' | b')' if prev == Some(tok.kind) => {
            if let Some(last) = toks.last_mut() {
                last.count = last.count.saturating_add(1);
                last.end = tok.end;
            }
            return;
        }
        // Unary operators (`-1`, `!1`, `not exists`; the lexer marks the
        // operators that can be unary with a count of 2) are dropped.
        b'o' if tok.count == 2
            && matches!(
                prev,
                None | Some(b'o' | b'&' | b'(' | b',' | b'E' | b'k' | b'U' | b'B' | b';' | b'T')
            ) =>
        {
            return;
        }
        _ => {}
    }
    if toks.len < N {
        toks.items[toks.len] = tok;
        toks.len += 1;
    }
}

/// The next token at `*pos`.
fn next(s: &[u8], pos: &mut usize) -> Option<Tok> {
    let mut i = *pos;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    if i >= s.len() {
        *pos = i;
        return None;
    }
    let start = i;
    let c = s[i];
    let at = |k: usize| s.get(i + k).copied().unwrap_or(0);
    let (kind, end, open, count) = match c {
        b'\'' | b'"' => {
            let (end, closed) = string_end(s, i, c);
            (b's', end, !closed, 1)
        }
        b'`' => {
            let end = s[i + 1..]
                .iter()
                .position(|&b| b == b'`')
                .map_or(s.len(), |p| i + 2 + p);
            (b'b', end, false, 1)
        }
        b'0'..=b'9' => (b'n', number_end(s, i), false, 1),
        b'.' if at(1).is_ascii_digit() => (b'n', number_end(s, i), false, 1),
        b'@' => {
            let mut j = i + 1;
            if s.get(j) == Some(&b'@') {
                j += 1;
            }
            while j < s.len() && (is_word_byte(s[j]) || s[j] == b'.') {
                j += 1;
            }
            (b'v', j, false, 1)
        }
        // Line comments end at a line break (only the view `fold_lines`
        // makes keeps them).
        b'#' => (b'c', line_end(s, i), false, 1),
        b'-' if at(1) == b'-' => (b'c', line_end(s, i), false, 1),
        b'/' if at(1) == b'*' => (b'c', s.len(), false, 1),
        b'(' | b')' | b',' | b';' | b'.' => (c, i + 1, false, 1),
        b':' => match at(1) {
            b':' | b'=' => (b'o', i + 2, false, 1),
            _ => (b':', i + 1, false, 1),
        },
        b'|' if at(1) == b'|' => (b'&', i + 2, false, 1),
        b'&' if at(1) == b'&' => (b'&', i + 2, false, 1),
        b'<' => {
            let n = match (at(1), at(2)) {
                (b'=', b'>') => 3,
                (b'=' | b'>' | b'<', _) => 2,
                _ => 1,
            };
            (b'o', i + n, false, 1)
        }
        b'>' => (
            b'o',
            i + if matches!(at(1), b'=' | b'>') { 2 } else { 1 },
            false,
            1,
        ),
        b'!' => {
            if at(1) == b'=' {
                (b'o', i + 2, false, 1)
            } else {
                (b'o', i + 1, false, 2)
            }
        }
        b'-' | b'+' | b'~' => (b'o', i + 1, false, 2),
        b'=' | b'*' | b'/' | b'%' | b'^' | b'|' | b'&' => (b'o', i + 1, false, 1),
        c if is_word_start(c) => {
            let mut j = i + 1;
            while j < s.len() && is_word_byte(s[j]) {
                j += 1;
            }
            let w = &s[i..j];
            // x'41', n'text', b'01'
            if w.len() == 1 && matches!(w[0], b'x' | b'n' | b'b') && s.get(j) == Some(&b'\'') {
                let (end, closed) = string_end(s, j, b'\'');
                (b's', end, !closed, 1)
            } else {
                let mut kind = word_kind(w);
                if kind == b'b' || w == b"user" || w == b"database" || w == b"schema" {
                    let mut k = j;
                    while k < s.len() && is_space(s[k]) {
                        k += 1;
                    }
                    if s.get(k) == Some(&b'(') && is_function(w) {
                        kind = b'f';
                    }
                }
                // `not` is unary.
                let count = if w == b"not" { 2 } else { 1 };
                (kind, j, false, count)
            }
        }
        _ => (b'?', i + 1, false, 1),
    };
    *pos = end.min(s.len());
    Some(Tok {
        kind,
        start,
        end: end.min(s.len()),
        count,
        open,
        plus: c == b'+',
    })
}

fn line_end(s: &[u8], i: usize) -> usize {
    s[i..]
        .iter()
        .position(|&c| c == b'\n' || c == b'\r')
        .map_or(s.len(), |p| i + p)
}

fn number_end(s: &[u8], i: usize) -> usize {
    let mut j = i;
    if s[i] == b'0' && matches!(s.get(i + 1), Some(b'x' | b'b')) {
        j += 2;
        while j < s.len() && s[j].is_ascii_hexdigit() {
            j += 1;
        }
        return j;
    }
    while j < s.len() && s[j].is_ascii_digit() {
        j += 1;
    }
    if s.get(j) == Some(&b'.') {
        j += 1;
        while j < s.len() && s[j].is_ascii_digit() {
            j += 1;
        }
    }
    if matches!(s.get(j), Some(b'e'))
        && (s.get(j + 1).is_some_and(u8::is_ascii_digit)
            || (matches!(s.get(j + 1), Some(b'+' | b'-'))
                && s.get(j + 2).is_some_and(u8::is_ascii_digit)))
    {
        j += 2;
        while j < s.len() && s[j].is_ascii_digit() {
            j += 1;
        }
    }
    j
}

/// Folds multi-word constructs in place: `union all` → `U`, `order by` →
/// `B`.
pub fn fold_words<const N: usize>(toks: &mut Toks<N>, s: &[u8]) {
    let mut w = 0;
    let n = toks.len;
    let mut r = 0;
    while r < n {
        let t = toks.items[r];
        if w > 0 {
            let prev = toks.items[w - 1];
            let txt = t.text(s);
            if prev.kind == b'U' && (txt == b"all" || txt == b"distinct") {
                r += 1;
                continue;
            }
            if prev.kind == b'k' && txt == b"by" && matches!(prev.text(s), b"order" | b"group") {
                toks.items[w - 1].kind = b'B';
                toks.items[w - 1].end = t.end;
                r += 1;
                continue;
            }
        }
        // A comment with tokens after it (a line comment ended by a line
        // break) is a space, as libinjection folds it.
        if t.kind == b'c' && r + 1 < n {
            r += 1;
            continue;
        }
        toks.items[w] = t;
        w += 1;
        r += 1;
    }
    toks.len = w;
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn fp(s: &str, q: Option<u8>) -> Option<String> {
        let b = s.as_bytes();
        let mut t = tokenize::<WINDOW>(b, q)?;
        fold_words(&mut t, b);
        Some(t.as_slice().iter().map(|t| t.kind as char).collect())
    }

    #[test]
    fn fingerprints() {
        assert_eq!(fp("1' or '1'='1", Some(b'\'')).as_deref(), Some("s&sos"));
        assert_eq!(
            fp("1 union all select 1,2--", None).as_deref(),
            Some("nUEn,nc")
        );
        assert_eq!(fp("-1 or 1=1", None).as_deref(), Some("n&non"));
        assert_eq!(fp("1 order by 3#", None).as_deref(), Some("nBnc"));
        assert_eq!(fp("admin'--", Some(b'\'')).as_deref(), Some("sc"));
        assert_eq!(fp("o'brien", None).as_deref(), Some("bs"));
        assert_eq!(fp("o'brien", Some(b'\'')).as_deref(), Some("sb"));
        assert_eq!(fp("no quote", Some(b'\'')), None);
        assert_eq!(
            fp("x' and sleep(5)", Some(b'\'')).as_deref(),
            Some("s&f(n)")
        );
        assert_eq!(fp("time.sleep(5)", None).as_deref(), Some("b.f(n)"));
        assert_eq!(fp("((((1))))", None).as_deref(), Some("(n)"));
        assert_eq!(fp("please (see below)", None).as_deref(), Some("b(bb)"));
        assert_eq!(fp("@@version", None).as_deref(), Some("v"));
        assert_eq!(fp("' or not 1=2", Some(b'\'')).as_deref(), Some("s&non"));
        assert_eq!(fp("1 #x\nunion select 1", None).as_deref(), Some("nUEn"));
        assert_eq!(fp("1 #x union select 1", None).as_deref(), Some("nc"));
    }
}
