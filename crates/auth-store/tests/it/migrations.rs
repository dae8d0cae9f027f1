use std::collections::BTreeMap;

use auth_store::{Database, PoolOptions};
use auth_testkit::postgres::test_database;
use tokio_postgres::NoTls;

/// Table name → column name → nullable.
type Shape = BTreeMap<String, BTreeMap<String, bool>>;

async fn postgres_shape(url: &str) -> Shape {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(conn);
    let rows = client
        .query(
            "SELECT table_name::text, column_name::text, is_nullable::text FROM information_schema.columns \
             WHERE table_schema = 'auth' AND table_name NOT LIKE '%diesel%' AND table_name <> 'rate_limits'",
            &[],
        )
        .await
        .unwrap();
    let mut shape = Shape::new();
    for row in rows {
        let nullable: String = row.get(2);
        shape.entry(row.get(0)).or_default().insert(row.get(1), nullable == "YES");
    }
    shape
}

#[derive(diesel::QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    not_null: i32,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    primary_key: i32,
}

fn sqlite_shape(path: &std::path::Path) -> Shape {
    use diesel::{Connection, RunQueryDsl, SqliteConnection};
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    let columns: Vec<SqliteColumn> = diesel::sql_query(
        "SELECT m.name AS table_name, p.name AS column_name, p.\"notnull\" AS not_null, p.pk AS primary_key \
         FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE '%diesel%' AND m.name NOT LIKE 'sqlite_%'",
    )
    .load(&mut conn)
    .unwrap();
    let mut shape = Shape::new();
    for c in columns {
        // An INTEGER PRIMARY KEY is never null in SQLite, whatever its declaration says.
        let nullable = c.not_null == 0 && c.primary_key == 0;
        shape.entry(c.table_name).or_default().insert(c.column_name, nullable);
    }
    shape
}

#[tokio::test(flavor = "multi_thread")]
async fn migrations_are_idempotent_and_both_backends_agree() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/authd.db");
    let sqlite = Database::connect(&format!("sqlite://{}", path.display()), &PoolOptions::default()).await.unwrap();
    assert!(sqlite.migrate().await.unwrap() >= 1);
    assert_eq!(sqlite.migrate().await.unwrap(), 0, "a second run applies nothing");
    assert!(path.is_file(), "the file and its directories are created");

    let Some(pg_db) = test_database("migrations").await else { return };
    let pg = Database::connect(pg_db.url(), &PoolOptions::default()).await.unwrap();
    assert!(pg.migrate().await.unwrap() >= 1);
    assert_eq!(pg.migrate().await.unwrap(), 0);

    // `rate_limits` is PostgreSQL's alone: SQLite keeps its counts in process memory.
    let pg_shape = postgres_shape(pg_db.url()).await;
    assert_eq!(
        pg_shape.keys().collect::<Vec<_>>(),
        [
            "audit_log",
            "auth_codes",
            "code_quota",
            "identities",
            "mail_outbox",
            "mfa_challenges",
            "mfa_factors",
            "mfa_recovery_codes",
            "oauth_flows",
            "one_time_tokens",
            "refresh_tokens",
            "sessions",
            "signing_keys",
            "users"
        ]
    );
    let sqlite_shape = sqlite_shape(&path);
    assert_eq!(pg_shape, sqlite_shape, "PostgreSQL and SQLite schemas differ");
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_tables_live_in_the_auth_schema_only() {
    let Some(db) = test_database("schema").await else { return };
    Database::connect(db.url(), &PoolOptions::default()).await.unwrap().migrate().await.unwrap();
    let (client, conn) = tokio_postgres::connect(db.url(), NoTls).await.unwrap();
    tokio::spawn(conn);
    let outside = client
        .query("SELECT table_schema::text, table_name::text FROM information_schema.tables WHERE table_schema NOT IN ('auth', 'pg_catalog', 'information_schema')", &[])
        .await
        .unwrap();
    let names: Vec<String> =
        outside.iter().map(|r| format!("{}.{}", r.get::<_, String>(0), r.get::<_, String>(1))).collect();
    assert!(names.is_empty(), "tables outside auth: {names:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_needs_every_migration_and_writes_nothing() {
    use auth_core::ports::NotReady;
    use diesel::{Connection, RunQueryDsl, SqliteConnection};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authd.db");
    let sqlite = Database::connect(&format!("sqlite://{}", path.display()), &PoolOptions::default()).await.unwrap();
    let ready = sqlite.readiness();
    assert!(matches!(ready.check_ready().await, Err(NotReady::PendingMigrations(n)) if n >= 4));
    assert!(sqlite_shape(&path).is_empty() && !sqlite_has_bookkeeping(&path), "the probe created nothing");
    sqlite.migrate().await.unwrap();
    assert_eq!(ready.check_ready().await, Ok(()));
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    diesel::sql_query(
        "DELETE FROM __diesel_schema_migrations WHERE version = (SELECT MAX(version) FROM __diesel_schema_migrations)",
    )
    .execute(&mut conn)
    .unwrap();
    assert_eq!(ready.check_ready().await, Err(NotReady::PendingMigrations(1)));

    let Some(db) = test_database("readiness").await else { return };
    let pg = Database::connect(db.url(), &PoolOptions::default()).await.unwrap();
    assert!(matches!(pg.readiness().check_ready().await, Err(NotReady::PendingMigrations(n)) if n >= 5));
    pg.migrate().await.unwrap();
    assert_eq!(pg.readiness().check_ready().await, Ok(()));
    let (client, conn) = tokio_postgres::connect(db.url(), NoTls).await.unwrap();
    tokio::spawn(conn);
    // A version only a newer build knows (a replica of it migrated first) does not count.
    client
        .execute("INSERT INTO auth.__diesel_schema_migrations (version) VALUES ('29991231000000')", &[])
        .await
        .unwrap();
    assert_eq!(pg.readiness().check_ready().await, Ok(()));
}

fn sqlite_has_bookkeeping(path: &std::path::Path) -> bool {
    use diesel::{Connection, RunQueryDsl, SqliteConnection};
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    let count: Count =
        diesel::sql_query("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = '__diesel_schema_migrations'")
            .get_result(&mut conn)
            .unwrap();
    count.n > 0
}
