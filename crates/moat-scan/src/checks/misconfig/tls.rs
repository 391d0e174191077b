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

    use std::sync::Arc;

    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

    use crate::checks::{Check, sampling};

    const DOC: &str = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /items:\n    get:\n      responses:\n        '200': {description: ok}\n";

    /// A CA, and a leaf for `names` it signs, valid until `not_after`
    /// (a year from now when `None`).
    struct Pki {
        ca: rcgen::Certificate,
        leaf_pem: String,
        key_pem: String,
    }

    fn pki(names: &[&str], not_after: Option<(i32, u8, u8)>, self_signed: bool) -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        if let Some((y, m, d)) = not_after {
            params.not_before = rcgen::date_time_ymd(y - 1, m, d);
            params.not_after = rcgen::date_time_ymd(y, m, d);
        }
        let leaf = if self_signed {
            params.self_signed(&key).unwrap()
        } else {
            params
                .signed_by(&key, &Issuer::from_params(&ca_params, &ca_key))
                .unwrap()
        };
        Pki {
            ca,
            leaf_pem: leaf.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// An HTTPS server on 127.0.0.1 with `pki`'s leaf, answering `{}`
    /// (with HSTS when `hsts`).
    async fn serve(pki: &Pki, hsts: bool) -> Url {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let certs = CertificateDer::pem_slice_iter(pki.leaf_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = service_fn(move |_req| async move {
                        let mut answer =
                            http::Response::builder().header("content-type", "application/json");
                        if hsts {
                            answer = answer.header("strict-transport-security", "max-age=31536000");
                        }
                        answer.body(Full::new(Bytes::from_static(b"{}")))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Url::parse(&format!("https://localhost:{port}/")).unwrap()
    }

    fn context(target: &Url) -> Context {
        sampling::test_context(target, DOC)
    }

    fn rules(out: &Outcome) -> Vec<&str> {
        out.findings.iter().map(|f| f.rule).collect()
    }

    #[tokio::test]
    async fn a_self_signed_certificate_and_no_hsts_are_found() {
        let url = serve(&pki(&["localhost"], None, true), false).await;
        let cx = context(&url);
        let mut out = Outcome::default();
        super::super::Misconfig.run(&cx, &mut out).await;
        let found = rules(&out);
        assert!(
            found.contains(&"tls.certificate"),
            "{found:?} {:?}",
            out.skipped
        );
        assert!(found.contains(&"tls.no-hsts"), "{found:?}");
        assert!(!found.contains(&"tls.plaintext"), "{found:?}");
    }

    /// With the CA trusted, only what is wrong with the leaf is found.
    async fn verdict(pki: &Pki) -> Option<String> {
        let url = serve(pki, true).await;
        let cx = context(&url);
        let samples = sampling::answered(&cx, 1).await;
        assert_eq!(samples.len(), 1, "the scan's own client is answered");
        let roots = vec![reqwest::Certificate::from_der(pki.ca.der()).unwrap()];
        let mut out = Outcome::default();
        certificate(&cx, samples.first(), Some(roots), &mut out).await;
        out.findings.first().map(|f| f.detail.clone())
    }

    #[tokio::test]
    async fn a_valid_certificate_passes_and_expired_or_misnamed_ones_do_not() {
        assert_eq!(verdict(&pki(&["localhost"], None, false)).await, None);
        let expired = verdict(&pki(&["localhost"], Some((2021, 1, 1)), false))
            .await
            .unwrap();
        assert!(expired.contains("certificate expired"), "{expired}");
        let misnamed = verdict(&pki(&["api.example.com"], None, false))
            .await
            .unwrap();
        assert!(misnamed.contains("not valid for name"), "{misnamed}");
    }

    #[tokio::test]
    async fn a_network_http_target_is_plaintext_and_loopback_is_not() {
        let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let service = service_fn(|_req| async {
                        http::Response::builder().body(Full::new(Bytes::from_static(b"{}")))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        // This machine's address on its default route (no packet is sent).
        let probe = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        probe.connect("192.0.2.1:9").unwrap();
        let own = probe.local_addr().unwrap().ip();
        assert!(!own.is_loopback(), "the machine needs a network address");
        for (host, plaintext) in [(own.to_string(), true), ("127.0.0.1".to_string(), false)] {
            let cx = context(&Url::parse(&format!("http://{host}:{port}/")).unwrap());
            let mut out = Outcome::default();
            super::super::Misconfig.run(&cx, &mut out).await;
            assert_eq!(rules(&out).contains(&"tls.plaintext"), plaintext, "{host}");
        }
    }

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
