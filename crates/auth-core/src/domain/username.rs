use std::fmt;

use serde::{Deserialize, Serialize};

/// Shortest username accepted, in characters.
pub const USERNAME_MIN_LEN: usize = 3;
/// Longest username accepted, in characters.
pub const USERNAME_MAX_LEN: usize = 32;

/// Why a string is not an acceptable username.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    /// Fewer than [`USERNAME_MIN_LEN`] or more than [`USERNAME_MAX_LEN`] characters.
    #[error("username must be between {USERNAME_MIN_LEN} and {USERNAME_MAX_LEN} characters")]
    Length,
    /// A character outside the documented set, or a bad first or last character.
    #[error(
        "username may contain only ASCII letters, digits, '_', '.' and '-', and must start and end with a letter or digit"
    )]
    Characters,
    /// Shaped like an email address, which would make sign-in by identifier ambiguous.
    #[error("username must not contain '@'")]
    LooksLikeEmail,
}

/// An optional public handle that can stand in for the email address at sign-in.
///
/// The character set is ASCII letters, digits, `_`, `.` and `-`; the first and last characters
/// are letters or digits. The case the user typed is kept for display, while uniqueness and
/// look-ups use [`Username::key`], the lower-cased form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    /// Validates a username given by a user; surrounding whitespace is ignored.
    pub fn parse(input: &str) -> Result<Self, UsernameError> {
        let name = input.trim();
        if name.contains('@') {
            return Err(UsernameError::LooksLikeEmail);
        }
        let len = name.chars().count();
        if !(USERNAME_MIN_LEN..=USERNAME_MAX_LEN).contains(&len) {
            return Err(UsernameError::Length);
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
        let edges_ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !name.chars().all(allowed) || !edges_ok {
            return Err(UsernameError::Characters);
        }
        Ok(Self(name.to_owned()))
    }

    /// The username as the user wrote it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lower-cased form that uniqueness and look-ups use.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl TryFrom<String> for Username {
    type Error = UsernameError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Username> for String {
    fn from(value: Username) -> Self {
        value.0
    }
}

impl AsRef<str> for Username {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_case_but_keys_lowercase() {
        let name = Username::parse(" Jane_Doe ").unwrap();
        assert_eq!(name.as_str(), "Jane_Doe");
        assert_eq!(name.key(), "jane_doe");
    }

    #[test]
    fn refuses_bad_usernames() {
        assert_eq!(Username::parse("ab"), Err(UsernameError::Length));
        assert_eq!(Username::parse(&"a".repeat(33)), Err(UsernameError::Length));
        assert_eq!(Username::parse("jane doe"), Err(UsernameError::Characters));
        assert_eq!(Username::parse("_jane"), Err(UsernameError::Characters));
        assert_eq!(Username::parse("jane."), Err(UsernameError::Characters));
        assert_eq!(Username::parse("jäne"), Err(UsernameError::Characters));
        assert_eq!(Username::parse("jane@x.io"), Err(UsernameError::LooksLikeEmail));
    }
}
