use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash as Phc, Salt};
use argon2::{ARGON2ID_IDENT, Algorithm, Params, Version};
use async_trait::async_trait;
use auth_core::domain::{Password, PasswordHash};
use auth_core::ports::{HashError, PasswordCheck, PasswordHasher};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::argon2_engine::Engine;
use crate::cost_bounds::CostBounds;
use crate::failure_floor::{CostClass, FailureFloor};

/// Verified against when an account has no hash, so unknown accounts cost the same time.
const DUMMY_PASSWORD: &[u8] = b"authd: no such account";

/// Salt length of new hashes, the argon2 crate's recommendation.
const SALT_LEN: usize = 16;

/// Niceness of the hashing threads (0 is normal, 19 the lowest priority). A sign-in flood then
/// takes the CPU that nothing else wants, and a cheap request's thread preempts a hash at once
/// instead of queueing behind it for a scheduler slice.
const HASHING_NICENESS: i32 = 10;

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

/// argon2id on a fixed set of hashing threads, one per slot, each reusing one block of
/// `memory_kib` for every hash: memory stays bounded by the pool, not by the number of waiting
/// requests (which hold a few bytes each) nor by how many threads ever hashed, and async workers
/// never compute a hash themselves. The threads run at a lower priority than the rest of the
/// process, so hashing never starves cheap requests.
///
/// New hashes are always argon2id. Verification also reads the hashes other servers leave behind
/// (bcrypt `$2a$`/`$2b$`/`$2y$` from GoTrue, argon2i/argon2d), and answers a match on any of them
/// with `needs_rehash`, so the sign-in that proves the password replaces the hash with argon2id.
/// Stored hashes costlier than [`CostBounds`] are refused unverified. A failed check takes as
/// long as the slowest kind of hash verified so far (see `FailureFloor`): the wait happens
/// after the hashing thread is free, so it costs no hashing capacity.
pub struct Argon2Hasher {
    params: Params,
    bounds: CostBounds,
    floor: Arc<FailureFloor>,
    permits: Arc<Semaphore>,
    pool: Arc<ThreadPool>,
    dummy: Arc<str>,
    stats: Arc<PoolStats>,
    on_wait: Option<WaitObserver>,
    max_queue: usize,
}

/// Requests that may wait for a hashing slot, per slot, unless [`Argon2Hasher::with_max_queue`]
/// says otherwise: at about 30 ms a hash, the last in line waits about a second.
const DEFAULT_QUEUE_PER_SLOT: usize = 32;

/// What a request refused by a full queue is told to wait: the queue drains in about that.
const OVERLOADED_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Told how long each hash waited for a free slot, for a wait-time histogram.
pub type WaitObserver = Arc<dyn Fn(Duration) + Send + Sync>;

/// One hash's work, run on a hashing thread with that thread's memory.
type Work = Box<dyn FnOnce(&mut Engine) + Send>;

/// Work handed to a hashing thread with the slot it holds, released once the thread is free.
struct Job {
    work: Work,
    permit: OwnedSemaphorePermit,
}

/// The hashing threads and which of them are free.
struct ThreadPool {
    threads: Vec<mpsc::Sender<Job>>,
    idle: Mutex<Vec<usize>>,
}

impl ThreadPool {
    fn start(size: usize, stats: &Arc<PoolStats>) -> Result<Arc<Self>, InvalidParams> {
        let mut senders = Vec::with_capacity(size);
        let mut receivers = Vec::with_capacity(size);
        for _ in 0..size {
            let (sender, receiver) = mpsc::channel::<Job>();
            senders.push(sender);
            receivers.push(receiver);
        }
        let pool = Arc::new(Self { threads: senders, idle: Mutex::new((0..size).collect()) });
        for (index, receiver) in receivers.into_iter().enumerate() {
            // The thread holds the pool weakly: dropping the hasher drops the senders, which
            // ends the threads.
            let pool = Arc::downgrade(&pool);
            let stats = Arc::clone(stats);
            std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || hashing_thread(index, &receiver, &pool, &stats))
                .map_err(|e| InvalidParams(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(pool)
    }
}

fn hashing_thread(index: usize, jobs: &mpsc::Receiver<Job>, pool: &std::sync::Weak<ThreadPool>, stats: &PoolStats) {
    lower_priority();
    // Allocated by the first hash and kept: freeing and allocating it again leaves the
    // allocator's arenas holding ever more of it (a benchmark saw two blocks more per idle pause).
    let mut memory = Engine::default();
    // Ends when the hasher, and with it the sending side, is dropped.
    while let Ok(Job { work, permit }) = jobs.recv() {
        // Counted while the slot is held, so `running` never exceeds the pool size.
        stats.running.fetch_add(1, Ordering::Relaxed);
        work(&mut memory);
        stats.running.fetch_sub(1, Ordering::Relaxed);
        // Free before the slot is: whoever gets the slot finds a free thread.
        if let Some(pool) = pool.upgrade() {
            pool.idle.lock().unwrap_or_else(PoisonError::into_inner).push(index);
        }
        drop(permit);
    }
}

/// Lowers the calling thread's scheduling priority; best effort (a failure leaves it as it was).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // On Linux a thread id names one thread, so only this thread is lowered.
        let thread = rustix::thread::gettid();
        if let Err(error) = rustix::process::setpriority_process(Some(thread), HASHING_NICENESS) {
            tracing::debug!(%error, "could not lower the hashing thread's priority");
        }
    }
}

/// A place in the hashing queue, given back however the wait ends: served, refused, or dropped
/// with its request (a client that went away, a request deadline).
struct QueuePlace<'a>(&'a AtomicUsize);

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Argon2Hasher {
    /// A hasher with these parameters, computing at most `max_concurrent` hashes at once
    /// (0 means one per CPU) on as many threads. Computes one hash to have a dummy for unknown
    /// accounts.
    pub fn new(params: Argon2Params, max_concurrent: usize) -> Result<Self, InvalidParams> {
        let bounds = CostBounds::admitting(params);
        let params = Params::new(params.memory_kib, params.iterations, params.parallelism, None)
            .map_err(|e| InvalidParams(e.to_string()))?;
        let started = Instant::now();
        let dummy = hash_with(&params, DUMMY_PASSWORD, &mut Engine::default()).map_err(InvalidParams)?;
        // The first measure of the floor: what an unknown account's check costs.
        let floor = Arc::new(FailureFloor::default());
        floor.record(CostClass::of(&dummy), started.elapsed());
        let slots = if max_concurrent == 0 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        } else {
            max_concurrent
        };
        let stats = Arc::new(PoolStats::default());
        Ok(Self {
            params,
            bounds,
            floor,
            permits: Arc::new(Semaphore::new(slots)),
            pool: ThreadPool::start(slots, &stats)?,
            dummy: dummy.into(),
            stats,
            on_wait: None,
            max_queue: slots.saturating_mul(DEFAULT_QUEUE_PER_SLOT),
        })
    }

    /// Lets at most `max_queue` requests wait for a slot (0: the default, 32 per slot); one
    /// more is refused at once with [`HashError::Overloaded`], so a flood is shed instead of
    /// queued without end behind every sign-in.
    pub fn with_max_queue(mut self, max_queue: usize) -> Self {
        if max_queue > 0 {
            self.max_queue = max_queue;
        }
        self
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

    /// Runs `work` on a hashing thread once a slot is free.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Engine) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let queued = Instant::now();
        let permit = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => Ok(permit),
            Err(_) => {
                // Counted before waiting, so two requests cannot both take the last place.
                let place = QueuePlace(&self.stats.waiting);
                if place.0.fetch_add(1, Ordering::Relaxed) >= self.max_queue {
                    return Err(HashError::Overloaded { retry_after: OVERLOADED_RETRY_AFTER });
                }
                Arc::clone(&self.permits).acquire_owned().await
            }
        };
        if let Some(observe) = &self.on_wait {
            observe(queued.elapsed());
        }
        let permit = permit.map_err(|_| HashError::Unavailable("hashing pool closed".into()))?;
        let thread = self.pool.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let sender = thread
            .and_then(|index| self.pool.threads.get(index))
            .ok_or_else(|| HashError::Unavailable("no hashing thread is free".into()))?;
        let (answer, answered) = oneshot::channel();
        let work: Work = Box::new(move |memory| {
            // The caller may have gone (client disconnected); the result is then dropped.
            let _ = answer.send(work(memory));
        });
        sender.send(Job { work, permit }).map_err(|_| HashError::Unavailable("hashing thread stopped".into()))?;
        answered.await.map_err(|_| HashError::Unavailable("hashing thread failed".into()))
    }
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Hasher").field("params", &self.params).finish_non_exhaustive()
    }
}

/// A new argon2id hash of `password` in PHC form, with a fresh salt, computed in `memory`.
fn hash_with(params: &Params, password: &[u8], memory: &mut Engine) -> Result<String, String> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(|e| format!("no randomness for a salt: {e}"))?;
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    memory.compute(Algorithm::Argon2id, Version::V0x13, params, password, &salt, &mut output)?;
    let phc = Phc {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| e.to_string())?,
        salt: Some(Salt::new(&salt).map_err(|e| e.to_string())?),
        hash: Some(Output::new(&output).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches `stored`, recomputed with the stored algorithm, version, cost and
/// salt in `memory`, and compared in constant time. A hash this code cannot recompute (another
/// algorithm, out-of-range parameters) matches nothing.
fn verify_with(stored: &Phc, password: &[u8], memory: &mut Engine) -> bool {
    let Ok(algorithm) = Algorithm::try_from(stored.algorithm.as_str()) else { return false };
    let version = match stored.version.map(Version::try_from) {
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
        None => Version::default(),
    };
    let Ok(params) = Params::try_from(stored) else { return false };
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else { return false };
    let mut buffer = [0u8; Output::MAX_LENGTH];
    let Some(computed) = buffer.get_mut(..expected.len()) else { return false };
    let hashed = memory.compute(algorithm, version, &params, password, salt, computed);
    // `Output`'s equality is constant-time.
    hashed.is_ok() && Output::new(computed).is_ok_and(|computed| computed == *expected)
}

/// Whether a stored hash is bcrypt's (`$2a$`, `$2b$`, `$2y$`), as GoTrue and many others write.
fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|prefix| stored.starts_with(prefix))
}

/// Whether a bcrypt hash has bcrypt's shape: `$2?$`, a two-digit cost, `$`, then 53 characters
/// of its base64 alphabet (salt and digest).
fn well_formed_bcrypt(stored: &str) -> bool {
    let bytes = stored.as_bytes();
    bytes.len() == 60
        && bytes[4..6].iter().all(u8::is_ascii_digit)
        && bytes[6] == b'$'
        && bytes[7..].iter().all(|b| b.is_ascii_alphanumeric() || *b == b'.' || *b == b'/')
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
            .run(move |memory| hash_with(&params, password.as_bytes(), memory))
            .await?
            .map_err(HashError::Unavailable)?;
        Ok(PasswordHash::new(phc))
    }

    fn check_stored(&self, hash: &PasswordHash) -> Result<(), String> {
        let stored = hash.as_str();
        let readable = if is_bcrypt(stored) {
            well_formed_bcrypt(stored)
        } else {
            stored.starts_with("$argon2") && Phc::new(stored).is_ok_and(|phc| Params::try_from(&phc).is_ok())
        };
        if !readable {
            return Err("password_hash must be a bcrypt ($2a$, $2b$, $2y$) or argon2 PHC hash".into());
        }
        self.bounds.check(stored).map_err(|unsafe_hash| unsafe_hash.to_string())
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
        if let Err(unsafe_hash) = self.bounds.check(&stored) {
            tracing::warn!(reason = %unsafe_hash, "refused to verify a stored password hash");
            tokio::time::sleep(self.floor.padding(Duration::ZERO)).await;
            return Err(HashError::UnreadableHash);
        }
        let params = self.params.clone();
        let password = password.expose().to_owned();
        let (checked, took, class) = self
            .run(move |memory| {
                let started = Instant::now();
                let checked = check(&stored, real, password.as_bytes(), &params, memory);
                let took = started.elapsed();
                // A costlier stored hash grew this thread's memory: give the excess back.
                memory.keep_at_most(&params);
                (checked, took, CostClass::of(&stored))
            })
            .await?;
        if checked.is_ok() {
            self.floor.record(class, took);
        }
        if !matches!(checked, Ok(PasswordCheck::Match { .. })) {
            tokio::time::sleep(self.floor.padding(took)).await;
        }
        checked
    }
}

/// Checks `password` against `stored` on a hashing thread; `real` is false for the dummy.
fn check(
    stored: &str,
    real: bool,
    password: &[u8],
    params: &Params,
    memory: &mut Engine,
) -> Result<PasswordCheck, HashError> {
    if is_bcrypt(stored) {
        let matches = verify_bcrypt(password, stored)?;
        // Only ever a stored hash (the dummy is argon2id), so a match always upgrades.
        return Ok(if matches { PasswordCheck::Match { needs_rehash: true } } else { PasswordCheck::Mismatch });
    }
    let parsed = Phc::new(stored).map_err(|_| HashError::UnreadableHash)?;
    // Verification takes its parameters from the stored hash, whatever the current ones are.
    let matches = verify_with(&parsed, password, memory);
    Ok(match (real, matches) {
        (true, true) => PasswordCheck::Match { needs_rehash: outdated(&parsed, params) },
        _ => PasswordCheck::Mismatch,
    })
}

#[cfg(test)]
mod tests {
    use argon2::Argon2;

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
    async fn hashes_of_the_argon2_crate_verify_and_ours_verify_there() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = Argon2Hasher::new(tiny(), 1).unwrap();
        let params = Params::new(256, 1, 1, None).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params).hash_password(b"correct horse").unwrap();
        let theirs = PasswordHash::new(theirs.to_string());
        let check = hasher.verify(&Password::new("correct horse"), Some(&theirs)).await.unwrap();
        assert_eq!(check, PasswordCheck::Match { needs_rehash: false });
        let wrong = hasher.verify(&Password::new("correct horsE"), Some(&theirs)).await.unwrap();
        assert_eq!(wrong, PasswordCheck::Mismatch);

        let ours = hasher.hash(&Password::new("correct horse")).await.unwrap();
        let parsed = Phc::new(ours.as_str()).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"correct horsE", &parsed).is_err());
    }

    #[tokio::test]
    async fn hashes_of_other_algorithms_match_nothing() {
        let hasher = Argon2Hasher::new(tiny(), 1).unwrap();
        let other = PasswordHash::new("$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA");
        let check = hasher.verify(&Password::new("x"), Some(&other)).await.unwrap();
        assert_eq!(check, PasswordCheck::Mismatch);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_a_lower_priority() {
        let hasher = Argon2Hasher::new(tiny(), 1).unwrap();
        hasher.hash(&Password::new("correct horse")).await.unwrap();
        // The thread lowered itself before taking its first job; field 19 of stat is the niceness.
        let niceness: Vec<i32> = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|task| {
                let task = task.ok()?.path();
                let name = std::fs::read_to_string(task.join("comm")).ok()?;
                if !name.starts_with("argon2-") {
                    return None;
                }
                let stat = std::fs::read_to_string(task.join("stat")).ok()?;
                let after_name = stat.rsplit_once(')')?.1;
                after_name.split_whitespace().nth(16)?.parse().ok()
            })
            .collect();
        assert!(niceness.contains(&HASHING_NICENESS), "{niceness:?}");
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
        let argon2i = argon2::PasswordHasher::hash_password(
            &Argon2::new(Algorithm::Argon2i, Version::V0x13, params),
            b"correct horse",
        )
        .unwrap();
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

    #[tokio::test]
    async fn hashes_costlier_than_the_bounds_are_refused_unverified() {
        let hasher = Argon2Hasher::new(tiny(), 1).unwrap();
        // Real hashes would take hours (bcrypt 31) or 4 GiB per thread (m=4194304): only the
        // refusal can end this test.
        let bcrypt_31 = PasswordHash::new("$2b$31$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234");
        let argon2_4gib = PasswordHash::new(
            "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
        );
        for stored in [bcrypt_31, argon2_4gib] {
            let result = hasher.verify(&Password::new("x"), Some(&stored)).await;
            assert_eq!(result, Err(HashError::UnreadableHash), "{}", &stored.as_str()[..12]);
        }
    }

    #[tokio::test]
    async fn a_failure_takes_as_long_as_the_slowest_hash_verified() {
        // An unknown account is checked against the (tiny, fast) argon2id dummy; an imported
        // bcrypt account costs more. Once a bcrypt check was seen, failures for unknown accounts
        // wait as long, so the time of a failure no longer tells them apart. A lower bound
        // only, with a wide margin: nothing here depends on how fast the machine is.
        let hasher = Argon2Hasher::new(tiny(), 1).unwrap();
        let stored = PasswordHash::new(bcrypt::hash("correct horse", 8).unwrap());
        let started = Instant::now();
        let check = hasher.verify(&Password::new("wrong"), Some(&stored)).await.unwrap();
        let bcrypt_failure = started.elapsed();
        assert_eq!(check, PasswordCheck::Mismatch);
        let started = Instant::now();
        let check = hasher.verify(&Password::new("wrong"), None).await.unwrap();
        let unknown_failure = started.elapsed();
        assert_eq!(check, PasswordCheck::Mismatch);
        assert!(unknown_failure >= bcrypt_failure / 2, "unknown {unknown_failure:?} vs bcrypt {bcrypt_failure:?}");
        // The floor follows what was measured on the hashing thread.
        assert!(hasher.floor.floor() >= bcrypt_failure / 2, "{:?}", hasher.floor.floor());
    }

    #[tokio::test]
    async fn a_costlier_hash_gives_its_memory_back() {
        let hasher = Argon2Hasher::new(tiny(), 1).unwrap();
        let params = Params::new(4096, 1, 1, None).unwrap();
        let big = argon2::PasswordHasher::hash_password(
            &Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            b"correct horse",
        )
        .unwrap();
        let stored = PasswordHash::new(big.to_string());
        let check = hasher.verify(&Password::new("correct horse"), Some(&stored)).await.unwrap();
        assert_eq!(check, PasswordCheck::Match { needs_rehash: true });
        let own = hasher.params.block_count();
        let kept = hasher.run(|memory: &mut Engine| memory.held_blocks()).await.unwrap();
        assert!(kept <= own, "{kept} blocks kept, {own} needed");
    }

    /// Takes the one hashing slot of `hasher` until the sender is used, once it runs.
    async fn hold_the_only_slot(
        hasher: &Arc<Argon2Hasher>,
    ) -> (mpsc::Sender<()>, tokio::task::JoinHandle<Result<bool, HashError>>) {
        let (release, held) = mpsc::channel::<()>();
        let busy = {
            let hasher = Arc::clone(hasher);
            tokio::spawn(async move { hasher.run(move |_| held.recv().is_ok()).await })
        };
        while hasher.stats().running() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        (release, busy)
    }

    /// A hash request, returned once it waits in the queue.
    async fn queued_hash(hasher: &Arc<Argon2Hasher>) -> tokio::task::JoinHandle<Result<PasswordHash, HashError>> {
        let queued = {
            let hasher = Arc::clone(hasher);
            tokio::spawn(async move { hasher.hash(&Password::new("correct horse")).await })
        };
        while hasher.stats().waiting() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        queued
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_is_refused_at_once() {
        let hasher = Arc::new(Argon2Hasher::new(tiny(), 1).unwrap().with_max_queue(1));
        let (release, busy) = hold_the_only_slot(&hasher).await;
        let queued = queued_hash(&hasher).await;
        let shed = hasher.verify(&Password::new("correct horse"), None).await;
        assert_eq!(shed, Err(HashError::Overloaded { retry_after: OVERLOADED_RETRY_AFTER }));
        release.send(()).unwrap();
        assert!(busy.await.unwrap().unwrap());
        assert!(queued.await.unwrap().is_ok(), "the one that fitted in the queue is served");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiter_that_goes_away_gives_its_place_back() {
        let hasher = Arc::new(Argon2Hasher::new(tiny(), 1).unwrap().with_max_queue(1));
        let (release, busy) = hold_the_only_slot(&hasher).await;
        let abandoned = queued_hash(&hasher).await;
        abandoned.abort();
        let _ = abandoned.await;
        assert_eq!(hasher.stats().waiting(), 0, "the dropped request left the queue");
        let queued = queued_hash(&hasher).await;
        release.send(()).unwrap();
        assert!(busy.await.unwrap().unwrap());
        assert!(queued.await.unwrap().is_ok(), "the place freed by the dropped request is usable");
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
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(max_running, 1);
        assert!(saw_waiting, "requests queued for the single slot");
        // The answer reaches the caller a moment before its thread counts itself done.
        for _ in 0..1000 {
            if stats.running() == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert_eq!((stats.running(), stats.waiting()), (0, 0));
    }
}
