use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use auth_core::service::AuthSettings;
use auth_http::HttpSettings;
use serde_json::{Value, json};

use crate::harness::{TestApp, api_key, post, with_token};

fn jane() -> Value {
    json!({"email": "Jane@Example.com", "password": "correct horse", "data": {"first_name": "Jane"}})
}

#[actix_web::test]
async fn signup_with_autoconfirm_answers_a_session_in_supabase_shape() {
    let app = TestApp::new(HttpSettings::default()).await;
    let (status, headers, body) = app.send(post("/signup", jane())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    assert!(body["expires_at"].as_i64().unwrap() > 0);
    assert!(body["refresh_token"].as_str().unwrap().len() >= 43);
    let user = &body["user"];
    assert_eq!(user["email"], "jane@example.com");
    assert_eq!(user["phone"], "");
    assert_eq!(user["role"], "authenticated");
    assert_eq!(user["aud"], "authenticated");
    assert_eq!(user["is_anonymous"], false);
    assert_eq!(user["user_metadata"]["first_name"], "Jane");
    assert_eq!(user["app_metadata"]["provider"], "email");
    assert_eq!(user["identities"][0]["provider"], "email");
    assert!(user["created_at"].is_string() && user["email_confirmed_at"].is_string());
}

#[actix_web::test]
async fn signup_without_autoconfirm_answers_the_bare_user_and_sign_in_waits() {
    let app = TestApp::with(HttpSettings::default(), AuthSettings::default()).await;
    let (status, _, body) = app.send(post("/signup", jane())).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("access_token").is_none());
    assert_eq!(body["email"], "jane@example.com");
    assert!(body.get("email_confirmed_at").is_none());
    let (status, _, body) = app.sign_in("jane@example.com", "correct horse").await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("email_not_confirmed")));
}

#[actix_web::test]
async fn signup_errors_have_codes_and_statuses() {
    let app = TestApp::new(HttpSettings::default()).await;
    let (status, _, body) = app.sign_up("a@example.com", "short").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error_code"], "weak_password");
    assert_eq!(body["weak_password"]["reasons"], json!(["length"]));

    let (status, _, body) = app.sign_up("nope", "correct horse").await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_failed")));
    assert_eq!(body["msg"], "Unable to validate email address: invalid format", "Supabase Auth's sentence");

    app.send(post("/signup", jane())).await;
    let (status, _, body) = app.send(post("/signup", jane())).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("user_already_exists")));

    let (status, _, body) = app.send(post("/signup", json!({}))).await;
    assert_eq!(body["error_code"], "anonymous_provider_disabled");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn malformed_and_oversized_bodies_are_json_errors() {
    let app = TestApp::new(HttpSettings { max_body_bytes: 2048, ..HttpSettings::default() }).await;
    let broken = TestRequest::post()
        .uri("/auth/v1/signup")
        .insert_header(("content-type", "application/json"))
        .set_payload("{\"email\": ");
    let (status, _, body) = app.send(broken).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_json")));

    let wrong_type = post("/signup", json!({"email": 42, "password": "correct horse"}));
    let (status, _, body) = app.send(wrong_type).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_json")));

    let huge = post("/signup", json!({"email": "a@example.com", "password": "x".repeat(4096)}));
    let (status, _, body) = app.send(huge).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("request_entity_too_large"))
    );
}

#[actix_web::test]
async fn api_version_header_selects_the_2024_error_format() {
    let app = TestApp::new(HttpSettings::default()).await;
    let request = post("/signup", json!({"email": "a@example.com", "password": "short"}))
        .insert_header(("X-Supabase-Api-Version", "2024-01-01"));
    let (status, headers, body) = app.send(request).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(headers.get("x-supabase-api-version").unwrap(), "2024-01-01");
    assert_eq!(body["code"], "weak_password");
    assert!(body["message"].is_string());
    assert_eq!(body["weak_password"]["reasons"], json!(["length"]));

    let older = post("/signup", json!({"email": "a@example.com", "password": "short"}))
        .insert_header(("X-Supabase-Api-Version", "2023-06-01"));
    let (_, headers, body) = app.send(older).await;
    assert!(headers.get("x-supabase-api-version").is_none());
    assert_eq!(body["code"], 422);
}

#[actix_web::test]
async fn password_and_refresh_grants() {
    let app = TestApp::new(HttpSettings::default()).await;
    app.send(post("/signup", json!({"email": "jane@example.com", "username": "JaneDoe", "password": "correct horse"})))
        .await;

    let (status, headers, session) = app.sign_in("janedoe", "correct horse").await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(session["user"]["username"], "JaneDoe");

    let (status, _, body) = app
        .send(post("/token", json!({"grant_type": "password", "username": "JANEDOE", "password": "wrong one"})))
        .await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_credentials")));

    let refresh = session["refresh_token"].as_str().unwrap();
    let (status, _, rotated) = app.refresh(refresh).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(rotated["refresh_token"], session["refresh_token"]);

    let (status, _, body) =
        app.send(post("/token?grant_type=refresh_token", json!({"refresh_token": "unknown"}))).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("refresh_token_not_found")));

    let (status, _, body) = app.send(post("/token?grant_type=magic", json!({}))).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_credentials")));
    assert_eq!(body["msg"], "unsupported_grant_type");

    let (status, _, body) = app.send(post("/token?grant_type=password", json!({"password": "x"}))).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_failed")));
}

#[actix_web::test]
async fn user_endpoints_need_a_live_session() {
    let app = TestApp::new(HttpSettings::default()).await;
    let (_, _, session) = app.send(post("/signup", jane())).await;
    let token = session["access_token"].as_str().unwrap();

    let (status, _, body) = app.send(TestRequest::get().uri("/auth/v1/user")).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::UNAUTHORIZED, Some("no_authorization")));
    let (status, _, body) = app.send(with_token(TestRequest::get().uri("/auth/v1/user"), "garbage")).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::FORBIDDEN, Some("bad_jwt")));

    let (status, _, user) = app.send(with_token(TestRequest::get().uri("/auth/v1/user"), token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["email"], "jane@example.com");

    let update = TestRequest::put().uri("/auth/v1/user").set_json(json!({"data": {"last_name": "Doe"}}));
    let (status, _, user) = app.send(with_token(update, token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (user["user_metadata"]["first_name"].as_str(), user["user_metadata"]["last_name"].as_str()),
        (Some("Jane"), Some("Doe"))
    );

    let forbidden = TestRequest::put().uri("/auth/v1/user").set_json(json!({"app_metadata": {"role": "admin"}}));
    let (status, _, body) = app.send(with_token(forbidden, token)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::FORBIDDEN, Some("not_admin")));

    let password = TestRequest::put().uri("/auth/v1/user").set_json(json!({"password": "brand new pass"}));
    let (status, _, body) = app.send(with_token(password, token)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("current_password_required")));
}

#[actix_web::test]
async fn logout_ends_the_session_at_once() {
    let app = TestApp::new(HttpSettings::default()).await;
    let (_, _, session) = app.send(post("/signup", jane())).await;
    let token = session["access_token"].as_str().unwrap();

    let bad_scope = with_token(post("/logout?scope=everything", json!({})), token);
    assert_eq!(app.send(bad_scope).await.0, StatusCode::BAD_REQUEST);

    let (status, _, body) = app.send(with_token(post("/logout?scope=local", json!({})), token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);
    let (status, _, body) = app.send(with_token(TestRequest::get().uri("/auth/v1/user"), token)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::FORBIDDEN, Some("session_not_found")));
    let refresh = session["refresh_token"].as_str().unwrap();
    let (_, _, body) = app.refresh(refresh).await;
    assert_eq!(body["error_code"], "refresh_token_not_found");
}

#[actix_web::test]
async fn self_deletion_removes_the_account() {
    let app = TestApp::new(HttpSettings::default()).await;
    let (_, _, session) = app.send(post("/signup", jane())).await;
    let token = session["access_token"].as_str().unwrap();
    let wrong = TestRequest::delete().uri("/auth/v1/user").set_json(json!({"password": "wrong one"}));
    let (status, _, body) = app.send(with_token(wrong, token)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("current_password_invalid")));
    let right = TestRequest::delete().uri("/auth/v1/user").set_json(json!({"password": "correct horse"}));
    assert_eq!(app.send(with_token(right, token)).await.0, StatusCode::NO_CONTENT);
    let (status, _, _) = app.send(with_token(TestRequest::get().uri("/auth/v1/user"), token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, _, body) = app.sign_in("jane@example.com", "correct horse").await;
    assert_eq!(body["error_code"], "invalid_credentials");
}

#[actix_web::test]
async fn settings_and_jwks() {
    let app =
        TestApp::with(HttpSettings::default(), AuthSettings { anonymous_enabled: true, ..AuthSettings::default() })
            .await;
    let (status, _, body) = app.send(TestRequest::get().uri("/auth/v1/settings")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["external"]["email"], true);
    assert_eq!(body["external"]["anonymous_users"], true);
    assert_eq!(body["disable_signup"], false);
    assert_eq!(body["mailer_autoconfirm"], false);

    let (status, headers, body) = app.send(TestRequest::get().uri("/auth/v1/.well-known/jwks.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["keys"].is_array());
    assert_eq!(headers.get("cache-control").unwrap(), "public, max-age=600");
}

#[actix_web::test]
async fn anonymous_sign_in() {
    let app =
        TestApp::with(HttpSettings::default(), AuthSettings { anonymous_enabled: true, ..AuthSettings::default() })
            .await;
    let (status, _, body) = app.send(post("/signup", json!({"data": {}}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["is_anonymous"], true);
    assert_eq!(body["user"]["email"], "");
    assert_eq!(body["user"]["identities"], json!([]));
}

#[actix_web::test]
async fn signups_over_the_per_ip_limit_get_429_with_retry_after() {
    use auth_http::RateLimits;
    let settings = HttpSettings {
        rate_limits: RateLimits { signup_per_minute: 2, ..RateLimits::default() },
        ..HttpSettings::default()
    };
    let app = TestApp::new(settings).await;
    let from = |ip: &str, n: u32| {
        post("/signup", json!({"email": format!("u{n}@example.com"), "password": "correct horse"}))
            .peer_addr(format!("{ip}:4000").parse().unwrap())
    };
    assert_eq!(app.send(from("192.0.2.1", 1)).await.0, StatusCode::OK);
    assert_eq!(app.send(from("192.0.2.1", 2)).await.0, StatusCode::OK);
    let (status, headers, body) = app.send(from("192.0.2.1", 3)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("over_request_rate_limit")));
    assert!(headers.get("retry-after").unwrap().to_str().unwrap().parse::<u64>().unwrap() >= 1);
    let spoofed = from("192.0.2.1", 4).insert_header(("x-forwarded-for", "198.51.100.7"));
    assert_eq!(app.send(spoofed).await.0, StatusCode::TOO_MANY_REQUESTS, "untrusted X-Forwarded-For is ignored");
    assert_eq!(app.send(from("192.0.2.2", 5)).await.0, StatusCode::OK);
}

#[actix_web::test]
async fn cors_follows_the_allow_list() {
    let settings =
        HttpSettings { cors_allowed_origins: vec!["https://app.example.com".into()], ..HttpSettings::default() };
    let app = TestApp::new(settings).await;
    let preflight = TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri("/auth/v1/token")
        .insert_header(("origin", "https://app.example.com"))
        .insert_header(("access-control-request-method", "POST"));
    let (status, headers, _) = app.send(preflight).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(headers.get("access-control-allow-origin").unwrap(), "https://app.example.com");
    assert!(headers.get("access-control-allow-credentials").is_none());

    let stranger = TestRequest::get().uri("/auth/v1/health").insert_header(("origin", "https://evil.example.net"));
    let (_, headers, _) = app.send(stranger).await;
    assert!(headers.get("access-control-allow-origin").is_none(), "never reflect an unknown origin");

    let closed = TestApp::with(HttpSettings::default(), AuthSettings::default()).await;
    let same_origin = TestRequest::get().uri("/auth/v1/health").insert_header(("origin", "https://app.example.com"));
    let (status, headers, _) = closed.send(same_origin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get("access-control-allow-origin").is_none());
}

#[actix_web::test]
async fn required_api_keys_guard_the_public_endpoints_only() {
    let settings = HttpSettings { require_api_key: true, ..HttpSettings::default() };
    let app = TestApp::new(settings).await;

    let (status, _, body) = app.send(post("/signup", jane())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error_code"], "no_api_key");
    let (status, _, body) = app.send(post("/signup", jane()).insert_header(("apikey", "nonsense"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error_code"], "invalid_api_key");
    let (status, _, body) = app.send(post("/signup", jane()).insert_header(("apikey", api_key("authenticated")))).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_api_key")));
    let (status, _, body) = app.send(TestRequest::get().uri("/auth/v1/settings")).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::UNAUTHORIZED, Some("no_api_key")));

    // The anon key in `apikey` (supabase-js) or as the bearer token; the service key too.
    let (status, _, session) = app.send(post("/signup", jane()).insert_header(("apikey", api_key("anon")))).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    let sign_in = json!({"email": "jane@example.com", "password": "correct horse"});
    let (status, _, _) = app.send(with_token(post("/token?grant_type=password", sign_in), &api_key("anon"))).await;
    assert_eq!(status, StatusCode::OK);
    let settings = TestRequest::get().uri("/auth/v1/settings").insert_header(("apikey", api_key("service_role")));
    assert_eq!(app.send(settings).await.0, StatusCode::OK);

    // A user's own access token is not an API key, but is all that user endpoints need.
    let access = session["access_token"].as_str().unwrap();
    let (status, _, body) = app.send(post("/signup", jane()).insert_header(("apikey", access))).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_api_key")));
    let user = with_token(TestRequest::get().uri("/auth/v1/user"), access);
    assert_eq!(app.send(user).await.0, StatusCode::OK);
    assert_eq!(app.send(TestRequest::get().uri("/auth/v1/health")).await.0, StatusCode::OK);
    assert_eq!(app.send(TestRequest::get().uri("/auth/v1/.well-known/jwks.json")).await.0, StatusCode::OK);
}

#[actix_web::test]
async fn an_anonymous_user_needs_a_sign_in_name_before_a_password() {
    let settings = AuthSettings { anonymous_enabled: true, ..AuthSettings::default() };
    let app = TestApp::with(HttpSettings::default(), settings).await;
    let (status, _, session) = app.send(post("/signup", json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    let token = session["access_token"].as_str().unwrap();

    let update = |body: Value| with_token(TestRequest::put().uri("/auth/v1/user").set_json(body), token);
    let (status, _, body) = app.send(update(json!({"password": "correct horse"}))).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_failed")));
    let (status, _, body) = app.send(update(json!({"username": "anon_ada", "password": "correct horse"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = app.send(update(json!({"username": ""}))).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_failed")));
    let sign_in = json!({"username": "anon_ada", "password": "correct horse"});
    assert_eq!(app.send(post("/token?grant_type=password", sign_in)).await.0, StatusCode::OK);
}
