//! Mail written as `.eml` files to a folder: the embedded default, when no SMTP server is set.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use auth_core::ports::{Clock, Mail, MailError, Mailer, Random};

use crate::message::{self, Sender};

/// Writes each message as an RFC 5322 file `<UTC time>-<random>.eml` into one folder, so the
/// names sort by time and never collide, and any mail client or parser can open them.
pub struct FileMailer {
    dir: PathBuf,
    sender: Sender,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
}

impl FileMailer {
    /// A mailer writing into `dir`, created now if missing, so a bad path fails start-up.
    pub fn new(
        dir: impl Into<PathBuf>,
        sender: Sender,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
    ) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir, sender, clock, random })
    }

    /// The folder the files go to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl fmt::Debug for FileMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileMailer").field("dir", &self.dir).field("sender", &self.sender).finish_non_exhaustive()
    }
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let message = message::build(mail, &self.sender, self.clock.as_ref(), self.random.as_ref())?;
        let name = format!(
            "{}-{}.eml",
            self.clock.now().format("%Y%m%dT%H%M%S%.6fZ"),
            message::random_hex(self.random.as_ref(), 6)?
        );
        let path = self.dir.join(&name);
        // Written under a hidden name and renamed, so whoever watches the folder never reads half
        // a message.
        let partial = self.dir.join(format!(".{name}.partial"));
        let io_error = |e: std::io::Error| MailError::Transient(format!("cannot write {}: {e}", path.display()));
        // Someone may have cleared the folder since start-up.
        tokio::fs::create_dir_all(&self.dir).await.map_err(io_error)?;
        tokio::fs::write(&partial, message.formatted()).await.map_err(io_error)?;
        tokio::fs::rename(&partial, &path).await.map_err(io_error)?;
        // The subject is safe to log: `Templates` refuses a subject showing the code or link.
        tracing::info!(file = %path.display(), to = %mail.to, subject = %mail.subject, "mail written to the outbox folder");
        Ok(())
    }
}
