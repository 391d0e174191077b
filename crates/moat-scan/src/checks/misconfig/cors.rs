//! `cors.reflected-origin`: a request from an origin no one would list
//! (made up for the scan) is answered with that origin, or `*`, allowed
//! together with credentials.

use crate::canary;
use crate::checks::{Context, Outcome, sampling};
use crate::finding::Finding;

use super::CORS_REFLECTED_ORIGIN;

/// The most operations tried.
const MAX_TRIES: usize = 3;

pub(super) fn plan(_cx: &Context) -> Vec<String> {
    vec![format!(
        "GET up to {MAX_TRIES} read operations with `Origin: https://moat-scan-<random>.example`: is it allowed with credentials?"
    )]
}

pub(super) async fn run(cx: &Context, out: &mut Outcome) {
    let origin = format!("https://moat-scan-{}.example", canary::token());
    for (op, identity, probe) in sampling::reads(cx, MAX_TRIES) {
        let probe = probe.header("Origin", origin.as_str());
        let Ok(exchange) = cx.send(&probe, identity).await else {
            continue;
        };
        let allowed = exchange
            .header("access-control-allow-origin")
            .map(str::trim);
        let credentials = exchange
            .header("access-control-allow-credentials")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let how = match allowed {
            Some(a) if a == origin => "reflected",
            Some("*") => "`*`",
            _ => continue,
        };
        if !credentials {
            continue;
        }
        out.found(
            Finding::new(
                &CORS_REFLECTED_ORIGIN,
                "any Origin is allowed with credentials",
                format!(
                    "A request from an origin made up for the scan was answered with `Access-Control-Allow-Origin` {how} and `Access-Control-Allow-Credentials: true`: any web page can read this API's answers with its visitors' credentials."
                ),
            )
            .at(op.reference())
            .by(exchange.identity.clone())
            .evidence(Context::evidence(
                &exchange,
                format!(
                    "Access-Control-Allow-Origin {how}, Access-Control-Allow-Credentials: true"
                ),
            ))
            .fix("# moat answers CORS itself, for the origins listed only:\ncors:\n  allowed_origins: [\"https://app.example.com\"]\n  allow_credentials: true")
            .fix_api("Allow only a fixed list of origins; never reflect `Origin` or pair `*` with credentials."),
        );
        return;
    }
}
