//! The PostgreSQL adapter of auth-core's `RateLimiter` port: counters every replica on the
//! database shares, in the UNLOGGED table `auth.rate_limits`, one statement per check (the
//! `auth.rate_limit_hit` function runs the GCRA step under the key's row lock).

use std::sync::Arc;

use async_trait::async_trait;
use auth_core::domain::{LimitKey, Quota};
use auth_core::ports::{Admission, Clock, LimiterError, RateLimiter, StoreError};
use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamptz};
use diesel_async::RunQueryDsl;

use super::PgStore;

/// The answer of `auth.rate_limit_hit`: NULL when admitted, else microseconds to wait.
#[derive(diesel::QueryableByName)]
struct Verdict {
    #[diesel(sql_type = Nullable<BigInt>)]
    wait_us: Option<i64>,
}

/// Rate-limit counters in PostgreSQL, shared by every replica on the database. Time comes from
/// the clock it is given (replicas' clocks agree to NTP's precision, far below any window).
#[derive(Clone)]
pub struct PgLimiter {
    store: PgStore,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for PgLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLimiter").field("store", &self.store).finish_non_exhaustive()
    }
}

impl PgLimiter {
    /// Counters in `store`'s database, on `clock`.
    pub fn new(store: PgStore, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Deletes up to `limit` keys whose counts have fully refilled (forgetting them changes no
    /// answer); how many went. Replicas pruning at once pass over each other's rows.
    pub async fn prune(&self, limit: u32) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let statement = diesel::sql_query(
            "DELETE FROM auth.rate_limits WHERE key IN \
             (SELECT key FROM auth.rate_limits WHERE tat < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind::<Timestamptz, _>(now)
        .bind::<BigInt, _>(i64::from(limit));
        self.store.call("prune_rate_limits", async |c| statement.execute(c).await).await.map(|n| n as u64)
    }

    async fn step(&self, key: &LimitKey, quota: Quota, count: bool) -> Result<Admission, LimiterError> {
        let Some((interval_us, window_us)) = steps(quota) else { return Ok(Admission::Admitted) };
        let now: DateTime<Utc> = self.clock.now();
        let query = diesel::sql_query("SELECT auth.rate_limit_hit($1, $2, $3, $4, $5) AS wait_us")
            .bind::<Text, _>(key.as_str().to_owned())
            .bind::<Timestamptz, _>(now)
            .bind::<BigInt, _>(interval_us)
            .bind::<BigInt, _>(window_us)
            .bind::<Bool, _>(count);
        let operation = if count { "rate_limit_hit" } else { "rate_limit_peek" };
        let verdict: Verdict = self
            .store
            .call(operation, async |c| query.get_result(c).await)
            .await
            .map_err(|e| LimiterError(e.to_string()))?;
        Ok(match verdict.wait_us {
            None => Admission::Admitted,
            Some(us) => Admission::Refused {
                retry_after: std::time::Duration::from_micros(u64::try_from(us).unwrap_or_default()),
            },
        })
    }
}

/// A quota's cost of one hit and its window, in microseconds, as `gcra` computes them; `None`
/// for an off quota.
fn steps(quota: Quota) -> Option<(i64, i64)> {
    if quota.is_off() {
        return None;
    }
    let window = i64::try_from(quota.window.as_micros()).unwrap_or(i64::MAX);
    Some((window / i64::from(quota.limit), window))
}

#[async_trait]
impl RateLimiter for PgLimiter {
    async fn hit(&self, key: &LimitKey, quota: Quota) -> Result<Admission, LimiterError> {
        self.step(key, quota, true).await
    }

    async fn peek(&self, key: &LimitKey, quota: Quota) -> Result<Admission, LimiterError> {
        self.step(key, quota, false).await
    }

    async fn forget(&self, key: &LimitKey) -> Result<(), LimiterError> {
        let statement =
            diesel::sql_query("DELETE FROM auth.rate_limits WHERE key = $1").bind::<Text, _>(key.as_str().to_owned());
        self.store
            .call("rate_limit_forget", async |c| statement.execute(c).await)
            .await
            .map(drop)
            .map_err(|e| LimiterError(e.to_string()))
    }
}
