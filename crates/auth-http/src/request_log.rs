use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use tracing::Instrument;

use crate::AppState;

/// Header carrying the request id in both directions.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the request being served, stored in its extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Gives every request an id (the caller's `X-Request-Id` when it is sane, a new one otherwise),
/// runs it inside a span carrying that id, echoes the id in the response, and logs one line when
/// it completes. Only the path is logged, never the query string: links carry one-time tokens.
pub async fn request_log(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let id = incoming_id(&request).unwrap_or_else(|| new_id(&request));
    request.extensions_mut().insert(RequestId(id.clone()));
    let method = request.method().to_string();
    let path = request.path().to_owned();
    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %path);
    let mut response = next.call(request).instrument(span.clone()).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| tracing::info!(status, latency_ms, "request completed"));
    Ok(response)
}

fn incoming_id(request: &ServiceRequest) -> Option<String> {
    let value = request.headers().get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let sane = !value.is_empty()
        && value.len() <= 64
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    sane.then(|| value.to_owned())
}

fn new_id(request: &ServiceRequest) -> String {
    let mut bytes = [0u8; 12];
    let filled = request.app_data::<web::Data<AppState>>().is_some_and(|state| state.random.fill(&mut bytes).is_ok());
    if !filled {
        return "unidentified".to_owned();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
