//! Route handlers, one module per area of the API.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponseBuilder, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::{ApiError, AppState};

pub(crate) mod admin;
pub(crate) mod email;
pub(crate) mod factors;
pub(crate) mod fallback;
pub(crate) mod health;
pub(crate) mod logout;
pub(crate) mod metrics;
pub(crate) mod pkce;
pub(crate) mod recovery_codes;
pub(crate) mod settings;
pub(crate) mod signup;
pub(crate) mod token;
pub(crate) mod user;

/// `redirect_to` in the query string, where auth-js puts `emailRedirectTo` and `redirectTo`.
#[derive(Deserialize)]
pub(crate) struct RedirectQuery {
    pub(crate) redirect_to: Option<String>,
}

/// The request's body, read up to `max_body_bytes` (past it, a JSON `413`).
pub(crate) async fn read_body(state: &AppState, payload: web::Payload) -> Result<web::Bytes, ApiError> {
    let limit = state.settings.max_body_bytes;
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(error)) => Err(ApiError::bad_json(error)),
        Err(_over) => Err(ApiError::payload_too_large(limit)),
    }
}

/// A JSON body as `T`, or `T::default()` when the request has none; one that is there must be
/// sent as `application/json`.
pub(crate) async fn json_body_or_default<T: DeserializeOwned + Default>(
    state: &AppState,
    request: &HttpRequest,
    payload: web::Payload,
) -> Result<T, ApiError> {
    let body = read_body(state, payload).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let is_json = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .is_some_and(|essence| essence == "application/json" || essence.ends_with("+json"));
    if !is_json {
        return Err(ApiError::json_content_type());
    }
    serde_json::from_slice(&body).map_err(ApiError::bad_json)
}

/// Responses that carry tokens or personal data must never be stored by a cache.
fn no_store(mut builder: HttpResponseBuilder) -> HttpResponseBuilder {
    builder.insert_header((CACHE_CONTROL, "no-store"));
    builder
}
