//! The app under test: [`TestApp`] serves `auth_http::app` in-process over a [`TestWorld`]
//! (memory store, manual clock, instant crypto doubles), with typed helpers for requests.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use actix_web::web;
use auth_core::memory::MemoryStore;
use auth_core::service::AuthSettings;
use auth_core::testing::{ManualClock, SentMail, TestWorld, take_mail};
use auth_http::{AppState, HttpSettings, ServerInfo};
pub use auth_testkit::http::{post, send, with_token};
use serde_json::{Value, json};

/// How [`TestApp::builder`] finishes the app's state before the app is built.
type FinishState = Box<dyn FnOnce(AppState, &TestWorld) -> AppState>;

/// An app being set up: HTTP settings, the world under it, and a last touch to its state.
pub struct TestAppBuilder {
    http: HttpSettings,
    world: TestWorld,
    finish: FinishState,
}

impl TestAppBuilder {
    /// The use cases behave as `settings` say (a fresh world).
    pub fn auth(mut self, settings: AuthSettings) -> Self {
        self.world = TestWorld::new(settings);
        self
    }

    /// The app runs over `world` (one with swapped or wrapped ports).
    pub fn world(mut self, world: TestWorld) -> Self {
        self.world = world;
        self
    }

    /// The use cases have no mail templates (a service that sends no mail); after `auth`.
    pub fn without_mail(mut self) -> Self {
        self.world = self.world.with_ports(|ports| ports.templates = None);
        self
    }

    /// The HTTP layer behaves as `settings` say.
    pub fn http(mut self, settings: HttpSettings) -> Self {
        self.http = settings;
        self
    }

    /// `finish` completes the state (metrics, readiness) before the app is built.
    pub fn finish_state(mut self, finish: impl FnOnce(AppState, &TestWorld) -> AppState + 'static) -> Self {
        self.finish = Box::new(finish);
        self
    }

    /// Builds the app.
    pub async fn start(
        self,
    ) -> TestApp<
        impl Service<actix_http::Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
    > {
        let world = self.world;
        let info = ServerInfo { name: "authd".into(), version: "9.9.9".into() };
        let state = AppState::new(world.service.clone(), world.random.clone(), info, self.http);
        let state = (self.finish)(state, &world);
        let service = test::init_service(auth_http::app(web::Data::new(state))).await;
        TestApp { store: world.store.clone(), clock: world.clock.clone(), service }
    }
}

/// The app in-process, with handles on its store (to read the outbox) and its clock.
pub struct TestApp<S> {
    /// Every storage port.
    pub store: Arc<MemoryStore>,
    /// The clock, at [`TestWorld::start`] until moved.
    pub clock: Arc<ManualClock>,
    service: S,
}

impl TestApp<()> {
    /// An app with default HTTP settings over a world with autoconfirm on, to adjust before
    /// [`TestAppBuilder::start`].
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder { http: HttpSettings::default(), world: TestWorld::autoconfirm(), finish: Box::new(|s, _| s) }
    }

    /// The app with these HTTP settings, autoconfirm on.
    pub async fn new(
        http: HttpSettings,
    ) -> TestApp<
        impl Service<actix_http::Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
    > {
        Self::builder().http(http).start().await
    }

    /// The app with these HTTP and use-case settings.
    pub async fn with(
        http: HttpSettings,
        auth: AuthSettings,
    ) -> TestApp<
        impl Service<actix_http::Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
    > {
        Self::builder().http(http).auth(auth).start().await
    }
}

impl<S, B> TestApp<S>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    /// Sends a request and returns status, headers and JSON body (`Null` when empty).
    pub async fn send(&self, request: TestRequest) -> (StatusCode, HeaderMap, Value) {
        send(&self.service, request).await
    }

    /// Sends a request and returns the raw response.
    pub async fn call(&self, request: TestRequest) -> ServiceResponse<B> {
        test::call_service(&self.service, request.to_request()).await
    }

    /// `POST /signup` with an email address and a password.
    pub async fn sign_up(&self, email: &str, password: &str) -> (StatusCode, HeaderMap, Value) {
        self.send(post("/signup", json!({"email": email, "password": password}))).await
    }

    /// `POST /token?grant_type=password` with an email address and a password.
    pub async fn sign_in(&self, email: &str, password: &str) -> (StatusCode, HeaderMap, Value) {
        self.send(post("/token?grant_type=password", json!({"email": email, "password": password}))).await
    }

    /// `POST /token?grant_type=refresh_token`.
    pub async fn refresh(&self, refresh_token: &str) -> (StatusCode, HeaderMap, Value) {
        self.send(post("/token?grant_type=refresh_token", json!({"refresh_token": refresh_token}))).await
    }

    /// The app itself, for requests [`TestApp::call`] does not fit.
    pub fn service(&self) -> &S {
        &self.service
    }

    /// Takes every mail queued so far out of the outbox, oldest first.
    pub async fn mails(&self) -> Vec<SentMail> {
        take_mail(self.store.as_ref()).await.unwrap()
    }
}

/// An API key as the unsigned test signer reads it: a role, no user, no session.
pub fn api_key(role: &str) -> String {
    use base64::Engine;
    let claims =
        serde_json::json!({"aud": "authenticated", "role": role, "iat": 1_800_000_000, "exp": 2_200_000_000_i64});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string())
}
