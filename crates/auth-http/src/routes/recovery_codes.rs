//! The recovery-code routes auth-js's `mfa.recoveryCodes` calls: `GET`, `POST` and `DELETE
//! /factors/recovery-codes` (status, generate, unenroll), `POST /factors/recovery-codes/verify`
//! and `POST /factors/recovery-codes/regenerate`.

use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::service::RecoveryCodeSet;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::bearer::Authenticated;
use crate::{ApiError, AppState, views};

/// A new set, shown once.
fn set(set: &RecoveryCodeSet) -> Value {
    json!({
        "id": set.factor.id.to_string(),
        "type": "recovery_code",
        "friendly_name": set.factor.friendly_name,
        "total": set.codes.len(),
        "codes": set.codes.iter().map(|c| c.expose()).collect::<Vec<_>>(),
    })
}

/// `POST /factors/recovery-codes` body (auth-js sends none without a name).
#[derive(Deserialize, Default)]
pub(crate) struct GenerateBody {
    friendly_name: Option<String>,
}

/// `POST /factors/recovery-codes`: the caller's set of recovery codes, shown once.
pub(crate) async fn generate(
    state: web::Data<AppState>,
    request: HttpRequest,
    caller: Authenticated,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: GenerateBody = super::json_body_or_default(&state, &request, payload).await?;
    let generated = state.service.generate_recovery_codes(&caller.0, body.friendly_name).await?;
    Ok(super::no_store(HttpResponse::Ok()).json(set(&generated)))
}

/// `GET /factors/recovery-codes`: how many codes the caller has and how many are unused.
pub(crate) async fn status(state: web::Data<AppState>, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    let status = state.service.recovery_code_status(&caller.0).await?;
    Ok(super::no_store(HttpResponse::Ok()).json(json!({
        "id": status.factor.id.to_string(),
        "type": "recovery_code",
        "total": status.count.total,
        "remaining": status.count.remaining,
    })))
}

/// `POST /factors/recovery-codes/regenerate`: a new set replacing the old one, shown once.
pub(crate) async fn regenerate(state: web::Data<AppState>, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    let generated = state.service.regenerate_recovery_codes(&caller.0).await?;
    Ok(super::no_store(HttpResponse::Ok()).json(set(&generated)))
}

/// `POST /factors/recovery-codes/verify` body.
#[derive(Deserialize, Default)]
pub(crate) struct VerifyBody {
    code: Option<String>,
}

/// `POST /factors/recovery-codes/verify`: spends a code; the session becomes aal2 and the
/// answer is the session with new tokens.
pub(crate) async fn verify(
    state: web::Data<AppState>,
    request: HttpRequest,
    caller: Authenticated,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: VerifyBody = super::json_body_or_default(&state, &request, payload).await?;
    state.limit(crate::Bucket::Verify, &request).await?;
    let outcome = state.service.verify_recovery_code(&caller.0, body.code.as_deref().unwrap_or("")).await;
    let issued = state.counted(outcome)?;
    Ok(super::no_store(HttpResponse::Ok()).json(views::session(&issued)))
}

/// `DELETE /factors/recovery-codes`: removes the caller's recovery codes; answers the id.
pub(crate) async fn unenroll(state: web::Data<AppState>, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    let deleted = state.service.unenroll_recovery_codes(&caller.0).await?;
    Ok(super::no_store(HttpResponse::Ok()).json(json!({ "id": deleted.id.to_string() })))
}
