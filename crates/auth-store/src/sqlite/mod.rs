//! The embedded SQLite store: `SyncConnectionWrapper` connections pooled by deadpool. The port
//! methods are the shared ones of `store/` (one body for both backends); their queries run synchronous diesel where they
//! are awaited ([`Inline`]). Every write that reads first takes the write lock up front
//! (`BEGIN IMMEDIATE`), so concurrent writers queue instead of failing, and no row locks are
//! needed inside.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use auth_core::ports::StoreError;
use diesel::connection::AnsiTransactionManager;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::prelude::*;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Binary;
use diesel::sqlite::{SqliteConnection, SqliteValue};
use diesel_async::TransactionManager;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::sync_connection_wrapper::{SpawnBlocking, SyncConnectionWrapper, SyncTransactionManagerWrapper};
use diesel_async::{AsyncConnection, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::PoolOptions;
use crate::error::store_error;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// `db.system.name` in OpenTelemetry's terms.
pub(crate) const SYSTEM: &str = "sqlite";

/// Per-connection settings: write-ahead log so readers never block the writer, a busy timeout
/// so writers queue for the lock, and foreign keys (off by default in SQLite) for the cascades.
const CONNECTION_PRAGMAS: &str =
    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;";

type Conn = SyncConnectionWrapper<SqliteConnection, Inline>;

/// Runs a connection's statements on the task that awaits them instead of handing each to a
/// blocking thread. With the write-ahead log and `synchronous = NORMAL` a statement does no
/// `fsync`, so it costs microseconds, less than the thread hop (measured in docs/benchmarks.md:
/// a hop per statement made refresh rotations a third slower). A port call's body then runs
/// without yielding, so a transaction never waits on another task of the same thread.
pub struct Inline;

impl SpawnBlocking for Inline {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> BoxFuture<'a, Result<R, Box<dyn std::error::Error + Send + Sync + 'static>>>
    where
        R: Send + 'static,
    {
        Box::pin(std::future::ready(Ok(task())))
    }

    fn get_runtime() -> Self {
        Self
    }
}
type Db = diesel::sqlite::Sqlite;
type Store = SqliteStore;

/// The column types whose SQL differs between the backends, as SQLite has them: UUIDs are
/// 16-byte blobs, instants ISO-8601 text, JSON text.
mod sql {
    pub use diesel::sql_types::*;
    pub type Id = Binary;
    pub type Instant = TimestamptzSqlite;
}

/// A UUID column's Rust type: a UUID stored as its 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Binary)]
pub struct DbUuid(uuid::Uuid);

fn db_uuid(id: &uuid::Uuid) -> DbUuid {
    DbUuid(*id)
}

fn uuid(id: DbUuid) -> uuid::Uuid {
    id.0
}

impl ToSql<Binary, Db> for DbUuid {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Db>) -> serialize::Result {
        <[u8] as ToSql<Binary, Db>>::to_sql(self.0.as_bytes().as_slice(), out)
    }
}

impl FromSql<Binary, Db> for DbUuid {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        let bytes = <Vec<u8> as FromSql<Binary, Db>>::from_sql(value)?;
        Ok(Self(uuid::Uuid::from_slice(&bytes)?))
    }
}

/// A write transaction: `BEGIN IMMEDIATE` takes SQLite's one write lock before the first read,
/// so two writers never both read and then fail to upgrade ("database is locked").
macro_rules! write_transaction {
    ($conn:expr, $work:expr) => {
        $crate::sqlite::write_transaction($conn, $work).await
    };
}

/// [`write_transaction!`]'s body. diesel-async offers `immediate_transaction` only on its own
/// blocking-thread wrapper, so the begin, commit and rollback are spelled out here the way it
/// does them.
async fn write_transaction<R, F>(conn: &mut Conn, work: F) -> QueryResult<R>
where
    F: for<'c> AsyncFnOnce(&'c mut Conn) -> QueryResult<R> + for<'c> store::Work<'c, R>,
{
    type Manager = SyncTransactionManagerWrapper<AnsiTransactionManager>;
    conn.spawn_blocking(|c| AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")).await?;
    match work(&mut *conn).await {
        Ok(value) => Manager::commit_transaction(conn).await.map(|()| value),
        Err(error) => Manager::rollback_transaction(conn).await.and(Err(error)),
    }
}

/// A write transaction holds the database's write lock from `BEGIN IMMEDIATE` on.
const LOCKED_FROM_BEGIN: bool = true;

/// `LIKE` without regard to (ASCII) letter case: SQLite's own.
macro_rules! like_any_case {
    ($column:expr, $pattern:expr) => {
        $column.like($pattern)
    };
}

/// `users.raw_user_meta_data`'s `full_name`, as text (what Supabase Auth's user filter reads).
fn user_full_name() -> diesel::expression::SqlLiteral<diesel::sql_types::Nullable<diesel::sql_types::Text>> {
    diesel::dsl::sql("json_extract(raw_user_meta_data, '$.full_name')")
}

/// No row locks in SQLite: the transaction's write lock already excludes other writers.
macro_rules! for_update {
    ($query:expr) => {
        $query
    };
}

/// As [`for_update!`]: with one writer at a time, two claims never overlap.
macro_rules! for_update_skip_locked {
    ($query:expr) => {
        $query
    };
}

// The one store body, compiled for this backend (see its module documentation).
#[allow(clippy::duplicate_mod, reason = "compiled once per backend on purpose")]
#[path = "../store/mod.rs"]
mod store;

/// The auth tables in an SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    pool: Pool<Conn>,
    path: PathBuf,
    /// This process's writers take turns here before they take a connection. SQLite has one
    /// write lock, and a writer that finds it taken sleeps in its busy handler (1 ms, then longer)
    /// while blocking the thread it runs on, which runs statements inline ([`Inline`]): an HTTP
    /// worker would stall behind it. Waiting here is asynchronous and first come, first served.
    /// Other processes on the same file (the CLI) still meet the busy timeout.
    writers: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and its directory.
    pub async fn open(path: &Path, options: &PoolOptions) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        // It holds password hashes and keys: a new file is readable by its owner only (SQLite
        // gives its WAL and shared-memory files the same mode).
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(std::fs::OpenOptions::new().append(true).create(true), 0o600)
            .open(path)
            .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", path.display())))?;
        let url = path.to_str().ok_or_else(|| StoreError::Unavailable("the SQLite path is not UTF-8".into()))?;
        let pool = pool(url, CONNECTION_PRAGMAS, options)?;
        let store = Self { pool, path: path.to_owned(), writers: Arc::default() };
        store.ping().await?;
        Ok(store)
    }

    /// Runs a port call's work on `conn` as it is.
    async fn run<T, F>(&self, conn: &mut Conn, work: F) -> QueryResult<T>
    where
        F: for<'c> AsyncFnOnce(&'c mut Conn) -> QueryResult<T> + for<'c> store::Work<'c, T> + Send,
    {
        work(conn).await
    }

    /// Waits for this process's previous writers to finish (see `writers`).
    async fn writer_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        Some(self.writers.lock().await)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies pending migrations; returns how many ran.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let mut conn = self.conn().await?;
        conn.spawn_blocking(|c| Ok(c.run_pending_migrations(MIGRATIONS).map(|v| v.len()).map_err(|e| e.to_string())))
            .await
            .map_err(store_error)?
            .map_err(|e| StoreError::Internal(format!("migration failed: {e}")))
    }
}

/// The connection pool: `setup` runs once on every new connection. (PostgreSQL builds its own, over
/// TLS: `postgres/connect.rs`.)
fn pool(url: &str, setup: &'static str, options: &PoolOptions) -> Result<Pool<Conn>, StoreError> {
    let mut config = ManagerConfig::<Conn>::default();
    // No `SELECT 1` before each use; a connection left in a transaction is still replaced.
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        async move {
            let mut conn = Conn::establish(&url).await?;
            conn.batch_execute(setup).await.map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        }
        .boxed()
    });
    let manager = AsyncDieselConnectionManager::<Conn>::new_with_config(url, config);
    options.pool(manager)
}

/// Nothing to do: the immediate transaction already holds the write lock.
async fn serialize_key_writers(_: &mut Conn) -> QueryResult<()> {
    Ok(())
}
