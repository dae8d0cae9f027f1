//! Forged, stretched and replayed access tokens through the HTTP API, with a real signer (the
//! other tests use an unsigned stand-in). Self-contained: its own app over the in-memory store.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::web;
use auth_core::domain::AccessClaims;
use auth_core::memory::MemoryStore;
use auth_core::ports::TokenSigner;
use auth_core::service::{AuthService, AuthSettings, Ports};
use auth_core::testing::{DigestChain, ManualClock, PlainHasher, SequentialRandom};
use auth_crypto::{CLOCK_SKEW_SECS, JwtAlgorithm, JwtSigner, SigningKey, TokenLifetimes};
use auth_http::{AppState, HttpSettings, ServerInfo};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeZone, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::harness::{post, send, with_token};

/// The app with an ES256 signer; the signer is returned too, as a leaked key would be.
async fn app_with_signer() -> (
    impl Service<actix_http::Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
    Arc<JwtSigner>,
    Arc<ManualClock>,
) {
    let store = Arc::new(MemoryStore::new());
    // Bounded as the binary bounds it: the access-token lifetime of the settings below.
    let lifetimes = TokenLifetimes { access_secs: 3600, api_key_secs: 3653 * 86_400, skew_secs: CLOCK_SKEW_SECS };
    let key = SigningKey::generate(JwtAlgorithm::ES256).unwrap();
    let signer = Arc::new(JwtSigner::new(key, vec![], "authenticated", "").unwrap().with_lifetimes(lifetimes));
    let random = Arc::new(SequentialRandom::default());
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()));
    let ports = Ports {
        users: store.clone(),
        sessions: store.clone(),
        hasher: Arc::new(PlainHasher::default()),
        signer: signer.clone(),
        chain: Arc::new(DigestChain),
        clock: clock.clone(),
        random: random.clone(),
        audit: store.clone(),
        flows: store.clone(),
        templates: Some(Arc::new(auth_core::testing::PlainTemplates)),
        factors: store.clone(),
        totp: None,
        identities: store.clone(),
        providers: Arc::new(auth_core::ports::NoProviders),
        sms: None,
    };
    let auth = AuthSettings { autoconfirm: true, ..AuthSettings::default() };
    let info = ServerInfo { name: "authd".into(), version: "9.9.9".into() };
    let state = AppState::new(AuthService::new(ports, auth), random, info, HttpSettings::default());
    (test::init_service(auth_http::app(web::Data::new(state))).await, signer, clock)
}

fn get_user(token: &str) -> TestRequest {
    with_token(TestRequest::get().uri("/auth/v1/user"), token)
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn claims_of(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap()
}

fn hs256(header: &Value, claims: &Value, key: &[u8]) -> String {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

/// Signs up Jane and returns her access token, checked to work.
async fn jane<S, B>(app: &S) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (status, _, body) =
        send(app, post("/signup", json!({"email": "jane@example.com", "password": "correct horse"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(send(app, get_user(&token)).await.0, StatusCode::OK);
    token
}

#[actix_web::test]
async fn forged_tokens_for_a_real_session_are_refused() {
    let (app, _, _) = app_with_signer().await;
    let token = jane(&app).await;
    let claims = claims_of(&token);
    let kid = header_of(&token)["kid"].as_str().unwrap().to_owned();

    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "kid": kid}).to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let (_, _, jwks) = send(&app, TestRequest::get().uri("/auth/v1/.well-known/jwks.json")).await;
    let public = jwks["keys"][0].to_string();
    let confused = hs256(&json!({"alg": "HS256", "kid": kid}), &claims, public.as_bytes());
    let foreign_kid = hs256(&json!({"alg": "HS256", "kid": "someone-elses"}), &claims, public.as_bytes());
    let mut tampered: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut raised = claims.clone();
    raised["role"] = json!("service_role");
    tampered[1] = b64(raised.to_string().as_bytes());
    for (what, forged) in [
        ("alg none", none),
        ("HS256 with the public key", confused),
        ("foreign kid", foreign_kid),
        ("tampered", tampered.join(".")),
    ] {
        let (status, _, body) = send(&app, get_user(&forged)).await;
        assert_eq!((status, body["error_code"].as_str()), (StatusCode::FORBIDDEN, Some("bad_jwt")), "{what}: {body}");
    }
}

#[actix_web::test]
async fn tokens_signed_with_our_key_but_stretched_in_time_or_address_are_refused() {
    // What someone holding a leaked (not yet retired) key can mint for a live session.
    let (app, signer, _) = app_with_signer().await;
    let token = jane(&app).await;
    let claims: AccessClaims = serde_json::from_value(claims_of(&token)).unwrap();
    let cases = [
        ("exp in 2100", AccessClaims { exp: 4_102_444_800, ..claims.clone() }),
        ("lives a day", AccessClaims { exp: claims.iat + 86_400, ..claims.clone() }),
        ("issued in an hour", AccessClaims { iat: claims.iat + 3600, exp: claims.exp + 3600, ..claims.clone() }),
        ("another audience", AccessClaims { aud: "somebody-else".into(), ..claims.clone() }),
    ];
    for (what, stretched) in cases {
        let forged = signer.sign(&stretched).unwrap();
        let (status, _, body) = send(&app, get_user(&forged)).await;
        assert_eq!((status, body["error_code"].as_str()), (StatusCode::FORBIDDEN, Some("bad_jwt")), "{what}: {body}");
    }
    let mut with_nbf = serde_json::to_value(&claims).unwrap();
    with_nbf["nbf"] = json!(claims.iat + 3600);
    let (status, _, body) = send(&app, get_user(&signer.sign_claims(&with_nbf).unwrap())).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::FORBIDDEN, Some("bad_jwt")), "nbf ahead: {body}");
}

#[actix_web::test]
async fn expired_and_logged_out_tokens_are_not_replayable() {
    let (app, _, clock) = app_with_signer().await;
    let token = jane(&app).await;
    clock.advance(chrono::Duration::seconds(3600));
    let (status, _, body) = send(&app, get_user(&token)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::FORBIDDEN, Some("bad_jwt")), "expired: {body}");

    let token = jane_again(&app).await;
    let (status, _, _) = send(&app, with_token(post("/logout", json!({})), &token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for request in [get_user(&token), with_token(post("/logout", json!({})), &token)] {
        let (status, _, body) = send(&app, request).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "replayed after logout: {body}");
    }
}

/// Jane signs in again (she already exists) and her new token works.
async fn jane_again<S, B>(app: &S) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let sign_in = post("/token?grant_type=password", json!({"email": "jane@example.com", "password": "correct horse"}));
    let (status, _, body) = send(app, sign_in).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn forged_service_role_tokens_do_not_open_the_admin_api() {
    let (app, signer, _) = app_with_signer().await;
    let key = jane(&app).await;
    let kid = header_of(&key)["kid"].as_str().unwrap().to_owned();
    let service = json!({"aud": "authenticated", "role": "service_role", "iat": 1_893_456_000, "exp": 1_893_459_600});
    let none =
        format!("{}.{}.", b64(json!({"alg": "none"}).to_string().as_bytes()), b64(service.to_string().as_bytes()));
    let placeholder = hs256(
        &json!({"alg": "HS256", "kid": kid}),
        &service,
        b"your-super-secret-jwt-token-with-at-least-32-characters-long",
    );
    // Signed with the real key (as if leaked): a service-role API key valid for 200 years.
    let mut forever = service.clone();
    forever["exp"] = json!(1_893_456_000_i64 + 200 * 365 * 86_400);
    let leaked_forever = signer.sign_claims(&forever).unwrap();
    for (what, forged) in [("alg none", none), ("placeholder secret", placeholder), ("lives 200 years", leaked_forever)]
    {
        let request = with_token(TestRequest::get().uri("/auth/v1/admin/users"), &forged);
        let (status, _, body) = send(&app, request).await;
        assert!(matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN), "{what}: {status} {body}");
    }
}
