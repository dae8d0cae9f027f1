//! TLS to PostgreSQL (security review H1): the store connects to a cluster with `ssl = on` and
//! certificates made for the run, honouring libpq's `sslmode` and `sslrootcert`.

use std::sync::atomic::{AtomicU32, Ordering};

use auth_store::{Database, OpenError, PoolOptions};
use auth_testkit::tls_cluster::{TlsCluster, tls_cluster};

static NAME: AtomicU32 = AtomicU32::new(0);

/// A distinct `application_name`, to find the store's own connections in `pg_stat_activity`.
fn app_name() -> String {
    format!("authd_tls_{}_{}", std::process::id(), NAME.fetch_add(1, Ordering::Relaxed))
}

/// Whether every connection named `app` uses TLS (`None` when there is none).
async fn uses_tls(cluster: &TlsCluster, app: &str) -> Option<bool> {
    let (client, connection) =
        tokio_postgres::connect(&cluster.url("127.0.0.1", ""), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT count(*), coalesce(bool_and(s.ssl), false) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = $1",
            &[&app],
        )
        .await
        .unwrap();
    (row.get::<_, i64>(0) > 0).then(|| row.get(1))
}

async fn open(url: &str) -> Result<Database, OpenError> {
    Database::connect(url, &PoolOptions::default()).await
}

/// The one-line cause of a refused connection.
fn refusal(result: Result<Database, OpenError>) -> String {
    let text = match result {
        Ok(_) => panic!("the connection must be refused"),
        Err(error) => anyhow_like(&error),
    };
    assert!(!text.contains('\n'), "the cause must be one line: {text}");
    text
}

/// An error and its sources, joined as the binary prints them.
fn anyhow_like(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_full_connects_over_tls_and_migrates() {
    let Some(cluster) = tls_cluster().await else { return };
    let app = app_name();
    let ca = cluster.ca().display().to_string();
    let url = cluster.url("localhost", &format!("sslmode=verify-full&sslrootcert={ca}&application_name={app}"));
    let database = open(&url).await.unwrap();
    database.migrate().await.unwrap();
    assert_eq!(uses_tls(cluster, &app).await, Some(true));
}

#[tokio::test]
async fn require_encrypts_without_checking_the_certificate() {
    let Some(cluster) = tls_cluster().await else { return };
    let app = app_name();
    // The certificate names localhost and no root is given: require still connects, encrypted.
    let _database = open(&cluster.url("127.0.0.1", &format!("sslmode=require&application_name={app}"))).await.unwrap();
    assert_eq!(uses_tls(cluster, &app).await, Some(true));
}

#[tokio::test]
async fn without_sslmode_loopback_prefers_tls() {
    let Some(cluster) = tls_cluster().await else { return };
    let app = app_name();
    let _database = open(&cluster.url("127.0.0.1", &format!("application_name={app}"))).await.unwrap();
    assert_eq!(uses_tls(cluster, &app).await, Some(true));
}

#[tokio::test]
async fn disable_is_plaintext() {
    let Some(cluster) = tls_cluster().await else { return };
    let app = app_name();
    let _database = open(&cluster.url("127.0.0.1", &format!("sslmode=disable&application_name={app}"))).await.unwrap();
    assert_eq!(uses_tls(cluster, &app).await, Some(false));
}

#[tokio::test]
async fn a_wrong_ca_is_refused_with_a_one_line_cause() {
    let Some(cluster) = tls_cluster().await else { return };
    let other = cluster.other_ca().display().to_string();
    let text = refusal(open(&cluster.url("localhost", &format!("sslmode=verify-full&sslrootcert={other}"))).await);
    assert!(text.contains("certificate verify failed"), "{text}");
    // verify-ca checks the chain as well.
    let text = refusal(open(&cluster.url("localhost", &format!("sslmode=verify-ca&sslrootcert={other}"))).await);
    assert!(text.contains("certificate verify failed"), "{text}");
}

#[tokio::test]
async fn verify_full_refuses_a_certificate_for_another_host_name() {
    let Some(cluster) = tls_cluster().await else { return };
    let ca = cluster.ca().display().to_string();
    // The server's certificate names `localhost` only.
    let text = refusal(open(&cluster.url("127.0.0.1", &format!("sslmode=verify-full&sslrootcert={ca}"))).await);
    assert!(text.contains("certificate verify failed") && text.contains("mismatch"), "{text}");
    // verify-ca checks the chain, not the name.
    let app = app_name();
    let url = cluster.url("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca}&application_name={app}"));
    let _database = open(&url).await.unwrap();
    assert_eq!(uses_tls(cluster, &app).await, Some(true));
}

#[tokio::test]
async fn plaintext_to_a_host_that_is_not_loopback_is_refused_before_connecting() {
    // No server is needed: the URL alone is refused (nothing is resolved or dialled).
    let result = open("postgres://authd:hunter2@db.example.invalid:5432/app?sslmode=allow").await;
    assert!(matches!(result, Err(OpenError::Postgres(auth_pgconn::ConnectError::Insecure(_)))), "{result:?}");
    let text = refusal(result);
    assert!(text.contains("sslmode=disable") && !text.contains("hunter2"), "{text}");
    // An unknown sslmode is refused by name, as libpq does.
    let text = refusal(open("postgres://authd@127.0.0.1:5432/app?sslmode=verify_full").await);
    assert!(text.contains("verify_full"), "{text}");
}
