//! Hostile input (security issue 14, "Also"): malformed and oversized bodies on every route the
//! app serves (read from the source, as the docs check does), hostile headers, redirect tricks
//! and refresh-token replay. Every refusal is a JSON error with a stable code and a 4xx status;
//! nothing may answer 5xx or panic.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderMap, HeaderValue};
use actix_web::test::TestRequest;
use auth_core::service::AuthSettings;
use auth_http::HttpSettings;
use serde_json::{Value, json};

use crate::harness::{TestApp, api_key, post, with_token};

const MAX_BODY: usize = 4096;

/// POST routes that read no body.
const BODILESS: [&str; 4] =
    ["/logout", "/admin/users/{id}/logout", "/factors/{id}/challenge", "/factors/recovery-codes/regenerate"];

/// Routes that read a form, not JSON (a provider's `form_post`): a JSON body of any kind is a
/// clean `400 validation_failed`, checked by `assert_clean` like every answer.
const FORM_BODY: [&str; 1] = ["/callback"];

/// Routes whose body has no `email` field: a bad value there is skipped unread, and the body is
/// refused for what it lacks (a clean 4xx all the same).
const NO_EMAIL_FIELD: [&str; 5] = [
    "/factors",
    "/factors/{id}/verify",
    "/factors/recovery-codes",
    "/factors/recovery-codes/verify",
    "/admin/users/{id}/factors/{factor_id}",
];

fn settings() -> HttpSettings {
    HttpSettings {
        max_body_bytes: MAX_BODY,
        mail_answer_floor: std::time::Duration::ZERO,
        trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        ..HttpSettings::default()
    }
}

/// A hostile body: its name, content type and bytes.
struct Body {
    name: &'static str,
    content_type: Option<&'static str>,
    bytes: Vec<u8>,
}

fn bodies() -> Vec<Body> {
    let json = Some("application/json");
    let nested = format!("{}{}", "[".repeat(2000), "]".repeat(2000)).into_bytes();
    let wrong_types = json!({
        "email": 42, "password": [], "data": "x", "refresh_token": {}, "token": 1.5, "type": null,
        "user_metadata": [1], "app_metadata": "x", "redirect_to": {}, "code_challenge": false, "ban_duration": 9,
    });
    let controls = json!({
        "email": "a\u{0}@example.com", "password": "x\u{0}y\r\nz", "token_hash": "\u{202e}abc",
        "refresh_token": "\u{0}", "redirect_to": "http://localhost:3000/\r\nSet-Cookie: a=b",
    });
    let oversized = json!({"email": "a@example.com", "password": "x".repeat(MAX_BODY)});
    vec![
        Body { name: "broken JSON", content_type: json, bytes: b"{\"email\": ".to_vec() },
        Body { name: "a JSON array", content_type: json, bytes: b"[1, 2, 3]".to_vec() },
        Body { name: "a JSON string", content_type: json, bytes: b"\"hello\"".to_vec() },
        Body { name: "JSON null", content_type: json, bytes: b"null".to_vec() },
        Body { name: "an empty body", content_type: json, bytes: Vec::new() },
        Body { name: "wrong types", content_type: json, bytes: wrong_types.to_string().into_bytes() },
        Body { name: "controls and CRLF", content_type: json, bytes: controls.to_string().into_bytes() },
        Body { name: "deep nesting", content_type: json, bytes: nested },
        Body { name: "invalid UTF-8", content_type: json, bytes: b"{\"email\": \"\xff\xfe\"}".to_vec() },
        Body { name: "a number out of range", content_type: json, bytes: b"{\"email\": 1e400}".to_vec() },
        Body { name: "duplicate keys", content_type: json, bytes: b"{\"email\": \"a@b.c\", \"email\": 1}".to_vec() },
        Body {
            name: "form garbage",
            content_type: Some("application/x-www-form-urlencoded"),
            bytes: b"%%%=&&==%zz".to_vec(),
        },
        Body { name: "plain text", content_type: Some("text/plain"), bytes: b"hello there".to_vec() },
        Body {
            name: "multipart",
            content_type: Some("multipart/form-data; boundary=x"),
            bytes: b"--x\r\n\r\n--x--".to_vec(),
        },
        Body { name: "no content type", content_type: None, bytes: b"{\"email\": \"a@example.com\"}".to_vec() },
        Body { name: "oversized", content_type: json, bytes: oversized.to_string().into_bytes() },
    ]
}

/// Asserts that an answer is not a failure of the server and that a refusal carries its code in
/// the body and in `x-sb-error-code`. Returns the code.
fn assert_clean(what: &str, status: StatusCode, headers: &HeaderMap, body: &Value) -> Option<String> {
    // `/ready` reports that this in-process app has no readiness check configured.
    let not_ready = status == StatusCode::SERVICE_UNAVAILABLE && body["error_code"] == "not_ready";
    assert!(!status.is_server_error() || not_ready, "{what}: {status} {body}");
    if status.is_success() || status.is_redirection() {
        return None;
    }
    let code = body["error_code"].as_str().unwrap_or_else(|| panic!("{what}: no error_code in {status} {body}"));
    assert!(!code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{what}: code {code:?}");
    assert_eq!(headers.get("x-sb-error-code").and_then(|v| v.to_str().ok()), Some(code), "{what}");
    Some(code.to_owned())
}

#[actix_web::test]
async fn every_route_answers_hostile_bodies_with_json_client_errors() {
    let app = TestApp::new(settings()).await;
    assert_eq!(app.sign_up("jane@example.com", "correct horse").await.0, StatusCode::OK);
    let service = api_key("service_role");
    let routes = crate::docs::served_routes();
    assert!(routes.len() > 20, "{routes:?}");
    let mut unexpected = Vec::new();
    for (method, path) in &routes {
        let uri = format!("/auth/v1{}", path.replace("{id}", "00000000-0000-4000-8000-000000000000"));
        for body in bodies() {
            // A fresh session each time: a logout with any body ends the one it is sent with.
            let user_token =
                if ["/user", "/logout", "/reauthenticate"].contains(&path.as_str()) || path.starts_with("/factors") {
                    let (_, _, session) = app.sign_in("jane@example.com", "correct horse").await;
                    session["access_token"].as_str().map(str::to_owned)
                } else {
                    None
                };
            let token =
                if path.starts_with("/admin") || path == "/invite" { Some(service.clone()) } else { user_token };
            let what = format!("{method} {path} with {}", body.name);
            let mut request = TestRequest::default()
                .method(method.parse().unwrap())
                .uri(&uri)
                .insert_header(("x-forwarded-for", "10.0.0.9"))
                .set_payload(body.bytes.clone());
            if let Some(content_type) = body.content_type {
                request = request.insert_header(("content-type", content_type));
            }
            if let Some(token) = &token {
                request = with_token(request, token);
            }
            let response = app.call(request).await;
            let (status, headers) = (response.status(), response.headers().clone());
            let bytes = actix_web::test::read_body(response).await;
            // The link page (GET /verify) is HTML; every refusal is JSON.
            let answer = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let code = assert_clean(&what, status, &headers, &answer);
            let reads_body = matches!(method.as_str(), "POST" | "PUT")
                && !BODILESS.contains(&path.as_str())
                && !FORM_BODY.contains(&path.as_str());
            let expected = match body.name {
                "oversized" => Some((StatusCode::PAYLOAD_TOO_LARGE, "request_entity_too_large")),
                "invalid UTF-8" | "a number out of range" if NO_EMAIL_FIELD.contains(&path.as_str()) => None,
                "broken JSON" | "deep nesting" | "invalid UTF-8" | "a number out of range" => {
                    Some((StatusCode::BAD_REQUEST, "bad_json"))
                }
                _ => None,
            };
            if let Some((want_status, want_code)) = expected.filter(|_| reads_body)
                && (status, code.as_deref()) != (want_status, Some(want_code))
            {
                unexpected.push(format!("{what}: {status} {code:?}, not {want_status} {want_code}"));
            }
        }
    }
    assert!(unexpected.is_empty(), "{unexpected:#?}");
}

#[actix_web::test]
async fn hostile_headers_get_json_refusals() {
    let app = TestApp::new(settings()).await;
    let user = || TestRequest::get().uri("/auth/v1/user");
    let long = format!("Bearer {}", "A".repeat(16 * 1024));
    let authorizations: [&[u8]; 9] = [
        b"",
        b"Bearer",
        b"Bearer ",
        b"Bearer a.b.c",
        b"Bearer ..",
        b"Basic dXNlcjpwYXNz",
        b"bearer eyJhbGciOiJub25lIn0.e30.",
        b"Bearer \xff\xfe\x80",
        long.as_bytes(),
    ];
    for value in authorizations {
        let what = format!("Authorization {:?}", String::from_utf8_lossy(&value[..value.len().min(24)]));
        let request = user().insert_header(("authorization", HeaderValue::from_bytes(value).unwrap()));
        let (status, headers, body) = app.send(request).await;
        let code = assert_clean(&what, status, &headers, &body);
        assert!(matches!(code.as_deref(), Some("no_authorization" | "bad_jwt")), "{what}: {status} {body}");
    }

    // Forwarded-for lists from a trusted proxy that are garbage, long or mixed never fail a request.
    let many = vec!["203.0.113.7"; 2000].join(", ");
    for forwarded in ["", ",,,", "::::", "<script>", "999.1.1.1", "[::1]:80, 1.2.3.4:5", "unknown, 10.0.0.1", &many] {
        let body = json!({"email": "nobody@example.com", "password": "wrong guess"});
        let request = post("/token?grant_type=password", body)
            .peer_addr("10.0.0.2:4000".parse().unwrap())
            .insert_header(("x-forwarded-for", forwarded));
        let (status, headers, body) = app.send(request).await;
        let code = assert_clean(&format!("X-Forwarded-For {:.24}", forwarded), status, &headers, &body);
        assert_eq!(code.as_deref(), Some("invalid_credentials"));
    }

    // Request ids and API versions that are not tokens are not echoed, and change nothing.
    for id in ["x".repeat(4096), "é".into(), "a b".into()] {
        let request = TestRequest::get().uri("/auth/v1/health");
        let request = request.insert_header(("x-request-id", HeaderValue::from_bytes(id.as_bytes()).unwrap()));
        let response = app.call(request).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_ne!(response.headers().get("x-request-id").unwrap().as_bytes(), id.as_bytes());
    }
    for version in ["2024-13-45", "../../etc", "", "2024-01-01; drop"] {
        let request = post("/signup", json!({"email": "a@example.com", "password": "short"}))
            .insert_header(("x-supabase-api-version", HeaderValue::from_bytes(version.as_bytes()).unwrap()));
        let (status, _, body) = app.send(request).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "version {version:?}: {body}");
        assert!(body["error_code"] == "weak_password" || body["code"] == "weak_password", "{body}");
    }
}

/// What a redirect trick may try; each names `evil`, which must not appear where it lands.
const TRICKS: [&str; 16] = [
    "https://evil.example",
    "//evil.example",
    "http://localhost:3000@evil.example",
    "http://localhost:3000.evil.example",
    "http://localhost:3000\\@evil.example",
    "javascript:alert('evil')",
    "data:text/html,evil",
    "http:evil.example",
    "http:/\\evil.example",
    " https://evil.example",
    "https://evil.example#http://localhost:3000",
    "http://localhost:3000\r\nLocation: https://evil.example",
    "HTTP://EVIL.EXAMPLE",
    "http://evil.example?http://localhost:3000",
    "http://localhost:3000%00.evil.example",
    "https://evil\u{3002}example",
];

fn encoded(value: &str) -> String {
    auth_core::domain::encode_query_value(value)
}

#[actix_web::test]
async fn redirect_tricks_land_on_the_site_url() {
    let mut auth = AuthSettings::default();
    auth.email.send_interval = chrono::Duration::zero();
    auth.email.max_codes_per_day = 100;
    let app = TestApp::with(settings(), auth).await;
    let body = json!({"email": "jane@example.com", "password": "correct horse"});
    assert_eq!(app.send(post("/signup", body)).await.0, StatusCode::OK);
    app.mails().await;
    for trick in TRICKS {
        // Asked for in a mail: the link carries the site URL instead.
        let ask = post(&format!("/magiclink?redirect_to={}", encoded(trick)), json!({"email": "jane@example.com"}));
        let (status, _, body) = app.send(ask).await;
        assert_eq!(status, StatusCode::OK, "{trick:?}: {body}");
        let mails = app.mails().await;
        let link = &mails.last().unwrap_or_else(|| panic!("{trick:?}: no mail")).link;
        assert!(!link.to_lowercase().contains("evil"), "{trick:?} reached the mail: {link}");

        // Posted with a link's form (a good token or a bad one): the browser lands on the site.
        for token in [mails.last().unwrap().link_param("token").unwrap().to_owned(), "bogus".to_owned()] {
            let form = format!("token={token}&type=magiclink&redirect_to={}", encoded(trick));
            let request = TestRequest::post()
                .uri("/auth/v1/verify")
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .set_payload(form);
            let response = app.call(request).await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER, "{trick:?}");
            let location = response.headers().get("location").unwrap().to_str().unwrap().to_lowercase();
            assert!(
                location.starts_with("http://localhost:3000") && !location.contains("evil"),
                "{trick:?}: {location}"
            );
        }

        // The link page itself shows no trace of the trick as a live URL.
        let page = TestRequest::get()
            .uri(&format!("/auth/v1/verify?token=bogus&type=magiclink&redirect_to={}", encoded(trick)))
            .to_request();
        let response = actix_web::test::call_service(app.service(), page).await;
        assert!(!response.status().is_server_error(), "{trick:?}");
        let html = String::from_utf8(actix_web::test::read_body(response).await.to_vec()).unwrap();
        // Escaped into a hidden field's value, never a link or script.
        assert!(!html.contains("<script") && !html.contains("href=") && !html.contains("alert('"), "{trick:?}: {html}");
    }
}

#[actix_web::test]
async fn a_used_refresh_token_replayed_late_ends_the_session() {
    let app = TestApp::new(settings()).await;
    let (_, _, session) = app.sign_up("jane@example.com", "correct horse").await;
    let first = session["refresh_token"].as_str().unwrap().to_owned();
    let (status, _, rotated) = app.refresh(&first).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();

    // Within the reuse interval a replay (a client's retry) gets the same successor.
    let (status, _, again) = app.refresh(&first).await;
    assert_eq!((status, again["refresh_token"].as_str()), (StatusCode::OK, Some(second.as_str())), "{again}");

    // Once the successor was used, the first token coming back is theft: refused, and the whole
    // family and session die with it.
    app.clock.advance(chrono::Duration::seconds(60));
    let (status, _, third) = app.refresh(&second).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    let third = third["refresh_token"].as_str().unwrap().to_owned();
    let (status, headers, body) = app.refresh(&first).await;
    let code = assert_clean("a late replay", status, &headers, &body);
    assert_eq!((status, code.as_deref()), (StatusCode::BAD_REQUEST, Some("refresh_token_already_used")));
    let (status, headers, body) = app.refresh(&third).await;
    let code = assert_clean("the live successor after a replay", status, &headers, &body);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(matches!(code.as_deref(), Some("refresh_token_already_used" | "refresh_token_not_found")), "{body}");
    let (status, _, body) =
        app.send(with_token(TestRequest::get().uri("/auth/v1/user"), rotated["access_token"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the session ended: {body}");
}
