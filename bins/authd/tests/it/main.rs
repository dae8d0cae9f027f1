//! Tests of the authd binary, run as a process.

// Test code: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]
