//! The Redis limiter against the `RateLimiter` contract, and shared by two replicas. Redis is
//! `AUTHD_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`); without one the tests are skipped
//! with a loud message, unless `AUTHD_TEST_REQUIRE_REDIS=1` makes that a failure.

// Test code: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use auth_core::domain::{LimitKey, Quota};
use auth_core::ports::{Admission, Clock, RateLimiter};
use auth_core::testing::{ManualClock, TestWorld};
use auth_redis::{RedisLimiter, RedisSettings};
use auth_testkit::limiter_contract::LimiterHarness;

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A limiter on the test Redis under a prefix of its own, or `None` (skipped) when there is none.
async fn limiter(test: &str, clock: Arc<dyn Clock>) -> Option<RedisLimiter> {
    let url = std::env::var("AUTHD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("authd-test:{}:{test}:{}:", std::process::id(), SEQUENCE.fetch_add(1, Ordering::Relaxed));
    let settings = RedisSettings { url, key_prefix: prefix, max_connections: 8, timeout: Duration::from_secs(2) };
    let limiter = RedisLimiter::new(&settings, clock).unwrap();
    match limiter.ping().await {
        Ok(()) => Some(limiter),
        Err(error) if std::env::var("AUTHD_TEST_REQUIRE_REDIS").is_ok_and(|v| v == "1") => {
            panic!("Redis is required (AUTHD_TEST_REQUIRE_REDIS=1) but unavailable: {error}")
        }
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "\n*** SKIPPING a Redis test: {error}\n");
            None
        }
    }
}

struct RedisHarness(Arc<RedisLimiter>);

impl LimiterHarness for RedisHarness {
    async fn create(test: &str, clock: Arc<ManualClock>) -> Option<Self> {
        limiter(test, clock).await.map(|l| Self(Arc::new(l)))
    }

    fn limiter(&self) -> Arc<dyn RateLimiter> {
        Arc::clone(&self.0) as Arc<dyn RateLimiter>
    }
}

auth_testkit::limiter_contract_tests!(harness = RedisHarness);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_a_limit_and_a_down_server_refuses() {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(TestWorld::start()));
    let Some(a) = limiter("shared", Arc::clone(&clock)).await else { return };
    // The second replica: its own pool, the same server and prefix.
    let url = std::env::var("AUTHD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("authd-test:{}:shared:{}:", std::process::id(), SEQUENCE.load(Ordering::Relaxed) - 1);
    let settings = RedisSettings { url, key_prefix: prefix, max_connections: 8, timeout: Duration::from_secs(2) };
    let b = RedisLimiter::new(&settings, Arc::clone(&clock)).unwrap();
    let (a, b) = (Arc::new(a), Arc::new(b));
    let quota = Quota { limit: 10, window: Duration::from_secs(60) };
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let limiter = if i % 2 == 0 { Arc::clone(&a) } else { Arc::clone(&b) };
            tokio::spawn(async move { limiter.hit(&LimitKey::new("shared", "192.0.2.1"), quota).await.unwrap() })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        admitted += usize::from(task.await.unwrap() == Admission::Admitted);
    }
    assert_eq!(admitted, 10, "both replicas count against one quota");

    let nobody = RedisSettings {
        url: "redis://127.0.0.1:1".into(),
        key_prefix: String::new(),
        max_connections: 1,
        timeout: Duration::from_millis(500),
    };
    let down = RedisLimiter::new(&nobody, clock).unwrap();
    let started = std::time::Instant::now();
    assert!(down.hit(&LimitKey::new("x", "y"), quota).await.is_err(), "a limiter that cannot count says so");
    assert!(started.elapsed() < Duration::from_secs(5), "and quickly");
}
