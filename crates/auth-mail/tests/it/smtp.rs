//! `SmtpMailer` against the loopback sink: delivery, AUTH, and how failures are classified.

use std::time::{Duration, Instant};

use auth_core::ports::{MailError, Mailer};
use auth_mail::{Security, SmtpMailer, SmtpSettings};

use crate::support::{self, CODE};
use auth_testkit::smtp::{Behaviour, Sink};

fn settings(port: u16) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port: Some(port),
        security: Security::None,
        credentials: None,
        timeout: Duration::from_secs(5),
    }
}

fn mailer(settings: &SmtpSettings) -> SmtpMailer {
    SmtpMailer::new(settings, support::sender(), support::clock(), support::random()).unwrap()
}

/// The failure's text must never carry what the message carried.
fn assert_no_secrets(error: &MailError) {
    let text = error.to_string();
    assert!(!text.contains(CODE) && !text.contains("tok-SECRET"), "{text}");
}

#[tokio::test]
async fn a_message_arrives_with_headers_and_both_bodies() {
    let sink = Sink::start(Behaviour::default()).await;
    mailer(&settings(sink.port())).send(&support::confirmation()).await.unwrap();
    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].mail_from, "no-reply@example.com");
    assert_eq!(received[0].rcpt_to, ["user@example.com"]);
    assert_eq!(received[0].user, None);
    support::assert_confirmation(&received[0].data);
}

#[tokio::test]
async fn auth_plain_and_login_are_used_when_configured() {
    for mechanisms in ["PLAIN LOGIN", "LOGIN"] {
        let sink =
            Sink::start(Behaviour { auth: Some((mechanisms, "mailer", "s3cret pass")), ..Default::default() }).await;
        let mut config = settings(sink.port());
        config.credentials = Some(("mailer".into(), "s3cret pass".into()));
        mailer(&config).send(&support::confirmation()).await.unwrap();
        let received = sink.received();
        assert_eq!(received.len(), 1, "{mechanisms}");
        assert_eq!(received[0].user.as_deref(), Some("mailer"), "{mechanisms}");
    }
}

#[tokio::test]
async fn refused_credentials_are_transient_and_name_the_cause() {
    let sink = Sink::start(Behaviour { auth: Some(("PLAIN", "mailer", "right")), ..Default::default() }).await;
    let mut config = settings(sink.port());
    config.credentials = Some(("mailer".into(), "wrong".into()));
    let error = mailer(&config).send(&support::confirmation()).await.unwrap_err();
    // The message is fine; an operator fixing the password makes it deliverable.
    assert!(
        matches!(error, MailError::Transient(ref t) if t.contains("535") && t.contains("authentication")),
        "{error}"
    );
    assert!(!error.to_string().contains("wrong"), "{error}");
    assert!(sink.received().is_empty());

    // No credentials configured, but the server wants them.
    let error = mailer(&settings(sink.port())).send(&support::confirmation()).await.unwrap_err();
    assert!(matches!(error, MailError::Transient(ref t) if t.contains("530")), "{error}");
}

#[tokio::test]
async fn a_4xx_answer_is_transient() {
    let sink = Sink::start(Behaviour { data_reply: Some("451 4.3.0 try again later"), ..Default::default() }).await;
    let error = mailer(&settings(sink.port())).send(&support::confirmation()).await.unwrap_err();
    assert!(matches!(error, MailError::Transient(ref t) if t.contains("451")), "{error}");
    assert_no_secrets(&error);
}

#[tokio::test]
async fn a_5xx_answer_is_permanent() {
    let sink = Sink::start(Behaviour { rcpt_reply: Some("550 5.1.1 no such mailbox"), ..Default::default() }).await;
    let error = mailer(&settings(sink.port())).send(&support::confirmation()).await.unwrap_err();
    assert!(
        matches!(error, MailError::Permanent(ref t) if t.contains("550") && t.contains("no such mailbox")),
        "{error}"
    );
    assert_no_secrets(&error);

    let sink = Sink::start(Behaviour { data_reply: Some("554 5.6.0 message rejected"), ..Default::default() }).await;
    let error = mailer(&settings(sink.port())).send(&support::confirmation()).await.unwrap_err();
    assert!(matches!(error, MailError::Permanent(_)), "{error}");
    assert_no_secrets(&error);
}

#[tokio::test]
async fn a_closed_port_is_transient() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let error = mailer(&settings(port)).send(&support::confirmation()).await.unwrap_err();
    assert!(matches!(error, MailError::Transient(_)), "{error}");
    assert_no_secrets(&error);
}

#[tokio::test]
async fn a_silent_server_times_out_as_transient() {
    let sink = Sink::start(Behaviour { silent: true, ..Default::default() }).await;
    let mut config = settings(sink.port());
    config.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let error = mailer(&config).send(&support::confirmation()).await.unwrap_err();
    assert!(matches!(error, MailError::Transient(_)), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn starttls_is_required_not_hoped_for() {
    // The sink offers no STARTTLS: the password and message must not go out in clear.
    let sink = Sink::start(Behaviour { auth: Some(("PLAIN", "mailer", "pw")), ..Default::default() }).await;
    let mut config = settings(sink.port());
    config.security = Security::StartTls;
    config.credentials = Some(("mailer".into(), "pw".into()));
    let error = mailer(&config).send(&support::confirmation()).await.unwrap_err();
    assert!(matches!(error, MailError::Transient(_)), "{error}");
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn implicit_tls_to_a_plain_server_fails_transiently() {
    let sink = Sink::start(Behaviour::default()).await;
    let mut config = settings(sink.port());
    config.security = Security::Tls;
    config.timeout = Duration::from_secs(2);
    let error = mailer(&config).send(&support::confirmation()).await.unwrap_err();
    assert!(matches!(error, MailError::Transient(_)), "{error}");
    assert!(sink.received().is_empty());
}

/// A real TLS server is out of reach of this test; the transport must at least build in every
/// mode, with the usual ports.
#[test]
fn the_transport_builds_for_every_mode() {
    for (security, port) in [(Security::StartTls, 587), (Security::Tls, 465), (Security::None, 25)] {
        assert_eq!(security.default_port(), port);
        let config = SmtpSettings {
            host: "smtp.example.com".into(),
            port: None,
            security,
            credentials: Some(("user".into(), "hunter2-password".into())),
            timeout: Duration::from_secs(10),
        };
        let mailer = mailer(&config);
        let shown = format!("{mailer:?} {config:?}");
        assert!(shown.contains(&format!("smtp.example.com:{port}")), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
