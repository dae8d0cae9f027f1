//! `application/x-www-form-urlencoded` bodies as auth-http reads them (the `/verify` form post):
//! decoded pairs, first value of a name wins. The parsing itself is private to auth-http; this
//! drives the same decoder the same way, then feeds what it yields to the parsers the form's
//! values reach (email, redirect, refresh-token format).
#![no_main]

use auth_core::domain::{Email, RedirectPolicy, RefreshToken};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if let Some(email) = get("email") {
        let _ = Email::parse(email);
    }
    let policy = RedirectPolicy::new("https://app.example.com", vec!["https://*.example.com/**".into()])
        .expect("a valid policy");
    let _ = policy.resolve(get("redirect_to"));
    if let Some(token) = get("token_hash").or(get("token")) {
        let _ = RefreshToken::presented(token);
    }
    // Round trip: what is serialised back decodes to the same pairs.
    let encoded = form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
    let back: Vec<(String, String)> =
        form_urlencoded::parse(encoded.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    assert_eq!(back, pairs);
});
