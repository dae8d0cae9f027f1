//! The end-to-end suite in `tests/e2e`: the real `@supabase/auth-js` against this binary, on
//! SQLite, PostgreSQL, and PostgreSQL through PgBouncer in transaction mode (when PgBouncer is
//! installed; `AUTHD_TEST_REQUIRE_PGBOUNCER=1` requires it). It needs Node 20+ and `npm ci` in `tests/e2e`; without them it is
//! skipped with a loud message, unless `AUTHD_TEST_REQUIRE_E2E=1` makes that a failure (CI).

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use auth_testkit::postgres::test_database;

use crate::process::{run, text};

const REQUIRE_ENV: &str = "AUTHD_TEST_REQUIRE_E2E";

fn suite_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e")
}

/// Why the suite cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|output| output.status.success()) {
        return Some("`node` is not installed (Node 20 or newer)".into());
    }
    if !suite_dir().join("node_modules/@supabase/auth-js/package.json").exists() {
        return Some("its packages are not installed: run `npm ci` in tests/e2e".into());
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_js_suite_passes_on_sqlite_and_postgres() {
    if let Some(reason) = missing_prerequisite() {
        assert!(
            std::env::var(REQUIRE_ENV).as_deref() != Ok("1"),
            "{REQUIRE_ENV}=1 but the e2e suite cannot run: {reason}"
        );
        // Straight to stderr: libtest captures eprintln! of passing tests, and this must be seen.
        let _ = writeln!(std::io::stderr(), "\n*** SKIPPING the auth-js e2e suite: {reason}\n");
        return;
    }
    let database = test_database("e2e").await;
    let bounced = auth_testkit::pgbouncer::bounced_database("e2e_pgbouncer").await;
    let mut command = Command::new("node");
    command
        .args([
            "--test",
            "--test-concurrency=1",
            "--test-reporter=spec",
            "suite.test.mjs",
            "mfa.test.mjs",
            "phone.test.mjs",
        ])
        .current_dir(suite_dir())
        .env("AUTHD_BIN", env!("CARGO_BIN_EXE_authd"))
        .env_remove("AUTHD_E2E_DATABASE_URL")
        .env_remove("AUTHD_E2E_REQUIRE_POSTGRES")
        .env_remove("AUTHD_E2E_PGBOUNCER_URL")
        .env_remove("AUTHD_E2E_PGBOUNCER_DIRECT_URL");
    if let Some(bounced) = &bounced {
        command
            .env("AUTHD_E2E_PGBOUNCER_URL", bounced.url())
            .env("AUTHD_E2E_PGBOUNCER_DIRECT_URL", bounced.direct_url());
    }
    if let Some(database) = &database {
        command.env("AUTHD_E2E_DATABASE_URL", database.url()).env("AUTHD_E2E_REQUIRE_POSTGRES", "1");
    }
    let output = tokio::task::spawn_blocking(move || run(&mut command)).await.unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "the auth-js suite failed:\n{stdout}\n{stderr}");
}
