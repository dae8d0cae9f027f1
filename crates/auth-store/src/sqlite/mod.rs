//! The embedded SQLite store: `SyncConnectionWrapper` connections pooled by deadpool. Work runs
//! as synchronous diesel on blocking threads, and every write that reads first takes the write
//! lock up front (`BEGIN IMMEDIATE`), so concurrent writers queue instead of failing.

mod rows;
mod schema;

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use auth_core::domain::{
    AuditEvent, AuthCode, MailKind, OneTimeKind, OneTimeToken, OutgoingMail, QueuedMail, UserQuery,
};
use auth_core::domain::{
    Email, KeyPurpose, PasswordHash, Phone, RefreshTokenRecord, Rotation, RotationOutcome, RotationPlan, Session,
    SessionId, StoredKey, TokenDigest, User, UserId, Username, plan_rotation,
};
use auth_core::ports::{
    AuditLog, EmailFlowStore, KeyStore, Mail, MailOutbox, NotReady, Readiness, Redemption, SessionStore, StoreError,
    UniqueField, UserStore,
};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sqlite::SqliteConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures_util::FutureExt;

use self::rows::{
    SqliteAuditRow, SqliteAuthCodeRow, SqliteKeyRow, SqliteNewAuditRow, SqliteNewOutboxRow, SqliteNewTokenRow,
    SqliteOneTimeRow, SqliteOutboxRow, SqliteSessionRow, SqliteTokenRow, SqliteUserRow,
};
use self::schema::{
    audit_log, auth_codes, mail_outbox, one_time_tokens, refresh_tokens, sessions, signing_keys, users,
};
use crate::PoolOptions;
use crate::error::store_error;
use crate::rows::{
    AuditRow, AuthCodeRow, KeyRow, NewAuditRow, NewOutboxRow, NewTokenRow, OneTimeRow, OutboxRow, SessionRow, TokenRow,
    UserRow,
};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Per-connection settings: write-ahead log so readers never block the writer, a busy timeout
/// so writers queue for the lock, and foreign keys (off by default in SQLite) for the cascades.
const CONNECTION_PRAGMAS: &str =
    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;";

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>);

type Conn = SyncConnectionWrapper<SqliteConnection>;

/// Users, sessions and refresh tokens in an SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    pool: Pool<Conn>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and its directory.
    pub async fn open(path: &Path, options: &PoolOptions) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut config = ManagerConfig::<Conn>::default();
        // No `SELECT 1` (a trip to a blocking thread) before each use.
        config.recycling_method = RecyclingMethod::Fast;
        config.custom_setup = Box::new(|url| {
            let url = url.to_owned();
            async move {
                let mut conn = Conn::establish(&url).await?;
                conn.batch_execute(CONNECTION_PRAGMAS)
                    .await
                    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(conn)
            }
            .boxed()
        });
        let url = path.to_str().ok_or_else(|| StoreError::Unavailable("the SQLite path is not UTF-8".into()))?;
        let manager = AsyncDieselConnectionManager::<Conn>::new_with_config(url, config);
        let pool = Pool::builder(manager)
            .max_size(options.max_connections)
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Internal(format!("cannot build the connection pool: {e}")))?;
        let store = Self { pool, path: path.to_owned() };
        store.run(|c| diesel::sql_query("SELECT 1").execute(c)).await?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How the connection pool is used now.
    pub fn pool_status(&self) -> crate::PoolStatus {
        crate::PoolStatus::from(self.pool.status())
    }

    /// Applies pending migrations; returns how many ran.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        self.run(|c| Ok(c.run_pending_migrations(MIGRATIONS).map(|v| v.len()).map_err(|e| e.to_string())))
            .await?
            .map_err(|e| StoreError::Internal(format!("migration failed: {e}")))
    }

    async fn conn(&self) -> Result<Object<Conn>, StoreError> {
        self.pool.get().await.map_err(|e| StoreError::Unavailable(format!("cannot open SQLite: {e}")))
    }

    /// Runs synchronous diesel work on a blocking thread with a pooled connection.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut SqliteConnection) -> QueryResult<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn().await?;
        conn.spawn_blocking(work).await.map_err(store_error)
    }
}

/// Which unique field of `row` another user holds, in the port's order; after a skipped insert.
fn taken_field(c: &mut SqliteConnection, row: &SqliteUserRow) -> QueryResult<UniqueField> {
    if users::table.find(&row.id).count().get_result::<i64>(c)? > 0 {
        return Ok(UniqueField::Id);
    }
    if let Some(email) = &row.email
        && users::table.filter(users::email.eq(email)).count().get_result::<i64>(c)? > 0
    {
        return Ok(UniqueField::Email);
    }
    if let Some(phone) = &row.phone
        && users::table.filter(users::phone.eq(phone)).count().get_result::<i64>(c)? > 0
    {
        return Ok(UniqueField::Phone);
    }
    Ok(UniqueField::Username)
}

/// Carries a conversion failure out of a closure that speaks diesel errors.
fn internal(error: StoreError) -> DieselError {
    DieselError::QueryBuilderError(error.to_string().into())
}

fn to_user(row: SqliteUserRow) -> Result<User, StoreError> {
    UserRow::try_from(row).and_then(User::try_from)
}

fn to_session(row: SqliteSessionRow) -> Result<Session, StoreError> {
    SessionRow::try_from(row).and_then(Session::try_from)
}

fn to_token(row: SqliteTokenRow) -> Result<RefreshTokenRecord, StoreError> {
    TokenRow::try_from(row).and_then(RefreshTokenRecord::try_from)
}

fn new_token(session: &SessionId, digest: &TokenDigest, parent: Option<i64>, at: DateTime<Utc>) -> SqliteNewTokenRow {
    SqliteNewTokenRow::from(NewTokenRow {
        session_id: *session.as_uuid(),
        token_digest: digest.as_bytes().to_vec(),
        parent,
        created_at: at,
    })
}

/// The rows that start `session` with its first refresh token.
fn session_rows(session: &Session, first: &TokenDigest) -> (SqliteSessionRow, SqliteNewTokenRow) {
    (SqliteSessionRow::from(SessionRow::from(session)), new_token(&session.id, first, None, session.created_at))
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn replace_password_hash(
        &self,
        id: UserId,
        current: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<bool, StoreError> {
        let id = id.as_uuid().as_bytes().to_vec();
        let (current, new) = (current.as_str().to_owned(), new.as_str().to_owned());
        let replaced = self
            .run(move |c| {
                diesel::update(users::table.find(id).filter(users::encrypted_password.eq(current)))
                    .set(users::encrypted_password.eq(new))
                    .execute(c)
            })
            .await?;
        Ok(replaced == 1)
    }

    async fn import_users(&self, batch: &[User]) -> Result<Vec<Option<UniqueField>>, StoreError> {
        let rows: Vec<SqliteUserRow> = batch.iter().map(|u| SqliteUserRow::from(UserRow::from(u))).collect();
        self.run(move |c| {
            c.immediate_transaction(|c| {
                let mut outcomes = Vec::with_capacity(rows.len());
                for row in &rows {
                    // DO NOTHING on any unique index, so one clash does not end the transaction.
                    let stored = diesel::insert_into(users::table).values(row).on_conflict_do_nothing().execute(c)?;
                    outcomes.push(if stored == 1 { None } else { Some(taken_field(c, row)?) });
                }
                Ok(outcomes)
            })
        })
        .await
    }

    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let row = SqliteUserRow::from(UserRow::from(user));
        self.run(move |c| diesel::insert_into(users::table).values(&row).execute(c)).await.map(drop)
    }

    async fn find_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let id = id.as_uuid().as_bytes().to_vec();
        let row =
            self.run(move |c| users::table.find(id).select(SqliteUserRow::as_select()).first(c).optional()).await?;
        row.map(to_user).transpose()
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let email = email.as_str().to_owned();
        let row = self
            .run(move |c| {
                users::table.filter(users::email.eq(email)).select(SqliteUserRow::as_select()).first(c).optional()
            })
            .await?;
        row.map(to_user).transpose()
    }

    async fn find_user_by_phone(&self, phone: &Phone) -> Result<Option<User>, StoreError> {
        let phone = phone.as_str().to_owned();
        let row = self
            .run(move |c| {
                users::table.filter(users::phone.eq(phone)).select(SqliteUserRow::as_select()).first(c).optional()
            })
            .await?;
        row.map(to_user).transpose()
    }

    async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        let key = username.key();
        let row = self
            .run(move |c| {
                users::table
                    .filter(lower(users::username).eq(key))
                    .select(SqliteUserRow::as_select())
                    .first(c)
                    .optional()
            })
            .await?;
        row.map(to_user).transpose()
    }

    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        let row = SqliteUserRow::from(UserRow::from(user));
        let updated = self.run(move |c| diesel::update(users::table.find(row.id.clone())).set(&row).execute(c)).await?;
        if updated == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        let id = id.as_uuid().as_bytes().to_vec();
        // Sessions and refresh tokens go with the user through ON DELETE CASCADE.
        let deleted = self.run(move |c| diesel::delete(users::table.find(id)).execute(c)).await?;
        Ok(deleted > 0)
    }

    async fn list_users(&self, query: &UserQuery) -> Result<Vec<User>, StoreError> {
        let query = query.clone();
        let rows = self
            .run(move |c| {
                let filtered = filtered_users(&query);
                let ordered = if query.newest_first {
                    filtered.order((users::created_at.desc(), users::id.desc()))
                } else {
                    filtered.order((users::created_at.asc(), users::id.asc()))
                };
                ordered
                    .offset(i64::try_from(query.offset).unwrap_or(i64::MAX))
                    .limit(i64::try_from(query.limit).unwrap_or(i64::MAX))
                    .select(SqliteUserRow::as_select())
                    .load(c)
            })
            .await?;
        rows.into_iter().map(to_user).collect()
    }

    async fn count_users(&self, query: &UserQuery) -> Result<u64, StoreError> {
        let query = query.clone();
        let count: i64 = self.run(move |c| filtered_users(&query).count().get_result(c)).await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }
}

/// `users` narrowed by the query's filter (email or username contains it; SQLite's LIKE
/// ignores ASCII letter case).
fn filtered_users(query: &UserQuery) -> users::BoxedQuery<'static, diesel::sqlite::Sqlite> {
    let mut boxed = users::table.into_boxed();
    if let Some(pattern) = query.like_pattern() {
        boxed = boxed
            .filter(users::email.like(pattern.clone()).escape('\\').or(users::username.like(pattern).escape('\\')));
    }
    boxed
}

#[async_trait]
impl AuditLog for SqliteStore {
    async fn record(&self, event: AuditEvent) {
        let row = SqliteNewAuditRow::from(NewAuditRow::from(&event));
        let written = self.run(move |c| diesel::insert_into(audit_log::table).values(&row).execute(c)).await;
        if let Err(error) = written {
            tracing::error!(action = event.action.as_str(), %error, "could not write the audit log");
        }
    }

    async fn list_events(&self, offset: u64, limit: u64) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = self
            .run(move |c| {
                audit_log::table
                    .order(audit_log::id.desc())
                    .offset(i64::try_from(offset).unwrap_or(i64::MAX))
                    .limit(i64::try_from(limit).unwrap_or(i64::MAX))
                    .select(SqliteAuditRow::as_select())
                    .load(c)
            })
            .await?;
        rows.into_iter().map(|row| AuditRow::try_from(row).and_then(AuditEvent::try_from)).collect()
    }

    async fn count_events(&self) -> Result<u64, StoreError> {
        let count: i64 = self.run(|c| audit_log::table.count().get_result(c)).await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    async fn prune_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let deleted = self
            .run(move |c| diesel::delete(audit_log::table.filter(audit_log::created_at.lt(before))).execute(c))
            .await?;
        Ok(deleted as u64)
    }
}

/// Revokes a session and its tokens inside the caller's transaction; whether it was live.
fn revoke_family(c: &mut SqliteConnection, id: &[u8], at: DateTime<Utc>) -> QueryResult<bool> {
    let revoked = diesel::update(sessions::table.find(id.to_vec()).filter(sessions::revoked_at.is_null()))
        .set(sessions::revoked_at.eq(at))
        .execute(c)?;
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::session_id.eq(id.to_vec()))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(at))
    .execute(c)?;
    Ok(revoked > 0)
}

/// The rotation, inside an immediate transaction (which holds SQLite's write lock throughout).
fn rotate(c: &mut SqliteConnection, rotation: &Rotation) -> QueryResult<RotationOutcome> {
    let Some(presented) = refresh_tokens::table
        .filter(refresh_tokens::token_digest.eq(rotation.presented.as_bytes().to_vec()))
        .select(SqliteTokenRow::as_select())
        .first(c)
        .optional()?
    else {
        return Ok(RotationOutcome::NotFound);
    };
    let Some(session) =
        sessions::table.find(presented.session_id.clone()).select(SqliteSessionRow::as_select()).first(c).optional()?
    else {
        return Ok(RotationOutcome::NotFound);
    };
    let live = refresh_tokens::table
        .filter(refresh_tokens::session_id.eq(session.id.clone()))
        .filter(refresh_tokens::used_at.is_null())
        .filter(refresh_tokens::revoked_at.is_null())
        .select(SqliteTokenRow::as_select())
        .first(c)
        .optional()?;
    let session = to_session(session).map_err(internal)?;
    let presented = to_token(presented).map_err(internal)?;
    let live = live.map(to_token).transpose().map_err(internal)?;
    let session_key = session.id.as_uuid().as_bytes().to_vec();
    match plan_rotation(&presented, &session, live.as_ref(), rotation) {
        RotationPlan::Rotate => {
            diesel::update(refresh_tokens::table.find(presented.id))
                .set(refresh_tokens::used_at.eq(rotation.now))
                .execute(c)?;
            diesel::insert_into(refresh_tokens::table)
                .values(new_token(&session.id, &rotation.successor, Some(presented.id), rotation.now))
                .execute(c)?;
            diesel::update(sessions::table.find(session_key))
                .set(sessions::refreshed_at.eq(rotation.now))
                .execute(c)?;
            Ok(RotationOutcome::Rotated(Session { refreshed_at: Some(rotation.now), ..session }))
        }
        RotationPlan::Replay => Ok(RotationOutcome::Replayed(session)),
        RotationPlan::RevokeFamily => {
            revoke_family(c, &session_key, rotation.now)?;
            Ok(RotationOutcome::ReuseDetected(session.id))
        }
        RotationPlan::Expired(reason) => Ok(RotationOutcome::Expired(session.id, reason)),
        RotationPlan::Dead => Ok(RotationOutcome::NotFound),
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn start_session(&self, session: &Session, first_token: &TokenDigest) -> Result<(), StoreError> {
        let (row, token) = session_rows(session, first_token);
        let signed_in_at = session.created_at;
        self.run(move |c| {
            c.immediate_transaction(|c| {
                let found = diesel::update(users::table.find(row.user_id.clone()))
                    .set(users::last_sign_in_at.eq(signed_in_at))
                    .execute(c)?;
                if found == 0 {
                    return Err(DieselError::NotFound);
                }
                diesel::insert_into(sessions::table).values(&row).execute(c)?;
                diesel::insert_into(refresh_tokens::table).values(&token).execute(c)?;
                Ok(())
            })
        })
        .await
    }

    async fn create_user_with_session(
        &self,
        user: &User,
        session: &Session,
        first_token: &TokenDigest,
    ) -> Result<(), StoreError> {
        let user_row = SqliteUserRow::from(UserRow::from(user));
        let (session_row, token) = session_rows(session, first_token);
        self.run(move |c| {
            c.immediate_transaction(|c| {
                diesel::insert_into(users::table).values(&user_row).execute(c)?;
                diesel::insert_into(sessions::table).values(&session_row).execute(c)?;
                diesel::insert_into(refresh_tokens::table).values(&token).execute(c)?;
                Ok(())
            })
        })
        .await
    }

    async fn find_session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        let id = id.as_uuid().as_bytes().to_vec();
        let row = self
            .run(move |c| sessions::table.find(id).select(SqliteSessionRow::as_select()).first(c).optional())
            .await?;
        row.map(to_session).transpose()
    }

    async fn list_sessions(&self, user: UserId) -> Result<Vec<Session>, StoreError> {
        let user = user.as_uuid().as_bytes().to_vec();
        let rows = self
            .run(move |c| {
                sessions::table
                    .filter(sessions::user_id.eq(user))
                    .filter(sessions::revoked_at.is_null())
                    .order((sessions::created_at.asc(), sessions::id.asc()))
                    .select(SqliteSessionRow::as_select())
                    .load(c)
            })
            .await?;
        rows.into_iter().map(to_session).collect()
    }

    async fn rotate_refresh_token(&self, rotation: &Rotation) -> Result<RotationOutcome, StoreError> {
        let rotation = rotation.clone();
        self.run(move |c| c.immediate_transaction(|c| rotate(c, &rotation))).await
    }

    async fn revoke_session(&self, id: SessionId, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let id = id.as_uuid().as_bytes().to_vec();
        self.run(move |c| c.immediate_transaction(|c| revoke_family(c, &id, at))).await
    }

    async fn revoke_user_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let user = user.as_uuid().as_bytes().to_vec();
        let keep = keep.map(|k| k.as_uuid().as_bytes().to_vec()).unwrap_or_default();
        self.run(move |c| {
            c.immediate_transaction(|c| {
                let doomed: Vec<Vec<u8>> = sessions::table
                    .filter(sessions::user_id.eq(user))
                    .filter(sessions::revoked_at.is_null())
                    .filter(sessions::id.ne(keep))
                    .select(sessions::id)
                    .load(c)?;
                for id in &doomed {
                    revoke_family(c, id, at)?;
                }
                Ok(doomed.len() as u64)
            })
        })
        .await
    }
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn list_keys(&self, purpose: KeyPurpose) -> Result<Vec<StoredKey>, StoreError> {
        let rows = self
            .run(move |c| {
                signing_keys::table
                    .filter(signing_keys::purpose.eq(purpose.as_str()))
                    .select(SqliteKeyRow::as_select())
                    .load(c)
            })
            .await?;
        rows.into_iter().map(|row| StoredKey::try_from(KeyRow::from(row))).collect()
    }

    async fn add_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        let row = SqliteKeyRow::from(KeyRow::from(key));
        self.run(move |c| diesel::insert_into(signing_keys::table).values(&row).execute(c)).await.map(drop)
    }

    async fn add_first_key(&self, key: &StoredKey) -> Result<bool, StoreError> {
        let row = SqliteKeyRow::from(KeyRow::from(key));
        self.run(move |c| {
            c.immediate_transaction(|c| {
                let existing: i64 =
                    signing_keys::table.filter(signing_keys::purpose.eq(&row.purpose)).count().get_result(c)?;
                if existing > 0 {
                    return Ok(false);
                }
                diesel::insert_into(signing_keys::table).values(&row).execute(c)?;
                Ok(true)
            })
        })
        .await
    }
}

/// Replaces the user's one-time token of the token's kind, inside the caller's transaction.
fn put_one_time(c: &mut SqliteConnection, token: &SqliteOneTimeRow) -> QueryResult<()> {
    diesel::delete(
        one_time_tokens::table
            .filter(one_time_tokens::user_id.eq(&token.user_id))
            .filter(one_time_tokens::kind.eq(&token.kind)),
    )
    .execute(c)?;
    diesel::insert_into(one_time_tokens::table).values(token).execute(c)?;
    Ok(())
}

fn to_one_time(row: SqliteOneTimeRow) -> Result<OneTimeToken, StoreError> {
    OneTimeRow::try_from(row).and_then(OneTimeToken::try_from)
}

#[async_trait]
impl EmailFlowStore for SqliteStore {
    async fn issue_token(&self, token: &OneTimeToken, mail: Option<OutgoingMail>) -> Result<(), StoreError> {
        let row = SqliteOneTimeRow::from(OneTimeRow::from(token));
        let outbox = mail.map(|m| SqliteNewOutboxRow::from(NewOutboxRow::new(m.kind, &m.mail, token.created_at)));
        self.run(move |c| {
            c.immediate_transaction(|c| {
                put_one_time(c, &row)?;
                if let Some(outbox) = &outbox {
                    diesel::insert_into(mail_outbox::table).values(outbox).execute(c)?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn create_user_with_token(
        &self,
        user: &User,
        token: &OneTimeToken,
        mail: Option<OutgoingMail>,
    ) -> Result<(), StoreError> {
        let user_row = SqliteUserRow::from(UserRow::from(user));
        let row = SqliteOneTimeRow::from(OneTimeRow::from(token));
        let outbox = mail.map(|m| SqliteNewOutboxRow::from(NewOutboxRow::new(m.kind, &m.mail, token.created_at)));
        self.run(move |c| {
            c.immediate_transaction(|c| {
                diesel::insert_into(users::table).values(&user_row).execute(c)?;
                put_one_time(c, &row)?;
                if let Some(outbox) = &outbox {
                    diesel::insert_into(mail_outbox::table).values(outbox).execute(c)?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn queue_mail(&self, kind: MailKind, mail: &Mail, at: DateTime<Utc>) -> Result<(), StoreError> {
        let outbox = SqliteNewOutboxRow::from(NewOutboxRow::new(kind, mail, at));
        self.run(move |c| diesel::insert_into(mail_outbox::table).values(&outbox).execute(c)).await.map(drop)
    }

    async fn find_token_by_link(&self, link: &TokenDigest) -> Result<Option<OneTimeToken>, StoreError> {
        let link = link.as_bytes().to_vec();
        let row = self
            .run(move |c| {
                one_time_tokens::table
                    .filter(one_time_tokens::link_digest.eq(link))
                    .select(SqliteOneTimeRow::as_select())
                    .first(c)
                    .optional()
            })
            .await?;
        row.map(to_one_time).transpose()
    }

    async fn find_token(&self, user: UserId, kind: OneTimeKind) -> Result<Option<OneTimeToken>, StoreError> {
        let user = user.as_uuid().as_bytes().to_vec();
        let row = self
            .run(move |c| {
                one_time_tokens::table
                    .find((user, kind.as_str()))
                    .select(SqliteOneTimeRow::as_select())
                    .first(c)
                    .optional()
            })
            .await?;
        row.map(to_one_time).transpose()
    }

    async fn count_failed_code(&self, user: UserId, kind: OneTimeKind) -> Result<(), StoreError> {
        let owner = user.as_uuid().as_bytes().to_vec();
        let limit = i32::try_from(auth_core::domain::MAX_CODE_ATTEMPTS).unwrap_or(i32::MAX);
        self.run(move |c| {
            c.immediate_transaction(|c| {
                let key = || {
                    one_time_tokens::table
                        .filter(one_time_tokens::user_id.eq(owner.clone()))
                        .filter(one_time_tokens::kind.eq(kind.as_str()))
                };
                diesel::update(key())
                    .set(one_time_tokens::failed_attempts.eq(one_time_tokens::failed_attempts + 1))
                    .execute(c)?;
                diesel::delete(key().filter(one_time_tokens::failed_attempts.ge(limit))).execute(c)?;
                Ok(())
            })
        })
        .await
    }

    async fn find_tokens_sent_to(&self, to: &Email, kind: OneTimeKind) -> Result<Vec<OneTimeToken>, StoreError> {
        let to = to.as_str().to_owned();
        let rows = self
            .run(move |c| {
                one_time_tokens::table
                    .filter(one_time_tokens::sent_to.eq(to))
                    .filter(one_time_tokens::kind.eq(kind.as_str()))
                    .select(SqliteOneTimeRow::as_select())
                    .load(c)
            })
            .await?;
        rows.into_iter().map(to_one_time).collect()
    }

    async fn redeem_token(&self, token: &OneTimeToken, user: &User, then: Redemption) -> Result<(), StoreError> {
        let user_row = SqliteUserRow::from(UserRow::from(user));
        let (started, code) = match &then {
            Redemption::Nothing => (None, None),
            Redemption::Session(session, first) => (Some(session_rows(session, first)), None),
            Redemption::AuthCode(code) => (None, Some(SqliteAuthCodeRow::from(AuthCodeRow::from(code)))),
        };
        let owner = token.user_id.as_uuid().as_bytes().to_vec();
        let kind = token.kind.as_str();
        let link = token.link_digest.as_bytes().to_vec();
        self.run(move |c| {
            c.immediate_transaction(|c| {
                let used = diesel::delete(
                    one_time_tokens::table
                        .filter(one_time_tokens::user_id.eq(&owner))
                        .filter(one_time_tokens::kind.eq(kind))
                        .filter(one_time_tokens::link_digest.eq(&link)),
                )
                .execute(c)?;
                if used == 0 {
                    return Err(DieselError::NotFound);
                }
                let updated = diesel::update(users::table.find(user_row.id.clone())).set(&user_row).execute(c)?;
                if updated == 0 {
                    return Err(DieselError::NotFound);
                }
                if let Some((session_row, first)) = &started {
                    diesel::insert_into(sessions::table).values(session_row).execute(c)?;
                    diesel::insert_into(refresh_tokens::table).values(first).execute(c)?;
                }
                if let Some(code) = &code {
                    diesel::delete(auth_codes::table.filter(auth_codes::expires_at.lt(code.created_at))).execute(c)?;
                    diesel::insert_into(auth_codes::table).values(code).execute(c)?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn find_auth_code(&self, digest: &TokenDigest) -> Result<Option<AuthCode>, StoreError> {
        let digest = digest.as_bytes().to_vec();
        let row = self
            .run(move |c| auth_codes::table.find(digest).select(SqliteAuthCodeRow::as_select()).first(c).optional())
            .await?;
        row.map(|r| AuthCodeRow::try_from(r).and_then(AuthCode::try_from)).transpose()
    }

    async fn redeem_auth_code(
        &self,
        code: &AuthCode,
        user: &User,
        session: &Session,
        first_refresh: &TokenDigest,
    ) -> Result<(), StoreError> {
        let user_row = SqliteUserRow::from(UserRow::from(user));
        let (session_row, first) = session_rows(session, first_refresh);
        let digest = code.digest.as_bytes().to_vec();
        self.run(move |c| {
            c.immediate_transaction(|c| {
                if diesel::delete(auth_codes::table.find(&digest)).execute(c)? == 0 {
                    return Err(DieselError::NotFound);
                }
                if diesel::update(users::table.find(user_row.id.clone())).set(&user_row).execute(c)? == 0 {
                    return Err(DieselError::NotFound);
                }
                diesel::insert_into(sessions::table).values(&session_row).execute(c)?;
                diesel::insert_into(refresh_tokens::table).values(&first).execute(c)?;
                Ok(())
            })
        })
        .await
    }

    async fn last_mail_to(&self, to: &Email, kind: MailKind) -> Result<Option<DateTime<Utc>>, StoreError> {
        let to = to.as_str().to_owned();
        self.run(move |c| {
            mail_outbox::table
                .filter(mail_outbox::recipient.eq(to))
                .filter(mail_outbox::kind.eq(kind.as_str()))
                .order(mail_outbox::queued_at.desc())
                .select(mail_outbox::queued_at)
                .first(c)
                .optional()
        })
        .await
    }
}

#[async_trait]
impl MailOutbox for SqliteStore {
    async fn claim_due_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        let rows: Vec<SqliteOutboxRow> = self
            .run(move |c| {
                // BEGIN IMMEDIATE: one writer at a time, so two claims never overlap.
                c.immediate_transaction(|c| {
                    let rows: Vec<SqliteOutboxRow> = mail_outbox::table
                        .filter(mail_outbox::sent_at.is_null())
                        .filter(mail_outbox::failed_at.is_null())
                        .filter(mail_outbox::next_attempt_at.le(now))
                        .order((mail_outbox::next_attempt_at.asc(), mail_outbox::id.asc()))
                        .limit(i64::from(limit))
                        .select(SqliteOutboxRow::as_select())
                        .load(c)?;
                    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                    diesel::update(mail_outbox::table.filter(mail_outbox::id.eq_any(&ids)))
                        .set(mail_outbox::next_attempt_at.eq(lease_until))
                        .execute(c)?;
                    Ok(rows)
                })
            })
            .await?;
        rows.into_iter().map(|r| QueuedMail::try_from(OutboxRow::from(r))).collect()
    }

    async fn mark_mail_sent(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.run(move |c| {
            diesel::update(mail_outbox::table.find(id))
                .set((mail_outbox::sent_at.eq(at), mail_outbox::text_body.eq(""), mail_outbox::html_body.eq("")))
                .execute(c)
        })
        .await
        .map(drop)
    }

    async fn reschedule_mail(&self, id: i64, next_attempt: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
        let error = error.to_owned();
        self.run(move |c| {
            diesel::update(mail_outbox::table.find(id))
                .set((
                    mail_outbox::attempts.eq(mail_outbox::attempts + 1),
                    mail_outbox::next_attempt_at.eq(next_attempt),
                    mail_outbox::last_error.eq(error),
                ))
                .execute(c)
        })
        .await
        .map(drop)
    }

    async fn mark_mail_failed(&self, id: i64, at: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
        let error = error.to_owned();
        self.run(move |c| {
            diesel::update(mail_outbox::table.find(id))
                .set((
                    mail_outbox::attempts.eq(mail_outbox::attempts + 1),
                    mail_outbox::failed_at.eq(at),
                    mail_outbox::last_error.eq(error),
                    mail_outbox::text_body.eq(""),
                    mail_outbox::html_body.eq(""),
                ))
                .execute(c)
        })
        .await
        .map(drop)
    }
}

#[async_trait]
impl Readiness for SqliteStore {
    async fn check_ready(&self) -> Result<(), NotReady> {
        let applied = self
            .run(|c| {
                diesel::sql_query("SELECT 1").execute(c)?;
                Ok(diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
                    .load::<crate::readiness::AppliedVersion>(c))
            })
            .await
            .map_err(|e| NotReady::Unreachable(e.to_string()))?;
        let pending = match applied {
            Ok(applied) => crate::readiness::pending::<diesel::sqlite::Sqlite>(&MIGRATIONS, &applied),
            Err(_) => crate::readiness::all::<diesel::sqlite::Sqlite>(&MIGRATIONS),
        };
        if pending > 0 { Err(NotReady::PendingMigrations(pending)) } else { Ok(()) }
    }
}
