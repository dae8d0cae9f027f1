//! A PostgreSQL that ends the store's connections (a shutdown, a restart, an operator's
//! `pg_terminate_backend`): the port call that was waiting answers `Unavailable`, which the
//! HTTP adapter turns into 503, never `Internal` (500).

use std::time::Duration;

use auth_core::domain::{Email, Metadata, User, UserChange, UserId};
use auth_core::ports::StoreError;
use auth_store::{Database, PoolOptions};
use auth_testkit::postgres::test_database;
use chrono::DateTime;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread")]
async fn a_query_cut_by_a_terminated_connection_is_unavailable() {
    let Some(db) = test_database("cut_query").await else { return };
    let store = Database::connect(db.url(), &PoolOptions::default()).await.unwrap();
    store.migrate().await.unwrap();
    let users = store.users();
    let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let id = UserId::from_uuid(Uuid::from_u128(0x5eed));
    let user = User {
        id,
        aud: "authenticated".into(),
        role: "authenticated".into(),
        email: Some(Email::parse("cut@example.com").unwrap()),
        phone: None,
        username: None,
        password_hash: None,
        email_confirmed_at: Some(now),
        phone_confirmed_at: None,
        confirmation_sent_at: None,
        app_metadata: Metadata::new(),
        user_metadata: Metadata::new(),
        banned_until: None,
        is_anonymous: false,
        last_sign_in_at: None,
        created_at: now,
        updated_at: now,
        mail: Default::default(),
        deleted_at: None,
    };
    users.create_user(&user).await.unwrap();

    // Another session holds the user's row, so the store's write waits on its lock.
    let (holder, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    holder.batch_execute("BEGIN").await.unwrap();
    holder.execute(&format!("SELECT 1 FROM auth.users WHERE id = '{}' FOR UPDATE", id.as_uuid()), &[]).await.unwrap();
    let change = UserChange { user_metadata: Some(Metadata::new()), ..UserChange::default() };
    let waiting = tokio::spawn(async move { users.change_user(id, &change).await });

    // End the waiting backend as a shutdown would (57P01, "terminating connection due to
    // administrator command").
    let (killer, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let mut ended = 0;
    for _ in 0..100 {
        let row = killer
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap();
        ended = row.get::<_, i64>(0);
        if ended > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ended, 1, "the store's write never waited on the lock");
    let outcome = tokio::time::timeout(Duration::from_secs(10), waiting).await.unwrap().unwrap();
    assert!(matches!(outcome, Err(StoreError::Unavailable(_))), "{outcome:?}");
}
