//! The limiter contract against auth-core's in-memory test limiter.

use std::sync::Arc;

use auth_core::testing::MemoryLimiter;

auth_testkit::limiter_contract_tests!(|clock| Arc::new(MemoryLimiter::new(clock)));
