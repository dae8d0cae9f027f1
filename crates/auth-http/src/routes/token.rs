use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use auth_core::AuthError;
use auth_core::domain::Password;
use auth_core::service::Identifier;
use serde::Deserialize;

use crate::client::client_info;
use crate::{ApiError, AppState, Bucket, views};

/// `grant_type` in the query string, where Supabase Auth reads it.
#[derive(Deserialize)]
pub(crate) struct TokenQuery {
    grant_type: Option<String>,
}

/// `POST /token` body for every grant this server supports.
#[derive(Deserialize, Default)]
pub(crate) struct TokenBody {
    grant_type: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    username: Option<String>,
    password: Option<String>,
    refresh_token: Option<String>,
    auth_code: Option<String>,
    code_verifier: Option<String>,
    provider: Option<String>,
    id_token: Option<String>,
    access_token: Option<String>,
    nonce: Option<String>,
    link_identity: Option<bool>,
}

/// `POST /token?grant_type=password|refresh_token|pkce` (the grant may also be in the body).
/// A request without a body is read as `{}`, so one without a grant answers
/// `unsupported_grant_type`, as Supabase Auth does.
pub(crate) async fn token(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<TokenQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: TokenBody = super::json_body_or_default(&state, &request, payload).await?;
    let grant = query.into_inner().grant_type.or_else(|| body.grant_type.clone()).unwrap_or_default();
    let issued = match grant.as_str() {
        "password" => {
            state.limit(Bucket::PasswordSignIn, &request).await?;
            let identifier = password_identifier(&body)?;
            let password = body
                .password
                .filter(|p| !p.is_empty())
                .ok_or(AuthError::Validation { field: "password", message: "a password is required".into() })?;
            let client = client_info(&request, &state.settings.trusted_proxies);
            state.counted(state.service.sign_in_with_password(&identifier, &Password::new(password), &client).await)?
        }
        "refresh_token" => {
            state.limit(Bucket::Refresh, &request).await?;
            let token = body.refresh_token.filter(|t| !t.is_empty()).ok_or(AuthError::Validation {
                field: "refresh_token",
                message: "a refresh token is required".into(),
            })?;
            let client = client_info(&request, &state.settings.trusted_proxies);
            state.service.refresh(&token, &client).await.map_err(ApiError::from_refresh)?
        }
        "pkce" => {
            state.limit(Bucket::Verify, &request).await?;
            let (code, verifier) = (body.auth_code.unwrap_or_default(), body.code_verifier.unwrap_or_default());
            let client = client_info(&request, &state.settings.trusted_proxies);
            state.service.exchange_auth_code(&code, &verifier, &client).await?
        }
        "id_token" => {
            state.limit(Bucket::Verify, &request).await?;
            let client = client_info(&request, &state.settings.trusted_proxies);
            let linking = match body.link_identity {
                Some(true) => Some(crate::bearer::Authenticated::extract(&request).await?.0),
                _ => None,
            };
            let provider = body.provider.unwrap_or_default();
            let id_token = body.id_token.unwrap_or_default();
            state
                .service
                .sign_in_with_id_token(
                    &provider,
                    &id_token,
                    body.access_token.as_deref(),
                    body.nonce.as_deref(),
                    linking.as_ref(),
                    &client,
                )
                .await?
        }
        _ => return Err(ApiError::unsupported_grant_type()),
    };
    Ok(super::no_store(HttpResponse::Ok()).json(views::session(&issued)))
}

fn password_identifier(body: &TokenBody) -> Result<Identifier, ApiError> {
    let given = |value: &Option<String>| value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    match (given(&body.email), given(&body.username), given(&body.phone)) {
        (Some(login), None, None) | (None, Some(login), None) => Ok(Identifier::parse_login(&login)?),
        (None, None, Some(phone)) => Ok(Identifier::Phone(phone)),
        (None, None, None) => {
            Err(AuthError::Validation { field: "email", message: "missing email, username or phone".into() }.into())
        }
        _ => Err(AuthError::Validation { field: "email", message: "give only one of email, username or phone".into() }
            .into()),
    }
}
