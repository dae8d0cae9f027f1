use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{
    AuditEvent, Email, KeyMaterial, KeyPurpose, PasswordHash, Phone, Rotation, RotationOutcome, Session, SessionId,
    StoredKey, TokenDigest, User, UserChange, UserId, UserQuery, Username,
};

/// A uniqueness rule that a write would break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueField {
    /// The id is taken (only with a caller-chosen id).
    Id,
    /// Another user has this email address.
    Email,
    /// Another user has this phone number.
    Phone,
    /// Another user has this username (compared case-insensitively).
    Username,
    /// An identity of this provider and subject is stored (linked to some user).
    Identity,
}

/// Why a storage operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The write would break a uniqueness rule; nothing was written.
    #[error("{0:?} is already taken")]
    Conflict(UniqueField),
    /// The row the operation needs does not exist.
    #[error("not found")]
    NotFound,
    /// The database cannot be reached or is overloaded; the operation may be retried later and
    /// wrote nothing.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back, or the database answered something unexpected.
    #[error("storage failure: {0}")]
    Internal(String),
}

/// Persistence of users.
///
/// Every method is atomic: it either completes or writes nothing.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Stores a new user.
    ///
    /// - MUST fail with [`StoreError::Conflict`] naming the field when the id, email, phone or
    ///   username (case-insensitively) is already taken, and then write nothing.
    /// - Of concurrent creations with the same email, exactly one MUST succeed.
    async fn create_user(&self, user: &User) -> Result<(), StoreError>;

    /// The user with this id.
    async fn find_user(&self, id: UserId) -> Result<Option<User>, StoreError>;

    /// The user with this (normalised) email address.
    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError>;

    /// The user with this phone number.
    async fn find_user_by_phone(&self, phone: &Phone) -> Result<Option<User>, StoreError>;

    /// The user with this username, compared case-insensitively.
    async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError>;

    /// Writes the fields `change` names, and only those, in one atomic step; returns the user as
    /// stored after it, or `None`, writing nothing, when the change's guard
    /// ([`UserChange::only_if_password`]) no longer holds.
    ///
    /// - MUST leave every field the change does not name as stored now, whatever the caller
    ///   read earlier: a ban, password or role written meanwhile survives.
    /// - MUST delete, in the same transaction, the user's one-time tokens of the kinds in
    ///   `change.voids`.
    /// - MUST fail with [`StoreError::NotFound`] when no user has this id.
    /// - MUST fail with [`StoreError::Conflict`] as [`UserStore::create_user`] does.
    async fn change_user(&self, id: UserId, change: &UserChange) -> Result<Option<User>, StoreError>;

    /// Replaces a user's password hash by `new` only while it is still `current`, in one atomic
    /// step, touching no other field; returns whether it did.
    ///
    /// - MUST return `false`, writing nothing, when the user is gone or the stored hash is no
    ///   longer `current` (the password was changed meanwhile): an upgrade of the old password's
    ///   hash must never undo that change.
    async fn replace_password_hash(
        &self,
        id: UserId,
        current: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<bool, StoreError>;

    /// Deletes a user, returning whether one existed.
    ///
    /// - MUST delete, in the same transaction, every session and refresh token of the user.
    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError>;

    /// Soft-deletes a user, as Supabase Auth's `should_soft_delete` does: in one transaction,
    /// clears its email address, phone number, username, password, pending email change and
    /// both metadata objects, sets `deleted_at` to `at`, and deletes its sessions (with their
    /// refresh tokens), one-time tokens and auth codes. The row stays, so rows of the
    /// application that refer to it stay too. Returns whether a user not deleted before existed.
    ///
    /// - MUST free the address, number and username for other users at once.
    /// - MUST change nothing and answer `false` for a user already soft-deleted, or none.
    async fn soft_delete_user(&self, id: UserId, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// The users matching `query`, ordered by creation time (then id) in its direction, its
    /// `offset` rows skipped, at most its `limit`.
    ///
    /// - The filter MUST match a substring of the email, the username or the `full_name` of
    ///   `user_metadata` (when it is a string), ignoring letter case,
    ///   with `%`, `_` and `\` taken literally.
    async fn list_users(&self, query: &UserQuery) -> Result<Vec<User>, StoreError>;

    /// How many users match `query`'s filter (its paging is ignored).
    async fn count_users(&self, query: &UserQuery) -> Result<u64, StoreError>;

    /// Stores a batch of users brought from another server, as given (ids, times and hashes
    /// included), skipping those that would clash. Returns one entry per user, in order: `None`
    /// when it was stored, or the field that was taken.
    ///
    /// - MUST run as one transaction: on [`StoreError::Unavailable`] or [`StoreError::Internal`]
    ///   nothing of the batch is written.
    /// - MUST skip, never overwrite, a user whose id, email, phone or username
    ///   (case-insensitively) is taken, by a stored user or by an earlier user of the same batch,
    ///   and name the field: [`UniqueField::Id`] first, then email, phone, username. So running
    ///   an import again stores only the users that are new.
    async fn import_users(&self, users: &[User]) -> Result<Vec<Option<UniqueField>>, StoreError>;
}

/// What [`SessionStore::prune_sessions`] deletes: a session ended before one of these instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPrune {
    /// Revoked before this, or past its `not_after` before this.
    pub ended_before: DateTime<Utc>,
    /// Created before this (the timebox ended it), when sessions have a timebox.
    pub created_before: Option<DateTime<Utc>>,
    /// Last refreshed (or created) before this (idle too long), when sessions have an
    /// inactivity timeout.
    pub idle_before: Option<DateTime<Utc>>,
    /// Refresh tokens used or revoked before this (past the reuse interval) go too.
    pub spent_before: DateTime<Utc>,
}

impl SessionPrune {
    /// Whether `session` ended before the cut-offs (what the SQL stores select).
    pub fn covers(&self, session: &Session) -> bool {
        let before = |at: Option<DateTime<Utc>>, cutoff: Option<DateTime<Utc>>| {
            at.zip(cutoff).is_some_and(|(at, cutoff)| at < cutoff)
        };
        let last_active = session.refreshed_at.unwrap_or(session.created_at);
        before(session.revoked_at, Some(self.ended_before))
            || before(session.not_after, Some(self.ended_before))
            || before(Some(session.created_at), self.created_before)
            || before(Some(last_active), self.idle_before)
    }
}

/// Persistence of sessions and their refresh-token families.
///
/// Every method is atomic: it either completes or writes nothing.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session with its first refresh token, sets the user's `last_sign_in_at`
    /// to the session's `created_at`, and records `event` in the audit log: one transaction.
    ///
    /// - MUST fail with [`StoreError::NotFound`] when the user does not exist, writing nothing.
    /// - MUST store only the digest of the token.
    async fn start_session(
        &self,
        session: &Session,
        first_token: &TokenDigest,
        events: &[AuditEvent],
    ) -> Result<(), StoreError>;

    /// Creates `user`, as given, together with its first session and refresh token, and records
    /// `event` in the audit log: all of it is stored or none of it, so a sign-up that fails
    /// half-way leaves no account behind.
    ///
    /// - MUST refuse a user whose id, email, phone or username is taken exactly as
    ///   [`UserStore::create_user`] does, writing nothing.
    /// - MUST store only the digest of the token.
    async fn create_user_with_session(
        &self,
        user: &User,
        session: &Session,
        first_token: &TokenDigest,
        events: &[AuditEvent],
    ) -> Result<(), StoreError>;

    /// The session with this id, revoked or not.
    async fn find_session(&self, id: SessionId) -> Result<Option<Session>, StoreError>;

    /// The user's sessions that have not been revoked, oldest first.
    async fn list_sessions(&self, user: UserId) -> Result<Vec<Session>, StoreError>;

    /// Exchanges a presented refresh token, in one atomic step.
    ///
    /// - MUST find the presented token by digest; unknown digest: [`RotationOutcome::NotFound`].
    /// - MUST lock the token's family against concurrent rotations, read the presented token, the
    ///   session and the family's live token (the one not yet used) under that lock, and decide
    ///   with [`crate::domain::plan_rotation`].
    /// - MUST then carry out the plan before releasing the lock: `Rotate` marks the presented token
    ///   used, inserts `successor` as the live token with the presented one as parent, and sets the
    ///   session's `refreshed_at` ([`RotationOutcome::Rotated`] with the updated session);
    ///   `Replay` writes nothing ([`RotationOutcome::Replayed`]); `RevokeFamily` sets `revoked_at`
    ///   on the session and all its tokens ([`RotationOutcome::ReuseDetected`]); `Rotate` and
    ///   `RevokeFamily` also record [`Rotation::event`] in the audit log; `Expired`
    ///   writes nothing ([`RotationOutcome::Expired`]); `Dead` writes nothing
    ///   ([`RotationOutcome::NotFound`]).
    /// - Of N concurrent rotations of one live token, exactly one MUST rotate; the family MUST
    ///   never hold two live tokens.
    /// - MUST use `rotation.now` as the time, never the database's clock.
    async fn rotate_refresh_token(&self, rotation: &Rotation) -> Result<RotationOutcome, StoreError>;

    /// Deletes up to `limit` sessions that ended before the cut-offs of `prune` (with their
    /// refresh tokens), and up to `limit` refresh tokens used or revoked before
    /// `prune.spent_before`; returns how many it deleted (sessions and those tokens; the
    /// tokens of a deleted session go with it, uncounted).
    ///
    /// - MUST keep every live session and the live (unused, unrevoked) token of every family.
    /// - MUST NOT wait for rows another transaction holds (several replicas prune at once): it
    ///   passes over them, and a later round takes them.
    async fn prune_sessions(&self, prune: &SessionPrune, limit: u32) -> Result<u64, StoreError>;

    /// Revokes one session and its tokens; returns whether a live session was revoked.
    async fn revoke_session(&self, id: SessionId, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Revokes all live sessions of a user except `keep`; returns how many were revoked.
    async fn revoke_user_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
}

/// Persistence of the server's own keys, shared by every replica on the same database.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Every stored key of a purpose, in no particular order.
    async fn list_keys(&self, purpose: KeyPurpose) -> Result<Vec<StoredKey>, StoreError>;

    /// Stores a new key.
    ///
    /// - MUST fail with [`StoreError::Conflict`] ([`UniqueField::Id`]) when the `kid` exists.
    /// - MUST keep the material exactly as given.
    async fn add_key(&self, key: &StoredKey) -> Result<(), StoreError>;

    /// Stores `key` only if no key of its purpose exists yet; returns whether it did.
    ///
    /// - Of concurrent calls for one purpose (replicas starting together on an empty database),
    ///   exactly one MUST store its key.
    async fn add_first_key(&self, key: &StoredKey) -> Result<bool, StoreError>;

    /// Replaces the material of key `kid` while it still is `current` (encrypting a key stored
    /// in clear); returns whether it did.
    ///
    /// - MUST change nothing and answer `false` when no key has that `kid` or its material is
    ///   no longer `current` (another replica replaced it first).
    /// - MUST keep every other field of the key.
    async fn replace_key_material(
        &self,
        kid: &str,
        current: &KeyMaterial,
        new: &KeyMaterial,
    ) -> Result<bool, StoreError>;

    /// Marks key `kid` retired at `at` (a compromised key): every replica stops signing and
    /// verifying with it at its next key reload.
    ///
    /// - MUST fail with [`StoreError::NotFound`] when no key has that `kid`.
    /// - MUST keep the first retirement time when the key is already retired (so it can be
    ///   repeated), and every other field of the key.
    async fn retire_key(&self, kid: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
}
