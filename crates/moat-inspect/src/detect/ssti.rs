//! Server-side template injection: expressions in the delimiters of the
//! common template engines, judged by what they hold.
//!
//! Delimiters: `{{ }}` (Jinja2, Twig, Handlebars, Angular), `${ }` (EL,
//! Freemarker, Thymeleaf, Mako), `#{ }` (JSF EL, Ruby, Thymeleaf),
//! `*{ }` and `__${ }__` (Thymeleaf), `<%= %>`/`<% %>` (ERB, EJS, JSP),
//! `{% %}` (Jinja2, Twig, Liquid), `@( )` (Razor), `{php}`/`{$smarty`
//! (Smarty), and directives outside delimiters (`#set(`, `<#assign`,
//! `freemarker.template.utility.Execute`, `T(java.lang.Runtime)`).
//!
//! | found | severity | paranoia |
//! |---|---|---|
//! | gadgets: `__class__`, `__mro__`, `__globals__`, `__subclasses__`, `__builtins__`, `__import__`, `getClass`, `forName`, `getRuntime`, `T(java.`, `constructor`, `\|attr(`, `os.popen`… | critical | 1 |
//! | arithmetic between literals (`7*7`, `7*'7'`) in a delimiter | critical | 1 |
//! | Freemarker `Execute`/`ObjectConstructor`, Velocity `#set(…)` with a gadget | critical | 1 |
//! | Flask `{{config}}`/`{{self}}`/`{{request…}}` objects | error | 1 |
//! | a call `name(…)` inside a delimiter | error | 2 |
//! | three or more different openers packed together (`${{<%[%'"}}%\`) | critical | 1 |
//! | Handlebars `{{#with` with `.split`/`.pop`/`constructor` gadgets | critical | 1 |
//! | `<#assign`, `#set(`, `__${` directives | warning | 2 |
//! | `{% … %}` statement with a call / without | error / notice | 2 / 3 |
//! | a dotted attribute chain (`{{user.name}}`) | notice | 3 |
//! | a plain variable (`{{name}}`, `${name}`) | notice | 4 |
//!
//! `${jndi:…}` and other Log4j lookups are left to the JNDI detector.

use super::traversal::text::{contains_ci, find_ci, hit, is_word, starts_with_ci, worse};
use std::sync::LazyLock;

use super::needles::Needles;
use super::{Context, Detector, DetectorKind, Hit};
use crate::normalize::{Normalized, has_any};
use crate::report::Severity;

/// The TemplateInjection detector.
pub struct TemplateInjection;

/// Gadgets: escaping the template sandbox or reaching the runtime.
const GADGETS: &[&[u8]] = &[
    b"__class__",
    b"__mro__",
    b"__globals__",
    b"__subclasses__",
    b"__builtins__",
    b"__import__",
    b"__init__",
    b"__getattribute__",
    b"__base__",
    b"__bases__",
    b"__dict__",
    b"__getitem__",
    b"__self__",
    b"__func__",
    b"__code__",
    b"_templatereference__context",
    b"getclass(",
    b".class.",
    b"forname(",
    b"getruntime(",
    b"processbuilder",
    b"java.lang.",
    b"t(java",
    b"constructor",
    b"|attr(",
    b"os.popen",
    b"popen(",
    b"subprocess",
    b"os.system",
    b"system(",
    b"exec(",
    b"eval(",
    b"import os",
    b"require(",
    b"process.mainmodule",
    b"child_process",
    b"getenv(",
    b"execute\"?new",
    b"?new()",
    b"objectconstructor",
    b"jythonruntime",
    b"freemarker.template.utility",
    b"classloader",
    b"getfilteredsubclass",
    b"_self.env",
    b"registerundefinedfiltercallback",
    b"getfilter(",
    b"file.read",
    b"io.popen",
    b"file.open",
    b"`",
    b"lipsum.",
    b"cycler.",
    b"joiner.",
    b"namespace.",
    b"url_for.",
    b"get_flashed_messages.",
    b"request.application",
    b"config.items",
    b"config.from",
    b"self._",
    b"$class.inspect",
    b".getclass",
    b"beanclassloader",
    b"#request",
    b"#context",
    b"@java.",
    b"#_memberaccess",
    b"#rt=",
    b"ognl",
    b"new java.",
    b"new file",
    b"runtime.exec",
    b"php_uname",
    b"passthru",
    b"shell_exec",
    b"readfile(",
    b"file_get_contents",
    b"'system'",
    b"\"system\"",
    b"'exec'",
    b"\"exec\"",
    b"'passthru'",
    b"\"passthru\"",
    b"'shell_exec'",
    b"'popen'",
    b"system.diagnostics.process",
];

/// Objects whose dump leaks configuration (Flask/Jinja2).
const LEAKS: &[&[u8]] = &[b"config", b"self", b"request", b"settings", b"app"];

impl Detector for TemplateInjection {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Ssti
    }

    fn detect(&self, value: &Normalized<'_>, _ctx: &Context<'_>) -> Option<Hit> {
        let s = value.decoded.as_bytes();
        if !may_hold_template(s) {
            return None;
        }
        scan(s)
    }
}

static GADGET_SET: LazyLock<Needles> = LazyLock::new(|| Needles::new(GADGETS));
static CRITICAL_SET: LazyLock<Needles> = LazyLock::new(|| Needles::new(CRITICAL));

/// Whether `s` has anything a finding needs: a delimiter's opening byte
/// (`{`, `$`, `#`, `%`), Razor's `@(`, or one of the directives that need
/// none of those.
fn may_hold_template(s: &[u8]) -> bool {
    if has_any(s, |c| matches!(c, b'{' | b'$' | b'#' | b'%')) {
        return true;
    }
    (memchr::memchr(b'(', s).is_some()
        && (s.windows(2).any(|w| w == b"@(")
            || contains_ci(s, b"t(java.lang")
            || contains_ci(s, b"t (java.lang")
            || contains_ci(s, b"getruntime().exec")))
        || (memchr::memchr(b'.', s).is_some()
            && (contains_ci(s, b"freemarker.template.utility")
                || contains_ci(s, b"system.diagnostics.process")
                || contains_ci(s, b"@system.io.")))
}

/// Longest expression judged inside a delimiter.
const MAX_EXPR: usize = 512;

fn scan(s: &[u8]) -> Option<Hit> {
    let mut found = directives(s);
    if found.is_some_and(|h| h.severity == Severity::Critical) {
        return found;
    }
    if let Some(h) = polyglot(s) {
        return Some(h);
    }
    let mut gadgets = GadgetIndex::default();
    let mut closers = Closers::default();
    let mut i = 0;
    while i + 1 < s.len() {
        let (open_len, close): (usize, &[u8]) = match (s[i], s[i + 1]) {
            (b'{', b'{') => (2, b"}}"),
            (b'{', b'%') => (2, b"%}"),
            (b'$' | b'#' | b'*' | b'@' | b'~', b'{') => (2, b"}"),
            (b'@', b'(') => (2, b")"),
            (b'<', b'%') => (2, b"%>"),
            _ => {
                i += 1;
                continue;
            }
        };
        let start = i + open_len;
        let start = if s[i] == b'<' && matches!(s.get(start), Some(b'=' | b'-' | b'#')) {
            start + 1
        } else {
            start
        };
        let limit = (start + MAX_EXPR).min(s.len());
        let end = closers
            .next(s, close, start)
            .filter(|&e| e + close.len() <= limit);
        let Some(end) = end else {
            // Unclosed: still judge gadgets right after the opener.
            if s[i] != b'@' && s[i] != b'~' {
                let body = &s[start..limit];
                if gadgets.within(s, start, limit) && has_gadget_shape(body) {
                    return Some(hit(Severity::Critical, 1, "template gadget"));
                }
            }
            i += 1;
            continue;
        };
        let body = &s[start..end];
        let verdict = judge(s[i], s[i + 1], body, gadgets.within(s, start, end));
        if verdict.is_some_and(|h| h.severity == Severity::Critical) {
            return verdict;
        }
        found = worse(found, verdict);
        i += 1;
    }
    found
}

/// Whether a gadget match in an unclosed expression looks like code
/// (has a dot, bracket or parenthesis).
fn has_gadget_shape(body: &[u8]) -> bool {
    body.iter().any(|&b| matches!(b, b'.' | b'(' | b'['))
}

/// The next closer of each kind at or after a position. Positions asked
/// for only grow, so each kind's searches never overlap: linear overall.
#[derive(Default)]
struct Closers {
    /// Per closer: where the last search started and what it found.
    cache: Vec<(&'static [u8], usize, Option<usize>)>,
}

impl Closers {
    fn next(&mut self, s: &[u8], close: &'static [u8], from: usize) -> Option<usize> {
        if let Some(entry) = self.cache.iter_mut().find(|(c, _, _)| *c == close) {
            match entry.2 {
                Some(p) if p >= from => return Some(p),
                None if entry.1 <= from => return None,
                _ => {}
            }
            let found = find(&s[from.min(s.len())..], close).map(|p| from + p);
            *entry = (close, from, found);
            return found;
        }
        let found = find(&s[from.min(s.len())..], close).map(|p| from + p);
        self.cache.push((close, from, found));
        found
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// Where gadgets start in the value, found once and only when a
/// delimiter asks (so that overlapping delimiters do not rescan their
/// bodies: the scan stays linear).
#[derive(Default)]
struct GadgetIndex {
    starts: Option<Vec<usize>>,
}

impl GadgetIndex {
    /// Whether a gadget starts in `start..end` of `s`.
    fn within(&mut self, s: &[u8], start: usize, end: usize) -> bool {
        let starts = self.starts.get_or_insert_with(|| GADGET_SET.starts(s));
        let k = starts.partition_point(|&p| p < start);
        starts.get(k).is_some_and(|&p| p < end)
    }
}

/// Judges the expression `body` of a delimiter opened by `a b`;
/// `gadget`: whether a gadget occurs in it.
fn judge(a: u8, b: u8, body: &[u8], gadget: bool) -> Option<Hit> {
    let t = body.trim_ascii();
    if t.is_empty() {
        return None;
    }
    if a == b'$' {
        // Log4j lookups are the JNDI detector's; shell `${VAR:-x}` is not
        // a template.
        let word_then_colon = t
            .iter()
            .position(|&c| !is_word(c))
            .is_some_and(|p| p > 0 && t[p] == b':');
        if word_then_colon {
            return None;
        }
    }
    if gadget {
        return Some(hit(Severity::Critical, 1, "template gadget"));
    }
    if literal_arithmetic(t) {
        return Some(hit(Severity::Critical, 1, "template arithmetic probe"));
    }
    if a == b'@' || a == b'~' {
        // Razor `@(…)`, Thymeleaf `@{…}`/`~{…}`: only gadgets and
        // arithmetic count (e-mail addresses and URLs use `@`).
        return None;
    }
    let ident_end = t.iter().position(|&c| !is_word(c)).unwrap_or(t.len());
    let head = &t[..ident_end];
    if (a, b) == (b'{', b'{') && LEAKS.iter().any(|l| head.eq_ignore_ascii_case(l)) {
        let rest = t[ident_end..].trim_ascii_start();
        if rest.is_empty()
            || rest.starts_with(b".")
            || rest.starts_with(b"[")
            || rest.starts_with(b"|")
        {
            return Some(hit(Severity::Error, 1, "template object dump"));
        }
    }
    if (a, b) == (b'{', b'%') {
        if t.contains(&b'(') {
            return Some(hit(Severity::Error, 2, "template statement with a call"));
        }
        return Some(hit(Severity::Notice, 3, "template statement"));
    }
    if (a, b) == (b'<', b'%') {
        if t.contains(&b'(') {
            return Some(hit(Severity::Error, 2, "template code"));
        }
        return Some(hit(Severity::Notice, 3, "template expression"));
    }
    if t.iter().all(|&c| is_word(c) || c == b'-') {
        return Some(hit(Severity::Notice, 4, "template variable"));
    }
    if t.contains(&b'(') && ident_end > 0 && t[ident_end..].contains(&b'(') {
        return Some(hit(Severity::Error, 2, "template call"));
    }
    if t.iter().all(|&c| is_word(c) || c == b'.' || c == b' ') {
        return Some(hit(Severity::Notice, 3, "template attribute chain"));
    }
    None
}

/// `7*7`, `7*'7'`, `1337 * 1337`, `(7*7)`, `7-1+1`: numeric literals
/// (optionally quoted) joined by arithmetic operators.
fn literal_arithmetic(t: &[u8]) -> bool {
    let mut numbers = 0;
    let mut ops = 0;
    let mut expect_number = true;
    let mut i = 0;
    while i < t.len() {
        let c = t[i];
        if c.is_ascii_whitespace() || c == b'(' || c == b')' {
            i += 1;
            continue;
        }
        if expect_number {
            let q = if c == b'\'' || c == b'"' { 1 } else { 0 };
            let mut j = i + q;
            let start = j;
            while j < t.len() && (t[j].is_ascii_digit() || t[j] == b'.') {
                j += 1;
            }
            if j == start {
                return false;
            }
            if q == 1 {
                if t.get(j) != Some(&c) {
                    return false;
                }
                j += 1;
            }
            numbers += 1;
            expect_number = false;
            i = j;
        } else {
            if !matches!(c, b'*' | b'+' | b'-' | b'/' | b'%') {
                return false;
            }
            if c == b'*' && t.get(i + 1) == Some(&b'*') {
                i += 1;
            }
            ops += 1;
            expect_number = true;
            i += 1;
        }
    }
    numbers >= 2 && ops >= 1 && !expect_number && (ops > 1 || !t.contains(&b'-') || has_star(t))
}

fn has_star(t: &[u8]) -> bool {
    t.contains(&b'*')
}

/// The template polyglot probe (`${{<%[%'"}}%\.`): three or more
/// different openers packed together.
fn polyglot(s: &[u8]) -> Option<Hit> {
    const OPENERS: &[&[u8]] = &[b"${", b"{{", b"<%", b"[%", b"#{", b"{%", b"*{", b"{#"];
    if s.len() > 256 {
        return None;
    }
    let n = OPENERS
        .iter()
        .filter(|o| s.windows(2).any(|w| w == **o))
        .count();
    let closers = [&b"}}"[..], b"%>", b"%]", b"%}"]
        .iter()
        .filter(|c| s.windows(2).any(|w| w == **c))
        .count();
    (n >= 3 && closers >= 1 && n + closers >= 4)
        .then(|| hit(Severity::Critical, 1, "template polyglot probe"))
}

/// Directives that are attacks outside any delimiter.
const CRITICAL: &[&[u8]] = &[
    b"freemarker.template.utility",
    b"t(java.lang",
    b"t (java.lang",
    b"getruntime().exec",
    b"{php}",
    b"{system(",
    b"$class.inspect(",
    b"#set($",
    b"system.diagnostics.process",
    b"@system.io.",
];

/// Template directives outside expression delimiters.
fn directives(s: &[u8]) -> Option<Hit> {
    let mut found = None;
    let mut critical = false;
    let mut set_at = None;
    CRITICAL_SET.each(s, |idx, at| {
        if CRITICAL[idx] == b"#set($" {
            set_at.get_or_insert(at);
            return true;
        }
        critical = true;
        false
    });
    if critical {
        return Some(hit(Severity::Critical, 1, "template engine gadget"));
    }
    if let Some(p) = set_at {
        // Velocity: critical with a gadget, else a statement.
        if GADGET_SET.any(&s[p..]) {
            return Some(hit(Severity::Critical, 1, "Velocity gadget"));
        }
        found = worse(found, Some(hit(Severity::Warning, 2, "Velocity directive")));
    }
    if let Some(p) = find_ci(s, b"<#assign", 0) {
        if GADGET_SET.any(&s[p..]) {
            return Some(hit(Severity::Critical, 1, "Freemarker gadget"));
        }
        found = worse(
            found,
            Some(hit(Severity::Warning, 2, "Freemarker directive")),
        );
    }
    // Handlebars: `{{#with "s" as |string|}}{{#with string.split …}}`.
    if let Some(p) = find_ci(s, b"{{#with", 0)
        && [
            &b".split"[..],
            b".pop",
            b".push",
            b".sub",
            b"constructor",
            b"lookup",
            b"string.",
        ]
        .iter()
        .any(|g| contains_ci(&s[p..], g))
    {
        return Some(hit(Severity::Critical, 1, "Handlebars gadget"));
    }
    if find_ci(s, b"__${", 0).is_some() {
        found = worse(
            found,
            Some(hit(Severity::Warning, 2, "Thymeleaf preprocessing")),
        );
    }
    if starts_with_ci(s, 0, b"{$smarty") || contains_ci(s, b"{$smarty.") {
        found = worse(found, Some(hit(Severity::Error, 1, "Smarty variable")));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ValueKind;

    fn check(v: &str) -> Option<Hit> {
        crate::detect::run(&TemplateInjection, v, ValueKind::JsonString)
    }

    fn critical(v: &str) -> bool {
        check(v).is_some_and(|h| h.severity == Severity::Critical && h.paranoia == 1)
    }

    #[test]
    fn attacks() {
        for v in [
            "{{7*7}}",
            "{{ 7 * 7 }}",
            "{{7*'7'}}",
            "${7*7}",
            "#{7*7}",
            "*{7*7}",
            "<%= 7*7 %>",
            "@(7*7)",
            "hello {{1337*1337}} world",
            "{{config.__class__.__init__.__globals__['os'].popen('id').read()}}",
            "{{''.__class__.__mro__[1].__subclasses__()}}",
            "{{ self._TemplateReference__context.cycler.__init__.__globals__.os }}",
            "{{request|attr('application')|attr('\\x5f\\x5fglobals\\x5f\\x5f')}}",
            "{{lipsum.__globals__.os.popen('id').read()}}",
            "{{cycler.__init__.__globals__.os.popen('id').read()}}",
            "{{config.items()}}",
            "{% for x in ().__class__.__base__.__subclasses__() %}{% endfor %}",
            "{% import os %}{{ os.popen('id') }}",
            "${T(java.lang.Runtime).getRuntime().exec('id')}",
            "*{T(java.lang.Runtime).getRuntime().exec('calc')}",
            "__${T(java.lang.Runtime).getRuntime().exec('id')}__::.x",
            "<#assign ex=\"freemarker.template.utility.Execute\"?new()> ${ ex(\"id\") }",
            "${\"freemarker.template.utility.Execute\"?new()(\"id\")}",
            "#set($x='')#set($rt=$x.class.forName('java.lang.Runtime'))",
            "#set($e=\"e\")$e.getClass().forName(\"java.lang.Runtime\")",
            "${product.getClass().getProtectionDomain()}",
            "<%= system('cat /etc/passwd') %>",
            "<%= `id` %>",
            "<%= File.open('/etc/passwd').read %>",
            "<% require('child_process').exec('id') %>",
            "{{constructor.constructor('alert(1)')()}}",
            "{{_self.env.registerUndefinedFilterCallback(\"exec\")}}",
            "{php}echo `id`;{/php}",
            "#{T(java.lang.Runtime).getRuntime().exec('id')}",
            "%7B%7B7*7%7D%7D",
            "{{#with \"s\" as |string|}}{{#with string.split as |conslist|}}{{this.pop}}{{/with}}{{/with}}",
            "{{['id']|filter('system')}}",
            "{{['cat /etc/passwd']|map('passthru')}}",
            "${{<%[%'\"}}%\\.",
            "@System.Diagnostics.Process.Start(\"cmd.exe\",\"/c whoami\")",
            "${{7*'7'}}",
            "%2524%257B%257B7%2A%25277%2527%257D%257D",
        ] {
            assert!(critical(v), "{v}: {:?}", check(v));
        }
    }

    #[test]
    fn weaker() {
        assert_eq!(
            check("{{name}}").map(|h| (h.severity, h.paranoia)),
            Some((Severity::Notice, 4))
        );
        assert_eq!(check("{{user.name}}").map(|h| h.paranoia), Some(3));
        assert_eq!(
            check("{{config}}").map(|h| h.severity),
            Some(Severity::Error)
        );
        assert!(check("{% if x %}y{% endif %}").is_some_and(|h| h.paranoia >= 2));
    }

    #[test]
    fn benign() {
        for v in [
            "Hello {{name}}, welcome",
            "${HOME}/bin",
            "Your total is $5 {tax included}",
            "mail me at john@example.com (work)",
            "{\"a\": {\"b\": [1, 2]}}",
            "5*5 = 25 and 10-3 = 7",
            "#{color} in SCSS",
            "$x = {a: 1}",
            "function f() { return a * b; }",
            "2024-01-01",
            "Rezept: 2*3 Eier {optional}",
            "${PATH:-/usr/bin}",
            "${jndi:ldap://x}",
            "@{user} mentioned you",
            "Q3 results: {{revenue}} vs {{cost}}",
            "array[{index}]",
            "SGVsbG8gd29ybGQhIHt7fX0=",
            "{{ page-title }}",
            "{{#with author}}{{firstName}}{{/with}}",
            "Use {{ and }} for templates, or ${ } in JS",
            "{% raw %}",
            "<% if admin %>",
        ] {
            let h = check(v);
            assert!(
                h.is_none() || h.is_some_and(|h| h.paranoia >= 3),
                "{v}: {h:?}"
            );
        }
    }
}
