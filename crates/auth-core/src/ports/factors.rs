use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::{
    ChallengeId, EnrollRules, Enrollment, Factor, FactorChallenge, FactorId, FactorRename, FactorVerification,
    RecoveryCodeCount, RecoveryCodeUse, TokenDigest, UserId, VerificationOutcome,
};

/// Persistence of second factors and their challenges.
///
/// Every method is atomic: it either completes or writes nothing. Deleting a user deletes its
/// factors and their challenges with it.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait FactorStore: Send + Sync {
    /// Adds `factor` to its user's factors under `rules`, in one step under the user's lock.
    ///
    /// - MUST first delete the user's unverified factors created and last challenged before
    ///   `rules.abandoned_before` (abandoned enrollments), with their challenges.
    /// - MUST then answer [`Enrollment::NameTaken`], writing nothing more, when another factor of
    ///   the user has the same non-empty friendly name (verified or not), and
    ///   [`Enrollment::TooMany`] when the user has `max_enrolled` factors or `max_verified`
    ///   verified ones.
    /// - Of concurrent enrollments of one user, the limits MUST hold for all of them together.
    /// - MUST fail with [`StoreError::NotFound`] when the user does not exist.
    async fn enroll_factor(&self, factor: &Factor, rules: &EnrollRules) -> Result<Enrollment, StoreError>;

    /// The user's factors, verified or not, oldest first.
    async fn list_factors(&self, user: UserId) -> Result<Vec<Factor>, StoreError>;

    /// The factors of every user in `users`, verified or not, oldest first (each user's in the
    /// order `list_factors` gives them); users without factors, or unknown, add nothing.
    async fn list_factors_of(&self, users: &[UserId]) -> Result<Vec<Factor>, StoreError>;

    /// Renames the factor `id` of `user` to `friendly_name` and sets its `updated_at` to `at`,
    /// under the user's lock: [`FactorRename::Renamed`] with the factor as stored now;
    /// [`FactorRename::NameTaken`] when another factor of the user has the same non-empty name,
    /// and [`FactorRename::NotFound`] when the user has no such factor, each writing nothing.
    async fn rename_factor(
        &self,
        user: UserId,
        id: FactorId,
        friendly_name: &str,
        at: DateTime<Utc>,
    ) -> Result<FactorRename, StoreError>;

    /// The factor `id` if it belongs to `user`.
    async fn find_factor(&self, user: UserId, id: FactorId) -> Result<Option<Factor>, StoreError>;

    /// Stores a new challenge and sets its factor's `last_challenged_at` to its `created_at`.
    ///
    /// - MUST fail with [`StoreError::NotFound`] when the factor does not exist.
    async fn create_challenge(&self, challenge: &FactorChallenge) -> Result<(), StoreError>;

    /// The challenge `id` if it was issued against `factor`.
    async fn find_challenge(&self, factor: FactorId, id: ChallengeId) -> Result<Option<FactorChallenge>, StoreError>;

    /// Carries out a verification the caller found right, in one atomic step under the factor's
    /// lock:
    ///
    /// - [`VerificationOutcome::NotFound`] when the factor is not the user's, the challenge is not
    ///   the factor's, or the session is not a live session of the user; then
    ///   [`VerificationOutcome::ChallengeUsed`] when the challenge has a `verified_at`; then
    ///   [`VerificationOutcome::CodeReused`] when the factor's `last_used_step` is at or after
    ///   `step`. Each writes nothing.
    /// - Otherwise MUST set the challenge's `verified_at`, the factor's status to verified, its
    ///   `last_used_step` to `step` and `updated_at`; raise the session to aal2 with this factor
    ///   (`Session::mfa`, verified at `at`); revoke every refresh token of the session and store
    ///   `refresh_token` as its one live token (so a token issued at aal1 cannot mint aal2);
    ///   delete the user's other unverified factors of the same type; revoke the user's other
    ///   live aal1 sessions with their tokens. Answers the session as stored now.
    /// - Of concurrent verifications with one challenge, or with codes of one step, exactly one
    ///   MUST succeed.
    async fn verify_factor(&self, verification: &FactorVerification) -> Result<VerificationOutcome, StoreError>;

    /// Adds `factor`, a verified factor of type `recovery_code`, with the digests of its codes,
    /// in one step under the user's lock.
    ///
    /// - MUST answer [`Enrollment::AlreadyEnrolled`] when the user has a `recovery_code` factor,
    ///   then [`Enrollment::NameTaken`] as `enroll_factor` does, writing nothing for either.
    /// - Of concurrent calls for one user, at most one MUST store a factor.
    /// - MUST fail with [`StoreError::NotFound`] when the user does not exist.
    async fn create_recovery_codes(&self, factor: &Factor, codes: &[TokenDigest]) -> Result<Enrollment, StoreError>;

    /// Replaces every code of `user`'s `recovery_code` factor `factor` by `codes` (the old ones,
    /// used or not, stop working) and sets its `updated_at` to `at`; answers `false`, writing
    /// nothing, when the user has no such factor.
    async fn replace_recovery_codes(
        &self,
        user: UserId,
        factor: FactorId,
        codes: &[TokenDigest],
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// How many codes the factor `factor` has and how many are unused (zeros for no factor).
    async fn count_recovery_codes(&self, factor: FactorId) -> Result<RecoveryCodeCount, StoreError>;

    /// Spends a recovery code and raises the session with it, in one atomic step under the
    /// factor's lock:
    ///
    /// - [`VerificationOutcome::NotFound`] when the factor is not the user's `recovery_code`
    ///   factor or the session is not a live session of the user; then
    ///   [`VerificationOutcome::CodeReused`] when the factor has no unused code with digest
    ///   `code` (wrong or used). Each writes nothing.
    /// - Otherwise MUST mark the code used at `at`, then do to the session, its tokens and the
    ///   user's other aal1 sessions what `verify_factor` does. Answers the session as stored now.
    /// - Of concurrent uses of one code, exactly one MUST succeed.
    async fn use_recovery_code(&self, code: &RecoveryCodeUse) -> Result<VerificationOutcome, StoreError>;

    /// Deletes the factor `id` of `user` with its challenges (and recovery codes), and lowers
    /// every session raised with it back to aal1 (`mfa` cleared); answers the deleted factor, or `None` when `user`
    /// has no such factor.
    async fn delete_factor(&self, user: UserId, id: FactorId) -> Result<Option<Factor>, StoreError>;

    /// Deletes up to `limit` challenges that expired before `before` and up to `limit`
    /// unverified factors created and last challenged before `before`; answers how many rows.
    ///
    /// - MUST NOT wait for rows another transaction holds.
    async fn prune_factors(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError>;
}
