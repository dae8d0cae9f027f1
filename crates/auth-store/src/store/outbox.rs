//! `MailOutbox`: the delivery worker's side of the outbox.

use async_trait::async_trait;
use auth_core::domain::{QueuedMail, QueuedSms};
use auth_core::ports::{MailOutbox, StoreError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::super::Store;
use super::rows::{EMAIL_CHANNEL, OutboxRow};
use super::schema::mail_outbox;

#[async_trait]
impl MailOutbox for Store {
    async fn claim_due_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        let pending =
            mail_outbox::table.filter(mail_outbox::sent_at.is_null()).filter(mail_outbox::failed_at.is_null());
        let due = pending.filter(mail_outbox::next_attempt_at.le(now)).filter(mail_outbox::channel.eq(EMAIL_CHANNEL));
        let oldest = due.order((mail_outbox::next_attempt_at.asc(), mail_outbox::id.asc())).limit(i64::from(limit));
        // Replicas claiming at once each take different messages.
        let batch = for_update_skip_locked!(oldest).select(OutboxRow::as_select());
        let rows: Vec<OutboxRow> = self
            .write("claim_due_mail", async |c| {
                let rows: Vec<OutboxRow> = batch.load(c).await?;
                let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                let leased = mail_outbox::next_attempt_at.eq(lease_until);
                diesel::update(mail_outbox::table.filter(mail_outbox::id.eq_any(&ids))).set(leased).execute(c).await?;
                Ok(rows)
            })
            .await?;
        rows.into_iter().map(QueuedMail::try_from).collect()
    }

    async fn claim_due_sms(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedSms>, StoreError> {
        let pending =
            mail_outbox::table.filter(mail_outbox::sent_at.is_null()).filter(mail_outbox::failed_at.is_null());
        let due = pending.filter(mail_outbox::next_attempt_at.le(now)).filter(mail_outbox::channel.ne(EMAIL_CHANNEL));
        let oldest = due.order((mail_outbox::next_attempt_at.asc(), mail_outbox::id.asc())).limit(i64::from(limit));
        // Replicas claiming at once each take different messages.
        let batch = for_update_skip_locked!(oldest).select(OutboxRow::as_select());
        let rows: Vec<OutboxRow> = self
            .write("claim_due_sms", async |c| {
                let rows: Vec<OutboxRow> = batch.load(c).await?;
                let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                let leased = mail_outbox::next_attempt_at.eq(lease_until);
                diesel::update(mail_outbox::table.filter(mail_outbox::id.eq_any(&ids))).set(leased).execute(c).await?;
                Ok(rows)
            })
            .await?;
        rows.into_iter().map(QueuedSms::try_from).collect()
    }

    async fn mark_mail_sent(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        let bodies_dropped = (mail_outbox::text_body.eq(""), mail_outbox::html_body.eq(""));
        // The successful try counts as an attempt, and the error of an earlier try no longer stands.
        let success = (mail_outbox::attempts.eq(mail_outbox::attempts + 1), mail_outbox::last_error.eq(None::<String>));
        let sent = (mail_outbox::sent_at.eq(at), bodies_dropped, success);
        self.execute("mark_mail_sent", diesel::update(mail_outbox::table.find(id)).set(sent)).await.map(drop)
    }

    async fn reschedule_mail(&self, id: i64, next_attempt: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
        let failed_attempt = (mail_outbox::attempts.eq(mail_outbox::attempts + 1), mail_outbox::last_error.eq(error));
        let retry = (failed_attempt, mail_outbox::next_attempt_at.eq(next_attempt));
        self.execute("reschedule_mail", diesel::update(mail_outbox::table.find(id)).set(retry)).await.map(drop)
    }

    async fn mark_mail_failed(&self, id: i64, at: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
        let failed_attempt = (mail_outbox::attempts.eq(mail_outbox::attempts + 1), mail_outbox::last_error.eq(error));
        let bodies_dropped = (mail_outbox::text_body.eq(""), mail_outbox::html_body.eq(""));
        let failed = (failed_attempt, mail_outbox::failed_at.eq(at), bodies_dropped);
        self.execute("mark_mail_failed", diesel::update(mail_outbox::table.find(id)).set(failed)).await.map(drop)
    }

    async fn prune_mail(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError> {
        let done = mail_outbox::sent_at.lt(before).or(mail_outbox::failed_at.lt(before));
        // Replicas pruning at once pass over each other's rows.
        let batch =
            for_update_skip_locked!(mail_outbox::table.filter(done).select(mail_outbox::id).limit(i64::from(limit)));
        self.write("prune_mail", async |c| {
            let ids: Vec<i64> = batch.load(c).await?;
            Ok(diesel::delete(mail_outbox::table.filter(mail_outbox::id.eq_any(&ids))).execute(c).await? as u64)
        })
        .await
    }
}
