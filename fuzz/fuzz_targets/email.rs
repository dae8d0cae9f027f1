//! `Email::parse` on any text: never panics, and what it accepts is stable (parsing the
//! normalised form gives the same address).
#![no_main]

use auth_core::domain::Email;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Ok(email) = Email::parse(input) {
        let again = Email::parse(email.as_str()).expect("a normalised address parses again");
        assert_eq!(again.as_str(), email.as_str());
        assert!(!email.as_str().chars().any(char::is_control), "control characters in {:?}", email.as_str());
    }
});
