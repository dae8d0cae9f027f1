//! M1–M8: the email change's halves, stale user writes, password guessing behind a token,
//! passwordless accounts, rate limits, database timeouts, keys at rest, HS256 placeholders.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use serde_json::{Value, json};

use super::{Backend, Deployment, assert_json_error, expired, on_both_backends, outcome, refused_start};
use crate::process::{PASSWORD, Server, access_token};

/// M1: the second half of an email change fails to be written (a trigger stands for a crash or
/// a failure between two transactions). Neither half, nor its mail, may then exist, so the new
/// address alone can never take the account.
fn m1_an_email_change_is_written_whole_or_not_at_all(d: &Deployment) {
    let mut mailbox = d.mailbox();
    let token = access_token(&d.confirmed_user(&mut mailbox, "m1@example.com"));
    match d.backend {
        Backend::Postgres => d.sql(
            "CREATE FUNCTION auth.t_fail() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN \
               IF NEW.kind = 'email_change_current' THEN RAISE EXCEPTION 'injected'; END IF; RETURN NEW; END$$; \
             CREATE TRIGGER t_fail BEFORE INSERT ON auth.one_time_tokens FOR EACH ROW EXECUTE FUNCTION auth.t_fail();",
        ),
        Backend::Sqlite => d.sql(
            "CREATE TRIGGER t_fail BEFORE INSERT ON one_time_tokens WHEN NEW.kind = 'email_change_current' \
             BEGIN SELECT RAISE(ABORT, 'injected'); END;",
        ),
    }
    let answer = d.server.call("PUT", "/user", Some(json!({"email": "a1@evil.test"})), Some(&token));
    assert_json_error("the failed change", &answer);
    assert_eq!(d.count("SELECT count(*) AS n FROM auth.one_time_tokens WHERE kind LIKE 'email_change%'"), 0);
    assert_eq!(d.count("SELECT count(*) AS n FROM auth.mail_outbox WHERE recipient = 'a1@evil.test'"), 0);
    d.sql(match d.backend {
        Backend::Postgres => "DROP TRIGGER t_fail ON auth.one_time_tokens",
        Backend::Sqlite => "DROP TRIGGER t_fail",
    });
    for code in ["000000", "123456"] {
        let guess = json!({"type": "email_change", "email": "a1@evil.test", "token": code});
        assert_eq!(outcome(d.server.post("/verify", guess)), expired());
    }
    assert_eq!(d.server.get_user(&token).1["email"], "m1@example.com");
}
on_both_backends!(m1_an_email_change_is_written_whole_or_not_at_all);

/// M2: a user keeps changing their password back and forth while an operator bans them; the
/// in-flight changes must not write the ban away. Hashing is made slower to widen the window.
fn m2_a_ban_survives_concurrent_password_changes(d: &Deployment) {
    let session = d.server.sign_up("m2@example.com", "Pw-A-123456").1;
    let token = access_token(&session);
    let id = session["user"]["id"].as_str().unwrap().to_owned();
    let service = d.service_key();
    std::thread::scope(|scope| {
        let changer = scope.spawn(|| {
            let passwords = ["Pw-A-123456", "Pw-B-123456"];
            for round in 0..8 {
                let (from, to) = (passwords[round % 2], passwords[(round + 1) % 2]);
                let body = json!({"password": to, "current_password": from});
                if d.server.call("PUT", "/user", Some(body), Some(&token)).0 != 200 {
                    break;
                }
            }
        });
        std::thread::sleep(Duration::from_millis(300));
        let ban = json!({"ban_duration": "24h"});
        let (status, user) = d.server.call("PUT", &format!("/admin/users/{id}"), Some(ban), Some(&service));
        assert_eq!(status, 200, "{user}");
        changer.join().unwrap();
    });
    let (_, user) = d.server.call("GET", &format!("/admin/users/{id}"), None, Some(&service));
    assert!(user["banned_until"].is_string(), "the ban was written away: {user}");
    for password in ["Pw-A-123456", "Pw-B-123456"] {
        assert_ne!(d.server.sign_in("m2@example.com", password).0, 200);
    }
}
on_both_backends!(
    m2_a_ban_survives_concurrent_password_changes,
    &[("AUTHD_SIGNUP__AUTOCONFIRM", "true"), ("AUTHD_PASSWORD__HASH__MEMORY_KIB", "32768")]
);

/// M3: guesses at `current_password` (and at the deletion password) with a stolen token get 429
/// after a few, instead of 400 for ever; a hashing queue that is full answers 503 at once.
fn m3_password_guesses_behind_a_token_are_throttled(d: &Deployment) {
    let token = access_token(&d.server.sign_up("m3@example.com", PASSWORD).1);
    let mut statuses = Vec::new();
    for guess in 0..15 {
        let body = json!({"password": "New-pass-123", "current_password": format!("guess{guess}")});
        let answer = d.server.call("PUT", "/user", Some(body), Some(&token));
        assert_json_error("a wrong guess", &answer);
        statuses.push(answer.0);
    }
    assert!(statuses.contains(&429), "never 429: {statuses:?}");
    let deletion = d.server.call("DELETE", "/user", Some(json!({"password": "guess-again"})), Some(&token));
    assert_eq!(outcome(deletion), (429, Some("over_request_rate_limit".into())));

    // One hashing slot and one waiting place: a burst of sign-ups sheds the rest with 503.
    let answers: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let burst: Vec<_> =
            (0..8).map(|n| scope.spawn(move || d.server.sign_up(&format!("burst{n}@example.com"), PASSWORD))).collect();
        burst.into_iter().map(|b| b.join().unwrap()).collect()
    });
    let shed: Vec<&(u16, Value)> = answers.iter().filter(|(status, _)| *status != 200).collect();
    assert!(!shed.is_empty(), "nothing was shed: {answers:?}");
    for answer in shed {
        assert_eq!(outcome(answer.clone()), (503, Some("server_busy".into())), "{answer:?}");
    }
}
on_both_backends!(
    m3_password_guesses_behind_a_token_are_throttled,
    &[
        ("AUTHD_SIGNUP__AUTOCONFIRM", "true"),
        ("AUTHD_PASSWORD__HASH__MEMORY_KIB", "65536"),
        ("AUTHD_PASSWORD__HASH__MAX_CONCURRENT", "1"),
        ("AUTHD_PASSWORD__HASH__MAX_QUEUE", "1"),
    ]
);

/// M4: a token of a passwordless account (signed in by a mailed code), no longer fresh, can
/// neither set a first password nor delete the account.
fn m4_a_stolen_passwordless_token_mints_no_password(d: &Deployment) {
    let mut mailbox = d.mailbox();
    assert_eq!(d.server.post("/otp", json!({"email": "m4@example.com"})).0, 200);
    let code = mailbox.next("m4@example.com").code();
    let (status, session) =
        d.server.post("/verify", json!({"type": "email", "email": "m4@example.com", "token": code}));
    assert_eq!(status, 200, "{session}");
    let token = access_token(&session);
    std::thread::sleep(Duration::from_millis(1100));
    let set = d.server.call("PUT", "/user", Some(json!({"password": "attacker-chosen-1"})), Some(&token));
    assert_eq!(outcome(set), (400, Some("reauthentication_needed".into())));
    assert_eq!(
        outcome(d.server.sign_in("m4@example.com", "attacker-chosen-1")),
        (400, Some("invalid_credentials".into()))
    );
    let delete = d.server.call("DELETE", "/user", Some(json!({})), Some(&token));
    assert_eq!(outcome(delete), (400, Some("reauthentication_needed".into())));
    assert_eq!(d.server.get_user(&token).0, 200, "the account is still there");
}
on_both_backends!(
    m4_a_stolen_passwordless_token_mints_no_password,
    &[("AUTHD_ACCOUNT__REAUTHENTICATION_WINDOW_SECS", "0")]
);

/// A password sign-in from `client`, as a trusted proxy on loopback forwards it.
fn sign_in_from(server: &Server, client: &str, email: &str, password: &str) -> (u16, Value) {
    let body = json!({"email": email, "password": password});
    server.call_with("POST", "/token?grant_type=password", Some(body), &[("X-Forwarded-For", client)])
}

/// M5: addresses of one IPv6 /64 share a rate-limit key, and guesses at one account from many
/// networks meet the per-account throttle.
fn m5_ipv6_neighbours_and_many_networks_are_limited(d: &Deployment) {
    let server = &d.server;
    let mut statuses = Vec::new();
    for host in 1..=8 {
        let answer = sign_in_from(server, &format!("2001:db8:1::{host}"), &format!("nobody{host}@example.com"), "x");
        statuses.push(answer.0);
    }
    assert!(statuses.contains(&429), "one /64 never met the limit: {statuses:?}");
    let elsewhere = sign_in_from(server, "2001:db8:2::1", "nobody@example.com", "x");
    assert_eq!(outcome(elsewhere), (400, Some("invalid_credentials".into())), "another /64 has its own bucket");

    assert_eq!(server.sign_up("m5@example.com", PASSWORD).0, 200);
    let mut statuses = Vec::new();
    for network in 10..22 {
        statuses.push(sign_in_from(server, &format!("2001:db8:{network}::1"), "m5@example.com", "guess").0);
    }
    assert!(statuses.contains(&429), "guesses from many networks were never throttled: {statuses:?}");
}
on_both_backends!(
    m5_ipv6_neighbours_and_many_networks_are_limited,
    &[
        ("AUTHD_SIGNUP__AUTOCONFIRM", "true"),
        ("AUTHD_SERVER__TRUSTED_PROXIES", "[\"127.0.0.1/32\"]"),
        ("AUTHD_RATE_LIMITS__PASSWORD_PER_MINUTE", "5"),
        ("AUTHD_RATE_LIMITS__PASSWORD_FAILURES_PER_ACCOUNT", "5"),
    ]
);

/// M5, the lockout side: behind a proxy that is not trusted, `X-Forwarded-For` picks no key
/// (the peer's address is the key) and the operator is told at once, in the log.
#[tokio::test(flavor = "multi_thread")]
async fn m5_forwarding_from_an_untrusted_peer_is_warned_of() {
    let dir = tempfile::tempdir().unwrap();
    tokio::task::spawn_blocking(move || {
        let mut command = crate::process::authd(dir.path());
        command.env("AUTHD_RATE_LIMITS__PASSWORD_PER_MINUTE", "3").env("AUTHD_LOG__LEVEL", "warn");
        let server = Server::start(command);
        let statuses: Vec<u16> =
            (1..=6).map(|n| sign_in_from(&server, &format!("198.51.100.{n}"), "nobody@example.com", "x").0).collect();
        assert!(statuses.contains(&429), "a forged X-Forwarded-For chose the key: {statuses:?}");
        server.signal("TERM");
        let (_, stderr) = server.wait(Duration::from_secs(30));
        assert!(stderr.contains("X-Forwarded-For") && stderr.contains("trusted_proxies"), "{stderr}");
    })
    .await
    .unwrap();
}

/// M6: a lock held by another session (a DBA's `LOCK TABLE`, a stalled replica) makes requests
/// answer a JSON 503/504 instead of hanging, and they work again once it is released.
fn m6_a_held_lock_gets_json_errors_not_a_hang(d: &Deployment) {
    let token = access_token(&d.server.sign_up("m6@example.com", PASSWORD).1);
    let check = |what: &str| {
        let answer = d.server.call("PUT", "/user", Some(json!({"data": {"what": what}})), Some(&token));
        assert!(matches!(answer.0, 503 | 504), "{what}: {answer:?}");
        assert_json_error(what, &answer);
    };
    match d.backend {
        Backend::Postgres => {
            let client = d.postgres();
            d.runtime.block_on(client.batch_execute("BEGIN; LOCK TABLE auth.users IN ACCESS EXCLUSIVE MODE")).unwrap();
            check("under a table lock");
            d.runtime.block_on(client.batch_execute("ROLLBACK")).unwrap();
        }
        Backend::Sqlite => {
            let mut connection = d.sqlite();
            connection.batch_execute("BEGIN EXCLUSIVE").unwrap();
            check("under a write lock");
            connection.batch_execute("ROLLBACK").unwrap();
        }
    }
    let answer = d.server.call("PUT", "/user", Some(json!({"data": {"what": "after"}})), Some(&token));
    assert_eq!(answer.0, 200, "{answer:?}");
}
on_both_backends!(
    m6_a_held_lock_gets_json_errors_not_a_hang,
    &[
        ("AUTHD_SIGNUP__AUTOCONFIRM", "true"),
        ("AUTHD_DATABASE__LOCK_TIMEOUT_MS", "500"),
        ("AUTHD_DATABASE__STATEMENT_TIMEOUT_MS", "1000"),
        ("AUTHD_SERVER__REQUEST_TIMEOUT_SECS", "3"),
    ]
);

/// A key-encryption key (32 random bytes in base64), made for these tests.
const KEK: &str = "q3Xw2mR0b7tY5uN8cV1eZ4hK6jL9pS2dF0gA3sD5fG8=";

/// M7: with a key-encryption key configured, no stored key has private material in clear (the
/// review's `material::jsonb ? 'd'`), on a server that has signed with them.
fn m7_keys_at_rest_hold_no_private_material(d: &Deployment) {
    assert_eq!(d.server.sign_up("m7@example.com", PASSWORD).0, 200);
    assert!(d.count("SELECT count(*) AS n FROM auth.signing_keys") >= 3);
    let clear = "SELECT count(*) AS n FROM auth.signing_keys WHERE material LIKE '%\"d\"%' OR material LIKE '%\"k\"%'";
    assert_eq!(d.count(clear), 0, "private key material is stored in clear");
    if let Backend::Sqlite = d.backend {
        let path = d.store.url.strip_prefix("sqlite://").unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(path).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600, "the database file is its owner's only");
    }
}
on_both_backends!(
    m7_keys_at_rest_hold_no_private_material,
    &[("AUTHD_SIGNUP__AUTOCONFIRM", "true"), ("AUTHD_JWT__KEYS_ENCRYPTION_KEY", KEK)]
);

/// M8: Supabase's public placeholder secret, or a guessable one, is refused at start with a
/// hint; a service-role token signed with the placeholder does not open the running server's
/// admin API.
fn m8_placeholder_hs256_secrets_are_refused(d: &Deployment) {
    let placeholder = "your-super-secret-jwt-token-with-at-least-32-characters-long";
    for (variable, value) in [("GOTRUE_JWT_SECRET", placeholder), ("AUTHD_JWT__SECRET", &"a".repeat(40))] {
        let mut command = d.command();
        command.env("AUTHD_JWT__ALGORITHM", "HS256").env(variable, value);
        let stderr = refused_start(command);
        assert!(stderr.contains("openssl rand"), "{variable}: the refusal says how to make one: {stderr}");
        assert!(!stderr.contains(value), "{variable}: the secret is not printed: {stderr}");
    }
    // authd's own signer refuses the placeholder too, so the token is made by hand.
    assert!(auth_crypto::SigningKey::hmac(placeholder.as_bytes(), None).is_err());
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"role": "service_role", "aud": "authenticated", "iat": now, "exp": now + 3600});
    let forged = hs256(&claims, placeholder.as_bytes());
    let answer = d.server.call("GET", "/admin/users", None, Some(&forged));
    assert!(matches!(answer.0, 401 | 403), "{answer:?}");
    assert_json_error("a forged admin token", &answer);
}
on_both_backends!(m8_placeholder_hs256_secrets_are_refused);

/// A JWT signed with HS256 under `key`, whatever authd thinks of the key.
pub(super) fn hs256(claims: &Value, key: &[u8]) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use hmac::Mac;
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "typ": "JWT"}).to_string());
    let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}
