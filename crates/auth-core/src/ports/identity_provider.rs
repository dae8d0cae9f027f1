//! The identity-provider port: what external sign-in needs from OAuth 2.0 and OpenID Connect
//! providers (GitHub, Google, any OIDC issuer ...), whatever library speaks to them.

use std::fmt;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::domain::ProviderName;

/// What a provider says about the user, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderUser {
    /// The provider's stable subject for the user (`sub`).
    pub provider_id: String,
    /// The user's email address at the provider.
    pub email: Option<String>,
    /// Whether the provider vouches that the address is the user's.
    pub email_verified: bool,
    /// Display name.
    pub name: Option<String>,
    /// Picture URL.
    pub avatar_url: Option<String>,
    /// The provider's claims as it gave them (ID token or user-info answer).
    pub claims: Map<String, Value>,
}

/// The provider's own tokens, handed to the client once (`provider_token`); `Debug` is
/// redacted.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProviderTokens {
    /// The provider's access token.
    pub access_token: Option<String>,
    /// The provider's refresh token.
    pub refresh_token: Option<String>,
}

impl fmt::Debug for ProviderTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProviderTokens(..)")
    }
}

/// What the authorization URL carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// The OAuth `state` (the flow's id).
    pub state: String,
    /// Scopes asked for beyond the provider's defaults.
    pub scopes: Vec<String>,
    /// The OpenID `nonce` (sent to OIDC providers only).
    pub nonce: String,
    /// The S256 PKCE challenge for the provider (sent where the provider takes PKCE).
    pub pkce_challenge: String,
    /// Other query parameters passed on to the provider (`login_hint`, `prompt` ...).
    pub extra: Vec<(String, String)>,
}

/// The answer of a completed authorization: who the user is, and the provider's tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSignIn {
    /// The user.
    pub user: ProviderUser,
    /// The provider's tokens.
    pub tokens: ProviderTokens,
}

/// An ID token given to `POST /token?grant_type=id_token`, verified.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedIdToken {
    /// The user it names.
    pub user: ProviderUser,
    /// Its `nonce` claim, if any.
    pub nonce: Option<String>,
    /// Whether the provider's nonce check is turned off (`skip_nonce_check`).
    pub skip_nonce_check: bool,
}

/// Why a provider call failed. Messages name the provider and the step, never a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdpError {
    /// No enabled provider has this name.
    #[error("provider {0} is not enabled")]
    NotEnabled(String),
    /// The provider does not take ID tokens (`grant_type=id_token`).
    #[error("provider {0} does not sign users in with ID tokens")]
    NoIdTokens(String),
    /// The code exchange was refused or failed.
    #[error("code exchange failed: {0}")]
    Exchange(String),
    /// The user data could not be fetched or read.
    #[error("user data unreadable: {0}")]
    Profile(String),
    /// An ID token failed verification (signature, issuer, audience, expiry, nonce).
    #[error("{0}")]
    BadIdToken(String),
}

/// The configured identity providers. (No mockall mock: tests use a fake provider.)
#[async_trait]
pub trait IdentityProviders: Send + Sync {
    /// The names of the enabled providers, sorted.
    fn enabled(&self) -> Vec<ProviderName>;

    /// The URL of the provider's authorization endpoint for this request.
    ///
    /// - MUST fail with [`IdpError::NotEnabled`] for a provider that is not enabled.
    async fn authorization_url(
        &self,
        provider: &ProviderName,
        request: &AuthorizationRequest,
    ) -> Result<String, IdpError>;

    /// Exchanges an authorization code at the provider and reads the user.
    ///
    /// - MUST send `pkce_verifier` where the authorization URL sent its challenge.
    /// - MUST verify an ID token the provider returns (signature by the issuer's keys, `iss`,
    ///   `aud`, `exp`, and `nonce` equal to `nonce`) before trusting it.
    async fn exchange_code(
        &self,
        provider: &ProviderName,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<ProviderSignIn, IdpError>;

    /// Verifies an ID token a client obtained from the provider itself.
    ///
    /// - MUST check the signature by the keys of the provider's pinned issuer, `iss`, `aud`
    ///   (one of the provider's client ids) and `exp`; the nonce is the caller's to compare.
    /// - MUST check `at_hash` against `access_token` when both are present.
    async fn verify_id_token(
        &self,
        provider: &ProviderName,
        id_token: &str,
        access_token: Option<&str>,
    ) -> Result<VerifiedIdToken, IdpError>;
}

/// No provider is enabled: every call answers [`IdpError::NotEnabled`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProviders;

#[async_trait]
impl IdentityProviders for NoProviders {
    fn enabled(&self) -> Vec<ProviderName> {
        Vec::new()
    }

    async fn authorization_url(&self, provider: &ProviderName, _: &AuthorizationRequest) -> Result<String, IdpError> {
        Err(IdpError::NotEnabled(provider.to_string()))
    }

    async fn exchange_code(
        &self,
        provider: &ProviderName,
        _: &str,
        _: &str,
        _: &str,
    ) -> Result<ProviderSignIn, IdpError> {
        Err(IdpError::NotEnabled(provider.to_string()))
    }

    async fn verify_id_token(
        &self,
        provider: &ProviderName,
        _: &str,
        _: Option<&str>,
    ) -> Result<VerifiedIdToken, IdpError> {
        Err(IdpError::NotEnabled(provider.to_string()))
    }
}
