//! A span around every storage port call, so a trace shows each database round trip (pool wait
//! included) under the request that caused it. One decorator serves both backends, and a port
//! method added later does not compile until it has its span here too.

use std::future::Future;

use async_trait::async_trait;
use auth_core::domain::{
    AuditEvent, AuthCode, Email, KeyPurpose, MailKind, OneTimeKind, OneTimeToken, OutgoingMail, PasswordHash, Phone,
    QueuedMail, Rotation, RotationOutcome, Session, SessionId, StoredKey, TokenDigest, User, UserId, UserQuery,
    Username,
};
use auth_core::ports::{
    AuditLog, EmailFlowStore, KeyStore, Mail, MailOutbox, NotReady, Readiness, Redemption, SessionStore, StoreError,
    UniqueField, UserStore,
};
use chrono::{DateTime, Utc};
use tracing::Instrument;
use tracing::field::Empty;

/// A store whose port calls each run in a `db` span named after the operation. Span fields carry
/// the backend and the operation only, never a value from the call.
#[derive(Debug, Clone)]
pub(crate) struct Traced<S> {
    inner: S,
    /// `db.system.name` in OpenTelemetry's terms: `postgresql` or `sqlite`.
    system: &'static str,
}

impl<S> Traced<S> {
    pub(crate) fn new(inner: S, system: &'static str) -> Self {
        Self { inner, system }
    }

    fn span(&self, operation: &'static str) -> tracing::Span {
        tracing::info_span!(
            "db",
            otel.name = operation,
            otel.kind = "client",
            otel.status_code = Empty,
            db.system.name = self.system,
            db.operation.name = operation,
        )
    }

    /// Runs one port call in its span; a failure of the database itself (not a conflict or a
    /// missing row, which are answers) marks the span as an error.
    async fn call<T>(
        &self,
        operation: &'static str,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let span = self.span(operation);
        let result = work.instrument(span.clone()).await;
        if matches!(result, Err(StoreError::Unavailable(_) | StoreError::Internal(_))) {
            span.record("otel.status_code", "ERROR");
        }
        result
    }
}

#[async_trait]
impl<S: UserStore> UserStore for Traced<S> {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        self.call("create_user", self.inner.create_user(user)).await
    }

    async fn find_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.call("find_user", self.inner.find_user(id)).await
    }

    async fn replace_password_hash(
        &self,
        id: UserId,
        current: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<bool, StoreError> {
        self.call("replace_password_hash", self.inner.replace_password_hash(id, current, new)).await
    }

    async fn import_users(&self, users: &[User]) -> Result<Vec<Option<UniqueField>>, StoreError> {
        self.call("import_users", self.inner.import_users(users)).await
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        self.call("find_user_by_email", self.inner.find_user_by_email(email)).await
    }

    async fn find_user_by_phone(&self, phone: &Phone) -> Result<Option<User>, StoreError> {
        self.call("find_user_by_phone", self.inner.find_user_by_phone(phone)).await
    }

    async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        self.call("find_user_by_username", self.inner.find_user_by_username(username)).await
    }

    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        self.call("update_user", self.inner.update_user(user)).await
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        self.call("delete_user", self.inner.delete_user(id)).await
    }

    async fn list_users(&self, query: &UserQuery) -> Result<Vec<User>, StoreError> {
        self.call("list_users", self.inner.list_users(query)).await
    }

    async fn count_users(&self, query: &UserQuery) -> Result<u64, StoreError> {
        self.call("count_users", self.inner.count_users(query)).await
    }
}

#[async_trait]
impl<S: SessionStore> SessionStore for Traced<S> {
    async fn start_session(&self, session: &Session, first_token: &TokenDigest) -> Result<(), StoreError> {
        self.call("start_session", self.inner.start_session(session, first_token)).await
    }

    async fn create_user_with_session(
        &self,
        user: &User,
        session: &Session,
        first_token: &TokenDigest,
    ) -> Result<(), StoreError> {
        self.call("create_user_with_session", self.inner.create_user_with_session(user, session, first_token)).await
    }

    async fn find_session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        self.call("find_session", self.inner.find_session(id)).await
    }

    async fn list_sessions(&self, user: UserId) -> Result<Vec<Session>, StoreError> {
        self.call("list_sessions", self.inner.list_sessions(user)).await
    }

    async fn rotate_refresh_token(&self, rotation: &Rotation) -> Result<RotationOutcome, StoreError> {
        self.call("rotate_refresh_token", self.inner.rotate_refresh_token(rotation)).await
    }

    async fn revoke_session(&self, id: SessionId, at: DateTime<Utc>) -> Result<bool, StoreError> {
        self.call("revoke_session", self.inner.revoke_session(id, at)).await
    }

    async fn revoke_user_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.call("revoke_user_sessions", self.inner.revoke_user_sessions(user, keep, at)).await
    }
}

#[async_trait]
impl<S: KeyStore> KeyStore for Traced<S> {
    async fn list_keys(&self, purpose: KeyPurpose) -> Result<Vec<StoredKey>, StoreError> {
        self.call("list_keys", self.inner.list_keys(purpose)).await
    }

    async fn add_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        self.call("add_key", self.inner.add_key(key)).await
    }

    async fn add_first_key(&self, key: &StoredKey) -> Result<bool, StoreError> {
        self.call("add_first_key", self.inner.add_first_key(key)).await
    }
}

#[async_trait]
impl<S: AuditLog> AuditLog for Traced<S> {
    async fn record(&self, event: AuditEvent) {
        self.inner.record(event).instrument(self.span("record_audit_event")).await;
    }

    async fn list_events(&self, offset: u64, limit: u64) -> Result<Vec<AuditEvent>, StoreError> {
        self.call("list_events", self.inner.list_events(offset, limit)).await
    }

    async fn count_events(&self) -> Result<u64, StoreError> {
        self.call("count_events", self.inner.count_events()).await
    }

    async fn prune_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.call("prune_events", self.inner.prune_events(before)).await
    }
}

#[async_trait]
impl<S: EmailFlowStore> EmailFlowStore for Traced<S> {
    async fn issue_token(&self, token: &OneTimeToken, mail: Option<OutgoingMail>) -> Result<(), StoreError> {
        self.call("issue_token", self.inner.issue_token(token, mail)).await
    }

    async fn create_user_with_token(
        &self,
        user: &User,
        token: &OneTimeToken,
        mail: Option<OutgoingMail>,
    ) -> Result<(), StoreError> {
        self.call("create_user_with_token", self.inner.create_user_with_token(user, token, mail)).await
    }

    async fn queue_mail(&self, kind: MailKind, mail: &Mail, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.call("queue_mail", self.inner.queue_mail(kind, mail, at)).await
    }

    async fn find_token_by_link(&self, link: &TokenDigest) -> Result<Option<OneTimeToken>, StoreError> {
        self.call("find_token_by_link", self.inner.find_token_by_link(link)).await
    }

    async fn find_token(&self, user: UserId, kind: OneTimeKind) -> Result<Option<OneTimeToken>, StoreError> {
        self.call("find_token", self.inner.find_token(user, kind)).await
    }

    async fn find_tokens_sent_to(&self, to: &Email, kind: OneTimeKind) -> Result<Vec<OneTimeToken>, StoreError> {
        self.call("find_tokens_sent_to", self.inner.find_tokens_sent_to(to, kind)).await
    }

    async fn redeem_token(&self, token: &OneTimeToken, user: &User, then: Redemption) -> Result<(), StoreError> {
        self.call("redeem_token", self.inner.redeem_token(token, user, then)).await
    }

    async fn find_auth_code(&self, digest: &TokenDigest) -> Result<Option<AuthCode>, StoreError> {
        self.call("find_auth_code", self.inner.find_auth_code(digest)).await
    }

    async fn redeem_auth_code(
        &self,
        code: &AuthCode,
        user: &User,
        session: &Session,
        first_refresh: &TokenDigest,
    ) -> Result<(), StoreError> {
        self.call("redeem_auth_code", self.inner.redeem_auth_code(code, user, session, first_refresh)).await
    }

    async fn count_failed_code(&self, user: UserId, kind: OneTimeKind) -> Result<(), StoreError> {
        self.call("count_failed_code", self.inner.count_failed_code(user, kind)).await
    }

    async fn last_mail_to(&self, to: &Email, kind: MailKind) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.call("last_mail_to", self.inner.last_mail_to(to, kind)).await
    }
}

#[async_trait]
impl<S: MailOutbox> MailOutbox for Traced<S> {
    async fn claim_due_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        self.call("claim_due_mail", self.inner.claim_due_mail(now, lease_until, limit)).await
    }

    async fn mark_mail_sent(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.call("mark_mail_sent", self.inner.mark_mail_sent(id, at)).await
    }

    async fn reschedule_mail(&self, id: i64, next_attempt: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
        self.call("reschedule_mail", self.inner.reschedule_mail(id, next_attempt, error)).await
    }

    async fn mark_mail_failed(&self, id: i64, at: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
        self.call("mark_mail_failed", self.inner.mark_mail_failed(id, at, error)).await
    }
}

#[async_trait]
impl<S: Readiness> Readiness for Traced<S> {
    async fn check_ready(&self) -> Result<(), NotReady> {
        let span = self.span("check_ready");
        let result = self.inner.check_ready().instrument(span.clone()).await;
        if result.is_err() {
            span.record("otel.status_code", "ERROR");
        }
        result
    }
}
