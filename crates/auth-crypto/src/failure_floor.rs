use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Cost classes remembered; past this the fastest is forgotten for the new one.
const MAX_CLASSES: usize = 32;
/// Weight of a new measurement in a class's running average (1/8): one slow run (a busy CPU)
/// moves the floor only a little, and it settles back.
const SMOOTHING: u32 = 8;
/// Highest floor: failures are never padded beyond this.
const MAX_FLOOR: Duration = Duration::from_secs(2);

/// The work behind a stored hash: its scheme and cost parameters, without salt or digest.
/// Two hashes of one class take the same time to verify.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CostClass(String);

impl CostClass {
    /// The class of a stored hash in PHC or bcrypt (modular crypt) form.
    pub(crate) fn of(stored: &str) -> Self {
        // `$2b$10$salt+digest` → `$2b$10`; `$argon2id$v=19$m=..,t=..,p=..$salt$digest` → up to the params.
        let fields = if stored.starts_with("$2") { 2 } else { 3 };
        let end = stored.match_indices('$').nth(fields).map_or(stored.len(), |(i, _)| i);
        Self(stored.get(..end).unwrap_or(stored).to_owned())
    }
}

/// How long a failed password check must take: as long as the slowest kind of stored hash
/// this process has verified, so that a failure does not tell which scheme or parameters the
/// account's hash has (an imported bcrypt hash, an older argon2 cost) or whether the account
/// exists. Each class's time is a running average; the floor is the largest of them, capped.
/// Pure bookkeeping: the caller measures and waits.
#[derive(Debug, Default)]
pub(crate) struct FailureFloor {
    classes: Mutex<HashMap<CostClass, Duration>>,
}

impl FailureFloor {
    /// Notes that verifying a hash of `class` took `took`.
    pub(crate) fn record(&self, class: CostClass, took: Duration) {
        let mut classes = self.classes.lock().unwrap_or_else(PoisonError::into_inner);
        if !classes.contains_key(&class) && classes.len() >= MAX_CLASSES {
            let fastest = classes.iter().min_by_key(|(_, d)| **d).map(|(c, _)| c.clone());
            if let Some(fastest) = fastest {
                classes.remove(&fastest);
            }
        }
        classes
            .entry(class)
            .and_modify(|average| {
                *average = if took >= *average {
                    *average + (took - *average) / SMOOTHING
                } else {
                    *average - (*average - took) / SMOOTHING
                };
            })
            .or_insert(took);
    }

    /// The time a failure must take now.
    pub(crate) fn floor(&self) -> Duration {
        let classes = self.classes.lock().unwrap_or_else(PoisonError::into_inner);
        classes.values().copied().max().unwrap_or_default().min(MAX_FLOOR)
    }

    /// How much longer a failure whose check took `took` must wait.
    pub(crate) fn padding(&self, took: Duration) -> Duration {
        self.floor().saturating_sub(took)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BCRYPT_10: &str = "$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234";
    const ARGON2: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g";

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn classes_keep_scheme_and_cost_but_not_salt_or_digest() {
        assert_eq!(CostClass::of(BCRYPT_10), CostClass("$2b$10".into()));
        assert_eq!(CostClass::of(ARGON2), CostClass("$argon2id$v=19$m=19456,t=2,p=1".into()));
        assert_eq!(CostClass::of("garbage"), CostClass("garbage".into()));
    }

    #[test]
    fn failures_are_padded_to_the_slowest_class_seen() {
        let floor = FailureFloor::default();
        assert_eq!(floor.padding(ms(5)), Duration::ZERO, "nothing measured yet");
        floor.record(CostClass::of(ARGON2), ms(30));
        assert_eq!(floor.padding(ms(30)), Duration::ZERO);
        floor.record(CostClass::of(BCRYPT_10), ms(80));
        // An unknown account (checked against the argon2 dummy) now waits like a bcrypt account.
        assert_eq!(floor.padding(ms(30)), ms(50));
        assert_eq!(floor.padding(ms(80)), Duration::ZERO);
        assert_eq!(floor.padding(ms(200)), Duration::ZERO, "never negative");
    }

    #[test]
    fn one_slow_run_moves_the_floor_a_little_and_it_settles_back() {
        let floor = FailureFloor::default();
        floor.record(CostClass::of(ARGON2), ms(30));
        floor.record(CostClass::of(ARGON2), ms(830));
        assert_eq!(floor.floor(), ms(130));
        for _ in 0..40 {
            floor.record(CostClass::of(ARGON2), ms(30));
        }
        assert!(floor.floor() < ms(31), "{:?}", floor.floor());
    }

    #[test]
    fn the_floor_is_capped_and_the_classes_bounded() {
        let floor = FailureFloor::default();
        floor.record(CostClass::of("$2b$14$x"), Duration::from_secs(60));
        assert_eq!(floor.floor(), MAX_FLOOR);
        for n in 0..100 {
            floor.record(CostClass(format!("class {n}")), ms(n));
        }
        let classes = floor.classes.lock().unwrap();
        assert_eq!(classes.len(), MAX_CLASSES);
        assert!(classes.values().any(|d| *d == Duration::from_secs(60)), "the slowest is kept");
    }
}
