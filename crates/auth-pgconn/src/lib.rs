//! How authd connects to PostgreSQL, in one place for every adapter that does (the store, the
//! PostgREST publisher, the GoTrue importer): [`PgConnector`] reads a connection string with
//! libpq's TLS parameters (`sslmode`, `sslrootcert`), connects over TLS with native-tls (OpenSSL,
//! the platform's trust store unless `sslrootcert` names a file), and refuses to talk plaintext to
//! a host that is not loopback or a Unix socket unless the string says `sslmode=disable`.

mod params;
mod plan;

use std::time::Duration;

use postgres_native_tls::{MakeTlsConnector, TlsStream};
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, Socket};

pub use plan::SslMode;

/// The connection [`PgConnector::connect`] returns; it must be polled (spawned) for the client
/// to work.
pub type PgConnection = tokio_postgres::Connection<Socket, TlsStream<Socket>>;

/// Used when the connection string sets no `connect_timeout`: one unreachable host must not
/// hold a command or a start-up forever.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection string was refused or a connection failed. Every message is one line and
/// never carries the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The connection string cannot be read, or asks for something authd does not do.
    #[error("invalid PostgreSQL connection string: {0}")]
    Config(String),
    /// The string would allow plaintext to a host that is not loopback.
    #[error("{0}")]
    Insecure(String),
    /// `sslrootcert` names a file that cannot be read as PEM certificates.
    #[error("cannot use sslrootcert {path}: {cause}")]
    RootCert {
        /// The file.
        path: String,
        /// Why.
        cause: String,
    },
    /// The server did not answer, refused, or failed the TLS checks.
    #[error("cannot connect to PostgreSQL at {target}: {cause}")]
    Connect {
        /// `user@host:port/database`.
        target: String,
        /// The driver's reason.
        cause: String,
    },
}

/// TCP keepalive probes: a peer that vanished (a dead host, a dropped NAT entry) is noticed on
/// an idle connection after about `idle + interval × retries`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalives {
    /// Idle time before the first probe.
    pub idle: Duration,
    /// Time between probes.
    pub interval: Duration,
    /// Unanswered probes before the connection is dropped.
    pub retries: u32,
}

impl Keepalives {
    /// Probes after `idle`, then every `min(idle, 10 s)`, giving up after three misses.
    pub fn after(idle: Duration) -> Self {
        Self { idle, interval: idle.min(Duration::from_secs(10)), retries: 3 }
    }
}

/// A PostgreSQL connection string made ready to connect with: parsed, its TLS decided, its
/// certificates loaded. Build one per URL at start, so a bad string fails before anything runs.
#[derive(Clone)]
pub struct PgConnector {
    config: Config,
    tls: MakeTlsConnector,
    plan: plan::Plan,
    target: String,
}

impl std::fmt::Debug for PgConnector {
    // The config holds the password: only what is safe to show.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConnector").field("target", &self.target).field("sslmode", &self.plan.mode).finish()
    }
}

impl PgConnector {
    /// Reads `conninfo` (a `postgres://` URL or libpq's `key=value` form). Refuses, before any
    /// connection, an unknown `sslmode`, an unreadable `sslrootcert`, and `sslmode=allow` to a
    /// host that is not loopback. Without `sslmode`, libpq's default `prefer` applies, except
    /// that to such a host TLS is then required (no silent fall back to plaintext).
    pub fn new(conninfo: &str) -> Result<Self, ConnectError> {
        let split = params::split(conninfo).map_err(ConnectError::Config)?;
        let mut config: Config = split.rest.parse().map_err(|e| ConnectError::Config(one_line(&e)))?;
        let target = target(&config);
        let plan = plan::Plan::decide(split.sslmode.as_deref(), split.sslrootcert.as_deref(), &config, &target)?;
        let tls = plan.connector()?;
        config.ssl_mode(plan.wire);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        Ok(Self { config, tls, plan, target })
    }

    /// Sets the TCP keepalives; `None` turns them off.
    pub fn keepalives(mut self, keepalives: Option<Keepalives>) -> Self {
        match keepalives {
            Some(k) => {
                self.config
                    .keepalives(true)
                    .keepalives_idle(k.idle)
                    .keepalives_interval(k.interval)
                    .keepalives_retries(k.retries);
            }
            None => {
                self.config.keepalives(false);
            }
        }
        self
    }

    /// The `sslmode` in force (libpq's name; `prefer` when the string had none).
    pub fn ssl_mode(&self) -> SslMode {
        self.plan.mode
    }

    /// The server as `user@host:port/database`, for messages (never the password).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Opens a connection. The caller drives the returned [`PgConnection`].
    pub async fn connect(&self) -> Result<(Client, PgConnection), ConnectError> {
        self.config.connect(self.tls.clone()).await.map_err(|e| {
            let mut cause = one_line(&e);
            if self.plan.upgraded && cause.contains("does not support TLS") {
                cause.push_str(
                    " (authd requires TLS to a host that is not loopback; add sslmode=disable to the URL to allow plaintext)",
                );
            }
            ConnectError::Connect { target: self.target.clone(), cause }
        })
    }

    /// Opens a connection and drives it on a task of its own until the client is dropped;
    /// `what` names the connection in the log line written if it ends with an error.
    pub async fn connect_spawned(&self, what: &'static str) -> Result<Client, ConnectError> {
        let (client, connection) = self.connect().await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(connection = what, error = %one_line(&error), "a PostgreSQL connection ended");
            }
        });
        Ok(client)
    }
}

/// An error and its sources as one line (OpenSSL's texts are joined, never broken over lines).
fn one_line(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text.replace(['\n', '\r'], " ")
}

/// `user@host:port/database`, from the parsed configuration.
fn target(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let database = config.get_dbname().map(|d| format!("/{d}")).unwrap_or_default();
    format!("{user}{host}:{port}{database}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_never_show_the_password() {
        let connector = PgConnector::new("postgres://authd:hunter2@127.0.0.1:5433/app").unwrap();
        assert_eq!(connector.target(), "authd@127.0.0.1:5433/app");
        assert!(!format!("{connector:?}").contains("hunter2"));
        let err = PgConnector::new("postgres://authd:hunter2@db.example/app?sslmode=allow").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn a_connect_timeout_is_always_set() {
        let connector = PgConnector::new("postgres://u@127.0.0.1/app").unwrap();
        assert_eq!(connector.config.get_connect_timeout(), Some(&DEFAULT_CONNECT_TIMEOUT));
        let connector = PgConnector::new("postgres://u@127.0.0.1/app?connect_timeout=3").unwrap();
        assert_eq!(connector.config.get_connect_timeout(), Some(&Duration::from_secs(3)));
    }

    #[test]
    fn keepalives_are_applied() {
        let connector = PgConnector::new("postgres://u@127.0.0.1/app")
            .unwrap()
            .keepalives(Some(Keepalives::after(Duration::from_secs(30))));
        assert!(connector.config.get_keepalives());
        assert_eq!(connector.config.get_keepalives_idle(), Duration::from_secs(30));
        assert_eq!(connector.config.get_keepalives_interval(), Some(Duration::from_secs(10)));
        assert_eq!(connector.config.get_keepalives_retries(), Some(3));
        let off = PgConnector::new("postgres://u@127.0.0.1/app").unwrap().keepalives(None);
        assert!(!off.config.get_keepalives());
    }
}
