//! PostgreSQL down or restarting: requests fail fast with a JSON 503, the process stays up, and
//! service resumes by itself when the database is back, with nothing half-written.
//!
//! The outage is simulated by a TCP proxy between authd and PostgreSQL, switched off (every open
//! connection cut, new ones refused) and on again on the same port; PostgreSQL itself is untouched.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth_testkit::postgres::test_database;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use serde_json::Value;

use crate::process::{PASSWORD, Server, access_token, authd, json};
/// "Fast": far below the minutes a request could hang on an unreachable database, far above
/// the 2 s connect timeout the server is given. A correctness bound, not a benchmark.
const FAST: Duration = Duration::from_secs(10);
/// How long the server may take to notice that the database is back.
const RECOVERY: Duration = Duration::from_secs(30);

/// A TCP proxy to PostgreSQL that can be switched off and on again on the same port.
struct Proxy {
    port: u16,
    upstream: String,
    runtime: Handle,
    accepting: Option<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// Listens on a free port and forwards every connection to `upstream` (`host:port`).
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut proxy =
            Proxy { port, upstream, runtime: Handle::current(), accepting: None, connections: Arc::default() };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: TcpListener) {
        let upstream = self.upstream.clone();
        let connections = Arc::clone(&self.connections);
        self.accepting = Some(self.runtime.spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { continue };
                let upstream = upstream.clone();
                let forwarding = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                connections.lock().unwrap().push(forwarding);
            }
        }));
    }

    /// Stops accepting (the port refuses connections) and cuts every open connection. Returns
    /// once all of that has happened. Called from a blocking thread.
    fn off(&mut self) {
        let accepting = self.accepting.take().expect("the proxy is on");
        self.runtime.block_on(async {
            accepting.abort();
            let _ = accepting.await;
            // The accept loop is gone: nothing adds to the list any more.
            let open: Vec<JoinHandle<()>> = std::mem::take(&mut *self.connections.lock().unwrap());
            for connection in &open {
                connection.abort();
            }
            for connection in open {
                let _ = connection.await;
            }
        });
    }

    /// Listens on the same port again. Called from a blocking thread.
    fn on(&mut self) {
        assert!(self.accepting.is_none(), "the proxy is off");
        let port = self.port;
        let listener = self.runtime.block_on(async {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match TcpListener::bind(("127.0.0.1", port)).await {
                    Ok(listener) => break listener,
                    Err(e) => assert!(Instant::now() < deadline, "cannot listen on port {port} again: {e}"),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        self.serve(listener);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(accepting) = self.accepting.take() {
            accepting.abort();
        }
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }
}

/// Splits `postgres://user@host:port/db?query` into the upstream `host:port` and the URL with
/// that authority replaced by the proxy's.
fn through_proxy(url: &str, proxy_port: u16) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let (user, host) = match authority.rsplit_once('@') {
        Some((user, host)) => (format!("{user}@"), host),
        None => (String::new(), authority),
    };
    let upstream = if host.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        host.to_owned()
    } else {
        format!("{host}:5432")
    };
    (upstream, format!("{scheme}://{user}127.0.0.1:{proxy_port}{path}"))
}

/// Runs a request while the database is down: it must answer 503 with the JSON error body of
/// `service_unavailable`, within [`FAST`].
fn assert_fast_503(what: &str, request: impl FnOnce() -> (u16, Value)) {
    let started = Instant::now();
    let (status, error) = request();
    let took = started.elapsed();
    let body = error.to_string();
    assert_eq!(status, 503, "{what} while PostgreSQL is down: {body}");
    assert_eq!(error["error_code"], "service_unavailable", "{what}: {body}");
    assert_eq!(error["code"], 503, "{what}: {body}");
    assert!(error["msg"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {body}");
    assert!(!body.contains("postgres://") && !body.contains("127.0.0.1"), "{what} leaks details: {body}");
    assert!(took < FAST, "{what} took {took:?} to fail while PostgreSQL is down");
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_fail_fast_with_503_while_postgres_is_down_and_recover_after() {
    let Some(db) = test_database("outage").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let (upstream, _) = through_proxy(db.url(), 0);
    let mut proxy = Proxy::start(upstream).await;
    let (_, url) = through_proxy(db.url(), proxy.port);
    tokio::task::spawn_blocking(move || {
        let mut command = authd(dir.path());
        command
            .env("AUTHD_DATABASE__URL", &url)
            .env("AUTHD_DATABASE__CONNECT_TIMEOUT_SECS", "2")
            .env("AUTHD_SIGNUP__AUTOCONFIRM", "true");
        let mut server = Server::start(command);

        // 1. Before the outage: a user with a session.
        let (status, session) = server.sign_up("ada@example.com", PASSWORD);
        assert_eq!(status, 200, "{session}");
        let access = access_token(&session);
        let refresh_token = session["refresh_token"].as_str().unwrap().to_owned();
        assert_eq!(server.get_user(&access).0, 200);
        assert_eq!(server.get("/auth/v1/ready").unwrap(), (200, r#"{"status":"ready"}"#.to_owned()));

        // 2. PostgreSQL goes away: pooled connections are cut, new ones are refused.
        proxy.off();
        assert_fast_503("a sign-up", || server.sign_up("bob@example.com", PASSWORD));
        assert_fast_503("a password sign-in", || server.sign_in("ada@example.com", PASSWORD));
        assert_fast_503("a refresh", || server.refresh(&refresh_token));
        assert_fast_503("GET /user", || server.get_user(&access));
        // Liveness does not depend on the database: it still answers 200 "ok".
        let (status, body) = server.get("/auth/v1/health").expect("health answers during the outage");
        assert_eq!(status, 200, "{body}");
        assert_eq!(json(&body)["status"], "ok");
        // Readiness does: a quick 503 `not_ready`, so a load balancer stops sending traffic here.
        let started = Instant::now();
        let (status, body) = server.get("/auth/v1/ready").expect("ready answers during the outage");
        assert_eq!((status, json(&body)["error_code"].as_str()), (503, Some("not_ready")), "{body}");
        assert!(started.elapsed() < FAST, "readiness took {:?} while PostgreSQL is down", started.elapsed());
        assert!(!body.contains("127.0.0.1"), "readiness leaks details: {body}");
        assert!(server.child.try_wait().unwrap().is_none(), "authd exited during the outage");

        // 3. PostgreSQL is back: the same process serves again, without a restart.
        proxy.on();
        let deadline = Instant::now() + RECOVERY;
        loop {
            let (status, body) = server.sign_in("ada@example.com", PASSWORD);
            if status == 200 {
                break;
            }
            assert_eq!(status, 503, "only 503 while reconnecting: {body}");
            assert!(Instant::now() < deadline, "sign-in did not recover within {RECOVERY:?}: {body}");
            std::thread::sleep(Duration::from_millis(100));
        }

        assert_eq!(server.get("/auth/v1/ready").unwrap().0, 200, "ready again once PostgreSQL is back");

        // The refresh that failed consumed nothing: the token from before the outage is still
        // the live one and rotates (an unused token simply rotates).
        let (status, rotated) = server.refresh(&refresh_token);
        assert_eq!(status, 200, "the refresh token from before the outage still rotates: {rotated}");
        let successor = rotated["refresh_token"].as_str().unwrap();
        assert_ne!(successor, refresh_token, "a new refresh token");
        assert_eq!(server.get_user(&access_token(&rotated)).0, 200);
        assert_eq!(server.get_user(&access).0, 200, "the session survived the outage");
        let (status, body) = server.refresh(successor);
        assert_eq!(status, 200, "the chain goes on from the successor: {body}");

        // The sign-up that failed left no user behind: signing in fails as for any unknown
        // address, and the address can be signed up now.
        let (status, body) = server.sign_in("bob@example.com", PASSWORD);
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error_code"], "invalid_credentials", "{body}");
        let (status, body) = server.sign_up("bob@example.com", PASSWORD);
        assert_eq!(status, 200, "the address is free after the failed sign-up: {body}");
        assert_eq!(server.sign_in("bob@example.com", PASSWORD).0, 200);
        assert!(server.child.try_wait().unwrap().is_none(), "authd is still running");
    })
    .await
    .unwrap();
}
