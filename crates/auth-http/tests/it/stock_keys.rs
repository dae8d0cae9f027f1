//! A project moving from Supabase keeps its `JWT_SECRET`, `ANON_KEY` and `SERVICE_ROLE_KEY`: keys
//! made as Supabase's tooling makes them work as API keys and admin keys, and every refused token
//! says why (`token_error`). A real signer here, as the binary builds it from `jwt.secret`.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use auth_core::service::AuthSettings;
use auth_core::testing::TestWorld;
use auth_crypto::{CLOCK_SKEW_SECS, JwtSigner, SigningKey, TokenLifetimes};
use auth_http::HttpSettings;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::harness::{TestApp, post, with_token};

/// The project's JWT secret (random, as `openssl rand -base64 48` makes one).
const JWT_SECRET: &[u8] = b"Vd3kq8ZxP0mW5tLr2Yc7NfB1sJ9hG4uQ6eA8oK3iR0vT5wE2yU7pM1nX4zC9bH6j";
/// The test world's clock: 2030-01-01.
const NOW: i64 = 1_893_456_000;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWT as Supabase's self-hosting guide makes one: HMAC-SHA-256 with the secret, header
/// `{"alg":"HS256","typ":"JWT"}` and no `kid`.
fn hs256(claims: &Value, secret: &[u8]) -> String {
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

/// `ANON_KEY` / `SERVICE_ROLE_KEY` of the self-hosting guide: `role`, `iss: supabase`, issued
/// some time ago for five years, no `aud`.
fn stock_key(role: &str) -> String {
    hs256(&json!({"role": role, "iss": "supabase", "iat": NOW - 86_400, "exp": NOW + 5 * 365 * 86_400}), JWT_SECRET)
}

/// The app with the signer the binary builds from `jwt.secret` (HS256, its derived kid) and API
/// keys required.
async fn app_with_secret(
    issuer: &str,
) -> TestApp<
    impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
> {
    let lifetimes = TokenLifetimes { access_secs: 3600, api_key_secs: 3653 * 86_400, skew_secs: CLOCK_SKEW_SECS };
    let key = SigningKey::hmac(JWT_SECRET, None).unwrap();
    let signer = Arc::new(JwtSigner::new(key, vec![], "authenticated", issuer).unwrap().with_lifetimes(lifetimes));
    // The binary gives the use cases and the signer the same `jwt.issuer`.
    let settings = AuthSettings { autoconfirm: true, issuer: issuer.into(), ..AuthSettings::default() };
    let world = TestWorld::new(settings).with_ports(|ports| ports.signer = signer);
    let http = HttpSettings { require_api_key: true, ..HttpSettings::default() };
    TestApp::builder().world(world).http(http).start().await
}

fn with_key(request: TestRequest, key: &str) -> TestRequest {
    with_token(request.insert_header(("apikey", key)), key)
}

#[actix_web::test]
async fn the_self_hosting_guides_keys_are_api_keys_and_admin_keys() {
    // With an issuer of its own: the stock keys say `supabase`, and Supabase Auth checks no issuer.
    let app = app_with_secret("https://auth.example.com/auth/v1").await;
    let (anon, service) = (stock_key("anon"), stock_key("service_role"));

    let (status, _, body) =
        app.send(TestRequest::get().uri("/auth/v1/settings").insert_header(("apikey", anon.as_str()))).await;
    assert_eq!(status, StatusCode::OK, "the anon key opens the public endpoints: {body}");
    let signup = post("/signup", json!({"email": "moved@example.com", "password": "correct horse"}));
    let (status, _, body) = app.send(signup.insert_header(("apikey", anon.as_str()))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let user_token = body["access_token"].as_str().unwrap().to_owned();

    let (status, _, body) = app.send(with_key(TestRequest::get().uri("/auth/v1/admin/users"), &service)).await;
    assert_eq!(status, StatusCode::OK, "the service-role key opens the admin API: {body}");
    assert_eq!(body["users"][0]["email"], "moved@example.com");
    let (status, _, body) = app.send(with_key(TestRequest::get().uri("/auth/v1/admin/users"), &anon)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::FORBIDDEN, Some("not_admin")), "{body}");

    // The platform's keys name the project; auth-js's own test suite signs `{role}` (plus `iat`)
    // with no `exp` at all. Both are admin keys as in Supabase Auth.
    let platform = hs256(
        &json!({"iss": "supabase", "ref": "abcdefghijklmnopqrst", "role": "service_role", "iat": NOW - 60, "exp": NOW + 315_360_000}),
        JWT_SECRET,
    );
    let auth_js = hs256(&json!({"role": "service_role", "iat": NOW - 60}), JWT_SECRET);
    for key in [platform, auth_js] {
        let (status, _, body) = app.send(with_key(TestRequest::get().uri("/auth/v1/admin/users"), &key)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // A user's own token still answers as before; the anon key is not a user's token.
    let (status, _, _) = app
        .send(with_token(TestRequest::get().uri("/auth/v1/user"), &user_token).insert_header(("apikey", anon.as_str())))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = app.send(with_key(TestRequest::get().uri("/auth/v1/user"), &anon)).await;
    assert_eq!(
        (status, body["error_code"].as_str(), body["token_error"].as_str()),
        (StatusCode::FORBIDDEN, Some("bad_jwt"), Some("missing_sub"))
    );
    assert_eq!(body["msg"], "invalid JWT: unable to parse or verify signature, invalid claim: missing sub claim");
}

#[actix_web::test]
async fn refused_keys_and_tokens_name_their_problem() {
    let app = app_with_secret("").await;
    let other_secret = b"Zq3v_8LrT1nWc0yXe7Hk2MpQa9sJd5Fb4Gu6Ri-NoYwAb3Cd5Ef7Gh9Ij1Kl3Mn";
    let admin = |key: &str| with_key(TestRequest::get().uri("/auth/v1/admin/users"), key);
    let expired =
        hs256(&json!({"role": "service_role", "iss": "supabase", "iat": NOW - 7200, "exp": NOW - 3600}), JWT_SECRET);
    let elsewhere = hs256(&json!({"role": "service_role", "aud": "storage", "iat": NOW, "exp": NOW + 60}), JWT_SECRET);
    let no_role = hs256(&json!({"iss": "supabase", "iat": NOW, "exp": NOW + 60}), JWT_SECRET);
    // A user's token needs its audience: GoTrue issues none without it, and neither does authd.
    let user_no_aud = hs256(
        &json!({"sub": "6f1c8a58-7d39-4a51-9d4e-0b9fb3b8d2a1", "role": "authenticated", "iat": NOW, "exp": NOW + 60}),
        JWT_SECRET,
    );
    let cases = [
        ("another secret", hs256(&json!({"role": "service_role", "iat": NOW}), other_secret), "bad_signature"),
        (
            "a kid of no key",
            {
                let header = b64(json!({"alg": "HS256", "kid": "elsewhere"}).to_string().as_bytes());
                format!("{header}.{}", stock_key("service_role").split_once('.').unwrap().1)
            },
            "unknown_kid",
        ),
        ("expired", expired, "expired"),
        ("another audience", elsewhere, "wrong_audience"),
        ("no role", no_role, "missing_role"),
        ("not a JWT", "not-a-jwt".into(), "malformed"),
    ];
    for (what, key, problem) in &cases {
        let (status, _, body) = app.send(admin(key).insert_header(("apikey", stock_key("anon").as_str()))).await;
        assert_eq!((status, body["error_code"].as_str()), (StatusCode::FORBIDDEN, Some("bad_jwt")), "{what}: {body}");
        assert_eq!(body["token_error"], *problem, "{what}: {body}");
        // The same key as the API key: 401 invalid_api_key, with the same problem named.
        let request = TestRequest::get().uri("/auth/v1/settings").insert_header(("apikey", key.as_str()));
        let (status, _, body) = app.send(request).await;
        assert_eq!(
            (status, body["error_code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_api_key")),
            "{what}: {body}"
        );
        assert_eq!(body["token_error"], *problem, "{what}: {body}");
        assert!(body["msg"].as_str().unwrap().starts_with("Invalid API key: "), "{body}");
    }
    let request = with_token(TestRequest::get().uri("/auth/v1/user"), &user_no_aud)
        .insert_header(("apikey", stock_key("anon").as_str()));
    let (status, _, body) = app.send(request).await;
    assert_eq!((status, body["token_error"].as_str()), (StatusCode::FORBIDDEN, Some("missing_aud")), "{body}");
    assert!(body["msg"].as_str().unwrap().contains("aud claim is required"), "{body}");
}
