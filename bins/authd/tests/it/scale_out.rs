//! Several replicas on one PostgreSQL database behave as one server: a rate limit, a password
//! throttle or a mail throttle counts across them (`rate_limits.store`).

use std::process::Command;

use serde_json::json;

use crate::process::{Server, authd};

/// Two replicas on `url`, with a per-IP sign-in limit of 4 a minute, counting in `store`.
fn replicas(dir: &std::path::Path, url: &str, store: &str, extra: &[(&str, &str)]) -> (Server, Server) {
    let replica = || {
        let mut command: Command = authd(dir);
        command
            .env("AUTHD_DATABASE__URL", url)
            .env("AUTHD_RATE_LIMITS__PASSWORD_PER_MINUTE", "4")
            .env("AUTHD_RATE_LIMITS__STORE", store)
            .env("AUTHD_MAIL__OUTBOX_DIR", dir.join("mail"));
        for (key, value) in extra {
            command.env(key, value);
        }
        command
    };
    (Server::start(replica()), Server::start(replica()))
}

/// Sign-in attempts alternating between the replicas: how many were refused with 429.
fn refused_sign_ins(a: &Server, b: &Server, attempts: usize) -> usize {
    (0..attempts)
        .filter(|i| {
            let server = if i % 2 == 0 { a } else { b };
            let (status, body) = server.sign_in("nobody@example.com", "wrong password");
            assert!(status == 429 || status == 400, "{status} {body}");
            status == 429
        })
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_count_one_limit_in_the_database_and_apart_in_memory() {
    let Some(db) = auth_testkit::postgres::test_database("scale_shared_limits").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = db.url().to_owned();
    tokio::task::spawn_blocking(move || {
        // The default on PostgreSQL: counted in the database, so 4 of 8 go through, not 8.
        let (a, b) = replicas(dir.path(), &url, "database", &[]);
        assert_eq!(refused_sign_ins(&a, &b, 8), 4, "both replicas count against one limit");
        // The per-address mail throttle too: a second reset mail within the interval is refused
        // whichever replica is asked.
        assert_eq!(a.post("/recover", json!({"email": "ada@example.com"})).0, 200);
        let (status, body) = b.post("/recover", json!({"email": "ada@example.com"}));
        assert_eq!((status, body["error_code"].as_str()), (429, Some("over_email_send_rate_limit")), "{body}");
        drop((a, b));

        // In memory each replica counts for itself: the N-times-the-limit that shared stores fix.
        let (a, b) = replicas(dir.path(), &url, "memory", &[]);
        assert_eq!(refused_sign_ins(&a, &b, 8), 0);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_count_one_limit_in_redis() {
    let redis_up = std::net::TcpStream::connect(("127.0.0.1", 6379)).is_ok();
    if !redis_up {
        assert!(
            !std::env::var("AUTHD_TEST_REQUIRE_REDIS").is_ok_and(|v| v == "1"),
            "Redis is required (AUTHD_TEST_REQUIRE_REDIS=1) but nothing listens on 127.0.0.1:6379"
        );
        eprintln!("*** SKIPPING a Redis test: nothing listens on 127.0.0.1:6379");
        return;
    }
    let Some(db) = auth_testkit::postgres::test_database("scale_redis_limits").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = db.url().to_owned();
    let prefix = format!("authd-test:{}:scale:", std::process::id());
    tokio::task::spawn_blocking(move || {
        let settings = [
            ("AUTHD_RATE_LIMITS__REDIS_URL", "redis://127.0.0.1:6379"),
            ("AUTHD_RATE_LIMITS__REDIS_KEY_PREFIX", &prefix),
        ];
        let (a, b) = replicas(dir.path(), &url, "redis", &settings);
        assert_eq!(refused_sign_ins(&a, &b, 8), 4, "both replicas count against one limit");
    })
    .await
    .unwrap();
}

/// Polls `check` until it holds or `within` has passed; answers how long it took.
fn within(within: std::time::Duration, mut check: impl FnMut() -> bool) -> Option<std::time::Duration> {
    let started = std::time::Instant::now();
    while started.elapsed() < within {
        if check() {
            return Some(started.elapsed());
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_rotated_or_retired_by_the_cli_takes_effect_on_every_replica_within_a_second() {
    use crate::process::{PASSWORD, access_token, json_output, kid, ok, run};
    let Some(db) = auth_testkit::postgres::test_database("scale_key_notify").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = db.url().to_owned();
    tokio::task::spawn_blocking(move || {
        // Polling alone would take up to ten minutes: what is seen within a second was notified.
        let configured = || {
            let mut command = authd(dir.path());
            command
                .env("AUTHD_DATABASE__URL", &url)
                .env("AUTHD_SIGNUP__AUTOCONFIRM", "true")
                .env("AUTHD_JWT__KEY_RELOAD_SECS", "600")
                .env("AUTHD_JWT__KEY_PUBLISH_DELAY_SECS", "1200");
            command
        };
        let (a, b) = (Server::start(configured()), Server::start(configured()));
        let token = access_token(&ok(a.sign_up("kim@example.com", PASSWORD)));
        let first = kid(&token);
        let signing_kid = |server: &Server| kid(&access_token(&ok(server.sign_in("kim@example.com", PASSWORD))));

        let rotated = json_output(&run(configured().args(["keys", "rotate", "--now", "--json"])));
        let second = rotated["kid"].as_str().unwrap_or_else(|| panic!("{rotated}")).to_owned();
        for server in [&a, &b] {
            let took = within(std::time::Duration::from_secs(1), || signing_kid(server) == second);
            assert!(took.is_some(), "a replica still signs with {first} a second after `keys rotate --now`");
        }
        assert_eq!(a.get_user(&token).0, 200, "the old key still verifies");

        let retired = json_output(&run(configured().args(["keys", "retire", &first, "--json"])));
        assert_eq!(retired["kid"].as_str().or(retired["retired"]["kid"].as_str()), Some(first.as_str()), "{retired}");
        for server in [&a, &b] {
            let took = within(std::time::Duration::from_secs(1), || server.get_user(&token).0 == 403);
            assert!(took.is_some(), "a replica still accepts a token of {first} a second after `keys retire`");
        }
    })
    .await
    .unwrap();
}
