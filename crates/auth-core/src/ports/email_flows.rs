use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Mail, StoreError};
use crate::domain::{
    AuditEvent, AuthCode, Contact, Email, MailKind, OneTimeKind, OneTimeToken, Outgoing, QueuedMail, QueuedSms,
    Session, TokenDigest, User, UserChange, UserId,
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

/// An account's allowance of mailed secrets: at most `max` in a window that starts with the
/// first of them and lasts until `since` has passed its start (a day, by the use cases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeQuota {
    /// The time of this issue: it starts a new window when the last one began at or before
    /// `since`.
    pub now: DateTime<Utc>,
    /// A window that began at or before this instant is over.
    pub since: DateTime<Utc>,
    /// How many issues a window allows.
    pub max: u32,
}

/// Emailed one-time secrets, and the outbox that carries them: a secret and its mail are
/// written in one transaction with the change that caused them, so neither exists without the
/// other.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait EmailFlowStore: Send + Sync {
    /// Stores `secrets` for `user`, each replacing the user's token of its kind, deletes the
    /// user's tokens of the kinds in `withdraw`, and queues each secret's mail (when given: an
    /// operator's generated link sends none), due at its token's `created_at`: all in one
    /// transaction. With a `quota`, counts this issue against the user's allowance first.
    /// Returns `false`, writing nothing, when the allowance is used up.
    ///
    /// - MUST fail with [`StoreError::NotFound`] when the user does not exist, writing nothing.
    /// - A failure MUST leave none of it written (both halves of an email change, or neither).
    /// - Of concurrent issues for one user, no more than the quota allows MUST succeed.
    async fn issue_tokens(
        &self,
        user: UserId,
        secrets: &[(OneTimeToken, Option<Outgoing>)],
        withdraw: &[OneTimeKind],
        quota: Option<CodeQuota>,
    ) -> Result<bool, StoreError>;

    /// Creates `user` (as [`super::UserStore::create_user`] does, conflicts included), stores
    /// `token`, queues `mail` and records `event` in the audit log, all or nothing.
    async fn create_user_with_token(
        &self,
        user: &User,
        token: &OneTimeToken,
        mail: Option<Outgoing>,
        events: &[AuditEvent],
    ) -> Result<(), StoreError>;

    /// Queues a mail that carries no secret of ours (forgot-username), due at `at`.
    async fn queue_mail(&self, kind: MailKind, mail: &Mail, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// The token whose link has this digest.
    async fn find_token_by_link(&self, link: &TokenDigest) -> Result<Option<OneTimeToken>, StoreError>;

    /// The user's token of this kind.
    async fn find_token(&self, user: UserId, kind: OneTimeKind) -> Result<Option<OneTimeToken>, StoreError>;

    /// Every token of this kind sent to this address or number (an email or phone change's new
    /// contact may be pending for several users).
    async fn find_tokens_sent_to(&self, to: &Contact, kind: OneTimeKind) -> Result<Vec<OneTimeToken>, StoreError>;

    /// Uses `token`: deletes it, writes `change` to its user (as [`super::UserStore::change_user`]
    /// does: only the fields named, voided kinds deleted) and stores what `then` starts, all in
    /// one transaction; returns `true`. Storing an auth code also deletes auth codes that
    /// expired before it. With `unless_pending` (the other half of an email change), when the
    /// user still holds a token of that kind once this one is deleted, only the deletion is
    /// stored and the answer is `false`.
    ///
    /// - MUST fail with [`StoreError::NotFound`], writing nothing, when the token no longer
    ///   exists with this link digest (used already, or replaced): a secret works once; and
    ///   when the change's guard no longer holds.
    /// - Of concurrent uses of two tokens of one user each naming the other in
    ///   `unless_pending`, exactly one MUST answer `true` (the user's row is the lock).
    async fn redeem_token(
        &self,
        token: &OneTimeToken,
        change: &UserChange,
        then: Redemption,
        unless_pending: Option<OneTimeKind>,
    ) -> Result<bool, StoreError>;

    /// The auth code with this digest, expired or not.
    async fn find_auth_code(&self, digest: &TokenDigest) -> Result<Option<AuthCode>, StoreError>;

    /// Exchanges `code`: deletes it, writes `change` to its user (only the fields named), and
    /// starts `session` with its first refresh token, all in one transaction.
    ///
    /// - MUST fail with [`StoreError::NotFound`], writing nothing, when the code no longer
    ///   exists: an auth code works once, even when two exchanges race.
    async fn redeem_auth_code(
        &self,
        code: &AuthCode,
        change: &UserChange,
        session: &Session,
        first_refresh: &TokenDigest,
    ) -> Result<(), StoreError>;

    /// One attempt at a code: counts it against each of the user's tokens of the `guesses`'
    /// kinds that has attempts left, then returns the one whose code digest equals the guess
    /// for its kind, if any; all in one transaction. A token that did not match and has had
    /// [`crate::domain::MAX_CODE_ATTEMPTS`] attempts is deleted; one out of attempts never
    /// matches.
    ///
    /// - MUST count before comparing, atomically: of N concurrent guesses at one token, no
    ///   more than the attempts it has left are compared.
    async fn try_code(
        &self,
        user: UserId,
        guesses: &[(OneTimeKind, TokenDigest)],
    ) -> Result<Option<OneTimeToken>, StoreError>;

    /// Deletes up to `limit` one-time tokens whose link and code both expired before `before`,
    /// and up to `limit` auth codes that expired before it; returns how many it deleted.
    ///
    /// - MUST NOT wait for rows another transaction holds.
    async fn prune_flows(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError>;

    /// When mail of this kind was last queued for this address.
    async fn last_mail_to(&self, to: &Email, kind: MailKind) -> Result<Option<DateTime<Utc>>, StoreError>;
}

/// The delivery side of the outbox.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait MailOutbox: Send + Sync {
    /// Up to `limit` unsent mails due at `now`, oldest first, leased until `lease_until`.
    ///
    /// - MUST NOT hand a message to two concurrent callers (several replicas share the
    ///   outbox): a leased message is not due again before `lease_until`.
    /// - MUST NOT hand out text messages.
    async fn claim_due_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError>;

    /// Up to `limit` unsent text messages due at `now`, oldest first, leased until
    /// `lease_until`; the same contract as [`Self::claim_due_mail`], for text messages only.
    /// The other methods of this port take either kind of message by its id.
    async fn claim_due_sms(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedSms>, StoreError>;

    /// Delivered: marks the message sent, counts the successful try in its attempts, clears the
    /// error of any earlier try, and erases its bodies, which hold one-time secrets.
    async fn mark_mail_sent(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Failed for now: counts the attempt, keeps `error` and makes it due at `next_attempt`.
    async fn reschedule_mail(&self, id: i64, next_attempt: DateTime<Utc>, error: &str) -> Result<(), StoreError>;

    /// Failed for good: marks the message failed, keeps `error` and erases its bodies.
    async fn mark_mail_failed(&self, id: i64, at: DateTime<Utc>, error: &str) -> Result<(), StoreError>;

    /// Deletes up to `limit` messages sent or failed for good before `before`; returns how many.
    ///
    /// - MUST keep every message still waiting for delivery, and not wait for rows another
    ///   transaction holds.
    async fn prune_mail(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError>;
}
