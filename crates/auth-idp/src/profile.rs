//! Reading a provider's user data into auth-core's `ProviderUser`, per provider (the fields
//! Supabase Auth reads for each).

use auth_core::ports::ProviderUser;
use serde_json::{Map, Value};

use crate::config::ClaimMap;

fn text(value: &Value, pointer: &str) -> Option<String> {
    match value.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn claims(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// OpenID claims (ID token or user info): `sub`, `email`, `email_verified` (a boolean, or the
/// string some providers send), `name`, `picture`.
pub(crate) fn standard(value: &Value) -> ProviderUser {
    let verified = match value.get("email_verified") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    ProviderUser {
        provider_id: text(value, "/sub").unwrap_or_default(),
        email: text(value, "/email"),
        email_verified: verified,
        name: text(value, "/name"),
        avatar_url: text(value, "/picture"),
        claims: claims(value),
    }
}

/// A generic provider's user info through its claim map.
pub(crate) fn mapped(value: &Value, map: &ClaimMap) -> ProviderUser {
    let verified = map.email_verified_always
        || map.email_verified.as_deref().and_then(|p| value.pointer(p)).is_some_and(|v| v == &Value::Bool(true));
    ProviderUser {
        provider_id: text(value, &map.id).unwrap_or_default(),
        email: text(value, &map.email),
        email_verified: verified,
        name: text(value, &map.name),
        avatar_url: text(value, &map.avatar),
        claims: claims(value),
    }
}

/// GitHub: `/user` and the list of `/user/emails`; the primary address (else the last one)
/// with its `verified` flag.
pub(crate) fn github(user: &Value, emails: &Value) -> ProviderUser {
    let list = emails.as_array().cloned().unwrap_or_default();
    let chosen = list.iter().find(|e| e.get("primary") == Some(&Value::Bool(true))).or(list.last());
    let email = chosen.and_then(|e| text(e, "/email")).or_else(|| text(user, "/email"));
    let verified = chosen.is_some_and(|e| e.get("verified") == Some(&Value::Bool(true)));
    ProviderUser {
        provider_id: text(user, "/id").unwrap_or_default(),
        email,
        email_verified: verified,
        name: text(user, "/name").or_else(|| text(user, "/login")),
        avatar_url: text(user, "/avatar_url"),
        claims: claims(user),
    }
}

/// GitLab: `/api/v4/user`; its address is verified once `confirmed_at` is set.
pub(crate) fn gitlab(user: &Value) -> ProviderUser {
    ProviderUser {
        provider_id: text(user, "/id").unwrap_or_default(),
        email: text(user, "/email"),
        email_verified: text(user, "/confirmed_at").is_some(),
        name: text(user, "/name"),
        avatar_url: text(user, "/avatar_url"),
        claims: claims(user),
    }
}

/// Discord: `/api/users/@me`; `verified` says whether the address is; the avatar is a CDN URL
/// made of the user's id and avatar hash.
pub(crate) fn discord(user: &Value) -> ProviderUser {
    let id = text(user, "/id").unwrap_or_default();
    let avatar = text(user, "/avatar").map(|hash| format!("https://cdn.discordapp.com/avatars/{id}/{hash}.png"));
    let name = match (text(user, "/username"), text(user, "/discriminator")) {
        (Some(name), Some(tag)) if tag != "0" => Some(format!("{name}#{tag}")),
        (name, _) => name,
    };
    ProviderUser {
        provider_id: id,
        email: text(user, "/email"),
        email_verified: user.get("verified") == Some(&Value::Bool(true)),
        name,
        avatar_url: avatar,
        claims: claims(user),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn github_reads_the_primary_address() {
        let user = json!({"id": 42, "login": "octo", "name": null, "avatar_url": "https://a/x.png"});
        let emails = json!([
            {"email": "old@example.com", "primary": false, "verified": true},
            {"email": "Octo@Example.com", "primary": true, "verified": false},
        ]);
        let read = github(&user, &emails);
        assert_eq!(read.provider_id, "42");
        assert_eq!(read.email.as_deref(), Some("Octo@Example.com"));
        assert!(!read.email_verified);
        assert_eq!(read.name.as_deref(), Some("octo"));
    }

    #[test]
    fn standard_claims_read_string_booleans() {
        let read = standard(&json!({"sub": "s", "email": "a@b.io", "email_verified": "true"}));
        assert!(read.email_verified);
        assert!(!standard(&json!({"sub": "s", "email_verified": "false"})).email_verified);
    }

    #[test]
    fn gitlab_and_discord_read_verification() {
        assert!(gitlab(&json!({"id": 1, "email": "a@b.io", "confirmed_at": "2020-01-01"})).email_verified);
        assert!(!gitlab(&json!({"id": 1, "email": "a@b.io", "confirmed_at": null})).email_verified);
        let d = discord(&json!({"id": "9", "username": "x", "discriminator": "0", "avatar": "h", "verified": true}));
        assert!(d.email_verified);
        assert_eq!(d.name.as_deref(), Some("x"));
        assert_eq!(d.avatar_url.as_deref(), Some("https://cdn.discordapp.com/avatars/9/h.png"));
    }

    #[test]
    fn mapped_follows_pointers() {
        let map = ClaimMap {
            id: "/data/id".into(),
            email: "/data/mail".into(),
            email_verified: None,
            email_verified_always: true,
            name: "/data/n".into(),
            avatar: "/x".into(),
        };
        let read = mapped(&json!({"data": {"id": 7, "mail": "a@b.io", "n": "A"}}), &map);
        assert_eq!((read.provider_id.as_str(), read.email_verified), ("7", true));
    }
}
