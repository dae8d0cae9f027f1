//! A release `authd serve` run as a child process with a configuration written for the benchmark.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::http::Connection;

/// The API's base path, as authd serves it by default.
pub const BASE: &str = "/auth/v1";

/// How long a start may take before the benchmark gives up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// argon2id cost, written into authd's configuration and used for the raw hash rate alike.
#[derive(Debug, Clone, Copy)]
pub struct HashCost {
    /// Memory per hash, KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

/// What a server is started with.
pub struct ServerSpec<'a> {
    /// The `authd` binary.
    pub binary: &'a Path,
    /// A directory for the configuration, logs, SQLite file and mail outbox.
    pub dir: &'a Path,
    /// `postgres://…` or `sqlite://…`.
    pub database_url: &'a str,
    /// argon2id cost.
    pub cost: HashCost,
}

/// A running authd.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub address: SocketAddr,
    log: PathBuf,
}

impl Server {
    /// Starts authd and waits for its first answered request; returns it and how long that took.
    pub async fn start(spec: &ServerSpec<'_>) -> anyhow::Result<(Self, Duration)> {
        let port = free_port()?;
        let config = spec.dir.join("authd.toml");
        std::fs::write(&config, config_toml(port, spec.database_url, spec.cost))
            .with_context(|| format!("cannot write {}", config.display()))?;
        let log = spec.dir.join("authd.log");
        let log_file = std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let started = Instant::now();
        let child = Command::new(spec.binary)
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .current_dir(spec.dir)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {}", spec.binary.display()))?;
        let mut server = Self { child, address: SocketAddr::from(([127, 0, 0, 1], port)), log };
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!("authd exited during start-up ({status}):\n{}", server.log_tail());
            }
            if server.healthy().await {
                return Ok((server, started.elapsed()));
            }
            if started.elapsed() > START_TIMEOUT {
                bail!("authd did not answer within {START_TIMEOUT:?}:\n{}", server.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    async fn healthy(&self) -> bool {
        let Ok(mut connection) = Connection::open(self.address).await else { return false };
        let path = format!("{BASE}/health");
        connection.send("GET", &path, &[], None).await.is_ok_and(|r| r.is_success())
    }

    /// The process id, for /proc.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now, KiB.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        rss_kib(&[self.pid()])
    }

    /// The last lines authd logged (warnings and errors only).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Stops the server.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().context("cannot stop authd")?;
        self.child.wait().context("cannot reap authd")?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Never leave a server running when the benchmark fails half-way.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` of processes together (a server of several processes), KiB.
pub fn rss_kib(pids: &[u32]) -> anyhow::Result<u64> {
    let mut total = 0;
    for pid in pids {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        total += status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .context("no VmRSS in /proc/<pid>/status")?;
    }
    Ok(total)
}

/// A free loopback port.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Defaults everywhere except: no rate limits (one client IP sends everything), sign-ups
/// confirmed at once (so users can be made through the API), and only warnings logged.
fn config_toml(port: u16, database_url: &str, cost: HashCost) -> String {
    format!(
        r#"[server]
host = "127.0.0.1"
port = {port}

[database]
url = "{database_url}"

[log]
level = "warn"

[signup]
autoconfirm = true

[password.hash]
memory_kib = {memory}
iterations = {iterations}
parallelism = {parallelism}

[rate_limits]
signup_per_minute = 0
password_per_minute = 0
refresh_per_minute = 0
"#,
        memory = cost.memory_kib,
        iterations = cost.iterations,
        parallelism = cost.parallelism,
    )
}
