use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::web;
use auth_core::memory::MemoryStore;
use auth_core::service::{AuthService, AuthSettings, Ports};
use auth_core::testing::{DigestChain, ManualClock, PlainHasher, SequentialRandom, UnsignedTokens};
use auth_http::{AppState, HttpSettings, ServerInfo};
use chrono::{TimeZone, Utc};
use serde_json::Value;

/// Builds the app over the in-memory store and instant test doubles.
pub async fn app_with(
    settings: HttpSettings,
    auth: AuthSettings,
) -> impl Service<actix_http::Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error> {
    world(settings, auth).await.0
}

/// The app with handles on its store (to read the outbox) and its clock.
pub async fn world(
    settings: HttpSettings,
    auth: AuthSettings,
) -> (
    impl Service<actix_http::Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
    Arc<MemoryStore>,
    Arc<ManualClock>,
) {
    world_finished_by(settings, auth, |state, _| state).await
}

/// As [`world`], with the state finished by `finish` (metrics, readiness) before the app is built.
pub async fn world_finished_by(
    settings: HttpSettings,
    auth: AuthSettings,
    finish: impl FnOnce(AppState, Arc<MemoryStore>) -> AppState,
) -> (
    impl Service<actix_http::Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
    Arc<MemoryStore>,
    Arc<ManualClock>,
) {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()));
    let random = Arc::new(SequentialRandom::default());
    let ports = Ports {
        users: store.clone(),
        sessions: store.clone(),
        hasher: Arc::new(PlainHasher::default()),
        signer: Arc::new(UnsignedTokens),
        chain: Arc::new(DigestChain),
        clock: clock.clone(),
        random: random.clone(),
        audit: store.clone(),
        flows: store.clone(),
        templates: Arc::new(auth_core::testing::PlainTemplates),
    };
    let info = ServerInfo { name: "authd".into(), version: "9.9.9".into() };
    let state = finish(AppState::new(AuthService::new(ports, auth), random, info, settings), store.clone());
    (test::init_service(auth_http::app(web::Data::new(state))).await, store, clock)
}

/// The app with default HTTP settings and autoconfirm on.
pub async fn app(
    settings: HttpSettings,
) -> impl Service<actix_http::Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error> {
    app_with(settings, AuthSettings { autoconfirm: true, ..AuthSettings::default() }).await
}

/// Sends a request and returns status, headers and JSON body (`Null` when empty).
pub async fn send<S, B>(app: &S, request: TestRequest) -> (StatusCode, actix_web::http::header::HeaderMap, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let response = test::call_service(app, request.to_request()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = test::read_body(response).await;
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
    (status, headers, body)
}

/// `POST /auth/v1/<path>` with a JSON body.
pub fn post(path: &str, body: Value) -> TestRequest {
    TestRequest::post().uri(&format!("/auth/v1{path}")).set_json(body)
}

/// A request carrying a bearer token.
pub fn with_token(request: TestRequest, token: &str) -> TestRequest {
    request.insert_header(("Authorization", format!("Bearer {token}")))
}

/// An API key as the unsigned test signer reads it: a role, no user, no session.
pub fn api_key(role: &str) -> String {
    use base64::Engine;
    let claims =
        serde_json::json!({"aud": "authenticated", "role": role, "iat": 1_800_000_000, "exp": 2_200_000_000_i64});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string())
}
