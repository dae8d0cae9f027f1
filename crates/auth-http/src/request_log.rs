use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, web};
use tracing::Instrument;
use tracing::field::Empty;

use crate::AppState;

/// Header carrying the request id in both directions.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Gives every request an id (the caller's `X-Request-Id` when it is sane, a new one otherwise),
/// runs it inside a span carrying that id and the matched route pattern, echoes the id in the
/// response, logs one line when it completes and counts it in the metrics (when on). Only the
/// path is logged, never the query string: links carry one-time tokens. The span's `otel.*`
/// fields name it and mark failures for the OpenTelemetry exporter.
pub async fn request_log(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let id = incoming_id(&request).unwrap_or_else(|| new_id(&request));
    let data = request.app_data::<web::Data<AppState>>().cloned();
    let state = data.as_ref().map(|d| d.get_ref());
    let method = request.method().to_string();
    let path = request.path().to_owned();
    let route = request.match_pattern().map(|pattern| route_of(&pattern, state));
    let route_label = route.as_deref().unwrap_or(auth_metrics::UNMATCHED_ROUTE);
    let span = tracing::info_span!(
        "request",
        otel.name = %format!("{method} {route_label}"),
        otel.kind = "server",
        otel.status_code = Empty,
        request_id = %id,
        method = %method,
        route = %route_label,
        path = %path,
        http.response.status_code = Empty,
    );
    let mut response = next.call(request).instrument(span.clone()).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    if response.status().is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    if let Some(metrics) = state.and_then(AppState::metrics) {
        metrics.observe_request(&method, route.as_deref(), status, elapsed);
    }
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| tracing::info!(status, latency_ms, "request completed"));
    Ok(response)
}

/// A matched route pattern without the base path (`/auth/v1/admin/users/{id}` is
/// `/admin/users/{id}`), so dashboards read the same whatever `server.base_path` is.
fn route_of(pattern: &str, state: Option<&AppState>) -> String {
    let base = state.map(|s| s.settings.normalised_base_path()).unwrap_or_default();
    match pattern.strip_prefix(base.as_str()) {
        Some(rest) if !base.is_empty() && (rest.is_empty() || rest.starts_with('/')) => {
            if rest.is_empty() {
                "/".to_owned()
            } else {
                rest.to_owned()
            }
        }
        _ => pattern.to_owned(),
    }
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
