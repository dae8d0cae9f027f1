//! Signing in by mail through the binary: magic links and codes, each secret used once, wrong
//! codes counted until the secret is burned, a new mail replacing the last, and resending the
//! sign-up confirmation; and a PKCE client's magic link, exchanged for a session.

use auth_testkit::smtp::Sink;
use serde_json::json;

use super::served::{follow, outcome, with_authd};
use super::{Backend, Mailbox, PASSWORD, SITE, expired, fragment_value, query_param};
use crate::process::Server;

/// The address of the signed-in user `access_token` belongs to.
fn signed_in_as(server: &Server, access_token: &str) -> String {
    let (status, user) = server.get_user(access_token);
    assert_eq!(status, 200, "{user}");
    user["email"].as_str().unwrap().to_owned()
}

/// `/magiclink` and `/otp`, by link and by code, for new and known addresses.
fn magic_links_and_codes(server: &Server, mailbox: &mut Mailbox<'_>) {
    let unknown = json!({"email": "nobody@example.com", "create_user": false});
    assert_eq!(server.post("/otp", unknown), (200, json!({})));

    // An unknown address gets an account and a confirmation, whose link signs in.
    assert_eq!(server.post("/magiclink", json!({"email": "bea@example.com"})), (200, json!({})));
    let confirmation = mailbox.next("bea@example.com");
    let landed = follow(server, &confirmation);
    assert!(landed.starts_with(&format!("{SITE}#")), "{landed}");
    assert_eq!(fragment_value(&landed, "type").as_deref(), Some("signup"));
    let access = fragment_value(&landed, "access_token").unwrap();
    assert_eq!(signed_in_as(server, &access), "bea@example.com");
    // Link and code are one secret: both are used up now.
    let again = follow(server, &confirmation);
    assert_eq!(fragment_value(&again, "error_code").as_deref(), Some("otp_expired"), "{again}");
    assert!(fragment_value(&again, "access_token").is_none());
    let by_code = json!({"type": "email", "email": "bea@example.com", "token": confirmation.code()});
    assert_eq!(outcome(server.post("/verify", by_code)), expired());

    // A known address gets a sign-in link.
    assert_eq!(server.post("/magiclink", json!({"email": "bea@example.com"})), (200, json!({})));
    let link = mailbox.next("bea@example.com");
    assert_eq!(link.subject, "Your sign-in link");
    let landed = follow(server, &link);
    assert_eq!(fragment_value(&landed, "type").as_deref(), Some("magiclink"), "{landed}");
    assert_eq!(signed_in_as(server, &fragment_value(&landed, "access_token").unwrap()), "bea@example.com");

    // ... or a code, which works once.
    assert_eq!(server.post("/otp", json!({"email": "bea@example.com"})), (200, json!({})));
    let code = mailbox.next("bea@example.com");
    assert_eq!(code.subject, "Your sign-in code");
    let verify = json!({"type": "email", "email": "bea@example.com", "token": code.code()});
    let (status, session) = server.post("/verify", verify.clone());
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["user"]["email"], "bea@example.com");
    assert_eq!(outcome(server.post("/verify", verify)), expired(), "a code works once");
    let by_link = json!({"type": "magiclink", "token_hash": code.link_token()});
    assert_eq!(outcome(server.post("/verify", by_link)), expired(), "and takes its link with it");

    // Nothing went to the address that asked with create_user false: its first mail, asked
    // for after every other, is the confirmation of a new account.
    assert_eq!(server.post("/magiclink", json!({"email": "nobody@example.com"})), (200, json!({})));
    let first = mailbox.next("nobody@example.com");
    assert!(first.link().contains("type=signup"), "{}", first.text);
    mailbox.is_read("nobody@example.com");
}

/// A new mail replaces the last secret; wrong codes count, and the fifth burns the secret.
fn replaced_and_wrong_codes(server: &Server, mailbox: &mut Mailbox<'_>) {
    super::served::confirmed_user(server, mailbox, "cal@example.com");
    let ask = || assert_eq!(server.post("/otp", json!({"email": "cal@example.com"})).0, 200);
    let verify =
        |code: &str| server.post("/verify", json!({"type": "email", "email": "cal@example.com", "token": code}));

    ask();
    let first = mailbox.next("cal@example.com");
    ask();
    let second = mailbox.next("cal@example.com");
    // Six digits may repeat; the link never does.
    if first.code() != second.code() {
        assert_eq!(outcome(verify(&first.code())), expired(), "the first code was replaced");
    }
    let stale = json!({"type": "magiclink", "token_hash": first.link_token()});
    assert_eq!(outcome(server.post("/verify", stale)), expired(), "and its link with it");
    assert_eq!(verify(&second.code()).0, 200, "the new code works");

    // Fewer wrong guesses than the limit leave the secret usable.
    ask();
    let mail = mailbox.next("cal@example.com");
    for _ in 1..auth_core::domain::MAX_CODE_ATTEMPTS {
        assert_eq!(outcome(verify(mail.wrong_code())), expired());
    }
    assert_eq!(verify(&mail.code()).0, 200);

    // The limit's worth of wrong guesses burns it: the right code and the link fail too.
    ask();
    let mail = mailbox.next("cal@example.com");
    for _ in 0..auth_core::domain::MAX_CODE_ATTEMPTS {
        assert_eq!(outcome(verify(mail.wrong_code())), expired());
    }
    assert_eq!(outcome(verify(&mail.code())), expired(), "guessing used it up");
    let landed = follow(server, &mail);
    assert_eq!(fragment_value(&landed, "error_code").as_deref(), Some("otp_expired"), "{landed}");
}

/// `/resend` mails a fresh confirmation that replaces the first; a confirmed address gets none.
fn resent_confirmation(server: &Server, mailbox: &mut Mailbox<'_>) {
    assert_eq!(server.post("/signup", json!({"email": "dot@example.com", "password": PASSWORD})).0, 200);
    let first = mailbox.next("dot@example.com");
    let resend = || server.post("/resend", json!({"type": "signup", "email": "dot@example.com"}));
    assert_eq!(resend(), (200, json!({})));
    let second = mailbox.next("dot@example.com");
    assert_eq!(second.subject, first.subject);
    let stale = json!({"type": "signup", "token_hash": first.link_token()});
    assert_eq!(outcome(server.post("/verify", stale)), expired(), "the resent mail replaced the first");
    let verify = json!({"type": "signup", "email": "dot@example.com", "token": second.code()});
    assert_eq!(server.post("/verify", verify).0, 200);
    assert_eq!(server.sign_in("dot@example.com", PASSWORD).0, 200);

    // Confirmed now: a resend sends nothing, so the next mail is the recovery asked after it.
    assert_eq!(resend(), (200, json!({})));
    assert_eq!(server.post("/recover", json!({"email": "dot@example.com"})).0, 200);
    assert!(mailbox.next("dot@example.com").link().contains("type=recovery"));
}

/// A PKCE client's magic link lands with `?code=`, which only its verifier exchanges, once.
fn pkce_magic_link(server: &Server, mailbox: &mut Mailbox<'_>) {
    // RFC 7636, appendix B.
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    super::served::confirmed_user(server, mailbox, "pat@example.com");
    let ask = json!({"email": "pat@example.com", "code_challenge": challenge, "code_challenge_method": "s256"});
    assert_eq!(server.post("/magiclink", ask), (200, json!({})));
    let mail = mailbox.next("pat@example.com");
    assert!(mail.link_token().starts_with("pkce_"), "{}", mail.text);
    let landed = follow(server, &mail);
    assert!(landed.starts_with(&format!("{SITE}?code=")) && !landed.contains('#'), "{landed}");
    let code = query_param(&landed, "code").unwrap();

    let exchange = |verifier: &str| json!({"auth_code": code, "code_verifier": verifier});
    let wrong = server.post("/token?grant_type=pkce", exchange(&verifier.replace('d', "e")));
    assert_eq!(outcome(wrong), (400, Some("bad_code_verifier".into())));
    let (status, session) = server.post("/token?grant_type=pkce", exchange(verifier));
    assert_eq!(status, 200, "{session}");
    assert_eq!(signed_in_as(server, session["access_token"].as_str().unwrap()), "pat@example.com");
    let again = server.post("/token?grant_type=pkce", exchange(verifier));
    assert_eq!(outcome(again), (404, Some("flow_state_not_found".into())));
}

fn flows(server: &Server, sink: &Sink) {
    let mut mailbox = Mailbox::new(sink);
    magic_links_and_codes(server, &mut mailbox);
    replaced_and_wrong_codes(server, &mut mailbox);
    resent_confirmation(server, &mut mailbox);
    pkce_magic_link(server, &mut mailbox);
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_by_mail_on_sqlite() {
    with_authd(Backend::Sqlite, "email_sign_in", |server: &Server, sink: &Sink, _| flows(server, sink)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_by_mail_on_postgres() {
    with_authd(Backend::Postgres, "email_sign_in", |server: &Server, sink: &Sink, _| flows(server, sink)).await;
}
