//! The PostgreSQL store: diesel-async connections pooled by deadpool, every table in `auth`.

pub(crate) mod schema;

use async_trait::async_trait;
use auth_core::domain::{AuditEvent, MailKind, OneTimeKind, OneTimeToken, OutgoingMail, QueuedMail};
use auth_core::domain::{
    Email, KeyPurpose, Phone, RefreshTokenRecord, Rotation, RotationOutcome, RotationPlan, Session, SessionId,
    StoredKey, TokenDigest, User, UserId, UserQuery, Username, plan_rotation,
};
use auth_core::ports::{AuditLog, EmailFlowStore, KeyStore, Mail, MailOutbox, SessionStore, StoreError, UserStore};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use self::schema::{audit_log, mail_outbox, one_time_tokens, refresh_tokens, sessions, signing_keys, users};
use crate::PoolOptions;
use crate::error::store_error;
use crate::rows::{
    AuditRow, KeyRow, NewAuditRow, NewOutboxRow, NewTokenRow, OneTimeRow, OutboxRow, SessionRow, TokenRow, UserRow,
};

/// Advisory lock key held while migrating ("authd" in ASCII).
const MIGRATION_LOCK: i64 = 0x0061_7574_6864;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>);

/// Users, sessions and refresh tokens in PostgreSQL.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool<AsyncPgConnection>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("pool", &self.pool.status()).finish()
    }
}

impl PgStore {
    /// Builds the pool and checks that the server answers.
    pub async fn connect(url: &str, options: &PoolOptions) -> Result<Self, StoreError> {
        let mut config = ManagerConfig::<AsyncPgConnection>::default();
        // No `SELECT 1` before each use: that doubled the round trips of a `GET /user`. A
        // connection the server closed, or left in a failed transaction, is still replaced.
        config.recycling_method = RecyclingMethod::Fast;
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
        let pool = Pool::builder(manager)
            .max_size(options.max_connections)
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Internal(format!("cannot build the connection pool: {e}")))?;
        let store = Self { pool };
        store.ping().await?;
        Ok(store)
    }

    async fn conn(&self) -> Result<Object<AsyncPgConnection>, StoreError> {
        self.pool.get().await.map_err(|e| StoreError::Unavailable(format!("cannot reach PostgreSQL: {e}")))
    }

    /// Runs a trivial query, proving the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await.map(drop).map_err(store_error)
    }

    /// Applies pending migrations; returns how many ran.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let mut conn = self.conn().await?;
        // Replicas starting together would race on CREATE SCHEMA and on the bookkeeping table:
        // one migrates while the others wait, then find nothing left to do. The lock belongs to
        // this connection's session, so the same connection releases it.
        diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
            .execute(&mut conn)
            .await
            .map_err(store_error)?;
        let (mut conn, applied) = migrate_locked(conn).await;
        let unlocked = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
            .execute(&mut conn)
            .await
            .map_err(store_error);
        if unlocked.is_err() {
            // Never hand a connection that may still hold the lock back to the pool.
            let _ = Object::take(conn);
        }
        let applied = applied?;
        unlocked?;
        Ok(applied)
    }
}

async fn migrate_locked(mut conn: Object<AsyncPgConnection>) -> (Object<AsyncPgConnection>, Result<usize, StoreError>) {
    // The bookkeeping table lives in `auth` too, beside the tables it describes.
    let prepared = async {
        diesel::sql_query("CREATE SCHEMA IF NOT EXISTS auth").execute(&mut conn).await?;
        diesel::sql_query("SET search_path TO auth").execute(&mut conn).await
    }
    .await
    .map_err(store_error);
    if let Err(error) = prepared {
        return (conn, Err(error));
    }
    // The harness blocks in place, which needs the multi-threaded runtime.
    let mut harness = diesel_async::AsyncMigrationHarness::new(conn);
    let applied = tokio::task::block_in_place(|| harness.run_pending_migrations(MIGRATIONS).map(|v| v.len()))
        .map_err(|e| StoreError::Internal(format!("migration failed: {e}")));
    let mut conn = harness.into_inner();
    let reset = diesel::sql_query("RESET search_path").execute(&mut conn).await.map_err(store_error);
    (conn, applied.and_then(|applied| reset.map(|_| applied)))
}

fn user_from(row: Option<UserRow>) -> Result<Option<User>, StoreError> {
    row.map(User::try_from).transpose()
}

#[async_trait]
impl UserStore for PgStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        diesel::insert_into(users::table).values(UserRow::from(user)).execute(&mut conn).await.map_err(store_error)?;
        Ok(())
    }

    async fn find_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let mut conn = self.conn().await?;
        let row = users::table
            .find(id.as_uuid())
            .select(UserRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(store_error)?;
        user_from(row)
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let mut conn = self.conn().await?;
        let row = users::table
            .filter(users::email.eq(email.as_str()))
            .select(UserRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(store_error)?;
        user_from(row)
    }

    async fn find_user_by_phone(&self, phone: &Phone) -> Result<Option<User>, StoreError> {
        let mut conn = self.conn().await?;
        let row = users::table
            .filter(users::phone.eq(phone.as_str()))
            .select(UserRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(store_error)?;
        user_from(row)
    }

    async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        let mut conn = self.conn().await?;
        let row = users::table
            .filter(lower(users::username).eq(username.key()))
            .select(UserRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(store_error)?;
        user_from(row)
    }

    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let updated = diesel::update(users::table.find(user.id.as_uuid()))
            .set(UserRow::from(user))
            .execute(&mut conn)
            .await
            .map_err(store_error)?;
        if updated == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        // Sessions and refresh tokens go with the user through ON DELETE CASCADE.
        let deleted = diesel::delete(users::table.find(id.as_uuid())).execute(&mut conn).await.map_err(store_error)?;
        Ok(deleted > 0)
    }

    async fn list_users(&self, query: &UserQuery) -> Result<Vec<User>, StoreError> {
        let mut conn = self.conn().await?;
        let filtered = filtered_users(query);
        let ordered = if query.newest_first {
            filtered.order((users::created_at.desc(), users::id.desc()))
        } else {
            filtered.order((users::created_at.asc(), users::id.asc()))
        };
        let rows: Vec<UserRow> = ordered
            .offset(i64::try_from(query.offset).unwrap_or(i64::MAX))
            .limit(i64::try_from(query.limit).unwrap_or(i64::MAX))
            .select(UserRow::as_select())
            .load(&mut conn)
            .await
            .map_err(store_error)?;
        rows.into_iter().map(User::try_from).collect()
    }

    async fn count_users(&self, query: &UserQuery) -> Result<u64, StoreError> {
        let mut conn = self.conn().await?;
        let count: i64 = filtered_users(query).count().get_result(&mut conn).await.map_err(store_error)?;
        Ok(u64::try_from(count).unwrap_or_default())
    }
}

/// `auth.users` narrowed by the query's filter (email or username contains it, any case).
fn filtered_users(query: &UserQuery) -> users::BoxedQuery<'static, diesel::pg::Pg> {
    let mut boxed = users::table.into_boxed();
    if let Some(pattern) = query.like_pattern() {
        boxed = boxed
            .filter(users::email.like(pattern.clone()).escape('\\').or(users::username.ilike(pattern).escape('\\')));
    }
    boxed
}

#[async_trait]
impl AuditLog for PgStore {
    async fn record(&self, event: AuditEvent) {
        let row = NewAuditRow::from(&event);
        let written = match self.conn().await {
            Ok(mut conn) => {
                diesel::insert_into(audit_log::table).values(&row).execute(&mut conn).await.map_err(store_error)
            }
            Err(error) => Err(error),
        };
        if let Err(error) = written {
            tracing::error!(action = event.action.as_str(), %error, "could not write the audit log");
        }
    }

    async fn list_events(&self, offset: u64, limit: u64) -> Result<Vec<AuditEvent>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<AuditRow> = audit_log::table
            .order(audit_log::id.desc())
            .offset(i64::try_from(offset).unwrap_or(i64::MAX))
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .select(AuditRow::as_select())
            .load(&mut conn)
            .await
            .map_err(store_error)?;
        rows.into_iter().map(AuditEvent::try_from).collect()
    }

    async fn count_events(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn().await?;
        let count: i64 = audit_log::table.count().get_result(&mut conn).await.map_err(store_error)?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    async fn prune_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut conn = self.conn().await?;
        let deleted = diesel::delete(audit_log::table.filter(audit_log::created_at.lt(before)))
            .execute(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(deleted as u64)
    }
}

/// Revokes a session and its tokens inside the caller's transaction; whether it was live.
async fn revoke_family(conn: &mut AsyncPgConnection, id: uuid::Uuid, at: DateTime<Utc>) -> QueryResult<bool> {
    let revoked = diesel::update(sessions::table.find(id).filter(sessions::revoked_at.is_null()))
        .set(sessions::revoked_at.eq(at))
        .execute(conn)
        .await?;
    diesel::update(
        refresh_tokens::table.filter(refresh_tokens::session_id.eq(id)).filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(at))
    .execute(conn)
    .await?;
    Ok(revoked > 0)
}

/// The rotation, inside a transaction that holds the session row's lock.
async fn rotate(conn: &mut AsyncPgConnection, rotation: &Rotation) -> Result<RotationOutcome, DieselError> {
    let digest = rotation.presented.as_bytes().to_vec();
    let Some(found) = refresh_tokens::table
        .filter(refresh_tokens::token_digest.eq(&digest))
        .select(TokenRow::as_select())
        .first(conn)
        .await
        .optional()?
    else {
        return Ok(RotationOutcome::NotFound);
    };
    // Lock the family; concurrent rotations of any of its tokens wait here.
    let Some(session_row) = sessions::table
        .find(found.session_id)
        .for_update()
        .select(SessionRow::as_select())
        .first(conn)
        .await
        .optional()?
    else {
        return Ok(RotationOutcome::NotFound);
    };
    // Read again under the lock: another rotation may have used the token meanwhile.
    let presented = refresh_tokens::table.find(found.id).select(TokenRow::as_select()).first(conn).await?;
    let live = refresh_tokens::table
        .filter(refresh_tokens::session_id.eq(session_row.id))
        .filter(refresh_tokens::used_at.is_null())
        .filter(refresh_tokens::revoked_at.is_null())
        .select(TokenRow::as_select())
        .first(conn)
        .await
        .optional()?;
    let session = Session::try_from(session_row).map_err(internal)?;
    let presented = RefreshTokenRecord::try_from(presented).map_err(internal)?;
    let live = live.map(RefreshTokenRecord::try_from).transpose().map_err(internal)?;
    match plan_rotation(&presented, &session, live.as_ref(), rotation) {
        RotationPlan::Rotate => {
            diesel::update(refresh_tokens::table.find(presented.id))
                .set(refresh_tokens::used_at.eq(rotation.now))
                .execute(conn)
                .await?;
            diesel::insert_into(refresh_tokens::table)
                .values(NewTokenRow {
                    session_id: *session.id.as_uuid(),
                    token_digest: rotation.successor.as_bytes().to_vec(),
                    parent: Some(presented.id),
                    created_at: rotation.now,
                })
                .execute(conn)
                .await?;
            diesel::update(sessions::table.find(session.id.as_uuid()))
                .set(sessions::refreshed_at.eq(rotation.now))
                .execute(conn)
                .await?;
            Ok(RotationOutcome::Rotated(Session { refreshed_at: Some(rotation.now), ..session }))
        }
        RotationPlan::Replay => Ok(RotationOutcome::Replayed(session)),
        RotationPlan::RevokeFamily => {
            revoke_family(conn, *session.id.as_uuid(), rotation.now).await?;
            Ok(RotationOutcome::ReuseDetected(session.id))
        }
        RotationPlan::Expired(reason) => Ok(RotationOutcome::Expired(session.id, reason)),
        RotationPlan::Dead => Ok(RotationOutcome::NotFound),
    }
}

/// Carries a conversion failure out of a transaction closure (which speaks diesel errors).
fn internal(error: StoreError) -> DieselError {
    DieselError::QueryBuilderError(error.to_string().into())
}

#[async_trait]
impl SessionStore for PgStore {
    async fn start_session(&self, session: &Session, first_token: &TokenDigest) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let row = SessionRow::from(session);
        let token = NewTokenRow {
            session_id: *session.id.as_uuid(),
            token_digest: first_token.as_bytes().to_vec(),
            parent: None,
            created_at: session.created_at,
        };
        let user_id = *session.user_id.as_uuid();
        let signed_in_at = session.created_at;
        conn.transaction(async |c| {
            let found = diesel::update(users::table.find(user_id))
                .set(users::last_sign_in_at.eq(signed_in_at))
                .execute(c)
                .await?;
            if found == 0 {
                return Err(DieselError::NotFound);
            }
            diesel::insert_into(sessions::table).values(&row).execute(c).await?;
            diesel::insert_into(refresh_tokens::table).values(&token).execute(c).await?;
            Ok(())
        })
        .await
        .map_err(store_error)
    }

    async fn create_user_with_session(
        &self,
        user: &User,
        session: &Session,
        first_token: &TokenDigest,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let user_row = UserRow::from(user);
        let session_row = SessionRow::from(session);
        let token = NewTokenRow {
            session_id: *session.id.as_uuid(),
            token_digest: first_token.as_bytes().to_vec(),
            parent: None,
            created_at: session.created_at,
        };
        conn.transaction(async |c| {
            diesel::insert_into(users::table).values(&user_row).execute(c).await?;
            diesel::insert_into(sessions::table).values(&session_row).execute(c).await?;
            diesel::insert_into(refresh_tokens::table).values(&token).execute(c).await?;
            Ok::<_, DieselError>(())
        })
        .await
        .map_err(store_error)
    }

    async fn find_session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        let mut conn = self.conn().await?;
        let row = sessions::table
            .find(id.as_uuid())
            .select(SessionRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(store_error)?;
        row.map(Session::try_from).transpose()
    }

    async fn list_sessions(&self, user: UserId) -> Result<Vec<Session>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<SessionRow> = sessions::table
            .filter(sessions::user_id.eq(user.as_uuid()))
            .filter(sessions::revoked_at.is_null())
            .order((sessions::created_at.asc(), sessions::id.asc()))
            .select(SessionRow::as_select())
            .load(&mut conn)
            .await
            .map_err(store_error)?;
        rows.into_iter().map(Session::try_from).collect()
    }

    async fn rotate_refresh_token(&self, rotation: &Rotation) -> Result<RotationOutcome, StoreError> {
        let mut conn = self.conn().await?;
        let rotation = rotation.clone();
        conn.transaction(async |c| rotate(c, &rotation).await).await.map_err(store_error)
    }

    async fn revoke_session(&self, id: SessionId, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let id = *id.as_uuid();
        conn.transaction(async |c| revoke_family(c, id, at).await).await.map_err(store_error)
    }

    async fn revoke_user_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut conn = self.conn().await?;
        let user = *user.as_uuid();
        let keep = keep.map(|k| *k.as_uuid()).unwrap_or_default();
        conn.transaction(async |c| {
            let doomed: Vec<uuid::Uuid> = sessions::table
                .filter(sessions::user_id.eq(user))
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::id.ne(keep))
                .select(sessions::id)
                .for_update()
                .load(c)
                .await?;
            diesel::update(sessions::table.filter(sessions::id.eq_any(&doomed)))
                .set(sessions::revoked_at.eq(at))
                .execute(c)
                .await?;
            diesel::update(
                refresh_tokens::table
                    .filter(refresh_tokens::session_id.eq_any(&doomed))
                    .filter(refresh_tokens::revoked_at.is_null()),
            )
            .set(refresh_tokens::revoked_at.eq(at))
            .execute(c)
            .await?;
            Ok(doomed.len() as u64)
        })
        .await
        .map_err(store_error)
    }
}

#[async_trait]
impl KeyStore for PgStore {
    async fn list_keys(&self, purpose: KeyPurpose) -> Result<Vec<StoredKey>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<KeyRow> = signing_keys::table
            .filter(signing_keys::purpose.eq(purpose.as_str()))
            .select(KeyRow::as_select())
            .load(&mut conn)
            .await
            .map_err(store_error)?;
        rows.into_iter().map(StoredKey::try_from).collect()
    }

    async fn add_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        diesel::insert_into(signing_keys::table)
            .values(KeyRow::from(key))
            .execute(&mut conn)
            .await
            .map(drop)
            .map_err(store_error)
    }

    async fn add_first_key(&self, key: &StoredKey) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let row = KeyRow::from(key);
        conn.transaction(async |c| {
            // Serialises replicas starting together; readers are not blocked.
            diesel::sql_query("LOCK TABLE auth.signing_keys IN SHARE ROW EXCLUSIVE MODE").execute(c).await?;
            let existing: i64 =
                signing_keys::table.filter(signing_keys::purpose.eq(&row.purpose)).count().get_result(c).await?;
            if existing > 0 {
                return Ok(false);
            }
            diesel::insert_into(signing_keys::table).values(&row).execute(c).await?;
            Ok(true)
        })
        .await
        .map_err(store_error)
    }
}

/// Replaces the user's one-time token of the token's kind, inside the caller's transaction.
async fn put_one_time(c: &mut AsyncPgConnection, token: &OneTimeRow) -> QueryResult<()> {
    diesel::delete(
        one_time_tokens::table
            .filter(one_time_tokens::user_id.eq(token.user_id))
            .filter(one_time_tokens::kind.eq(&token.kind)),
    )
    .execute(c)
    .await?;
    diesel::insert_into(one_time_tokens::table).values(token).execute(c).await?;
    Ok(())
}

#[async_trait]
impl EmailFlowStore for PgStore {
    async fn issue_token(&self, token: &OneTimeToken, mail: Option<OutgoingMail>) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let row = OneTimeRow::from(token);
        let outbox = mail.map(|m| NewOutboxRow::new(m.kind, &m.mail, token.created_at));
        conn.transaction(async |c| {
            put_one_time(c, &row).await?;
            if let Some(outbox) = &outbox {
                diesel::insert_into(mail_outbox::table).values(outbox).execute(c).await?;
            }
            Ok::<_, DieselError>(())
        })
        .await
        .map_err(store_error)
    }

    async fn create_user_with_token(
        &self,
        user: &User,
        token: &OneTimeToken,
        mail: Option<OutgoingMail>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let user_row = UserRow::from(user);
        let row = OneTimeRow::from(token);
        let outbox = mail.map(|m| NewOutboxRow::new(m.kind, &m.mail, token.created_at));
        conn.transaction(async |c| {
            diesel::insert_into(users::table).values(&user_row).execute(c).await?;
            put_one_time(c, &row).await?;
            if let Some(outbox) = &outbox {
                diesel::insert_into(mail_outbox::table).values(outbox).execute(c).await?;
            }
            Ok::<_, DieselError>(())
        })
        .await
        .map_err(store_error)
    }

    async fn queue_mail(&self, kind: MailKind, mail: &Mail, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let outbox = NewOutboxRow::new(kind, mail, at);
        diesel::insert_into(mail_outbox::table).values(&outbox).execute(&mut conn).await.map_err(store_error)?;
        Ok(())
    }

    async fn find_token_by_link(&self, link: &TokenDigest) -> Result<Option<OneTimeToken>, StoreError> {
        let mut conn = self.conn().await?;
        let row: Option<OneTimeRow> = one_time_tokens::table
            .filter(one_time_tokens::link_digest.eq(link.as_bytes().to_vec()))
            .select(OneTimeRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(store_error)?;
        row.map(OneTimeToken::try_from).transpose()
    }

    async fn find_token(&self, user: UserId, kind: OneTimeKind) -> Result<Option<OneTimeToken>, StoreError> {
        let mut conn = self.conn().await?;
        let row: Option<OneTimeRow> = one_time_tokens::table
            .find((user.as_uuid(), kind.as_str()))
            .select(OneTimeRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(store_error)?;
        row.map(OneTimeToken::try_from).transpose()
    }

    async fn count_failed_code(&self, user: UserId, kind: OneTimeKind) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let (owner, name) = (*user.as_uuid(), kind.as_str());
        let limit = i32::try_from(auth_core::domain::MAX_CODE_ATTEMPTS).unwrap_or(i32::MAX);
        conn.transaction(async |c| {
            let key = one_time_tokens::table
                .filter(one_time_tokens::user_id.eq(owner))
                .filter(one_time_tokens::kind.eq(name));
            diesel::update(key)
                .set(one_time_tokens::failed_attempts.eq(one_time_tokens::failed_attempts + 1))
                .execute(c)
                .await?;
            diesel::delete(key.filter(one_time_tokens::failed_attempts.ge(limit))).execute(c).await?;
            Ok::<_, DieselError>(())
        })
        .await
        .map_err(store_error)
    }

    async fn find_tokens_sent_to(&self, to: &Email, kind: OneTimeKind) -> Result<Vec<OneTimeToken>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<OneTimeRow> = one_time_tokens::table
            .filter(one_time_tokens::sent_to.eq(to.as_str()))
            .filter(one_time_tokens::kind.eq(kind.as_str()))
            .select(OneTimeRow::as_select())
            .load(&mut conn)
            .await
            .map_err(store_error)?;
        rows.into_iter().map(OneTimeToken::try_from).collect()
    }

    async fn redeem_token(
        &self,
        token: &OneTimeToken,
        user: &User,
        session: Option<(Session, TokenDigest)>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let user_row = UserRow::from(user);
        let started = session.map(|(session, first)| {
            let token = NewTokenRow {
                session_id: *session.id.as_uuid(),
                token_digest: first.as_bytes().to_vec(),
                parent: None,
                created_at: session.created_at,
            };
            (SessionRow::from(&session), token)
        });
        let (owner, kind, link) =
            (*token.user_id.as_uuid(), token.kind.as_str(), token.link_digest.as_bytes().to_vec());
        conn.transaction(async |c| {
            let used = diesel::delete(
                one_time_tokens::table
                    .filter(one_time_tokens::user_id.eq(owner))
                    .filter(one_time_tokens::kind.eq(kind))
                    .filter(one_time_tokens::link_digest.eq(&link)),
            )
            .execute(c)
            .await?;
            if used == 0 {
                return Err(DieselError::NotFound);
            }
            let updated = diesel::update(users::table.find(user_row.id)).set(&user_row).execute(c).await?;
            if updated == 0 {
                return Err(DieselError::NotFound);
            }
            if let Some((session_row, first)) = &started {
                diesel::insert_into(sessions::table).values(session_row).execute(c).await?;
                diesel::insert_into(refresh_tokens::table).values(first).execute(c).await?;
            }
            Ok(())
        })
        .await
        .map_err(store_error)
    }

    async fn last_mail_to(&self, to: &Email, kind: MailKind) -> Result<Option<DateTime<Utc>>, StoreError> {
        let mut conn = self.conn().await?;
        mail_outbox::table
            .filter(mail_outbox::recipient.eq(to.as_str()))
            .filter(mail_outbox::kind.eq(kind.as_str()))
            .select(diesel::dsl::max(mail_outbox::queued_at))
            .first(&mut conn)
            .await
            .map_err(store_error)
    }
}

#[async_trait]
impl MailOutbox for PgStore {
    async fn claim_due_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<OutboxRow> = conn
            .transaction(async |c| {
                // SKIP LOCKED: replicas claiming at once each take different messages.
                let rows: Vec<OutboxRow> = mail_outbox::table
                    .filter(mail_outbox::sent_at.is_null())
                    .filter(mail_outbox::failed_at.is_null())
                    .filter(mail_outbox::next_attempt_at.le(now))
                    .order((mail_outbox::next_attempt_at.asc(), mail_outbox::id.asc()))
                    .limit(i64::from(limit))
                    .for_update()
                    .skip_locked()
                    .select(OutboxRow::as_select())
                    .load(c)
                    .await?;
                let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                diesel::update(mail_outbox::table.filter(mail_outbox::id.eq_any(&ids)))
                    .set(mail_outbox::next_attempt_at.eq(lease_until))
                    .execute(c)
                    .await?;
                Ok::<_, DieselError>(rows)
            })
            .await
            .map_err(store_error)?;
        rows.into_iter().map(QueuedMail::try_from).collect()
    }

    async fn mark_mail_sent(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        diesel::update(mail_outbox::table.find(id))
            .set((mail_outbox::sent_at.eq(at), mail_outbox::text_body.eq(""), mail_outbox::html_body.eq("")))
            .execute(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn reschedule_mail(&self, id: i64, next_attempt: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        diesel::update(mail_outbox::table.find(id))
            .set((
                mail_outbox::attempts.eq(mail_outbox::attempts + 1),
                mail_outbox::next_attempt_at.eq(next_attempt),
                mail_outbox::last_error.eq(error),
            ))
            .execute(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn mark_mail_failed(&self, id: i64, at: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        diesel::update(mail_outbox::table.find(id))
            .set((
                mail_outbox::attempts.eq(mail_outbox::attempts + 1),
                mail_outbox::failed_at.eq(at),
                mail_outbox::last_error.eq(error),
                mail_outbox::text_body.eq(""),
                mail_outbox::html_body.eq(""),
            ))
            .execute(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
