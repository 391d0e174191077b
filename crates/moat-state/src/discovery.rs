//! Operations discovered in the gateway's own traffic (`discovery.capture`):
//! one row per API, method and operation template, with the merged shape
//! the gateway learned (parameter names and types, body schemas, statuses,
//! auth kinds, sensitive-data kinds) as JSON. The store keeps no value
//! from the traffic; it never sees one, only the shape the gateway built.

use async_trait::async_trait;

use crate::row::ReadRow;
use crate::sqlite::SqliteStore;
use crate::store::StoreError;

/// One discovered operation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredRow {
    /// The API's name.
    pub api: String,
    /// The HTTP method.
    pub method: String,
    /// The path template (`/things/{thingId}`).
    pub template: String,
    /// Sampled requests.
    pub requests: u64,
    /// The first sampled request (Unix ms).
    pub first_seen: i64,
    /// The last sampled request (Unix ms).
    pub last_seen: i64,
    /// The merged shape, as the gateway writes it (JSON).
    pub shape: String,
}

/// Where discovered operations are kept.
#[async_trait]
pub trait DiscoveryStore: Send + Sync {
    /// Every stored operation, by API, template and method.
    async fn discovered(&self) -> Result<Vec<DiscoveredRow>, StoreError>;

    /// Writes `rows` in one transaction, each replacing the stored row of
    /// its API, method and template (the gateway's aggregate starts from
    /// what was stored, so a row it writes holds the stored shape merged
    /// with what it saw since); first and last seen only widen.
    async fn save_discovered(&self, rows: &[DiscoveredRow]) -> Result<(), StoreError>;
}

/// A stored row of `discovered_operations`, in the column order of the
/// `SELECT` in [`DiscoveryStore::discovered`].
pub(crate) fn from_row(row: &impl ReadRow) -> Result<DiscoveredRow, StoreError> {
    let requests: i64 = row.col(3)?;
    Ok(DiscoveredRow {
        api: row.col(0)?,
        method: row.col(1)?,
        template: row.col(2)?,
        requests: u64::try_from(requests).unwrap_or(0),
        first_seen: row.col(4)?,
        last_seen: row.col(5)?,
        shape: row.col(6)?,
    })
}

#[async_trait]
impl DiscoveryStore for SqliteStore {
    async fn discovered(&self) -> Result<Vec<DiscoveredRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT api, method, template, requests, first_seen, last_seen, shape \
             FROM discovered_operations ORDER BY api, template, method",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    async fn save_discovered(&self, rows: &[DiscoveredRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = crate::sqlite_write::WriteTx::begin(self.pool()).await?;
        for row in rows {
            sqlx::query(
                "INSERT INTO discovered_operations \
                 (api, method, template, requests, first_seen, last_seen, shape) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (api, method, template) DO UPDATE SET \
                 requests = excluded.requests, \
                 first_seen = min(first_seen, excluded.first_seen), \
                 last_seen = max(last_seen, excluded.last_seen), \
                 shape = excluded.shape",
            )
            .bind(&row.api)
            .bind(&row.method)
            .bind(&row.template)
            .bind(i64::try_from(row.requests).unwrap_or(i64::MAX))
            .bind(row.first_seen)
            .bind(row.last_seen)
            .bind(&row.shape)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(template: &str, requests: u64, first: i64, last: i64, shape: &str) -> DiscoveredRow {
        DiscoveredRow {
            api: "shop".into(),
            method: "GET".into(),
            template: template.into(),
            requests,
            first_seen: first,
            last_seen: last,
            shape: shape.into(),
        }
    }

    #[tokio::test]
    async fn rows_are_replaced_by_key_and_kept_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let store = SqliteStore::open(&path).await.unwrap();
        store
            .save_discovered(&[row("/a", 1, 10, 10, "{}"), row("/b/{id}", 2, 5, 6, "{}")])
            .await
            .unwrap();
        store
            .save_discovered(&[row("/a", 3, 20, 30, r#"{"n":3}"#)])
            .await
            .unwrap();
        store.close().await;
        let store = SqliteStore::open(&path).await.unwrap();
        let rows = store.discovered().await.unwrap();
        assert_eq!(
            rows,
            vec![
                row("/a", 3, 10, 30, r#"{"n":3}"#),
                row("/b/{id}", 2, 5, 6, "{}")
            ]
        );
    }
}
