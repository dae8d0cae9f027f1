//! Decorators of auth-core's ports that count what passes through them and otherwise behave
//! exactly as the port they wrap.

use std::sync::Arc;

use async_trait::async_trait;
use auth_core::domain::{
    AuditEvent, AuthCode, Email, MailKind, OneTimeKind, OneTimeToken, OutgoingMail, Session, TokenDigest,
};
use auth_core::domain::{User, UserId};
use auth_core::ports::{AuditLog, EmailFlowStore, Mail, Redemption, StoreError};
use chrono::{DateTime, Utc};

use crate::Metrics;

/// The audit log, counting sign-ins, failures, sign-ups, refreshes and reuse detections as they
/// are recorded: the use cases already report each one here.
pub struct MeteredAuditLog {
    inner: Arc<dyn AuditLog>,
    metrics: Arc<Metrics>,
}

impl MeteredAuditLog {
    /// Counts into `metrics` what is recorded in `inner`.
    pub fn new(inner: Arc<dyn AuditLog>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }
}

#[async_trait]
impl AuditLog for MeteredAuditLog {
    async fn record(&self, event: AuditEvent) {
        // Counted before writing: the event happened even if the log cannot keep it.
        self.metrics.audit_event(&event);
        self.inner.record(event).await;
    }

    async fn list_events(&self, offset: u64, limit: u64) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.list_events(offset, limit).await
    }

    async fn count_events(&self) -> Result<u64, StoreError> {
        self.inner.count_events().await
    }

    async fn prune_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.prune_events(before).await
    }
}

/// The email-flow store, counting every mail it queues (once the write succeeded).
pub struct MeteredFlows {
    inner: Arc<dyn EmailFlowStore>,
    metrics: Arc<Metrics>,
}

impl MeteredFlows {
    /// Counts into `metrics` the mails queued through `inner`.
    pub fn new(inner: Arc<dyn EmailFlowStore>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    fn queued(&self, result: &Result<(), StoreError>, kind: Option<MailKind>) {
        if let (Ok(()), Some(kind)) = (result, kind) {
            self.metrics.mail_queued(kind);
        }
    }
}

#[async_trait]
impl EmailFlowStore for MeteredFlows {
    async fn issue_token(&self, token: &OneTimeToken, mail: Option<OutgoingMail>) -> Result<(), StoreError> {
        let kind = mail.as_ref().map(|m| m.kind);
        let result = self.inner.issue_token(token, mail).await;
        self.queued(&result, kind);
        result
    }

    async fn create_user_with_token(
        &self,
        user: &User,
        token: &OneTimeToken,
        mail: Option<OutgoingMail>,
    ) -> Result<(), StoreError> {
        let kind = mail.as_ref().map(|m| m.kind);
        let result = self.inner.create_user_with_token(user, token, mail).await;
        self.queued(&result, kind);
        result
    }

    async fn queue_mail(&self, kind: MailKind, mail: &Mail, at: DateTime<Utc>) -> Result<(), StoreError> {
        let result = self.inner.queue_mail(kind, mail, at).await;
        self.queued(&result, Some(kind));
        result
    }

    async fn find_token_by_link(&self, link: &TokenDigest) -> Result<Option<OneTimeToken>, StoreError> {
        self.inner.find_token_by_link(link).await
    }

    async fn find_token(&self, user: UserId, kind: OneTimeKind) -> Result<Option<OneTimeToken>, StoreError> {
        self.inner.find_token(user, kind).await
    }

    async fn find_tokens_sent_to(&self, to: &Email, kind: OneTimeKind) -> Result<Vec<OneTimeToken>, StoreError> {
        self.inner.find_tokens_sent_to(to, kind).await
    }

    async fn redeem_token(&self, token: &OneTimeToken, user: &User, then: Redemption) -> Result<(), StoreError> {
        self.inner.redeem_token(token, user, then).await
    }

    async fn find_auth_code(&self, digest: &TokenDigest) -> Result<Option<AuthCode>, StoreError> {
        self.inner.find_auth_code(digest).await
    }

    async fn redeem_auth_code(
        &self,
        code: &AuthCode,
        user: &User,
        session: &Session,
        first_refresh: &TokenDigest,
    ) -> Result<(), StoreError> {
        self.inner.redeem_auth_code(code, user, session, first_refresh).await
    }

    async fn count_failed_code(&self, user: UserId, kind: OneTimeKind) -> Result<(), StoreError> {
        self.inner.count_failed_code(user, kind).await
    }

    async fn last_mail_to(&self, to: &Email, kind: MailKind) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.inner.last_mail_to(to, kind).await
    }
}
