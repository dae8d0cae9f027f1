//! JWT verification (header, `kid`/`alg` choice, signature, claims) on any text, against rings
//! of each algorithm. Nothing an attacker writes may verify: without a key, every input is a
//! forgery.
#![no_main]

use std::sync::OnceLock;

use auth_core::ports::TokenSigner;
use auth_crypto::{JwtAlgorithm, JwtSigner, SigningKey};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_900_000_000;
const SECRET: &[u8] = b"q0mO6pXk1x5yV4+7Qq1B0jv7dFmVQ3nT8yH2s9cRkZl1a5wE3uJ6pY0tGiX4oN2b";

fn rings() -> &'static [JwtSigner] {
    static RINGS: OnceLock<Vec<JwtSigner>> = OnceLock::new();
    RINGS.get_or_init(|| {
        let hmac = SigningKey::hmac(SECRET, Some("hs".into())).expect("a strong secret");
        let es = SigningKey::generate(JwtAlgorithm::ES256).expect("an ES256 key");
        let rs = SigningKey::generate(JwtAlgorithm::RS256).expect("an RS256 key");
        vec![
            JwtSigner::new(hmac.clone(), vec![], "authenticated", "").expect("a ring"),
            JwtSigner::new(es, vec![rs, hmac], "authenticated", "https://auth.example.com").expect("a ring"),
        ]
    })
}

fuzz_target!(|input: &str| {
    for ring in rings() {
        if let Ok(claims) = ring.verify(input, NOW) {
            panic!("a token no key of ours signed verified: {claims:?}");
        }
    }
});
