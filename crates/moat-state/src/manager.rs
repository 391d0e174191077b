//! Issuing, rotating, revoking and verifying API keys.
//!
//! The store holds only HMAC-SHA256(pepper, key). The pepper lives outside
//! the database (environment or file), so a copied database alone cannot be
//! used to test guesses offline, and a 190-bit random secret needs no slow
//! password hash: one HMAC per request is enough.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use crate::format;
use crate::record::{KeyRecord, KeyStatus, UnixTime, unix_now};
use crate::rejection::KeyRejection;
use crate::store::{KeyStore, StoreError};

/// The shortest pepper accepted, in bytes: the HMAC-SHA256 block is 64
/// bytes and its output 32, so less than 32 would be the weak link.
pub const MIN_PEPPER_LEN: usize = 32;

/// Bytes in a stored hash (HMAC-SHA256).
pub(crate) const HASH_LEN: usize = 32;

/// Longest consumer id, key name and scope accepted. They end up in logs
/// and tables, so they are kept short and printable.
const MAX_CONSUMER_LEN: usize = 128;
const MAX_NAME_LEN: usize = 200;
const MAX_SCOPE_LEN: usize = 128;
const MAX_SCOPES: usize = 64;

/// A key-management operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The pepper is too short to be a secret worth having.
    #[error(
        "the key pepper is {len} bytes long; it must be at least {MIN_PEPPER_LEN} \
         (generate one with `openssl rand -base64 48`)"
    )]
    PepperTooShort {
        /// Its length in bytes.
        len: usize,
    },
    /// No key has this id.
    #[error("no API key with id `{0}`")]
    NotFound(String),
    /// The key is revoked, so it cannot be rotated.
    #[error("API key `{0}` is revoked")]
    Revoked(String),
    /// The key has expired, so it cannot be rotated.
    #[error("API key `{0}` has expired")]
    Expired(String),
    /// An argument is not acceptable (empty consumer, a scope with spaces,
    /// an expiry in the past, …).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which argument.
        field: &'static str,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A newly issued key. The only place the plaintext ever exists: show it
/// to the user once and drop it. `Debug` and `Display` hide the secret.
pub struct IssuedKey {
    key_id: String,
    key: String,
}

impl IssuedKey {
    /// The key id (public).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The whole key, secret included. Call it only to hand the key to its
    /// owner, never to log it.
    pub fn expose(&self) -> &str {
        &self.key
    }
}

impl fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedKey")
            .field("key_id", &self.key_id)
            .field("key", &format_args!("{self}"))
            .finish()
    }
}

impl fmt::Display for IssuedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}_***", format::PREFIX, self.key_id)
    }
}

/// Where "now" comes from for create, rotate and revoke. Injectable so
/// tests can move time; [`KeyManager::verify`] takes `now` explicitly.
pub type Clock = Arc<dyn Fn() -> UnixTime + Send + Sync>;

/// Issues and verifies API keys against a [`KeyStore`].
///
/// Holds no key records between calls: every `verify` reads the store it
/// was given (the gateway gives it a [`crate::CachedKeyStore`], which
/// bounds how long a revocation written elsewhere takes to apply).
/// The one thing kept in memory is the last-used time of keys that passed
/// verification, written back in batches by
/// [`flush_last_used`](Self::flush_last_used).
pub struct KeyManager {
    store: Arc<dyn KeyStore>,
    pepper: hmac::Key,
    /// Compared against when the key id is unknown, so that an unknown id
    /// costs the same HMAC and comparison as a known one.
    dummy_hash: [u8; HASH_LEN],
    rng: SystemRandom,
    clock: Clock,
    /// key id → latest successful use not yet written to the store.
    last_used: Mutex<HashMap<String, UnixTime>>,
}

impl fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyManager")
            .field("pepper", &"***")
            .finish_non_exhaustive()
    }
}

impl KeyManager {
    /// A manager over `store` with `pepper` as the HMAC key; the pepper must
    /// be at least [`MIN_PEPPER_LEN`] bytes and the same for every process
    /// that uses the store.
    pub fn new(store: Arc<dyn KeyStore>, pepper: &[u8]) -> Result<Self, KeyError> {
        if pepper.len() < MIN_PEPPER_LEN {
            return Err(KeyError::PepperTooShort { len: pepper.len() });
        }
        let rng = SystemRandom::new();
        let mut dummy_hash = [0u8; HASH_LEN];
        rng.fill(&mut dummy_hash).map_err(|_| KeyError::Random)?;
        Ok(Self {
            store,
            pepper: hmac::Key::new(hmac::HMAC_SHA256, pepper),
            dummy_hash,
            rng,
            clock: Arc::new(unix_now),
            last_used: Mutex::new(HashMap::new()),
        })
    }

    /// Replaces the clock used by create, rotate and revoke (for tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The store, for reads the manager does not wrap.
    pub fn store(&self) -> &Arc<dyn KeyStore> {
        &self.store
    }

    /// Issues a new key for `consumer_id`. The returned [`IssuedKey`] is the
    /// only copy of the plaintext.
    pub async fn create(
        &self,
        consumer_id: &str,
        name: Option<&str>,
        scopes: &[String],
        expires_at: Option<UnixTime>,
    ) -> Result<(KeyRecord, IssuedKey), KeyError> {
        check_consumer(consumer_id)?;
        if let Some(name) = name {
            check_name(name)?;
        }
        let scopes = check_scopes(scopes)?;
        let now = (self.clock)();
        if let Some(t) = expires_at
            && t <= now
        {
            return Err(KeyError::Invalid {
                field: "expiry",
                reason: "it is not in the future".into(),
            });
        }
        let (record, issued) = self.issue(now, consumer_id, name, scopes, expires_at, None)?;
        self.store.insert(&record).await?;
        Ok((record, issued))
    }

    /// Replaces a key with a new one for the same consumer, name and scopes.
    ///
    /// The old key stays valid for `overlap` (or until its own expiry, if
    /// sooner), so clients can switch without an outage. If the old key had
    /// an expiry, the new one gets the same lifetime counted from now;
    /// otherwise it has none. Revoked and expired keys cannot be rotated.
    pub async fn rotate(
        &self,
        key_id: &str,
        overlap: Duration,
    ) -> Result<(KeyRecord, IssuedKey), KeyError> {
        let now = (self.clock)();
        let old = self.get_active(key_id, now).await?;
        let deadline = now.saturating_add(seconds(overlap));
        let expires_at = old
            .expires_at
            .map(|t| now.saturating_add(t.saturating_sub(old.created_at)));
        let (record, issued) = self.issue(
            now,
            &old.consumer_id,
            old.name.as_deref(),
            old.scopes.clone(),
            expires_at,
            Some(old.key_id.clone()),
        )?;
        if self.store.rotate(key_id, deadline, &record).await? {
            return Ok((record, issued));
        }
        // Revoked (or deleted) between the read and the write.
        self.get_active(key_id, now).await?;
        Err(KeyError::Revoked(key_id.to_string()))
    }

    /// Revokes a key; refused from the next request on. Revoking twice
    /// keeps the first time. Returns the record as stored afterwards.
    pub async fn revoke(&self, key_id: &str) -> Result<KeyRecord, KeyError> {
        let now = (self.clock)();
        if !self.store.revoke(key_id, now).await? {
            return Err(KeyError::NotFound(key_id.to_string()));
        }
        self.store
            .get(key_id)
            .await?
            .ok_or_else(|| KeyError::NotFound(key_id.to_string()))
    }

    /// Sets or clears a key's expiry.
    pub async fn set_expiry(
        &self,
        key_id: &str,
        expires_at: Option<UnixTime>,
    ) -> Result<(), KeyError> {
        if self.store.set_expiry(key_id, expires_at).await? {
            Ok(())
        } else {
            Err(KeyError::NotFound(key_id.to_string()))
        }
    }

    /// One key, by id.
    pub async fn get(&self, key_id: &str) -> Result<Option<KeyRecord>, KeyError> {
        Ok(self.store.get(key_id).await?)
    }

    /// All keys, or one consumer's, oldest first.
    pub async fn list(&self, consumer_id: Option<&str>) -> Result<Vec<KeyRecord>, KeyError> {
        Ok(self.store.list(consumer_id).await?)
    }

    /// Checks a presented key at time `now` and returns its record.
    ///
    /// Order of work: the format and checksum (no store access for junk),
    /// one primary-key lookup, then the HMAC comparison, which runs in
    /// constant time and also when the id is unknown (against a dummy
    /// hash). Revocation and expiry are looked at only after the secret
    /// matched, so they are never revealed for a wrong secret.
    pub async fn verify(&self, presented: &str, now: UnixTime) -> Result<KeyRecord, KeyRejection> {
        let parsed = format::parse(presented).map_err(KeyRejection::Malformed)?;
        let key_id = parsed.key_id();
        let record = self
            .store
            .get(key_id)
            .await
            .map_err(KeyRejection::Unavailable)?;
        let expected: &[u8] = match &record {
            Some(r) => &r.secret_hash,
            None => &self.dummy_hash,
        };
        let matches = hmac::verify(&self.pepper, parsed.as_str().as_bytes(), expected).is_ok();
        let key_id = key_id.to_string();
        let Some(record) = record else {
            return Err(KeyRejection::Unknown { key_id });
        };
        if !matches {
            return Err(KeyRejection::WrongSecret { key_id });
        }
        match record.status(now) {
            KeyStatus::Active => {}
            KeyStatus::Revoked => return Err(KeyRejection::Revoked { key_id }),
            KeyStatus::Expired => return Err(KeyRejection::Expired { key_id }),
        }
        self.note_use(key_id, now);
        Ok(record)
    }

    /// Writes the last-used times gathered since the previous flush, in one
    /// store transaction, and returns how many keys it updated.
    ///
    /// `verify` only notes uses in memory, so that a request costs a read
    /// and no write. The stored `last_used_at` therefore lags by at most
    /// the interval at which the caller flushes (the gateway: every few
    /// seconds, and at shutdown); uses noted but not flushed are lost if the
    /// process dies. Memory is bounded by the number of distinct keys used
    /// since the last flush, which is at most the number of keys stored
    /// (only successfully verified keys are noted). On failure the batch is
    /// kept for the next attempt.
    pub async fn flush_last_used(&self) -> Result<usize, StoreError> {
        let batch: Vec<(String, UnixTime)> =
            std::mem::take(&mut *self.pending()).into_iter().collect();
        if batch.is_empty() {
            return Ok(0);
        }
        match self.store.record_last_used(&batch).await {
            Ok(()) => Ok(batch.len()),
            Err(e) => {
                let mut pending = self.pending();
                for (key_id, at) in batch {
                    merge(&mut pending, key_id, at);
                }
                Err(e)
            }
        }
    }

    /// Keys whose last use has not been flushed yet.
    pub fn unflushed_last_used(&self) -> usize {
        self.pending().len()
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, UnixTime>> {
        // Every update under the lock is a single insert: a panic elsewhere
        // cannot leave the map inconsistent, so poisoning is ignored.
        self.last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn note_use(&self, key_id: String, now: UnixTime) {
        merge(&mut self.pending(), key_id, now);
    }

    async fn get_active(&self, key_id: &str, now: UnixTime) -> Result<KeyRecord, KeyError> {
        let record = self
            .store
            .get(key_id)
            .await?
            .ok_or_else(|| KeyError::NotFound(key_id.to_string()))?;
        match record.status(now) {
            KeyStatus::Active => Ok(record),
            KeyStatus::Revoked => Err(KeyError::Revoked(key_id.to_string())),
            KeyStatus::Expired => Err(KeyError::Expired(key_id.to_string())),
        }
    }

    fn issue(
        &self,
        now: UnixTime,
        consumer_id: &str,
        name: Option<&str>,
        scopes: Vec<String>,
        expires_at: Option<UnixTime>,
        rotated_from: Option<String>,
    ) -> Result<(KeyRecord, IssuedKey), KeyError> {
        let (key_id, key) = format::generate(&self.rng).map_err(|_| KeyError::Random)?;
        let record = KeyRecord {
            key_id: key_id.clone(),
            consumer_id: consumer_id.to_string(),
            name: name.map(str::to_string),
            scopes,
            secret_hash: hmac::sign(&self.pepper, key.as_bytes()).as_ref().to_vec(),
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
            rotated_from,
        };
        Ok((record, IssuedKey { key_id, key }))
    }
}

/// Best effort: uses not yet flushed are written by a task on the current
/// Tokio runtime, if there is one (e.g. when a reload replaces the
/// manager). At process exit call [`KeyManager::flush_last_used`] instead;
/// a runtime that is shutting down may never run the task.
impl Drop for KeyManager {
    fn drop(&mut self) {
        let pending = std::mem::take(
            self.last_used
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        );
        if pending.is_empty() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let store = Arc::clone(&self.store);
            let batch: Vec<_> = pending.into_iter().collect();
            runtime.spawn(async move {
                let _ = store.record_last_used(&batch).await;
            });
        }
    }
}

fn merge(pending: &mut HashMap<String, UnixTime>, key_id: String, at: UnixTime) {
    let t = pending.entry(key_id).or_insert(at);
    *t = (*t).max(at);
}

fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn invalid(field: &'static str, reason: impl Into<String>) -> KeyError {
    KeyError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn check_consumer(consumer_id: &str) -> Result<(), KeyError> {
    if consumer_id.is_empty() {
        return Err(invalid("consumer id", "it is empty"));
    }
    if consumer_id.chars().count() > MAX_CONSUMER_LEN {
        return Err(invalid(
            "consumer id",
            format!("it is longer than {MAX_CONSUMER_LEN} characters"),
        ));
    }
    if consumer_id
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid(
            "consumer id",
            "it contains whitespace or control characters",
        ));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), KeyError> {
    if name.chars().count() > MAX_NAME_LEN {
        return Err(invalid(
            "name",
            format!("it is longer than {MAX_NAME_LEN} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("name", "it contains control characters"));
    }
    Ok(())
}

/// Scope names as OAuth 2.0 defines a scope-token (RFC 6749 §3.3): printable
/// ASCII except space, `"` and `\`. Duplicates are dropped, order kept.
fn check_scopes(scopes: &[String]) -> Result<Vec<String>, KeyError> {
    let mut out: Vec<String> = Vec::with_capacity(scopes.len());
    for scope in scopes {
        let ok = !scope.is_empty()
            && scope.len() <= MAX_SCOPE_LEN
            && scope
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
        if !ok {
            return Err(invalid(
                "scope",
                format!(
                    "`{}` is not a scope name: 1 to {MAX_SCOPE_LEN} printable ASCII characters, \
                     no spaces, quotes or backslashes",
                    scope.escape_debug()
                ),
            ));
        }
        if !out.contains(scope) {
            out.push(scope.clone());
        }
    }
    if out.len() > MAX_SCOPES {
        return Err(invalid(
            "scopes",
            format!("a key has at most {MAX_SCOPES} scopes"),
        ));
    }
    Ok(out)
}
