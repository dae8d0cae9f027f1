//! Pruning: deleting rows that no rule reads any more (spent refresh tokens, ended sessions,
//! delivered mail, expired secrets and auth codes) once they are older than the retention, in
//! small batches, so the tables do not grow without bound.

use std::sync::Arc;

use chrono::Duration;

use crate::domain::SessionLimits;
use crate::error::AuthError;
use crate::ports::{Clock, EmailFlowStore, FactorStore, IdentityStore, MailOutbox, SessionPrune, SessionStore};

/// What pruning keeps, and how much one statement deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrunePolicy {
    /// How long a row is kept once it is spent (used, revoked, ended, delivered, expired).
    pub retention: Duration,
    /// The longest a used refresh token may be replayed (the larger of the reuse interval and the
    /// lost-answer window): it is kept at least this long, whatever the retention, since until
    /// then presenting it again is a replay, not a reuse.
    pub replay_window: Duration,
    /// The session limits that end sessions without a revocation.
    pub session_limits: SessionLimits,
    /// Most rows one transaction deletes from one table, so a large backlog never holds long
    /// locks (the next batch runs in a new transaction).
    pub batch: u32,
}

/// How many rows one pruning pass deleted, per kind of row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Ended sessions and spent refresh tokens (a session's tokens go with it, uncounted).
    pub sessions: u64,
    /// Expired one-time tokens and auth codes.
    pub flows: u64,
    /// Delivered or abandoned mail.
    pub mail: u64,
    /// Expired factor challenges and abandoned factor enrollments.
    pub factors: u64,
    /// Expired external sign-in flows (`/authorize` never followed by its callback).
    pub oauth_flows: u64,
}

impl PruneReport {
    /// Rows deleted in all.
    pub fn total(&self) -> u64 {
        self.sessions + self.flows + self.mail + self.factors + self.oauth_flows
    }
}

/// Deletes spent rows past their retention; safe to run on several replicas at once (each
/// batch passes over rows another transaction holds).
pub struct Pruner {
    sessions: Arc<dyn SessionStore>,
    flows: Arc<dyn EmailFlowStore>,
    outbox: Arc<dyn MailOutbox>,
    factors: Option<Arc<dyn FactorStore>>,
    identities: Option<Arc<dyn IdentityStore>>,
    clock: Arc<dyn Clock>,
    policy: PrunePolicy,
}

impl Pruner {
    /// Pruning of these stores under `policy`, on `clock`'s time.
    pub fn new(
        sessions: Arc<dyn SessionStore>,
        flows: Arc<dyn EmailFlowStore>,
        outbox: Arc<dyn MailOutbox>,
        clock: Arc<dyn Clock>,
        policy: PrunePolicy,
    ) -> Self {
        Self { sessions, flows, outbox, factors: None, identities: None, clock, policy }
    }

    /// This pruner, also deleting expired factor challenges and enrollments abandoned for
    /// longer than the retention.
    pub fn with_factors(mut self, factors: Arc<dyn FactorStore>) -> Self {
        self.factors = Some(factors);
        self
    }

    /// This pruner, also deleting external sign-in flows expired for longer than the retention.
    pub fn with_identities(mut self, identities: Arc<dyn IdentityStore>) -> Self {
        self.identities = Some(identities);
        self
    }

    /// One pass: batch after batch of each kind of row until a batch comes back short.
    pub async fn prune(&self) -> Result<PruneReport, AuthError> {
        let now = self.clock.now();
        let policy = &self.policy;
        let cutoff = now - policy.retention;
        let limits = &policy.session_limits;
        let sessions = SessionPrune {
            ended_before: cutoff,
            created_before: limits.timebox.map(|timebox| cutoff - timebox),
            idle_before: limits.inactivity_timeout.map(|idle| cutoff - idle),
            spent_before: now - policy.retention.max(policy.replay_window),
        };
        let batch = policy.batch.max(1);
        Ok(PruneReport {
            sessions: drain(|| self.sessions.prune_sessions(&sessions, batch)).await?,
            flows: drain(|| self.flows.prune_flows(cutoff, batch)).await?,
            mail: drain(|| self.outbox.prune_mail(cutoff, batch)).await?,
            factors: match &self.factors {
                Some(factors) => drain(|| factors.prune_factors(cutoff, batch)).await?,
                None => 0,
            },
            oauth_flows: match &self.identities {
                Some(identities) => drain(|| identities.prune_oauth_flows(cutoff, batch)).await?,
                None => 0,
            },
        })
    }
}

/// Runs `round` (each a transaction deleting up to a batch per table) until one deletes
/// nothing; the sum. Rows another transaction holds are left for the next pass.
async fn drain<F, Fut>(mut round: F) -> Result<u64, AuthError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, crate::ports::StoreError>>,
{
    let mut total = 0;
    loop {
        match round().await? {
            0 => return Ok(total),
            deleted => total += deleted,
        }
    }
}
