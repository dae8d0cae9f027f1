use std::sync::Arc;

use auth_core::memory::MemoryStore;
use auth_core::service::{AuthService, AuthSettings, ClientInfo, Ports};
use auth_core::testing::{DigestChain, ManualClock, PlainHasher, SequentialRandom, UnsignedTokens};
use chrono::{TimeZone, Utc};

/// A service over fresh test doubles, with handles on what tests need to poke.
pub struct World {
    pub service: AuthService,
    pub store: Arc<MemoryStore>,
    pub clock: Arc<ManualClock>,
    pub hasher: Arc<PlainHasher>,
}

impl World {
    pub fn new(settings: AuthSettings) -> Self {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()));
        let hasher = Arc::new(PlainHasher::default());
        let ports = Ports {
            users: store.clone(),
            sessions: store.clone(),
            hasher: hasher.clone(),
            signer: Arc::new(UnsignedTokens),
            chain: Arc::new(DigestChain),
            clock: clock.clone(),
            random: Arc::new(SequentialRandom::default()),
            audit: store.clone(),
            flows: store.clone(),
            templates: Arc::new(auth_core::testing::PlainTemplates),
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
