//! Route handlers, one module per area of the API.

pub(crate) mod fallback;
pub(crate) mod health;
