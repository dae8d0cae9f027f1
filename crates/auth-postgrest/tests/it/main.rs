//! The PostgREST adapter against a real PostgreSQL database made by authd's migrations: what it
//! publishes, when it notifies, and the role set-up without an authenticator. (The binary's tests
//! replay PostgREST's own transactions against what is published here.)

// Test code: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use auth_postgrest::{PostgrestSettings, PostgrestSync, Roles};
use auth_store::{Database, PoolOptions};
use auth_testkit::postgres::{TestDatabase, test_database};
use serde_json::json;
use tokio_postgres::{AsyncMessage, Client, NoTls};

fn settings(channel: &str) -> PostgrestSettings {
    PostgrestSettings {
        authenticator: "authenticator".into(),
        anonymous_role: "anon".into(),
        authenticated_role: "authenticated".into(),
        service_role: "service_role".into(),
        audience: "authenticated".into(),
        session_timebox_secs: 0,
        session_inactivity_timeout_secs: 3600,
        notify_channel: Some(channel.into()),
    }
}

/// A database with authd's schema.
async fn migrated(name: &str) -> Option<TestDatabase> {
    let database = test_database(name).await?;
    Database::connect(database.url(), &PoolOptions::default()).await.unwrap().migrate().await.unwrap();
    Some(database)
}

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// The settings `auth.postgrest_config()` sets, as PostgREST reads them in its pre-config step.
async fn published(client: &mut Client, name: &str) -> Option<String> {
    let tx = client.transaction().await.unwrap();
    tx.execute("SELECT auth.postgrest_config()", &[]).await.unwrap();
    let row = tx.query_one("SELECT current_setting($1, true)", &[&name]).await.unwrap();
    row.get::<_, Option<String>>(0).filter(|s| !s.is_empty())
}

#[tokio::test(flavor = "multi_thread")]
async fn publishes_once_per_change_and_notifies_after_the_commit() {
    let Some(database) = migrated("pgrst_adapter_publish").await else { return };
    let (listener, mut connection) = tokio_postgres::connect(database.url(), NoTls).await.unwrap();
    let (sender, mut notifications) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let AsyncMessage::Notification(n) = message {
                let _ = sender.send((n.channel().to_owned(), n.payload().to_owned()));
            }
        }
    });
    listener.batch_execute("LISTEN adapter_test").await.unwrap();
    let mut client = connect(database.url()).await;

    let sync = PostgrestSync::new(&settings("adapter_test"), database.url());
    let jwks = json!({ "keys": [{ "kid": "k1", "kty": "EC" }] });
    assert!(sync.publish(&jwks).await.unwrap(), "the migrations' placeholder differs");
    let notified = tokio::time::timeout(Duration::from_secs(10), notifications.recv()).await.unwrap().unwrap();
    assert_eq!(notified, ("adapter_test".to_owned(), "reload config".to_owned()));
    assert_eq!(published(&mut client, "pgrst.jwt_secret").await, Some(jwks.to_string()));
    assert_eq!(published(&mut client, "pgrst.db_anon_role").await.as_deref(), Some("anon"));
    assert_eq!(published(&mut client, "pgrst.db_pre_request").await.as_deref(), Some("auth.check_session"));
    let limits: Option<String> =
        client.query_one("SELECT (auth.session_limits()).inactivity_timeout::text", &[]).await.unwrap().get(0);
    assert_eq!(limits.as_deref(), Some("01:00:00"));

    // The same keys again: nothing written, nobody told.
    assert!(!sync.publish(&jwks).await.unwrap());
    let rotated = json!({ "keys": [{ "kid": "k1", "kty": "EC" }, { "kid": "k2", "kty": "EC" }] });
    assert!(sync.publish(&rotated).await.unwrap());
    let notified = tokio::time::timeout(Duration::from_secs(10), notifications.recv()).await.unwrap().unwrap();
    assert_eq!(notified.1, "reload config");
    assert!(notifications.try_recv().is_err(), "one notification per change");
    assert_eq!(published(&mut client, "pgrst.jwt_secret").await, Some(rotated.to_string()));

    // An empty JWKS (HS256) leaves the secret out of the database.
    assert!(sync.publish(&json!({ "keys": [] })).await.unwrap());
    assert_eq!(published(&mut client, "pgrst.jwt_secret").await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn publishers_racing_agree_on_one_change() {
    let Some(database) = migrated("pgrst_adapter_race").await else { return };
    let jwks = json!({ "keys": [{ "kid": "k9", "kty": "EC" }] });
    let publish = || {
        let (url, jwks) = (database.url().to_owned(), jwks.clone());
        tokio::spawn(async move { PostgrestSync::new(&settings("adapter_race"), &url).publish(&jwks).await.unwrap() })
    };
    let outcomes = [publish(), publish(), publish(), publish()];
    let mut changed = 0;
    for outcome in outcomes {
        changed += usize::from(outcome.await.unwrap());
    }
    assert_eq!(changed, 1, "the advisory lock lets one publisher write and the others see it written");
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_wait_for_the_authenticator() {
    let Some(database) = migrated("pgrst_adapter_roles").await else { return };
    let missing = PostgrestSettings { authenticator: "no_such_authenticator_role".into(), ..settings("x") };
    let roles = PostgrestSync::new(&missing, database.url()).apply_roles().await.unwrap();
    assert_eq!(roles, Roles::NoAuthenticator);
}

#[tokio::test]
async fn an_unreachable_database_is_a_connection_error() {
    let sync = PostgrestSync::new(&settings("x"), "postgres://nobody@127.0.0.1:1/none");
    let error = sync.publish(&json!({ "keys": [] })).await.unwrap_err();
    assert!(matches!(error, auth_postgrest::PostgrestError::Connect(_)), "{error:?}");
}

/// Roles are global to the cluster: names unique to this run, dropped before and after.
async fn drop_roles(client: &Client, roles: &[String]) {
    for role in roles.iter().rev() {
        let exists = client.query_opt("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1", &[role]).await.unwrap();
        if exists.is_some() {
            let id = auth_postgrest::ident(role);
            client.batch_execute(&format!("DROP OWNED BY {id}; DROP ROLE {id}")).await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn existing_roles_more_powerful_than_expected_are_not_adopted() {
    let Some(database) = migrated("pgrst_adapter_power").await else { return };
    let client = connect(database.url()).await;
    let [authenticator, anon, user, service] =
        ["authr", "anon", "user", "service"].map(|n| format!("authd_t{}_{n}", std::process::id()));
    let all = [authenticator.clone(), anon.clone(), user.clone(), service.clone()];
    drop_roles(&client, &all).await;
    client
        .batch_execute(&format!(
            "CREATE ROLE {authenticator} LOGIN NOINHERIT; CREATE ROLE {user} SUPERUSER NOLOGIN; \
             CREATE ROLE {service} NOLOGIN BYPASSRLS"
        ))
        .await
        .unwrap();
    let settings = PostgrestSettings {
        authenticator: authenticator.clone(),
        anonymous_role: anon.clone(),
        authenticated_role: user.clone(),
        service_role: service.clone(),
        ..settings("x")
    };
    let sync = PostgrestSync::new(&settings, database.url());
    let member = async |role: &str| -> bool {
        let row = client.query_one("SELECT pg_has_role($1, $2, 'MEMBER')", &[&authenticator, &role]).await.unwrap();
        row.get(0)
    };
    let refused = async |attributes: &str| match sync.apply_roles().await.unwrap() {
        Roles::TooPowerful(why) => assert!(why.contains(&user) && why.contains(attributes), "{why}"),
        other => panic!("adopted a role with {attributes}: {other:?}"),
    };

    // The review's probe: an existing superuser `authenticated` is refused and never granted.
    refused("SUPERUSER").await;
    assert!(!member(&user).await, "not granted to the authenticator");
    let created = client.query_opt("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1", &[&anon]).await.unwrap();
    assert!(created.is_none(), "nothing was changed");
    client.batch_execute(&format!("ALTER ROLE {user} NOSUPERUSER LOGIN CREATEDB CREATEROLE")).await.unwrap();
    refused("LOGIN, CREATEROLE, CREATEDB").await;
    let admin: String = client.query_one("SELECT current_user::text", &[]).await.unwrap().get(0);
    client
        .batch_execute(&format!("ALTER ROLE {user} NOLOGIN NOCREATEDB NOCREATEROLE; GRANT {admin} TO {user}"))
        .await
        .unwrap();
    refused("a member of a superuser role").await;

    // Plain NOLOGIN roles are adopted; BYPASSRLS is expected of the service role only.
    client.batch_execute(&format!("REVOKE {admin} FROM {user}")).await.unwrap();
    assert_eq!(sync.apply_roles().await.unwrap(), Roles::Applied);
    assert!(member(&user).await && member(&service).await && member(&anon).await);
    client.batch_execute(&format!("ALTER ROLE {anon} BYPASSRLS")).await.unwrap();
    match sync.apply_roles().await.unwrap() {
        Roles::TooPowerful(why) => assert!(why.contains(&anon) && why.contains("BYPASSRLS"), "{why}"),
        other => panic!("adopted an anonymous role with BYPASSRLS: {other:?}"),
    }
    drop_roles(&client, &all).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn publishes_over_tls_through_the_shared_connector() {
    let Some(cluster) = auth_testkit::tls_cluster::tls_cluster().await else { return };
    let ca = cluster.ca().display().to_string();
    let url = cluster.url("localhost", &format!("sslmode=verify-full&sslrootcert={ca}"));
    Database::connect(&url, &PoolOptions::default()).await.unwrap().migrate().await.unwrap();
    let sync = PostgrestSync::new(&settings("pgrst_tls"), &url);
    sync.publish(&json!({ "keys": [] })).await.unwrap();
    // The same server under a root that did not sign its certificate: refused, nothing written.
    let other = cluster.other_ca().display().to_string();
    let wrong = PostgrestSync::new(
        &settings("pgrst_tls"),
        &cluster.url("localhost", &format!("sslmode=verify-full&sslrootcert={other}")),
    );
    let error = wrong.publish(&json!({ "keys": [] })).await.unwrap_err();
    let shown = format!("{error}: {}", std::error::Error::source(&error).unwrap());
    assert!(shown.contains("certificate verify failed"), "{shown}");
}
