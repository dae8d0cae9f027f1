//! `UserStore`.

use async_trait::async_trait;
use auth_core::domain::{Email, PasswordHash, Phone, User, UserChange, UserId, UserQuery, Username};
use auth_core::ports::{StoreError, UniqueField, UserStore};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::super::{Conn, Db, DbUuid, Store, db_uuid};
use super::rows::{UserChangeRow, UserRow};
use super::schema::{auth_codes, identities, lower, one_time_tokens, sessions, users};
use super::{bound, count};

/// `{}`, as the stored form of empty metadata.
fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// Which unique field of `row` another user holds, in the port's order; after a skipped insert.
async fn taken_field(c: &mut Conn, row: &UserRow) -> QueryResult<UniqueField> {
    if users::table.find(row.id).count().get_result::<i64>(c).await? > 0 {
        return Ok(UniqueField::Id);
    }
    if let Some(email) = &row.email
        && users::table.filter(users::email.eq(email)).count().get_result::<i64>(c).await? > 0
    {
        return Ok(UniqueField::Email);
    }
    if let Some(phone) = &row.phone
        && users::table.filter(users::phone.eq(phone)).count().get_result::<i64>(c).await? > 0
    {
        return Ok(UniqueField::Phone);
    }
    Ok(UniqueField::Username)
}

/// `users` narrowed by the query's filter (email, username or `user_metadata.full_name`
/// contains it, any case).
fn filtered_users(query: &UserQuery) -> users::BoxedQuery<'static, Db> {
    let mut boxed = users::table.into_boxed();
    if let Some(pattern) = query.like_pattern() {
        let username = like_any_case!(users::username, pattern.clone()).escape('\\');
        let full_name = like_any_case!(super::super::user_full_name(), pattern.clone()).escape('\\');
        boxed = boxed.filter(users::email.like(pattern).escape('\\').or(username).or(full_name));
    }
    boxed
}

/// Locks user `id`'s row until the transaction ends (the lock every write of the user's
/// account takes first); its password hash. `NotFound` when the user is gone.
pub(super) async fn lock_user(c: &mut Conn, id: DbUuid) -> QueryResult<Option<String>> {
    for_update!(users::table.find(id).select(users::encrypted_password)).first(c).await
}

/// Writes `change` to user `id`, locked by [`lock_user`] with `password` as its hash, inside
/// the caller's transaction; `false`, writing nothing, when the change's guard no longer holds.
pub(super) async fn write_change(
    c: &mut Conn,
    id: DbUuid,
    password: Option<&str>,
    change: &UserChange,
) -> QueryResult<bool> {
    let expected = change.only_if_password.as_ref().map(|hash| hash.as_ref().map(PasswordHash::as_str));
    if expected.is_some_and(|expected| expected != password) {
        return Ok(false);
    }
    if !change.writes_nothing() {
        diesel::update(users::table.find(id)).set(UserChangeRow::from(change)).execute(c).await?;
    }
    if !change.voids.is_empty() {
        let kinds: Vec<&str> = change.voids.iter().map(|k| k.as_str()).collect();
        let voided =
            one_time_tokens::table.filter(one_time_tokens::user_id.eq(id)).filter(one_time_tokens::kind.eq_any(kinds));
        diesel::delete(voided).execute(c).await?;
    }
    Ok(true)
}

#[async_trait]
impl UserStore for Store {
    async fn replace_password_hash(
        &self,
        id: UserId,
        current: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<bool, StoreError> {
        let user = users::table.find(db_uuid(id.as_uuid())).filter(users::encrypted_password.eq(current.as_str()));
        let replace = diesel::update(user).set(users::encrypted_password.eq(new.as_str()));
        Ok(self.execute("replace_password_hash", replace).await? == 1)
    }

    async fn import_users(&self, batch: &[User]) -> Result<Vec<Option<UniqueField>>, StoreError> {
        let rows: Vec<UserRow> = batch.iter().map(UserRow::from).collect();
        self.write("import_users", async |c| {
            let mut outcomes = Vec::with_capacity(rows.len());
            for row in &rows {
                // DO NOTHING on any unique index, so one clash does not end the transaction.
                let stored = diesel::insert_into(users::table).values(row).on_conflict_do_nothing().execute(c).await?;
                outcomes.push(if stored == 1 { None } else { Some(taken_field(c, row).await?) });
            }
            Ok(outcomes)
        })
        .await
    }

    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let row = UserRow::from(user);
        self.execute("create_user", diesel::insert_into(users::table).values(&row)).await.map(drop)
    }

    async fn find_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.find("find_user", users::table.find(db_uuid(id.as_uuid())).select(UserRow::as_select())).await
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let query = users::table.filter(users::email.eq(email.as_str())).select(UserRow::as_select());
        self.find("find_user_by_email", query).await
    }

    async fn find_user_by_phone(&self, phone: &Phone) -> Result<Option<User>, StoreError> {
        let query = users::table.filter(users::phone.eq(phone.as_str())).select(UserRow::as_select());
        self.find("find_user_by_phone", query).await
    }

    async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        let query = users::table.filter(lower(users::username).eq(username.key())).select(UserRow::as_select());
        self.find("find_user_by_username", query).await
    }

    async fn change_user(&self, id: UserId, change: &UserChange) -> Result<Option<User>, StoreError> {
        let id = db_uuid(id.as_uuid());
        let stored = self
            .write("change_user", async |c| {
                let password = lock_user(c, id).await?;
                if !write_change(c, id, password.as_deref(), change).await? {
                    return Ok(None);
                }
                users::table.find(id).select(UserRow::as_select()).first(c).await.map(Some)
            })
            .await?;
        stored.map(User::try_from).transpose()
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        // Sessions and refresh tokens go with the user through ON DELETE CASCADE.
        Ok(self.execute("delete_user", diesel::delete(users::table.find(db_uuid(id.as_uuid())))).await? > 0)
    }

    async fn soft_delete_user(&self, id: UserId, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let id = db_uuid(id.as_uuid());
        let live = users::table.find(id).filter(users::deleted_at.is_null());
        self.write("soft_delete_user", async |c| {
            let cleared = (
                users::email.eq(None::<String>),
                users::phone.eq(None::<String>),
                users::username.eq(None::<String>),
                users::encrypted_password.eq(None::<String>),
                users::email_change.eq(None::<String>),
                users::raw_app_meta_data.eq(empty_object()),
                users::raw_user_meta_data.eq(empty_object()),
                users::deleted_at.eq(Some(at)),
            );
            if diesel::update(live).set(cleared).execute(c).await? == 0 {
                return Ok(false);
            }
            // Refresh tokens go with their sessions (ON DELETE CASCADE).
            diesel::delete(sessions::table.filter(sessions::user_id.eq(id))).execute(c).await?;
            diesel::delete(one_time_tokens::table.filter(one_time_tokens::user_id.eq(id))).execute(c).await?;
            diesel::delete(auth_codes::table.filter(auth_codes::user_id.eq(id))).execute(c).await?;
            diesel::delete(identities::table.filter(identities::user_id.eq(id))).execute(c).await?;
            Ok(true)
        })
        .await
    }

    async fn list_users(&self, query: &UserQuery) -> Result<Vec<User>, StoreError> {
        let filtered = filtered_users(query);
        let ordered = if query.newest_first {
            filtered.order((users::created_at.desc(), users::id.desc()))
        } else {
            filtered.order((users::created_at.asc(), users::id.asc()))
        };
        let page = ordered.offset(bound(query.offset)).limit(bound(query.limit));
        self.load("list_users", page.select(UserRow::as_select())).await
    }

    async fn count_users(&self, query: &UserQuery) -> Result<u64, StoreError> {
        self.call("count_users", async |c| filtered_users(query).count().get_result(c).await).await.map(count)
    }
}
