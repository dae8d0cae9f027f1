//! The memory store's `FactorStore`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{MemoryStore, State};
use crate::domain::{
    Aal, ChallengeId, EnrollRules, Enrollment, Factor, FactorChallenge, FactorId, FactorRename, FactorStatus,
    FactorType, FactorVerification, MfaProof, RecoveryCodeCount, RecoveryCodeUse, RefreshTokenRecord, Session,
    SessionId, TokenDigest, UserId, VerificationOutcome,
};
use crate::ports::{FactorStore, StoreError};

/// One stored recovery code: its digest, and when it was used.
#[derive(Debug, Clone)]
pub(super) struct StoredRecoveryCode {
    factor_id: FactorId,
    digest: TokenDigest,
    used_at: Option<DateTime<Utc>>,
}

impl State {
    /// Deletes the factors `doomed` selects, their challenges and their recovery codes.
    pub(super) fn delete_factors_where(&mut self, doomed: impl Fn(&Factor) -> bool) {
        let ids: Vec<FactorId> = self.factors.iter().filter(|f| doomed(f)).map(|f| f.id).collect();
        self.factors.retain(|f| !ids.contains(&f.id));
        self.challenges.retain(|c| !ids.contains(&c.factor_id));
        self.recovery_codes.retain(|c| !ids.contains(&c.factor_id));
    }

    /// Stores `codes` as the unused codes of `factor`.
    fn add_recovery_codes(&mut self, factor: FactorId, codes: &[TokenDigest]) {
        let stored =
            codes.iter().map(|digest| StoredRecoveryCode { factor_id: factor, digest: *digest, used_at: None });
        self.recovery_codes.extend(stored);
    }

    /// The live session `id` of `user`, if there is one.
    fn live_session(&self, user: UserId, id: SessionId) -> Option<&Session> {
        self.sessions.get(&id).filter(|s| s.user_id == user && s.revoked_at.is_none())
    }

    /// Raises the session to aal2 with `proof`, makes `refresh_token` its one live token and
    /// ends the user's other aal1 sessions (see `FactorStore::verify_factor`).
    fn raise_session(
        &mut self,
        user: UserId,
        id: SessionId,
        proof: MfaProof,
        refresh_token: TokenDigest,
        at: DateTime<Utc>,
    ) -> Result<Session, StoreError> {
        let session = self.sessions.get_mut(&id).ok_or(StoreError::NotFound)?;
        session.aal = Aal::Aal2;
        session.mfa = Some(proof);
        let session = session.clone();
        for token in self.tokens.iter_mut().filter(|t| t.session_id == id && t.revoked_at.is_none()) {
            token.revoked_at = Some(at);
        }
        self.next_token_id += 1;
        let record = RefreshTokenRecord {
            id: self.next_token_id,
            session_id: id,
            digest: refresh_token,
            parent: None,
            created_at: at,
            used_at: None,
            revoked_at: None,
        };
        self.tokens.push(record);
        let aal1: Vec<SessionId> = self
            .sessions
            .values()
            .filter(|s| s.user_id == user && s.id != id && s.revoked_at.is_none() && s.aal == Aal::Aal1)
            .map(|s| s.id)
            .collect();
        for other in aal1 {
            self.revoke_family(other, at);
        }
        Ok(session)
    }

    fn factor_mut(&mut self, id: FactorId) -> Option<&mut Factor> {
        self.factors.iter_mut().find(|f| f.id == id)
    }
}

/// Whether an unverified factor was abandoned before `before`.
fn abandoned(factor: &Factor, before: DateTime<Utc>) -> bool {
    !factor.is_verified() && factor.last_challenged_at.unwrap_or(factor.created_at) < before
}

#[async_trait]
impl FactorStore for MemoryStore {
    async fn enroll_factor(&self, factor: &Factor, rules: &EnrollRules) -> Result<Enrollment, StoreError> {
        let mut state = self.state()?;
        if !state.users.contains_key(&factor.user_id) {
            return Err(StoreError::NotFound);
        }
        let user = factor.user_id;
        state.delete_factors_where(|f| f.user_id == user && abandoned(f, rules.abandoned_before));
        let mine: Vec<&Factor> = state.factors.iter().filter(|f| f.user_id == user).collect();
        if !factor.friendly_name.is_empty() && mine.iter().any(|f| f.friendly_name == factor.friendly_name) {
            return Ok(Enrollment::NameTaken);
        }
        let verified = mine.iter().filter(|f| f.is_verified()).count();
        if mine.len() >= rules.max_enrolled as usize || verified >= rules.max_verified as usize {
            return Ok(Enrollment::TooMany);
        }
        state.factors.push(factor.clone());
        Ok(Enrollment::Enrolled)
    }

    async fn list_factors(&self, user: UserId) -> Result<Vec<Factor>, StoreError> {
        let mut factors: Vec<Factor> = self.state()?.factors.iter().filter(|f| f.user_id == user).cloned().collect();
        factors.sort_by_key(|f| (f.created_at, f.id));
        Ok(factors)
    }

    async fn list_factors_of(&self, users: &[UserId]) -> Result<Vec<Factor>, StoreError> {
        let mut factors: Vec<Factor> =
            self.state()?.factors.iter().filter(|f| users.contains(&f.user_id)).cloned().collect();
        factors.sort_by_key(|f| (f.created_at, f.id));
        Ok(factors)
    }

    async fn rename_factor(
        &self,
        user: UserId,
        id: FactorId,
        friendly_name: &str,
        at: DateTime<Utc>,
    ) -> Result<FactorRename, StoreError> {
        let mut state = self.state()?;
        let mine: Vec<&Factor> = state.factors.iter().filter(|f| f.user_id == user).collect();
        if !mine.iter().any(|f| f.id == id) {
            return Ok(FactorRename::NotFound);
        }
        if !friendly_name.is_empty() && mine.iter().any(|f| f.id != id && f.friendly_name == friendly_name) {
            return Ok(FactorRename::NameTaken);
        }
        let factor = state.factor_mut(id).ok_or(StoreError::NotFound)?;
        factor.friendly_name = friendly_name.to_owned();
        factor.updated_at = at;
        Ok(FactorRename::Renamed(factor.clone()))
    }

    async fn find_factor(&self, user: UserId, id: FactorId) -> Result<Option<Factor>, StoreError> {
        Ok(self.state()?.factors.iter().find(|f| f.id == id && f.user_id == user).cloned())
    }

    async fn create_challenge(&self, challenge: &FactorChallenge) -> Result<(), StoreError> {
        let mut state = self.state()?;
        let factor = state.factor_mut(challenge.factor_id).ok_or(StoreError::NotFound)?;
        factor.last_challenged_at = Some(challenge.created_at);
        state.challenges.push(challenge.clone());
        Ok(())
    }

    async fn find_challenge(&self, factor: FactorId, id: ChallengeId) -> Result<Option<FactorChallenge>, StoreError> {
        Ok(self.state()?.challenges.iter().find(|c| c.id == id && c.factor_id == factor).cloned())
    }

    async fn verify_factor(&self, v: &FactorVerification) -> Result<VerificationOutcome, StoreError> {
        let mut state = self.state()?;
        let Some(factor) = state.factors.iter().find(|f| f.id == v.factor_id && f.user_id == v.user_id).cloned() else {
            return Ok(VerificationOutcome::NotFound);
        };
        let Some(challenge) = state.challenges.iter().find(|c| c.id == v.challenge_id && c.factor_id == factor.id)
        else {
            return Ok(VerificationOutcome::NotFound);
        };
        if state.live_session(v.user_id, v.session_id).is_none() {
            return Ok(VerificationOutcome::NotFound);
        }
        if challenge.verified_at.is_some() {
            return Ok(VerificationOutcome::ChallengeUsed);
        }
        if factor.last_used_step.is_some_and(|last| last >= v.step) {
            return Ok(VerificationOutcome::CodeReused);
        }
        if let Some(challenge) = state.challenges.iter_mut().find(|c| c.id == v.challenge_id) {
            challenge.verified_at = Some(v.at);
        }
        if let Some(stored) = state.factor_mut(factor.id) {
            stored.status = FactorStatus::Verified;
            stored.last_used_step = Some(v.step);
            stored.updated_at = v.at;
        }
        let proof = MfaProof { factor_id: factor.id, factor_type: factor.factor_type, verified_at: v.at };
        let session = state.raise_session(v.user_id, v.session_id, proof, v.refresh_token, v.at)?;
        let (user, kind, id) = (v.user_id, factor.factor_type, factor.id);
        state.delete_factors_where(|f| f.user_id == user && f.factor_type == kind && f.id != id && !f.is_verified());
        Ok(VerificationOutcome::Verified(session))
    }

    async fn create_recovery_codes(&self, factor: &Factor, codes: &[TokenDigest]) -> Result<Enrollment, StoreError> {
        let mut state = self.state()?;
        if !state.users.contains_key(&factor.user_id) {
            return Err(StoreError::NotFound);
        }
        let mine: Vec<&Factor> = state.factors.iter().filter(|f| f.user_id == factor.user_id).collect();
        if mine.iter().any(|f| f.factor_type == FactorType::RecoveryCode) {
            return Ok(Enrollment::AlreadyEnrolled);
        }
        if !factor.friendly_name.is_empty() && mine.iter().any(|f| f.friendly_name == factor.friendly_name) {
            return Ok(Enrollment::NameTaken);
        }
        state.factors.push(factor.clone());
        state.add_recovery_codes(factor.id, codes);
        Ok(Enrollment::Enrolled)
    }

    async fn replace_recovery_codes(
        &self,
        user: UserId,
        factor: FactorId,
        codes: &[TokenDigest],
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        let mine = |f: &&mut Factor| f.user_id == user && f.factor_type == FactorType::RecoveryCode;
        let Some(stored) = state.factor_mut(factor).filter(mine) else { return Ok(false) };
        stored.updated_at = at;
        state.recovery_codes.retain(|c| c.factor_id != factor);
        state.add_recovery_codes(factor, codes);
        Ok(true)
    }

    async fn count_recovery_codes(&self, factor: FactorId) -> Result<RecoveryCodeCount, StoreError> {
        let state = self.state()?;
        let codes: Vec<&StoredRecoveryCode> = state.recovery_codes.iter().filter(|c| c.factor_id == factor).collect();
        let remaining = codes.iter().filter(|c| c.used_at.is_none()).count();
        Ok(RecoveryCodeCount { total: codes.len() as u32, remaining: remaining as u32 })
    }

    async fn use_recovery_code(&self, u: &RecoveryCodeUse) -> Result<VerificationOutcome, StoreError> {
        let mut state = self.state()?;
        let mine = |f: &&Factor| f.id == u.factor_id && f.user_id == u.user_id;
        let Some(factor) = state.factors.iter().find(mine).filter(|f| f.factor_type == FactorType::RecoveryCode) else {
            return Ok(VerificationOutcome::NotFound);
        };
        let proof = MfaProof { factor_id: factor.id, factor_type: factor.factor_type, verified_at: u.at };
        if state.live_session(u.user_id, u.session_id).is_none() {
            return Ok(VerificationOutcome::NotFound);
        }
        let unused =
            |c: &&mut StoredRecoveryCode| c.factor_id == u.factor_id && c.digest == u.code && c.used_at.is_none();
        let Some(code) = state.recovery_codes.iter_mut().find(unused) else {
            return Ok(VerificationOutcome::CodeReused);
        };
        code.used_at = Some(u.at);
        let session = state.raise_session(u.user_id, u.session_id, proof, u.refresh_token, u.at)?;
        Ok(VerificationOutcome::Verified(session))
    }

    async fn delete_factor(&self, user: UserId, id: FactorId) -> Result<Option<Factor>, StoreError> {
        let mut state = self.state()?;
        let Some(factor) = state.factors.iter().find(|f| f.id == id && f.user_id == user).cloned() else {
            return Ok(None);
        };
        state.delete_factors_where(|f| f.id == id);
        for session in state.sessions.values_mut().filter(|s| s.mfa.as_ref().is_some_and(|m| m.factor_id == id)) {
            session.aal = Aal::Aal1;
            session.mfa = None;
        }
        Ok(Some(factor))
    }

    async fn prune_factors(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError> {
        let mut state = self.state()?;
        let limit = limit as usize;
        let expired: Vec<ChallengeId> =
            state.challenges.iter().filter(|c| c.expires_at < before).take(limit).map(|c| c.id).collect();
        state.challenges.retain(|c| !expired.contains(&c.id));
        let stale: Vec<FactorId> =
            state.factors.iter().filter(|f| abandoned(f, before)).take(limit).map(|f| f.id).collect();
        state.delete_factors_where(|f| stale.contains(&f.id));
        Ok((expired.len() + stale.len()) as u64)
    }
}
