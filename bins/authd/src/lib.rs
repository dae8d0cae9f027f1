//! authd's configuration, command line and wiring. The binary (`main.rs`) runs them; the
//! integration tests build the same server in process, with a clock they move.
//!
//! Dependencies point one way: `main` → [`commands`] → [`wiring`] → the adapter crates;
//! [`keys`] (the key lifecycle) and [`config`] are used by both and use neither.

pub mod cli;
pub mod commands;
pub mod compat;
pub mod config;
pub mod external_config;
pub mod gotrue_env;
pub mod keys;
pub mod mfa_config;
pub mod output;
pub mod postgrest_auth;
pub mod sms_config;
pub mod telemetry;
pub mod wiring;
