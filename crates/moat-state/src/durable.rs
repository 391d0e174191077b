//! The durable store a config names, behind the traits every caller uses.

use std::path::PathBuf;
use std::sync::Arc;

use crate::events::EventStore;
use crate::limits::QuotaStore;
use crate::{
    AdminTokenStore, BanStore, DiscoveryStore, KeyStore, OwnershipStore, SqliteStore, StoreError,
};

/// Which durable store to open.
#[derive(Debug, Clone)]
pub enum DurableTarget {
    /// A SQLite file (embedded state).
    Sqlite(PathBuf),
}

/// An open durable store.
#[derive(Clone)]
pub enum DurableStore {
    /// Embedded: a SQLite file.
    Sqlite(Arc<SqliteStore>),
}

impl DurableStore {
    /// Opens (creating and migrating a SQLite file).
    pub async fn open(target: &DurableTarget) -> Result<Self, StoreError> {
        match target {
            DurableTarget::Sqlite(path) => {
                Ok(Self::Sqlite(Arc::new(SqliteStore::open(path).await?)))
            }
        }
    }

    /// Where it is, for messages.
    pub fn name(&self) -> String {
        match self {
            Self::Sqlite(s) => format!("SQLite file {}", s.path().display()),
        }
    }

    /// Closes its connections, waiting for writes in flight.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(s) => s.close().await,
        }
    }

    /// Whether it answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(_) => Ok(()),
        }
    }

    /// API keys.
    pub fn keys(&self) -> Arc<dyn KeyStore> {
        match self {
            Self::Sqlite(s) => s.clone(),
        }
    }
    /// Learned owners.
    pub fn owners(&self) -> Arc<dyn OwnershipStore> {
        match self {
            Self::Sqlite(s) => s.clone(),
        }
    }
    /// Bans.
    pub fn bans(&self) -> Arc<dyn BanStore> {
        match self {
            Self::Sqlite(s) => s.clone(),
        }
    }
    /// Security events.
    pub fn events(&self) -> Arc<dyn EventStore> {
        match self {
            Self::Sqlite(s) => s.clone(),
        }
    }
    /// Admin tokens.
    pub fn admin_tokens(&self) -> Arc<dyn AdminTokenStore> {
        match self {
            Self::Sqlite(s) => s.clone(),
        }
    }
    /// Discovered operations.
    pub fn discovery(&self) -> Arc<dyn DiscoveryStore> {
        match self {
            Self::Sqlite(s) => s.clone(),
        }
    }
    /// Quota counters.
    pub fn quotas(&self) -> Arc<dyn QuotaStore> {
        match self {
            Self::Sqlite(s) => s.clone(),
        }
    }
}
