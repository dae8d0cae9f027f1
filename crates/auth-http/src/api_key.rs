//! `api.require_key`: public endpoints answer only requests that carry the anon or the
//! service-role key, in `apikey` or `Authorization: Bearer` (how supabase-js sends them).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, web};
use auth_core::AuthError;

use crate::bearer::bearer_token;
use crate::{ApiError, AppState};

/// Header supabase-js sends its key in, on every request.
const API_KEY_HEADER: &str = "apikey";

/// Refuses the request with 401 when keys are required and none valid is present. Runs before
/// the body is read, so a caller without a key learns nothing about the endpoint.
pub async fn require_api_key(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(state) = request.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(request.error_response(ApiError::from(AuthError::Internal("app state missing".into()))));
    };
    if !state.settings.require_api_key {
        return Ok(next.call(request).await?.map_into_boxed_body());
    }
    let presented = request
        .headers()
        .get(API_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .or_else(|| bearer_token(request.request()));
    let checked = match presented {
        None => Err(AuthError::NoApiKey),
        Some(key) => state.service.api_key(&key),
    };
    match checked {
        Ok(_) => Ok(next.call(request).await?.map_into_boxed_body()),
        Err(error) => Ok(request.error_response(ApiError::from(error))),
    }
}
