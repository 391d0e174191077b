//! The transport: `tls.plaintext` (an `http://` target on a network
//! address answers), `tls.certificate` (an `https://` target whose
//! certificate a verifying client refuses, where the scan's own client,
//! which accepts any certificate, was answered) and `tls.no-hsts`
//! (`https://` answers without `Strict-Transport-Security`).

use std::net::IpAddr;

use reqwest::{Certificate, Url};

use crate::checks::{Context, Outcome};
use crate::client::Exchange;
use crate::finding::Finding;
use crate::target::Op;

use super::{TLS_CERTIFICATE, TLS_NO_HSTS, TLS_PLAINTEXT};

pub(super) fn plan(cx: &Context) -> Vec<String> {
    match cx.client.origin().scheme() {
        "https" => vec![
            "GET one read operation with a client that verifies the certificate (system roots)"
                .to_string(),
        ],
        _ if is_loopback(cx.client.origin()) => Vec::new(),
        _ => vec!["note that the target is plain HTTP on a network address".to_string()],
    }
}

pub(super) async fn run(cx: &Context, samples: &[(&Op, Exchange)], out: &mut Outcome) {
    let origin = cx.client.origin();
    let first = samples.first();
    if origin.scheme() == "http" {
        if cx.enabled(&TLS_PLAINTEXT)
            && !is_loopback(origin)
            && let Some((op, exchange)) = first
        {
            out.found(plaintext(op, exchange));
        }
        return;
    }
    if cx.enabled(&TLS_CERTIFICATE) {
        certificate(cx, first, None, out).await;
    }
    if cx.enabled(&TLS_NO_HSTS)
        && let Some((op, exchange)) = samples.iter().find(|(_, e)| !has_hsts(e))
    {
        out.found(
            Finding::new(
                &TLS_NO_HSTS,
                "HTTPS answers lack `Strict-Transport-Security`",
                "A browser that once used the API over HTTPS may still be sent to its plain-HTTP address first.",
            )
            .at(op.reference())
            .by(exchange.identity.clone())
            .evidence(Context::evidence(
                exchange,
                "no Strict-Transport-Security header (or max-age=0)",
            ))
            .fix("# moat sends HSTS on every answer of a TLS listener:\nlisteners:\n  - bind: 0.0.0.0:443\n    tls:\n      cert: cert.pem\n      key: key.pem\n      hsts: {enabled: true, max_age: 365d}")
            .fix_api("Send `Strict-Transport-Security: max-age=31536000` on every HTTPS answer."),
        );
    }
}

fn plaintext(op: &Op, exchange: &Exchange) -> Finding {
    Finding::new(
        &TLS_PLAINTEXT,
        "the API answers over plain HTTP",
        format!(
            "The target {} is a network address served over plain HTTP: credentials and data cross the network in clear.",
            exchange.url
        ),
    )
    .at(op.reference())
    .by(exchange.identity.clone())
    .evidence(Context::evidence(exchange, "answered over http://"))
    .fix("# moat terminates TLS, and redirects plain HTTP to it:\nlisteners:\n  - bind: 0.0.0.0:443\n    tls: {cert: cert.pem, key: key.pem}\n  - bind: 0.0.0.0:80\n    redirect_to_https: {port: 443}")
    .fix_api("Serve the API over HTTPS only.")
}

/// Verifies the certificate with a verifying client (trusting `roots`
/// only, when given, for tests), sending the path of `first`'s probe (the
/// scan's own client was answered there).
pub(crate) async fn certificate(
    cx: &Context,
    first: Option<&(&Op, Exchange)>,
    roots: Option<Vec<Certificate>>,
    out: &mut Outcome,
) {
    let Some((op, exchange)) = first else {
        out.skip(
            "security misconfiguration",
            "no read operation was answered: the certificate was not checked",
        );
        return;
    };
    let path = exchange.probe.path_and_query.clone();
    let why = match cx.client.certificate_problem(&path, roots).await {
        Ok(Some(why)) => why,
        Ok(None) => return,
        Err(error) => {
            out.skip(
                "security misconfiguration",
                format!("the certificate check got no answer: {error}"),
            );
            return;
        }
    };
    out.found(
        Finding::new(
            &TLS_CERTIFICATE,
            "the certificate does not verify",
            format!(
                "A client that verifies certificates refused the handshake ({why}); the scan's own client, which accepts any certificate, was answered {}.",
                exchange.status
            ),
        )
        .at(op.reference())
        .evidence(Context::evidence(
            exchange,
            format!("a verifying client refused the certificate: {why}"),
        ))
        .fix("# moat serves the certificate it is given: put a valid one (from a\n# CA clients trust, for the API's name, in date) on its listener:\nlisteners:\n  - bind: 0.0.0.0:443\n    tls: {cert: cert.pem, key: key.pem}")
        .fix_api("Use a certificate from a trusted CA, for the API's host name, and renew it before it expires."),
    );
}

fn has_hsts(exchange: &Exchange) -> bool {
    exchange
        .header("strict-transport-security")
        .is_some_and(|v| {
            v.split(';').any(|d| {
                d.trim()
                    .strip_prefix("max-age=")
                    .and_then(|s| s.trim_matches('"').parse::<u64>().ok())
                    .is_some_and(|age| age > 0)
            })
        })
}

/// Whether `url`'s host is this machine: a loopback address or
/// `localhost`.
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return ip.is_loopback();
    }
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_targets_are_told_from_network_ones() {
        for url in [
            "http://127.0.0.1:8080/",
            "http://127.9.9.9/",
            "http://[::1]:80/",
            "http://localhost:3000/",
            "http://api.localhost/",
        ] {
            assert!(is_loopback(&Url::parse(url).unwrap()), "{url}");
        }
        for url in [
            "http://192.0.2.2:8080/",
            "http://api.example.com/",
            "http://[2001:db8::1]/",
            "http://localhost.example.com/",
        ] {
            assert!(!is_loopback(&Url::parse(url).unwrap()), "{url}");
        }
    }
}
