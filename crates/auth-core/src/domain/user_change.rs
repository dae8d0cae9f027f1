//! A write to a stored user that names the columns it changes, so it never carries back
//! values read earlier (a ban, a new password or a role set meanwhile survives it).

use chrono::{DateTime, Utc};

use super::{Email, Metadata, OneTimeKind, OneTimeToken, PasswordHash, Phone, User, Username};

/// The fields one write changes; `None` leaves a field as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserChange {
    /// A new email address.
    pub email: Option<Email>,
    /// A new phone number.
    pub phone: Option<Phone>,
    /// A new username, or `Some(None)` to remove it.
    pub username: Option<Option<Username>>,
    /// A new password hash, or `Some(None)` to remove the password.
    pub password_hash: Option<Option<PasswordHash>>,
    /// When the email address was confirmed (`Some(None)`: unconfirmed).
    pub email_confirmed_at: Option<Option<DateTime<Utc>>>,
    /// When the phone number was confirmed (`Some(None)`: unconfirmed).
    pub phone_confirmed_at: Option<Option<DateTime<Utc>>>,
    /// The whole new `app_metadata`.
    pub app_metadata: Option<Metadata>,
    /// The whole new `user_metadata`.
    pub user_metadata: Option<Metadata>,
    /// A new database role.
    pub role: Option<String>,
    /// A new ban end, or `Some(None)` to lift the ban.
    pub banned_until: Option<Option<DateTime<Utc>>>,
    /// A sign-in time.
    pub last_sign_in_at: Option<DateTime<Utc>>,
    /// Whether the account is anonymous (`Some(false)`: it got a way to sign in).
    pub is_anonymous: Option<bool>,
    /// When a confirmation (or invitation) was last sent.
    pub confirmation_sent_at: Option<DateTime<Utc>>,
    /// When an invitation was last sent.
    pub invited_at: Option<DateTime<Utc>>,
    /// When a recovery or magic link was last sent.
    pub recovery_sent_at: Option<DateTime<Utc>>,
    /// The address a pending email change goes to, or `Some(None)`: none pending.
    pub email_change: Option<Option<Email>>,
    /// When an email-change mail was last sent.
    pub email_change_sent_at: Option<DateTime<Utc>>,
    /// When a reauthentication code was last sent.
    pub reauthentication_sent_at: Option<DateTime<Utc>>,
    /// The number a pending phone change goes to (`Some(None)` clears it).
    pub phone_change: Option<Option<Phone>>,
    /// When the last phone-change code was sent.
    pub phone_change_sent_at: Option<DateTime<Utc>>,
    /// The time of the change.
    pub updated_at: Option<DateTime<Utc>>,
    /// The write happens only while the stored password hash is still this one (`Some(None)`:
    /// still no password): a password checked against the hash read earlier, or a decision
    /// taken on it, must not land on a password changed meanwhile.
    pub only_if_password: Option<Option<PasswordHash>>,
    /// The user's emailed secrets of these kinds are deleted with the write (a new password
    /// voids outstanding sign-in and recovery links).
    pub voids: Vec<OneTimeKind>,
}

impl UserChange {
    /// A change stamped with `now` as its `updated_at`.
    pub fn at(now: DateTime<Utc>) -> Self {
        Self { updated_at: Some(now), ..Self::default() }
    }

    /// What issuing `token` records on its user: when a secret of its kind was last sent
    /// (Supabase Auth's `*_sent_at` columns) and, for an email change, the address it goes to.
    /// Every store writes it with the token, in the same transaction.
    pub fn issued(token: &OneTimeToken) -> Self {
        let at = Some(token.created_at);
        let mut change = Self::default();
        match token.kind {
            OneTimeKind::Confirmation => change.confirmation_sent_at = at,
            OneTimeKind::Invite => {
                change.invited_at = at;
                change.confirmation_sent_at = at;
            }
            OneTimeKind::Recovery | OneTimeKind::MagicLink => change.recovery_sent_at = at,
            OneTimeKind::Reauthentication => change.reauthentication_sent_at = at,
            OneTimeKind::EmailChangeCurrent | OneTimeKind::EmailChangeNew => {
                change.email_change_sent_at = at;
                change.email_change = token.relates_to.clone().map(Some);
            }
            OneTimeKind::PhoneConfirmation => change.confirmation_sent_at = at,
            OneTimeKind::PhoneChange => {
                change.phone_change_sent_at = at;
                change.phone_change = token.sent_to.phone().cloned().map(Some);
            }
        }
        change
    }

    /// Whether the change writes no column of the user.
    pub fn writes_nothing(&self) -> bool {
        let Self {
            email,
            phone,
            username,
            password_hash,
            email_confirmed_at,
            phone_confirmed_at,
            app_metadata,
            user_metadata,
            role,
            banned_until,
            last_sign_in_at,
            is_anonymous,
            confirmation_sent_at,
            invited_at,
            recovery_sent_at,
            email_change,
            email_change_sent_at,
            reauthentication_sent_at,
            phone_change,
            phone_change_sent_at,
            updated_at,
            only_if_password: _,
            voids: _,
        } = self;
        email.is_none()
            && phone.is_none()
            && username.is_none()
            && password_hash.is_none()
            && email_confirmed_at.is_none()
            && phone_confirmed_at.is_none()
            && app_metadata.is_none()
            && user_metadata.is_none()
            && role.is_none()
            && banned_until.is_none()
            && last_sign_in_at.is_none()
            && is_anonymous.is_none()
            && confirmation_sent_at.is_none()
            && invited_at.is_none()
            && recovery_sent_at.is_none()
            && email_change.is_none()
            && email_change_sent_at.is_none()
            && reauthentication_sent_at.is_none()
            && phone_change.is_none()
            && phone_change_sent_at.is_none()
            && updated_at.is_none()
    }

    /// `user` with the change applied (what the store holds after it).
    pub fn apply_to(&self, user: &mut User) {
        if let Some(email) = &self.email {
            user.email = Some(email.clone());
        }
        if let Some(phone) = &self.phone {
            user.phone = Some(phone.clone());
        }
        set(&mut user.username, &self.username);
        set(&mut user.password_hash, &self.password_hash);
        set(&mut user.email_confirmed_at, &self.email_confirmed_at);
        set(&mut user.phone_confirmed_at, &self.phone_confirmed_at);
        set(&mut user.app_metadata, &self.app_metadata);
        set(&mut user.user_metadata, &self.user_metadata);
        set(&mut user.role, &self.role);
        set(&mut user.banned_until, &self.banned_until);
        if let Some(at) = self.last_sign_in_at {
            user.last_sign_in_at = Some(at);
        }
        set(&mut user.is_anonymous, &self.is_anonymous);
        let at = |field: &mut Option<DateTime<Utc>>, value: Option<DateTime<Utc>>| {
            if value.is_some() {
                *field = value;
            }
        };
        at(&mut user.confirmation_sent_at, self.confirmation_sent_at);
        at(&mut user.mail.invited_at, self.invited_at);
        at(&mut user.mail.recovery_sent_at, self.recovery_sent_at);
        at(&mut user.mail.email_change_sent_at, self.email_change_sent_at);
        at(&mut user.mail.reauthentication_sent_at, self.reauthentication_sent_at);
        set(&mut user.mail.email_change, &self.email_change);
        at(&mut user.mail.phone_change_sent_at, self.phone_change_sent_at);
        set(&mut user.mail.phone_change, &self.phone_change);
        set(&mut user.updated_at, &self.updated_at);
    }

    /// Whether the guard ([`UserChange::only_if_password`]) lets the change land on `user`.
    pub fn allowed_on(&self, user: &User) -> bool {
        self.only_if_password.as_ref().is_none_or(|expected| *expected == user.password_hash)
    }
}

/// Overwrites `field` when the change names a value for it.
fn set<T: Clone>(field: &mut T, value: &Option<T>) {
    if let Some(value) = value {
        *field = value.clone();
    }
}
