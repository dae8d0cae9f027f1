//! `Phone::parse` on any text: never panics, and an accepted number is digits only and stable.
#![no_main]

use auth_core::domain::Phone;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Ok(phone) = Phone::parse(input) {
        assert!(phone.as_str().bytes().all(|b| b.is_ascii_digit()), "{:?}", phone.as_str());
        let again = Phone::parse(phone.as_str()).expect("an accepted number parses again");
        assert_eq!(again.as_str(), phone.as_str());
    }
});
