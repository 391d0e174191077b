//! [`WriteTx`]: a write transaction on the SQLite state file whose
//! connection goes back to the pool only once committed.
//!
//! sqlx's own `Transaction` returns its connection to the pool however it
//! ends and rolls back lazily, on the connection's next use. After a
//! `COMMIT` that failed because the file could not be written (a full disk:
//! `SQLITE_FULL`, `SQLITE_IOERR`), SQLite may already have rolled the
//! transaction back itself; the lazy `ROLLBACK` then fails, sqlx still
//! counts the connection as inside a transaction, and every later `BEGIN`
//! on it fails ("non-zero transaction depth") for as long as the process
//! runs: quota decisions, key rotations, security events. A `WriteTx` that
//! ends any other way than a successful commit closes its connection
//! instead (closing rolls back whatever is open), and the pool opens a
//! fresh one when it needs it.

use std::ops::{Deref, DerefMut};

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{Sqlite, SqliteConnection, SqlitePool};

use crate::store::StoreError;

/// A `BEGIN IMMEDIATE` transaction (the write lock taken up front, so two
/// writers wait on each other instead of failing at their first write) on
/// a pooled connection. Statements run on it through `&mut *tx`.
pub(crate) struct WriteTx {
    conn: PoolConnection<Sqlite>,
    committed: bool,
}

impl WriteTx {
    /// Takes a connection from `pool` and begins the transaction.
    pub(crate) async fn begin(pool: &SqlitePool) -> Result<Self, StoreError> {
        let conn = pool.acquire().await?;
        let mut tx = Self {
            conn,
            committed: false,
        };
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut *tx.conn)
            .await?;
        Ok(tx)
    }

    /// Commits. On failure the connection is closed, not pooled.
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        sqlx::raw_sql("COMMIT").execute(&mut *self.conn).await?;
        self.committed = true;
        Ok(())
    }
}

impl Deref for WriteTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.conn
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if !self.committed {
            self.conn.close_on_drop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    /// One connection, so every transaction below reuses the one that
    /// failed if it is pooled again; a deferred foreign key makes `COMMIT`
    /// itself fail, as a full disk does.
    async fn pool(dir: &std::path::Path) -> SqlitePool {
        let options = SqliteConnectOptions::new()
            .filename(dir.join("t.db"))
            .create_if_missing(true)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER
                 REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool
    }

    async fn children(pool: &SqlitePool) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM child")
            .fetch_one(pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_failed_commit_leaves_no_connection_inside_a_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(dir.path()).await;
        let mut tx = WriteTx::begin(&pool).await.unwrap();
        sqlx::query("INSERT INTO child (id, parent) VALUES (1, 42)")
            .execute(&mut *tx)
            .await
            .unwrap();
        assert!(tx.commit().await.is_err(), "the deferred key fails COMMIT");

        // The next transaction begins, writes and commits; the failed one
        // left nothing behind.
        let mut tx = WriteTx::begin(&pool).await.unwrap();
        sqlx::query("INSERT INTO child (id, parent) VALUES (2, NULL)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(children(&pool).await, 1);
    }

    #[tokio::test]
    async fn a_transaction_dropped_uncommitted_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(dir.path()).await;
        let mut tx = WriteTx::begin(&pool).await.unwrap();
        sqlx::query("INSERT INTO child (id, parent) VALUES (1, NULL)")
            .execute(&mut *tx)
            .await
            .unwrap();
        drop(tx);
        let tx = WriteTx::begin(&pool).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(children(&pool).await, 0);
    }
}
