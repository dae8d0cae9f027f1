use chrono::{DateTime, Duration, Utc};

use super::{MailKind, OneTimeKind, Phone};
use crate::ports::Mail;

/// Deliveries tried before a message is marked failed (spread over about twelve hours).
pub const MAX_DELIVERY_ATTEMPTS: u32 = 12;

/// A rendered message to queue, and which mail it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// Which mail.
    pub kind: MailKind,
    /// The message.
    pub mail: Mail,
}

/// A text message to queue: the number, the rendered text and the secret it carries (which
/// names it in the outbox). Its `Debug` leaves the text out (it holds a one-time code).
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingSms {
    /// Which secret it carries.
    pub kind: OneTimeKind,
    /// The number.
    pub to: Phone,
    /// The rendered text.
    pub text: String,
    /// `whatsapp` or `sms`: the channel the provider is asked to use.
    pub channel: SmsChannel,
}

impl std::fmt::Debug for OutgoingSms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingSms").field("kind", &self.kind).field("to", &self.to).finish_non_exhaustive()
    }
}

/// How a text message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SmsChannel {
    /// A plain SMS.
    #[default]
    Sms,
    /// WhatsApp (Twilio and Twilio Verify only).
    Whatsapp,
}

impl SmsChannel {
    /// The wire and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Whatsapp => "whatsapp",
        }
    }

    /// Reads a name back.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "sms" => Some(Self::Sms),
            "whatsapp" => Some(Self::Whatsapp),
            _ => None,
        }
    }
}

/// A message queued with a secret: a mail, or a text message. Both wait in the one outbox and
/// are delivered with the same leases, retries and backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A mail.
    Mail(OutgoingMail),
    /// A text message.
    Sms(OutgoingSms),
}

impl Outgoing {
    /// The mail's kind, when it is a mail (what the observer counts).
    pub fn mail_kind(&self) -> Option<MailKind> {
        match self {
            Self::Mail(mail) => Some(mail.kind),
            Self::Sms(_) => None,
        }
    }
}

impl From<OutgoingMail> for Outgoing {
    fn from(mail: OutgoingMail) -> Self {
        Self::Mail(mail)
    }
}

impl From<OutgoingSms> for Outgoing {
    fn from(sms: OutgoingSms) -> Self {
        Self::Sms(sms)
    }
}

/// A text message in the outbox, waiting for (another) delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedSms {
    /// Outbox id, increasing (shared with mail).
    pub id: i64,
    /// The message.
    pub sms: OutgoingSms,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
}

/// A message in the outbox, waiting for (another) delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMail {
    /// Outbox id, increasing.
    pub id: i64,
    /// Which mail it is.
    pub kind: MailKind,
    /// The rendered message (it holds one-time secrets until it is sent).
    pub mail: Mail,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
}

/// How long to wait after the `attempts`-th failed delivery: 30 s, doubling up to 4 hours; `None`
/// once [`MAX_DELIVERY_ATTEMPTS`] is reached and the message should be marked failed.
pub fn retry_delay(attempts: u32) -> Option<Duration> {
    if attempts >= MAX_DELIVERY_ATTEMPTS {
        return None;
    }
    let seconds = 30i64.saturating_mul(1i64 << attempts.saturating_sub(1).min(20));
    Some(Duration::seconds(seconds.min(4 * 3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_gives_up() {
        assert_eq!(retry_delay(1), Some(Duration::seconds(30)));
        assert_eq!(retry_delay(2), Some(Duration::seconds(60)));
        assert_eq!(retry_delay(5), Some(Duration::seconds(480)));
        assert_eq!(retry_delay(11), Some(Duration::hours(4)));
        assert_eq!(retry_delay(MAX_DELIVERY_ATTEMPTS), None);
        let total: i64 = (1..MAX_DELIVERY_ATTEMPTS).filter_map(retry_delay).map(|d| d.num_seconds()).sum();
        assert!(total > 12 * 3600, "retries span more than half a day: {total}s");
    }
}
