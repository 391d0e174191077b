//! [`AdminTokenStore`] on PostgreSQL: table `admin_tokens`, so a token
//! works on every node.

use async_trait::async_trait;
use sqlx::Row;

use super::PostgresStore;
use crate::admin_tokens::{
    AdminRole, AdminTokenRecord, AdminTokenStore, IssuedToken, accept, check_name, from_row,
    generate, issued, token_hash, token_id,
};
use crate::record::UnixTime;
use crate::store::StoreError;

/// The columns of an [`AdminTokenRecord`] (and the hash, last).
macro_rules! token_columns {
    () => {
        "id, name, role, created_at, last_used_at, revoked_at, token_hash"
    };
}

#[async_trait]
impl AdminTokenStore for PostgresStore {
    async fn create_token(
        &self,
        name: &str,
        role: AdminRole,
        now: UnixTime,
    ) -> Result<(AdminTokenRecord, IssuedToken), StoreError> {
        self.bounded(async {
            check_name(name)?;
            let (id, token) = generate()?;
            let inserted = sqlx::query(
                "INSERT INTO admin_tokens (id, name, role, token_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&id)
            .bind(name)
            .bind(role.as_str())
            .bind(token_hash(&token))
            .bind(now)
            .execute(self.pool())
            .await;
            match inserted {
                Ok(_) => {}
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Err(StoreError::NameTaken(name.to_string()));
                }
                Err(e) => return Err(e.into()),
            }
            Ok(issued(id, name, role, now, token))
        })
        .await
    }

    async fn verify_token(
        &self,
        token: &str,
        now: UnixTime,
    ) -> Result<Option<AdminTokenRecord>, StoreError> {
        self.bounded(async {
            let Some(id) = token_id(token) else {
                return Ok(None);
            };
            let row = sqlx::query(concat!(
                "SELECT ",
                token_columns!(),
                " FROM admin_tokens WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
            let Some(row) = row else {
                return Ok(None);
            };
            let stored: Vec<u8> = row.try_get(6)?;
            let Some((record, write)) = accept(&stored, token, from_row(&row)?, now) else {
                return Ok(None);
            };
            if write {
                sqlx::query("UPDATE admin_tokens SET last_used_at = $2 WHERE id = $1")
                    .bind(&record.id)
                    .bind(now)
                    .execute(self.pool())
                    .await?;
            }
            Ok(Some(record))
        })
        .await
    }

    async fn list_tokens(&self) -> Result<Vec<AdminTokenRecord>, StoreError> {
        self.bounded(async {
            sqlx::query(concat!(
                "SELECT ",
                token_columns!(),
                " FROM admin_tokens ORDER BY created_at, id"
            ))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(from_row)
            .collect()
        })
        .await
    }

    async fn revoke_token(&self, name_or_id: &str, now: UnixTime) -> Result<bool, StoreError> {
        self.bounded(async {
            // An id wins over a name, as on SQLite.
            let done = sqlx::query(
                "UPDATE admin_tokens SET revoked_at = $2 WHERE revoked_at IS NULL AND id = \
                 COALESCE((SELECT id FROM admin_tokens WHERE id = $1 AND revoked_at IS NULL), \
                          (SELECT id FROM admin_tokens WHERE name = $1 AND revoked_at IS NULL))",
            )
            .bind(name_or_id)
            .bind(now)
            .execute(self.pool())
            .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }
}
