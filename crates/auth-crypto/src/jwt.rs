use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use auth_core::domain::AccessClaims;
use auth_core::ports::{TokenError, TokenSigner};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::{Jwk, KeyPair};
use josekit::jws::{ES256, HS256, JwsHeader, JwsSigner, JwsVerifier, RS256};
use josekit::jwt::{self, JwtPayload};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::hmac_secret::{HmacSecret, WeakSecret};
use crate::token_lifetimes::{TokenKind, TokenLifetimes};
use crate::verified_claims::Verified;

/// RSA modulus size for generated keys.
const RSA_BITS: u32 = 2048;
/// Verified access tokens remembered per ring; past this the memory starts afresh.
const VERIFIED_CAPACITY: usize = 1024;
/// JWK members that hold private or symmetric key material.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

/// A JWS algorithm authd signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwtAlgorithm {
    /// ECDSA with P-256 and SHA-256.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// HMAC with SHA-256 (a shared secret).
    HS256,
}

impl JwtAlgorithm {
    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
            Self::HS256 => "HS256",
        }
    }

    /// Reads a JOSE name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::ES256, Self::RS256, Self::HS256].into_iter().find(|alg| alg.name() == name)
    }
}

/// A key could not be made, read or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key material is not valid for the algorithm.
    #[error("invalid {alg} key: {reason}")]
    Invalid {
        /// The algorithm the key was meant for.
        alg: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The HS256 secret is too short, a published example or not random enough.
    #[error(transparent)]
    WeakSecret(#[from] WeakSecret),
    /// Two keys in a ring share a key id.
    #[error("duplicate key id {0}")]
    DuplicateKid(String),
}

fn invalid(alg: JwtAlgorithm) -> impl Fn(josekit::JoseError) -> KeyError {
    move |e| KeyError::Invalid { alg: alg.name(), reason: e.to_string() }
}

/// A private signing key with its algorithm and key id. `Debug` shows only the id.
#[derive(Clone)]
pub struct SigningKey {
    alg: JwtAlgorithm,
    kid: String,
    jwk: Jwk,
}

impl SigningKey {
    /// Generates a new key (ES256 or RS256). HS256 keys come from a configured secret instead.
    pub fn generate(alg: JwtAlgorithm) -> Result<Self, KeyError> {
        let jwk = match alg {
            JwtAlgorithm::ES256 => Jwk::generate_ec_key(EcCurve::P256).map_err(invalid(alg))?,
            JwtAlgorithm::RS256 => Jwk::generate_rsa_key(RSA_BITS).map_err(invalid(alg))?,
            JwtAlgorithm::HS256 => {
                return Err(KeyError::Invalid {
                    alg: alg.name(),
                    reason: "HS256 keys come from a configured secret".into(),
                });
            }
        };
        Self::from_jwk(alg, jwk, None)
    }

    /// An HS256 key from a shared secret, which must pass [`HmacSecret`]'s strength rules; the
    /// key id is derived from the secret unless given.
    pub fn hmac(secret: &[u8], kid: Option<String>) -> Result<Self, KeyError> {
        Self::from_secret(&HmacSecret::new(secret)?, kid)
    }

    /// An HS256 key from a secret already checked; the key id is derived from it unless given.
    pub fn from_secret(secret: &HmacSecret, kid: Option<String>) -> Result<Self, KeyError> {
        let mut jwk = Jwk::new("oct");
        jwk.set_key_value(secret.expose());
        Self::from_jwk(JwtAlgorithm::HS256, jwk, kid)
    }

    /// A key from a PEM-encoded private key (PKCS#8, or the traditional EC/RSA forms).
    pub fn from_pem(alg: JwtAlgorithm, pem: &str, kid: Option<String>) -> Result<Self, KeyError> {
        let jwk = match alg {
            JwtAlgorithm::ES256 => {
                EcKeyPair::from_pem(pem, Some(EcCurve::P256)).map_err(invalid(alg))?.to_jwk_key_pair()
            }
            JwtAlgorithm::RS256 => RsaKeyPair::from_pem(pem).map_err(invalid(alg))?.to_jwk_key_pair(),
            JwtAlgorithm::HS256 => {
                return Err(KeyError::Invalid {
                    alg: alg.name(),
                    reason: "HS256 takes a secret, not a PEM key".into(),
                });
            }
        };
        Self::from_jwk(alg, jwk, kid)
    }

    /// A key from a private JWK in JSON, with its `alg` and `kid` members (the form
    /// [`SigningKey::to_private_jwk_json`] writes).
    pub fn from_jwk_json(json: &str) -> Result<Self, KeyError> {
        let jwk =
            Jwk::from_bytes(json.as_bytes()).map_err(|e| KeyError::Invalid { alg: "JWK", reason: e.to_string() })?;
        let alg = jwk
            .algorithm()
            .and_then(JwtAlgorithm::parse)
            .ok_or_else(|| KeyError::Invalid { alg: "JWK", reason: "alg must be ES256, RS256 or HS256".into() })?;
        let kid = jwk.key_id().map(str::to_owned);
        if alg == JwtAlgorithm::HS256 {
            // A stored or handed-in secret meets the same rules as a configured one.
            HmacSecret::new(&jwk.key_value().unwrap_or_default())?;
        }
        Self::from_jwk(alg, jwk, kid)
    }

    fn from_jwk(alg: JwtAlgorithm, mut jwk: Jwk, kid: Option<String>) -> Result<Self, KeyError> {
        let kid = match kid {
            Some(kid) if !kid.is_empty() => kid,
            _ => thumbprint(&jwk),
        };
        jwk.set_algorithm(alg.name());
        jwk.set_key_id(kid.clone());
        let key = Self { alg, kid, jwk };
        // Prove the material works for both directions before anyone relies on it.
        key.signer()?;
        key.verifier()?;
        Ok(key)
    }

    /// The key id (`kid`).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm.
    pub fn alg(&self) -> JwtAlgorithm {
        self.alg
    }

    /// Whether this is an HS256 key made from exactly this secret (to compare configured secrets).
    pub fn has_secret(&self, secret: &[u8]) -> bool {
        self.alg == JwtAlgorithm::HS256 && self.jwk.key_value().as_deref() == Some(secret)
    }

    /// The private JWK as JSON, for storage; it is a secret.
    pub fn to_private_jwk_json(&self) -> String {
        self.jwk.to_string()
    }

    /// The public JWK for a JWKS, or `None` for a symmetric key.
    pub fn public_jwk(&self) -> Option<Value> {
        if self.alg == JwtAlgorithm::HS256 {
            return None;
        }
        let mut map = self.jwk.as_ref().clone();
        for member in PRIVATE_MEMBERS {
            map.remove(member);
        }
        map.insert("use".into(), json!("sig"));
        map.insert("key_ops".into(), json!(["verify"]));
        Some(Value::Object(map))
    }

    /// The JWK without its `kid`, for josekit: the ring matches a token's `kid` to its key itself
    /// (a token without one included, as Supabase's stock keys are), and the header of a token
    /// signed here names the key only when asked. A josekit signer or verifier made from a JWK
    /// with a `kid` would write it into every header and refuse every token without it.
    fn unnamed_jwk(&self) -> Result<Jwk, KeyError> {
        let mut map = self.jwk.as_ref().clone();
        map.remove("kid");
        Jwk::from_map(map).map_err(invalid(self.alg))
    }

    fn signer(&self) -> Result<Box<dyn JwsSigner>, KeyError> {
        let err = invalid(self.alg);
        let jwk = self.unnamed_jwk()?;
        Ok(match self.alg {
            JwtAlgorithm::ES256 => Box::new(ES256.signer_from_jwk(&jwk).map_err(err)?),
            JwtAlgorithm::RS256 => Box::new(RS256.signer_from_jwk(&jwk).map_err(err)?),
            JwtAlgorithm::HS256 => Box::new(HS256.signer_from_jwk(&jwk).map_err(err)?),
        })
    }

    fn verifier(&self) -> Result<Box<dyn JwsVerifier>, KeyError> {
        let err = invalid(self.alg);
        let jwk = self.unnamed_jwk()?;
        Ok(match self.alg {
            JwtAlgorithm::ES256 => Box::new(ES256.verifier_from_jwk(&jwk).map_err(err)?),
            JwtAlgorithm::RS256 => Box::new(RS256.verifier_from_jwk(&jwk).map_err(err)?),
            JwtAlgorithm::HS256 => Box::new(HS256.verifier_from_jwk(&jwk).map_err(err)?),
        })
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("alg", &self.alg).field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// A short key id: the first 16 characters of the base64url SHA-256 of the key's JSON.
fn thumbprint(jwk: &Jwk) -> String {
    let digest = Sha256::digest(jwk.to_string().as_bytes());
    URL_SAFE_NO_PAD.encode(digest).chars().take(16).collect()
}

/// What `authd keys list` shows of a key: never its material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// Key id.
    pub kid: String,
    /// Algorithm.
    pub alg: JwtAlgorithm,
    /// Whether new tokens are signed with it (otherwise it only verifies).
    pub signing: bool,
}

struct LoadedKey {
    key: SigningKey,
    signer: Box<dyn JwsSigner>,
    verifier: Box<dyn JwsVerifier>,
}

/// A key ring: the signing key first, then keys that only verify.
struct Ring {
    keys: Vec<LoadedKey>,
    /// Claims of tokens whose signature this ring verified, by the SHA-256 of the token. A client
    /// presents the same access token for an hour; checking its signature once (an ECDSA
    /// verification costs as much CPU as the rest of a `GET /user`) is enough. Kept in the ring,
    /// so a key change forgets them; times and audience are checked on every use.
    verified: Mutex<HashMap<[u8; 32], Verified>>,
}

impl Ring {
    fn new(signing: SigningKey, verify_only: Vec<SigningKey>) -> Result<Self, KeyError> {
        let mut keys: Vec<LoadedKey> = Vec::with_capacity(1 + verify_only.len());
        for key in std::iter::once(signing).chain(verify_only) {
            if keys.iter().any(|k| k.key.kid == key.kid) {
                return Err(KeyError::DuplicateKid(key.kid));
            }
            keys.push(LoadedKey { signer: key.signer()?, verifier: key.verifier()?, key });
        }
        Ok(Self { keys, verified: Mutex::new(HashMap::new()) })
    }

    /// The claims of a token whose signature verified with a key of this ring.
    fn verified_claims(&self, token: &str) -> Result<Verified, TokenError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let remembered = self.verified.lock().unwrap_or_else(PoisonError::into_inner).get(&digest).cloned();
        if let Some(claims) = remembered {
            return Ok(claims);
        }
        let key = self.key_for(token)?;
        let (payload, _) = jwt::decode_with_verifier(token, key.verifier.as_ref()).map_err(|e| match e {
            josekit::JoseError::InvalidSignature(_) => TokenError::BadSignature,
            // Not a JWS, or a payload that is not a JSON object of well-typed registered claims.
            _ => TokenError::Malformed,
        })?;
        let token = Verified::read(payload.claims_set().clone(), key.key.alg)?;
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if verified.len() >= VERIFIED_CAPACITY {
            verified.clear();
        }
        verified.insert(digest, token.clone());
        Ok(token)
    }

    /// The key that must have signed `token`: the one its `kid` names; without a `kid`, the only
    /// key of a one-key ring, or else the ring's one HS256 secret for an HS256 token (Supabase
    /// Auth's rule: tokens without a `kid` were signed with `JWT_SECRET`).
    fn key_for(&self, token: &str) -> Result<&LoadedKey, TokenError> {
        let header = jwt::decode_header(token).map_err(|_| TokenError::Malformed)?;
        let alg = header.claim("alg").and_then(Value::as_str).ok_or(TokenError::Malformed)?;
        let key = match header.claim("kid") {
            Some(Value::String(kid)) => self.keys.iter().find(|k| k.key.kid == *kid).ok_or(TokenError::UnknownKid)?,
            Some(_) => return Err(TokenError::UnknownKid),
            None => match self.keys.as_slice() {
                [only] => only,
                keys => {
                    let mut secrets = keys.iter().filter(|k| k.key.alg == JwtAlgorithm::HS256);
                    match (alg == JwtAlgorithm::HS256.name(), secrets.next(), secrets.next()) {
                        (true, Some(secret), None) => secret,
                        _ => return Err(TokenError::MissingKid),
                    }
                }
            },
        };
        // The key decides the algorithm, never the token: no `none`, no algorithm confusion.
        if alg != key.key.alg.name() {
            return Err(TokenError::AlgorithmNotAllowed);
        }
        Ok(key)
    }
}

/// Signs access tokens with one key and verifies with any key of its ring. The ring can be
/// replaced while serving, so keys rotated by another replica reach this one.
pub struct JwtSigner {
    ring: RwLock<Arc<Ring>>,
    audience: String,
    issuer: String,
    lifetimes: TokenLifetimes,
}

impl JwtSigner {
    /// A ring whose first key signs; the others (older keys, and newer ones not signing yet) only
    /// verify. Tokens must carry `aud == audience`, and `iss == issuer` when it is not empty.
    /// Lifetimes are bounded by [`TokenLifetimes::default`] until [`JwtSigner::with_lifetimes`].
    pub fn new(
        signing: SigningKey,
        verify_only: Vec<SigningKey>,
        audience: impl Into<String>,
        issuer: impl Into<String>,
    ) -> Result<Self, KeyError> {
        let ring = Ring::new(signing, verify_only)?;
        Ok(Self {
            ring: RwLock::new(Arc::new(ring)),
            audience: audience.into(),
            issuer: issuer.into(),
            lifetimes: TokenLifetimes::default(),
        })
    }

    /// Bounds the lifetimes of the tokens this signer accepts: the configured access-token
    /// lifetime and the API keys' lifetime.
    pub fn with_lifetimes(mut self, lifetimes: TokenLifetimes) -> Self {
        self.lifetimes = lifetimes;
        self
    }

    /// Swaps in a new ring; tokens in flight finish with the ring they started with.
    pub fn replace_keys(&self, signing: SigningKey, verify_only: Vec<SigningKey>) -> Result<(), KeyError> {
        let ring = Arc::new(Ring::new(signing, verify_only)?);
        *self.ring.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = ring;
        Ok(())
    }

    fn ring(&self) -> Arc<Ring> {
        // A poisoned lock still holds a complete ring: replacement is a single assignment.
        Arc::clone(&self.ring.read().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// The keys of the ring, signing key first.
    pub fn keys(&self) -> Vec<KeyInfo> {
        self.ring()
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| KeyInfo { kid: k.key.kid.clone(), alg: k.key.alg, signing: i == 0 })
            .collect()
    }
}

impl fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSigner").field("keys", &self.keys()).field("audience", &self.audience).finish()
    }
}

impl JwtSigner {
    /// Signs a claims object with the signing key, naming it in the header when `named`.
    fn sign_with(&self, claims: &Value, named: bool) -> Result<String, TokenError> {
        let ring = self.ring();
        let key = ring.keys.first().ok_or_else(|| TokenError::Signing("no signing key".into()))?;
        let Value::Object(map) = claims.clone() else {
            return Err(TokenError::Signing("claims are not an object".into()));
        };
        // Built from our own map, so iat and exp stay integers (josekit's setters write floats).
        let payload = JwtPayload::from_map(map).map_err(|e| TokenError::Signing(e.to_string()))?;
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        if named {
            header.set_key_id(key.key.kid.clone());
        }
        jwt::encode_with_signer(&payload, &header, key.signer.as_ref()).map_err(|e| TokenError::Signing(e.to_string()))
    }

    /// Signs any claims object with the signing key: for tokens that are not access tokens,
    /// such as API keys.
    pub fn sign_claims(&self, claims: &Value) -> Result<String, TokenError> {
        self.sign_with(claims, true)
    }

    /// Signs claims with the HS256 secret and no `kid` in the header, as Supabase's tooling
    /// makes API keys (`authd keys api --supabase`). Refused when the signing key is not an
    /// HS256 secret: a token without a `kid` is matched to the HS256 secret only.
    pub fn sign_claims_without_kid(&self, claims: &Value) -> Result<String, TokenError> {
        if self.keys().first().map(|k| k.alg) != Some(JwtAlgorithm::HS256) {
            return Err(TokenError::Signing("only an HS256 secret signs tokens without a kid".into()));
        }
        self.sign_with(claims, false)
    }
}

impl TokenSigner for JwtSigner {
    fn sign(&self, claims: &AccessClaims) -> Result<String, TokenError> {
        self.sign_claims(&serde_json::to_value(claims).map_err(|e| TokenError::Signing(e.to_string()))?)
    }

    fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, TokenError> {
        let Verified { mut claims, times, audiences } = self.ring().verified_claims(token)?;
        self.lifetimes.check(times, now)?;
        // Only API keys get here without an audience (see `read_claims`); one named must be ours.
        if !audiences.is_empty() {
            if !audiences.contains(&self.audience) {
                return Err(TokenError::WrongAudience);
            }
            claims.aud = self.audience.clone();
        }
        // Supabase Auth checks no issuer; Supabase's stock keys say `supabase` whatever the
        // server's issuer is. Every other token must name ours, when we have one.
        if times.kind != TokenKind::StockApiKey && !self.issuer.is_empty() && claims.iss != self.issuer {
            return Err(TokenError::WrongIssuer);
        }
        Ok(claims)
    }

    fn jwks(&self) -> Value {
        json!({ "keys": self.ring().keys.iter().filter_map(|k| k.key.public_jwk()).collect::<Vec<_>>() })
    }
}

#[cfg(test)]
mod tests {
    use auth_core::domain::{Aal, AmrEntry};

    use super::*;

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
            session_id: None,
            is_anonymous: false,
        }
    }

    fn ring(alg: JwtAlgorithm) -> JwtSigner {
        let key = match alg {
            JwtAlgorithm::HS256 => SigningKey::hmac(SECRET, None).unwrap(),
            other => SigningKey::generate(other).unwrap(),
        };
        JwtSigner::new(key, vec![], "authenticated", "").unwrap()
    }

    fn payload_of(token: &str) -> Value {
        let part = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn signs_and_verifies_with_every_algorithm() {
        for alg in [JwtAlgorithm::ES256, JwtAlgorithm::RS256, JwtAlgorithm::HS256] {
            let signer = ring(alg);
            let token = signer.sign(&claims()).unwrap();
            assert_eq!(signer.verify(&token, NOW).unwrap(), claims(), "{alg:?}");
            let payload = payload_of(&token);
            assert!(payload["iat"].is_i64() && payload["exp"].is_i64(), "integer times: {payload}");
        }
    }

    #[test]
    fn refuses_tampering_expiry_and_foreign_audiences() {
        let signer = ring(JwtAlgorithm::ES256);
        let token = signer.sign(&claims()).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut forged = claims();
        forged.role = "service_role".into();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(signer.verify(&parts.join("."), NOW), Err(TokenError::BadSignature));
        assert_eq!(signer.verify(&token, NOW + 3600), Err(TokenError::Expired));
        let other_aud =
            JwtSigner::new(SigningKey::generate(JwtAlgorithm::ES256).unwrap(), vec![], "other", "").unwrap();
        let theirs = other_aud.sign(&claims()).unwrap();
        assert_eq!(signer.verify(&theirs, NOW), Err(TokenError::UnknownKid), "a key not in the ring");
        assert_eq!(signer.verify("not.a.jwt", NOW), Err(TokenError::Malformed));
        let strict = JwtSigner::new(SigningKey::hmac(SECRET, None).unwrap(), vec![], "elsewhere", "").unwrap();
        let token = strict.sign(&claims()).unwrap();
        assert_eq!(strict.verify(&token, NOW), Err(TokenError::WrongAudience));
    }

    #[test]
    fn refuses_alg_none_and_algorithm_confusion() {
        let key = SigningKey::generate(JwtAlgorithm::RS256).unwrap();
        let kid = key.kid().to_owned();
        let public = key.public_jwk().unwrap();
        let signer = JwtSigner::new(key, vec![], "authenticated", "").unwrap();

        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT", "kid": kid}).to_string());
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap());
        assert_eq!(signer.verify(&format!("{header}.{body}."), NOW), Err(TokenError::AlgorithmNotAllowed));

        // HS256 "signed" with the public key as the HMAC secret must not pass as RS256.
        let secret = public.to_string();
        let confused_key = SigningKey::hmac(secret.as_bytes(), Some(kid)).unwrap();
        let confused = JwtSigner::new(confused_key, vec![], "authenticated", "").unwrap().sign(&claims()).unwrap();
        assert_eq!(signer.verify(&confused, NOW), Err(TokenError::AlgorithmNotAllowed));
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_and_publishes_public_keys_only() {
        let old = SigningKey::generate(JwtAlgorithm::ES256).unwrap();
        let old_ring = JwtSigner::new(old.clone(), vec![], "authenticated", "").unwrap();
        let old_token = old_ring.sign(&claims()).unwrap();

        let new = SigningKey::generate(JwtAlgorithm::ES256).unwrap();
        let rotated = JwtSigner::new(new.clone(), vec![old.clone()], "authenticated", "").unwrap();
        assert!(rotated.verify(&old_token, NOW).is_ok());
        let new_token = rotated.sign(&claims()).unwrap();
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(new_token.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header["kid"], new.kid());

        let jwks = rotated.jwks();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2);
        for key in keys {
            for private in PRIVATE_MEMBERS {
                assert!(key.get(private).is_none(), "{private} leaked: {key}");
            }
            assert_eq!(key["use"], "sig");
            assert_eq!(key["alg"], "ES256");
        }
        assert_eq!(rotated.keys().iter().filter(|k| k.signing).count(), 1);

        // Replacing the ring in place: the old signer now verifies the new key's tokens too.
        old_ring.replace_keys(new.clone(), vec![old]).unwrap();
        assert!(old_ring.verify(&new_token, NOW).is_ok());
        assert!(old_ring.verify(&old_token, NOW).is_ok());
        assert_eq!(old_ring.keys()[0].kid, new.kid());
        assert_eq!(ring(JwtAlgorithm::HS256).jwks(), json!({"keys": []}), "secrets are never published");
    }

    #[test]
    fn a_remembered_token_is_still_checked_for_expiry_and_forgotten_with_its_key() {
        let old = SigningKey::generate(JwtAlgorithm::ES256).unwrap();
        let signer = JwtSigner::new(old, vec![], "authenticated", "").unwrap();
        let token = signer.sign(&claims()).unwrap();
        assert_eq!(signer.verify(&token, NOW).unwrap(), claims());
        assert_eq!(signer.verify(&token, NOW).unwrap(), claims(), "again, from memory");
        assert_eq!(signer.verify(&token, NOW + 3600), Err(TokenError::Expired));
        // The old key retired: its tokens stop verifying at once, remembered or not.
        signer.replace_keys(SigningKey::generate(JwtAlgorithm::ES256).unwrap(), vec![]).unwrap();
        assert_eq!(signer.verify(&token, NOW), Err(TokenError::UnknownKid));
    }

    #[test]
    fn only_the_hs256_secret_signs_tokens_without_a_kid_and_it_verifies_them() {
        let header_of = |token: &str| -> Value {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap()
        };
        let stock = json!({"role": "anon", "iss": "supabase", "iat": NOW, "exp": NOW + 3600});
        let hmac = ring(JwtAlgorithm::HS256);
        let unnamed = hmac.sign_claims_without_kid(&stock).unwrap();
        assert_eq!(header_of(&unnamed), json!({"alg": "HS256", "typ": "JWT"}));
        assert_eq!(hmac.verify(&unnamed, NOW).unwrap().role, "anon");
        let named = hmac.sign_claims(&stock).unwrap();
        assert_eq!(header_of(&named)["kid"], hmac.keys()[0].kid);
        assert!(ring(JwtAlgorithm::ES256).sign_claims_without_kid(&stock).is_err());
    }

    #[test]
    fn many_tokens_do_not_grow_the_memory_past_its_capacity() {
        let signer = ring(JwtAlgorithm::HS256);
        for n in 0..(VERIFIED_CAPACITY + 10) {
            let token = signer.sign(&AccessClaims { email: format!("{n}@example.com"), ..claims() }).unwrap();
            assert!(signer.verify(&token, NOW).is_ok());
        }
        assert!(signer.ring().verified.lock().unwrap().len() <= VERIFIED_CAPACITY);
    }

    #[test]
    fn keys_round_trip_through_storage_and_pem() {
        let key = SigningKey::generate(JwtAlgorithm::ES256).unwrap();
        let restored = SigningKey::from_jwk_json(&key.to_private_jwk_json()).unwrap();
        assert_eq!((restored.kid(), restored.alg()), (key.kid(), key.alg()));
        let token = JwtSigner::new(key, vec![], "authenticated", "").unwrap().sign(&claims()).unwrap();
        assert!(JwtSigner::new(restored, vec![], "authenticated", "").unwrap().verify(&token, NOW).is_ok());

        let pair = EcKeyPair::generate(EcCurve::P256).unwrap();
        let pem = String::from_utf8(pair.to_pem_private_key()).unwrap();
        let from_pem = SigningKey::from_pem(JwtAlgorithm::ES256, &pem, Some("pem-1".into())).unwrap();
        assert_eq!(from_pem.kid(), "pem-1");
        assert!(!format!("{from_pem:?}").contains("BEGIN"));
        assert_eq!(SigningKey::hmac(b"short", None).unwrap_err(), KeyError::WeakSecret(WeakSecret::TooShort(5)));
        assert!(SigningKey::from_jwk_json("{\"kty\":\"EC\"}").is_err());
    }
}
