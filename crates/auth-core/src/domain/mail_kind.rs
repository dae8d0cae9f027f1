use super::Email;

/// The kinds of mail authd sends; each has its own template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    /// Confirm the address given at sign-up.
    Confirmation,
    /// Reset a forgotten password.
    Recovery,
    /// Sign in with a link.
    MagicLink,
    /// Sign in with a code.
    EmailOtp,
    /// Approve an email change, sent to the current address.
    EmailChangeCurrent,
    /// Confirm an email change, sent to the new address.
    EmailChangeNew,
    /// Join on an operator's invitation.
    Invite,
    /// Confirm it is really you before a sensitive change.
    Reauthentication,
    /// The username of the account with this address (postgrest-auth's forgot-username).
    ForgotUsername,
}

impl MailKind {
    /// Every kind.
    pub const ALL: [Self; 9] = [
        Self::Confirmation,
        Self::Recovery,
        Self::MagicLink,
        Self::EmailOtp,
        Self::EmailChangeCurrent,
        Self::EmailChangeNew,
        Self::Invite,
        Self::Reauthentication,
        Self::ForgotUsername,
    ];

    /// Stable name: stored in the outbox and used for template file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmation => "confirmation",
            Self::Recovery => "recovery",
            Self::MagicLink => "magic_link",
            Self::EmailOtp => "email_otp",
            Self::EmailChangeCurrent => "email_change_current",
            Self::EmailChangeNew => "email_change_new",
            Self::Invite => "invite",
            Self::Reauthentication => "reauthentication",
            Self::ForgotUsername => "forgot_username",
        }
    }

    /// Reads a stored name back.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// What a template may show. One-time secrets are in `code` and `link` only.
#[derive(Clone, PartialEq, Eq)]
pub struct MailContext {
    /// Which mail.
    pub kind: MailKind,
    /// Recipient.
    pub to: Email,
    /// A 6-digit code the user can type, when the flow has one.
    pub code: Option<String>,
    /// The link to click, when the flow has one.
    pub link: Option<String>,
    /// The account's username (forgot-username), when it has one.
    pub username: Option<String>,
    /// The address being changed to (email change mails).
    pub new_email: Option<Email>,
    /// Minutes until the link expires.
    pub expires_in_minutes: i64,
    /// Minutes until the code expires (sooner than the link: codes are easier to guess).
    pub code_expires_in_minutes: i64,
}

impl std::fmt::Debug for MailContext {
    // The code and link are one-time secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailContext").field("kind", &self.kind).field("to", &self.to).finish_non_exhaustive()
    }
}
