//! Supabase Auth's set of signing and verifying keys (`GOTRUE_JWT_KEYS`, authd's `jwt.keys`): a
//! JSON array of private JWKs, exactly one of which has `sign` among its `key_ops` and signs; the
//! others only verify (keys being rotated in or out).

use serde_json::{Map, Value};

use crate::jwt::{JwtAlgorithm, KeyError, SigningKey};

/// The keys of a JWK set: the one that signs, then those that only verify.
#[derive(Debug, Clone)]
pub struct JwkSetKeys {
    /// The key whose `key_ops` hold `sign`.
    pub signing: SigningKey,
    /// Every other key, in the order given.
    pub verify_only: Vec<SigningKey>,
}

/// Why a JWK set was refused. The text names the key by its position and `kid`, never its
/// material.
fn refused(reason: impl Into<String>) -> KeyError {
    KeyError::Invalid { alg: "JWK set", reason: reason.into() }
}

impl JwkSetKeys {
    /// Reads the set as Supabase Auth does: each entry a private JWK; `key_ops` containing `sign`
    /// marks the signing key (exactly one), and a key without `key_ops` verifies only; an `oct`
    /// key without `alg` is HS256. authd signs and verifies ES256, RS256 and HS256 only: a key of
    /// another algorithm (RS512, ES512, EdDSA) is refused rather than ignored, and an HS256
    /// secret must pass the same strength rules as `jwt.secret`.
    pub fn parse(json: &str) -> Result<Self, KeyError> {
        let entries: Vec<Value> =
            serde_json::from_str(json).map_err(|e| refused(format!("not a JSON array of JWKs: {e}")))?;
        let mut signing = None;
        let mut verify_only = Vec::new();
        for (n, entry) in entries.into_iter().enumerate() {
            let Value::Object(mut jwk) = entry else {
                return Err(refused(format!("entry {n} is not a JWK object")));
            };
            let name = format!("entry {n} (kid {})", jwk.get("kid").and_then(Value::as_str).unwrap_or("none"));
            let signs = takes_sign(&jwk).map_err(|reason| refused(format!("{name}: {reason}")))?;
            normalise(&mut jwk).map_err(|reason| refused(format!("{name}: {reason}")))?;
            let key = SigningKey::from_jwk_json(&Value::Object(jwk).to_string()).map_err(|e| match e {
                KeyError::WeakSecret(weak) => KeyError::WeakSecret(weak),
                other => refused(format!("{name}: {other}")),
            })?;
            match (signs, &signing) {
                (true, None) => signing = Some(key),
                (true, Some(_)) => return Err(refused("more than one key has sign in its key_ops; exactly one signs")),
                (false, _) => verify_only.push(key),
            }
        }
        let signing = signing.ok_or_else(|| refused("no key has sign in its key_ops; exactly one must sign"))?;
        if std::iter::once(&signing).chain(&verify_only).filter(|k| k.alg() == JwtAlgorithm::HS256).count() > 1 {
            return Err(refused("more than one HS256 key: authd verifies with one shared secret"));
        }
        Ok(Self { signing, verify_only })
    }
}

/// Whether the JWK's `key_ops` name `sign`.
fn takes_sign(jwk: &Map<String, Value>) -> Result<bool, String> {
    match jwk.get("key_ops") {
        None => Ok(false),
        Some(Value::Array(ops)) => Ok(ops.iter().any(|op| op.as_str() == Some("sign"))),
        Some(_) => Err("key_ops must be an array".into()),
    }
}

/// Leaves what josekit needs to build a key for both directions: `key_ops` and `use` are read
/// here (josekit would refuse a verify-only key for signing, which every key is checked for), and
/// an `oct` key's algorithm defaults to HS256 as in Supabase Auth.
fn normalise(jwk: &mut Map<String, Value>) -> Result<(), String> {
    jwk.remove("key_ops");
    jwk.remove("use");
    let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or_default().to_owned();
    if kty == "oct" && !jwk.contains_key("alg") {
        jwk.insert("alg".into(), Value::from(JwtAlgorithm::HS256.name()));
    }
    let alg = jwk.get("alg").and_then(Value::as_str).unwrap_or_default();
    match JwtAlgorithm::parse(alg) {
        Some(_) => Ok(()),
        None if alg.is_empty() => Err(format!("a {kty} key needs alg (ES256 or RS256)")),
        None => Err(format!("alg {alg} is not supported by authd (ES256, RS256 or HS256)")),
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    use super::*;

    const SECRET: &[u8] = b"q0mO6pXk1x5yV4+7Qq1B0jv7dFmVQ3nT8yH2s9cRkZl1a5wE3uJ6pY0tGiX4oN2b";

    fn private(alg: JwtAlgorithm, kid: &str, ops: &[&str]) -> Value {
        let key = SigningKey::generate(alg).unwrap();
        let mut jwk: Value = serde_json::from_str(&key.to_private_jwk_json()).unwrap();
        jwk["kid"] = json!(kid);
        jwk["key_ops"] = json!(ops);
        jwk
    }

    fn secret(kid: &str, ops: &[&str]) -> Value {
        json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(SECRET), "kid": kid, "key_ops": ops})
    }

    #[test]
    fn the_key_with_sign_signs_and_the_others_verify() {
        let set = json!([
            secret("legacy", &["verify"]),
            private(JwtAlgorithm::ES256, "current", &["sign", "verify"]),
            private(JwtAlgorithm::RS256, "previous", &["verify"]),
        ]);
        let keys = JwkSetKeys::parse(&set.to_string()).unwrap();
        assert_eq!((keys.signing.kid(), keys.signing.alg()), ("current", JwtAlgorithm::ES256));
        let others: Vec<(&str, JwtAlgorithm)> = keys.verify_only.iter().map(|k| (k.kid(), k.alg())).collect();
        assert_eq!(others, [("legacy", JwtAlgorithm::HS256), ("previous", JwtAlgorithm::RS256)]);
        // Supabase Auth's default set: the secret alone, signing.
        let alone = JwkSetKeys::parse(&json!([secret("s", &["sign", "verify"])]).to_string()).unwrap();
        assert_eq!(alone.signing.alg(), JwtAlgorithm::HS256);
    }

    #[test]
    fn sets_supabase_auth_refuses_or_authd_cannot_use_are_refused_by_name() {
        let es = || private(JwtAlgorithm::ES256, "a", &["sign"]);
        let mut ed = private(JwtAlgorithm::ES256, "ed", &["verify"]);
        ed["alg"] = json!("EdDSA");
        let weak = json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode("your-super-secret-jwt-token-with-at-least-32-characters-long"), "key_ops": ["verify"]});
        let cases = [
            (json!({"keys": []}), "not a JSON array"),
            (json!([private(JwtAlgorithm::ES256, "a", &["verify"])]), "no key has sign"),
            (json!([es(), private(JwtAlgorithm::RS256, "b", &["sign"])]), "more than one key has sign"),
            (json!([es(), ed]), "alg EdDSA is not supported"),
            (json!([es(), secret("x", &["verify"]), secret("y", &["verify"])]), "more than one HS256 key"),
            (json!([es(), 7]), "entry 1 is not a JWK object"),
        ];
        for (set, expected) in cases {
            let error = JwkSetKeys::parse(&set.to_string()).unwrap_err().to_string();
            assert!(error.contains(expected), "{set}: {error}");
        }
        let error = JwkSetKeys::parse(&json!([es(), weak]).to_string()).unwrap_err();
        assert!(matches!(error, KeyError::WeakSecret(_)), "{error}");
        assert!(!error.to_string().contains("super-secret"));
    }
}
