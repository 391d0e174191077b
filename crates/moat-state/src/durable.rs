//! The durable store a gateway or a CLI opens: the SQLite file (embedded)
//! or PostgreSQL (cluster), behind the store traits.

use std::path::PathBuf;
use std::sync::Arc;

use crate::admin_tokens::AdminTokenStore;
use crate::bans::BanStore;
use crate::discovery::DiscoveryStore;
use crate::events::EventStore;
use crate::limits::QuotaStore;
use crate::ownership::OwnershipStore;
use crate::postgres::{PostgresOptions, PostgresStore};
use crate::sqlite::SqliteStore;
use crate::store::{KeyStore, StoreError};

/// Which durable store to open.
#[derive(Debug, Clone)]
pub enum DurableTarget {
    /// A SQLite file, created and migrated when opened.
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres {
        /// Where it is and how to use it.
        options: PostgresOptions,
        /// Migrate when opening; otherwise an out-of-date schema is
        /// refused until `moat db migrate` has run.
        migrate: bool,
    },
}

/// Where durable state lives.
#[derive(Debug, Clone)]
pub enum DurableStore {
    /// One SQLite file (`state.backend: embedded`).
    Sqlite(Arc<SqliteStore>),
    /// PostgreSQL shared by the nodes of a cluster (`state.backend: cluster`).
    Postgres(Arc<PostgresStore>),
}

macro_rules! accessor {
    ($(#[$doc:meta])* $name:ident, $trait:path) => {
        $(#[$doc])*
        pub fn $name(&self) -> Arc<dyn $trait> {
            match self {
                DurableStore::Sqlite(s) => Arc::clone(s) as Arc<dyn $trait>,
                DurableStore::Postgres(p) => Arc::clone(p) as Arc<dyn $trait>,
            }
        }
    };
}

impl DurableStore {
    /// Opens `target`: creates and migrates a SQLite file; connects to
    /// PostgreSQL and migrates it, or checks its schema is current.
    pub async fn open(target: &DurableTarget) -> Result<Self, StoreError> {
        match target {
            DurableTarget::Sqlite(path) => Ok(DurableStore::Sqlite(Arc::new(
                SqliteStore::open(path).await?,
            ))),
            DurableTarget::Postgres { options, migrate } => {
                let store = PostgresStore::connect(options).await?;
                if *migrate {
                    store.migrate().await?;
                } else {
                    let (found, supported) = store.schema_state().await?;
                    if found < supported {
                        return Err(StoreError::OutdatedSchema { found, supported });
                    }
                    if found > supported {
                        return Err(StoreError::NewerSchema { found, supported });
                    }
                }
                Ok(DurableStore::Postgres(Arc::new(store)))
            }
        }
    }

    accessor!(
        /// API keys.
        keys, KeyStore
    );
    accessor!(
        /// Learned object owners.
        owners, OwnershipStore
    );
    accessor!(
        /// Bans.
        bans, BanStore
    );
    accessor!(
        /// Security events and the audit chain.
        events, EventStore
    );
    accessor!(
        /// Admin tokens.
        admin_tokens, AdminTokenStore
    );
    accessor!(
        /// Discovered operations.
        discovery, DiscoveryStore
    );
    accessor!(
        /// Quota counters.
        quotas, QuotaStore
    );

    /// One round trip to the store (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            DurableStore::Sqlite(s) => s.ping().await,
            DurableStore::Postgres(p) => p.ping().await,
        }
    }

    /// Brings the schema up to date; `(from, to)` versions. The SQLite
    /// file is migrated when opened, so for it both are the current
    /// version.
    pub async fn migrate(&self) -> Result<(i64, i64), StoreError> {
        match self {
            DurableStore::Sqlite(s) => {
                let (found, _) = s.schema_state().await?;
                Ok((found, found))
            }
            DurableStore::Postgres(p) => p.migrate().await,
        }
    }

    /// `(found, supported)` schema versions.
    pub async fn schema_state(&self) -> Result<(i64, i64), StoreError> {
        match self {
            DurableStore::Sqlite(s) => s.schema_state().await,
            DurableStore::Postgres(p) => p.schema_state().await,
        }
    }

    /// `SQLite file moat.db` or `PostgreSQL 127.0.0.1:5432/moat`, for
    /// messages: never a password.
    pub fn name(&self) -> String {
        match self {
            DurableStore::Sqlite(s) => format!("SQLite file {}", s.path().display()),
            DurableStore::Postgres(p) => p.name().to_string(),
        }
    }

    /// Closes the store's connections.
    pub async fn close(&self) {
        match self {
            DurableStore::Sqlite(s) => s.close().await,
            DurableStore::Postgres(p) => p.close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn both_backends_answer_through_one_type() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let sqlite = DurableStore::Sqlite(Arc::new(SqliteStore::open(&path).await.unwrap()));
        let (server, pg) = crate::tests::postgres().await;
        let pg = DurableStore::Postgres(Arc::new(pg));
        assert_eq!(sqlite.name(), format!("SQLite file {}", path.display()));
        assert_eq!(
            pg.name(),
            format!("PostgreSQL 127.0.0.1:{}/moat", server.port())
        );
        for store in [&sqlite, &pg] {
            store.ping().await.unwrap();
            let (found, supported) = store.schema_state().await.unwrap();
            assert_eq!(found, supported);
            assert_eq!(store.migrate().await.unwrap(), (found, found));
            assert!(store.keys().list(None).await.unwrap().is_empty());
            assert!(store.bans().list(0).await.unwrap().is_empty());
            assert!(store.discovery().discovered().await.unwrap().is_empty());
            assert!(store.admin_tokens().list_tokens().await.unwrap().is_empty());
            assert_eq!(store.events().append(&[]).await.unwrap(), 0);
            let object = crate::ObjectKey {
                api: "a".into(),
                kind: "k".into(),
                id: "1".into(),
            };
            assert_eq!(store.owners().owner(&object).await.unwrap(), None);
            assert!(store.quotas().acquire(&[]).await.unwrap().is_empty());
        }
        pg.close().await;
        assert!(matches!(pg.ping().await, Err(StoreError::Unavailable(_))));
    }
}
