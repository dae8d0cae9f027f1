//! The Diesel storage adapter of authd: [`PgStore`] on PostgreSQL and [`SqliteStore`] on an
//! embedded SQLite file, both implementing every auth-core storage port. The backend is chosen at
//! run time from the URL scheme ([`Database::connect`]).
//!
//! The port methods are written once (module `store`) and compiled once per backend; each
//! backend module holds only what differs (opening, migrating, transactions and row locks, three
//! column types). Every port call runs in a `db` tracing span made by that shared body.

mod error;
mod postgres;
mod readiness;
mod sqlite;
mod url;

use std::sync::Arc;

use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, PoolableConnection};
use std::time::Duration;

use auth_core::ports::{
    AuditLog, EmailFlowStore, FactorStore, IdentityStore, KeyStore, MailOutbox, Readiness, SessionStore, StoreError,
    StorePorts, UserStore,
};

pub use postgres::{KeyChanges, PgLimiter, PgStore};
pub use sqlite::SqliteStore;
pub use url::{DatabaseUrl, UrlError};

/// Connection pool settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolOptions {
    /// Most open connections.
    pub max_connections: usize,
    /// How long to wait for a connection (to open one, or for a free one) before failing.
    pub connect_timeout: Duration,
    /// PostgreSQL only: how long one statement may run (`statement_timeout`); zero for no limit.
    pub statement_timeout: Duration,
    /// PostgreSQL only: how long a statement may wait for a lock (`lock_timeout`); zero for no limit.
    pub lock_timeout: Duration,
    /// PostgreSQL only: how long a session may sit idle inside a transaction before the server
    /// ends it (`idle_in_transaction_session_timeout`); zero for no limit.
    pub idle_in_transaction_timeout: Duration,
    /// PostgreSQL only: idle time before TCP keepalive probes start; zero turns them off.
    pub tcp_keepalive: Duration,
    /// PostgreSQL only: the URL reaches a pooler in transaction mode (PgBouncer's
    /// `pool_mode = transaction`), which hands each transaction a server connection of its own
    /// choosing. Every port call then runs in one transaction that sets its search path and
    /// timeouts with `SET LOCAL`, and no prepared statement outlives its transaction.
    pub transaction_pooling: bool,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
            lock_timeout: Duration::from_secs(5),
            idle_in_transaction_timeout: Duration::from_secs(30),
            tcp_keepalive: Duration::from_secs(30),
            transaction_pooling: false,
        }
    }
}

impl PoolOptions {
    /// A pool of `manager`'s connections within these limits.
    fn pool<C>(&self, manager: AsyncDieselConnectionManager<C>) -> Result<Pool<C>, StoreError>
    where
        C: PoolableConnection + 'static,
        AsyncDieselConnectionManager<C>: deadpool::managed::Manager<Type = C>,
    {
        Pool::builder(manager)
            .max_size(self.max_connections)
            .wait_timeout(Some(self.connect_timeout))
            .create_timeout(Some(self.connect_timeout))
            .recycle_timeout(Some(self.connect_timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Internal(format!("cannot build the connection pool: {e}")))
    }
}

/// How the connection pool is used at one moment, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStatus {
    /// Most connections the pool may open.
    pub max_size: usize,
    /// Connections open now, idle or in use.
    pub size: usize,
    /// Open connections no one is using.
    pub idle: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

impl From<deadpool::Status> for PoolStatus {
    fn from(status: deadpool::Status) -> Self {
        Self { max_size: status.max_size, size: status.size, idle: status.available, waiting: status.waiting }
    }
}

/// A connected store, whichever the backend.
#[derive(Debug, Clone)]
pub enum Database {
    /// PostgreSQL.
    Postgres(PgStore),
    /// An embedded SQLite file.
    Sqlite(SqliteStore),
}

/// The database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL is not one this adapter accepts.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The database did not answer or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The PostgreSQL connection string was refused before connecting (an unknown `sslmode`, an
    /// unreadable `sslrootcert`, plaintext to a host that is not loopback).
    #[error(transparent)]
    Postgres(#[from] auth_pgconn::ConnectError),
}

impl Database {
    /// Connects to the database the URL names and checks that it answers.
    pub async fn connect(url: &str, options: &PoolOptions) -> Result<Self, OpenError> {
        Self::connect_with_direct(url, None, options).await
    }

    /// Connects as [`Database::connect`]; on PostgreSQL, migrations and the `LISTEN` for key
    /// changes use `direct_url` when given (a session of their own on the server itself, where
    /// `url` may reach a pooler in transaction mode), `url` otherwise. SQLite refuses a direct URL.
    pub async fn connect_with_direct(
        url: &str,
        direct_url: Option<&str>,
        options: &PoolOptions,
    ) -> Result<Self, OpenError> {
        match (DatabaseUrl::parse(url)?, direct_url) {
            (DatabaseUrl::Postgres(url), direct) => {
                let direct = match direct {
                    Some(direct) => match DatabaseUrl::parse(direct)? {
                        DatabaseUrl::Postgres(direct) => Some(direct),
                        DatabaseUrl::Sqlite(_) => return Err(OpenError::Url(UrlError::direct_not_postgres())),
                    },
                    None => None,
                };
                Ok(Self::Postgres(PgStore::connect_with_direct(&url, direct.as_deref(), options).await?))
            }
            (DatabaseUrl::Sqlite(_), Some(_)) => Err(OpenError::Url(UrlError::direct_not_postgres())),
            (DatabaseUrl::Sqlite(path), None) => Ok(Self::Sqlite(SqliteStore::open(&path, options).await?)),
        }
    }

    /// Applies pending migrations; returns how many ran.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        match self {
            Self::Postgres(store) => store.migrate().await,
            Self::Sqlite(store) => store.migrate().await,
        }
    }

    /// The file of an embedded SQLite database; `None` on PostgreSQL.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match self {
            Self::Postgres(_) => None,
            Self::Sqlite(store) => Some(store.path()),
        }
    }

    /// The user store.
    pub fn users(&self) -> Arc<dyn UserStore> {
        self.store()
    }

    /// The session store.
    pub fn sessions(&self) -> Arc<dyn SessionStore> {
        self.store()
    }

    /// The key store.
    pub fn keys(&self) -> Arc<dyn KeyStore> {
        self.store()
    }

    /// Emailed one-time secrets and the outbox they are queued in.
    pub fn flows(&self) -> Arc<dyn EmailFlowStore> {
        self.store()
    }

    /// Second factors and their challenges.
    pub fn factors(&self) -> Arc<dyn FactorStore> {
        self.store()
    }

    /// External identities and the flow state of browser sign-ins.
    pub fn identities(&self) -> Arc<dyn IdentityStore> {
        self.store()
    }

    /// The outbox, as the delivery worker sees it.
    pub fn outbox(&self) -> Arc<dyn MailOutbox> {
        self.store()
    }

    /// The readiness check: the database answers and its schema is up to date.
    pub fn readiness(&self) -> Arc<dyn Readiness> {
        self.store()
    }

    /// The audit log.
    pub fn audit(&self) -> Arc<dyn AuditLog> {
        self.store()
    }

    /// Every storage port at once, for wiring the use cases (`Ports::new`) and the key store.
    pub fn ports(&self) -> StorePorts {
        match self {
            Self::Postgres(store) => StorePorts::all(Arc::new(store.clone())),
            Self::Sqlite(store) => StorePorts::all(Arc::new(store.clone())),
        }
    }

    /// The store behind every port (each accessor above narrows it).
    fn store(&self) -> Arc<dyn Ports> {
        match self {
            Self::Postgres(store) => Arc::new(store.clone()),
            Self::Sqlite(store) => Arc::new(store.clone()),
        }
    }

    /// Rate-limit counters shared by every replica on this database, reading time from
    /// `clock`; `None` on SQLite, whose one process keeps its counters in memory.
    pub fn shared_limiter(&self, clock: Arc<dyn auth_core::ports::Clock>) -> Option<PgLimiter> {
        match self {
            Self::Postgres(store) => Some(PgLimiter::new(store.clone(), clock)),
            Self::Sqlite(_) => None,
        }
    }

    /// Wakes its holder as soon as the signing keys change in the database, whichever process
    /// changed them; `None` on SQLite, where the periodic reload alone hears a change.
    pub fn key_changes(&self) -> Option<KeyChanges> {
        match self {
            Self::Postgres(store) => Some(store.key_changes()),
            Self::Sqlite(_) => None,
        }
    }

    /// How the connection pool is used now.
    pub fn pool_status(&self) -> PoolStatus {
        match self {
            Self::Postgres(store) => store.pool_status(),
            Self::Sqlite(store) => store.pool_status(),
        }
    }
}

/// Every port a store implements, so that one value can be handed out as any of them.
trait Ports:
    UserStore + SessionStore + KeyStore + EmailFlowStore + FactorStore + IdentityStore + MailOutbox + Readiness + AuditLog
{
}

impl<S> Ports for S where
    S: UserStore
        + SessionStore
        + KeyStore
        + EmailFlowStore
        + FactorStore
        + IdentityStore
        + MailOutbox
        + Readiness
        + AuditLog
{
}
