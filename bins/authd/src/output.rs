//! What the command line prints: results on stdout, one-line failures on stderr.

use std::io::Write;
use std::process::ExitCode;

use crate::keys::KeyListing;

/// Prints a result line on stdout.
pub fn say(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (`authd config show | head -1`) is not an error worth a panic.
    let _ = writeln!(stdout, "{text}");
}

/// Prints keys as a table, or as one JSON array for scripts.
pub fn key_table(keys: &[KeyListing], json: bool) -> anyhow::Result<()> {
    if json {
        say(&serde_json::to_string_pretty(keys)?);
        return Ok(());
    }
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|| "-".into())
    };
    say(&format!(
        "{:<24} {:<14} {:<12} {:<10} {:<9} {:<19} {:<19}",
        "KID", "PURPOSE", "ALGORITHM", "STATUS", "SOURCE", "CREATED", "ACTIVATES"
    ));
    for key in keys {
        say(&format!(
            "{:<24} {:<14} {:<12} {:<10} {:<9} {:<19} {:<19}",
            key.kid,
            key.purpose,
            key.algorithm,
            key.status,
            key.source,
            time(key.created_at),
            time(key.activates_at)
        ));
    }
    Ok(())
}

/// Prints the cause chain of a failure on one line and returns the failing exit code.
pub fn fail(error: &anyhow::Error) -> ExitCode {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "authd: error: {error:#}");
    ExitCode::FAILURE
}

/// Prints a remark on stderr, apart from the result on stdout.
pub fn note(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "authd: note: {text}");
}
