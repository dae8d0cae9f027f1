//! External sign-in: `GET /authorize`, `GET|POST /callback`, `GET /user/identities/authorize`
//! and `DELETE /user/identities/{id}`, with the redirects Supabase Auth answers.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{COOKIE, LOCATION, SET_COOKIE};
use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::domain::{IdentityId, encode_query_value};
use auth_core::service::{CallbackFailure, ExternalCallback, ExternalStart, LandedWith};
use auth_core::{AuthError, ExternalError};
use serde_json::json;

use crate::bearer::Authenticated;
use crate::client::client_info;
use crate::{ApiError, AppState};

/// The cookie that binds a flow to the browser that began it.
const BINDING_COOKIE: &str = "authd-oauth-binding";
/// Query parameters never passed on to the provider (Supabase Auth's reserved list, and
/// authd's own).
const RESERVED: [&str; 12] = [
    "provider",
    "scopes",
    "redirect_to",
    "client_id",
    "client_secret",
    "redirect_uri",
    "response_type",
    "state",
    "code_challenge",
    "code_challenge_method",
    "code_verifier",
    "skip_http_redirect",
];

fn start(state: &AppState, query: &HashMap<String, String>) -> Result<ExternalStart, AuthError> {
    let get = |key: &str| query.get(key).cloned();
    let challenge =
        state.service.code_challenge(get("code_challenge").as_deref(), get("code_challenge_method").as_deref())?;
    let extra = query
        .iter()
        .filter(|(k, _)| !RESERVED.contains(&k.to_ascii_lowercase().as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(ExternalStart {
        provider: get("provider").unwrap_or_default(),
        redirect_to: get("redirect_to"),
        scopes: get("scopes"),
        challenge,
        extra,
        linking_target: None,
    })
}

fn binding_cookie(state: &AppState, request: &HttpRequest, value: &str, max_age: i64) -> String {
    let path = format!("{}/callback", state.settings.normalised_base_path());
    let secure = if request.connection_info().scheme() == "https" { "; Secure" } else { "" };
    format!("{BINDING_COOKIE}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

/// The binding cookie's value in the request's `Cookie` headers.
fn presented_binding(request: &HttpRequest) -> Option<String> {
    request
        .headers()
        .get_all(COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == BINDING_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// `GET /authorize?provider=…`: stores the flow, sets the browser's binding cookie and sends
/// the browser to the provider.
pub(crate) async fn authorize(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let start = start(&state, &query)?;
    let started = state.service.begin_external(start).await?;
    let cookie = binding_cookie(&state, &request, started.binding.as_str(), started.ttl.num_seconds());
    Ok(HttpResponse::Found().insert_header((LOCATION, started.url)).insert_header((SET_COOKIE, cookie)).finish())
}

/// `GET /user/identities/authorize`: begins linking a provider's identity to the caller;
/// `{url}` with `skip_http_redirect=true` (what auth-js sends), a redirect otherwise.
pub(crate) async fn link(
    state: web::Data<AppState>,
    caller: Authenticated,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let start = start(&state, &query)?;
    let started = state.service.begin_linking(&caller.0, start).await?;
    if query.get("skip_http_redirect").is_some_and(|v| v == "true") {
        return Ok(HttpResponse::Ok().json(json!({"url": started.url})));
    }
    Ok(HttpResponse::Found().insert_header((LOCATION, started.url)).finish())
}

/// `DELETE /user/identities/{id}`: unlinks one of the caller's identities; `200 {}`.
pub(crate) async fn unlink(
    state: web::Data<AppState>,
    request: HttpRequest,
    caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: IdentityId = id
        .parse()
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "validation_failed", "identity_id must be an UUID"))?;
    let client = client_info(&request, &state.settings.trusted_proxies);
    state.service.unlink_identity(&caller.0, id, &client).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// `GET /callback` (the provider's redirect, parameters in the query).
pub(crate) async fn callback_get(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    callback(&state, &request, query.into_inner()).await
}

/// `POST /callback` (`response_mode=form_post`, parameters in the form).
pub(crate) async fn callback_post(
    state: web::Data<AppState>,
    request: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    callback(&state, &request, form.into_inner()).await
}

async fn callback(state: &AppState, request: &HttpRequest, params: HashMap<String, String>) -> HttpResponse {
    let get = |key: &str| params.get(key).cloned();
    let callback = ExternalCallback {
        state: get("state"),
        code: get("code"),
        error: get("error"),
        error_description: get("error_description"),
        binding: presented_binding(request),
    };
    let client = client_info(request, &state.settings.trusted_proxies);
    let site = state.service.settings().email.redirects.site_url().to_owned();
    let removal = binding_cookie(state, request, "", 0);
    let location = match state.service.finish_external(callback, &client).await {
        Ok(landing) => match landing.landed {
            LandedWith::Code(code) => with_query(&landing.redirect_to, &[("code", code.as_str())]),
            LandedWith::Session(issued) => {
                let expires_at = issued.expires_at.to_string();
                let expires_in = issued.expires_in.to_string();
                let provider_token = landing.provider_tokens.access_token.clone().unwrap_or_default();
                let mut pairs = vec![
                    ("access_token", issued.access_token.as_str()),
                    ("expires_at", expires_at.as_str()),
                    ("expires_in", expires_in.as_str()),
                ];
                if let Some(refresh) = landing.provider_tokens.refresh_token.as_deref() {
                    pairs.push(("provider_refresh_token", refresh));
                }
                pairs.push(("provider_token", provider_token.as_str()));
                pairs.push(("refresh_token", issued.refresh_token.expose()));
                pairs.push(("sb", ""));
                pairs.push(("token_type", "bearer"));
                format!("{}#{}", landing.redirect_to, encode(&pairs))
            }
        },
        Err(CallbackFailure { redirect_to: None, error }) => {
            let (error, code, description) = oauth_error(error);
            let mut pairs = vec![("error", error.as_str())];
            if let Some(code) = code {
                pairs.push(("error_code", code));
            }
            pairs.push(("error_description", description.as_str()));
            return HttpResponse::SeeOther()
                .insert_header((LOCATION, with_query(&site, &pairs)))
                .insert_header((SET_COOKIE, removal.clone()))
                .finish();
        }
        Err(CallbackFailure { redirect_to: Some(target), error }) => {
            let (error, code, description) = oauth_error(error);
            let mut pairs = vec![("error", error.as_str())];
            if let Some(code) = code {
                pairs.push(("error_code", code));
            }
            pairs.push(("error_description", description.as_str()));
            let query = with_query(&target, &pairs);
            pairs.push(("sb", ""));
            format!("{query}#{}", encode(&pairs))
        }
    };
    HttpResponse::Found().insert_header((LOCATION, location)).insert_header((SET_COOKIE, removal.clone())).finish()
}

/// Supabase Auth's OAuth `error` for a refusal, its `error_code` (none for the provider's own
/// errors) and its description.
fn oauth_error(error: AuthError) -> (String, Option<&'static str>, String) {
    if let AuthError::External(ExternalError::ProviderRefused { error, description }) = error {
        return (error, None, description);
    }
    let api = ApiError::from(error);
    let body = api.body();
    let code = body.get("error_code").and_then(|c| c.as_str()).map(|c| -> &'static str { known_code(c) });
    let description = body.get("msg").and_then(|m| m.as_str()).unwrap_or_default().to_owned();
    let kind = match (code, api.status().as_u16()) {
        (Some("signup_disabled" | "user_banned" | "provider_email_needs_verification"), _) => "access_denied",
        (_, 400) => "invalid_request",
        (_, 401) => "unauthorized_client",
        (_, 403) => "access_denied",
        (_, 503) => "temporarily_unavailable",
        _ => "server_error",
    };
    (kind.to_owned(), code, description)
}

/// The static form of an error code read back from an error's body.
fn known_code(code: &str) -> &'static str {
    const CODES: [&str; 16] = [
        "bad_oauth_state",
        "bad_oauth_callback",
        "validation_failed",
        "unexpected_failure",
        "signup_disabled",
        "user_banned",
        "provider_email_needs_verification",
        "identity_already_exists",
        "user_not_found",
        "email_exists",
        "service_unavailable",
        "flow_state_not_found",
        "flow_state_expired",
        "provider_disabled",
        "invalid_request",
        "bad_code_verifier",
    ];
    CODES.into_iter().find(|c| *c == code).unwrap_or("unexpected_failure")
}

fn encode(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={}", encode_query_value(v))).collect::<Vec<_>>().join("&")
}

/// `target` with `pairs` added to its query (before any fragment), replacing keys it has.
fn with_query(target: &str, pairs: &[(&str, &str)]) -> String {
    let (base, fragment) = target.split_once('#').map_or((target, None), |(b, f)| (b, Some(f)));
    let (path, query) = base.split_once('?').map_or((base, ""), |(p, q)| (p, q));
    let mut kept: Vec<String> = query
        .split('&')
        .filter(|part| !part.is_empty())
        .filter(|part| !pairs.iter().any(|(k, _)| part.split('=').next() == Some(*k)))
        .map(str::to_owned)
        .collect();
    kept.push(encode(pairs));
    let mut out = format!("{path}?{}", kept.join("&"));
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_query;

    #[test]
    fn query_pairs_keep_the_rest_of_the_url() {
        assert_eq!(
            with_query("https://a/b?sb_flow_id=1&code=x#f", &[("code", "y")]),
            "https://a/b?sb_flow_id=1&code=y#f"
        );
        assert_eq!(with_query("https://a/b", &[("error", "a b")]), "https://a/b?error=a%20b");
    }
}
