//! The contract of KeyStore: signing keys and the first key of a new deployment.

use super::fixtures::*;

fn stored_key(kid: &str, purpose: KeyPurpose, minutes: i64) -> StoredKey {
    StoredKey {
        kid: kid.into(),
        purpose,
        algorithm: "ES256".into(),
        material: KeyMaterial::new(format!("{{\"kty\":\"EC\",\"kid\":\"{kid}\",\"d\":\"c2VjcmV0\"}}")),
        created_at: t0(),
        activates_at: t0() + Duration::minutes(minutes),
        retired_at: None,
    }
}

contract_cases! { $ key_contract_cases, keys;
    /// Keys come back exactly as stored, per purpose, and a kid is never stored twice.
    pub async fn keys_round_trip_and_kids_are_unique(store: Arc<impl Store>) {
        let first = stored_key("k1", KeyPurpose::AccessToken, 0);
        let second = stored_key("k2", KeyPurpose::AccessToken, 10);
        let chain = stored_key("c1", KeyPurpose::RefreshChain, 0);
        store.add_key(&first).await.unwrap();
        store.add_key(&second).await.unwrap();
        store.add_key(&chain).await.unwrap();
        let mut keys = store.list_keys(KeyPurpose::AccessToken).await.unwrap();
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        assert_eq!(keys, vec![first.clone(), second]);
        assert_eq!(store.list_keys(KeyPurpose::RefreshChain).await.unwrap(), vec![chain]);
        assert_eq!(store.add_key(&first).await, Err(StoreError::Conflict(UniqueField::Id)));
        assert!(!store.add_first_key(&stored_key("k3", KeyPurpose::AccessToken, 0)).await.unwrap());
    }

    /// Replicas racing to create the first key on an empty database: one key wins.
    pub async fn replicas_starting_together_store_one_first_key(store: Arc<impl Store>) {
        let attempts = (0..8).map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(
                async move { store.add_first_key(&stored_key(&format!("r{n}"), KeyPurpose::AccessToken, 0)).await },
            )
        });
        let results: Vec<bool> = join_all(attempts).await.into_iter().map(|r| r.unwrap().unwrap()).collect();
        assert_eq!(results.iter().filter(|stored| **stored).count(), 1, "{results:?}");
        assert_eq!(store.list_keys(KeyPurpose::AccessToken).await.unwrap().len(), 1);
        assert!(
            store.add_first_key(&stored_key("c", KeyPurpose::RefreshChain, 0)).await.unwrap(),
            "purposes are separate"
        );
    }

    /// Material is replaced only while it is what the caller read: of replicas encrypting the
    /// same key together, one wins and the others are told.
    pub async fn key_material_is_replaced_only_from_what_was_read(store: Arc<impl Store>) {
        let key = stored_key("m1", KeyPurpose::ApiKey, 0);
        store.add_key(&key).await.unwrap();
        let sealed = KeyMaterial::new("enc:v1:first");
        let attempts = (0..4).map(|n| {
            let store = Arc::clone(&store);
            let (current, new) = (key.material.clone(), KeyMaterial::new(format!("enc:v1:r{n}")));
            tokio::spawn(async move { store.replace_key_material("m1", &current, &new).await })
        });
        let results: Vec<bool> = join_all(attempts).await.into_iter().map(|r| r.unwrap().unwrap()).collect();
        assert_eq!(results.iter().filter(|replaced| **replaced).count(), 1, "{results:?}");
        let stored = store.list_keys(KeyPurpose::ApiKey).await.unwrap().remove(0);
        assert!(stored.material.expose().starts_with("enc:v1:r"));
        assert_eq!(StoredKey { material: key.material.clone(), ..stored.clone() }, key, "only the material changed");
        assert!(!store.replace_key_material("m1", &key.material, &sealed).await.unwrap(), "stale material");
        assert!(!store.replace_key_material("nope", &stored.material, &sealed).await.unwrap(), "unknown kid");
        assert!(store.replace_key_material("m1", &stored.material, &sealed).await.unwrap());
        assert_eq!(store.list_keys(KeyPurpose::ApiKey).await.unwrap()[0].material, sealed);
    }

    /// A retired key keeps every field and its first retirement time; an unknown kid is
    /// `NotFound`.
    pub async fn a_key_is_retired_once_and_an_unknown_one_is_not_found(store: Arc<impl Store>) {
        let key = stored_key("x1", KeyPurpose::AccessToken, 0);
        let other = stored_key("x2", KeyPurpose::AccessToken, 10);
        store.add_key(&key).await.unwrap();
        store.add_key(&other).await.unwrap();
        let at = t0() + Duration::minutes(30);
        store.retire_key("x1", at).await.unwrap();
        store.retire_key("x1", at + Duration::minutes(5)).await.unwrap();
        let mut keys = store.list_keys(KeyPurpose::AccessToken).await.unwrap();
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        assert_eq!(keys, vec![StoredKey { retired_at: Some(at), ..key }, other], "only x1 changed, once");
        assert_eq!(store.retire_key("nope", at).await, Err(StoreError::NotFound));
    }
}
