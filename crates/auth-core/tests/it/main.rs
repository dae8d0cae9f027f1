//! Use-case tests: the service over the in-memory store, a manual clock and simple fakes of the
//! crypto ports.

// Test code: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod email_change;
mod email_links;
mod mfa;
mod observer;
mod password_throttle;
mod phone;
mod pkce;
mod pruning;
mod refresh;
mod session_access;
mod sign_in;
mod signup;
mod stale_writes;
mod without_mail;
