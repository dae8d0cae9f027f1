//! The contract every adapter of auth-core's `RateLimiter` port must keep, as cases over a
//! limiter built on a manual clock. An adapter joins with one line in its tests:
//!
//! ```ignore
//! auth_testkit::limiter_contract_tests!(|clock| Arc::new(InProcessLimiter::new(clock)));
//! ```

use std::sync::Arc;
use std::time::Duration;

use auth_core::domain::{LimitKey, Quota};
use auth_core::ports::{Admission, RateLimiter};
use auth_core::testing::{ManualClock, TestWorld};

/// Builds the limiter under test over a clock the case moves.
pub type MakeLimiter = fn(Arc<ManualClock>) -> Arc<dyn RateLimiter>;

fn quota(limit: u32, secs: u64) -> Quota {
    Quota { limit, window: Duration::from_secs(secs) }
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(TestWorld::start()))
}

/// A burst of `limit`, then refusals that say how long to wait and do not count; the count
/// refills with the clock.
pub async fn a_burst_then_refusals_that_do_not_count(make: MakeLimiter) {
    let clock = clock();
    let limiter = make(clock.clone());
    let key = LimitKey::new("contract", "a");
    for _ in 0..3 {
        assert_eq!(limiter.hit(&key, quota(3, 30)).await.unwrap(), Admission::Admitted);
    }
    for _ in 0..5 {
        let refused = limiter.hit(&key, quota(3, 30)).await.unwrap();
        assert_eq!(refused, Admission::Refused { retry_after: Duration::from_secs(10) }, "not pushed further out");
    }
    clock.advance(chrono::Duration::seconds(10));
    assert_eq!(limiter.hit(&key, quota(3, 30)).await.unwrap(), Admission::Admitted);
    assert!(matches!(limiter.hit(&key, quota(3, 30)).await.unwrap(), Admission::Refused { .. }));
}

/// Keys count apart.
pub async fn keys_count_apart(make: MakeLimiter) {
    let limiter = make(clock());
    let (a, b) = (LimitKey::new("contract", "a"), LimitKey::new("contract", "b"));
    assert_eq!(limiter.hit(&a, quota(1, 60)).await.unwrap(), Admission::Admitted);
    assert!(matches!(limiter.hit(&a, quota(1, 60)).await.unwrap(), Admission::Refused { .. }));
    assert_eq!(limiter.hit(&b, quota(1, 60)).await.unwrap(), Admission::Admitted);
    let other_scope = LimitKey::new("other", "a");
    assert_eq!(limiter.hit(&other_scope, quota(1, 60)).await.unwrap(), Admission::Admitted);
}

/// `peek` answers as `hit` would without counting; `forget` gives the whole burst back.
pub async fn peek_counts_nothing_and_forget_resets(make: MakeLimiter) {
    let limiter = make(clock());
    let key = LimitKey::new("contract", "a");
    for _ in 0..5 {
        assert_eq!(limiter.peek(&key, quota(1, 60)).await.unwrap(), Admission::Admitted);
    }
    limiter.hit(&key, quota(1, 60)).await.unwrap();
    assert!(matches!(limiter.peek(&key, quota(1, 60)).await.unwrap(), Admission::Refused { .. }));
    limiter.forget(&key).await.unwrap();
    assert_eq!(limiter.hit(&key, quota(1, 60)).await.unwrap(), Admission::Admitted);
}

/// A quota of 0 admits everything.
pub async fn an_off_quota_admits_everything(make: MakeLimiter) {
    let limiter = make(clock());
    let key = LimitKey::new("contract", "a");
    for _ in 0..100 {
        assert_eq!(limiter.hit(&key, quota(0, 60)).await.unwrap(), Admission::Admitted);
    }
    assert_eq!(limiter.hit(&key, quota(1, 60)).await.unwrap(), Admission::Admitted, "nothing was counted");
}

/// Concurrent hits never admit more than the quota.
pub async fn concurrent_hits_never_exceed_the_quota(make: MakeLimiter) {
    let limiter = make(clock());
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let limiter = Arc::clone(&limiter);
            tokio::spawn(async move { limiter.hit(&LimitKey::new("contract", "a"), quota(10, 3600)).await.unwrap() })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        if task.await.unwrap() == Admission::Admitted {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 10);
}

/// Makes every case of the limiter contract a test of the limiter `make` builds.
#[macro_export]
macro_rules! limiter_contract_tests {
    ($make:expr) => {
        $crate::limiter_contract_tests!(@cases $make;
            a_burst_then_refusals_that_do_not_count,
            keys_count_apart,
            peek_counts_nothing_and_forget_resets,
            an_off_quota_admits_everything,
            concurrent_hits_never_exceed_the_quota);
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::limiter_contract::$case($make).await;
            }
        )*
    };
}
