//! The recovery-code routes in process: generate (aal2, one set, never the only factor),
//! status, verify from an aal1 session (aal2 in place, each code once, the set locked after too
//! many failures), regenerate and unenroll.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use auth_core::ports::Clock;
use auth_core::testing::FakeTotp;
use auth_http::HttpSettings;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::harness::{TestApp, post, with_token};

fn get(path: &str) -> TestRequest {
    TestRequest::get().uri(&format!("/auth/v1{path}"))
}

fn delete(path: &str) -> TestRequest {
    TestRequest::delete().uri(&format!("/auth/v1{path}"))
}

fn claims(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token).unwrap()).unwrap()
}

fn code(body: &Value) -> Option<&str> {
    body["error_code"].as_str()
}

fn access(session: &Value) -> String {
    session["access_token"].as_str().unwrap().to_owned()
}

/// A user with a verified TOTP factor; answers the aal2 session.
async fn with_totp<S, B>(app: &TestApp<S>, email: &str) -> Value
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (_, _, session) = app.sign_up(email, "correct horse").await;
    let token = access(&session);
    let (_, _, enrolled) = app.send(with_token(post("/factors", json!({"factor_type": "totp"})), &token)).await;
    let id = enrolled["id"].as_str().unwrap();
    let (_, _, challenge) = app.send(with_token(post(&format!("/factors/{id}/challenge"), json!({})), &token)).await;
    let code = FakeTotp::code(enrolled["totp"]["secret"].as_str().unwrap(), app.clock.now());
    let body = json!({"challenge_id": challenge["id"], "code": code});
    let (status, _, raised) = app.send(with_token(post(&format!("/factors/{id}/verify"), body), &token)).await;
    assert_eq!(status, StatusCode::OK, "{raised}");
    raised
}

#[actix_web::test]
async fn recovery_codes_are_generated_once_and_each_raises_an_aal1_session_once() {
    let app = TestApp::new(HttpSettings::default()).await;
    // Never the only factor.
    let (_, _, lone) = app.sign_up("lone@example.com", "correct horse").await;
    let (status, _, body) = app.send(with_token(post("/factors/recovery-codes", json!({})), &access(&lone))).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, Some("mfa_recovery_codes_sole_factor")));

    let aal2 = access(&with_totp(&app, "codes@example.com").await);
    let (status, _, body) = app.send(with_token(get("/factors/recovery-codes"), &aal2)).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, Some("mfa_factor_not_found")));
    let (status, _, set) =
        app.send(with_token(TestRequest::post().uri("/auth/v1/factors/recovery-codes"), &aal2)).await;
    assert_eq!(status, StatusCode::OK, "no body at all: {set}");
    assert_eq!((set["type"].as_str(), set["friendly_name"].as_str()), (Some("recovery_code"), Some("Recovery codes")));
    let codes: Vec<String> = set["codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    assert_eq!((codes.len(), set["total"].as_u64()), (10, Some(10)));
    assert!(codes.iter().all(|c| c.len() == 16 && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())));
    let (status, _, body) = app.send(with_token(post("/factors/recovery-codes", json!({})), &aal2)).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, Some("mfa_verified_factor_exists")));
    let (_, _, status_body) = app.send(with_token(get("/factors/recovery-codes"), &aal2)).await;
    assert_eq!(status_body, json!({"id": set["id"], "type": "recovery_code", "total": 10, "remaining": 10}));

    // A new password sign-in is aal1; the factors list the set, never its codes.
    let (_, _, signed_in) = app.sign_in("codes@example.com", "correct horse").await;
    let aal1 = access(&signed_in);
    let listed = signed_in["user"]["factors"].as_array().unwrap();
    assert_eq!(listed.iter().filter(|f| f["factor_type"] == "recovery_code" && f["status"] == "verified").count(), 1);
    assert!(!signed_in.to_string().contains(&codes[0]));
    let (status, _, body) = app.send(with_token(post("/factors/recovery-codes/regenerate", json!({})), &aal1)).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, Some("insufficient_aal")));
    let (status, _, body) = app.send(with_token(delete("/factors/recovery-codes"), &aal1)).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, Some("insufficient_aal")));

    // Typed as a person would: grouped, upper case, with spaces.
    let typed = codes[0].as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).to_uppercase()).collect::<Vec<_>>();
    let body = json!({"code": format!(" {} ", typed.join("-"))});
    let (status, _, raised) = app.send(with_token(post("/factors/recovery-codes/verify", body), &aal1)).await;
    assert_eq!(status, StatusCode::OK, "{raised}");
    let raised_claims = claims(raised["access_token"].as_str().unwrap());
    assert_eq!(raised_claims["aal"], "aal2");
    assert_eq!(raised_claims["amr"][0]["method"], "mfa/recovery_code");
    assert_eq!(raised_claims["session_id"], claims(&aal1)["session_id"], "the same session");
    let (status, _, _) = app.refresh(signed_in["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the aal1 refresh token is spent");

    // A code works once.
    let (_, _, again) = app.sign_in("codes@example.com", "correct horse").await;
    let body = json!({"code": codes[0]});
    let (status, _, body) = app.send(with_token(post("/factors/recovery-codes/verify", body), &access(&again))).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, Some("mfa_verification_failed")));
    assert_eq!(body["msg"], "Invalid recovery code entered");
    let (_, _, status_body) = app.send(with_token(get("/factors/recovery-codes"), &access(&again))).await;
    assert_eq!(status_body["remaining"], 9);

    // Regenerating replaces the codes under the same factor.
    let strong = access(&raised);
    let (status, _, fresh) = app.send(with_token(post("/factors/recovery-codes/regenerate", json!({})), &strong)).await;
    assert_eq!((status, &fresh["id"]), (StatusCode::OK, &set["id"]), "{fresh}");
    assert_ne!(fresh["codes"][0], set["codes"][0]);
    let body = json!({"code": codes[1]});
    let (status, _, body) = app.send(with_token(post("/factors/recovery-codes/verify", body), &access(&again))).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, Some("mfa_verification_failed")));

    // Recovery codes are not challenged like a TOTP factor.
    let id = set["id"].as_str().unwrap();
    let (status, _, body) = app.send(with_token(post(&format!("/factors/{id}/challenge"), json!({})), &strong)).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, Some("validation_failed")));

    let (status, _, body) = app.send(with_token(delete("/factors/recovery-codes"), &strong)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"id": set["id"]})));
    let (status, _, body) = app.send(with_token(get("/factors/recovery-codes"), &strong)).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, Some("mfa_factor_not_found")));
}

#[actix_web::test]
async fn wrong_recovery_codes_lock_the_set() {
    let app = TestApp::new(HttpSettings::default()).await;
    let aal2 = access(&with_totp(&app, "locked@example.com").await);
    let (_, _, set) =
        app.send(with_token(post("/factors/recovery-codes", json!({"friendly_name": "paper"})), &aal2)).await;
    assert_eq!(set["friendly_name"], "paper");
    let (_, _, signed_in) = app.sign_in("locked@example.com", "correct horse").await;
    let aal1 = access(&signed_in);
    let mut last = (StatusCode::OK, Value::Null);
    for _ in 0..11 {
        let body = json!({"code": "aaaaaaaaaaaaaaaa"});
        let (status, _, body) = app.send(with_token(post("/factors/recovery-codes/verify", body), &aal1)).await;
        last = (status, body);
    }
    assert_eq!((last.0, code(&last.1)), (StatusCode::TOO_MANY_REQUESTS, Some("mfa_recovery_codes_locked")));
    // Even the right code waits.
    let body = json!({"code": set["codes"][0]});
    let (status, headers, _) = app.send(with_token(post("/factors/recovery-codes/verify", body), &aal1)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.get("retry-after").is_some());
}
