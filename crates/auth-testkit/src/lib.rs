//! Test support shared by the authd crates; never part of a release.
//!
//! - [`contract`]: the storage contract suite, one set of cases every store must pass, and the
//!   [`store_contract_tests!`] macro that instantiates it for a store.
//! - [`postgres`]: throwaway PostgreSQL databases for tests, from `AUTHD_TEST_DATABASE_URL` or a
//!   private cluster started from the local PostgreSQL binaries.
//! - [`tls_cluster`]: a private PostgreSQL cluster with TLS on, its CA and server certificate
//!   made for the test run.
//! - [`smtp`]: an SMTP server on loopback that keeps what it receives and can be told to refuse.
//! - [`limiter_contract`]: the cases every `RateLimiter` adapter must pass, and
//!   [`limiter_contract_tests!`] to run them against one.
//! - [`http`]: requests to an actix-web app in process, JSON in and out.

// Test support: a panic is how a broken contract or a failed set-up fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod contract;
pub mod http;
pub mod limiter_contract;
pub mod pgbouncer;
pub mod postgres;
pub mod sms;
pub mod smtp;
pub mod tls_cluster;
