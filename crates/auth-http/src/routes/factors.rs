//! The multi-factor routes: `POST /factors` (enroll), `POST /factors/{id}/challenge`,
//! `POST /factors/{id}/verify`, `DELETE /factors/{id}`, and the operator's
//! `GET /admin/users/{id}/factors`, `PUT` and `DELETE /admin/users/{id}/factors/{factor_id}`.

use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::domain::{ChallengeId, FactorId};
use auth_core::{AuthError, MfaError};
use serde::Deserialize;
use serde_json::json;

use super::admin::AdminCaller;
use crate::bearer::Authenticated;
use crate::{ApiError, AppState, views};

/// A factor id from the path: Supabase Auth answers a malformed one with a 404.
fn factor_id(path: &str) -> Result<FactorId, ApiError> {
    path.parse().map_err(|_| {
        ApiError::new(actix_web::http::StatusCode::NOT_FOUND, "validation_failed", "factor_id must be an UUID")
    })
}

/// `POST /factors` body.
#[derive(Deserialize, Default)]
pub(crate) struct EnrollBody {
    factor_type: Option<String>,
    friendly_name: Option<String>,
    issuer: Option<String>,
}

/// `POST /factors`: begins enrolling a TOTP factor; answers its secret, URI and QR code once.
pub(crate) async fn enroll(
    state: web::Data<AppState>,
    request: HttpRequest,
    caller: Authenticated,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: EnrollBody = super::json_body_or_default(&state, &request, payload).await?;
    if caller.0.user.is_anonymous {
        return Err(AuthError::from(MfaError::AnonymousUser).into());
    }
    match body.factor_type.as_deref() {
        Some("totp") => {}
        Some("phone") | Some("webauthn") => {
            let message = "this server enrolls TOTP factors only";
            return Err(AuthError::Validation { field: "factor_type", message: message.into() }.into());
        }
        _ => {
            let message = "factor_type needs to be totp, phone, or webauthn";
            return Err(AuthError::Validation { field: "factor_type", message: message.into() }.into());
        }
    }
    let enrolled = state.service.enroll_totp(&caller.0, body.friendly_name, body.issuer).await?;
    Ok(super::no_store(HttpResponse::Ok()).json(json!({
        "id": enrolled.factor.id.to_string(),
        "type": "totp",
        "friendly_name": enrolled.factor.friendly_name,
        "totp": {
            "qr_code": enrolled.qr_svg,
            "secret": enrolled.secret.expose(),
            "uri": enrolled.uri,
        },
    })))
}

/// `POST /factors/{id}/challenge`: a challenge to answer from this address before it expires.
/// The body (auth-js sends `{"factorId": …}`) is not read.
pub(crate) async fn challenge(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = factor_id(&path)?;
    let challenge = state.service.challenge_factor(&caller.0, id).await?;
    Ok(super::no_store(HttpResponse::Ok()).json(json!({
        "id": challenge.id.to_string(),
        "type": "totp",
        "expires_at": challenge.expires_at.timestamp(),
    })))
}

/// `POST /factors/{id}/verify` body.
#[derive(Deserialize, Default)]
pub(crate) struct VerifyBody {
    challenge_id: Option<String>,
    code: Option<String>,
}

/// `POST /factors/{id}/verify`: answers a challenge with a code; the session becomes aal2 and
/// the answer is the session with new tokens.
pub(crate) async fn verify(
    state: web::Data<AppState>,
    request: HttpRequest,
    caller: Authenticated,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = factor_id(&path)?;
    let body: VerifyBody = super::json_body_or_default(&state, &request, payload).await?;
    let challenge_id = match body.challenge_id.as_deref() {
        None => None,
        Some(text) => Some(text.parse::<ChallengeId>().map_err(|_| ApiError::bad_json("challenge_id must be a UUID"))?),
    };
    state.limit(crate::Bucket::Verify, &request).await?;
    let outcome = state.service.verify_factor(&caller.0, id, challenge_id, body.code.as_deref().unwrap_or("")).await;
    let issued = state.counted(outcome)?;
    Ok(super::no_store(HttpResponse::Ok()).json(views::session(&issued)))
}

/// `DELETE /factors/{id}`: removes one of the caller's factors; answers its id.
pub(crate) async fn unenroll(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = factor_id(&path)?;
    let deleted = state.service.unenroll_factor(&caller.0, id).await?;
    Ok(super::no_store(HttpResponse::Ok()).json(json!({ "id": deleted.id.to_string() })))
}

/// `GET /admin/users/{id}/factors`: every factor of the user.
pub(crate) async fn admin_list(
    state: web::Data<AppState>,
    _admin: AdminCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = super::admin::user_id(&path)?;
    let factors = state.service.admin_list_factors(user).await?;
    let factors: Vec<_> = factors.iter().map(views::factor).collect();
    Ok(super::no_store(HttpResponse::Ok()).json(factors))
}

/// `PUT /admin/users/{id}/factors/{factor_id}` body (only a non-empty name changes anything).
#[derive(Deserialize, Default)]
pub(crate) struct AdminUpdateBody {
    friendly_name: Option<String>,
}

/// `PUT /admin/users/{id}/factors/{factor_id}`: renames a user's factor; answers it.
pub(crate) async fn admin_update(
    state: web::Data<AppState>,
    request: HttpRequest,
    admin: AdminCaller,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (user, factor) = path.into_inner();
    let (user, factor) = (super::admin::user_id(&user)?, factor_id(&factor)?);
    let body: AdminUpdateBody = super::json_body_or_default(&state, &request, payload).await?;
    let updated = match body.friendly_name.filter(|n| !n.trim().is_empty()) {
        Some(name) => state.service.admin_update_factor(user, factor, &name, &admin.0).await?,
        None => {
            let found = state.service.admin_list_factors(user).await?.into_iter().find(|f| f.id == factor);
            found.ok_or(AuthError::Mfa(MfaError::FactorNotFound))?
        }
    };
    Ok(super::no_store(HttpResponse::Ok()).json(views::factor(&updated)))
}

/// `DELETE /admin/users/{id}/factors/{factor_id}`: removes a user's factor; answers it.
pub(crate) async fn admin_delete(
    state: web::Data<AppState>,
    admin: AdminCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (user, factor) = path.into_inner();
    let user = super::admin::user_id(&user)?;
    let deleted = state.service.admin_delete_factor(user, factor_id(&factor)?, &admin.0).await?;
    Ok(super::no_store(HttpResponse::Ok()).json(views::factor(&deleted)))
}
