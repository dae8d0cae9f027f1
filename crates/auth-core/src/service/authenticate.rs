//! Access checks: a user's access token (against the live session and user) and the API keys.

use super::AuthService;
use crate::domain::{AccessClaims, ApiKeyRole, Session, SessionId, User, UserId};
use crate::error::AuthError;
use crate::ports::{Claim, TokenError};

/// An authenticated caller: the verified claims, the user as stored now, and its session.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token's claims.
    pub claims: AccessClaims,
    /// The user, read from storage for this request.
    pub user: User,
    /// The session the token belongs to.
    pub session: Session,
    /// Where the request came from, for the audit log; the HTTP adapter fills it in.
    pub client: super::ClientInfo,
}

impl AuthService {
    /// Verifies an access token and checks, against storage, that its user still exists and is
    /// not banned and that its session is still live. Revocation therefore takes effect at once,
    /// not when the token expires. The user is read first, so a deleted user's token answers
    /// [`AuthError::UserNotFound`] and a banned one's [`AuthError::UserBanned`] (as Supabase
    /// Auth tells them apart), even though both also lost their sessions.
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal, AuthError> {
        let now = self.ports.clock.now();
        let claims = self.ports.signer.verify(access_token, now.timestamp()).map_err(AuthError::BadJwt)?;
        if claims.sub.is_empty() {
            // An API key, or another token naming no user, is not a user's access token.
            return Err(AuthError::BadJwt(TokenError::MissingClaim(Claim::Sub)));
        }
        let user_id: UserId = claims.sub.parse().map_err(|_| AuthError::BadJwt(TokenError::InvalidClaim("sub")))?;
        let user = self.ports.users.find_user(user_id).await?.ok_or(AuthError::UserNotFound)?;
        if user.is_banned(now) {
            return Err(AuthError::UserBanned);
        }
        let session_id: SessionId = claims.session_id.ok_or(AuthError::SessionNotFound)?;
        let session = self.ports.sessions.find_session(session_id).await?.ok_or(AuthError::SessionNotFound)?;
        if session.user_id != user_id || !session.is_active(now, &self.settings.session_limits) {
            return Err(AuthError::SessionNotFound);
        }
        Ok(Principal { claims, user, session, client: super::ClientInfo::default() })
    }

    /// Checks an API key: a token this server signed that names the anon or the service role
    /// and belongs to no user or session. A user's access token is not an API key. A token the
    /// signer refuses is [`AuthError::BadApiKey`], naming why.
    pub fn api_key(&self, token: &str) -> Result<ApiKeyRole, AuthError> {
        let now = self.ports.clock.now().timestamp();
        let claims = self.ports.signer.verify(token, now).map_err(AuthError::BadApiKey)?;
        if !claims.sub.is_empty() || claims.session_id.is_some() {
            return Err(AuthError::InvalidApiKey);
        }
        let roles = &self.settings.roles;
        match claims.role.as_str() {
            role if role == roles.anonymous => Ok(ApiKeyRole::Anonymous),
            role if role == roles.service => Ok(ApiKeyRole::Service),
            _ => Err(AuthError::InvalidApiKey),
        }
    }
}
