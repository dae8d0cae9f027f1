use std::fmt;

use serde::{Deserialize, Serialize};

/// A password as the user typed it. Its `Debug` output is redacted so it never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password without checking it against a policy (for sign-in, where any input is
    /// simply compared against the stored hash).
    pub fn new(input: impl Into<String>) -> Self {
        Self(input.into())
    }

    /// The password's characters, for the hasher.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A class of characters a policy can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CharacterClass {
    /// `a` to `z` and other lower-case letters.
    Lowercase,
    /// `A` to `Z` and other upper-case letters.
    Uppercase,
    /// `0` to `9`.
    Digit,
    /// Anything that is not a letter, digit or whitespace.
    Symbol,
}

impl CharacterClass {
    fn matches(self, c: char) -> bool {
        match self {
            Self::Lowercase => c.is_lowercase(),
            Self::Uppercase => c.is_uppercase(),
            Self::Digit => c.is_ascii_digit(),
            Self::Symbol => !c.is_alphanumeric() && !c.is_whitespace(),
        }
    }
}

/// Why a password failed the policy, in Supabase Auth's `weak_password.reasons` vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WeakPasswordReason {
    /// Shorter than the minimum or longer than the maximum.
    Length,
    /// Missing a required character class.
    Characters,
}

/// A password that failed the policy, with every reason and a message for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct WeakPassword {
    /// All the reasons it failed.
    pub reasons: Vec<WeakPasswordReason>,
    /// A sentence per reason, joined.
    pub message: String,
}

/// What a new password must satisfy. Defaults: 8 to 256 characters, no required classes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordPolicy {
    /// Fewest characters accepted.
    pub min_length: usize,
    /// Most characters accepted; bounds the work an attacker can make the hasher do.
    pub max_length: usize,
    /// Classes of which at least one character must appear.
    pub required_characters: Vec<CharacterClass>,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_length: 8, max_length: 256, required_characters: Vec::new() }
    }
}

impl PasswordPolicy {
    /// Checks a new password, collecting every reason it fails.
    pub fn check(&self, password: &Password) -> Result<(), WeakPassword> {
        let text = password.expose();
        let length = text.chars().count();
        let mut reasons = Vec::new();
        let mut sentences = Vec::new();
        if length < self.min_length {
            reasons.push(WeakPasswordReason::Length);
            sentences.push(format!("Password should be at least {} characters.", self.min_length));
        } else if length > self.max_length {
            reasons.push(WeakPasswordReason::Length);
            sentences.push(format!("Password should be at most {} characters.", self.max_length));
        }
        let missing: Vec<CharacterClass> =
            self.required_characters.iter().copied().filter(|class| !text.chars().any(|c| class.matches(c))).collect();
        if !missing.is_empty() {
            reasons.push(WeakPasswordReason::Characters);
            let names: Vec<&str> = self.required_characters.iter().map(|c| class_name(*c)).collect();
            sentences.push(format!("Password should contain at least one character of each: {}.", names.join(", ")));
        }
        if reasons.is_empty() { Ok(()) } else { Err(WeakPassword { reasons, message: sentences.join(" ") }) }
    }

    /// Whether the policy itself is coherent (a config check).
    pub fn validate(&self) -> Result<(), String> {
        if self.min_length == 0 {
            return Err("password.min_length must be at least 1".into());
        }
        if self.min_length > self.max_length {
            return Err("password.min_length must not exceed password.max_length".into());
        }
        if self.max_length > 4096 {
            return Err("password.max_length must be at most 4096".into());
        }
        Ok(())
    }
}

fn class_name(class: CharacterClass) -> &'static str {
    match class {
        CharacterClass::Lowercase => "lower-case letter",
        CharacterClass::Uppercase => "upper-case letter",
        CharacterClass::Digit => "digit",
        CharacterClass::Symbol => "symbol",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let printed = format!("{:?}", Password::new("hunter22hunter"));
        assert!(!printed.contains("hunter"));
    }

    #[test]
    fn default_policy_bounds_length() {
        let policy = PasswordPolicy::default();
        assert!(policy.check(&Password::new("12345678")).is_ok());
        let short = policy.check(&Password::new("1234567")).unwrap_err();
        assert_eq!(short.reasons, vec![WeakPasswordReason::Length]);
        assert!(policy.check(&Password::new("x".repeat(257))).is_err());
        assert!(policy.check(&Password::new("é".repeat(256))).is_ok(), "length counts characters, not bytes");
    }

    #[test]
    fn required_classes_collect_every_reason() {
        let policy = PasswordPolicy {
            required_characters: vec![CharacterClass::Digit, CharacterClass::Uppercase],
            ..PasswordPolicy::default()
        };
        let weak = policy.check(&Password::new("short")).unwrap_err();
        assert_eq!(weak.reasons, vec![WeakPasswordReason::Length, WeakPasswordReason::Characters]);
        assert!(policy.check(&Password::new("Longer1password")).is_ok());
    }

    #[test]
    fn incoherent_policies_are_refused() {
        assert!(PasswordPolicy { min_length: 10, max_length: 9, ..Default::default() }.validate().is_err());
        assert!(PasswordPolicy { min_length: 0, ..Default::default() }.validate().is_err());
    }
}
