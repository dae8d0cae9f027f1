use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::{test, web};
use auth_core::memory::MemoryStore;
use auth_core::ports::{MockPasswordHasher, MockTokenChain, MockTokenSigner};
use auth_core::service::{AuthService, AuthSettings, Ports};
use auth_core::testing::{ManualClock, SequentialRandom};
use auth_http::{AppState, HttpSettings, ServerInfo};
use chrono::{TimeZone, Utc};

/// Builds the app over the in-memory store with the given HTTP settings.
pub async fn app(
    settings: HttpSettings,
) -> impl Service<actix_http::Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error> {
    let store = Arc::new(MemoryStore::new());
    let random = Arc::new(SequentialRandom::default());
    let ports = Ports {
        users: store.clone(),
        sessions: store,
        hasher: Arc::new(MockPasswordHasher::new()),
        signer: Arc::new(MockTokenSigner::new()),
        chain: Arc::new(MockTokenChain::new()),
        clock: Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap())),
        random: random.clone(),
    };
    let state = AppState {
        service: AuthService::new(ports, AuthSettings::default()),
        random,
        info: ServerInfo { name: "authd".into(), version: "9.9.9".into() },
        settings,
    };
    test::init_service(auth_http::app(web::Data::new(state))).await
}
