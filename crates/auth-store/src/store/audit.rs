//! `AuditLog`.

use async_trait::async_trait;
use auth_core::domain::AuditEvent;
use auth_core::ports::{AuditLog, StoreError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::super::{Conn, Store};
use super::rows::AuditRow;
use super::schema::audit_log;
use super::{bound, count};

/// Appends `events` inside the caller's transaction: a use case's write and the events that
/// record it commit together.
pub(super) async fn insert_events(c: &mut Conn, events: &[AuditEvent]) -> QueryResult<()> {
    for event in events {
        diesel::insert_into(audit_log::table).values(&AuditRow::from(event)).execute(c).await?;
    }
    Ok(())
}

#[async_trait]
impl AuditLog for Store {
    async fn record(&self, event: AuditEvent) {
        let row = AuditRow::from(&event);
        let written = self.execute("record_audit_event", diesel::insert_into(audit_log::table).values(&row)).await;
        if let Err(error) = written {
            tracing::error!(action = event.action.as_str(), %error, "could not write the audit log");
        }
    }

    async fn list_events(&self, offset: u64, limit: u64) -> Result<Vec<AuditEvent>, StoreError> {
        let page = audit_log::table.order(audit_log::id.desc()).offset(bound(offset)).limit(bound(limit));
        self.load("list_events", page.select(AuditRow::as_select())).await
    }

    async fn count_events(&self) -> Result<u64, StoreError> {
        self.call("count_events", async |c| audit_log::table.count().get_result(c).await).await.map(count)
    }

    async fn prune_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let old = audit_log::table.filter(audit_log::created_at.lt(before));
        Ok(self.execute("prune_events", diesel::delete(old)).await? as u64)
    }
}
