use serde_json::Value;

use super::{AuthService, ClientInfo, IssuedSession};
use crate::domain::{Actor, AuditAction, RefreshToken, Renewal, Rotation, RotationOutcome};
use crate::error::AuthError;

impl AuthService {
    /// Exchanges a refresh token for a new access token and the family's live refresh token.
    ///
    /// The previous token presented again within the reuse interval answers the live token
    /// (a lost response, or tabs refreshing at once); any other reuse revokes the session.
    pub async fn refresh(&self, presented: &str, client: &ClientInfo) -> Result<IssuedSession, AuthError> {
        let presented = RefreshToken::presented(presented).ok_or(AuthError::RefreshTokenNotFound)?;
        let successor = self.ports.chain.successor(&presented);
        let now = self.ports.clock.now();
        let rotation = Rotation {
            presented: presented.digest(),
            successor: successor.digest(),
            now,
            reuse_interval: self.settings.reuse_interval,
            lost_answer_window: self.settings.lost_answer_window,
            limits: self.settings.session_limits,
            // The store fills in whose session it was, and records the event with the rotation.
            audit: Some(self.event(AuditAction::TokenRefreshed, Actor::Anonymous, None, client, Value::Null)),
        };
        let Renewal { session, user } = match self.ports.sessions.rotate_refresh_token(&rotation).await? {
            RotationOutcome::Rotated(renewal) => {
                self.observed(rotation.event(AuditAction::TokenRefreshed, &renewal.session).as_slice());
                *renewal
            }
            RotationOutcome::Replayed(renewal) => *renewal,
            RotationOutcome::ReuseDetected(session) => {
                self.observed(rotation.event(AuditAction::TokenReuseDetected, &session).as_slice());
                return Err(AuthError::RefreshTokenAlreadyUsed);
            }
            RotationOutcome::NotFound => return Err(AuthError::RefreshTokenNotFound),
            RotationOutcome::Expired(..) => return Err(AuthError::SessionExpired),
        };
        if user.is_banned(now) {
            return Err(AuthError::UserBanned);
        }
        self.issue(user, session, successor, now).await
    }
}
