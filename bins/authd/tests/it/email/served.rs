//! The `authd` binary serving on a test database and mailing through a sink, and the calls the
//! flows make to it.

use std::path::Path;

use auth_testkit::smtp::{Behaviour, Sink};
use serde_json::{Value, json};

use super::{Backend, Delivered, PASSWORD, SITE, TestStore};
use crate::process::{Server, authd, json_output, run};

/// `authd serve` on `url`, mailing through `sink`. Throttles are off: the flows, not the limits,
/// are under test.
fn start(dir: &Path, url: &str, sink: &Sink) -> Server {
    let mut command = authd(dir);
    command
        .env("AUTHD_DATABASE__URL", url)
        .env("AUTHD_SMTP__HOST", "127.0.0.1")
        .env("AUTHD_SMTP__PORT", sink.port().to_string())
        .env("AUTHD_SMTP__SECURITY", "none")
        .env("AUTHD_SMTP__FROM_ADDRESS", "auth@example.test")
        .env("AUTHD_SITE__URL", SITE)
        .env("AUTHD_OTP__SEND_INTERVAL_SECS", "0")
        .env("AUTHD_RATE_LIMITS__EMAIL_PER_MINUTE", "0")
        .env("AUTHD_RATE_LIMITS__VERIFY_PER_MINUTE", "0");
    Server::start(command)
}

/// Runs `flows` against authd on a fresh database of `backend`, mailing through a fresh sink.
pub(super) async fn with_authd(
    backend: Backend,
    name: &str,
    flows: impl FnOnce(&Server, &Sink, &TestStore) + Send + 'static,
) {
    let Some(store) = TestStore::new(backend, name).await else { return };
    let sink = Sink::start(Behaviour::default()).await;
    tokio::task::spawn_blocking(move || {
        let server = start(store.dir.path(), &store.url, &sink);
        flows(&server, &sink, &store);
    })
    .await
    .unwrap();
}

/// Status and `error_code` of a JSON call.
pub(super) fn outcome(answer: (u16, Value)) -> (u16, Option<String>) {
    (answer.0, answer.1["error_code"].as_str().map(str::to_owned))
}

/// Follows a mailed link as a person does: opens the page, presses Continue. Returns where the
/// browser lands (the session or the error is in the fragment).
pub(super) fn follow(server: &Server, mail: &Delivered) -> String {
    let (status, page) = server.get(&mail.link_path()).unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("<form method=\"post\""), "{page}");
    let (status, location) = server.post_form("/auth/v1/verify", &mail.link_query()).unwrap();
    assert_eq!(status, 303);
    location.unwrap()
}

/// Signs up `email` and confirms it with the mailed code; returns the session.
pub(super) fn confirmed_user(server: &Server, mailbox: &mut super::Mailbox<'_>, email: &str) -> Value {
    let (status, user) = server.sign_up(email, PASSWORD);
    assert_eq!(status, 200, "{user}");
    let code = mailbox.next(email).code();
    let (status, session) = server.post("/verify", json!({"type": "signup", "email": email, "token": code}));
    assert_eq!(status, 200, "{session}");
    session
}

/// The service-role key of the deployment on `store`, as `authd keys api` prints it.
pub(super) fn service_role_key(store: &TestStore) -> String {
    let output = run(authd(store.dir.path()).env("AUTHD_DATABASE__URL", &store.url).args(["keys", "api", "--json"]));
    json_output(&output)["service_role_key"].as_str().unwrap().to_owned()
}
