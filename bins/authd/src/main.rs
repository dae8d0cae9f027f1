//! The authd binary: reads the configuration, wires the adapters to the domain, and serves.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use authd::cli::{Cli, Command, ConfigCommand, ConfigImport, KeysCommand};
use authd::config::Config;
use authd::{admin_cli, gotrue_env, gotrue_import, output, postgrest, postgrest_auth, telemetry, wiring};

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
    let load = || -> anyhow::Result<Config> {
        let config = Config::load(cli.config.as_deref()).context("cannot load configuration")?;
        config.validate()?;
        Ok(config)
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Version => output::say(&format!("authd {}", env!("CARGO_PKG_VERSION"))),
        Command::Config(ConfigCommand::Show) => {
            let config = Config::load(cli.config.as_deref()).context("cannot load configuration")?;
            output::say(config.to_redacted_toml()?.trim_end());
        }
        Command::Config(ConfigCommand::Import(ConfigImport::PostgrestAuth { file, output })) => {
            postgrest_auth::run(&file, output.as_deref())?;
        }
        Command::Config(ConfigCommand::Check) => {
            load()?;
            gotrue_env::remarks().iter().for_each(|remark| output::note(remark));
            output::say("configuration is valid");
        }
        Command::Migrate => {
            let config = load()?;
            telemetry::init(&config.log);
            let database = wiring::open_database(&config).await?;
            let applied = wiring::migrate(&database).await?;
            output::say(&format!("applied {applied} migration(s); the schema is up to date"));
        }
        Command::Keys(command) => {
            let config = load()?;
            telemetry::init(&config.log);
            let database = wiring::open_ready_database(&config).await?;
            let keys = wiring::keys(&config, &database)?;
            keys.ensure_initial().await?;
            match command {
                KeysCommand::List { json } => output::key_table(&keys.list().await?, json)?,
                KeysCommand::Rotate { now, json } => {
                    let key = keys.rotate(now).await?;
                    let details = serde_json::json!({"kid": key.kid, "purpose": key.purpose, "immediately": now});
                    wiring::record_key_rotation(&database, details).await;
                    if json {
                        output::say(&serde_json::to_string_pretty(&key)?);
                    } else {
                        let when = key.activates_at.map(|t| t.to_rfc3339()).unwrap_or_default();
                        output::say(&format!(
                            "added key {} ({}): published now, signs from {when}",
                            key.kid, key.algorithm
                        ));
                    }
                }
                KeysCommand::Api { rotate, json } => {
                    let api = if rotate {
                        let api = keys.rotate_api_keys().await?;
                        let details = serde_json::json!({"kid": api.kid, "purpose": "api_key"});
                        wiring::record_key_rotation(&database, details).await;
                        api
                    } else {
                        keys.api_keys().await?
                    };
                    if json {
                        output::say(&serde_json::to_string_pretty(&api)?);
                    } else {
                        output::say(&format!(
                            "anon key (public; for supabase-js and browsers):\n{}\n\nservice-role key (secret; full access):\n{}",
                            api.anon_key, api.service_role_key
                        ));
                    }
                }
            }
        }
        Command::Postgrest(command) => {
            let config = load()?;
            telemetry::init(&config.log);
            postgrest::run(command, config).await?;
        }
        Command::Users(command) => {
            let config = load()?;
            telemetry::init(&config.log);
            admin_cli::users(&wiring::operator_service(&config).await?, command).await?;
        }
        Command::Sessions(command) => {
            let config = load()?;
            telemetry::init(&config.log);
            admin_cli::sessions(&wiring::operator_service(&config).await?, command).await?;
        }
        Command::Import(gotrue_import::ImportCommand::Gotrue(args)) => {
            let config = load()?;
            telemetry::init(&config.log);
            let service = wiring::operator_service(&config).await?;
            gotrue_import::run(&config, &service, args).await?;
        }
        Command::Audit { page, per_page, json } => {
            let config = load()?;
            telemetry::init(&config.log);
            admin_cli::audit(&wiring::operator_service(&config).await?, page, per_page, json).await?;
        }
        Command::Serve => {
            let config = load()?;
            let telemetry = telemetry::init_with_traces(&config.log, &config.tracing)?;
            for (i, remark) in gotrue_env::remarks().iter().enumerate() {
                if i == 0 { tracing::info!("{remark}") } else { tracing::warn!("{remark}") }
            }
            let served = wiring::serve(config).await;
            telemetry.shutdown().await;
            served?;
        }
    }
    Ok(())
}
