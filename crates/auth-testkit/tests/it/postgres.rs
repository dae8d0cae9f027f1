use auth_testkit::postgres::{private_cluster_database, test_database};
use tokio_postgres::NoTls;

async fn exists(admin: &str, name: &str) -> bool {
    let (client, conn) = tokio_postgres::connect(admin, NoTls).await.unwrap();
    tokio::spawn(conn);
    let rows = client.query("SELECT 1 FROM pg_database WHERE datname = $1", &[&name]).await.unwrap();
    !rows.is_empty()
}

async fn usable(url: &str) {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(conn);
    client.batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1);").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn each_test_gets_its_own_database_and_it_is_dropped() {
    let Some(a) = test_database("isolation").await else { return };
    let Some(b) = test_database("isolation").await else { return };
    assert_ne!(a.name(), b.name());
    usable(a.url()).await;
    usable(b.url()).await;
    let admin = a.url().rsplit_once('/').map(|(base, _)| format!("{base}/postgres")).unwrap();
    let name = a.name().to_owned();
    assert!(exists(&admin, &name).await);
    drop(a);
    assert!(!exists(&admin, &name).await, "dropped with its guard");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_private_cluster_works_here() {
    // Only where server binaries exist; the skip message says so otherwise.
    let Some(db) = private_cluster_database("private").await else { return };
    assert!(db.url().starts_with("postgres://postgres@127.0.0.1:"));
    usable(db.url()).await;
}
