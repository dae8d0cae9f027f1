//! Requests to an actix-web app in process (`actix_web::test`), for the HTTP adapter's tests and
//! the binary's in-process ones: JSON in, status, headers and JSON out.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderMap, LOCATION};
use actix_web::test::{self, TestRequest};
use serde_json::Value;

/// Sends a request and returns status, headers and JSON body (`Null` when empty).
pub async fn send<S, B>(app: &S, request: TestRequest) -> (StatusCode, HeaderMap, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let response = test::call_service(app, request.to_request()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = test::read_body(response).await;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{e}: the body is not JSON: {}", String::from_utf8_lossy(&bytes)))
    };
    (status, headers, body)
}

/// `POST /auth/v1<path>` with a JSON body.
pub fn post(path: &str, body: Value) -> TestRequest {
    TestRequest::post().uri(&format!("/auth/v1{path}")).set_json(body)
}

/// A request carrying a bearer token.
pub fn with_token(request: TestRequest, token: &str) -> TestRequest {
    request.insert_header(("Authorization", format!("Bearer {token}")))
}

/// The `Location` header of an answer, if any.
pub fn location(headers: &HeaderMap) -> Option<String> {
    headers.get(LOCATION).map(|l| l.to_str().unwrap().to_owned())
}
