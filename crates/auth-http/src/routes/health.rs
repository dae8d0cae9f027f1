use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::AppState;

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
