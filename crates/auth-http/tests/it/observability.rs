//! Metrics and readiness as an operator's scraper and orchestrator see them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::{Method, StatusCode};
use actix_web::test::{self, TestRequest};
use async_trait::async_trait;
use auth_core::ports::{MockReadiness, NotReady, Readiness};
use auth_core::service::AuthSettings;
use auth_http::{HttpSettings, MetricsEndpoint, RateLimits};
use auth_metrics::Metrics;
use serde_json::json;

use crate::harness::{TestApp, post};

fn autoconfirm() -> AuthSettings {
    AuthSettings { autoconfirm: true, ..AuthSettings::default() }
}

/// `GET /metrics` on `app`: status, content type and body.
async fn scrape<S, B>(app: &S, uri: &str) -> (StatusCode, String, String)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let response = test::call_service(app, TestRequest::get().uri(uri).to_request()).await;
    let status = response.status();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let body = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    (status, content_type, body)
}

#[actix_web::test]
async fn metrics_count_requests_by_route_pattern_and_never_by_path() {
    let metrics = Arc::new(Metrics::new("9.9.9"));
    let settings = HttpSettings {
        rate_limits: RateLimits { password_per_minute: 1, ..RateLimits::default() },
        ..Default::default()
    };
    let shared = Arc::clone(&metrics);
    let app = TestApp::builder()
        .http(settings)
        .auth(autoconfirm())
        .finish_state(move |state, _| state.with_metrics(shared, MetricsEndpoint::MainListener))
        .start()
        .await;

    let credentials = json!({"email": "jane@example.com", "password": "correct horse"});
    assert_eq!(app.send(post("/signup", credentials.clone())).await.0, StatusCode::OK);
    let sign_in =
        || post("/token?grant_type=password", credentials.clone()).peer_addr("192.0.2.7:4000".parse().unwrap());
    assert_eq!(app.send(sign_in()).await.0, StatusCode::OK);
    assert_eq!(app.send(sign_in()).await.0, StatusCode::TOO_MANY_REQUESTS);
    let user_id = "2f1f5b8e-4a47-4c4e-9d43-5d3c1e0f9a11";
    let by_id = TestRequest::get().uri(&format!("/auth/v1/admin/users/{user_id}"));
    assert_eq!(app.send(by_id).await.0, StatusCode::UNAUTHORIZED);
    let link = TestRequest::get().uri("/auth/v1/verify?token=secret-link-token&type=signup");
    app.call(link).await;
    assert_eq!(app.send(TestRequest::get().uri("/private/probe-path")).await.0, StatusCode::NOT_FOUND);
    let brew = TestRequest::default().method(Method::from_bytes(b"BREW").unwrap()).uri("/auth/v1/health");
    assert_eq!(app.send(brew).await.0, StatusCode::METHOD_NOT_ALLOWED);

    let (status, content_type, body) = scrape(app.service(), "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    for line in [
        r#"authd_http_requests_total{method="POST",route="/signup",status="200"} 1"#,
        r#"authd_http_requests_total{method="POST",route="/token",status="200"} 1"#,
        r#"authd_http_requests_total{method="POST",route="/token",status="429"} 1"#,
        r#"authd_http_requests_total{method="GET",route="/admin/users/{id}",status="401"} 1"#,
        r#"authd_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"authd_http_requests_total{method="other",route="/health",status="405"} 1"#,
        r#"authd_http_request_duration_seconds_count{method="POST",route="/token"} 2"#,
        r#"authd_rate_limited_total{limit="password"} 1"#,
        r#"authd_build_info{version="9.9.9"} 1"#,
    ] {
        assert!(body.lines().any(|l| l == line), "missing {line} in\n{body}");
    }
    assert!(body.contains(r#"route="/verify""#), "{body}");
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
    for leaked in [user_id, "secret-link-token", "probe-path", "BREW", "jane"] {
        assert!(!body.contains(leaked), "{leaked} leaked into the metrics:\n{body}");
    }
}

#[actix_web::test]
async fn metrics_are_served_only_where_configured() {
    let off = TestApp::builder().http(HttpSettings::default()).auth(autoconfirm()).start().await;
    let (status, _, body) = scrape(off.service(), "/metrics").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "metrics off: {body}");

    let metrics = Arc::new(Metrics::new("9.9.9"));
    let shared = Arc::clone(&metrics);
    let main = TestApp::builder()
        .http(HttpSettings::default())
        .auth(autoconfirm())
        .finish_state(move |state, _| state.with_metrics(shared, MetricsEndpoint::OwnListener))
        .start()
        .await;
    assert_eq!(main.send(TestRequest::get().uri("/auth/v1/health")).await.0, StatusCode::OK);
    assert_eq!(scrape(main.service(), "/metrics").await.0, StatusCode::NOT_FOUND, "not on the public port");

    let own = test::init_service(auth_http::metrics_app(metrics)).await;
    let (status, _, body) = scrape(&own, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(r#"authd_http_requests_total{method="GET",route="/health",status="200"} 1"#), "{body}");
    assert_eq!(scrape(&own, "/auth/v1/health").await.0, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn metrics_stay_at_the_root_when_the_api_is_at_the_root_too() {
    let metrics = Arc::new(Metrics::new("9.9.9"));
    let settings = HttpSettings { base_path: "/".into(), ..HttpSettings::default() };
    let app = TestApp::builder()
        .http(settings)
        .auth(autoconfirm())
        .finish_state(move |state, _| state.with_metrics(metrics, MetricsEndpoint::MainListener))
        .start()
        .await;
    assert_eq!(app.send(TestRequest::get().uri("/health")).await.0, StatusCode::OK);
    let (status, _, body) = scrape(app.service(), "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(r#"route="/health""#), "{body}");
}

#[actix_web::test]
async fn ready_answers_200_when_the_store_is_ready() {
    // Readiness is for orchestrators: no API key, even when public endpoints need one.
    let settings = HttpSettings { require_api_key: true, ..HttpSettings::default() };
    let app = TestApp::builder()
        .http(settings)
        .auth(autoconfirm())
        .finish_state(move |state, world| state.with_readiness(world.store.clone()))
        .start()
        .await;
    let (status, headers, body) = app.send(TestRequest::get().uri("/auth/v1/ready")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ready"})));
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
}

/// Readiness answering `answer`.
fn answering(answer: Result<(), NotReady>) -> Arc<dyn Readiness> {
    let mut mock = MockReadiness::new();
    mock.expect_check_ready().returning(move || answer.clone());
    Arc::new(mock)
}

#[actix_web::test]
async fn ready_answers_503_not_ready_and_keeps_the_cause_in_the_log() {
    for (answer, message) in [
        (NotReady::Unreachable("connection to db.internal:5432 refused".into()), "The database is not reachable"),
        (NotReady::PendingMigrations(2), "Database migrations are pending"),
    ] {
        let check = answering(Err(answer));
        let app = TestApp::builder()
            .http(HttpSettings::default())
            .auth(autoconfirm())
            .finish_state(move |state, _| state.with_readiness(check))
            .start()
            .await;
        let (status, headers, body) = app.send(TestRequest::get().uri("/auth/v1/ready")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!((body["error_code"].as_str(), body["msg"].as_str()), (Some("not_ready"), Some(message)));
        assert_eq!(headers.get("x-sb-error-code").unwrap(), "not_ready");
        assert!(!body.to_string().contains("db.internal"), "{body}");
    }
    // The 2024-01-01 error format applies here as everywhere.
    let check = answering(Err(NotReady::PendingMigrations(1)));
    let app = TestApp::builder()
        .http(HttpSettings::default())
        .auth(autoconfirm())
        .finish_state(move |state, _| state.with_readiness(check))
        .start()
        .await;
    let versioned = TestRequest::get().uri("/auth/v1/ready").insert_header(("X-Supabase-Api-Version", "2024-01-01"));
    let (_, _, body) = app.send(versioned).await;
    assert_eq!(body["code"], "not_ready");
}

/// A database that never answers.
struct Hung;

#[async_trait]
impl Readiness for Hung {
    async fn check_ready(&self) -> Result<(), NotReady> {
        std::future::pending().await
    }
}

#[actix_web::test]
async fn ready_gives_up_on_a_hung_database_within_seconds() {
    let app = TestApp::builder()
        .http(HttpSettings::default())
        .auth(autoconfirm())
        .finish_state(move |state, _| state.with_readiness(Arc::new(Hung)))
        .start()
        .await;
    let started = Instant::now();
    let (status, _, body) = app.send(TestRequest::get().uri("/auth/v1/ready")).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("not_ready")));
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[actix_web::test]
async fn ready_without_a_check_is_not_ready() {
    let app = TestApp::new(HttpSettings::default()).await;
    let (status, _, body) = app.send(TestRequest::get().uri("/auth/v1/ready")).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("not_ready")));
}

#[actix_web::test]
async fn a_refusal_by_the_per_address_mail_throttle_is_counted() {
    let metrics = Arc::new(Metrics::new("9.9.9"));
    let shared = Arc::clone(&metrics);
    let settings = HttpSettings { mail_answer_floor: Duration::ZERO, ..HttpSettings::default() };
    let app = TestApp::builder()
        .http(settings)
        .finish_state(move |state, _| state.with_metrics(shared, MetricsEndpoint::MainListener))
        .start()
        .await;
    let recover = || post("/recover", json!({"email": "ada@example.com"}));
    assert_eq!(app.send(recover()).await.0, StatusCode::OK);
    let (status, headers, _) = app.send(recover()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers.get("retry-after").unwrap(), "60");
    let (_, _, body) = scrape(app.service(), "/metrics").await;
    assert!(body.contains(r#"authd_rate_limited_total{limit="address"} 1"#), "{body}");
}

#[actix_web::test]
async fn ready_answers_503_once_draining_while_requests_are_still_served() {
    let handle = Arc::new(std::sync::Mutex::new(None));
    let slot = Arc::clone(&handle);
    let app = TestApp::builder()
        .http(HttpSettings::default())
        .auth(autoconfirm())
        .finish_state(move |state, world| {
            *slot.lock().unwrap() = Some(state.draining());
            state.with_readiness(world.store.clone())
        })
        .start()
        .await;
    assert_eq!(app.send(TestRequest::get().uri("/auth/v1/ready")).await.0, StatusCode::OK);
    handle.lock().unwrap().as_ref().unwrap().start();
    let (status, _, body) = app.send(TestRequest::get().uri("/auth/v1/ready")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        (body["error_code"].as_str(), body["msg"].as_str()),
        (Some("not_ready"), Some("The server is shutting down"))
    );
    assert_eq!(app.send(TestRequest::get().uri("/auth/v1/health")).await.0, StatusCode::OK);
    assert_eq!(app.send(TestRequest::get().uri("/auth/v1/settings")).await.0, StatusCode::OK);
}
