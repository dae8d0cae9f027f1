use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest address accepted, in bytes (RFC 5321's path limit less the angle brackets).
pub const EMAIL_MAX_LEN: usize = 254;
const LOCAL_PART_MAX_LEN: usize = 64;
const LABEL_MAX_LEN: usize = 63;

/// Why a string is not an acceptable email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing but whitespace was given.
    #[error("email address is empty")]
    Empty,
    /// Longer than [`EMAIL_MAX_LEN`] bytes, or a part over its own limit.
    #[error("email address is too long")]
    TooLong,
    /// Not of the form `local@domain.tld`.
    #[error("email address is not valid")]
    Malformed,
}

/// An email address, trimmed and lower-cased so that equal addresses compare equal.
///
/// Lower-casing the whole address (not only the domain) is what Supabase Auth does; it makes
/// `Alice@Example.com` and `alice@example.com` one account, which is what users expect.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Validates and normalises an address given by a user.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > EMAIL_MAX_LEN {
            return Err(EmailError::TooLong);
        }
        let normalised = trimmed.to_lowercase();
        let (local, domain) = normalised.rsplit_once('@').ok_or(EmailError::Malformed)?;
        if local.is_empty() || local.contains('@') {
            return Err(EmailError::Malformed);
        }
        if local.len() > LOCAL_PART_MAX_LEN {
            return Err(EmailError::TooLong);
        }
        if !local.chars().all(is_local_char) || local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(EmailError::Malformed);
        }
        validate_domain(domain)?;
        Ok(Self(normalised))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_local_char(c: char) -> bool {
    c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c)
}

fn validate_domain(domain: &str) -> Result<(), EmailError> {
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(EmailError::Malformed);
    }
    for label in &labels {
        if label.is_empty() || label.starts_with('-') || label.ends_with('-') {
            return Err(EmailError::Malformed);
        }
        if label.len() > LABEL_MAX_LEN {
            return Err(EmailError::TooLong);
        }
        if !label.chars().all(|c| c.is_alphanumeric() || c == '-') {
            return Err(EmailError::Malformed);
        }
    }
    Ok(())
}

impl TryFrom<String> for Email {
    type Error = EmailError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_lowercases() {
        let email = Email::parse("  Alice.Smith@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "alice.smith@example.com");
    }

    #[test]
    fn accepts_plus_addressing_and_subdomains() {
        assert!(Email::parse("a+tag@mail.example.co.uk").is_ok());
    }

    #[test]
    fn refuses_malformed_addresses() {
        for bad in [
            "",
            "   ",
            "alice",
            "alice@",
            "@example.com",
            "alice@example",
            "a b@example.com",
            "a..b@example.com",
            "alice@-example.com",
            "alice@exa_mple.com",
            "a@b@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn refuses_overlong_addresses() {
        let local = "a".repeat(65);
        assert_eq!(Email::parse(&format!("{local}@example.com")), Err(EmailError::TooLong));
        let domain = format!("{}.com", "a".repeat(250));
        assert_eq!(Email::parse(&format!("a@{domain}")), Err(EmailError::TooLong));
    }
}
