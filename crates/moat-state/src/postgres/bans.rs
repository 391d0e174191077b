//! [`BanStore`] on PostgreSQL: table `bans`, read by every node.

use async_trait::async_trait;

use super::PostgresStore;
use crate::bans::{Ban, BanStore, BanSubject};
use crate::record::UnixTime;
use crate::sqlite::ban_from_row;
use crate::store::StoreError;

#[async_trait]
impl BanStore for PostgresStore {
    async fn add(&self, ban: &Ban) -> Result<bool, StoreError> {
        self.bounded(async {
            // One statement: replace the stored ban only when it has ended by
            // the new one's start or ends sooner than the new one.
            let stored = sqlx::query(
                "INSERT INTO bans (subject, reason, source, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (subject) DO UPDATE SET reason = excluded.reason,
                    source = excluded.source, created_at = excluded.created_at,
                    expires_at = excluded.expires_at
                 WHERE bans.expires_at IS NOT NULL
                   AND (bans.expires_at <= excluded.created_at
                        OR excluded.expires_at IS NULL
                        OR excluded.expires_at > bans.expires_at)",
            )
            .bind(ban.subject.key())
            .bind(&ban.reason)
            .bind(&ban.source)
            .bind(ban.created_at)
            .bind(ban.expires_at)
            .execute(self.pool())
            .await?
            .rows_affected();
            Ok(stored > 0)
        })
        .await
    }

    async fn remove(&self, subject: &BanSubject) -> Result<bool, StoreError> {
        self.bounded(async {
            let removed = sqlx::query("DELETE FROM bans WHERE subject = $1")
                .bind(subject.key())
                .execute(self.pool())
                .await?
                .rows_affected();
            Ok(removed > 0)
        })
        .await
    }

    async fn list(&self, now: UnixTime) -> Result<Vec<Ban>, StoreError> {
        self.bounded(async {
            sqlx::query(
                "SELECT subject, reason, source, created_at, expires_at FROM bans
                 WHERE expires_at IS NULL OR expires_at > $1
                 ORDER BY created_at, subject",
            )
            .bind(now)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(ban_from_row)
            .collect()
        })
        .await
    }

    async fn active(&self, subject: &BanSubject, now: UnixTime) -> Result<Option<Ban>, StoreError> {
        self.bounded(async {
            sqlx::query(
                "SELECT subject, reason, source, created_at, expires_at FROM bans
                 WHERE subject = $1 AND (expires_at IS NULL OR expires_at > $2)",
            )
            .bind(subject.key())
            .bind(now)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(ban_from_row)
            .transpose()
        })
        .await
    }

    async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.bounded(async {
            Ok(
                sqlx::query("DELETE FROM bans WHERE expires_at IS NOT NULL AND expires_at <= $1")
                    .bind(now)
                    .execute(self.pool())
                    .await?
                    .rows_affected(),
            )
        })
        .await
    }
}
