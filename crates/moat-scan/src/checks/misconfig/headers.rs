//! `headers.missing` and `server.version`: read from the answers of
//! well-formed requests to documented read operations. One finding per
//! header, however many operations lack it (the first one is the
//! evidence).

use crate::checks::{Context, Outcome};
use crate::client::Exchange;
use crate::finding::Finding;
use crate::target::Op;

use super::{HEADERS_MISSING, SERVER_VERSION};

/// Headers that name the server's software.
const SOFTWARE_HEADERS: &[&str] = &[
    "Server",
    "X-Powered-By",
    "X-AspNet-Version",
    "X-AspNetMvc-Version",
];

pub(super) fn missing(samples: &[(&Op, Exchange)], out: &mut Outcome) {
    let lacks = |test: &dyn Fn(&Exchange) -> bool| {
        samples.iter().filter(|(_, e)| !test(e)).collect::<Vec<_>>()
    };
    let nosniff = lacks(&|e| {
        e.header("x-content-type-options")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("nosniff"))
    });
    report(
        &nosniff,
        samples.len(),
        "answers lack `X-Content-Type-Options: nosniff`",
        "no `X-Content-Type-Options: nosniff`: browsers may guess a content type and run an answer as script or HTML",
        "# moat sets `X-Content-Type-Options: nosniff` on every answer it\n# forwards: serve the API through moat (apis[].upstream).",
        "Send `X-Content-Type-Options: nosniff` on every answer.",
        out,
    );
    let authenticated: Vec<&(&Op, Exchange)> = samples
        .iter()
        .filter(|(_, e)| !e.added.is_empty())
        .collect();
    if authenticated.is_empty() {
        out.skip(
            "security misconfiguration",
            "no authenticated request was answered 2xx: `Cache-Control: no-store` not looked at",
        );
    } else {
        let stored: Vec<&(&Op, Exchange)> = authenticated
            .iter()
            .copied()
            .filter(|(_, e)| {
                !e.header("cache-control").is_some_and(|v| {
                    v.split(',')
                        .any(|d| d.trim().eq_ignore_ascii_case("no-store"))
                })
            })
            .collect();
        report(
            &stored,
            authenticated.len(),
            "authenticated answers lack `Cache-Control: no-store`",
            "an answer to an authenticated request without `Cache-Control: no-store`: shared caches and the browser may keep one user's data",
            "# moat marks every answer to an identified caller\n# `Cache-Control: no-store`: verify the document's security schemes\n# at the gateway, e.g.\nsecurity:\n  bearerAuth: {type: jwt, algorithms: [HS256], secret: ${file:jwt.secret}}",
            "Send `Cache-Control: no-store` on every answer that depends on who asked.",
            out,
        );
    }
    let framable = lacks(&|e| {
        let ancestors = e
            .header("content-security-policy")
            .is_some_and(|v| v.to_ascii_lowercase().contains("frame-ancestors"));
        let frame_options = e.header("x-frame-options").is_some_and(|v| {
            let v = v.trim();
            v.eq_ignore_ascii_case("deny") || v.eq_ignore_ascii_case("sameorigin")
        });
        ancestors || frame_options
    });
    report(
        &framable,
        samples.len(),
        "answers lack `frame-ancestors` (Content-Security-Policy) or `X-Frame-Options`",
        "neither `Content-Security-Policy: frame-ancestors` nor `X-Frame-Options`: another site may frame the answers",
        "# moat does not add framing headers: set them in the API (or the\n# proxy in front of moat).",
        "Send `Content-Security-Policy: default-src 'none'; frame-ancestors 'none'` (and `X-Frame-Options: DENY` for older browsers).",
        out,
    );
}

/// Reports `lacking` (of `of` answers) as one finding, when there is any.
fn report(
    lacking: &[&(&Op, Exchange)],
    of: usize,
    title: &str,
    observed: &str,
    fix: &str,
    fix_api: &str,
    out: &mut Outcome,
) {
    let Some((op, exchange)) = lacking.first() else {
        return;
    };
    let ops: Vec<String> = lacking
        .iter()
        .map(|(op, _)| format!("{} {}", op.method.as_str(), op.template))
        .collect();
    out.found(
        Finding::new(
            &HEADERS_MISSING,
            title,
            format!(
                "{} of {of} answers looked at: {}.",
                lacking.len(),
                ops.join(", ")
            ),
        )
        .at(op.reference())
        .by(exchange.identity.clone())
        .evidence(Context::evidence(exchange, observed))
        .fix(fix)
        .fix_api(fix_api),
    );
}

pub(super) fn server_version(samples: &[(&Op, Exchange)], out: &mut Outcome) {
    for name in SOFTWARE_HEADERS {
        let Some((op, exchange, value)) = samples.iter().find_map(|(op, e)| {
            let value = e.header(name)?;
            names_version(value).then(|| (op, e, value.to_string()))
        }) else {
            continue;
        };
        let removed_by_moat = matches!(*name, "Server" | "X-Powered-By");
        out.found(
            Finding::new(
                &SERVER_VERSION,
                format!("`{name}` names software and its version"),
                format!("Answers carry `{name}: {value}`."),
            )
            .at(op.reference())
            .by(exchange.identity.clone())
            .evidence(Context::evidence(exchange, format!("{name}: {value}")))
            .fix(if removed_by_moat {
                format!(
                    "# moat removes `Server` and `X-Powered-By` from the answers it\n# forwards: serve the API through moat (apis[].upstream); `{name}`\n# then never reaches clients."
                )
            } else {
                format!(
                    "# moat does not remove `{name}`: turn it off in the API's\n# framework (or the proxy in front of moat)."
                )
            })
            .fix_api(format!(
                "Configure the server and framework not to send `{name}`, or to send it without a version."
            )),
        );
    }
}

/// Whether a header value names a version: `name/1.2`, `name 1.2`,
/// `4.0.30319`.
fn names_version(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes
        .windows(2)
        .any(|w| w[0] == b'/' && w[1].is_ascii_digit())
        || bytes
            .windows(3)
            .any(|w| w[0].is_ascii_digit() && w[1] == b'.' && w[2].is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::names_version;

    #[test]
    fn versions_are_told_from_bare_names() {
        assert!(names_version("bookstore/1.4.2 hyper/1"));
        assert!(names_version("bookstore-api 1.4.2"));
        assert!(names_version("4.0.30319"));
        assert!(names_version("Apache/2"));
        assert!(!names_version("nginx"));
        assert!(!names_version("Express"));
        assert!(!names_version("cloudflare"));
    }
}
