//! The rows of `mfa_factors`, `mfa_challenges` and `mfa_recovery_codes`, and their conversion to and from the domain.

use super::super::{Db, DbUuid, db_uuid, uuid};
use auth_core::domain::{
    ChallengeId, Factor, FactorChallenge, FactorId, FactorStatus, FactorType, SealedSecret, UserId,
};
use auth_core::ports::StoreError;
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::rows::parsed;
use super::schema::{mfa_challenges, mfa_factors, mfa_recovery_codes};

/// A row of `mfa_factors`.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = mfa_factors, check_for_backend(Db))]
pub struct FactorRow {
    pub id: DbUuid,
    pub user_id: DbUuid,
    pub friendly_name: String,
    pub factor_type: String,
    pub status: String,
    pub secret: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_challenged_at: Option<DateTime<Utc>>,
    pub last_used_step: Option<i64>,
}

impl From<&Factor> for FactorRow {
    fn from(f: &Factor) -> Self {
        Self {
            id: db_uuid(f.id.as_uuid()),
            user_id: db_uuid(f.user_id.as_uuid()),
            friendly_name: f.friendly_name.clone(),
            factor_type: f.factor_type.as_str().to_owned(),
            status: f.status.as_str().to_owned(),
            secret: f.secret.expose().to_owned(),
            created_at: f.created_at,
            updated_at: f.updated_at,
            last_challenged_at: f.last_challenged_at,
            last_used_step: f.last_used_step,
        }
    }
}

impl TryFrom<FactorRow> for Factor {
    type Error = StoreError;

    fn try_from(row: FactorRow) -> Result<Self, StoreError> {
        Ok(Factor {
            id: FactorId::from_uuid(uuid(row.id)),
            user_id: UserId::from_uuid(uuid(row.user_id)),
            friendly_name: row.friendly_name,
            factor_type: parsed(&row.factor_type, FactorType::parse, "factor type")?,
            status: parsed(&row.status, FactorStatus::parse, "factor status")?,
            secret: SealedSecret::new(row.secret),
            created_at: row.created_at,
            updated_at: row.updated_at,
            last_challenged_at: row.last_challenged_at,
            last_used_step: row.last_used_step,
        })
    }
}

/// A row of `mfa_challenges`.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = mfa_challenges, check_for_backend(Db))]
pub struct ChallengeRow {
    pub id: DbUuid,
    pub factor_id: DbUuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub verified_at: Option<DateTime<Utc>>,
}

impl From<&FactorChallenge> for ChallengeRow {
    fn from(c: &FactorChallenge) -> Self {
        Self {
            id: db_uuid(c.id.as_uuid()),
            factor_id: db_uuid(c.factor_id.as_uuid()),
            created_at: c.created_at,
            expires_at: c.expires_at,
            ip: c.ip.clone(),
            verified_at: c.verified_at,
        }
    }
}

impl TryFrom<ChallengeRow> for FactorChallenge {
    type Error = StoreError;

    fn try_from(row: ChallengeRow) -> Result<Self, StoreError> {
        Ok(FactorChallenge {
            id: ChallengeId::from_uuid(uuid(row.id)),
            factor_id: FactorId::from_uuid(uuid(row.factor_id)),
            created_at: row.created_at,
            expires_at: row.expires_at,
            ip: row.ip,
            verified_at: row.verified_at,
        })
    }
}

/// A new row of `mfa_recovery_codes`: the digest of an unused code.
#[derive(Insertable)]
#[diesel(table_name = mfa_recovery_codes, check_for_backend(Db))]
pub struct RecoveryCodeRow {
    pub factor_id: DbUuid,
    pub digest: Vec<u8>,
}

impl RecoveryCodeRow {
    /// The rows of `codes`, all of `factor`.
    pub fn all(factor: DbUuid, codes: &[auth_core::domain::TokenDigest]) -> Vec<Self> {
        codes.iter().map(|code| Self { factor_id: factor, digest: code.as_bytes().to_vec() }).collect()
    }
}
