use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use super::{Actor, AuditAction, AuditEvent, ExpiryReason, Session, SessionId, SessionLimits, User};
use crate::ports::{Random, RandomError};

/// Random bytes in a freshly started token family's first token (256 bits).
const ROOT_TOKEN_BYTES: usize = 32;
/// Longest string worth hashing as a presented token; anything longer cannot be ours.
const PRESENTED_TOKEN_MAX_LEN: usize = 512;

/// A refresh token as handed to a client. Only its [`TokenDigest`] is ever stored, and its
/// `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    /// Draws the first token of a new family: 256 random bits, base64url without padding.
    pub fn generate(random: &dyn Random) -> Result<Self, RandomError> {
        let mut bytes = [0u8; ROOT_TOKEN_BYTES];
        random.fill(&mut bytes)?;
        Ok(Self::from_bytes(&bytes))
    }

    /// Encodes token material (from [`RefreshToken::generate`] or a `TokenChain`).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Accepts a token presented by a client; `None` when it cannot possibly be one of ours.
    pub fn presented(input: &str) -> Option<Self> {
        let input = input.trim();
        (!input.is_empty() && input.len() <= PRESENTED_TOKEN_MAX_LEN).then(|| Self(input.to_owned()))
    }

    /// The string handed to the client.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The digest under which the token is stored.
    pub fn digest(&self) -> TokenDigest {
        TokenDigest(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

/// SHA-256 of a one-time secret: what storage keeps instead of the secret.
///
/// A plain digest is enough because the secrets are high-entropy random values; there is
/// nothing to brute-force, so a slow password hash would only cost time.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    /// SHA-256 of `secret`.
    pub fn of(secret: &[u8]) -> Self {
        Self(Sha256::digest(secret).into())
    }

    /// Wraps 32 digest bytes computed elsewhere.
    pub fn from_array(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Rebuilds a digest read from storage; `None` unless exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The 32 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A short prefix is enough to correlate log lines and reveals nothing usable.
        write!(f, "TokenDigest({:02x}{:02x}{:02x}{:02x}…)", self.0[0], self.0[1], self.0[2], self.0[3])
    }
}

/// One stored refresh token of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// Storage id, increasing within a store.
    pub id: i64,
    /// The family it belongs to.
    pub session_id: SessionId,
    /// Digest of the token string.
    pub digest: TokenDigest,
    /// The token it replaced; `None` for the first of the family.
    pub parent: Option<i64>,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it was exchanged for its successor; `None` while it is the live token.
    pub used_at: Option<DateTime<Utc>>,
    /// When its family was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A request to exchange a presented refresh token, carried out atomically by a session store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// Digest of the token the client presented.
    pub presented: TokenDigest,
    /// Digest of the presented token's successor (see `TokenChain`): the token that becomes live
    /// on rotation, and the one a retry within the reuse interval must find live.
    pub successor: TokenDigest,
    /// The time of the request, from the clock port.
    pub now: DateTime<Utc>,
    /// How long after its use the previous token may be presented again without counting as reuse.
    pub reuse_interval: Duration,
    /// How long after its use the previous token may still be presented again while its
    /// successor has never been used: a client whose answer was lost (an outage longer than the
    /// reuse interval) gets the same successor instead of being signed out. Reuse detection
    /// still fires once the successor is used and the previous token comes back. A window
    /// shorter than `reuse_interval` changes nothing.
    pub lost_answer_window: Duration,
    /// Session lifetime limits in force.
    pub limits: SessionLimits,
    /// Who asked and when, for the audit event a store records in the rotation's own transaction
    /// (see [`Rotation::event`]); `None` records nothing. Its action, actor, target and details
    /// are replaced.
    pub audit: Option<AuditEvent>,
}

impl Rotation {
    /// The audit event a store MUST record, in the same transaction, when it rotates
    /// ([`AuditAction::TokenRefreshed`]) or revokes a family on reuse
    /// ([`AuditAction::TokenReuseDetected`]): the session's user acting on their own account.
    pub fn event(&self, action: AuditAction, session: &Session) -> Option<AuditEvent> {
        let template = self.audit.clone()?;
        Some(AuditEvent {
            action,
            actor: Actor::User(session.user_id),
            target: Some(session.user_id),
            details: serde_json::json!({"session_id": session.id.to_string()}),
            ..template
        })
    }
}

/// What a session store does with a rotation once it holds the family's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationPlan {
    /// Mark the presented token used at `now`, store the successor as the live token with the
    /// presented one as parent, and set the session's `refreshed_at` to `now`.
    Rotate,
    /// The presented token is the live token's parent and was used within the reuse interval:
    /// change nothing; the successor is already live.
    Replay,
    /// Revoke the session and all of its tokens at `now`.
    RevokeFamily,
    /// Change nothing; the session is over.
    Expired(ExpiryReason),
    /// Change nothing; the family was revoked earlier, so the token is as good as unknown.
    Dead,
}

/// Decides a rotation from the state a store read under its lock. Every store MUST call this
/// rather than re-implement the rules, so that all backends agree.
///
/// `live` is the session's token with `used_at` unset, if any.
pub fn plan_rotation(
    presented: &RefreshTokenRecord,
    session: &Session,
    live: Option<&RefreshTokenRecord>,
    rotation: &Rotation,
) -> RotationPlan {
    if session.revoked_at.is_some() || presented.revoked_at.is_some() {
        return RotationPlan::Dead;
    }
    if let Some(reason) = session.expiry(rotation.now, &rotation.limits) {
        return RotationPlan::Expired(reason);
    }
    let Some(used_at) = presented.used_at else {
        return RotationPlan::Rotate;
    };
    let is_retry_of_last_rotation =
        live.is_some_and(|live| live.parent == Some(presented.id) && live.digest == rotation.successor);
    // The live token is never used, so a retry of the last rotation is always a lost answer;
    // within the reuse interval it may also be a second tab.
    let window = rotation.reuse_interval.max(rotation.lost_answer_window);
    if is_retry_of_last_rotation && rotation.now <= used_at + window {
        RotationPlan::Replay
    } else {
        RotationPlan::RevokeFamily
    }
}

/// A session that goes on after a rotation, with its user as read in the rotation's own
/// transaction (so the answer matches what was committed, and no second read can fail after it).
#[derive(Debug, Clone, PartialEq)]
pub struct Renewal {
    /// The session, as stored after the rotation.
    pub session: Session,
    /// The session's user.
    pub user: User,
}

/// The result of [`Rotation`], as reported by a session store.
#[derive(Debug, Clone, PartialEq)]
pub enum RotationOutcome {
    /// The presented token was live; its successor is now live. Carries the updated session.
    Rotated(Box<Renewal>),
    /// The presented token was the previous one, presented again while its successor is still
    /// unused and within [`Rotation::replay_window`] (a lost response, or tabs refreshing at
    /// once); its successor, already live, is the answer.
    Replayed(Box<Renewal>),
    /// The presented token had been used before and is not a permitted retry: the whole session
    /// has been revoked. Carries the session as it was before.
    ReuseDetected(Session),
    /// No live family knows the token.
    NotFound,
    /// The session is past one of its limits.
    Expired(SessionId, ExpiryReason),
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;
    use crate::domain::{Aal, AuthMethod, UserId};

    fn digest(s: &str) -> TokenDigest {
        RefreshToken(s.into()).digest()
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn session() -> Session {
        Session {
            id: SessionId::from_uuid(Uuid::nil()),
            user_id: UserId::from_uuid(Uuid::nil()),
            created_at: t0(),
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

    fn record(id: i64, name: &str, parent: Option<i64>, used_at: Option<DateTime<Utc>>) -> RefreshTokenRecord {
        RefreshTokenRecord {
            id,
            session_id: SessionId::from_uuid(Uuid::nil()),
            digest: digest(name),
            parent,
            created_at: t0(),
            used_at,
            revoked_at: None,
        }
    }

    fn rotation(presented: &str, successor: &str, now: DateTime<Utc>) -> Rotation {
        Rotation {
            presented: digest(presented),
            successor: digest(successor),
            now,
            reuse_interval: Duration::seconds(10),
            lost_answer_window: Duration::zero(),
            limits: SessionLimits::default(),
            audit: None,
        }
    }

    #[test]
    fn live_token_rotates() {
        let live = record(1, "a", None, None);
        assert_eq!(plan_rotation(&live, &session(), Some(&live), &rotation("a", "b", t0())), RotationPlan::Rotate);
    }

    #[test]
    fn previous_token_within_interval_replays() {
        let used = t0();
        let old = record(1, "a", None, Some(used));
        let live = record(2, "b", Some(1), None);
        let r = rotation("a", "b", used + Duration::seconds(10));
        assert_eq!(plan_rotation(&old, &session(), Some(&live), &r), RotationPlan::Replay);
    }

    #[test]
    fn previous_token_after_interval_revokes() {
        let used = t0();
        let old = record(1, "a", None, Some(used));
        let live = record(2, "b", Some(1), None);
        let r = rotation("a", "b", used + Duration::seconds(11));
        assert_eq!(plan_rotation(&old, &session(), Some(&live), &r), RotationPlan::RevokeFamily);
    }

    #[test]
    fn lost_answer_replays_until_the_successor_is_used_or_the_window_ends() {
        let used = t0();
        let old = record(1, "a", None, Some(used));
        let window =
            Rotation { lost_answer_window: Duration::hours(24), ..rotation("a", "b", used + Duration::hours(23)) };
        let unused_successor = record(2, "b", Some(1), None);
        assert_eq!(plan_rotation(&old, &session(), Some(&unused_successor), &window), RotationPlan::Replay);
        let late = Rotation { now: used + Duration::hours(25), ..window.clone() };
        assert_eq!(plan_rotation(&old, &session(), Some(&unused_successor), &late), RotationPlan::RevokeFamily);
        // Once the successor was used, the old token coming back is reuse at once.
        let grandchild = record(3, "c", Some(2), None);
        assert_eq!(plan_rotation(&old, &session(), Some(&grandchild), &window), RotationPlan::RevokeFamily);
    }

    #[test]
    fn older_ancestor_revokes_even_within_interval() {
        let old = record(1, "a", None, Some(t0()));
        let _mid = record(2, "b", Some(1), Some(t0()));
        let live = record(3, "c", Some(2), None);
        assert_eq!(plan_rotation(&old, &session(), Some(&live), &rotation("a", "b", t0())), RotationPlan::RevokeFamily);
    }

    #[test]
    fn successor_mismatch_is_reuse() {
        let old = record(1, "a", None, Some(t0()));
        let live = record(2, "b", Some(1), None);
        assert_eq!(plan_rotation(&old, &session(), Some(&live), &rotation("a", "x", t0())), RotationPlan::RevokeFamily);
    }

    #[test]
    fn revoked_or_expired_sessions_do_nothing() {
        let live = record(1, "a", None, None);
        let mut revoked = session();
        revoked.revoked_at = Some(t0());
        assert_eq!(plan_rotation(&live, &revoked, Some(&live), &rotation("a", "b", t0())), RotationPlan::Dead);
        let mut ended = session();
        ended.not_after = Some(t0());
        let r = rotation("a", "b", t0() + Duration::seconds(1));
        assert_eq!(plan_rotation(&live, &ended, Some(&live), &r), RotationPlan::Expired(ExpiryReason::NotAfter));
    }

    #[test]
    fn tokens_never_show_in_debug() {
        let token = RefreshToken::presented("secret-token-value").unwrap();
        assert!(!format!("{token:?}").contains("secret"));
        assert!(RefreshToken::presented("  ").is_none());
        assert!(RefreshToken::presented(&"x".repeat(513)).is_none());
    }
}
