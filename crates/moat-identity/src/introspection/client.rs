//! The HTTP side of introspection: one POST per question, with client
//! authentication, a timeout and a body cap.
//!
//! The rule for the endpoint URL is the one for key URLs: **https, except
//! for loopback**. moat sends its client secret and every token it is
//! shown to this URL, and trusts the answer; over plain http anyone on the
//! path could read both and answer `active: true` for anything. Loopback
//! (`127.0.0.0/8`, `::1`, `localhost`) cannot be intercepted from the
//! network and serves tests and sidecars.
//!
//! Redirects are not followed: a redirected POST either turns into a GET
//! (and loses the token) or carries the client credentials to a host
//! nobody configured.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::Url;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};

use crate::http::{error_chain, is_secure, trusted_client_builder};
use crate::trust::Trust;

use super::ClientAuth;
use super::error::{EndpointError, IntrospectionConfigError};

/// The largest response accepted. Real answers are a few hundred bytes; a
/// cap keeps a broken or hostile endpoint from exhausting memory.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Parses the configured endpoint URL and applies the https rule.
pub(crate) fn parse_url(url: &str) -> Result<Url, IntrospectionConfigError> {
    let bad = |reason| IntrospectionConfigError::Url {
        url: url.to_owned(),
        reason,
    };
    let parsed = Url::parse(url).map_err(|_| bad("not an absolute URL"))?;
    if !is_secure(&parsed) {
        return Err(bad(
            "the endpoint must be https (plain http is allowed only for loopback addresses): moat sends its client secret and every token to it, and trusts its answer",
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(
            "credentials in the URL would be logged with it; set client_id and client_secret instead",
        ));
    }
    Ok(parsed)
}

/// Appends `value` encoded with the `application/x-www-form-urlencoded`
/// byte serializer (WHATWG URL §5.2, which RFC 6749 Appendix B refers to):
/// `*-._` and alphanumerics stay, space becomes `+`, every other byte of
/// the UTF-8 encoding becomes `%XX`.
pub(crate) fn form_encode(value: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0x0f)]));
            }
        }
    }
}

/// The `Authorization` value of `client_secret_basic` (RFC 6749 §2.3.1):
/// the id and the secret are each form-urlencoded *before* being joined
/// with `:` and base64-encoded, so an id or secret holding `:` or non-ASCII
/// characters reaches the server intact.
pub(crate) fn basic_authorization(client_id: &str, client_secret: &str) -> String {
    let mut pair = String::new();
    form_encode(client_id, &mut pair);
    pair.push(':');
    form_encode(client_secret, &mut pair);
    format!("Basic {}", STANDARD.encode(pair))
}

/// The HTTP client for one introspection endpoint, with the client
/// credentials it authenticates with.
pub(crate) struct Client {
    http: reqwest::Client,
    url: Url,
    auth: Auth,
}

/// Client authentication, prepared once.
enum Auth {
    /// The `Authorization` header, marked sensitive so that it is never
    /// logged by the HTTP stack.
    Basic(HeaderValue),
    /// The `&client_id=..&client_secret=..` suffix of the form.
    Post(String),
}

impl Client {
    /// Builds the client with `timeout` for the whole exchange (connect,
    /// TLS, headers and body).
    pub(crate) fn new(
        url: Url,
        client_id: &str,
        client_secret: &str,
        method: ClientAuth,
        timeout: Duration,
        trust: Option<&Trust>,
    ) -> Result<Self, IntrospectionConfigError> {
        let auth = match method {
            ClientAuth::Basic => {
                let mut value =
                    HeaderValue::from_str(&basic_authorization(client_id, client_secret))
                        .map_err(|e| IntrospectionConfigError::HttpClient(e.to_string()))?;
                value.set_sensitive(true);
                Auth::Basic(value)
            }
            ClientAuth::Post => {
                let mut suffix = String::from("&client_id=");
                form_encode(client_id, &mut suffix);
                suffix.push_str("&client_secret=");
                form_encode(client_secret, &mut suffix);
                Auth::Post(suffix)
            }
        };
        let http = trusted_client_builder(timeout, trust)
            .map_err(|e| IntrospectionConfigError::HttpClient(e.to_string()))?
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| IntrospectionConfigError::HttpClient(error_chain(&e)))?;
        Ok(Self { http, url, auth })
    }

    /// The endpoint, for logs.
    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    /// Asks the endpoint about `token` and returns the response body of a
    /// 200 answer, at most [`MAX_RESPONSE_BYTES`] long.
    pub(crate) async fn introspect(&self, token: &str) -> Result<Vec<u8>, EndpointError> {
        let mut form = String::with_capacity(token.len() + 64);
        form.push_str("token=");
        form_encode(token, &mut form);
        // RFC 7662 §2.1: a hint, so that the server looks among access
        // tokens first; the gateway only ever sees access tokens.
        form.push_str("&token_type_hint=access_token");
        let mut request = self
            .http
            .post(self.url.clone())
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        match &self.auth {
            Auth::Basic(value) => request = request.header(AUTHORIZATION, value.clone()),
            Auth::Post(suffix) => form.push_str(suffix),
        }
        let mut response = request
            .body(form)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status().as_u16();
        match status {
            200 => {}
            401 | 403 => return Err(EndpointError::ClientRejected(status)),
            _ => return Err(EndpointError::Status(status)),
        }
        if response
            .content_length()
            .is_some_and(|len| len > MAX_RESPONSE_BYTES as u64)
        {
            return Err(EndpointError::TooLarge(MAX_RESPONSE_BYTES));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&e))? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(EndpointError::TooLarge(MAX_RESPONSE_BYTES));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn transport_error(error: &reqwest::Error) -> EndpointError {
    if error.is_timeout() {
        EndpointError::Timeout
    } else {
        EndpointError::Request(error_chain(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_required_except_for_loopback() {
        for ok in [
            "https://as.example.com/oauth2/introspect",
            "http://127.0.0.1:8080/introspect",
            "http://127.1.2.3/introspect",
            "http://[::1]:9000/introspect",
            "http://localhost:9000/introspect",
        ] {
            assert!(parse_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://as.example.com/introspect",
            "http://10.0.0.1/introspect",
            "http://localhost.example.com/introspect",
            "ftp://as.example.com/introspect",
            "/introspect",
            "https://moat:secret@as.example.com/introspect",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn form_encoding_follows_the_whatwg_serializer() {
        let mut out = String::new();
        form_encode("aZ09*-._ ~+/:=&%é", &mut out);
        assert_eq!(out, "aZ09*-._+%7E%2B%2F%3A%3D%26%25%C3%A9");
    }

    #[test]
    fn basic_credentials_are_form_encoded_before_base64() {
        // RFC 6749 §2.3.1: `:` in the id must not split it.
        let header = basic_authorization("gate:way", "p@ss word");
        let encoded = header.strip_prefix("Basic ").unwrap();
        let decoded = STANDARD.decode(encoded).unwrap();
        assert_eq!(decoded, b"gate%3Away:p%40ss+word");
    }
}
