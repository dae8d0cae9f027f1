use async_trait::async_trait;

use crate::domain::{Email, MailContext};

/// One message to deliver.
#[derive(Clone, PartialEq, Eq)]
pub struct Mail {
    /// Recipient.
    pub to: Email,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
    /// What makes this message the same message on every delivery attempt (the outbox sets
    /// it from the queued row), so the mailer gives each attempt the same `Message-ID` and a
    /// duplicate after a crash is recognisable; `None` for a message never queued.
    pub reference: Option<String>,
}

impl std::fmt::Debug for Mail {
    // Bodies carry one-time links and codes: show only the envelope.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail").field("to", &self.to).field("subject", &self.subject).finish_non_exhaustive()
    }
}

/// Delivery failed; the message may be retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The server or network failed; retrying later may succeed.
    #[error("mail delivery failed temporarily: {0}")]
    Transient(String),
    /// The server refused the message for good (bad recipient, message rejected).
    #[error("mail delivery refused: {0}")]
    Permanent(String),
}

/// Delivers email.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Delivers one message.
    ///
    /// - MUST return only after the message was accepted by the next hop (or written to its
    ///   destination), so the caller may mark it sent.
    /// - MUST classify failures as transient or permanent, and MUST NOT put the body into the
    ///   error text (it holds one-time secrets).
    async fn send(&self, mail: &Mail) -> Result<(), MailError>;
}

/// Turns what a mail must say into the message: subject, plain text and HTML.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait MailTemplates: Send + Sync {
    /// Renders the template of `context.kind`.
    ///
    /// - MUST escape every value it inserts into HTML.
    /// - MUST put the code and the link (when present) into both bodies.
    fn render(&self, context: &MailContext) -> Result<Mail, MailError>;
}
