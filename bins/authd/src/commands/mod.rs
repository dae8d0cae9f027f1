//! One module per command group: each parses nothing itself (clap does), asks [`crate::wiring`]
//! for what it needs, and prints through [`crate::output`].

pub mod admin;
pub mod config;
pub mod import;
pub mod keys;
pub mod postgrest;

use auth_core::service::ClientInfo;

/// The command line as the audit log's client: no IP, and the tool as the user agent.
fn command_line() -> ClientInfo {
    ClientInfo { ip: None, user_agent: Some(format!("authd-cli/{}", env!("CARGO_PKG_VERSION"))) }
}
