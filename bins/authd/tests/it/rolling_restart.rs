//! Rolling restarts behind a load balancer: HAProxy (Debian's `haproxy`, started by the test on
//! loopback) in front of three replicas on one PostgreSQL database, each with
//! `server.drain_secs`. While clients keep signing up, refreshing, reading the user and signing
//! in through HAProxy, every replica in turn gets SIGTERM, exits, and is started again. Not one
//! request may fail: a replica told to stop answers `/ready` with 503 first (HAProxy's check
//! takes it out of the rotation), keeps serving what still reaches it, and stops only after.
//! Without haproxy the test is skipped loudly, unless `AUTHD_TEST_REQUIRE_HAPROXY=1`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::process::{PASSWORD, Server, authd, free_port, request_at};

const REQUIRE_ENV: &str = "AUTHD_TEST_REQUIRE_HAPROXY";
const REPLICAS: usize = 3;
const CLIENTS: usize = 4;

/// HAProxy running in the foreground with the test's configuration, killed when dropped.
pub struct Haproxy {
    child: Child,
    /// Where clients reach the replicas.
    pub port: u16,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The haproxy program, or `None` after a loud notice (a failure under `REQUIRE_ENV=1`).
pub fn haproxy_program() -> Option<PathBuf> {
    let found = ["/usr/sbin/haproxy", "/usr/bin/haproxy"].into_iter().map(PathBuf::from).find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var(REQUIRE_ENV).as_deref() != Ok("1"),
            "{REQUIRE_ENV}=1 but there is no haproxy program (Debian package haproxy)"
        );
        eprintln!("\n*** SKIPPING a load-balancer test: no haproxy program (Debian package haproxy)\n");
    }
    found
}

/// Starts HAProxy on a free port, balancing round robin over `backends`, checking each one's
/// `/auth/v1/ready` every 200 ms; a connection a stopped replica refuses is tried on another.
pub fn start_haproxy(program: &Path, dir: &Path, backends: &[u16]) -> Haproxy {
    let port = free_port();
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(i, backend)| format!("    server r{i} 127.0.0.1:{backend} check\n"))
        .collect();
    let config = format!(
        "global\n    maxconn 2000\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\
         \x20   retries 3\n    option redispatch 1\n    retry-on conn-failure\n\
         frontend api\n    bind 127.0.0.1:{port}\n    default_backend replicas\n\
         backend replicas\n    balance roundrobin\n    option httpchk GET /auth/v1/ready\n\
         \x20   http-check expect status 200\n    default-server inter 200ms fall 1 rise 2\n{servers}"
    );
    let file = dir.join("haproxy.cfg");
    std::fs::write(&file, config).unwrap();
    let child = Command::new(program)
        .arg("-db")
        .arg("-f")
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("haproxy starts");
    let haproxy = Haproxy { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while request_at(port, "GET", "/auth/v1/health", None, &[]).is_none_or(|(status, _)| status != 200) {
        assert!(Instant::now() < deadline, "HAProxy did not pass requests within 20 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    haproxy
}

/// A JSON call through `port`; `None` when the connection failed.
pub fn call_at(port: u16, method: &str, path: &str, body: Option<Value>, token: Option<&str>) -> Option<(u16, Value)> {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let body = body.map(|b| b.to_string());
    let (status, text) = request_at(port, method, &format!("/auth/v1{path}"), body.as_deref(), &headers)?;
    Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// A replica's command: one database, a drain long enough for HAProxy's check, no limit the
/// load could reach.
fn replica(dir: &Path, url: &str) -> Command {
    let mut command = authd(dir);
    command
        .env("AUTHD_DATABASE__URL", url)
        .env("AUTHD_SERVER__DRAIN_SECS", "2")
        .env("AUTHD_SERVER__WORKERS", "2")
        .env("AUTHD_LOG__LEVEL", "warn")
        .env("AUTHD_SIGNUP__AUTOCONFIRM", "true")
        .env("AUTHD_MAIL__OUTBOX_DIR", dir.join("mail"));
    for limit in ["SIGNUP", "PASSWORD", "REFRESH", "EMAIL", "VERIFY"] {
        command.env(format!("AUTHD_RATE_LIMITS__{limit}_PER_MINUTE"), "1000000");
    }
    command
}

/// One client's round: sign up, refresh, read the user, sign in. Every answer must be 200;
/// what was not is recorded.
fn round(port: u16, client: usize, n: usize, failures: &std::sync::Mutex<Vec<String>>) {
    let email = format!("roll-{client}-{n}@example.com");
    let check = |what: &str, answer: Option<(u16, Value)>| -> Option<Value> {
        match answer {
            Some((200, body)) => Some(body),
            other => {
                failures.lock().unwrap().push(format!("{what} {email}: {other:?}"));
                None
            }
        }
    };
    let body = json!({ "email": email, "password": PASSWORD });
    let Some(session) = check("sign-up", call_at(port, "POST", "/signup", Some(body.clone()), None)) else { return };
    let refresh = json!({ "refresh_token": session["refresh_token"] });
    let Some(session) = check("refresh", call_at(port, "POST", "/token?grant_type=refresh_token", Some(refresh), None))
    else {
        return;
    };
    let token = session["access_token"].as_str().unwrap_or_default().to_owned();
    check("get user", call_at(port, "GET", "/user", None, Some(&token)));
    check("sign-in", call_at(port, "POST", "/token?grant_type=password", Some(body), None));
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_restarted_one_by_one_under_load_fail_no_request() {
    let Some(program) = haproxy_program() else { return };
    let Some(db) = auth_testkit::postgres::test_database("rolling_restart").await else { return };
    let url = db.url().to_owned();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<u16> = (0..REPLICAS).map(|_| free_port()).collect();
        let mut replicas: Vec<Server> =
            ports.iter().map(|&port| Server::start_on(replica(dir.path(), &url), port)).collect();
        let haproxy = start_haproxy(&program, dir.path(), &ports);
        // Let every check pass twice (`rise 2`) before the load starts.
        std::thread::sleep(Duration::from_millis(800));

        let stop = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let (stop, rounds, failures, port) = (stop.clone(), rounds.clone(), failures.clone(), haproxy.port);
                std::thread::spawn(move || {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        round(port, client, n, &failures);
                        rounds.fetch_add(1, Ordering::Relaxed);
                        n += 1;
                    }
                })
            })
            .collect();

        for (i, &port) in ports.iter().enumerate() {
            std::thread::sleep(Duration::from_millis(500));
            let old = replicas.remove(i);
            old.signal("TERM");
            let (code, stderr) = old.wait(Duration::from_secs(30));
            assert_eq!(code, Some(0), "a replica stopped on SIGTERM exits with 0: {stderr}");
            replicas.insert(i, Server::start_on(replica(dir.path(), &url), port));
            // Back in the rotation once HAProxy's check passed twice.
            std::thread::sleep(Duration::from_millis(800));
        }
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
        for client in clients {
            client.join().unwrap();
        }
        let rounds = rounds.load(Ordering::Relaxed);
        let failures = failures.lock().unwrap();
        assert!(rounds >= 20, "the load kept going through the restarts ({rounds} rounds)");
        assert!(failures.is_empty(), "{} of {rounds} rounds saw a failure: {:#?}", failures.len(), &failures[..]);
        drop(haproxy);
        drop(replicas);
    })
    .await
    .unwrap();
}
