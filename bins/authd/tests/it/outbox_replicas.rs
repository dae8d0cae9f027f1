//! Three replicas' delivery loops draining one outbox on PostgreSQL: each message is sent
//! exactly once, with a Message-ID of its own.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::test;
use auth_crypto::SystemClock;
use auth_testkit::http::{post, send};
use auth_testkit::smtp::{Behaviour, Sink};
use authd::config::Config;
use authd::wiring::server_parts;
use serde_json::json;

use crate::process::PASSWORD;

const MESSAGES: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_delivery_loops_send_each_message_once() {
    let Some(db) = auth_testkit::postgres::test_database("scale_outbox_replicas").await else { return };
    let sink = Sink::start(Behaviour::default()).await;
    let config: Config = serde_json::from_value(json!({
        "database": {"url": db.url()},
        "password": {"hash": {"memory_kib": 256, "iterations": 1}},
        "smtp": {"host": "127.0.0.1", "port": sink.port(), "security": "none", "from_address": "auth@example.test"},
        "rate_limits": {"signup_per_minute": 0},
    }))
    .unwrap();
    config.validate().unwrap();
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(server_parts(&config, Arc::new(SystemClock)).await.unwrap());
    }
    // Sign-ups on the first replica queue one confirmation mail each.
    let app = test::init_service(auth_http::app(replicas[0].state.clone())).await;
    for i in 0..MESSAGES {
        let (status, _, body) =
            send(&app, post("/signup", json!({"email": format!("u{i}@example.com"), "password": PASSWORD}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // Each replica's loop, small batches, until the outbox has nothing due for it.
    let drain = |parts: &'static authd::wiring::ServerParts| async move {
        let mut sent = 0u32;
        loop {
            let report = parts.delivery.deliver_due(3).await.unwrap();
            assert!(report.retrying.is_empty() && report.failed.is_empty(), "{report:?}");
            if report.handled() == 0 {
                return sent;
            }
            sent += report.sent;
        }
    };
    let replicas: &'static [authd::wiring::ServerParts] = Vec::leak(replicas);
    let loops = async { tokio::join!(drain(&replicas[0]), drain(&replicas[1]), drain(&replicas[2])) };
    let (a, b, c) = tokio::time::timeout(Duration::from_secs(60), loops).await.unwrap();
    assert_eq!((a + b + c) as usize, MESSAGES, "every message counted sent once: {a} {b} {c}");

    let received = sink.received();
    assert_eq!(received.len(), MESSAGES, "the SMTP server received each message once");
    let recipients: HashSet<String> = received.iter().flat_map(|r| r.rcpt_to.clone()).collect();
    assert_eq!(recipients.len(), MESSAGES);
    let ids: HashSet<String> = received
        .iter()
        .map(|r| {
            let text = String::from_utf8_lossy(&r.data);
            let line = text.lines().find(|l| l.to_ascii_lowercase().starts_with("message-id:")).unwrap();
            line.split_once(':').unwrap().1.trim().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), MESSAGES, "a Message-ID per message");
}
