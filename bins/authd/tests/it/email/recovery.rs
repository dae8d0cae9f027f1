//! Sign-up confirmation, password recovery and forgot-username through the binary, and the
//! binary's delivery worker riding out an SMTP server that refuses for a while.

use std::time::{Duration, Instant};

use auth_testkit::smtp::{Behaviour, Sink};
use serde_json::json;

use super::served::{outcome, with_authd};
use super::{Backend, Mailbox, PASSWORD};
use crate::process::Server;

/// Confirmation by code, recovery through the link page, forgot-username.
fn flows(server: &Server, mailbox: &mut Mailbox<'_>) {
    let signup = json!({"email": "ada@example.com", "username": "ada_l", "password": PASSWORD});
    let (status, user) = server.post("/signup", signup);
    assert_eq!(status, 200, "{user}");
    assert!(user.get("access_token").is_none());
    let refused = outcome(server.sign_in("ada@example.com", PASSWORD));
    assert_eq!(refused, (400, Some("email_not_confirmed".into())));

    let confirmation = mailbox.next("ada@example.com");
    let verify = json!({"type": "signup", "email": "ada@example.com", "token": confirmation.code()});
    let (status, session) = server.post("/verify", verify.clone());
    assert_eq!(status, 200, "{session}");
    assert!(session["user"]["email_confirmed_at"].is_string());
    assert_eq!(server.sign_in("ada@example.com", PASSWORD).0, 200);
    assert_eq!(server.post("/verify", verify).0, 403, "a code works once");

    assert_eq!(server.post("/recover", json!({"email": "ada@example.com"})), (200, json!({})));
    let recovery = mailbox.next("ada@example.com");
    let (status, page) = server.get(&recovery.link_path()).unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("<form method=\"post\""), "{page}");
    let verify = json!({"type": "recovery", "token_hash": recovery.link_token()});
    let (status, session) = server.post("/verify", verify);
    assert_eq!(status, 200, "the page fetch used nothing: {session}");

    assert_eq!(server.post("/recover/username", json!({"email": "ada@example.com"})).0, 200);
    let reminder = mailbox.next("ada@example.com");
    assert!(reminder.text.contains("ada_l"), "{}", reminder.text);
    assert_eq!(server.post("/recover", json!({"email": "nobody@example.com"})), (200, json!({})));
}

#[tokio::test(flavor = "multi_thread")]
async fn confirmation_recovery_and_username_on_sqlite() {
    with_authd(Backend::Sqlite, "email_recovery", |server: &Server, sink: &Sink, _| {
        let mut mailbox = Mailbox::new(sink);
        flows(server, &mut mailbox);

        // SMTP refusing for a while: the request succeeds at once, the binary's worker delivers
        // once the server accepts again (its first retry is 30 s later).
        sink.set_behaviour(Behaviour { data_reply: Some("451 4.3.0 try again later"), ..Behaviour::default() });
        let asked = Instant::now();
        assert_eq!(server.post("/recover", json!({"email": "ada@example.com"})).0, 200);
        assert!(asked.elapsed() < Duration::from_secs(5), "the request does not wait for SMTP");
        std::thread::sleep(Duration::from_secs(4));
        mailbox.is_read("ada@example.com");
        sink.set_behaviour(Behaviour::default());
        let late = mailbox.next("ada@example.com");
        assert!(late.link().contains("type=recovery"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn confirmation_recovery_and_username_on_postgres() {
    with_authd(Backend::Postgres, "email_recovery", |server: &Server, sink: &Sink, _| {
        flows(server, &mut Mailbox::new(sink));
    })
    .await;
}
