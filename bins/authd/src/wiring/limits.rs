//! Where rate-limit counts are kept (`rate_limits.store`): this process's memory, PostgreSQL or
//! Redis, and the pruning of PostgreSQL's counters.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use auth_core::ports::{Clock, RateLimiter};
use auth_crypto::InProcessLimiter;
use auth_store::{Database, PgLimiter};

use crate::config::{Config, LimiterStore};

/// The store the configuration asks for, or the default for the database: shared counters on
/// PostgreSQL, this process's on SQLite.
pub fn limiter_store(config: &Config, database: &Database) -> LimiterStore {
    config.rate_limits.store.unwrap_or(match database {
        Database::Postgres(_) => LimiterStore::Database,
        Database::Sqlite(_) => LimiterStore::Memory,
    })
}

/// The rate limiter every count goes through: per-IP request limits, per-account password
/// throttles and the per-address mail throttle.
pub fn limiter(config: &Config, database: &Database, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<dyn RateLimiter>> {
    Ok(match limiter_store(config, database) {
        LimiterStore::Memory => Arc::new(InProcessLimiter::new(clock)),
        LimiterStore::Database => Arc::new(
            database
                .shared_limiter(clock)
                .context("rate_limits.store = \"database\" needs PostgreSQL; SQLite keeps its counts in memory")?,
        ),
        LimiterStore::Redis => {
            let url = config
                .rate_limits
                .redis_url
                .as_ref()
                .context("rate_limits.store = \"redis\" needs rate_limits.redis_url")?;
            let settings = auth_redis::RedisSettings {
                url: url.expose().to_owned(),
                key_prefix: config.rate_limits.redis_key_prefix.clone(),
                max_connections: config.database.max_connections,
                timeout: Duration::from_secs(config.database.connect_timeout_secs),
            };
            Arc::new(auth_redis::RedisLimiter::new(&settings, clock).context("rate_limits.redis_url")?)
        }
    })
}

/// On PostgreSQL with `store = "database"`: deletes refilled counters every minute, a batch at a
/// time (every replica may; they pass over each other's rows).
pub fn spawn_limiter_pruning(config: &Config, database: &Database, clock: Arc<dyn Clock>) {
    if limiter_store(config, database) != LimiterStore::Database {
        return;
    }
    let Some(limiter): Option<PgLimiter> = database.shared_limiter(clock) else { return };
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(60));
        loop {
            ticks.tick().await;
            loop {
                match limiter.prune(10_000).await {
                    Ok(10_000) => continue,
                    Ok(_) => break,
                    Err(error) => {
                        tracing::warn!(%error, "cannot prune the rate-limit counters; will try again");
                        break;
                    }
                }
            }
        }
    });
}
