use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::AppState;

/// `GET /settings`: which sign-in methods this server offers, in Supabase Auth's shape.
pub(crate) async fn settings(state: web::Data<AppState>) -> HttpResponse {
    let settings = state.service.settings();
    let mut external = json!({
        "email": true,
        "phone": settings.sms.enabled,
        "anonymous_users": settings.anonymous_enabled,
    });
    for provider in state.service.external_providers() {
        external[provider.as_str()] = json!(true);
    }
    HttpResponse::Ok().json(json!({
        "external": external,
        "disable_signup": !settings.signup_enabled,
        "mailer_autoconfirm": settings.autoconfirm,
        "phone_autoconfirm": settings.sms.autoconfirm,
        "sms_provider": state.settings.sms_provider,
        "saml_enabled": false,
        "passkeys_enabled": false,
    }))
}

/// `GET /.well-known/jwks.json`: the public signing keys (never symmetric or private ones).
pub(crate) async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let mut response = HttpResponse::Ok().json(state.service.jwks());
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=600"));
    response
}
