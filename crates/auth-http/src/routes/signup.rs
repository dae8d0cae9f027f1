use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::domain::Password;
use auth_core::service::{SignupOutcome, SignupRequest};
use serde::Deserialize;
use serde_json::Value;

use super::RedirectQuery;
use super::pkce::ChallengeFields;
use crate::client::client_info;
use crate::{ApiError, AppState, Bucket, views};

/// `POST /signup` body. Unknown fields (`gotrue_meta_security`…) are ignored.
#[derive(Deserialize)]
pub(crate) struct SignupBody {
    email: Option<String>,
    phone: Option<String>,
    username: Option<String>,
    password: Option<String>,
    data: Option<Value>,
    channel: Option<String>,
    #[serde(flatten)]
    pkce: ChallengeFields,
}

/// `POST /signup`: a session when the account is usable at once, the bare user otherwise.
pub(crate) async fn signup(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<RedirectQuery>,
    body: web::Json<SignupBody>,
) -> Result<HttpResponse, ApiError> {
    state.limit(Bucket::Signup, &request).await?;
    let body = body.into_inner();
    let link = body.pkce.link_options(&state, query.into_inner().redirect_to)?;
    let signup = SignupRequest {
        email: body.email,
        phone: body.phone,
        username: body.username,
        password: body.password.map(Password::new),
        data: body.data,
        redirect_to: link.redirect_to,
        pkce: link.pkce,
        channel: body.channel,
    };
    let started = actix_web::rt::time::Instant::now();
    let outcome = state.service.signup(signup, &client_info(&request, &state.settings.trusted_proxies)).await;
    if !matches!(outcome, Ok(SignupOutcome::Session(_))) {
        // A new address (an insert and a mail) and a registered one (a hash only) answer
        // alike, so they must take alike too.
        actix_web::rt::time::sleep_until(started + state.settings.mail_answer_floor).await;
    }
    let response = match outcome? {
        SignupOutcome::Session(issued) => views::session(&issued),
        SignupOutcome::ConfirmationPending(user) => views::user(&user),
    };
    Ok(super::no_store(HttpResponse::Ok()).json(response))
}
