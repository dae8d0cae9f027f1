//! The authenticated caller, extracted from `Authorization: Bearer <access token>`.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use auth_core::AuthError;
use auth_core::service::Principal;

use crate::{ApiError, AppState};

/// A request whose access token verified and whose session is live.
pub struct Authenticated(pub Principal);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = request.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(request);
        let request = request.clone();
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::from(AuthError::Internal("app state missing".into())))?;
            let token = token.ok_or(AuthError::NoAuthorization)?;
            let mut principal = state.service.authenticate(&token).await?;
            principal.client = crate::client::client_info(&request, &state.settings.trusted_proxies);
            Ok(Authenticated(principal))
        })
    }
}

/// The token of an `Authorization: Bearer` header, if there is one.
pub(crate) fn bearer_token(request: &HttpRequest) -> Option<String> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}
