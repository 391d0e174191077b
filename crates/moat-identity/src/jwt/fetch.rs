//! Fetching key documents (JWKS, OIDC discovery) over HTTP.
//!
//! The rule for key URLs: **https, except for loopback**. The keys decide
//! which tokens are genuine, so a JWKS fetched over plain http lets anyone
//! on the path substitute their own keys and mint tokens. Loopback
//! (`127.0.0.0/8`, `::1`, `localhost`) is exempt because nothing on the
//! network can intercept it; it serves tests and an IdP sidecar. The rule
//! applies to the configured URL, to every redirect and to the `jwks_uri`
//! found by discovery.
//!
//! Every fetch has a timeout and a body cap, so a slow or hostile IdP can
//! neither hold a verification forever nor exhaust memory.

use std::time::Duration;

use reqwest::Url;

pub(crate) use crate::http::is_secure;
use crate::http::{error_chain, trusted_client_builder};
use crate::trust::Trust;

use super::error::{JwtConfigError, KeyFetchError};

/// The largest key document accepted. Real JWKS documents are a few KiB.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Redirects followed per fetch.
const MAX_REDIRECTS: usize = 3;

/// Parses a configured key URL and applies the https rule.
pub(crate) fn parse_key_url(url: &str) -> Result<Url, JwtConfigError> {
    let parsed = Url::parse(url).map_err(|_| JwtConfigError::Url {
        url: url.to_owned(),
        reason: "not an absolute URL",
    })?;
    if !is_secure(&parsed) {
        return Err(JwtConfigError::Url {
            url: url.to_owned(),
            reason: "keys must be fetched over https (plain http is allowed only for loopback addresses): anyone on the path could substitute their own keys",
        });
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(JwtConfigError::Url {
            url: url.to_owned(),
            reason: "credentials in the URL would be logged with it; key documents are public",
        });
    }
    Ok(parsed)
}

/// The HTTP client for key documents.
#[derive(Clone)]
pub(crate) struct Fetcher {
    client: reqwest::Client,
}

impl Fetcher {
    /// Builds the client with `timeout` for the whole exchange (connect,
    /// TLS, headers and body).
    pub(crate) fn new(timeout: Duration, trust: Option<&Trust>) -> Result<Self, JwtConfigError> {
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if !is_secure(attempt.url()) {
                attempt.error("redirect to a URL that is not https")
            } else {
                attempt.follow()
            }
        });
        let client = trusted_client_builder(timeout, trust)
            .map_err(|e| JwtConfigError::HttpClient(e.to_string()))?
            .redirect(redirects)
            .build()
            .map_err(|e| JwtConfigError::HttpClient(error_chain(&e)))?;
        Ok(Self { client })
    }

    /// GETs `url` and parses the body as a JSON object.
    pub(crate) async fn get_json(
        &self,
        url: &Url,
    ) -> Result<serde_json::Map<String, serde_json::Value>, KeyFetchError> {
        let shown = url.as_str().to_owned();
        if !is_secure(url) {
            return Err(KeyFetchError::Insecure { url: shown });
        }
        let mut response = self
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| transport_error(&shown, &e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(KeyFetchError::Status {
                url: shown,
                status: status.as_u16(),
            });
        }
        let too_large = || KeyFetchError::TooLarge {
            url: shown.clone(),
            limit: MAX_DOCUMENT_BYTES,
        };
        if response
            .content_length()
            .is_some_and(|len| len > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(&shown, &e))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| KeyFetchError::Invalid {
            url: shown,
            message: e.to_string(),
        })
    }
}

fn transport_error(url: &str, error: &reqwest::Error) -> KeyFetchError {
    if error.is_timeout() {
        KeyFetchError::Timeout {
            url: url.to_owned(),
        }
    } else {
        KeyFetchError::Request {
            url: url.to_owned(),
            message: error_chain(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_required_except_for_loopback() {
        for ok in [
            "https://idp.example.com/.well-known/jwks.json",
            "http://127.0.0.1:8080/jwks",
            "http://127.1.2.3/jwks",
            "http://[::1]:9000/jwks",
            "http://localhost:9000/jwks",
        ] {
            assert!(parse_key_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://idp.example.com/jwks",
            "http://10.0.0.1/jwks",
            "http://localhost.example.com/jwks",
            "ftp://idp.example.com/jwks",
            "file:///etc/jwks.json",
            "/jwks",
            "https://user:pass@idp.example.com/jwks",
        ] {
            assert!(parse_key_url(bad).is_err(), "{bad}");
        }
    }
}
