//! The sentences clients read: where authd answers the same `error_code` as Supabase Auth for the
//! same situation, the message is Supabase Auth's, word for word (apps show it and their tests
//! match it). The use cases' own wording stays where Supabase Auth has no such answer.

use auth_core::AuthError;
use auth_core::domain::EmailError;
use auth_core::ports::{Claim, TokenError};

/// Supabase Auth's message for `error`, when it differs from the use case's own wording.
pub(crate) fn gotrue_message(error: &AuthError) -> Option<String> {
    let sentence = match error {
        AuthError::Validation { field, message } => return validation_message(field, message),
        AuthError::BadJwt(detail) => {
            return Some(format!("invalid JWT: unable to parse or verify signature, {}", jwt_detail(detail)));
        }
        AuthError::BadApiKey(detail) => return Some(format!("Invalid API key: {}", jwt_detail(detail))),
        // Supabase Auth answers a wrong current password with the same sentence as a missing one.
        AuthError::CurrentPasswordInvalid => "Current password required when setting new password.",
        AuthError::FlowStateExpired => "invalid flow state, flow state has expired",
        AuthError::EmailRateLimited { retry_after } | AuthError::SmsRateLimited { retry_after } => {
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            return Some(format!("For security purposes, you can only request this after {} seconds.", seconds.max(1)));
        }
        _ => return None,
    };
    Some(sentence.to_owned())
}

/// A `validation_failed` message: Supabase Auth's sentence for a malformed address; a message
/// that is already a sentence (capitalised, as Supabase Auth's are) as it is; any other after
/// the name of the field at fault.
fn validation_message(field: &str, message: &str) -> Option<String> {
    if field == "email" {
        let sentence = [
            (EmailError::Malformed, "Unable to validate email address: invalid format"),
            (EmailError::Empty, "An email address is required"),
            (EmailError::TooLong, "An email address is too long"),
        ]
        .into_iter()
        .find(|(kind, _)| kind.to_string() == message)
        .map(|(_, sentence)| sentence.to_owned());
        if sentence.is_some() {
            return sentence;
        }
    }
    if message.starts_with(|c: char| c.is_ascii_uppercase()) {
        return Some(message.to_owned());
    }
    None
}

/// What the JWT library under Supabase Auth says about the same fault, and authd's own words for
/// the faults Supabase Auth does not refuse (a missing `aud`, an unbounded lifetime).
pub(crate) fn jwt_detail(error: &TokenError) -> String {
    match error {
        TokenError::Malformed => "token is malformed".into(),
        TokenError::MissingKid => "token is unverifiable: the token has no kid and this server has several keys".into(),
        TokenError::UnknownKid => "token is unverifiable: unrecognized JWT kid".into(),
        TokenError::AlgorithmNotAllowed => "token signature is invalid: signing method is invalid".into(),
        TokenError::BadSignature => "token signature is invalid".into(),
        TokenError::MissingClaim(Claim::Sub) => "invalid claim: missing sub claim".into(),
        TokenError::MissingClaim(claim) => {
            format!("token has invalid claims: token is missing required claim: {claim} claim is required")
        }
        TokenError::InvalidClaim("sub") => "invalid claim: sub claim must be a UUID".into(),
        TokenError::InvalidClaim(claim) => format!("token is malformed: the {claim} claim has the wrong type"),
        TokenError::Expired => "token has invalid claims: token is expired".into(),
        TokenError::NotYetValid => "token has invalid claims: token used before issued".into(),
        TokenError::LifetimeTooLong => {
            "token has invalid claims: token lifetime exceeds the longest this server issues".into()
        }
        TokenError::WrongAudience => "token has invalid claims: token has invalid audience".into(),
        TokenError::WrongIssuer => "token has invalid claims: token has invalid issuer".into(),
        other => other.to_string(),
    }
}
