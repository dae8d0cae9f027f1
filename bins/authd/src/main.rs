//! The authd binary: reads the configuration, runs the command, by default `serve`.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use authd::cli::{Cli, Command};
use authd::commands::{admin, config, import, keys, postgrest};
use authd::config::Config;
use authd::{gotrue_env, output, telemetry, wiring};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Multi-threaded: diesel-async's migration harness blocks in place, which a current-thread
    // runtime refuses.
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return output::fail(&anyhow::Error::new(error).context("cannot start the async runtime")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => output::fail(&error),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Every command but `version` and `config` reads a valid configuration and logs.
    let load = || -> anyhow::Result<Config> {
        let config = Config::load(cli.config.as_deref()).context("cannot load configuration")?;
        config.validate()?;
        telemetry::init(&config.log);
        Ok(config)
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Version => output::say(&format!("authd {}", env!("CARGO_PKG_VERSION"))),
        Command::Config(command) => config::run(cli.config.as_deref(), command)?,
        Command::Migrate => {
            let database = wiring::open_database(&load()?).await?;
            let applied = wiring::migrate(&database).await?;
            output::say(&format!("applied {applied} migration(s); the schema is up to date"));
        }
        Command::Keys(command) => keys::run(&load()?, command).await?,
        Command::Postgrest(command) => postgrest::run(&load()?, command).await?,
        Command::Users(command) => admin::users(&load()?, command).await?,
        Command::Sessions(command) => admin::sessions(&load()?, command).await?,
        Command::Audit { page, per_page, json } => admin::audit(&load()?, page, per_page, json).await?,
        Command::Import(command) => import::run(&load()?, command).await?,
        Command::Serve => {
            let config = Config::load(cli.config.as_deref()).context("cannot load configuration")?;
            config.validate()?;
            let telemetry = telemetry::init_with_traces(&config.log, &config.tracing)?;
            if let Some(remarks) = gotrue_env::remarks() {
                tracing::info!("{}", remarks.read);
                remarks.uncarried.iter().for_each(|remark| tracing::warn!("{remark}"));
            }
            let served = wiring::serve(config).await;
            telemetry.shutdown().await;
            served?;
        }
    }
    Ok(())
}
