//! The email flows end to end: authd delivering through a real SMTP server on loopback.

use std::time::{Duration, Instant};

use auth_testkit::postgres::test_database;
use auth_testkit::smtp::{Behaviour, Sink};
use serde_json::Value;

use crate::process::{Server, authd};

const PASSWORD: &str = "correct horse battery";
const SITE: &str = "http://app.example.test";

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// A delivered message's plain-text body, its code and its link.
struct Delivered {
    text: String,
}

impl Delivered {
    fn code(&self) -> String {
        let line =
            self.text.lines().find(|l| l.contains("code:")).unwrap_or_else(|| panic!("no code in {}", self.text));
        line.rsplit(": ").next().unwrap().trim().to_owned()
    }

    fn link(&self) -> String {
        self.text
            .lines()
            .find(|l| l.contains("/verify?token="))
            .unwrap_or_else(|| panic!("no link in {}", self.text))
            .trim()
            .to_owned()
    }
}

/// Waits for the `n`-th message (from 1) to `to`.
fn wait_for_mail(sink: &Sink, to: &str, n: usize, within: Duration) -> Delivered {
    let deadline = Instant::now() + within;
    loop {
        let mails: Vec<_> = sink.received().into_iter().filter(|m| m.rcpt_to.iter().any(|r| r == to)).collect();
        if mails.len() >= n {
            let message = mail_parser::MessageParser::default().parse(&mails[n - 1].data).unwrap();
            return Delivered { text: message.body_text(0).unwrap().into_owned() };
        }
        assert!(Instant::now() < deadline, "no mail number {n} to {to} within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start(dir: &std::path::Path, url: &str, sink: &Sink) -> Server {
    let mut command = authd(dir);
    command
        .env("AUTHD_DATABASE__URL", url)
        .env("AUTHD_SMTP__HOST", "127.0.0.1")
        .env("AUTHD_SMTP__PORT", sink.port().to_string())
        .env("AUTHD_SMTP__SECURITY", "none")
        .env("AUTHD_SMTP__FROM_ADDRESS", "auth@example.test")
        .env("AUTHD_SITE__URL", SITE)
        .env("AUTHD_OTP__SEND_INTERVAL_SECS", "0");
    Server::start(command)
}

fn post(server: &Server, path: &str, body: &str) -> (u16, Value) {
    let (status, body) = server.request("POST", &format!("/auth/v1{path}"), Some(body), None).unwrap();
    (status, if body.is_empty() { Value::Null } else { json(&body) })
}

/// Confirmation by code, recovery through the link page, forgot-username.
fn flows(server: &Server, sink: &Sink) {
    let signup = format!(r#"{{"email":"ada@example.com","username":"ada_l","password":"{PASSWORD}"}}"#);
    let (status, user) = post(server, "/signup", &signup);
    assert_eq!(status, 200, "{user}");
    assert!(user.get("access_token").is_none());
    let sign_in = format!(r#"{{"email":"ada@example.com","password":"{PASSWORD}"}}"#);
    let (status, body) = post(server, "/token?grant_type=password", &sign_in);
    assert_eq!((status, body["error_code"].as_str()), (400, Some("email_not_confirmed")));

    let confirmation = wait_for_mail(sink, "ada@example.com", 1, Duration::from_secs(20));
    let verify = format!(r#"{{"type":"signup","email":"ada@example.com","token":"{}"}}"#, confirmation.code());
    let (status, session) = post(server, "/verify", &verify);
    assert_eq!(status, 200, "{session}");
    assert!(session["user"]["email_confirmed_at"].is_string());
    assert_eq!(post(server, "/token?grant_type=password", &sign_in).0, 200);
    assert_eq!(post(server, "/verify", &verify).0, 403, "a code works once");

    assert_eq!(post(server, "/recover", r#"{"email":"ada@example.com"}"#), (200, serde_json::json!({})));
    let recovery = wait_for_mail(sink, "ada@example.com", 2, Duration::from_secs(20));
    let link = recovery.link();
    let path = link.split_once("/auth/v1").unwrap().1;
    let (status, page) = server.get(&format!("/auth/v1{path}")).unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("<form method=\"post\""), "{page}");
    let token = path.split("token=").nth(1).unwrap().split('&').next().unwrap();
    let verify = format!(r#"{{"type":"recovery","token_hash":"{token}"}}"#);
    let (status, session) = post(server, "/verify", &verify);
    assert_eq!(status, 200, "the page fetch used nothing: {session}");

    assert_eq!(post(server, "/recover/username", r#"{"email":"ada@example.com"}"#).0, 200);
    let reminder = wait_for_mail(sink, "ada@example.com", 3, Duration::from_secs(20));
    assert!(reminder.text.contains("ada_l"), "{}", reminder.text);
    assert_eq!(post(server, "/recover", r#"{"email":"nobody@example.com"}"#), (200, serde_json::json!({})));
}

#[tokio::test(flavor = "multi_thread")]
async fn email_flows_through_smtp_on_sqlite() {
    let sink = Sink::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("mail.db").display());
    tokio::task::spawn_blocking(move || {
        let server = start(dir.path(), &url, &sink);
        flows(&server, &sink);

        // SMTP refusing for a while: the request succeeds at once, the mail arrives later.
        sink.set_behaviour(Behaviour { data_reply: Some("451 4.3.0 try again later"), ..Behaviour::default() });
        let asked = Instant::now();
        assert_eq!(post(&server, "/recover", r#"{"email":"ada@example.com"}"#).0, 200);
        assert!(asked.elapsed() < Duration::from_secs(5), "the request does not wait for SMTP");
        std::thread::sleep(Duration::from_secs(4));
        assert_eq!(sink.received().len(), 3, "nothing accepted while refusing");
        sink.set_behaviour(Behaviour::default());
        let late = wait_for_mail(&sink, "ada@example.com", 4, Duration::from_secs(60));
        assert!(late.link().contains("type=recovery"));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn email_flows_through_smtp_on_postgres() {
    let Some(db) = test_database("email_flows").await else { return };
    let sink = Sink::start(Behaviour::default()).await;
    let url = db.url().to_owned();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let server = start(dir.path(), &url, &sink);
        flows(&server, &sink);
    })
    .await
    .unwrap();
}
