//! API8 Security Misconfiguration: what the API's answers and transport
//! give away or leave open, each part in its own module:
//!
//! * [`headers`]: security headers missing, software versions named;
//! * [`cors`]: any origin allowed to read answers with credentials;
//! * [`errors`]: malformed input answered with internals;
//! * [`methods`]: TRACE echoing, undocumented methods advertised;
//! * [`tls`]: plain HTTP, a certificate that does not verify, no HSTS.

mod cors;
mod errors;
mod headers;
mod methods;
mod tls;

use async_trait::async_trait;

use crate::finding::{Category, Rule, Severity};

use super::{Check, Context, Outcome, sampling};

pub static CORS_REFLECTED_ORIGIN: Rule = Rule {
    id: "cors.reflected-origin",
    name: "Any origin may read answers, with credentials",
    category: Category::Api8,
    severity: Severity::High,
    cwe: Some(942),
    description: "The API allows an arbitrary Origin (reflected, or `*`) together with `Access-Control-Allow-Credentials: true`: any web page a user visits can call the API with the user's credentials and read the answers.",
};

pub static HEADERS_MISSING: Rule = Rule {
    id: "headers.missing",
    name: "Security headers missing",
    category: Category::Api8,
    severity: Severity::Low,
    cwe: Some(693),
    description: "Answers lack a header that tells browsers and caches how to treat them: `X-Content-Type-Options: nosniff`, `Cache-Control: no-store` on authenticated answers, or framing protection (`frame-ancestors`, `X-Frame-Options`).",
};

pub static ERRORS_VERBOSE: Rule = Rule {
    id: "errors.verbose",
    name: "Errors reveal internals",
    category: Category::Api8,
    severity: Severity::Medium,
    cwe: Some(209),
    description: "Malformed input is answered with a stack trace, source paths, or framework or database internals, which map the implementation for an attacker.",
};

pub static METHODS_TRACE: Rule = Rule {
    id: "methods.trace",
    name: "TRACE echoes requests",
    category: Category::Api8,
    severity: Severity::Medium,
    cwe: Some(693),
    description: "The server answers TRACE by echoing the request, headers included: a script that can send requests can read credentials it could not otherwise see (cross-site tracing).",
};

pub static METHODS_UNDOCUMENTED: Rule = Rule {
    id: "methods.undocumented",
    name: "Undocumented methods advertised",
    category: Category::Api8,
    severity: Severity::Low,
    cwe: Some(749),
    description: "OPTIONS (`Allow`, `Access-Control-Allow-Methods`) advertises methods the document does not have on a path: functions outside the documented inventory, or a permissive default left on.",
};

pub static SERVER_VERSION: Rule = Rule {
    id: "server.version",
    name: "Software and version disclosed",
    category: Category::Api8,
    severity: Severity::Low,
    cwe: Some(497),
    description: "A `Server`, `X-Powered-By` or `X-AspNet-Version` header names the software and its version, which tells an attacker which published vulnerabilities to try.",
};

pub static TLS_PLAINTEXT: Rule = Rule {
    id: "tls.plaintext",
    name: "Served over plain HTTP",
    category: Category::Api8,
    severity: Severity::High,
    cwe: Some(319),
    description: "The API answers over plain HTTP on a network address: credentials and data cross the network in clear and can be read or changed on the way.",
};

pub static TLS_CERTIFICATE: Rule = Rule {
    id: "tls.certificate",
    name: "Certificate does not verify",
    category: Category::Api8,
    severity: Severity::High,
    cwe: Some(295),
    description: "The HTTPS certificate does not verify (expired, self-signed or from an unknown issuer, or for another name): clients either fail or learn to accept any certificate, which opens them to interception.",
};

pub static TLS_NO_HSTS: Rule = Rule {
    id: "tls.no-hsts",
    name: "No HSTS",
    category: Category::Api8,
    severity: Severity::Low,
    cwe: Some(319),
    description: "HTTPS answers lack `Strict-Transport-Security`, so a browser may be sent to the plain-HTTP address first and have its traffic taken over there.",
};

/// The most read operations whose answers are looked at.
const MAX_SAMPLES: usize = 6;

static RULES: [&Rule; 9] = [
    &CORS_REFLECTED_ORIGIN,
    &HEADERS_MISSING,
    &ERRORS_VERBOSE,
    &METHODS_TRACE,
    &METHODS_UNDOCUMENTED,
    &SERVER_VERSION,
    &TLS_PLAINTEXT,
    &TLS_CERTIFICATE,
    &TLS_NO_HSTS,
];

pub struct Misconfig;

#[async_trait]
impl Check for Misconfig {
    fn name(&self) -> &'static str {
        "security misconfiguration"
    }

    fn rules(&self) -> &'static [&'static Rule] {
        &RULES
    }

    fn plan(&self, cx: &Context) -> Vec<String> {
        let mut lines = vec![format!(
            "GET up to {MAX_SAMPLES} documented read operations; look at their answers' headers (security headers, Server/X-Powered-By, HSTS)"
        )];
        lines.extend(cors::plan(cx));
        lines.extend(errors::plan(cx));
        lines.extend(methods::plan(cx));
        lines.extend(tls::plan(cx));
        lines
    }

    async fn run(&self, cx: &Context, out: &mut Outcome) {
        let check = self.name();
        let samples = sampling::answered(cx, MAX_SAMPLES).await;
        if samples.is_empty() {
            out.skip(
                check,
                "no documented GET operation answered 2xx: answer headers not looked at",
            );
        } else {
            if cx.enabled(&HEADERS_MISSING) {
                headers::missing(&samples, out);
            }
            if cx.enabled(&SERVER_VERSION) {
                headers::server_version(&samples, out);
            }
        }
        if cx.enabled(&CORS_REFLECTED_ORIGIN) {
            cors::run(cx, out).await;
        }
        if cx.enabled(&ERRORS_VERBOSE) {
            errors::run(cx, out).await;
        }
        if cx.enabled(&METHODS_TRACE) {
            methods::trace(cx, out).await;
        }
        if cx.enabled(&METHODS_UNDOCUMENTED) {
            methods::undocumented(cx, out).await;
        }
        tls::run(cx, &samples, out).await;
    }
}
