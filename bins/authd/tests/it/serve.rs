use std::net::TcpListener;
use std::time::Duration;

use auth_testkit::postgres::test_database;
use serde_json::json;

use crate::process::{PASSWORD, Server, access_token, authd, json, run, text};

#[test]
fn serves_the_embedded_default_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(authd(dir.path()));
    let (status, body) = server.get("/auth/v1/health").unwrap();
    assert_eq!(status, 200);
    let health = json(&body);
    assert_eq!((health["name"].as_str(), health["status"].as_str()), (Some("authd"), Some("ok")));
    assert!(dir.path().join("data/authd.db").is_file(), "the embedded database is created under ./data");

    server.signal("TERM");
    let (code, stderr) = server.wait(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("using the embedded SQLite database"), "{stderr}");
    assert!(stderr.contains("authd stopped"), "{stderr}");
}

#[test]
fn sigint_stops_it_too() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(authd(dir.path()));
    server.signal("INT");
    assert_eq!(server.wait(Duration::from_secs(30)).0, Some(0));
}

#[test]
fn a_taken_port_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = run(authd(dir.path()).env("AUTHD_SERVER__PORT", port));
    assert_eq!(output.status.code(), Some(1));
    let (_, stderr) = text(&output);
    let last = stderr.trim().lines().last().unwrap();
    assert!(last.starts_with("authd: error: cannot listen on 127.0.0.1:"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

#[test]
fn bad_and_unreachable_databases_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(authd(dir.path()).env("AUTHD_DATABASE__URL", "mysql://root@localhost/app"));
    assert_eq!(output.status.code(), Some(1));
    let (_, stderr) = text(&output);
    assert!(stderr.contains("postgres://") && stderr.contains("sqlite://"), "{stderr}");

    let output = run(authd(dir.path())
        .env("AUTHD_DATABASE__URL", "postgres://postgres@127.0.0.1:1/none")
        .env("AUTHD_DATABASE__CONNECT_TIMEOUT_SECS", "2"));
    assert_eq!(output.status.code(), Some(1));
    let (_, stderr) = text(&output);
    assert!(stderr.contains("cannot open the database"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn migrate_applies_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let first = run(authd(dir.path()).arg("migrate"));
    assert!(first.status.success(), "{:?}", text(&first));
    assert!(text(&first).0.contains("applied 12 migration"), "{:?}", text(&first));
    let second = run(authd(dir.path()).arg("migrate"));
    assert!(text(&second).0.contains("applied 0 migration"));
}

#[tokio::test(flavor = "multi_thread")]
async fn signs_up_and_reads_the_user_back_on_postgres() {
    let Some(db) = test_database("serve").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = db.url().to_owned();
    tokio::task::spawn_blocking(move || {
        let migrate = run(authd(dir.path()).arg("migrate").env("AUTHD_DATABASE__URL", &url));
        assert!(migrate.status.success(), "{:?}", text(&migrate));

        let mut command = authd(dir.path());
        command
            .env("AUTHD_DATABASE__URL", &url)
            .env("AUTHD_DATABASE__MIGRATE_ON_START", "false")
            .env("AUTHD_SIGNUP__AUTOCONFIRM", "true");
        let server = Server::start(command);
        let (status, session) = server.sign_up("jane@example.com", PASSWORD);
        assert_eq!(status, 200, "{session}");
        let token = access_token(&session);
        assert_eq!(token.split('.').count(), 3, "a JWT");

        let (status, user) = server.get_user(&token);
        assert_eq!(status, 200, "{user}");
        assert_eq!(user["email"], "jane@example.com");

        let (status, body) = server.refresh(session["refresh_token"].as_str().unwrap());
        assert_eq!(status, 200, "{body}");

        let (status, _) = server.call("POST", "/logout", Some(json!({})), Some(&token));
        assert_eq!(status, 204);
        let (status, body) = server.get_user(&token);
        assert_eq!(status, 403, "{body}");

        let (status, jwks) = server.get("/auth/v1/.well-known/jwks.json").unwrap();
        assert_eq!(status, 200);
        let jwks = json(&jwks);
        assert_eq!(jwks["keys"][0]["alg"], "ES256");
        assert!(jwks["keys"][0].get("d").is_none());
    })
    .await
    .unwrap();
}
