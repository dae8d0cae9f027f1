use async_trait::async_trait;

use crate::domain::{OutgoingSms, Phone};

/// A text message the provider accepted: its id there, when it gives one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmsReceipt {
    /// The provider's message id (Supabase Auth's `message_id`).
    pub message_id: Option<String>,
}

/// Sending failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsError {
    /// The provider or the network failed; retrying later may succeed.
    #[error("SMS delivery failed temporarily: {0}")]
    Transient(String),
    /// The provider refused the message for good (a bad number, a refused sender).
    #[error("SMS delivery refused: {0}")]
    Permanent(String),
}

/// Sends text messages through a provider (Twilio, MessageBird …).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SmsSender: Send + Sync {
    /// Sends one message.
    ///
    /// - MUST return only once the provider answered, and read its answer as the provider
    ///   documents success and failure.
    /// - MUST classify failures as transient (network, 5xx, 429) or permanent, and MUST NOT
    ///   put the message text into the error (it holds a one-time code).
    async fn send(&self, sms: &OutgoingSms) -> Result<SmsReceipt, SmsError>;

    /// Whether the provider sends WhatsApp messages too (Twilio and Twilio Verify).
    fn supports_whatsapp(&self) -> bool {
        false
    }

    /// Whether the provider draws and checks its own codes (Twilio Verify): the code the user
    /// got is then checked with [`SmsSender::check_code`], not against the stored digest.
    fn checks_codes(&self) -> bool {
        false
    }

    /// Asks the provider whether `code` is the one it sent to `to`.
    ///
    /// - MUST answer `Ok(false)` for a wrong or expired code, and an error only when the
    ///   provider could not be asked.
    async fn check_code(&self, _to: &Phone, _code: &str) -> Result<bool, SmsError> {
        Ok(false)
    }
}
