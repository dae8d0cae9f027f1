//! JWT forgeries: each token here is one an attacker can make without the signing key (or with
//! a leaked one), and each must be refused.

use auth_core::domain::{Aal, AccessClaims, AmrEntry};
use auth_core::ports::{Claim, TokenError, TokenSigner};
use auth_crypto::{JwtAlgorithm, JwtSigner, SigningKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const NOW: i64 = 1_900_000_000;
const SECRET: &[u8] = b"q0mO6pXk1x5yV4+7Qq1B0jv7dFmVQ3nT8yH2s9cRkZl1a5wE3uJ6pY0tGiX4oN2b";

fn claims() -> AccessClaims {
    AccessClaims {
        iss: String::new(),
        sub: "6f1c8a58-7d39-4a51-9d4e-0b9fb3b8d2a1".into(),
        aud: "authenticated".into(),
        exp: NOW + 3600,
        iat: NOW,
        email: "jane@example.com".into(),
        phone: String::new(),
        app_metadata: json!({"provider": "email"}),
        user_metadata: json!({}),
        role: "authenticated".into(),
        aal: Aal::Aal1,
        amr: vec![AmrEntry { method: "password".into(), timestamp: NOW }],
        session_id: Some("0b6a3c4e-8f1d-4c2b-9a7e-5d3f2e1c0b9a".parse().unwrap()),
        is_anonymous: false,
    }
}

fn claims_json() -> Value {
    serde_json::to_value(claims()).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with this header and payload, HMAC-SHA-256-signed with `key` (any bytes).
fn hs256(header: &Value, payload: &Value, key: &[u8]) -> String {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(payload.to_string().as_bytes()));
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

fn es256_ring() -> (JwtSigner, SigningKey) {
    let key = SigningKey::generate(JwtAlgorithm::ES256).unwrap();
    (JwtSigner::new(key.clone(), vec![], "authenticated", "").unwrap(), key)
}

#[test]
fn alg_none_is_refused_in_every_spelling_with_and_without_a_kid() {
    let (signer, key) = es256_ring();
    let body = b64(claims_json().to_string().as_bytes());
    for alg in ["none", "None", "NONE", "nOnE", ""] {
        for header in [json!({"alg": alg, "typ": "JWT", "kid": key.kid()}), json!({"alg": alg, "typ": "JWT"})] {
            let head = b64(header.to_string().as_bytes());
            for token in [format!("{head}.{body}."), format!("{head}.{body}")] {
                assert!(signer.verify(&token, NOW).is_err(), "{header}");
            }
        }
    }
}

#[test]
fn hs256_keyed_with_the_public_key_is_refused() {
    for alg in [JwtAlgorithm::ES256, JwtAlgorithm::RS256] {
        let key = SigningKey::generate(alg).unwrap();
        let public = key.public_jwk().unwrap();
        let signer = JwtSigner::new(key.clone(), vec![], "authenticated", "").unwrap();
        let jwks = signer.jwks().to_string();
        let mut candidates: Vec<Vec<u8>> = vec![public.to_string().into_bytes(), jwks.into_bytes()];
        for member in ["n", "x", "y"] {
            if let Some(value) = public[member].as_str() {
                candidates.push(value.as_bytes().to_vec());
                candidates.push(URL_SAFE_NO_PAD.decode(value).unwrap());
            }
        }
        for secret in &candidates {
            for header in [json!({"alg": "HS256", "kid": key.kid()}), json!({"alg": "HS256"})] {
                let token = hs256(&header, &claims_json(), secret);
                assert_eq!(signer.verify(&token, NOW), Err(TokenError::AlgorithmNotAllowed), "{alg:?} {header}");
            }
        }
    }
}

#[test]
fn foreign_keys_and_kids_are_refused() {
    let (signer, key) = es256_ring();
    let stranger = JwtSigner::new(SigningKey::generate(JwtAlgorithm::ES256).unwrap(), vec![], "authenticated", "")
        .unwrap()
        .sign(&claims())
        .unwrap();
    assert_eq!(signer.verify(&stranger, NOW), Err(TokenError::UnknownKid), "unknown kid");
    // Another key's signature under our kid.
    let mut parts: Vec<String> = stranger.split('.').map(str::to_owned).collect();
    parts[0] = b64(json!({"alg": "ES256", "typ": "JWT", "kid": key.kid()}).to_string().as_bytes());
    assert_eq!(signer.verify(&parts.join("."), NOW), Err(TokenError::BadSignature), "our kid, their signature");
    // An HS256 ring refuses a token signed with another secret, and a kid it does not hold.
    let hmac = JwtSigner::new(SigningKey::hmac(SECRET, None).unwrap(), vec![], "authenticated", "").unwrap();
    let other_secret =
        hs256(&json!({"alg": "HS256"}), &claims_json(), b"another-secret-that-is-long-enough-1234567890");
    assert_eq!(hmac.verify(&other_secret, NOW), Err(TokenError::BadSignature));
    let foreign_kid = hs256(&json!({"alg": "HS256", "kid": "elsewhere"}), &claims_json(), SECRET);
    assert_eq!(hmac.verify(&foreign_kid, NOW), Err(TokenError::UnknownKid));
    // A kid trying to name a file or a URL is only ever compared, never followed.
    for kid in ["../../../../dev/null", "https://attacker.example/jwks.json", "' OR 1=1 --"] {
        let token =
            hs256(&json!({"alg": "HS256", "kid": kid, "jku": "https://attacker.example/"}), &claims_json(), b"");
        assert_eq!(hmac.verify(&token, NOW), Err(TokenError::UnknownKid), "{kid}");
    }
}

#[test]
fn expired_tampered_and_misaddressed_tokens_are_refused() {
    let (signer, _) = es256_ring();
    let token = signer.sign(&claims()).unwrap();
    assert_eq!(signer.verify(&token, NOW + 3600), Err(TokenError::Expired));
    assert_eq!(signer.verify(&token, NOW + 10 * 365 * 86_400), Err(TokenError::Expired));
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = b64(json!({"role": "service_role"}).to_string().as_bytes());
    assert_eq!(signer.verify(&parts.join("."), NOW), Err(TokenError::BadSignature), "tampered payload");
    parts[1] =
        b64(serde_json::to_string(&AccessClaims { role: "service_role".into(), ..claims() }).unwrap().as_bytes());
    assert_eq!(signer.verify(&parts.join("."), NOW), Err(TokenError::BadSignature), "re-encoded payload");
    let wrong_aud = signer.sign(&AccessClaims { aud: "somebody-else".into(), ..claims() }).unwrap();
    assert_eq!(signer.verify(&wrong_aud, NOW), Err(TokenError::WrongAudience));
    let issuer = SigningKey::generate(JwtAlgorithm::ES256).unwrap();
    let strict = JwtSigner::new(issuer, vec![], "authenticated", "https://auth.example.com").unwrap();
    let wrong_iss = strict.sign(&AccessClaims { iss: "https://evil.example".into(), ..claims() }).unwrap();
    assert_eq!(strict.verify(&wrong_iss, NOW), Err(TokenError::WrongIssuer));
    for garbage in ["", ".", "..", "a.b.c", "eyJhbGciOiJFUzI1NiJ9..", "x".repeat(10_000).as_str()] {
        assert!(signer.verify(garbage, NOW).is_err(), "{garbage:.20}");
    }
}

#[test]
fn a_validly_signed_token_that_lives_too_long_is_refused() {
    // What a leaked (or not yet retired) key can mint: `exp` in 2100. Its signature is good.
    let hmac = JwtSigner::new(SigningKey::hmac(SECRET, None).unwrap(), vec![], "authenticated", "").unwrap();
    for ring in [es256_ring().0, hmac] {
        let forever = ring.sign(&AccessClaims { exp: 4_102_444_800, ..claims() }).unwrap();
        assert_eq!(ring.verify(&forever, NOW), Err(TokenError::LifetimeTooLong));
        // The ten-year API keys authd prints are accepted.
        let api_key = json!({"aud": "authenticated", "role": "anon", "iat": NOW, "exp": NOW + 3653 * 86_400_i64});
        assert!(ring.verify(&ring.sign_claims(&api_key).unwrap(), NOW).is_ok());
    }
    // A service-role API key (no user, no session) far beyond any key's lifetime, signed by a key
    // authd generates or a configured private key.
    let ring = es256_ring().0;
    let api_key =
        json!({"aud": "authenticated", "role": "service_role", "iat": NOW, "exp": NOW + 100 * 365 * 86_400_i64});
    assert_eq!(ring.verify(&ring.sign_claims(&api_key).unwrap(), NOW), Err(TokenError::LifetimeTooLong));
    let mut no_exp = api_key.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(ring.verify(&ring.sign_claims(&no_exp).unwrap(), NOW), Err(TokenError::MissingClaim(Claim::Exp)));
}

/// An API key as Supabase's self-hosting guide makes one: HS256 with the project's JWT secret,
/// no `kid`, no `aud`, `iss: supabase`, issued now for five years.
fn stock_key(role: &str) -> Value {
    json!({"role": role, "iss": "supabase", "iat": NOW - 86_400, "exp": NOW + 5 * 365 * 86_400_i64})
}

#[test]
fn supabase_stock_keys_signed_with_the_configured_secret_are_accepted_as_gotrue_accepts_them() {
    let issuer = "https://auth.example.com/auth/v1";
    let hmac = JwtSigner::new(SigningKey::hmac(SECRET, None).unwrap(), vec![], "authenticated", issuer).unwrap();
    let header = json!({"alg": "HS256", "typ": "JWT"});
    for role in ["anon", "service_role"] {
        let claims = hmac.verify(&hs256(&header, &stock_key(role), SECRET), NOW).unwrap();
        assert_eq!((claims.role.as_str(), claims.aud.as_str(), claims.iss.as_str()), (role, "", "supabase"));
    }
    // The platform's keys also name the project (`ref`); auth-js's test suite signs `{role}` alone
    // (jsonwebtoken adds `iat`), and Supabase CLI's keys have no `iat`.
    let mut with_ref = stock_key("anon");
    with_ref["ref"] = json!("abcdefghijklmnopqrst");
    let bare = json!({"role": "service_role", "iat": NOW});
    let cli = json!({"iss": "supabase-demo", "role": "anon", "exp": NOW + 86_400});
    for claims in [with_ref, bare, cli] {
        assert!(hmac.verify(&hs256(&header, &claims, SECRET), NOW).is_ok(), "{claims}");
    }
    // What they carry still counts.
    let mut expired = stock_key("anon");
    expired["exp"] = json!(NOW - 1);
    assert_eq!(hmac.verify(&hs256(&header, &expired, SECRET), NOW), Err(TokenError::Expired));
    let mut elsewhere = stock_key("anon");
    elsewhere["aud"] = json!("another-service");
    assert_eq!(hmac.verify(&hs256(&header, &elsewhere, SECRET), NOW), Err(TokenError::WrongAudience));
    // Another secret, or a user's token shaped the same way, is not let in.
    let other = b"an0ther-Secret-0f-enough-Length-and-entropy-9x7Q";
    assert_eq!(hmac.verify(&hs256(&header, &stock_key("anon"), other), NOW), Err(TokenError::BadSignature));
    let mut user = stock_key("authenticated");
    user["sub"] = json!("6f1c8a58-7d39-4a51-9d4e-0b9fb3b8d2a1");
    assert_eq!(hmac.verify(&hs256(&header, &user, SECRET), NOW), Err(TokenError::MissingClaim(Claim::Aud)));
    user["aud"] = json!("authenticated");
    user["iss"] = json!(issuer);
    assert_eq!(hmac.verify(&hs256(&header, &user, SECRET), NOW), Err(TokenError::LifetimeTooLong));
}

#[test]
fn api_keys_of_other_keys_may_lack_aud_but_not_exp() {
    let (signer, key) = es256_ring();
    let no_aud = json!({"role": "service_role", "iat": NOW, "exp": NOW + 3600});
    let claims = signer.verify(&signer.sign_claims(&no_aud).unwrap(), NOW).unwrap();
    assert_eq!((claims.role.as_str(), claims.aud.as_str()), ("service_role", ""));
    // Not stock keys: the issuer is checked, and an HS256 token cannot borrow the ES256 key.
    let strict = JwtSigner::new(key.clone(), vec![], "authenticated", "https://auth.example.com").unwrap();
    assert_eq!(strict.verify(&strict.sign_claims(&stock_key("anon")).unwrap(), NOW), Err(TokenError::WrongIssuer));
    let confused = hs256(&json!({"alg": "HS256"}), &stock_key("anon"), SECRET);
    assert_eq!(signer.verify(&confused, NOW), Err(TokenError::AlgorithmNotAllowed));
}

#[test]
fn every_refusal_names_its_problem() {
    let secret = SigningKey::hmac(SECRET, Some("legacy".into())).unwrap();
    let es = SigningKey::generate(JwtAlgorithm::ES256).unwrap();
    let ring = JwtSigner::new(es.clone(), vec![secret], "authenticated", "").unwrap();
    let user = claims_json();
    let mut no_aud = user.clone();
    no_aud.as_object_mut().unwrap().remove("aud");
    let mut no_role = user.clone();
    no_role.as_object_mut().unwrap().remove("role");
    let mut text_exp = user.clone();
    text_exp["exp"] = json!("tomorrow");
    let es_header = json!({"alg": "ES256"});
    let unsigned = |header: &Value, claims: &Value| {
        format!("{}.{}.c2ln", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()))
    };
    let cases: Vec<(&str, String, TokenError)> = vec![
        ("not a JWT", "a.b".into(), TokenError::Malformed),
        ("ES256 without a kid in a ring of two", unsigned(&es_header, &user), TokenError::MissingKid),
        ("a kid of no key", unsigned(&json!({"alg": "ES256", "kid": "gone"}), &user), TokenError::UnknownKid),
        ("alg none", unsigned(&json!({"alg": "none", "kid": es.kid()}), &user), TokenError::AlgorithmNotAllowed),
        ("bad signature", unsigned(&json!({"alg": "ES256", "kid": es.kid()}), &user), TokenError::BadSignature),
        ("no aud", ring.sign_claims(&no_aud).unwrap(), TokenError::MissingClaim(Claim::Aud)),
        ("no role", ring.sign_claims(&no_role).unwrap(), TokenError::MissingClaim(Claim::Role)),
        (
            "HS256 without a kid: the secret",
            hs256(&json!({"alg": "HS256"}), &no_aud, SECRET),
            TokenError::MissingClaim(Claim::Aud),
        ),
        ("text exp", hs256(&json!({"alg": "HS256", "kid": "legacy"}), &text_exp, SECRET), TokenError::Malformed),
    ];
    for (what, token, expected) in cases {
        assert_eq!(ring.verify(&token, NOW), Err(expected), "{what}");
    }
    // A stock key without a kid in a ring holding the secret next to other keys.
    assert!(ring.verify(&hs256(&json!({"alg": "HS256"}), &stock_key("anon"), SECRET), NOW).is_ok());
}

#[test]
fn tokens_issued_or_valid_only_in_the_future_are_refused() {
    let (signer, _) = es256_ring();
    let later = signer.sign(&AccessClaims { iat: NOW + 600, exp: NOW + 4200, ..claims() }).unwrap();
    assert_eq!(signer.verify(&later, NOW), Err(TokenError::NotYetValid));
    let mut with_nbf = claims_json();
    with_nbf["nbf"] = json!(NOW + 600);
    let token = signer.sign_claims(&with_nbf).unwrap();
    assert_eq!(signer.verify(&token, NOW), Err(TokenError::NotYetValid));
    assert!(signer.verify(&token, NOW + 600).is_ok(), "valid once nbf has come");
    // josekit will not write a non-numeric nbf; a hand-signed one is refused too.
    let hmac = JwtSigner::new(SigningKey::hmac(SECRET, None).unwrap(), vec![], "authenticated", "").unwrap();
    with_nbf["nbf"] = json!("soon");
    assert!(hmac.verify(&hs256(&json!({"alg": "HS256"}), &with_nbf, SECRET), NOW).is_err());
}

#[test]
fn a_remembered_token_is_held_to_its_times_on_every_use() {
    // The signature cache must not skip the time checks: verified once at a good time,
    // refused later.
    let (signer, _) = es256_ring();
    let mut with_nbf = claims_json();
    with_nbf["nbf"] = json!(NOW);
    let token = signer.sign_claims(&with_nbf).unwrap();
    assert!(signer.verify(&token, NOW).is_ok());
    assert_eq!(signer.verify(&token, NOW - 3600), Err(TokenError::NotYetValid));
    assert_eq!(signer.verify(&token, NOW + 3600), Err(TokenError::Expired));
}

#[test]
fn published_and_weak_hs256_secrets_cannot_make_a_key() {
    for secret in [
        "your-super-secret-jwt-token-with-at-least-32-characters-long",
        "super-secret-jwt-token-with-at-least-32-characters-long",
        "0000000000000000000000000000000000000000",
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
    ] {
        let refused = SigningKey::hmac(secret.as_bytes(), None).unwrap_err().to_string();
        assert!(refused.contains("openssl rand") && !refused.contains(secret), "{refused}");
    }
    // The same rule for a secret arriving as a stored JWK.
    let jwk = json!({"kty": "oct", "alg": "HS256", "kid": "k", "k": b64(b"super-secret-jwt-token-with-at-least-32-characters-long")});
    assert!(SigningKey::from_jwk_json(&jwk.to_string()).is_err());
}
