//! Database timeouts (security review M6): a row lock held by another session, and a PostgreSQL
//! that stops answering, end in a JSON 503/504 within bounded time instead of a hung request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use auth_testkit::postgres::test_database;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::process::{PASSWORD, Server, access_token, authd};

/// Far above every timeout configured below, far below a hung request. A correctness bound.
const BOUNDED: Duration = Duration::from_secs(15);

/// `postgres://user@host:port/db` → `host:port`.
fn authority(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    if host.contains(':') { host.to_owned() } else { format!("{host}:5432") }
}

fn assert_json_error(what: &str, (status, body): &(u16, Value), allowed: &[(u16, &str)]) {
    let pair = (*status, body["error_code"].as_str().unwrap_or_default());
    assert!(allowed.contains(&pair), "{what}: {status} {body}");
    assert_eq!(body["code"], *status, "{what}: {body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_locked_by_another_session_fails_the_write_at_lock_timeout_with_json_503() {
    let Some(db) = test_database("lock_timeout").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = db.url().to_owned();
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut command = authd(dir.path());
        command
            .env("AUTHD_DATABASE__URL", &url)
            .env("AUTHD_DATABASE__LOCK_TIMEOUT_MS", "500")
            .env("AUTHD_SIGNUP__AUTOCONFIRM", "true");
        let server = Server::start(command);
        let (status, session) = server.sign_up("locked@example.com", PASSWORD);
        assert_eq!(status, 200, "{session}");
        let access = access_token(&session);

        // Another session locks every user row and keeps its transaction open.
        let locker = runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            client.batch_execute("BEGIN; SELECT id FROM auth.users FOR UPDATE").await.unwrap();
            client
        });
        let started = Instant::now();
        let answer = server.call("PUT", "/user", Some(json!({ "data": { "a": 1 } })), Some(&access));
        assert_json_error("PUT /user on a locked row", &answer, &[(503, "service_unavailable")]);
        assert!(started.elapsed() < BOUNDED, "took {:?}", started.elapsed());

        // The lock released, the same write goes through.
        drop(locker);
        let deadline = Instant::now() + BOUNDED;
        loop {
            let (status, body) = server.call("PUT", "/user", Some(json!({ "data": { "a": 2 } })), Some(&access));
            if status == 200 {
                assert_eq!(body["user_metadata"]["a"], 2, "{body}");
                break;
            }
            assert!(Instant::now() < deadline, "the write did not succeed after the lock was released: {body}");
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap();
}

/// A TCP proxy to PostgreSQL that forwards until told to swallow: from then on every byte in
/// either direction is read and dropped, so connections stay open and nothing is answered.
async fn swallowing_proxy(upstream: String) -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let swallow = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&swallow);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(&upstream).await else { continue };
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::spawn(pump(client_read, server_write, Arc::clone(&flag)));
            tokio::spawn(pump(server_read, client_write, Arc::clone(&flag)));
        }
    });
    (port, swallow)
}

async fn pump(mut from: impl AsyncReadExt + Unpin, mut to: impl AsyncWriteExt + Unpin, swallow: Arc<AtomicBool>) {
    let mut buffer = [0u8; 8192];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if !swallow.load(Ordering::SeqCst) && to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_that_stops_answering_gets_json_503_or_504_in_bounded_time() {
    let Some(db) = test_database("stops_answering").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let (port, swallow) = swallowing_proxy(authority(db.url())).await;
    let url = format!("postgres://postgres@127.0.0.1:{port}/{}", db.name());
    tokio::task::spawn_blocking(move || {
        let mut command = authd(dir.path());
        command
            .env("AUTHD_DATABASE__URL", &url)
            .env("AUTHD_DATABASE__MAX_CONNECTIONS", "1")
            .env("AUTHD_DATABASE__CONNECT_TIMEOUT_SECS", "1")
            .env("AUTHD_SERVER__REQUEST_TIMEOUT_SECS", "3")
            .env("AUTHD_SIGNUP__AUTOCONFIRM", "true");
        let server = Arc::new(Server::start(command));
        let (status, session) = server.sign_up("silent@example.com", PASSWORD);
        assert_eq!(status, 200, "{session}");
        let access = access_token(&session);

        swallow.store(true, Ordering::SeqCst);
        // The first request takes the pool's one connection and waits on a silent server until
        // the request deadline; the second waits for that connection until the pool gives up.
        let first = {
            let (server, access) = (Arc::clone(&server), access.clone());
            std::thread::spawn(move || {
                let started = Instant::now();
                (server.get_user(&access), started.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(300));
        let started = Instant::now();
        let second = server.get_user(&access);
        let second_took = started.elapsed();
        let (first, first_took) = first.join().unwrap();

        // Whoever held the connection (the first request, or a background task that got there
        // first) hangs; the request deadline or the pool's wait answers, never a hang.
        assert_json_error(
            "GET /user on a silent database",
            &first,
            &[(504, "request_timeout"), (503, "service_unavailable")],
        );
        assert_json_error("GET /user waiting for the pool", &second, &[(503, "service_unavailable")]);
        assert!(first_took < BOUNDED && second_took < BOUNDED, "took {first_took:?} and {second_took:?}");
    })
    .await
    .unwrap();
}
