//! Injection (filed under API8, each rule with its CWE): SQL (errors,
//! boolean conditions, delays), NoSQL operators, OS commands, path
//! traversal and server-side templates.
//!
//! Payloads go into path segments (percent-encoded as one segment), query
//! parameters and, with writes allowed, top-level JSON body fields
//! ([`point`]). Each kind compares the payload's answer with the answer to
//! the harmless control value, and the time-based ones confirm at two
//! delays. Bounded: [`point::MAX_OPERATIONS`] operations,
//! [`point::MAX_POINTS_PER_OPERATION`] points each, a few payloads per
//! point and kind.

mod answer;
mod command;
mod nosql;
mod point;
mod sql;
mod template;
mod timing;
mod traversal;

use std::time::Duration;

use async_trait::async_trait;

use crate::checks::{Check, Context, Outcome};
use crate::client::Exchange;
use crate::finding::{Finding, Rule};
use point::Point;

pub use command::COMMAND;
pub use nosql::NOSQL;
pub use sql::{SQL_BOOLEAN, SQL_ERROR, SQL_TIME};
pub use template::TEMPLATE;
pub use traversal::TRAVERSAL;

pub struct Injection;

const NAME: &str = "injection";

static RULES: [&Rule; 7] = [
    &SQL_ERROR,
    &SQL_BOOLEAN,
    &SQL_TIME,
    &NOSQL,
    &COMMAND,
    &TRAVERSAL,
    &TEMPLATE,
];

/// The kinds, for the fixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Sql,
    Nosql,
    Command,
    Traversal,
    Template,
}

impl Kind {
    /// moat's inspection detector that recognises it.
    fn detector(self) -> &'static str {
        match self {
            Kind::Sql => "sqli",
            Kind::Nosql => "nosql",
            Kind::Command => "command_injection",
            Kind::Traversal => "path_traversal",
            Kind::Template => "ssti",
        }
    }
}

/// The control answer of a point: the exchange, and the slower of two
/// timings (so a payload must beat the slow case).
pub(crate) struct Measure {
    pub exchange: Exchange,
    pub elapsed: Duration,
}

#[async_trait]
impl Check for Injection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn rules(&self) -> &'static [&'static Rule] {
        &RULES
    }

    fn plan(&self, cx: &Context) -> Vec<String> {
        let mut lines = Vec::new();
        if cx.enabled(&NOSQL) {
            lines.push("each identity's login with a wrong password, then with `{\"$ne\": …}` and `{\"$gt\": …}` in its place".to_string());
        }
        for point in point::points(cx) {
            let kinds: Vec<&str> = [
                (&SQL_ERROR, true, "SQL-breaking quotes"),
                (&SQL_BOOLEAN, true, "SQL true/false conditions"),
                (&SQL_TIME, true, "SQL delays of 1-2 s and SQLite counts"),
                (&NOSQL, point.place != point::Place::Path, "NoSQL operators"),
                (&COMMAND, true, "shell `sleep`s of 1-2 s"),
                (&TRAVERSAL, point.file_like(), "`../` paths"),
                (&TEMPLATE, true, "template expressions"),
            ]
            .into_iter()
            .filter(|(rule, applies, _)| *applies && cx.enabled(rule))
            .map(|(_, _, what)| what)
            .collect();
            if kinds.is_empty() {
                continue;
            }
            lines.push(format!(
                "{} {}: the {} with {}, beside the control value `{}`",
                point.op.method.as_str(),
                point.op.template,
                point.describe(),
                kinds.join(", "),
                point.control
            ));
        }
        lines
    }

    async fn run(&self, cx: &Context, out: &mut Outcome) {
        if cx.enabled(&NOSQL) {
            nosql::logins(cx, out).await;
        }
        if !cx.client.writes_allowed() {
            out.skip(
                NAME,
                "JSON body fields of writes not probed (writes not allowed: --allow-writes)",
            );
        }
        let points = point::points(cx);
        if points.is_empty() {
            out.skip(
                NAME,
                "no operation has a path, query or body value to inject into",
            );
        }
        for point in points {
            let Some(control) = measure(cx, &point).await else {
                continue;
            };
            if control.exchange.status >= 500 {
                continue;
            }
            if cx.enabled(&SQL_ERROR) {
                sql::error(cx, &point, &control, out).await;
            }
            if cx.enabled(&SQL_BOOLEAN) {
                sql::boolean(cx, &point, &control, out).await;
            }
            if cx.enabled(&SQL_TIME) {
                sql::time(cx, &point, &control, out).await;
            }
            if cx.enabled(&NOSQL) {
                nosql::query(cx, &point, out).await;
            }
            if cx.enabled(&COMMAND) {
                command::run(cx, &point, &control, out).await;
            }
            if cx.enabled(&TRAVERSAL) {
                traversal::run(cx, &point, &control, out).await;
            }
            if cx.enabled(&TEMPLATE) {
                template::run(cx, &point, &control, out).await;
            }
        }
    }
}

/// The control value sent twice.
async fn measure(cx: &Context, point: &Point<'_>) -> Option<Measure> {
    let first = point.send(cx, &point.control, None).await?;
    let second = point.send(cx, &point.control, None).await?;
    Some(Measure {
        elapsed: first.elapsed.max(second.elapsed),
        exchange: second,
    })
}

/// The exchange that shows a payload's `form(seconds)` delays the answer:
/// a 2 s screen, then 1 s and 2 s again, each following the delay.
pub(crate) async fn confirm_delay(
    cx: &Context,
    point: &Point<'_>,
    control: Duration,
    form: &(dyn Fn(u64) -> String + Sync),
) -> Option<Exchange> {
    let timeout = Some(cx.client.limits().timeout + Duration::from_secs(3));
    let screen = point.send(cx, &form(2), timeout).await?;
    if !timing::follows_delay(control, Duration::from_secs(2), screen.elapsed) {
        return None;
    }
    let short = point.send(cx, &form(1), timeout).await?;
    let long = point.send(cx, &form(2), timeout).await?;
    timing::confirms_delays(
        control,
        (Duration::from_secs(1), short.elapsed),
        (Duration::from_secs(2), long.elapsed),
    )
    .then_some(long)
}

/// A finding of `rule` at `point`.
pub(crate) fn report(
    rule: &'static Rule,
    kind: Kind,
    point: &Point<'_>,
    title: String,
    detail: String,
    exchange: &Exchange,
    observed: impl Into<String>,
) -> Finding {
    Finding::new(rule, title, detail)
        .at(point.op.reference())
        .by(point.identity.name())
        .evidence(Context::evidence(exchange, observed))
        .fix(fix(kind, &point.name, point.has_pattern()))
        .fix_api(fix_api(kind))
}

/// The gateway change: inspection with the kind's detector on (it is on by
/// default; a `detectors` list must name it), and the parameter bounded in
/// the document so validation refuses what is not a plain value.
pub(crate) fn fix(kind: Kind, name: &str, has_pattern: bool) -> String {
    let bound = match kind {
        Kind::Nosql => {
            format!("# and in the document, `{name}` is `type: string`, so an object is refused")
        }
        _ if has_pattern => format!(
            "# the document's `pattern` for `{name}` refuses this already: serve the API behind moat, whose validation enforces it"
        ),
        _ => format!(
            "# and in the document, give `{name}` a `pattern` and a `maxLength` that admit only plain values"
        ),
    };
    format!(
        "inspection:\n  enabled: true  # `{}` runs unless a `detectors` list leaves it out\n{bound}",
        kind.detector()
    )
}

pub(crate) fn fix_api(kind: Kind) -> String {
    match kind {
        Kind::Sql => "Bind the value as a query parameter; never build SQL text from input, and answer database errors with a generic message.",
        Kind::Nosql => "Check that the value is a string before it reaches the query; never pass request objects to the database as filters.",
        Kind::Command => "Do not run a shell with input; call the program directly with the value as one argument, after checking it against an allow-list.",
        Kind::Traversal => "Refuse names with `/`, `\\` or `..`, and check that the resolved path stays inside the served directory.",
        Kind::Template => "Pass the value to the template as data; never build template text from input.",
    }
    .to_string()
}
