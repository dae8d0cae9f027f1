//! Moving to authd: GoTrue's environment, `authd config import postgrest-auth` and
//! `authd import gotrue`.

use std::path::Path;

use crate::process::{Server, authd, json_output, run, text};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

#[test]
fn postgrest_auth_json_becomes_a_config_authd_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let json = fixture("postgrest-auth.json");
    let printed = run(authd(dir.path()).args(["config", "import", "postgrest-auth"]).arg(&json));
    assert!(printed.status.success(), "{:?}", text(&printed));
    let (stdout, stderr) = text(&printed);
    assert!(stdout.contains("[roles]") && stdout.contains("normal_user"), "{stdout}");
    assert!(stderr.contains("authd: note: db.pool.min"), "{stderr}");
    assert!(!stderr.contains("the-mail-password"), "{stderr}");

    let written =
        run(authd(dir.path()).args(["config", "import", "postgrest-auth", "--output", "authd.toml"]).arg(&json));
    assert!(written.status.success(), "{:?}", text(&written));
    assert!(text(&written).0.is_empty(), "the TOML went to the file");
    let path = dir.path().join("authd.toml");
    assert_eq!(std::fs::read_to_string(&path).unwrap().trim_end(), stdout.trim_end());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600, "it holds secrets");
    }
    let check = run(authd(dir.path()).args(["--config", "authd.toml", "config", "check"]));
    assert!(check.status.success(), "{:?}", text(&check));

    let missing = run(authd(dir.path()).args(["config", "import", "postgrest-auth", "nope.json"]));
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing).1.contains("nope.json"));
}

#[test]
fn gotrue_variables_configure_authd_and_the_rest_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(authd(dir.path())
        .args(["config", "check"])
        .env("GOTRUE_JWT_SECRET", "a-gotrue-secret-of-at-least-32-bytes-long")
        .env("GOTRUE_SITE_URL", "https://app.example.com")
        .env("GOTRUE_EXTERNAL_GITHUB_ENABLED", "true"));
    assert!(output.status.success(), "{:?}", text(&output));
    let (_, stderr) = text(&output);
    assert!(stderr.contains("GOTRUE_EXTERNAL_GITHUB_ENABLED has no effect"), "{stderr}");
    assert!(!stderr.contains("a-gotrue-secret"), "{stderr}");

    let shown = run(authd(dir.path())
        .args(["config", "show"])
        .env("GOTRUE_JWT_SECRET", "a-gotrue-secret-of-at-least-32-bytes-long")
        .env("GOTRUE_JWT_EXP", "900")
        .env("AUTHD_JWT__EXPIRY_SECS", "1200"));
    let (stdout, _) = text(&shown);
    assert!(stdout.contains("algorithm = \"HS256\"") && stdout.contains("expiry_secs = 1200"), "{stdout}");
    assert!(!stdout.contains("a-gotrue-secret"), "{stdout}");
}

/// GoTrue's `auth.users` and `auth.identities`, reduced to the columns the import reads (plus a
/// few it ignores), with GoTrue's names and types.
const GOTRUE_SCHEMA: &str = "
CREATE SCHEMA auth;
CREATE TABLE auth.users (
    instance_id uuid,
    id uuid NOT NULL PRIMARY KEY,
    aud varchar(255),
    role varchar(255),
    email varchar(255),
    encrypted_password varchar(255),
    email_confirmed_at timestamptz,
    invited_at timestamptz,
    confirmation_sent_at timestamptz,
    last_sign_in_at timestamptz,
    raw_app_meta_data jsonb,
    raw_user_meta_data jsonb,
    is_super_admin boolean,
    created_at timestamptz,
    updated_at timestamptz,
    phone text UNIQUE DEFAULT NULL,
    phone_confirmed_at timestamptz,
    banned_until timestamptz,
    is_sso_user boolean NOT NULL DEFAULT false,
    deleted_at timestamptz,
    is_anonymous boolean NOT NULL DEFAULT false
);
CREATE TABLE auth.identities (
    provider_id text NOT NULL,
    user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    identity_data jsonb NOT NULL,
    provider text NOT NULL,
    last_sign_in_at timestamptz,
    created_at timestamptz,
    updated_at timestamptz,
    id uuid NOT NULL PRIMARY KEY DEFAULT gen_random_uuid()
);
";

const ADA: &str = "00000000-0000-4000-8000-00000000000a";
const BOB: &str = "00000000-0000-4000-8000-00000000000b";
const BANNED: &str = "00000000-0000-4000-8000-0000000000ba";
const FIREBASE: &str = "00000000-0000-4000-8000-0000000000fb";
const ANON: &str = "00000000-0000-4000-8000-0000000000a0";
const CLASH: &str = "00000000-0000-4000-8000-0000000000c1";
const BAD_EMAIL: &str = "00000000-0000-4000-8000-0000000000e1";

/// Fills the GoTrue fixture: users of every kind the import treats differently.
async fn gotrue_fixture(url: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute(GOTRUE_SCHEMA).await.unwrap();
    // Cost 4 keeps the debug build quick; GoTrue writes cost 10, which verifies the same way.
    let bcrypt = |password: &str, version| bcrypt::hash_with_result(password, 4).unwrap().format_for_version(version);
    let ada = bcrypt("ada's passphrase", bcrypt::Version::TwoA);
    let bob = bcrypt("bob's passphrase", bcrypt::Version::TwoB);
    let banned = bcrypt("banned passphrase", bcrypt::Version::TwoY);
    let insert = "INSERT INTO auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
            last_sign_in_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at, phone, banned_until,
            is_sso_user, deleted_at, is_anonymous)
        VALUES ('00000000-0000-0000-0000-000000000000', $1::text::uuid, 'authenticated', 'authenticated', $2, $3,
            $4::text::timestamptz, $5::text::timestamptz, $6::text::jsonb, $7::text::jsonb,
            '2024-03-01T10:00:00Z', '2024-03-02T10:00:00Z', $8, $9::text::timestamptz, $10, $11::text::timestamptz, $12)";
    type Row<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        bool,
        Option<&'a str>,
        bool,
    );
    let confirmed = Some("2024-03-01T10:05:00Z");
    let email_app = r#"{"provider": "email", "providers": ["email"]}"#;
    let rows: Vec<Row> = vec![
        (
            ADA,
            Some("ada@example.com"),
            Some(ada.as_str()),
            confirmed,
            Some("2024-05-01T08:00:00Z"),
            r#"{"provider": "email", "providers": ["email", "github"]}"#,
            r#"{"full_name": "Ada Lovelace", "email_verified": true}"#,
            Some("15551234567"),
            None,
            false,
            None,
            false,
        ),
        (BOB, Some("bob@example.com"), Some(bob.as_str()), None, None, email_app, "{}", None, None, false, None, false),
        (
            BANNED,
            Some("banned@example.com"),
            Some(banned.as_str()),
            confirmed,
            None,
            email_app,
            "{}",
            None,
            Some("2999-01-01T00:00:00Z"),
            false,
            None,
            false,
        ),
        (
            FIREBASE,
            Some("firebase@example.com"),
            Some("$fbscrypt$v=1,n=14,r=8,p=1,ss=Bw==,sk=a2V5$c2FsdA==$aGFzaA=="),
            confirmed,
            None,
            email_app,
            "{}",
            None,
            None,
            false,
            None,
            false,
        ),
        (ANON, None, None, None, None, "{}", "{}", None, None, false, None, true),
        (
            CLASH,
            Some("clash@example.com"),
            Some(ada.as_str()),
            confirmed,
            None,
            email_app,
            "{}",
            None,
            None,
            false,
            None,
            false,
        ),
        (BAD_EMAIL, Some("not an address"), None, None, None, email_app, "{}", None, None, false, None, false),
        (
            "00000000-0000-4000-8000-0000000000de",
            Some("deleted@example.com"),
            None,
            None,
            None,
            email_app,
            "{}",
            None,
            None,
            false,
            Some("2024-04-01T00:00:00Z"),
            false,
        ),
        (
            "00000000-0000-4000-8000-00000000005e",
            Some("sso@example.com"),
            None,
            confirmed,
            None,
            r#"{"provider": "sso:1"}"#,
            "{}",
            None,
            None,
            true,
            None,
            false,
        ),
    ];
    for (id, email, hash, confirmed, last, app, user, phone, banned, sso, deleted, anonymous) in rows {
        client
            .execute(
                insert,
                &[&id, &email, &hash, &confirmed, &last, &app, &user, &phone, &banned, &sso, &deleted, &anonymous],
            )
            .await
            .unwrap();
    }
    client
        .batch_execute(&format!(
            "INSERT INTO auth.identities (provider_id, user_id, identity_data, provider) VALUES
                ('{ADA}', '{ADA}', '{{\"sub\": \"{ADA}\"}}', 'email'),
                ('4242', '{ADA}', '{{\"sub\": \"4242\"}}', 'github')"
        ))
        .await
        .unwrap();
}

/// `authd import gotrue` against authd's database `target`, the GoTrue URL read from a file.
fn import(dir: &Path, target: &str, source: &str) -> serde_json::Value {
    std::fs::write(dir.join("gotrue.url"), source).unwrap();
    let output = run(authd(dir).env("AUTHD_DATABASE__URL", target).args([
        "import",
        "gotrue",
        "--from-file",
        "gotrue.url",
        "--batch-size",
        "3",
        "--json",
    ]));
    json_output(&output)
}

async fn stored_hash(url: &str, id: &str) -> String {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let row = client.query_one("SELECT encrypted_password FROM auth.users WHERE id = $1::text::uuid", &[&id]).await;
    row.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn gotrue_users_move_over_keep_their_bcrypt_passwords_and_leave_with_argon2id() {
    let Some(source) = auth_testkit::postgres::test_database("compat_gotrue_source").await else { return };
    let Some(target) = auth_testkit::postgres::test_database("compat_authd_target").await else { return };
    gotrue_fixture(source.url()).await;
    let dir = tempfile::tempdir().unwrap();
    let (source_url, target_url) = (source.url().to_owned(), target.url().to_owned());

    let dir_path = dir.path().to_owned();
    let (first, second) = tokio::task::spawn_blocking(move || {
        // A user authd already has, under another id, with an address GoTrue also has.
        let clash = run(authd(&dir_path).env("AUTHD_DATABASE__URL", &target_url).args([
            "users",
            "create",
            "--email",
            "clash@example.com",
        ]));
        assert!(clash.status.success(), "{:?}", text(&clash));
        let first = import(&dir_path, &target_url, &source_url);
        let second = import(&dir_path, &target_url, &source_url);
        (first, second)
    })
    .await
    .unwrap();

    assert_eq!(first["read"], 9, "{first}");
    assert_eq!(first["imported"], 5, "{first}");
    assert_eq!(first["already_present"], 0);
    assert_eq!((first["skipped_deleted"].as_u64(), first["skipped_sso"].as_u64()), (Some(1), Some(1)));
    assert_eq!(first["refused"].as_object().unwrap().len(), 2, "{first}");
    assert!(first["refused"][CLASH].as_str().unwrap().contains("email"), "{first}");
    assert!(first["refused"][BAD_EMAIL].as_str().unwrap().contains("email"), "{first}");
    assert_eq!(first["without_password"], serde_json::json!([FIREBASE]));
    assert_eq!(first["external_identities"], serde_json::json!({"github": 1}));
    assert_eq!((second["imported"].as_u64(), second["already_present"].as_u64()), (Some(0), Some(5)), "{second}");
    assert_eq!(second["refused"].as_object().unwrap().len(), 2, "a re-run reports the same refusals");
    assert!(stored_hash(target.url(), ADA).await.starts_with("$2a$"), "the hash came over as it was");

    let target_url = target.url().to_owned();
    let dir_path = dir.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let mut command = authd(&dir_path);
        command.env("AUTHD_DATABASE__URL", &target_url);
        let server = Server::start(command);
        let (status, session) = server.sign_in("ada@example.com", "ada's passphrase");
        assert_eq!(status, 200, "{session}");
        let user = &session["user"];
        assert_eq!(user["id"], ADA);
        assert_eq!(user["phone"], "15551234567");
        assert_eq!(user["user_metadata"]["full_name"], "Ada Lovelace");
        assert_eq!(user["app_metadata"]["providers"], serde_json::json!(["email", "github"]));
        assert_eq!(user["created_at"].as_str().unwrap().get(..19), Some("2024-03-01T10:00:00"));
        assert_eq!(user["email_confirmed_at"].as_str().unwrap().get(..19), Some("2024-03-01T10:05:00"));

        let (status, body) = server.sign_in("ada@example.com", "not ada's passphrase");
        assert_eq!((status, body["error_code"].as_str()), (400, Some("invalid_credentials")));
        let (status, body) = server.sign_in("bob@example.com", "bob's passphrase");
        assert_eq!((status, body["error_code"].as_str()), (400, Some("email_not_confirmed")), "still unconfirmed");
        let (status, body) = server.sign_in("banned@example.com", "banned passphrase");
        assert_eq!((status, body["error_code"].as_str()), (400, Some("user_banned")), "still banned");
        let (status, _) = server.sign_in("firebase@example.com", "anything at all");
        assert_eq!(status, 400, "no password came over");
    })
    .await
    .unwrap();
    let upgraded = stored_hash(target.url(), ADA).await;
    assert!(upgraded.starts_with("$argon2id$"), "upgraded at sign-in: {}", &upgraded[..10]);
    assert!(stored_hash(target.url(), BOB).await.starts_with("$2b$"), "no sign-in, no upgrade");

    // A third run after the upgrade leaves the new hash alone.
    let (source_url, target_url, dir_path) = (source.url().to_owned(), target.url().to_owned(), dir.path().to_owned());
    let third = tokio::task::spawn_blocking(move || import(&dir_path, &target_url, &source_url)).await.unwrap();
    assert_eq!(third["imported"], 0);
    assert_eq!(stored_hash(target.url(), ADA).await, upgraded);

    let target_url = target.url().to_owned();
    let dir_path = dir.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let mut command = authd(&dir_path);
        command.env("AUTHD_DATABASE__URL", &target_url);
        let server = Server::start(command);
        assert_eq!(server.sign_in("ada@example.com", "ada's passphrase").0, 200, "argon2id works too");
    })
    .await
    .unwrap();
}

#[test]
fn gotrue_import_refuses_what_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("authd.db").display());
    let missing = run(authd(dir.path()).env("AUTHD_DATABASE__URL", &url).args(["import", "gotrue"]));
    assert_eq!(missing.status.code(), Some(2), "clap wants --from or --from-file");
    let same = run(authd(dir.path()).env("AUTHD_DATABASE__URL", &url).args(["import", "gotrue", "--from", &url]));
    assert_eq!(same.status.code(), Some(1));
    assert!(text(&same).1.contains("authd's own database"), "{:?}", text(&same));
    let nowhere = run(authd(dir.path()).env("AUTHD_DATABASE__URL", &url).args([
        "import",
        "gotrue",
        "--from",
        "postgres://gotrue:secret-pw@127.0.0.1:1/none",
    ]));
    assert_eq!(nowhere.status.code(), Some(1));
    let (_, stderr) = text(&nowhere);
    assert!(stderr.contains("cannot connect") && !stderr.contains("secret-pw"), "{stderr}");
}
