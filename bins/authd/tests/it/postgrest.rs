//! PostgREST integration on a real PostgreSQL: roles, row-level security on `auth.uid()`, the
//! `auth.check_session()` pre-request refusing revoked sessions at once, and the settings of
//! `authd postgrest config` verified by an independent JWT library (`jose`, under Node).
//!
//! PostgREST itself is not run. Each request is replayed as PostgREST documents it: as the
//! authenticator, `BEGIN; SET LOCAL ROLE <role claim>; set_config('request.jwt.claims', <claims>,
//! true); SELECT auth.check_session(); <query>; COMMIT`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use auth_testkit::postgres::test_database;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio_postgres::{AsyncMessage, Client, NoTls, Row};

use crate::process::{PASSWORD, Server, access_token, authd, claims, json, json_output, kid, ok, run, text};

const REQUIRE_E2E_ENV: &str = "AUTHD_TEST_REQUIRE_E2E";

pub(crate) async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// A connection as `user` (trust authentication, as the test servers use).
pub(crate) async fn connect_as(url: &str, user: &str) -> Client {
    let mut config: tokio_postgres::Config = url.parse().unwrap();
    config.user(user);
    let (client, connection) = config.connect(NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// The login role PostgREST would use. Roles are cluster-wide, so tests share it.
pub(crate) async fn ensure_authenticator(admin: &Client) {
    admin
        .batch_execute(
            "DO $$ BEGIN CREATE ROLE authenticator LOGIN NOINHERIT; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
        )
        .await
        .unwrap();
}

/// One PostgREST request: the role from the token (or the anonymous role), the claims, the
/// pre-request check, then `query`. Err is the SQLSTATE and message of the first failure.
pub(crate) async fn postgrest(
    client: &mut Client,
    token: Option<&str>,
    anon_role: &str,
    query: &str,
) -> Result<Vec<Row>, (String, String)> {
    let claims = token.map(claims).unwrap_or_else(|| json!({ "role": anon_role }));
    let role = claims["role"].as_str().unwrap().to_owned();
    let tx = client.transaction().await.unwrap();
    let outcome = async {
        tx.batch_execute(&format!("SET LOCAL ROLE \"{role}\"")).await?;
        tx.execute("SELECT set_config('request.jwt.claims', $1, true)", &[&claims.to_string()]).await?;
        tx.execute("SELECT auth.check_session()", &[]).await?;
        tx.query(query, &[]).await
    }
    .await;
    match outcome {
        Ok(rows) => {
            tx.commit().await.unwrap();
            Ok(rows)
        }
        Err(error) => {
            let db = error.as_db_error().unwrap_or_else(|| panic!("not a database error: {error}"));
            Err((db.code().code().to_owned(), db.message().to_owned()))
        }
    }
}

fn logout(server: &Server, token: &str, scope: &str) {
    let (status, body) = server.call("POST", &format!("/logout?scope={scope}"), None, Some(token));
    assert_eq!(status, 204, "{body}");
}

fn example_schema() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/postgrest/schema.sql")).unwrap()
}

/// Asserts that the token's session is refused with PT401, and returns the message.
async fn refused(client: &mut Client, token: &str) -> String {
    match postgrest(client, Some(token), "anon", "SELECT 1").await {
        Err((code, message)) if code == "PT401" => message,
        other => panic!("expected PT401, got {other:?}"),
    }
}

async fn passes(client: &mut Client, token: &str) {
    postgrest(client, Some(token), "anon", "SELECT 1").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn rls_on_auth_uid_and_revocations_reach_postgrest_at_once() {
    let Some(db) = test_database("pgrst_rls").await else { return };
    let admin = connect(db.url()).await;
    ensure_authenticator(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = authd(dir.path());
    command
        .env("AUTHD_DATABASE__URL", db.url())
        .env("AUTHD_SIGNUP__AUTOCONFIRM", "true")
        .env("AUTHD_SESSIONS__INACTIVITY_TIMEOUT_SECS", "3600")
        .env("AUTHD_POSTGREST__MANAGE_ROLES", "true");
    let url = db.url().to_owned();
    let server = tokio::task::spawn_blocking(move || Server::start(command)).await.unwrap();

    // The server made the roles at start (it runs as a superuser here) and granted them.
    let rows = admin
        .query(
            "SELECT rolname::text, rolcanlogin, rolbypassrls, pg_has_role('authenticator', oid, 'MEMBER') \
             FROM pg_roles WHERE rolname IN ('anon', 'authenticated', 'service_role') ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    let roles: Vec<(String, bool, bool, bool)> =
        rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect();
    assert_eq!(
        roles,
        [
            ("anon".into(), false, false, true),
            ("authenticated".into(), false, false, true),
            ("service_role".into(), false, true, true)
        ]
    );
    let limits: String =
        admin.query_one("SELECT (auth.session_limits()).inactivity_timeout::text", &[]).await.unwrap().get(0);
    assert_eq!(limits, "01:00:00", "the session limits reach the database");
    admin.batch_execute(&example_schema()).await.unwrap();

    let mut pgrst = connect_as(&url, "authenticator").await;
    let ada = ok(server.sign_up("ada@example.com", PASSWORD));
    let bob = ok(server.sign_up("bob@example.com", PASSWORD));
    let (ada_token, bob_token) = (access_token(&ada), access_token(&bob));

    // Two users: each sees only their own rows.
    for (token, task) in [(&ada_token, "ada task"), (&bob_token, "bob task")] {
        let insert = format!("INSERT INTO api.todos (task) VALUES ('{task}')");
        postgrest(&mut pgrst, Some(token), "anon", &insert).await.unwrap();
    }
    for (token, user, task) in [(&ada_token, &ada, "ada task"), (&bob_token, &bob, "bob task")] {
        let rows =
            postgrest(&mut pgrst, Some(token), "anon", "SELECT task, user_id::text FROM api.todos").await.unwrap();
        let seen: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        assert_eq!(seen, [(task.to_owned(), user["user"]["id"].as_str().unwrap().to_owned())]);
    }
    let forged = postgrest(
        &mut pgrst,
        Some(&ada_token),
        "anon",
        &format!("INSERT INTO api.todos (user_id, task) VALUES ('{}', 'x')", bob["user"]["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(forged.unwrap_err().0, "42501", "a row for someone else violates the policy");
    let me = postgrest(&mut pgrst, Some(&ada_token), "anon", "SELECT api.whoami()::text").await.unwrap();
    let me = json(me[0].get(0));
    assert_eq!(me["uid"], ada["user"]["id"]);
    assert_eq!((me["role"].as_str(), me["email"].as_str()), (Some("authenticated"), Some("ada@example.com")));
    assert_eq!(me["session_id"], claims(&ada_token)["session_id"]);

    // The anonymous role (no token, or the anon key) sees only what it is granted; the service
    // key sees every row. API keys carry no sub: auth.uid() is NULL, not an error.
    let api = json_output(&run(authd(dir.path()).env("AUTHD_DATABASE__URL", &url).args(["keys", "api", "--json"])));
    let (anon_key, service_key) = (api["anon_key"].as_str().unwrap(), api["service_role_key"].as_str().unwrap());
    for token in [None, Some(anon_key)] {
        let denied = postgrest(&mut pgrst, token, "anon", "SELECT * FROM api.todos").await.unwrap_err();
        assert_eq!(denied.0, "42501", "{denied:?}");
        let notices = postgrest(&mut pgrst, token, "anon", "SELECT body FROM api.notices").await.unwrap();
        assert_eq!(notices.len(), 1);
    }
    let rows = postgrest(&mut pgrst, Some(anon_key), "anon", "SELECT auth.uid()::text, auth.role()").await.unwrap();
    assert_eq!((rows[0].get::<_, Option<String>>(0), rows[0].get::<_, String>(1)), (None, "anon".to_owned()));
    let all = postgrest(&mut pgrst, Some(service_key), "anon", "SELECT count(*) FROM api.todos").await.unwrap();
    assert_eq!(all[0].get::<_, i64>(0), 2, "the service role bypasses row-level security");
    let checked = postgrest(&mut pgrst, Some(&ada_token), "anon", "SELECT 1").await;
    assert!(checked.is_ok(), "a live session passes");

    // Logout, scope local: that session only.
    let cleo = ok(server.sign_up("cleo@example.com", PASSWORD));
    let cleo_second = ok(server.sign_in("cleo@example.com", PASSWORD));
    logout(&server, &access_token(&cleo), "local");
    assert!(refused(&mut pgrst, &access_token(&cleo)).await.contains("revoked"));
    passes(&mut pgrst, &access_token(&cleo_second)).await;

    // Scope others: every session but the caller's.
    let cleo_third = ok(server.sign_in("cleo@example.com", PASSWORD));
    logout(&server, &access_token(&cleo_third), "others");
    refused(&mut pgrst, &access_token(&cleo_second)).await;
    passes(&mut pgrst, &access_token(&cleo_third)).await;

    // Scope global: all of them.
    let cleo_fourth = ok(server.sign_in("cleo@example.com", PASSWORD));
    logout(&server, &access_token(&cleo_third), "global");
    refused(&mut pgrst, &access_token(&cleo_third)).await;
    refused(&mut pgrst, &access_token(&cleo_fourth)).await;

    // Reuse detection: presenting a grandparent refresh token revokes the session.
    let dan = ok(server.sign_up("dan@example.com", PASSWORD));
    let r0 = dan["refresh_token"].as_str().unwrap();
    let (status, first) = server.refresh(r0);
    assert_eq!(status, 200);
    let (status, second) = server.refresh(first["refresh_token"].as_str().unwrap());
    assert_eq!(status, 200);
    passes(&mut pgrst, &access_token(&second)).await;
    let (status, body) = server.refresh(r0);
    assert_eq!((status, body["error_code"].as_str()), (400, Some("refresh_token_already_used")));
    refused(&mut pgrst, &access_token(&dan)).await;
    refused(&mut pgrst, &access_token(&second)).await;

    // A ban (set directly: the admin API is not this test's concern), and its end.
    let eve = ok(server.sign_up("eve@example.com", PASSWORD));
    let eve_id = eve["user"]["id"].as_str().unwrap().to_owned();
    let ban =
        |until: &str| format!("UPDATE auth.users SET banned_until = now() + interval '{until}' WHERE id = '{eve_id}'");
    admin.batch_execute(&ban("1 hour")).await.unwrap();
    assert!(refused(&mut pgrst, &access_token(&eve)).await.contains("banned"));
    admin.batch_execute(&ban("-1 hour")).await.unwrap();
    passes(&mut pgrst, &access_token(&eve)).await;

    // Inactivity (sessions.inactivity_timeout_secs, through auth.session_limits()).
    let sid = claims(&access_token(&eve))["session_id"].as_str().unwrap().to_owned();
    admin
        .batch_execute(&format!(
            "UPDATE auth.sessions SET created_at = now() - interval '2 hours', refreshed_at = NULL WHERE id = '{sid}'"
        ))
        .await
        .unwrap();
    assert!(refused(&mut pgrst, &access_token(&eve)).await.contains("expired"));

    // Deleting one's account.
    let (status, body) = server.call("DELETE", "/user", Some(json!({ "password": PASSWORD })), Some(&bob_token));
    assert!(status == 200 || status == 204, "{status} {body}");
    assert!(refused(&mut pgrst, &bob_token).await.contains("not found"));
    // The other user is untouched.
    passes(&mut pgrst, &ada_token).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_role_sql_is_idempotent_and_postgrest_auth_role_names_work() {
    let Some(db) = test_database("pgrst_roles").await else { return };
    let admin = connect(db.url()).await;
    ensure_authenticator(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let url = db.url().to_owned();
    let configured = move |command: &mut Command| {
        command
            .env("AUTHD_DATABASE__URL", &url)
            .env("AUTHD_SIGNUP__AUTOCONFIRM", "true")
            .env("AUTHD_ROLES__ANONYMOUS", "web_anon")
            .env("AUTHD_ROLES__AUTHENTICATED", "normal_user")
            .env("AUTHD_ROLES__SERVICE", "service_role")
            .env("AUTHD_POSTGREST__MANAGE_ROLES", "false");
    };
    let mut migrate = authd(dir.path());
    configured(migrate.arg("migrate"));
    assert!(run(&mut migrate).status.success());
    let mut sql = authd(dir.path());
    configured(sql.args(["postgrest", "sql"]));
    let output = run(&mut sql);
    assert!(output.status.success(), "{:?}", text(&output));
    let script = text(&output).0;
    assert!(script.contains("\"web_anon\"") && script.contains("\"normal_user\""), "{script}");
    admin.batch_execute(&script).await.unwrap();
    admin.batch_execute(&script).await.unwrap();
    let mut setup = authd(dir.path());
    configured(setup.args(["postgrest", "setup"]));
    for _ in 0..2 {
        let output = run(&mut setup);
        assert!(output.status.success(), "{:?}", text(&output));
    }
    let rows = admin
        .query(
            "SELECT rolname::text FROM pg_roles WHERE rolname IN ('web_anon', 'normal_user') \
             AND NOT rolcanlogin AND pg_has_role('authenticator', oid, 'MEMBER') ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>(), ["normal_user", "web_anon"]);

    admin
        .batch_execute(
            "CREATE TABLE public.notes (owner uuid NOT NULL DEFAULT auth.uid(), body text NOT NULL);
             ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
             CREATE POLICY own ON public.notes TO normal_user USING (owner = auth.uid()) WITH CHECK (owner = auth.uid());
             GRANT SELECT, INSERT ON public.notes TO normal_user;",
        )
        .await
        .unwrap();
    let mut command = authd(dir.path());
    configured(&mut command);
    let server = tokio::task::spawn_blocking(move || Server::start(command)).await.unwrap();
    let token = access_token(&ok(server.sign_up("theorist@example.com", PASSWORD)));
    assert_eq!(claims(&token)["role"], "normal_user");
    let mut pgrst = connect_as(db.url(), "authenticator").await;
    postgrest(&mut pgrst, Some(&token), "web_anon", "INSERT INTO public.notes (body) VALUES ('mine')").await.unwrap();
    let rows = postgrest(&mut pgrst, Some(&token), "web_anon", "SELECT body FROM public.notes").await.unwrap();
    assert_eq!(rows.len(), 1);
    let denied = postgrest(&mut pgrst, None, "web_anon", "SELECT body FROM public.notes").await.unwrap_err();
    assert_eq!(denied.0, "42501");
    logout(&server, &token, "local");
    refused(&mut pgrst, &token).await;
}

fn e2e_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e")
}

/// Why `jose` cannot run here, if it cannot.
fn jose_missing() -> Option<String> {
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|output| output.status.success()) {
        return Some("`node` is not installed (Node 20 or newer)".into());
    }
    if !e2e_dir().join("node_modules/jose/package.json").exists() {
        return Some("its packages are not installed: run `npm ci` in tests/e2e".into());
    }
    None
}

/// Verifies tokens with `jose` against a jwt-secret as PostgREST would be given it.
fn jose_verify(secret: &str, audience: &str, tokens: &[&str]) -> Vec<Value> {
    let mut child = Command::new("node")
        .arg("verify-jwt.mjs")
        .current_dir(e2e_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = json!({ "secret": secret, "audience": audience, "tokens": tokens });
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{:?}", text(&output));
    json(&text(&output).0).as_array().unwrap().clone()
}

fn tampered(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut payload = claims(token);
    payload["role"] = json!("service_role");
    parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
    parts.join(".")
}

/// The in-database configuration PostgREST would read through db-pre-config.
async fn in_database_secret(admin: &mut Client) -> Option<String> {
    let tx = admin.transaction().await.unwrap();
    tx.execute("SELECT auth.postgrest_config()", &[]).await.unwrap();
    let row = tx.query_one("SELECT current_setting('pgrst.jwt_secret', true)", &[]).await.unwrap();
    row.get::<_, Option<String>>(0).filter(|s| !s.is_empty())
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_verify_with_the_printed_settings_in_jose_across_algorithms_and_rotation() {
    if let Some(reason) = jose_missing() {
        assert!(
            std::env::var(REQUIRE_E2E_ENV).as_deref() != Ok("1"),
            "{REQUIRE_E2E_ENV}=1 but jose cannot run: {reason}"
        );
        let _ = writeln!(std::io::stderr(), "\n*** SKIPPING the jose verification of PostgREST settings: {reason}\n");
        return;
    }
    for algorithm in ["ES256", "RS256", "HS256"] {
        let Some(db) = test_database(&format!("pgrst_jose_{}", algorithm.to_lowercase())).await else { return };
        let mut admin = connect(db.url()).await;
        let (listener, mut connection) = tokio_postgres::connect(db.url(), NoTls).await.unwrap();
        let (sender, mut notifications) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                if let AsyncMessage::Notification(n) = message {
                    let _ = sender.send((n.channel().to_owned(), n.payload().to_owned()));
                }
            }
        });
        listener.batch_execute("LISTEN pgrst").await.unwrap();

        let dir = tempfile::tempdir().unwrap();
        let url = db.url().to_owned();
        let configured = move |command: &mut Command| {
            command
                .env("AUTHD_DATABASE__URL", &url)
                .env("AUTHD_SIGNUP__AUTOCONFIRM", "true")
                .env("AUTHD_JWT__ALGORITHM", algorithm)
                .env("AUTHD_JWT__KEY_RELOAD_SECS", "1")
                .env("AUTHD_JWT__KEY_PUBLISH_DELAY_SECS", "2");
            if algorithm == "HS256" {
                command.env("AUTHD_JWT__SECRET", "a shared secret of at least thirty-two bytes");
            }
        };
        let printed = |configured: &dyn Fn(&mut Command)| {
            let mut command = authd(dir.path());
            configured(command.args(["postgrest", "config", "--json"]));
            json_output(&run(&mut command))
        };
        let mut command = authd(dir.path());
        configured(&mut command);
        let server = tokio::task::spawn_blocking(move || Server::start(command)).await.unwrap();
        let settings = printed(&configured);
        assert_eq!(settings["db-pre-request"], "auth.check_session");
        assert_eq!(settings["db-anon-role"], "anon");
        let (secret, audience) = (settings["jwt-secret"].as_str().unwrap(), settings["jwt-aud"].as_str().unwrap());

        let user = access_token(&ok(server.sign_up("jose@example.com", PASSWORD)));
        let mut keys = authd(dir.path());
        configured(keys.args(["keys", "api", "--json"]));
        let api = json_output(&run(&mut keys));
        let (anon, service) = (api["anon_key"].as_str().unwrap(), api["service_role_key"].as_str().unwrap());
        let forged = tampered(&user);
        let results = jose_verify(secret, audience, &[&user, anon, service, &forged]);
        for (result, role) in results.iter().zip(["authenticated", "anon", "service_role"]) {
            assert_eq!(result["ok"], true, "{algorithm}: {result}");
            assert_eq!((result["alg"].as_str(), result["payload"]["role"].as_str()), (Some(algorithm), Some(role)));
        }
        assert_eq!(results[3]["ok"], false, "{algorithm}: a tampered token must fail");

        if algorithm == "HS256" {
            assert_eq!(in_database_secret(&mut admin).await, None, "the HS256 secret never enters the database");
            continue;
        }
        assert_eq!(in_database_secret(&mut admin).await.as_deref(), Some(secret), "{algorithm}");

        // Rotation: the CLI rewrites PostgREST's in-database configuration and notifies it.
        while notifications.try_recv().is_ok() {}
        let mut rotate = authd(dir.path());
        configured(rotate.args(["keys", "rotate", "--now", "--json"]));
        let new_kid = json_output(&run(&mut rotate))["kid"].as_str().unwrap().to_owned();
        let notified = tokio::time::timeout(Duration::from_secs(10), notifications.recv()).await.unwrap().unwrap();
        assert_eq!(notified, ("pgrst".to_owned(), "reload config".to_owned()));
        let settings = printed(&configured);
        let secret = settings["jwt-secret"].as_str().unwrap().to_owned();
        assert!(secret.contains(&new_kid));
        assert_eq!(in_database_secret(&mut admin).await.as_deref(), Some(secret.as_str()));

        let deadline = Instant::now() + Duration::from_secs(30);
        let rotated = loop {
            let token = access_token(&ok(server.sign_in("jose@example.com", PASSWORD)));
            if kid(&token) == new_kid {
                break token;
            }
            assert!(Instant::now() < deadline, "{algorithm}: the new key never started signing");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let results = jose_verify(&secret, audience, &[&rotated, &user, anon]);
        assert!(results.iter().all(|r| r["ok"] == true), "{algorithm} after rotation: {results:?}");
        drop(server);
    }
}
