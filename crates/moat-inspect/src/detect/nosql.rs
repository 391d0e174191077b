//! NoSQL (MongoDB) operator injection.
//!
//! * JSON keys (`{"password": {"$ne": null}}`) and parameter names
//!   (`password[$ne]=`, `user[$regex]=^a`, `$where=…`) that are query,
//!   update or aggregation operators.
//! * String values that carry an operator object (`{"$gt": ""}` sent as a
//!   string) or `$where`-style JavaScript (`';return true;var x='`,
//!   `this.password.match(/^a/)`).
//!
//! `$ref`, `$schema`, `$id`, `$comment`, `$defs`, `$anchor`, `$vocabulary`
//! (JSON Schema / JSON Reference keywords) and `$values` are not operators.
//! `$type` is both a MongoDB operator and Json.NET's polymorphic type
//! marker: a weaker hit. Bare OData system options as parameter names
//! (`$filter`, `$select`, `$top`, `$skip`, `$orderby`, `$expand`, `$count`,
//! `$search`, `$format`…) are not hits. A `$` in prose or prices never is.
//!
//! | found | severity | paranoia |
//! |---|---|---|
//! | operator as JSON key or bracketed/bare parameter name | critical | 1 |
//! | `{"$op":` / `{$op:` inside a string value | critical | 1 |
//! | the same inside a quoted shell query (`db.orders.find({ total: { $gt: 1 } })`) | warning | 2 |
//! | `';return …` / `this.x.match(` JavaScript in a value | critical | 1 |
//! | `$type` key | warning | 2 |
//! | unknown `$name` key or bracketed parameter | notice | 3 |
//! | `'; db.users.drop(); '`: a shell call after a breakout (`;`, a quote, `+`) | critical | 1 |
//! | a busy wait on `new Date()` in a loop, after a quote or `;` | critical | 1 |
//! | `sleep(`/`db.` JavaScript fragments; a shell call in prose | warning | 2 |

use memchr::{memchr, memchr2, memchr3};

use super::traversal::text::{contains_ci, find_ci, hit, is_word, rfind_ci, worse};
use super::{Context, Detector, DetectorKind, Hit};
use crate::normalize::Normalized;
use crate::report::{Severity, ValueKind};

/// The NoSqlInjection detector.
pub struct NoSqlInjection;

/// MongoDB operators (lower case, without `$`).
const OPERATORS: &[&str] = &[
    "where",
    "ne",
    "eq",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "nin",
    "regex",
    "options",
    "exists",
    "expr",
    "function",
    "accumulator",
    "lookup",
    "graphlookup",
    "unionwith",
    "merge",
    "out",
    "not",
    "nor",
    "or",
    "and",
    "elemmatch",
    "size",
    "mod",
    "jsonschema",
    "text",
    "all",
    "where",
    "set",
    "unset",
    "push",
    "pull",
    "pullall",
    "inc",
    "rename",
    "addtoset",
    "setoninsert",
    "mul",
    "min",
    "max",
    "currentdate",
    "bit",
    "regexmatch",
    "regexfind",
    "regexfindall",
    "function",
    "match",
    "project",
    "group",
    "facet",
    "replaceroot",
    "replacewith",
    "addfields",
    "currentop",
    "listsessions",
    "eval",
    "geowithin",
    "near",
    "nearsphere",
    "bitsallset",
    "bitsanyset",
    "search",
    "count",
    "skip",
    "limit",
    "sort",
];

/// OData system query options: legitimate bare parameter names.
const ODATA: &[&str] = &[
    "filter",
    "select",
    "top",
    "skip",
    "orderby",
    "expand",
    "count",
    "search",
    "format",
    "apply",
    "compute",
    "index",
    "schemaversion",
    "levels",
    "skiptoken",
    "deltatoken",
    "value",
    "batch",
    "metadata",
    "all",
    "inlinecount",
    "callback",
];

/// Keys that start with `$` and are not operators.
const NOT_OPERATORS: &[&str] = &[
    "ref",
    "schema",
    "id",
    "comment",
    "defs",
    "anchor",
    "dynamicref",
    "dynamicanchor",
    "vocabulary",
    "recursiveref",
    "recursiveanchor",
    "values",
    "key",
    "oid",
    "date",
    "numberlong",
    "numberdecimal",
    "binary",
    "timestamp",
    "uuid",
    "link",
    "meta",
    "kind",
];

/// How a `$name` is classified.
enum Name {
    Operator,
    Type,
    Benign,
    Unknown,
}

fn classify(name: &[u8]) -> Name {
    let lower = name.to_ascii_lowercase();
    let lower = lower.as_slice();
    if lower == b"type" {
        Name::Type
    } else if OPERATORS.iter().any(|o| o.as_bytes() == lower) {
        Name::Operator
    } else if NOT_OPERATORS.iter().any(|o| o.as_bytes() == lower) {
        Name::Benign
    } else {
        Name::Unknown
    }
}

impl Detector for NoSqlInjection {
    fn kind(&self) -> DetectorKind {
        DetectorKind::NoSql
    }

    fn detect(&self, value: &Normalized<'_>, ctx: &Context<'_>) -> Option<Hit> {
        let s = value.decoded.as_bytes();
        match ctx.kind {
            ValueKind::JsonKey => worse(key(s), param_name(s, false)),
            ValueKind::ParamName => param_name(s, true),
            _ => string_value(s),
        }
    }
}

fn verdict(name: &[u8]) -> Option<Hit> {
    match classify(name) {
        Name::Operator => Some(hit(Severity::Critical, 1, "NoSQL operator")),
        Name::Type => Some(hit(Severity::Warning, 2, "$type key")),
        Name::Unknown if !name.is_empty() && name.iter().all(|&b| is_word(b)) => {
            Some(hit(Severity::Notice, 3, "unknown $ key"))
        }
        _ => None,
    }
}

/// A JSON key: `$op` as a whole.
fn key(s: &[u8]) -> Option<Hit> {
    let t = s.trim_ascii();
    let name = t.strip_prefix(b"$")?;
    verdict(name)
}

/// A parameter name: `a[$op]`, `a[b][$op]`, or a bare `$op` (not OData).
fn param_name(s: &[u8], bare: bool) -> Option<Hit> {
    let mut found = None;
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'[' {
            let start = i + 1;
            let end = s[start..]
                .iter()
                .position(|&b| b == b']')
                .map(|e| start + e);
            // No `]` after this `[`: none after any later one either (and
            // looking again from each would be quadratic).
            let Some(end) = end else { break };
            let seg = s[start..end].trim_ascii();
            let seg = seg.strip_prefix(b"'").unwrap_or(seg);
            let seg = seg.strip_suffix(b"'").unwrap_or(seg);
            if let Some(name) = seg.strip_prefix(b"$") {
                found = worse(found, verdict(name));
            }
            i = end + 1;
            continue;
        }
        i += 1;
    }
    if bare {
        let head_end = s.iter().position(|&b| b == b'[').unwrap_or(s.len());
        let head = s[..head_end].trim_ascii();
        if let Some(name) = head.strip_prefix(b"$") {
            let lower = name.to_ascii_lowercase();
            if !ODATA.iter().any(|o| o.as_bytes() == lower.as_slice()) {
                found = worse(found, verdict(name));
            }
        }
    }
    found
}

/// Whether `before` (the text before an operator) opens a MongoDB shell
/// call, `db.<collection>.<method>(` or `db.<method>(`: a query quoted in
/// a note or a ticket, not an operator object sent in place of a value.
/// Only the last 512 bytes are looked at (a shell query is short; the scan
/// stays linear).
fn shell_query(before: &[u8]) -> bool {
    let before = &before[before.len().saturating_sub(512)..];
    let Some(p) = rfind_ci(before, b"db.") else {
        return false;
    };
    if p > 0 && is_word(before[p - 1]) {
        return false;
    }
    // `db.<collection>.<method>(` or `db.<method>(`.
    let call = &before[p + 3..];
    let name = call.iter().take_while(|&&c| is_word(c)).count();
    let rest = match call.get(name..) {
        Some([b'(', ..]) => return name > 0,
        Some([b'.', rest @ ..]) => rest,
        _ => return false,
    };
    let method = rest
        .iter()
        .take_while(|&&c| c.is_ascii_alphabetic())
        .count();
    name > 0 && method > 0 && rest.get(method) == Some(&b'(')
}

/// A string value: operator objects and `$where` JavaScript inside.
fn string_value(s: &[u8]) -> Option<Hit> {
    // Every finding needs one of these bytes: `$` (an operator), `;`
    // (`;return`), `|`/`&` (a tautology), `.` (`this.`, `db.`), `(` (a
    // loop, `sleep(`).
    let dollar = memchr(b'$', s).is_some();
    let semi = memchr(b';', s).is_some();
    let logic = memchr2(b'|', b'&', s).is_some();
    let dot = memchr(b'.', s).is_some();
    let paren = memchr(b'(', s).is_some();
    if !(dollar || semi || logic || dot || paren) {
        return None;
    }
    let mut found = None;
    // Computed once, so that the loops below stay linear.
    let last = |needle: &[u8]| rfind_ci(s, needle);
    let quoted = memchr3(b'\'', b'"', b';', s).is_some();
    // `{"$ne": …}`, `{ '$gt' : …}`, `{$where: …}`, `[$ne]=` inside a value.
    let mut i = if dollar { 0 } else { s.len() };
    while i < s.len() {
        if s[i] == b'$' && i > 0 {
            let mut b = i;
            while b > 0 && matches!(s[b - 1], b'"' | b'\'' | b' ' | b'\t') {
                b -= 1;
            }
            let opened = b > 0 && matches!(s[b - 1], b'{' | b',' | b'[');
            let mut e = i + 1;
            while e < s.len() && is_word(s[e]) {
                e += 1;
            }
            let name = &s[i + 1..e];
            let mut a = e;
            while a < s.len() && matches!(s[a], b'"' | b'\'' | b' ' | b'\t') {
                a += 1;
            }
            let closed = matches!(s.get(a), Some(b':' | b']'));
            if opened && closed && matches!(classify(name), Name::Operator) {
                if shell_query(&s[..i]) {
                    found = worse(
                        found,
                        Some(hit(Severity::Warning, 2, "NoSQL operator in a shell query")),
                    );
                    i = e;
                    continue;
                }
                return Some(hit(Severity::Critical, 1, "NoSQL operator in a value"));
            }
            i = e.max(i + 1);
            continue;
        }
        i += 1;
    }
    // `';return true;var x='`, `'; return this.a == 'b`, `1;return 1`.
    let (last_var, last_this) = if semi {
        (last(b"var "), last(b"this."))
    } else {
        (None, None)
    };
    let mut from = if semi { 0 } else { s.len() };
    while let Some(p) = find_ci(s, b"return", from) {
        let mut b = p;
        while b > 0 && s[b - 1].is_ascii_whitespace() {
            b -= 1;
        }
        let after = p + 6;
        let boundary = s.get(after).is_none_or(|&c| !is_word(c));
        let operand = s[after..].trim_ascii_start();
        let js_operand = [
            &b"true"[..],
            b"false",
            b"this",
            b"sleep",
            b"1",
            b"0",
            b"!",
            b"(",
        ]
        .iter()
        .any(|t| operand.starts_with(t));
        if boundary && js_operand && b > 0 && s[b - 1] == b';' {
            let before = &s[..b - 1];
            let quote_before = before
                .trim_ascii_end()
                .last()
                .is_some_and(|&c| c == b'\'' || c == b'"');
            if quote_before
                || last_var.is_some_and(|v| v >= after)
                || last_this.is_some_and(|t| t >= after)
            {
                return Some(hit(Severity::Critical, 1, "$where JavaScript injection"));
            }
            found = worse(found, Some(hit(Severity::Warning, 2, "JavaScript return")));
        }
        from = p + 6;
    }
    // `this.password.match(`, `this.a == '…'` in a value with JS syntax.
    let mut from = if dot { 0 } else { s.len() };
    while let Some(p) = find_ci(s, b"this.", from) {
        let boundary = p == 0 || !is_word(s[p - 1]);
        let mut e = p + 5;
        while e < s.len() && (is_word(s[e]) || s[e] == b'.') {
            e += 1;
        }
        let rest = &s[e..];
        let js = rest.starts_with(b"(")
            || rest.trim_ascii_start().starts_with(b"==")
            || rest.trim_ascii_start().starts_with(b"!=");
        let called = s[p + 5..e].ends_with(b".match")
            || s[p + 5..e].ends_with(b".constructor")
            || s[p + 5..e].ends_with(b".length");
        if boundary && (js || called) && e > p + 5 {
            if quoted || p == 0 {
                return Some(hit(Severity::Critical, 1, "$where JavaScript"));
            }
            found = worse(found, Some(hit(Severity::Warning, 2, "$where JavaScript")));
        }
        from = e.max(p + 5);
    }
    let quote = memchr2(b'\'', b'"', s).is_some();
    // `' || '1'=='1`, `" && this.x != "`: a JavaScript tautology.
    // A quote closed right before the operator: a breakout.
    let last_eq = if logic {
        [last(b"=="), last(b"!=")].into_iter().flatten().max()
    } else {
        None
    };
    for op in [&b"||"[..], b"&&"] {
        if !logic {
            break;
        }
        let mut from = 0;
        while let Some(p) = find_ci(s, op, from) {
            from = p + 2;
            let before = s[..p].trim_ascii_end();
            let breakout = before.last().is_some_and(|&c| c == b'\'' || c == b'"');
            if breakout && last_eq.is_some_and(|e| e >= p + 2) {
                return Some(hit(Severity::Critical, 1, "JavaScript tautology"));
            }
        }
    }
    // `do { c = new Date(); } while (c - d < 5000)`: a busy wait on the
    // clock, the `$where` way of sleeping.
    if paren
        && (quote || semi)
        && let Some(first) = find_ci(s, b"new date(", 0)
        && find_ci(s, b"new date(", first + 9).is_some()
        && find_ci(s, b"while", 0).is_some()
    {
        return Some(hit(Severity::Critical, 1, "JavaScript busy wait"));
    }
    // `"; while(true){}; "`: a JavaScript busy loop.
    for p in [
        &b"while(true)"[..],
        b"while (true)",
        b"while(1)",
        b"while (1)",
        b"for(;;)",
    ] {
        if paren && (quote || semi) && contains_ci(s, p) {
            return Some(hit(Severity::Critical, 1, "JavaScript busy loop"));
        }
    }
    // `'; db.users.drop(); '`: shell methods on a collection.
    let mut from = if dot { 0 } else { s.len() };
    while let Some(p) = find_ci(s, b"db.", from) {
        from = p + 3;
        if p > 0 && is_word(s[p - 1]) {
            continue;
        }
        let mut e = p + 3;
        while e < s.len()
            && (is_word(s[e])
                || s[e] == b'.'
                || s[e] == b'('
                || s[e] == b')'
                || s[e] == b'\''
                || s[e] == b'"')
            && e - p < 80
        {
            e += 1;
        }
        let call = &s[p..e];
        // The next search starts after this call chain: linear.
        from = e.max(p + 3);
        const METHODS: &[&[u8]] = &[
            b".drop(",
            b".remove(",
            b".insert(",
            b".insertone(",
            b".insertmany(",
            b".update(",
            b".updateone(",
            b".updatemany(",
            b".deleteone(",
            b".deletemany(",
            b".find(",
            b".findone(",
            b".aggregate(",
            b".dropdatabase(",
            b".getcollection(",
            b".eval(",
            b".mapreduce(",
            b".renamecollection(",
            b".createuser(",
            b".getsiblingdb(",
        ];
        if METHODS.iter().any(|m| contains_ci(call, m)) {
            // A breakout puts the call right after a statement end, a
            // quote or a concatenation (`'; db.users.drop(); '`); a query
            // quoted in a note follows words.
            let broke_out = s[..p]
                .trim_ascii_end()
                .last()
                .is_some_and(|c| matches!(c, b';' | b'\'' | b'"' | b'+' | b'|' | b'&'));
            if (semi || quote) && broke_out {
                return Some(hit(Severity::Critical, 1, "MongoDB shell call"));
            }
            found = worse(found, Some(hit(Severity::Warning, 2, "MongoDB shell call")));
        }
    }
    if (paren
        && contains_ci(s, b"sleep(")
        && (memchr::memchr(b';', s).is_some() || contains_ci(s, b"||")))
        || (dot && contains_ci(s, b"db.getcollection"))
        || (dot && contains_ci(s, b"db.dropdatabase"))
    {
        found = worse(
            found,
            Some(hit(Severity::Warning, 2, "JavaScript in a value")),
        );
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(v: &str, kind: ValueKind) -> Option<Hit> {
        crate::detect::run(&NoSqlInjection, v, kind)
    }

    fn critical(v: &str, kind: ValueKind) -> bool {
        check(v, kind).is_some_and(|h| h.severity == Severity::Critical && h.paranoia == 1)
    }

    #[test]
    fn operator_keys_and_names() {
        for k in [
            "$ne",
            "$gt",
            "$where",
            "$regex",
            "$expr",
            "$function",
            "$accumulator",
            "$lookup",
            "$NE",
            "$in",
            "$or",
        ] {
            assert!(critical(k, ValueKind::JsonKey), "{k}");
        }
        for n in [
            "password[$ne]",
            "user[$regex]",
            "a[b][$gt]",
            "username[ $ne ]",
            "$where",
            "login[$nin][]",
            "filter[$expr]",
            "p%5B%24ne%5D",
        ] {
            assert!(
                critical(n, ValueKind::ParamName),
                "{n}: {:?}",
                check(n, ValueKind::ParamName)
            );
        }
        assert_eq!(
            check("$type", ValueKind::JsonKey).map(|h| h.severity),
            Some(Severity::Warning)
        );
        assert_eq!(
            check("$foo", ValueKind::JsonKey).map(|h| h.paranoia),
            Some(3)
        );
    }

    #[test]
    fn operator_values() {
        for v in [
            r#"{"$ne": null}"#,
            r#"{"password": {"$gt": ""}}"#,
            "{$where: 'sleep(1000)'}",
            "{ '$regex' : '^a' }",
            "'; return true; var x='",
            "';return true;var foo='",
            "1; return this.password.match(/^a/)",
            "this.password.match(/.*/)//",
            "'||this.role=='admin",
            "x' && this.password.length > 0 && 'a'=='a",
            "' || '1'=='1",
            "\"; while(true){}; \"",
            "'; db.users.drop(); '",
            "'; db.dropDatabase(); '",
            "%27%3B%20db.users.drop%28%29%3B%20%27",
        ] {
            assert!(
                critical(v, ValueKind::Query),
                "{v}: {:?}",
                check(v, ValueKind::Query)
            );
            assert!(critical(v, ValueKind::JsonString), "{v}");
        }
    }

    #[test]
    fn benign() {
        for (v, kind) in [
            ("$ref", ValueKind::JsonKey),
            ("$schema", ValueKind::JsonKey),
            ("$id", ValueKind::JsonKey),
            ("$comment", ValueKind::JsonKey),
            ("price", ValueKind::JsonKey),
            ("$filter", ValueKind::ParamName),
            ("$top", ValueKind::ParamName),
            ("$orderby", ValueKind::ParamName),
            ("items[0][name]", ValueKind::ParamName),
            ("It costs $5, or $4.99 on sale", ValueKind::JsonString),
            ("US$ne plus ultra", ValueKind::JsonString),
            (
                "Return this to the store; return policy applies",
                ValueKind::JsonString,
            ),
            (
                "this.state is set in the constructor",
                ValueKind::JsonString,
            ),
            ("Price: $gt 100 (gt = greater than)", ValueKind::Query),
            ("{\"$ref\": \"#/definitions/a\"}", ValueKind::JsonString),
            ("SGVsbG8gd29ybGQ=", ValueKind::Query),
            ("Größe: 5 €; Preis $10", ValueKind::Query),
            ("a == b || c", ValueKind::JsonString),
            ("Use db.users.find() to list users", ValueKind::JsonString),
            ("It's fine || \"ok\" == good", ValueKind::JsonString),
        ] {
            let h = check(v, kind);
            assert!(
                h.is_none() || h.is_some_and(|h| h.paranoia >= 2),
                "{v}: {h:?}"
            );
        }
    }

    #[test]
    fn shell_queries_in_prose_count_from_level_2() {
        for v in [
            "In the mongo shell db.orders.find({ status: \"open\", total: { $gt: 100 } }) returns nothing",
            "Use db.users.updateMany({ plan: \"trial\" }, { $set: { plan: \"free\" } }) after it",
            "Favourite query: db.currentOp({ secs_running: { $gte: 5 } })",
        ] {
            let h = check(v, ValueKind::JsonString);
            assert!(h.is_some_and(|h| h.paranoia == 2), "{v}: {h:?}");
        }
        // An operator object sent as the value, and a breakout into a
        // shell call, stay critical.
        assert!(critical("{\"$ne\": null}", ValueKind::JsonString));
        assert!(critical("x'; db.users.drop(); '", ValueKind::Query));
        assert!(critical(
            "a\" + db.users.find({}) + \"",
            ValueKind::JsonString
        ));
    }
}
