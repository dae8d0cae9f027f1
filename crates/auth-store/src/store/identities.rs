//! `IdentityStore`: external identities, and the flow states of browser sign-ins.

use async_trait::async_trait;
use auth_core::domain::{AuditEvent, FlowId, Identity, IdentityId, OAuthFlow, ProviderName, UserChange, UserId};
use auth_core::ports::{IdentitySignIn, IdentityStore, Landing, StoreError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel_async::RunQueryDsl;

use super::super::{Conn, DbUuid, Store, db_uuid};
use super::audit::insert_events;
use super::identity_rows::{IdentityRow, OAuthFlowRow};
use super::rows::{AuthCodeRow, UserRow};
use super::schema::{auth_codes, identities, oauth_flows, users};
use super::sessions::{insert_session, session_rows};
use super::users::{lock_user, write_change};

/// Locks user `id` and writes `change` to it, inside the caller's transaction; `NotFound` when
/// the user is gone or the change's guard no longer holds.
async fn change_locked(c: &mut Conn, id: DbUuid, change: &UserChange) -> QueryResult<()> {
    let password = lock_user(c, id).await?;
    if !write_change(c, id, password.as_deref(), change).await? {
        return Err(DieselError::NotFound);
    }
    Ok(())
}

#[async_trait]
impl IdentityStore for Store {
    async fn create_oauth_flow(&self, flow: &OAuthFlow) -> Result<(), StoreError> {
        let row = OAuthFlowRow::from(flow);
        self.execute("create_oauth_flow", diesel::insert_into(oauth_flows::table).values(&row)).await.map(drop)
    }

    async fn take_oauth_flow(&self, id: FlowId) -> Result<Option<OAuthFlow>, StoreError> {
        let id = db_uuid(id.as_uuid());
        let row = self
            .write("take_oauth_flow", async |c| {
                // The delete decides which of two racing callbacks gets the flow.
                let taken = diesel::delete(oauth_flows::table.find(id)).returning(OAuthFlowRow::as_returning());
                taken.get_result(c).await.optional()
            })
            .await?;
        row.map(OAuthFlow::try_from).transpose()
    }

    async fn prune_oauth_flows(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError> {
        let expired = oauth_flows::table.filter(oauth_flows::expires_at.lt(before)).select(oauth_flows::id);
        let expired = expired.limit(i64::from(limit));
        let deleted = self
            .write("prune_oauth_flows", async |c| {
                let ids: Vec<DbUuid> = expired.load(c).await?;
                diesel::delete(oauth_flows::table.filter(oauth_flows::id.eq_any(&ids))).execute(c).await
            })
            .await?;
        Ok(deleted as u64)
    }

    async fn list_identities(&self, user: UserId) -> Result<Vec<Identity>, StoreError> {
        let of_user = identities::table.filter(identities::user_id.eq(db_uuid(user.as_uuid())));
        let ordered = of_user.order((identities::created_at.asc(), identities::id.asc()));
        self.load("list_identities", ordered.select(IdentityRow::as_select())).await
    }

    async fn find_identity(&self, provider: &ProviderName, provider_id: &str) -> Result<Option<Identity>, StoreError> {
        let found = identities::table
            .filter(identities::provider.eq(provider.as_str().to_owned()))
            .filter(identities::provider_id.eq(provider_id.to_owned()));
        self.find("find_identity", found.select(IdentityRow::as_select())).await
    }

    async fn find_identities_by_email(&self, email: &str) -> Result<Vec<Identity>, StoreError> {
        let found = identities::table.filter(identities::email.eq(email.to_lowercase()));
        let ordered = found.order((identities::created_at.asc(), identities::id.asc()));
        self.load("find_identities_by_email", ordered.select(IdentityRow::as_select())).await
    }

    async fn record_identity_sign_in(&self, sign_in: &IdentitySignIn) -> Result<(), StoreError> {
        let new_user = sign_in.new_user.as_ref().map(UserRow::from);
        let identity = IdentityRow::from(&sign_in.identity);
        let is_new = sign_in.identity_is_new;
        let user_id = identity.user_id;
        let session = match &sign_in.landing {
            Some(Landing::Session(session, first)) => Some(session_rows(session, first)),
            _ => None,
        };
        let code = match &sign_in.landing {
            Some(Landing::Code(code)) => Some(AuthCodeRow::from(code)),
            _ => None,
        };
        let change = &sign_in.change;
        let events = &sign_in.events;
        self.write("record_identity_sign_in", async |c| {
            if let Some(user) = &new_user {
                diesel::insert_into(users::table).values(user).execute(c).await?;
            }
            change_locked(c, user_id, change).await?;
            if is_new {
                diesel::insert_into(identities::table).values(&identity).execute(c).await?;
            } else {
                let known = identities::table.find(identity.id).filter(identities::user_id.eq(user_id));
                let data = (
                    identities::identity_data.eq(&identity.identity_data),
                    identities::email.eq(&identity.email),
                    identities::last_sign_in_at.eq(identity.last_sign_in_at),
                    identities::updated_at.eq(identity.updated_at),
                );
                if diesel::update(known).set(data).execute(c).await? == 0 {
                    return Err(DieselError::NotFound);
                }
            }
            if let Some((session, first)) = &session {
                insert_session(c, session, first).await?;
            }
            if let Some(code) = &code {
                diesel::insert_into(auth_codes::table).values(code).execute(c).await?;
            }
            insert_events(c, events).await
        })
        .await
    }

    async fn unlink_identity(
        &self,
        user: UserId,
        id: IdentityId,
        change: &UserChange,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        let user = db_uuid(user.as_uuid());
        let doomed = identities::table.find(db_uuid(id.as_uuid())).filter(identities::user_id.eq(user));
        self.write("unlink_identity", async |c| {
            let password = lock_user(c, user).await?;
            if diesel::delete(doomed).execute(c).await? == 0 {
                return Ok(false);
            }
            if !write_change(c, user, password.as_deref(), change).await? {
                return Err(DieselError::NotFound);
            }
            insert_events(c, events).await?;
            Ok(true)
        })
        .await
    }
}
