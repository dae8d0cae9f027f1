//! `authd-bench`: starts a release authd on PostgreSQL and on SQLite, loads it with password
//! sign-ins, refresh-token rotations and `GET /user`, and sets each figure next to its limit
//! measured in the same run: the raw argon2id rate and pgbench running the same SQL. Exits 1
//! when a target is missed. Not part of the test suite: run it with `just bench`.

mod api;
mod cpu;
mod http;
mod limits;
mod load;
mod peer;
mod report;
mod server;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};

use crate::api::Api;
use crate::limits::{fastest_argon2_rate, pgbench, psql};
use crate::load::{Account, Group, Outcome, Window, Workload, create_accounts};
use crate::report::{BackendReport, Limit, Report, Row, Verdict, mib};
use crate::server::{HashCost, Server, ServerSpec};

/// pgbench's script for the least a refresh can write in one commit (not authd's statements).
const REFRESH_SQL: &str = include_str!("../sql/refresh_minimal.sql");
/// pgbench's script for one `GET /user`.
const GET_USER_SQL: &str = include_str!("../sql/get_user.sql");
/// Gives every pgbench client a session of its own, with the first token of its chain.
const SETUP_SQL: &str = include_str!("../sql/setup.sql");

/// Targets from the performance issue (ratios to limits measured in the same run).
const SIGN_IN_TARGET: f64 = 0.90;
const REFRESH_TARGET: f64 = 0.70;
const GET_USER_TARGET: f64 = 0.70;
const FLOOD_P99_MS: f64 = 25.0;
const IDLE_RSS_MIB: f64 = 40.0;
/// Memory a sign-in flood may add beyond the hashing pool's blocks: buffers, connections and
/// allocator slack that do not grow with the number of waiting requests.
const FLOOD_SLACK_MIB: f64 = 24.0;

/// Command line.
#[derive(Parser)]
#[command(about = "Benchmarks a release authd against the limits of this machine and its database")]
struct Cli {
    /// The authd binary; by default the one next to this program (target/release/authd).
    #[arg(long)]
    authd: Option<PathBuf>,
    /// A PostgreSQL database where the benchmark may create and drop a database of its own.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// Backends to run.
    #[arg(long, value_delimiter = ',', default_values = ["postgres", "sqlite"])]
    backends: Vec<Backend>,
    /// Concurrencies; by default 1, twice the cores, and 64.
    #[arg(long, value_delimiter = ',')]
    clients: Vec<usize>,
    /// Seconds measured per run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds of warm-up before each measured run.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Users signed up before the runs.
    #[arg(long, default_value_t = 256)]
    users: usize,
    /// Sign-in clients of the flood under which `GET /user` is timed.
    #[arg(long, default_value_t = 128)]
    flood_clients: usize,
    /// argon2id memory per hash, KiB (authd's default).
    #[arg(long, default_value_t = 19_456)]
    memory_kib: u32,
    /// argon2id passes (authd's default).
    #[arg(long, default_value_t = 2)]
    iterations: u32,
    /// Node processes of the peer (Better Auth) compared with on PostgreSQL; 0 skips it.
    #[arg(long, default_value_t = 2)]
    peer_processes: usize,
    /// Replace the results section of this markdown file (docs/benchmarks.md).
    #[arg(long)]
    write_doc: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    Postgres,
    Sqlite,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&anyhow::Error::new(error)),
    };
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            say("\nA target was missed (see the table).");
            ExitCode::FAILURE
        }
        Err(error) => fail(&error),
    }
}

fn fail(error: &anyhow::Error) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "authd-bench: {error:#}");
    ExitCode::from(2)
}

fn say(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// What every backend's runs share.
struct Bench {
    binary: PathBuf,
    cost: HashCost,
    cores: usize,
    clients: Vec<usize>,
    window: Window,
    users: usize,
    flood_clients: usize,
    admin_url: String,
    peer_processes: usize,
}

async fn run(cli: Cli) -> anyhow::Result<bool> {
    let binary = match &cli.authd {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("authd"),
    };
    if !binary.exists() {
        bail!("{} not found: build it first with `cargo build --release -p authd`", binary.display());
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let clients = if cli.clients.is_empty() { vec![1, 2 * cores, 64] } else { cli.clients.clone() };
    let bench = Bench {
        binary,
        cost: HashCost { memory_kib: cli.memory_kib, iterations: cli.iterations, parallelism: 1 },
        cores,
        clients,
        window: Window { warmup: Duration::from_secs(cli.warmup), measure: Duration::from_secs(cli.seconds.max(1)) },
        users: cli.users.max(1),
        flood_clients: cli.flood_clients.max(1),
        admin_url: cli.database_url.clone(),
        peer_processes: cli.peer_processes,
    };
    let load_before = load_average();
    let mut backends = Vec::new();
    for backend in &cli.backends {
        say(&format!("== {backend:?}"));
        backends.push(bench.backend(*backend).await?);
    }
    let context = vec![
        format!("commit `{}`", commit()),
        format!("machine: {cores} cores, {}", cpu_model()),
        format!("date: {}", wall_clock().format("%Y-%m-%d %H:%M UTC")),
        format!("load average (1 min) before: {load_before}, after: {}", load_average()),
        format!(
            "each run: {} s warm-up, then {} s measured; argon2id m={} KiB, t={}, p=1; authd's defaults otherwise",
            cli.warmup, cli.seconds, cli.memory_kib, cli.iterations
        ),
    ];
    let report = Report { context, backends };
    say("");
    say(&report.markdown());
    if let Some(doc) = &cli.write_doc {
        report.write_into(doc)?;
        say(&format!("written into {}", doc.display()));
    }
    Ok(report.all_met())
}

impl Bench {
    async fn backend(&self, backend: Backend) -> anyhow::Result<BackendReport> {
        let dir = tempfile::Builder::new().prefix("authd-bench-").tempdir()?;
        match backend {
            Backend::Postgres => {
                let name = format!("authd_bench_{}", std::process::id());
                psql(&self.admin_url, &format!("DROP DATABASE IF EXISTS {name}"))?;
                psql(&self.admin_url, &format!("CREATE DATABASE {name}"))?;
                let url = database_in(&self.admin_url, &name)?;
                let result = self.measure("PostgreSQL", &url, Some(&url), dir.path()).await;
                // Other clients (pgbench) are gone by now; drop even after a failure.
                let _ = psql(&self.admin_url, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                let mut report = result?;
                report.peer = self.peer(dir.path(), &mut report.error_samples).await;
                Ok(report)
            }
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("authd.db").display());
                self.measure("SQLite", &url, None, dir.path()).await
            }
        }
    }

    async fn measure(
        &self,
        name: &'static str,
        database_url: &str,
        pg: Option<&str>,
        dir: &Path,
    ) -> anyhow::Result<BackendReport> {
        let spec = ServerSpec { binary: &self.binary, dir, database_url, cost: self.cost };
        // The first start migrates and makes keys; the second is what a restart costs.
        let (server, first_start) = Server::start(&spec).await?;
        server.stop()?;
        let (server, start) = Server::start(&spec).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle_kib = server.rss_kib()?;
        say(&format!("start-up {start:?} (first {first_start:?}), idle RSS {:.1} MiB", mib(idle_kib)));

        let accounts = Arc::new(create_accounts(Api::Authd, server.address, self.users, self.cores).await?);
        let mut rows = Vec::new();
        let mut samples = Vec::new();

        for &clients in &self.clients {
            let threads = clients.min(self.cores);
            // Measured right before and right after, keeping the higher: a limit measured while
            // something else took the CPU would flatter authd.
            // Every engine is measured; the limit is the fastest correct one on this machine.
            let (before_engine, before, before_all) = fastest_argon2_rate(self.cost, threads, self.window)?;
            let outcome = self.load(&server, &accounts, Workload::SignIn, clients).await?;
            let (after_engine, after, after_all) = fastest_argon2_rate(self.cost, threads, self.window)?;
            for ((engine, before), (_, after)) in before_all.iter().zip(&after_all) {
                say(&format!(
                    "argon2id with {} on {threads} thread(s): {before:.1}/s before, {after:.1}/s after",
                    engine.label()
                ));
            }
            let fastest = if after > before { after_engine } else { before_engine };
            let limit = Limit {
                name: format!("argon2id ({}), {threads} thread(s)", fastest.label()),
                rate: before.max(after),
                p50_p99: None,
            };
            rows.push(row(Workload::SignIn.label(), clients, &outcome, Some(limit), &mut samples));
        }
        let mut chain = 0;
        let scripts = match pg {
            Some(_) => {
                Some((write_script(dir, "refresh_minimal", REFRESH_SQL)?, write_script(dir, "get_user", GET_USER_SQL)?))
            }
            None => None,
        };
        for (workload, script) in
            [(Workload::Refresh, scripts.as_ref().map(|s| &s.0)), (Workload::GetUser, scripts.as_ref().map(|s| &s.1))]
        {
            for &clients in &self.clients {
                let outcome = self.load(&server, &accounts, workload, clients).await?;
                let limit = match (pg, script) {
                    (Some(url), Some(script)) => {
                        // Fresh sessions and chains for every pgbench run, as the driver's
                        // clients sign in afresh for every run.
                        chain += 1;
                        let setup = SETUP_SQL.replace(":chain", &chain.to_string());
                        psql(url, &setup.replace(":clients", &clients.to_string()))?;
                        let at = wall_clock().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
                        let defines = [("chain", chain.to_string()), ("at", at)];
                        let threads = clients.min(self.cores);
                        let bench = pgbench(url, script, clients, threads, self.window, &defines, dir)?;
                        if bench.failed > 0 {
                            samples.push(format!("pgbench: {} failed transactions", bench.failed));
                        }
                        let name = match workload {
                            Workload::Refresh => "pgbench, minimal one-commit rotation",
                            _ => "pgbench, same SQL",
                        };
                        Some(Limit {
                            name: name.into(),
                            rate: bench.rate,
                            p50_p99: Some((bench.percentile_ms(0.5), bench.percentile_ms(0.99))),
                        })
                    }
                    _ => None,
                };
                rows.push(row(workload.label(), clients, &outcome, limit, &mut samples));
            }
        }

        let groups = [
            Group { workload: Workload::SignIn, clients: self.flood_clients },
            Group { workload: Workload::GetUser, clients: 1 },
        ];
        say(&format!("flood: {} sign-in clients and one GET /user client", self.flood_clients));
        // What the earlier loads left (SQLite's page caches, the hashing blocks) is not the
        // flood's doing: its bound starts from here.
        let before_flood_kib = server.rss_kib()?;
        let outcomes = load::run(Api::Authd, server.address, &[server.pid()], &accounts, &groups, self.window).await?;
        let [flood, reads] = &outcomes[..] else { bail!("the flood run lost a group") };
        rows.push(row("sign-in flood", self.flood_clients, flood, None, &mut samples));
        rows.push(row("GET /user under the flood", 1, reads, None, &mut samples));
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after_kib = server.rss_kib()?;
        let log = server.log_tail();
        server.stop()?;

        let binary_mib = std::fs::metadata(&self.binary)?.len() as f64 / (1024.0 * 1024.0);
        let pool_mib = (self.cores as f64) * f64::from(self.cost.memory_kib) / 1024.0;
        let flood_bound = mib(before_flood_kib) + pool_mib + FLOOD_SLACK_MIB;
        let facts = vec![
            (
                "resident memory, idle after start".into(),
                format!("{:.1} MiB", mib(idle_kib)),
                format!("under {IDLE_RSS_MIB} MiB"),
            ),
            ("resident memory, idle after the loads".into(), format!("{:.1} MiB", mib(after_kib)), "-".into()),
            (
                format!("resident memory, peak under the flood ({} clients)", self.flood_clients),
                format!("{:.1} MiB", mib(flood.peak_rss_kib)),
                format!(
                    "{:.1} MiB before it + {} hashes × {} KiB + {FLOOD_SLACK_MIB} MiB = {flood_bound:.1} MiB",
                    mib(before_flood_kib),
                    self.cores,
                    self.cost.memory_kib
                ),
            ),
            (
                "start-up to the first answered request".into(),
                format!("{:.0} ms", start.as_secs_f64() * 1000.0),
                "-".into(),
            ),
            (
                "first start (migrations, key generation)".into(),
                format!("{:.0} ms", first_start.as_secs_f64() * 1000.0),
                "-".into(),
            ),
            ("release binary size".into(), format!("{binary_mib:.1} MiB"), "-".into()),
        ];

        let mut verdicts = Vec::new();
        for row in &rows {
            let wanted = match row.workload.as_str() {
                w if w == Workload::SignIn.label() => Some(SIGN_IN_TARGET),
                w if pg.is_some() && w == Workload::Refresh.label() => Some(REFRESH_TARGET),
                w if pg.is_some() && w == Workload::GetUser.label() => Some(GET_USER_TARGET),
                _ => None,
            };
            if let (Some(wanted), Some(ratio)) = (wanted, row.ratio()) {
                verdicts.push(Verdict {
                    target: format!(
                        "{} at {} clients ≥ {:.0}% of its limit",
                        row.workload,
                        row.clients,
                        wanted * 100.0
                    ),
                    measured: format!("{:.0}%", ratio * 100.0),
                    met: ratio >= wanted,
                });
            }
        }
        verdicts.push(Verdict {
            target: format!("GET /user p99 under a sign-in flood ≤ {FLOOD_P99_MS} ms"),
            measured: format!("{:.2} ms", reads.percentile_ms(0.99)),
            met: reads.requests > 0 && reads.percentile_ms(0.99) <= FLOOD_P99_MS,
        });
        verdicts.push(Verdict {
            target: format!("idle resident memory < {IDLE_RSS_MIB} MiB"),
            measured: format!("{:.1} MiB", mib(idle_kib)),
            met: mib(idle_kib) < IDLE_RSS_MIB,
        });
        verdicts.push(Verdict {
            target: "memory under a sign-in flood bounded by the hash pool".into(),
            measured: format!("{:.1} MiB ≤ {flood_bound:.1} MiB", mib(flood.peak_rss_kib)),
            met: mib(flood.peak_rss_kib) <= flood_bound,
        });
        let errors: u64 = rows.iter().map(|r| r.errors).sum();
        let pgbench_failures = samples.iter().filter(|s| s.starts_with("pgbench")).count();
        verdicts.push(Verdict {
            target: "zero errors at every concurrency".into(),
            measured: format!("{errors} failed requests, {pgbench_failures} pgbench runs with failures"),
            met: errors == 0 && pgbench_failures == 0,
        });
        if errors > 0 && !log.is_empty() {
            samples.push(format!("authd's last log lines: {log}"));
        }
        Ok(BackendReport { name, rows, facts, verdicts, error_samples: samples, peer: Vec::new() })
    }

    async fn load(
        &self,
        server: &Server,
        accounts: &Arc<Vec<Account>>,
        workload: Workload,
        clients: usize,
    ) -> anyhow::Result<Outcome> {
        self.load_on(Api::Authd, server.address, &[server.pid()], accounts, workload, clients).await
    }

    /// One workload at one concurrency against the server of `api` at `address`, made of the
    /// processes `pids`.
    async fn load_on(
        &self,
        api: Api,
        address: SocketAddr,
        pids: &[u32],
        accounts: &Arc<Vec<Account>>,
        workload: Workload,
        clients: usize,
    ) -> anyhow::Result<Outcome> {
        let groups = [Group { workload, clients }];
        let mut outcomes = load::run(api, address, pids, accounts, &groups, self.window).await?;
        let outcome = outcomes.pop().context("the run measured nothing")?;
        say(&format!(
            "{} × {clients}: {:.1}/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
            workload.label(),
            outcome.rate(),
            outcome.percentile_ms(0.5),
            outcome.percentile_ms(0.99),
            outcome.errors
        ));
        Ok(outcome)
    }
}

fn row(workload: &str, clients: usize, outcome: &Outcome, limit: Option<Limit>, samples: &mut Vec<String>) -> Row {
    for sample in &outcome.error_samples {
        samples.push(format!("{workload} × {clients}: {sample}"));
    }
    Row {
        workload: workload.to_owned(),
        clients,
        rate: outcome.rate(),
        p50: outcome.percentile_ms(0.5),
        p99: outcome.percentile_ms(0.99),
        limit,
        peak_rss_kib: outcome.peak_rss_kib,
        cpu_per_request_us: outcome.cpu_per_request_us,
        errors: outcome.errors,
    }
}

fn write_script(dir: &Path, name: &str, sql: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("{name}.sql"));
    std::fs::write(&path, sql)?;
    Ok(path)
}

/// The same server URL with another database name.
fn database_in(url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let rest = base.strip_prefix("postgres://").or_else(|| base.strip_prefix("postgresql://"));
    let Some(rest) = rest else { bail!("--database-url must be a postgres:// URL") };
    let host = rest.split_once('/').map_or(rest, |(host, _)| host);
    Ok(match query {
        Some(query) => format!("postgres://{host}/{name}?{query}"),
        None => format!("postgres://{host}/{name}"),
    })
}

fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let head = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty { format!("{head} (with uncommitted changes)") } else { head }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .and_then(|rest| rest.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

/// The date for the report and the timestamps pgbench writes: the harness measures, it is not
/// domain code reading the clock.
#[expect(clippy::disallowed_methods, reason = "the harness reports when it ran")]
fn wall_clock() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}
