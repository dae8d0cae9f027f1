//! Controllable time and randomness for tests: a clock that only moves when told to, and a
//! deterministic byte source. Never use them in production wiring.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};

use crate::ports::{Clock, Random, RandomError};

/// A clock that stands still until a test moves it.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Mutex::new(start))
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        if let Ok(mut now) = self.0.lock() {
            *now += by;
        }
    }

    /// Sets the clock.
    pub fn set(&self, to: DateTime<Utc>) {
        if let Ok(mut now) = self.0.lock() {
            *now = to;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().map(|now| *now).unwrap_or_default()
    }
}

/// Distinct, reproducible bytes: each call fills from a fresh counter value. Not random at all,
/// which is the point in a test.
#[derive(Debug, Default)]
pub struct SequentialRandom(AtomicU64);

impl Random for SequentialRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        let seed = n.to_le_bytes();
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte = seed[i % 8] ^ (i / 8) as u8;
        }
        Ok(())
    }
}
