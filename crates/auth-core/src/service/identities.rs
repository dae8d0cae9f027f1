//! A user's identities: listing them, linking one through a provider
//! (`GET /user/identities/authorize`), unlinking one, and signing in with an ID token a client
//! got from the provider itself (`POST /token?grant_type=id_token`).

use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::external::{LandedWith, provider_failure};
use super::{AuthService, ClientInfo, ExternalStart, ExternalStarted, IssuedSession, Principal};
use crate::domain::{Actor, AuditAction, Identity, IdentityId, User, UserChange, UserId, hashed_nonce};
use crate::error::{AuthError, ExternalError, MissingRow};

/// Whether the user shows the email identity Supabase Auth keeps for an address (authd stores
/// no row for it): the user has an address and signed up with it, or was given one by an
/// operator, rather than through a provider.
pub fn has_email_identity(user: &User) -> bool {
    let providers = user.app_metadata.get("providers").and_then(Value::as_array);
    user.email.is_some() && providers.is_none_or(|list| list.iter().any(|p| p.as_str() == Some("email")))
}

impl AuthService {
    /// The user's stored identities, oldest first.
    pub async fn user_identities(&self, user: UserId) -> Result<Vec<Identity>, AuthError> {
        Ok(self.ports.identities.list_identities(user).await?)
    }

    fn require_manual_linking(&self) -> Result<(), AuthError> {
        if !self.settings.external.manual_linking {
            return Err(ExternalError::ManualLinkingDisabled.into());
        }
        Ok(())
    }

    /// `GET /user/identities/authorize`: begins a flow that links the provider's identity to
    /// the caller.
    pub async fn begin_linking(
        &self,
        principal: &Principal,
        mut start: ExternalStart,
    ) -> Result<ExternalStarted, AuthError> {
        self.require_manual_linking()?;
        start.linking_target = Some(principal.user.id);
        self.begin_external(start).await
    }

    /// `DELETE /user/identities/{id}`: unlinks one of the caller's identities, never the last.
    pub async fn unlink_identity(
        &self,
        principal: &Principal,
        id: IdentityId,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.require_manual_linking()?;
        let user = &principal.user;
        let stored = self.ports.identities.list_identities(user.id).await?;
        let count = stored.len() + usize::from(has_email_identity(user));
        if count <= 1 {
            return Err(ExternalError::SingleIdentity.into());
        }
        let doomed = stored.iter().find(|i| i.id == id).ok_or(ExternalError::IdentityNotFound)?;
        let now = self.ports.clock.now();
        let remaining: Vec<&str> = stored.iter().filter(|i| i.id != id).map(|i| i.provider.as_str()).collect();
        let mut app = user.app_metadata.clone();
        let mut providers: Vec<&str> = Vec::new();
        if has_email_identity(user) {
            providers.push("email");
        }
        for provider in remaining {
            if !providers.contains(&provider) {
                providers.push(provider);
            }
        }
        app.insert("providers", json!(providers));
        if app.get("provider").and_then(Value::as_str) == Some(doomed.provider.as_str())
            && let Some(first) = providers.first()
        {
            app.insert("provider", json!(first));
        }
        let mut change = UserChange::at(now);
        change.app_metadata = Some(app);
        let details = json!({"provider": doomed.provider.as_str(), "identity_id": id.to_string()});
        let event = self.event(AuditAction::IdentityUnlinked, Actor::User(user.id), Some(user.id), client, details);
        let events = [event];
        let unlinked = self.ports.identities.unlink_identity(user.id, id, &change, &events).await;
        if !unlinked.or_missing(AuthError::UserNotFound)? {
            return Err(ExternalError::IdentityNotFound.into());
        }
        self.observed(&events);
        Ok(())
    }

    /// `POST /token?grant_type=id_token`: signs in with an ID token the provider gave the
    /// client. The token is verified by the provider's pinned issuer; a nonce the client sends
    /// must be the one whose lowercase hex SHA-256 the token carries (Supabase Auth's rule).
    pub async fn sign_in_with_id_token(
        &self,
        provider: &str,
        id_token: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
        linking: Option<&Principal>,
        client: &ClientInfo,
    ) -> Result<IssuedSession, AuthError> {
        if id_token.trim().is_empty() {
            return Err(ExternalError::BadIdToken("id_token required".into()).into());
        }
        let name = provider.trim();
        let provider = match self.enabled_provider(name) {
            Ok(provider) => provider,
            Err(_) => return Err(ExternalError::ProviderDisabled(name.to_owned()).into()),
        };
        let verified = self
            .ports
            .providers
            .verify_id_token(&provider, id_token.trim(), access_token)
            .await
            .map_err(provider_failure)?;
        if verified.user.provider_id.is_empty() {
            return Err(ExternalError::BadIdToken("Missing sub claim in id_token".into()).into());
        }
        if !verified.skip_nonce_check {
            let given = nonce.map(str::trim).filter(|n| !n.is_empty());
            match (given, verified.nonce.as_deref()) {
                (None, None) => {}
                (Some(given), Some(expected)) => {
                    let hashed = hashed_nonce(given);
                    if !bool::from(hashed.as_bytes().ct_eq(expected.as_bytes())) {
                        return Err(ExternalError::NonceMismatch.into());
                    }
                }
                _ => {
                    let message = "Passed nonce and nonce in id_token should either both exist or not.";
                    return Err(ExternalError::BadIdToken(message.into()).into());
                }
            }
        }
        let target = linking.map(|p| p.user.id);
        match self.land_external(&provider, &verified.user, target, None, client).await? {
            LandedWith::Session(issued) => Ok(*issued),
            LandedWith::Code(_) => Err(AuthError::Internal("an ID-token sign-in landed on a code".into())),
        }
    }
}
