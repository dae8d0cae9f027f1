//! PgBouncer in transaction mode in front of the tests' PostgreSQL server.
//!
//! One PgBouncer per test process, started on a free loopback port with a configuration of its
//! own (`pool_mode = transaction`, every database of the server reachable by its name), run as an
//! unprivileged user (`postgres` when the tests run as root), and stopped when the process ends.
//! Without the `pgbouncer` program its tests are skipped with a loud message, unless
//! `AUTHD_TEST_REQUIRE_PGBOUNCER=1` makes that a failure. The server must let the tests' user in
//! without a password from loopback, as the rest of the PostgreSQL tests assume.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Once;
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::postgres::{TestDatabase, is_root, run, test_database};

/// Set to `1` to fail, rather than skip, when PgBouncer cannot be started.
pub const REQUIRE_ENV: &str = "AUTHD_TEST_REQUIRE_PGBOUNCER";

static BOUNCER: OnceCell<Result<Bouncer, String>> = OnceCell::const_new();
static SKIP_NOTICE: Once = Once::new();

/// The running PgBouncer: where it listens, as whom the tests connect.
#[derive(Debug, Clone)]
struct Bouncer {
    port: u16,
    user: String,
}

/// A test database reached two ways: through PgBouncer in transaction mode, and directly.
#[derive(Debug)]
pub struct BouncedDatabase {
    database: TestDatabase,
    pooled_url: String,
}

impl BouncedDatabase {
    /// The database through PgBouncer (transaction pooling).
    pub fn url(&self) -> &str {
        &self.pooled_url
    }

    /// The same database on the server itself (for migrations and `LISTEN`).
    pub fn direct_url(&self) -> &str {
        self.database.url()
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        self.database.name()
    }
}

/// A fresh database for `test_name` with PgBouncer in front of it, or `None` (after a loud
/// notice) when PostgreSQL or PgBouncer is unavailable here.
pub async fn bounced_database(test_name: &str) -> Option<BouncedDatabase> {
    let database = test_database(test_name).await?;
    let bouncer = BOUNCER.get_or_init(|| async { start(database.admin_url().to_owned()).await }).await;
    match bouncer {
        Ok(bouncer) => {
            let pooled_url = format!("postgres://{}@127.0.0.1:{}/{}", bouncer.user, bouncer.port, database.name());
            Some(BouncedDatabase { database, pooled_url })
        }
        Err(cause) => unavailable(cause),
    }
}

fn unavailable<T>(cause: &str) -> Option<T> {
    if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
        panic!("PgBouncer is required ({REQUIRE_ENV}=1) but unavailable: {cause}");
    }
    SKIP_NOTICE.call_once(|| {
        // Straight to stderr: libtest captures eprintln! of passing tests, and this must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPING PgBouncer tests: {cause}\n*** Install Debian's pgbouncer to run them; \
             {REQUIRE_ENV}=1 makes this a failure.\n"
        );
    });
    None
}

/// Starts PgBouncer in front of the server `admin_url` names.
async fn start(admin_url: String) -> Result<Bouncer, String> {
    let (bouncer, root) =
        tokio::task::spawn_blocking(move || start_blocking(&admin_url)).await.map_err(|e| e.to_string())??;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", bouncer.port)).await.is_ok() {
            return Ok(bouncer);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(root.join("pgbouncer.log")).unwrap_or_default();
    Err(format!("PgBouncer did not listen on 127.0.0.1:{}: {}", bouncer.port, log.trim()))
}

/// Writes the configuration and starts PgBouncer (daemonised, with a pid file).
fn start_blocking(admin_url: &str) -> Result<(Bouncer, PathBuf), String> {
    let program = pgbouncer_program().ok_or("no pgbouncer program (Debian package pgbouncer)")?;
    let config: tokio_postgres::Config = admin_url.parse().map_err(|e| format!("the test server's URL: {e}"))?;
    let user = config.get_user().unwrap_or("postgres").to_owned();
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let server_port = config.get_ports().first().copied().unwrap_or(5432);
    let root = tempfile::Builder::new().prefix("authd-test-pgbouncer-").tempdir().map_err(|e| e.to_string())?.keep();
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    std::fs::write(root.join("users.txt"), format!("\"{user}\" \"\"\n")).map_err(|e| e.to_string())?;
    std::fs::write(root.join("pgbouncer.ini"), ini(&root, &host, server_port, port)).map_err(|e| e.to_string())?;
    // PgBouncer refuses to run as root.
    let as_root = is_root();
    if as_root {
        run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(&root))?;
    }
    let mut command = if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(&program);
        command
    } else {
        Command::new(&program)
    };
    command.arg("-d").arg(root.join("pgbouncer.ini"));
    run(&mut command)?;
    spawn_watchdog(&root)?;
    Ok((Bouncer { port, user }, root))
}

/// The configuration: transaction pooling, every database of the server by its own name.
fn ini(root: &Path, host: &str, server_port: u16, port: u16) -> String {
    let root = root.display();
    format!(
        "[databases]\n\
         * = host={host} port={server_port}\n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         unix_socket_dir =\n\
         auth_type = trust\n\
         auth_file = {root}/users.txt\n\
         pool_mode = transaction\n\
         max_client_conn = 1000\n\
         default_pool_size = 20\n\
         server_reset_query =\n\
         ignore_startup_parameters = extra_float_digits\n\
         logfile = {root}/pgbouncer.log\n\
         pidfile = {root}/pgbouncer.pid\n"
    )
}

/// Stops PgBouncer and removes its directory once this test process has exited.
fn spawn_watchdog(root: &Path) -> Result<(), String> {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; kill \"$(cat '{root}/pgbouncer.pid')\" 2>/dev/null; \
         sleep 1; rm -rf '{root}'",
        pid = std::process::id(),
        root = root.display()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(drop)
        .map_err(|e| format!("cannot start the PgBouncer watchdog: {e}"))
}

fn pgbouncer_program() -> Option<PathBuf> {
    ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
}
