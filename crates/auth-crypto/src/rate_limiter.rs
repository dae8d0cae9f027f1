//! The in-process adapter of the `RateLimiter` port.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use auth_core::domain::{LimitKey, Quota, gcra};
use auth_core::ports::{Admission, Clock, LimiterError, RateLimiter};
use chrono::{DateTime, Utc};

/// Keys beyond which those whose counts have refilled are first swept, so memory stays bounded
/// by the keys hit recently.
const SWEEP_THRESHOLD: usize = 10_000;

/// Rate-limit counters in this process's memory, on the injected clock: right for one
/// replica, and for several only with limits multiplied by the replica count (a shared store's
/// adapter is the scale-out answer). Every check-and-count runs under one lock, so concurrent
/// hits never exceed a quota.
pub struct InProcessLimiter {
    clock: Arc<dyn Clock>,
    counters: Mutex<Counters>,
}

/// Each key's theoretical arrival time (GCRA), and the size that triggers the next sweep.
struct Counters {
    next: HashMap<LimitKey, DateTime<Utc>>,
    sweep_above: usize,
}

impl InProcessLimiter {
    /// Counters reading time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        let counters = Counters { next: HashMap::new(), sweep_above: SWEEP_THRESHOLD };
        Self { clock, counters: Mutex::new(counters) }
    }

    fn step(&self, key: &LimitKey, quota: Quota, count: bool) -> Admission {
        let now = self.clock.now();
        // A poisoned lock only means another request panicked mid-update; the map is still usable.
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        if count && counters.next.len() > counters.sweep_above {
            // A key whose time has passed has its whole burst back: forgetting it changes nothing.
            counters.next.retain(|_, tat| *tat > now);
            // Keys still live (long windows) stay; the next sweep waits until the map has doubled,
            // so a large set of live keys does not make every hit scan them all.
            counters.sweep_above = (counters.next.len() * 2).max(SWEEP_THRESHOLD);
        }
        let next = &mut counters.next;
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
        self.counters.lock().unwrap_or_else(PoisonError::into_inner).next.remove(key);
        Ok(())
    }
}
