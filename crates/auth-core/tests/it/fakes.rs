use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use auth_core::domain::{AccessClaims, Password, PasswordHash, RefreshToken};
use auth_core::memory::MemoryStore;
use auth_core::ports::{HashError, PasswordCheck, PasswordHasher, TokenChain, TokenError, TokenSigner};
use auth_core::service::{AuthService, AuthSettings, ClientInfo, Ports};
use auth_core::testing::{ManualClock, SequentialRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

/// Reversible "hashing" that records how often it was asked to verify.
#[derive(Default)]
pub struct FakeHasher {
    pub verifications: AtomicUsize,
    pub params: std::sync::Mutex<String>,
}

#[async_trait]
impl PasswordHasher for FakeHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let params = self.params.lock().unwrap().clone();
        Ok(PasswordHash::new(format!("fake${params}${}", password.expose())))
    }

    async fn verify<'a>(
        &self,
        password: &Password,
        hash: Option<&'a PasswordHash>,
    ) -> Result<PasswordCheck, HashError> {
        self.verifications.fetch_add(1, Ordering::SeqCst);
        let Some(hash) = hash else { return Ok(PasswordCheck::Mismatch) };
        let mut parts = hash.as_str().splitn(3, '$');
        let (_, params, stored) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if stored == password.expose() {
            Ok(PasswordCheck::Match { needs_rehash: params != *self.params.lock().unwrap() })
        } else {
            Ok(PasswordCheck::Mismatch)
        }
    }
}

/// Unsigned "JWTs": base64 of the claims, checked for expiry only.
pub struct FakeSigner;

impl TokenSigner for FakeSigner {
    fn sign(&self, claims: &AccessClaims) -> Result<String, TokenError> {
        Ok(URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap()))
    }

    fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, TokenError> {
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| TokenError::Malformed)?;
        let claims: AccessClaims = serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    fn jwks(&self) -> Value {
        json!({"keys": []})
    }
}

/// Successor = digest of the token; deterministic, as the port demands (but unkeyed).
pub struct FakeChain;

impl TokenChain for FakeChain {
    fn successor(&self, token: &RefreshToken) -> RefreshToken {
        RefreshToken::from_bytes(token.digest().as_bytes())
    }
}

/// A service over fresh fakes, with handles on what tests need to poke.
pub struct World {
    pub service: AuthService,
    pub store: Arc<MemoryStore>,
    pub clock: Arc<ManualClock>,
    pub hasher: Arc<FakeHasher>,
}

impl World {
    pub fn new(settings: AuthSettings) -> Self {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()));
        let hasher = Arc::new(FakeHasher::default());
        let ports = Ports {
            users: store.clone(),
            sessions: store.clone(),
            hasher: hasher.clone(),
            signer: Arc::new(FakeSigner),
            chain: Arc::new(FakeChain),
            clock: clock.clone(),
            random: Arc::new(SequentialRandom::default()),
        };
        Self { service: AuthService::new(ports, settings), store, clock, hasher }
    }

    /// Autoconfirm on, so sign-ups answer sessions.
    pub fn autoconfirm() -> Self {
        Self::new(AuthSettings { autoconfirm: true, ..AuthSettings::default() })
    }
}

pub fn client() -> ClientInfo {
    ClientInfo { ip: Some("198.51.100.4".into()), user_agent: Some("tests".into()) }
}
