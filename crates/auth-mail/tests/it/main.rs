//! auth-mail against a real SMTP conversation on loopback, the outbox folder, and the templates.

// Test code: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod file;
mod smtp;
mod support;
mod templates;
