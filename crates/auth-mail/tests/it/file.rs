//! `FileMailer`: one parseable `.eml` per message, sortable names, one safe log line.

use std::io::Write;
use std::sync::{Arc, Mutex};

use auth_core::ports::Mailer;
use auth_mail::FileMailer;

use crate::support::{self, CODE};

/// Collects log output for assertions.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// The one test that sends through `FileMailer`: tracing caches per call site whether anyone
// listens, and a parallel test hitting the same site before this one subscribes could hide its
// log line.
#[tokio::test]
async fn writes_parseable_eml_files_named_in_time_order_and_logs_one_line_each() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data/mail");
    let clock = support::clock();
    let mailer = FileMailer::new(&dir, support::sender(), clock.clone(), support::random()).unwrap();
    assert!(dir.is_dir(), "created at construction");

    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mail = support::confirmation();
    mailer.send(&mail).await.unwrap();
    clock.advance(chrono::Duration::milliseconds(1));
    mailer.send(&mail).await.unwrap();
    // The same instant still gives a second, distinct file.
    mailer.send(&mail).await.unwrap();

    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("20260314T150926.") && n.ends_with(".eml")), "{names:?}");
    assert!(names[0].starts_with("20260314T150926.000000Z-"), "{names:?}");
    assert!(names[1].starts_with("20260314T150926.001000Z-") && names[2].starts_with("20260314T150926.001000Z-"));
    for name in &names {
        support::assert_confirmation(&std::fs::read(dir.join(name)).unwrap());
    }

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert_eq!(logs.lines().count(), 3, "{logs}");
    assert!(logs.contains(&names[0]) && logs.contains("user@example.com"), "{logs}");
    assert!(logs.contains("Confirm your email address"), "{logs}");
    assert!(!logs.contains(CODE) && !logs.contains("tok-SECRET"), "{logs}");

    // Someone cleared the folder while the server ran.
    std::fs::remove_dir_all(&dir).unwrap();
    mailer.send(&mail).await.unwrap();
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
}

#[test]
fn a_folder_that_cannot_be_made_fails_at_construction() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    assert!(FileMailer::new(file.join("mail"), support::sender(), support::clock(), support::random()).is_err());
}
