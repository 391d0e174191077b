//! The cluster state store: PostgreSQL, shared by every gateway node. It
//! keeps what [`crate::SqliteStore`] keeps (keys, owners, quotas, bans,
//! security events, admin tokens, discovered operations), in the tables
//! of [`schema`], behind the same traits and with the same semantics:
//! each method is one statement or one transaction.
//!
//! [`PostgresStore::connect`] fails at once when the server cannot be
//! reached. Once connected, the pool reconnects by itself: a query that
//! cannot reach the server fails with [`StoreError::Unavailable`], and a
//! connection that failed is closed and replaced by a new one. Pooled
//! connections are not pinged before each use (that round trip more than
//! doubled a key lookup), so after the server restarts, each idle
//! connection fails one query before it is replaced; callers already
//! handle `Unavailable` (the key cache serves stale entries meanwhile).
//!
//! Every operation is bounded by the configured `timeout` on this side
//! too ([`PostgresStore::bounded`]): the server's `statement_timeout` only
//! stops a server that still runs, and a hung one (a frozen host, a
//! stopped process) keeps its connections open while answering nothing.
//! The one exception is [`crate::events::EventStore::verify`], a scan of
//! the whole chain for `moat audit verify`, whose statements each have
//! the server's bound.

mod admin_tokens;
mod bans;
mod discovery;
mod events;
mod keys;
mod owners;
mod quotas;
mod schema;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::store::StoreError;

pub use schema::SCHEMA_VERSION as POSTGRES_SCHEMA_VERSION;

/// How to reach PostgreSQL.
#[derive(Clone)]
pub struct PostgresOptions {
    /// `postgres://user:password@host:5432/moat?sslmode=verify-full`.
    pub url: String,
    /// Connections in this node's pool.
    pub max_connections: u32,
    /// The limit for connecting, for waiting for a free connection, and
    /// for one statement.
    pub timeout: Duration,
}

impl PostgresOptions {
    /// What [`PostgresStore::connect`] would refuse in the URL before
    /// connecting (for the config check); never repeats the URL.
    pub fn problem(&self) -> Option<String> {
        parse(&self.url).err().map(|e| e.to_string())
    }

    /// `url` with 16 connections and a 2 s timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            timeout: Duration::from_secs(2),
        }
    }
}

/// The URL is left out: it may hold a password.
impl fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("max_connections", &self.max_connections)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The PostgreSQL state store. Cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    name: String,
    /// The bound of every operation ([`Self::bounded`]).
    timeout: Duration,
}

/// `PostgreSQL host:port/database`, for messages: never the password.
fn describe(options: &PgConnectOptions) -> String {
    format!(
        "PostgreSQL {}:{}/{}",
        options.get_host(),
        options.get_port(),
        options
            .get_database()
            .unwrap_or_else(|| options.get_username())
    )
}

/// Parses `url`. The error never repeats the URL.
fn parse(url: &str) -> Result<PgConnectOptions, StoreError> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(StoreError::Invalid {
            what: "PostgreSQL URL",
            reason: "it does not start with postgres:// or postgresql://".into(),
        });
    }
    PgConnectOptions::from_str(url).map_err(|e| StoreError::Invalid {
        what: "PostgreSQL URL",
        reason: match e {
            // The URL parser's messages name the problem, not the input.
            sqlx::Error::Configuration(source) => source.to_string(),
            _ => "it cannot be parsed".into(),
        },
    })
}

impl PostgresStore {
    /// Connects (one connection at once, so a wrong URL, password or an
    /// unreachable server fails here) without touching the schema: call
    /// [`Self::migrate`] or check [`Self::schema_state`].
    pub async fn connect(options: &PostgresOptions) -> Result<Self, StoreError> {
        let timeout_ms = options.timeout.as_millis().max(1).to_string();
        let connect = parse(&options.url)?
            .application_name("moat")
            // Server notices ("already exists, skipping") are not news.
            .options([
                ("statement_timeout", timeout_ms.as_str()),
                ("client_min_messages", "warning"),
            ])
            // Queries carry no secrets, but logging one per request is noise.
            .disable_statement_logging();
        let name = describe(&connect);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.timeout)
            // See the module's documentation: a failed connection is
            // dropped on release instead of pinging every one on acquire.
            .test_before_acquire(false)
            .connect_with(connect)
            .await
            .map_err(|source| StoreError::Connect {
                target: name.clone(),
                source,
            })?;
        Ok(Self {
            pool,
            name,
            timeout: options.timeout,
        })
    }

    /// Runs one store operation, failing it as
    /// [`StoreError::Unavailable`] when it has not finished within the
    /// store's timeout. The pool checks a connection dropped mid-query
    /// before anyone uses it again; a transaction dropped unfinished is
    /// rolled back.
    pub(crate) async fn bounded<T>(
        &self,
        op: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, op)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(format!(
                    "{} did not answer within {:?}",
                    self.name, self.timeout
                )))
            })
    }

    /// `PostgreSQL host:port/database`, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// One round trip: the server answers, within the timeout.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.bounded(async {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        })
        .await
    }

    /// Brings the schema up to date; `(from, to)` versions. Several nodes
    /// may call it at once: one migrates, the others wait for it and find
    /// nothing to do. [`StoreError::NewerSchema`] when the database was
    /// migrated by a newer moat.
    pub async fn migrate(&self) -> Result<(i64, i64), StoreError> {
        schema::migrate(&self.pool).await
    }

    /// `(found, supported)`: the database's schema version (0: empty) and
    /// the newest this build knows. A node that does not migrate by itself
    /// refuses to start unless they are equal.
    pub async fn schema_state(&self) -> Result<(i64, i64), StoreError> {
        Ok((schema::version(&self.pool).await?, schema::SCHEMA_VERSION))
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Another store on the same database with a pool of its own: one
    /// more node, for tests.
    #[cfg(test)]
    pub(crate) async fn another_for_tests(&self) -> Self {
        let options = (*self.pool.connect_options()).clone();
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        Self {
            pool,
            name: self.name.clone(),
            timeout: self.timeout,
        }
    }

    /// The pool, for the stores of this database and for tests.
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[cfg(test)]
mod tests;
