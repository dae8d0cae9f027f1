use std::collections::HashMap;
use std::fmt;

/// Shortest HS256 secret accepted, in bytes.
pub const HMAC_SECRET_MIN_LEN: usize = 32;
/// Fewest distinct bytes a secret may be made of: a random secret of 32 or more characters
/// from any usual alphabet (hex included) has many more.
const MIN_DISTINCT: usize = 12;
/// Least estimated entropy accepted, in bits (RFC 8725 §3.5; 128 is the strength of the
/// keys authd generates itself).
const MIN_ESTIMATED_BITS: f64 = 128.0;
/// How to make a good secret, quoted in every refusal.
const ADVICE: &str = "make one with `openssl rand -base64 48`, or leave jwt.secret unset so that authd signs with \
                      ES256 keys it generates and keeps";

/// Secrets that were published as examples, so anyone can sign tokens with them. Compared
/// without regard to case or surrounding white space.
const PUBLISHED: [&str; 4] = [
    // Supabase CLI's local stack.
    "super-secret-jwt-token-with-at-least-32-characters-long",
    // Supabase's self-hosting `.env` example.
    "your-super-secret-jwt-token-with-at-least-32-characters-long",
    // PostgREST's tutorial.
    "reallyreallyreallyreallyverysafe",
    // GoTrue's docker-compose test stack, which auth-js's suite runs against.
    "37c304f8-51aa-419a-a1af-06154e63707a",
];
/// The distinctive part of Supabase's placeholder, refused wherever it appears in a secret.
const PUBLISHED_CORE: &str = "super-secret-jwt-token";

/// Why an HS256 secret was refused. The text names the problem and how to make a good secret,
/// never the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeakSecret {
    /// Fewer than [`HMAC_SECRET_MIN_LEN`] bytes.
    #[error("the HS256 secret is {0} bytes; it needs at least {HMAC_SECRET_MIN_LEN} bytes, chosen at random: {ADVICE}")]
    TooShort(usize),
    /// A secret published as an example (Supabase's placeholder and the like).
    #[error("the HS256 secret is a published example value, so anyone can sign tokens with it: {ADVICE}")]
    Published,
    /// Made of too few distinct characters.
    #[error("the HS256 secret uses only {0} distinct characters, so it is not random: {ADVICE}")]
    FewSymbols(usize),
    /// Repetitive or sequential, so its estimated entropy is too low.
    #[error(
        "the HS256 secret has about {0} bits of entropy by estimate (repeated or sequential characters); \
         it needs at least {MIN_ESTIMATED_BITS}: {ADVICE}"
    )]
    LowEntropy(u32),
}

/// A shared HS256 secret that passed the strength rules: at least 32 bytes, not a published
/// example, and random-looking (enough distinct characters, no long repeated or sequential
/// runs). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct HmacSecret(Vec<u8>);

impl HmacSecret {
    /// Checks a secret against the strength rules.
    pub fn new(secret: &[u8]) -> Result<Self, WeakSecret> {
        if secret.len() < HMAC_SECRET_MIN_LEN {
            return Err(WeakSecret::TooShort(secret.len()));
        }
        if is_published(secret) {
            return Err(WeakSecret::Published);
        }
        let distinct = frequencies(secret.iter().copied()).len();
        if distinct < MIN_DISTINCT {
            return Err(WeakSecret::FewSymbols(distinct));
        }
        let bits = estimated_bits(secret);
        if bits < MIN_ESTIMATED_BITS {
            // Whole bits are enough for a message; the estimate is far below u32::MAX here.
            return Err(WeakSecret::LowEntropy(bits as u32));
        }
        Ok(Self(secret.to_vec()))
    }

    /// The secret's bytes, for the HMAC key.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for HmacSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacSecret(<redacted>)")
    }
}

fn is_published(secret: &[u8]) -> bool {
    let normalized = String::from_utf8_lossy(secret).trim().to_ascii_lowercase();
    PUBLISHED.contains(&normalized.as_str()) || normalized.contains(PUBLISHED_CORE)
}

/// How often each symbol occurs.
fn frequencies<T: std::hash::Hash + Eq>(symbols: impl Iterator<Item = T>) -> HashMap<T, usize> {
    let mut counts = HashMap::new();
    for symbol in symbols {
        *counts.entry(symbol).or_insert(0) += 1;
    }
    counts
}

/// Shannon entropy of the symbols' empirical distribution, in bits per symbol.
fn entropy_per_symbol<T: std::hash::Hash + Eq>(symbols: impl Iterator<Item = T> + Clone) -> f64 {
    let total = symbols.clone().count() as f64;
    if total == 0.0 {
        return 0.0;
    }
    frequencies(symbols)
        .values()
        .map(|&n| {
            let p = n as f64 / total;
            -p * p.log2()
        })
        .sum()
}

/// A conservative entropy estimate in bits: the length times the lesser of the per-character
/// entropy (catches repeated characters and short repeated blocks) and the entropy of the
/// steps between neighbours (catches runs such as `0123…` or `abcd…`, whose characters are
/// all different but follow each other).
fn estimated_bits(secret: &[u8]) -> f64 {
    let symbols = entropy_per_symbol(secret.iter().copied());
    let steps = entropy_per_symbol(secret.windows(2).map(|pair| pair[1].wrapping_sub(pair[0])));
    secret.len() as f64 * symbols.min(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_secrets_of_the_usual_forms_are_accepted() {
        for secret in [
            // `openssl rand -base64 48`
            "q0mO6pXk1x5yV4+7Qq1B0jv7dFmVQ3nT8yH2s9cRkZl1a5wE3uJ6pY0tGiX4oN2b",
            // `openssl rand -hex 32`
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            // 32 bytes of base64url without padding
            "Zq3v_8LrT1nWc0yXe7Hk2MpQa9sJd5Fb4Gu6Ri-NoYw",
        ] {
            assert!(HmacSecret::new(secret.as_bytes()).is_ok(), "{secret}: {:?}", estimated_bits(secret.as_bytes()));
        }
    }

    #[test]
    fn weak_secrets_are_refused_with_a_reason_and_advice_but_never_the_secret() {
        type Expected = fn(&WeakSecret) -> bool;
        let cases: [(&str, Expected); 7] = [
            ("short", |e| matches!(e, WeakSecret::TooShort(5))),
            ("your-super-secret-jwt-token-with-at-least-32-characters-long", |e| *e == WeakSecret::Published),
            ("super-secret-jwt-token-with-at-least-32-characters-long", |e| *e == WeakSecret::Published),
            ("  Super-Secret-JWT-Token-With-At-Least-32-Characters-Long\n", |e| *e == WeakSecret::Published),
            ("reallyreallyreallyreallyverysafe", |e| *e == WeakSecret::Published),
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", |e| matches!(e, WeakSecret::FewSymbols(1))),
            ("0123456789abcdefghijklmnopqrstuvwxyz", |e| matches!(e, WeakSecret::LowEntropy(_))),
        ];
        for (secret, expected) in cases {
            let error = HmacSecret::new(secret.as_bytes()).unwrap_err();
            assert!(expected(&error), "{secret}: {error:?}");
            let message = error.to_string();
            assert!(message.contains("openssl rand"), "{message}");
            assert!(!message.contains(secret.trim()), "{message}");
        }
        for repeated in ["Xy7#Xy7#Xy7#Xy7#Xy7#Xy7#Xy7#Xy7#", "abcdefghijklmnopabcdefghijklmnop"] {
            assert!(HmacSecret::new(repeated.as_bytes()).is_err(), "{repeated}");
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = HmacSecret::new(b"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08").unwrap();
        assert_eq!(format!("{secret:?}"), "HmacSecret(<redacted>)");
    }
}
