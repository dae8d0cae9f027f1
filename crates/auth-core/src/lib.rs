//! The authd domain: users, sessions as refresh-token families, reuse detection and password
//! policy; the ports adapters implement; and the use cases built on them.
//!
//! This crate knows no database, HTTP framework, mail transport or crypto library, and never
//! reads the clock or the OS random source itself: those arrive through [`ports`].

pub mod domain;
mod error;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub mod ports;
pub mod service;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use error::{AuthError, ExternalError, MfaError};
