use chrono::{DateTime, Duration, Utc};

use super::MailKind;
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
