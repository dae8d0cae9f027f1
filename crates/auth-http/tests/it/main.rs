//! In-process HTTP tests against the same app factory the binary serves.

// Test code: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod api;
mod compat;
mod deadline;
mod docs;
mod email;
mod forgery;
mod harness;
mod hostile;
mod limits;
mod mfa;
mod observability;
mod recovery_codes;
mod skeleton;
mod stock_keys;
mod supabase_links;
mod supabase_users;
