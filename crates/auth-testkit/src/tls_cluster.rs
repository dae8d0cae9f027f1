//! A private PostgreSQL cluster with `ssl = on`, started once per test process on a free
//! loopback port, for the tests of TLS to PostgreSQL. Its certificates are made at start with the
//! `openssl` command: a test CA, a server certificate from it naming `localhost` only (so
//! connecting to `127.0.0.1` under `verify-full` must fail on the host name), and a second CA
//! that signed nothing (a wrong `sslrootcert`). Trust authentication, TLS or not, as the other
//! private cluster. Skipped like every PostgreSQL test when PostgreSQL or `openssl` is missing,
//! a failure with `AUTHD_TEST_REQUIRE_POSTGRES=1`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::postgres::{admin_execute, is_root, postgres_bin_dir, postgres_command, run, spawn_watchdog, unavailable};

static CLUSTER: OnceCell<Result<TlsCluster, String>> = OnceCell::const_new();

/// The running TLS cluster.
#[derive(Debug)]
pub struct TlsCluster {
    port: u16,
    dir: PathBuf,
}

impl TlsCluster {
    /// The port it listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA that signed the server's certificate (PEM).
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A CA that signed nothing this server presents (PEM).
    pub fn other_ca(&self) -> PathBuf {
        self.dir.join("other-ca.pem")
    }

    /// `postgres://postgres@{host}:{port}/postgres`, with `params` as its query when not empty.
    pub fn url(&self, host: &str, params: &str) -> String {
        let base = format!("postgres://postgres@{host}:{}/postgres", self.port);
        if params.is_empty() { base } else { format!("{base}?{params}") }
    }
}

/// The cluster, started on first use; `None` (after a loud notice) when it cannot be.
pub async fn tls_cluster() -> Option<&'static TlsCluster> {
    match CLUSTER.get_or_init(|| async { start().await }).await {
        Ok(cluster) => Some(cluster),
        Err(cause) => {
            // Panics when PostgreSQL is required; otherwise prints the skip notice.
            let _ = unavailable(cause);
            None
        }
    }
}

async fn start() -> Result<TlsCluster, String> {
    let (dir, port) = tokio::task::spawn_blocking(start_blocking).await.map_err(|e| e.to_string())??;
    // Plaintext to loopback: the harness's own check that the server is up.
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    for _ in 0..60 {
        if admin_execute(&url, "SELECT 1").await.is_ok() {
            return Ok(TlsCluster { port, dir });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(format!("the TLS cluster in {} did not accept connections", dir.display()))
}

fn start_blocking() -> Result<(PathBuf, u16), String> {
    let bin = postgres_bin_dir().ok_or("no PostgreSQL server binaries (initdb, pg_ctl) found")?;
    let root = tempfile::Builder::new().prefix("authd-test-pg-tls-").tempdir().map_err(|e| e.to_string())?.keep();
    make_certificates(&root)?;
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
    let options = format!(
        "-h 127.0.0.1 -p {port} -k {root} -F -c ssl=on -c ssl_cert_file={root}/server.pem -c ssl_key_file={root}/server.key",
        root = root.display()
    );
    run(postgres_command(&bin.join("pg_ctl"), as_root)
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(root.join("server.log"))
        .args(["-w", "-t", "60", "-o", &options, "start"]))?;
    spawn_watchdog(&bin, &root, &data, as_root)?;
    Ok((root, port))
}

/// A CA, a server certificate for `localhost` signed by it, and an unrelated CA, in `dir`.
fn make_certificates(dir: &Path) -> Result<(), String> {
    let openssl = |args: &[&str]| run(Command::new("openssl").current_dir(dir).args(args));
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    for name in ["ca", "other-ca"] {
        let (key, pem, subject) = (format!("{name}.key"), format!("{name}.pem"), format!("/CN=authd test {name}"));
        let mut args = vec!["req", "-x509"];
        args.extend(ec);
        args.extend(["-keyout", &key, "-out", &pem, "-days", "2", "-subj", &subject]);
        args.extend(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]);
        openssl(&args)?;
    }
    let mut args = vec!["req"];
    args.extend(ec);
    args.extend(["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]);
    openssl(&args)?;
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .map_err(|e| e.to_string())?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ])?;
    // PostgreSQL refuses a key others can read.
    run(Command::new("chmod").arg("0600").arg(dir.join("server.key")))
}
