//! The contract suite against the in-memory store, and the PostgreSQL test harness itself.

// Test code: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod limiter;
mod memory;
mod postgres;
