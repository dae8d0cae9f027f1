use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::PasswordHash as Phc;
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use async_trait::async_trait;
use auth_core::domain::{Password, PasswordHash};
use auth_core::ports::{HashError, PasswordCheck, PasswordHasher};
use tokio::sync::Semaphore;

/// Verified against when an account has no hash, so unknown accounts cost the same time.
const DUMMY_PASSWORD: &[u8] = b"authd: no such account";

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory per hash, KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    /// OWASP's minimum recommendation: 19 MiB, two passes, one lane.
    fn default() -> Self {
        Self { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
}

/// The parameters are outside what argon2 accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid argon2 parameters: {0}")]
pub struct InvalidParams(String);

/// How busy the hashing pool is, for metrics.
#[derive(Debug, Default)]
pub struct PoolStats {
    waiting: AtomicUsize,
    running: AtomicUsize,
}

impl PoolStats {
    /// Requests waiting for a hashing slot.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Hashes being computed.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }
}

/// argon2id on blocking threads, at most `max_concurrent` at once: memory stays bounded by the
/// pool (each hash holds `memory_kib`), not by the number of waiting requests, and async workers
/// never compute a hash themselves.
///
/// New hashes are always argon2id. Verification also reads the hashes other servers leave behind
/// (bcrypt `$2a$`/`$2b$`/`$2y$` from GoTrue, argon2i/argon2d), and answers a match on any of them
/// with `needs_rehash`, so the sign-in that proves the password replaces the hash with argon2id.
pub struct Argon2Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    dummy: Arc<str>,
    stats: Arc<PoolStats>,
    on_wait: Option<WaitObserver>,
}

/// Told how long each hash waited for a free slot, for a wait-time histogram.
pub type WaitObserver = Arc<dyn Fn(Duration) + Send + Sync>;

impl Argon2Hasher {
    /// A hasher with these parameters, computing at most `max_concurrent` hashes at once
    /// (0 means one per CPU). Computes one hash to have a dummy for unknown accounts.
    pub fn new(params: Argon2Params, max_concurrent: usize) -> Result<Self, InvalidParams> {
        let params = Params::new(params.memory_kib, params.iterations, params.parallelism, None)
            .map_err(|e| InvalidParams(e.to_string()))?;
        let dummy =
            argon2id(&params).hash_password(DUMMY_PASSWORD).map_err(|e| InvalidParams(e.to_string()))?.to_string();
        let slots = if max_concurrent == 0 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        } else {
            max_concurrent
        };
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(slots)),
            dummy: dummy.into(),
            stats: Arc::new(PoolStats::default()),
            on_wait: None,
        })
    }

    /// Reports every hash's wait for a slot to `observer`.
    pub fn observe_wait(mut self, observer: WaitObserver) -> Self {
        self.on_wait = Some(observer);
        self
    }

    /// Live counters of the pool.
    pub fn stats(&self) -> Arc<PoolStats> {
        Arc::clone(&self.stats)
    }

    /// Runs `work` on a blocking thread once a slot is free.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        self.stats.waiting.fetch_add(1, Ordering::Relaxed);
        let queued = Instant::now();
        let permit = Arc::clone(&self.permits).acquire_owned().await;
        self.stats.waiting.fetch_sub(1, Ordering::Relaxed);
        if let Some(observe) = &self.on_wait {
            observe(queued.elapsed());
        }
        let permit = permit.map_err(|_| HashError::Unavailable("hashing pool closed".into()))?;
        let stats = Arc::clone(&self.stats);
        tokio::task::spawn_blocking(move || {
            // Counted while the slot is held, so `running` never exceeds the pool size.
            stats.running.fetch_add(1, Ordering::Relaxed);
            let output = work();
            stats.running.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
            output
        })
        .await
        .map_err(|e| HashError::Unavailable(format!("hashing task failed: {e}")))
    }
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Hasher").field("params", &self.params).finish_non_exhaustive()
    }
}

fn argon2id(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

/// Whether a stored hash is bcrypt's (`$2a$`, `$2b$`, `$2y$`), as GoTrue and many others write.
fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|prefix| stored.starts_with(prefix))
}

/// The longest password bcrypt reads in full.
const BCRYPT_MAX_BYTES: usize = 72;

/// Checks a bcrypt hash. bcrypt reads only the first 72 bytes of a password, so a longer one is
/// a mismatch here rather than a match on its prefix (GoTrue refused such passwords anyway).
fn verify_bcrypt(password: &[u8], stored: &str) -> Result<bool, HashError> {
    let matches = bcrypt::verify(password, stored).map_err(|_| HashError::UnreadableHash)?;
    Ok(matches && password.len() <= BCRYPT_MAX_BYTES)
}

/// Whether a stored hash was made with other settings than `current`.
fn outdated(stored: &Phc, current: &Params) -> bool {
    let same_params = Params::try_from(stored).is_ok_and(|p| {
        p.m_cost() == current.m_cost() && p.t_cost() == current.t_cost() && p.p_cost() == current.p_cost()
    });
    stored.algorithm != ARGON2ID_IDENT || stored.version != Some(Version::V0x13.into()) || !same_params
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    #[tracing::instrument(name = "password.hash", skip_all)]
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let params = self.params.clone();
        let password = password.expose().to_owned();
        let phc = self
            .run(move || argon2id(&params).hash_password(password.as_bytes()).map(|h| h.to_string()))
            .await?
            .map_err(|e| HashError::Unavailable(format!("hashing failed: {e}")))?;
        Ok(PasswordHash::new(phc))
    }

    #[tracing::instrument(name = "password.verify", skip_all)]
    async fn verify<'a>(
        &self,
        password: &Password,
        hash: Option<&'a PasswordHash>,
    ) -> Result<PasswordCheck, HashError> {
        let real = hash.is_some();
        let stored: Arc<str> = match hash {
            Some(hash) => hash.as_str().into(),
            None => Arc::clone(&self.dummy),
        };
        let params = self.params.clone();
        let password = password.expose().to_owned();
        self.run(move || {
            if is_bcrypt(&stored) {
                let matches = verify_bcrypt(password.as_bytes(), &stored)?;
                // Only ever a stored hash (the dummy is argon2id), so a match always upgrades.
                return Ok(if matches { PasswordCheck::Match { needs_rehash: true } } else { PasswordCheck::Mismatch });
            }
            let parsed = Phc::new(&stored).map_err(|_| HashError::UnreadableHash)?;
            // Verification takes its parameters from the stored hash, whatever the current ones are.
            let matches = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
            Ok(match (real, matches) {
                (true, true) => PasswordCheck::Match { needs_rehash: outdated(&parsed, &params) },
                _ => PasswordCheck::Mismatch,
            })
        })
        .await?
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn tiny() -> Argon2Params {
        Argon2Params { memory_kib: 256, iterations: 1, parallelism: 1 }
    }

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_do_not() {
        let hasher = Argon2Hasher::new(tiny(), 2).unwrap();
        let hash = hasher.hash(&Password::new("correct horse")).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=256,t=1,p=1$"));
        assert!(!format!("{hash:?}").contains("argon2id"));
        let ok = hasher.verify(&Password::new("correct horse"), Some(&hash)).await.unwrap();
        assert_eq!(ok, PasswordCheck::Match { needs_rehash: false });
        let wrong = hasher.verify(&Password::new("correct horsE"), Some(&hash)).await.unwrap();
        assert_eq!(wrong, PasswordCheck::Mismatch);
    }

    #[tokio::test]
    async fn missing_hash_is_a_mismatch_even_for_the_dummy_password() {
        let hasher = Argon2Hasher::new(tiny(), 1).unwrap();
        let check = hasher.verify(&Password::new("authd: no such account"), None).await.unwrap();
        assert_eq!(check, PasswordCheck::Mismatch);
    }

    #[tokio::test]
    async fn changed_parameters_ask_for_a_rehash() {
        let old = Argon2Hasher::new(tiny(), 1).unwrap();
        let hash = old.hash(&Password::new("correct horse")).await.unwrap();
        let new = Argon2Hasher::new(Argon2Params { memory_kib: 512, ..tiny() }, 1).unwrap();
        let check = new.verify(&Password::new("correct horse"), Some(&hash)).await.unwrap();
        assert_eq!(check, PasswordCheck::Match { needs_rehash: true });
    }

    #[tokio::test]
    async fn unreadable_hashes_are_reported() {
        let hasher = Argon2Hasher::new(tiny(), 1).unwrap();
        let bogus = PasswordHash::new("not a phc string");
        let result = hasher.verify(&Password::new("x"), Some(&bogus)).await;
        assert_eq!(result, Err(HashError::UnreadableHash));
    }

    #[tokio::test]
    async fn every_wait_for_a_slot_is_reported() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let hasher =
            Argon2Hasher::new(tiny(), 1).unwrap().observe_wait(Arc::new(move |d| record.lock().unwrap().push(d)));
        let hash = hasher.hash(&Password::new("correct horse")).await.unwrap();
        hasher.verify(&Password::new("correct horse"), Some(&hash)).await.unwrap();
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn bcrypt_hashes_verify_and_ask_to_become_argon2id() {
        let hasher = Argon2Hasher::new(tiny(), 1).unwrap();
        for version in [bcrypt::Version::TwoA, bcrypt::Version::TwoB, bcrypt::Version::TwoY] {
            let made = bcrypt::hash_with_result("correct horse", 4).unwrap().format_for_version(version);
            let stored = PasswordHash::new(made);
            let ok = hasher.verify(&Password::new("correct horse"), Some(&stored)).await.unwrap();
            assert_eq!(ok, PasswordCheck::Match { needs_rehash: true }, "{}", &stored.as_str()[..4]);
            let wrong = hasher.verify(&Password::new("correct horsE"), Some(&stored)).await.unwrap();
            assert_eq!(wrong, PasswordCheck::Mismatch);
        }
    }

    #[tokio::test]
    async fn bcrypt_never_matches_on_a_72_byte_prefix() {
        let hasher = Argon2Hasher::new(tiny(), 1).unwrap();
        let prefix = "p".repeat(72);
        let stored = PasswordHash::new(bcrypt::hash(&prefix, 4).unwrap());
        let longer = Password::new(format!("{prefix}and more"));
        assert_eq!(hasher.verify(&longer, Some(&stored)).await.unwrap(), PasswordCheck::Mismatch);
        let exact = hasher.verify(&Password::new(prefix), Some(&stored)).await.unwrap();
        assert_eq!(exact, PasswordCheck::Match { needs_rehash: true });
    }

    #[tokio::test]
    async fn other_argon2_variants_verify_and_ask_for_argon2id() {
        let hasher = Argon2Hasher::new(tiny(), 1).unwrap();
        let params = Params::new(256, 1, 1, None).unwrap();
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, params).hash_password(b"correct horse").unwrap();
        let stored = PasswordHash::new(argon2i.to_string());
        assert!(stored.as_str().starts_with("$argon2i$"));
        let ok = hasher.verify(&Password::new("correct horse"), Some(&stored)).await.unwrap();
        assert_eq!(ok, PasswordCheck::Match { needs_rehash: true });
    }

    #[tokio::test]
    async fn a_broken_bcrypt_hash_is_unreadable() {
        let hasher = Argon2Hasher::new(tiny(), 1).unwrap();
        let bogus = PasswordHash::new("$2b$10$too-short");
        assert_eq!(hasher.verify(&Password::new("x"), Some(&bogus)).await, Err(HashError::UnreadableHash));
    }

    #[test]
    fn invalid_parameters_are_refused() {
        assert!(Argon2Hasher::new(Argon2Params { memory_kib: 1, iterations: 1, parallelism: 1 }, 1).is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrency_is_bounded_by_the_pool() {
        let hasher =
            Arc::new(Argon2Hasher::new(Argon2Params { memory_kib: 4096, iterations: 2, parallelism: 1 }, 1).unwrap());
        let stats = hasher.stats();
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let hasher = Arc::clone(&hasher);
                tokio::spawn(async move { hasher.hash(&Password::new("correct horse")).await })
            })
            .collect();
        let mut max_running = 0;
        let mut saw_waiting = false;
        while tasks.iter().any(|t| !t.is_finished()) {
            max_running = max_running.max(stats.running());
            saw_waiting |= stats.waiting() > 0;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(max_running, 1);
        assert!(saw_waiting, "requests queued for the single slot");
        assert_eq!((stats.running(), stats.waiting()), (0, 0));
    }
}
