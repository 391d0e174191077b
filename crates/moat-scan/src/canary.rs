//! The SSRF canary: a listener on loopback whose URL the scan hands to
//! URL-like parameters. A request reaching it proves the target fetched
//! the URL it was given.
//!
//! Each probe gets its own token in the path (`/moat-canary/<token>`), so
//! a hit names the probe that caused it, however late it arrives.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::config::CanaryConfig;

/// The longest request head the canary reads.
const MAX_HEAD: usize = 8 * 1024;

/// The most requests the canary remembers: a target (or anyone) sending
/// it more cannot make the scan's memory grow without bound. A scan
/// sends far fewer probes than this.
const MAX_HITS: usize = 10_000;

/// Where the canary listens, the base URL the target is given, and the
/// paths requested so far.
#[derive(Debug, Clone)]
pub struct Canary {
    pub addr: SocketAddr,
    pub base_url: String,
    hits: Arc<Mutex<Vec<String>>>,
}

/// A fresh random token for one probe: 16 hex digits, unguessable, so a
/// hit can only come from the probe that carried it.
pub fn token() -> String {
    static ISSUED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut bytes = [0u8; 8];
    // The system's generator does not fail in practice; the counter keeps
    // tokens distinct even if it did.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    let n = ISSUED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let random: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{random}{n:x}")
}

impl Canary {
    /// A URL unique to `token`.
    pub fn url(&self, token: &str) -> String {
        format!(
            "{}/moat-canary/{token}",
            self.base_url.trim_end_matches('/')
        )
    }

    /// Whether a request for `token`'s URL has arrived, waiting up to
    /// `wait` for it.
    pub async fn hit(&self, token: &str, wait: Duration) -> bool {
        let needle = format!("/moat-canary/{token}");
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let seen = self
                .hits
                .lock()
                .map(|h| {
                    h.iter().any(|p| {
                        p.strip_prefix(&needle)
                            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['?', '/']))
                    })
                })
                .unwrap_or(false);
            if seen {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// A canary that is listening; it stops when dropped.
pub struct Running {
    pub canary: Canary,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the canary; `None` (and the SSRF checks skip) when it cannot
/// listen.
pub async fn start(config: &CanaryConfig) -> Option<Running> {
    let listen = config
        .listen
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)));
    let listener = TcpListener::bind(listen).await.ok()?;
    let addr = listener.local_addr().ok()?;
    let base_url = config
        .url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let hits = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&hits);
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let recorded = Arc::clone(&recorded);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while head.len() < MAX_HEAD && !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await
                    {
                        Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
                        _ => break,
                    }
                }
                let text = String::from_utf8_lossy(&head);
                if let Some(path) = text.lines().next().and_then(|l| l.split(' ').nth(1))
                    && let Ok(mut hits) = recorded.lock()
                    && hits.len() < MAX_HITS
                {
                    hits.push(path.to_string());
                }
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 12\r\nconnection: close\r\n\r\nmoat canary\n")
                    .await;
            });
        }
    });
    Some(Running {
        canary: Canary {
            addr,
            base_url,
            hits,
        },
        task,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hit_names_the_probe_whose_token_it_carries() {
        let running = start(&CanaryConfig::default()).await.unwrap();
        let canary = &running.canary;
        let (fetched, other) = (token(), token());
        assert_ne!(fetched, other);
        let url = canary.url(&fetched);
        let path = url.strip_prefix(&canary.base_url).unwrap();
        let mut stream = tokio::net::TcpStream::connect(canary.addr).await.unwrap();
        stream
            .write_all(format!("GET {path}?x=1 HTTP/1.1\r\nhost: c\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
        assert!(canary.hit(&fetched, Duration::from_secs(2)).await);
        assert!(!canary.hit(&other, Duration::from_millis(50)).await);
    }
}
