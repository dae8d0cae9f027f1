//! Integration tests of the Diesel stores.
