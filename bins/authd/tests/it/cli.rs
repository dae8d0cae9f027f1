use crate::process::{authd, run, text};

#[test]
fn version_prints_the_package_version() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(authd(dir.path()).arg("version"));
    assert!(output.status.success());
    assert_eq!(text(&output).0.trim(), format!("authd {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn config_check_accepts_defaults_and_refuses_unknown_keys_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(authd(dir.path()).args(["config", "check"]));
    assert!(output.status.success(), "{:?}", text(&output));
    assert_eq!(text(&output).0.trim(), "configuration is valid");

    std::fs::write(dir.path().join("authd.toml"), "[server]\nprot = 1\n").unwrap();
    let output = run(authd(dir.path()).args(["--config", "authd.toml", "config", "check"]));
    assert_eq!(output.status.code(), Some(1));
    let (_, stderr) = text(&output);
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("prot") && !stderr.contains("panicked"), "{stderr}");

    let output = run(authd(dir.path()).args(["config", "check"]).env("AUTHD_JWT__EXPIRY_SECS", "1"));
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output).1.contains("jwt.expiry_secs"));
}

#[test]
fn config_show_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(authd(dir.path())
        .args(["config", "show"])
        .env("AUTHD_DATABASE__URL", "postgres://authd:hunter2@db:5432/app")
        .env("AUTHD_JWT__ALGORITHM", "HS256")
        .env("AUTHD_JWT__SECRET", "0123456789abcdef0123456789abcdef-secret"));
    assert!(output.status.success());
    let (stdout, _) = text(&output);
    assert!(stdout.contains("[server]") && stdout.contains("port = 9999"), "{stdout}");
    assert!(!stdout.contains("hunter2") && !stdout.contains("-secret"), "{stdout}");
}

#[test]
fn a_missing_config_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(authd(dir.path()).args(["--config", "nope.toml", "config", "check"]));
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output).1.contains("nope.toml"));
}
