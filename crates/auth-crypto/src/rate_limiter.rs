//! The in-process adapter of the `RateLimiter` port.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use auth_core::domain::{LimitKey, Quota, gcra};
use auth_core::ports::{Admission, Clock, LimiterError, RateLimiter};
use chrono::{DateTime, Utc};

/// Keys beyond which those whose counts have refilled are swept, so memory stays bounded by
/// the keys hit recently.
const SWEEP_THRESHOLD: usize = 10_000;

/// Rate-limit counters in this process's memory, on the injected clock: right for one
/// replica, and for several only with limits multiplied by the replica count (a shared store's
/// adapter is the scale-out answer). Every check-and-count runs under one lock, so concurrent
/// hits never exceed a quota.
pub struct InProcessLimiter {
    clock: Arc<dyn Clock>,
    // Each key's theoretical arrival time (GCRA).
    next: Mutex<HashMap<LimitKey, DateTime<Utc>>>,
}

impl InProcessLimiter {
    /// Counters reading time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, next: Mutex::new(HashMap::new()) }
    }

    fn step(&self, key: &LimitKey, quota: Quota, count: bool) -> Admission {
        let now = self.clock.now();
        // A poisoned lock only means another request panicked mid-update; the map is still usable.
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        if count && next.len() > SWEEP_THRESHOLD {
            // A key whose time has passed has its whole burst back: forgetting it changes nothing.
            next.retain(|_, tat| *tat > now);
        }
        match gcra(next.get(key).copied(), now, quota) {
            Ok(Some(tat)) if count => {
                next.insert(key.clone(), tat);
                Admission::Admitted
            }
            Ok(_) => Admission::Admitted,
            Err(retry_after) => Admission::Refused { retry_after },
        }
    }
}

impl std::fmt::Debug for InProcessLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessLimiter").finish_non_exhaustive()
    }
}

#[async_trait]
impl RateLimiter for InProcessLimiter {
    async fn hit(&self, key: &LimitKey, quota: Quota) -> Result<Admission, LimiterError> {
        Ok(self.step(key, quota, true))
    }

    async fn peek(&self, key: &LimitKey, quota: Quota) -> Result<Admission, LimiterError> {
        Ok(self.step(key, quota, false))
    }

    async fn forget(&self, key: &LimitKey) -> Result<(), LimiterError> {
        self.next.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
        Ok(())
    }
}
