//! Multi-factor authentication: enrolling a TOTP factor, challenging and verifying it (which
//! raises the session to aal2), unenrolling it, and an operator's view of a user's factors.

use chrono::Duration;
use serde_json::json;

use super::{AuthService, IssuedSession, Principal};
use crate::domain::{
    Aal, Actor, AuditAction, ChallengeId, EnrollRules, Enrollment, FRIENDLY_NAME_MAX_LEN, Factor, FactorChallenge,
    FactorId, FactorRename, FactorStatus, FactorType, FactorVerification, LimitKey, Quota, RefreshToken, UserId,
    VerificationOutcome,
};
use crate::error::{AuthError, MfaError, MissingRow};
use crate::ports::{Admission, Totp, TotpSecret};

/// How second factors behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaSettings {
    /// New TOTP factors may be enrolled.
    pub totp_enroll_enabled: bool,
    /// TOTP factors may be challenged and verified.
    pub totp_verify_enabled: bool,
    /// Most factors a user may have, unverified ones included.
    pub max_enrolled_factors: u32,
    /// Most verified factors a user may have.
    pub max_verified_factors: u32,
    /// How long a challenge can be answered.
    pub challenge_ttl: Duration,
    /// How long an unverified factor that nobody challenges is kept.
    pub factor_ttl: Duration,
    /// The issuer an authenticator app shows when enrollment names none.
    pub issuer: String,
    /// Verification attempts per factor (a burst, then refilled over the window); past it the
    /// factor answers `429` until the window refills, whatever the client's address. Recovery
    /// codes count against their own set the same way.
    pub verify_attempts: Quota,
    /// Users may generate (and regenerate) recovery codes.
    pub recovery_codes_enroll_enabled: bool,
    /// Recovery codes may be used.
    pub recovery_codes_verify_enabled: bool,
    /// Codes in a set of recovery codes.
    pub recovery_code_count: u32,
}

impl Default for MfaSettings {
    fn default() -> Self {
        Self {
            totp_enroll_enabled: true,
            totp_verify_enabled: true,
            max_enrolled_factors: 10,
            max_verified_factors: 10,
            challenge_ttl: Duration::seconds(300),
            factor_ttl: Duration::seconds(300),
            issuer: "authd".into(),
            verify_attempts: Quota { limit: 10, window: std::time::Duration::from_secs(3600) },
            recovery_codes_enroll_enabled: true,
            recovery_codes_verify_enabled: true,
            recovery_code_count: 10,
        }
    }
}

/// Refuses a factor the challenge-and-verify routes do not serve.
fn only_totp(factor: &Factor) -> Result<(), AuthError> {
    match factor.factor_type {
        FactorType::Totp => Ok(()),
        other => Err(MfaError::WrongFactorType(other.as_str()).into()),
    }
}

/// A new TOTP factor and what the user's app needs, shown once.
#[derive(Debug, Clone)]
pub struct TotpEnrollment {
    /// The factor, unverified.
    pub factor: Factor,
    /// The shared secret in base32.
    pub secret: TotpSecret,
    /// The `otpauth://` URI.
    pub uri: String,
    /// The URI as a QR code, SVG markup.
    pub qr_svg: String,
}

impl AuthService {
    /// The TOTP adapter, if this service has one and `enabled` says TOTP is on.
    fn totp(&self, enabled: bool, disabled: MfaError) -> Result<&dyn Totp, AuthError> {
        match &self.ports.totp {
            Some(totp) if enabled => Ok(totp.as_ref()),
            _ => Err(disabled.into()),
        }
    }

    /// The caller's factor `id`, refusing anonymous users.
    pub(super) async fn own_factor(&self, principal: &Principal, id: FactorId) -> Result<Factor, AuthError> {
        if principal.user.is_anonymous {
            return Err(MfaError::AnonymousUser.into());
        }
        let found = self.ports.factors.find_factor(principal.user.id, id).await?;
        found.ok_or(AuthError::Mfa(MfaError::FactorNotFound))
    }

    /// A user's factors, verified or not, oldest first.
    pub async fn user_factors(&self, user: UserId) -> Result<Vec<Factor>, AuthError> {
        Ok(self.ports.factors.list_factors(user).await?)
    }

    /// Begins enrolling a TOTP factor for the caller: a new secret, shown once. Once the user
    /// has a verified factor, another one needs an aal2 session.
    pub async fn enroll_totp(
        &self,
        principal: &Principal,
        friendly_name: Option<String>,
        issuer: Option<String>,
    ) -> Result<TotpEnrollment, AuthError> {
        if principal.user.is_anonymous {
            return Err(MfaError::AnonymousUser.into());
        }
        let settings = &self.settings.mfa;
        let totp = self.totp(settings.totp_enroll_enabled, MfaError::TotpEnrollDisabled)?;
        let name = friendly_name.unwrap_or_default();
        if name.chars().count() > FRIENDLY_NAME_MAX_LEN {
            let message = format!("friendly_name must be {FRIENDLY_NAME_MAX_LEN} characters or less");
            return Err(AuthError::Validation { field: "friendly_name", message });
        }
        let user = &principal.user;
        let factors = self.ports.factors.list_factors(user.id).await?;
        if factors.iter().any(Factor::is_verified) && principal.session.aal != Aal::Aal2 {
            return Err(MfaError::EnrollNeedsAal2.into());
        }
        let now = self.ports.clock.now();
        let id = FactorId::generate(self.ports.random.as_ref())?;
        let issuer = issuer.filter(|i| !i.trim().is_empty()).unwrap_or_else(|| settings.issuer.clone());
        let account = match (&user.email, &user.phone) {
            (Some(email), _) => email.as_str().to_owned(),
            (None, Some(phone)) => phone.as_str().to_owned(),
            (None, None) => user.id.to_string(),
        };
        let provisioning = totp.provision(id, &issuer, &account).map_err(|e| AuthError::Internal(e.to_string()))?;
        let factor = Factor {
            id,
            user_id: user.id,
            friendly_name: name.clone(),
            factor_type: FactorType::Totp,
            status: FactorStatus::Unverified,
            secret: provisioning.sealed,
            created_at: now,
            updated_at: now,
            last_challenged_at: None,
            last_used_step: None,
        };
        let rules = EnrollRules {
            max_enrolled: settings.max_enrolled_factors,
            max_verified: settings.max_verified_factors,
            abandoned_before: now - settings.factor_ttl,
        };
        match self.ports.factors.enroll_factor(&factor, &rules).await.or_missing(AuthError::UserNotFound)? {
            Enrollment::Enrolled => {}
            Enrollment::NameTaken => return Err(MfaError::NameConflict(name).into()),
            Enrollment::TooMany | Enrollment::AlreadyEnrolled => return Err(MfaError::TooManyFactors.into()),
        }
        let details = json!({"factor_id": id.to_string(), "factor_type": "totp"});
        self.audit(AuditAction::FactorEnrolled, Actor::User(user.id), Some(user.id), &principal.client, details).await;
        Ok(TotpEnrollment { factor, secret: provisioning.secret, uri: provisioning.uri, qr_svg: provisioning.qr_svg })
    }

    /// Issues a challenge against the caller's factor, bound to the caller's address.
    pub async fn challenge_factor(&self, principal: &Principal, id: FactorId) -> Result<FactorChallenge, AuthError> {
        let factor = self.own_factor(principal, id).await?;
        only_totp(&factor)?;
        self.totp(self.settings.mfa.totp_verify_enabled, MfaError::TotpVerifyDisabled)?;
        let now = self.ports.clock.now();
        let challenge = FactorChallenge {
            id: ChallengeId::generate(self.ports.random.as_ref())?,
            factor_id: factor.id,
            created_at: now,
            expires_at: now + self.settings.mfa.challenge_ttl,
            ip: principal.client.ip.clone(),
            verified_at: None,
        };
        let gone = AuthError::Mfa(MfaError::FactorNotFound);
        self.ports.factors.create_challenge(&challenge).await.or_missing(gone)?;
        let details = json!({"factor_id": id.to_string(), "challenge_id": challenge.id.to_string()});
        let user = principal.user.id;
        self.audit(AuditAction::FactorChallenged, Actor::User(user), Some(user), &principal.client, details).await;
        Ok(challenge)
    }

    /// Answers a challenge with a TOTP code. Right, the caller's session becomes aal2 in place
    /// (same session, a new refresh token; the one issued at aal1 no longer works), the factor
    /// is verified, and the user's other aal1 sessions end. A challenge works once, a code
    /// once, and each factor takes a limited number of attempts.
    pub async fn verify_factor(
        &self,
        principal: &Principal,
        id: FactorId,
        challenge_id: Option<ChallengeId>,
        code: &str,
    ) -> Result<IssuedSession, AuthError> {
        let factor = self.own_factor(principal, id).await?;
        only_totp(&factor)?;
        let code = code.trim();
        if code.is_empty() {
            return Err(AuthError::Validation { field: "code", message: "Code needs to be non-empty".into() });
        }
        let totp = self.totp(self.settings.mfa.totp_verify_enabled, MfaError::TotpVerifyDisabled)?;
        let challenge = match challenge_id {
            Some(challenge_id) => self.ports.factors.find_challenge(factor.id, challenge_id).await?,
            None => None,
        };
        let challenge = challenge.ok_or(AuthError::Mfa(MfaError::ChallengeNotFound))?;
        if challenge.verified_at.is_some() || challenge.ip != principal.client.ip {
            return Err(self.failed(principal, &factor, MfaError::ChallengeMismatch).await);
        }
        let now = self.ports.clock.now();
        if now > challenge.expires_at {
            return Err(self.failed(principal, &factor, MfaError::ChallengeExpired(challenge.id)).await);
        }
        // Counted before the code is compared, so parallel guesses get no more tries.
        let attempts = LimitKey::new("mfa_verify", &factor.id.to_string());
        let admission = self.limiter.hit(&attempts, self.settings.mfa.verify_attempts).await;
        match admission.map_err(|e| AuthError::Unavailable(e.to_string()))? {
            Admission::Admitted => {}
            Admission::Refused { retry_after } => return Err(AuthError::TooManyAttempts { retry_after }),
        }
        let step = totp.matching_step(factor.id, &factor.secret, code, now);
        let Some(step) = step.map_err(|e| AuthError::Internal(e.to_string()))? else {
            return Err(self.failed(principal, &factor, MfaError::VerificationFailed).await);
        };
        let refresh_token = RefreshToken::generate(self.ports.random.as_ref())?;
        let verification = FactorVerification {
            user_id: principal.user.id,
            factor_id: factor.id,
            challenge_id: challenge.id,
            step,
            session_id: principal.session.id,
            refresh_token: refresh_token.digest(),
            at: now,
        };
        let session = match self.ports.factors.verify_factor(&verification).await? {
            VerificationOutcome::Verified(session) => session,
            VerificationOutcome::ChallengeUsed => {
                return Err(self.failed(principal, &factor, MfaError::ChallengeMismatch).await);
            }
            VerificationOutcome::CodeReused => {
                return Err(self.failed(principal, &factor, MfaError::VerificationFailed).await);
            }
            VerificationOutcome::NotFound => return Err(MfaError::FactorNotFound.into()),
        };
        // A success forgets the failures: they were the user's own typos.
        let _ = self.limiter.forget(&attempts).await;
        let user = principal.user.id;
        let details = json!({"factor_id": id.to_string(), "session_id": session.id.to_string()});
        self.audit(AuditAction::FactorVerified, Actor::User(user), Some(user), &principal.client, details).await;
        self.issue(principal.user.clone(), session, refresh_token, now).await
    }

    /// Audits a failed verification and answers `error`.
    pub(super) async fn failed(&self, principal: &Principal, factor: &Factor, error: MfaError) -> AuthError {
        let user = principal.user.id;
        let details = json!({"factor_id": factor.id.to_string(), "error_code": error.code()});
        let action = AuditAction::FactorVerificationFailed;
        self.audit(action, Actor::User(user), Some(user), &principal.client, details).await;
        error.into()
    }

    /// Removes one of the caller's factors; a verified one only from an aal2 session. Sessions
    /// raised with it go back to aal1 (their access tokens keep their claims until refreshed).
    pub async fn unenroll_factor(&self, principal: &Principal, id: FactorId) -> Result<Factor, AuthError> {
        let factor = self.own_factor(principal, id).await?;
        if factor.is_verified() && principal.session.aal != Aal::Aal2 {
            return Err(MfaError::UnenrollNeedsAal2.into());
        }
        let user = principal.user.id;
        let deleted = self.ports.factors.delete_factor(user, id).await?;
        let deleted = deleted.ok_or(AuthError::Mfa(MfaError::FactorNotFound))?;
        let details = json!({"factor_id": id.to_string(), "factor_type": deleted.factor_type.as_str()});
        self.audit(AuditAction::FactorUnenrolled, Actor::User(user), Some(user), &principal.client, details).await;
        Ok(deleted)
    }

    /// An operator's list of a user's factors.
    pub async fn admin_list_factors(&self, user: UserId) -> Result<Vec<Factor>, AuthError> {
        self.ports.users.find_user(user).await?.ok_or(AuthError::UserNotFound)?;
        self.user_factors(user).await
    }

    /// The factors of each of `users` (for an operator's list of users).
    pub async fn factors_of(&self, users: &[UserId]) -> Result<Vec<Factor>, AuthError> {
        Ok(self.ports.factors.list_factors_of(users).await?)
    }

    /// An operator renames a user's factor.
    pub async fn admin_update_factor(
        &self,
        user: UserId,
        id: FactorId,
        friendly_name: &str,
        client: &super::ClientInfo,
    ) -> Result<Factor, AuthError> {
        let name = friendly_name.trim();
        if name.chars().count() > FRIENDLY_NAME_MAX_LEN {
            let message = format!("friendly_name must be {FRIENDLY_NAME_MAX_LEN} characters or less");
            return Err(AuthError::Validation { field: "friendly_name", message });
        }
        self.ports.users.find_user(user).await?.ok_or(AuthError::UserNotFound)?;
        let now = self.ports.clock.now();
        let factor = match self.ports.factors.rename_factor(user, id, name, now).await? {
            FactorRename::Renamed(factor) => factor,
            FactorRename::NameTaken => return Err(MfaError::NameConflict(name.to_owned()).into()),
            FactorRename::NotFound => return Err(MfaError::FactorNotFound.into()),
        };
        let details = json!({"factor_id": id.to_string(), "friendly_name": name});
        self.audit(AuditAction::AdminFactorUpdated, Actor::Admin, Some(user), client, details).await;
        Ok(factor)
    }

    /// An operator removes a user's factor; sessions raised with it go back to aal1.
    pub async fn admin_delete_factor(
        &self,
        user: UserId,
        id: FactorId,
        client: &super::ClientInfo,
    ) -> Result<Factor, AuthError> {
        self.ports.users.find_user(user).await?.ok_or(AuthError::UserNotFound)?;
        let deleted = self.ports.factors.delete_factor(user, id).await?;
        let deleted = deleted.ok_or(AuthError::Mfa(MfaError::FactorNotFound))?;
        let details = json!({"factor_id": id.to_string(), "factor_type": deleted.factor_type.as_str()});
        self.audit(AuditAction::AdminFactorDeleted, Actor::Admin, Some(user), client, details).await;
        Ok(deleted)
    }
}
