//! The key store trait: what any backend (memory, SQLite, later PostgreSQL)
//! must do.
//!
//! The trait is deliberately small and speaks in whole records and single
//! conditional updates, so each method maps to one statement (or one
//! transaction) on a SQL backend and needs no read-modify-write in the
//! caller. It is object safe (`Arc<dyn KeyStore>`) so the gateway can pick
//! the backend from config at run time.

use std::path::PathBuf;

use async_trait::async_trait;

use crate::record::{KeyRecord, UnixTime};

/// A store operation failed. Distinct from a rejected key: the gateway
/// answers these with "unavailable", not "unauthorized".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened or created.
    #[error("cannot open the state database `{}`: {source}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// What the driver said.
        #[source]
        source: sqlx::Error,
    },
    /// The database server refused the first connection (unreachable,
    /// authentication failed, no such database). `target` names it
    /// without credentials.
    #[error("cannot connect to the state database ({target}): {source}")]
    Connect {
        /// `PostgreSQL host:port/database`.
        target: String,
        /// What the driver said.
        #[source]
        source: sqlx::Error,
    },
    /// A query failed (a constraint, a lock timeout, full disk, …).
    #[error("state database error: {0}")]
    Database(#[source] sqlx::Error),
    /// The database server cannot be reached now (refused, timed out,
    /// connection lost, no free connection in time): the store is down,
    /// not the query wrong. Never holds the URL's password.
    #[error("the state database is unavailable: {0}")]
    Unavailable(String),
    /// `insert` of a key id that exists. With 71 random bits per id this
    /// means a broken random source or a replayed insert, never bad luck.
    #[error("a key with id `{0}` already exists")]
    Duplicate(String),
    /// The database's schema is older than this moat's and migrating
    /// at start-up is off.
    #[error(
        "the state database has schema version {found}, older than {supported}; run `moat db migrate` (or set `state.postgres.migrate: on_start`)"
    )]
    OutdatedSchema {
        /// The version in the database.
        found: i64,
        /// The version this build needs.
        supported: i64,
    },
    /// The database was written by a newer moat.
    #[error(
        "the state database has schema version {found}, newer than {supported}, the newest this moat knows; upgrade moat"
    )]
    NewerSchema {
        /// The version in the database.
        found: i64,
        /// The newest version this build can read.
        supported: i64,
    },
    /// A row that this code would never have written.
    #[error("the state database holds an invalid record for `{key_id}`: {what}")]
    Corrupt {
        /// The key id of the row.
        key_id: String,
        /// What is wrong with it.
        what: String,
    },
    /// A name (of an admin token) is in use by another that is not
    /// revoked.
    #[error("an admin token named `{0}` exists; revoke it first or choose another name")]
    NameTaken(String),
    /// An argument the store refuses.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was refused.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// The Redis limit store failed: unreachable, timed out, or an error
    /// reply. The message never holds credentials from the URL.
    #[error("redis: {0}")]
    Redis(String),
}

impl From<sqlx::Error> for StoreError {
    /// Failures to reach the server become [`StoreError::Unavailable`];
    /// the rest [`StoreError::Database`].
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
            // PostgreSQL: connection exceptions (08…), the server shutting
            // down or starting (57P…), a statement timeout (57014).
            sqlx::Error::Database(ref d)
                if d.code().is_some_and(|c| {
                    c.starts_with("08") || c.starts_with("57P") || c == "57014"
                }) =>
            {
                StoreError::Unavailable(e.to_string())
            }
            e => StoreError::Database(e),
        }
    }
}

/// Storage of API key records, looked up by key id.
///
/// Backends do not cache records across calls: every `get` reads the
/// database. [`crate::CachedKeyStore`] is the one cache, in front of a
/// backend, with bounded staleness.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Adds a new key; [`StoreError::Duplicate`] when the id exists.
    async fn insert(&self, record: &KeyRecord) -> Result<(), StoreError>;

    /// The key with this id (a primary-key lookup: the request hot path).
    async fn get(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError>;

    /// Every key, or a consumer's keys, oldest first.
    async fn list(&self, consumer_id: Option<&str>) -> Result<Vec<KeyRecord>, StoreError>;

    /// Marks the key revoked at `at`. An already revoked key keeps its
    /// first revocation time. `false` when there is no such key.
    async fn revoke(&self, key_id: &str, at: UnixTime) -> Result<bool, StoreError>;

    /// Sets (or clears, with `None`) the expiry. `false` when there is no
    /// such key.
    async fn set_expiry(
        &self,
        key_id: &str,
        expires_at: Option<UnixTime>,
    ) -> Result<bool, StoreError>;

    /// Rotation, atomically: the old key's expiry becomes the earlier of
    /// its current one and `old_deadline`, and `new` is inserted. Writes
    /// nothing and returns `false` when the old key does not exist or is
    /// revoked, so a rotation cannot resurrect a revoked key's access.
    async fn rotate(
        &self,
        old_key_id: &str,
        old_deadline: UnixTime,
        new: &KeyRecord,
    ) -> Result<bool, StoreError>;

    /// Records last-used times in one batch (one transaction on SQL
    /// backends). Unknown ids are skipped; a time never moves backwards.
    async fn record_last_used(&self, uses: &[(String, UnixTime)]) -> Result<(), StoreError>;
}
