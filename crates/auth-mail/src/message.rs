//! Turning a port-level [`Mail`] into an RFC 5322 message, shared by both mailers.

use std::fmt;
use std::time::SystemTime;

use auth_core::ports::{Clock, Mail, MailError, Random};
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};

/// The `From` of every message: a display name and an address.
#[derive(Clone, PartialEq, Eq)]
pub struct Sender {
    mailbox: Mailbox,
}

/// The sender's address is not a valid mail address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid sender address")]
pub struct InvalidSender(String);

impl Sender {
    /// A sender shown as `name <address>`; an empty name shows the address alone.
    pub fn new(name: &str, address: &str) -> Result<Self, InvalidSender> {
        let address = address.trim().parse().map_err(|_| InvalidSender(address.to_owned()))?;
        let name = name.trim();
        Ok(Self { mailbox: Mailbox::new((!name.is_empty()).then(|| name.to_owned()), address) })
    }

    /// The address alone.
    pub fn address(&self) -> String {
        self.mailbox.email.to_string()
    }

    /// The domain of the address, which also names the `Message-ID`s.
    fn domain(&self) -> &str {
        self.mailbox.email.domain()
    }
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Sender").field(&self.mailbox.to_string()).finish()
    }
}

/// Builds the multipart/alternative message (text first, HTML preferred) with `From`, `To`,
/// `Subject`, `Date` and `Message-ID`. Errors are permanent: the same mail will never build.
pub(crate) fn build(
    mail: &Mail,
    sender: &Sender,
    clock: &dyn Clock,
    random: &dyn Random,
) -> Result<Message, MailError> {
    let to = mail
        .to
        .as_str()
        .parse()
        .map_err(|_| MailError::Permanent("the recipient address cannot be used in a mail header".into()))?;
    let date = SystemTime::from(clock.now());
    // A queued message keeps one Message-ID over its attempts (a hash of its reference: the
    // outbox's numbering stays private); anything else gets a random one.
    let local = match &mail.reference {
        Some(reference) => stable_id(reference),
        None => random_hex(random, 16)?,
    };
    let message_id = format!("<{local}@{}>", sender.domain());
    Message::builder()
        .from(sender.mailbox.clone())
        .to(Mailbox::new(None, to))
        .subject(one_line(&mail.subject))
        .date(date)
        .message_id(Some(message_id))
        .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
        // lettre's message errors name headers, never bodies.
        .map_err(|e| MailError::Permanent(format!("cannot build the message: {e}")))
}

/// The local part of the Message-ID of the message `reference` names: 32 hex digits of its
/// SHA-256, the same on every attempt.
fn stable_id(reference: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("authd-message:{reference}").as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// `len` random bytes as lowercase hex.
pub(crate) fn random_hex(random: &dyn Random, len: usize) -> Result<String, MailError> {
    let mut bytes = vec![0u8; len];
    random.fill(&mut bytes).map_err(|e| MailError::Transient(format!("no randomness for the message id: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A subject is one header line: folding it is lettre's job, line breaks in it are never wanted.
fn one_line(subject: &str) -> String {
    subject.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_shows_name_and_address_and_refuses_garbage() {
        let sender = Sender::new("Example App", "no-reply@example.com").unwrap();
        assert_eq!(sender.address(), "no-reply@example.com");
        assert_eq!(sender.domain(), "example.com");
        assert!(format!("{sender:?}").contains("Example App"));
        assert!(Sender::new("x", "not an address").is_err());
        assert_eq!(Sender::new("", "a@b.example").unwrap().mailbox.name, None);
    }

    #[test]
    fn a_queued_message_keeps_its_message_id_over_attempts() {
        use auth_core::testing::{ManualClock, SequentialRandom, TestWorld};
        let sender = Sender::new("Example App", "no-reply@example.com").unwrap();
        let (clock, random) = (ManualClock::new(TestWorld::start()), SequentialRandom::default());
        let mail = |reference: Option<&str>| Mail {
            to: auth_core::domain::Email::parse("ada@example.com").unwrap(),
            subject: "Confirm".into(),
            text: "code".into(),
            html: "<p>code</p>".into(),
            reference: reference.map(str::to_owned),
        };
        let id = |mail: &Mail| {
            build(mail, &sender, &clock, &random).unwrap().headers().get_raw("Message-ID").unwrap().to_owned()
        };
        let first = id(&mail(Some("outbox.7.1")));
        assert_eq!(first, id(&mail(Some("outbox.7.1"))), "the same on every attempt");
        assert!(first.ends_with("@example.com>") && !first.contains("outbox"), "{first}");
        assert_ne!(first, id(&mail(Some("outbox.8.1"))));
        assert_ne!(id(&mail(None)), id(&mail(None)), "a message never queued gets a random one");
    }

    #[test]
    fn subjects_lose_line_breaks() {
        assert_eq!(one_line(" Confirm\r\nBcc: x@y  now "), "Confirm Bcc: x@y now");
    }
}
