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
    /// List and rotate the signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// PostgREST: the settings it needs, the role SQL, and the database set-up.
    #[command(subcommand)]
    Postgrest(PostgrestCommand),
    /// Manage users (straight through the database).
    #[command(subcommand)]
    Users(crate::admin_cli::UsersCommand),
    /// List and end sessions.
    #[command(subcommand)]
    Sessions(crate::admin_cli::SessionsCommand),
    /// Bring users from another server (Supabase Auth / GoTrue).
    #[command(subcommand)]
    Import(crate::gotrue_import::ImportCommand),
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

/// `authd postgrest ...`
#[derive(Debug, Subcommand)]
pub enum PostgrestCommand {
    /// Print the PostgREST settings that match this authd (jwt-secret, jwt-aud, db-anon-role, ...).
    Config {
        /// One JSON object, keyed by PostgREST's setting names.
        #[arg(long)]
        json: bool,
    },
    /// Print the SQL that creates the API roles and grants them, for a superuser to run.
    Sql,
    /// Create the roles and grants (needs the privilege) and write PostgREST's in-database configuration.
    Setup,
}

/// `authd keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Show every key with its status (pending, signing, verifying, retired); never the material.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Add a signing key. It is published in the JWKS at once and signs after
    /// `jwt.key_publish_delay_secs`; the old key keeps verifying until its tokens have expired.
    Rotate {
        /// Sign with the new key at once (a single replica, or a compromised key). Until the
        /// other replicas reload their keys (`jwt.key_reload_secs`) they refuse its tokens.
        #[arg(long)]
        now: bool,
        /// Print the new key as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the anon and service-role API keys (for supabase-js, PostgREST and `api.require_key`).
    Api {
        /// Replace the key that signs them first: every API key printed before stops working.
        #[arg(long)]
        rotate: bool,
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `authd config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration as TOML, secrets redacted.
    Show,
    /// Validate the configuration and the database URL, and exit non-zero when invalid.
    Check,
    /// Translate another server's configuration into authd's TOML.
    #[command(subcommand)]
    Import(ConfigImport),
}

/// `authd config import ...`: the TOML goes to stdout (or `--output`), remarks on what could not
/// be carried to stderr.
#[derive(Debug, Subcommand)]
pub enum ConfigImport {
    /// postgrest-auth's JSON configuration (postgrest-auth.json).
    PostgrestAuth {
        /// The JSON file.
        file: PathBuf,
        /// Write the TOML to this file (readable by its owner only: it holds secrets).
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}
