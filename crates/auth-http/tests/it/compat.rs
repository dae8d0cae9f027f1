//! Supabase Auth compatibility (issue 21): its exact messages where authd answers its codes, its
//! answers for dead users on an access token and for `POST /otp` with `create_user: false`, and
//! the smaller wire details (`POST /token` without a body, CORS, `/verify` bodies, deep links).

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use auth_core::domain::RedirectPolicy;
use auth_core::service::AuthSettings;
use auth_http::HttpSettings;
use chrono::Duration;
use serde_json::json;

use crate::harness::{TestApp, api_key, post, with_token};

/// No answer floor, so the mail requests answer at once.
fn quick() -> HttpSettings {
    HttpSettings { mail_answer_floor: std::time::Duration::ZERO, ..HttpSettings::default() }
}

fn get(path: &str) -> TestRequest {
    TestRequest::get().uri(&format!("/auth/v1{path}"))
}

fn put(path: &str, body: serde_json::Value) -> TestRequest {
    TestRequest::put().uri(&format!("/auth/v1{path}")).set_json(body)
}

fn admin(request: TestRequest) -> TestRequest {
    with_token(request, &api_key("service_role"))
}

/// Each row: what was asked, and Supabase Auth's status, code and message for it, word for word.
#[actix_web::test]
async fn messages_are_supabase_auths_where_the_codes_are() {
    let settings = AuthSettings { autoconfirm: true, anonymous_enabled: true, ..AuthSettings::default() };
    let app = TestApp::with(quick(), settings).await;
    let (_, _, session) = app.sign_up("ann@example.com", "correct horse").await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let (_, _, anonymous) = app.send(post("/signup", json!({}))).await;
    let anonymous = anonymous["access_token"].as_str().unwrap().to_owned();
    app.send(post("/recover", json!({"email": "ann@example.com"}))).await;
    let limit = HttpSettings::default().max_body_bytes;

    let cases: Vec<(&str, TestRequest, StatusCode, &str, String)> = vec![
        (
            "signup, malformed address",
            post("/signup", json!({"email": "nope", "password": "correct horse"})),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "Unable to validate email address: invalid format".into(),
        ),
        (
            "signup, no password",
            post("/signup", json!({"email": "bo@example.com"})),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "Signup requires a valid password".into(),
        ),
        (
            "signup, weak password",
            post("/signup", json!({"email": "bo@example.com", "password": "short"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
            "Password should be at least 8 characters.".into(),
        ),
        (
            "signup, registered address with autoconfirm",
            post("/signup", json!({"email": "ann@example.com", "password": "correct horse"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "user_already_exists",
            "User already registered".into(),
        ),
        (
            "password grant, wrong password",
            post("/token?grant_type=password", json!({"email": "ann@example.com", "password": "wrong one!"})),
            StatusCode::BAD_REQUEST,
            "invalid_credentials",
            "Invalid login credentials".into(),
        ),
        (
            "refresh grant, unknown token",
            post("/token?grant_type=refresh_token", json!({"refresh_token": "x".repeat(43)})),
            StatusCode::BAD_REQUEST,
            "refresh_token_not_found",
            "Invalid Refresh Token: Refresh Token Not Found".into(),
        ),
        (
            "token without a body",
            TestRequest::post().uri("/auth/v1/token"),
            StatusCode::BAD_REQUEST,
            "invalid_credentials",
            "unsupported_grant_type".into(),
        ),
        (
            "no access token",
            get("/user"),
            StatusCode::UNAUTHORIZED,
            "no_authorization",
            "This endpoint requires a valid Bearer token".into(),
        ),
        (
            "garbage access token",
            with_token(get("/user"), "garbage"),
            StatusCode::FORBIDDEN,
            "bad_jwt",
            "invalid JWT: unable to parse or verify signature, token is malformed".into(),
        ),
        (
            "same password",
            with_token(put("/user", json!({"password": "correct horse", "current_password": "correct horse"})), &token),
            StatusCode::UNPROCESSABLE_ENTITY,
            "same_password",
            "New password should be different from the old password.".into(),
        ),
        (
            "wrong current password",
            with_token(put("/user", json!({"password": "a new password", "current_password": "wrong one!"})), &token),
            StatusCode::BAD_REQUEST,
            "current_password_invalid",
            "Current password required when setting new password.".into(),
        ),
        (
            "missing current password",
            with_token(put("/user", json!({"password": "a new password"})), &token),
            StatusCode::BAD_REQUEST,
            "current_password_required",
            "Current password required when setting new password.".into(),
        ),
        (
            "bad reauthentication nonce",
            with_token(put("/user", json!({"password": "a new password", "nonce": "000000"})), &token),
            StatusCode::UNPROCESSABLE_ENTITY,
            "reauthentication_not_valid",
            "Nonce has expired or is invalid".into(),
        ),
        (
            "reauthentication without an address",
            with_token(get("/reauthenticate"), &anonymous),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "Reauthentication requires the user to have an email or a phone number".into(),
        ),
        (
            "logout scope",
            with_token(post("/logout?scope=everything", json!({})), &token),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "Unsupported logout scope \"everything\"".into(),
        ),
        (
            "resend type",
            post("/resend", json!({"type": "letter", "email": "ann@example.com"})),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "Missing one of these types: signup, email_change, sms, phone_change".into(),
        ),
        (
            "recover without an address",
            post("/recover", json!({})),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "Password recovery requires an email".into(),
        ),
        (
            "otp without an address",
            post("/otp", json!({})),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "One of email or phone must be set".into(),
        ),
        (
            "recover again within the interval",
            post("/recover", json!({"email": "ann@example.com"})),
            StatusCode::TOO_MANY_REQUESTS,
            "over_email_send_rate_limit",
            "For security purposes, you can only request this after 60 seconds.".into(),
        ),
        (
            "verify, wrong code",
            post("/verify", json!({"type": "email", "email": "ann@example.com", "token": "000000"})),
            StatusCode::FORBIDDEN,
            "otp_expired",
            "Token has expired or is invalid".into(),
        ),
        (
            "verify, wrong link",
            post("/verify", json!({"type": "magiclink", "token_hash": "x".repeat(43)})),
            StatusCode::FORBIDDEN,
            "otp_expired",
            "Email link is invalid or has expired".into(),
        ),
        (
            "admin route with a user's token",
            with_token(get("/admin/users"), &token),
            StatusCode::FORBIDDEN,
            "not_admin",
            "User not allowed".into(),
        ),
        (
            "admin, unknown user",
            admin(get("/admin/users/00000000-0000-4000-8000-000000000000")),
            StatusCode::NOT_FOUND,
            "user_not_found",
            "User not found".into(),
        ),
        (
            "admin, address taken",
            admin(post("/admin/users", json!({"email": "ann@example.com"}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "email_exists",
            "A user with this email address has already been registered".into(),
        ),
        (
            "body over the limit",
            post("/signup", json!({"email": "x@example.com", "password": "p".repeat(limit)})),
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_entity_too_large",
            format!("Request body too large (max {limit} bytes)"),
        ),
    ];
    for (case, request, status, code, message) in cases {
        let (got_status, headers, body) = app.send(request).await;
        assert_eq!((got_status, body["error_code"].as_str()), (status, Some(code)), "{case}: {body}");
        assert_eq!(body["msg"].as_str(), Some(message.as_str()), "{case}");
        assert_eq!(headers.get("x-sb-error-code").unwrap(), code, "{case}");
    }

    // auth-js reads the 2024 format: the same sentence under `message`.
    let versioned = post("/signup", json!({"email": "nope", "password": "correct horse"}))
        .insert_header(("x-supabase-api-version", "2024-01-01"));
    let (_, _, body) = app.send(versioned).await;
    assert_eq!(
        body,
        json!({"code": "validation_failed", "message": "Unable to validate email address: invalid format"})
    );
}

#[actix_web::test]
async fn signup_disabled_speaks_supabase_auths_words() {
    let app = TestApp::with(quick(), AuthSettings { signup_enabled: false, ..AuthSettings::default() }).await;
    let (status, _, body) = app.sign_up("cy@example.com", "correct horse").await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("signup_disabled")));
    assert_eq!(body["msg"], "Signups not allowed for this instance");
}

/// A deleted user's token answers `403 user_not_found`, a banned one's `403 user_banned`, on
/// every endpoint that takes an access token, as Supabase Auth answers.
#[actix_web::test]
async fn dead_users_tokens_answer_user_banned_or_user_not_found() {
    let app = TestApp::with(quick(), AuthSettings { autoconfirm: true, ..AuthSettings::default() }).await;
    let user_endpoints = |token: &str| {
        vec![
            with_token(get("/user"), token),
            with_token(put("/user", json!({"data": {"k": 1}})), token),
            with_token(get("/reauthenticate"), token),
            with_token(post("/logout", json!({})), token),
            with_token(
                TestRequest::delete().uri("/auth/v1/user").set_json(json!({"password": "correct horse"})),
                token,
            ),
        ]
    };

    let (_, _, banned) = app.sign_up("ban@example.com", "correct horse").await;
    let banned_id = banned["user"]["id"].as_str().unwrap();
    let banned_token = banned["access_token"].as_str().unwrap();
    let (status, _, _) =
        app.send(admin(put(&format!("/admin/users/{banned_id}"), json!({"ban_duration": "24h"})))).await;
    assert_eq!(status, StatusCode::OK);
    for request in user_endpoints(banned_token) {
        let (status, _, body) = app.send(request).await;
        assert_eq!((status, body["error_code"].as_str()), (StatusCode::FORBIDDEN, Some("user_banned")), "{body}");
        assert_eq!(body["msg"], "User is banned");
    }

    let (_, _, gone) = app.sign_up("gone@example.com", "correct horse").await;
    let gone_id = gone["user"]["id"].as_str().unwrap();
    let gone_token = gone["access_token"].as_str().unwrap();
    let delete = admin(TestRequest::delete().uri(&format!("/auth/v1/admin/users/{gone_id}")));
    assert_eq!(app.send(delete).await.0, StatusCode::OK);
    for request in user_endpoints(gone_token) {
        let (status, _, body) = app.send(request).await;
        assert_eq!((status, body["error_code"].as_str()), (StatusCode::FORBIDDEN, Some("user_not_found")), "{body}");
        assert_eq!(body["msg"], "User from sub claim in JWT does not exist");
    }
    // Elsewhere the codes keep their own statuses: a banned user's sign-in is a 400.
    let (status, _, body) = app.sign_in("ban@example.com", "correct horse").await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("user_banned")));
}

#[actix_web::test]
async fn otp_without_create_user_answers_otp_disabled_when_chosen() {
    let mut revealing = AuthSettings { autoconfirm: true, ..AuthSettings::default() };
    revealing.email.otp_reveals_unknown_addresses = true;
    let app = TestApp::with(quick(), revealing).await;
    let ask = |email: &str| post("/otp", json!({"email": email, "create_user": false}));
    let (status, _, body) = app.send(ask("nobody@example.com")).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("otp_disabled")));
    assert_eq!(body["msg"], "Signups not allowed for otp");
    app.sign_up("kay@example.com", "correct horse").await;
    assert_eq!(app.send(ask("kay@example.com")).await.0, StatusCode::OK);

    // The default keeps the address private: the same answer for both.
    let private = TestApp::with(quick(), AuthSettings { autoconfirm: true, ..AuthSettings::default() }).await;
    let (status, _, body) = private.send(ask("nobody@example.com")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    assert!(private.mails().await.is_empty());
}

#[actix_web::test]
async fn token_without_a_body_is_an_unsupported_grant() {
    let app = TestApp::new(HttpSettings::default()).await;
    let (status, _, body) = app.send(TestRequest::post().uri("/auth/v1/token")).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_credentials")));
    assert_eq!(body["msg"], "unsupported_grant_type");
    // A grant named in the query with no body is asked for what it misses.
    let (status, _, body) = app.send(TestRequest::post().uri("/auth/v1/token?grant_type=refresh_token")).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_failed")));
    // A body that is there must still be JSON.
    let text = TestRequest::post().uri("/auth/v1/token?grant_type=password").set_payload("email=a");
    let (status, _, body) = app.send(text.insert_header(("content-type", "text/plain"))).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_json")));
}

#[actix_web::test]
async fn verify_bodies_over_the_limit_answer_json_413() {
    let http = HttpSettings { max_body_bytes: 2048, ..HttpSettings::default() };
    let app = TestApp::new(http).await;
    let big = json!({"type": "email", "token_hash": "x".repeat(4096)});
    let (status, headers, body) = app.send(post("/verify", big)).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("request_entity_too_large"))
    );
    assert_eq!(body["msg"], "Request body too large (max 2048 bytes)");
    assert!(headers.get("content-type").unwrap().to_str().unwrap().starts_with("application/json"));
    let form = TestRequest::post()
        .uri("/auth/v1/verify")
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(format!("token={}", "x".repeat(4096)));
    let (status, _, body) = app.send(form).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("request_entity_too_large"))
    );
}

#[actix_web::test]
async fn cors_allows_supabase_js_headers_and_refuses_in_json() {
    let settings =
        HttpSettings { cors_allowed_origins: vec!["https://app.example.com".into()], ..HttpSettings::default() };
    let app = TestApp::new(settings).await;
    let preflight = |origin: &str, headers: &str| {
        TestRequest::default()
            .method(actix_web::http::Method::OPTIONS)
            .uri("/auth/v1/token")
            .insert_header(("origin", origin))
            .insert_header(("access-control-request-method", "POST"))
            .insert_header(("access-control-request-headers", headers))
    };
    let asked = "x-request-id, x-client-info, apikey, x-supabase-api-version, authorization, content-type";
    let (status, headers, _) = app.send(preflight("https://app.example.com", asked)).await;
    assert!(status.is_success(), "{status}");
    let allowed = headers.get("access-control-allow-headers").unwrap().to_str().unwrap().to_ascii_lowercase();
    for header in ["x-request-id", "x-client-info", "apikey", "x-supabase-api-version"] {
        assert!(allowed.contains(header), "{header} in {allowed}");
    }

    for (origin, headers) in [("https://evil.example.net", "content-type"), ("https://app.example.com", "x-evil")] {
        let (status, response_headers, body) = app.send(preflight(origin, headers)).await;
        assert_eq!(
            (status, body["error_code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("cors_not_allowed")),
            "{body}"
        );
        assert!(body["msg"].as_str().unwrap().starts_with("CORS request refused: "));
        assert!(response_headers.get("content-type").unwrap().to_str().unwrap().starts_with("application/json"));
    }
    let versioned =
        preflight("https://evil.example.net", "content-type").insert_header(("x-supabase-api-version", "2024-01-01"));
    let (_, _, body) = app.send(versioned).await;
    assert_eq!(body["code"], "cors_not_allowed");
}

/// A migrated mobile app's allow list names its own scheme: emailed links land there.
#[actix_web::test]
async fn emailed_links_land_on_an_apps_own_scheme() {
    let mut settings = AuthSettings { autoconfirm: true, ..AuthSettings::default() };
    settings.email.send_interval = Duration::zero();
    settings.email.redirects = RedirectPolicy::new(
        "https://app.example.com",
        vec!["io.supabase.myapp://login-callback".into(), "com.example.app://**".into()],
    )
    .unwrap();
    let app = TestApp::with(quick(), settings).await;
    app.sign_up("dee@example.com", "correct horse").await;

    for (target, lands) in [
        ("io.supabase.myapp://login-callback", "io.supabase.myapp://login-callback#access_token="),
        ("com.example.app://auth/done", "com.example.app://auth/done#access_token="),
        ("io.supabase.myapp://elsewhere", "https://app.example.com#access_token="),
        ("javascript://com.example.app/%0aalert(1)", "https://app.example.com#access_token="),
    ] {
        let ask = post(
            &format!("/magiclink?redirect_to={}", auth_core::domain::encode_query_value(target)),
            json!({"email": "dee@example.com"}),
        );
        assert_eq!(app.send(ask).await.0, StatusCode::OK);
        let mail = app.mails().await.remove(0);
        let form = format!(
            "token={}&type=magiclink&redirect_to={}",
            mail.link_token(),
            auth_core::domain::encode_query_value(target)
        );
        let request = TestRequest::post()
            .uri("/auth/v1/verify")
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(form);
        let response = app.call(request).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{target}");
        let location = response.headers().get("location").unwrap().to_str().unwrap();
        assert!(location.starts_with(lands), "{target} landed on {location}");
    }
}
