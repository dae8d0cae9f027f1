//! `RedisLimiter`: auth-core's `RateLimiter` port on Redis.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use auth_core::domain::{LimitKey, Quota};
use auth_core::ports::{Admission, Clock, LimiterError, RateLimiter};
use deadpool_redis::redis::{AsyncConnectionConfig, Script};
use deadpool_redis::{Manager, Pool, Runtime};

/// One GCRA step on `KEYS[1]` (its value: the theoretical arrival time, in microseconds since
/// the epoch). ARGV: now, the cost of a hit and the window (microseconds), and `1` to count.
/// Answers -1 when admitted, or the microseconds until a hit would be. An admitted, counted hit
/// stores the new time with an expiry at that time: a key past it has its whole burst back, so
/// forgetting it changes nothing. Numbers stay below 2^53, exact in Lua's doubles.
const GCRA: &str = r"
local now = tonumber(ARGV[1])
local step = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
if tat < now then tat = now end
local next_tat = tat + step
local ahead = next_tat - now
if ahead > window then return ahead - window end
if ARGV[4] == '1' then
  redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.max(1, math.ceil(ahead / 1000)))
end
return -1
";

/// Where the counters live and how long to wait for them.
#[derive(Clone)]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS).
    pub url: String,
    /// Prepended to every key, so several deployments can share one Redis.
    pub key_prefix: String,
    /// Most connections open at once.
    pub max_connections: usize,
    /// How long to wait to connect, for a free connection, or for an answer.
    pub timeout: Duration,
}

impl std::fmt::Debug for RedisSettings {
    // The URL may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("key_prefix", &self.key_prefix)
            .field("max_connections", &self.max_connections)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Rate-limit counters in Redis, shared by every replica that uses the same server and prefix.
/// Time comes from the clock it is given, like every limiter.
#[derive(Clone)]
pub struct RedisLimiter {
    pool: Pool,
    prefix: String,
    script: Arc<Script>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter").field("prefix", &self.prefix).field("pool", &self.pool.status()).finish()
    }
}

impl RedisLimiter {
    /// A limiter on the server `settings` name, reading time from `clock`. Connects lazily:
    /// a server that is down makes checks fail (`Unavailable`), not start-up; see
    /// [`RedisLimiter::ping`].
    pub fn new(settings: &RedisSettings, clock: Arc<dyn Clock>) -> Result<Self, LimiterError> {
        let connection = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout));
        let manager = Manager::new_with_config(settings.url.as_str(), connection).map_err(unavailable)?;
        let pool = Pool::builder(manager)
            .max_size(settings.max_connections.max(1))
            .wait_timeout(Some(settings.timeout))
            .create_timeout(Some(settings.timeout))
            .recycle_timeout(Some(settings.timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| LimiterError(format!("cannot build the Redis pool: {e}")))?;
        Ok(Self { pool, prefix: settings.key_prefix.clone(), script: Arc::new(Script::new(GCRA)), clock })
    }

    /// Checks that the server answers.
    pub async fn ping(&self) -> Result<(), LimiterError> {
        let mut conn = self.pool.get().await.map_err(unavailable)?;
        deadpool_redis::redis::cmd("PING").query_async::<String>(&mut *conn).await.map(drop).map_err(unavailable)
    }

    fn key(&self, key: &LimitKey) -> String {
        format!("{}{}", self.prefix, key.as_str())
    }

    async fn step(&self, key: &LimitKey, quota: Quota, count: bool) -> Result<Admission, LimiterError> {
        if quota.is_off() {
            return Ok(Admission::Admitted);
        }
        let window = i64::try_from(quota.window.as_micros()).unwrap_or(i64::MAX);
        let step = window / i64::from(quota.limit);
        let now = self.clock.now().timestamp_micros();
        let mut conn = self.pool.get().await.map_err(unavailable)?;
        let mut invocation = self.script.key(self.key(key));
        invocation.arg(now).arg(step).arg(window).arg(if count { "1" } else { "0" });
        let wait: i64 = invocation.invoke_async(&mut *conn).await.map_err(unavailable)?;
        Ok(match u64::try_from(wait) {
            Ok(us) => Admission::Refused { retry_after: Duration::from_micros(us.max(1)) },
            Err(_) => Admission::Admitted,
        })
    }
}

fn unavailable(error: impl std::fmt::Display) -> LimiterError {
    LimiterError(format!("Redis: {error}"))
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn hit(&self, key: &LimitKey, quota: Quota) -> Result<Admission, LimiterError> {
        self.step(key, quota, true).await
    }

    async fn peek(&self, key: &LimitKey, quota: Quota) -> Result<Admission, LimiterError> {
        self.step(key, quota, false).await
    }

    async fn forget(&self, key: &LimitKey) -> Result<(), LimiterError> {
        let mut conn = self.pool.get().await.map_err(unavailable)?;
        deadpool_redis::redis::cmd("DEL")
            .arg(self.key(key))
            .query_async::<i64>(&mut *conn)
            .await
            .map(drop)
            .map_err(unavailable)
    }
}
