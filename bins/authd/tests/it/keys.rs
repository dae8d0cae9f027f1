//! `authd keys` and the key ring of running servers: keys persist, rotate and are shared.

use std::process::Command;
use std::time::{Duration, Instant};

use auth_core::domain::KeyPurpose;
use auth_testkit::postgres::test_database;
use serde_json::{Value, json};

use crate::process::{
    PASSWORD, Server, access_token, authd, claims, json, json_output, jwt_header, kid, ok, run, text,
};

fn jwks_kids(server: &Server) -> Vec<String> {
    let (status, body) = server.get("/auth/v1/.well-known/jwks.json").unwrap();
    assert_eq!(status, 200);
    let mut kids: Vec<String> =
        json(&body)["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect();
    kids.sort();
    kids
}

fn keys_json(command: &mut Command) -> Vec<Value> {
    json_output(&run(command)).as_array().unwrap().clone()
}

/// The kid that signed a fresh sign-in's access token.
fn signing_kid(server: &Server, email: &str) -> String {
    kid(&access_token(&ok(server.sign_in(email, PASSWORD))))
}

#[test]
fn keys_persist_across_restarts_and_a_rotation_is_published_before_it_signs() {
    let dir = tempfile::tempdir().unwrap();
    let configured = |mut command: Command| {
        command
            .env("AUTHD_SIGNUP__AUTOCONFIRM", "true")
            .env("AUTHD_JWT__KEY_RELOAD_SECS", "1")
            .env("AUTHD_JWT__KEY_PUBLISH_DELAY_SECS", "120");
        command
    };

    // The first command on an empty database makes a signing key, a key for the API keys and a
    // refresh-token key.
    let keys = keys_json(configured(authd(dir.path())).args(["keys", "list", "--json"]));
    let statuses: Vec<(&str, &str)> =
        keys.iter().map(|k| (k["purpose"].as_str().unwrap(), k["status"].as_str().unwrap())).collect();
    assert_eq!(statuses, [("access_token", "signing"), ("api_key", "signing"), ("refresh_chain", "signing")]);
    let first = keys[0]["kid"].as_str().unwrap().to_owned();
    let api = keys[1]["kid"].as_str().unwrap().to_owned();
    assert!(!text(&run(authd(dir.path()).args(["keys", "list"]))).0.contains("\"d\""), "no material in listings");

    let server = Server::start(configured(authd(dir.path())));
    let session = ok(server.sign_up("kim@example.com", PASSWORD));
    let token = access_token(&session);
    assert_eq!(kid(&token), first);
    server.signal("TERM");
    server.wait(Duration::from_secs(30));

    // A restarted server still accepts the tokens it issued before.
    let server = Server::start(configured(authd(dir.path())));
    assert_eq!(server.get_user(&token).0, 200);
    let (status, body) = server.refresh(session["refresh_token"].as_str().unwrap());
    assert_eq!(status, 200, "refresh tokens survive a restart: {body}");
    let mut published = vec![first.clone(), api];
    published.sort();
    assert_eq!(jwks_kids(&server), published);

    // A rotation reaches the running server: published first, still signing with the old key.
    let rotated = run(configured(authd(dir.path())).args(["keys", "rotate", "--json"]));
    assert!(rotated.status.success(), "{:?}", text(&rotated));
    let pending = json(&text(&rotated).0)["kid"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    while jwks_kids(&server).len() < 3 {
        assert!(Instant::now() < deadline, "the pending key was not published");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(jwks_kids(&server).contains(&pending));
    assert_eq!(signing_kid(&server, "kim@example.com"), first);

    // `--now` signs at once; tokens of the replaced key keep verifying until they expire.
    let now = run(configured(authd(dir.path())).args(["keys", "rotate", "--now", "--json"]));
    let current = json(&text(&now).0)["kid"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let signed_with = signing_kid(&server, "kim@example.com");
        if signed_with == current {
            break;
        }
        assert!(Instant::now() < deadline, "the new key never started signing");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(server.get_user(&token).0, 200);
    assert_eq!(jwks_kids(&server).len(), 4);

    let listed = keys_json(configured(authd(dir.path())).args(["keys", "list", "--json"]));
    let status_of = |kid: &str| listed.iter().find(|k| k["kid"] == kid).unwrap()["status"].as_str().unwrap().to_owned();
    assert_eq!(
        (status_of(&current), status_of(&pending), status_of(&first)),
        ("signing".into(), "pending".into(), "verifying".into())
    );
}

#[test]
fn a_configured_key_is_listed_and_cannot_be_rotated_by_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let hs256 = |mut command: Command| {
        command.env("AUTHD_JWT__ALGORITHM", "HS256").env("AUTHD_JWT__SECRET", "a-shared-secret-of-at-least-32-bytes!");
        command
    };
    let keys = keys_json(hs256(authd(dir.path())).args(["keys", "list", "--json"]));
    assert_eq!((keys[0]["algorithm"].as_str(), keys[0]["source"].as_str()), (Some("HS256"), Some("config")));

    let output = run(hs256(authd(dir.path())).args(["keys", "rotate"]));
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output).1.contains("comes from the configuration"), "{:?}", text(&output));
    assert!(!text(&output).1.contains("a-shared-secret"));

    let output =
        run(authd(dir.path()).env("AUTHD_JWT__PRIVATE_KEY", "-----BEGIN PRIVATE KEY-----\nnope\n").arg("serve"));
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output).1.contains("jwt.private_key is not a usable PEM private key"), "{:?}", text(&output));
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_on_one_postgres_database_share_their_keys() {
    let Some(db) = test_database("keys_replicas").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = db.url().to_owned();
    tokio::task::spawn_blocking(move || {
        let replica = || {
            let mut command = authd(dir.path());
            command.env("AUTHD_DATABASE__URL", &url).env("AUTHD_SIGNUP__AUTOCONFIRM", "true");
            command
        };
        // Started together on an empty database: they must still agree on one key.
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| Server::start(replica()));
            let b = s.spawn(|| Server::start(replica()));
            (a.join().unwrap(), b.join().unwrap())
        });
        assert_eq!(jwks_kids(&a), jwks_kids(&b));

        let session = ok(a.sign_up("rep@example.com", PASSWORD));
        assert_eq!(b.get_user(&access_token(&session)).0, 200);
        let (status, body) = b.refresh(session["refresh_token"].as_str().unwrap());
        assert_eq!(status, 200, "a refresh token from one replica rotates on another: {body}");
    })
    .await
    .unwrap();
}

fn api_keys(command: &mut Command) -> Value {
    json_output(&run(command))
}

#[test]
fn api_keys_are_printed_required_when_configured_and_revoked_by_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let keys = api_keys(authd(dir.path()).args(["keys", "api", "--json"]));
    let (anon, service) = (keys["anon_key"].as_str().unwrap(), keys["service_role_key"].as_str().unwrap());
    assert_eq!(claims(anon)["role"], "anon");
    assert_eq!(claims(service)["role"], "service_role");
    assert!(claims(anon).get("sub").is_none() && claims(anon).get("session_id").is_none());
    let again = api_keys(authd(dir.path()).args(["keys", "api", "--json"]));
    assert_eq!(claims(again["anon_key"].as_str().unwrap()), claims(anon), "the same claims every time");

    let server = || {
        let mut command = authd(dir.path());
        command.env("AUTHD_API__REQUIRE_KEY", "true").env("AUTHD_SIGNUP__AUTOCONFIRM", "true");
        Server::start(command)
    };
    let signup = json!({"email": "keyed@example.com", "password": PASSWORD});
    {
        let server = server();
        assert!(jwks_kids(&server).contains(&kid(anon)), "PostgREST finds the API keys' key in the JWKS");
        let (status, body) = server.post("/signup", signup.clone());
        assert_eq!((status, body["error_code"].as_str()), (401, Some("no_api_key")));
        let (status, body) = server.call_with("POST", "/signup", Some(signup.clone()), &[("apikey", anon)]);
        assert_eq!(status, 200, "{body}");
        let user_token = access_token(&body);
        let (status, _) = server.call("GET", "/settings", None, Some(service));
        assert_eq!(status, 200, "the service key as a bearer token");
        let (status, body) = server.call("GET", "/settings", None, Some(&user_token));
        assert_eq!((status, body["error_code"].as_str()), (401, Some("invalid_api_key")));
        let (status, _) = server.get_user(&user_token);
        assert_eq!(status, 200, "user endpoints take the user's token alone");
    }

    let rotated = api_keys(authd(dir.path()).args(["keys", "api", "--rotate", "--json"]));
    let new_anon = rotated["anon_key"].as_str().unwrap();
    assert_ne!(kid(new_anon), kid(anon));
    let server = server();
    let (status, body) = server.call_with("GET", "/settings", None, &[("apikey", anon)]);
    assert_eq!((status, body["error_code"].as_str()), (401, Some("invalid_api_key")), "revoked");
    let (status, _) = server.call_with("GET", "/settings", None, &[("apikey", new_anon)]);
    assert_eq!(status, 200);
    assert!(!jwks_kids(&server).contains(&kid(anon)));
}

#[test]
fn a_configured_secret_signs_the_api_keys_and_they_cannot_be_rotated_apart_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let configured = |command: &mut Command| {
        command.env("AUTHD_JWT__ALGORITHM", "HS256").env("AUTHD_JWT__SECRET", "an operator secret of 32 bytes or more");
    };
    let mut print = authd(dir.path());
    configured(print.args(["keys", "api", "--json"]));
    let keys = api_keys(&mut print);
    let anon = keys["anon_key"].as_str().unwrap();
    let header = jwt_header(anon);
    assert_eq!(header["alg"], "HS256");

    let mut rotate = authd(dir.path());
    configured(rotate.args(["keys", "api", "--rotate"]));
    let output = run(&mut rotate);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output).1.contains("replace that key to revoke them"), "{:?}", text(&output));

    let mut command = authd(dir.path());
    configured(command.env("AUTHD_API__REQUIRE_KEY", "true"));
    let server = Server::start(command);
    let (status, _) = server.call_with("GET", "/settings", None, &[("apikey", anon)]);
    assert_eq!(status, 200);
}

#[test]
fn keys_api_supabase_prints_keys_as_supabases_tooling_makes_them() {
    let dir = tempfile::tempdir().unwrap();
    let configured = |command: &mut Command| {
        command.env("AUTHD_JWT__ALGORITHM", "HS256").env("AUTHD_JWT__SECRET", "an operator secret of 32 bytes or more");
    };
    let mut print = authd(dir.path());
    configured(print.args(["keys", "api", "--supabase", "--ref", "abcdefghijklmnopqrst", "--json"]));
    let keys = api_keys(&mut print);
    let (anon, service) = (keys["anon_key"].as_str().unwrap(), keys["service_role_key"].as_str().unwrap());
    assert_eq!(jwt_header(anon), json!({"alg": "HS256", "typ": "JWT"}), "no kid, as Supabase's keys");
    let stock = claims(service);
    assert_eq!((stock["iss"].as_str(), stock["ref"].as_str()), (Some("supabase"), Some("abcdefghijklmnopqrst")));
    assert_eq!(stock["role"], "service_role");
    assert!(stock.get("aud").is_none(), "{stock}");
    assert_eq!(stock["exp"].as_i64().unwrap() - stock["iat"].as_i64().unwrap(), 5 * 365 * 86_400);

    let mut command = authd(dir.path());
    configured(command.env("AUTHD_API__REQUIRE_KEY", "true"));
    let server = Server::start(command);
    let (status, body) = server.call_with("GET", "/settings", None, &[("apikey", anon)]);
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.call("GET", "/admin/users", None, Some(service));
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.call("GET", "/admin/users", None, Some(anon));
    assert_eq!((status, body["error_code"].as_str()), (403, Some("not_admin")));

    // Database-managed ES256 keys cannot make them: only the shared secret signs without a kid.
    let other = tempfile::tempdir().unwrap();
    let output = run(authd(other.path()).args(["keys", "api", "--supabase"]));
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output).1.contains("set jwt.secret"), "{:?}", text(&output));
}

#[test]
fn gotrue_jwt_keys_sign_and_verify_and_the_legacy_secret_keeps_the_stock_keys() {
    use auth_crypto::{JwtAlgorithm, JwtSigner, SigningKey};
    use base64::Engine;
    const SECRET: &str = "Vd3kq8ZxP0mW5tLr2Yc7NfB1sJ9hG4uQ6eA8oK3iR0vT5wE2yU7pM1nX4zC9bH6j";
    let es256 = SigningKey::generate(JwtAlgorithm::ES256).unwrap();
    let mut signing: Value = serde_json::from_str(&es256.to_private_jwk_json()).unwrap();
    signing["kid"] = json!("asymmetric-1");
    signing["key_ops"] = json!(["sign", "verify"]);
    let legacy = json!({"kty": "oct", "kid": "legacy", "key_ops": ["verify"],
                        "k": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(SECRET)});
    let dir = tempfile::tempdir().unwrap();
    let configured = |mut command: Command| {
        command
            .env("GOTRUE_JWT_SECRET", SECRET)
            .env("GOTRUE_JWT_KEYS", json!([legacy, signing]).to_string())
            .env("GOTRUE_MAILER_AUTOCONFIRM", "true")
            .env("AUTHD_API__REQUIRE_KEY", "true");
        command
    };
    let keys = keys_json(configured(authd(dir.path())).args(["keys", "list", "--json"]));
    let listed: Vec<(&str, &str, &str)> = keys
        .iter()
        .filter(|k| k["source"] == "config")
        .map(|k| (k["kid"].as_str().unwrap(), k["algorithm"].as_str().unwrap(), k["status"].as_str().unwrap()))
        .collect();
    assert_eq!(listed, [("asymmetric-1", "ES256", "signing"), ("legacy", "HS256", "verifying")]);

    // The project's stock keys, as Supabase's self-hosting guide makes them with JWT_SECRET.
    let hmac = JwtSigner::new(SigningKey::hmac(SECRET.as_bytes(), None).unwrap(), vec![], "", "").unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let stock = |role: &str| {
        let claims = json!({"role": role, "iss": "supabase", "iat": now - 60, "exp": now + 5 * 365 * 86_400});
        hmac.sign_claims_without_kid(&claims).unwrap()
    };
    let (anon, service) = (stock("anon"), stock("service_role"));

    let server = Server::start(configured(authd(dir.path())));
    let signup = json!({"email": "keyset@example.com", "password": PASSWORD});
    let (status, body) = server.call_with("POST", "/signup", Some(signup), &[("apikey", &anon)]);
    assert_eq!(status, 200, "{body}");
    let token = access_token(&body);
    assert_eq!((jwt_header(&token)["alg"].as_str(), kid(&token).as_str()), (Some("ES256"), "asymmetric-1"));
    assert_eq!(server.get_user(&token).0, 200);
    let (status, body) = server.call("GET", "/admin/users", None, Some(&service));
    assert_eq!(status, 200, "{body}");
    assert_eq!(jwks_kids(&server), ["asymmetric-1"], "the secret is never published");
    drop(server);

    // PostgREST verifies with the JWKS then: the signing key is not the secret.
    let printed = json_output(&run(configured(authd(dir.path())).args(["postgrest", "config", "--json"])));
    let jwt_secret = printed["jwt-secret"].as_str().unwrap();
    assert!(jwt_secret.contains("asymmetric-1") && !jwt_secret.contains(SECRET), "{jwt_secret}");
}

/// A key-encryption key for tests (32 random bytes, as `openssl rand -base64 32` prints them).
const KEK: &str = "FiFwraL5Cf0pQvTov6D9d+uIAuGb9KvQfvFQ0ESj458=";
/// Another one, standing for a wrong key.
const OTHER_KEK: &str = "m0x3ZbXh2c7cQ6Yk1pV9sT4nW8rE5uJ0aL2dF6gH9jI=";

/// The `material` column of every stored key, as the database holds it.
async fn stored_material(url: &str) -> Vec<String> {
    let database = auth_store::Database::connect(url, &auth_store::PoolOptions::default()).await.unwrap();
    let mut material = Vec::new();
    for purpose in [KeyPurpose::AccessToken, KeyPurpose::ApiKey, KeyPurpose::RefreshChain] {
        let keys = database.keys().list_keys(purpose).await.unwrap();
        material.extend(keys.into_iter().map(|k| k.material.expose().to_owned()));
    }
    material
}

/// The `material` column of every stored key, read with SQL from PostgreSQL.
async fn pg_material(client: &tokio_postgres::Client) -> Vec<String> {
    let rows = client.query("SELECT material FROM auth.signing_keys", &[]).await.unwrap();
    rows.iter().map(|r| r.get::<_, String>(0)).collect()
}

fn with_kek(mut command: Command, kek: &str) -> Command {
    command.env("AUTHD_JWT__KEYS_ENCRYPTION_KEY", kek);
    command
}

/// Runs `authd keys api --json` and gives its output, which fails when a key does not read.
fn api_keys_run(mut command: Command) -> std::process::Output {
    run(command.args(["keys", "api", "--json"]))
}

fn assert_refused(output: &std::process::Output, cause: &str) {
    let (_, stderr) = text(output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(cause), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_kek_sqlite_keys_are_encrypted_at_rest_and_the_file_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let url = format!("sqlite://{}", dir.path().join("data/authd.db").display());

    // Without a KEK: keys in clear (the zero-setup default), with a loud warning.
    let before = api_keys_run(authd(&path));
    assert!(before.status.success(), "{:?}", text(&before));
    assert!(text(&before).1.contains("UNENCRYPTED"), "{:?}", text(&before));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(path.join("data/authd.db")).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the database file is readable by its owner only");
    assert!(stored_material(&url).await.iter().any(|m| m.contains("\"d\"")));

    // With one: the keys stored in clear are encrypted at the next start and still sign the same.
    let after = api_keys_run(with_kek(authd(&path), KEK));
    assert!(after.status.success(), "{:?}", text(&after));
    assert!(!text(&after).1.contains("UNENCRYPTED"), "{:?}", text(&after));
    assert_eq!(
        claims(json(&text(&after).0)["anon_key"].as_str().unwrap()),
        claims(json(&text(&before).0)["anon_key"].as_str().unwrap())
    );
    let material = stored_material(&url).await;
    assert_eq!(material.len(), 3);
    for stored in &material {
        assert!(stored.starts_with("enc:v1:") && !stored.contains("\"d\"") && !stored.contains("kty"), "{stored}");
    }

    // A server with the KEK signs, verifies and rotates with the encrypted keys; a rotation is
    // stored encrypted too.
    let mut command = with_kek(authd(&path), KEK);
    command.env("AUTHD_SIGNUP__AUTOCONFIRM", "true");
    let server = Server::start(command);
    let session = ok(server.sign_up("sealed@example.com", PASSWORD));
    assert_eq!(server.refresh(session["refresh_token"].as_str().unwrap()).0, 200);
    drop(server);
    assert!(run(with_kek(authd(&path), KEK).args(["keys", "rotate", "--now"])).status.success());
    let material = stored_material(&url).await;
    assert_eq!(material.len(), 4);
    assert!(material.iter().all(|m| m.starts_with("enc:v1:")));

    // Another KEK, or none, refuses to start naming a key; an unusable KEK says how to make one.
    assert_refused(
        &api_keys_run(with_kek(authd(&path), OTHER_KEK)),
        "the key-encryption key does not decrypt stored key",
    );
    assert_refused(&api_keys_run(authd(&path)), "is encrypted but no key-encryption key is configured");
    assert_refused(&api_keys_run(with_kek(authd(&path), "c2hvcnQ=")), "openssl rand -base64 32");
    assert_eq!(stored_material(&url).await.len(), 4, "no new key was made instead");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_kek_postgres_keys_are_encrypted_in_place_by_replicas_starting_together() {
    let Some(db) = test_database("keys_at_rest").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = db.url().to_owned();
    let db_url = url.clone();
    let on_db = move |mut command: Command| {
        command.env("AUTHD_DATABASE__URL", &db_url);
        command
    };
    let (path, plain_url) = (dir.path().to_owned(), url.clone());
    let before = tokio::task::spawn_blocking(move || {
        let mut command = authd(&path);
        command.env("AUTHD_DATABASE__URL", &plain_url);
        api_keys_run(command)
    })
    .await
    .unwrap();
    assert!(before.status.success(), "{:?}", text(&before));

    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    assert!(pg_material(&client).await.iter().any(|m| m.contains("\"d\"")), "in clear before");

    let path = dir.path().to_owned();
    let outputs = tokio::task::spawn_blocking(move || {
        std::thread::scope(|s| {
            let replicas: Vec<_> =
                (0..2).map(|_| s.spawn(|| api_keys_run(with_kek(on_db(authd(&path)), KEK)))).collect();
            let outputs: Vec<_> = replicas.into_iter().map(|r| r.join().unwrap()).collect();
            let wrong = api_keys_run(with_kek(on_db(authd(&path)), OTHER_KEK));
            (outputs, wrong)
        })
    })
    .await
    .unwrap();
    for output in &outputs.0 {
        assert!(output.status.success(), "{:?}", text(output));
    }
    assert_refused(&outputs.1, "the key-encryption key does not decrypt stored key");
    let stored = pg_material(&client).await;
    assert_eq!(stored.len(), 3);
    for m in &stored {
        assert!(m.starts_with("enc:v1:") && !m.contains("\"d\"") && !m.contains("kty"), "{m}");
    }
}
