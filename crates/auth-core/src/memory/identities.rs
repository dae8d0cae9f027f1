//! The memory store's `IdentityStore`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{MemoryStore, State};
use crate::domain::{FlowId, Identity, IdentityId, OAuthFlow, ProviderName, UserChange, UserId};
use crate::ports::{IdentitySignIn, IdentityStore, Landing, StoreError, UniqueField};

impl State {
    /// Writes `change` to user `id` like `change_user`, failing when the guard does not hold.
    fn change_user_or_missing(&mut self, id: UserId, change: &UserChange) -> Result<(), StoreError> {
        self.change_user(id, change)?.map(drop).ok_or(StoreError::NotFound)
    }
}

fn oldest_first(identities: &mut [Identity]) {
    identities.sort_by_key(|i| (i.created_at, i.id));
}

#[async_trait]
impl IdentityStore for MemoryStore {
    async fn create_oauth_flow(&self, flow: &OAuthFlow) -> Result<(), StoreError> {
        let mut state = self.state()?;
        if state.oauth_flows.iter().any(|f| f.id == flow.id) {
            return Err(StoreError::Conflict(UniqueField::Id));
        }
        state.oauth_flows.push(flow.clone());
        Ok(())
    }

    async fn take_oauth_flow(&self, id: FlowId) -> Result<Option<OAuthFlow>, StoreError> {
        let mut state = self.state()?;
        let Some(at) = state.oauth_flows.iter().position(|f| f.id == id) else { return Ok(None) };
        Ok(Some(state.oauth_flows.remove(at)))
    }

    async fn prune_oauth_flows(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError> {
        let mut state = self.state()?;
        let mut left = limit;
        let before_len = state.oauth_flows.len();
        state.oauth_flows.retain(|f| {
            let doomed = f.expires_at < before && left > 0;
            if doomed {
                left -= 1;
            }
            !doomed
        });
        Ok((before_len - state.oauth_flows.len()) as u64)
    }

    async fn list_identities(&self, user: UserId) -> Result<Vec<Identity>, StoreError> {
        let state = self.state()?;
        let mut found: Vec<Identity> = state.identities.iter().filter(|i| i.user_id == user).cloned().collect();
        oldest_first(&mut found);
        Ok(found)
    }

    async fn find_identity(&self, provider: &ProviderName, provider_id: &str) -> Result<Option<Identity>, StoreError> {
        let state = self.state()?;
        Ok(state.identities.iter().find(|i| &i.provider == provider && i.provider_id == provider_id).cloned())
    }

    async fn find_identities_by_email(&self, email: &str) -> Result<Vec<Identity>, StoreError> {
        let state = self.state()?;
        let email = email.to_lowercase();
        let mut found: Vec<Identity> =
            state.identities.iter().filter(|i| i.email.as_deref() == Some(email.as_str())).cloned().collect();
        oldest_first(&mut found);
        Ok(found)
    }

    async fn record_identity_sign_in(&self, sign_in: &IdentitySignIn) -> Result<(), StoreError> {
        let mut guard = self.state()?;
        // Work on a copy, so a refusal half-way writes nothing.
        let mut state = guard.clone();
        if let Some(user) = &sign_in.new_user {
            if state.users.contains_key(&user.id) {
                return Err(StoreError::Conflict(UniqueField::Id));
            }
            if let Some(field) = state.conflict(user) {
                return Err(StoreError::Conflict(field));
            }
            state.users.insert(user.id, user.clone());
        }
        let identity = &sign_in.identity;
        if !state.users.contains_key(&identity.user_id) {
            return Err(StoreError::NotFound);
        }
        let known = state.identities.iter().position(|i| i.id == identity.id);
        if sign_in.identity_is_new {
            let taken = state
                .identities
                .iter()
                .any(|i| i.provider == identity.provider && i.provider_id == identity.provider_id);
            if taken || known.is_some() {
                return Err(StoreError::Conflict(UniqueField::Identity));
            }
            state.identities.push(identity.clone());
        } else {
            let at = known.ok_or(StoreError::NotFound)?;
            let stored = &mut state.identities[at];
            stored.identity_data = identity.identity_data.clone();
            stored.email = identity.email.clone();
            stored.last_sign_in_at = identity.last_sign_in_at;
            stored.updated_at = identity.updated_at;
        }
        state.change_user_or_missing(identity.user_id, &sign_in.change)?;
        match &sign_in.landing {
            Some(Landing::Session(session, first)) => state.start_session_unchecked(session, first),
            Some(Landing::Code(code)) => state.auth_codes.push(code.clone()),
            None => {}
        }
        state.record_all(&sign_in.events);
        *guard = state;
        Ok(())
    }

    async fn unlink_identity(
        &self,
        user: UserId,
        id: IdentityId,
        change: &UserChange,
        events: &[crate::domain::AuditEvent],
    ) -> Result<bool, StoreError> {
        let mut guard = self.state()?;
        let mut state = guard.clone();
        let Some(at) = state.identities.iter().position(|i| i.id == id && i.user_id == user) else {
            return Ok(false);
        };
        state.identities.remove(at);
        state.change_user_or_missing(user, change)?;
        state.record_all(events);
        *guard = state;
        Ok(true)
    }
}
