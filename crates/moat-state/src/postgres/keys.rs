//! [`KeyStore`] on PostgreSQL: table `api_keys`.

use async_trait::async_trait;

use super::PostgresStore;
use crate::record::{KeyRecord, UnixTime};
use crate::sqlite::from_row;
use crate::store::{KeyStore, StoreError};

/// The columns of a [`KeyRecord`], in the order `from_row` reads them.
macro_rules! columns {
    () => {
        "key_id, consumer_id, name, scopes, secret_hash, created_at, \
         expires_at, last_used_at, revoked_at, rotated_from"
    };
}

async fn insert_in<'c, E>(executor: E, r: &KeyRecord) -> Result<(), StoreError>
where
    E: sqlx::PgExecutor<'c>,
{
    let result = sqlx::query(concat!(
        "INSERT INTO api_keys (",
        columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(&r.key_id)
    .bind(&r.consumer_id)
    .bind(&r.name)
    .bind(r.scopes.join(" "))
    .bind(&r.secret_hash)
    .bind(r.created_at)
    .bind(r.expires_at)
    .bind(r.last_used_at)
    .bind(r.revoked_at)
    .bind(&r.rotated_from)
    .execute(executor)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(StoreError::Duplicate(r.key_id.clone()))
        }
        Err(e) => Err(e.into()),
    }
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn insert(&self, record: &KeyRecord) -> Result<(), StoreError> {
        self.bounded(async { insert_in(self.pool(), record).await })
            .await
    }

    async fn get(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.bounded(async {
            sqlx::query(concat!(
                "SELECT ",
                columns!(),
                " FROM api_keys WHERE key_id = $1"
            ))
            .bind(key_id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
        })
        .await
    }

    async fn list(&self, consumer_id: Option<&str>) -> Result<Vec<KeyRecord>, StoreError> {
        self.bounded(async {
            sqlx::query(concat!(
                "SELECT ",
                columns!(),
                " FROM api_keys WHERE $1::text IS NULL OR consumer_id = $1 \
                 ORDER BY created_at, key_id"
            ))
            .bind(consumer_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(from_row)
            .collect()
        })
        .await
    }

    async fn revoke(&self, key_id: &str, at: UnixTime) -> Result<bool, StoreError> {
        self.bounded(async {
            let done = sqlx::query(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE key_id = $1",
            )
            .bind(key_id)
            .bind(at)
            .execute(self.pool())
            .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    async fn set_expiry(
        &self,
        key_id: &str,
        expires_at: Option<UnixTime>,
    ) -> Result<bool, StoreError> {
        self.bounded(async {
            let done = sqlx::query("UPDATE api_keys SET expires_at = $2 WHERE key_id = $1")
                .bind(key_id)
                .bind(expires_at)
                .execute(self.pool())
                .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    async fn rotate(
        &self,
        old_key_id: &str,
        old_deadline: UnixTime,
        new: &KeyRecord,
    ) -> Result<bool, StoreError> {
        self.bounded(async {
            let mut tx = self.pool().begin().await?;
            // The row lock this takes keeps a concurrent revocation from
            // slipping in between the check and the insert.
            let done = sqlx::query(
                "UPDATE api_keys SET expires_at = LEAST(COALESCE(expires_at, $2), $2) \
                 WHERE key_id = $1 AND revoked_at IS NULL",
            )
            .bind(old_key_id)
            .bind(old_deadline)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            insert_in(&mut *tx, new).await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    async fn record_last_used(&self, uses: &[(String, UnixTime)]) -> Result<(), StoreError> {
        self.bounded(async {
            if uses.is_empty() {
                return Ok(());
            }
            let (ids, times): (Vec<&str>, Vec<UnixTime>) =
                uses.iter().map(|(id, at)| (id.as_str(), *at)).unzip();
            // One statement: the latest time per key, rows locked in key order
            // (so two nodes flushing overlapping batches cannot deadlock),
            // never moving a time backwards.
            sqlx::query(
                "WITH latest AS (
                    SELECT id, MAX(at) AS at FROM UNNEST($1::text[], $2::bigint[]) AS u(id, at)
                    GROUP BY id
                 ), locked AS (
                    SELECT k.key_id, l.at FROM api_keys k JOIN latest l ON l.id = k.key_id
                    ORDER BY k.key_id FOR UPDATE OF k
                 )
                 UPDATE api_keys SET last_used_at = GREATEST(COALESCE(last_used_at, locked.at), locked.at)
                 FROM locked WHERE api_keys.key_id = locked.key_id",
            )
            .bind(ids)
            .bind(times)
            .execute(self.pool())
            .await?;
            Ok(())
        })
        .await
    }
}
