//! Posting an alert to a webhook: one attempt, what its answer means, and
//! the backoff between attempts.

use std::time::Duration;

use bytes::Bytes;
use moat_config::Secret;
use moat_identity::http::{error_chain, is_secure, trusted_client_builder};
use moat_identity::trust::Trust;
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use super::SinkError;

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Attempt {
    /// A 2xx answer.
    Delivered,
    /// Worth another try: a connection error, a timeout, 429 or 5xx.
    /// `after` is the wait the webhook asked for (`Retry-After`).
    Retry {
        failure: Failure,
        after: Option<Duration>,
    },
    /// Refused for good: any other status (4xx, or a redirect, which is
    /// not followed so that the alert cannot be sent elsewhere).
    Refused(u16),
}

/// Why an attempt failed, for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Failure {
    /// No answer in time.
    Timeout,
    /// No connection, or the connection broke. The message never holds
    /// the URL.
    Transport(String),
    /// 429 or 5xx.
    Status(u16),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Timeout => f.write_str("timed out"),
            Failure::Transport(message) => f.write_str(message),
            Failure::Status(status) => write!(f, "answered {status}"),
        }
    }
}

/// The client for one webhook.
pub(super) struct Poster {
    http: reqwest::Client,
    url: Url,
    /// The URL's host, the only part of it that is logged.
    host: String,
}

impl Poster {
    /// Checks the URL (https, or http to a loopback address: the URL and
    /// the alerts must not cross a network in clear) and builds the
    /// client, with `timeout` for each attempt.
    pub(super) fn new(url: &Secret, timeout: Duration, trust: &Trust) -> Result<Self, SinkError> {
        let url = check_url(url)?;
        let host = url.host_str().unwrap_or_default().to_string();
        let http = trusted_client_builder(timeout, Some(trust))
            .map_err(|e| SinkError::HttpClient(e.to_string()))?
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SinkError::HttpClient(error_chain(&e.without_url())))?;
        Ok(Self { http, url, host })
    }

    /// The webhook's host, for logs.
    pub(super) fn host(&self) -> &str {
        &self.host
    }

    /// Posts `body` once.
    pub(super) async fn attempt(&self, body: Bytes) -> Attempt {
        let sent = self
            .http
            .post(self.url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) if e.is_timeout() => {
                return Attempt::Retry {
                    failure: Failure::Timeout,
                    after: None,
                };
            }
            Err(e) => {
                return Attempt::Retry {
                    failure: Failure::Transport(error_chain(&e.without_url())),
                    after: None,
                };
            }
        };
        let status = response.status();
        if status.is_success() {
            return Attempt::Delivered;
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Attempt::Retry {
                failure: Failure::Status(status.as_u16()),
                after: retry_after(response.headers().get(RETRY_AFTER)),
            };
        }
        Attempt::Refused(status.as_u16())
    }
}

/// `Retry-After` in seconds. The HTTP-date form is not read: the backoff
/// applies then.
fn retry_after(value: Option<&HeaderValue>) -> Option<Duration> {
    let seconds: u64 = value?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

/// Exponential backoff: `base`, 2 × `base`, 4 × `base`, … at most `cap`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Backoff {
    pub(super) base: Duration,
    pub(super) cap: Duration,
}

impl Backoff {
    /// The wait before retry number `retry` (0 for the first retry); a
    /// wait the webhook asked for replaces it, within the same cap.
    pub(super) fn delay(&self, retry: u32, asked: Option<Duration>) -> Duration {
        let delay =
            asked.unwrap_or_else(|| self.base.saturating_mul(2u32.saturating_pow(retry.min(31))));
        delay.min(self.cap)
    }
}

/// The webhook URL, if moat will post to it: absolute, and https (http
/// only to a loopback address). Checked when the config is loaded too.
pub(crate) fn check_url(url: &Secret) -> Result<Url, SinkError> {
    let url =
        Url::parse(url.expose()).map_err(|_| SinkError::WebhookUrl("not a valid absolute URL"))?;
    if !is_secure(&url) {
        return Err(SinkError::WebhookUrl(
            "must be https (http only to a loopback address)",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_honours_a_requested_wait() {
        let b = Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
        };
        let waits: Vec<u64> = (0..8).map(|r| b.delay(r, None).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(b.delay(200, None), Duration::from_secs(60));
        assert_eq!(
            b.delay(0, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            b.delay(0, Some(Duration::from_secs(3600))),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn retry_after_is_read_in_seconds_only() {
        let v = |s: &'static str| Some(HeaderValue::from_static(s));
        assert_eq!(retry_after(v(" 3 ").as_ref()), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after(v("Wed, 21 Oct 2015 07:28:00 GMT").as_ref()),
            None
        );
        assert_eq!(retry_after(None), None);
    }

    #[test]
    fn a_url_in_clear_over_the_network_is_refused_without_quoting_it() {
        let timeout = Duration::from_secs(1);
        for bad in [
            "http://hooks.example.com/services/T0/B0/secret-part",
            "ftp://127.0.0.1/x",
            "not a url secret-part",
        ] {
            let err = Poster::new(&Secret::new(bad), timeout, &Trust::system().unwrap())
                .err()
                .unwrap();
            assert!(matches!(err, SinkError::WebhookUrl(_)), "{err}");
            assert!(!err.to_string().contains("secret-part"), "{err}");
        }
        for good in [
            "https://hooks.example.com/services/T0/B0/x",
            "http://127.0.0.1:9/x",
        ] {
            let poster =
                Poster::new(&Secret::new(good), timeout, &Trust::system().unwrap()).unwrap();
            assert!(!poster.host().is_empty());
        }
    }
}
