use super::{AuthService, ClientInfo, IssuedSession};
use serde_json::json;

use crate::domain::{Actor, AuditAction, AuthMethod, Email, Password, Phone, User, Username};
use crate::error::AuthError;
use crate::ports::PasswordCheck;

/// What a user signs in with besides the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identifier {
    /// An email address.
    Email(Email),
    /// A username.
    Username(Username),
    /// A phone number as given, formatted as Supabase Auth formats it but not validated: a
    /// malformed number matches no account and fails as a wrong password does.
    Phone(String),
}

impl Identifier {
    /// Reads a login name: with an `@` it is an email address, otherwise a username. This lets
    /// clients that only know an `email` field sign in by username too.
    pub fn parse_login(input: &str) -> Result<Self, AuthError> {
        if input.contains('@') {
            Ok(Self::Email(Email::parse(input)?))
        } else {
            Ok(Self::Username(Username::parse(input)?))
        }
    }
}

impl Identifier {
    /// The name the per-account throttle counts an unknown account under.
    fn throttle_name(&self) -> String {
        match self {
            Self::Email(email) => email.as_str().to_owned(),
            Self::Username(name) => format!("username:{}", name.as_str()),
            Self::Phone(number) => format!("phone:{}", Phone::format(number)),
        }
    }
}

impl AuthService {
    /// Password sign-in. Unknown accounts cost the same hashing work as a wrong password, and a
    /// ban or missing confirmation is revealed only after the password was right. Each check
    /// is reserved with the per-account throttle first (unknown names are counted alike).
    pub async fn sign_in_with_password(
        &self,
        identifier: &Identifier,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<IssuedSession, AuthError> {
        let user = match identifier {
            Identifier::Email(email) => self.ports.users.find_user_by_email(email).await?,
            Identifier::Username(name) => self.ports.users.find_user_by_username(name).await?,
            Identifier::Phone(number) => {
                self.require_phone()?;
                match Phone::parse(&Phone::format(number)) {
                    Ok(phone) => self.ports.users.find_user_by_phone(&phone).await?,
                    Err(_) => None,
                }
            }
        };
        let account = super::password_throttle::account_key(user.as_ref().map(|u| u.id), &identifier.throttle_name());
        let reservation = match self.reserve_password_check(&account, client).await {
            Ok(reservation) => reservation,
            Err(refused) => return Err(self.sign_in_failed(user.as_ref(), refused, client).await),
        };
        let check = self.ports.hasher.verify(password, user.as_ref().and_then(|u| u.password_hash.as_ref())).await?;
        let (user, needs_rehash) = match (user, check) {
            (Some(user), PasswordCheck::Match { needs_rehash }) => (user, needs_rehash),
            (user, _) => return Err(self.sign_in_failed(user.as_ref(), AuthError::InvalidCredentials, client).await),
        };
        self.password_check_passed(reservation).await;
        let now = self.ports.clock.now();
        if user.is_banned(now) {
            return Err(self.sign_in_failed(Some(&user), AuthError::UserBanned, client).await);
        }
        if matches!(identifier, Identifier::Phone(_)) {
            if user.phone_confirmed_at.is_none() {
                return Err(self.sign_in_failed(Some(&user), AuthError::PhoneNotConfirmed, client).await);
            }
        } else if user.email.is_some() && user.email_confirmed_at.is_none() {
            return Err(self.sign_in_failed(Some(&user), AuthError::EmailNotConfirmed, client).await);
        }
        let user = if needs_rehash { self.rehash(user, password).await } else { user };
        self.start_session(user, AuthMethod::Password, client).await
    }

    /// Records a refused sign-in and hands back the error. An unknown account is recorded
    /// without the name that was tried.
    async fn sign_in_failed(&self, user: Option<&User>, error: AuthError, client: &ClientInfo) -> AuthError {
        let (actor, target) = match user {
            Some(user) => (Actor::User(user.id), Some(user.id)),
            None => (Actor::Anonymous, None),
        };
        self.audit(AuditAction::LoginFailed, actor, target, client, json!({"reason": error.code()})).await;
        error
    }

    /// Replaces a hash of another scheme or outdated parameters. Best effort: a failure leaves
    /// the old (still valid) hash, and the next sign-in tries again. Only the hash is written,
    /// and only while it is still the one just verified, so a concurrent change to the user (a
    /// ban, a new password) is never overwritten by this sign-in's older copy.
    async fn rehash(&self, user: User, password: &Password) -> User {
        let Some(current) = user.password_hash.clone() else { return user };
        let Ok(hash) = self.ports.hasher.hash(password).await else { return user };
        match self.ports.users.replace_password_hash(user.id, &current, &hash).await {
            Ok(true) => User { password_hash: Some(hash), ..user },
            _ => user,
        }
    }
}
