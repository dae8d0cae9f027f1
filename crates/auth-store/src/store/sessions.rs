//! `SessionStore`, and the refresh-token rotation written out once for both backends.

use async_trait::async_trait;
use auth_core::domain::{
    AuditAction, AuditEvent, RefreshTokenRecord, Renewal, Rotation, RotationOutcome, RotationPlan, Session, SessionId,
    TokenDigest, User, UserId, plan_rotation,
};
use auth_core::ports::{SessionPrune, SessionStore, StoreError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel_async::RunQueryDsl;

use super::super::{Conn, DbUuid, LOCKED_FROM_BEGIN, Store, db_uuid};
use super::audit::insert_events;
use super::internal;
use super::rows::{SessionRow, TokenRow, UserRow};
use super::schema::{refresh_tokens, sessions, users};

/// The rows that start `session` with its first refresh token.
pub(super) fn session_rows(session: &Session, first: &TokenDigest) -> (SessionRow, TokenRow) {
    let row = SessionRow::from(session);
    let token = TokenRow::new(row.id, first, None, session.created_at);
    (row, token)
}

/// Writes a new session and its first refresh token, inside the caller's transaction.
pub(super) async fn insert_session(c: &mut Conn, session: &SessionRow, first: &TokenRow) -> QueryResult<()> {
    diesel::insert_into(sessions::table).values(session).execute(c).await?;
    diesel::insert_into(refresh_tokens::table).values(first).execute(c).await?;
    Ok(())
}

/// Revokes the sessions `ids` and their tokens inside the caller's transaction; how many of the
/// sessions were live.
async fn revoke_families(c: &mut Conn, ids: &[DbUuid], at: DateTime<Utc>) -> QueryResult<usize> {
    let live = sessions::table.filter(sessions::id.eq_any(ids)).filter(sessions::revoked_at.is_null());
    let revoked = diesel::update(live).set(sessions::revoked_at.eq(at)).execute(c).await?;
    let tokens = refresh_tokens::table.filter(refresh_tokens::session_id.eq_any(ids));
    let live_tokens = tokens.filter(refresh_tokens::revoked_at.is_null());
    diesel::update(live_tokens).set(refresh_tokens::revoked_at.eq(at)).execute(c).await?;
    Ok(revoked)
}

/// A session's user, inside the caller's transaction (a session never outlives its user).
async fn session_user(c: &mut Conn, id: DbUuid) -> QueryResult<User> {
    let row = users::table.find(id).select(UserRow::as_select()).first(c).await?;
    User::try_from(row).map_err(internal)
}

/// The rotation, inside a write transaction that holds the session row's lock.
async fn rotate(c: &mut Conn, rotation: &Rotation) -> QueryResult<RotationOutcome> {
    let digest = rotation.presented.as_bytes().to_vec();
    let by_digest = refresh_tokens::table.filter(refresh_tokens::token_digest.eq(&digest));
    let Some(found) = by_digest.select(TokenRow::as_select()).first(c).await.optional()? else {
        return Ok(RotationOutcome::NotFound);
    };
    // Lock the family; concurrent rotations of any of its tokens wait here.
    let family_head = for_update!(sessions::table.find(found.session_id)).select(SessionRow::as_select());
    let Some(session_row) = family_head.first(c).await.optional()? else {
        return Ok(RotationOutcome::NotFound);
    };
    // Read again under the lock: another rotation may have used the token meanwhile (not on a
    // backend whose write transaction locked everything before the first read).
    let presented = if LOCKED_FROM_BEGIN {
        found
    } else {
        // Pruned meanwhile (spent long ago): as unknown.
        let again = refresh_tokens::table.find(found.id).select(TokenRow::as_select()).first(c).await.optional()?;
        let Some(again) = again else { return Ok(RotationOutcome::NotFound) };
        again
    };
    let family = refresh_tokens::table.filter(refresh_tokens::session_id.eq(session_row.id));
    let session_row_user = session_row.user_id;
    let unused = family.filter(refresh_tokens::used_at.is_null()).filter(refresh_tokens::revoked_at.is_null());
    let live = unused.select(TokenRow::as_select()).first(c).await.optional()?;
    let session = Session::try_from(session_row).map_err(internal)?;
    let presented = RefreshTokenRecord::try_from(presented).map_err(internal)?;
    let live = live.map(RefreshTokenRecord::try_from).transpose().map_err(internal)?;
    let id = db_uuid(session.id.as_uuid());
    // The user for the answer is read in this transaction too, so a rotation that committed is
    // never answered with an error because a later read failed.
    match plan_rotation(&presented, &session, live.as_ref(), rotation) {
        RotationPlan::Rotate => {
            let used = refresh_tokens::used_at.eq(rotation.now);
            diesel::update(refresh_tokens::table.find(presented.id)).set(used).execute(c).await?;
            let successor = TokenRow::new(id, &rotation.successor, Some(presented.id), rotation.now);
            diesel::insert_into(refresh_tokens::table).values(&successor).execute(c).await?;
            diesel::update(sessions::table.find(id)).set(sessions::refreshed_at.eq(rotation.now)).execute(c).await?;
            let rotated = Session { refreshed_at: Some(rotation.now), ..session };
            insert_events(c, rotation.event(AuditAction::TokenRefreshed, &rotated).as_slice()).await?;
            let user = session_user(c, session_row_user).await?;
            Ok(RotationOutcome::Rotated(Box::new(Renewal { session: rotated, user })))
        }
        RotationPlan::Replay => {
            let user = session_user(c, session_row_user).await?;
            Ok(RotationOutcome::Replayed(Box::new(Renewal { session, user })))
        }
        RotationPlan::RevokeFamily => {
            revoke_families(c, &[id], rotation.now).await?;
            insert_events(c, rotation.event(AuditAction::TokenReuseDetected, &session).as_slice()).await?;
            Ok(RotationOutcome::ReuseDetected(session))
        }
        RotationPlan::Expired(reason) => Ok(RotationOutcome::Expired(session.id, reason)),
        RotationPlan::Dead => Ok(RotationOutcome::NotFound),
    }
}

#[async_trait]
impl SessionStore for Store {
    async fn start_session(
        &self,
        session: &Session,
        first_token: &TokenDigest,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let (row, token) = session_rows(session, first_token);
        let user = users::table.find(db_uuid(session.user_id.as_uuid()));
        let signed_in = diesel::update(user).set(users::last_sign_in_at.eq(session.created_at));
        self.write("start_session", async |c| {
            if signed_in.execute(c).await? == 0 {
                return Err(DieselError::NotFound);
            }
            insert_session(c, &row, &token).await?;
            insert_events(c, events).await
        })
        .await
    }

    async fn create_user_with_session(
        &self,
        user: &User,
        session: &Session,
        first_token: &TokenDigest,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let user_row = UserRow::from(user);
        let (session_row, token) = session_rows(session, first_token);
        self.write("create_user_with_session", async |c| {
            diesel::insert_into(users::table).values(&user_row).execute(c).await?;
            insert_session(c, &session_row, &token).await?;
            insert_events(c, events).await
        })
        .await
    }

    async fn find_session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        self.find("find_session", sessions::table.find(db_uuid(id.as_uuid())).select(SessionRow::as_select())).await
    }

    async fn list_sessions(&self, user: UserId) -> Result<Vec<Session>, StoreError> {
        let user = db_uuid(user.as_uuid());
        let live = sessions::table.filter(sessions::user_id.eq(user)).filter(sessions::revoked_at.is_null());
        let query = live.order((sessions::created_at.asc(), sessions::id.asc())).select(SessionRow::as_select());
        self.load("list_sessions", query).await
    }

    async fn rotate_refresh_token(&self, rotation: &Rotation) -> Result<RotationOutcome, StoreError> {
        self.write("rotate_refresh_token", async |c| rotate(c, rotation).await).await
    }

    async fn prune_sessions(&self, prune: &SessionPrune, limit: u32) -> Result<u64, StoreError> {
        let ended_before = prune.ended_before;
        // An absent limit is an instant no session precedes.
        let created_before = prune.created_before.unwrap_or(DateTime::UNIX_EPOCH);
        let idle_before = prune.idle_before.unwrap_or(DateTime::UNIX_EPOCH);
        let idle = sessions::refreshed_at
            .lt(idle_before)
            .or(sessions::refreshed_at.is_null().and(sessions::created_at.lt(idle_before)).nullable());
        let ended = sessions::revoked_at
            .lt(ended_before)
            .or(sessions::not_after.lt(ended_before))
            .or(sessions::created_at.lt(created_before).nullable())
            .or(idle);
        let sessions = sessions::table.filter(ended).select(sessions::id).limit(i64::from(limit));
        let spent =
            refresh_tokens::used_at.lt(prune.spent_before).or(refresh_tokens::revoked_at.lt(prune.spent_before));
        let tokens = refresh_tokens::table.filter(spent).select(refresh_tokens::id).limit(i64::from(limit));
        // Replicas pruning at once, and rotations, hold rows this round passes over.
        let (sessions, tokens) = (for_update_skip_locked!(sessions), for_update_skip_locked!(tokens));
        self.write("prune_sessions", async |c| {
            // A deleted session takes its refresh tokens with it (ON DELETE CASCADE).
            let ended: Vec<DbUuid> = sessions.load(c).await?;
            let mut pruned = diesel::delete(sessions::table.filter(sessions::id.eq_any(&ended))).execute(c).await?;
            let spent: Vec<i64> = tokens.load(c).await?;
            pruned +=
                diesel::delete(refresh_tokens::table.filter(refresh_tokens::id.eq_any(&spent))).execute(c).await?;
            Ok(pruned as u64)
        })
        .await
    }

    async fn revoke_session(&self, id: SessionId, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let ids = [db_uuid(id.as_uuid())];
        let revoked = self.write("revoke_session", async |c| revoke_families(c, &ids, at).await).await?;
        Ok(revoked > 0)
    }

    async fn revoke_user_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let user = db_uuid(user.as_uuid());
        let keep = db_uuid(&keep.map(|k| *k.as_uuid()).unwrap_or_default());
        let live = sessions::table.filter(sessions::user_id.eq(user)).filter(sessions::revoked_at.is_null());
        let others = for_update!(live.filter(sessions::id.ne(keep)).select(sessions::id));
        self.write("revoke_user_sessions", async |c| {
            let doomed: Vec<DbUuid> = others.load(c).await?;
            Ok(revoke_families(c, &doomed, at).await? as u64)
        })
        .await
    }
}
