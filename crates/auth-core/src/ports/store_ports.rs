//! One handle on every storage port of a store, so an embedder (or the binary) wires a store
//! once instead of port by port.

use std::sync::Arc;

use super::{
    AuditLog, EmailFlowStore, FactorStore, IdentityStore, KeyStore, MailOutbox, Readiness, SessionStore, UserStore,
};

/// The storage ports of one store, each as a shared trait object. Cloning shares the store.
#[derive(Clone)]
pub struct StorePorts {
    /// Users.
    pub users: Arc<dyn UserStore>,
    /// Sessions and refresh tokens.
    pub sessions: Arc<dyn SessionStore>,
    /// Signing and refresh-chain keys.
    pub keys: Arc<dyn KeyStore>,
    /// The audit log.
    pub audit: Arc<dyn AuditLog>,
    /// Emailed one-time secrets and auth codes.
    pub flows: Arc<dyn EmailFlowStore>,
    /// Second factors and their challenges.
    pub factors: Arc<dyn FactorStore>,
    /// External identities and their sign-in flows.
    pub identities: Arc<dyn IdentityStore>,
    /// Queued mail, for delivery.
    pub outbox: Arc<dyn MailOutbox>,
    /// Whether the store answers and its schema is current.
    pub readiness: Arc<dyn Readiness>,
}

impl StorePorts {
    /// Every port from one store that implements them all (auth-core's `MemoryStore`, or a
    /// store of your own).
    pub fn all<S>(store: Arc<S>) -> Self
    where
        S: UserStore
            + SessionStore
            + KeyStore
            + AuditLog
            + EmailFlowStore
            + FactorStore
            + IdentityStore
            + MailOutbox
            + Readiness
            + 'static,
    {
        Self {
            users: store.clone(),
            sessions: store.clone(),
            keys: store.clone(),
            audit: store.clone(),
            flows: store.clone(),
            factors: store.clone(),
            identities: store.clone(),
            outbox: store.clone(),
            readiness: store,
        }
    }
}

impl std::fmt::Debug for StorePorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorePorts").finish_non_exhaustive()
    }
}
