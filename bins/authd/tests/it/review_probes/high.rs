//! H1 (PostgreSQL without TLS) and H2 (a repeat sign-up riding on the first person's
//! confirmation).

use auth_testkit::tls_cluster::tls_cluster;
use serde_json::json;

use super::{Deployment, on_both_backends, outcome, refused_start};
use crate::process::{PASSWORD, Server, authd, run, text};

/// H1 is about the connection to PostgreSQL, so it runs on PostgreSQL only: `authd serve` on a
/// cluster with `ssl = on`, under `verify-full`, holds only TLS connections (the review saw
/// `ssl = f` for every one); `require`, which made authd refuse to start, works; a CA that did
/// not sign the server's certificate is refused at start in one line.
#[tokio::test(flavor = "multi_thread")]
async fn h1_postgres_connections_are_tls_and_verified() {
    let Some(cluster) = tls_cluster().await else { return };
    let database = format!("authd_review_h1_{}", std::process::id());
    let (admin, connection) =
        tokio_postgres::connect(&cluster.url("127.0.0.1", ""), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).await.unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {database}")).await.unwrap();
    let url = |params: String| cluster.url("localhost", &params).replace("/postgres?", &format!("/{database}?"));
    let verify_full = url(format!("sslmode=verify-full&sslrootcert={}", cluster.ca().display()));
    let require = url("sslmode=require".to_owned());
    let wrong_ca = url(format!("sslmode=verify-full&sslrootcert={}", cluster.other_ca().display()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();

    let server = tokio::task::spawn_blocking(move || {
        let mut command = authd(&path);
        command.env("AUTHD_DATABASE__URL", &verify_full).env("AUTHD_SIGNUP__AUTOCONFIRM", "true");
        let server = Server::start(command);
        assert_eq!(server.sign_up("tls@example.com", PASSWORD).0, 200);
        server
    })
    .await
    .unwrap();
    let row = admin
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE NOT s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a \
             USING (pid) WHERE a.datname = $1",
            &[&database],
        )
        .await
        .unwrap();
    let (connections, plaintext): (i64, i64) = (row.get(0), row.get(1));
    assert!(connections > 0, "authd holds connections to its database");
    assert_eq!(plaintext, 0, "every connection of authd's is TLS");

    let path = dir.path().to_owned();
    tokio::task::spawn_blocking(move || {
        drop(server);
        let output = run(authd(&path).env("AUTHD_DATABASE__URL", &require).arg("migrate"));
        assert!(output.status.success(), "sslmode=require works: {:?}", text(&output));
        let mut command = authd(&path);
        command.env("AUTHD_DATABASE__URL", &wrong_ca);
        let stderr = refused_start(command);
        let last = stderr.trim().lines().last().unwrap_or_default();
        assert!(last.starts_with("authd: error:") && last.contains("certificate"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    })
    .await
    .unwrap();
    admin.batch_execute(&format!("DROP DATABASE {database} WITH (FORCE)")).await.unwrap();
}

/// H2: the victim signs up, the attacker signs up the same address with another password
/// within the mail interval (so no new mail goes out), and the victim confirms with the only
/// mail they got. The attacker's password must not work then; the victim is signed in.
fn h2_a_repeat_signup_does_not_ride_on_the_confirmation(d: &Deployment) {
    let mut mailbox = d.mailbox();
    let server = &d.server;
    assert_eq!(server.sign_up("v@example.com", "victim-pass-1").0, 200);
    let (status, answer) = server.sign_up("v@example.com", "attacker-pass-1");
    assert_eq!(status, 200, "{answer}");
    let mail = mailbox.next("v@example.com");
    let (status, session) = server.post("/verify", json!({"type": "signup", "token_hash": mail.link_token()}));
    assert_eq!(status, 200, "the victim's confirmation works: {session}");
    let victim = session["access_token"].as_str().unwrap();
    assert_eq!(server.get_user(victim).0, 200);
    let attacker = server.sign_in("v@example.com", "attacker-pass-1");
    assert_eq!(outcome(attacker), (400, Some("invalid_credentials".into())), "the attacker's password rode along");
    mailbox.is_read("v@example.com");
}
on_both_backends!(h2_a_repeat_signup_does_not_ride_on_the_confirmation, &[("AUTHD_OTP__SEND_INTERVAL_SECS", "60")]);
