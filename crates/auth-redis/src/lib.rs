//! The Redis adapter of authd: [`RedisLimiter`], rate-limit counters every replica shares, for
//! deployments that would rather not put a write per limited request on PostgreSQL
//! (`rate_limits.store = "redis"`). One Lua script per check does the GCRA step atomically on
//! the server; each key expires when its count has refilled, so Redis holds only recent keys.

mod limiter;

pub use limiter::{RedisLimiter, RedisSettings};
