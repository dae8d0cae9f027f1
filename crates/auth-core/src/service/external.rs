//! Browser sign-in through an identity provider: `GET /authorize` begins a flow (its state
//! stored, bound to the browser by a secret cookie) and `GET|POST /callback` ends it with a
//! session (implicit flow) or an auth code (PKCE).

use chrono::Duration;

use super::{AuthService, ClientInfo, IssuedSession};
use crate::domain::{AuthCodeSecret, BrowserBinding, CodeChallenge, FlowId, OAuthFlow, ProviderName, UserId};
use crate::error::{AuthError, ExternalError};
use crate::ports::{AuthorizationRequest, IdpError, ProviderTokens};

/// The shortest life of a flow state (Supabase Auth's floor too).
const MIN_FLOW_TTL: Duration = Duration::minutes(5);

/// How external sign-in behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalSettings {
    /// How long a flow may take from `/authorize` to `/callback` (at least five minutes).
    pub flow_ttl: Duration,
    /// `GET /user/identities/authorize` and `DELETE /user/identities/{id}` are allowed.
    pub manual_linking: bool,
    /// A user whose address the provider did not verify may sign in all the same.
    pub allow_unverified_email_sign_ins: bool,
}

impl Default for ExternalSettings {
    fn default() -> Self {
        Self { flow_ttl: MIN_FLOW_TTL, manual_linking: false, allow_unverified_email_sign_ins: false }
    }
}

/// What `/authorize` asks for.
#[derive(Debug, Clone, Default)]
pub struct ExternalStart {
    /// The provider's name, as sent.
    pub provider: String,
    /// Where to land afterwards (checked against the allow-list; the site URL otherwise).
    pub redirect_to: Option<String>,
    /// Extra scopes, comma- or space-separated.
    pub scopes: Option<String>,
    /// The client's PKCE challenge: the flow ends with an auth code.
    pub challenge: Option<CodeChallenge>,
    /// Query parameters passed on to the provider.
    pub extra: Vec<(String, String)>,
    /// The user an identity is being linked to.
    pub linking_target: Option<UserId>,
}

/// A begun flow: where to send the browser, and the secret it must keep (a cookie).
#[derive(Debug, Clone)]
pub struct ExternalStarted {
    /// The provider's authorization URL.
    pub url: String,
    /// The browser's binding to the flow.
    pub binding: BrowserBinding,
    /// How long the binding is needed.
    pub ttl: Duration,
}

/// What the provider sent back to `/callback`, and the browser's binding cookie.
#[derive(Debug, Clone, Default)]
pub struct ExternalCallback {
    /// `state`.
    pub state: Option<String>,
    /// `code`.
    pub code: Option<String>,
    /// The provider's `error`.
    pub error: Option<String>,
    /// The provider's `error_description`.
    pub error_description: Option<String>,
    /// The binding cookie's value.
    pub binding: Option<String>,
}

/// How a flow ended.
#[derive(Debug, Clone)]
pub enum LandedWith {
    /// A session, for the URL fragment.
    Session(Box<IssuedSession>),
    /// An auth code, for the query (`?code=`).
    Code(AuthCodeSecret),
}

/// A completed flow: where to send the browser, with what.
#[derive(Debug, Clone)]
pub struct ExternalLanding {
    /// The checked redirect target.
    pub redirect_to: String,
    /// The session or code.
    pub landed: LandedWith,
    /// The provider's tokens (`provider_token`, `provider_refresh_token`).
    pub provider_tokens: ProviderTokens,
}

/// A refused callback, and where its error goes: the flow's target once the flow is known,
/// the site URL before.
#[derive(Debug, Clone)]
pub struct CallbackFailure {
    /// The flow's checked redirect target; `None` before the state was known.
    pub redirect_to: Option<String>,
    /// Why.
    pub error: AuthError,
}

impl CallbackFailure {
    fn early(error: impl Into<AuthError>) -> Self {
        Self { redirect_to: None, error: error.into() }
    }
}

/// The scopes of a request: Supabase Auth splits on commas, auth-js sends spaces.
fn scopes(requested: Option<&str>) -> Vec<String> {
    requested
        .unwrap_or_default()
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The use case's meaning of a provider failure.
pub(super) fn provider_failure(error: IdpError) -> AuthError {
    match error {
        IdpError::NotEnabled(name) | IdpError::NoIdTokens(name) => {
            ExternalError::UnsupportedProvider(format!("provider {name} is not enabled")).into()
        }
        IdpError::Exchange(detail) => ExternalError::ExchangeFailed(detail).into(),
        IdpError::Profile(detail) => ExternalError::ProfileFailed(detail).into(),
        IdpError::BadIdToken(detail) => ExternalError::BadIdToken(detail).into(),
    }
}

impl AuthService {
    /// The enabled provider named `name`, or `validation_failed` "Unsupported provider".
    pub(super) fn enabled_provider(&self, name: &str) -> Result<ProviderName, AuthError> {
        let unsupported = || ExternalError::UnsupportedProvider(format!("Provider {name} could not be found"));
        let provider = ProviderName::parse(name).map_err(|_| unsupported())?;
        if !self.ports.providers.enabled().contains(&provider) {
            return Err(unsupported().into());
        }
        Ok(provider)
    }

    /// The enabled providers, for `GET /settings`.
    pub fn external_providers(&self) -> Vec<ProviderName> {
        self.ports.providers.enabled()
    }

    /// `GET /authorize` (and `/user/identities/authorize`): stores the flow and answers the
    /// provider's authorization URL with the browser's binding.
    pub async fn begin_external(&self, start: ExternalStart) -> Result<ExternalStarted, AuthError> {
        let provider = self.enabled_provider(&start.provider)?;
        let now = self.ports.clock.now();
        let binding = BrowserBinding::generate(self.ports.random.as_ref())?;
        let ttl = self.settings.external.flow_ttl.max(MIN_FLOW_TTL);
        let flow = OAuthFlow {
            id: FlowId::generate(self.ports.random.as_ref())?,
            browser: binding.digest(),
            provider: provider.clone(),
            redirect_to: self.settings.email.redirects.resolve(start.redirect_to.as_deref()),
            challenge: start.challenge,
            linking_target: start.linking_target,
            created_at: now,
            expires_at: now + ttl,
        };
        let request = AuthorizationRequest {
            state: flow.id.to_string(),
            scopes: scopes(start.scopes.as_deref()),
            nonce: binding.nonce(),
            pkce_challenge: binding.provider_challenge(),
            extra: start.extra,
        };
        let url = self.ports.providers.authorization_url(&provider, &request).await.map_err(provider_failure)?;
        self.ports.identities.create_oauth_flow(&flow).await?;
        Ok(ExternalStarted { url, binding, ttl })
    }

    /// `GET|POST /callback`: takes the flow (once), checks the browser, exchanges the code at
    /// the provider and signs the user in (or links the identity).
    pub async fn finish_external(
        &self,
        callback: ExternalCallback,
        client: &ClientInfo,
    ) -> Result<ExternalLanding, CallbackFailure> {
        let state = callback.state.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let state = state.ok_or(CallbackFailure::early(ExternalError::StateMissing))?;
        let id: FlowId = state.parse().map_err(|_| CallbackFailure::early(ExternalError::StateInvalid))?;
        let taken = self.ports.identities.take_oauth_flow(id).await.map_err(CallbackFailure::early)?;
        let flow = taken.ok_or(CallbackFailure::early(ExternalError::StateNotFound))?;
        let now = self.ports.clock.now();
        if now > flow.expires_at {
            return Err(CallbackFailure::early(ExternalError::StateExpired));
        }
        let binding = callback.binding.as_deref().map(BrowserBinding::presented);
        let Some(binding) = binding.filter(|b| b.digest() == flow.browser) else {
            return Err(CallbackFailure::early(ExternalError::OtherBrowser));
        };
        let redirect_to = flow.redirect_to.clone();
        let fail = |error: AuthError| CallbackFailure { redirect_to: Some(redirect_to.clone()), error };
        if let Some(error) = callback.error.filter(|e| !e.is_empty()) {
            let description = callback.error_description.unwrap_or_default();
            return Err(fail(ExternalError::ProviderRefused { error, description }.into()));
        }
        let code = callback.code.as_deref().map(str::trim).filter(|c| !c.is_empty());
        let code = code.ok_or_else(|| fail(ExternalError::CodeMissing.into()))?;
        let signed_in = self
            .ports
            .providers
            .exchange_code(&flow.provider, code, &binding.provider_verifier(), &binding.nonce())
            .await
            .map_err(|e| fail(provider_failure(e)))?;
        let landed = self
            .land_external(&flow.provider, &signed_in.user, flow.linking_target, flow.challenge, client)
            .await
            .map_err(fail)?;
        Ok(ExternalLanding { redirect_to, landed, provider_tokens: signed_in.tokens })
    }
}

#[cfg(test)]
mod tests {
    use super::scopes;

    #[test]
    fn scopes_split_on_commas_and_spaces() {
        assert_eq!(scopes(Some("repo, read:org  gist")), ["repo", "read:org", "gist"]);
        assert!(scopes(None).is_empty());
    }
}
