//! The bookstore's lookups that reach an interpreter: a database
//! (`GET /api/authors/{name}/books`), a shell (`GET /api/tools/ping`), the
//! file system (`GET /api/files/{name}`) and a template
//! (`GET /api/greeting`), and the login's password comparison. Each is where
//! one injection weakness lives; switched off, each treats its input as
//! data.
//!
//! Nothing here runs a real command or reads a real file: the shell and the
//! file system are simulated. The database is a real in-memory SQLite one.

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::{Map, Value, json};
use sqlx::{Connection, Row, SqliteConnection};
use subtle::ConstantTimeEq;

use super::{AreaAnswer, Outcome, Rejection, Req, Shared, Weakness, json_response, percent_decode};

/// Longest author name, ping host, file name and greeting name, as in the
/// document (in characters).
const MAX_AUTHOR_CHARS: usize = 200;
const MAX_HOST_CHARS: usize = 253;
const MAX_FILE_CHARS: usize = 100;
const MAX_GREETING_CHARS: usize = 64;

/// Longest `sleep` the simulated shell honours, in seconds.
const MAX_SLEEP_SECONDS: u64 = 5;

/// Where the simulated file system keeps the files `GET /api/files` serves.
const PUBLIC_DIR: &str = "/srv/bookstore/public";

/// The simulated file system: public files, and one outside them.
const FILES: &[(&str, &str)] = &[
    (
        "/srv/bookstore/public/opening-hours.txt",
        "Monday to Saturday, 9:00 to 18:00.\n",
    ),
    (
        "/srv/bookstore/public/catalogue.txt",
        "The catalogue is at /api/books.\n",
    ),
    (
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\nbookstore:x:1000:1000::/srv/bookstore:/bin/sh\n",
    ),
];

/// The catalogue as the database holds it.
const BOOKS: &[(i64, &str, &str)] = &[
    (
        1,
        "The Pragmatic Programmer",
        "Andrew Hunt and David Thomas",
    ),
    (
        2,
        "Designing Data-Intensive Applications",
        "Martin Kleppmann",
    ),
    (
        3,
        "The Rust Programming Language",
        "Steve Klabnik and Carol Nichols",
    ),
];

/// The area's routes: GET only (405 with `Allow: GET` otherwise).
pub(super) fn route<'a>(shared: &'a Shared, req: &'a Req) -> AreaAnswer<'a> {
    let path = req.parts.uri.path();
    let rest = path.strip_prefix("/api/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    let query = req.parts.uri.query();
    let owned = matches!(
        segments.as_slice(),
        ["authors", name, "books"] | ["files", name, ..] if !name.is_empty()
    ) || matches!(segments.as_slice(), ["tools", "ping"] | ["greeting"]);
    if !owned {
        return None;
    }
    if req.parts.method != Method::GET {
        let method = &req.parts.method;
        return Some(Box::pin(async move {
            Ok(super::method_not_allowed(method, "GET"))
        }));
    }
    match segments.as_slice() {
        ["authors", name, "books"] => {
            let name = percent_decode(name);
            Some(Box::pin(async move { author_books(shared, &name).await }))
        }
        ["tools", "ping"] => Some(Box::pin(async move {
            ping(shared, &query_value(query, "host")?).await
        })),
        ["files", ..] => Some(Box::pin(async move {
            let raw = rest.strip_prefix("files/").unwrap_or_default();
            file(shared, &percent_decode(raw))
        })),
        _ => Some(Box::pin(async move {
            greeting(shared, &query_value(query, "name")?)
        })),
    }
}

/// The first value of query parameter `name` (400 when absent).
fn query_value(query: Option<&str>, name: &str) -> Result<String, Rejection> {
    super::query_pairs(query.unwrap_or_default())
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .ok_or_else(|| Rejection::bad_request(format!("{name} is required")))
}

fn at_most(value: &str, name: &str, max: usize) -> Result<(), Rejection> {
    if value.chars().count() > max {
        return Err(Rejection::bad_request(format!(
            "{name} must be at most {max} characters"
        )));
    }
    Ok(())
}

/// `GET /api/authors/{name}/books` — WEAKNESS (`sql-injection`): the name
/// is written into the SQL text, and the database's error is answered.
/// Fixed, the name is a bound parameter and errors are generic.
async fn author_books(shared: &Shared, name: &str) -> Outcome {
    at_most(name, "name", MAX_AUTHOR_CHARS)?;
    let injectable = shared.has(Weakness::SqlInjection);
    let rows = query_books(name, injectable).await.map_err(|error| {
        let detail = match (&error, injectable) {
            (sqlx::Error::Database(db), true) => format!("SQLite error: {}", db.message()),
            _ => "the lookup failed".to_string(),
        };
        Rejection::new(StatusCode::INTERNAL_SERVER_ERROR, detail)
    })?;
    Ok(json_response(StatusCode::OK, &Value::Array(rows)))
}

/// The titles of `author`'s books, from a fresh in-memory database.
async fn query_books(author: &str, injectable: bool) -> Result<Vec<Value>, sqlx::Error> {
    let mut db = SqliteConnection::connect("sqlite::memory:").await?;
    sqlx::raw_sql("CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT, author TEXT)")
        .execute(&mut db)
        .await?;
    for (id, title, by) in BOOKS {
        sqlx::query("INSERT INTO books (id, title, author) VALUES (?1, ?2, ?3)")
            .bind(id)
            .bind(title)
            .bind(by)
            .execute(&mut db)
            .await?;
    }
    let rows = if injectable {
        let sql = format!("SELECT title FROM books WHERE author = '{author}' ORDER BY id");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut db)
            .await?
    } else {
        sqlx::query("SELECT title FROM books WHERE author = ?1 ORDER BY id")
            .bind(author)
            .fetch_all(&mut db)
            .await?
    };
    let titles = rows
        .iter()
        .map(|row| row.try_get::<String, _>(0).map(|t| json!({"title": t})))
        .collect::<Result<Vec<_>, _>>()?;
    db.close().await?;
    Ok(titles)
}

/// `GET /api/tools/ping?host=` — WEAKNESS (`command-injection`): the host
/// goes to a (simulated) shell, so `; sleep 3` after it sleeps. Fixed, the
/// host must be a host name or an IP address.
async fn ping(shared: &Shared, host: &str) -> Outcome {
    at_most(host, "host", MAX_HOST_CHARS)?;
    if shared.has(Weakness::CommandInjection) {
        if let Some(seconds) = injected_sleep(host) {
            tokio::time::sleep(Duration::from_secs(seconds.min(MAX_SLEEP_SECONDS))).await;
        }
    } else if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
    {
        return Err(Rejection::bad_request(
            "host must be a host name or an IP address",
        ));
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"host": host, "output": "1 packets transmitted, 1 received, 0% packet loss"}),
    ))
}

/// The seconds of a `sleep N` a shell would run after a command separator
/// in `text` (`;`, `|`, `&&`, `$(…)`, backticks).
fn injected_sleep(text: &str) -> Option<u64> {
    let start = ["&&", ";", "|", "$(", "`"]
        .iter()
        .filter_map(|sep| text.find(sep).map(|at| at + sep.len()))
        .min()?;
    let rest = text.get(start..)?.trim_start_matches([' ', '|', '&', ';']);
    let digits: String = rest
        .strip_prefix("sleep")?
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .take(3)
        .collect();
    digits.parse().ok()
}

/// `GET /api/files/{name}` — WEAKNESS (`path-traversal`): `..` in the name
/// is resolved, so it can leave the public directory. Fixed, a name with
/// `/`, `\` or `..` is refused.
fn file(shared: &Shared, name: &str) -> Outcome {
    at_most(name, "name", MAX_FILE_CHARS)?;
    let path = if shared.has(Weakness::PathTraversal) {
        resolve(&format!("{PUBLIC_DIR}/{name}"))
    } else if name.contains(['/', '\\']) || name.contains("..") || name.is_empty() {
        return Err(Rejection::bad_request("name must be a plain file name"));
    } else {
        format!("{PUBLIC_DIR}/{name}")
    };
    match FILES.iter().find(|(p, _)| *p == path) {
        Some((_, content)) => Ok(json_response(
            StatusCode::OK,
            &json!({"name": name, "content": content}),
        )),
        None => Err(Rejection::new(StatusCode::NOT_FOUND, "no such file")),
    }
}

/// `path` with `.` and `..` segments resolved, as a file system would.
fn resolve(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split(['/', '\\']) {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `GET /api/greeting?name=` — WEAKNESS (`template-injection`): the name is
/// part of the template, so `{{7*6}}` in it is evaluated. Fixed, it is
/// text.
fn greeting(shared: &Shared, name: &str) -> Outcome {
    at_most(name, "name", MAX_GREETING_CHARS)?;
    let name = if shared.has(Weakness::TemplateInjection) {
        render(name)
    } else {
        name.to_string()
    };
    let mut body = Map::new();
    body.insert("greeting".into(), format!("Hello, {name}!").into());
    Ok(json_response(StatusCode::OK, &Value::Object(body)))
}

/// `text` with each `{{…}}` that is integer arithmetic replaced by its
/// value; anything else is left as it is.
fn render(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}").map(|c| c + open) else {
            break;
        };
        out.push_str(&rest[..open]);
        match arithmetic(&rest[open + 2..close]) {
            Some(value) => out.push_str(&value.to_string()),
            None => out.push_str(&rest[open..close + 2]),
        }
        rest = &rest[close + 2..];
    }
    out.push_str(rest);
    out
}

/// A sum of products of integers (`7*191`, `2+3*4`), without overflow.
fn arithmetic(expression: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut sign: i64 = 1;
    let mut term = String::new();
    for c in expression.chars().chain(std::iter::once('+')) {
        if c == '+' || c == '-' {
            let mut product: i64 = 1;
            for factor in term.split('*') {
                product = product.checked_mul(factor.trim().parse().ok()?)?;
            }
            total = total.checked_add(product.checked_mul(sign)?)?;
            sign = if c == '-' { -1 } else { 1 };
            term.clear();
        } else {
            term.push(c);
        }
    }
    Some(total)
}

/// How the login compares a password it was sent with the stored one.
pub(super) enum Password {
    /// A string: equal or not.
    Text(String),
    /// WEAKNESS (`nosql-injection`): a MongoDB-style operator object
    /// (`{"$ne": ""}`), compared as a document database would.
    Operator(Map<String, Value>),
}

impl Password {
    /// The `password` of a login body: a string, or with `nosql-injection`
    /// an operator object; anything else is 400.
    pub(super) fn take(
        shared: &Shared,
        object: &mut Map<String, Value>,
    ) -> Result<Self, Rejection> {
        match object.remove("password") {
            Some(Value::String(text)) => Ok(Password::Text(text)),
            Some(Value::Object(operator)) if shared.has(Weakness::NosqlInjection) => {
                Ok(Password::Operator(operator))
            }
            Some(_) => Err(Rejection::bad_request("password must be a string")),
            None => Err(Rejection::bad_request("password is required")),
        }
    }

    /// Whether it matches the stored password.
    pub(super) fn matches(&self, stored: Option<&str>) -> bool {
        let Some(stored) = stored else { return false };
        match self {
            Password::Text(text) => bool::from(text.as_bytes().ct_eq(stored.as_bytes())),
            Password::Operator(operator) => {
                operator.iter().all(|(op, value)| {
                    let Some(value) = value.as_str() else {
                        return false;
                    };
                    match op.as_str() {
                        "$eq" => stored == value,
                        "$ne" => stored != value,
                        "$gt" => stored > value,
                        "$gte" => stored >= value,
                        "$lt" => stored < value,
                        "$lte" => stored <= value,
                        _ => false,
                    }
                }) && !operator.is_empty()
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_sleeps_only_after_a_separator() {
        assert_eq!(injected_sleep("127.0.0.1; sleep 2"), Some(2));
        assert_eq!(injected_sleep("127.0.0.1|sleep 3"), Some(3));
        assert_eq!(injected_sleep("x && sleep 1"), Some(1));
        assert_eq!(injected_sleep("$(sleep 4)"), Some(4));
        assert_eq!(injected_sleep("`sleep 2`"), Some(2));
        assert_eq!(injected_sleep("sleep 2"), None);
        assert_eq!(injected_sleep("127.0.0.1"), None);
        assert_eq!(injected_sleep("a; sleep"), None);
    }

    #[test]
    fn resolving_dot_dot_climbs_out_of_the_directory() {
        assert_eq!(
            resolve("/srv/bookstore/public/../../../etc/passwd"),
            "/etc/passwd"
        );
        assert_eq!(resolve("/srv/./a//b/../c"), "/srv/a/c");
        assert_eq!(resolve("/../../.."), "/");
    }

    #[test]
    fn templates_evaluate_integer_arithmetic_only() {
        assert_eq!(render("{{7*191}}"), "1337");
        assert_eq!(render("a {{2+3*4}} b {{10-4}}"), "a 14 b 6");
        assert_eq!(render("{{name}} {{"), "{{name}} {{");
        assert_eq!(
            render("{{9223372036854775807*2}}"),
            "{{9223372036854775807*2}}"
        );
        assert_eq!(render("${7*191}"), "${7*191}");
    }

    #[test]
    fn operators_compare_like_a_document_database() {
        let op = |v: Value| Password::Operator(v.as_object().unwrap().clone());
        assert!(op(json!({"$ne": "x"})).matches(Some("wonderland")));
        assert!(op(json!({"$gt": ""})).matches(Some("wonderland")));
        assert!(!op(json!({"$eq": "x"})).matches(Some("wonderland")));
        assert!(!op(json!({})).matches(Some("wonderland")));
        assert!(!op(json!({"$where": "1"})).matches(Some("wonderland")));
        assert!(!Password::Text("x".into()).matches(Some("wonderland")));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod database_tests {
    use super::*;

    #[tokio::test]
    async fn a_concatenated_name_is_sql_and_a_bound_one_is_data() {
        let always = "x' OR '1'='1";
        assert_eq!(query_books(always, true).await.unwrap().len(), 3);
        assert!(query_books(always, false).await.unwrap().is_empty());
        let one = query_books("Martin Kleppmann", false).await.unwrap();
        assert_eq!(
            one,
            [json!({"title": "Designing Data-Intensive Applications"})]
        );
        let broken = query_books("x'", true).await.unwrap_err();
        assert!(matches!(broken, sqlx::Error::Database(_)), "{broken}");
        assert!(query_books("x'", false).await.unwrap().is_empty());
    }
}
