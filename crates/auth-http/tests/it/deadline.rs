//! The request deadline: a request that hangs (here, a readiness check whose database never
//! answers) is answered a JSON `504 request_timeout` at the deadline, in the client's error format.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use async_trait::async_trait;
use auth_core::ports::{NotReady, Readiness};
use auth_http::HttpSettings;

use crate::harness::TestApp;

/// A database that never answers.
struct Hung;

#[async_trait]
impl Readiness for Hung {
    async fn check_ready(&self) -> Result<(), NotReady> {
        std::future::pending().await
    }
}

#[actix_web::test]
async fn a_hung_request_is_answered_504_request_timeout_at_the_deadline() {
    // Shorter than the readiness check's own 2 s limit, so the deadline is what answers.
    let http = HttpSettings { request_timeout: Duration::from_millis(200), ..HttpSettings::default() };
    let app =
        TestApp::builder().http(http).finish_state(move |state, _| state.with_readiness(Arc::new(Hung))).start().await;
    let started = Instant::now();
    let (status, headers, body) = app.send(TestRequest::get().uri("/auth/v1/ready")).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!((body["error_code"].as_str(), body["code"].as_u64()), (Some("request_timeout"), Some(504)), "{body}");
    assert_eq!(headers.get("x-sb-error-code").unwrap(), "request_timeout");
    assert!(headers.get("x-request-id").is_some(), "the request log still wraps the answer");
    assert!(started.elapsed() < Duration::from_millis(1900), "took {:?}", started.elapsed());

    let versioned = TestRequest::get().uri("/auth/v1/ready").insert_header(("X-Supabase-Api-Version", "2024-01-01"));
    let (status, _, body) = app.send(versioned).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::GATEWAY_TIMEOUT, Some("request_timeout")), "{body}");
}

#[actix_web::test]
async fn requests_within_the_deadline_are_untouched() {
    let http = HttpSettings { request_timeout: Duration::from_secs(5), ..HttpSettings::default() };
    let app = TestApp::builder().http(http).start().await;
    let (status, _, body) = app.send(TestRequest::get().uri("/auth/v1/health")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
