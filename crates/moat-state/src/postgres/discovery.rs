//! [`DiscoveryStore`] on PostgreSQL: table `discovered_operations`, where
//! every node merges what it saw.

use async_trait::async_trait;

use super::PostgresStore;
use crate::discovery::{DiscoveredRow, DiscoveryStore, from_row};
use crate::store::StoreError;

#[async_trait]
impl DiscoveryStore for PostgresStore {
    async fn discovered(&self) -> Result<Vec<DiscoveredRow>, StoreError> {
        self.bounded(async {
            sqlx::query(
                "SELECT api, method, template, requests, first_seen, last_seen, shape \
                 FROM discovered_operations ORDER BY api, template, method",
            )
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(from_row)
            .collect()
        })
        .await
    }

    async fn save_discovered(&self, rows: &[DiscoveredRow]) -> Result<(), StoreError> {
        self.bounded(async {
            if rows.is_empty() {
                return Ok(());
            }
            let mut tx = self.pool().begin().await?;
            for row in rows {
                sqlx::query(
                    "INSERT INTO discovered_operations \
                     (api, method, template, requests, first_seen, last_seen, shape) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (api, method, template) DO UPDATE SET \
                     requests = excluded.requests, \
                     first_seen = LEAST(discovered_operations.first_seen, excluded.first_seen), \
                     last_seen = GREATEST(discovered_operations.last_seen, excluded.last_seen), \
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
        })
        .await
    }
}
