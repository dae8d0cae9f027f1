//! Which account an external identity signs in to (Supabase Auth's linking rules), and the
//! one write that records the sign-in with its session or auth code.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::external::LandedWith;
use super::{AuthService, ClientInfo};
use crate::domain::{
    Actor, AuditAction, AuthCode, AuthMethod, CodeChallenge, Email, Identity, IdentityId, Metadata, ProviderName, User,
    UserChange, UserId,
};
use crate::error::{AuthError, ExternalError, MissingRow};
use crate::ports::{IdentitySignIn, Landing, ProviderUser};

/// `identity_data` as Supabase Auth stores it: the provider's claims with the standard names
/// filled in (and their older aliases, which apps still read).
pub(super) fn identity_data(provider: &ProviderUser) -> Value {
    let mut data: Map<String, Value> = Map::new();
    let custom: Map<String, Value> = provider.claims.clone();
    for (key, value) in &custom {
        if matches!(
            key.as_str(),
            "iss"
                | "aud"
                | "iat"
                | "exp"
                | "name"
                | "picture"
                | "nickname"
                | "preferred_username"
                | "given_name"
                | "family_name"
                | "locale"
        ) {
            data.insert(key.clone(), value.clone());
        }
    }
    data.insert("sub".into(), json!(provider.provider_id));
    data.insert("provider_id".into(), json!(provider.provider_id));
    if let Some(email) = &provider.email {
        data.insert("email".into(), json!(email.to_lowercase()));
    }
    data.insert("email_verified".into(), json!(provider.email_verified));
    data.insert("phone_verified".into(), json!(false));
    if let Some(name) = &provider.name {
        data.insert("name".into(), json!(name));
        data.insert("full_name".into(), json!(name));
    }
    if let Some(avatar) = &provider.avatar_url {
        data.insert("picture".into(), json!(avatar));
        data.insert("avatar_url".into(), json!(avatar));
    }
    data.insert("custom_claims".into(), Value::Object(custom));
    Value::Object(data)
}

/// `app_metadata` with `provider` added to `providers` (and as `provider` when it had none).
pub(super) fn with_provider(app: &Metadata, provider: &str) -> Metadata {
    let mut app = app.clone();
    let mut providers: Vec<String> = app
        .get("providers")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    if !providers.iter().any(|p| p == provider) {
        providers.push(provider.to_owned());
    }
    if app.get("provider").and_then(Value::as_str).is_none() {
        app.insert("provider", json!(provider));
    }
    app.insert("providers", json!(providers));
    app
}

/// Where an identity lands.
enum Target {
    /// Its identity is known: its user.
    Known(Box<(User, Identity)>),
    /// A new identity of an existing user.
    Link(Box<User>),
    /// A new user.
    Create,
}

impl AuthService {
    /// Decides where an identity of `provider` lands: the identity's user, an account to link
    /// (only by an address the provider verified), or a new user.
    async fn target(
        &self,
        provider: &ProviderName,
        user: &ProviderUser,
        linking_target: Option<UserId>,
    ) -> Result<Target, AuthError> {
        let known = self.ports.identities.find_identity(provider, &user.provider_id).await?;
        if let Some(target) = linking_target {
            if let Some(identity) = known {
                return Err(ExternalError::IdentityAlreadyExists { same_user: identity.user_id == target }.into());
            }
            let owner = self.ports.users.find_user(target).await?.ok_or(AuthError::UserNotFound)?;
            return Ok(Target::Link(Box::new(owner)));
        }
        if let Some(identity) = known {
            let owner = self.ports.users.find_user(identity.user_id).await?.ok_or(AuthError::UserNotFound)?;
            return Ok(Target::Known(Box::new((owner, identity))));
        }
        let verified = user.email.as_deref().filter(|_| user.email_verified || self.settings.autoconfirm);
        let Some(verified) = verified.and_then(|e| Email::parse(e).ok()) else { return Ok(Target::Create) };
        let mut owners: Vec<UserId> = Vec::new();
        for identity in self.ports.identities.find_identities_by_email(verified.as_str()).await? {
            if !owners.contains(&identity.user_id) {
                owners.push(identity.user_id);
            }
        }
        if let Some(by_email) = self.ports.users.find_user_by_email(&verified).await?
            && !owners.contains(&by_email.id)
        {
            owners.push(by_email.id);
        }
        match owners.as_slice() {
            [] => Ok(Target::Create),
            [one] => {
                let owner = self.ports.users.find_user(*one).await?.ok_or(AuthError::UserNotFound)?;
                Ok(Target::Link(Box::new(owner)))
            }
            _ => Err(ExternalError::MultipleAccounts(verified.as_str().to_owned()).into()),
        }
    }

    /// A new user for a first sign-in: the provider's address when no account has it (it is
    /// left out otherwise), confirmed when the provider verified it.
    async fn new_external_user(
        &self,
        provider: &ProviderName,
        user: &ProviderUser,
        data: &Value,
        now: DateTime<Utc>,
    ) -> Result<User, AuthError> {
        if !self.settings.signup_enabled {
            return Err(AuthError::SignupDisabled);
        }
        let email = match user.email.as_deref().map(Email::parse) {
            Some(Ok(email)) if self.ports.users.find_user_by_email(&email).await?.is_none() => Some(email),
            _ => None,
        };
        let confirmed = email.is_some() && (user.email_verified || self.settings.autoconfirm);
        Ok(User {
            id: UserId::generate(self.ports.random.as_ref())?,
            aud: self.settings.audience.clone(),
            role: self.settings.roles.authenticated.clone(),
            email_confirmed_at: confirmed.then_some(now),
            email,
            phone: None,
            username: None,
            password_hash: None,
            phone_confirmed_at: None,
            confirmation_sent_at: None,
            app_metadata: with_provider(&Metadata::new(), provider.as_str()),
            user_metadata: Metadata::from_stored(data.clone()),
            banned_until: None,
            is_anonymous: false,
            last_sign_in_at: None,
            created_at: now,
            updated_at: now,
            mail: Default::default(),
            deleted_at: None,
        })
    }

    /// Signs in (or links) the identity `user` of `provider` and ends with a session, or an
    /// auth code when the client sent a PKCE challenge: one write.
    pub(super) async fn land_external(
        &self,
        provider: &ProviderName,
        user: &ProviderUser,
        linking_target: Option<UserId>,
        challenge: Option<CodeChallenge>,
        client: &ClientInfo,
    ) -> Result<LandedWith, AuthError> {
        if user.provider_id.trim().is_empty() {
            return Err(ExternalError::ProfileFailed("the provider gave no subject".into()).into());
        }
        let now = self.ports.clock.now();
        let data = identity_data(user);
        let target = self.target(provider, user, linking_target).await?;
        let mut change = UserChange::at(now);
        change.last_sign_in_at = Some(now);
        let mut events = Vec::new();
        let (owner, identity, new_user, is_new) = match target {
            Target::Known(known) => {
                let (owner, mut identity) = *known;
                identity.identity_data = data.clone();
                identity.email = Identity::email_of(&data);
                identity.last_sign_in_at = Some(now);
                identity.updated_at = now;
                let mut metadata = owner.user_metadata.clone();
                let _ = metadata.merge(Metadata::from_stored(data.clone()), usize::MAX);
                change.user_metadata = Some(metadata);
                (owner, identity, None, false)
            }
            Target::Link(owner) => {
                let owner = *owner;
                let identity = self.new_identity(owner.id, provider, user, &data, now)?;
                change.app_metadata = Some(with_provider(&owner.app_metadata, provider.as_str()));
                if linking_target.is_none() {
                    let mut metadata = owner.user_metadata.clone();
                    let _ = metadata.merge(Metadata::from_stored(data.clone()), usize::MAX);
                    change.user_metadata = Some(metadata);
                }
                if linking_target.is_none() && owner.email.is_some() && owner.email_confirmed_at.is_none() {
                    // Someone may have signed up with this address without owning it: the
                    // provider proved it, so its password goes (pre-account-takeover defence).
                    change.password_hash = Some(None);
                    change.email_confirmed_at = Some(Some(now));
                }
                let action = AuditAction::IdentityLinked;
                events.push(self.event(
                    action,
                    Actor::User(owner.id),
                    Some(owner.id),
                    client,
                    json!({"provider": provider.as_str()}),
                ));
                (owner, identity, None, true)
            }
            Target::Create => {
                let created = self.new_external_user(provider, user, &data, now).await?;
                let identity = self.new_identity(created.id, provider, user, &data, now)?;
                let details = json!({"provider": provider.as_str()});
                events.push(self.event(
                    AuditAction::Signup,
                    Actor::User(created.id),
                    Some(created.id),
                    client,
                    details,
                ));
                (created.clone(), identity, Some(created), true)
            }
        };
        let mut after = owner.clone();
        change.apply_to(&mut after);
        if after.is_banned(now) {
            return Err(AuthError::UserBanned);
        }
        let unverified = after.email.is_some() && after.email_confirmed_at.is_none();
        if unverified && !self.settings.external.allow_unverified_email_sign_ins {
            return Err(ExternalError::EmailNeedsVerification(provider.to_string()).into());
        }
        let (landing, landed) = match challenge {
            Some(challenge) => {
                let ttl = self.settings.email.auth_code_ttl;
                let (secret, code) =
                    AuthCode::issue(self.ports.random.as_ref(), owner.id, challenge, AuthMethod::Oauth, now, ttl)?;
                (Landing::Code(code), Err(secret))
            }
            None => {
                let (session, refresh) = self.new_session(&after, AuthMethod::Oauth, client, now)?;
                let details =
                    json!({"method": "oauth", "provider": provider.as_str(), "session_id": session.id.to_string()});
                events.push(self.event(AuditAction::Login, Actor::User(owner.id), Some(owner.id), client, details));
                (Landing::Session(session.clone(), refresh.digest()), Ok((session, refresh)))
            }
        };
        let sign_in =
            IdentitySignIn { new_user, identity, identity_is_new: is_new, change, landing: Some(landing), events };
        // The user or the identity went meanwhile: nobody left to sign in.
        self.ports.identities.record_identity_sign_in(&sign_in).await.or_missing(AuthError::UserNotFound)?;
        self.observed(&sign_in.events);
        match landed {
            Ok((session, refresh)) => {
                Ok(LandedWith::Session(Box::new(self.issue(after, session, refresh, now).await?)))
            }
            Err(secret) => Ok(LandedWith::Code(secret)),
        }
    }

    fn new_identity(
        &self,
        user_id: UserId,
        provider: &ProviderName,
        user: &ProviderUser,
        data: &Value,
        now: DateTime<Utc>,
    ) -> Result<Identity, AuthError> {
        Ok(Identity {
            id: IdentityId::generate(self.ports.random.as_ref())?,
            user_id,
            provider: provider.clone(),
            provider_id: user.provider_id.clone(),
            identity_data: data.clone(),
            email: Identity::email_of(data),
            last_sign_in_at: Some(now),
            created_at: now,
            updated_at: now,
        })
    }
}
