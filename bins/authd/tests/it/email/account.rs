//! Mail about an existing account through the binary: the email change confirmed from both
//! addresses, invitations, and reauthentication before a password change.

use auth_testkit::smtp::Sink;
use serde_json::{Value, json};

use super::served::{confirmed_user, follow, outcome, service_role_key, with_authd};
use super::{Backend, Mailbox, PASSWORD, TestStore, expired, fragment_value, nonce_refused};
use crate::process::{Server, access_token};

/// With secure email change (the default), both addresses must confirm before the change applies.
fn email_change(server: &Server, mailbox: &mut Mailbox<'_>) {
    let session = confirmed_user(server, mailbox, "eli@example.com");
    let token = access_token(&session);
    let put = |body: Value| server.call("PUT", "/user", Some(body), Some(&token));
    let current = |token: &str| server.call("GET", "/user", None, Some(token)).1["email"].clone();

    let (status, user) = put(json!({"email": "eli.new@example.com"}));
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["email"], "eli@example.com", "nothing changes before the confirmations");
    let approval = mailbox.next("eli@example.com");
    assert_eq!(approval.subject, "Approve the change of your email address");
    assert!(approval.text.contains("eli.new@example.com"), "{}", approval.text);
    let confirmation = mailbox.next("eli.new@example.com");
    assert_eq!(confirmation.subject, "Confirm your new email address");

    // The current address approves by code: half done.
    let by_code = json!({"type": "email_change", "email": "eli@example.com", "token": approval.code()});
    let (status, answer) = server.post("/verify", by_code.clone());
    assert_eq!(status, 200, "{answer}");
    assert!(answer["msg"].as_str().unwrap().contains("confirm link sent to the other email"), "{answer}");
    assert!(answer.get("access_token").is_none());
    assert_eq!(current(&token), "eli@example.com");
    assert_eq!(outcome(server.post("/verify", by_code)), expired(), "used once");
    assert_eq!(server.sign_in("eli.new@example.com", PASSWORD).0, 400);

    // The new address confirms by link: the change applies and the browser is signed in.
    let landed = follow(server, &confirmation);
    assert_eq!(fragment_value(&landed, "type").as_deref(), Some("email_change"), "{landed}");
    let changed = fragment_value(&landed, "access_token").unwrap();
    assert_eq!(current(&changed), "eli.new@example.com");
    assert_eq!(server.sign_in("eli.new@example.com", PASSWORD).0, 200);
    assert_eq!(server.sign_in("eli@example.com", PASSWORD).0, 400);

    // An address someone else signs up with before the change completes is not taken over.
    let put = |body: Value| server.call("PUT", "/user", Some(body), Some(&changed));
    assert_eq!(put(json!({"email": "ivo@example.com"})).0, 200);
    let approval = mailbox.next("eli.new@example.com");
    let confirmation = mailbox.next("ivo@example.com");
    assert_eq!(server.post("/signup", json!({"email": "ivo@example.com", "password": PASSWORD})).0, 200);
    let by_code = json!({"type": "email_change", "email": "eli.new@example.com", "token": approval.code()});
    assert_eq!(server.post("/verify", by_code).0, 200);
    let by_code = json!({"type": "email_change", "email": "ivo@example.com", "token": confirmation.code()});
    assert_eq!(outcome(server.post("/verify", by_code)), (422, Some("email_exists".into())));
    assert_eq!(current(&changed), "eli.new@example.com");

    // Wrong guesses at the new address's code burn the approval with it: the current address
    // alone cannot then complete a change to an address nobody proved.
    assert_eq!(put(json!({"email": "kay@example.com"})).0, 200);
    let approval = mailbox.next("eli.new@example.com");
    let confirmation = mailbox.next("kay@example.com");
    for _ in 0..auth_core::domain::MAX_CODE_ATTEMPTS {
        let guess = json!({"type": "email_change", "email": "kay@example.com", "token": confirmation.wrong_code()});
        assert_eq!(outcome(server.post("/verify", guess)), expired());
    }
    let by_code = json!({"type": "email_change", "email": "eli.new@example.com", "token": approval.code()});
    assert_eq!(outcome(server.post("/verify", by_code)), expired());
    assert_eq!(current(&changed), "eli.new@example.com");
}

/// An invitation accepted by link or by code; the invited user then sets a password.
fn invitation(server: &Server, mailbox: &mut Mailbox<'_>, store: &TestStore) {
    let key = service_role_key(store);
    let invite = |email: &str| server.call("POST", "/invite", Some(json!({"email": email})), Some(&key));
    assert_eq!(outcome(invite("fay@example.com")).0, 200);
    assert_eq!(outcome(invite("gus@example.com")).0, 200);
    assert_eq!(outcome(server.call("POST", "/invite", Some(json!({"email": "x@example.com"})), None)).0, 401);

    let by_link = mailbox.next("fay@example.com");
    assert_eq!(by_link.subject, "You have been invited to authd");
    let landed = follow(server, &by_link);
    assert_eq!(fragment_value(&landed, "type").as_deref(), Some("invite"), "{landed}");
    let fay = fragment_value(&landed, "access_token").unwrap();

    let by_code = mailbox.next("gus@example.com");
    let verify = json!({"type": "invite", "email": "gus@example.com", "token": by_code.code()});
    let (status, session) = server.post("/verify", verify);
    assert_eq!(status, 200, "{session}");
    let gus = access_token(&session);

    for (email, token) in [("fay@example.com", fay), ("gus@example.com", gus)] {
        assert_eq!(server.sign_in(email, PASSWORD).0, 400, "no password yet");
        let (status, user) = server.call("PUT", "/user", Some(json!({"password": PASSWORD})), Some(&token));
        assert_eq!(status, 200, "{user}");
        assert!(user["email_confirmed_at"].is_string());
        assert_eq!(server.sign_in(email, PASSWORD).0, 200);
    }
    assert_eq!(outcome(invite("fay@example.com")), (422, Some("email_exists".into())), "already a member");
}

/// `GET /reauthenticate` mails a code that stands in for the current password, once.
fn reauthentication(server: &Server, mailbox: &mut Mailbox<'_>) {
    let token = access_token(&confirmed_user(server, mailbox, "hal@example.com"));
    let change = |body: Value| outcome(server.call("PUT", "/user", Some(body), Some(&token)));
    assert_eq!(change(json!({"password": "a new passphrase"})), (400, Some("current_password_required".into())));

    assert_eq!(server.call("GET", "/reauthenticate", None, Some(&token)), (200, json!({})));
    let nonce = mailbox.next("hal@example.com");
    assert_eq!(nonce.subject, "Confirm it is you");
    assert!(!nonce.has_link(), "a reauthentication code comes without a link: {}", nonce.text);
    let wrong = change(json!({"password": "a new passphrase", "nonce": nonce.wrong_code()}));
    assert_eq!(wrong, nonce_refused());
    let right = json!({"password": "a new passphrase", "nonce": nonce.code()});
    assert_eq!(change(right.clone()), (200, None));
    let again = json!({"password": "another passphrase", "nonce": nonce.code()});
    assert_eq!(change(again), nonce_refused(), "a nonce works once");
    assert_eq!(server.sign_in("hal@example.com", "a new passphrase").0, 200);
    assert_eq!(server.sign_in("hal@example.com", PASSWORD).0, 400);
}

fn flows(server: &Server, sink: &Sink, store: &TestStore) {
    let mut mailbox = Mailbox::new(sink);
    email_change(server, &mut mailbox);
    invitation(server, &mut mailbox, store);
    reauthentication(server, &mut mailbox);
}

#[tokio::test(flavor = "multi_thread")]
async fn account_mail_on_sqlite() {
    with_authd(Backend::Sqlite, "email_account", flows).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn account_mail_on_postgres() {
    with_authd(Backend::Postgres, "email_account", flows).await;
}
