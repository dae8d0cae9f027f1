//! The request deadline: a request that has no answer within `HttpSettings::request_timeout`
//! (a database that stopped answering, a lock held elsewhere, a dependency that hangs) gets a
//! JSON `504 request_timeout` instead of holding its client, its worker slot and whatever it
//! holds underneath. Work is dropped at the deadline; every port call is one transaction, so a
//! dropped request leaves each write either done or not done, never half of one.

use actix_web::Error;
use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web;

use crate::{ApiError, AppState};

/// Answers `504 request_timeout` when the rest of the app takes longer than the deadline.
pub async fn deadline(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let limit = request.app_data::<web::Data<AppState>>().map(|state| state.settings.request_timeout);
    let Some(limit) = limit.filter(|limit| !limit.is_zero()) else {
        return next.call(request).await.map(ServiceResponse::map_into_left_body);
    };
    // Routing is done (the deadline wraps each resource), so holding the request is safe.
    let http_request = request.request().clone();
    match actix_web::rt::time::timeout(limit, next.call(request)).await {
        Ok(response) => response.map(ServiceResponse::map_into_left_body),
        Err(_elapsed) => {
            tracing::warn!(limit_ms = limit.as_millis(), "request deadline reached; answered 504");
            let error = ApiError::request_timeout();
            Ok(ServiceResponse::new(http_request, error.error_response()).map_into_right_body())
        }
    }
}

impl ApiError {
    /// 504 for a request that did not finish within the deadline.
    pub fn request_timeout() -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, "request_timeout", "Processing this request timed out, please retry")
    }
}
