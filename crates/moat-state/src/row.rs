//! Reading a column the same way from a SQLite and a PostgreSQL row, so
//! that each record has one conversion from its row whatever the backend.

use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

/// A column type both backends decode (SQLite `INTEGER`/`TEXT`/`BLOB`,
/// PostgreSQL `BIGINT`/`TEXT`/`BYTEA`).
pub(crate) trait Column: Sized {
    fn from_sqlite(row: &SqliteRow, index: usize) -> Result<Self, sqlx::Error>;
    fn from_pg(row: &PgRow, index: usize) -> Result<Self, sqlx::Error>;
}

macro_rules! column {
    ($($t:ty),*) => {$(
        impl Column for $t {
            fn from_sqlite(row: &SqliteRow, index: usize) -> Result<Self, sqlx::Error> {
                row.try_get(index)
            }
            fn from_pg(row: &PgRow, index: usize) -> Result<Self, sqlx::Error> {
                row.try_get(index)
            }
        }
    )*};
}

column!(String, Option<String>, i64, Option<i64>, Vec<u8>);

/// A row of either backend.
pub(crate) trait ReadRow {
    /// Column `index` as `T`.
    fn col<T: Column>(&self, index: usize) -> Result<T, sqlx::Error>;
}

impl ReadRow for SqliteRow {
    fn col<T: Column>(&self, index: usize) -> Result<T, sqlx::Error> {
        T::from_sqlite(self, index)
    }
}

impl ReadRow for PgRow {
    fn col<T: Column>(&self, index: usize) -> Result<T, sqlx::Error> {
        T::from_pg(self, index)
    }
}
