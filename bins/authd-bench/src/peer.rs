//! The peer authd is compared with in the same run: Better Auth (npm `better-auth`) with email
//! and password, its bearer and JWT plugins, argon2id at authd's parameters (`@node-rs/argon2`,
//! through Better Auth's documented hash option), on a database of its own in the same
//! PostgreSQL cluster, served by two Node processes. `peer/server.mjs` is the whole server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::http::Connection;
use crate::limits::psql;
use crate::server::{HashCost, free_port};

/// How long the peer may take to migrate its database and start its processes.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// The peer's package (server.mjs, package.json and its lockfile).
pub fn package_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peer")
}

/// Installs the peer's packages from the lockfile unless they are there; `Ok(false)` when Node
/// or npm is missing (the comparison is then skipped, and said so).
pub fn install() -> anyhow::Result<bool> {
    if Command::new("node").arg("--version").output().map(|o| !o.status.success()).unwrap_or(true) {
        return Ok(false);
    }
    let dir = package_dir();
    if dir.join("node_modules/better-auth").exists() {
        return Ok(true);
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .status()
        .context("cannot run npm")?;
    if !status.success() {
        bail!("npm ci in {} failed ({status})", dir.display());
    }
    Ok(true)
}

/// The running peer.
pub struct Peer {
    child: Child,
    /// Where it listens.
    pub address: SocketAddr,
    log: PathBuf,
}

impl Peer {
    /// Starts the peer on `database_url` (migrated by the peer itself) with `processes` Node
    /// processes, and waits until it answers.
    pub async fn start(database_url: &str, cost: HashCost, processes: usize, dir: &Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let log = dir.join("peer.log");
        let log_file = std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let child = Command::new("node")
            .arg(package_dir().join("server.mjs"))
            .env("PEER_DATABASE_URL", database_url)
            .env("PEER_PORT", port.to_string())
            .env("PEER_PROCESSES", processes.to_string())
            .env("PEER_MEMORY_KIB", cost.memory_kib.to_string())
            .env("PEER_ITERATIONS", cost.iterations.to_string())
            .env("NODE_ENV", "production")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .context("cannot start node")?;
        let mut peer = Self { child, address: SocketAddr::from(([127, 0, 0, 1], port)), log };
        let started = Instant::now();
        loop {
            if let Some(status) = peer.child.try_wait()? {
                bail!("the peer exited during start-up ({status}):\n{}", peer.log_tail());
            }
            if peer.answers(processes).await {
                return Ok(peer);
            }
            if started.elapsed() > START_TIMEOUT {
                bail!("the peer did not answer within {START_TIMEOUT:?}:\n{}", peer.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether all its processes are up and one answers.
    async fn answers(&self, processes: usize) -> bool {
        if self.pids().len() < processes + 1 {
            return false;
        }
        let Ok(mut connection) = Connection::open(self.address).await else { return false };
        connection.send("GET", "/api/auth/ok", &[], None).await.is_ok_and(|r| r.is_success())
    }

    /// The primary process and its workers, for CPU time and memory.
    pub fn pids(&self) -> Vec<u32> {
        let primary = self.child.id();
        let mut pids = vec![primary];
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
                let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
                // The parent's pid is the second field after the command name.
                let parent = stat
                    .rfind(')')
                    .and_then(|end| stat[end + 1..].split_whitespace().nth(1))
                    .and_then(|p| p.parse::<u32>().ok());
                if parent == Some(primary) {
                    pids.push(pid);
                }
            }
        }
        pids
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // The workers first: killed without a word, the primary could not stop them.
        #[cfg(target_os = "linux")]
        for pid in self.pids().into_iter().skip(1) {
            if let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl crate::Bench {
    /// The peer's rows on PostgreSQL: the same workloads at the same concurrencies on a
    /// database of its own, dropped afterwards. A peer that cannot run is said and skipped
    /// (it never fails authd's benchmark); its error goes into `samples`.
    pub(crate) async fn peer(&self, dir: &Path, samples: &mut Vec<String>) -> Vec<crate::report::Row> {
        if self.peer_processes == 0 {
            return Vec::new();
        }
        match install() {
            Ok(true) => {}
            Ok(false) => {
                crate::say("peer comparison skipped: no Node.js on this machine");
                return Vec::new();
            }
            Err(error) => {
                crate::say(&format!("peer comparison skipped: {error:#}"));
                samples.push(format!("peer: {error:#}"));
                return Vec::new();
            }
        }
        let name = format!("authd_bench_peer_{}", std::process::id());
        let created = psql(&self.admin_url, &format!("DROP DATABASE IF EXISTS {name}"))
            .and_then(|_| psql(&self.admin_url, &format!("CREATE DATABASE {name}")))
            .and_then(|_| crate::database_in(&self.admin_url, &name));
        let result = match created {
            Ok(url) => self.peer_runs(&url, dir, samples).await,
            Err(error) => Err(error),
        };
        let _ = psql(&self.admin_url, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        result.unwrap_or_else(|error| {
            crate::say(&format!("peer comparison failed: {error:#}"));
            samples.push(format!("peer: {error:#}"));
            Vec::new()
        })
    }

    async fn peer_runs(
        &self,
        url: &str,
        dir: &Path,
        samples: &mut Vec<String>,
    ) -> anyhow::Result<Vec<crate::report::Row>> {
        use std::sync::Arc;

        use crate::api::Api;
        use crate::load::{Workload, create_accounts};

        crate::say(&format!("== peer: Better Auth on {} Node processes", self.peer_processes));
        let peer = Peer::start(url, self.cost, self.peer_processes, dir).await?;
        let pids = peer.pids();
        let accounts = Arc::new(create_accounts(Api::BetterAuth, peer.address, self.users, self.cores).await?);
        let mut rows = Vec::new();
        for workload in [Workload::SignIn, Workload::Refresh, Workload::GetUser] {
            for &clients in &self.clients {
                let outcome = self.load_on(Api::BetterAuth, peer.address, &pids, &accounts, workload, clients).await?;
                rows.push(crate::row(workload.label(), clients, &outcome, None, samples));
            }
        }
        Ok(rows)
    }
}
