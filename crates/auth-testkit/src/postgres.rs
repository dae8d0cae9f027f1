//! Throwaway PostgreSQL databases for tests.
//!
//! Each test gets a database of its own, dropped when its [`TestDatabase`] is dropped. The server
//! is the one named by `AUTHD_TEST_DATABASE_URL` (an admin connection); without it, a private
//! cluster is started once per test process from the local PostgreSQL binaries and stopped when
//! the process ends. With neither, PostgreSQL tests are skipped with a loud message, unless
//! `AUTHD_TEST_REQUIRE_POSTGRES=1` makes that a failure.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio_postgres::NoTls;

/// Admin connection to the server tests create their databases on.
pub const DATABASE_URL_ENV: &str = "AUTHD_TEST_DATABASE_URL";
/// Set to `1` to fail, rather than skip, when no PostgreSQL is available.
pub const REQUIRE_ENV: &str = "AUTHD_TEST_REQUIRE_POSTGRES";
/// Prefix of every database the harness creates, so leftovers are recognisable.
pub const DATABASE_PREFIX: &str = "authd_test_";

static PRIVATE_CLUSTER: OnceCell<Result<String, String>> = OnceCell::const_new();
static SKIP_NOTICE: Once = Once::new();
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A database created for one test, dropped (with `FORCE`) when this value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Connection URL of the database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The admin connection of the server it lives on.
    pub(crate) fn admin_url(&self) -> &str {
        &self.admin_url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let statement = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        // Drop may run inside or outside a runtime; a thread with its own runtime works in both.
        let outcome = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            runtime.block_on(admin_execute(&admin_url, &statement))
        })
        .join();
        if let Ok(Err(error)) | Err(error) = outcome.map_err(|_| "panicked".to_owned()) {
            let _ = writeln!(std::io::stderr(), "warning: could not drop test database {}: {error}", self.name);
        }
    }
}

/// A fresh, empty database for `test_name`, or `None` when PostgreSQL is unavailable here.
pub async fn test_database(test_name: &str) -> Option<TestDatabase> {
    let admin_url = match std::env::var(DATABASE_URL_ENV) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => match PRIVATE_CLUSTER.get_or_init(|| async { start_private_cluster().await }).await {
            Ok(url) => url.clone(),
            Err(cause) => return unavailable(cause),
        },
    };
    match create_database(&admin_url, test_name).await {
        Ok(database) => Some(database),
        Err(cause) => unavailable(&format!("cannot create a test database on {}: {cause}", redact(&admin_url))),
    }
}

/// A fresh database on the private cluster, ignoring `AUTHD_TEST_DATABASE_URL` (to test the
/// fallback itself).
pub async fn private_cluster_database(test_name: &str) -> Option<TestDatabase> {
    match PRIVATE_CLUSTER.get_or_init(|| async { start_private_cluster().await }).await {
        Ok(url) => create_database(url, test_name).await.ok(),
        Err(cause) => unavailable(cause),
    }
}

pub(crate) fn unavailable(cause: &str) -> Option<TestDatabase> {
    if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
        panic!("PostgreSQL is required ({REQUIRE_ENV}=1) but unavailable: {cause}");
    }
    SKIP_NOTICE.call_once(|| {
        // Straight to stderr: libtest captures eprintln! of passing tests, and this must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPING PostgreSQL tests: {cause}\n*** Set {DATABASE_URL_ENV}=postgres://user@host:5432/postgres \
             (or install PostgreSQL) to run them; {REQUIRE_ENV}=1 makes this a failure.\n"
        );
    });
    None
}

async fn create_database(admin_url: &str, test_name: &str) -> Result<TestDatabase, String> {
    let slug: String = test_name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .take(32)
        .collect();
    let name = format!("{DATABASE_PREFIX}{slug}_{}_{}", std::process::id(), SEQUENCE.fetch_add(1, Ordering::Relaxed));
    admin_execute(admin_url, &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await?;
    admin_execute(admin_url, &format!("CREATE DATABASE \"{name}\"")).await?;
    let url = with_database(admin_url, &name);
    Ok(TestDatabase { admin_url: admin_url.to_owned(), name, url })
}

pub(crate) async fn admin_execute(admin_url: &str, statement: &str) -> Result<(), String> {
    let (client, connection) = tokio_postgres::connect(admin_url, NoTls).await.map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    let result = client.batch_execute(statement).await.map_err(|e| e.to_string());
    drop(client);
    let _ = driver.await;
    result
}

/// The URL with its database path replaced by `name`, query parameters kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").unwrap_or(("postgres", base));
    let authority = rest.split('/').next().unwrap_or(rest);
    match query {
        Some(query) => format!("{scheme}://{authority}/{name}?{query}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

fn redact(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://…@{host}"),
        _ => url.to_owned(),
    }
}

/// Starts a cluster in a temporary directory, as the `postgres` OS user when running as root
/// (PostgreSQL refuses to run as root), and returns its admin URL.
async fn start_private_cluster() -> Result<String, String> {
    let started = tokio::task::spawn_blocking(|| -> Result<(PathBuf, u16), String> {
        let bin = postgres_bin_dir().ok_or("no PostgreSQL server binaries (initdb, pg_ctl) found")?;
        let root = tempfile::Builder::new().prefix("authd-test-pg-").tempdir().map_err(|e| e.to_string())?.keep();
        let as_root = is_root();
        if as_root {
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(&root))?;
        }
        let data = root.join("data");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        run(postgres_command(&bin.join("initdb"), as_root).arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ]))?;
        let options = format!("-h 127.0.0.1 -p {port} -k {} -F", root.display());
        run(postgres_command(&bin.join("pg_ctl"), as_root)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(root.join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"]))?;
        spawn_watchdog(&bin, &root, &data, as_root)?;
        Ok((root, port))
    })
    .await
    .map_err(|e| e.to_string())??;
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", started.1);
    for _ in 0..60 {
        if admin_execute(&url, "SELECT 1").await.is_ok() {
            return Ok(url);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(format!("the private cluster in {} did not accept connections", started.0.display()))
}

/// Stops the cluster and removes its directory once this test process has exited.
pub(crate) fn spawn_watchdog(bin: &Path, root: &Path, data: &Path, as_root: bool) -> Result<(), String> {
    let pg_ctl = bin.join("pg_ctl");
    let stop = if as_root {
        format!("runuser -u postgres -- '{}' -D '{}' -m immediate stop", pg_ctl.display(), data.display())
    } else {
        format!("'{}' -D '{}' -m immediate stop", pg_ctl.display(), data.display())
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{root}'",
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
        .map_err(|e| format!("cannot start the cluster watchdog: {e}"))
}

pub(crate) fn postgres_command(program: &Path, as_root: bool) -> Command {
    if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

pub(crate) fn run(command: &mut Command) -> Result<(), String> {
    let output = command.stdin(Stdio::null()).output().map_err(|e| format!("{command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed: {}", String::from_utf8_lossy(&output.stderr).trim()))
    }
}

pub(crate) fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

pub(crate) fn postgres_bin_dir() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|dir| has_server(dir));
    from_pg_config.or_else(|| {
        let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .filter(|dir| has_server(dir))
            .collect();
        candidates.sort_by_key(|dir| {
            dir.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or_default()
        });
        candidates.pop()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_the_new_database_name() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(with_database("postgres://u:p@h/db?sslmode=disable", "x"), "postgres://u:p@h/x?sslmode=disable");
        assert_eq!(with_database("postgresql://h", "x"), "postgresql://h/x");
        assert_eq!(redact("postgres://u:p@h:1/db"), "postgres://…@h:1/db");
    }
}
