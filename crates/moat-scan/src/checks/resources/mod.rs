//! API4 Unrestricted Resource Consumption: page sizes above their bound,
//! oversized bodies, patterns with super-linear matching time, and no rate
//! limit on a cheap read or on the login.
//!
//! The burst runs last: against a rate-limited target it empties the
//! client's allowance, which the scan's pacing then waits out.
mod bodies;
mod burst;
mod pages;
mod redos;

use async_trait::async_trait;

use super::{Check, Context, Outcome, scalar_text};
use crate::client::Probe;
use crate::finding::{Category, Rule, Severity};
use crate::identity::Identity;
use crate::schema;
use crate::target::{Op, query_string};

pub use bodies::BIG_BODY_BYTES;
pub use burst::{BURST, BURST_CONCURRENCY};

pub static NO_RATE_LIMIT: Rule = Rule {
    id: "resources.no-rate-limit",
    name: "No rate limit",
    category: Category::Api4,
    severity: Severity::Medium,
    cwe: Some(770),
    description: "A burst of requests is answered in full, without 429 or rate-limit headers: one client can use up the API (or guess passwords at full speed).",
};

pub static UNBOUNDED_PAGE: Rule = Rule {
    id: "resources.unbounded-page",
    name: "Page size not bounded",
    category: Category::Api4,
    severity: Severity::Medium,
    cwe: Some(770),
    description: "A page-size parameter far above its documented maximum (or any value, with none documented) is taken: one request can ask for the whole collection.",
};

pub static UNBOUNDED_BODY: Rule = Rule {
    id: "resources.unbounded-body",
    name: "Request body size not bounded",
    category: Category::Api4,
    severity: Severity::Medium,
    cwe: Some(400),
    description: "A request body of several megabytes is read and judged instead of refused with 413.",
};

pub static REDOS: Rule = Rule {
    id: "resources.redos",
    name: "Super-linear matching time (ReDoS)",
    category: Category::Api4,
    severity: Severity::High,
    cwe: Some(1333),
    description: "A parameter's check takes time that grows super-linearly with crafted input: a few requests can keep the server busy.",
};

static RULES: &[&Rule] = &[&UNBOUNDED_PAGE, &UNBOUNDED_BODY, &REDOS, &NO_RATE_LIMIT];

pub struct Resources;

#[async_trait]
impl Check for Resources {
    fn name(&self) -> &'static str {
        "resource consumption"
    }

    fn rules(&self) -> &'static [&'static Rule] {
        RULES
    }

    fn plan(&self, cx: &Context) -> Vec<String> {
        vec![
            pages::plan(cx),
            bodies::plan(),
            redos::plan(cx),
            burst::plan(),
        ]
    }

    async fn run(&self, cx: &Context, out: &mut Outcome) {
        if cx.enabled(&UNBOUNDED_PAGE) {
            pages::pages(cx, out).await;
        }
        if cx.enabled(&UNBOUNDED_BODY) {
            bodies::bodies(cx, out).await;
        }
        if cx.enabled(&REDOS) {
            redos::redos(cx, out).await;
        }
        if cx.enabled(&NO_RATE_LIMIT) {
            burst::bursts(cx, out).await;
        }
    }
}

/// Who sends requests to `op`: the first user where it is secured.
pub(super) fn sender<'a>(cx: &'a Context, op: &Op) -> Option<&'a Identity> {
    if op.secured {
        cx.identities.users.first()
    } else {
        Some(&cx.identities.anonymous)
    }
}

/// The path of `op` and its required query parameters but `except`.
pub(super) fn base(
    cx: &Context,
    op: &Op,
    identity: &Identity,
    except: &str,
) -> Option<(String, Vec<(String, String)>)> {
    let values = cx.path_values(op, Some(identity.name()))?;
    let path = op.path_with(&values)?;
    let query = op
        .query_params()
        .filter(|p| p.required && p.name != except)
        .filter_map(|p| Some((p.name.clone(), scalar_text(&schema::sample(&p.schema))?)))
        .collect();
    Some((path, query))
}

pub(super) fn get(path: &str, query: &[(String, String)], extra: (&str, &str)) -> Probe {
    let mut pairs = query.to_vec();
    pairs.push((extra.0.to_string(), extra.1.to_string()));
    Probe::get(format!("{path}{}", query_string(&pairs)))
}
