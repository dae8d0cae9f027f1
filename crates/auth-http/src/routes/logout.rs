use actix_web::{HttpResponse, web};
use auth_core::AuthError;
use auth_core::service::LogoutScope;
use serde::Deserialize;

use crate::bearer::Authenticated;
use crate::{ApiError, AppState};

/// `scope` of `POST /logout`, read from the query string.
#[derive(Deserialize)]
pub(crate) struct LogoutQuery {
    scope: Option<String>,
}

/// `POST /logout?scope=global|local|others`: ends sessions, answers 204.
pub(crate) async fn logout(
    state: web::Data<AppState>,
    caller: Authenticated,
    query: web::Query<LogoutQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = match query.into_inner().scope.as_deref().unwrap_or("") {
        "" | "global" => LogoutScope::Global,
        "local" => LogoutScope::Local,
        "others" => LogoutScope::Others,
        other => {
            return Err(AuthError::Validation {
                field: "scope",
                message: format!("Unsupported logout scope {other:?}"),
            }
            .into());
        }
    };
    state.service.logout(&caller.0, scope).await?;
    Ok(HttpResponse::NoContent().finish())
}
