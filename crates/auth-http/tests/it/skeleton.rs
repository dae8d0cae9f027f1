use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use auth_http::HttpSettings;
use serde_json::Value;

use crate::harness::app;

#[actix_web::test]
async fn health_answers_under_the_base_path() {
    let app = app(HttpSettings::default()).await;
    let response = test::call_service(&app, TestRequest::get().uri("/auth/v1/health").to_request()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = test::read_body_json(response).await;
    assert_eq!(body["name"], "authd");
    assert_eq!(body["version"], "9.9.9");
    assert_eq!(body["status"], "ok");
}

#[actix_web::test]
async fn base_path_is_configurable() {
    let root_app = app(HttpSettings { base_path: "/".into(), ..HttpSettings::default() }).await;
    let root = test::call_service(&root_app, TestRequest::get().uri("/health").to_request()).await;
    assert_eq!(root.status(), StatusCode::OK);
    let old = test::call_service(&root_app, TestRequest::get().uri("/auth/v1/health").to_request()).await;
    assert_eq!(old.status(), StatusCode::NOT_FOUND);

    let custom = app(HttpSettings { base_path: "auth/".into(), ..HttpSettings::default() }).await;
    let response = test::call_service(&custom, TestRequest::get().uri("/auth/health").to_request()).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[actix_web::test]
async fn unknown_paths_answer_json_404() {
    let app = app(HttpSettings::default()).await;
    for uri in ["/nope", "/auth/v1/nope", "/auth/v1/health/extra"] {
        let response = test::call_service(&app, TestRequest::get().uri(uri).to_request()).await;
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
    let app = app(HttpSettings::default()).await;
    let response = test::call_service(&app, TestRequest::post().uri("/auth/v1/health").to_request()).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: Value = test::read_body_json(response).await;
    assert_eq!(body["error_code"], "method_not_allowed");
}

#[actix_web::test]
async fn every_response_carries_a_request_id_and_security_headers() {
    let app = app(HttpSettings::default()).await;
    let generated = test::call_service(&app, TestRequest::get().uri("/auth/v1/health").to_request()).await;
    let id = generated.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();
    assert_eq!(id.len(), 24);
    assert_eq!(generated.headers().get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(generated.headers().get("x-frame-options").unwrap(), "DENY");

    let echoed = test::call_service(
        &app,
        TestRequest::get().uri("/auth/v1/nope").insert_header(("x-request-id", "trace-abc_123")).to_request(),
    )
    .await;
    assert_eq!(echoed.headers().get("x-request-id").unwrap(), "trace-abc_123");
    assert!(echoed.headers().get("x-content-type-options").is_some(), "errors get security headers too");

    let hostile = test::call_service(
        &app,
        TestRequest::get().uri("/auth/v1/health").insert_header(("x-request-id", "bad id\twith spaces")).to_request(),
    )
    .await;
    assert_ne!(hostile.headers().get("x-request-id").unwrap(), "bad id\twith spaces");
}
