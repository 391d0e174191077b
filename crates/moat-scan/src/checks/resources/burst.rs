//! `resources.no-rate-limit`: a bounded, unpaced burst to a cheap read and
//! to the login.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{NO_RATE_LIMIT, sender};
use crate::checks::{Context, Outcome};
use crate::client::{Exchange, Probe};
use crate::finding::Finding;
use crate::identity::Identity;
use crate::target::Op;

/// Requests of one burst, and how many are in flight at once.
pub const BURST: usize = 200;
pub const BURST_CONCURRENCY: usize = 32;
const FIX_RATE: &str = "# moat limits each client (GCRA); a 429 with Retry-After beyond the rate:\napis:\n  - name: my-api\n    rate_limits:\n      - {name: per-client, key: client_ip, rate: 10, per: 1s, burst: 20}\n      - {name: logins, key: client_ip, rate: 10, per: 1m, operations: [login]}";

pub(super) fn plan() -> String {
    format!(
        "a burst of {BURST} requests ({BURST_CONCURRENCY} at a time, unpaced) to a cheap read and to the login"
    )
}

/// What a burst saw.
#[derive(Debug, Default)]
struct Burst {
    statuses: BTreeMap<u16, usize>,
    failed: usize,
    limit_headers: bool,
    last: Option<Exchange>,
    elapsed: Duration,
}

impl Burst {
    /// Whether nothing in it shows a limit: every request answered, no 429
    /// or 503, no rate-limit headers.
    fn unlimited(&self) -> bool {
        let answered: usize = self.statuses.values().sum();
        self.failed == 0
            && answered == BURST
            && !self.statuses.contains_key(&429)
            && !self.statuses.contains_key(&503)
            && !self.limit_headers
    }
}

const LIMIT_HEADERS: &[&str] = &[
    "retry-after",
    "ratelimit",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-policy",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-rate-limit-limit",
    "x-rate-limit-remaining",
];

async fn burst(cx: &Context, probe: &Probe, identity: &Identity) -> Burst {
    let probe = probe.clone().want_429().unpaced();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..BURST_CONCURRENCY {
        let (client, probe, identity) = (cx.client.clone(), probe.clone(), identity.clone());
        let count = BURST / BURST_CONCURRENCY + usize::from(worker < BURST % BURST_CONCURRENCY);
        tasks.spawn(async move {
            let mut answers = Vec::with_capacity(count);
            for _ in 0..count {
                answers.push(client.send(&probe, &identity).await);
            }
            answers
        });
    }
    let mut seen = Burst::default();
    while let Some(joined) = tasks.join_next().await {
        for answer in joined.unwrap_or_default() {
            match answer {
                Ok(exchange) => {
                    *seen.statuses.entry(exchange.status).or_default() += 1;
                    seen.limit_headers |= LIMIT_HEADERS
                        .iter()
                        .any(|h| exchange.headers.contains_key(*h));
                    seen.last = Some(exchange);
                }
                Err(_) => seen.failed += 1,
            }
        }
    }
    seen.elapsed = started.elapsed();
    cx.observer.request(cx.client.sent());
    seen
}

pub(super) async fn bursts(cx: &Context, out: &mut Outcome) {
    let read = cx.ops.iter().find(|op| {
        op.method == moat_spec::Method::Get
            && op.path_params().next().is_none()
            && !op.query_params().any(|p| p.required)
            && !op.deprecated
    });
    let mut targets: Vec<(&Op, Probe, Identity, &str)> = Vec::new();
    if let Some(op) = read
        && let Some(identity) = sender(cx, op)
    {
        targets.push((
            op,
            Probe::get(op.full_template.clone()),
            identity.clone(),
            "a cheap read",
        ));
    }
    let login = cx.identities.users.iter().find_map(|i| {
        let login = i.login()?;
        let mut body = login.json.clone()?;
        let fields = body.as_object_mut()?;
        for (key, value) in fields.iter_mut() {
            if value.is_string() {
                *value = Value::String(format!("moat-scan-burst-{key}"));
            }
        }
        let op = cx
            .ops
            .iter()
            .find(|op| op.full_template == login.path && op.http_method() == login.method)?;
        Some((
            op,
            Probe::new(login.method.clone(), login.path.clone()).json(&body),
        ))
    });
    if let Some((op, probe)) = login {
        targets.push((
            op,
            probe,
            cx.identities.anonymous.clone(),
            "the login (an unknown user, a wrong password)",
        ));
    }
    if targets.is_empty() {
        out.skip(
            "resource consumption",
            "no cheap read and no documented login to send a burst to",
        );
        return;
    }
    for (op, probe, identity, what) in targets {
        let seen = burst(cx, &probe, &identity).await;
        if !seen.unlimited() {
            continue;
        }
        let Some(last) = &seen.last else { continue };
        let statuses = seen
            .statuses
            .iter()
            .map(|(s, n)| format!("{n}×{s}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.found(
            Finding::new(
                &NO_RATE_LIMIT,
                format!("a burst of {BURST} requests is answered in full"),
                format!(
                    "{BURST} requests to {what}, {BURST_CONCURRENCY} at a time, took {:?} and were all answered ({statuses}), without 429, 503 or rate-limit headers.",
                    seen.elapsed
                ),
            )
            .at(op.reference())
            .by(identity.name())
            .evidence(Context::evidence(last, format!("the last of {BURST} answers")))
            .fix(FIX_RATE)
            .fix_api("Limit requests per client and per account; answer 429 with Retry-After beyond the limit."),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn burst(statuses: &[(u16, usize)], failed: usize, limit_headers: bool) -> Burst {
        Burst {
            statuses: statuses.iter().copied().collect(),
            failed,
            limit_headers,
            ..Burst::default()
        }
    }

    #[test]
    fn only_a_burst_answered_in_full_without_a_sign_of_a_limit_is_unlimited() {
        assert!(burst(&[(200, BURST)], 0, false).unlimited());
        assert!(burst(&[(404, BURST)], 0, false).unlimited());
        assert!(!burst(&[(200, BURST - 1), (429, 1)], 0, false).unlimited());
        assert!(!burst(&[(200, BURST - 1), (503, 1)], 0, false).unlimited());
        assert!(!burst(&[(200, BURST)], 0, true).unlimited());
        assert!(!burst(&[(200, BURST - 1)], 1, false).unlimited());
    }
}
