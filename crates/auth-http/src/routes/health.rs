use std::time::Duration;

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpResponse, web};
use auth_core::ports::NotReady;
use serde::Serialize;

use crate::AppState;
use crate::error::ApiError;

/// How long `/ready` waits for the database: a hung database must make the probe fail, not hang.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize)]
struct Health<'a> {
    name: &'a str,
    version: &'a str,
    description: &'a str,
    status: &'a str,
}

/// `GET /health`: liveness. Answers as long as the process serves HTTP.
pub(crate) async fn health(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(Health {
        name: &state.info.name,
        version: &state.info.version,
        description: "authd is an authentication server for PostgreSQL and PostgREST, speaking the Supabase Auth API",
        status: "ok",
    })
}

/// `GET /ready`: readiness. 200 when the database answers and its schema is up to date, 503
/// `not_ready` otherwise (and from the moment the server was told to stop), within
/// [`READY_TIMEOUT`] whatever the database does. The cause goes to the log; the client gets a
/// sentence without host names.
pub(crate) async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let not_ready = ApiError::not_ready;
    if state.draining.is_on() {
        return Err(not_ready("The server is shutting down"));
    }
    let Some(check) = state.readiness() else {
        return Err(not_ready("No readiness check is configured"));
    };
    match actix_web::rt::time::timeout(READY_TIMEOUT, check.check_ready()).await {
        Ok(Ok(())) => Ok(HttpResponse::Ok()
            .insert_header((CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({"status": "ready"}))),
        Ok(Err(error @ NotReady::PendingMigrations(_))) => {
            tracing::warn!(%error, "not ready");
            Err(not_ready("Database migrations are pending"))
        }
        Ok(Err(error @ NotReady::Unreachable(_))) => {
            tracing::warn!(%error, "not ready");
            Err(not_ready("The database is not reachable"))
        }
        Err(_) => {
            tracing::warn!(timeout_secs = READY_TIMEOUT.as_secs(), "not ready: the database did not answer in time");
            Err(not_ready("The database did not answer in time"))
        }
    }
}
