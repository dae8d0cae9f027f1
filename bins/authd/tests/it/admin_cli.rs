//! `authd users`, `authd sessions` and `authd audit` against SQLite and PostgreSQL.

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use crate::process::{PASSWORD, Server, access_token, authd, json_output, run, text};
use auth_testkit::postgres::test_database;

/// Runs an operator command on the database, with `input` on standard input.
fn operator(dir: &Path, url: &str, args: &[&str], input: Option<&str>) -> Output {
    let mut command = authd(dir);
    command.env("AUTHD_DATABASE__URL", url).args(args);
    match input {
        None => run(&mut command),
        Some(input) => {
            let mut child =
                command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
            child.wait_with_output().unwrap()
        }
    }
}

fn operate_on(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let op = |args: &[&str], input: Option<&str>| operator(dir.path(), url, args, input);

    let created = json_output(&op(
        &[
            "users",
            "create",
            "--email",
            "Op@Example.com",
            "--username",
            "opal",
            "--confirm",
            "--password-stdin",
            "--json",
        ],
        Some(&format!("{PASSWORD}\n")),
    ));
    assert_eq!(created["email"], "op@example.com");
    let id = created["id"].as_str().unwrap().to_owned();
    let weak = op(&["users", "create", "--email", "weak@example.com", "--password-stdin"], Some("short"));
    assert_eq!(weak.status.code(), Some(1));
    assert!(text(&weak).1.contains("authd: error:"), "{:?}", text(&weak));
    let duplicate = op(&["users", "create", "--email", "op@example.com"], None);
    assert_eq!(duplicate.status.code(), Some(1));

    let listed = json_output(&op(&["users", "list", "--filter", "OP@", "--json"], None));
    assert_eq!(listed["total"], 1);
    let table = text(&op(&["users", "list"], None)).0;
    assert!(table.contains("op@example.com") && table.contains("1 of 1 user(s)"), "{table}");
    for name in [id.as_str(), "op@example.com", "OPAL"] {
        assert_eq!(json_output(&op(&["users", "show", name, "--json"], None))["id"], id.as_str(), "{name}");
    }

    let mut command = authd(dir.path());
    command.env("AUTHD_DATABASE__URL", url);
    let server = Server::start(command);
    let (status, session) = server.sign_in("op@example.com", PASSWORD);
    assert_eq!(status, 200, "{session}");
    let sessions = json_output(&op(&["sessions", "list", "opal", "--json"], None));
    assert_eq!(sessions.as_array().unwrap().len(), 1);

    assert!(op(&["users", "ban", "opal", "--duration", "2h"], None).status.success());
    let (status, body) = server.sign_in("op@example.com", PASSWORD);
    assert_eq!((status, body["error_code"].as_str()), (400, Some("user_banned")));
    assert_eq!(server.get_user(&access_token(&session)).0, 403, "the ban ended the session");
    assert!(op(&["users", "unban", "opal"], None).status.success());

    assert!(op(&["users", "set-password", "opal"], Some("a new passphrase here\n")).status.success());
    assert_eq!(server.sign_in("op@example.com", PASSWORD).0, 400);
    let (status, session) = server.sign_in("op@example.com", "a new passphrase here");
    assert_eq!(status, 200);
    let revoked = op(&["sessions", "revoke", "--user", "opal"], None);
    assert!(text(&revoked).0.contains("ended 1 session(s)"), "{:?}", text(&revoked));
    assert_eq!(server.get_user(&access_token(&session)).0, 403);

    assert!(op(&["keys", "rotate", "--now"], None).status.success());
    let audit = json_output(&op(&["audit", "--json"], None));
    let actions: Vec<&str> =
        audit["events"].as_array().unwrap().iter().map(|e| e["payload"]["action"].as_str().unwrap()).collect();
    for expected in [
        "key_rotated",
        "user_created_by_admin",
        "user_banned_by_admin",
        "password_set_by_admin",
        "login",
        "login_failed",
    ] {
        assert!(actions.contains(&expected), "{expected} missing from {actions:?}");
    }
    let rotation =
        audit["events"].as_array().unwrap().iter().find(|e| e["payload"]["action"] == "key_rotated").unwrap();
    assert_eq!(rotation["payload"]["actor_type"], "admin", "{rotation}");
    assert!(rotation["payload"]["user_agent"].as_str().unwrap().starts_with("authd-cli/"), "{rotation}");
    assert!(!audit.to_string().contains(PASSWORD), "no password in the audit log");

    assert!(op(&["users", "delete", "opal"], None).status.success());
    let gone = op(&["users", "show", id.as_str()], None);
    assert_eq!(gone.status.code(), Some(1));
    assert!(text(&gone).1.contains("User not found"), "{:?}", text(&gone));
    assert_eq!(op(&["sessions", "revoke", "not-a-uuid"], None).status.code(), Some(1));
}

#[test]
fn operators_manage_users_and_sessions_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    operate_on(&format!("sqlite://{}", dir.path().join("ops.db").display()));
}

#[tokio::test(flavor = "multi_thread")]
async fn operators_manage_users_and_sessions_on_postgres() {
    let Some(db) = test_database("admin_cli").await else { return };
    let url = db.url().to_owned();
    tokio::task::spawn_blocking(move || operate_on(&url)).await.unwrap();
}

#[test]
fn operator_commands_need_a_known_user() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ops.db").display());
    let output = operator(dir.path(), &url, &["users", "ban", "nobody@example.com"], None);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output).1.contains("User not found"));
}
