//! Fault injection: a fault strikes replicas under sign-up, refresh, read and sign-in load, and
//! afterwards the database is checked for what must hold whatever happened:
//!
//! - no half-written user: every user has a session (sign-up with autoconfirm writes both);
//! - no session without its refresh token;
//! - no refresh-token family with two live tokens;
//! - every 2xx answer's effect is in the database: each signed-up user is there, and the last
//!   refresh token each client was given (or, when that answer was lost, the one before it,
//!   within `sessions.lost_answer_window_secs`) still refreshes on a surviving replica.
//!
//! Each fault is bounded in time (a few seconds of load); the suite stays well under a minute.
//! PostgreSQL outages through a proxy are in `outage`, and a stalled database in `db_timeouts`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::process::{PASSWORD, Server, authd};
use crate::rolling_restart::call_at;

/// What a client was told with a 2xx answer, to check against the database afterwards.
#[derive(Debug, Default, Clone)]
struct Acknowledged {
    /// Users whose sign-up answered 200.
    users: Vec<String>,
    /// Per session this client holds: the refresh token of its last 200 (or the one presented
    /// when the answer was lost).
    refresh_tokens: Vec<String>,
}

/// A replica with limits out of the load's reach.
fn replica(dir: &std::path::Path, url: &str) -> std::process::Command {
    let mut command = authd(dir);
    command
        .env("AUTHD_DATABASE__URL", url)
        .env("AUTHD_SERVER__WORKERS", "2")
        .env("AUTHD_DATABASE__CONNECT_TIMEOUT_SECS", "2")
        .env("AUTHD_LOG__LEVEL", "error")
        .env("AUTHD_SIGNUP__AUTOCONFIRM", "true")
        .env("AUTHD_MAIL__OUTBOX_DIR", dir.join("mail"));
    for limit in ["SIGNUP", "PASSWORD", "REFRESH", "EMAIL", "VERIFY"] {
        command.env(format!("AUTHD_RATE_LIMITS__{limit}_PER_MINUTE"), "1000000");
    }
    command
}

/// One client: rounds of sign-up, refresh, read and sign-in on `port` until `stop`, or until the
/// replica stops answering (`stop_on_silence`). Answers other than 200 must be `503` (the fault
/// itself) or a connection failure; anything else is recorded in `unexpected`.
fn client(
    port: u16,
    name: String,
    stop: &AtomicBool,
    stop_on_silence: bool,
    unexpected: &Mutex<Vec<String>>,
) -> Acknowledged {
    let mut acknowledged = Acknowledged::default();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let email = format!("{name}-{n}@example.com");
        let credentials = json!({ "email": email, "password": PASSWORD });
        let mut silent = false;
        let mut answer = |what: &str, reply: Option<(u16, Value)>| -> Option<Value> {
            match reply {
                Some((200, body)) => Some(body),
                Some((503, _)) => None,
                None => {
                    silent = true;
                    None
                }
                Some(other) => {
                    unexpected.lock().unwrap().push(format!("{what} {email}: {other:?}"));
                    None
                }
            }
        };
        if let Some(session) = answer("sign-up", call_at(port, "POST", "/signup", Some(credentials.clone()), None)) {
            acknowledged.users.push(session["user"]["id"].as_str().unwrap_or_default().to_owned());
            let mut held = session["refresh_token"].as_str().unwrap_or_default().to_owned();
            let refresh = json!({ "refresh_token": held });
            if let Some(next) =
                answer("refresh", call_at(port, "POST", "/token?grant_type=refresh_token", Some(refresh), None))
            {
                held = next["refresh_token"].as_str().unwrap_or_default().to_owned();
                let token = next["access_token"].as_str().unwrap_or_default().to_owned();
                answer("get user", call_at(port, "GET", "/user", None, Some(&token)));
            }
            acknowledged.refresh_tokens.push(held);
            if let Some(other) =
                answer("sign-in", call_at(port, "POST", "/token?grant_type=password", Some(credentials), None))
            {
                acknowledged.refresh_tokens.push(other["refresh_token"].as_str().unwrap_or_default().to_owned());
            }
        }
        if silent && stop_on_silence {
            break;
        }
        if silent {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    acknowledged
}

/// Runs `clients` clients against `port` while `fault` runs; returns what they were told.
fn under_load(port: u16, clients: usize, stop_on_silence: bool, fault: impl FnOnce()) -> (Acknowledged, Vec<String>) {
    let stop = Arc::new(AtomicBool::new(false));
    let unexpected = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let (stop, unexpected) = (Arc::clone(&stop), Arc::clone(&unexpected));
            let name = format!("fault-{}-{i}", std::process::id());
            std::thread::spawn(move || client(port, name, &stop, stop_on_silence, &unexpected))
        })
        .collect();
    fault();
    stop.store(true, Ordering::Relaxed);
    let mut all = Acknowledged::default();
    for thread in threads {
        let one = thread.join().unwrap();
        all.users.extend(one.users);
        all.refresh_tokens.extend(one.refresh_tokens);
    }
    let unexpected = unexpected.lock().unwrap().clone();
    (all, unexpected)
}

/// The database-wide invariants, as counts of violations.
async fn check_invariants(url: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let count = async |sql: &str| -> i64 { client.query_one(sql, &[]).await.unwrap().get(0) };
    let users: i64 = count("SELECT count(*) FROM auth.users").await;
    assert!(users > 0, "the load signed somebody up");
    let without_session = count(
        "SELECT count(*) FROM auth.users u WHERE NOT EXISTS (SELECT 1 FROM auth.sessions s WHERE s.user_id = u.id)",
    )
    .await;
    assert_eq!(without_session, 0, "a user without the session its sign-up wrote");
    let without_token = count(
        "SELECT count(*) FROM auth.sessions s WHERE NOT EXISTS \
         (SELECT 1 FROM auth.refresh_tokens t WHERE t.session_id = s.id)",
    )
    .await;
    assert_eq!(without_token, 0, "a session without its refresh token");
    let forked = count(
        "SELECT count(*) FROM (SELECT session_id FROM auth.refresh_tokens \
         WHERE used_at IS NULL AND revoked_at IS NULL GROUP BY session_id HAVING count(*) > 1) f",
    )
    .await;
    assert_eq!(forked, 0, "a refresh-token family with two live tokens");
}

/// Every acknowledged user is in the database, and every refresh token a client holds still
/// refreshes on `port` (a surviving or recovered replica).
async fn check_acknowledged(url: &str, port: u16, acknowledged: &Acknowledged) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    for id in &acknowledged.users {
        let found: i64 =
            client.query_one("SELECT count(*) FROM auth.users WHERE id::text = $1", &[id]).await.unwrap().get(0);
        assert_eq!(found, 1, "user {id} was answered 200 at sign-up but is not stored");
    }
    let tokens = acknowledged.refresh_tokens.clone();
    let refused: Vec<(u16, Value)> = tokio::task::spawn_blocking(move || {
        tokens
            .iter()
            .filter_map(|token| {
                let body = json!({ "refresh_token": token });
                let answer = call_at(port, "POST", "/token?grant_type=refresh_token", Some(body), None);
                answer.filter(|(status, _)| *status != 200)
            })
            .collect()
    })
    .await
    .unwrap();
    assert!(refused.is_empty(), "tokens given with a 200 no longer refresh: {refused:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_of_a_replica_under_load_leaves_every_answer_in_the_database() {
    let Some(db) = auth_testkit::postgres::test_database("faults_kill9").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = db.url().to_owned();
    let (acknowledged, unexpected, survivor) = {
        let (url, dir) = (url.clone(), dir.path().to_owned());
        tokio::task::spawn_blocking(move || {
            let mut victim = Server::start(replica(&dir, &url));
            let survivor = Server::start(replica(&dir, &url));
            let port = victim.port;
            let (acknowledged, unexpected) = under_load(port, 4, true, || {
                std::thread::sleep(Duration::from_millis(2500));
                // SIGKILL: no drain, no graceful stop; transactions in flight are cut.
                victim.child.kill().unwrap();
                victim.child.wait().unwrap();
            });
            (acknowledged, unexpected, survivor)
        })
        .await
        .unwrap()
    };
    assert!(unexpected.is_empty(), "answers other than 200, 503 or a cut connection: {unexpected:#?}");
    assert!(acknowledged.users.len() >= 4, "the load ran before the kill: {acknowledged:?}");
    check_invariants(&url).await;
    check_acknowledged(&url, survivor.port, &acknowledged).await;
    drop(survivor);
}

#[tokio::test(flavor = "multi_thread")]
async fn terminated_database_connections_cost_at_most_503s_and_the_pool_recovers() {
    let Some(db) = auth_testkit::postgres::test_database("faults_terminate").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = db.url().to_owned();
    let server = {
        let (url, dir) = (url.clone(), dir.path().to_owned());
        tokio::task::spawn_blocking(move || Server::start(replica(&dir, &url))).await.unwrap()
    };
    let port = server.port;
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let admin = Arc::new(admin);
    let runtime = tokio::runtime::Handle::current();
    let (acknowledged, unexpected) = {
        let admin = Arc::clone(&admin);
        tokio::task::spawn_blocking(move || {
            under_load(port, 4, false, || {
                // Five times in three seconds, every connection authd holds is terminated by the
                // server, as a failover or an operator's pg_terminate_backend would.
                for _ in 0..5 {
                    std::thread::sleep(Duration::from_millis(600));
                    runtime
                        .block_on(admin.execute(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                             WHERE datname = current_database() AND pid <> pg_backend_pid()",
                            &[],
                        ))
                        .unwrap();
                }
                std::thread::sleep(Duration::from_millis(500));
            })
        })
        .await
        .unwrap()
    };
    assert!(unexpected.is_empty(), "answers other than 200 or 503: {unexpected:#?}");
    assert!(acknowledged.users.len() >= 4, "the load kept going: {acknowledged:?}");
    check_invariants(&url).await;
    check_acknowledged(&url, port, &acknowledged).await;
    drop(server);
}

/// A `redis-server` of the test's own on `port`, without persistence; killed when dropped.
struct OwnRedis(std::process::Child);

impl OwnRedis {
    fn start(port: u16) -> Option<OwnRedis> {
        let child = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let redis = OwnRedis(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(redis);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// With `rate_limits.store = "redis"`, a Redis that goes away closes the limits: every limited
/// request answers `503` within the Redis timeout (never let through, never a hang), requests
/// that count nothing (reading the user) keep working, and the limits count again as soon as
/// Redis is back, without a restart.
#[tokio::test(flavor = "multi_thread")]
async fn redis_down_refuses_limited_requests_with_503_until_it_is_back() {
    if std::process::Command::new("redis-server").arg("--version").output().is_err() {
        assert!(
            !std::env::var("AUTHD_TEST_REQUIRE_REDIS").is_ok_and(|v| v == "1"),
            "Redis is required (AUTHD_TEST_REQUIRE_REDIS=1) but there is no redis-server program"
        );
        eprintln!("*** SKIPPING a Redis fault test: no redis-server program");
        return;
    }
    let Some(db) = auth_testkit::postgres::test_database("faults_redis").await else { return };
    let url = db.url().to_owned();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let port = crate::process::free_port();
        let redis = OwnRedis::start(port).expect("redis-server starts");
        let mut command = replica(dir.path(), &url);
        command
            .env("AUTHD_RATE_LIMITS__STORE", "redis")
            .env("AUTHD_RATE_LIMITS__REDIS_URL", format!("redis://127.0.0.1:{port}"));
        let server = Server::start(command);
        let (status, session) = server.sign_up("redis-fault@example.com", PASSWORD);
        assert_eq!(status, 200, "{session}");
        let access = crate::process::access_token(&session);

        drop(redis);
        let started = std::time::Instant::now();
        let (status, body) = server.sign_in("redis-fault@example.com", PASSWORD);
        assert_eq!(status, 503, "a limit that cannot count refuses: {body}");
        assert!(started.elapsed() < Duration::from_secs(10), "refused within the Redis timeout");
        assert_eq!(server.get_user(&access).0, 200, "requests that count nothing still work");

        let _redis = OwnRedis::start(port).expect("redis-server starts again");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = server.sign_in("redis-fault@example.com", PASSWORD);
            if status == 200 {
                break;
            }
            assert_eq!(status, 503, "{body}");
            assert!(std::time::Instant::now() < deadline, "limits count again once Redis is back");
            std::thread::sleep(Duration::from_millis(200));
        }
    })
    .await
    .unwrap();
}
