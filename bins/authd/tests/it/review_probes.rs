//! The independent security review's probes (its section 0 and each finding's "probe"), run
//! black-box against a real `authd serve` on SQLite and on PostgreSQL: each test does what the
//! probe does and asserts that what the review saw no longer happens. docs/security.md maps
//! every finding to its fix and to these tests.
//!
//! Grey-box steps (a failure injected with a trigger, a row aged by hand, a stored hash swapped
//! for an imported one) go straight to the database, as the review's own probes do.

mod high;
mod hostile;
mod low;
mod medium;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use auth_testkit::smtp::{Behaviour, Sink};
use diesel::connection::SimpleConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection, sql_query};
use serde_json::{Value, json};
use tokio::runtime::Handle;

pub(crate) use crate::email::{Backend, Mailbox, TestStore, expired};
use crate::process::{PASSWORD, Server, authd, free_port, json_output, run};

/// `site.url` of every probe's deployment.
const SITE: &str = "http://app.example.test";

/// One probe's deployment: a fresh database of one backend, a mail sink, `authd serve` on them.
pub(crate) struct Deployment {
    pub backend: Backend,
    pub store: TestStore,
    pub sink: Sink,
    pub server: Server,
    runtime: Handle,
}

/// The environment every probe's server gets: mail through the sink, and the limits that would
/// slow a probe down switched off (a probe about a limit sets its own).
fn base_command(store: &TestStore, sink: &Sink) -> Command {
    let mut command = authd(store.dir.path());
    command
        .env("AUTHD_DATABASE__URL", &store.url)
        .env("AUTHD_SMTP__HOST", "127.0.0.1")
        .env("AUTHD_SMTP__PORT", sink.port().to_string())
        .env("AUTHD_SMTP__SECURITY", "none")
        .env("AUTHD_SMTP__FROM_ADDRESS", "auth@example.test")
        .env("AUTHD_SITE__URL", SITE)
        // Nobody reads the server's stderr until it stops: keep it to warnings.
        .env("AUTHD_LOG__LEVEL", "warn")
        .env("AUTHD_OTP__SEND_INTERVAL_SECS", "0")
        .env("AUTHD_OTP__ANSWER_FLOOR_MS", "0")
        .env("AUTHD_RATE_LIMITS__EMAIL_PER_MINUTE", "0")
        .env("AUTHD_RATE_LIMITS__VERIFY_PER_MINUTE", "0")
        .env("AUTHD_RATE_LIMITS__SIGNUP_PER_MINUTE", "0")
        .env("AUTHD_RATE_LIMITS__PASSWORD_PER_MINUTE", "0");
    command
}

/// Runs `probe` against authd on a fresh database of `backend`, with `env` on top of the base
/// environment. Skipped (as every PostgreSQL test) when PostgreSQL is not available.
pub(crate) async fn probe(
    backend: Backend,
    name: &str,
    env: &'static [(&'static str, &'static str)],
    probe: impl FnOnce(&Deployment) + Send + 'static,
) {
    let Some(store) = TestStore::new(backend, name).await else { return };
    let sink = Sink::start(Behaviour::default()).await;
    let runtime = Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut command = base_command(&store, &sink);
        command.envs(env.iter().copied());
        let server = Server::start(command);
        let deployment = Deployment { backend, store, sink, server, runtime };
        probe(&deployment);
    })
    .await
    .unwrap();
}

/// A probe as two tests, `<probe>::on_sqlite` and `<probe>::on_postgres`, with extra
/// environment for the server.
macro_rules! on_both_backends {
    ($probe:ident) => {
        on_both_backends!($probe, &[]);
    };
    ($probe:ident, $env:expr) => {
        mod $probe {
            // The environment may name the probe module's constants.
            #[allow(unused_imports)]
            use super::*;
            use crate::review_probes::{Backend, probe};

            #[tokio::test(flavor = "multi_thread")]
            async fn on_sqlite() {
                probe(Backend::Sqlite, stringify!($probe), $env, super::$probe).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn on_postgres() {
                probe(Backend::Postgres, stringify!($probe), $env, super::$probe).await;
            }
        }
    };
}
pub(crate) use on_both_backends;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    t: String,
}

/// Runs `authd serve` that must refuse to start: its stderr, once it has exited with status 1
/// (a server that starts instead is stopped and fails the test).
pub(crate) fn refused_start(mut command: Command) -> String {
    let mut child = command
        .env("AUTHD_SERVER__PORT", free_port().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("authd started instead of refusing to");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

impl Deployment {
    /// A fresh mailbox on the deployment's sink.
    pub fn mailbox(&self) -> Mailbox<'_> {
        Mailbox::new(&self.sink)
    }

    /// Another `authd` command on the same database and configuration folder.
    pub fn command(&self) -> Command {
        base_command(&self.store, &self.sink)
    }

    /// The service-role key, as `authd keys api` prints it.
    pub fn service_key(&self) -> String {
        let keys = json_output(&run(self.command().args(["keys", "api", "--json"])));
        keys["service_role_key"].as_str().unwrap().to_owned()
    }

    /// An admin API call with the service-role key.
    pub fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.server.call(method, path, body, Some(&self.service_key()))
    }

    /// Signs up `email` with [`PASSWORD`] and confirms it with the mailed code; the session.
    pub fn confirmed_user(&self, mailbox: &mut Mailbox<'_>, email: &str) -> Value {
        let (status, user) = self.server.sign_up(email, PASSWORD);
        assert_eq!(status, 200, "{user}");
        let code = mailbox.next(email).code();
        let (status, session) = self.server.post("/verify", json!({"type": "signup", "email": email, "token": code}));
        assert_eq!(status, 200, "{session}");
        session
    }

    /// SQL for this backend: `auth.` names PostgreSQL's schema; SQLite has none.
    fn dialect(&self, sql: &str) -> String {
        match self.backend {
            Backend::Postgres => sql.to_owned(),
            Backend::Sqlite => sql.replace("auth.", ""),
        }
    }

    fn sqlite(&self) -> SqliteConnection {
        let path = self.store.url.strip_prefix("sqlite://").unwrap();
        let mut connection = SqliteConnection::establish(path).unwrap();
        sql_query("PRAGMA busy_timeout = 10000").execute(&mut connection).unwrap();
        connection
    }

    fn postgres(&self) -> tokio_postgres::Client {
        self.runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&self.store.url, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            client
        })
    }

    /// The text a `SELECT … AS t` answers (one row).
    pub fn text(&self, sql: &str) -> String {
        let sql = self.dialect(sql);
        match self.backend {
            Backend::Sqlite => sql_query(&sql).get_result::<Text>(&mut self.sqlite()).unwrap().t,
            Backend::Postgres => {
                let client = self.postgres();
                self.runtime.block_on(client.query_one(&sql, &[])).unwrap_or_else(|e| panic!("{e}: {sql}")).get(0)
            }
        }
    }

    /// Runs statements on the database (one per `sql` on SQLite).
    pub fn sql(&self, sql: &str) {
        let sql = self.dialect(sql);
        match self.backend {
            Backend::Sqlite => {
                self.sqlite().batch_execute(&sql).unwrap_or_else(|e| panic!("{e}: {sql}"));
            }
            Backend::Postgres => {
                let client = self.postgres();
                self.runtime.block_on(client.batch_execute(&sql)).unwrap_or_else(|e| panic!("{e}: {sql}"));
            }
        }
    }

    /// The number a `SELECT count(*) AS n …` answers.
    pub fn count(&self, sql: &str) -> i64 {
        let sql = self.dialect(sql);
        match self.backend {
            Backend::Sqlite => sql_query(&sql).get_result::<Count>(&mut self.sqlite()).unwrap().n,
            Backend::Postgres => {
                let client = self.postgres();
                self.runtime.block_on(client.query_one(&sql, &[])).unwrap_or_else(|e| panic!("{e}: {sql}")).get(0)
            }
        }
    }
}

/// Status and `error_code` of a JSON answer.
pub(crate) fn outcome(answer: (u16, Value)) -> (u16, Option<String>) {
    (answer.0, answer.1["error_code"].as_str().map(str::to_owned))
}

/// Asserts that a refusal is a JSON error with a code, not a crash.
pub(crate) fn assert_json_error(what: &str, (status, body): &(u16, Value)) {
    assert!((400..600).contains(status), "{what}: {status} {body}");
    assert!(body["error_code"].is_string() || body["code"].is_string(), "{what}: no error code in {body}");
}
