//! The GoTrue importer against a real PostgreSQL holding an old GoTrue schema (before phone,
//! bans, soft deletes, SSO and anonymous users existed), into the in-memory store. The binary's
//! tests import a current schema into authd's own databases and sign the users in.

// Test code: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::num::NonZeroU32;

use auth_core::domain::{Email, UserId};
use auth_core::memory::MemoryStore;
use auth_core::ports::UserStore;
use auth_gotrue::{Defaults, HashAdmission, ImportError, ImportOptions, SchemaName, import_users};
use auth_testkit::postgres::test_database;
use chrono::{TimeZone, Utc};
use tokio_postgres::NoTls;

/// The columns of an early GoTrue `users` table, in a schema of its own name, and no
/// `identities` table.
const OLD_GOTRUE: &str = "
CREATE SCHEMA gotrue;
CREATE TABLE gotrue.users (
    instance_id uuid,
    id uuid NOT NULL PRIMARY KEY,
    aud varchar(255),
    role varchar(255),
    email varchar(255) UNIQUE,
    encrypted_password varchar(255),
    confirmed_at timestamptz,
    email_confirmed_at timestamptz,
    last_sign_in_at timestamptz,
    raw_app_meta_data jsonb,
    raw_user_meta_data jsonb,
    created_at timestamptz,
    updated_at timestamptz
);
INSERT INTO gotrue.users (id, aud, role, email, encrypted_password, email_confirmed_at, raw_user_meta_data,
        created_at, updated_at) VALUES
    ('00000000-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'una@example.com',
        '$2a$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234', '2020-01-02T00:00:00Z',
        '{\"name\": \"Una\"}', '2020-01-01T00:00:00Z', '2020-01-03T00:00:00Z'),
    ('00000000-0000-4000-8000-000000000005', 'authenticated', 'authenticated', 'slow@example.com',
        '$2a$31$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234', NULL, NULL, '2020-01-01T00:00:00Z', NULL),
    ('00000000-0000-4000-8000-000000000002', NULL, NULL, 'fb@example.com',
        '$fbscrypt$v=1,n=14,r=8,p=1$c2FsdA$aGFzaA', NULL, NULL, NULL, NULL),
    ('00000000-0000-4000-8000-000000000003', 'authenticated', 'authenticated', 'not an address',
        NULL, NULL, NULL, '2020-01-01T00:00:00Z', NULL),
    ('00000000-0000-4000-8000-000000000004', 'authenticated', 'authenticated', NULL,
        NULL, NULL, '[\"not an object\"]', '2020-01-01T00:00:00Z', NULL);
";

/// Stands for authd's cost bounds: bcrypt up to cost 14.
fn no_bcrypt_over_14() -> HashAdmission {
    HashAdmission::new(|hash| match hash.get(4..6).and_then(|c| c.parse::<u32>().ok()) {
        Some(cost) if hash.starts_with("$2") && cost > 14 => Err(format!("bcrypt cost {cost} is above 14")),
        _ => Ok(()),
    })
}

fn uuid(last: u8) -> String {
    format!("00000000-0000-4000-8000-{last:012}")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_old_gotrue_schema_imports_in_batches_and_again_without_change() {
    let Some(database) = test_database("gotrue_old_schema").await else { return };
    let (client, connection) = tokio_postgres::connect(database.url(), NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute(OLD_GOTRUE).await.unwrap();

    let store = MemoryStore::new();
    let now = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    let defaults = Defaults { aud: "aud-default".into(), role: "role-default".into(), now };
    let options = ImportOptions {
        schema: SchemaName::parse("gotrue").unwrap(),
        batch_size: NonZeroU32::new(2).unwrap(),
        admit_hash: no_bcrypt_over_14(),
    };

    let first = import_users(database.url(), &options, &defaults, &store).await.unwrap();
    assert_eq!((first.read, first.imported, first.already_present), (5, 4, 0), "{first:?}");
    assert_eq!((first.skipped_deleted, first.skipped_sso), (0, 0));
    assert_eq!(first.refused.keys().collect::<Vec<_>>(), [&uuid(3)], "{first:?}");
    assert!(first.refused[&uuid(3)].contains("email address"), "{first:?}");
    assert_eq!(first.without_password, [uuid(2)], "an unreadable hash is dropped and reported");
    assert_eq!(first.too_costly.keys().collect::<Vec<_>>(), [&uuid(5)], "a costly hash is dropped with why");
    assert!(first.too_costly[&uuid(5)].contains("cost 31"), "{first:?}");
    let slow = store.find_user(UserId::from_uuid(uuid(5).parse().unwrap())).await.unwrap().unwrap();
    assert!(slow.password_hash.is_none(), "the costly hash is not stored");
    assert!(first.external_identities.is_empty(), "no identities table, nothing counted");

    let una = store.find_user_by_email(&Email::parse("una@example.com").unwrap()).await.unwrap().unwrap();
    assert_eq!(una.id, UserId::from_uuid(uuid(1).parse().unwrap()));
    assert!(una.password_hash.is_some(), "bcrypt is carried as it is");
    assert_eq!(una.user_metadata.get("name").unwrap(), "Una");
    assert_eq!(una.created_at, Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap());
    assert!(una.phone.is_none() && una.banned_until.is_none() && !una.is_anonymous, "absent columns read as absent");
    let fb = store.find_user(UserId::from_uuid(uuid(2).parse().unwrap())).await.unwrap().unwrap();
    assert_eq!((fb.aud.as_str(), fb.role.as_str()), ("aud-default", "role-default"));
    assert_eq!((fb.created_at, fb.updated_at), (now, now), "no times at all: the import's clock");
    assert!(fb.password_hash.is_none());
    let odd = store.find_user(UserId::from_uuid(uuid(4).parse().unwrap())).await.unwrap().unwrap();
    assert!(odd.user_metadata.to_value().as_object().unwrap().is_empty(), "metadata that is not an object is dropped");

    let second = import_users(database.url(), &options, &defaults, &store).await.unwrap();
    assert_eq!((second.read, second.imported, second.already_present), (5, 0, 4), "{second:?}");
    assert!(second.without_password.is_empty(), "users already there are not reported again");
    assert!(second.too_costly.is_empty(), "users already there are not reported again");
    assert_eq!(second.refused.len(), 1, "the same refusal");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schema_without_gotrue_users_is_refused() {
    let Some(database) = test_database("gotrue_not_there").await else { return };
    let options = ImportOptions {
        schema: SchemaName::parse("auth").unwrap(),
        batch_size: NonZeroU32::new(10).unwrap(),
        admit_hash: HashAdmission::any(),
    };
    let defaults =
        Defaults { aud: "a".into(), role: "r".into(), now: Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap() };
    let error = import_users(database.url(), &options, &defaults, &MemoryStore::new()).await.unwrap_err();
    assert!(matches!(error, ImportError::NotGotrue { column: "id", .. }), "{error:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn imports_over_tls_through_the_shared_connector() {
    let Some(cluster) = auth_testkit::tls_cluster::tls_cluster().await else { return };
    let (client, connection) = tokio_postgres::connect(&cluster.url("127.0.0.1", ""), NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute(OLD_GOTRUE).await.unwrap();
    let store = MemoryStore::new();
    let now = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    let defaults = Defaults { aud: "aud".into(), role: "role".into(), now };
    let options = ImportOptions {
        schema: SchemaName::parse("gotrue").unwrap(),
        batch_size: NonZeroU32::new(10).unwrap(),
        admit_hash: HashAdmission::any(),
    };
    let ca = cluster.ca().display().to_string();
    let url = cluster.url("localhost", &format!("sslmode=verify-full&sslrootcert={ca}"));
    let summary = import_users(&url, &options, &defaults, &store).await.unwrap();
    assert_eq!(summary.read, 5, "{summary:?}");
    // A certificate that names another host is refused under verify-full.
    let by_address = cluster.url("127.0.0.1", &format!("sslmode=verify-full&sslrootcert={ca}"));
    let error = import_users(&by_address, &options, &defaults, &store).await.unwrap_err();
    assert!(matches!(error, ImportError::Connect(_)), "{error:?}");
}
