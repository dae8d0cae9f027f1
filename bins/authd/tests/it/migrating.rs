//! Moving to authd: GoTrue's environment, `authd config import postgrest-auth` and
//! `authd import gotrue`.

use std::path::Path;

use crate::process::{authd, run, text};

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
