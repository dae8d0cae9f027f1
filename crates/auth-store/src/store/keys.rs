//! `KeyStore`.

use async_trait::async_trait;
use auth_core::domain::{KeyMaterial, KeyPurpose, StoredKey};
use auth_core::ports::{KeyStore, StoreError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::super::{Store, serialize_key_writers};
use super::rows::KeyRow;
use super::schema::signing_keys;

#[async_trait]
impl KeyStore for Store {
    async fn list_keys(&self, purpose: KeyPurpose) -> Result<Vec<StoredKey>, StoreError> {
        let query = signing_keys::table.filter(signing_keys::purpose.eq(purpose.as_str())).select(KeyRow::as_select());
        self.load("list_keys", query).await
    }

    async fn add_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        let row = KeyRow::from(key);
        self.execute("add_key", diesel::insert_into(signing_keys::table).values(&row)).await.map(drop)
    }

    async fn add_first_key(&self, key: &StoredKey) -> Result<bool, StoreError> {
        let row = KeyRow::from(key);
        self.write("add_first_key", async |c| {
            serialize_key_writers(c).await?;
            let existing = signing_keys::table.filter(signing_keys::purpose.eq(&row.purpose)).count();
            if existing.get_result::<i64>(c).await? > 0 {
                return Ok(false);
            }
            diesel::insert_into(signing_keys::table).values(&row).execute(c).await?;
            Ok(true)
        })
        .await
    }

    async fn replace_key_material(
        &self,
        kid: &str,
        current: &KeyMaterial,
        new: &KeyMaterial,
    ) -> Result<bool, StoreError> {
        // One statement: of replicas racing to replace the same material, one matches.
        let key =
            signing_keys::table.filter(signing_keys::kid.eq(kid)).filter(signing_keys::material.eq(current.expose()));
        let replace = diesel::update(key).set(signing_keys::material.eq(new.expose()));
        Ok(self.execute("replace_key_material", replace).await? == 1)
    }

    async fn retire_key(&self, kid: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.write("retire_key", async |c| {
            // Only a key not retired yet is marked, so a repeated retirement keeps the first time.
            let key = signing_keys::table.filter(signing_keys::kid.eq(kid));
            diesel::update(key.filter(signing_keys::retired_at.is_null()))
                .set(signing_keys::retired_at.eq(at))
                .execute(c)
                .await?;
            match key.count().get_result::<i64>(c).await? {
                0 => Err(diesel::result::Error::NotFound),
                _ => Ok(()),
            }
        })
        .await
    }
}
