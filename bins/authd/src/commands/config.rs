//! `authd config show|check|import`: the effective configuration, its validation, and
//! translations from other servers' configurations.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;

use crate::config::Config;
use crate::{gotrue_env, output, postgrest_auth};

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

/// Runs `authd config ...` with the configuration file named on the command line, if any.
pub fn run(file: Option<&Path>, command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Show => {
            let config = Config::load(file).context("cannot load configuration")?;
            output::say(config.to_redacted_toml()?.trim_end());
        }
        ConfigCommand::Check => {
            let config = Config::load(file).context("cannot load configuration")?;
            config.validate()?;
            if let Some(remarks) = gotrue_env::remarks() {
                output::note(remarks.read);
                remarks.uncarried.iter().for_each(|remark| output::note(remark));
            }
            output::say("configuration is valid");
        }
        ConfigCommand::Import(ConfigImport::PostgrestAuth { file, output }) => {
            postgrest_auth::run(&file, output.as_deref())?;
        }
    }
    Ok(())
}
