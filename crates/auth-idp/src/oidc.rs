//! OpenID Connect: discovery documents and key sets, cached and refreshed, and the checks of an
//! ID token (signature by the issuer's keys, `iss`, `aud`, `exp`, `iat`).

use std::collections::HashMap;
use std::sync::Arc;

use auth_core::ports::Clock;
use chrono::{DateTime, Duration, Utc};
use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use crate::http::Http;

/// How long a discovery document or key set is kept.
const CACHE_TTL: Duration = Duration::hours(1);
/// Least time between two fetches of a key set for an unknown `kid` (a rotation), so forged
/// kids cannot make authd hammer the provider.
const REFETCH_FLOOR: Duration = Duration::seconds(30);
/// How far an ID token's `iat` may be ahead of the clock.
const CLOCK_SKEW: i64 = 300;

/// The parts of a discovery document authd reads.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Discovery {
    /// The issuer, compared with the configured one exactly.
    pub issuer: String,
    /// The authorization endpoint.
    pub authorization_endpoint: String,
    /// The token endpoint.
    pub token_endpoint: String,
    /// The user-info endpoint.
    pub userinfo_endpoint: Option<String>,
    /// The key set.
    pub jwks_uri: String,
}

#[derive(Debug, Deserialize)]
struct KeySet {
    keys: Vec<Map<String, Value>>,
}

/// Things fetched, by URL, with when they were fetched.
type Fetched<T> = Mutex<HashMap<String, (T, DateTime<Utc>)>>;

/// Discovery documents and key sets by URL, with when they were fetched.
pub(crate) struct OidcCache {
    http: Http,
    clock: Arc<dyn Clock>,
    discovery: Fetched<Discovery>,
    keys: Fetched<Vec<Jwk>>,
}

impl OidcCache {
    pub(crate) fn new(http: Http, clock: Arc<dyn Clock>) -> Self {
        Self { http, clock, discovery: Mutex::default(), keys: Mutex::default() }
    }

    /// The issuer's discovery document; refused when it names another issuer.
    pub(crate) async fn discover(&self, issuer: &str) -> Result<Discovery, String> {
        let now = self.clock.now();
        let mut cache = self.discovery.lock().await;
        if let Some((doc, at)) = cache.get(issuer)
            && now - *at < CACHE_TTL
        {
            return Ok(doc.clone());
        }
        let url = format!("{issuer}/.well-known/openid-configuration");
        let fetched = self.http.get_json(&url, None, &[]).await;
        let doc = match fetched
            .map_err(|e| e.0)
            .and_then(|v| serde_json::from_value::<Discovery>(v).map_err(|e| e.to_string()))
        {
            Ok(doc) => doc,
            // A stale document beats none while the provider is down.
            Err(error) => {
                return cache.get(issuer).map(|(doc, _)| doc.clone()).ok_or(format!("discovery of {issuer}: {error}"));
            }
        };
        if doc.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(format!("discovery of {issuer} names another issuer"));
        }
        cache.insert(issuer.to_owned(), (doc.clone(), now));
        Ok(doc)
    }

    /// The key of `kid` (or the only key) in the set at `jwks_uri`, fetching the set again
    /// when the key is unknown (the issuer rotated) and the last fetch is not too recent.
    async fn key(&self, jwks_uri: &str, kid: Option<&str>) -> Result<Jwk, String> {
        let now = self.clock.now();
        let mut cache = self.keys.lock().await;
        let pick = |keys: &[Jwk]| match kid {
            Some(kid) => keys.iter().find(|k| k.key_id() == Some(kid)).cloned(),
            None if keys.len() == 1 => keys.first().cloned(),
            None => None,
        };
        if let Some((keys, at)) = cache.get(jwks_uri) {
            let fresh = now - *at < CACHE_TTL;
            if let Some(key) = pick(keys).filter(|_| fresh) {
                return Ok(key);
            }
            if now - *at < REFETCH_FLOOR {
                return Err("the ID token's key is not in the issuer's key set".into());
            }
        }
        let set = self.http.get_json(jwks_uri, None, &[]).await.map_err(|e| format!("key set: {}", e.0))?;
        let set: KeySet = serde_json::from_value(set).map_err(|e| format!("key set: {e}"))?;
        let keys: Vec<Jwk> = set.keys.into_iter().filter_map(|k| Jwk::from_map(k).ok()).collect();
        let key = pick(&keys);
        cache.insert(jwks_uri.to_owned(), (keys, now));
        key.ok_or_else(|| "the ID token's key is not in the issuer's key set".into())
    }

    /// Verifies `token` as an ID token of `issuer` for one of `audiences`; its claims.
    pub(crate) async fn verify(
        &self,
        token: &str,
        discovery: &Discovery,
        audiences: &[String],
    ) -> Result<Map<String, Value>, String> {
        let header = josekit::jwt::decode_header(token).map_err(|_| "malformed ID token".to_owned())?;
        let alg = header.claim("alg").and_then(Value::as_str).unwrap_or_default().to_owned();
        let kid = header.claim("kid").and_then(Value::as_str).map(str::to_owned);
        let key = self.key(&discovery.jwks_uri, kid.as_deref()).await?;
        let verifier = verifier(&alg, &key)?;
        let (payload, _) = josekit::jwt::decode_with_verifier(token, verifier.as_ref())
            .map_err(|_| "the ID token's signature does not verify".to_owned())?;
        let claims: Map<String, Value> = payload.into();
        check_claims(&claims, &discovery.issuer, audiences, self.clock.now().timestamp())?;
        Ok(claims)
    }
}

/// A verifier of `alg` with `key`: asymmetric algorithms only (never `none` or HMAC, whose
/// secret a public key set would be).
fn verifier(alg: &str, key: &Jwk) -> Result<Box<dyn JwsVerifier>, String> {
    use josekit::jws::{ES256, ES384, ES512, EdDSA, PS256, PS384, PS512, RS256, RS384, RS512};
    let made = match alg {
        "RS256" => RS256.verifier_from_jwk(key).map(|v| Box::new(v) as Box<dyn JwsVerifier>),
        "RS384" => RS384.verifier_from_jwk(key).map(|v| Box::new(v) as Box<dyn JwsVerifier>),
        "RS512" => RS512.verifier_from_jwk(key).map(|v| Box::new(v) as Box<dyn JwsVerifier>),
        "PS256" => PS256.verifier_from_jwk(key).map(|v| Box::new(v) as Box<dyn JwsVerifier>),
        "PS384" => PS384.verifier_from_jwk(key).map(|v| Box::new(v) as Box<dyn JwsVerifier>),
        "PS512" => PS512.verifier_from_jwk(key).map(|v| Box::new(v) as Box<dyn JwsVerifier>),
        "ES256" => ES256.verifier_from_jwk(key).map(|v| Box::new(v) as Box<dyn JwsVerifier>),
        "ES384" => ES384.verifier_from_jwk(key).map(|v| Box::new(v) as Box<dyn JwsVerifier>),
        "ES512" => ES512.verifier_from_jwk(key).map(|v| Box::new(v) as Box<dyn JwsVerifier>),
        "EdDSA" => EdDSA.verifier_from_jwk(key).map(|v| Box::new(v) as Box<dyn JwsVerifier>),
        other => return Err(format!("ID tokens signed with {other:?} are not accepted")),
    };
    made.map_err(|_| "the issuer's key does not fit the ID token's algorithm".to_owned())
}

/// The claim checks of an ID token: its issuer exactly, one of the audiences, not expired, not
/// issued in the future.
pub(crate) fn check_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    audiences: &[String],
    now: i64,
) -> Result<(), String> {
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err("the ID token's issuer is not the provider's".into());
    }
    let aud: Vec<&str> = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.iter().any(|a| !a.is_empty() && aud.contains(&a.as_str())) {
        return Err(format!("Unacceptable audience in id_token: {aud:?}"));
    }
    let exp = claims.get("exp").and_then(Value::as_i64).ok_or("the ID token has no expiry")?;
    if exp <= now {
        return Err("the ID token has expired".into());
    }
    if claims.get("iat").and_then(Value::as_i64).is_some_and(|iat| iat > now + CLOCK_SKEW) {
        return Err("the ID token was issued in the future".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn claims_are_checked() {
        let aud = vec!["client".to_owned()];
        let good = claims(json!({"iss": "https://idp", "aud": ["x", "client"], "exp": 200, "iat": 100}));
        assert_eq!(check_claims(&good, "https://idp", &aud, 150), Ok(()));
        assert!(check_claims(&good, "https://other", &aud, 150).is_err());
        assert!(check_claims(&good, "https://idp", &["nope".to_owned()], 150).is_err());
        assert!(check_claims(&good, "https://idp", &aud, 200).is_err());
        let future = claims(json!({"iss": "https://idp", "aud": "client", "exp": 9999, "iat": 1000}));
        assert!(check_claims(&future, "https://idp", &aud, 150).is_err());
        let no_exp = claims(json!({"iss": "https://idp", "aud": "client"}));
        assert!(check_claims(&no_exp, "https://idp", &aud, 150).is_err());
    }
}
