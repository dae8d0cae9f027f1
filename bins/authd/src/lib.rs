//! authd's configuration, command line and wiring. The binary (`main.rs`) runs them; the
//! integration tests build the same server in process, with a clock they move.

pub mod admin_cli;
pub mod cli;
pub mod config;
pub mod gotrue_env;
pub mod gotrue_import;
pub mod keys;
pub mod output;
pub mod postgrest;
pub mod postgrest_auth;
pub mod telemetry;
pub mod wiring;
