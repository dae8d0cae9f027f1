use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::UserId;

/// What happened, as recorded in the audit log. The names are stable: they are stored and
/// shown to operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// A user signed up (anonymous sign-ups included).
    Signup,
    /// A password sign-in succeeded.
    Login,
    /// A password sign-in failed.
    LoginFailed,
    /// A refresh token was rotated.
    TokenRefreshed,
    /// A spent refresh token was presented again and its session revoked.
    TokenReuseDetected,
    /// Sessions were ended by the user.
    Logout,
    /// The user changed their password.
    PasswordChanged,
    /// The user changed their profile (metadata, username).
    UserUpdated,
    /// The user deleted their own account.
    AccountDeleted,
    /// An operator created a user.
    AdminUserCreated,
    /// An operator changed a user.
    AdminUserUpdated,
    /// An operator deleted a user.
    AdminUserDeleted,
    /// An operator banned a user.
    AdminUserBanned,
    /// An operator lifted a ban.
    AdminUserUnbanned,
    /// An operator set a user's password.
    AdminPasswordSet,
    /// An operator ended sessions.
    AdminSessionsRevoked,
    /// A signing key was added.
    KeyRotated,
    /// A key was retired by an operator: it no longer signs or verifies.
    KeyRetired,
    /// A user began enrolling a second factor.
    FactorEnrolled,
    /// A factor was challenged.
    FactorChallenged,
    /// A factor was verified (the session is aal2 now).
    FactorVerified,
    /// A factor verification failed (wrong, replayed or expired code, used challenge).
    FactorVerificationFailed,
    /// A user removed one of their factors.
    FactorUnenrolled,
    /// An operator removed a user's factor.
    AdminFactorDeleted,
    /// A user replaced their recovery codes with a new set.
    RecoveryCodesRegenerated,
    /// An operator renamed a user's factor.
    AdminFactorUpdated,
    /// An external identity was linked to an existing account.
    IdentityLinked,
    /// A user unlinked one of their external identities.
    IdentityUnlinked,
}

impl AuditAction {
    /// Every action.
    pub const ALL: [Self; 28] = [
        Self::Signup,
        Self::Login,
        Self::LoginFailed,
        Self::TokenRefreshed,
        Self::TokenReuseDetected,
        Self::Logout,
        Self::PasswordChanged,
        Self::UserUpdated,
        Self::AccountDeleted,
        Self::AdminUserCreated,
        Self::AdminUserUpdated,
        Self::AdminUserDeleted,
        Self::AdminUserBanned,
        Self::AdminUserUnbanned,
        Self::AdminPasswordSet,
        Self::AdminSessionsRevoked,
        Self::KeyRotated,
        Self::KeyRetired,
        Self::FactorEnrolled,
        Self::FactorChallenged,
        Self::FactorVerified,
        Self::FactorVerificationFailed,
        Self::FactorUnenrolled,
        Self::AdminFactorDeleted,
        Self::RecoveryCodesRegenerated,
        Self::AdminFactorUpdated,
        Self::IdentityLinked,
        Self::IdentityUnlinked,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signup => "user_signedup",
            Self::Login => "login",
            Self::LoginFailed => "login_failed",
            Self::TokenRefreshed => "token_refreshed",
            Self::TokenReuseDetected => "token_reuse_detected",
            Self::Logout => "logout",
            Self::PasswordChanged => "user_updated_password",
            Self::UserUpdated => "user_modified",
            Self::AccountDeleted => "user_deleted_self",
            Self::AdminUserCreated => "user_created_by_admin",
            Self::AdminUserUpdated => "user_updated_by_admin",
            Self::AdminUserDeleted => "user_deleted_by_admin",
            Self::AdminUserBanned => "user_banned_by_admin",
            Self::AdminUserUnbanned => "user_unbanned_by_admin",
            Self::AdminPasswordSet => "password_set_by_admin",
            Self::AdminSessionsRevoked => "sessions_revoked_by_admin",
            Self::KeyRotated => "key_rotated",
            Self::KeyRetired => "key_retired",
            Self::FactorEnrolled => "factor_in_progress",
            Self::FactorChallenged => "challenge_created",
            Self::FactorVerified => "verification_attempted",
            Self::FactorVerificationFailed => "mfa_verification_failed",
            Self::FactorUnenrolled => "factor_unenrolled",
            Self::AdminFactorDeleted => "factor_deleted",
            Self::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Self::AdminFactorUpdated => "factor_updated",
            Self::IdentityLinked => "identity_linked",
            Self::IdentityUnlinked => "identity_unlinked",
        }
    }

    /// Reads a stored name back.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A user acting on their own account (or trying to sign in as one).
    User(UserId),
    /// A holder of the service-role key or an operator at the command line.
    Admin,
    /// Nobody identified (a failed sign-in for an unknown account).
    Anonymous,
}

/// One entry of the append-only audit log. It never holds a password, token or key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Assigned by the store; 0 before the event is stored.
    pub id: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened.
    pub action: AuditAction,
    /// Who did it.
    pub actor: Actor,
    /// The user it happened to, when there is one.
    pub target: Option<UserId>,
    /// Client IP, when known.
    pub ip: Option<String>,
    /// Client `User-Agent`, when known.
    pub user_agent: Option<String>,
    /// Further facts (a session id, a logout scope, the fields changed); never secrets.
    pub details: Value,
}

/// The one JSON shape of an audit event, shared by the admin API (`GET /admin/audit`) and
/// `authd audit --json`: Supabase Auth's audit entry, with what happened under `payload` and the
/// event's details as its `traits`.
impl Serialize for AuditEvent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Entry<'a> {
            id: i64,
            created_at: DateTime<Utc>,
            ip_address: &'a str,
            payload: Payload<'a>,
        }
        #[derive(Serialize)]
        struct Payload<'a> {
            action: &'static str,
            actor_id: Option<String>,
            actor_type: &'static str,
            target_id: Option<String>,
            user_agent: Option<&'a str>,
            traits: &'a Value,
        }
        let (actor_id, actor_type) = match &self.actor {
            Actor::User(id) => (Some(id.to_string()), "user"),
            Actor::Admin => (None, "admin"),
            Actor::Anonymous => (None, "anonymous"),
        };
        Entry {
            id: self.id,
            created_at: self.at,
            ip_address: self.ip.as_deref().unwrap_or_default(),
            payload: Payload {
                action: self.action.as_str(),
                actor_id,
                actor_type,
                target_id: self.target.map(|id| id.to_string()),
                user_agent: self.user_agent.as_deref(),
                traits: &self.details,
            },
        }
        .serialize(serializer)
    }
}
