use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{MfaProof, SessionId, UserId};

/// Authenticator assurance level of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aal {
    /// One factor.
    Aal1,
    /// Two factors.
    Aal2,
}

impl Aal {
    /// The wire and storage form (`aal1`, `aal2`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aal1 => "aal1",
            Self::Aal2 => "aal2",
        }
    }

    /// Reads the storage form back.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "aal1" => Some(Self::Aal1),
            "aal2" => Some(Self::Aal2),
            _ => None,
        }
    }
}

/// How the user proved who they are when the session started (the `amr` claim's `method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// Password sign-in.
    Password,
    /// Anonymous sign-in.
    Anonymous,
    /// A one-time code.
    Otp,
    /// A magic link.
    Magiclink,
    /// A recovery link or code.
    Recovery,
    /// An accepted invitation.
    Invite,
    /// A confirmed sign-up.
    #[serde(rename = "email/signup")]
    EmailSignup,
    /// A confirmed email change.
    EmailChange,
    /// An external identity provider (OAuth 2.0 or OpenID Connect, or an ID token).
    Oauth,
}

impl AuthMethod {
    /// The wire and storage form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Anonymous => "anonymous",
            Self::Otp => "otp",
            Self::Magiclink => "magiclink",
            Self::Recovery => "recovery",
            Self::Invite => "invite",
            Self::EmailSignup => "email/signup",
            Self::EmailChange => "email_change",
            Self::Oauth => "oauth",
        }
    }

    /// Reads the storage form back.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Password,
            Self::Anonymous,
            Self::Otp,
            Self::Magiclink,
            Self::Recovery,
            Self::Invite,
            Self::EmailSignup,
            Self::EmailChange,
            Self::Oauth,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// Operator limits on how long a session may live, beyond its own `not_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionLimits {
    /// A session ends this long after it started, whatever its use.
    pub timebox: Option<Duration>,
    /// A session ends when it has not been refreshed for this long.
    pub inactivity_timeout: Option<Duration>,
}

/// Why a session is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryReason {
    /// Its own `not_after` has passed.
    NotAfter,
    /// The operator's timebox has passed.
    Timebox,
    /// It was idle longer than the inactivity timeout.
    Inactivity,
}

/// One sign-in: a family of refresh tokens of which at most one is live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Its id, carried in access tokens as `session_id`.
    pub id: SessionId,
    /// Whose session it is.
    pub user_id: UserId,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When its refresh token was last rotated.
    pub refreshed_at: Option<DateTime<Utc>>,
    /// Hard end, if any.
    pub not_after: Option<DateTime<Utc>>,
    /// Assurance level.
    pub aal: Aal,
    /// How it started.
    pub auth_method: AuthMethod,
    /// Client's user agent when it started.
    pub user_agent: Option<String>,
    /// Client's IP address when it started.
    pub ip: Option<String>,
    /// When it was ended by logout, reuse detection or an operator; `None` while it lives.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The second factor verified in it (then `aal` is `Aal2`); `None` at aal1.
    pub mfa: Option<MfaProof>,
}

impl Session {
    /// Why the session is over at `now`, or `None` while it is valid. Revocation is separate:
    /// see [`Session::revoked_at`].
    pub fn expiry(&self, now: DateTime<Utc>, limits: &SessionLimits) -> Option<ExpiryReason> {
        if self.not_after.is_some_and(|end| now > end) {
            return Some(ExpiryReason::NotAfter);
        }
        if limits.timebox.is_some_and(|timebox| now > self.created_at + timebox) {
            return Some(ExpiryReason::Timebox);
        }
        let last_active = self.refreshed_at.unwrap_or(self.created_at);
        if limits.inactivity_timeout.is_some_and(|idle| now > last_active + idle) {
            return Some(ExpiryReason::Inactivity);
        }
        None
    }

    /// Whether the session may still be used at `now`.
    pub fn is_active(&self, now: DateTime<Utc>, limits: &SessionLimits) -> bool {
        self.revoked_at.is_none() && self.expiry(now, limits).is_none()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;

    fn session(created: DateTime<Utc>) -> Session {
        Session {
            id: SessionId::from_uuid(Uuid::nil()),
            user_id: UserId::from_uuid(Uuid::nil()),
            created_at: created,
            refreshed_at: None,
            not_after: None,
            aal: Aal::Aal1,
            auth_method: AuthMethod::Password,
            user_agent: None,
            ip: None,
            revoked_at: None,
            mfa: None,
        }
    }

    #[test]
    fn expiry_follows_limits() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut s = session(t0);
        let limits = SessionLimits { timebox: Some(Duration::hours(8)), inactivity_timeout: Some(Duration::hours(1)) };
        assert_eq!(s.expiry(t0 + Duration::minutes(59), &limits), None);
        assert_eq!(s.expiry(t0 + Duration::minutes(61), &limits), Some(ExpiryReason::Inactivity));
        s.refreshed_at = Some(t0 + Duration::minutes(50));
        assert_eq!(s.expiry(t0 + Duration::minutes(61), &limits), None);
        s.refreshed_at = Some(t0 + Duration::hours(8));
        assert_eq!(s.expiry(t0 + Duration::hours(8) + Duration::seconds(1), &limits), Some(ExpiryReason::Timebox));
        s.not_after = Some(t0 + Duration::minutes(1));
        assert_eq!(s.expiry(t0 + Duration::minutes(2), &SessionLimits::default()), Some(ExpiryReason::NotAfter));
    }

    #[test]
    fn storage_forms_round_trip() {
        for m in [AuthMethod::Password, AuthMethod::EmailSignup, AuthMethod::EmailChange] {
            assert_eq!(AuthMethod::parse(m.as_str()), Some(m));
        }
        assert_eq!(Aal::parse("aal2"), Some(Aal::Aal2));
        assert_eq!(Aal::parse("aal3"), None);
    }
}
