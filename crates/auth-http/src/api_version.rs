use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse};

use crate::ApiError;

/// Request and response header selecting the error format.
const API_VERSION_HEADER: &str = "x-supabase-api-version";
/// The one dated format besides the default.
const API_VERSION_2024: &str = "2024-01-01";

/// Clients that send `X-Supabase-Api-Version` of 2024-01-01 or later get errors as
/// `{"code": "<error_code>", "message": …}` and the header echoed; others keep the default shape.
pub async fn api_version(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let versioned = request
        .headers()
        .get(API_VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|date| is_valid_date(date) && date >= API_VERSION_2024);
    let response = next.call(request).await?.map_into_boxed_body();
    if !versioned {
        return Ok(response);
    }
    let rendered = response.response().extensions().get::<ApiError>().cloned();
    let mut response = match rendered {
        Some(error) => {
            let (request, original) = response.into_parts();
            let mut fresh = HttpResponse::build(error.status()).json(error.versioned_body());
            for (name, value) in original.headers() {
                if name != actix_web::http::header::CONTENT_LENGTH && name != actix_web::http::header::CONTENT_TYPE {
                    fresh.headers_mut().insert(name.clone(), value.clone());
                }
            }
            ServiceResponse::new(request, fresh)
        }
        None => response,
    };
    response
        .headers_mut()
        .insert(HeaderName::from_static(API_VERSION_HEADER), HeaderValue::from_static(API_VERSION_2024));
    Ok(response)
}

fn is_valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}
