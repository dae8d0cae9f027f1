//! The PostgreSQL rate limiter: the limiter contract, counts shared by two pools on one
//! database (two replicas), and pruning of refilled keys.

use std::sync::Arc;
use std::time::Duration;

use auth_core::domain::{LimitKey, Quota};
use auth_core::ports::{Admission, RateLimiter};
use auth_core::testing::{ManualClock, TestWorld};
use auth_store::{Database, PgLimiter, PoolOptions};
use auth_testkit::limiter_contract::LimiterHarness;
use auth_testkit::postgres::{TestDatabase, test_database};

/// A fresh database per case.
pub struct PgLimiterHarness {
    limiter: Arc<PgLimiter>,
    _database: TestDatabase,
}

async fn open(url: &str, clock: Arc<ManualClock>) -> PgLimiter {
    let database = Database::connect(url, &PoolOptions::default()).await.unwrap();
    database.migrate().await.unwrap();
    database.shared_limiter(clock).expect("PostgreSQL shares its counters")
}

impl LimiterHarness for PgLimiterHarness {
    async fn create(test: &str, clock: Arc<ManualClock>) -> Option<Self> {
        let database = test_database(test).await?;
        let limiter = Arc::new(open(database.url(), clock).await);
        Some(Self { limiter, _database: database })
    }

    fn limiter(&self) -> Arc<dyn RateLimiter> {
        Arc::clone(&self.limiter) as Arc<dyn RateLimiter>
    }
}

auth_testkit::limiter_contract_tests!(harness = PgLimiterHarness);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_one_database_share_a_limit() {
    let Some(database) = test_database("limiter_two_replicas").await else { return };
    let clock = Arc::new(ManualClock::new(TestWorld::start()));
    let (a, b) = (Arc::new(open(database.url(), clock.clone()).await), Arc::new(open(database.url(), clock).await));
    let key = LimitKey::new("shared", "192.0.2.1");
    let quota = Quota { limit: 10, window: Duration::from_secs(60) };
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let limiter = if i % 2 == 0 { Arc::clone(&a) } else { Arc::clone(&b) };
            let key = key.clone();
            tokio::spawn(async move { limiter.hit(&key, quota).await.unwrap() })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        admitted += usize::from(task.await.unwrap() == Admission::Admitted);
    }
    assert_eq!(admitted, 10, "both replicas count against one quota");
    b.forget(&key).await.unwrap();
    assert_eq!(a.hit(&key, quota).await.unwrap(), Admission::Admitted, "a forget on one is seen by the other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_removes_only_refilled_keys() {
    let Some(database) = test_database("limiter_pruning").await else { return };
    let clock = Arc::new(ManualClock::new(TestWorld::start()));
    let limiter = open(database.url(), clock.clone()).await;
    let short = Quota { limit: 1, window: Duration::from_secs(10) };
    let long = Quota { limit: 1, window: Duration::from_secs(3600) };
    for i in 0..5 {
        limiter.hit(&LimitKey::new("short", &i.to_string()), short).await.unwrap();
    }
    limiter.hit(&LimitKey::new("long", "x"), long).await.unwrap();
    assert_eq!(limiter.prune(100).await.unwrap(), 0, "nothing has refilled yet");
    clock.advance(chrono::Duration::seconds(11));
    assert_eq!(limiter.prune(3).await.unwrap(), 3, "a batch at a time");
    assert_eq!(limiter.prune(100).await.unwrap(), 2);
    let refused = limiter.hit(&LimitKey::new("long", "x"), long).await.unwrap();
    assert!(matches!(refused, Admission::Refused { .. }), "a live key stays");
}
