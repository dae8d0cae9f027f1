//! Use-case tests: the service over the in-memory store, a manual clock and simple fakes of the
//! crypto ports.

mod fakes;
mod refresh;
mod session_access;
mod sign_in;
mod signup;
