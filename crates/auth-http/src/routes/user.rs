use actix_web::{HttpResponse, web};
use auth_core::AuthError;
use auth_core::domain::Password;
use auth_core::service::{LinkOptions, UserChanges};
use serde::Deserialize;
use serde_json::Value;

use crate::bearer::Authenticated;
use crate::{ApiError, AppState, views};

/// `GET /user`: the caller's user as stored now, with its factors.
pub(crate) async fn get_user(state: web::Data<AppState>, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    let user = state.service.current_user(&caller.0);
    let factors = state.service.user_factors(user.id).await?;
    let identities = state.service.user_identities(user.id).await?;
    Ok(super::no_store(HttpResponse::Ok()).json(views::user_in_full(&user, &factors, &identities)))
}

/// `PUT /user` body. Fields a user may never set are read only to refuse them.
#[derive(Deserialize)]
pub(crate) struct UpdateBody {
    data: Option<Value>,
    password: Option<String>,
    current_password: Option<String>,
    nonce: Option<String>,
    username: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    channel: Option<String>,
    app_metadata: Option<Value>,
    role: Option<Value>,
    aud: Option<Value>,
    #[serde(flatten)]
    pkce: super::pkce::ChallengeFields,
}

/// `PUT /user`: merge `data` into `user_metadata`, change the password or the username, or
/// start an email change (mailed; it applies once confirmed).
pub(crate) async fn update_user(
    state: web::Data<AppState>,
    request: actix_web::HttpRequest,
    caller: Authenticated,
    query: web::Query<super::RedirectQuery>,
    body: web::Json<UpdateBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.app_metadata.is_some() || body.role.is_some() || body.aud.is_some() {
        return Err(AuthError::AdminOnlyFields.into());
    }
    if body.current_password.is_some() {
        // A password check: guesses with a stolen token count as sign-in attempts do.
        state.limit(crate::Bucket::PasswordSignIn, &request).await?;
    }
    if body.nonce.as_deref().is_some_and(|n| !n.trim().is_empty()) {
        // A nonce is a code: guesses count against the verify limit.
        state.limit(crate::Bucket::Verify, &request).await?;
    }
    let email = body.email.filter(|e| !e.trim().is_empty());
    let mut email_link = LinkOptions::default();
    if email.is_some() {
        state.limit(crate::Bucket::Email, &request).await?;
        email_link = body.pkce.link_options(&state, query.into_inner().redirect_to)?;
    }
    if body.phone.as_deref().is_some_and(|p| !p.trim().is_empty()) {
        // A new number is sent a code: counted as a mail request is.
        state.limit(crate::Bucket::Email, &request).await?;
    }
    let changes = UserChanges {
        data: body.data,
        password: body.password.map(Password::new),
        current_password: body.current_password.map(Password::new),
        username: body.username,
        nonce: body.nonce,
        email,
        email_link,
        phone: body.phone,
        channel: body.channel,
    };
    let asks_for_mail = changes.email.is_some();
    let started = actix_web::rt::time::Instant::now();
    let outcome = state.service.update_user(&caller.0, changes).await;
    if asks_for_mail {
        // A free address (secrets drawn, mails written) and a taken one (a look-up) answer
        // alike, so they must take alike too.
        actix_web::rt::time::sleep_until(started + state.settings.mail_answer_floor).await;
    }
    let user = state.counted(outcome)?;
    Ok(super::no_store(HttpResponse::Ok()).json(views::user(&user)))
}

/// `DELETE /user` body: the current password, or for an account without one a code from
/// `GET /reauthenticate`.
#[derive(Deserialize)]
pub(crate) struct DeleteBody {
    password: Option<String>,
    nonce: Option<String>,
}

/// `DELETE /user` (an authd addition): the caller deletes their own account.
pub(crate) async fn delete_user(
    state: web::Data<AppState>,
    request: actix_web::HttpRequest,
    caller: Authenticated,
    body: Option<web::Json<DeleteBody>>,
) -> Result<HttpResponse, ApiError> {
    let DeleteBody { password, nonce } = body.map_or(DeleteBody { password: None, nonce: None }, |b| b.into_inner());
    if password.is_some() {
        state.limit(crate::Bucket::PasswordSignIn, &request).await?;
    }
    if nonce.is_some() {
        state.limit(crate::Bucket::Verify, &request).await?;
    }
    let password = password.map(Password::new);
    state.counted(state.service.delete_own_account(&caller.0, password.as_ref(), nonce.as_deref()).await)?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /reauthenticate`: mails the caller a code to use as `nonce` in `PUT /user`.
pub(crate) async fn reauthenticate(
    state: web::Data<AppState>,
    request: actix_web::HttpRequest,
    caller: Authenticated,
) -> Result<HttpResponse, ApiError> {
    state.limit(crate::Bucket::Email, &request).await?;
    state.counted(state.service.reauthenticate(&caller.0).await)?;
    Ok(super::no_store(HttpResponse::Ok()).json(serde_json::json!({})))
}
