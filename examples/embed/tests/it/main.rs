//! The example's routes, in process, over auth-core's in-memory store and the real crypto.

// Test code: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use auth_core::memory::MemoryStore;
use auth_core::ports::StorePorts;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use embed_example::{router, service, settings};
use serde_json::{Value, json};
use tower::ServiceExt;

async fn app() -> Router {
    router(service(StorePorts::all(Arc::new(MemoryStore::new())), settings()).await.unwrap())
}

/// Sends `body` (JSON, or raw text when it is a string) and reads the JSON answer.
async fn call(app: &Router, method: &str, uri: &str, bearer: Option<&str>, body: Value) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri).header("content-type", "application/json");
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Value::String(raw) => raw,
        Value::Null => String::new(),
        json => json.to_string(),
    };
    let response = app.clone().oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn sign_up_sign_in_refresh_and_call_a_protected_route() {
    let app = app().await;
    let credentials = json!({ "email": "jane@example.com", "password": "correct horse battery" });
    let (status, signed_up) = call(&app, "POST", "/signup", None, credentials.clone()).await;
    assert_eq!(status, StatusCode::OK, "{signed_up}");
    assert_eq!(signed_up["user"]["email"], "jane@example.com");

    let (status, signed_in) = call(&app, "POST", "/sign-in", None, credentials).await;
    assert_eq!(status, StatusCode::OK, "{signed_in}");
    let (status, me) = call(&app, "GET", "/me", signed_in["access_token"].as_str(), Value::Null).await;
    assert_eq!((status, &me["email"]), (StatusCode::OK, &json!("jane@example.com")));

    let refresh = json!({ "refresh_token": signed_in["refresh_token"] });
    let (status, refreshed) = call(&app, "POST", "/refresh", None, refresh).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_ne!(refreshed["refresh_token"], signed_in["refresh_token"]);
    let (status, again) = call(&app, "GET", "/me", refreshed["access_token"].as_str(), Value::Null).await;
    assert_eq!((status, &again["session_id"]), (StatusCode::OK, &me["session_id"]), "same session, new tokens");
}

#[tokio::test]
async fn refusals_are_json_with_auth_cores_codes() {
    let app = app().await;
    let jane = json!({ "email": "jane@example.com", "password": "correct horse battery" });
    assert_eq!(call(&app, "POST", "/signup", None, jane.clone()).await.0, StatusCode::OK);
    let wrong = json!({ "email": "jane@example.com", "password": "wrong horse battery" });

    let cases = [
        ("POST", "/sign-in", None, wrong, StatusCode::UNAUTHORIZED, "invalid_credentials"),
        ("POST", "/signup", None, jane, StatusCode::CONFLICT, "user_already_exists"),
        ("POST", "/signup", None, json!("{not json"), StatusCode::BAD_REQUEST, "bad_json"),
        (
            "POST",
            "/refresh",
            None,
            json!({ "refresh_token": "nope" }),
            StatusCode::UNAUTHORIZED,
            "refresh_token_not_found",
        ),
        ("GET", "/me", None, Value::Null, StatusCode::UNAUTHORIZED, "no_authorization"),
        ("GET", "/me", Some("not-a-jwt"), Value::Null, StatusCode::UNAUTHORIZED, "bad_jwt"),
        ("GET", "/nowhere", None, Value::Null, StatusCode::NOT_FOUND, "not_found"),
        ("GET", "/signup", None, Value::Null, StatusCode::METHOD_NOT_ALLOWED, "bad_method"),
    ];
    for (method, uri, bearer, body, status, code) in cases {
        let (got, answer) = call(&app, method, uri, bearer, body).await;
        assert_eq!((got, answer["code"].as_str()), (status, Some(code)), "{method} {uri}: {answer}");
    }
}
