//! The cluster's shared introspection answers: the Redis store of
//! moat-state behind the shared level the introspection verifier asks.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use moat_identity::introspection::{SharedAnswers, SharedAnswersError};
use moat_state::introspection::RedisIntrospectionCache;
use moat_state::redis_conn::RedisConn;

/// [`RedisIntrospectionCache`] as a [`SharedAnswers`].
struct RedisAnswers(RedisIntrospectionCache);

#[async_trait]
impl SharedAnswers for RedisAnswers {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, SharedAnswersError> {
        self.0
            .get(key)
            .await
            .map_err(|e| SharedAnswersError(e.to_string()))
    }

    async fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<(), SharedAnswersError> {
        self.0
            .put(key, &value, ttl)
            .await
            .map_err(|e| SharedAnswersError(e.to_string()))
    }
}

/// The shared answers of a cluster node, over its Redis connection.
pub(crate) fn over_redis(conn: RedisConn) -> Arc<dyn SharedAnswers> {
    Arc::new(RedisAnswers(RedisIntrospectionCache::new(conn)))
}
