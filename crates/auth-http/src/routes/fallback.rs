use actix_web::{HttpResponse, ResponseError};

use crate::error::ApiError;

/// Any path the API does not have.
pub(crate) async fn not_found() -> HttpResponse {
    ApiError::not_found().error_response()
}

/// A known path asked with a method it does not serve.
pub(crate) async fn method_not_allowed() -> HttpResponse {
    ApiError::method_not_allowed().error_response()
}
