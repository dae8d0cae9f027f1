//! `Username::parse` on any text: never panics, accepted names are stable, and the lookup key
//! of an accepted name is the key of its normalised form.
#![no_main]

use auth_core::domain::Username;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Ok(name) = Username::parse(input) {
        let again = Username::parse(name.as_str()).expect("an accepted name parses again");
        assert_eq!(again.key(), name.key());
        assert!(!name.as_str().contains('@'), "a username never looks like an email: {:?}", name.as_str());
    }
});
