//! HTTP Basic credentials: argon2id verification with a short success
//! cache, and `moat hash-password`.

use std::collections::HashMap;
use std::time::Duration;

use moat_config::ConsumerConfig;

/// How long a successful basic verification is remembered, so that a client
/// sending the same credentials on every request does not pay argon2 each
/// time. A changed password hash takes effect at the next reload, which
/// builds a new verifier.
const BASIC_CACHE_TTL: Duration = Duration::from_secs(300);
const BASIC_CACHE_MAX: u64 = 10_000;

/// Password checks running at once, process-wide: one per worker. An
/// argon2id check is pure CPU and holds 19 MiB; more at once would only
/// queue on the CPUs while holding memory, so a flood of wrong passwords
/// waits here instead of filling every worker's blocking pool.
static HASHING: std::sync::LazyLock<tokio::sync::Semaphore> =
    std::sync::LazyLock::new(|| tokio::sync::Semaphore::new(crate::executor::count()));

/// Checks user names and passwords against argon2id hashes.
pub struct BasicVerifier {
    users: HashMap<String, (String, String)>,
    /// SHA-256 of `user:password` → consumer, for [`BASIC_CACHE_TTL`].
    verified: moka::sync::Cache<[u8; 32], String>,
    /// Hash checked for unknown users, so timing does not reveal which user
    /// names exist.
    dummy_hash: String,
}

impl BasicVerifier {
    /// From the consumers' `basic` credentials.
    pub fn new(consumers: &[ConsumerConfig]) -> Self {
        let users = consumers
            .iter()
            .filter_map(|c| {
                let b = c.basic.as_ref()?;
                Some((
                    b.username.clone(),
                    (c.id.clone(), b.password_hash.expose().to_string()),
                ))
            })
            .collect();
        Self {
            users,
            verified: moka::sync::Cache::builder()
                .max_capacity(BASIC_CACHE_MAX)
                .time_to_live(BASIC_CACHE_TTL)
                .build(),
            // A real hash with the same parameters, so that checking an
            // unknown user costs what checking a known one does.
            dummy_hash: hash_password("moat-unknown-user").unwrap_or_default(),
        }
    }

    /// The consumer id, when the password is right.
    pub async fn verify(&self, user: &str, password: &str) -> Option<String> {
        let digest = ring::digest::digest(
            &ring::digest::SHA256,
            format!("{user}:{password}").as_bytes(),
        );
        let mut cache_key = [0u8; 32];
        cache_key.copy_from_slice(digest.as_ref());
        if let Some(consumer) = self.verified.get(&cache_key) {
            return Some(consumer);
        }
        let (consumer, hash) = match self.users.get(user) {
            Some((c, h)) => (Some(c.clone()), h.clone()),
            None => (None, self.dummy_hash.clone()),
        };
        let password = password.to_string();
        let Ok(_turn) = HASHING.acquire().await else {
            return None;
        };
        // argon2 is deliberately slow: keep it off the async workers.
        let ok = tokio::task::spawn_blocking(move || {
            use argon2::PasswordVerifier;
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
        .unwrap_or(false);
        let consumer = consumer.filter(|_| ok)?;
        self.verified.insert(cache_key, consumer.clone());
        Some(consumer)
    }
}

/// An argon2id hash of `password` in PHC form, for `moat hash-password`.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn basic_verification_with_argon2id() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let consumers: Vec<ConsumerConfig> = serde_json::from_value(serde_json::json!([
            {"id": "alice", "basic": {"username": "al", "password_hash": hash}}
        ]))
        .unwrap();
        let v = BasicVerifier::new(&consumers);
        assert_eq!(
            v.verify("al", "correct horse").await.as_deref(),
            Some("alice")
        );
        assert_eq!(
            v.verify("al", "correct horse").await.as_deref(),
            Some("alice"),
            "cached"
        );
        assert_eq!(v.verify("al", "wrong").await, None);
        assert_eq!(v.verify("nobody", "correct horse").await, None);
    }

    #[tokio::test]
    async fn password_checks_wait_for_a_turn() {
        let hash = hash_password("correct horse").unwrap();
        let consumers: Vec<ConsumerConfig> = serde_json::from_value(serde_json::json!([
            {"id": "alice", "basic": {"username": "al", "password_hash": hash}}
        ]))
        .unwrap();
        let v = std::sync::Arc::new(BasicVerifier::new(&consumers));
        // Every turn taken: a check waits.
        let all = u32::try_from(crate::executor::count()).unwrap();
        let held = HASHING.acquire_many(all).await.unwrap();
        let check = tokio::spawn({
            let v = v.clone();
            async move { v.verify("al", "correct horse").await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!check.is_finished(), "checked without a turn");
        drop(held);
        assert_eq!(check.await.unwrap().as_deref(), Some("alice"));
    }
}
