//! The limits each figure is compared with, measured on the same machine in the same run: raw
//! argon2id verification on N threads, and pgbench running the SQL authd runs per request.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use argon2::password_hash::phc::PasswordHash as Phc;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHasher as _, Version};
use hdrhistogram::Histogram;

use crate::load::Window;
use crate::server::HashCost;

/// authd's hashing threads' niceness; the limit's threads hash at the same priority, so other
/// programs on the machine take from both alike.
const HASHING_NICENESS: i32 = 10;

/// An implementation of argon2id the limit can be measured with; the limit is the fastest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashEngine {
    /// RustCrypto's `argon2` crate (authd's engine until 2026-12).
    Argon2Crate,
    /// `argon2-rust`, the port of the reference implementation with SIMD that authd computes with.
    Argon2Rust,
}

impl HashEngine {
    /// Every engine, in the order they are measured.
    pub const ALL: [Self; 2] = [Self::Argon2Crate, Self::Argon2Rust];

    /// The crate's name, for the report.
    pub fn label(self) -> &'static str {
        match self {
            Self::Argon2Crate => "argon2",
            Self::Argon2Rust => "argon2-rust",
        }
    }
}

/// One engine's recomputation of a stored hash, with memory it keeps between calls.
enum Recompute {
    Crate { argon2: Argon2<'static>, memory: Vec<Block> },
    Rust(argon2_rust::Hasher),
}

impl Recompute {
    fn new(engine: HashEngine, params: Params) -> anyhow::Result<Self> {
        Ok(match engine {
            HashEngine::Argon2Crate => Self::Crate {
                memory: vec![Block::default(); params.block_count()],
                argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            },
            HashEngine::Argon2Rust => {
                let params = argon2_rust::Params::builder()
                    .memory(argon2_rust::params::Memory::kib(u64::from(params.m_cost())))
                    .passes(params.t_cost())
                    .lanes(params.p_cost())
                    .threads(1)
                    .build()
                    .map_err(|e| anyhow::anyhow!("argon2-rust refuses the parameters: {e}"))?;
                Self::Rust(
                    argon2_rust::Argon2::new(argon2_rust::Algorithm::Argon2id, argon2_rust::Version::V0x13, params)
                        .hasher(),
                )
            }
        })
    }

    fn run(&mut self, password: &[u8], salt: &[u8], output: &mut [u8]) -> anyhow::Result<()> {
        match self {
            Self::Crate { argon2, memory } => argon2.hash_password_into_with_memory(password, salt, output, memory),
            Self::Rust(hasher) => return hasher.hash_into(password, salt, output).map_err(|e| anyhow::anyhow!("{e}")),
        }
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
    }
}

/// Verifications per second of `threads` threads each verifying a password against an argon2id
/// hash of this cost with `engine`, with nothing else running: the hash recomputed in memory
/// allocated once per thread, at the priority of authd's hashing threads (as they do), and
/// compared with the stored one.
#[expect(clippy::disallowed_methods, reason = "the benchmark's own threads wait out the window")]
pub fn argon2_rate(cost: HashCost, threads: usize, window: Window, engine: HashEngine) -> anyhow::Result<f64> {
    let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
        .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
    let password = b"bench password";
    let hash = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password)
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?
        .to_string();
    let hash: Arc<str> = hash.into();
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let counted = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..threads.max(1))
        .map(|_| {
            let (hash, measuring, stop, counted) =
                (Arc::clone(&hash), Arc::clone(&measuring), Arc::clone(&stop), Arc::clone(&counted));
            std::thread::spawn(move || -> anyhow::Result<()> {
                #[cfg(target_os = "linux")]
                rustix::process::setpriority_process(Some(rustix::thread::gettid()), HASHING_NICENESS)?;
                let parsed = Phc::new(&hash).map_err(|e| anyhow::anyhow!("unreadable hash: {e}"))?;
                let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else { bail!("hash without salt") };
                let params = Params::try_from(&parsed).map_err(|e| anyhow::anyhow!("unreadable parameters: {e}"))?;
                let mut output = vec![0u8; expected.len()];
                let mut recompute = Recompute::new(engine, params)?;
                while !stop.load(Ordering::Relaxed) {
                    recompute.run(password, salt, &mut output)?;
                    // A wrong tag would mean the engine is not argon2id: its rate is no limit.
                    if output != expected.as_bytes() {
                        bail!("the password did not verify with {}", engine.label());
                    }
                    if measuring.load(Ordering::Relaxed) {
                        counted.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(())
            })
        })
        .collect();
    std::thread::sleep(window.warmup);
    let started = Instant::now();
    measuring.store(true, Ordering::Relaxed);
    std::thread::sleep(window.measure);
    let verified = counted.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().map_err(|_| anyhow::anyhow!("an argon2 thread panicked"))??;
    }
    Ok(verified as f64 / elapsed.as_secs_f64())
}

/// Every engine's verifications per second, in [`HashEngine::ALL`]'s order.
pub type EngineRates = Vec<(HashEngine, f64)>;

/// The fastest engine and its rate on `threads` threads, with every engine's rate for the report.
pub fn fastest_argon2_rate(
    cost: HashCost,
    threads: usize,
    window: Window,
) -> anyhow::Result<(HashEngine, f64, EngineRates)> {
    let mut rates = Vec::with_capacity(HashEngine::ALL.len());
    for engine in HashEngine::ALL {
        rates.push((engine, argon2_rate(cost, threads, window, engine)?));
    }
    let (engine, rate) = rates
        .iter()
        .copied()
        .fold((HashEngine::Argon2Crate, 0.0), |best, (engine, rate)| if rate > best.1 { (engine, rate) } else { best });
    Ok((engine, rate, rates))
}

/// What pgbench measured over the window.
pub struct PgbenchOutcome {
    /// Transactions per second in the measured window.
    pub rate: f64,
    /// Latencies of those transactions, microseconds.
    pub latency: Histogram<u64>,
    /// Failed transactions pgbench reported.
    pub failed: u64,
}

impl PgbenchOutcome {
    /// A latency percentile, milliseconds.
    pub fn percentile_ms(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }
}

/// Runs `script` with `clients` connections (and as many threads, up to `threads`) for the
/// window, and measures the transactions that finished inside it from pgbench's per-transaction
/// log, as the load generator measures requests.
pub fn pgbench(
    database_url: &str,
    script: &Path,
    clients: usize,
    threads: usize,
    window: Window,
    defines: &[(&str, String)],
    dir: &Path,
) -> anyhow::Result<PgbenchOutcome> {
    let logs = dir.join(format!("pgbench-{}", script.file_stem().and_then(|s| s.to_str()).unwrap_or("script")));
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs)?;
    let total = window.warmup + window.measure;
    let seconds = total.as_secs().max(1) + u64::from(total.subsec_nanos() > 0);
    let output = Command::new("pgbench")
        .args(["--no-vacuum", "--protocol=prepared", "--log"])
        .arg(format!("--log-prefix={}", logs.join("tx").display()))
        .arg(format!("--file={}", script.display()))
        .arg(format!("--client={clients}"))
        .arg(format!("--jobs={}", threads.clamp(1, clients.max(1))))
        .arg(format!("--time={seconds}"))
        .arg("--define=step=0")
        .arg("--define=ready=0")
        .args(defines.iter().map(|(name, value)| format!("--define={name}={value}")))
        .arg(database_url)
        .output()
        .context("cannot run pgbench (install the PostgreSQL client tools)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("pgbench failed ({}):\n{stdout}\n{}", output.status, String::from_utf8_lossy(&output.stderr));
    }
    let failed = stdout
        .lines()
        .find_map(|line| line.strip_prefix("number of failed transactions:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    // pgbench's clock starts after its connections are made, so the window starts from the
    // first logged transaction rather than from when the command was started.
    let mut finishes = Vec::new();
    for entry in std::fs::read_dir(&logs)? {
        let text = std::fs::read_to_string(entry?.path())?;
        for line in text.lines() {
            // client_id transaction_no latency_us script_no epoch_s epoch_us
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [_, _, latency, _, seconds, micros, ..] = fields[..] else { continue };
            let (Ok(latency), Ok(seconds), Ok(micros)) =
                (latency.parse::<u64>(), seconds.parse::<u64>(), micros.parse::<u64>())
            else {
                continue;
            };
            finishes.push((Duration::from_secs(seconds) + Duration::from_micros(micros), latency));
        }
    }
    let first = finishes.iter().map(|(at, latency)| *at - Duration::from_micros(*latency)).min().unwrap_or_default();
    let measure_from = first + window.warmup;
    let deadline = measure_from + window.measure;
    let mut latency = Histogram::new_with_bounds(1, 600_000_000, 3).context("histogram bounds")?;
    let mut counted = 0u64;
    for (at, micros) in finishes {
        if at >= measure_from && at <= deadline {
            counted += 1;
            latency.record(micros.max(1)).context("latency out of range")?;
        }
    }
    let _ = std::fs::remove_dir_all(&logs);
    Ok(PgbenchOutcome { rate: counted as f64 / window.measure.as_secs_f64(), latency, failed })
}

/// Runs SQL through psql against `database_url`, stopping at the first error.
pub fn psql(database_url: &str, sql: &str) -> anyhow::Result<String> {
    let output = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", database_url, "-c", sql])
        .output()
        .context("cannot run psql (install the PostgreSQL client tools)")?;
    if !output.status.success() {
        bail!("psql failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
