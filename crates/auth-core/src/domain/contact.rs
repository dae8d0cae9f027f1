use std::fmt;

use super::{Email, Phone};

/// Where a one-time secret was sent: an email address or a phone number. Stored as text; an
/// email address always holds `@` and a phone number never does, so the text reads back as
/// the one it was.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Contact {
    /// An email address.
    Email(Email),
    /// A phone number.
    Phone(Phone),
}

impl Contact {
    /// The stored text: the address, or the number's digits.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Email(email) => email.as_str(),
            Self::Phone(phone) => phone.as_str(),
        }
    }

    /// Reads a stored contact back; `None` when it is neither.
    pub fn parse_stored(text: &str) -> Option<Self> {
        if text.contains('@') {
            Email::parse(text).ok().map(Self::Email)
        } else {
            Phone::parse(text).ok().map(Self::Phone)
        }
    }

    /// The email address, when it is one.
    pub fn email(&self) -> Option<&Email> {
        match self {
            Self::Email(email) => Some(email),
            Self::Phone(_) => None,
        }
    }

    /// The phone number, when it is one.
    pub fn phone(&self) -> Option<&Phone> {
        match self {
            Self::Phone(phone) => Some(phone),
            Self::Email(_) => None,
        }
    }
}

impl From<Email> for Contact {
    fn from(email: Email) -> Self {
        Self::Email(email)
    }
}

impl From<Phone> for Contact {
    fn from(phone: Phone) -> Self {
        Self::Phone(phone)
    }
}

impl fmt::Display for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_text_reads_back_as_what_it_was() {
        let email = Contact::from(Email::parse("ada@example.com").unwrap());
        let phone = Contact::from(Phone::parse("+15551234567").unwrap());
        assert_eq!(Contact::parse_stored(email.as_str()), Some(email));
        assert_eq!(Contact::parse_stored(phone.as_str()), Some(phone));
        assert_eq!(Contact::parse_stored("not a contact"), None);
    }
}
