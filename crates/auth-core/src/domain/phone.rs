use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not an acceptable phone number (Supabase Auth's words).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid phone number format (E.164 required)")]
pub struct PhoneError;

/// A phone number in E.164 form, stored as digits without the leading `+`, as Supabase Auth does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    /// Supabase Auth's rule: one leading `+` and every space are dropped; what is left must be
    /// 2 to 15 digits, the first not 0. Dashes and brackets are refused, as there.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let digits = Self::format(input);
        let well_formed =
            (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
        if well_formed { Ok(Self(digits)) } else { Err(PhoneError) }
    }

    /// The number as Supabase Auth formats it before any check: one leading `+` and every
    /// space dropped (a password sign-in looks the result up without validating it).
    pub fn format(input: &str) -> String {
        let body = input.strip_prefix('+').unwrap_or(input);
        body.chars().filter(|c| *c != ' ').collect()
    }

    /// The digits, without `+`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Phone {
    type Error = PhoneError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Phone> for String {
    fn from(value: Phone) -> Self {
        value.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_to_digits() {
        assert_eq!(Phone::parse("+1 555 123 4567").unwrap().as_str(), "15551234567");
        assert_eq!(Phone::parse("12").unwrap().as_str(), "12");
    }

    #[test]
    fn refuses_non_numbers() {
        for bad in
            ["", "+", "1", "0123456789", "+1555abc4567", "1234567890123456", "+1 (555) 123-4567", "++15551234567"]
        {
            assert!(Phone::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
