//! The contract suite against the in-memory store, which the service-level tests rely on.

mod memory;
