//! Mail adapters of authd's ports: [`SmtpMailer`] delivers over SMTP with lettre, [`FileMailer`]
//! writes `.eml` files to a folder when no SMTP server is configured, and [`Templates`] renders
//! the nine kinds of mail with minijinja from built-in defaults or operator overrides.
//!
//! Nothing here logs or returns a body, a code or a link in an error: the bodies carry one-time
//! secrets. Time and randomness (the `Date` header, `Message-ID`, file names) come from the
//! `Clock` and `Random` ports, like everywhere else in authd.

mod file;
mod message;
mod smtp;
mod templates;

pub use file::FileMailer;
pub use message::{InvalidSender, Sender};
pub use smtp::{Security, SmtpMailer, SmtpSettings, TransportError};
pub use templates::{TemplateError, TemplateSettings, Templates};
