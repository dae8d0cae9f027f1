//! The JSON shapes of Supabase Auth: the user object and the session (token) response. (An
//! audit event's shape is its own serialisation, in auth-core.)

use auth_core::domain::{Factor, Identity, User};
use auth_core::service::{IssuedSession, has_email_identity};
use serde_json::{Map, Value, json};

/// A user with its factors (`factors`, left out when there are none, as Supabase Auth does).
pub fn user_with_factors(user: &User, factors: &[Factor]) -> Value {
    user_in_full(user, factors, &[])
}

/// A user with its factors and its stored identities (after the email identity).
pub fn user_in_full(user: &User, factors: &[Factor], stored: &[Identity]) -> Value {
    let mut out = self::user(user);
    if let Some(map) = out.as_object_mut() {
        if !factors.is_empty() {
            map.insert("factors".into(), Value::Array(factors.iter().map(factor).collect()));
        }
        if let Some(Value::Array(list)) = map.get_mut("identities") {
            list.extend(stored.iter().map(identity));
        }
    }
    out
}

/// A stored identity in Supabase Auth's shape: the row's id is `identity_id`, the provider's
/// subject `id`.
pub fn identity(identity: &Identity) -> Value {
    let mut out = Map::new();
    out.insert("identity_id".into(), json!(identity.id.to_string()));
    out.insert("id".into(), json!(identity.provider_id));
    out.insert("user_id".into(), json!(identity.user_id.to_string()));
    out.insert("identity_data".into(), identity.identity_data.clone());
    out.insert("provider".into(), json!(identity.provider.as_str()));
    insert_time(&mut out, "last_sign_in_at", identity.last_sign_in_at);
    out.insert("created_at".into(), json!(identity.created_at));
    out.insert("updated_at".into(), json!(identity.updated_at));
    if let Some(email) = &identity.email {
        out.insert("email".into(), json!(email));
    }
    Value::Object(out)
}

/// A factor in Supabase Auth's shape (its secret never leaves the server).
pub fn factor(factor: &Factor) -> Value {
    json!({
        "id": factor.id.to_string(),
        "friendly_name": factor.friendly_name,
        "factor_type": factor.factor_type.as_str(),
        "status": factor.status.as_str(),
        "created_at": factor.created_at,
        "updated_at": factor.updated_at,
        "last_challenged_at": factor.last_challenged_at,
        "phone": "",
    })
}

/// A user in Supabase Auth's shape: `email` and `phone` are `""` when
/// unset, optional fields are left out when null, and `identities` lists the email identity
/// (none once the user is soft-deleted; see [`user_in_full`] for the stored ones).
pub fn user(user: &User) -> Value {
    let mut out = Map::new();
    let id = user.id.to_string();
    out.insert("id".into(), json!(id));
    out.insert("aud".into(), json!(user.aud));
    out.insert("role".into(), json!(user.role));
    out.insert("email".into(), json!(user.email.as_ref().map(|e| e.as_str()).unwrap_or("")));
    insert_time(&mut out, "email_confirmed_at", user.email_confirmed_at);
    insert_time(&mut out, "invited_at", user.mail.invited_at);
    out.insert("phone".into(), json!(user.phone.as_ref().map(|p| p.as_str()).unwrap_or("")));
    insert_time(&mut out, "phone_confirmed_at", user.phone_confirmed_at);
    insert_time(&mut out, "confirmation_sent_at", user.confirmation_sent_at);
    insert_time(&mut out, "confirmed_at", user.confirmed_at());
    insert_time(&mut out, "recovery_sent_at", user.mail.recovery_sent_at);
    if let Some(new_email) = &user.mail.email_change {
        out.insert("new_email".into(), json!(new_email.as_str()));
    }
    insert_time(&mut out, "email_change_sent_at", user.mail.email_change_sent_at);
    if let Some(new_phone) = &user.mail.phone_change {
        out.insert("new_phone".into(), json!(new_phone.as_str()));
    }
    insert_time(&mut out, "phone_change_sent_at", user.mail.phone_change_sent_at);
    insert_time(&mut out, "reauthentication_sent_at", user.mail.reauthentication_sent_at);
    insert_time(&mut out, "last_sign_in_at", user.last_sign_in_at);
    out.insert("app_metadata".into(), user.app_metadata.to_value());
    out.insert("user_metadata".into(), user.user_metadata.to_value());
    out.insert("identities".into(), Value::Array(identities(user)));
    out.insert("created_at".into(), json!(user.created_at));
    out.insert("updated_at".into(), json!(user.updated_at));
    insert_time(&mut out, "banned_until", user.banned_until);
    insert_time(&mut out, "deleted_at", user.deleted_at);
    out.insert("is_anonymous".into(), json!(user.is_anonymous));
    if let Some(username) = &user.username {
        out.insert("username".into(), json!(username.as_str()));
    }
    Value::Object(out)
}

/// A session response: the tokens and the user.
pub fn session(issued: &IssuedSession) -> Value {
    json!({
        "access_token": issued.access_token,
        "token_type": "bearer",
        "expires_in": issued.expires_in,
        "expires_at": issued.expires_at,
        "refresh_token": issued.refresh_token.expose(),
        "user": user_in_full(&issued.user, &issued.factors, &issued.identities),
    })
}

/// The email identity of a user who has one (`has_email_identity`). Supabase Auth's identity
/// object names its row `identity_id` and the provider's subject `id`; for the email identity
/// both are the user's id here (authd stores no row for it).
fn identities(user: &User) -> Vec<Value> {
    let Some(email) = user.email.as_ref().filter(|_| has_email_identity(user)) else { return Vec::new() };
    let id = user.id.to_string();
    let mut identity = Map::new();
    identity.insert("identity_id".into(), json!(id));
    identity.insert("id".into(), json!(id));
    identity.insert("user_id".into(), json!(id));
    identity.insert(
        "identity_data".into(),
        json!({
            "sub": id,
            "email": email.as_str(),
            "email_verified": user.email_confirmed_at.is_some(),
            "phone_verified": user.phone_confirmed_at.is_some(),
        }),
    );
    identity.insert("provider".into(), json!("email"));
    insert_time(&mut identity, "last_sign_in_at", user.last_sign_in_at);
    identity.insert("created_at".into(), json!(user.created_at));
    identity.insert("updated_at".into(), json!(user.updated_at));
    identity.insert("email".into(), json!(email.as_str()));
    vec![Value::Object(identity)]
}

fn insert_time(out: &mut Map<String, Value>, key: &str, value: Option<chrono::DateTime<chrono::Utc>>) {
    if let Some(time) = value {
        out.insert(key.to_owned(), json!(time));
    }
}
