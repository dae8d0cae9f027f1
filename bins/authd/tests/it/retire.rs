//! `authd keys retire`: a compromised key stops verifying at once, on every running server
//! after its next key reload, and is never used to sign again.

use std::process::Command;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use auth_crypto::SystemClock;
use auth_testkit::http::{post, send, with_token};
use authd::config::Config;
use authd::wiring::{operator, server_parts};
use serde_json::{Value, json};

use crate::process::{PASSWORD, Server, access_token, authd, json_output, kid, ok, run, text};

/// The app `serve` runs, built in process: a token signed by a key retired meanwhile is refused
/// as soon as the app has reloaded its keys, and new tokens come from the key rotated in.
#[tokio::test(flavor = "multi_thread")]
async fn a_running_app_refuses_tokens_of_a_retired_key_after_its_reload() {
    let dir = tempfile::tempdir().unwrap();
    let config: Config = serde_json::from_value(json!({
        "database": {"url": format!("sqlite://{}", dir.path().join("keys.db").display())},
        "password": {"hash": {"memory_kib": 256, "iterations": 1}},
        "signup": {"autoconfirm": true},
    }))
    .unwrap();
    config.validate().unwrap();
    let parts = server_parts(&config, std::sync::Arc::new(SystemClock)).await.unwrap();
    let app = test::init_service(auth_http::app(parts.state.clone())).await;
    let credentials = json!({"email": "rae@example.com", "password": PASSWORD});
    let (status, _, session) = send(&app, post("/signup", credentials.clone())).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    let leaked = access_token(&session);
    let user = || TestRequest::get().uri("/auth/v1/user");
    assert_eq!(send(&app, with_token(user(), &leaked)).await.0, StatusCode::OK);

    // Another process (the operator's command) rotates a new key in and retires the old one.
    let operator = operator(&config).await.unwrap();
    let compromised = kid(&leaked);
    let refused = operator.keys.retire(&compromised).await.unwrap_err();
    assert!(format!("{refused:#}").contains("--rotate"), "{refused:#}");
    let rotated = operator.keys.rotate_for(&compromised).await.unwrap();
    assert_eq!(send(&app, with_token(user(), &leaked)).await.0, StatusCode::OK, "not retired yet");
    operator.keys.retire(&compromised).await.unwrap();

    assert!(parts.reload_keys().await.unwrap(), "the reload saw the change");
    let (status, _, body) = send(&app, with_token(user(), &leaked)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::FORBIDDEN, Some("bad_jwt")), "{body}");
    let (_, _, jwks) = send(&app, TestRequest::get().uri("/auth/v1/.well-known/jwks.json")).await;
    assert!(jwks["keys"].as_array().unwrap().iter().all(|k| k["kid"] != compromised.as_str()), "{jwks}");

    let (status, _, session) = send(&app, post("/token?grant_type=password", credentials)).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(kid(&access_token(&session)), rotated.kid, "signed by the key rotated in");
    assert_eq!(send(&app, with_token(user(), &access_token(&session))).await.0, StatusCode::OK);
}

fn configured(mut command: Command) -> Command {
    command.env("AUTHD_SIGNUP__AUTOCONFIRM", "true").env("AUTHD_JWT__KEY_RELOAD_SECS", "1");
    command
}

fn listed(dir: &std::path::Path, kid: &str) -> Value {
    let keys = json_output(&run(configured(authd(dir)).args(["keys", "list", "--json"])));
    keys.as_array().unwrap().iter().find(|k| k["kid"] == kid).unwrap().clone()
}

/// The command: refused for the signing key without `--rotate`, then done, audited and listed;
/// the served process stops accepting the key within `jwt.key_reload_secs`.
#[test]
fn the_cli_retires_a_key_for_every_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(configured(authd(dir.path())));
    let token = access_token(&ok(server.sign_up("sol@example.com", PASSWORD)));
    let first = kid(&token);

    let refused = run(configured(authd(dir.path())).args(["keys", "retire", &first]));
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused).1.contains(&format!("authd keys retire {first} --rotate")), "{:?}", text(&refused));
    let unknown = run(configured(authd(dir.path())).args(["keys", "retire", "no-such-kid"]));
    assert!(text(&unknown).1.contains("no key \"no-such-kid\""), "{:?}", text(&unknown));
    let chain = json_output(&run(configured(authd(dir.path())).args(["keys", "list", "--json"])))
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["purpose"] == "refresh_chain")
        .unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let output = run(configured(authd(dir.path())).args(["keys", "retire", &chain, "--rotate"]));
    assert!(text(&output).1.contains("never rotated"), "{:?}", text(&output));
    assert_eq!(server.get_user(&token).0, 200, "refusals changed nothing");

    let done = json_output(&run(configured(authd(dir.path())).args(["keys", "retire", &first, "--rotate", "--json"])));
    assert_eq!(done["retired"]["kid"], first.as_str(), "{done}");
    let new = done["rotated"]["kid"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.get_user(&token).0 == 200 {
        assert!(Instant::now() < deadline, "the running server kept accepting the retired key");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(server.get_user(&token).0, 403);
    assert_eq!(kid(&access_token(&ok(server.sign_in("sol@example.com", PASSWORD)))), new);

    let row = listed(dir.path(), &first);
    assert_eq!(row["status"], "retired", "{row}");
    assert!(row["retired_at"].is_string(), "{row}");
    assert!(text(&run(configured(authd(dir.path())).args(["keys", "list"]))).0.contains(&first));
    let again = run(configured(authd(dir.path())).args(["keys", "retire", &first]));
    assert!(again.status.success(), "retiring again is harmless: {:?}", text(&again));

    let audit = json_output(&run(configured(authd(dir.path())).args(["audit", "--json"])));
    let retired: Vec<&Value> =
        audit["events"].as_array().unwrap().iter().filter(|e| e["payload"]["action"] == "key_retired").collect();
    assert_eq!(retired[0]["payload"]["traits"]["kid"], first.as_str(), "{audit}");
    assert_eq!(retired[0]["payload"]["actor_type"], "admin");
    server.signal("TERM");
    server.wait(Duration::from_secs(30));
}
