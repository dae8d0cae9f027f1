//! Delivery to an SMTP server with lettre.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use auth_core::ports::{Clock, Mail, MailError, Mailer, Random};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::message::{self, Sender};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain connection upgraded with STARTTLS, which is required (submission, port 587).
    StartTls,
    /// TLS from the first byte (submissions, port 465).
    Tls,
    /// No encryption at all: only for a mail sink on the same machine or network.
    None,
}

impl Security {
    /// The port this mode is usually served on.
    pub fn default_port(self) -> u16 {
        match self {
            Self::StartTls => 587,
            Self::Tls => 465,
            Self::None => 25,
        }
    }
}

/// Where and how to connect.
#[derive(Clone)]
pub struct SmtpSettings {
    /// Server name; also the name its TLS certificate must carry.
    pub host: String,
    /// Port; `None` takes the usual port of `security`.
    pub port: Option<u16>,
    /// Connection protection.
    pub security: Security,
    /// User name and password for AUTH PLAIN or LOGIN, when the server wants them.
    pub credentials: Option<(String, String)>,
    /// The most one delivery may take, connecting included.
    pub timeout: Duration,
}

impl fmt::Debug for SmtpSettings {
    // The password is a secret; the user name is not.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.credentials.as_ref().map(|(user, _)| user))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The SMTP transport could not be set up (TLS library failure).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the SMTP transport to {server}: {cause}")]
pub struct TransportError {
    server: String,
    // In the message, not a `source`, so error chains do not say it twice.
    cause: lettre::transport::smtp::Error,
}

/// Delivers mail to an SMTP server, one connection per message.
///
/// No connection pool: authd sends a handful of mails a minute at most, and a fresh connection
/// never fails on a socket the server closed while it sat idle.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    server: String,
    security: Security,
    timeout: Duration,
    sender: Sender,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
}

impl SmtpMailer {
    /// A mailer for `settings`, sending as `sender`; it connects only when sending.
    pub fn new(
        settings: &SmtpSettings,
        sender: Sender,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
    ) -> Result<Self, TransportError> {
        let port = settings.port.unwrap_or(settings.security.default_port());
        let server = format!("{}:{port}", settings.host);
        let tls = match settings.security {
            Security::None => Tls::None,
            Security::StartTls | Security::Tls => {
                let params = TlsParameters::new(settings.host.clone())
                    .map_err(|cause| TransportError { server: server.clone(), cause })?;
                // Required, not opportunistic: a server that drops STARTTLS from its answer must
                // not get the password or the message in clear.
                if settings.security == Security::StartTls { Tls::Required(params) } else { Tls::Wrapper(params) }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.as_str())
            .port(port)
            .tls(tls)
            .timeout(Some(settings.timeout));
        if let Some((user, password)) = &settings.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Self {
            transport: builder.build(),
            server,
            security: settings.security,
            timeout: settings.timeout,
            sender,
            clock,
            random,
        })
    }
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("server", &self.server)
            .field("security", &self.security)
            .field("sender", &self.sender)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let message = message::build(mail, &self.sender, self.clock.as_ref(), self.random.as_ref())?;
        // lettre's timeout bounds each read and write; this one bounds the whole conversation, so
        // a server answering one byte at a time cannot hold a sender for ever.
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_)) => {
                tracing::debug!(server = %self.server, to = %mail.to, "mail accepted by the SMTP server");
                Ok(())
            }
            Ok(Err(error)) => Err(classify(&error, &self.server)),
            Err(_) => Err(MailError::Transient(format!(
                "SMTP server {} did not finish within {} s",
                self.server,
                self.timeout.as_secs_f32()
            ))),
        }
    }
}

/// 5xx rejections are permanent; everything else (4xx, network, TLS, timeouts) may pass later.
///
/// lettre's text names the failure and quotes the server's reply; it never holds the message.
fn classify(error: &lettre::transport::smtp::Error, server: &str) -> MailError {
    let text = format!("SMTP server {server}: {error}");
    match error.status().map(|code| code.to_string()) {
        // Authentication refused (RFC 4954): the configuration is wrong, not the message, so it
        // must be kept until an operator fixes the credentials.
        Some(code) if ["530", "534", "535", "538"].contains(&code.as_str()) => {
            MailError::Transient(format!("{text} (authentication failed: check smtp.username and smtp.password)"))
        }
        _ if error.is_permanent() => MailError::Permanent(text),
        _ => MailError::Transient(text),
    }
}
