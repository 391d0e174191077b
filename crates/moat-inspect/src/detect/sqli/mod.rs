//! SQL injection, the libinjection way: the value is tokenised as SQL in
//! the three places it may have been pasted into (as-is, e.g. after
//! `WHERE id=`; inside `'…'`; inside `"…"`), the tokens are folded into a
//! short typed sequence (its *fingerprint*, see [`lexer`]), and the
//! sequence is matched against the shapes real injections take.
//!
//! Injections are anchored: inside a quoted string the attacker's text
//! starts as string content and must *break out* (a quote followed at once
//! by `or`, `union`, `;`, a comment…); as-is, it must start as a value (a
//! number, `@var`, an identifier, a condition `id=1`, a sort direction)
//! followed by such a breakout. Prose fails both: after an apostrophe
//! comes a letter (`O'Brien`, `don't`, `l'or`), and a sentence does not
//! start with `1 union select`. Only the first [`WINDOW`] tokens of each
//! context are read, and a four-token head first decides whether the
//! context can be anchored at all (most values stop there).
//!
//! The shapes matched (the fingerprint set), with `X` for an operand (`n`,
//! `s`, `v`, `b`, a function call or a parenthesised expression), `$` for
//! the end, a comment, a logic operator, `)`, `;`, `union` or a clause, and
//! `A` for an anchor (`s` when quoted; `n`, `v`, `bon`, `b`… as-is), each
//! optionally followed by `)`s:
//!
//! | shape | example | verdict |
//! |---|---|---|
//! | `A&XoX$` with literals | `1' or '1'='1`, `1 and 1=1`, `' and ascii(…)>64` | critical |
//! | `s&XoX$`, `n&XoX$` with identifiers | `' or username like '%a%'--` | critical quoted or outside prose, else warning PL2 |
//! | `A&Xc`, `A&(true\|false)$` | `' or 1--`, `1 or true` | critical |
//! | `s&n&` | `' or 1 or '` | critical |
//! | `A&(E`, `A&f(E`, `A&f((E` | `' and (select …)`, `' and exists(select`, `1 and json_keys((select…))` | critical |
//! | `AU E list`, `AU(E list` | `' union select null,null--`, `1 union(select 1)` | critical |
//! | `A;T…`, `A;E list` | `1; drop table users`, `'; exec xp_cmdshell`, `'; copy (select…) to program` | critical |
//! | `sc`, `s)c`, `s;c` | `admin'--`, `admin')#`, `';--` (not `'#tag'`: the comment holds the quote) | critical |
//! | `AB list c`, `AB list B(having) XoX$` | `' order by 3--`, `1' group by x having 1=1--` | critical |
//! | `nB list$` | `1 order by 2` | warning PL2, notice PL3 in prose |
//! | `k(into) k(outfile)` | `' into outfile '/x'` | critical |
//! | `sos$` | `'='`, `'=''or'` | critical |
//! | `Ao(E`, `A,(E` | `'+(select …)+'`, `asc, (select case…)` | critical |
//! | `sT(waitfor) k(delay) s` | `1' waitfor delay '0:0:5'--` | critical |
//! | any breakout, then a time/error call | `' and sleep(5)`, `1 and extractvalue(1,…)`, `'\|\|pg_sleep(5)--` | critical |
//! | as-is start: a time/error call, or one inside the first call or `(` | `sleep(5)`, `if(1=1,sleep(5),0)`, `(select(0)from(select(sleep(5)))v)` | critical |
//! | `s&s` | `x' or 'y` | notice PL3 |
//! | as-is start: `E list … from`, `T…` | `select * from users` | warning PL2, notice PL3 in prose |
//!
//! Three more shapes (a statement whose `where` holds a literal tautology,
//! `'||call(…)||'` concatenation, a JSON function compared right after a
//! value) are read on the folded text: see [`shapes`].
//!
//! Time/error calls must have working arguments (`sleep(5)`, not
//! `sleep(8 hours)`), and must follow a breakout (`time.sleep(5)` does
//! not). A value that is a URL (`Referer`, a link field) has its query
//! parameter values judged as values too.
//!
//! A value that cannot hold prose (a path segment, header, cookie, key, or
//! a field with a `maxLength` of 32 or less) gets less benefit of the
//! doubt: comparisons of identifiers (`x' and a=b`) and breakouts after a
//! bare identifier count there.

mod lexer;
mod shapes;

use lexer::{Tok, WINDOW, fold_words, is_danger_fn, tokenize};

use super::{Context, Detector, DetectorKind, Hit};
use crate::normalize::{Normalized, fold_lines};
use crate::report::{Severity, ValueKind};

/// The SQL injection detector.
pub struct SqlInjection;

impl Detector for SqlInjection {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Sqli
    }

    fn detect(&self, value: &Normalized<'_>, ctx: &Context<'_>) -> Option<Hit> {
        // Line breaks end `#` and `--` comments: keep them when the value
        // has both (rare; the folded view is used otherwise).
        let lines;
        let mut s = value.folded.as_bytes();
        if memchr::memchr2(b'#', b'-', s).is_some()
            && value.decoded.bytes().any(|c| c == b'\n' || c == b'\r')
        {
            lines = fold_lines(&value.decoded);
            s = lines.as_bytes();
        }
        if !worth_tokenising(s) {
            return None;
        }
        let prose = prose_capable(ctx);
        let level = ctx.paranoia;
        let mut best = judge_value(s, prose, level);
        if best.is_some_and(|h| h.paranoia == 1 && h.severity == Severity::Critical) {
            return best;
        }
        if let Some(hit) = shapes::find(s) {
            return Some(hit);
        }
        // A URL (a `Referer`, a link field): its query values are values too.
        for (a, b) in url_query_values(s) {
            if let Some(hit) = judge_value(&s[a..b], true, level) {
                if hit.severity == Severity::Critical && hit.paranoia == 1 {
                    return Some(hit);
                }
                best = better(best, hit, level);
            }
        }
        best
    }
}

/// The ranges of the query parameter values of `s`, when `s` is a URL
/// (`http://…?a=1&b=2`, `/path?a=1`).
pub(super) fn url_query_values(s: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let lead = s.iter().position(|&c| c > b' ').unwrap_or(s.len());
    let t = &s[lead..];
    let is_url = t.len() > 2
        && (t.starts_with(b"/")
            || t.get(..7)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"http://"))
            || t.get(..8)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"https://")));
    let q = if is_url {
        t.iter().position(|&c| c == b'?').map(|p| lead + p + 1)
    } else {
        None
    };
    let end = q.map_or(0, |q| {
        s[q..]
            .iter()
            .position(|&c| c == b'#')
            .map_or(s.len(), |p| q + p)
    });
    let start = q.unwrap_or(end);
    let mut i = start;
    std::iter::from_fn(move || {
        while i < end {
            let seg_end = s[i..end]
                .iter()
                .position(|&c| c == b'&')
                .map_or(end, |p| i + p);
            let seg = i;
            i = seg_end + 1;
            if let Some(eq) = s[seg..seg_end].iter().position(|&c| c == b'=') {
                let v = seg + eq + 1;
                if v < seg_end {
                    return Some((v, seg_end));
                }
            }
        }
        None
    })
}

/// The verdict on one (folded) value.
fn judge_value(s: &[u8], prose: bool, level: u8) -> Option<Hit> {
    let mut best: Option<Hit> = None;
    for quote in [None, Some(b'\''), Some(b'"')] {
        if let Some(q) = quote
            && !s.contains(&q)
        {
            continue;
        }
        // The first few tokens tell whether the value can be anchored at
        // all; most values (prose, names) stop here.
        let Some(head) = tokenize::<4>(s, quote) else {
            continue;
        };
        if !promising(head.as_slice(), s, quote.is_some()) {
            continue;
        }
        let Some(mut toks) = tokenize::<WINDOW>(s, quote) else {
            continue;
        };
        fold_words(&mut toks, s);
        let j = Judge {
            t: toks.as_slice(),
            s,
            quoted: quote.is_some(),
            prose,
        };
        if let Some(hit) = j.verdict() {
            if hit.severity == Severity::Critical && hit.paranoia == 1 {
                return Some(hit);
            }
            best = better(best, hit, level);
        }
    }
    best
}

/// Whether the first tokens can start an injection (see
/// [`Judge::verdict`]): a breakout right after the quoted string, or an
/// as-is start that is a value, a statement, a call or a parenthesis.
fn promising(t: &[Tok], s: &[u8], quoted: bool) -> bool {
    let kind = |i: usize| t.get(i).map_or(0, |t| t.kind);
    if quoted {
        let mut p = 1;
        while kind(p) == b')' {
            p += 1;
        }
        // Past the head: let the full window decide.
        return p >= t.len()
            || matches!(
                kind(p),
                b'&' | b'U' | b';' | b'c' | b'B' | b'k' | b'o' | b',' | b'T'
            );
    }
    match kind(0) {
        b'b' => {
            matches!(kind(1), b'&' | b'U' | b';' | b')' | b'o')
                || t.get(1)
                    .is_some_and(|t| matches!(t.text(s), b"asc" | b"desc"))
        }
        b's' => matches!(kind(1), b'&' | b'U' | b';' | b')'),
        b'k' => t
            .first()
            .is_some_and(|t| matches!(t.text(s), b"asc" | b"desc")),
        b'n' | b'v' | b'E' | b'T' | b'f' | b'(' | b')' | b';' => true,
        _ => false,
    }
}

/// The candidate that scores most at `level` ([`Hit::rank_at`]).
fn better(a: Option<Hit>, b: Hit, level: u8) -> Option<Hit> {
    match a {
        Some(a) if a.rank_at(level) >= b.rank_at(level) => Some(a),
        _ => Some(b),
    }
}

/// Values made of one word (letters, digits, `_.-@:/+=`) hold no
/// injection: skip tokenising them.
fn worth_tokenising(s: &[u8]) -> bool {
    s.iter().any(|&c| {
        matches!(
            c,
            b' ' | b'\''
                | b'"'
                | b'('
                | b')'
                | b';'
                | b'#'
                | b'|'
                | b'&'
                | b'<'
                | b'>'
                | b'`'
                | b','
        )
    }) || s.windows(2).any(|w| w == b"--" || w == b"/*")
}

/// Whether the value may be free text.
fn prose_capable(ctx: &Context<'_>) -> bool {
    matches!(
        ctx.kind,
        ValueKind::Query
            | ValueKind::JsonString
            | ValueKind::FormField
            | ValueKind::XmlText
            | ValueKind::GraphqlArgument
    ) && ctx.hints.max_length.is_none_or(|m| m > 32)
}

const fn hit(severity: Severity, paranoia: u8, reason: &'static str) -> Option<Hit> {
    Some(Hit {
        severity,
        paranoia,
        reason,
    })
}

fn critical(reason: &'static str) -> Option<Hit> {
    hit(Severity::Critical, 1, reason)
}

struct Judge<'a> {
    t: &'a [Tok],
    s: &'a [u8],
    quoted: bool,
    prose: bool,
}

impl Judge<'_> {
    fn kind(&self, i: usize) -> u8 {
        self.t.get(i).map_or(0, |t| t.kind)
    }

    fn text(&self, i: usize) -> &[u8] {
        self.t.get(i).map_or(&[], |t| t.text(self.s))
    }

    fn verdict(&self) -> Option<Hit> {
        let t = self.t;
        let first = *t.first()?;
        let mut p = 1;
        let mut bare_anchor = false;
        // `x<5 and y>3`: a condition, then identifiers compared.
        let mut cond_anchor = false;
        let mut string_anchor = false;
        if !self.quoted {
            match first.kind {
                b'E' => return self.statement_at_start(0),
                b'T' => return self.statement_at_start(0),
                b'f' if is_danger_fn(first.text(self.s)) && self.danger_call(0) => {
                    return critical("sql time/error-based function");
                }
                // `if(1=1,sleep(5),0)`: a dangerous call inside the first
                // call's arguments.
                b'f' => {
                    let end = self.skip_parens(1).unwrap_or(1);
                    return if (2..end).any(|j| self.dangerous_at(j)) {
                        critical("sql time/error-based function")
                    } else {
                        None
                    };
                }
                b'(' => {
                    if self.kind(1) == b'E' || self.kind(1) == b'f' {
                        if self.danger_from(1) {
                            return critical("sql time/error-based function");
                        }
                        if self.kind(1) == b'E' {
                            return self.statement_at_start(1);
                        }
                        return None;
                    }
                    // `(1)or(1)=(1)`: a parenthesised number as the anchor.
                    if !matches!(self.kind(1), b'n' | b'v') {
                        return None;
                    }
                    p = 2;
                }
                b'n' | b'v' => {}
                // `id=1 or 1=1`: a condition as the anchor.
                b'b' if self.is_comparison(1) && matches!(self.kind(2), b'n' | b's' | b'v') => {
                    p = 3;
                    cond_anchor = true;
                }
                b'b' => bare_anchor = true,
                // A sort direction: the value sits in `ORDER BY`.
                b'k' if matches!(first.text(self.s), b"asc" | b"desc") => {}
                b's' => string_anchor = true,
                b')' | b';' => p = 0,
                _ => return None,
            }
        }
        if matches!(self.text(p), b"asc" | b"desc") {
            p += 1;
        }
        while self.kind(p) == b')' {
            p += 1;
        }
        let bo = self.kind(p);
        if bo == 0 {
            return None;
        }
        // A bare identifier or a string as-is: only strong breakouts.
        let sort_anchor = !self.quoted && matches!(first.text(self.s), b"asc" | b"desc");
        if sort_anchor && !matches!(bo, b',' | b';') {
            return None;
        }
        if (bare_anchor || string_anchor) && !matches!(bo, b'&' | b'U' | b';') {
            return None;
        }
        if matches!(bo, b'&' | b'U' | b';' | b'o' | b',' | b'B' | b'k') && self.danger_from(p + 1) {
            return critical("sql time/error-based function after a breakout");
        }
        match bo {
            b'&' => self.logic(p + 1, bare_anchor, cond_anchor),
            b'U' => self.union(p + 1, bare_anchor),
            b';' => self.stacked(p + 1, bare_anchor),
            b'c' if self.quoted => self.truncation(p),
            b'B' => self.clause(p),
            b'k' if self.text(p) == b"into"
                && matches!(self.text(p + 1), b"outfile" | b"dumpfile") =>
            {
                critical("sql into outfile")
            }
            b'o' => self.operator(p),
            // MSSQL needs no `;`: `1' waitfor delay '0:0:5'--`.
            b'T' if self.text(p) == b"waitfor"
                && matches!(self.text(p + 1), b"delay" | b"time")
                && self.kind(p + 2) == b's' =>
            {
                critical("sql waitfor delay")
            }
            b',' if self.subquery_at(p + 1) => critical("sql subquery after a breakout"),
            _ => None,
        }
    }

    /// A dangerous function call anywhere from `i` on.
    fn danger_from(&self, i: usize) -> bool {
        (i..self.t.len()).any(|j| self.dangerous_at(j))
    }

    /// A dangerous function call (or procedure) at `j`.
    fn dangerous_at(&self, j: usize) -> bool {
        (self.kind(j) == b'f' && is_danger_fn(self.text(j)) && self.danger_call(j))
            || matches!(self.text(j), b"xp_cmdshell" | b"xp_dirtree")
    }

    /// `f` at `i` is called with arguments that make it work:
    /// `sleep(5)`, `benchmark(1000000,…)`, `extractvalue(1,…)`.
    fn danger_call(&self, i: usize) -> bool {
        if self.kind(i + 1) != b'(' {
            return false;
        }
        let a = self.kind(i + 2);
        match self.text(i) {
            // `sleep(5)`, not `sleep(8 hours)`.
            b"sleep" | b"pg_sleep" | b"randomblob" => {
                (a == b'n' && self.kind(i + 3) == b')') || matches!(a, b'(' | b'f' | b'E' | b'v')
            }
            b"benchmark" => matches!(a, b'n' | b'(' | b'f') && self.kind(i + 3) == b',',
            b"load_file" | b"pg_read_file" | b"lo_import" => matches!(a, b's' | b'n' | b'f'),
            b"exp" => self.text(i + 2) == b"~",
            b"receive_message" | b"get_host_name" | b"drithsx" | b"utl_http" | b"dbms_lock" => true,
            _ => (i + 2..(i + 10).min(self.t.len())).any(|j| self.kind(j) == b','),
        }
    }

    /// `(select` or `select` at `i`.
    fn subquery_at(&self, i: usize) -> bool {
        self.kind(i) == b'E' || (self.kind(i) == b'(' && self.kind(i + 1) == b'E')
    }

    /// An operand at `i`: its end and whether it is a literal (not a bare
    /// identifier).
    fn operand(&self, i: usize) -> Option<(usize, bool)> {
        match self.kind(i) {
            b'n' | b's' | b'v' => Some((i + 1, true)),
            b'b' => {
                // a.b, a.b.c
                let mut j = i + 1;
                while self.kind(j) == b'.' && self.kind(j + 1) == b'b' {
                    j += 2;
                }
                Some((j, false))
            }
            b'f' => self.skip_parens(i + 1).map(|j| (j, true)),
            b'(' => match self.skip_parens(i) {
                Some(j) if self.kind(j.saturating_sub(1)) == b')' => Some((j, true)),
                // `1) or (1=1`: an unclosed parenthesis opens the operand.
                _ => self.operand(i + 1),
            },
            _ => None,
        }
    }

    /// From a `(` at `i`, the index after its matching `)` (or the end).
    fn skip_parens(&self, i: usize) -> Option<usize> {
        if self.kind(i) != b'(' {
            return None;
        }
        let mut depth: i32 = 0;
        let mut j = i;
        while let Some(t) = self.t.get(j) {
            match t.kind {
                b'(' => depth += i32::from(t.count),
                b')' => depth -= i32::from(t.count),
                _ => {}
            }
            j += 1;
            if depth <= 0 {
                return Some(j);
            }
        }
        Some(j)
    }

    fn is_comparison(&self, i: usize) -> bool {
        self.kind(i) == b'o'
            && matches!(
                self.text(i),
                b"=" | b"<"
                    | b">"
                    | b"<="
                    | b">="
                    | b"<>"
                    | b"!="
                    | b"<=>"
                    | b"like"
                    | b"rlike"
                    | b"regexp"
                    | b"is"
                    | b"in"
                    | b"sounds"
                    | b"glob"
                    | b"between"
            )
    }

    /// What may follow a complete condition: the end, a comment, another
    /// logic operator, a closing parenthesis, `;`, or (quoted) the string
    /// the query closes.
    fn terminates(&self, i: usize) -> bool {
        match self.kind(i) {
            0 | b'c' | b'&' | b')' | b';' | b'B' | b'U' => true,
            b's' => self.quoted && self.t.get(i).is_some_and(|t| t.open) && i + 1 == self.t.len(),
            _ => false,
        }
    }

    /// After a logic operator at `i - 1`.
    fn logic(&self, i: usize, bare_anchor: bool, cond_anchor: bool) -> Option<Hit> {
        if self.subquery_at(i)
            || (self.kind(i) == b'f' && self.subquery_at(i + 2))
            || (self.text(i) == b"exists" && self.subquery_at(i + 1))
        {
            return critical("sql boolean subquery");
        }
        let (end, lit) = self.operand(i)?;
        if self.is_comparison(end) {
            let (rend, rlit) = if self.text(end) == b"in" || self.text(end) == b"between" {
                (self.operand(end + 1)?.0, true)
            } else {
                self.operand(end + 1)?
            };
            // `between 1 and 2`
            let rend = if self.text(end) == b"between" && self.kind(rend) == b'&' {
                self.operand(rend + 1).map_or(rend, |o| o.0)
            } else {
                rend
            };
            // Arithmetic on the right: `1=1-0`
            let mut rend = rend;
            while self.kind(rend) == b'o' && !self.is_comparison(rend) {
                match self.operand(rend + 1) {
                    Some((e, _)) => rend = e,
                    None => break,
                }
            }
            if !self.terminates(rend) {
                return None;
            }
            if bare_anchor {
                // `salt and pepper = tasty`: only outside prose, with
                // literals.
                return if !self.prose && lit && rlit {
                    critical("sql tautology")
                } else {
                    None
                };
            }
            if lit && rlit {
                return critical("sql tautology");
            }
            if !cond_anchor && (self.quoted || !self.prose || self.kind(rend) == b'c') {
                return critical("sql boolean condition after a breakout");
            }
            return hit(Severity::Warning, 2, "sql boolean condition");
        }
        if bare_anchor {
            return None;
        }
        let after = self.kind(end);
        if after == b'c' && (lit || self.quoted) {
            return critical("sql boolean with comment truncation");
        }
        // `1 or true`
        if matches!(self.text(i), b"true" | b"false") && self.terminates(end) {
            return critical("sql tautology");
        }
        if self.quoted && self.kind(i) == b'n' && after == b'&' {
            return critical("sql tautology");
        }
        if self.quoted && self.kind(i) == b's' && end == self.t.len() {
            return hit(Severity::Notice, 3, "sql quoted logic operator");
        }
        None
    }

    /// A select list at `i` (after `select`): `null,…`, `1,2`, `*`,
    /// `version()`, `a,b`, `a from`, `(select`.
    fn select_list(&self, mut i: usize) -> bool {
        while matches!(self.text(i), b"all" | b"distinct" | b"top") {
            i += 1;
        }
        match self.kind(i) {
            b'n' | b's' | b'v' | b'f' | b'(' => true,
            b'o' => self.text(i) == b"*",
            b'b' => {
                let mut j = i + 1;
                while self.kind(j) == b'.' && self.kind(j + 1) == b'b' {
                    j += 2;
                }
                match self.kind(j) {
                    b',' | b'c' => true,
                    b'k' => matches!(self.text(j), b"from" | b"into"),
                    0 => !self.prose,
                    _ => false,
                }
            }
            _ => false,
        }
    }

    /// After `union` at `i - 1`.
    fn union(&self, i: usize, bare_anchor: bool) -> Option<Hit> {
        let sel = if self.kind(i) == b'E' {
            i
        } else if self.kind(i) == b'(' && self.kind(i + 1) == b'E' {
            i + 1
        } else {
            return None;
        };
        if self.select_list(sel + 1) {
            return critical("sql union select");
        }
        if !bare_anchor && !self.prose {
            return hit(Severity::Warning, 2, "sql union select");
        }
        None
    }

    /// A statement that is plainly SQL at `i`: `drop table`, `delete from`,
    /// `insert into`, `update t set`, `select list`, `exec xp_…`,
    /// `declare @`, `shutdown`, `waitfor delay`…
    fn sql_statement(&self, i: usize) -> bool {
        let n1 = self.text(i + 1);
        match self.text(i) {
            b"select" => self.select_list(i + 1),
            b"drop" | b"truncate" | b"create" | b"alter" => matches!(
                n1,
                b"table"
                    | b"database"
                    | b"schema"
                    | b"procedure"
                    | b"function"
                    | b"view"
                    | b"user"
                    | b"index"
                    | b"trigger"
                    | b"login"
            ),
            b"delete" => n1 == b"from",
            b"insert" | b"merge" => n1 == b"into",
            b"update" => {
                self.kind(i + 1) == b'b'
                    && self.text(i + 2) == b"set"
                    && matches!(self.kind(i + 3), b'b' | b'v')
            }
            b"exec" | b"execute" => {
                matches!(self.kind(i + 1), b'v' | b'(')
                    || n1.starts_with(b"xp_")
                    || n1.starts_with(b"sp_")
                    || n1 == b"master"
                    || n1 == b"immediate"
            }
            b"declare" => self.kind(i + 1) == b'v',
            b"shutdown" => matches!(self.kind(i + 1), 0 | b'c' | b';'),
            b"waitfor" => matches!(n1, b"delay" | b"time"),
            b"copy" => {
                self.subquery_at(i + 1)
                    || (self.kind(i + 1) == b'b'
                        && matches!(self.text(i + 2), b"to" | b"from")
                        && matches!(self.kind(i + 3), b's' | b'b'))
            }
            b"grant" | b"revoke" => matches!(n1, b"all" | b"select" | b"insert" | b"update"),
            _ => false,
        }
    }

    /// After `;` at `i - 1`.
    fn stacked(&self, i: usize, bare_anchor: bool) -> Option<Hit> {
        // `';--`
        if self.quoted && self.kind(i) == b'c' {
            return self.truncation(i);
        }
        if !matches!(self.kind(i), b'T' | b'E') {
            return None;
        }
        if self.sql_statement(i) {
            if bare_anchor && self.prose && self.text(i) == b"select" {
                return hit(Severity::Warning, 2, "sql stacked query");
            }
            return critical("sql stacked query");
        }
        None
    }

    /// A quoted breakout straight into a comment: `admin'--`.
    fn truncation(&self, p: usize) -> Option<Hit> {
        let c = self.t.get(p)?;
        let text = c.text(self.s);
        // `'#general'`, `"--help"`: the comment holds the closing quote,
        // so the value is a quoted word, not a truncation.
        if text.iter().any(|&b| b == b'\'' || b == b'"') {
            return None;
        }
        critical("sql comment truncation")
    }

    /// `order by`, `group by`, `having`, `limit`, `procedure` after an
    /// operand.
    fn clause(&self, p: usize) -> Option<Hit> {
        let txt = self.text(p);
        if txt == b"procedure" {
            return if self.text(p + 1) == b"analyse" {
                critical("sql procedure analyse")
            } else {
                None
            };
        }
        if txt == b"having" {
            let (end, _) = self.operand(p + 1)?;
            if self.is_comparison(end) {
                let (rend, _) = self.operand(end + 1)?;
                if self.terminates(rend) {
                    return critical("sql having condition");
                }
            }
            return None;
        }
        // order by / group by / limit: a list of columns, then the end or
        // another clause.
        let mut e = p + 1;
        let mut numbers = true;
        loop {
            let (end, lit) = match self.kind(e) {
                b'n' => (e + 1, true),
                b'b' => (self.operand(e)?.0, false),
                _ => return None,
            };
            numbers &= lit;
            e = end;
            if matches!(self.text(e), b"asc" | b"desc") {
                e += 1;
            }
            if self.kind(e) != b',' {
                break;
            }
            e += 1;
        }
        if self.kind(e) == b'B' {
            return self.clause(e);
        }
        if !self.terminates(e) {
            return None;
        }
        if !numbers && !self.quoted && self.kind(e) != b'c' {
            return None;
        }
        // Quoted, the query's closing quote must be commented out
        // (`' order by 3--`); `the kids' order by 5` is prose.
        if matches!(self.kind(e), b'c' | b';') {
            return critical("sql order by probe");
        }
        if self.prose {
            hit(Severity::Notice, 3, "sql order by")
        } else {
            hit(Severity::Warning, 2, "sql order by")
        }
    }

    /// An operator after the anchor: `'+(select…)+'`, `'='`.
    fn operator(&self, p: usize) -> Option<Hit> {
        if self.subquery_at(p + 1) {
            return critical("sql subquery after a breakout");
        }
        if !self.quoted || p != 1 {
            return None;
        }
        // `'='`, `'=''or'`, `x'='x`
        if self.text(p) == b"=" && self.kind(p + 1) == b's' {
            let after = p + 2;
            if self.kind(after) == 0 || self.kind(after) == b'c' || self.kind(after) == b'&' {
                return critical("sql tautology");
            }
        }
        None
    }

    /// The value as-is starts with a statement (`select`, `drop`…).
    fn statement_at_start(&self, i: usize) -> Option<Hit> {
        if self.danger_from(i) {
            return critical("sql time/error-based function");
        }
        if !self.sql_statement(i) {
            return None;
        }
        // Plain SQL where a value was expected; prose fields may hold it.
        let has_from = self
            .t
            .iter()
            .any(|t| t.kind == b'k' && t.text(self.s) == b"from")
            || self.text(i) != b"select";
        if !has_from {
            return None;
        }
        if self.prose {
            hit(Severity::Notice, 3, "sql statement")
        } else {
            hit(Severity::Warning, 2, "sql statement")
        }
    }
}

#[cfg(test)]
mod tests;
