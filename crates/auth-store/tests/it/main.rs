//! Integration tests of the Diesel stores: the shared contract suite on SQLite and PostgreSQL,
//! migrations, and opening databases by URL.

// Test code: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod contract;
mod limiter;
mod migrations;
mod open;
mod outage;
mod tls;
