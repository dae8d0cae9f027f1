//! Second factors (multi-factor authentication): a user's enrolled authenticators, the
//! challenges issued against them, and what a verified one adds to a session.

use std::fmt;

use chrono::{DateTime, Utc};

use super::{FactorId, SessionId, TokenDigest, UserId};

/// Longest friendly name of a factor, in characters.
pub const FRIENDLY_NAME_MAX_LEN: usize = 120;

/// The kind of a factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FactorType {
    /// A time-based one-time password app (RFC 6238).
    Totp,
    /// A set of single-use recovery codes (verified from the start; never challenged).
    RecoveryCode,
}

impl FactorType {
    /// The wire and storage form (`totp`, `recovery_code`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
        }
    }

    /// Reads the storage form back.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "totp" => Some(Self::Totp),
            "recovery_code" => Some(Self::RecoveryCode),
            _ => None,
        }
    }

    /// The `amr` method a verification of this kind of factor adds to a session (Supabase
    /// Auth's names: `totp`, not `mfa/totp`; `mfa/recovery_code` as auth-js expects).
    pub fn amr_method(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "mfa/recovery_code",
        }
    }
}

/// Whether a factor has been proven once (enrollment completed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FactorStatus {
    /// Enrolled, never verified: it does not count as a second factor yet.
    Unverified,
    /// Verified at least once.
    Verified,
}

impl FactorStatus {
    /// The wire and storage form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unverified => "unverified",
            Self::Verified => "verified",
        }
    }

    /// Reads the storage form back.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "unverified" => Some(Self::Unverified),
            "verified" => Some(Self::Verified),
            _ => None,
        }
    }
}

/// A factor's secret as stored: sealed under the key-encryption key when one is configured,
/// opaque to the domain and the stores. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret(String);

impl SealedSecret {
    /// Wraps a stored value.
    pub fn new(stored: impl Into<String>) -> Self {
        Self(stored.into())
    }

    /// The stored form, for the store and the adapter that opens it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealedSecret(..)")
    }
}

/// One enrolled second factor of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Factor {
    /// Its id.
    pub id: FactorId,
    /// Whose factor it is.
    pub user_id: UserId,
    /// The user's name for it; `""` when none was given.
    pub friendly_name: String,
    /// Its kind.
    pub factor_type: FactorType,
    /// Verified once or not.
    pub status: FactorStatus,
    /// The shared secret (TOTP), sealed; empty for recovery codes (their digests are stored
    /// apart).
    pub secret: SealedSecret,
    /// When it was enrolled.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was last challenged.
    pub last_challenged_at: Option<DateTime<Utc>>,
    /// The last time step whose code was accepted: a code of this step or an earlier one is
    /// refused, so a code works once (RFC 6238 §5.2).
    pub last_used_step: Option<i64>,
}

impl Factor {
    /// Whether it counts as a second factor.
    pub fn is_verified(&self) -> bool {
        self.status == FactorStatus::Verified
    }
}

/// A challenge issued against a factor: a verification must name it, from the address it was
/// issued to, before it expires, and only once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorChallenge {
    /// Its id.
    pub id: super::ChallengeId,
    /// The factor it challenges.
    pub factor_id: FactorId,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// The client address it was issued to, as the HTTP adapter determined it.
    pub ip: Option<String>,
    /// When a verification used it; `None` while unused.
    pub verified_at: Option<DateTime<Utc>>,
}

/// What the store checks before it adds a factor (see `FactorStore::enroll_factor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnrollRules {
    /// Most factors a user may have, unverified ones included.
    pub max_enrolled: u32,
    /// Most verified factors a user may have.
    pub max_verified: u32,
    /// The user's unverified factors neither created nor challenged since then are deleted
    /// first (abandoned enrollments).
    pub abandoned_before: DateTime<Utc>,
}

/// Why the store did not add a factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enrollment {
    /// It was stored.
    Enrolled,
    /// Another factor of the user has the same friendly name.
    NameTaken,
    /// The user has as many factors (or verified factors) as the rules allow.
    TooMany,
    /// The user has a factor of this kind already, of which there is one per user (recovery
    /// codes).
    AlreadyEnrolled,
}

/// What became of a rename (see `FactorStore::rename_factor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactorRename {
    /// Done: the factor as stored now.
    Renamed(Factor),
    /// Another factor of the user has this name.
    NameTaken,
    /// The user has no such factor.
    NotFound,
}

/// A verification the use case found right, for the store to carry out atomically (see
/// `FactorStore::verify_factor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorVerification {
    /// The user.
    pub user_id: UserId,
    /// The factor verified.
    pub factor_id: FactorId,
    /// The challenge the code answered.
    pub challenge_id: super::ChallengeId,
    /// The time step the code belongs to.
    pub step: i64,
    /// The session to raise to aal2.
    pub session_id: SessionId,
    /// The session's new refresh token; every earlier one of the session is revoked.
    pub refresh_token: TokenDigest,
    /// Now.
    pub at: DateTime<Utc>,
}

/// What became of a [`FactorVerification`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerificationOutcome {
    /// Done: the session as stored now (aal2).
    Verified(super::Session),
    /// The challenge was used already (by a concurrent verification, say).
    ChallengeUsed,
    /// A code of this time step (or a later one) was accepted before.
    CodeReused,
    /// The factor, the challenge or a live session is gone.
    NotFound,
}

/// The second factor a session was raised to aal2 with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaProof {
    /// The factor.
    pub factor_id: FactorId,
    /// Its kind (for the `amr` method).
    pub factor_type: FactorType,
    /// When it was last verified in this session.
    pub verified_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_forms_round_trip() {
        for t in [FactorType::Totp, FactorType::RecoveryCode] {
            assert_eq!(FactorType::parse(t.as_str()), Some(t));
        }
        for s in [FactorStatus::Unverified, FactorStatus::Verified] {
            assert_eq!(FactorStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(FactorType::parse("webauthn"), None);
    }

    #[test]
    fn sealed_secret_debug_is_redacted() {
        assert_eq!(format!("{:?}", SealedSecret::new("JBSWY3DPEHPK3PXP")), "SealedSecret(..)");
    }
}
