//! PostgreSQL's pool: every connection is opened by the shared [`PgConnector`] (TLS per the
//! URL's `sslmode`, keepalives), wrapped for diesel-async, and given the session settings
//! (search path and timeouts) before first use.

use std::sync::Arc;
use std::time::Duration;

use auth_core::ports::StoreError;
use auth_pgconn::{Keepalives, PgConnector};
use diesel::ConnectionError;
use diesel::connection::CacheSize;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::FutureExt;

use crate::PoolOptions;

/// The statements every new connection runs: unqualified table names resolve to `auth`, and no
/// statement, lock wait or forgotten transaction can hold a connection (and the rows it locked)
/// longer than configured.
pub(super) fn session_setup(options: &PoolOptions) -> String {
    format!(
        "SET search_path TO auth; SET statement_timeout = {}; SET lock_timeout = {}; \
         SET idle_in_transaction_session_timeout = {}",
        millis(options.statement_timeout),
        millis(options.lock_timeout),
        millis(options.idle_in_transaction_timeout),
    )
}

/// The same settings for one transaction (`SET LOCAL`), which is all a pooler in transaction
/// mode lets a client set: a session-wide `SET` would stay on a server connection other clients
/// are handed next, and ours would run without it.
pub(super) fn transaction_setup(options: &PoolOptions) -> String {
    session_setup(options).replace("SET ", "SET LOCAL ")
}

/// A duration as PostgreSQL's integer milliseconds (0 means no limit there too).
fn millis(duration: Duration) -> u128 {
    duration.as_millis()
}

/// The connector for `url` with the options' keepalives; refuses a bad or insecure URL.
pub(super) fn connector(url: &str, options: &PoolOptions) -> Result<PgConnector, auth_pgconn::ConnectError> {
    let keepalives = (!options.tcp_keepalive.is_zero()).then(|| Keepalives::after(options.tcp_keepalive));
    Ok(PgConnector::new(url)?.keepalives(keepalives))
}

/// One connection of its own from `connector`, outside any pool, after running `setup`.
pub(super) async fn single(connector: &PgConnector, setup: &str) -> Result<AsyncPgConnection, StoreError> {
    let (client, connection) = connector.connect().await.map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let mut conn = AsyncPgConnection::try_from_client_and_connection(client, connection)
        .await
        .map_err(|e| StoreError::Unavailable(format!("cannot set up a PostgreSQL session: {e}")))?;
    conn.batch_execute(setup).await.map_err(crate::error::store_error)?;
    Ok(conn)
}

/// The pool: connections come from `connector` and run `setup` once. Behind a pooler in
/// transaction mode (`options.transaction_pooling`) they run no setup (it would stay on a server
/// connection shared with other clients) and prepare every statement afresh: a cached prepared
/// statement lives on one server connection, and the next transaction may get another.
pub(super) fn pool(
    connector: PgConnector,
    setup: String,
    options: &PoolOptions,
) -> Result<Pool<AsyncPgConnection>, StoreError> {
    let connector = Arc::new(connector);
    let pooled = options.transaction_pooling;
    let setup: Arc<str> = if pooled { "".into() } else { setup.into() };
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    // No `SELECT 1` before each use: it doubled the round trips of a `GET /user`. A connection
    // that was closed, or left in a transaction, is still replaced.
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |_url| {
        let connector = Arc::clone(&connector);
        let setup = Arc::clone(&setup);
        async move {
            if pooled {
                return through_pooler(&connector).await;
            }
            let (client, connection) =
                connector.connect().await.map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
            let mut conn = AsyncPgConnection::try_from_client_and_connection(client, connection).await?;
            conn.batch_execute(&setup).await.map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        }
        .boxed()
    });
    // The manager's URL is never used: `custom_setup` connects through the connector.
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config("", config);
    options.pool(manager)
}

/// A connection through a pooler in transaction mode. diesel-async's own set-up (time zone and
/// encoding, two prepared statements) runs inside one transaction, so that each statement's
/// preparation and execution reach the same server connection; the settings it makes are
/// parameters the pooler tracks and restores per client. Then no statement is cached.
async fn through_pooler(connector: &PgConnector) -> diesel::ConnectionResult<AsyncPgConnection> {
    let bad = |e: String| ConnectionError::BadConnection(e);
    let client = connector.connect_spawned("pooled").await.map_err(|e| bad(e.to_string()))?;
    client.batch_execute("BEGIN").await.map_err(|e| bad(e.to_string()))?;
    let mut conn = AsyncPgConnection::try_from(client).await?;
    conn.batch_execute("COMMIT").await.map_err(ConnectionError::CouldntSetupConfiguration)?;
    conn.set_prepared_statement_cache_size(CacheSize::Disabled);
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_setup_carries_every_timeout_in_milliseconds() {
        let options = PoolOptions {
            statement_timeout: Duration::from_secs(10),
            lock_timeout: Duration::from_millis(1500),
            idle_in_transaction_timeout: Duration::ZERO,
            ..PoolOptions::default()
        };
        assert_eq!(
            session_setup(&options),
            "SET search_path TO auth; SET statement_timeout = 10000; SET lock_timeout = 1500; \
             SET idle_in_transaction_session_timeout = 0"
        );
        assert_eq!(
            transaction_setup(&options),
            "SET LOCAL search_path TO auth; SET LOCAL statement_timeout = 10000; SET LOCAL lock_timeout = 1500; \
             SET LOCAL idle_in_transaction_session_timeout = 0"
        );
    }
}
