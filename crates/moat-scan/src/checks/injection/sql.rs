//! SQL injection: database errors (`injection.sql-error`), answers that
//! follow an always-true and an always-false condition
//! (`injection.sql-boolean`) and delays that follow the one asked for
//! (`injection.sql-time`).

use std::time::Duration;

use super::answer::{Shape, boolean_injectable};
use super::point::Point;
use super::timing::grows_with_size;
use super::{Kind, Measure, report};
use crate::checks::{Context, Outcome};
use crate::finding::{Category, Rule, Severity};

pub static SQL_ERROR: Rule = Rule {
    id: "injection.sql-error",
    name: "SQL injection (database error)",
    category: Category::Api8,
    severity: Severity::High,
    cwe: Some(89),
    description: "A quote in a value breaks the SQL the API builds, and the database's error comes back: the value is written into the query, not bound.",
};

pub static SQL_BOOLEAN: Rule = Rule {
    id: "injection.sql-boolean",
    name: "SQL injection (boolean)",
    category: Category::Api8,
    severity: Severity::Critical,
    cwe: Some(89),
    description: "An always-true condition added to a value returns more rows than the value itself and an always-false one fewer: the value is part of the query's logic.",
};

pub static SQL_TIME: Rule = Rule {
    id: "injection.sql-time",
    name: "SQL injection (time)",
    category: Category::Api8,
    severity: Severity::Critical,
    cwe: Some(89),
    description: "A value asking the database to wait (or to count) delays the answer by what it asks: the value is executed as SQL.",
};

/// Texts of database errors, lower case, by engine.
const SIGNATURES: &[(&str, &str)] = &[
    ("SQLite", "sqlite error"),
    ("SQLite", "sqlite3."),
    ("SQLite", "sqlite_error"),
    ("SQLite", "unrecognized token:"),
    ("SQLite", "sqliteexception"),
    ("PostgreSQL", "syntax error at or near"),
    ("PostgreSQL", "unterminated quoted string at or near"),
    ("PostgreSQL", "psqlexception"),
    ("PostgreSQL", "pg_query()"),
    ("MySQL", "you have an error in your sql syntax"),
    ("MySQL", "mysqlsyntaxerrorexception"),
    ("MySQL", "warning: mysql_"),
    (
        "MSSQL",
        "unclosed quotation mark after the character string",
    ),
    ("MSSQL", "incorrect syntax near"),
    ("MSSQL", "sqlserverexception"),
    ("Oracle", "ora-01756"),
    ("Oracle", "ora-00933"),
    ("Oracle", "quoted string not properly terminated"),
];

/// The engine whose error `text` carries, if any.
pub fn database_error(text: &str) -> Option<&'static str> {
    let text = text.to_ascii_lowercase();
    SIGNATURES
        .iter()
        .find(|(_, s)| text.contains(s))
        .map(|(engine, _)| *engine)
        .or_else(|| (text.contains("near \"") && text.contains("syntax error")).then_some("SQLite"))
}

/// Suffixes that break a string or a parenthesis in SQL.
const BREAKERS: [&str; 3] = ["'", "\"", "')"];

pub async fn error(cx: &Context, point: &Point<'_>, control: &Measure, out: &mut Outcome) {
    if database_error(&control.exchange.text()).is_some() {
        return;
    }
    for breaker in BREAKERS {
        let value = format!("{}{breaker}", point.control);
        let Some(answer) = point.send(cx, &value, None).await else {
            continue;
        };
        if let Some(engine) = database_error(&answer.text()) {
            out.found(report(
                &SQL_ERROR,
                Kind::Sql,
                point,
                format!("A quote in the {} yields a database error", point.describe()),
                format!("Sending `{value}` in the {} was answered {} with a {engine} error message; the control value `{}` was not.", point.describe(), answer.status, point.control),
                &answer,
                format!("{engine} error message in the answer"),
            ));
            return;
        }
    }
}

pub async fn boolean(cx: &Context, point: &Point<'_>, control: &Measure, out: &mut Outcome) {
    let c = &point.control;
    let mut forms = vec![(format!("{c}' OR '1'='1"), format!("{c}' AND '1'='2"))];
    if c.parse::<i64>().is_ok() {
        forms.push((format!("{c} OR 1=1"), format!("{c} AND 1=2")));
    }
    let control_shape = Shape::of(&control.exchange);
    for (truthy, falsy) in forms {
        let mut t = Vec::new();
        let mut f = Vec::new();
        for _ in 0..2 {
            let (Some(a), Some(b)) = (
                point.send(cx, &truthy, None).await,
                point.send(cx, &falsy, None).await,
            ) else {
                return;
            };
            t.push(a);
            f.push(b);
        }
        let shapes = |v: &[crate::client::Exchange]| [Shape::of(&v[0]), Shape::of(&v[1])];
        if boolean_injectable(control_shape, shapes(&t), shapes(&f)) {
            out.found(report(
                &SQL_BOOLEAN,
                Kind::Sql,
                point,
                format!("The {} takes SQL conditions", point.describe()),
                format!("`{truthy}` answered {} ({} bytes) twice and `{falsy}` answered {} ({} bytes) twice; the control `{c}` answered {} ({} bytes): the always-true form returns more.", t[0].status, t[0].body.len(), f[0].status, f[0].body.len(), control.exchange.status, control.exchange.body.len()),
                &t[0],
                "more rows for the always-true condition than for the control and the always-false one",
            ));
            return;
        }
    }
}

/// Delay payloads by engine, `{s}` the seconds.
const DELAYS: &[(&str, &str)] = &[
    ("MySQL", "' AND (SELECT 1 FROM (SELECT(SLEEP({s})))x)-- -"),
    ("PostgreSQL", "'; SELECT pg_sleep({s})--"),
    ("PostgreSQL", "' AND 1=(SELECT 1 FROM pg_sleep({s}))--"),
    ("MSSQL", "'; WAITFOR DELAY '0:0:{s}'--"),
];

/// SQLite has no sleep: a recursive count to `{n}`, compared at two sizes.
const SQLITE_WORK: &str = "' OR (WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c WHERE n<{n}) SELECT count(*) FROM c)=0 OR 'a'='b";
/// The counts tried, each four times the last, smallest first: the first
/// that shows an effect is confirmed against a quarter of it.
pub const SQLITE_SIZES: [u64; 2] = [4_000_000, 16_000_000];

pub async fn time(cx: &Context, point: &Point<'_>, control: &Measure, out: &mut Outcome) {
    let c = &point.control;
    for (engine, template) in DELAYS {
        let form = |s: u64| format!("{c}{}", template.replace("{s}", &s.to_string()));
        if let Some(evidence) = super::confirm_delay(cx, point, control.elapsed, &form).await {
            out.found(report(
                &SQL_TIME,
                Kind::Sql,
                point,
                format!("The {} runs SQL delays", point.describe()),
                format!("{engine} delays of 1 s and 2 s in the {} (`{}`) delayed the answer by each; the control answered in {:?}.", point.describe(), form(2), control.elapsed),
                &evidence,
                "the answer's time follows the delay asked for",
            ));
            return;
        }
    }
    let form = |n: u64| format!("{c}{}", SQLITE_WORK.replace("{n}", &n.to_string()));
    for size in SQLITE_SIZES {
        let timeout = Some(cx.client.limits().timeout + Duration::from_secs(10));
        let Some(large) = point.send(cx, &form(size), timeout).await else {
            return;
        };
        if large.elapsed.saturating_sub(control.elapsed) < super::timing::MIN_EFFECT {
            continue;
        }
        for _ in 0..2 {
            let (Some(small), Some(large)) = (
                point.send(cx, &form(size / 4), timeout).await,
                point.send(cx, &form(size), timeout).await,
            ) else {
                return;
            };
            if !grows_with_size(control.elapsed, small.elapsed, large.elapsed) {
                return;
            }
        }
        out.found(report(
            &SQL_TIME,
            Kind::Sql,
            point,
            format!("The {} runs SQL delays", point.describe()),
            format!("A SQLite recursive count to {} in the {} took {:?} and one to {} took clearly less, twice; the control answered in {:?}.", size, point.describe(), large.elapsed, size / 4, control.elapsed),
            &large,
            "the answer's time grows with the work asked for",
        ));
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_errors_are_recognised_by_engine() {
        let sqlite = r#"{"detail":"SQLite error: unrecognized token: \"'x'' ORDER BY id\""}"#;
        assert_eq!(database_error(sqlite), Some("SQLite"));
        assert_eq!(database_error("near \"x\": syntax error"), Some("SQLite"));
        assert_eq!(
            database_error("ERROR: syntax error at or near \"'\""),
            Some("PostgreSQL")
        );
        assert_eq!(
            database_error("You have an error in your SQL syntax; check the manual"),
            Some("MySQL")
        );
        assert_eq!(
            database_error("Unclosed quotation mark after the character string ''."),
            Some("MSSQL")
        );
        assert_eq!(
            database_error("ORA-01756: quoted string not properly terminated"),
            Some("Oracle")
        );
        assert_eq!(database_error(r#"{"detail":"the lookup failed"}"#), None);
        assert_eq!(database_error("a syntax error in your request"), None);
    }
}
