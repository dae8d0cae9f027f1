//! L1–L11: concurrent confirmations, adopted roles, sign-in timing, demoted admins, leaked
//! keys, code guessing, enumeration, PKCE links, costly imported hashes, secrets that outlive a
//! password, pruning.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Backend, Deployment, assert_json_error, expired, on_both_backends, outcome, probe};
use crate::process::{PASSWORD, Server, access_token, claims, kid, ok, run, text};

/// L1: both halves of an email change confirmed at the same instant apply the change once, and
/// leave no half behind.
fn l1_simultaneous_confirmations_apply_the_change(d: &Deployment) {
    let mut mailbox = d.mailbox();
    let token = access_token(&d.confirmed_user(&mut mailbox, "l1@example.com"));
    assert_eq!(d.server.call("PUT", "/user", Some(json!({"email": "l1.new@example.com"})), Some(&token)).0, 200);
    let current = mailbox.next("l1@example.com");
    let new = mailbox.next("l1.new@example.com");
    let answers: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let both = [("l1@example.com", current.code()), ("l1.new@example.com", new.code())].map(|(email, code)| {
            scope
                .spawn(move || d.server.post("/verify", json!({"type": "email_change", "email": email, "token": code})))
        });
        both.map(|b| b.join().unwrap()).into()
    });
    for answer in &answers {
        assert_eq!(answer.0, 200, "{answers:?}");
    }
    assert_eq!(d.server.get_user(&token).1["email"], "l1.new@example.com", "{answers:?}");
    assert_eq!(d.count("SELECT count(*) AS n FROM auth.one_time_tokens WHERE kind LIKE 'email_change%'"), 0);
}
on_both_backends!(l1_simultaneous_confirmations_apply_the_change);

/// L2 concerns PostgreSQL roles, so it runs on PostgreSQL only: with `postgrest.manage_roles`
/// on, an existing `authenticated` role with SUPERUSER is not adopted (nor granted to the
/// authenticator); the server says so in its log, naming the role, and serves without PostgREST
/// roles.
#[tokio::test(flavor = "multi_thread")]
async fn l2_a_powerful_existing_role_is_not_adopted() {
    probe(Backend::Postgres, "l2_roles", &[], |d: &Deployment| {
        let prefix = format!("review_l2_{}", std::process::id());
        let [anon, user, service, authenticator] =
            ["anon", "authenticated", "service", "authenticator"].map(|r| format!("{prefix}_{r}"));
        let drop_roles = format!("DROP ROLE IF EXISTS {anon}, {user}, {service}, {authenticator}");
        d.sql(&drop_roles);
        d.sql(&format!("CREATE ROLE {authenticator} LOGIN NOINHERIT; CREATE ROLE {user} SUPERUSER NOLOGIN"));
        let mut command = d.command();
        command
            .env("AUTHD_POSTGREST__MANAGE_ROLES", "true")
            .env("AUTHD_POSTGREST__AUTHENTICATOR", &authenticator)
            .env("AUTHD_ROLES__ANONYMOUS", &anon)
            .env("AUTHD_ROLES__AUTHENTICATED", &user)
            .env("AUTHD_ROLES__SERVICE", &service);
        let server = Server::start(command);
        let granted = d.count(&format!(
            "SELECT count(*) AS n FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid \
             WHERE r.rolname IN ('{anon}', '{user}', '{service}')"
        ));
        server.signal("TERM");
        let (_, stderr) = server.wait(Duration::from_secs(30));
        d.sql(&drop_roles);
        assert_eq!(granted, 0, "the roles were granted to the authenticator");
        assert!(stderr.contains("refusing to adopt") && stderr.contains(&user), "{stderr}");
        assert!(stderr.contains("SUPERUSER"), "{stderr}");
    })
    .await;
}

/// A wrong-password sign-in's answer time, measured from here.
fn failed_sign_in(d: &Deployment, email: &str) -> Duration {
    let started = Instant::now();
    assert_eq!(outcome(d.server.sign_in(email, "wrong password")), (400, Some("invalid_credentials".into())));
    started.elapsed()
}

/// L3: once the server has verified an imported bcrypt hash, a failed sign-in for an unknown
/// address takes at least about as long, so timing no longer tells the two apart. (A lower
/// bound only: a busy machine makes the unknown address slower, never faster.)
fn l3_failed_sign_ins_take_as_long_as_the_slowest_hash(d: &Deployment) {
    assert_eq!(d.server.sign_up("l3@example.com", PASSWORD).0, 200);
    let bcrypt = bcrypt::hash(PASSWORD, 8).unwrap();
    d.sql(&format!("UPDATE auth.users SET encrypted_password = '{bcrypt}' WHERE email = 'l3@example.com'"));
    assert_eq!(d.server.sign_in("l3@example.com", PASSWORD).0, 200, "the imported hash verifies");
    d.sql(&format!("UPDATE auth.users SET encrypted_password = '{bcrypt}' WHERE email = 'l3@example.com'"));
    let legacy = (0..2).map(|_| failed_sign_in(d, "l3@example.com")).min().unwrap();
    let unknown = (0..2).map(|_| failed_sign_in(d, "nobody@example.com")).min().unwrap();
    assert!(unknown * 2 >= legacy, "an unknown address answers in {unknown:?}, a bcrypt account in {legacy:?}");
}
on_both_backends!(l3_failed_sign_ins_take_as_long_as_the_slowest_hash, &[("AUTHD_SIGNUP__AUTOCONFIRM", "true")]);

/// L4: a user an operator made `service_role` and then demoted keeps no admin access, and the
/// demotion ends their sessions.
fn l4_a_demoted_admin_loses_the_admin_api_at_once(d: &Deployment) {
    let id = d.server.sign_up("l4@example.com", PASSWORD).1["user"]["id"].as_str().unwrap().to_owned();
    let path = format!("/admin/users/{id}");
    assert_eq!(d.admin("PUT", &path, Some(json!({"role": "service_role"}))).0, 200);
    let token = access_token(&ok(d.server.sign_in("l4@example.com", PASSWORD)));
    assert_eq!(d.server.call("GET", "/admin/users", None, Some(&token)).0, 200, "an admin for now");
    assert_eq!(d.admin("PUT", &path, Some(json!({"role": "authenticated"}))).0, 200);
    let answer = d.server.call("GET", "/admin/users", None, Some(&token));
    assert!(matches!(answer.0, 401 | 403), "the demoted token still opens /admin: {answer:?}");
    assert_json_error("a demoted admin", &answer);
    assert_eq!(d.server.get_user(&token).0, 403, "the demotion ended the session");
    let id2 = d.server.sign_up("l4b@example.com", PASSWORD).1["user"]["id"].as_str().unwrap().to_owned();
    let token = access_token(&ok(d.server.sign_in("l4b@example.com", PASSWORD)));
    let changed = d.admin("PUT", &format!("/admin/users/{id2}"), Some(json!({"app_metadata": {"plan": "free"}})));
    assert_eq!(changed.0, 200, "{changed:?}");
    assert_eq!(d.server.get_user(&token).0, 403, "an app_metadata change ended the session");
}
on_both_backends!(l4_a_demoted_admin_loses_the_admin_api_at_once, &[("AUTHD_SIGNUP__AUTOCONFIRM", "true")]);

/// L5: with the signing key leaked (read from the table, as M7 allowed), a token for a live
/// session that lives until 2100, or is issued in the future, is refused; after
/// `authd keys retire KID --rotate`, even a well-formed token of that key is refused by the
/// running server within its key reload.
fn l5_a_leaked_key_mints_nothing_lasting_and_retires_at_once(d: &Deployment) {
    let token = access_token(&d.server.sign_up("l5@example.com", PASSWORD).1);
    let leaked_kid = kid(&token);
    let material = d.text(&format!("SELECT material AS t FROM auth.signing_keys WHERE kid = '{leaked_kid}'"));
    let key = auth_crypto::SigningKey::from_jwk_json(&material).unwrap();
    let signer = auth_crypto::JwtSigner::new(key, vec![], "authenticated", "").unwrap();
    let real = claims(&token);
    let iat = real["iat"].as_i64().unwrap();
    let mut until_2100 = real.clone();
    until_2100["exp"] = json!(4_102_444_800_i64);
    let mut issued_later = real.clone();
    (issued_later["iat"], issued_later["exp"]) = (json!(iat + 3600), json!(iat + 7200));
    for (what, claims) in [("exp in 2100", until_2100), ("iat in an hour", issued_later)] {
        let forged = signer.sign_claims(&claims).unwrap();
        assert_eq!(outcome(d.server.get_user(&forged)), (403, Some("bad_jwt".into())), "{what}");
    }
    let fresh = signer.sign_claims(&real).unwrap();
    assert_eq!(d.server.get_user(&fresh).0, 200, "a well-formed token of the leaked key works until retired");

    let output = run(d.command().args(["keys", "retire", &leaked_kid, "--rotate"]));
    assert!(output.status.success(), "{:?}", text(&output));
    let deadline = Instant::now() + Duration::from_secs(20);
    while d.server.get_user(&fresh).0 == 200 {
        assert!(Instant::now() < deadline, "the running server kept accepting the retired key");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(outcome(d.server.get_user(&fresh)), (403, Some("bad_jwt".into())));
}
on_both_backends!(
    l5_a_leaked_key_mints_nothing_lasting_and_retires_at_once,
    &[("AUTHD_SIGNUP__AUTOCONFIRM", "true"), ("AUTHD_JWT__KEY_RELOAD_SECS", "1")]
);

/// L6: parallel guesses at one code each count before comparing (so the right code is burned
/// afterwards), and re-issuing codes is capped per account per day, silently.
fn l6_codes_are_counted_before_comparing_and_capped_per_day(d: &Deployment) {
    let mut mailbox = d.mailbox();
    d.confirmed_user(&mut mailbox, "l6@example.com");
    assert_eq!(d.server.post("/recover", json!({"email": "l6@example.com"})), (200, json!({})));
    let mail = mailbox.next("l6@example.com");
    let wrong = mail.wrong_code();
    std::thread::scope(|scope| {
        let guesses: Vec<_> = (0..10)
            .map(|_| {
                scope.spawn(|| {
                    let guess = json!({"type": "recovery", "email": "l6@example.com", "token": wrong});
                    outcome(d.server.post("/verify", guess))
                })
            })
            .collect();
        for guess in guesses {
            assert_eq!(guess.join().unwrap(), expired());
        }
    });
    let right = json!({"type": "recovery", "email": "l6@example.com", "token": mail.code()});
    assert_eq!(outcome(d.server.post("/verify", right)), expired(), "ten parallel guesses left the code alive");

    for _ in 0..6 {
        assert_eq!(d.server.post("/recover", json!({"email": "l6@example.com"})), (200, json!({})));
    }
    let mailed = "SELECT count(*) AS n FROM auth.mail_outbox WHERE recipient = 'l6@example.com' AND kind = 'recovery'";
    let mailed = d.count(mailed);
    assert!(mailed <= 3, "{mailed} recovery mails: the daily cap of 3 codes was not applied");
}
on_both_backends!(l6_codes_are_counted_before_comparing_and_capped_per_day, &[("AUTHD_OTP__MAX_CODES_PER_DAY", "3")]);

/// L7: a repeat sign-up of a registered address shows nothing of the account (its role), and
/// `PUT /user {email}` to a taken address answers as for a free one.
fn l7_enumeration_leftovers_are_closed(d: &Deployment) {
    let mut mailbox = d.mailbox();
    let session = d.confirmed_user(&mut mailbox, "l7@example.com");
    let id = session["user"]["id"].as_str().unwrap();
    assert_eq!(d.admin("PUT", &format!("/admin/users/{id}"), Some(json!({"role": "premium"}))).0, 200);
    let (status, decoy) = d.server.sign_up("l7@example.com", "whatever-123");
    assert_eq!(status, 200, "{decoy}");
    assert_eq!(decoy["role"], "authenticated", "{decoy}");
    assert_ne!(decoy["id"], id, "{decoy}");

    let other = access_token(&d.confirmed_user(&mut mailbox, "l7b@example.com"));
    let taken = d.server.call("PUT", "/user", Some(json!({"email": "l7@example.com"})), Some(&other));
    let free = d.server.call("PUT", "/user", Some(json!({"email": "l7-free@example.com"})), Some(&other));
    assert_eq!((taken.0, free.0), (200, 200), "{taken:?} {free:?}");
}
on_both_backends!(l7_enumeration_leftovers_are_closed);

/// L8: a PKCE magic link's token posted as JSON to `/verify` without the verifier gives no
/// session.
fn l8_a_pkce_link_needs_its_verifier(d: &Deployment) {
    let mut mailbox = d.mailbox();
    d.confirmed_user(&mut mailbox, "l8@example.com");
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let ask = json!({"email": "l8@example.com", "code_challenge": challenge, "code_challenge_method": "s256"});
    assert_eq!(d.server.post("/magiclink", ask), (200, json!({})));
    let token = mailbox.next("l8@example.com").link_token();
    assert!(token.starts_with("pkce_"), "{token}");
    let answer = d.server.post("/verify", json!({"type": "magiclink", "token_hash": token}));
    assert!(answer.1.get("access_token").is_none(), "{answer:?}");
    assert_json_error("a PKCE link without its verifier", &answer);
}
on_both_backends!(l8_a_pkce_link_needs_its_verifier);

/// L9: stored hashes whose cost would pin the hashing threads (bcrypt cost 31, argon2 with
/// 4 GiB) are refused at once with a JSON error; other accounts still sign in.
fn l9_costly_stored_hashes_are_refused_unverified(d: &Deployment) {
    assert_eq!(d.server.sign_up("l9@example.com", PASSWORD).0, 200);
    assert_eq!(d.server.sign_up("l9b@example.com", PASSWORD).0, 200);
    let bcrypt = bcrypt::hash(PASSWORD, 4).unwrap().replacen("$04$", "$31$", 1);
    let argon2 = "$argon2id$v=19$m=4194304,t=3,p=1$c2FsdHNhbHRzYWx0$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY";
    for hash in [bcrypt.as_str(), argon2] {
        d.sql(&format!("UPDATE auth.users SET encrypted_password = '{hash}' WHERE email = 'l9@example.com'"));
        let answer = d.server.sign_in("l9@example.com", PASSWORD);
        assert_json_error(hash, &answer);
        assert_eq!(d.server.sign_in("l9b@example.com", PASSWORD).0, 200);
    }
}
on_both_backends!(l9_costly_stored_hashes_are_refused_unverified, &[("AUTHD_SIGNUP__AUTOCONFIRM", "true")]);

/// L10: a magic link mailed before a password change no longer signs in after it.
fn l10_a_new_password_voids_outstanding_links(d: &Deployment) {
    let mut mailbox = d.mailbox();
    let token = access_token(&d.confirmed_user(&mut mailbox, "l10@example.com"));
    assert_eq!(d.server.post("/magiclink", json!({"email": "l10@example.com"})), (200, json!({})));
    let link = mailbox.next("l10@example.com").link_token();
    let change = json!({"password": "a-new-password-1", "current_password": PASSWORD});
    assert_eq!(d.server.call("PUT", "/user", Some(change), Some(&token)).0, 200);
    let redeem = d.server.post("/verify", json!({"type": "magiclink", "token_hash": link}));
    assert_eq!(outcome(redeem), expired());
}
on_both_backends!(l10_a_new_password_voids_outstanding_links);

/// L11: spent rows past the retention (used refresh tokens, ended sessions, sent mail) are
/// deleted by the running server; the live session and its token stay. The rows are aged by
/// hand, since the retention is at least an hour.
fn l11_spent_rows_are_pruned(d: &Deployment) {
    let mut mailbox = d.mailbox();
    let mut live = d.confirmed_user(&mut mailbox, "l11@example.com");
    for _ in 0..3 {
        live = ok(d.server.refresh(live["refresh_token"].as_str().unwrap()));
    }
    let ended = access_token(&ok(d.server.sign_in("l11@example.com", PASSWORD)));
    assert_eq!(d.server.call("POST", "/logout?scope=local", Some(json!({})), Some(&ended)).0, 204);
    let sent = "SELECT count(*) AS n FROM auth.mail_outbox WHERE sent_at IS NOT NULL";
    let deadline = Instant::now() + Duration::from_secs(20);
    while d.count(sent) == 0 {
        assert!(Instant::now() < deadline, "the confirmation was never marked sent");
        std::thread::sleep(Duration::from_millis(100));
    }
    let old = "'2000-01-01 00:00:00+00:00'";
    d.sql(&format!("UPDATE auth.refresh_tokens SET used_at = {old} WHERE used_at IS NOT NULL"));
    d.sql(&format!("UPDATE auth.sessions SET revoked_at = {old} WHERE revoked_at IS NOT NULL"));
    d.sql(&format!("UPDATE auth.mail_outbox SET sent_at = {old} WHERE sent_at IS NOT NULL"));
    let spent = "SELECT (SELECT count(*) FROM auth.refresh_tokens WHERE used_at IS NOT NULL) \
                 + (SELECT count(*) FROM auth.sessions WHERE revoked_at IS NOT NULL) \
                 + (SELECT count(*) FROM auth.mail_outbox WHERE sent_at IS NOT NULL) AS n";
    assert!(d.count(spent) >= 5);
    let deadline = Instant::now() + Duration::from_secs(20);
    while d.count(spent) > 0 {
        assert!(Instant::now() < deadline, "spent rows were never pruned");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(d.server.get_user(&access_token(&live)).0, 200, "the live session stays");
    assert_eq!(d.server.refresh(live["refresh_token"].as_str().unwrap()).0, 200, "and its token");
}
on_both_backends!(l11_spent_rows_are_pruned, &[("AUTHD_PRUNE__INTERVAL_SECS", "1")]);
