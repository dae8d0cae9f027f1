//! The PostgreSQL store: diesel-async connections pooled by deadpool, every table in `auth`.
//! The port methods are the shared ones of `store/` (one body for both backends); what is PostgreSQL's own is below:
//! opening (over TLS, with session timeouts: `connect`), migrating under an advisory lock, and
//! the row and table locks.

mod connect;
mod limiter;
mod notifications;

pub use limiter::PgLimiter;
pub use notifications::KeyChanges;

use auth_core::ports::StoreError;
use diesel::prelude::*;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::store_error;
use crate::{OpenError, PoolOptions};

/// Advisory lock key held while migrating ("authd" in ASCII).
const MIGRATION_LOCK: i64 = 0x0061_7574_6864;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// `db.system.name` in OpenTelemetry's terms.
pub(crate) const SYSTEM: &str = "postgresql";

type Conn = AsyncPgConnection;
type Db = diesel::pg::Pg;
type Store = PgStore;

/// The column types whose SQL differs between the backends, as PostgreSQL has them.
mod sql {
    pub use diesel::sql_types::*;
    pub type Id = Uuid;
    pub type Instant = Timestamptz;
    pub type Json = Jsonb;
}

/// A UUID column's Rust type: PostgreSQL reads and writes `Uuid` as it is.
pub(crate) type DbUuid = uuid::Uuid;

fn db_uuid(id: &uuid::Uuid) -> DbUuid {
    *id
}

fn uuid(id: DbUuid) -> uuid::Uuid {
    id
}

/// A write transaction: PostgreSQL's default, whose row locks (`for_update!`) serialise writers.
macro_rules! write_transaction {
    ($conn:expr, $work:expr) => {{
        let done: diesel::QueryResult<_> = diesel_async::AsyncConnection::transaction($conn, $work).await;
        done
    }};
}

/// A write transaction locks rows as it reads them (`for_update!`), not from its start.
const LOCKED_FROM_BEGIN: bool = false;

/// `LIKE` without regard to letter case.
macro_rules! like_any_case {
    ($column:expr, $pattern:expr) => {
        $column.ilike($pattern)
    };
}

/// `users.raw_user_meta_data`'s `full_name`, as text (what Supabase Auth's user filter reads).
fn user_full_name() -> diesel::expression::SqlLiteral<diesel::sql_types::Nullable<diesel::sql_types::Text>> {
    diesel::dsl::sql("(raw_user_meta_data ->> 'full_name')")
}

/// Locks the selected rows until the transaction ends.
macro_rules! for_update {
    ($query:expr) => {
        $query.for_update()
    };
}

/// Locks the selected rows, passing over rows another transaction holds.
macro_rules! for_update_skip_locked {
    ($query:expr) => {
        $query.for_update().skip_locked()
    };
}

// The one store body, compiled for this backend (see its module documentation).
#[allow(clippy::duplicate_mod, reason = "compiled once per backend on purpose")]
#[path = "../store/mod.rs"]
mod store;

/// The auth tables in PostgreSQL.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool<AsyncPgConnection>,
    /// What a connection of its own runs first (`connect::session_setup`).
    setup: std::sync::Arc<str>,
    /// Behind a pooler in transaction mode: what each port call's transaction runs first
    /// (`connect::transaction_setup`); `None` when the pool's connections are sessions.
    per_transaction: Option<std::sync::Arc<str>>,
    /// How to open a session on the server itself, outside the pool (to migrate and to `LISTEN`).
    direct: std::sync::Arc<auth_pgconn::PgConnector>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("pool", &self.pool.status()).finish()
    }
}

impl PgStore {
    /// Writers need no turn: row locks serialise only the writers that touch the same rows.
    async fn writer_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        None
    }

    /// Builds the pool and checks that the server answers. The URL's `sslmode` and
    /// `sslrootcert` are honoured as libpq does; a URL that would allow plaintext to a host that
    /// is not loopback, without `sslmode=disable`, is refused before connecting.
    pub async fn connect(url: &str, options: &PoolOptions) -> Result<Self, OpenError> {
        Self::connect_with_direct(url, None, options).await
    }

    /// Connects as [`PgStore::connect`]; migrations and the `LISTEN` for key changes open their
    /// own session through `direct_url` when given (`url` may reach a pooler in transaction
    /// mode, where neither a session's advisory lock nor `LISTEN` survives the transaction).
    pub async fn connect_with_direct(
        url: &str,
        direct_url: Option<&str>,
        options: &PoolOptions,
    ) -> Result<Self, OpenError> {
        let connector = connect::connector(url, options)?;
        let direct = match direct_url {
            Some(direct_url) => connect::connector(direct_url, options)?,
            None => connector.clone(),
        };
        let setup = connect::session_setup(options);
        let per_transaction = options.transaction_pooling.then(|| connect::transaction_setup(options).into());
        let pool = connect::pool(connector, setup.clone(), options)?;
        let store = Self { pool, setup: setup.into(), per_transaction, direct: std::sync::Arc::new(direct) };
        store.ping().await?;
        Ok(store)
    }

    /// Runs a port call's work on `conn`. Behind a pooler in transaction mode the work runs in
    /// a transaction of its own that sets the search path and timeouts first, so every statement
    /// (and its prepared form) reaches the one server connection the pooler lent for it; a write
    /// transaction inside becomes a savepoint. Otherwise the work runs as it is.
    async fn run<T, F>(&self, conn: &mut Conn, work: F) -> QueryResult<T>
    where
        F: for<'c> AsyncFnOnce(&'c mut Conn) -> QueryResult<T> + for<'c> store::Work<'c, T> + Send,
    {
        use diesel_async::{AnsiTransactionManager, TransactionManager};
        let Some(setup) = &self.per_transaction else { return work(conn).await };
        AnsiTransactionManager::begin_transaction(conn).await?;
        let result = match conn.batch_execute(setup).await {
            Ok(()) => work(conn).await,
            Err(error) => Err(error),
        };
        match result {
            Ok(value) => AnsiTransactionManager::commit_transaction(conn).await.map(|()| value),
            Err(error) => {
                // The work's error is the answer; a failed rollback leaves the connection
                // broken, and the pool replaces it.
                let _ = AnsiTransactionManager::rollback_transaction(conn).await;
                Err(error)
            }
        }
    }

    /// Listens for changes to the signing keys on a session of its own on the server (kept
    /// open, and reopened after a failure, until the answer is dropped).
    pub fn key_changes(&self) -> KeyChanges {
        notifications::listen(std::sync::Arc::clone(&self.direct))
    }

    /// Applies pending migrations on a session of its own on the server; returns how many ran.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let mut conn = connect::single(&self.direct, &self.setup).await?;
        // Replicas starting together would race on CREATE SCHEMA and on the bookkeeping table:
        // one migrates while the others wait, then find nothing left to do. The lock belongs to
        // this session, which ends (releasing it, whatever happened) when `conn` is dropped.
        // Waiting for another replica's migration, or a long migration, must not hit the request
        // timeouts.
        conn.batch_execute(&format!(
            "SET statement_timeout = 0; SET lock_timeout = 0; SELECT pg_advisory_lock({MIGRATION_LOCK})"
        ))
        .await
        .map_err(store_error)?;
        let (mut conn, applied) = migrate_locked(conn).await;
        let unlocked = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
            .execute(&mut conn)
            .await
            .map_err(store_error);
        let applied = applied?;
        unlocked?;
        Ok(applied)
    }
}

async fn migrate_locked(mut conn: AsyncPgConnection) -> (AsyncPgConnection, Result<usize, StoreError>) {
    // The bookkeeping table lives in `auth` too (the connection's search path), beside the
    // tables it describes.
    let prepared = diesel::sql_query("CREATE SCHEMA IF NOT EXISTS auth").execute(&mut conn).await.map_err(store_error);
    if let Err(error) = prepared {
        return (conn, Err(error));
    }
    // The harness blocks in place, which needs the multi-threaded runtime.
    let mut harness = diesel_async::AsyncMigrationHarness::new(conn);
    let applied = tokio::task::block_in_place(|| harness.run_pending_migrations(MIGRATIONS).map(|v| v.len()))
        .map_err(|e| StoreError::Internal(format!("migration failed: {e}")));
    (harness.into_inner(), applied)
}

/// Serialises writers of the first key (replicas starting together); readers are not blocked.
async fn serialize_key_writers(c: &mut Conn) -> QueryResult<()> {
    diesel::sql_query("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE").execute(c).await.map(drop)
}
