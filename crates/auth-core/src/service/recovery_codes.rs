//! MFA recovery codes: generating a set (shown once, stored as digests), its status,
//! regenerating it, and spending one code, which raises the session to aal2 like a verified
//! factor. A set is never a user's only factor when it is made.

use serde_json::json;

use super::{AuthService, IssuedSession, Principal};
use crate::domain::{
    Aal, Actor, AuditAction, Enrollment, FRIENDLY_NAME_MAX_LEN, Factor, FactorId, FactorStatus, FactorType, LimitKey,
    RecoveryCode, RecoveryCodeCount, RecoveryCodeUse, RefreshToken, SealedSecret, TokenDigest, VerificationOutcome,
};
use crate::error::{AuthError, MfaError, MissingRow};
use crate::ports::Admission;

/// The name a set gets when the user gives none.
const DEFAULT_NAME: &str = "Recovery codes";

/// A new set of recovery codes, shown once.
#[derive(Debug, Clone)]
pub struct RecoveryCodeSet {
    /// The `recovery_code` factor.
    pub factor: Factor,
    /// The codes in canonical form.
    pub codes: Vec<RecoveryCode>,
}

/// The status of a user's recovery codes.
#[derive(Debug, Clone)]
pub struct RecoveryCodeStatus {
    /// The `recovery_code` factor.
    pub factor: Factor,
    /// How many codes, and how many unused.
    pub count: RecoveryCodeCount,
}

impl AuthService {
    /// The caller's recovery-code factor, refusing anonymous users.
    async fn own_recovery_codes(&self, principal: &Principal) -> Result<Option<Factor>, AuthError> {
        if principal.user.is_anonymous {
            return Err(MfaError::AnonymousUser.into());
        }
        let factors = self.ports.factors.list_factors(principal.user.id).await?;
        Ok(factors.into_iter().find(|f| f.factor_type == FactorType::RecoveryCode))
    }

    /// `count` new codes and their digests under `factor`.
    fn draw_codes(&self, factor: FactorId) -> Result<(Vec<RecoveryCode>, Vec<TokenDigest>), AuthError> {
        let count = self.settings.mfa.recovery_code_count as usize;
        let codes =
            (0..count).map(|_| RecoveryCode::generate(self.ports.random.as_ref())).collect::<Result<Vec<_>, _>>()?;
        let digests = codes.iter().map(|c| c.digest(factor)).collect();
        Ok((codes, digests))
    }

    /// Refuses unless recovery codes may be made and the caller's session is aal2.
    fn may_make_codes(&self, principal: &Principal) -> Result<(), AuthError> {
        if !self.settings.mfa.recovery_codes_enroll_enabled {
            return Err(MfaError::RecoveryCodesEnrollDisabled.into());
        }
        if principal.session.aal != Aal::Aal2 {
            return Err(MfaError::EnrollNeedsAal2.into());
        }
        Ok(())
    }

    /// Generates the caller's set of recovery codes. It needs an aal2 session and another
    /// verified factor, and there is one set per user (regenerate replaces it).
    pub async fn generate_recovery_codes(
        &self,
        principal: &Principal,
        friendly_name: Option<String>,
    ) -> Result<RecoveryCodeSet, AuthError> {
        if principal.user.is_anonymous {
            return Err(MfaError::AnonymousUser.into());
        }
        if !self.settings.mfa.recovery_codes_enroll_enabled {
            return Err(MfaError::RecoveryCodesEnrollDisabled.into());
        }
        let name = friendly_name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| DEFAULT_NAME.into());
        if name.chars().count() > FRIENDLY_NAME_MAX_LEN {
            let message = format!("friendly_name must be {FRIENDLY_NAME_MAX_LEN} characters or less");
            return Err(AuthError::Validation { field: "friendly_name", message });
        }
        let user = &principal.user;
        let factors = self.ports.factors.list_factors(user.id).await?;
        if factors.iter().any(|f| f.factor_type == FactorType::RecoveryCode) {
            return Err(MfaError::RecoveryCodesExist.into());
        }
        // Without another verified factor the session cannot be aal2 either; this says why.
        if !factors.iter().any(Factor::is_verified) {
            return Err(MfaError::RecoveryCodesSoleFactor.into());
        }
        self.may_make_codes(principal)?;
        let now = self.ports.clock.now();
        let id = FactorId::generate(self.ports.random.as_ref())?;
        let factor = Factor {
            id,
            user_id: user.id,
            friendly_name: name.clone(),
            factor_type: FactorType::RecoveryCode,
            status: FactorStatus::Verified,
            secret: SealedSecret::new(""),
            created_at: now,
            updated_at: now,
            last_challenged_at: None,
            last_used_step: None,
        };
        let (codes, digests) = self.draw_codes(id)?;
        match self.ports.factors.create_recovery_codes(&factor, &digests).await.or_missing(AuthError::UserNotFound)? {
            Enrollment::Enrolled => {}
            Enrollment::NameTaken => return Err(MfaError::NameConflict(name).into()),
            Enrollment::AlreadyEnrolled | Enrollment::TooMany => return Err(MfaError::RecoveryCodesExist.into()),
        }
        let details = json!({"factor_id": id.to_string(), "factor_type": "recovery_code", "codes": codes.len()});
        self.audit(AuditAction::FactorEnrolled, Actor::User(user.id), Some(user.id), &principal.client, details).await;
        Ok(RecoveryCodeSet { factor, codes })
    }

    /// How many recovery codes the caller has and how many are unused (never the codes).
    pub async fn recovery_code_status(&self, principal: &Principal) -> Result<RecoveryCodeStatus, AuthError> {
        let factor = self.own_recovery_codes(principal).await?.ok_or(MfaError::FactorNotFound)?;
        let count = self.ports.factors.count_recovery_codes(factor.id).await?;
        Ok(RecoveryCodeStatus { factor, count })
    }

    /// Replaces the caller's recovery codes with a new set (same factor); the old codes stop
    /// working and the set's lockout is lifted. Needs an aal2 session.
    pub async fn regenerate_recovery_codes(&self, principal: &Principal) -> Result<RecoveryCodeSet, AuthError> {
        let factor = self.own_recovery_codes(principal).await?;
        self.may_make_codes(principal)?;
        let mut factor = factor.ok_or(MfaError::FactorNotFound)?;
        let (codes, digests) = self.draw_codes(factor.id)?;
        let now = self.ports.clock.now();
        let user = principal.user.id;
        if !self.ports.factors.replace_recovery_codes(user, factor.id, &digests, now).await? {
            return Err(MfaError::FactorNotFound.into());
        }
        let _ = self.limiter.forget(&attempts(factor.id)).await;
        factor.updated_at = now;
        let details = json!({"factor_id": factor.id.to_string(), "codes": codes.len()});
        let action = AuditAction::RecoveryCodesRegenerated;
        self.audit(action, Actor::User(user), Some(user), &principal.client, details).await;
        Ok(RecoveryCodeSet { factor, codes })
    }

    /// Removes the caller's recovery codes. Needs an aal2 session.
    pub async fn unenroll_recovery_codes(&self, principal: &Principal) -> Result<Factor, AuthError> {
        let factor = self.own_recovery_codes(principal).await?.ok_or(MfaError::FactorNotFound)?;
        self.unenroll_factor(principal, factor.id).await
    }

    /// Spends one of the caller's recovery codes (as typed: case, spaces and `-` ignored). Right,
    /// the session becomes aal2 in place exactly as after a verified factor. Wrong codes count
    /// against the set; past the limit it answers `429` for a while.
    pub async fn verify_recovery_code(&self, principal: &Principal, typed: &str) -> Result<IssuedSession, AuthError> {
        let factor = self.own_recovery_codes(principal).await?;
        if !self.settings.mfa.recovery_codes_verify_enabled {
            return Err(MfaError::RecoveryCodesVerifyDisabled.into());
        }
        if typed.trim().is_empty() {
            return Err(AuthError::Validation { field: "code", message: "Code needs to be non-empty".into() });
        }
        // A user without codes gets the answer of a wrong code, counted nowhere.
        let Some(factor) = factor else { return Err(MfaError::RecoveryCodeRejected.into()) };
        // Counted before the code is compared, so parallel guesses get no more tries.
        let attempts = attempts(factor.id);
        let admission = self.limiter.hit(&attempts, self.settings.mfa.verify_attempts).await;
        match admission.map_err(|e| AuthError::Unavailable(e.to_string()))? {
            Admission::Admitted => {}
            Admission::Refused { retry_after } => {
                return Err(self.failed(principal, &factor, MfaError::RecoveryCodesLocked { retry_after }).await);
            }
        }
        let Some(code) = RecoveryCode::typed(typed) else {
            return Err(self.failed(principal, &factor, MfaError::RecoveryCodeRejected).await);
        };
        let now = self.ports.clock.now();
        let refresh_token = RefreshToken::generate(self.ports.random.as_ref())?;
        let spend = RecoveryCodeUse {
            user_id: principal.user.id,
            factor_id: factor.id,
            code: code.digest(factor.id),
            session_id: principal.session.id,
            refresh_token: refresh_token.digest(),
            at: now,
        };
        let session = match self.ports.factors.use_recovery_code(&spend).await? {
            VerificationOutcome::Verified(session) => session,
            VerificationOutcome::CodeReused | VerificationOutcome::ChallengeUsed => {
                return Err(self.failed(principal, &factor, MfaError::RecoveryCodeRejected).await);
            }
            VerificationOutcome::NotFound => return Err(MfaError::FactorNotFound.into()),
        };
        let _ = self.limiter.forget(&attempts).await;
        let remaining = self.ports.factors.count_recovery_codes(factor.id).await.map(|c| c.remaining).ok();
        let user = principal.user.id;
        let details = json!({
            "factor_id": factor.id.to_string(),
            "factor_type": "recovery_code",
            "session_id": session.id.to_string(),
            "remaining": remaining,
        });
        self.audit(AuditAction::FactorVerified, Actor::User(user), Some(user), &principal.client, details).await;
        self.issue(principal.user.clone(), session, refresh_token, now).await
    }
}

/// The limiter key counting wrong codes of a set.
fn attempts(factor: FactorId) -> LimitKey {
    LimitKey::new("mfa_verify", &factor.to_string())
}
