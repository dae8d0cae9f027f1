//! The multi-factor routes end to end in process: enroll, challenge, verify (aal2 in place),
//! refresh keeping aal2, the aal2 gates, single use, unenroll and the operator's routes. Codes
//! come from auth-core's TOTP double on the app's clock.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use auth_core::ports::Clock;
use auth_core::testing::FakeTotp;
use auth_http::HttpSettings;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use serde_json::{Value, json};

use crate::harness::{TestApp, api_key, post, with_token};

fn get(path: &str) -> TestRequest {
    TestRequest::get().uri(&format!("/auth/v1{path}"))
}

fn delete(path: &str) -> TestRequest {
    TestRequest::delete().uri(&format!("/auth/v1{path}"))
}

/// The claims of an access token (the test signer's tokens are the claims in base64url).
fn claims(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token).unwrap()).unwrap()
}

fn code(body: &Value) -> Option<&str> {
    body["error_code"].as_str()
}

#[actix_web::test]
async fn enroll_challenge_verify_raises_the_session_and_refresh_keeps_it() {
    let app = TestApp::new(HttpSettings::default()).await;
    let (_, _, session) = app.sign_up("mfa@example.com", "correct horse").await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    assert!(session["user"].get("factors").is_none(), "left out while there are none");
    assert_eq!(claims(&token)["aal"], "aal1");

    let body = json!({"factor_type": "totp", "friendly_name": "phone", "issuer": "Example"});
    let (status, _, enrolled) = app.send(with_token(post("/factors", body), &token)).await;
    assert_eq!(status, StatusCode::OK, "{enrolled}");
    assert_eq!((enrolled["type"].as_str(), enrolled["friendly_name"].as_str()), (Some("totp"), Some("phone")));
    assert!(enrolled["totp"]["qr_code"].as_str().unwrap().contains("<svg"));
    assert!(enrolled["totp"]["uri"].as_str().unwrap().starts_with("otpauth://totp/Example:mfa@example.com"));
    let secret = enrolled["totp"]["secret"].as_str().unwrap().to_owned();
    let id = enrolled["id"].as_str().unwrap().to_owned();

    let (_, _, user) = app.send(with_token(get("/user"), &token)).await;
    assert_eq!(user["factors"][0]["status"], "unverified", "{user}");
    assert_eq!(user["factors"][0]["factor_type"], "totp");
    assert!(user["factors"][0].get("secret").is_none());

    let (status, _, challenge) =
        app.send(with_token(post(&format!("/factors/{id}/challenge"), json!({})), &token)).await;
    assert_eq!(status, StatusCode::OK, "{challenge}");
    assert_eq!(challenge["type"], "totp");
    let now = app.clock.now();
    assert_eq!(challenge["expires_at"].as_i64(), Some((now + Duration::seconds(300)).timestamp()));

    let wrong = json!({"challenge_id": challenge["id"], "code": "000000"});
    let (status, _, body) = app.send(with_token(post(&format!("/factors/{id}/verify"), wrong), &token)).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, Some("mfa_verification_failed")));
    assert_eq!(body["msg"], "Invalid TOTP code entered");

    let right = json!({"challenge_id": challenge["id"], "code": FakeTotp::code(&secret, now)});
    let (status, _, raised) = app.send(with_token(post(&format!("/factors/{id}/verify"), right.clone()), &token)).await;
    assert_eq!(status, StatusCode::OK, "{raised}");
    let raised_claims = claims(raised["access_token"].as_str().unwrap());
    assert_eq!(raised_claims["aal"], "aal2");
    assert_eq!(raised_claims["amr"][0]["method"], "totp");
    assert_eq!(raised_claims["amr"][1]["method"], "password");
    assert_eq!(raised_claims["session_id"], claims(&token)["session_id"], "the same session");
    assert_eq!(raised["user"]["factors"][0]["status"], "verified");

    // The challenge works once.
    let (status, _, body) = app.send(with_token(post(&format!("/factors/{id}/verify"), right), &token)).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, Some("mfa_ip_address_mismatch")));
    // The aal1 refresh token is spent; the new one keeps aal2.
    let (status, _, _) = app.refresh(session["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, refreshed) = app.refresh(raised["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(claims(refreshed["access_token"].as_str().unwrap())["aal"], "aal2");
    assert_eq!(refreshed["user"]["factors"][0]["id"], id.as_str());

    // A new password sign-in is aal1 and lists the verified factor (auth-js's nextLevel).
    let (_, _, again) = app.sign_in("mfa@example.com", "correct horse").await;
    assert_eq!(claims(again["access_token"].as_str().unwrap())["aal"], "aal1");
    assert_eq!(again["user"]["factors"][0]["status"], "verified");
    let aal1 = again["access_token"].as_str().unwrap();
    let (status, _, body) = app.send(with_token(post("/factors", json!({"factor_type": "totp"})), aal1)).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, Some("insufficient_aal")));
    let (status, _, body) = app.send(with_token(delete(&format!("/factors/{id}")), aal1)).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, Some("insufficient_aal")));
    let new_password = json!({"password": "another horse", "current_password": "correct horse"});
    let update = TestRequest::put().uri("/auth/v1/user").set_json(new_password);
    let (status, _, body) = app.send(with_token(update, aal1)).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, Some("insufficient_aal")), "{body}");

    // From the aal2 session the factor goes, and the session is aal1 again at its next refresh.
    let aal2 = refreshed["access_token"].as_str().unwrap();
    let (status, _, body) = app.send(with_token(delete(&format!("/factors/{id}")), aal2)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"id": id})));
    let (_, _, lowered) = app.refresh(refreshed["refresh_token"].as_str().unwrap()).await;
    assert_eq!(claims(lowered["access_token"].as_str().unwrap())["aal"], "aal1");
    assert!(lowered["user"].get("factors").is_none());
}

#[actix_web::test]
async fn a_code_works_once_and_challenges_expire() {
    let app = TestApp::new(HttpSettings::default()).await;
    let (_, _, session) = app.sign_up("replay@example.com", "correct horse").await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let (_, _, enrolled) = app.send(with_token(post("/factors", json!({"factor_type": "totp"})), &token)).await;
    let (id, secret) = (enrolled["id"].as_str().unwrap(), enrolled["totp"]["secret"].as_str().unwrap());
    assert_eq!(enrolled["friendly_name"], "", "always present");
    let challenge = |token: String| {
        let app = &app;
        async move {
            let (_, _, c) = app.send(with_token(post(&format!("/factors/{id}/challenge"), json!({})), &token)).await;
            c["id"].as_str().unwrap().to_owned()
        }
    };
    let first = challenge(token.clone()).await;
    let now = app.clock.now();
    let body = json!({"challenge_id": first, "code": FakeTotp::code(secret, now)});
    let (status, _, raised) = app.send(with_token(post(&format!("/factors/{id}/verify"), body), &token)).await;
    assert_eq!(status, StatusCode::OK, "{raised}");
    let token = raised["access_token"].as_str().unwrap().to_owned();
    // The same code with a fresh challenge is a replay.
    let second = challenge(token.clone()).await;
    let body = json!({"challenge_id": second, "code": FakeTotp::code(secret, now)});
    let (status, _, body) = app.send(with_token(post(&format!("/factors/{id}/verify"), body), &token)).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, Some("mfa_verification_failed")));
    // A challenge answered too late.
    let third = challenge(token.clone()).await;
    app.clock.advance(Duration::seconds(301));
    let body = json!({"challenge_id": third, "code": FakeTotp::code(secret, app.clock.now())});
    let (status, _, body) = app.send(with_token(post(&format!("/factors/{id}/verify"), body), &token)).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, Some("mfa_challenge_expired")), "{body}");
    // Unknown challenge, malformed ids, another user's factor.
    let body = json!({"challenge_id": "00000000-0000-4000-8000-000000000000", "code": "123456"});
    let (status, _, body) = app.send(with_token(post(&format!("/factors/{id}/verify"), body), &token)).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, Some("mfa_factor_not_found")));
    let (status, _, body) = app.send(with_token(post("/factors/nope/challenge", json!({})), &token)).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, Some("validation_failed")));
    let (_, _, other) = app.sign_up("other@example.com", "correct horse").await;
    let other = other["access_token"].as_str().unwrap();
    let (status, _, body) = app.send(with_token(post(&format!("/factors/{id}/challenge"), json!({})), other)).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, Some("mfa_factor_not_found")));
}

#[actix_web::test]
async fn failed_codes_lock_the_factor_out() {
    let app = TestApp::new(HttpSettings::default()).await;
    let (_, _, session) = app.sign_up("guess@example.com", "correct horse").await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let (_, _, enrolled) = app.send(with_token(post("/factors", json!({"factor_type": "totp"})), &token)).await;
    let id = enrolled["id"].as_str().unwrap();
    let (_, _, challenge) = app.send(with_token(post(&format!("/factors/{id}/challenge"), json!({})), &token)).await;
    let mut last = StatusCode::OK;
    for _ in 0..11 {
        let body = json!({"challenge_id": challenge["id"], "code": "999999"});
        last = app.send(with_token(post(&format!("/factors/{id}/verify"), body), &token)).await.0;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

#[actix_web::test]
async fn enrollment_refusals_and_the_operator_routes() {
    let app = TestApp::new(HttpSettings::default()).await;
    let (_, _, session) = app.sign_up("ops@example.com", "correct horse").await;
    let token = session["access_token"].as_str().unwrap();
    let user = session["user"]["id"].as_str().unwrap();
    let (status, _, body) = app.send(with_token(post("/factors", json!({"factor_type": "sms"})), token)).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, Some("validation_failed")));
    let named = json!({"factor_type": "totp", "friendly_name": "key"});
    let (_, _, factor) = app.send(with_token(post("/factors", named.clone()), token)).await;
    let (status, _, body) = app.send(with_token(post("/factors", named), token)).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, Some("mfa_factor_name_conflict")));

    let admin = api_key("service_role");
    let (status, _, listed) = app.send(with_token(get(&format!("/admin/users/{user}/factors")), &admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], factor["id"]);
    let path = format!("/admin/users/{user}/factors/{}", factor["id"].as_str().unwrap());
    let (_, _, shown) = app.send(with_token(get(&format!("/admin/users/{user}")), &admin)).await;
    assert_eq!(shown["factors"][0]["id"], factor["id"], "admin user objects list factors");
    let (_, _, page) = app.send(with_token(get("/admin/users"), &admin)).await;
    let listed_user = page["users"].as_array().unwrap().iter().find(|u| u["id"] == user).unwrap().clone();
    assert_eq!(listed_user["factors"][0]["id"], factor["id"]);
    let rename = TestRequest::put().uri(&format!("/auth/v1{path}")).set_json(json!({"friendly_name": "yubikey"}));
    let (status, _, renamed) = app.send(with_token(rename, &admin)).await;
    assert_eq!((status, renamed["friendly_name"].as_str()), (StatusCode::OK, Some("yubikey")), "{renamed}");
    let (_, _, second) =
        app.send(with_token(post("/factors", json!({"factor_type": "totp", "friendly_name": "b"})), token)).await;
    let second_path = format!("/admin/users/{user}/factors/{}", second["id"].as_str().unwrap());
    let clash = TestRequest::put().uri(&format!("/auth/v1{second_path}")).set_json(json!({"friendly_name": "yubikey"}));
    let (status, _, body) = app.send(with_token(clash, &admin)).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, Some("mfa_factor_name_conflict")));
    let unchanged = TestRequest::put().uri(&format!("/auth/v1{second_path}")).set_json(json!({}));
    let (status, _, body) = app.send(with_token(unchanged, &admin)).await;
    assert_eq!((status, body["friendly_name"].as_str()), (StatusCode::OK, Some("b")));
    let (status, _, deleted) = app.send(with_token(delete(&path), &admin)).await;
    assert_eq!((status, &deleted["id"]), (StatusCode::OK, &factor["id"]));
    let (status, _, body) = app.send(with_token(delete(&path), &admin)).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, Some("mfa_factor_not_found")));
    let (status, _, body) = app.send(with_token(get(&format!("/admin/users/{user}/factors")), token)).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, Some("not_admin")));
}
