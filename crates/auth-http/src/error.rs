use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use auth_core::{AuthError, ExternalError, MfaError};
use serde_json::{Value, json};

/// An error answered to a client: a status, a stable snake_case code and a message.
///
/// This is the only place in authd that chooses HTTP status codes.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    // Boxed: rarely present, and it would double the size of every error.
    extra: Option<Box<(&'static str, Value)>>,
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with an explicit status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), extra: None, retry_after: None }
    }

    /// 429 for a client over a per-IP limit, saying when to come back.
    pub fn rate_limited(wait: std::time::Duration) -> Self {
        let mut error =
            Self::new(StatusCode::TOO_MANY_REQUESTS, "over_request_rate_limit", "Request rate limit reached");
        error.retry_after = Some(retry_after_secs(wait));
        error
    }

    /// 429 for mail asked for too often from one IP.
    pub fn email_rate_limited(wait: std::time::Duration) -> Self {
        Self::from(AuthError::EmailRateLimited { retry_after: wait })
    }

    /// 400 for a `grant_type` `POST /token` does not know.
    pub fn unsupported_grant_type() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_credentials", "unsupported_grant_type")
    }

    /// 503 from `GET /ready`: the storage cannot serve requests; `message` says why, without
    /// host names.
    pub fn not_ready(message: &str) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", message)
    }

    /// 404 for a path the API does not have.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "The requested resource does not exist")
    }

    /// 405 for a known path asked with the wrong method.
    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed for this resource")
    }

    /// 400 for a body that is not valid JSON (or not the expected shape).
    pub fn bad_json(detail: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_json", format!("Could not parse request body as JSON: {detail}"))
    }

    /// 400 for a body not sent as `application/json`.
    pub fn json_content_type() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad_json",
            "Request body must be JSON, sent with Content-Type: application/json",
        )
    }

    /// 413 for a body over the configured limit.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_entity_too_large",
            format!("Request body too large (max {limit} bytes)"),
        )
    }

    /// A refusal of the access token a request carried: as [`From<AuthError>`], except that a
    /// deleted or banned user is `403` with Supabase Auth's sentences (elsewhere
    /// `user_not_found` is an administrator's 404 and `user_banned` a sign-in's 400).
    pub fn from_access_check(error: AuthError) -> Self {
        match error {
            AuthError::UserNotFound => {
                Self::new(StatusCode::FORBIDDEN, "user_not_found", "User from sub claim in JWT does not exist")
            }
            AuthError::UserBanned => Self::new(StatusCode::FORBIDDEN, "user_banned", "User is banned"),
            other => Self::from(other),
        }
    }

    /// A refusal of the refresh-token grant: as [`From<AuthError>`], with the `Invalid Refresh
    /// Token: …` sentences Supabase Auth answers there.
    pub fn from_refresh(error: AuthError) -> Self {
        let sentence = match &error {
            AuthError::UserBanned => "Invalid Refresh Token: User Banned",
            AuthError::SessionExpired => "Invalid Refresh Token: Session Expired",
            AuthError::SessionNotFound => "Invalid Refresh Token: No Valid Session Found",
            _ => return Self::from(error),
        };
        let mut api = Self::from(error);
        api.message = sentence.to_owned();
        api
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The stable error code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The body in the `2024-01-01` format: `{"code": "<error_code>", "message": "…"}`.
    pub fn versioned_body(&self) -> Value {
        self.with_extra(json!({ "code": self.code, "message": self.message }))
    }

    /// The body in the default (pre-2024) format, which the `error` key also keeps readable for
    /// clients of older APIs.
    pub fn body(&self) -> Value {
        self.with_extra(json!({
            "code": self.status.as_u16(),
            "error_code": self.code,
            "msg": self.message,
            "error": self.message,
        }))
    }

    /// Adds the error's extra member (such as `weak_password`) to a body of either format.
    fn with_extra(&self, mut body: Value) -> Value {
        if let (Some(extra), Some(map)) = (&self.extra, body.as_object_mut()) {
            let (key, value) = extra.as_ref();
            map.insert((*key).to_owned(), value.clone());
        }
        body
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

/// `Retry-After` in whole seconds, rounded up: a client that waits exactly this long is let in.
fn retry_after_secs(wait: std::time::Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status).json(self.body());
        // Kept so the API-version middleware can re-render the error in the client's format.
        response.extensions_mut().insert(self.clone());
        response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(actix_web::http::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Ok(value) = HeaderValue::from_str(self.code) {
            response.headers_mut().insert(actix_web::http::header::HeaderName::from_static("x-sb-error-code"), value);
        }
        response
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        let status = match &error {
            AuthError::Validation { .. }
            | AuthError::InvalidCredentials
            | AuthError::EmailNotConfirmed
            | AuthError::PhoneNotConfirmed
            | AuthError::UserBanned
            | AuthError::PhoneProviderDisabled
            | AuthError::CurrentPasswordRequired
            | AuthError::CurrentPasswordInvalid
            | AuthError::RefreshTokenNotFound
            | AuthError::RefreshTokenAlreadyUsed
            | AuthError::SessionExpired
            | AuthError::BadCodeVerifier => StatusCode::BAD_REQUEST,
            AuthError::NoAuthorization | AuthError::NoApiKey | AuthError::InvalidApiKey | AuthError::BadApiKey(_) => {
                StatusCode::UNAUTHORIZED
            }
            AuthError::BadJwt(_)
            | AuthError::SessionNotFound
            | AuthError::NotAdmin
            | AuthError::AdminOnlyFields
            | AuthError::OtpExpired => StatusCode::FORBIDDEN,
            AuthError::EmailRateLimited { .. }
            | AuthError::SmsRateLimited { .. }
            | AuthError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            AuthError::ReauthenticationNeeded => StatusCode::BAD_REQUEST,
            AuthError::UserNotFound | AuthError::FeatureDisabled(_) | AuthError::FlowStateNotFound => {
                StatusCode::NOT_FOUND
            }
            AuthError::WeakPassword(_)
            | AuthError::SignupDisabled
            | AuthError::AnonymousProviderDisabled
            | AuthError::UserAlreadyExists
            | AuthError::EmailExists
            | AuthError::PhoneExists
            | AuthError::UsernameExists
            | AuthError::SamePassword
            | AuthError::ReauthenticationNotValid
            | AuthError::OtpDisabled
            | AuthError::MailDisabled
            | AuthError::FlowStateExpired => StatusCode::UNPROCESSABLE_ENTITY,
            AuthError::Unavailable(_) | AuthError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::Internal(_) | AuthError::SmsProviderMissing => StatusCode::INTERNAL_SERVER_ERROR,
            AuthError::Mfa(mfa) => mfa_status(mfa),
            AuthError::External(external) => external_status(external),
        };
        let message = match &error {
            // Details of failures stay in the log; the client gets a stable sentence.
            AuthError::Internal(detail) => {
                tracing::error!(error = %detail, "request failed");
                "Unexpected failure, please check server logs for more information".to_owned()
            }
            AuthError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "dependency unavailable");
                "Service temporarily unavailable, please retry".to_owned()
            }
            AuthError::External(
                external @ (ExternalError::ExchangeFailed(detail) | ExternalError::ProfileFailed(detail)),
            ) => {
                tracing::warn!(error = %detail, "identity provider failed");
                external.to_string()
            }
            other => crate::messages::gotrue_message(other).unwrap_or_else(|| other.to_string()),
        };
        let extra = match &error {
            AuthError::WeakPassword(weak) => Some(Box::new(("weak_password", json!({ "reasons": weak.reasons })))),
            // Which problem the token had, as a stable code next to Supabase Auth's `bad_jwt`.
            AuthError::BadJwt(problem) | AuthError::BadApiKey(problem) => {
                Some(Box::new(("token_error", json!(problem.code()))))
            }
            _ => None,
        };
        let retry_after = match &error {
            AuthError::EmailRateLimited { retry_after }
            | AuthError::SmsRateLimited { retry_after }
            | AuthError::TooManyAttempts { retry_after }
            | AuthError::Mfa(MfaError::RecoveryCodesLocked { retry_after })
            | AuthError::Overloaded { retry_after } => Some(retry_after_secs(*retry_after)),
            _ => None,
        };
        Self { status, code: error.code(), message, extra, retry_after }
    }
}

/// Supabase Auth's statuses for the multi-factor refusals (its three `insufficient_aal`s differ).
fn mfa_status(error: &MfaError) -> StatusCode {
    match error {
        MfaError::FactorNotFound => StatusCode::NOT_FOUND,
        MfaError::EnrollNeedsAal2 | MfaError::AnonymousUser => StatusCode::FORBIDDEN,
        MfaError::UpdateNeedsAal2 => StatusCode::UNAUTHORIZED,
        MfaError::WrongFactorType(_) => StatusCode::BAD_REQUEST,
        MfaError::RecoveryCodesLocked { .. } => StatusCode::TOO_MANY_REQUESTS,
        MfaError::ChallengeNotFound
        | MfaError::NameConflict(_)
        | MfaError::TooManyFactors
        | MfaError::UnenrollNeedsAal2
        | MfaError::ChallengeMismatch
        | MfaError::ChallengeExpired(_)
        | MfaError::VerificationFailed
        | MfaError::TotpEnrollDisabled
        | MfaError::TotpVerifyDisabled
        | MfaError::RecoveryCodesEnrollDisabled
        | MfaError::RecoveryCodesVerifyDisabled
        | MfaError::RecoveryCodesSoleFactor
        | MfaError::RecoveryCodesExist
        | MfaError::RecoveryCodeRejected => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// Supabase Auth's statuses for the external sign-in refusals.
pub(crate) fn external_status(error: &ExternalError) -> StatusCode {
    match error {
        ExternalError::UnsupportedProvider(_)
        | ExternalError::ProviderDisabled(_)
        | ExternalError::StateMissing
        | ExternalError::StateInvalid
        | ExternalError::StateNotFound
        | ExternalError::StateExpired
        | ExternalError::OtherBrowser
        | ExternalError::CodeMissing
        | ExternalError::ProviderRefused { .. }
        | ExternalError::BadIdToken(_)
        | ExternalError::NonceMismatch => StatusCode::BAD_REQUEST,
        ExternalError::ManualLinkingDisabled => StatusCode::NOT_FOUND,
        ExternalError::EmailNeedsVerification(_)
        | ExternalError::IdentityAlreadyExists { .. }
        | ExternalError::IdentityNotFound
        | ExternalError::SingleIdentity => StatusCode::UNPROCESSABLE_ENTITY,
        ExternalError::ExchangeFailed(_)
        | ExternalError::ProfileFailed(_)
        | ExternalError::NoEmail
        | ExternalError::MultipleAccounts(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth_core::domain::{WeakPassword, WeakPasswordReason};

    #[test]
    fn internal_details_never_reach_the_client() {
        let error = ApiError::from(AuthError::Internal("connection string postgres://secret@db".into()));
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!error.body().to_string().contains("secret"));
        assert_eq!(error.body()["error_code"], "unexpected_failure");
    }

    #[test]
    fn weak_password_carries_reasons() {
        let weak = WeakPassword { reasons: vec![WeakPasswordReason::Length], message: "too short".into() };
        let body = ApiError::from(AuthError::WeakPassword(weak)).body();
        assert_eq!(body["code"], 422);
        assert_eq!(body["weak_password"]["reasons"], json!(["length"]));
        assert_eq!(body["msg"], body["error"]);
    }
}
