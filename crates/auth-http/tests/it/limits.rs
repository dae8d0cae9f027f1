//! Issue 14 items 5, 6 and 7 over HTTP: the status codes and headers of the per-client limits,
//! the per-account password throttle, a full hashing queue and a passwordless account's proof.

use std::io::Write;
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use auth_core::ports::{HashError, MockPasswordHasher};
use auth_core::service::AuthSettings;
use auth_core::testing::TestWorld;
use auth_http::{HttpSettings, RateLimits};
use serde_json::json;

use crate::harness::{TestApp, post, with_token};

fn peer(request: TestRequest, ip: &str) -> TestRequest {
    let ip: std::net::IpAddr = ip.parse().unwrap();
    request.peer_addr(std::net::SocketAddr::new(ip, 4000))
}

fn retry_after(headers: &actix_web::http::header::HeaderMap) -> u64 {
    headers.get("retry-after").expect("a Retry-After header").to_str().unwrap().parse().unwrap()
}

#[actix_web::test]
async fn an_ipv6_client_is_limited_by_its_64() {
    let settings = HttpSettings {
        rate_limits: RateLimits { password_per_minute: 2, ..RateLimits::default() },
        ..HttpSettings::default()
    };
    let app = TestApp::new(settings).await;
    let sign_in = |ip: &str| {
        peer(post("/token?grant_type=password", json!({"email": "v@example.com", "password": "guess it"})), ip)
    };
    assert_eq!(app.send(sign_in("2001:db8:1:2::1")).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(app.send(sign_in("2001:db8:1:2::2")).await.0, StatusCode::BAD_REQUEST);
    let (status, headers, body) = app.send(sign_in("2001:db8:1:2:ffff::3")).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("over_request_rate_limit")));
    assert!(retry_after(&headers) >= 1);
    assert_eq!(app.send(sign_in("2001:db8:1:3::1")).await.0, StatusCode::BAD_REQUEST, "another /64");
}

/// Signs `v@example.com` up from `ip` and answers the access token.
async fn signed_up<S, B>(app: &TestApp<S>, ip: &str) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let body = json!({"email": "v@example.com", "password": "correct horse"});
    let (status, _, session) = app.send(peer(post("/signup", body), ip)).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    session["access_token"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn current_password_guesses_with_a_stolen_token_get_429() {
    let app = TestApp::new(HttpSettings::default()).await;
    let token = signed_up(&app, "203.0.113.9").await;
    let guess = |g: &str| {
        let body = json!({"password": "A-new-pass-123", "current_password": g});
        peer(with_token(TestRequest::put().uri("/auth/v1/user").set_json(body), &token), "203.0.113.9")
    };
    for _ in 0..10 {
        let (status, _, body) = app.send(guess("wrong guess")).await;
        assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("current_password_invalid")));
    }
    let (status, headers, body) = app.send(guess("another guess")).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("over_request_rate_limit")));
    assert!(retry_after(&headers) >= 1);
}

#[actix_web::test]
async fn deletion_password_guesses_get_429() {
    let app = TestApp::new(HttpSettings::default()).await;
    let token = signed_up(&app, "203.0.113.10").await;
    let guess = || {
        let body = json!({"password": "wrong guess"});
        peer(with_token(TestRequest::delete().uri("/auth/v1/user").set_json(body), &token), "203.0.113.10")
    };
    for _ in 0..10 {
        assert_eq!(app.send(guess()).await.0, StatusCode::BAD_REQUEST);
    }
    let (status, headers, body) = app.send(guess()).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("over_request_rate_limit")));
    assert!(retry_after(&headers) >= 1);
}

#[actix_web::test]
async fn a_full_hashing_queue_answers_503_with_retry_after() {
    let mut hasher = MockPasswordHasher::new();
    let full = || HashError::Overloaded { retry_after: std::time::Duration::from_secs(2) };
    hasher.expect_verify().returning(move |_, _| Err(full()));
    hasher.expect_hash().returning(move |_| Err(full()));
    let world = TestWorld::autoconfirm().with_ports(|ports| ports.hasher = Arc::new(hasher));
    let app = TestApp::builder().world(world).start().await;
    for request in [
        post("/token?grant_type=password", json!({"email": "v@example.com", "password": "guess it"})),
        post("/signup", json!({"email": "w@example.com", "password": "correct horse"})),
    ] {
        let (status, headers, body) = app.send(request).await;
        assert_eq!((status, body["error_code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("server_busy")));
        assert_eq!(retry_after(&headers), 2);
    }
}

#[actix_web::test]
async fn a_passwordless_account_needs_reauthentication_for_a_first_password_or_deletion() {
    let app = TestApp::with(
        HttpSettings { mail_answer_floor: std::time::Duration::ZERO, ..HttpSettings::default() },
        AuthSettings { autoconfirm: true, ..AuthSettings::default() },
    )
    .await;
    app.send(post("/otp", json!({"email": "ml@example.com"}))).await;
    let mail = app.mails().await.remove(0);
    let (status, _, session) =
        app.send(post("/verify", json!({"type": "email", "email": "ml@example.com", "token": mail.code}))).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    let token = session["access_token"].as_str().unwrap().to_owned();
    app.clock.advance(chrono::Duration::minutes(10));

    let set = json!({"password": "attacker-chosen-1"});
    let (status, _, body) = app.send(with_token(TestRequest::put().uri("/auth/v1/user").set_json(set), &token)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("reauthentication_needed")));
    let (status, _, body) = app.send(with_token(TestRequest::delete().uri("/auth/v1/user"), &token)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("reauthentication_needed")));

    app.send(with_token(TestRequest::get().uri("/auth/v1/reauthenticate"), &token)).await;
    let nonce = app.mails().await.remove(0).code;
    let set = json!({"password": "my-own-choice-1", "nonce": nonce});
    let (status, _, body) = app.send(with_token(TestRequest::put().uri("/auth/v1/user").set_json(set), &token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A log sink for one test: what the subscriber writes, kept.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[actix_web::test]
async fn forwarding_from_an_untrusted_peer_is_warned_of_once() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || sink.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let app = TestApp::new(HttpSettings::default()).await;
    let proxied = || {
        peer(post("/token?grant_type=password", json!({"email": "v@example.com", "password": "guess it"})), "10.0.0.2")
            .insert_header(("x-forwarded-for", "198.51.100.7"))
    };
    app.send(proxied()).await;
    app.send(proxied()).await;
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert_eq!(log.matches("X-Forwarded-For from a peer").count(), 1, "{log}");
    assert!(log.contains("WARN"), "{log}");
}

#[actix_web::test]
async fn guesses_at_one_account_from_many_addresses_get_429() {
    let app = TestApp::new(HttpSettings::default()).await;
    signed_up(&app, "203.0.113.11").await;
    let guess = |n: u32| {
        let body = json!({"email": "v@example.com", "password": "wrong guess"});
        peer(post("/token?grant_type=password", body), &format!("198.51.{}.{}", n / 200, n % 200 + 1))
    };
    for n in 0..50 {
        assert_eq!(app.send(guess(n)).await.0, StatusCode::BAD_REQUEST, "guess {n}");
    }
    let (status, headers, body) = app.send(guess(50)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("over_request_rate_limit")));
    assert!(retry_after(&headers) >= 1);
}
