//! PKCE on the email flows: reading a request's challenge, and `POST /token?grant_type=pkce`,
//! which exchanges the auth code a verified link left for a session.

use serde_json::json;

use super::{AuthService, ClientInfo, IssuedSession};
use crate::domain::{Actor, AuditAction, CodeChallenge, UserChange, auth_code_digest};
use crate::error::{AuthError, MissingRow};

impl AuthService {
    /// Reads a request's PKCE parameters against this server's settings (`plain` only when
    /// the operator allows it).
    pub fn code_challenge(
        &self,
        challenge: Option<&str>,
        method: Option<&str>,
    ) -> Result<Option<CodeChallenge>, AuthError> {
        Ok(CodeChallenge::from_request(challenge, method, self.settings.email.allow_plain_pkce)?)
    }

    /// `POST /token?grant_type=pkce`: exchanges an auth code and the verifier behind its
    /// challenge for a session. A code works once; a wrong verifier leaves it usable until it
    /// expires, since whoever holds the code cannot guess a verifier the client drew at random.
    pub async fn exchange_auth_code(
        &self,
        auth_code: &str,
        verifier: &str,
        client: &ClientInfo,
    ) -> Result<IssuedSession, AuthError> {
        if auth_code.trim().is_empty() || verifier.trim().is_empty() {
            return Err(AuthError::Validation {
                field: "auth_code",
                message: "both auth code and code verifier should be non-empty".into(),
            });
        }
        let now = self.ports.clock.now();
        let code =
            self.ports.flows.find_auth_code(&auth_code_digest(auth_code)).await?.ok_or(AuthError::FlowStateNotFound)?;
        if now > code.expires_at {
            return Err(AuthError::FlowStateExpired);
        }
        if !code.challenge.accepts(verifier.trim()) {
            return Err(AuthError::BadCodeVerifier);
        }
        let mut user = self.ports.users.find_user(code.user_id).await?.ok_or(AuthError::FlowStateNotFound)?;
        if user.is_banned(now) {
            return Err(AuthError::UserBanned);
        }
        // The sign-in time only: a ban or a password set since the user was read stays.
        let mut change = UserChange::at(now);
        change.last_sign_in_at = Some(now);
        change.apply_to(&mut user);
        let (session, refresh) = self.new_session(&user, code.auth_method, client, now)?;
        // Exchanged by a concurrent request meanwhile: a code works once.
        let redeemed = self.ports.flows.redeem_auth_code(&code, &change, &session, &refresh.digest()).await;
        redeemed.or_missing(AuthError::FlowStateNotFound)?;
        let details = json!({"method": code.auth_method.as_str(), "session_id": session.id.to_string(), "pkce": true});
        self.audit(AuditAction::Login, Actor::User(user.id), Some(user.id), client, details).await;
        self.issue(user, session, refresh, now).await
    }
}
