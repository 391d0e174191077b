//! The embedded state store: one SQLite file, no server. It keeps API keys,
//! learned object owners, quotas, bans, security events and admin tokens
//! (the last two in `events::sqlite` and `admin_tokens`).
//!
//! WAL mode, so the gateway's lookups never wait for the CLI's writes and
//! both can use the file at once. Queries are plain runtime SQL (no
//! compile-time checking, so building needs no database), written to port
//! to PostgreSQL with little more than `?N` → `$N`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::ConnectOptions;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::record::{KeyRecord, UnixTime};
use crate::row::ReadRow;
use crate::sqlite_write::WriteTx;
use crate::store::{KeyStore, StoreError};

/// The newest schema this build knows. Bump it by appending to
/// [`MIGRATIONS`]; never edit a migration that has shipped.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: API keys. WITHOUT ROWID: the key id is the clustered primary key,
    // so a lookup is one B-tree descent with no second hop to a rowid.
    // Scopes are space-separated (scope names contain no whitespace).
    "CREATE TABLE api_keys (
        key_id       TEXT PRIMARY KEY NOT NULL,
        consumer_id  TEXT NOT NULL,
        name         TEXT,
        scopes       TEXT NOT NULL,
        secret_hash  BLOB NOT NULL,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER,
        last_used_at INTEGER,
        revoked_at   INTEGER,
        rotated_from TEXT
    ) WITHOUT ROWID;
    CREATE INDEX api_keys_by_consumer ON api_keys (consumer_id, created_at);",
    // 2: learned object owners, looked up by (api, kind, id) on every
    // request that names a tracked object.
    "CREATE TABLE object_owners (
        api         TEXT NOT NULL,
        kind        TEXT NOT NULL,
        object_id   TEXT NOT NULL,
        consumer_id TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (api, kind, object_id)
    ) WITHOUT ROWID;",
    // 3: quota counters (sliding windows): the fixed window index and the
    // counts of it and the one before. `expires_at` (ns) lets idle rows be
    // deleted.
    "CREATE TABLE quota_windows (
        key          TEXT PRIMARY KEY NOT NULL,
        window_index INTEGER NOT NULL,
        current      INTEGER NOT NULL,
        previous     INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX quota_windows_by_expiry ON quota_windows (expires_at);",
    // 4: bans, keyed by subject (`address:203.0.113.0/24`,
    // `consumer:alice`). The gateway reads them all now and then; the
    // expiry index serves that read and the purge of ended bans.
    "CREATE TABLE bans (
        subject    TEXT PRIMARY KEY NOT NULL,
        reason     TEXT NOT NULL,
        source     TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX bans_by_expiry ON bans (expires_at);",
    // 5: security events, hash-chained (see `events::chain`). `seq` is
    // given by the store (the head's seq + 1), never reused even when
    // retention removes every event. `severity_rank` serves `>=` filters;
    // `size` (bytes of the event's JSON) the byte budget of retention.
    // `event_chain` is the one row that holds the anchor (the hash the
    // oldest stored event links to), the head and its seq, and the total
    // size.
    "CREATE TABLE security_events (
        seq           INTEGER PRIMARY KEY,
        id            TEXT NOT NULL,
        time          INTEGER NOT NULL,
        request_id    TEXT,
        api           TEXT,
        operation     TEXT,
        consumer      TEXT,
        client        TEXT,
        method        TEXT,
        path          TEXT,
        control       TEXT NOT NULL,
        kind          TEXT NOT NULL,
        rule          TEXT,
        location      TEXT,
        severity      TEXT NOT NULL,
        severity_rank INTEGER NOT NULL,
        action        TEXT NOT NULL,
        status        INTEGER,
        evidence      TEXT,
        actor         TEXT,
        size          INTEGER NOT NULL,
        prev_hash     TEXT NOT NULL,
        hash          TEXT NOT NULL
    );
    CREATE INDEX security_events_by_time ON security_events (time);
    CREATE INDEX security_events_by_api ON security_events (api, time);
    CREATE INDEX security_events_by_client ON security_events (client, time);
    CREATE INDEX security_events_by_consumer ON security_events (consumer, time);
    CREATE INDEX security_events_by_kind ON security_events (kind);
    CREATE INDEX security_events_by_id ON security_events (id);
    CREATE TABLE event_chain (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        anchor      TEXT NOT NULL,
        head        TEXT NOT NULL,
        head_seq    INTEGER NOT NULL,
        total_bytes INTEGER NOT NULL
    );
    INSERT INTO event_chain (id, anchor, head, head_seq, total_bytes) VALUES (1,
        '0000000000000000000000000000000000000000000000000000000000000000',
        '0000000000000000000000000000000000000000000000000000000000000000', 0, 0);",
    // 6: admin tokens, stored as SHA-256 of the whole token. A name is
    // unique among tokens that are not revoked (a revoked token's name may
    // be reused).
    "CREATE TABLE admin_tokens (
        id           TEXT PRIMARY KEY NOT NULL,
        name         TEXT NOT NULL,
        role         TEXT NOT NULL,
        token_hash   BLOB NOT NULL,
        created_at   INTEGER NOT NULL,
        last_used_at INTEGER,
        revoked_at   INTEGER
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX admin_tokens_unrevoked_name ON admin_tokens (name)
        WHERE revoked_at IS NULL;",
    // 7: a summary event stands for this many more like it that were not
    // stored one by one (events.coalesce).
    "ALTER TABLE security_events ADD COLUMN repeats INTEGER;",
    // 8: operations discovered in the gateway's traffic (discovery.capture),
    // one row per API, method and template, the merged shape as JSON.
    "CREATE TABLE discovered_operations (
        api        TEXT NOT NULL,
        method     TEXT NOT NULL,
        template   TEXT NOT NULL,
        requests   INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL,
        shape      TEXT NOT NULL,
        PRIMARY KEY (api, method, template)
    ) WITHOUT ROWID;",
];

/// The columns of a [`KeyRecord`], in the order [`from_row`] reads them. A
/// macro so that queries stay `&'static str` (prepared once, cached).
macro_rules! columns {
    () => {
        "key_id, consumer_id, name, scopes, secret_hash, created_at, \
         expires_at, last_used_at, revoked_at, rotated_from"
    };
}

/// How long a writer waits for another process's write lock before giving
/// up. The CLI and the gateway share the file; their writes are short.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections in the pool: concurrent lookups, each on its own SQLite
/// worker thread. More than the cores buys nothing.
const MAX_CONNECTIONS: u32 = 4;

/// The SQLite key store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens the database at `path`, creating it (readable by the owner
    /// only, on Unix) and bringing its schema up to date.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        create_private(path).map_err(|e| open_err(sqlx::Error::Io(e)))?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable across application crashes in WAL mode; a
            // power loss may lose the last commits, which for key
            // management means re-running a command.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            // Queries carry no secrets, but logging one per request is noise.
            .disable_statement_logging();
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            // The default pings a connection before every use: a round trip
            // to its worker thread that nearly doubles a lookup, and useless
            // for a local file, which cannot hang up like a server.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(open_err)?;
        migrate(&pool).await?;
        Ok(Self {
            pool,
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version the file is at.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT version FROM moat_schema WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?
                .unwrap_or(0),
        )
    }

    /// One query: the file answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// `(found, supported)`: the file's schema version and the newest this
    /// build knows. [`Self::open`] migrates, so they are equal once open.
    pub async fn schema_state(&self) -> Result<(i64, i64), StoreError> {
        Ok((self.schema_version().await?, SCHEMA_VERSION))
    }

    /// The schema version of the file at `path` without opening it as a
    /// store (so without migrating it): 0 for a file moat never wrote to,
    /// `None` when there is no file.
    pub async fn file_schema_version(path: &Path) -> Result<Option<i64>, StoreError> {
        if !path.exists() {
            return Ok(None);
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .busy_timeout(BUSY_TIMEOUT)
            .disable_statement_logging();
        let mut conn = options.connect().await.map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let has_table: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'moat_schema')",
        )
        .fetch_one(&mut conn)
        .await?;
        let version = if has_table {
            sqlx::query_scalar("SELECT version FROM moat_schema WHERE id = 1")
                .fetch_optional(&mut conn)
                .await?
                .unwrap_or(0)
        } else {
            0
        };
        sqlx::Connection::close(conn).await?;
        Ok(Some(version))
    }

    /// The pool, for tests that tamper with the file.
    #[cfg(test)]
    pub(crate) fn pool_for_tests(&self) -> SqlitePool {
        self.pool.clone()
    }

    /// The pool, for the other stores of this file (events, admin tokens).
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes every connection, checkpointing the WAL into the main file.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Creates the file with mode 0600 if it does not exist, so the hashes
/// (and SQLite's `-wal`/`-shm` files, which copy the mode) are not
/// world-readable whatever the umask.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Applies the migrations the file lacks, in one `IMMEDIATE` transaction so
/// two processes opening a new file at once do not both migrate it.
async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    let mut tx = WriteTx::begin(pool).await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS moat_schema (
            id      INTEGER PRIMARY KEY CHECK (id = 1),
            version INTEGER NOT NULL
        )",
    )
    .execute(&mut *tx)
    .await?;
    let found: i64 = sqlx::query_scalar("SELECT version FROM moat_schema WHERE id = 1")
        .fetch_optional(&mut *tx)
        .await?
        .unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found == SCHEMA_VERSION {
        return tx.commit().await;
    }
    for migration in MIGRATIONS.iter().skip(usize::try_from(found).unwrap_or(0)) {
        sqlx::raw_sql(*migration).execute(&mut *tx).await?;
    }
    sqlx::query(
        "INSERT INTO moat_schema (id, version) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version",
    )
    .bind(SCHEMA_VERSION)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) fn from_row(row: &impl ReadRow) -> Result<KeyRecord, StoreError> {
    let key_id: String = row.col(0)?;
    let scopes: String = row.col(3)?;
    let secret_hash: Vec<u8> = row.col(4)?;
    if secret_hash.len() != crate::manager::HASH_LEN {
        return Err(StoreError::Corrupt {
            key_id,
            what: format!("a {}-byte hash", secret_hash.len()),
        });
    }
    Ok(KeyRecord {
        consumer_id: row.col(1)?,
        name: row.col(2)?,
        scopes: scopes.split_whitespace().map(str::to_string).collect(),
        secret_hash,
        created_at: row.col(5)?,
        expires_at: row.col(6)?,
        last_used_at: row.col(7)?,
        revoked_at: row.col(8)?,
        rotated_from: row.col(9)?,
        key_id,
    })
}

async fn insert_in<'c, E>(executor: E, r: &KeyRecord) -> Result<(), StoreError>
where
    E: sqlx::SqliteExecutor<'c>,
{
    let result = sqlx::query(
        "INSERT INTO api_keys (key_id, consumer_id, name, scopes, secret_hash, created_at, \
         expires_at, last_used_at, revoked_at, rotated_from) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
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
impl KeyStore for SqliteStore {
    async fn insert(&self, record: &KeyRecord) -> Result<(), StoreError> {
        insert_in(&self.pool, record).await
    }

    async fn get(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM api_keys WHERE key_id = ?1"
        ))
        .bind(key_id)
        // Not `fetch_optional`: it returns as soon as a row arrives but
        // waits for the statement to finish when there is none, which made
        // an unknown id measurably slower than a known one. Waiting for the
        // end in both cases (at most one row: primary key) keeps the
        // lookup from telling the two apart by timing.
        .fetch_all(&self.pool)
        .await?
        .first()
        .map(from_row)
        .transpose()
    }

    async fn list(&self, consumer_id: Option<&str>) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = match consumer_id {
            Some(c) => {
                sqlx::query(concat!(
                    "SELECT ",
                    columns!(),
                    " FROM api_keys WHERE consumer_id = ?1 ORDER BY created_at, key_id"
                ))
                .bind(c)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(concat!(
                    "SELECT ",
                    columns!(),
                    " FROM api_keys ORDER BY created_at, key_id"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(from_row).collect()
    }

    async fn revoke(&self, key_id: &str, at: UnixTime) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE key_id = ?1",
        )
        .bind(key_id)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_expiry(
        &self,
        key_id: &str,
        expires_at: Option<UnixTime>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE api_keys SET expires_at = ?2 WHERE key_id = ?1")
            .bind(key_id)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn rotate(
        &self,
        old_key_id: &str,
        old_deadline: UnixTime,
        new: &KeyRecord,
    ) -> Result<bool, StoreError> {
        let mut tx = WriteTx::begin(&self.pool).await?;
        let done = sqlx::query(
            "UPDATE api_keys SET expires_at = MIN(COALESCE(expires_at, ?2), ?2) \
             WHERE key_id = ?1 AND revoked_at IS NULL",
        )
        .bind(old_key_id)
        .bind(old_deadline)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            // Nothing was written.
            tx.commit().await?;
            return Ok(false);
        }
        insert_in(&mut *tx, new).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn record_last_used(&self, uses: &[(String, UnixTime)]) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        let mut tx = WriteTx::begin(&self.pool).await?;
        for (key_id, at) in uses {
            sqlx::query(
                "UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, ?2), ?2) \
                 WHERE key_id = ?1",
            )
            .bind(key_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }
}

impl SqliteStore {
    /// Inserts an owner record unless one exists; whether it did.
    async fn insert_owner(
        &self,
        object: &crate::ownership::ObjectKey,
        consumer: &str,
        at: UnixTime,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO object_owners (api, kind, object_id, consumer_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (api, kind, object_id) DO NOTHING",
        )
        .bind(&object.api)
        .bind(&object.kind)
        .bind(&object.id)
        .bind(consumer)
        .bind(at)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }
}

#[async_trait]
impl crate::ownership::OwnershipStore for SqliteStore {
    async fn record(
        &self,
        object: &crate::ownership::ObjectKey,
        consumer: &str,
        at: UnixTime,
    ) -> Result<crate::ownership::Recorded, StoreError> {
        use crate::ownership::Recorded;
        // Insert unless the object has an owner; otherwise say whose it is.
        if self.insert_owner(object, consumer, at).await? {
            return Ok(Recorded::New);
        }
        match crate::ownership::OwnershipStore::owner(self, object).await? {
            Some(owner) if owner == consumer => Ok(Recorded::Unchanged),
            Some(owner) => Ok(Recorded::Conflict { owner }),
            // Forgotten between the two statements: it is free again.
            None => {
                self.insert_owner(object, consumer, at).await?;
                Ok(Recorded::New)
            }
        }
    }

    async fn owner(
        &self,
        object: &crate::ownership::ObjectKey,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT consumer_id FROM object_owners WHERE api = ?1 AND kind = ?2 AND object_id = ?3",
        )
        .bind(&object.api)
        .bind(&object.kind)
        .bind(&object.id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn forget(&self, object: &crate::ownership::ObjectKey) -> Result<bool, StoreError> {
        let removed = sqlx::query(
            "DELETE FROM object_owners WHERE api = ?1 AND kind = ?2 AND object_id = ?3",
        )
        .bind(&object.api)
        .bind(&object.kind)
        .bind(&object.id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(removed > 0)
    }
}

#[async_trait]
impl crate::limits::QuotaStore for SqliteStore {
    async fn acquire(
        &self,
        checks: &[crate::limits::LimitCheck<crate::limits::SlidingWindow>],
    ) -> Result<Vec<crate::limits::LimitDecision>, StoreError> {
        use crate::limits::WindowState;
        // One IMMEDIATE transaction: read every counter, decide, write only
        // if all allow. Other gateways and the CLI wait on the lock briefly.
        let now = crate::limits::unix_nanos();
        let mut tx = WriteTx::begin(&self.pool).await?;
        let mut outcomes = Vec::with_capacity(checks.len());
        for c in checks {
            let row: Option<(i64, i64, i64)> = sqlx::query_as(
                "SELECT window_index, current, previous FROM quota_windows WHERE key = ?1",
            )
            .bind(&c.key)
            .fetch_optional(&mut *tx)
            .await?;
            let state = row
                .map(|(i, c, p)| WindowState {
                    index: u64::try_from(i).unwrap_or(0),
                    current: u64::try_from(c).unwrap_or(0),
                    previous: u64::try_from(p).unwrap_or(0),
                })
                .unwrap_or_default();
            outcomes.push(c.rule.decide(state, now, c.cost));
        }
        if outcomes.iter().all(|o| o.decision.allowed) {
            for (c, o) in checks.iter().zip(&outcomes) {
                let expires = (o.state.index + 2).saturating_mul(c.rule.window);
                sqlx::query(
                    "INSERT INTO quota_windows (key, window_index, current, previous, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (key) DO UPDATE SET window_index = excluded.window_index,
                        current = excluded.current, previous = excluded.previous,
                        expires_at = excluded.expires_at",
                )
                .bind(&c.key)
                .bind(i64::try_from(o.state.index).unwrap_or(i64::MAX))
                .bind(i64::try_from(o.state.current).unwrap_or(i64::MAX))
                .bind(i64::try_from(o.state.previous).unwrap_or(i64::MAX))
                .bind(i64::try_from(expires).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(outcomes.into_iter().map(|o| o.decision).collect())
    }
}

impl SqliteStore {
    /// Deletes quota counters whose windows have both passed; how many.
    pub async fn sweep_quotas(&self) -> Result<u64, StoreError> {
        let now = i64::try_from(crate::limits::unix_nanos()).unwrap_or(i64::MAX);
        Ok(
            sqlx::query("DELETE FROM quota_windows WHERE expires_at <= ?1")
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}

pub(crate) fn ban_from_row(row: &impl ReadRow) -> Result<crate::bans::Ban, StoreError> {
    let key: String = row.col(0)?;
    let Some(subject) = crate::bans::BanSubject::from_key(&key) else {
        return Err(StoreError::Corrupt {
            key_id: key,
            what: "a ban subject that is neither `address:` nor `consumer:`".into(),
        });
    };
    Ok(crate::bans::Ban {
        subject,
        reason: row.col(1)?,
        source: row.col(2)?,
        created_at: row.col(3)?,
        expires_at: row.col(4)?,
    })
}

#[async_trait]
impl crate::bans::BanStore for SqliteStore {
    async fn add(&self, ban: &crate::bans::Ban) -> Result<bool, StoreError> {
        // One statement: replace the stored ban only when it has ended by
        // the new one's start or ends sooner than the new one.
        let stored = sqlx::query(
            "INSERT INTO bans (subject, reason, source, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
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
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(stored > 0)
    }

    async fn remove(&self, subject: &crate::bans::BanSubject) -> Result<bool, StoreError> {
        let removed = sqlx::query("DELETE FROM bans WHERE subject = ?1")
            .bind(subject.key())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(removed > 0)
    }

    async fn list(&self, now: UnixTime) -> Result<Vec<crate::bans::Ban>, StoreError> {
        sqlx::query(
            "SELECT subject, reason, source, created_at, expires_at FROM bans
             WHERE expires_at IS NULL OR expires_at > ?1
             ORDER BY created_at, subject",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(ban_from_row)
        .collect()
    }

    async fn active(
        &self,
        subject: &crate::bans::BanSubject,
        now: UnixTime,
    ) -> Result<Option<crate::bans::Ban>, StoreError> {
        sqlx::query(
            "SELECT subject, reason, source, created_at, expires_at FROM bans
             WHERE subject = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
        )
        .bind(subject.key())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(ban_from_row)
        .transpose()
    }

    async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM bans WHERE expires_at IS NOT NULL AND expires_at <= ?1")
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}
