use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::AuditEvent;

/// The append-only log of security-relevant events.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends `event` (its `id` is ignored and assigned by the store).
    ///
    /// - MUST NOT fail the caller: the change the event records has already happened, so an
    ///   adapter that cannot write reports the failure itself (an error-level log line without
    ///   secrets) and returns.
    /// - MUST NOT change or remove earlier events.
    async fn record(&self, event: AuditEvent);

    /// Events newest first, `offset` rows skipped, at most `limit`.
    async fn list_events(&self, offset: u64, limit: u64) -> Result<Vec<AuditEvent>, StoreError>;

    /// How many events are kept.
    async fn count_events(&self) -> Result<u64, StoreError>;

    /// Removes events that happened before `before` (the retention period), returning how many.
    async fn prune_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
