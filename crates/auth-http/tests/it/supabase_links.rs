//! Emailed links as Supabase Auth treats them (issue 21, item 5): with `verify_links_at_once`,
//! `GET /verify` redeems the link and redirects `303`, with the session in the fragment
//! (implicit) or `?code=` (PKCE); without it, the link page redeems nothing.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use auth_core::service::AuthSettings;
use auth_core::testing::SentMail;
use auth_http::HttpSettings;
use chrono::Duration;
use serde_json::json;

use crate::harness::{TestApp, post};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn at_once() -> HttpSettings {
    HttpSettings { mail_answer_floor: std::time::Duration::ZERO, verify_links_at_once: true, ..HttpSettings::default() }
}

fn confirming() -> AuthSettings {
    let mut settings = AuthSettings::default();
    settings.email.send_interval = Duration::zero();
    settings
}

/// The mail's link as a request to this app.
fn follow(mail: &SentMail) -> TestRequest {
    let path = mail.link.split_once("/auth/v1").unwrap().1;
    TestRequest::get().uri(&format!("/auth/v1{path}"))
}

#[actix_web::test]
async fn a_link_redeems_at_once_and_lands_with_the_session_in_the_fragment() {
    let app = TestApp::with(at_once(), confirming()).await;
    let body = json!({"email": "fay@example.com", "password": "correct horse"});
    app.send(post("/signup?redirect_to=http://localhost:3000/done", body)).await;
    let mail = app.mails().await.remove(0);

    let response = app.call(follow(&mail)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers().get("location").unwrap().to_str().unwrap().to_owned();
    assert!(location.starts_with("http://localhost:3000/done#access_token="), "{location}");
    assert!(location.contains("&refresh_token=") && location.contains("&type=signup"), "{location}");
    assert_eq!(app.sign_in("fay@example.com", "correct horse").await.0, StatusCode::OK, "confirmed");

    // Used once: the second visit lands with Supabase Auth's error.
    let response = app.call(follow(&mail)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers().get("location").unwrap().to_str().unwrap();
    assert!(
        location.starts_with(
            "http://localhost:3000/done#error=access_denied&error_code=otp_expired&error_description=Email%20link%20is%20invalid"
        ),
        "{location}"
    );
}

#[actix_web::test]
async fn a_pkce_link_redeems_at_once_and_lands_with_a_code() {
    let app = TestApp::with(at_once(), confirming()).await;
    let body = json!({"email": "pia@example.com", "password": "correct horse",
                      "code_challenge": CHALLENGE, "code_challenge_method": "s256"});
    app.send(post("/signup?redirect_to=http://localhost:3000/cb", body)).await;
    let mail = app.mails().await.remove(0);
    assert!(mail.link_token().starts_with("pkce_"));

    let response = app.call(follow(&mail)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers().get("location").unwrap().to_str().unwrap().to_owned();
    assert!(location.starts_with("http://localhost:3000/cb?code=") && !location.contains('#'), "{location}");
    let code = location.split_once("code=").unwrap().1;
    let exchange = json!({"auth_code": code, "code_verifier": VERIFIER});
    let (status, _, session) = app.send(post("/token?grant_type=pkce", exchange)).await;
    assert_eq!((status, session["user"]["email"].as_str()), (StatusCode::OK, Some("pia@example.com")));
}

#[actix_web::test]
async fn without_the_setting_the_link_page_redeems_nothing() {
    let quick = HttpSettings { mail_answer_floor: std::time::Duration::ZERO, ..HttpSettings::default() };
    let app = TestApp::with(quick, confirming()).await;
    app.sign_up("gil@example.com", "correct horse").await;
    let mail = app.mails().await.remove(0);
    let page = app.call(follow(&mail)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let (status, _, _) = app.send(post("/verify", json!({"type": "signup", "token_hash": mail.link_token()}))).await;
    assert_eq!(status, StatusCode::OK, "the page used nothing");
}
