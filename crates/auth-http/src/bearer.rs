//! The authenticated caller, extracted from `Authorization: Bearer <access token>`, and the
//! bearer-token plumbing every token-checking extractor shares.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use auth_core::AuthError;
use auth_core::service::{ClientInfo, Principal};

use crate::client::client_info;
use crate::{ApiError, AppState};

/// A request whose access token verified and whose session is live.
pub struct Authenticated(pub Principal);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        with_bearer_token(request, |state, token, client| async move {
            let mut principal = state.service.authenticate(&token).await.map_err(ApiError::from_access_check)?;
            principal.client = client;
            Ok::<_, ApiError>(Authenticated(principal))
        })
    }
}

/// An extractor's future: `check` gets the app state, the request's bearer token and where the
/// request came from; a request without a token is refused with `no_authorization`.
pub(crate) fn with_bearer_token<T, E, F, Fut>(
    request: &HttpRequest,
    check: F,
) -> Pin<Box<dyn Future<Output = Result<T, ApiError>>>>
where
    E: Into<ApiError>,
    F: FnOnce(web::Data<AppState>, String, ClientInfo) -> Fut + 'static,
    Fut: Future<Output = Result<T, E>> + 'static,
{
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let token = bearer_token(request);
    let request = request.clone();
    Box::pin(async move {
        let state = state.ok_or_else(|| AuthError::Internal("app state missing".into()))?;
        let token = token.ok_or(AuthError::NoAuthorization)?;
        let client = client_info(&request, &state.settings.trusted_proxies);
        check(state, token, client).await.map_err(Into::into)
    })
}

/// The token of an `Authorization: Bearer` header, if there is one.
pub(crate) fn bearer_token(request: &HttpRequest) -> Option<String> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}
