//! The contract every adapter of auth-core's `RateLimiter` port must keep, as cases over a
//! limiter built on a manual clock. An adapter joins with one line in its tests:
//!
//! ```ignore
//! auth_testkit::limiter_contract_tests!(|clock| Arc::new(InProcessLimiter::new(clock)));
//! ```
//!
//! An adapter over a shared store (a database, Redis) needs set-up that may be unavailable
//! here; it implements [`LimiterHarness`] and joins with
//! `auth_testkit::limiter_contract_tests!(harness = MyHarness);`.

use std::sync::Arc;
use std::time::Duration;

use auth_core::domain::{LimitKey, Quota};
use auth_core::ports::{Admission, RateLimiter};
use auth_core::testing::{ManualClock, TestWorld};

/// Builds the limiter under test over a clock the case moves.
pub type MakeLimiter = fn(Arc<ManualClock>) -> Arc<dyn RateLimiter>;

/// A limiter under test over a shared store: made fresh for each case (keys of its own), or
/// `None` when the store is unavailable here and the case is skipped.
pub trait LimiterHarness: Sized {
    /// A limiter reading time from `clock`, whose keys no other case sees.
    fn create(test: &str, clock: Arc<ManualClock>) -> impl std::future::Future<Output = Option<Self>>;
    /// The limiter.
    fn limiter(&self) -> Arc<dyn RateLimiter>;
}

fn quota(limit: u32, secs: u64) -> Quota {
    Quota { limit, window: Duration::from_secs(secs) }
}

/// The clock a case starts from.
#[doc(hidden)]
pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(TestWorld::start()))
}

/// A burst of `limit`, then refusals that say how long to wait and do not count; the count
/// refills with the clock.
pub async fn a_burst_then_refusals_that_do_not_count(limiter: Arc<dyn RateLimiter>, clock: Arc<ManualClock>) {
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
pub async fn keys_count_apart(limiter: Arc<dyn RateLimiter>, _clock: Arc<ManualClock>) {
    let (a, b) = (LimitKey::new("contract", "a"), LimitKey::new("contract", "b"));
    assert_eq!(limiter.hit(&a, quota(1, 60)).await.unwrap(), Admission::Admitted);
    assert!(matches!(limiter.hit(&a, quota(1, 60)).await.unwrap(), Admission::Refused { .. }));
    assert_eq!(limiter.hit(&b, quota(1, 60)).await.unwrap(), Admission::Admitted);
    let other_scope = LimitKey::new("other", "a");
    assert_eq!(limiter.hit(&other_scope, quota(1, 60)).await.unwrap(), Admission::Admitted);
}

/// `peek` answers as `hit` would without counting; `forget` gives the whole burst back.
pub async fn peek_counts_nothing_and_forget_resets(limiter: Arc<dyn RateLimiter>, _clock: Arc<ManualClock>) {
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
pub async fn an_off_quota_admits_everything(limiter: Arc<dyn RateLimiter>, _clock: Arc<ManualClock>) {
    let key = LimitKey::new("contract", "a");
    for _ in 0..100 {
        assert_eq!(limiter.hit(&key, quota(0, 60)).await.unwrap(), Admission::Admitted);
    }
    assert_eq!(limiter.hit(&key, quota(1, 60)).await.unwrap(), Admission::Admitted, "nothing was counted");
}

/// Concurrent hits never admit more than the quota.
pub async fn concurrent_hits_never_exceed_the_quota(limiter: Arc<dyn RateLimiter>, _clock: Arc<ManualClock>) {
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

/// Makes every case of the limiter contract a test of the limiter `make` builds from a clock,
/// or (`harness = Type`) of the [`LimiterHarness`] `Type` makes.
#[macro_export]
macro_rules! limiter_contract_tests {
    (harness = $harness:ty) => {
        $crate::limiter_contract_tests!(@cases harness $harness;
            a_burst_then_refusals_that_do_not_count,
            keys_count_apart,
            peek_counts_nothing_and_forget_resets,
            an_off_quota_admits_everything,
            concurrent_hits_never_exceed_the_quota);
    };
    ($make:expr) => {
        $crate::limiter_contract_tests!(@cases make $make;
            a_burst_then_refusals_that_do_not_count,
            keys_count_apart,
            peek_counts_nothing_and_forget_resets,
            an_off_quota_admits_everything,
            concurrent_hits_never_exceed_the_quota);
    };
    (@cases make $make:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let clock = $crate::limiter_contract::clock();
                let make: $crate::limiter_contract::MakeLimiter = $make;
                let limiter = make(::std::sync::Arc::clone(&clock));
                $crate::limiter_contract::$case(limiter, clock).await;
            }
        )*
    };
    (@cases harness $harness:ty; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let clock = $crate::limiter_contract::clock();
                let harness =
                    <$harness as $crate::limiter_contract::LimiterHarness>::create(stringify!($case), ::std::sync::Arc::clone(&clock)).await;
                if let Some(harness) = harness {
                    let limiter = $crate::limiter_contract::LimiterHarness::limiter(&harness);
                    $crate::limiter_contract::$case(limiter, clock).await;
                }
            }
        )*
    };
}
