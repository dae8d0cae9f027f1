//! The load generator: closed-loop clients, each on its own kept-alive connection, measured over
//! a common window after a warm-up.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde_json::json;
use tokio::sync::watch;

use crate::api::{Api, Credentials};
use crate::cpu::CpuTimes;
use crate::http::Connection;
use crate::server::rss_kib;

/// Error messages kept per run; the count keeps going.
const KEPT_ERRORS: usize = 5;

/// A user the benchmark made, with the password to sign in.
#[derive(Debug, Clone)]
pub struct Account {
    /// Sign-in email.
    pub email: String,
    /// Its password.
    pub password: String,
}

/// What each client of a run does in a loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// `POST /token?grant_type=password`, cycling through the users.
    SignIn,
    /// `POST /token?grant_type=refresh_token`, each client along its own token chain.
    Refresh,
    /// `GET /user` with the client's access token.
    GetUser,
}

impl Workload {
    /// Its name in the report.
    pub fn label(self) -> &'static str {
        match self {
            Self::SignIn => "password sign-in",
            Self::Refresh => "refresh rotation",
            Self::GetUser => "GET /user",
        }
    }
}

/// One group of identical clients.
#[derive(Debug, Clone, Copy)]
pub struct Group {
    /// What they do.
    pub workload: Workload,
    /// How many clients (connections).
    pub clients: usize,
}

/// The timing of a run.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Requests finishing before this is over are not measured.
    pub warmup: Duration,
    /// The measured time.
    pub measure: Duration,
}

/// What one group of a run measured.
pub struct Outcome {
    /// Requests that finished inside the measured window.
    pub requests: u64,
    /// The measured window, seconds.
    pub seconds: f64,
    /// Latencies of those requests, microseconds.
    pub latency: Histogram<u64>,
    /// Non-2xx answers and failed connections, warm-up included.
    pub errors: u64,
    /// The first few of them.
    pub error_samples: Vec<String>,
    /// Highest resident memory of the server seen during the run, KiB.
    pub peak_rss_kib: u64,
    /// CPU per request over the measured window, µs: (authd, PostgreSQL), every group's
    /// requests counted (a run of several groups shares one figure).
    pub cpu_per_request_us: (f64, f64),
}

impl Outcome {
    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    /// A latency percentile, milliseconds.
    pub fn percentile_ms(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }
}

/// The per-client state of a workload.
enum Client {
    SignIn {
        next: usize,
        stride: usize,
    },
    /// Refresh or `GET /user`, with the session of one account.
    Session {
        workload: Workload,
        account: usize,
        credentials: Credentials,
    },
}

struct Tally {
    requests: u64,
    latency: Histogram<u64>,
    errors: u64,
    error_samples: Vec<String>,
}

impl Tally {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            requests: 0,
            // 1 µs to 10 minutes, three significant digits.
            latency: Histogram::new_with_bounds(1, 600_000_000, 3).context("histogram bounds")?,
            errors: 0,
            error_samples: Vec::new(),
        })
    }

    fn error(&mut self, message: String) {
        self.errors += 1;
        if self.error_samples.len() < KEPT_ERRORS {
            self.error_samples.push(message);
        }
    }

    fn merge(&mut self, other: Tally) -> anyhow::Result<()> {
        self.requests += other.requests;
        self.latency.add(&other.latency).context("merging histograms")?;
        self.errors += other.errors;
        for message in other.error_samples {
            if self.error_samples.len() < KEPT_ERRORS {
                self.error_samples.push(message);
            }
        }
        Ok(())
    }
}

/// Signs up `count` users (sign-ups are confirmed at once), `parallel` at a time.
pub async fn create_accounts(
    api: Api,
    address: SocketAddr,
    count: usize,
    parallel: usize,
) -> anyhow::Result<Vec<Account>> {
    let accounts: Arc<Vec<Account>> = Arc::new(
        (0..count)
            .map(|i| Account { email: format!("bench{i}@example.com"), password: format!("bench password {i}") })
            .collect(),
    );
    let mut tasks = Vec::new();
    for lane in 0..parallel.max(1) {
        let accounts = Arc::clone(&accounts);
        tasks.push(tokio::spawn(async move {
            let mut connection = Connection::open(address).await?;
            for account in accounts.iter().skip(lane).step_by(parallel.max(1)) {
                let body = api.sign_up_body(&account.email, &account.password);
                let response = connection.send("POST", &api.sign_up_path(), &[], Some(body.as_bytes())).await?;
                if !response.is_success() {
                    bail!("sign-up of {} answered {}: {}", account.email, response.status, response.snippet());
                }
            }
            Ok(())
        }));
    }
    for task in tasks {
        task.await.context("sign-up task panicked")??;
    }
    Ok(accounts.to_vec())
}

/// Runs the groups at once against the server and measures each over the same window.
pub async fn run(
    api: Api,
    address: SocketAddr,
    pids: &[u32],
    accounts: &Arc<Vec<Account>>,
    groups: &[Group],
    window: Window,
) -> anyhow::Result<Vec<Outcome>> {
    if accounts.is_empty() {
        bail!("no accounts to sign in with");
    }
    // Every client first connects and, except for sign-in, signs in for its own session.
    let mut prepared = Vec::new();
    for (group_index, group) in groups.iter().enumerate() {
        for client_index in 0..group.clients {
            let accounts = Arc::clone(accounts);
            let workload = group.workload;
            let stride = group.clients;
            prepared.push((
                group_index,
                tokio::spawn(async move { prepare(api, address, &accounts, workload, client_index, stride).await }),
            ));
        }
    }
    let mut ready = Vec::new();
    for (group_index, task) in prepared {
        ready.push((group_index, task.await.context("client set-up panicked")??));
    }

    let (start_tx, start_rx) = watch::channel::<Option<(Instant, Instant)>>(None);
    let mut running = Vec::new();
    for (group_index, (connection, client)) in ready {
        let accounts = Arc::clone(accounts);
        let start_rx = start_rx.clone();
        let tally = Tally::new()?;
        running.push((group_index, tokio::spawn(drive(api, connection, client, accounts, start_rx, tally))));
    }
    let begin = Instant::now();
    let measure_from = begin + window.warmup;
    let deadline = measure_from + window.measure;
    start_tx.send_replace(Some((measure_from, deadline)));

    // Sample the server's memory while the clients run.
    let mut peak_rss_kib = rss_kib(pids)?;
    let mut cpu_from = None;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        peak_rss_kib = peak_rss_kib.max(rss_kib(pids)?);
        if cpu_from.is_none() && Instant::now() >= measure_from {
            cpu_from = Some(CpuTimes::now(pids));
        }
    }
    let cpu = CpuTimes::now(pids).since(cpu_from.unwrap_or_default());

    let mut tallies = Vec::new();
    for _ in groups {
        tallies.push(Tally::new()?);
    }
    for (group_index, task) in running {
        let tally = task.await.context("client panicked")?;
        if let Some(total) = tallies.get_mut(group_index) {
            total.merge(tally)?;
        }
    }
    let requests = tallies.iter().map(|t| t.requests).sum::<u64>().max(1) as f64;
    let cpu_per_request_us = (cpu.authd * 1e6 / requests, cpu.postgres * 1e6 / requests);
    Ok(tallies
        .into_iter()
        .map(|t| Outcome {
            requests: t.requests,
            seconds: window.measure.as_secs_f64(),
            latency: t.latency,
            errors: t.errors,
            error_samples: t.error_samples,
            peak_rss_kib,
            cpu_per_request_us,
        })
        .collect())
}

async fn prepare(
    api: Api,
    address: SocketAddr,
    accounts: &[Account],
    workload: Workload,
    index: usize,
    stride: usize,
) -> anyhow::Result<(Connection, Client)> {
    let mut connection = Connection::open(address).await.context("cannot connect to the server")?;
    let account = index % accounts.len();
    let client = match workload {
        Workload::SignIn => Client::SignIn { next: index, stride },
        Workload::Refresh | Workload::GetUser => {
            let credentials = sign_in(api, &mut connection, &accounts[account]).await?;
            Client::Session { workload, account, credentials }
        }
    };
    Ok((connection, client))
}

async fn sign_in(api: Api, connection: &mut Connection, account: &Account) -> anyhow::Result<Credentials> {
    let body = json!({"email": account.email, "password": account.password}).to_string();
    let response = connection.send("POST", &api.sign_in_path(), &[], Some(body.as_bytes())).await?;
    if !response.is_success() {
        bail!("sign-in answered {}: {}", response.status, response.snippet());
    }
    api.credentials(&response)
}

/// One client's loop: waits for the start, then sends requests until the deadline.
async fn drive(
    api: Api,
    mut connection: Connection,
    mut client: Client,
    accounts: Arc<Vec<Account>>,
    mut start: watch::Receiver<Option<(Instant, Instant)>>,
    mut tally: Tally,
) -> Tally {
    let window = match start.wait_for(Option::is_some).await {
        Ok(window) => *window,
        Err(_) => None,
    };
    let Some((measure_from, deadline)) = window else { return tally };
    let sign_in_path = api.sign_in_path();
    let request = match &client {
        Client::Session { workload, .. } => Some(api.session_request(*workload)),
        Client::SignIn { .. } => None,
    };
    while Instant::now() < deadline {
        let sent = Instant::now();
        let answer = match (&mut client, &request) {
            (Client::SignIn { next, stride }, _) => {
                let account = &accounts[*next % accounts.len()];
                *next += *stride;
                let body = json!({"email": account.email, "password": account.password}).to_string();
                connection.send("POST", &sign_in_path, &[], Some(body.as_bytes())).await
            }
            (Client::Session { credentials, .. }, Some((method, path))) => match &credentials.refresh_token {
                // authd's rotation: the token in the body, no bearer.
                Some(token) if *method == "POST" => {
                    let body = json!({"refresh_token": token}).to_string();
                    connection.send(method, path, &[], Some(body.as_bytes())).await
                }
                _ => connection.send(method, path, &[("Authorization", &credentials.bearer)], None).await,
            },
            (Client::Session { .. }, None) => return tally,
        };
        let finished = Instant::now();
        match answer {
            Ok(response) if response.is_success() => {
                if let Client::Session { workload: Workload::Refresh, credentials, .. } = &mut client
                    && credentials.refresh_token.is_some()
                {
                    match api.next_refresh_token(&response) {
                        Some(token) => credentials.refresh_token = Some(token),
                        None => tally.error("refresh answer without a refresh_token".into()),
                    }
                }
                if finished >= measure_from && finished <= deadline {
                    tally.requests += 1;
                    let micros = u64::try_from((finished - sent).as_micros()).unwrap_or(u64::MAX);
                    let _ = tally.latency.record(micros.max(1));
                }
            }
            Ok(response) => {
                tally.error(format!("{}: {}", response.status, response.snippet()));
                recover(api, &mut connection, &mut client, &accounts).await;
            }
            Err(error) => {
                tally.error(format!("connection failed: {error}"));
                recover(api, &mut connection, &mut client, &accounts).await;
            }
        }
    }
    tally
}

/// After a failure: a fresh connection, and for sessions a fresh sign-in, so one error does not
/// turn every later request into another. Failures here show up as the next request's error.
async fn recover(api: Api, connection: &mut Connection, client: &mut Client, accounts: &[Account]) {
    if let Ok(fresh) = Connection::open(connection.address()).await {
        *connection = fresh;
    }
    if let Client::Session { account, credentials, .. } = client
        && let Ok(fresh) = sign_in(api, connection, &accounts[*account]).await
    {
        *credentials = fresh;
    }
}
