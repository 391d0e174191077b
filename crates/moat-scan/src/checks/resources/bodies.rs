//! `resources.unbounded-body`: a body of several megabytes to the writes.

use std::time::Duration;

use super::{UNBOUNDED_BODY, sender};
use crate::checks::{Context, Outcome};
use crate::client::Probe;
use crate::finding::Finding;

/// The body sent to write operations.
pub const BIG_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Write operations sent the big body, at most.
const MAX_BODY_OPERATIONS: usize = 3;
const FIX_BODY: &str = "# moat refuses larger bodies with 413 before the API reads them:\napis:\n  - name: my-api\n    request_limits:\n      max_body_bytes: 1048576";

pub(super) fn plan() -> String {
    format!(
        "with --allow-writes, a {BIG_BODY_BYTES}-byte JSON body to at most {MAX_BODY_OPERATIONS} write operations"
    )
}

pub(super) async fn bodies(cx: &Context, out: &mut Outcome) {
    if !cx.client.writes_allowed() {
        out.skip(
            "resource consumption",
            "oversized bodies not sent without --allow-writes",
        );
        return;
    }
    // A JSON string, not an object: any API that reads it refuses it
    // (nothing is created), and one that bounds bodies answers 413 first.
    let mut big = String::with_capacity(BIG_BODY_BYTES);
    big.push('"');
    big.push_str(&"a".repeat(BIG_BODY_BYTES - 2));
    big.push('"');
    let big = bytes::Bytes::from(big);
    let writes = cx
        .ops
        .iter()
        .filter(|op| !op.is_read() && op.body.is_some())
        .take(MAX_BODY_OPERATIONS);
    for op in writes {
        let Some(identity) = sender(cx, op) else {
            continue;
        };
        let Some(path) = cx
            .path_values(op, Some(identity.name()))
            .and_then(|v| op.path_with(&v))
        else {
            continue;
        };
        let probe = Probe::new(op.http_method(), path)
            .body("application/json", big.clone())
            .timeout(Duration::from_secs(30));
        // A closed connection or a timeout is a refusal too.
        let Ok(answer) = cx.send(&probe, identity).await else {
            continue;
        };
        if !(answer.is_success() || matches!(answer.status, 400 | 409 | 422)) {
            continue;
        }
        out.found(
            Finding::new(
                &UNBOUNDED_BODY,
                "a 2 MiB request body is read",
                format!(
                    "A {BIG_BODY_BYTES}-byte JSON body was read and answered {} instead of being refused with 413.",
                    answer.status
                ),
            )
            .at(op.reference())
            .by(identity.name())
            .evidence(Context::evidence(&answer, format!("answered {} to a {BIG_BODY_BYTES}-byte body", answer.status)))
            .fix(FIX_BODY)
            .fix_api("Bound the body size the server reads (413 beyond it)."),
        );
    }
}
