//! Delivery of the outbox: claim due messages, hand them to the mailer (or, for text messages,
//! the SMS provider), record the outcome. Both kinds share the outbox's leases, retries and
//! backoff.

use std::sync::Arc;

use chrono::Duration;

use crate::domain::{MailKind, OneTimeKind, retry_delay};
use crate::error::AuthError;
use crate::ports::{Clock, MailError, MailOutbox, Mailer, SmsError, SmsSender};

/// How long a claimed message stays out of other workers' reach: twice the longest send allowed
/// (`smtp.timeout_secs` is at most 300), and messages are claimed one at a time, so a lease never
/// has to cover a queue of sends.
const LEASE: Duration = Duration::minutes(10);

/// What one delivery round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Messages the mailer accepted.
    pub sent: u32,
    /// Messages that failed for now and will be tried again.
    pub retrying: Vec<(i64, MailKind, String)>,
    /// Messages given up on (refused, or out of attempts).
    pub failed: Vec<(i64, MailKind, String)>,
}

impl DeliveryReport {
    /// How many messages the round handled.
    pub fn handled(&self) -> usize {
        self.sent as usize + self.retrying.len() + self.failed.len()
    }
}

/// A queued message's stable reference: its outbox id and when it was queued (so a database
/// recreated from scratch, whose ids start again, never repeats one).
fn reference(id: i64, queued_at: chrono::DateTime<chrono::Utc>) -> String {
    format!("outbox.{id}.{}", queued_at.timestamp_micros())
}

/// What one delivery round of text messages did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmsReport {
    /// Messages the provider accepted.
    pub sent: u32,
    /// Messages that failed for now and will be tried again.
    pub retrying: Vec<(i64, OneTimeKind, String)>,
    /// Messages given up on (refused, or out of attempts).
    pub failed: Vec<(i64, OneTimeKind, String)>,
}

impl SmsReport {
    /// How many messages the round handled.
    pub fn handled(&self) -> usize {
        self.sent as usize + self.retrying.len() + self.failed.len()
    }
}

/// Hands queued mail to a mailer, and queued text messages to an SMS provider, with retries
/// and backoff.
pub struct MailDelivery {
    outbox: Arc<dyn MailOutbox>,
    mailer: Arc<dyn Mailer>,
    sms: Option<Arc<dyn SmsSender>>,
    clock: Arc<dyn Clock>,
}

impl MailDelivery {
    /// Delivery from `outbox` through `mailer`.
    pub fn new(outbox: Arc<dyn MailOutbox>, mailer: Arc<dyn Mailer>, clock: Arc<dyn Clock>) -> Self {
        Self { outbox, mailer, sms: None, clock }
    }

    /// This delivery, sending text messages through `sms` too.
    pub fn with_sms(mut self, sms: Arc<dyn SmsSender>) -> Self {
        self.sms = Some(sms);
        self
    }

    /// Delivers up to `limit` due text messages; nothing without an SMS provider. A failure
    /// for now is retried later, as a mail's is; a refusal is marked failed.
    pub async fn deliver_due_sms(&self, limit: u32) -> Result<SmsReport, AuthError> {
        let mut report = SmsReport::default();
        let Some(sms) = &self.sms else { return Ok(report) };
        for _ in 0..limit {
            let now = self.clock.now();
            let Some(queued) = self.outbox.claim_due_sms(now, now + LEASE, 1).await?.pop() else { break };
            let outcome = sms.send(&queued.sms).await;
            let at = self.clock.now();
            let kind = queued.sms.kind;
            match outcome {
                Ok(_) => {
                    self.outbox.mark_mail_sent(queued.id, at).await?;
                    report.sent += 1;
                }
                Err(SmsError::Transient(error)) => match retry_delay(queued.attempts + 1) {
                    Some(delay) => {
                        self.outbox.reschedule_mail(queued.id, at + delay, &error).await?;
                        report.retrying.push((queued.id, kind, error));
                    }
                    None => {
                        self.outbox.mark_mail_failed(queued.id, at, &error).await?;
                        report.failed.push((queued.id, kind, error));
                    }
                },
                Err(SmsError::Permanent(error)) => {
                    self.outbox.mark_mail_failed(queued.id, at, &error).await?;
                    report.failed.push((queued.id, kind, error));
                }
            }
        }
        Ok(report)
    }

    /// Delivers up to `limit` due messages. A message the mailer fails on is retried later
    /// (see [`retry_delay`]) or, when refused for good or out of attempts, marked failed.
    pub async fn deliver_due(&self, limit: u32) -> Result<DeliveryReport, AuthError> {
        let mut report = DeliveryReport::default();
        for _ in 0..limit {
            let now = self.clock.now();
            let Some(queued) = self.outbox.claim_due_mail(now, now + LEASE, 1).await?.pop() else { break };
            let mut mail = queued.mail;
            mail.reference = Some(reference(queued.id, queued.queued_at));
            let outcome = self.mailer.send(&mail).await;
            let at = self.clock.now();
            match outcome {
                Ok(()) => {
                    self.outbox.mark_mail_sent(queued.id, at).await?;
                    report.sent += 1;
                }
                Err(MailError::Transient(error)) => match retry_delay(queued.attempts + 1) {
                    Some(delay) => {
                        self.outbox.reschedule_mail(queued.id, at + delay, &error).await?;
                        report.retrying.push((queued.id, queued.kind, error));
                    }
                    None => {
                        self.outbox.mark_mail_failed(queued.id, at, &error).await?;
                        report.failed.push((queued.id, queued.kind, error));
                    }
                },
                Err(MailError::Permanent(error)) => {
                    self.outbox.mark_mail_failed(queued.id, at, &error).await?;
                    report.failed.push((queued.id, queued.kind, error));
                }
            }
        }
        Ok(report)
    }
}
