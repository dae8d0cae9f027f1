use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Default limit on the serialised size of one metadata object, in bytes.
pub const METADATA_DEFAULT_MAX_BYTES: usize = 16 * 1024;

/// Why a JSON value is not acceptable as metadata.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// Metadata must be a JSON object (or null, read as empty).
    #[error("metadata must be a JSON object")]
    NotAnObject,
    /// The serialised object is over the limit.
    #[error("metadata is larger than {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded, in bytes.
        limit: usize,
    },
    /// A key or a string holds U+0000, which PostgreSQL cannot store in `jsonb` (and which no
    /// client means to send).
    #[error("metadata may not contain the NUL character (\\u0000)")]
    NulCharacter,
}

/// A JSON object attached to a user (`user_metadata` or `app_metadata`), bounded in size.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Metadata(Map<String, Value>);

impl Metadata {
    /// Whether the object has no keys.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts a JSON object (null reads as empty) whose serialised size is at most `max_bytes`.
    pub fn from_value(value: Value, max_bytes: usize) -> Result<Self, MetadataError> {
        let map = match value {
            Value::Null => Map::new(),
            Value::Object(map) => map,
            _ => return Err(MetadataError::NotAnObject),
        };
        if map.iter().any(|(key, value)| key.contains('\0') || holds_nul(value)) {
            return Err(MetadataError::NulCharacter);
        }
        let metadata = Self(map);
        metadata.check_size(max_bytes)?;
        Ok(metadata)
    }

    /// Wraps an object read back from storage, where it was validated on the way in.
    pub fn from_stored(value: Value) -> Self {
        match value {
            Value::Object(map) => Self(map),
            _ => Self::default(),
        }
    }

    /// Shallow-merges `patch` into `self`: top-level keys are replaced, and a key set to `null`
    /// is removed, as Supabase Auth does for `PUT /user` with `data`.
    pub fn merge(&mut self, patch: Metadata, max_bytes: usize) -> Result<(), MetadataError> {
        let mut merged = self.0.clone();
        for (key, value) in patch.0 {
            if value.is_null() {
                merged.remove(&key);
            } else {
                merged.insert(key, value);
            }
        }
        let merged = Self(merged);
        merged.check_size(max_bytes)?;
        *self = merged;
        Ok(())
    }

    /// Sets one key, replacing what was there.
    pub fn insert(&mut self, key: &str, value: Value) {
        self.0.insert(key.to_owned(), value);
    }

    /// Reads one key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// `user_metadata` as Supabase Auth seeds it for a new email user: the data given, with the
    /// email identity's `sub`, `email`, `email_verified` and `phone_verified` over it (data never
    /// overrides those four).
    pub fn seeded_for_email(mut self, sub: &str, email: &str, email_verified: bool) -> Self {
        self.0.insert("sub".into(), Value::from(sub));
        self.0.insert("email".into(), Value::from(email));
        self.0.insert("email_verified".into(), Value::from(email_verified));
        self.0.insert("phone_verified".into(), Value::from(false));
        self
    }

    /// The metadata once the email address is confirmed: `email_verified` turns true where the
    /// seeding put it (`None`: nothing to change).
    pub fn email_verified(&self) -> Option<Self> {
        (self.0.get("email_verified") == Some(&Value::Bool(false))).then(|| {
            let mut verified = self.clone();
            verified.0.insert("email_verified".into(), Value::Bool(true));
            verified
        })
    }

    /// The object as a JSON value.
    pub fn to_value(&self) -> Value {
        Value::Object(self.0.clone())
    }

    fn check_size(&self, limit: usize) -> Result<(), MetadataError> {
        let size = serde_json::to_vec(&self.0).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > limit {
            return Err(MetadataError::TooLarge { limit });
        }
        Ok(())
    }
}

/// Whether a JSON value has U+0000 in any string or key, at any depth.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(key, value)| key.contains('\0') || holds_nul(value)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn accepts_objects_and_null() {
        assert!(Metadata::from_value(json!({"a": 1}), 100).is_ok());
        assert_eq!(Metadata::from_value(Value::Null, 100).unwrap(), Metadata::new());
    }

    #[test]
    fn refuses_non_objects_and_oversized() {
        assert_eq!(Metadata::from_value(json!([1]), 100), Err(MetadataError::NotAnObject));
        assert_eq!(Metadata::from_value(json!("x"), 100), Err(MetadataError::NotAnObject));
        let big = json!({"k": "x".repeat(200)});
        assert_eq!(Metadata::from_value(big, 100), Err(MetadataError::TooLarge { limit: 100 }));
    }

    #[test]
    fn refuses_nul_characters_anywhere() {
        for value in [
            json!({"a\u{0}b": 1}),
            json!({"k": "a\u{0}b"}),
            json!({"k": [1, {"deep": ["\u{0}"]}]}),
            json!({"k": {"x\u{0}": null}}),
        ] {
            assert_eq!(Metadata::from_value(value.clone(), 1000), Err(MetadataError::NulCharacter), "{value}");
        }
        assert!(Metadata::from_value(json!({"k": "tab\tand\u{1}controls are fine"}), 1000).is_ok());
    }

    #[test]
    fn merge_replaces_keys_and_null_removes() {
        let mut m = Metadata::from_value(json!({"a": 1, "b": 2}), 100).unwrap();
        m.merge(Metadata::from_value(json!({"b": null, "c": 3}), 100).unwrap(), 100).unwrap();
        assert_eq!(m.to_value(), json!({"a": 1, "c": 3}));
    }

    #[test]
    fn seeding_puts_the_identitys_fields_over_the_data() {
        let data = Metadata::from_value(json!({"full_name": "Ann", "email": "spoof@example.com"}), 100).unwrap();
        let seeded = data.seeded_for_email("u1", "ann@example.com", false);
        let expected = json!({"full_name": "Ann", "sub": "u1", "email": "ann@example.com", "email_verified": false, "phone_verified": false});
        assert_eq!(seeded.to_value(), expected);
        let verified = seeded.email_verified().unwrap();
        assert_eq!(verified.get("email_verified"), Some(&json!(true)));
        assert_eq!(verified.email_verified(), None, "already verified");
        assert_eq!(Metadata::new().email_verified(), None, "not seeded: left alone");
    }

    #[test]
    fn merge_over_limit_leaves_metadata_unchanged() {
        let mut m = Metadata::from_value(json!({"a": 1}), 30).unwrap();
        let patch = Metadata::from_value(json!({"b": "x".repeat(40)}), 100).unwrap();
        assert!(m.merge(patch, 30).is_err());
        assert_eq!(m.to_value(), json!({"a": 1}));
    }
}
