use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Mail, StoreError};
use crate::domain::{
    AuthCode, Email, MailKind, OneTimeKind, OneTimeToken, OutgoingMail, QueuedMail, Session, TokenDigest, User, UserId,
};

/// What using a one-time token starts, in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// Nothing more (one side of an email change, a reauthentication, a withdrawn approval).
    Nothing,
    /// A session with its first refresh token.
    Session(Session, TokenDigest),
    /// A PKCE auth code, exchanged for a session later.
    AuthCode(AuthCode),
}

/// Emailed one-time secrets, and the outbox that carries them: a secret and its mail are
/// written in one transaction with the change that caused them, so neither exists without the
/// other.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait EmailFlowStore: Send + Sync {
    /// Stores `token`, replacing the user's token of the same kind, and queues `mail` (when
    /// given: an operator's generated link sends none), due at the token's `created_at`.
    ///
    /// - MUST fail with [`StoreError::NotFound`] when the user does not exist, writing nothing.
    async fn issue_token(&self, token: &OneTimeToken, mail: Option<OutgoingMail>) -> Result<(), StoreError>;

    /// Creates `user` (as [`super::UserStore::create_user`] does, conflicts included), stores
    /// `token` and queues `mail`, all or nothing.
    async fn create_user_with_token(
        &self,
        user: &User,
        token: &OneTimeToken,
        mail: Option<OutgoingMail>,
    ) -> Result<(), StoreError>;

    /// Queues a mail that carries no secret of ours (forgot-username), due at `at`.
    async fn queue_mail(&self, kind: MailKind, mail: &Mail, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// The token whose link has this digest.
    async fn find_token_by_link(&self, link: &TokenDigest) -> Result<Option<OneTimeToken>, StoreError>;

    /// The user's token of this kind.
    async fn find_token(&self, user: UserId, kind: OneTimeKind) -> Result<Option<OneTimeToken>, StoreError>;

    /// Every token of this kind sent to this address (an email change's new address may be
    /// pending for several users).
    async fn find_tokens_sent_to(&self, to: &Email, kind: OneTimeKind) -> Result<Vec<OneTimeToken>, StoreError>;

    /// Uses `token`: deletes it, stores `user` as given, and stores what `then` starts, all in
    /// one transaction. Storing an auth code also deletes auth codes that expired before it.
    ///
    /// - MUST fail with [`StoreError::NotFound`], writing nothing, when the token no longer
    ///   exists with this link digest (used already, or replaced): a secret works once.
    async fn redeem_token(&self, token: &OneTimeToken, user: &User, then: Redemption) -> Result<(), StoreError>;

    /// The auth code with this digest, expired or not.
    async fn find_auth_code(&self, digest: &TokenDigest) -> Result<Option<AuthCode>, StoreError>;

    /// Exchanges `code`: deletes it, stores `user` as given, and starts `session` with its
    /// first refresh token, all in one transaction.
    ///
    /// - MUST fail with [`StoreError::NotFound`], writing nothing, when the code no longer
    ///   exists: an auth code works once, even when two exchanges race.
    async fn redeem_auth_code(
        &self,
        code: &AuthCode,
        user: &User,
        session: &Session,
        first_refresh: &TokenDigest,
    ) -> Result<(), StoreError>;

    /// Counts a wrong code against the user's token of this kind; at
    /// [`crate::domain::MAX_CODE_ATTEMPTS`] failures the token is deleted.
    ///
    /// - MUST be atomic: concurrent wrong guesses each count.
    async fn count_failed_code(&self, user: UserId, kind: OneTimeKind) -> Result<(), StoreError>;

    /// When mail of this kind was last queued for this address.
    async fn last_mail_to(&self, to: &Email, kind: MailKind) -> Result<Option<DateTime<Utc>>, StoreError>;
}

/// The delivery side of the outbox.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait MailOutbox: Send + Sync {
    /// Up to `limit` unsent messages due at `now`, oldest first, leased until `lease_until`.
    ///
    /// - MUST NOT hand a message to two concurrent callers (several replicas share the
    ///   outbox): a leased message is not due again before `lease_until`.
    async fn claim_due_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError>;

    /// Delivered: marks the message sent and erases its bodies, which hold one-time secrets.
    async fn mark_mail_sent(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Failed for now: counts the attempt, keeps `error` and makes it due at `next_attempt`.
    async fn reschedule_mail(&self, id: i64, next_attempt: DateTime<Utc>, error: &str) -> Result<(), StoreError>;

    /// Failed for good: marks the message failed, keeps `error` and erases its bodies.
    async fn mark_mail_failed(&self, id: i64, at: DateTime<Utc>, error: &str) -> Result<(), StoreError>;
}
