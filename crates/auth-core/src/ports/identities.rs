//! The storage port of external identities and their sign-in flows.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::{
    AuditEvent, AuthCode, FlowId, Identity, IdentityId, OAuthFlow, ProviderName, Session, TokenDigest, User,
    UserChange, UserId,
};

/// How a sign-in through an identity ends: a session at once (implicit flow, ID token), or an
/// auth code for the client to exchange (PKCE).
#[derive(Debug, Clone, PartialEq)]
pub enum Landing {
    /// A new session with its first refresh token (digest).
    Session(Session, TokenDigest),
    /// An auth code (digest only).
    Code(AuthCode),
}

/// One sign-in or link through an external identity, written as one transaction by
/// [`IdentityStore::record_identity_sign_in`].
#[derive(Debug, Clone, PartialEq)]
pub struct IdentitySignIn {
    /// A user created by this sign-in (stored first).
    pub new_user: Option<User>,
    /// The identity as it is after the sign-in.
    pub identity: Identity,
    /// Whether the identity is new (inserted) or known (its data and sign-in time replaced).
    pub identity_is_new: bool,
    /// What changes on the identity's user (its sign-in time, providers, metadata).
    pub change: UserChange,
    /// The session or code it ends with; `None` for a link that starts nothing.
    pub landing: Option<Landing>,
    /// Audit events written with it.
    pub events: Vec<AuditEvent>,
}

/// Persistence of external identities and of the flow state between `/authorize` and
/// `/callback`.
///
/// Every method is atomic: it either completes or writes nothing.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// Stores a new flow state.
    ///
    /// - MUST fail with [`StoreError::Conflict`] ([`super::UniqueField::Id`]) when the id exists.
    async fn create_oauth_flow(&self, flow: &OAuthFlow) -> Result<(), StoreError>;

    /// Deletes the flow state `id` and answers it as it was, so it is used once.
    ///
    /// - Of concurrent calls for one id, exactly one MUST answer it; the others answer `None`.
    async fn take_oauth_flow(&self, id: FlowId) -> Result<Option<OAuthFlow>, StoreError>;

    /// Deletes up to `limit` flow states that expired before `before`; how many.
    async fn prune_oauth_flows(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError>;

    /// The user's identities, oldest first.
    async fn list_identities(&self, user: UserId) -> Result<Vec<Identity>, StoreError>;

    /// The identity a provider's subject belongs to.
    async fn find_identity(&self, provider: &ProviderName, provider_id: &str) -> Result<Option<Identity>, StoreError>;

    /// Every identity whose (lower-cased) email is `email`, of any provider, oldest first.
    async fn find_identities_by_email(&self, email: &str) -> Result<Vec<Identity>, StoreError>;

    /// Writes a sign-in in one transaction: creates `new_user` when given, inserts the identity
    /// when new or replaces its data, email, sign-in and update times when known, writes
    /// `change` to its user under the user's lock, stores the landing (session and first
    /// refresh token, or auth code) and records the events.
    ///
    /// - MUST fail with [`StoreError::Conflict`] ([`super::UniqueField::Identity`]) when a new
    ///   identity's provider and subject are taken, and as [`super::UserStore::create_user`]
    ///   does for the new user, writing nothing.
    /// - MUST fail with [`StoreError::NotFound`], writing nothing, when the identity's user is
    ///   gone or a known identity is no longer stored.
    async fn record_identity_sign_in(&self, sign_in: &IdentitySignIn) -> Result<(), StoreError>;

    /// Deletes identity `id` of `user`, writes `change` to the user and records `events`, in one
    /// transaction; whether it was there.
    ///
    /// - MUST answer `false`, writing nothing, when the user has no identity `id`.
    async fn unlink_identity(
        &self,
        user: UserId,
        id: IdentityId,
        change: &UserChange,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError>;
}
