use std::sync::Arc;

use auth_store::{Database, PgStore, PoolOptions, SqliteStore};
use auth_testkit::contract::StoreHarness;
use auth_testkit::pgbouncer::{BouncedDatabase, bounced_database};
use auth_testkit::postgres::{TestDatabase, test_database};

/// A fresh SQLite file per case, in a directory removed with the harness.
pub struct SqliteHarness {
    store: Arc<SqliteStore>,
    _dir: tempfile::TempDir,
}

impl StoreHarness for SqliteHarness {
    type Store = SqliteStore;

    async fn create(_test_name: &'static str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("authd.db").display());
        let Database::Sqlite(store) = Database::connect(&url, &PoolOptions::default()).await.unwrap() else {
            panic!("sqlite:// must open SQLite");
        };
        store.migrate().await.unwrap();
        Some(Self { store: Arc::new(store), _dir: dir })
    }

    fn store(&self) -> Arc<SqliteStore> {
        Arc::clone(&self.store)
    }
}

/// A fresh PostgreSQL database per case, dropped with the harness.
pub struct PgHarness {
    store: Arc<PgStore>,
    _database: TestDatabase,
}

impl StoreHarness for PgHarness {
    type Store = PgStore;

    async fn create(test_name: &'static str) -> Option<Self> {
        let database = test_database(test_name).await?;
        let Database::Postgres(store) = Database::connect(database.url(), &PoolOptions::default()).await.unwrap()
        else {
            panic!("postgres:// must open PostgreSQL");
        };
        store.migrate().await.unwrap();
        Some(Self { store: Arc::new(store), _database: database })
    }

    fn store(&self) -> Arc<PgStore> {
        Arc::clone(&self.store)
    }
}

/// A fresh PostgreSQL database per case reached through PgBouncer in transaction mode, with
/// migrations on a direct connection, as `database.transaction_pooling` runs it.
pub struct PgBouncerHarness {
    store: Arc<PgStore>,
    _database: BouncedDatabase,
}

impl StoreHarness for PgBouncerHarness {
    type Store = PgStore;

    async fn create(test_name: &'static str) -> Option<Self> {
        let database = bounced_database(test_name).await?;
        let options = PoolOptions { transaction_pooling: true, ..PoolOptions::default() };
        let opened = Database::connect_with_direct(database.url(), Some(database.direct_url()), &options).await;
        let Database::Postgres(store) = opened.unwrap() else {
            panic!("postgres:// must open PostgreSQL");
        };
        store.migrate().await.unwrap();
        Some(Self { store: Arc::new(store), _database: database })
    }

    fn store(&self) -> Arc<PgStore> {
        Arc::clone(&self.store)
    }
}

mod sqlite {
    auth_testkit::store_contract_tests!(super::SqliteHarness);
}

mod postgres {
    auth_testkit::store_contract_tests!(super::PgHarness);
}

mod pgbouncer {
    auth_testkit::store_contract_tests!(super::PgBouncerHarness);
}
