//! Test doubles of the non-storage ports: a clock that only moves when told to, a deterministic
//! byte source, an instant "hasher", unsigned tokens and an unkeyed token chain. They make
//! use-case and HTTP tests fast and deterministic; never wire them in production.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};

use crate::domain::{AccessClaims, Password, PasswordHash, RefreshToken};
use crate::ports::{
    Clock, HashError, PasswordCheck, PasswordHasher, Random, RandomError, TokenChain, TokenError, TokenSigner,
};

/// A clock that stands still until a test moves it.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Mutex::new(start))
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        if let Ok(mut now) = self.0.lock() {
            *now += by;
        }
    }

    /// Sets the clock.
    pub fn set(&self, to: DateTime<Utc>) {
        if let Ok(mut now) = self.0.lock() {
            *now = to;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().map(|now| *now).unwrap_or_default()
    }
}

/// Distinct, reproducible bytes: each call fills from a fresh counter value. Not random at all,
/// which is the point in a test.
#[derive(Debug, Default)]
pub struct SequentialRandom(AtomicU64);

impl Random for SequentialRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        let seed = n.to_le_bytes();
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte = seed[i % 8] ^ (i / 8) as u8;
        }
        Ok(())
    }
}

/// A "hasher" that stores `fake$<params>$<password>` and counts verifications. Instant, so
/// use-case tests stay fast; `set_params` makes existing hashes look outdated.
#[derive(Debug, Default)]
pub struct PlainHasher {
    verifications: AtomicU64,
    params: Mutex<String>,
}

impl PlainHasher {
    /// How many times `verify` ran, with or without a hash.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::SeqCst)
    }

    /// Changes the "parameters" new hashes are made with.
    pub fn set_params(&self, params: &str) {
        if let Ok(mut current) = self.params.lock() {
            *current = params.to_owned();
        }
    }

    fn params(&self) -> String {
        self.params.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl PasswordHasher for PlainHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        Ok(PasswordHash::new(format!("fake${}${}", self.params(), password.expose())))
    }

    async fn verify<'a>(
        &self,
        password: &Password,
        hash: Option<&'a PasswordHash>,
    ) -> Result<PasswordCheck, HashError> {
        self.verifications.fetch_add(1, Ordering::SeqCst);
        let Some(hash) = hash else { return Ok(PasswordCheck::Mismatch) };
        let mut parts = hash.as_str().splitn(3, '$');
        let (params, stored) = (parts.nth(1).unwrap_or_default(), parts.next().unwrap_or_default());
        if stored == password.expose() {
            Ok(PasswordCheck::Match { needs_rehash: params != self.params() })
        } else {
            Ok(PasswordCheck::Mismatch)
        }
    }
}

/// Unsigned "JWTs": the claims as base64url JSON, checked for expiry only. Never secure.
#[derive(Debug, Default)]
pub struct UnsignedTokens;

impl TokenSigner for UnsignedTokens {
    fn sign(&self, claims: &AccessClaims) -> Result<String, TokenError> {
        let json = serde_json::to_vec(claims).map_err(|e| TokenError::Signing(e.to_string()))?;
        Ok(URL_SAFE_NO_PAD.encode(json))
    }

    fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, TokenError> {
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| TokenError::Malformed)?;
        let claims: AccessClaims = serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [] })
    }
}

/// Successor = SHA-256 of the token: deterministic as the port demands, but unkeyed.
#[derive(Debug, Default)]
pub struct DigestChain;

impl TokenChain for DigestChain {
    fn successor(&self, token: &RefreshToken) -> RefreshToken {
        RefreshToken::from_bytes(token.digest().as_bytes())
    }
}

/// Templates that write the kind, code and link as plain lines, so tests can read them back.
#[derive(Debug, Default)]
pub struct PlainTemplates;

impl crate::ports::MailTemplates for PlainTemplates {
    fn render(&self, context: &crate::domain::MailContext) -> Result<crate::ports::Mail, crate::ports::MailError> {
        let text = format!(
            "kind: {}\ncode: {}\nlink: {}\nusername: {}\n",
            context.kind.as_str(),
            context.code.as_deref().unwrap_or(""),
            context.link.as_deref().unwrap_or(""),
            context.username.as_deref().unwrap_or(""),
        );
        Ok(crate::ports::Mail {
            to: context.to.clone(),
            subject: context.kind.as_str().into(),
            html: text.clone(),
            text,
        })
    }
}
