//! What is stored about an API key: never the key, only its keyed hash.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, UTC. Every time in this crate is one: it
/// is what SQLite and PostgreSQL store as an integer without time-zone
/// questions, and what the CLI and the gateway compare cheaply.
pub type UnixTime = i64;

/// The current time as [`UnixTime`]. A clock before 1970 reads as 0.
pub fn unix_now() -> UnixTime {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// One API key as the store holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The public part of the key and the store's primary key.
    pub key_id: String,
    /// Who the key belongs to; authorization and rate limits hang off this.
    pub consumer_id: String,
    /// A human label ("CI deploy key").
    pub name: Option<String>,
    /// What the key may do (OAuth-style scope names, no whitespace).
    pub scopes: Vec<String>,
    /// HMAC-SHA256(pepper, whole key). Useless without the pepper, so a
    /// stolen database alone does not let anyone test guesses offline.
    pub secret_hash: Vec<u8>,
    /// When the key was issued.
    pub created_at: UnixTime,
    /// The key is refused from this time on. Never when absent.
    pub expires_at: Option<UnixTime>,
    /// Last successful verification, as of the last flush (see
    /// [`crate::KeyManager::flush_last_used`]).
    pub last_used_at: Option<UnixTime>,
    /// When the key was revoked; a revoked key is refused for good.
    pub revoked_at: Option<UnixTime>,
    /// The key this one replaced by rotation.
    pub rotated_from: Option<String>,
}

/// Where a key stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Accepted.
    Active,
    /// Past its `expires_at`.
    Expired,
    /// Revoked (takes precedence over expiry).
    Revoked,
}

impl KeyStatus {
    /// The word the CLI and logs use.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Expired => "expired",
            KeyStatus::Revoked => "revoked",
        }
    }
}

impl KeyRecord {
    /// The key's status at `now`. A key is valid while `now < expires_at`.
    pub fn status(&self, now: UnixTime) -> KeyStatus {
        if self.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if self.expires_at.is_some_and(|t| now >= t) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }

    /// Whether the key has `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// The hash is left out: it is not secret without the pepper, but it has no
/// business in logs either.
impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("key_id", &self.key_id)
            .field("consumer_id", &self.consumer_id)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("last_used_at", &self.last_used_at)
            .field("revoked_at", &self.revoked_at)
            .field("rotated_from", &self.rotated_from)
            .finish_non_exhaustive()
    }
}
