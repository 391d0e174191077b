//! [`QuotaStore`] on PostgreSQL: table `quota_windows`, shared by every
//! node, so a quota counts the cluster's requests.

use async_trait::async_trait;

use super::PostgresStore;
use crate::limits::{LimitCheck, LimitDecision, QuotaStore, SlidingWindow, WindowState};
use crate::store::StoreError;

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[async_trait]
impl QuotaStore for PostgresStore {
    async fn acquire(
        &self,
        checks: &[LimitCheck<SlidingWindow>],
    ) -> Result<Vec<LimitDecision>, StoreError> {
        self.bounded(async {
            let now = crate::limits::unix_nanos();
            let mut keys: Vec<&str> = checks.iter().map(|c| c.key.as_str()).collect();
            keys.sort_unstable();
            keys.dedup();
            let mut tx = self.pool().begin().await?;
            // Every counter exists and is locked, in key order, before any is
            // read: two nodes counting the same new key cannot both start from
            // zero, and overlapping requests cannot deadlock. An empty row is
            // the zero state and already expired, so a sweep removes it.
            sqlx::query(
                "INSERT INTO quota_windows (key, window_index, current, previous, expires_at)
                 SELECT k, 0, 0, 0, 0 FROM UNNEST($1::text[]) AS k ORDER BY k
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(&keys)
            .execute(&mut *tx)
            .await?;
            let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
                "SELECT key, window_index, current, previous FROM quota_windows
                 WHERE key = ANY($1) ORDER BY key FOR UPDATE",
            )
            .bind(&keys)
            .fetch_all(&mut *tx)
            .await?;
            let state = |key: &str| {
                rows.iter()
                    .find(|r| r.0 == key)
                    .map(|&(_, i, c, p)| WindowState {
                        index: to_u64(i),
                        current: to_u64(c),
                        previous: to_u64(p),
                    })
                    .unwrap_or_default()
            };
            let outcomes: Vec<_> = checks
                .iter()
                .map(|c| c.rule.decide(state(&c.key), now, c.cost))
                .collect();
            if outcomes.iter().all(|o| o.decision.allowed) {
                for (c, o) in checks.iter().zip(&outcomes) {
                    let expires = (o.state.index + 2).saturating_mul(c.rule.window);
                    sqlx::query(
                        "UPDATE quota_windows SET window_index = $2, current = $3, previous = $4,
                            expires_at = $5 WHERE key = $1",
                    )
                    .bind(&c.key)
                    .bind(to_i64(o.state.index))
                    .bind(to_i64(o.state.current))
                    .bind(to_i64(o.state.previous))
                    .bind(to_i64(expires))
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
            Ok(outcomes.into_iter().map(|o| o.decision).collect())
        })
        .await
    }
}

impl PostgresStore {
    /// Deletes quota counters whose windows have both passed; how many.
    pub async fn sweep_quotas(&self) -> Result<u64, StoreError> {
        let now = to_i64(crate::limits::unix_nanos());
        Ok(
            sqlx::query("DELETE FROM quota_windows WHERE expires_at <= $1")
                .bind(now)
                .execute(self.pool())
                .await?
                .rows_affected(),
        )
    }
}
