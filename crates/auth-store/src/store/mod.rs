//! The store, written once and compiled once per backend: `postgres` and `sqlite` each declare
//! this module tree (`#[path]`) after defining what it names from `super`:
//!
//! - the store type `Store` (with its `pool`), its connection `Conn`, backend `Db`, `SYSTEM`
//!   (its `db.system.name`) and `MIGRATIONS`;
//! - the column types: module `sql` (diesel's, with `Id`, `Instant` and `Json` as the backend
//!   has them) and the Rust type of a UUID column, `DbUuid`, with `db_uuid` and `uuid` to convert;
//! - the few statements whose SQL differs: `write_transaction!`, `for_update!`,
//!   `for_update_skip_locked!`, `like_any_case!` and `serialize_key_writers`, and whether a
//!   write transaction locks from its start (`LOCKED_FROM_BEGIN`);
//! - `Store::run`, how a call's work runs on its connection (PostgreSQL behind a transaction
//!   pooler: in a transaction of its own);
//! - `Store::writer_turn`, awaited before a write takes a connection: the backend's way of making
//!   this process's writers queue (SQLite's one write lock) or nothing (PostgreSQL).
//!
//! Every port call goes through [`Store::call`], which gives it a connection, its tracing span
//! and the port's error type.

mod audit;
mod factor_rows;
mod factors;
mod flows;
mod identities;
mod identity_rows;
mod keys;
mod outbox;
mod readiness;
mod rows;
pub(super) mod schema;
mod sessions;
mod users;

use std::future::Future;

use auth_core::ports::StoreError;
use diesel::dsl::Limit;
use diesel::query_dsl::methods::LimitDsl;
use diesel::result::Error as DieselError;
use diesel::{OptionalExtension, QueryResult};
use tracing::Instrument;
use tracing::field::Empty;

use diesel_async::RunQueryDsl;
use diesel_async::methods::{ExecuteDsl, LoadQuery};
use diesel_async::pooled_connection::deadpool::Object;

use super::{Conn, SYSTEM, Store};
use crate::error::store_error;

/// What [`Store::call`] runs: async work on a borrowed connection (the future may borrow it).
pub(crate) trait Work<'c, T>: FnOnce(&'c mut Conn) -> Self::Fut {
    /// The work's future.
    type Fut: Future<Output = QueryResult<T>> + Send;
}

impl<'c, T, F, Fut> Work<'c, T> for F
where
    F: FnOnce(&'c mut Conn) -> Fut,
    Fut: Future<Output = QueryResult<T>> + Send,
{
    type Fut = Fut;
}

impl Store {
    /// A pooled connection.
    pub(super) async fn conn(&self) -> Result<Object<Conn>, StoreError> {
        self.pool.get().await.map_err(|e| StoreError::Unavailable(format!("cannot reach {SYSTEM}: {e}")))
    }

    /// How the connection pool is used now.
    pub fn pool_status(&self) -> crate::PoolStatus {
        crate::PoolStatus::from(self.pool.status())
    }

    /// Runs a trivial query, proving the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        self.run(&mut conn, async |c| diesel::sql_query("SELECT 1").execute(c).await.map(drop))
            .await
            .map_err(store_error)
    }

    /// Runs one port call: a pooled connection, the work, and a `db` span named after the
    /// operation around both (so a trace shows the pool wait too). Span fields carry the backend
    /// and the operation only, never a value from the call. A failure of the database itself
    /// (not a conflict or a missing row, which are answers) marks the span as an error.
    pub(crate) async fn call<T, F>(&self, operation: &'static str, work: F) -> Result<T, StoreError>
    where
        F: for<'c> AsyncFnOnce(&'c mut Conn) -> QueryResult<T> + for<'c> Work<'c, T> + Send,
    {
        let span = tracing::info_span!(
            "db",
            otel.name = operation,
            otel.kind = "client",
            otel.status_code = Empty,
            db.system.name = SYSTEM,
            db.operation.name = operation,
        );
        let result = async {
            let mut conn = self.conn().await?;
            self.run(&mut conn, work).await.map_err(store_error)
        }
        .instrument(span.clone())
        .await;
        if matches!(result, Err(StoreError::Unavailable(_) | StoreError::Internal(_))) {
            span.record("otel.status_code", "ERROR");
        }
        result
    }

    /// Runs one port call as a write transaction (the backend's `write_transaction!`).
    pub(crate) async fn write<T, F>(&self, operation: &'static str, work: F) -> Result<T, StoreError>
    where
        F: for<'c> AsyncFnOnce(&'c mut Conn) -> QueryResult<T> + for<'c> Work<'c, T> + Send,
        T: Send,
    {
        let _turn = self.writer_turn().await;
        self.call(operation, async |c| write_transaction!(c, work)).await
    }

    /// The first row `query` selects, as a domain value. Lookups come here unboxed: diesel caches
    /// the prepared statement of a query whose type is known at compile time, and `find_user`
    /// runs on every authenticated request.
    #[allow(clippy::manual_async_fn, reason = "as an `async fn` it is not `Send` for a query that borrows")]
    fn find<'q, Q, R, T>(
        &'q self,
        operation: &'static str,
        query: Q,
    ) -> impl Future<Output = Result<Option<T>, StoreError>> + Send + 'q
    where
        Q: LimitDsl + Send + 'q,
        Limit<Q>: LoadQuery<'q, Conn, R> + Send + 'q,
        R: Send + 'static,
        T: TryFrom<R, Error = StoreError>,
    {
        async move {
            let row = self.call(operation, async |c| query.first(c).await.optional()).await?;
            row.map(T::try_from).transpose()
        }
    }

    /// Runs an insert, update or delete; how many rows it touched.
    async fn execute<Q: ExecuteDsl<Conn> + Send>(
        &self,
        operation: &'static str,
        statement: Q,
    ) -> Result<usize, StoreError> {
        let _turn = self.writer_turn().await;
        self.call(operation, async |c| statement.execute(c).await).await
    }

    /// Every row `query` selects, as domain values.
    #[allow(clippy::manual_async_fn, reason = "as an `async fn` it is not `Send` for a query that borrows")]
    fn load<'q, Q, R, T>(
        &'q self,
        operation: &'static str,
        query: Q,
    ) -> impl Future<Output = Result<Vec<T>, StoreError>> + Send + 'q
    where
        Q: LoadQuery<'q, Conn, R> + Send + 'q,
        R: Send + 'static,
        T: TryFrom<R, Error = StoreError>,
    {
        async move {
            let rows = self.call(operation, async |c| query.load(c).await).await?;
            rows.into_iter().map(T::try_from).collect()
        }
    }
}

/// Carries a conversion failure out of work that speaks diesel errors.
fn internal(error: StoreError) -> DieselError {
    DieselError::QueryBuilderError(error.to_string().into())
}

/// A count the database reports as `i64`, as the port's `u64`.
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

/// An offset or limit from the port's `u64`, as SQL's `i64`.
fn bound(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
