//! In-process HTTP tests against the same app factory the binary serves.

mod harness;
mod skeleton;
