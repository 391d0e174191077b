//! Learned object ownership (object-level authorization, OWASP API1).
//!
//! When a consumer creates an object through the gateway, the object's id
//! is recorded as theirs; later requests naming that id are checked against
//! the record. The store only keeps `(api, kind, id) → owner`; deciding who
//! may access what is the guard's job.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use async_trait::async_trait;

use crate::record::UnixTime;
use crate::store::StoreError;

/// Names one object: the API it belongs to, its kind (the learning rule's
/// name, e.g. `order`), and the id the upstream gave it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    /// The API's name in the config.
    pub api: String,
    /// The kind of object.
    pub kind: String,
    /// The object's id, as text.
    pub id: String,
}

/// What [`OwnershipStore::record`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The object had no owner; now it has this one.
    New,
    /// The same consumer already owned it (a retried create).
    Unchanged,
    /// Another consumer already owns it; the record was kept. The upstream
    /// answered a create with an id that exists, which deserves a look.
    Conflict {
        /// The consumer the record names.
        owner: String,
    },
}

/// Storage of learned object owners.
///
/// Records are never overwritten by another consumer: the first owner of
/// an id keeps it until the object is forgotten (a successful delete).
#[async_trait]
pub trait OwnershipStore: Send + Sync {
    /// Records `consumer` as the owner of `object`, unless someone already is.
    async fn record(
        &self,
        object: &ObjectKey,
        consumer: &str,
        at: UnixTime,
    ) -> Result<Recorded, StoreError>;

    /// The owner of `object`, if one was learned.
    async fn owner(&self, object: &ObjectKey) -> Result<Option<String>, StoreError>;

    /// Forgets `object` (it was deleted). `false` when there was no record.
    async fn forget(&self, object: &ObjectKey) -> Result<bool, StoreError>;
}

/// Owners in a hash map, for tests and single-process runs without a file.
#[derive(Debug, Default)]
pub struct MemoryOwnership {
    owners: RwLock<HashMap<ObjectKey, String>>,
}

impl MemoryOwnership {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl OwnershipStore for MemoryOwnership {
    async fn record(
        &self,
        object: &ObjectKey,
        consumer: &str,
        _at: UnixTime,
    ) -> Result<Recorded, StoreError> {
        // Every update is one map operation: a poisoned lock is consistent.
        let mut owners = self.owners.write().unwrap_or_else(PoisonError::into_inner);
        Ok(match owners.get(object) {
            Some(owner) if owner == consumer => Recorded::Unchanged,
            Some(owner) => Recorded::Conflict {
                owner: owner.clone(),
            },
            None => {
                owners.insert(object.clone(), consumer.to_string());
                Recorded::New
            }
        })
    }

    async fn owner(&self, object: &ObjectKey) -> Result<Option<String>, StoreError> {
        let owners = self.owners.read().unwrap_or_else(PoisonError::into_inner);
        Ok(owners.get(object).cloned())
    }

    async fn forget(&self, object: &ObjectKey) -> Result<bool, StoreError> {
        let mut owners = self.owners.write().unwrap_or_else(PoisonError::into_inner);
        Ok(owners.remove(object).is_some())
    }
}
