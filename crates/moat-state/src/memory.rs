//! An in-process key store, for tests of the crates that use keys.
//!
//! Same semantics as the SQLite store, nothing persisted.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use async_trait::async_trait;

use crate::record::{KeyRecord, UnixTime};
use crate::store::{KeyStore, StoreError};

/// Keys in a hash map behind a read-write lock.
#[derive(Debug, Default)]
pub struct MemoryStore {
    keys: RwLock<HashMap<String, KeyRecord>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    // A panic while holding the lock cannot leave a record half-written
    // (every update is a single assignment), so a poisoned lock is still
    // consistent and is used as is.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, KeyRecord>> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, KeyRecord>> {
        self.keys.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn insert(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let mut keys = self.write();
        if keys.contains_key(&record.key_id) {
            return Err(StoreError::Duplicate(record.key_id.clone()));
        }
        keys.insert(record.key_id.clone(), record.clone());
        Ok(())
    }

    async fn get(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.read().get(key_id).cloned())
    }

    async fn list(&self, consumer_id: Option<&str>) -> Result<Vec<KeyRecord>, StoreError> {
        let mut out: Vec<KeyRecord> = self
            .read()
            .values()
            .filter(|r| consumer_id.is_none_or(|c| r.consumer_id == c))
            .cloned()
            .collect();
        out.sort_by(|a, b| (a.created_at, &a.key_id).cmp(&(b.created_at, &b.key_id)));
        Ok(out)
    }

    async fn revoke(&self, key_id: &str, at: UnixTime) -> Result<bool, StoreError> {
        Ok(match self.write().get_mut(key_id) {
            Some(r) => {
                r.revoked_at.get_or_insert(at);
                true
            }
            None => false,
        })
    }

    async fn set_expiry(
        &self,
        key_id: &str,
        expires_at: Option<UnixTime>,
    ) -> Result<bool, StoreError> {
        Ok(match self.write().get_mut(key_id) {
            Some(r) => {
                r.expires_at = expires_at;
                true
            }
            None => false,
        })
    }

    async fn rotate(
        &self,
        old_key_id: &str,
        old_deadline: UnixTime,
        new: &KeyRecord,
    ) -> Result<bool, StoreError> {
        let mut keys = self.write();
        if keys.contains_key(&new.key_id) {
            return Err(StoreError::Duplicate(new.key_id.clone()));
        }
        let Some(old) = keys.get_mut(old_key_id) else {
            return Ok(false);
        };
        if old.revoked_at.is_some() {
            return Ok(false);
        }
        old.expires_at = Some(old.expires_at.map_or(old_deadline, |t| t.min(old_deadline)));
        keys.insert(new.key_id.clone(), new.clone());
        Ok(true)
    }

    async fn record_last_used(&self, uses: &[(String, UnixTime)]) -> Result<(), StoreError> {
        let mut keys = self.write();
        for (key_id, at) in uses {
            if let Some(r) = keys.get_mut(key_id) {
                r.last_used_at = Some(r.last_used_at.map_or(*at, |t| t.max(*at)));
            }
        }
        Ok(())
    }
}
