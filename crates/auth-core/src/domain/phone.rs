use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not an acceptable phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("phone number must be in E.164 form: a country code and 6 to 15 digits in all")]
pub struct PhoneError;

/// A phone number in E.164 form, stored as digits without the leading `+`, as Supabase Auth does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    /// Accepts `+15551234567`, `15551234567` and common separators (spaces, dashes, dots, brackets).
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        let body = trimmed.strip_prefix('+').unwrap_or(trimmed);
        let mut digits = String::with_capacity(body.len());
        for c in body.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(PhoneError),
            }
        }
        if !(6..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(PhoneError);
        }
        Ok(Self(digits))
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
        assert_eq!(Phone::parse("+1 (555) 123-4567").unwrap().as_str(), "15551234567");
    }

    #[test]
    fn refuses_non_numbers() {
        for bad in ["", "+", "12345", "0123456789", "+1555abc4567", "1234567890123456"] {
            assert!(Phone::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
