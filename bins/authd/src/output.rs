//! What the command line prints: results on stdout, one-line failures on stderr.

use std::io::Write;
use std::process::ExitCode;

/// Prints a result line on stdout.
pub fn say(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (`authd config show | head -1`) is not an error worth a panic.
    let _ = writeln!(stdout, "{text}");
}

/// A time as tables show it (UTC, to the second), or `-`.
pub fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|| "-".into())
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
