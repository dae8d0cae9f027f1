use async_trait::async_trait;

use crate::domain::{LimitKey, Quota};

/// The limiter's verdict on a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Within the quota; the hit was counted.
    Admitted,
    /// Over the quota; nothing was counted.
    Refused {
        /// How long until a hit on this key would be admitted.
        retry_after: std::time::Duration,
    },
}

/// The limiter's counters cannot be reached (a shared store is down).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rate limiter unavailable: {0}")]
pub struct LimiterError(pub String);

/// Counters of hits per key under a [`Quota`] (a burst of `limit`, refilled at `limit` per
/// `window`; [`crate::domain::gcra`] is the arithmetic). In process memory for one replica,
/// in a shared store (Redis) for several: every rule that uses it (per-IP request limits in the
/// HTTP adapter, per-account password-failure throttles in the use cases) works with either.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one hit on `key` if it is within `quota`.
    ///
    /// - MUST check and count in one atomic step: concurrent hits on one key never admit more
    ///   than the quota allows, whatever replica or thread they come from.
    /// - A refused hit MUST NOT be counted, so a client hammering a limit does not push its own
    ///   wait further out; the answer says how long until a hit would be admitted.
    /// - An off quota (`limit` 0) MUST admit without counting.
    /// - Time MUST come from the clock the adapter was given (the `Clock` port, or the shared
    ///   store's own clock), never from a caller; keys never hit for a whole window MAY be
    ///   forgotten, so memory stays bounded by the recent keys.
    async fn hit(&self, key: &LimitKey, quota: Quota) -> Result<Admission, LimiterError>;

    /// Whether a hit on `key` would be admitted now, without counting one.
    async fn peek(&self, key: &LimitKey, quota: Quota) -> Result<Admission, LimiterError>;

    /// Forgets every hit on `key`: the next hit starts a fresh burst.
    async fn forget(&self, key: &LimitKey) -> Result<(), LimiterError>;
}

/// A limiter that admits everything and counts nothing: what a service has until
/// [`crate::service::AuthService::with_limiter`] gives it one.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLimits;

#[async_trait]
impl RateLimiter for NoLimits {
    async fn hit(&self, _: &LimitKey, _: Quota) -> Result<Admission, LimiterError> {
        Ok(Admission::Admitted)
    }

    async fn peek(&self, _: &LimitKey, _: Quota) -> Result<Admission, LimiterError> {
        Ok(Admission::Admitted)
    }

    async fn forget(&self, _: &LimitKey) -> Result<(), LimiterError> {
        Ok(())
    }
}
