//! The metrics registry, and the use cases reporting to it, driven through the real use cases.

// Test code: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use auth_core::domain::Password;
use auth_core::ports::{Mail, MailError, Mailer};
use auth_core::service::{ClientInfo, Identifier, IssuedSession, LinkOptions, MailDelivery};
use auth_core::testing::TestWorld;
use auth_metrics::{DbPoolSample, HashPoolSample, Metrics};

struct World {
    test: TestWorld,
    metrics: Arc<Metrics>,
}

impl std::ops::Deref for World {
    type Target = TestWorld;

    fn deref(&self) -> &TestWorld {
        &self.test
    }
}

/// The use cases over the memory store, reporting to the metrics as authd wires them.
fn world() -> World {
    let metrics = Arc::new(Metrics::new("1.2.3"));
    let test = TestWorld::autoconfirm().with_observer(metrics.clone());
    World { test, metrics }
}

fn has(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

async fn sign_up(world: &World, email: &str) -> IssuedSession {
    world.signed_in_user(email, "correct horse").await.unwrap()
}

#[tokio::test]
async fn sign_ins_failures_refreshes_and_reuse_are_counted_from_the_audit_log() {
    let world = world();
    let first = sign_up(&world, "jane@example.com").await;
    let jane = Identifier::parse_login("jane@example.com").unwrap();
    let client = ClientInfo::default();
    world.service.sign_in_with_password(&jane, &Password::new("correct horse"), &client).await.unwrap();
    world.service.sign_in_with_password(&jane, &Password::new("wrong horse"), &client).await.unwrap_err();
    let nobody = Identifier::parse_login("nobody@example.com").unwrap();
    world.service.sign_in_with_password(&nobody, &Password::new("whatever"), &client).await.unwrap_err();
    world.service.refresh(first.refresh_token.expose(), &client).await.unwrap();
    // Past the lost-answer window (a day), the spent token is reuse.
    world.clock.advance(chrono::Duration::hours(25));
    world.service.refresh(first.refresh_token.expose(), &client).await.unwrap_err();

    let text = world.metrics.render();
    for line in [
        r#"authd_sign_ups_total{provider="email"} 1"#,
        r#"authd_sign_ins_total{method="password"} 1"#,
        r#"authd_sign_in_failures_total{reason="invalid_credentials"} 2"#,
        "authd_token_refreshes_total 1",
        "authd_refresh_token_reuse_detections_total 1",
        r#"authd_audit_events_total{action="login"} 1"#,
        r#"authd_build_info{version="1.2.3"} 1"#,
    ] {
        assert!(has(&text, line), "missing {line} in\n{text}");
    }
    assert!(!text.contains("jane") && !text.contains("nobody"), "{text}");
    let kept = auth_core::ports::AuditLog::count_events(world.store.as_ref()).await.unwrap();
    assert_eq!(kept, 6, "every event still reaches the log");
}

/// A mailer that refuses every other message for good and takes the rest.
struct Alternating(std::sync::atomic::AtomicU32);

#[async_trait]
impl Mailer for Alternating {
    async fn send(&self, _mail: &Mail) -> Result<(), MailError> {
        if self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst).is_multiple_of(2) {
            Ok(())
        } else {
            Err(MailError::Permanent("550 no such mailbox".into()))
        }
    }
}

#[tokio::test]
async fn mails_are_counted_when_queued_and_when_delivered() {
    let world = world();
    sign_up(&world, "jane@example.com").await;
    sign_up(&world, "joe@example.com").await;
    world.service.recover("jane@example.com", &LinkOptions::default()).await.unwrap();
    world.service.recover("joe@example.com", &LinkOptions::default()).await.unwrap();
    world.service.recover("unknown@example.com", &LinkOptions::default()).await.unwrap();

    let delivery =
        MailDelivery::new(world.store.clone(), Arc::new(Alternating(Default::default())), world.clock.clone());
    let report = delivery.deliver_due(10).await.unwrap();
    world.metrics.mail_delivered(&report);

    let text = world.metrics.render();
    for line in [
        r#"authd_mail_queued_total{kind="recovery"} 2"#,
        "authd_mail_sent_total 1",
        r#"authd_mail_delivery_failures_total{kind="recovery",outcome="given_up"} 1"#,
    ] {
        assert!(has(&text, line), "missing {line} in\n{text}");
    }
}

#[test]
fn pools_are_sampled_at_each_scrape() {
    let metrics = Metrics::new("1.2.3");
    let in_use = Arc::new(std::sync::atomic::AtomicUsize::new(3));
    let seen = Arc::clone(&in_use);
    metrics.watch_db_pool(move || DbPoolSample {
        max_size: 10,
        size: 4 + seen.load(std::sync::atomic::Ordering::SeqCst) - 3,
        idle: 1,
        waiting: 2,
    });
    metrics.watch_hash_pool(|| HashPoolSample { waiting: 5, running: 2 });
    metrics.hash_waited(Duration::from_millis(30));
    let text = metrics.render();
    for line in [
        r#"authd_db_pool_connections{state="idle"} 1"#,
        r#"authd_db_pool_connections{state="in_use"} 3"#,
        "authd_db_pool_max_connections 10",
        "authd_db_pool_waiting 2",
        r#"authd_password_hash_pool{state="waiting"} 5"#,
        r#"authd_password_hash_pool{state="running"} 2"#,
        "authd_password_hash_wait_seconds_count 1",
    ] {
        assert!(has(&text, line), "missing {line} in\n{text}");
    }
    in_use.store(5, std::sync::atomic::Ordering::SeqCst);
    assert!(has(&metrics.render(), r#"authd_db_pool_connections{state="in_use"} 5"#));
}

#[test]
fn labels_come_from_closed_sets_only() {
    let metrics = Metrics::new("1.2.3");
    metrics.observe_request("PROPFIND", None, 404, Duration::from_millis(1));
    metrics.observe_request("GET", Some("/admin/users/{id}"), 200, Duration::from_millis(1));
    let text = metrics.render();
    assert!(has(&text, r#"authd_http_requests_total{method="other",route="unmatched",status="404"} 1"#), "{text}");
    assert!(has(&text, r#"authd_http_requests_total{method="GET",route="/admin/users/{id}",status="200"} 1"#));
    assert!(!text.contains("PROPFIND"));
}
