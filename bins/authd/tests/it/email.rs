//! The email flows end to end, delivered through a real SMTP server on loopback
//! ([`auth_testkit::smtp::Sink`]) on SQLite and PostgreSQL: the `authd` binary for the flows,
//! authd's own wiring in process, over a clock the test moves, for expiry and retries.

mod account;
mod clock;
mod recovery;
mod served;
mod sign_in;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use auth_testkit::postgres::{TestDatabase, test_database};
use auth_testkit::smtp::Sink;

use crate::process::PASSWORD;
/// `site.url`: where links land.
const SITE: &str = "http://app.example.test";

/// Status and error code of every failed verification: `403 otp_expired`.
pub(crate) fn expired() -> (u16, Option<String>) {
    (403, Some("otp_expired".into()))
}

/// Supabase Auth's answer to a reauthentication code (`nonce`) that is wrong, used or expired.
fn nonce_refused() -> (u16, Option<String>) {
    (422, Some("reauthentication_not_valid".into()))
}

/// The database a test runs on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database and working folder for one test, removed when dropped.
pub(crate) struct TestStore {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) url: String,
    _postgres: Option<TestDatabase>,
}

impl TestStore {
    /// `None` when PostgreSQL is asked for and not available (a failure when CI requires it).
    pub(crate) async fn new(backend: Backend, name: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        Some(match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("mail.db").display());
                TestStore { dir, url, _postgres: None }
            }
            Backend::Postgres => {
                let database = test_database(name).await?;
                TestStore { dir, url: database.url().to_owned(), _postgres: Some(database) }
            }
        })
    }
}

/// A delivered message: its subject and plain-text body, and the code and link in it.
pub(crate) struct Delivered {
    pub(crate) subject: String,
    pub(crate) text: String,
}

impl Delivered {
    pub(crate) fn code(&self) -> String {
        let line =
            self.text.lines().find(|l| l.contains("code:")).unwrap_or_else(|| panic!("no code in {}", self.text));
        line.rsplit(": ").next().unwrap().trim().to_owned()
    }

    /// A six-digit code that is not this message's.
    pub(crate) fn wrong_code(&self) -> &'static str {
        if self.code() == "000000" { "111111" } else { "000000" }
    }

    pub(crate) fn has_link(&self) -> bool {
        self.text.contains("/verify?token=")
    }

    pub(crate) fn link(&self) -> String {
        self.text
            .lines()
            .find(|l| l.contains("/verify?token="))
            .unwrap_or_else(|| panic!("no link in {}", self.text))
            .trim()
            .to_owned()
    }

    /// The link's path from the base path on, as the server routes it.
    pub(crate) fn link_path(&self) -> String {
        let link = self.link();
        format!("/auth/v1{}", link.split_once("/auth/v1").unwrap().1)
    }

    /// The link's query: `token`, `type` and `redirect_to`, the fields the link page posts.
    pub(crate) fn link_query(&self) -> String {
        self.link().split_once('?').unwrap().1.to_owned()
    }

    /// The link's token, as `/verify` takes it in `token_hash`.
    pub(crate) fn link_token(&self) -> String {
        self.link_query().split('&').find_map(|p| p.strip_prefix("token=")).unwrap().to_owned()
    }
}

/// What the sink received, read one address at a time in the order it arrived.
pub(crate) struct Mailbox<'a> {
    sink: &'a Sink,
    read: HashMap<String, usize>,
}

impl<'a> Mailbox<'a> {
    pub(crate) fn new(sink: &'a Sink) -> Self {
        Mailbox { sink, read: HashMap::new() }
    }

    fn to(sink: &Sink, to: &str) -> Vec<auth_testkit::smtp::Received> {
        sink.received().into_iter().filter(|m| m.rcpt_to.iter().any(|r| r == to)).collect()
    }

    /// The next unread message to `to`, waiting for it as long as a retried delivery may take.
    pub(crate) fn next(&mut self, to: &str) -> Delivered {
        let within = Duration::from_secs(60);
        let deadline = Instant::now() + within;
        let read = self.read.entry(to.to_owned()).or_default();
        loop {
            if let Some(received) = Self::to(self.sink, to).get(*read) {
                *read += 1;
                let message = mail_parser::MessageParser::default().parse(&received.data).unwrap();
                return Delivered {
                    subject: message.subject().unwrap_or_default().to_owned(),
                    text: message.body_text(0).unwrap().into_owned(),
                };
            }
            assert!(Instant::now() < deadline, "no message number {} to {to} within {within:?}", *read + 1);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Asserts that everything sent to `to` has been read.
    pub(crate) fn is_read(&self, to: &str) {
        let read = self.read.get(to).copied().unwrap_or_default();
        assert_eq!(Self::to(self.sink, to).len(), read, "unexpected mail to {to}");
    }
}

/// The value of `key` in a URL's query, as written.
fn query_param(url: &str, key: &str) -> Option<String> {
    let query = url.split_once('?')?.1.split('#').next()?;
    query.split('&').find_map(|pair| pair.strip_prefix(key)?.strip_prefix('=').map(str::to_owned))
}

/// The value of `key` in a URL's fragment, as written.
pub(crate) fn fragment_value(url: &str, key: &str) -> Option<String> {
    let fragment = url.split_once('#')?.1;
    fragment.split('&').find_map(|pair| pair.strip_prefix(key)?.strip_prefix('=').map(str::to_owned))
}
