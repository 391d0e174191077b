//! [`OwnershipStore`] on PostgreSQL: table `object_owners`.

use async_trait::async_trait;

use super::PostgresStore;
use crate::ownership::{ObjectKey, OwnershipStore, Recorded};
use crate::record::UnixTime;
use crate::store::StoreError;

/// Attempts of `record` before giving up on an object that keeps being
/// created and forgotten by others between its statement's steps.
const ATTEMPTS: usize = 4;

#[async_trait]
impl OwnershipStore for PostgresStore {
    async fn record(
        &self,
        object: &ObjectKey,
        consumer: &str,
        at: UnixTime,
    ) -> Result<Recorded, StoreError> {
        self.bounded(async {
            for _ in 0..ATTEMPTS {
                // One statement: insert unless owned, and the owner as of the
                // statement's start. Both empty means another node's record
                // landed (or went) meanwhile: ask again.
                let (inserted, owner): (bool, Option<String>) = sqlx::query_as(
                    "WITH ins AS (
                        INSERT INTO object_owners (api, kind, object_id, consumer_id, created_at)
                        VALUES ($1, $2, $3, $4, $5)
                        ON CONFLICT (api, kind, object_id) DO NOTHING
                        RETURNING 1
                     )
                     SELECT EXISTS (SELECT 1 FROM ins),
                            (SELECT consumer_id FROM object_owners
                             WHERE api = $1 AND kind = $2 AND object_id = $3)",
                )
                .bind(&object.api)
                .bind(&object.kind)
                .bind(&object.id)
                .bind(consumer)
                .bind(at)
                .fetch_one(self.pool())
                .await?;
                match (inserted, owner) {
                    (true, _) => return Ok(Recorded::New),
                    (false, Some(owner)) if owner == consumer => return Ok(Recorded::Unchanged),
                    (false, Some(owner)) => return Ok(Recorded::Conflict { owner }),
                    (false, None) => {}
                }
            }
            Err(StoreError::Unavailable(
                "the owner of an object kept changing while it was recorded".into(),
            ))
        })
        .await
    }

    async fn owner(&self, object: &ObjectKey) -> Result<Option<String>, StoreError> {
        self.bounded(async {
            Ok(sqlx::query_scalar(
                "SELECT consumer_id FROM object_owners WHERE api = $1 AND kind = $2 AND object_id = $3",
            )
            .bind(&object.api)
            .bind(&object.kind)
            .bind(&object.id)
            .fetch_optional(self.pool())
            .await?)
        })
        .await
    }

    async fn forget(&self, object: &ObjectKey) -> Result<bool, StoreError> {
        self.bounded(async {
            let removed = sqlx::query(
                "DELETE FROM object_owners WHERE api = $1 AND kind = $2 AND object_id = $3",
            )
            .bind(&object.api)
            .bind(&object.kind)
            .bind(&object.id)
            .execute(self.pool())
            .await?
            .rows_affected();
            Ok(removed > 0)
        })
        .await
    }
}
