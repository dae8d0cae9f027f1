use serde_json::Value;

use crate::domain::AccessClaims;

/// A claim a token was refused for lacking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// `aud`: required on a user's access token.
    Aud,
    /// `exp`: required on every token but the stock API keys of a configured HS256 secret.
    Exp,
    /// `iat`: required wherever `exp` is (the lifetime is bounded by `exp - iat`).
    Iat,
    /// `role`.
    Role,
    /// `sub`: required where a user's access token is.
    Sub,
}

impl Claim {
    /// The claim's name in a JWT.
    pub fn name(self) -> &'static str {
        match self {
            Self::Aud => "aud",
            Self::Exp => "exp",
            Self::Iat => "iat",
            Self::Role => "role",
            Self::Sub => "sub",
        }
    }
}

impl std::fmt::Display for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a token could not be signed or was refused. Each refusal names one problem, with a
/// stable [`code`](TokenError::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT: not three base64url parts, or a header or payload that is not a JSON object.
    #[error("malformed token")]
    Malformed,
    /// No `kid` in the header, and more than one key could have signed the token.
    #[error("token has no kid, and more than one key could have signed it")]
    MissingKid,
    /// The `kid` names no key this server verifies with (never made here, or retired).
    #[error("token kid names no key of this server")]
    UnknownKid,
    /// The header's `alg` is not the algorithm of the key it names (`none` included).
    #[error("token alg is not the algorithm of its key")]
    AlgorithmNotAllowed,
    /// The signature does not verify with the key.
    #[error("invalid token signature")]
    BadSignature,
    /// A claim this kind of token needs is absent.
    #[error("token is missing the {0} claim")]
    MissingClaim(Claim),
    /// A claim has the wrong type (a time that is not a number, a `sub` that is not a user id).
    #[error("token claim {0} has the wrong type")]
    InvalidClaim(&'static str),
    /// `exp` has passed.
    #[error("token has expired")]
    Expired,
    /// `iat` or `nbf` lies in the future (beyond the tolerated clock skew).
    #[error("token is not valid yet")]
    NotYetValid,
    /// `exp - iat` exceeds the lifetime this server issues tokens for.
    #[error("token lifetime exceeds the allowed maximum")]
    LifetimeTooLong,
    /// `aud` is not this server's.
    #[error("token was issued for another audience")]
    WrongAudience,
    /// `iss` is not this server's.
    #[error("token was issued by another issuer")]
    WrongIssuer,
    /// The signer itself failed.
    #[error("token signing failed: {0}")]
    Signing(String),
}

impl TokenError {
    /// The stable snake_case name of the problem (what clients read as `token_error`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::MissingKid => "missing_kid",
            Self::UnknownKid => "unknown_kid",
            Self::AlgorithmNotAllowed => "algorithm_not_allowed",
            Self::BadSignature => "bad_signature",
            Self::MissingClaim(Claim::Aud) => "missing_aud",
            Self::MissingClaim(Claim::Exp) => "missing_exp",
            Self::MissingClaim(Claim::Iat) => "missing_iat",
            Self::MissingClaim(Claim::Role) => "missing_role",
            Self::MissingClaim(Claim::Sub) => "missing_sub",
            Self::InvalidClaim(_) => "invalid_claim",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::LifetimeTooLong => "lifetime_too_long",
            Self::WrongAudience => "wrong_audience",
            Self::WrongIssuer => "wrong_issuer",
            Self::Signing(_) => "signing_failed",
        }
    }
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
    /// - MUST refuse a token whose `aud` is not this server's; only an API key (a token with no
    ///   `sub` and no `session_id`) may lack `aud`, which then reads as `""`.
    /// - MUST refuse a token whose `iat` or `nbf` lies in the future beyond a small clock skew
    ///   ([`TokenError::NotYetValid`]), and one whose `exp - iat` exceeds the lifetime this server
    ///   issues its kind of token for, plus that skew ([`TokenError::LifetimeTooLong`]): a token
    ///   signed with a leaked key cannot live longer than one lifetime past the key's retirement.
    ///   The one exception is an API key signed by a configured HS256 secret (Supabase's stock
    ///   keys): it may lack `exp` (read as `i64::MAX`) and `iat` (read as `0`), and its lifetime is
    ///   not bounded, since the secret cannot be retired without ending every token it signed.
    /// - MUST name the problem of a refused token (a missing claim is not a malformed token, a
    ///   missing `kid` is not a bad signature).
    fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, TokenError>;

    /// The public keys as a JWK Set (`{"keys": [...]}`).
    ///
    /// - MUST NOT contain any private or symmetric key material.
    fn jwks(&self) -> Value;
}
