//! moat's state: API keys (stored hashed) and learned object owners, behind
//! backend-neutral traits.
//!
//! - [`format`]: the key format `moat_<key id>_<secret><checksum>`,
//!   recognisable by secret scanners and checked before any lookup.
//! - [`KeyStore`]: what a backend does; [`SqliteStore`] (embedded, the
//!   default), [`PostgresStore`] (clusters) and [`MemoryStore`] (tests)
//!   implement it. [`DurableStore`] is either of the first two, picked
//!   from config; every store trait below is implemented by both.
//! - [`KeyManager`]: create, rotate, revoke, and the per-request
//!   [`KeyManager::verify`].
//! - [`CachedKeyStore`]: key records cached in front of any store, so
//!   verification needs no database round trip per request, with
//!   revocation bounded by its revalidation time.
//! - [`OwnershipStore`]: which consumer created which object, for
//!   object-level authorization; [`SqliteStore`], [`PostgresStore`] and
//!   [`MemoryOwnership`].
//! - [`BanStore`]: banned addresses, networks and consumers;
//!   [`SqliteStore`], [`PostgresStore`] and [`MemoryBans`]. [`BanList`] is the gateway's
//!   in-memory view, checked on every request.
//! - [`events::EventStore`]: security events in a hash chain, with
//!   retention and verification; [`SqliteStore`] and [`PostgresStore`].
//! - [`AdminTokenStore`]: hashed bearer tokens with a role for the admin
//!   API; [`SqliteStore`] and [`PostgresStore`].
//! - [`DiscoveryStore`]: operations and their shapes discovered in the
//!   gateway's traffic; [`SqliteStore`] and [`PostgresStore`].
//! - [`introspection::RedisIntrospectionCache`]: token introspection
//!   answers shared by a cluster's nodes through Redis.
//! - [`dump`]: the durable state as portable JSON Lines, for `moat db
//!   export` and `moat db import`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use moat_state::{KeyManager, SqliteStore, unix_now};
//!
//! let store = Arc::new(SqliteStore::open("moat.db".as_ref()).await?);
//! let keys = KeyManager::new(store, b"a pepper of at least thirty-two bytes")?;
//! let (record, issued) = keys.create("alice", Some("laptop"), &["read".into()], None).await?;
//! println!("your key (shown once): {}", issued.expose());
//! let verified = keys.verify(issued.expose(), unix_now()).await?;
//! assert_eq!(verified.key_id, record.key_id);
//! # Ok(()) }
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod admin_tokens;
pub mod anomaly_counters;
mod backoff;
pub mod bans;
mod crc32;
pub mod detector_bans;
pub mod discovery;
pub mod dump;
mod durable;
pub mod events;
pub mod format;
pub mod introspection;
mod key_cache;
pub mod limits;
pub mod lockout;
mod manager;
mod memory;
pub mod notices;
pub mod ownership;
mod postgres;
#[cfg(test)]
#[path = "../tests/support/postgres.rs"]
mod postgres_server;
mod record;
pub mod redis_conn;
mod redis_dial;
mod rejection;
mod row;
mod sqlite;
mod sqlite_write;
mod store;
#[cfg(test)]
pub(crate) mod tests;

pub use admin_tokens::{AdminRole, AdminTokenRecord, AdminTokenStore, IssuedToken};
pub use bans::{Ban, BanList, BanStore, BanSubject, InvalidPrefix, IpPrefix, MemoryBans};
pub use discovery::{DiscoveredRow, DiscoveryStore};
pub use durable::{DurableStore, DurableTarget};
pub use format::MalformedKey;
pub use key_cache::{CachedKeyStore, KeyCacheSettings, KeyLookup};
pub use lockout::{
    LockoutPolicy, LockoutPolicyError, LockoutStore, LockoutSubject, MemoryLockout, SubjectState,
    retry_after_secs,
};
pub use manager::{Clock, IssuedKey, KeyError, KeyManager, MIN_PEPPER_LEN};
pub use memory::MemoryStore;
pub use ownership::{MemoryOwnership, ObjectKey, OwnershipStore, Recorded};
pub use postgres::{POSTGRES_SCHEMA_VERSION, PostgresOptions, PostgresStore};
pub use record::{KeyRecord, KeyStatus, UnixTime, unix_now};
pub use rejection::KeyRejection;
pub use sqlite::{SCHEMA_VERSION, SqliteStore};
pub use store::{KeyStore, StoreError};
