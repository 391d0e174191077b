//! Token introspection answers shared by a cluster's nodes through Redis,
//! so that one call to the authorization server answers for every node.
//!
//! One key per token: `<prefix>:introspection:<digest>`, where `<digest>`
//! is the lowercase hex SHA-256 of the token (never the token itself). The
//! value is opaque here (the introspection verifier writes and judges it);
//! the key expires when the verifier says its answer stops being believed
//! (`min(exp, fetched + cache_ttl)` for an active token, `fetched +
//! negative_ttl` for an inactive one).
//!
//! Every command is bounded by the connection's timeout. Errors are
//! returned, never retried: the verifier treats them as a miss and asks the
//! endpoint, as a node without Redis would.

use std::time::Duration;

use crate::redis_conn::RedisConn;
use crate::store::StoreError;

/// The length of a digest in hex.
const DIGEST_HEX_LEN: usize = 64;

/// Introspection answers in Redis, by token digest.
#[derive(Debug, Clone)]
pub struct RedisIntrospectionCache {
    conn: RedisConn,
}

impl RedisIntrospectionCache {
    /// The answers kept over `conn`, under its prefix.
    pub fn new(conn: RedisConn) -> Self {
        Self { conn }
    }

    /// The Redis key of a token digest (64 lowercase hex digits).
    pub fn key(&self, digest: &str) -> String {
        format!("{}:introspection:{digest}", self.conn.prefix())
    }

    /// The value stored for `digest`, if any.
    pub async fn get(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check(digest)?;
        self.conn
            .query(::redis::cmd("GET").arg(self.key(digest)))
            .await
    }

    /// Stores `value` for `digest`, expiring after `ttl` (rounded up to a
    /// millisecond).
    pub async fn put(&self, digest: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        check(digest)?;
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.conn
            .query::<()>(
                ::redis::cmd("SET")
                    .arg(self.key(digest))
                    .arg(value)
                    .arg("PX")
                    .arg(millis),
            )
            .await
    }
}

/// Only a digest may name a key: anything else is refused, so a token can
/// never end up in Redis's key space.
fn check(digest: &str) -> Result<(), StoreError> {
    let hex = digest
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if digest.len() == DIGEST_HEX_LEN && hex {
        Ok(())
    } else {
        Err(StoreError::Redis(
            "an introspection cache key must be a SHA-256 digest in lowercase hex".to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_digests_are_keys() {
        assert!(check(&"0a".repeat(32)).is_ok());
        for bad in [
            String::new(),
            "0a".repeat(31),
            "0A".repeat(32),
            "zz".repeat(32),
            "2YotnFZFEjr1zCsicMWpAA".to_string(),
        ] {
            assert!(check(&bad).is_err(), "{bad}");
        }
    }
}
