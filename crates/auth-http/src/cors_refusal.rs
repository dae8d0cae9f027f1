//! CORS refusals as JSON: the CORS layer answers a preflight it refuses (an origin, method or
//! header it does not allow) with a plain-text `400`; every other error of authd is JSON, and
//! clients parse it as such.

use actix_web::Error;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;

use crate::ApiError;

/// Replaces a response the CORS layer made from its own error with the same refusal as JSON
/// (`400 cors_not_allowed`, the CORS layer's reason as message), keeping its headers.
pub async fn json_refusal(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let response = next.call(request).await?.map_into_boxed_body();
    let reason = response.response().error().and_then(|e| e.as_error::<actix_cors::CorsError>()).map(|e| e.to_string());
    let Some(reason) = reason else { return Ok(response) };
    let error = ApiError::new(StatusCode::BAD_REQUEST, "cors_not_allowed", format!("CORS request refused: {reason}"));
    let (request, original) = response.into_parts();
    let mut fresh = actix_web::ResponseError::error_response(&error);
    for (name, value) in original.headers() {
        if name != actix_web::http::header::CONTENT_LENGTH && name != actix_web::http::header::CONTENT_TYPE {
            fresh.headers_mut().insert(name.clone(), value.clone());
        }
    }
    Ok(ServiceResponse::new(request, fresh))
}
