//! The claims of a token whose signature verified, read once into authd's shape, with what
//! every use checks again (times, audience, issuer).

use auth_core::domain::AccessClaims;
use auth_core::ports::{Claim, TokenError};
use serde_json::{Map, Value, json};

use crate::jwt::JwtAlgorithm;
use crate::token_lifetimes::{TimeClaims, TokenKind};

/// A verified token's claims. Kept in the ring's memory of verified signatures.
#[derive(Debug, Clone)]
pub(crate) struct Verified {
    /// The claims, in authd's shape.
    pub claims: AccessClaims,
    /// The time claims and the bound the token is held to.
    pub times: TimeClaims,
    /// Every audience the token names (`aud` may be a string or an array); empty without `aud`.
    pub audiences: Vec<String>,
}

impl Verified {
    /// Reads a verified payload: what kind of token it is, which claims it may lack, and the
    /// claims in authd's shape. An API key (no `sub`, no `session_id`) may lack `aud`; one
    /// signed by an HS256 secret (always a configured one: authd generates ES256 and RS256 keys
    /// only) is a stock key, which may also lack `exp` and `iat`, as Supabase's tooling makes
    /// them. The lifetime check ([`crate::TokenLifetimes`]) refuses the absence of `exp` and
    /// `iat` on every other token.
    pub(crate) fn read(mut map: Map<String, Value>, alg: JwtAlgorithm) -> Result<Self, TokenError> {
        let api_key = map.get("sub").is_none_or(|sub| sub.as_str() == Some(""))
            && map.get("session_id").is_none_or(Value::is_null);
        let kind = match (api_key, alg) {
            (false, _) => TokenKind::Access,
            (true, JwtAlgorithm::HS256) => TokenKind::StockApiKey,
            (true, _) => TokenKind::ApiKey,
        };
        let audiences: Vec<String> = match map.get("aud") {
            None => Vec::new(),
            Some(Value::String(aud)) => vec![aud.clone()],
            Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            Some(_) => return Err(TokenError::InvalidClaim("aud")),
        };
        if audiences.is_empty() && kind == TokenKind::Access {
            return Err(TokenError::MissingClaim(Claim::Aud));
        }
        match map.get("role") {
            Some(Value::String(_)) => {}
            None => return Err(TokenError::MissingClaim(Claim::Role)),
            Some(_) => return Err(TokenError::InvalidClaim("role")),
        }
        let times = TimeClaims {
            issued_at: unix_time(&map, "iat")?,
            expires_at: unix_time(&map, "exp")?,
            // authd never writes `nbf`, but a token that carries one is held to it.
            not_before: unix_time(&map, "nbf")?,
            kind,
        };
        // AccessClaims' shape: one audience, integer times; absent ones read as documented on
        // `TokenSigner::verify`.
        map.insert("aud".into(), json!(audiences.first().cloned().unwrap_or_default()));
        map.insert("exp".into(), json!(times.expires_at.unwrap_or(i64::MAX)));
        map.insert("iat".into(), json!(times.issued_at.unwrap_or(0)));
        let claims: AccessClaims = serde_json::from_value(Value::Object(map)).map_err(|_| TokenError::Malformed)?;
        Ok(Self { claims, times, audiences })
    }
}

/// A NumericDate claim as whole unix seconds, if the token has it (a fraction is dropped).
fn unix_time(map: &Map<String, Value>, claim: &'static str) -> Result<Option<i64>, TokenError> {
    match map.get(claim) {
        None => Ok(None),
        Some(value) => match (value.as_i64(), value.as_f64()) {
            (Some(whole), _) => Ok(Some(whole)),
            // Saturating: a huge float becomes i64::MAX, never a wrapped small number.
            (None, Some(float)) if float.is_finite() => Ok(Some(float as i64)),
            _ => Err(TokenError::InvalidClaim(claim)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(claims: Value, alg: JwtAlgorithm) -> Result<Verified, TokenError> {
        Verified::read(claims.as_object().unwrap().clone(), alg)
    }

    #[test]
    fn tokens_are_told_apart_by_subject_and_session_and_by_the_key_that_signed_them() {
        let user = json!({"sub": "6f1c8a58-7d39-4a51-9d4e-0b9fb3b8d2a1", "aud": "authenticated", "role": "authenticated", "iat": 1, "exp": 2});
        assert_eq!(read(user, JwtAlgorithm::HS256).unwrap().times.kind, TokenKind::Access);
        let key = json!({"role": "anon", "iat": 1.5, "exp": 2});
        let stock = read(key.clone(), JwtAlgorithm::HS256).unwrap();
        assert_eq!(
            (stock.times.kind, stock.times.issued_at, stock.claims.aud.as_str()),
            (TokenKind::StockApiKey, Some(1), "")
        );
        assert_eq!(read(key, JwtAlgorithm::ES256).unwrap().times.kind, TokenKind::ApiKey);
        let bare = read(json!({"role": "service_role", "session_id": null}), JwtAlgorithm::HS256).unwrap();
        assert_eq!((bare.claims.exp, bare.claims.iat, bare.times.expires_at), (i64::MAX, 0, None));
        let audiences = read(json!({"role": "anon", "aud": ["a", "b"]}), JwtAlgorithm::ES256).unwrap();
        assert_eq!(audiences.audiences, ["a", "b"]);
    }

    #[test]
    fn missing_and_mistyped_claims_are_named() {
        let no_aud = json!({"sub": "x", "role": "authenticated", "iat": 1, "exp": 2});
        assert_eq!(read(no_aud, JwtAlgorithm::ES256).unwrap_err(), TokenError::MissingClaim(Claim::Aud));
        assert_eq!(read(json!({"aud": "a"}), JwtAlgorithm::ES256).unwrap_err(), TokenError::MissingClaim(Claim::Role));
        assert_eq!(read(json!({"role": 1}), JwtAlgorithm::ES256).unwrap_err(), TokenError::InvalidClaim("role"));
        assert_eq!(
            read(json!({"role": "a", "aud": 1}), JwtAlgorithm::ES256).unwrap_err(),
            TokenError::InvalidClaim("aud")
        );
        assert_eq!(
            read(json!({"role": "a", "exp": "soon"}), JwtAlgorithm::ES256).unwrap_err(),
            TokenError::InvalidClaim("exp")
        );
        assert_eq!(read(json!({"role": "a", "email": 7}), JwtAlgorithm::ES256).unwrap_err(), TokenError::Malformed);
    }
}
