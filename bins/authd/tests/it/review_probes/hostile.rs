//! Hostile bodies on every route, against the real server and its real stores: what the
//! in-process suite (auth-http's `hostile`) checks for parsing, here also for what the
//! databases refuse to store (NUL characters, which PostgreSQL's `text` and `jsonb` reject,
//! lone surrogates, very long values). Every answer is a JSON client error or a success, never
//! a 5xx.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};

use super::{Deployment, on_both_backends};
use crate::process::{PASSWORD, access_token, ok};

/// `(method, path)` of every route in auth-http's source, read as its docs check reads them.
fn served_routes() -> BTreeSet<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/auth-http/src");
    let mut files = vec![dir];
    let mut routes = BTreeSet::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for piece in text.split("resource(\"").skip(1) {
            let Some((route, chain)) = piece.split_once('"') else { continue };
            let chain = chain.split("resource(").next().unwrap_or_default();
            for method in ["get", "post", "put", "patch", "delete"] {
                if chain.contains(&format!("web::{method}()")) {
                    routes.insert((method.to_ascii_uppercase(), route.to_owned()));
                }
            }
        }
    }
    routes
}

/// Bodies whose values a database may refuse: every field a route reads, filled with them.
fn bodies() -> Vec<(&'static str, String)> {
    let every_field = |value: Value| {
        json!({
            "email": value, "password": value, "username": value, "phone": value, "token": value,
            "token_hash": value, "type": value, "refresh_token": value, "redirect_to": value,
            "code_challenge": value, "code_challenge_method": value, "auth_code": value, "code_verifier": value,
            "nonce": value, "current_password": value, "ban_duration": value, "role": value,
            "data": {"k": value}, "user_metadata": {"k": value, "nested": [value]}, "app_metadata": {"k": value},
            "options": {"data": {"k": value}, "emailRedirectTo": value},
        })
        .to_string()
    };
    let nul_metadata = json!({
        "email": "meta-nul@example.com", "password": "not the password",
        "data": {"k": "a\u{0}b"}, "user_metadata": {"a\u{0}b": 1}, "app_metadata": {"k": ["\u{0}"]},
        "options": {"data": {"k": "\u{0}"}},
    });
    let nul_metadata_alone =
        json!({"email": "meta-nul2@example.com", "data": {"k\u{0}": true}, "user_metadata": {"k": "\u{0}"}});
    let surrogate = r#"{"email": "s@example.com", "password": "not the password", "data": {"k": "\ud800"}}"#;
    vec![
        ("NUL in metadata", nul_metadata.to_string()),
        ("NUL in metadata without a password", nul_metadata_alone.to_string()),
        ("NUL in every string", every_field(json!("a\u{0}b@example.com"))),
        ("a lone surrogate", surrogate.to_owned()),
        ("a long value", every_field(json!("y".repeat(600)))),
        ("control characters", every_field(json!("\u{1b}[31m\r\n\t\u{7f}"))),
    ]
}

fn hostile_values_on_every_route(d: &Deployment) {
    assert_eq!(d.server.sign_up("h@example.com", PASSWORD).0, 200);
    // The user the admin routes work on (one of them deletes it).
    let id = ok(d.server.sign_up("other@example.com", PASSWORD))["user"]["id"].as_str().unwrap().to_owned();
    let service = d.service_key();
    let routes = served_routes();
    assert!(routes.len() > 20, "{routes:?}");
    let mut failures = Vec::new();
    let mut last = None;
    for (method, route) in &routes {
        for (name, body) in bodies() {
            let token = if route.starts_with("/admin") || route == "/invite" {
                Some(service.clone())
            } else if ["/user", "/logout", "/reauthenticate"].contains(&route.as_str()) {
                let (status, session) = d.server.sign_in("h@example.com", PASSWORD);
                assert_eq!(status, 200, "before {method} {route} with {name}, after {last:?}: {session}");
                Some(access_token(&session))
            } else {
                None
            };
            let path = format!("/auth/v1{}", route.replace("{id}", &id));
            let auth = token.map(|t| format!("Bearer {t}"));
            let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
            let (status, answer) = d.server.request_with(method, &path, Some(&body), &headers).expect("authd answers");
            let json: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
            let refused_cleanly = (400..500).contains(&status) && json["error_code"].is_string();
            last = Some(format!("{method} {route} with {name}: {status} {answer}"));
            if !(status < 400 || refused_cleanly) {
                failures.push(format!("{method} {route} with {name}: {status} {answer}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
on_both_backends!(
    hostile_values_on_every_route,
    &[
        ("AUTHD_SIGNUP__AUTOCONFIRM", "true"),
        // Wrong passwords are part of the bodies; the throttle is not under test here.
        ("AUTHD_RATE_LIMITS__PASSWORD_FAILURES_PER_CLIENT", "100000"),
        ("AUTHD_RATE_LIMITS__PASSWORD_FAILURES_PER_ACCOUNT", "100000"),
    ]
);
