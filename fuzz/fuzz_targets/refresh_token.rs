//! `RefreshToken::presented` on any text: never panics, and what it accepts is bounded and
//! trimmed (it is hashed and looked up, never interpreted).
#![no_main]

use auth_core::domain::RefreshToken;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Some(token) = RefreshToken::presented(input) {
        let text = token.expose();
        assert!(!text.is_empty() && text.len() <= input.len() && text.trim() == text);
        let _ = token.digest();
    }
});
