//! `FactorStore`, written once for both backends.

use async_trait::async_trait;
use auth_core::domain::{
    Aal, ChallengeId, EnrollRules, Enrollment, Factor, FactorChallenge, FactorId, FactorRename, FactorStatus,
    FactorType, FactorVerification, MfaProof, RecoveryCodeCount, RecoveryCodeUse, Session, TokenDigest, UserId,
    VerificationOutcome,
};
use auth_core::ports::{FactorStore, StoreError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel_async::RunQueryDsl;

use super::super::{Conn, DbUuid, Store, db_uuid};
use super::factor_rows::{ChallengeRow, FactorRow, RecoveryCodeRow};
use super::internal;
use super::rows::{SessionRow, TokenRow};
use super::schema::{mfa_challenges, mfa_factors, mfa_recovery_codes, refresh_tokens, sessions, users};

/// Deletes the factors `ids`, their challenges and recovery codes, inside the caller's
/// transaction.
async fn delete_factors(c: &mut Conn, ids: &[DbUuid]) -> QueryResult<usize> {
    diesel::delete(mfa_challenges::table.filter(mfa_challenges::factor_id.eq_any(ids))).execute(c).await?;
    diesel::delete(mfa_recovery_codes::table.filter(mfa_recovery_codes::factor_id.eq_any(ids))).execute(c).await?;
    diesel::delete(mfa_factors::table.filter(mfa_factors::id.eq_any(ids))).execute(c).await
}

/// Stores recovery codes, one statement each (SQLite's diesel backend takes no batch insert).
async fn insert_codes(c: &mut Conn, codes: &[RecoveryCodeRow]) -> QueryResult<()> {
    for code in codes {
        diesel::insert_into(mfa_recovery_codes::table).values(code).execute(c).await?;
    }
    Ok(())
}

/// The live session `id` of `user`, locked, inside the caller's transaction.
async fn live_session(c: &mut Conn, user: DbUuid, id: DbUuid) -> QueryResult<Option<SessionRow>> {
    let live = sessions::table
        .filter(sessions::id.eq(id))
        .filter(sessions::user_id.eq(user))
        .filter(sessions::revoked_at.is_null());
    for_update!(live.select(SessionRow::as_select())).first(c).await.optional()
}

/// Spending a recovery code, inside a write transaction (see `FactorStore::use_recovery_code`).
async fn spend_recovery_code(c: &mut Conn, u: &RecoveryCodeUse) -> QueryResult<VerificationOutcome> {
    let (user, factor_id) = (db_uuid(u.user_id.as_uuid()), db_uuid(u.factor_id.as_uuid()));
    let mine = mfa_factors::table
        .filter(mfa_factors::id.eq(factor_id))
        .filter(mfa_factors::user_id.eq(user))
        .filter(mfa_factors::factor_type.eq(FactorType::RecoveryCode.as_str()));
    if for_update!(mine.select(mfa_factors::id)).first::<DbUuid>(c).await.optional()?.is_none() {
        return Ok(VerificationOutcome::NotFound);
    }
    let Some(session) = live_session(c, user, db_uuid(u.session_id.as_uuid())).await? else {
        return Ok(VerificationOutcome::NotFound);
    };
    // The factor's lock orders concurrent uses: the second finds the code used.
    let unused = mfa_recovery_codes::table
        .filter(mfa_recovery_codes::factor_id.eq(factor_id))
        .filter(mfa_recovery_codes::digest.eq(u.code.as_bytes().to_vec()))
        .filter(mfa_recovery_codes::used_at.is_null());
    if diesel::update(unused).set(mfa_recovery_codes::used_at.eq(u.at)).execute(c).await? == 0 {
        return Ok(VerificationOutcome::CodeReused);
    }
    let proof = MfaProof { factor_id: u.factor_id, factor_type: FactorType::RecoveryCode, verified_at: u.at };
    raise_session(c, u.user_id, session, proof, &u.refresh_token, u.at).await
}

/// The verification, inside a write transaction (see `FactorStore::verify_factor`).
async fn verify(c: &mut Conn, v: &FactorVerification) -> QueryResult<VerificationOutcome> {
    let (user, factor_id, session_id) =
        (db_uuid(v.user_id.as_uuid()), db_uuid(v.factor_id.as_uuid()), db_uuid(v.session_id.as_uuid()));
    let mine = mfa_factors::table.filter(mfa_factors::id.eq(factor_id)).filter(mfa_factors::user_id.eq(user));
    let factor = for_update!(mine.select(FactorRow::as_select())).first(c).await.optional()?;
    let Some(factor) = factor.map(Factor::try_from).transpose().map_err(internal)? else {
        return Ok(VerificationOutcome::NotFound);
    };
    let challenge_id = db_uuid(v.challenge_id.as_uuid());
    let challenge = mfa_challenges::table
        .filter(mfa_challenges::id.eq(challenge_id))
        .filter(mfa_challenges::factor_id.eq(factor_id))
        .select(ChallengeRow::as_select());
    let Some(challenge) = for_update!(challenge).first(c).await.optional()? else {
        return Ok(VerificationOutcome::NotFound);
    };
    let Some(session) = live_session(c, user, session_id).await? else {
        return Ok(VerificationOutcome::NotFound);
    };
    if challenge.verified_at.is_some() {
        return Ok(VerificationOutcome::ChallengeUsed);
    }
    if factor.last_used_step.is_some_and(|last| last >= v.step) {
        return Ok(VerificationOutcome::CodeReused);
    }
    diesel::update(mfa_challenges::table.find(challenge_id))
        .set(mfa_challenges::verified_at.eq(v.at))
        .execute(c)
        .await?;
    diesel::update(mfa_factors::table.find(factor_id))
        .set((
            mfa_factors::status.eq(FactorStatus::Verified.as_str()),
            mfa_factors::last_used_step.eq(v.step),
            mfa_factors::updated_at.eq(v.at),
        ))
        .execute(c)
        .await?;
    let proof = MfaProof { factor_id: factor.id, factor_type: factor.factor_type, verified_at: v.at };
    // Other enrollments of the same kind left unfinished go.
    let unfinished: Vec<DbUuid> = mfa_factors::table
        .filter(mfa_factors::user_id.eq(user))
        .filter(mfa_factors::factor_type.eq(factor.factor_type.as_str()))
        .filter(mfa_factors::status.eq(FactorStatus::Unverified.as_str()))
        .filter(mfa_factors::id.ne(factor_id))
        .select(mfa_factors::id)
        .load(c)
        .await?;
    delete_factors(c, &unfinished).await?;
    raise_session(c, v.user_id, session, proof, &v.refresh_token, v.at).await
}

/// Raises the locked, live `session` to aal2 with `proof`, makes `refresh_token` its one live
/// token and ends the user's other aal1 sessions, inside the caller's transaction (see
/// `FactorStore::verify_factor`).
async fn raise_session(
    c: &mut Conn,
    user: UserId,
    session: SessionRow,
    proof: MfaProof,
    refresh_token: &TokenDigest,
    at: DateTime<Utc>,
) -> QueryResult<VerificationOutcome> {
    let (user, session_id) = (db_uuid(user.as_uuid()), session.id);
    diesel::update(sessions::table.find(session_id))
        .set((
            sessions::aal.eq(Aal::Aal2.as_str()),
            sessions::mfa_factor_id.eq(Some(db_uuid(proof.factor_id.as_uuid()))),
            sessions::mfa_factor_type.eq(Some(proof.factor_type.as_str())),
            sessions::mfa_verified_at.eq(Some(at)),
        ))
        .execute(c)
        .await?;
    // The session's tokens from before (aal1) die; the new one is its only live token.
    let old = refresh_tokens::table
        .filter(refresh_tokens::session_id.eq(session_id))
        .filter(refresh_tokens::revoked_at.is_null());
    diesel::update(old).set(refresh_tokens::revoked_at.eq(at)).execute(c).await?;
    let fresh = TokenRow::new(session_id, refresh_token, None, at);
    diesel::insert_into(refresh_tokens::table).values(&fresh).execute(c).await?;
    // The user's other aal1 sessions end: from now on a second factor is expected.
    let aal1 = sessions::table
        .filter(sessions::user_id.eq(user))
        .filter(sessions::id.ne(session_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::aal.eq(Aal::Aal1.as_str()))
        .select(sessions::id);
    let doomed: Vec<DbUuid> = for_update!(aal1).load(c).await?;
    diesel::update(sessions::table.filter(sessions::id.eq_any(&doomed)))
        .set(sessions::revoked_at.eq(at))
        .execute(c)
        .await?;
    let their_tokens = refresh_tokens::table
        .filter(refresh_tokens::session_id.eq_any(&doomed))
        .filter(refresh_tokens::revoked_at.is_null());
    diesel::update(their_tokens).set(refresh_tokens::revoked_at.eq(at)).execute(c).await?;
    let session = Session::try_from(session).map_err(internal)?;
    Ok(VerificationOutcome::Verified(Session { aal: Aal::Aal2, mfa: Some(proof), ..session }))
}

#[async_trait]
impl FactorStore for Store {
    async fn enroll_factor(&self, factor: &Factor, rules: &EnrollRules) -> Result<Enrollment, StoreError> {
        let row = FactorRow::from(factor);
        let user = db_uuid(factor.user_id.as_uuid());
        let owner = for_update!(users::table.find(user).select(users::id));
        let abandoned_before = rules.abandoned_before;
        self.write("enroll_factor", async |c| {
            // The user's lock makes concurrent enrollments count one after the other.
            if owner.first::<DbUuid>(c).await.optional()?.is_none() {
                return Err(DieselError::NotFound);
            }
            let last_seen = mfa_factors::last_challenged_at.is_null().and(mfa_factors::created_at.lt(abandoned_before));
            let abandoned: Vec<DbUuid> = mfa_factors::table
                .filter(mfa_factors::user_id.eq(user))
                .filter(mfa_factors::status.eq(FactorStatus::Unverified.as_str()))
                .filter(mfa_factors::last_challenged_at.lt(abandoned_before).or(last_seen.nullable()))
                .select(mfa_factors::id)
                .load(c)
                .await?;
            delete_factors(c, &abandoned).await?;
            let mine: Vec<FactorRow> =
                mfa_factors::table.filter(mfa_factors::user_id.eq(user)).select(FactorRow::as_select()).load(c).await?;
            if !row.friendly_name.is_empty() && mine.iter().any(|f| f.friendly_name == row.friendly_name) {
                return Ok(Enrollment::NameTaken);
            }
            let verified = mine.iter().filter(|f| f.status == FactorStatus::Verified.as_str()).count();
            if mine.len() >= rules.max_enrolled as usize || verified >= rules.max_verified as usize {
                return Ok(Enrollment::TooMany);
            }
            diesel::insert_into(mfa_factors::table).values(&row).execute(c).await?;
            Ok(Enrollment::Enrolled)
        })
        .await
    }

    async fn list_factors(&self, user: UserId) -> Result<Vec<Factor>, StoreError> {
        let query = mfa_factors::table
            .filter(mfa_factors::user_id.eq(db_uuid(user.as_uuid())))
            .order((mfa_factors::created_at.asc(), mfa_factors::id.asc()))
            .select(FactorRow::as_select());
        self.load("list_factors", query).await
    }

    async fn list_factors_of(&self, users: &[UserId]) -> Result<Vec<Factor>, StoreError> {
        let ids: Vec<DbUuid> = users.iter().map(|u| db_uuid(u.as_uuid())).collect();
        let query = mfa_factors::table
            .filter(mfa_factors::user_id.eq_any(ids))
            .order((mfa_factors::created_at.asc(), mfa_factors::id.asc()))
            .select(FactorRow::as_select());
        self.load("list_factors_of", query).await
    }

    async fn rename_factor(
        &self,
        user: UserId,
        id: FactorId,
        friendly_name: &str,
        at: DateTime<Utc>,
    ) -> Result<FactorRename, StoreError> {
        let (user, id) = (db_uuid(user.as_uuid()), db_uuid(id.as_uuid()));
        let owner = for_update!(users::table.find(user).select(users::id));
        let name = friendly_name.to_owned();
        let renamed = self
            .write("rename_factor", async |c| {
                // The user's lock keeps a concurrent enrollment from taking the name meanwhile.
                if owner.first::<DbUuid>(c).await.optional()?.is_none() {
                    return Ok(None);
                }
                let mut mine: Vec<FactorRow> = mfa_factors::table
                    .filter(mfa_factors::user_id.eq(user))
                    .select(FactorRow::as_select())
                    .load(c)
                    .await?;
                let Some(mut found) = mine.iter().position(|f| f.id == id).map(|i| mine.swap_remove(i)) else {
                    return Ok(None);
                };
                if !name.is_empty() && mine.iter().any(|f| f.friendly_name == name) {
                    return Ok(Some(Err(())));
                }
                diesel::update(mfa_factors::table.find(id))
                    .set((mfa_factors::friendly_name.eq(&name), mfa_factors::updated_at.eq(at)))
                    .execute(c)
                    .await?;
                found.friendly_name = name;
                found.updated_at = at;
                Ok(Some(Ok(found)))
            })
            .await?;
        match renamed {
            None => Ok(FactorRename::NotFound),
            Some(Err(())) => Ok(FactorRename::NameTaken),
            Some(Ok(row)) => Ok(FactorRename::Renamed(Factor::try_from(row)?)),
        }
    }

    async fn find_factor(&self, user: UserId, id: FactorId) -> Result<Option<Factor>, StoreError> {
        let query = mfa_factors::table
            .filter(mfa_factors::id.eq(db_uuid(id.as_uuid())))
            .filter(mfa_factors::user_id.eq(db_uuid(user.as_uuid())))
            .select(FactorRow::as_select());
        self.find("find_factor", query).await
    }

    async fn create_challenge(&self, challenge: &FactorChallenge) -> Result<(), StoreError> {
        let row = ChallengeRow::from(challenge);
        let factor = mfa_factors::table.find(row.factor_id);
        let challenged = diesel::update(factor).set(mfa_factors::last_challenged_at.eq(challenge.created_at));
        self.write("create_challenge", async |c| {
            if challenged.execute(c).await? == 0 {
                return Err(DieselError::NotFound);
            }
            diesel::insert_into(mfa_challenges::table).values(&row).execute(c).await.map(drop)
        })
        .await
    }

    async fn find_challenge(&self, factor: FactorId, id: ChallengeId) -> Result<Option<FactorChallenge>, StoreError> {
        let query = mfa_challenges::table
            .filter(mfa_challenges::id.eq(db_uuid(id.as_uuid())))
            .filter(mfa_challenges::factor_id.eq(db_uuid(factor.as_uuid())))
            .select(ChallengeRow::as_select());
        self.find("find_challenge", query).await
    }

    async fn verify_factor(&self, verification: &FactorVerification) -> Result<VerificationOutcome, StoreError> {
        self.write("verify_factor", async |c| verify(c, verification).await).await
    }

    async fn create_recovery_codes(&self, factor: &Factor, codes: &[TokenDigest]) -> Result<Enrollment, StoreError> {
        let row = FactorRow::from(factor);
        let codes = RecoveryCodeRow::all(row.id, codes);
        let user = db_uuid(factor.user_id.as_uuid());
        let owner = for_update!(users::table.find(user).select(users::id));
        self.write("create_recovery_codes", async |c| {
            // The user's lock makes concurrent calls see each other's set.
            if owner.first::<DbUuid>(c).await.optional()?.is_none() {
                return Err(DieselError::NotFound);
            }
            let mine: Vec<FactorRow> =
                mfa_factors::table.filter(mfa_factors::user_id.eq(user)).select(FactorRow::as_select()).load(c).await?;
            if mine.iter().any(|f| f.factor_type == FactorType::RecoveryCode.as_str()) {
                return Ok(Enrollment::AlreadyEnrolled);
            }
            if !row.friendly_name.is_empty() && mine.iter().any(|f| f.friendly_name == row.friendly_name) {
                return Ok(Enrollment::NameTaken);
            }
            diesel::insert_into(mfa_factors::table).values(&row).execute(c).await?;
            insert_codes(c, &codes).await?;
            Ok(Enrollment::Enrolled)
        })
        .await
    }

    async fn replace_recovery_codes(
        &self,
        user: UserId,
        factor: FactorId,
        codes: &[TokenDigest],
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let id = db_uuid(factor.as_uuid());
        let codes = RecoveryCodeRow::all(id, codes);
        let mine = mfa_factors::table
            .filter(mfa_factors::id.eq(id))
            .filter(mfa_factors::user_id.eq(db_uuid(user.as_uuid())))
            .filter(mfa_factors::factor_type.eq(FactorType::RecoveryCode.as_str()));
        self.write("replace_recovery_codes", async |c| {
            if diesel::update(mine).set(mfa_factors::updated_at.eq(at)).execute(c).await? == 0 {
                return Ok(false);
            }
            diesel::delete(mfa_recovery_codes::table.filter(mfa_recovery_codes::factor_id.eq(id))).execute(c).await?;
            insert_codes(c, &codes).await?;
            Ok(true)
        })
        .await
    }

    async fn count_recovery_codes(&self, factor: FactorId) -> Result<RecoveryCodeCount, StoreError> {
        let id = db_uuid(factor.as_uuid());
        let uses =
            mfa_recovery_codes::table.filter(mfa_recovery_codes::factor_id.eq(id)).select(mfa_recovery_codes::used_at);
        let uses: Vec<Option<DateTime<Utc>>> = self.call("count_recovery_codes", async |c| uses.load(c).await).await?;
        let remaining = uses.iter().filter(|used| used.is_none()).count();
        Ok(RecoveryCodeCount { total: uses.len() as u32, remaining: remaining as u32 })
    }

    async fn use_recovery_code(&self, code: &RecoveryCodeUse) -> Result<VerificationOutcome, StoreError> {
        self.write("use_recovery_code", async |c| spend_recovery_code(c, code).await).await
    }

    async fn delete_factor(&self, user: UserId, id: FactorId) -> Result<Option<Factor>, StoreError> {
        let (user, id) = (db_uuid(user.as_uuid()), db_uuid(id.as_uuid()));
        let mine = mfa_factors::table.filter(mfa_factors::id.eq(id)).filter(mfa_factors::user_id.eq(user));
        let target = for_update!(mine.select(FactorRow::as_select()));
        let found = self
            .write("delete_factor", async |c| {
                let Some(found) = target.first(c).await.optional()? else { return Ok(None) };
                delete_factors(c, &[id]).await?;
                let raised = sessions::table.filter(sessions::mfa_factor_id.eq(id));
                diesel::update(raised)
                    .set((
                        sessions::aal.eq(Aal::Aal1.as_str()),
                        sessions::mfa_factor_id.eq(None::<DbUuid>),
                        sessions::mfa_factor_type.eq(None::<String>),
                        sessions::mfa_verified_at.eq(None::<DateTime<Utc>>),
                    ))
                    .execute(c)
                    .await?;
                Ok(Some(found))
            })
            .await?;
        found.map(Factor::try_from).transpose()
    }

    async fn prune_factors(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError> {
        let expired = mfa_challenges::table
            .filter(mfa_challenges::expires_at.lt(before))
            .select(mfa_challenges::id)
            .limit(i64::from(limit));
        let last_seen = mfa_factors::last_challenged_at.is_null().and(mfa_factors::created_at.lt(before));
        let stale = mfa_factors::table
            .filter(mfa_factors::status.eq(FactorStatus::Unverified.as_str()))
            .filter(mfa_factors::last_challenged_at.lt(before).or(last_seen.nullable()))
            .select(mfa_factors::id)
            .limit(i64::from(limit));
        let (expired, stale) = (for_update_skip_locked!(expired), for_update_skip_locked!(stale));
        self.write("prune_factors", async |c| {
            let expired: Vec<DbUuid> = expired.load(c).await?;
            let mut pruned =
                diesel::delete(mfa_challenges::table.filter(mfa_challenges::id.eq_any(&expired))).execute(c).await?;
            let stale: Vec<DbUuid> = stale.load(c).await?;
            pruned += delete_factors(c, &stale).await?;
            Ok(pruned as u64)
        })
        .await
    }
}
