//! The command line: the global options and the command groups, each defined beside the
//! module that runs it (`crate::commands`).

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
    Config(crate::commands::config::ConfigCommand),
    /// List and rotate the signing keys.
    #[command(subcommand)]
    Keys(crate::commands::keys::KeysCommand),
    /// PostgREST: the settings it needs, the role SQL, and the database set-up.
    #[command(subcommand)]
    Postgrest(crate::commands::postgrest::PostgrestCommand),
    /// Manage users (straight through the database).
    #[command(subcommand)]
    Users(crate::commands::admin::UsersCommand),
    /// List and end sessions.
    #[command(subcommand)]
    Sessions(crate::commands::admin::SessionsCommand),
    /// Bring users from another server (Supabase Auth / GoTrue).
    #[command(subcommand)]
    Import(crate::commands::import::ImportCommand),
    /// Read the audit log, newest first.
    Audit {
        /// Page number, from 1.
        #[arg(long, default_value_t = 1)]
        page: u64,
        /// Events per page.
        #[arg(long, default_value_t = 50)]
        per_page: u64,
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the version.
    Version,
}
