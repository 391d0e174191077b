//! OS command injection: a shell separator or substitution followed by a
//! command in command position.
//!
//! The value is tokenised the way a shell would see it, loosely: at every
//! separator (`;`, `|`, `||`, `&`, `&&`, a line break) and substitution
//! (`` `…` ``, `$(…)`, `<(…)`), blanks are skipped (including `${IFS}`,
//! `$IFS$9` and brace expansion `{cat,/etc/passwd}`), the next word is
//! read with the usual obfuscations undone (`c'a't`, `c"a"t`, `c\at`,
//! `ca$@t`, globs like `/bin/ca?`), reduced to its base name (`/bin/cat`,
//! `C:\Windows\System32\cmd.exe`), and looked up in a list of Unix and
//! Windows commands ([`words`]). Evidence then adds up:
//!
//! * the separator: substitution 3, `;` `|` `||` `&&` `&` 2, a line
//!   break 2 (1 in free text), the start of the value 0; one less when
//!   glued to a word on both sides (`name|id`, `a;b` choices); a closed
//!   backtick pair in free text is a markdown code span (1);
//! * the command: 2 when it is not an everyday word (`whoami`, `wget`,
//!   `nc`, `powershell`), 1 otherwise (`cat`, `id`, `type`, `sort`); 0
//!   for developer tooling (`git`, `docker`, `npm`, `less`, `rm`…) in free
//!   text, where notes and tickets quote it;
//! * the arguments: 3 when they name a sensitive thing (`/etc/passwd`,
//!   `/dev/tcp`, `/bin/sh`, a URL, `-enc`, `IEX(`), 1 when they look like
//!   shell arguments (an option, a path, a redirection, a number, nothing
//!   at all), 0 when they are ordinary words;
//! * obfuscation (`${IFS}`, split quotes, globs in a command path): 3; an
//!   absolute command path: 1;
//! * the context: 2 unless the value is free text (a JSON string, form
//!   field… that reads as prose), and 1 more when the separator follows
//!   something that looks like the value the application expected (an IP
//!   address, a file name, a quote, nothing).
//!
//! | evidence | severity | paranoia |
//! |---|---|---|
//! | ≥ 6 | critical | 1 |
//! | 5 | error | 2 |
//! | 4 | warning | 3 |
//!
//! A server-side include directive (`<!--#exec cmd=…-->`, `<!--#include
//! virtual=…-->`) is critical on its own.
//!
//! A value that starts with a command but has no separator never goes
//! beyond error unless its arguments are sensitive. Shellshock
//! (`() { :; };`) and PHP/Python breakouts into `system(`/`passthru(`
//! after a `;` are critical on their own.
//!
//! Not hits: prose with "and", "&", "|" or ";" (the following word must be
//! a command, and prose gets no context points), markdown tables (lines
//! between `|`), `a|b` choices, `rm` or `cat` inside words, HTML entities
//! (`&copy;`).

mod words;

use std::sync::LazyLock;

use memchr::{memchr, memchr_iter, memchr3, memrchr};

use super::needles::Needles;
use super::traversal::text::{find_ci, hit, is_word, prose_context, starts_with_ci, worse};
use super::{Context, Detector, DetectorKind, Hit};
use crate::normalize::{Normalized, find_any};
use crate::report::Severity;

/// The CommandInjection detector.
pub struct CommandInjection;

/// Bytes of arguments looked at after a command.
const ARG_WINDOW: usize = 200;

/// Separators judged per value (each costs at most a word and
/// [`ARG_WINDOW`] bytes of arguments): bounds the work on values made of
/// thousands of `;`. An attack needs one; the first are judged.
const MAX_SEPARATORS: usize = 4096;

impl Detector for CommandInjection {
    fn kind(&self) -> DetectorKind {
        DetectorKind::CommandInjection
    }

    fn detect(&self, value: &Normalized<'_>, ctx: &Context<'_>) -> Option<Hit> {
        let s = value.decoded.as_bytes();
        let prose = prose_context(ctx);
        // Only judged separators need it: computed once, on demand.
        let texty = Texty {
            s,
            prose,
            cell: std::cell::OnceCell::new(),
        };
        scan(s, &texty)
    }
}

/// Whether the value is free text: a prose context and enough words.
struct Texty<'a> {
    s: &'a [u8],
    prose: bool,
    cell: std::cell::OnceCell<bool>,
}

impl Texty<'_> {
    fn get(&self) -> bool {
        *self
            .cell
            .get_or_init(|| self.prose && prose_words(self.s) >= 4)
    }
}

static SENSITIVE_SET: LazyLock<Needles> = LazyLock::new(|| Needles::new(words::SENSITIVE_ARGS));

/// The number of words of two or more letters (prose has many).
fn prose_words(s: &[u8]) -> usize {
    s.split(|c| c.is_ascii_whitespace())
        .filter(|w| {
            let w = w
                .strip_suffix(b",")
                .or_else(|| w.strip_suffix(b"."))
                .unwrap_or(w);
            w.len() >= 2 && w.iter().all(|c| c.is_ascii_alphabetic() || *c >= 0x80)
        })
        .count()
}

/// A separator: where it ends, its weight, and whether it is the start
/// of the value.
struct Sep {
    end: usize,
    weight: u32,
    start: bool,
}

fn scan(s: &[u8], texty: &Texty<'_>) -> Option<Hit> {
    if s.is_empty() {
        return None;
    }
    if let Some(h) = server_side_include(s) {
        return Some(h);
    }
    // Separators and substitutions all hold one of these bytes (`(` only
    // after `$`, `<` or `>`).
    let any_sep = memchr3(b';', b'|', b'&', s).is_some()
        || memchr3(b'\n', b'\r', b'`', s).is_some()
        || memchr_iter(b'(', s).any(|i| i > 0 && matches!(s[i - 1], b'$' | b'<' | b'>'));
    let start = Sep {
        end: 0,
        weight: 0,
        start: true,
    };
    if !any_sep {
        return judge(s, start, texty, s.len());
    }
    if let Some(h) = specials(s) {
        return Some(h);
    }
    let tables = if memchr(b'|', s).is_some() {
        table_lines(s)
    } else {
        Vec::new()
    };
    let mut found = judge(s, start, texty, s.len());
    let mut judged = 0usize;
    let last_tick = memrchr(b'`', s);
    let mut i = 0;
    while i < s.len() {
        // Only these bytes start a separator or substitution: jump to the
        // next one.
        let Some(skip) = find_any(&s[i..], is_separator_byte) else {
            break;
        };
        i += skip;
        let c = s[i];
        let next = s.get(i + 1).copied();
        let prev = if i > 0 { Some(s[i - 1]) } else { None };
        let glued = prev.is_some_and(|p| p.is_ascii_alphabetic())
            && next.is_some_and(|n| n.is_ascii_alphanumeric());
        let sep = match c {
            b';' => Some(Sep {
                end: i + 1,
                weight: 2 - u32::from(glued),
                start: false,
            }),
            b'|' if next == Some(b'|') => Some(Sep {
                end: i + 2,
                weight: 2,
                start: false,
            }),
            b'|' if in_table(&tables, i) => None,
            b'|' => Some(Sep {
                end: i + 1,
                weight: 2 - u32::from(glued),
                start: false,
            }),
            b'&' if next == Some(b'&') => Some(Sep {
                end: i + 2,
                weight: 2,
                start: false,
            }),
            b'&' if matches!(prev, Some(b'>' | b'<'))
                || matches!(next, Some(b'>'))
                || entity(s, i) =>
            {
                None
            }
            b'&' => Some(Sep {
                end: i + 1,
                weight: 2 - u32::from(glued),
                start: false,
            }),
            b'\n' | b'\r' => Some(Sep {
                end: i + 1,
                weight: if texty.get() { 1 } else { 2 },
                start: false,
            }),
            // A markdown fence or double-backtick code span is not a
            // substitution.
            b'`' if prev == Some(b'`') || next == Some(b'`') => None,
            b'`' => Some(Sep {
                end: i + 1,
                // Closed (`` `id` ``): a substitution; unclosed: weaker; in
                // free text, a markdown code span.
                weight: if texty.get() {
                    1
                } else if last_tick.is_some_and(|t| t > i) {
                    3
                } else {
                    2
                },
                start: false,
            }),
            b'$' | b'<' | b'>' if next == Some(b'(') && s.get(i + 2) != Some(&b'(') => Some(Sep {
                end: i + 2,
                weight: 3,
                start: false,
            }),
            _ => None,
        };
        if let Some(sep) = sep {
            let end = sep.end;
            judged += 1;
            if judged > MAX_SEPARATORS {
                break;
            }
            let verdict = judge(s, sep, texty, i);
            if verdict.is_some_and(|h| h.severity == Severity::Critical) {
                return verdict;
            }
            found = worse(found, verdict);
            i = end;
            continue;
        }
        i += 1;
    }
    found
}

/// The bytes a separator or substitution starts with (see [`scan`]).
fn is_separator_byte(c: u8) -> bool {
    matches!(
        c,
        b';' | b'|' | b'&' | b'\n' | b'\r' | b'`' | b'$' | b'<' | b'>'
    )
}

/// `&name;` — an HTML entity, not a separator.
fn entity(s: &[u8], at: usize) -> bool {
    let mut j = at + 1;
    while j < s.len() && j - at <= 10 && (s[j].is_ascii_alphanumeric() || s[j] == b'#') {
        j += 1;
    }
    j > at + 1 && s.get(j) == Some(&b';')
}

/// Byte ranges of markdown table lines (`| a | b |`).
fn table_lines(s: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &c) in s
        .iter()
        .enumerate()
        .chain(std::iter::once((s.len(), &b'\n')))
    {
        if c == b'\n' {
            let line = s[start..i].trim_ascii();
            if line.len() >= 2 && line.starts_with(b"|") && line.ends_with(b"|") {
                out.push((start, i));
            }
            start = i + 1;
        }
    }
    out
}

fn in_table(tables: &[(usize, usize)], at: usize) -> bool {
    // Sorted and disjoint: the last range starting at or before `at`.
    let k = tables.partition_point(|&(a, _)| a <= at);
    k > 0 && at < tables[k - 1].1
}

/// A server-side include directive (`<!--#exec cmd="id"-->`,
/// `<!--#include virtual="/etc/passwd"-->`): where the server parses SSI,
/// a directive in a value runs a command or reads a file. Nobody types one
/// by accident.
fn server_side_include(s: &[u8]) -> Option<Hit> {
    const DIRECTIVES: &[&[u8]] = &[
        b"exec",
        b"include",
        b"echo",
        b"config",
        b"printenv",
        b"fsize",
        b"flastmod",
        b"set",
        b"if",
        b"elif",
    ];
    let mut from = 0;
    while let Some(p) = memchr(b'<', &s[from..]).map(|p| from + p) {
        from = p + 1;
        if !s[p..].starts_with(b"<!--#") {
            continue;
        }
        let at = p + 5;
        if DIRECTIVES.iter().any(|d| {
            starts_with_ci(s, at, d) && s.get(at + d.len()).is_some_and(u8::is_ascii_whitespace)
        }) {
            return Some(hit(Severity::Critical, 1, "server-side include directive"));
        }
    }
    None
}

/// Critical patterns that need no separator analysis.
fn specials(s: &[u8]) -> Option<Hit> {
    // Shellshock: `() { :; };`, `() { ignored; };`.
    if memchr(b'{', s).is_some()
        && let Some(p) = find_ci(s, b"() {", 0)
        && s[p..].windows(2).any(|w| w == b"};")
    {
        return Some(hit(Severity::Critical, 1, "shellshock function definition"));
    }
    // Breaking out of a string into a shell-running function:
    // `"; system('id'); "`, `';passthru("ls")`.
    const FUNCS: &[&[u8]] = &[
        b"system(",
        b"passthru(",
        b"shell_exec(",
        b"exec(",
        b"popen(",
        b"proc_open(",
        b"pcntl_exec(",
        b"os.system(",
        b"subprocess.",
    ];
    let mut i = 0;
    while let Some(p) = memchr(b';', &s[i..]) {
        i += p;
        let mut j = i + 1;
        while j < s.len() && s[j].is_ascii_whitespace() {
            j += 1;
        }
        if FUNCS.iter().any(|f| starts_with_ci(s, j, f)) {
            let after = s[j..]
                .iter()
                .position(|&c| c == b'(')
                .map_or(j, |p| j + p + 1);
            if matches!(s.get(after), Some(b'\'' | b'"' | b'$')) {
                return Some(hit(Severity::Critical, 1, "shell function call after ;"));
            }
        }
        i += 1;
    }
    None
}

/// Reads the command after `sep` and adds up the evidence. `at` is the
/// separator's position (for what precedes it).
fn judge(s: &[u8], sep: Sep, texty: &Texty<'_>, at: usize) -> Option<Hit> {
    let mut obf = 0u32;
    // Blanks: spaces, `${IFS}`, `$IFS$9`, `{` of brace expansion, `(`.
    let mut j = sep.end;
    loop {
        if j >= s.len() {
            break;
        }
        if s[j] == b' '
            || s[j] == b'\t'
            || s[j] == b'{'
            || s[j] == b'('
            || (s[j] == b'\n' && sep.start)
        {
            j += 1;
        } else if starts_with_ci(s, j, b"${ifs}") {
            j += 6;
            obf = 3;
        } else if starts_with_ci(s, j, b"$ifs") {
            j += 4;
            obf = 3;
            if s.get(j) == Some(&b'$') && s.get(j + 1).is_some_and(u8::is_ascii_digit) {
                j += 2;
            }
        } else {
            break;
        }
    }
    if plainly_not_a_command(s, j) {
        return None;
    }
    let word = read_word(s, j);
    if word.is_empty() {
        return None;
    }
    // `&sort=desc`, `; theme=dark`: a parameter or an assignment, not a
    // command.
    if s.get(word.end) == Some(&b'=') {
        return None;
    }
    let cmd_weight = command_weight(&word)?;
    // Only for a command: whether the value is free text costs a pass.
    let texty = texty.get();
    // Developer tooling quoted in prose: no evidence by itself.
    let cmd_weight = if texty && !word.split && !word.glob && developer(&word) {
        0
    } else {
        cmd_weight
    };
    if word.split {
        obf = 3;
    }
    let path_cmd = u32::from(word.absolute);
    // Arguments, up to the next separator.
    let rest_start = word.end;
    let rest_end = s[rest_start..]
        .iter()
        .take(ARG_WINDOW)
        .position(|&c| matches!(c, b';' | b'|' | b'&' | b'\n' | b'`' | b')'))
        .map_or((rest_start + ARG_WINDOW).min(s.len()), |p| rest_start + p);
    let rest = &s[rest_start..rest_end];
    let args = args_weight(rest, s.get(rest_start).copied());
    // A value that merely starts with a command word ("export", "type",
    // "id") is a word, not a command line.
    if sep.start && rest.trim_ascii().is_empty() {
        return None;
    }
    if args > 0 && rest.windows(6).any(|w| w.eq_ignore_ascii_case(b"${ifs}")) {
        obf = 3;
    }
    let context = if texty { 0 } else { 2 };
    let anchor = u32::from(!texty && !sep.start && anchored(&s[..at]));
    let total = sep.weight + cmd_weight + args + obf + path_cmd + context + anchor;
    let reason = "shell command after separator";
    let verdict = match total {
        6.. if sep.start && obf == 0 => hit(Severity::Error, 2, "shell command line"),
        5 if sep.start && obf == 0 => hit(Severity::Warning, 3, "shell command line"),
        _ if sep.start && obf == 0 => return None,
        6.. => hit(Severity::Critical, 1, reason),
        5 => hit(Severity::Error, 2, reason),
        4 => hit(Severity::Warning, 3, reason),
        _ => return None,
    };
    Some(verdict)
}

/// Whether what precedes a separator looks like the value the application
/// expected: nothing, a number or IP address, a name with a dot, a quote.
fn anchored(before: &[u8]) -> bool {
    // Only the last bytes matter (and looking further would make the scan
    // quadratic): a long prefix is not a single expected token.
    let long = before.len() > 256;
    let before = &before[before.len().saturating_sub(256)..];
    let b = before.trim_ascii();
    let Some(&last) = b.last() else {
        return true;
    };
    if last.is_ascii_digit() || last == b'\'' || last == b'"' {
        return true;
    }
    let token_start = b
        .iter()
        .rposition(|c| c.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    let token = &b[token_start..];
    !long && token_start == 0 && token.contains(&b'.') && !token.ends_with(b".")
}

/// The longest word read in command position.
const MAX_WORD: usize = 96;

/// Whether the word at `s[at..]` is plain (letters, digits, `_`, `-`,
/// `.`, then a blank, the end or punctuation that cannot continue it) and
/// no command: the common case, decided without [`read_word`].
fn plainly_not_a_command(s: &[u8], at: usize) -> bool {
    let rest = s.get(at..).unwrap_or_default();
    let end = rest
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')))
        .unwrap_or(rest.len());
    if end == 0
        || end > MAX_BASE
        || rest.get(end).is_some_and(|&c| {
            matches!(
                c,
                b'\'' | b'"' | b'$' | b'\\' | b'?' | b'*' | b'/' | b':' | b'+'
            )
        })
    {
        return false;
    }
    let mut buf = [0u8; MAX_BASE];
    buf[..end].copy_from_slice(&rest[..end]);
    buf[..end].make_ascii_lowercase();
    let Some(k) = words::key(strip_ext(&buf[..end])) else {
        return true;
    };
    AMBIGUOUS_KEYS.binary_search(&k).is_err() && DISTINCT_KEYS.binary_search(&k).is_err()
}

/// A word in command position.
struct Word {
    /// The word, lower case, quotes removed, backslashes kept.
    text: [u8; MAX_WORD],
    text_len: usize,
    /// The same, backslashes as path separators.
    raw: [u8; MAX_WORD],
    raw_len: usize,
    /// Where the word ends in the value.
    end: usize,
    /// Quote splitting, `$@`, backslash escapes or globs.
    split: bool,
    /// Globs (`?`, `*`) in the word.
    glob: bool,
    /// An absolute path (`/bin/cat`, `C:\…\cmd.exe`).
    absolute: bool,
}

impl Word {
    fn is_empty(&self) -> bool {
        self.text_len == 0
    }

    /// The base names to look up: escapes removed (`c\\at` → `cat`), and
    /// with backslashes as separators (`C:\\Windows\\cmd.exe` → `cmd`).
    fn bases(&self) -> [Option<Base>; 2] {
        [
            Base::of(&self.text[..self.text_len], b"/", true),
            Base::of(&self.raw[..self.raw_len], b"/\\", false),
        ]
    }
}

/// The longest base name looked up.
const MAX_BASE: usize = 24;

/// A base name (at most [`MAX_BASE`] bytes, extension stripped).
struct Base {
    b: [u8; MAX_BASE + 4],
    n: usize,
}

impl Base {
    /// The base name of `w` after its last separator; `None` when empty
    /// or too long to be a command.
    fn of(w: &[u8], seps: &[u8], drop_backslash: bool) -> Option<Self> {
        let from = w
            .iter()
            .rposition(|c| seps.contains(c))
            .map_or(0, |p| p + 1);
        let mut out = Self {
            b: [0; MAX_BASE + 4],
            n: 0,
        };
        for &c in &w[from..] {
            if drop_backslash && c == b'\\' {
                continue;
            }
            if out.n == out.b.len() {
                return None;
            }
            out.b[out.n] = c;
            out.n += 1;
        }
        out.n = strip_ext(&out.b[..out.n]).len();
        (out.n > 0 && out.n <= MAX_BASE).then_some(out)
    }

    fn bytes(&self) -> &[u8] {
        &self.b[..self.n]
    }
}

fn read_word(s: &[u8], start: usize) -> Word {
    let mut w = Word {
        text: [0; MAX_WORD],
        text_len: 0,
        raw: [0; MAX_WORD],
        raw_len: 0,
        end: start,
        split: false,
        glob: false,
        absolute: false,
    };
    let mut split = false;
    let mut open: Option<u8> = None;
    let mut j = start;
    // At most one byte of each buffer per byte read.
    while j < s.len() && j - start < MAX_WORD {
        let c = s[j];
        match c {
            b'\'' | b'"' => {
                // A quote inside a word: `c'a't`. A quote at the start of
                // the word opens an argument, not a command.
                if w.text_len == 0 {
                    break;
                }
                if open == Some(c) {
                    open = None;
                    j += 1;
                    continue;
                }
                // Only a closed pair splits a word (`c'a't`, `wh""oami`);
                // an apostrophe (`I'd`, `don't`) ends it.
                let close = s[j + 1..]
                    .iter()
                    .take(32)
                    .position(|&q| q == c || !q.is_ascii_alphanumeric());
                if close.is_none_or(|p| s[j + 1 + p] != c) {
                    break;
                }
                split = true;
                open = Some(c);
                j += 1;
            }
            b'$' if matches!(s.get(j + 1), Some(b'@' | b'*')) => {
                split = true;
                j += 2;
            }
            b'$' if s.get(j + 1) == Some(&b'{') && s.get(j + 2) == Some(&b'}') => {
                split = true;
                j += 3;
            }
            b'\\' => {
                w.raw[w.raw_len] = b'\\';
                w.raw_len += 1;
                if j + 1 < s.len() && s[j + 1].is_ascii_lowercase() && w.text_len > 0 {
                    split = true;
                }
                w.text[w.text_len] = b'\\';
                w.text_len += 1;
                j += 1;
            }
            b'?' | b'*' => {
                w.glob = true;
                w.text[w.text_len] = c;
                w.text_len += 1;
                w.raw[w.raw_len] = c;
                w.raw_len += 1;
                j += 1;
            }
            _ if c.is_ascii_alphanumeric()
                || matches!(c, b'_' | b'.' | b'/' | b'-' | b':' | b'+') =>
            {
                let c = c.to_ascii_lowercase();
                w.text[w.text_len] = c;
                w.text_len += 1;
                w.raw[w.raw_len] = c;
                w.raw_len += 1;
                j += 1;
            }
            _ => break,
        }
    }
    let text = &w.text[..w.text_len];
    w.absolute = text.first() == Some(&b'/')
        || (text.len() > 3 && text[1] == b':' && (text[2] == b'\\' || text[2] == b'/'));
    w.split = split && !absolute_windows(&w.raw[..w.raw_len]);
    w.end = j;
    w
}

fn absolute_windows(raw: &[u8]) -> bool {
    raw.len() > 2 && raw[1] == b':'
}

fn strip_ext(w: &[u8]) -> &[u8] {
    for ext in [&b".exe"[..], b".com", b".bat", b".cmd"] {
        if w.len() > ext.len() && w.ends_with(ext) {
            return &w[..w.len() - ext.len()];
        }
    }
    w
}

/// The weight of a command word, if it is a command.
fn command_weight(w: &Word) -> Option<u32> {
    for base in w.bases().iter().flatten() {
        let cand = base.bytes();
        if w.glob && cand.iter().filter(|&&c| c == b'*').count() <= 2 {
            // `/bin/ca?`, `/???/c?t`: a glob matching a command.
            if words::DISTINCT
                .iter()
                .any(|c| c.len() >= 2 && glob_match(cand, c.as_bytes()))
                && cand.iter().any(|c| c.is_ascii_alphabetic())
            {
                return Some(2 + 2);
            }
            continue;
        }
        if let Some(k) = words::key(cand) {
            if AMBIGUOUS_KEYS.binary_search(&k).is_ok() {
                return Some(1);
            }
            if DISTINCT_KEYS.binary_search(&k).is_ok() {
                return Some(2);
            }
        }
    }
    None
}

/// Whether the command word is developer tooling ([`words::DEVELOPER`]).
fn developer(w: &Word) -> bool {
    w.bases()
        .iter()
        .flatten()
        .filter_map(|b| words::key(b.bytes()))
        .any(|k| DEVELOPER_KEYS.binary_search(&k).is_ok())
}

static DEVELOPER_KEYS: LazyLock<Vec<u128>> = LazyLock::new(|| words::keys(words::DEVELOPER));
static AMBIGUOUS_KEYS: LazyLock<Vec<u128>> = LazyLock::new(|| words::keys(words::AMBIGUOUS));
static DISTINCT_KEYS: LazyLock<Vec<u128>> = LazyLock::new(|| words::keys(words::DISTINCT));

/// `?` matches one byte, `*` any run; linear enough for words of ≤ 24
/// bytes against names of ≤ 12.
fn glob_match(p: &[u8], t: &[u8]) -> bool {
    match (p.first(), t.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob_match(&p[1..], t) || (!t.is_empty() && glob_match(p, &t[1..])),
        (Some(b'?'), Some(_)) => glob_match(&p[1..], &t[1..]),
        (Some(a), Some(b)) if a == b => glob_match(&p[1..], &t[1..]),
        _ => false,
    }
}

/// How shell-like the arguments are.
fn args_weight(rest: &[u8], first: Option<u8>) -> u32 {
    let t = rest.trim_ascii();
    if t.is_empty() {
        return 1;
    }
    if SENSITIVE_SET.any(rest) {
        return 3;
    }
    // Directly glued redirection: `cat</etc/passwd`, `id>/tmp/x`.
    if matches!(first, Some(b'<' | b'>')) {
        return 1;
    }
    for tok in t
        .split(|c| c.is_ascii_whitespace() || *c == b',')
        .filter(|t| !t.is_empty())
        .take(3)
    {
        let c0 = tok[0];
        let shellish = matches!(
            c0,
            b'-' | b'/' | b'.' | b'~' | b'$' | b'>' | b'<' | b'\'' | b'"' | b'*' | b'+'
        ) || c0.is_ascii_digit()
            || (tok.len() >= 3
                && tok[0].is_ascii_alphabetic()
                && tok[1] == b':'
                && matches!(tok[2], b'\\' | b'/'))
            || tok.contains(&b'=')
            || tok.starts_with(b"2>");
        if shellish {
            return 1;
        }
        // Host names, e-mail addresses, `host:port`.
        if tok
            .iter()
            .any(|&c| matches!(c, b'.' | b'@' | b':' | b'\\' | b'%'))
            && tok.iter().any(|&c| is_word(c))
            && !tok.ends_with(b".")
        {
            return 1;
        }
    }
    0
}

#[cfg(test)]
mod tests;
