//! The crypto adapters against hostile input: forged and replayed tokens, weak secrets, hashes
//! that cost too much, and the time failed password checks take; and the in-process rate
//! limiter against the `RateLimiter` port's contract.

// Test code: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod forgery;
mod hashing;
mod rate_limiter;
