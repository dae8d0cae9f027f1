//! The in-process limiter against the `RateLimiter` port's contract.

use std::sync::Arc;

use auth_crypto::InProcessLimiter;

auth_testkit::limiter_contract_tests!(|clock| Arc::new(InProcessLimiter::new(clock)));
