//! Shared fixtures: a fixed clock, predictable randomness, a rendered mail with secrets in it.

use std::sync::Arc;

use auth_core::domain::{Email, MailContext, MailKind};
use auth_core::ports::{Mail, MailTemplates};
use auth_core::testing::{ManualClock, SequentialRandom};
use auth_mail::{Sender, TemplateSettings, Templates};
use chrono::{DateTime, TimeZone, Utc};

/// The code every test mail carries.
pub const CODE: &str = "482913";
/// The link every test mail carries: `&` and `<` prove HTML escaping.
pub const LINK: &str = "https://app.example.com/verify?token=tok-SECRET-7f3a&type=signup&x=<b>";

pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 15, 9, 26).single().unwrap()
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(start()))
}

pub fn random() -> Arc<SequentialRandom> {
    Arc::new(SequentialRandom::default())
}

pub fn sender() -> Sender {
    Sender::new("Example App", "no-reply@example.com").unwrap()
}

pub fn settings() -> TemplateSettings {
    TemplateSettings { app_name: "Example App".into(), site_url: "https://app.example.com".into() }
}

pub fn context(kind: MailKind) -> MailContext {
    MailContext {
        kind,
        to: Email::parse("user@example.com").unwrap(),
        code: Some(CODE.into()),
        link: Some(LINK.into()),
        username: Some("ada_l".into()),
        new_email: Some(Email::parse("new-address@example.org").unwrap()),
        expires_in_minutes: 60,
        code_expires_in_minutes: 10,
    }
}

/// A confirmation mail rendered by the built-in templates.
pub fn confirmation() -> Mail {
    Templates::new(settings(), None).unwrap().render(&context(MailKind::Confirmation)).unwrap()
}

pub fn parse(raw: &[u8]) -> mail_parser::Message<'_> {
    mail_parser::MessageParser::default().parse(raw).expect("a parseable RFC 5322 message")
}

/// Checks headers and both bodies of a delivered confirmation mail.
pub fn assert_confirmation(raw: &[u8]) {
    let text = String::from_utf8_lossy(raw);
    assert!(text.contains("multipart/alternative"), "{text}");
    let message = parse(raw);
    let from = message.from().and_then(|a| a.first()).unwrap();
    assert_eq!(from.name(), Some("Example App"));
    assert_eq!(from.address(), Some("no-reply@example.com"));
    assert_eq!(message.to().and_then(|a| a.first()).and_then(|a| a.address()), Some("user@example.com"));
    assert_eq!(message.subject(), Some("Confirm your email address"));
    assert_eq!(message.date().map(|d| d.to_timestamp()), Some(start().timestamp()));
    let id = message.message_id().unwrap();
    assert!(id.ends_with("@example.com") && id.len() > 32, "{id}");
    let plain = message.body_text(0).unwrap();
    assert!(plain.contains(CODE) && plain.contains(LINK), "{plain}");
    let html = message.body_html(0).unwrap();
    assert!(html.contains(CODE), "{html}");
    assert!(html.contains("tok-SECRET-7f3a&amp;type=signup&amp;x=&lt;b&gt;"), "{html}");
}
