use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use auth_http::HttpSettings;
use serde_json::Value;

use crate::harness::TestApp;

#[actix_web::test]
async fn health_answers_under_the_base_path() {
    let app = TestApp::new(HttpSettings::default()).await;
    let response = app.call(TestRequest::get().uri("/auth/v1/health")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = test::read_body_json(response).await;
    assert_eq!(body["name"], "authd");
    assert_eq!(body["version"], "9.9.9");
    assert_eq!(body["status"], "ok");
}

#[actix_web::test]
async fn base_path_is_configurable() {
    let root_app = TestApp::new(HttpSettings { base_path: "/".into(), ..HttpSettings::default() }).await;
    let root = root_app.call(TestRequest::get().uri("/health")).await;
    assert_eq!(root.status(), StatusCode::OK);
    let old = root_app.call(TestRequest::get().uri("/auth/v1/health")).await;
    assert_eq!(old.status(), StatusCode::NOT_FOUND);

    let custom = TestApp::new(HttpSettings { base_path: "auth/".into(), ..HttpSettings::default() }).await;
    let response = custom.call(TestRequest::get().uri("/auth/health")).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[actix_web::test]
async fn unknown_paths_answer_json_404() {
    let app = TestApp::new(HttpSettings::default()).await;
    for uri in ["/nope", "/auth/v1/nope", "/auth/v1/health/extra"] {
        let response = app.call(TestRequest::get().uri(uri)).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{uri}");
        let body: Value = test::read_body_json(response).await;
        assert_eq!(body["code"], 404);
        assert_eq!(body["error_code"], "not_found");
        assert!(body["msg"].is_string());
        assert_eq!(body["msg"], body["error"]);
    }
}

#[actix_web::test]
async fn wrong_methods_answer_json_405() {
    let app = TestApp::new(HttpSettings::default()).await;
    let response = app.call(TestRequest::post().uri("/auth/v1/health")).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: Value = test::read_body_json(response).await;
    assert_eq!(body["error_code"], "method_not_allowed");
}

#[actix_web::test]
async fn every_response_carries_a_request_id_and_security_headers() {
    let app = TestApp::new(HttpSettings::default()).await;
    let generated = app.call(TestRequest::get().uri("/auth/v1/health")).await;
    let id = generated.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();
    assert_eq!(id.len(), 24);
    assert_eq!(generated.headers().get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(generated.headers().get("x-frame-options").unwrap(), "DENY");

    let echoed =
        app.call(TestRequest::get().uri("/auth/v1/nope").insert_header(("x-request-id", "trace-abc_123"))).await;
    assert_eq!(echoed.headers().get("x-request-id").unwrap(), "trace-abc_123");
    assert!(echoed.headers().get("x-content-type-options").is_some(), "errors get security headers too");

    let hostile = app
        .call(TestRequest::get().uri("/auth/v1/health").insert_header(("x-request-id", "bad id\twith spaces")))
        .await;
    assert_ne!(hostile.headers().get("x-request-id").unwrap(), "bad id\twith spaces");
}
