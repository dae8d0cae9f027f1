//! Tests of the authd binary, run as a process.
