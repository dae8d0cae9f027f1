//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// authd: an authentication server for PostgreSQL and PostgREST that speaks the Supabase Auth API.
#[derive(Debug, Parser)]
#[command(name = "authd", version, about, long_about = None)]
pub struct Cli {
    /// TOML configuration file (defaults, then this file, then AUTHD_* variables).
    #[arg(long, short, global = true, env = crate::config::CONFIG_ENV, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the version.
    Version,
}

/// `authd config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration as TOML, secrets redacted.
    Show,
    /// Validate the configuration and the database URL, and exit non-zero when invalid.
    Check,
}
