//! What a connection string's `sslmode` and `sslrootcert` mean, with libpq's semantics, and the
//! one deliberate difference: plaintext to a host that is not loopback needs `sslmode=disable`.

use std::net::IpAddr;

use native_tls::{Certificate, Protocol, TlsConnector};
use postgres_native_tls::MakeTlsConnector;
use tokio_postgres::Config;
use tokio_postgres::config::{Host, SslMode as WireMode};

use crate::ConnectError;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SslMode {
    /// Plaintext only.
    Disable,
    /// Plaintext first, TLS if the server insists (loopback only here).
    Allow,
    /// TLS if the server offers it, without checking the certificate (libpq's default).
    Prefer,
    /// TLS, without checking the certificate unless `sslrootcert` names a file.
    Require,
    /// TLS, the certificate chained to a trusted root.
    VerifyCa,
    /// TLS, the certificate chained to a trusted root and naming the host.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self, ConnectError> {
        Ok(match value {
            "disable" => Self::Disable,
            "allow" => Self::Allow,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => {
                return Err(ConnectError::Config(format!(
                    "sslmode {other:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                )));
            }
        })
    }

    /// libpq's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Allow => "allow",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verify {
    Nothing,
    Chain,
    ChainAndHost,
}

/// Which roots a checked certificate must chain to.
#[derive(Clone)]
enum Roots {
    /// The platform's trust store (OpenSSL's default paths).
    System,
    /// Only the certificates of the `sslrootcert` file, as libpq.
    File(Vec<Certificate>),
}

/// The decision for one connection string.
#[derive(Clone)]
pub(crate) struct Plan {
    /// The mode as libpq would name it.
    pub mode: SslMode,
    /// What tokio-postgres is told.
    pub wire: WireMode,
    /// `prefer` was turned into `require` because the host is not loopback.
    pub upgraded: bool,
    verify: Verify,
    roots: Roots,
}

impl Plan {
    /// Decides from the two parameters and the hosts; `target` names the server in messages.
    pub fn decide(
        sslmode: Option<&str>,
        sslrootcert: Option<&str>,
        config: &Config,
        target: &str,
    ) -> Result<Self, ConnectError> {
        let explicit = sslmode.map(SslMode::parse).transpose()?;
        let system_roots = sslrootcert == Some("system");
        // libpq: sslrootcert=system defaults to verify-full and refuses anything weaker.
        let mode = match (explicit, system_roots) {
            (None, true) => SslMode::VerifyFull,
            (Some(mode), true) if mode != SslMode::VerifyFull => {
                return Err(ConnectError::Config(format!(
                    "sslmode={} cannot be used with sslrootcert=system (use verify-full)",
                    mode.as_str()
                )));
            }
            (mode, _) => mode.unwrap_or(SslMode::Prefer),
        };
        let roots = match sslrootcert {
            None | Some("system") => Roots::System,
            Some(path) => Roots::File(read_roots(path)?),
        };
        let file_roots = matches!(roots, Roots::File(_));
        // With the platform's roots, a chain check without the host name would pass any
        // certificate a public CA ever issued, for any name (libpq insists on a root file here).
        if mode == SslMode::VerifyCa && !file_roots {
            return Err(ConnectError::Config(
                "sslmode=verify-ca needs sslrootcert=<file> with the CA that signed the server's certificate \
                 (or use sslmode=verify-full, which also checks the host name)"
                    .into(),
            ));
        }
        let verify = match mode {
            SslMode::VerifyFull => Verify::ChainAndHost,
            SslMode::VerifyCa => Verify::Chain,
            // libpq checks the chain in these modes too when a root certificate file is given.
            SslMode::Require | SslMode::Prefer | SslMode::Allow if file_roots => Verify::Chain,
            _ => Verify::Nothing,
        };
        let remote = remote_host(config);
        let (wire, upgraded) = match mode {
            // libpq ignores sslmode on Unix sockets, and PostgreSQL offers no TLS there.
            _ if remote.is_none() && only_unix_sockets(config) => (WireMode::Disable, false),
            SslMode::Disable => (WireMode::Disable, false),
            SslMode::Allow | SslMode::Prefer => match (&remote, mode) {
                (None, _) => (WireMode::Prefer, false),
                (Some(host), SslMode::Allow) => {
                    return Err(ConnectError::Insecure(format!(
                        "refusing {target}: sslmode=allow would talk plaintext to {host}, which is not loopback; \
                         use sslmode=verify-full (or require), or sslmode=disable to accept plaintext explicitly"
                    )));
                }
                (Some(_), _) => (WireMode::Require, true),
            },
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => (WireMode::Require, false),
        };
        Ok(Self { mode, wire, upgraded, verify, roots })
    }

    /// The TLS connector this plan needs (TLS 1.2 at least).
    pub fn connector(&self) -> Result<MakeTlsConnector, ConnectError> {
        let mut builder = TlsConnector::builder();
        builder.min_protocol_version(Some(Protocol::Tlsv12));
        if let Roots::File(certificates) = &self.roots {
            builder.disable_built_in_roots(true);
            for certificate in certificates {
                builder.add_root_certificate(certificate.clone());
            }
        }
        match self.verify {
            Verify::Nothing => {
                builder.danger_accept_invalid_certs(true).danger_accept_invalid_hostnames(true);
            }
            Verify::Chain => {
                builder.danger_accept_invalid_hostnames(true);
            }
            Verify::ChainAndHost => {}
        }
        let connector =
            builder.build().map_err(|e| ConnectError::Config(format!("cannot set up TLS: {}", crate::one_line(&e))))?;
        Ok(MakeTlsConnector::new(connector))
    }
}

/// The first host that is neither loopback nor a Unix socket, if any. With `hostaddr`, the
/// addresses actually dialled decide.
fn remote_host(config: &Config) -> Option<String> {
    if !config.get_hostaddrs().is_empty() {
        return config.get_hostaddrs().iter().find(|ip| !ip.is_loopback()).map(ToString::to_string);
    }
    config.get_hosts().iter().find_map(|host| match host {
        Host::Tcp(name) if !is_loopback_name(name) => Some(name.clone()),
        _ => None,
    })
}

fn only_unix_sockets(config: &Config) -> bool {
    !config.get_hosts().is_empty() && config.get_hosts().iter().all(|h| !matches!(h, Host::Tcp(_)))
}

/// `localhost` or a loopback address. (Names under `.localhost` are not counted: a resolver may
/// still send them to DNS.)
fn is_loopback_name(name: &str) -> bool {
    let name = name.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Every certificate of a PEM file (a bundle may hold several).
fn read_roots(path: &str) -> Result<Vec<Certificate>, ConnectError> {
    let failed = |cause: String| ConnectError::RootCert { path: path.to_owned(), cause };
    let pem = std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?;
    const END: &str = "-----END CERTIFICATE-----";
    let mut certificates = Vec::new();
    for block in pem.split_inclusive(END).filter(|b| b.contains(END)) {
        let certificate = Certificate::from_pem(block.as_bytes()).map_err(|e| failed(crate::one_line(&e)))?;
        certificates.push(certificate);
    }
    if certificates.is_empty() {
        return Err(failed("no PEM certificate in the file".into()));
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(conninfo: &str) -> Result<Plan, ConnectError> {
        let split = crate::params::split(conninfo).unwrap();
        let config: Config = split.rest.parse().unwrap();
        Plan::decide(split.sslmode.as_deref(), split.sslrootcert.as_deref(), &config, "t")
    }

    #[test]
    fn libpq_default_is_prefer_and_stays_prefer_on_loopback() {
        for url in ["postgres://u@127.0.0.1/d", "postgres://u@localhost/d", "postgres://u@[::1]/d", "host=127.0.0.2"] {
            let p = plan(url).unwrap();
            assert_eq!(
                (p.mode, p.wire, p.upgraded, p.verify),
                (SslMode::Prefer, WireMode::Prefer, false, Verify::Nothing)
            );
        }
    }

    #[test]
    fn prefer_to_a_remote_host_requires_tls() {
        for url in ["postgres://u@db.example/d", "postgres://u@db.example/d?sslmode=prefer", "host=10.1.2.3"] {
            let p = plan(url).unwrap();
            assert_eq!((p.wire, p.upgraded), (WireMode::Require, true), "{url}");
        }
        // hostaddr decides where the bytes go.
        let p = plan("postgres://u@localhost/d?hostaddr=192.0.2.7").unwrap();
        assert_eq!(p.wire, WireMode::Require);
    }

    #[test]
    fn plaintext_to_a_remote_host_is_refused_unless_disable_is_explicit() {
        let err = plan("postgres://u@db.example/d?sslmode=allow").err().unwrap();
        assert!(matches!(err, ConnectError::Insecure(_)));
        let text = err.to_string();
        assert!(text.contains("db.example") && text.contains("sslmode=disable") && !text.contains('\n'), "{text}");
        let p = plan("postgres://u@db.example/d?sslmode=disable").unwrap();
        assert_eq!(p.wire, WireMode::Disable);
        assert_eq!(plan("postgres://u@127.0.0.1/d?sslmode=allow").unwrap().wire, WireMode::Prefer);
    }

    #[test]
    fn modes_map_to_libpq_checks() {
        let p = plan("postgres://u@db/d?sslmode=require").unwrap();
        assert_eq!((p.wire, p.verify), (WireMode::Require, Verify::Nothing));
        assert!(matches!(plan("postgres://u@db/d?sslmode=verify-ca"), Err(ConnectError::Config(_))));
        let p = plan("postgres://u@db/d?sslmode=verify-full").unwrap();
        assert_eq!((p.wire, p.verify), (WireMode::Require, Verify::ChainAndHost));
        let p = plan("postgres://u@db/d?sslrootcert=system").unwrap();
        assert_eq!((p.mode, p.verify), (SslMode::VerifyFull, Verify::ChainAndHost));
        assert!(plan("postgres://u@db/d?sslrootcert=system&sslmode=require").is_err());
        assert!(matches!(plan("postgres://u@db/d?sslmode=verify_full"), Err(ConnectError::Config(_))));
    }

    #[test]
    fn unix_sockets_never_use_tls() {
        let p = plan("host=/var/run/postgresql dbname=d sslmode=require").unwrap();
        assert_eq!(p.wire, WireMode::Disable);
        let p = plan("postgresql://u@%2Fvar%2Frun%2Fpostgresql/d").unwrap();
        assert_eq!(p.wire, WireMode::Disable);
    }

    #[test]
    fn a_missing_root_file_is_refused_naming_it() {
        let err = plan("postgres://u@db/d?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem").err().unwrap();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
