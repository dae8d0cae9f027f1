//! The rows of `identities` and `oauth_flows`, and their conversion to and from the domain.

use super::super::{Db, DbUuid, db_uuid, uuid};
use auth_core::domain::{FlowId, Identity, IdentityId, OAuthFlow, ProviderName, UserId};
use auth_core::ports::StoreError;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;

use super::rows::{challenge_from, digest, parsed};
use super::schema::{identities, oauth_flows};

fn provider(name: &str) -> Result<ProviderName, StoreError> {
    parsed(name, |n| ProviderName::parse(n).ok(), "provider")
}

/// A row of `identities`.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = identities, check_for_backend(Db))]
pub struct IdentityRow {
    pub id: DbUuid,
    pub user_id: DbUuid,
    pub provider: String,
    pub provider_id: String,
    pub identity_data: Value,
    pub email: Option<String>,
    pub last_sign_in_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Identity> for IdentityRow {
    fn from(i: &Identity) -> Self {
        Self {
            id: db_uuid(i.id.as_uuid()),
            user_id: db_uuid(i.user_id.as_uuid()),
            provider: i.provider.as_str().to_owned(),
            provider_id: i.provider_id.clone(),
            identity_data: i.identity_data.clone(),
            email: i.email.clone(),
            last_sign_in_at: i.last_sign_in_at,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

impl TryFrom<IdentityRow> for Identity {
    type Error = StoreError;

    fn try_from(r: IdentityRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: IdentityId::from_uuid(uuid(r.id)),
            user_id: UserId::from_uuid(uuid(r.user_id)),
            provider: provider(&r.provider)?,
            provider_id: r.provider_id,
            identity_data: r.identity_data,
            email: r.email,
            last_sign_in_at: r.last_sign_in_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// A row of `oauth_flows`.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = oauth_flows, check_for_backend(Db))]
pub struct OAuthFlowRow {
    pub id: DbUuid,
    pub browser_digest: Vec<u8>,
    pub provider: String,
    pub redirect_to: String,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub linking_target_id: Option<DbUuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl From<&OAuthFlow> for OAuthFlowRow {
    fn from(f: &OAuthFlow) -> Self {
        Self {
            id: db_uuid(f.id.as_uuid()),
            browser_digest: f.browser.as_bytes().to_vec(),
            provider: f.provider.as_str().to_owned(),
            redirect_to: f.redirect_to.clone(),
            code_challenge: f.challenge.as_ref().map(|c| c.as_str().to_owned()),
            code_challenge_method: f.challenge.as_ref().map(|c| c.method().as_str().to_owned()),
            linking_target_id: f.linking_target.map(|id| db_uuid(id.as_uuid())),
            created_at: f.created_at,
            expires_at: f.expires_at,
        }
    }
}

impl TryFrom<OAuthFlowRow> for OAuthFlow {
    type Error = StoreError;

    fn try_from(r: OAuthFlowRow) -> Result<Self, StoreError> {
        let challenge = match (&r.code_challenge, &r.code_challenge_method) {
            (Some(challenge), Some(method)) => Some(challenge_from(challenge, method)?),
            _ => None,
        };
        Ok(Self {
            id: FlowId::from_uuid(uuid(r.id)),
            browser: digest(&r.browser_digest)?,
            provider: provider(&r.provider)?,
            redirect_to: r.redirect_to,
            challenge,
            linking_target: r.linking_target_id.map(|id| UserId::from_uuid(uuid(id))),
            created_at: r.created_at,
            expires_at: r.expires_at,
        })
    }
}
