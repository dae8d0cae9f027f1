//! Route handlers, one module per area of the API.

use actix_web::HttpResponseBuilder;
use actix_web::http::header::CACHE_CONTROL;
use serde::Deserialize;

pub(crate) mod admin;
pub(crate) mod email;
pub(crate) mod fallback;
pub(crate) mod health;
pub(crate) mod logout;
pub(crate) mod metrics;
pub(crate) mod pkce;
pub(crate) mod settings;
pub(crate) mod signup;
pub(crate) mod token;
pub(crate) mod user;

/// `redirect_to` in the query string, where auth-js puts `emailRedirectTo` and `redirectTo`.
#[derive(Deserialize)]
pub(crate) struct RedirectQuery {
    pub(crate) redirect_to: Option<String>,
}

/// Responses that carry tokens or personal data must never be stored by a cache.
fn no_store(mut builder: HttpResponseBuilder) -> HttpResponseBuilder {
    builder.insert_header((CACHE_CONTROL, "no-store"));
    builder
}
