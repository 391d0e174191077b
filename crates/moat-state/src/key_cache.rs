//! A bounded cache of API key records in front of a [`KeyStore`], so that
//! verifying a key costs no database round trip per request.
//!
//! Freshness has three bounds:
//!
//! - a cached record is read from the store again once it is older than
//!   `revalidate` (1 s by default), so a revocation written by any process
//!   (another node, `moat keys revoke`) applies everywhere within that
//!   time, notices or not;
//! - a notice ([`CachedKeyStore::invalidate`]) drops a record at once: the
//!   next request reads the store, and is refused as unavailable rather
//!   than served a stale copy if the store cannot answer;
//! - while the store cannot answer, a record read less than
//!   `stale_if_error` ago keeps working, so a database outage does not
//!   lock every client out; older ones are refused as unavailable.
//!
//! Unknown key ids are not cached: a key created on another node works on
//! its first request here. Writes go through to the store and drop the
//! records they touch.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::record::{KeyRecord, UnixTime};
use crate::store::{KeyStore, StoreError};

/// How long cached records are trusted, and how many are kept.
#[derive(Debug, Clone, Copy)]
pub struct KeyCacheSettings {
    /// Age after which a record is read from the store again.
    pub revalidate: Duration,
    /// Age up to which a record is still used while the store fails.
    pub stale_if_error: Duration,
    /// Most records kept (least recently used dropped first).
    pub max_entries: u64,
}

impl Default for KeyCacheSettings {
    fn default() -> Self {
        Self {
            revalidate: Duration::from_secs(1),
            stale_if_error: Duration::from_secs(300),
            max_entries: 100_000,
        }
    }
}

/// Where a verification's record came from: what the cache's counters
/// (and metrics) report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLookup {
    /// A record fresh enough to use as is.
    Hit,
    /// Read from the store (not cached, too old, or invalidated).
    Miss,
    /// The store failed; a record within `stale_if_error` was used.
    Stale,
}

struct Cached {
    record: KeyRecord,
    read_at: Instant,
    /// The cache's epoch when read: a resync moves the epoch on, which
    /// makes every record due for revalidation without dropping the stale
    /// copies an outage may need.
    epoch: u64,
}

/// A [`KeyStore`] that caches records of another; see the module docs.
pub struct CachedKeyStore {
    inner: Arc<dyn KeyStore>,
    records: moka::sync::Cache<String, Arc<Cached>>,
    settings: KeyCacheSettings,
    epoch: AtomicU64,
    observer: Option<Arc<dyn Fn(KeyLookup) + Send + Sync>>,
}

impl CachedKeyStore {
    /// A cache in front of `inner`.
    pub fn new(inner: Arc<dyn KeyStore>, settings: KeyCacheSettings) -> Self {
        Self {
            inner,
            records: moka::sync::Cache::builder()
                .max_capacity(settings.max_entries)
                .build(),
            settings,
            epoch: AtomicU64::new(0),
            observer: None,
        }
    }

    /// Calls `observer` with the outcome of every lookup (for metrics).
    pub fn with_observer(mut self, observer: Arc<dyn Fn(KeyLookup) + Send + Sync>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The store behind the cache.
    pub fn inner(&self) -> &Arc<dyn KeyStore> {
        &self.inner
    }

    /// Drops one key's record: it was revoked, rotated or changed
    /// elsewhere.
    pub fn invalidate(&self, key_id: &str) {
        self.records.invalidate(key_id);
    }

    /// Makes every record due for revalidation, keeping the copies that
    /// `stale_if_error` may still serve: after notices may have been lost.
    pub fn resync(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Records held (approximate: eviction is lazy).
    pub fn len(&self) -> u64 {
        self.records.run_pending_tasks();
        self.records.entry_count()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn observe(&self, lookup: KeyLookup) {
        if let Some(observer) = &self.observer {
            observer(lookup);
        }
    }
}

#[async_trait]
impl KeyStore for CachedKeyStore {
    async fn insert(&self, record: &KeyRecord) -> Result<(), StoreError> {
        self.inner.insert(record).await
    }

    async fn get(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let cached = self.records.get(key_id);
        let epoch = self.epoch.load(Ordering::Acquire);
        if let Some(c) = &cached
            && c.epoch == epoch
            && c.read_at.elapsed() < self.settings.revalidate
        {
            self.observe(KeyLookup::Hit);
            return Ok(Some(c.record.clone()));
        }
        match self.inner.get(key_id).await {
            Ok(Some(record)) => {
                self.observe(KeyLookup::Miss);
                let entry = Cached {
                    record: record.clone(),
                    read_at: Instant::now(),
                    epoch,
                };
                self.records.insert(key_id.to_string(), Arc::new(entry));
                Ok(Some(record))
            }
            Ok(None) => {
                self.observe(KeyLookup::Miss);
                self.records.invalidate(key_id);
                Ok(None)
            }
            Err(e) => match cached {
                Some(c) if c.read_at.elapsed() < self.settings.stale_if_error => {
                    self.observe(KeyLookup::Stale);
                    Ok(Some(c.record.clone()))
                }
                _ => Err(e),
            },
        }
    }

    async fn list(&self, consumer_id: Option<&str>) -> Result<Vec<KeyRecord>, StoreError> {
        self.inner.list(consumer_id).await
    }

    async fn revoke(&self, key_id: &str, at: UnixTime) -> Result<bool, StoreError> {
        let result = self.inner.revoke(key_id, at).await;
        self.invalidate(key_id);
        result
    }

    async fn set_expiry(
        &self,
        key_id: &str,
        expires_at: Option<UnixTime>,
    ) -> Result<bool, StoreError> {
        let result = self.inner.set_expiry(key_id, expires_at).await;
        self.invalidate(key_id);
        result
    }

    async fn rotate(
        &self,
        old_key_id: &str,
        old_deadline: UnixTime,
        new: &KeyRecord,
    ) -> Result<bool, StoreError> {
        let result = self.inner.rotate(old_key_id, old_deadline, new).await;
        self.invalidate(old_key_id);
        result
    }

    async fn record_last_used(&self, uses: &[(String, UnixTime)]) -> Result<(), StoreError> {
        self.inner.record_last_used(uses).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::memory::MemoryStore;

    /// A store that counts reads and can be made to fail.
    struct Flaky {
        inner: MemoryStore,
        reads: AtomicUsize,
        down: AtomicBool,
    }

    #[async_trait]
    impl KeyStore for Flaky {
        async fn insert(&self, record: &KeyRecord) -> Result<(), StoreError> {
            self.inner.insert(record).await
        }
        async fn get(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::Redis("down".into()));
            }
            self.inner.get(key_id).await
        }
        async fn list(&self, c: Option<&str>) -> Result<Vec<KeyRecord>, StoreError> {
            self.inner.list(c).await
        }
        async fn revoke(&self, key_id: &str, at: UnixTime) -> Result<bool, StoreError> {
            self.inner.revoke(key_id, at).await
        }
        async fn set_expiry(&self, k: &str, e: Option<UnixTime>) -> Result<bool, StoreError> {
            self.inner.set_expiry(k, e).await
        }
        async fn rotate(&self, o: &str, d: UnixTime, n: &KeyRecord) -> Result<bool, StoreError> {
            self.inner.rotate(o, d, n).await
        }
        async fn record_last_used(&self, u: &[(String, UnixTime)]) -> Result<(), StoreError> {
            self.inner.record_last_used(u).await
        }
    }

    fn record(id: &str) -> KeyRecord {
        KeyRecord {
            key_id: id.into(),
            consumer_id: "alice".into(),
            name: None,
            scopes: vec![],
            secret_hash: vec![0; 32],
            created_at: 1,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
            rotated_from: None,
        }
    }

    async fn setup() -> (Arc<Flaky>, CachedKeyStore) {
        let flaky = Arc::new(Flaky {
            inner: MemoryStore::new(),
            reads: AtomicUsize::new(0),
            down: AtomicBool::new(false),
        });
        flaky.insert(&record("k1")).await.unwrap();
        let settings = KeyCacheSettings {
            revalidate: Duration::from_secs(1),
            stale_if_error: Duration::from_secs(10),
            max_entries: 100,
        };
        let store: Arc<dyn KeyStore> = flaky.clone();
        (flaky, CachedKeyStore::new(store, settings))
    }

    #[tokio::test(start_paused = true)]
    async fn reads_the_store_once_per_revalidation_period() {
        let (flaky, cache) = setup().await;
        for _ in 0..100 {
            assert!(cache.get("k1").await.unwrap().is_some());
        }
        assert_eq!(flaky.reads.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_millis(1001)).await;
        cache.get("k1").await.unwrap();
        assert_eq!(flaky.reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_revocation_elsewhere_shows_after_revalidate_and_at_once_when_notified() {
        let (flaky, cache) = setup().await;
        cache.get("k1").await.unwrap();
        flaky.inner.revoke("k1", 5).await.unwrap();
        // Not notified: the cached copy is served until it is due.
        assert_eq!(cache.get("k1").await.unwrap().unwrap().revoked_at, None);
        tokio::time::advance(Duration::from_millis(1001)).await;
        assert_eq!(cache.get("k1").await.unwrap().unwrap().revoked_at, Some(5));

        flaky.insert(&record("k2")).await.unwrap();
        cache.get("k2").await.unwrap();
        flaky.inner.revoke("k2", 6).await.unwrap();
        cache.invalidate("k2");
        assert_eq!(cache.get("k2").await.unwrap().unwrap().revoked_at, Some(6));
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_serves_stale_copies_for_a_bounded_time() {
        let (flaky, cache) = setup().await;
        cache.get("k1").await.unwrap();
        flaky.down.store(true, Ordering::SeqCst);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(cache.get("k1").await.unwrap().is_some(), "stale copy used");
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(cache.get("k1").await.is_err(), "too old to trust");
        // An unknown key is never answered from nothing.
        assert!(cache.get("k9").await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn resync_revalidates_but_keeps_copies_for_an_outage() {
        let (flaky, cache) = setup().await;
        cache.get("k1").await.unwrap();
        cache.resync();
        cache.get("k1").await.unwrap();
        assert_eq!(
            flaky.reads.load(Ordering::SeqCst),
            2,
            "resync forces a read"
        );
        cache.resync();
        flaky.down.store(true, Ordering::SeqCst);
        assert!(cache.get("k1").await.unwrap().is_some());
        // A notified change is never served from a stale copy.
        cache.invalidate("k1");
        assert!(cache.get("k1").await.is_err());
    }

    #[tokio::test]
    async fn writes_through_the_cache_drop_the_record() {
        let (_flaky, cache) = setup().await;
        cache.get("k1").await.unwrap();
        assert!(cache.revoke("k1", 9).await.unwrap());
        assert_eq!(cache.get("k1").await.unwrap().unwrap().revoked_at, Some(9));
        assert!(cache.get("nope").await.unwrap().is_none());
    }
}
