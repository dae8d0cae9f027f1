use chrono::{DateTime, Utc};
use serde_json::json;

use super::{AuthService, ClientInfo};
use crate::domain::{
    Aal, AccessClaims, Actor, AmrEntry, AuditAction, AuthMethod, Factor, Identity, RefreshToken, Session, SessionId,
    User,
};
use crate::error::{AuthError, MissingRow};

/// A session handed to a client: an access token, its refresh token and the user.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    /// The signed JWT.
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// When the access token expires, unix seconds.
    pub expires_at: i64,
    /// The refresh token (secret).
    pub refresh_token: RefreshToken,
    /// The user, as stored after this sign-in.
    pub user: User,
    /// The session.
    pub session: Session,
    /// The user's factors, verified or not (`user.factors` in responses).
    pub factors: Vec<Factor>,
    /// The user's stored external identities (`user.identities` in responses).
    pub identities: Vec<Identity>,
}

impl AuthService {
    /// Starts a new session for `user`, audited as an [`AuditAction::Login`] by `method` in the
    /// same transaction, and issues its first tokens.
    pub(super) async fn start_session(
        &self,
        mut user: User,
        method: AuthMethod,
        client: &ClientInfo,
    ) -> Result<IssuedSession, AuthError> {
        let now = self.ports.clock.now();
        let (session, refresh_token) = self.new_session(&user, method, client, now)?;
        let details = json!({"method": method.as_str(), "session_id": session.id.to_string()});
        let event = self.event(AuditAction::Login, Actor::User(user.id), Some(user.id), client, details);
        // Deleted since it was read: nobody left to sign in.
        self.ports
            .sessions
            .start_session(&session, &refresh_token.digest(), std::slice::from_ref(&event))
            .await
            .or_missing(AuthError::UserNotFound)?;
        self.observed(std::slice::from_ref(&event));
        user.last_sign_in_at = Some(now);
        self.issue(user, session, refresh_token, now).await
    }

    /// A new, not yet stored session for `user` and its first refresh token.
    pub(super) fn new_session(
        &self,
        user: &User,
        method: AuthMethod,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<(Session, RefreshToken), AuthError> {
        let session = Session {
            id: SessionId::generate(self.ports.random.as_ref())?,
            user_id: user.id,
            created_at: now,
            refreshed_at: None,
            not_after: None,
            aal: Aal::Aal1,
            auth_method: method,
            user_agent: client.user_agent.clone(),
            ip: client.ip.clone(),
            revoked_at: None,
            mfa: None,
        };
        let refresh_token = RefreshToken::generate(self.ports.random.as_ref())?;
        Ok((session, refresh_token))
    }

    /// Signs an access token for an existing session and bundles it with `refresh_token` and
    /// the user's factors.
    pub(super) async fn issue(
        &self,
        user: User,
        session: Session,
        refresh_token: RefreshToken,
        now: DateTime<Utc>,
    ) -> Result<IssuedSession, AuthError> {
        let iat = now.timestamp();
        let ttl = self.settings.access_token_ttl.num_seconds();
        let claims = self.claims_for(&user, &session, iat, iat + ttl);
        let access_token = self.ports.signer.sign(&claims).map_err(|e| AuthError::Internal(e.to_string()))?;
        let factors = self.ports.factors.list_factors(user.id).await?;
        let identities = self.ports.identities.list_identities(user.id).await?;
        Ok(IssuedSession {
            access_token,
            expires_in: ttl,
            expires_at: iat + ttl,
            refresh_token,
            user,
            session,
            factors,
            identities,
        })
    }

    fn claims_for(&self, user: &User, session: &Session, iat: i64, exp: i64) -> AccessClaims {
        AccessClaims {
            iss: self.settings.issuer.clone(),
            sub: user.id.to_string(),
            aud: user.aud.clone(),
            exp,
            iat,
            email: user.email.as_ref().map(|e| e.as_str().to_owned()).unwrap_or_default(),
            phone: user.phone.as_ref().map(|p| p.as_str().to_owned()).unwrap_or_default(),
            app_metadata: user.app_metadata.to_value(),
            user_metadata: user.user_metadata.to_value(),
            role: user.role.clone(),
            aal: session.aal,
            amr: amr(session),
            session_id: Some(session.id),
            is_anonymous: user.is_anonymous,
        }
    }
}

/// The `amr` claim: the factor verified in the session (newest) before the way it began.
fn amr(session: &Session) -> Vec<AmrEntry> {
    let first = AmrEntry { method: session.auth_method.as_str().to_owned(), timestamp: session.created_at.timestamp() };
    match &session.mfa {
        Some(proof) => vec![
            AmrEntry { method: proof.factor_type.amr_method().to_owned(), timestamp: proof.verified_at.timestamp() },
            first,
        ],
        None => vec![first],
    }
}
