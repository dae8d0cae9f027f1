use std::time::Duration;

use auth_store::{Database, OpenError, PoolOptions};

#[tokio::test]
async fn unknown_schemes_are_refused_with_the_accepted_forms() {
    let err = Database::connect("mysql://root@localhost/db", &PoolOptions::default()).await.unwrap_err();
    assert!(matches!(err, OpenError::Url(_)));
    let text = err.to_string();
    assert!(text.contains("postgres://") && text.contains("sqlite://"), "{text}");
}

#[tokio::test]
async fn an_unreachable_postgres_is_unavailable_quickly() {
    let options = PoolOptions { max_connections: 2, connect_timeout: Duration::from_secs(2), ..PoolOptions::default() };
    let started = std::time::Instant::now();
    let err = Database::connect("postgres://postgres@127.0.0.1:1/none", &options).await.unwrap_err();
    assert!(matches!(err, OpenError::Store(auth_core::ports::StoreError::Unavailable(_))), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_directory_is_not_an_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().display());
    assert!(Database::connect(&url, &PoolOptions::default()).await.is_err());
}
