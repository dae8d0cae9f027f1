use serde_json::Value;

use crate::domain::AccessClaims;

/// Why a token could not be signed or was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT, or claims missing or of the wrong type.
    #[error("malformed token")]
    Malformed,
    /// Signature invalid, algorithm not the pinned one, or key id unknown.
    #[error("invalid token signature")]
    BadSignature,
    /// `exp` has passed.
    #[error("token has expired")]
    Expired,
    /// `iat` or `nbf` lies in the future (beyond the tolerated clock skew).
    #[error("token is not valid yet")]
    NotYetValid,
    /// `exp - iat` exceeds the lifetime this server issues tokens for.
    #[error("token lifetime exceeds the allowed maximum")]
    LifetimeTooLong,
    /// `aud` or `iss` is not this server's.
    #[error("token was issued for another audience or issuer")]
    WrongAudience,
    /// The signer itself failed.
    #[error("token signing failed: {0}")]
    Signing(String),
}

/// Signs and verifies access tokens (JWTs).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait TokenSigner: Send + Sync {
    /// Signs the claims with the current signing key, naming it in the `kid` header.
    ///
    /// - MUST write `iat` and `exp` as integers.
    fn sign(&self, claims: &AccessClaims) -> Result<String, TokenError>;

    /// Verifies a token and returns its claims.
    ///
    /// - MUST accept only the algorithm of the key named by `kid` (never `none`, never an
    ///   algorithm chosen by the token), and MUST refuse unknown `kid`s.
    /// - MUST refuse an expired token with [`TokenError::Expired`], judged at `now` (unix seconds).
    /// - MUST refuse a token whose `aud` is not this server's.
    /// - MUST refuse a token whose `iat` or `nbf` lies in the future beyond a small clock skew
    ///   ([`TokenError::NotYetValid`]), and one whose `exp - iat` exceeds the lifetime this server
    ///   issues its kind of token for, plus that skew ([`TokenError::LifetimeTooLong`]): a token
    ///   signed with a leaked key cannot live longer than one lifetime past the key's retirement.
    fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, TokenError>;

    /// The public keys as a JWK Set (`{"keys": [...]}`).
    ///
    /// - MUST NOT contain any private or symmetric key material.
    fn jwks(&self) -> Value;
}
