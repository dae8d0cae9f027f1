//! A small service embedding authd's use cases behind its own HTTP stack (axum): sign-up,
//! password sign-in, refresh, and a route only a signed-in user may call. No actix-web.

use std::sync::Arc;

use auth_core::AuthError;
use auth_core::domain::Password;
use auth_core::ports::StorePorts;
use auth_core::service::SignupRequest;
use auth_core::service::{AuthService, AuthSettings, ClientInfo, Identifier, IssuedSession, Ports, SignupOutcome};
use auth_crypto::{Argon2Hasher, Argon2Params, InProcessLimiter, JwtAlgorithm, OsRandom, StoredKeys, SystemClock};
use axum::extract::{State, rejection::JsonRejection};
use axum::http::{HeaderMap, StatusCode, header::AUTHORIZATION};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

/// authd's defaults, except that new addresses count as confirmed: this service sends no mail.
pub fn settings() -> AuthSettings {
    AuthSettings { autoconfirm: true, ..AuthSettings::default() }
}

/// The use cases over `stores` (`Database::ports()`, or `StorePorts::all` of one store) with
/// authd's crypto: argon2id on two threads, ES256 access tokens and HMAC refresh chains whose
/// keys are made once and kept in the store. No mail templates: flows that mail are refused.
pub async fn service(stores: StorePorts, settings: AuthSettings) -> anyhow::Result<AuthService> {
    let keys =
        StoredKeys::new(Arc::clone(&stores.keys), JwtAlgorithm::ES256).with_token_lifetime(settings.access_token_ttl);
    keys.ensure_initial().await?;
    let ports = Ports::new(
        &stores,
        Arc::new(Argon2Hasher::new(Argon2Params::default(), 2)?),
        Arc::new(keys.signer(&settings.audience, &settings.issuer).await?),
        Arc::new(keys.token_chain().await?),
        Arc::new(SystemClock),
        Arc::new(OsRandom),
    );
    // Counts password guesses per account (and per client network, given `ClientInfo::ip`).
    let limiter = Arc::new(InProcessLimiter::new(Arc::clone(&ports.clock)));
    Ok(AuthService::new(ports, settings).with_limiter(limiter))
}

/// The HTTP routes over `service`.
pub fn router(service: AuthService) -> Router {
    Router::new()
        .route("/signup", post(signup))
        .route("/sign-in", post(sign_in))
        .route("/refresh", post(refresh))
        .route("/me", get(me))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .method_not_allowed_fallback(|| async { error(StatusCode::METHOD_NOT_ALLOWED, "bad_method", "wrong method") })
        .with_state(service)
}

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
}

#[derive(Deserialize)]
struct RefreshRequest {
    refresh_token: String,
}

type Body<T> = Result<Json<T>, JsonRejection>;

async fn signup(State(auth): State<AuthService>, body: Body<Credentials>) -> Result<Json<Value>, Refusal> {
    let Json(given) = body?;
    let (email, password) = (Some(given.email), Some(Password::new(given.password)));
    match auth.signup(SignupRequest { email, password, ..SignupRequest::default() }, &ClientInfo::default()).await? {
        SignupOutcome::Session(issued) => Ok(session(&issued)),
        SignupOutcome::ConfirmationPending(user) => Ok(Json(json!({ "user": { "id": user.id.to_string() } }))),
    }
}

async fn sign_in(State(auth): State<AuthService>, body: Body<Credentials>) -> Result<Json<Value>, Refusal> {
    let Json(given) = body?;
    let login = Identifier::parse_login(&given.email)?;
    Ok(session(&auth.sign_in_with_password(&login, &Password::new(given.password), &ClientInfo::default()).await?))
}

async fn refresh(State(auth): State<AuthService>, body: Body<RefreshRequest>) -> Result<Json<Value>, Refusal> {
    let Json(given) = body?;
    Ok(session(&auth.refresh(&given.refresh_token, &ClientInfo::default()).await?))
}

/// Protected by the access token: `authenticate` also checks the session is still live.
async fn me(State(auth): State<AuthService>, headers: HeaderMap) -> Result<Json<Value>, Refusal> {
    let bearer = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let principal = auth.authenticate(bearer.ok_or(AuthError::NoAuthorization)?).await?;
    let (user, session_id) = (principal.user, principal.session.id.to_string());
    Ok(Json(json!({ "id": user.id.to_string(), "email": user.email.map(|e| e.to_string()), "session_id": session_id })))
}

fn session(issued: &IssuedSession) -> Json<Value> {
    Json(json!({
        "access_token": issued.access_token,
        "token_type": "bearer",
        "expires_in": issued.expires_in,
        "refresh_token": issued.refresh_token.expose(),
        "user": { "id": issued.user.id.to_string(), "email": issued.user.email.as_ref().map(|e| e.to_string()) },
    }))
}

/// A refusal as JSON with auth-core's stable code; this adapter alone picks the status.
struct Refusal(Response);

impl From<JsonRejection> for Refusal {
    fn from(rejection: JsonRejection) -> Self {
        Self(error(StatusCode::BAD_REQUEST, "bad_json", &rejection.body_text()))
    }
}

impl From<AuthError> for Refusal {
    fn from(refusal: AuthError) -> Self {
        let status = match &refusal {
            AuthError::InvalidCredentials | AuthError::NoAuthorization | AuthError::SessionExpired => {
                StatusCode::UNAUTHORIZED
            }
            AuthError::BadJwt(_) | AuthError::SessionNotFound => StatusCode::UNAUTHORIZED,
            AuthError::RefreshTokenNotFound | AuthError::RefreshTokenAlreadyUsed => StatusCode::UNAUTHORIZED,
            AuthError::UserAlreadyExists | AuthError::EmailExists => StatusCode::CONFLICT,
            AuthError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            AuthError::Unavailable(_) | AuthError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::Internal(detail) => {
                // Details go to the log, never to the client.
                tracing::error!(%detail, "request failed");
                return Self(error(StatusCode::INTERNAL_SERVER_ERROR, refusal.code(), "internal error"));
            }
            _ => StatusCode::BAD_REQUEST,
        };
        Self(error(status, refusal.code(), &refusal.to_string()))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        self.0
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "code": code, "message": message }))).into_response()
}
