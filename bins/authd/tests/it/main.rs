//! Tests of the authd binary, run as a process.

// Test code: a panic is how a test fails, and these tests poll a child process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod admin_cli;
mod cli;
mod db_timeouts;
mod e2e;
mod email;
mod keys;
mod migrating;
mod observability;
mod outage;
mod outbox_replicas;
mod phone;
mod postgrest;
mod process;
mod retire;
mod review_probes;
mod rolling_restart;
mod scale_out;
mod serve;
mod supabase_schema;
