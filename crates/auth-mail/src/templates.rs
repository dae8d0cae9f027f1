//! The mail templates: built-in defaults for every [`MailKind`], each replaceable by a file.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use auth_core::domain::{Email, MailContext, MailKind};
use auth_core::ports::{Mail, MailError, MailTemplates};
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value, context};

/// What every mail may show besides its context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSettings {
    /// The name mails are signed with (`app_name`).
    pub app_name: String,
    /// The application's address (`site_url`); empty when unknown.
    pub site_url: String,
}

/// A template could not be read, compiled or test-rendered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The overrides folder could not be listed.
    #[error("cannot read the mail templates folder {path}: {cause}")]
    Dir {
        /// The folder.
        path: PathBuf,
        /// Why (in the message, not a `source`, so error chains do not say it twice).
        cause: std::io::Error,
    },
    /// An override file could not be read.
    #[error("cannot read the mail template {path}: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// A template is broken, or the folder holds a file no kind of mail uses.
    #[error("mail template {file}: {message}")]
    Invalid {
        /// The file, or `built-in <name>`.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// `(file name, default source)` of every template. HTML bodies extend `layout.html`.
const BUILT_IN: &[(&str, &str)] = &[
    ("layout.html", include_str!("../templates/layout.html")),
    ("confirmation.subject.txt", include_str!("../templates/confirmation.subject.txt")),
    ("confirmation.txt", include_str!("../templates/confirmation.txt")),
    ("confirmation.html", include_str!("../templates/confirmation.html")),
    ("recovery.subject.txt", include_str!("../templates/recovery.subject.txt")),
    ("recovery.txt", include_str!("../templates/recovery.txt")),
    ("recovery.html", include_str!("../templates/recovery.html")),
    ("magic_link.subject.txt", include_str!("../templates/magic_link.subject.txt")),
    ("magic_link.txt", include_str!("../templates/magic_link.txt")),
    ("magic_link.html", include_str!("../templates/magic_link.html")),
    ("email_otp.subject.txt", include_str!("../templates/email_otp.subject.txt")),
    ("email_otp.txt", include_str!("../templates/email_otp.txt")),
    ("email_otp.html", include_str!("../templates/email_otp.html")),
    ("email_change_current.subject.txt", include_str!("../templates/email_change_current.subject.txt")),
    ("email_change_current.txt", include_str!("../templates/email_change_current.txt")),
    ("email_change_current.html", include_str!("../templates/email_change_current.html")),
    ("email_change_new.subject.txt", include_str!("../templates/email_change_new.subject.txt")),
    ("email_change_new.txt", include_str!("../templates/email_change_new.txt")),
    ("email_change_new.html", include_str!("../templates/email_change_new.html")),
    ("invite.subject.txt", include_str!("../templates/invite.subject.txt")),
    ("invite.txt", include_str!("../templates/invite.txt")),
    ("invite.html", include_str!("../templates/invite.html")),
    ("reauthentication.subject.txt", include_str!("../templates/reauthentication.subject.txt")),
    ("reauthentication.txt", include_str!("../templates/reauthentication.txt")),
    ("reauthentication.html", include_str!("../templates/reauthentication.html")),
    ("forgot_username.subject.txt", include_str!("../templates/forgot_username.subject.txt")),
    ("forgot_username.txt", include_str!("../templates/forgot_username.txt")),
    ("forgot_username.html", include_str!("../templates/forgot_username.html")),
];

/// Values the start-up check renders with; the subject must show neither of the secrets.
const PROBE_CODE: &str = "918273";
const PROBE_LINK: &str = "https://probe.invalid/verify?token=probe-secret&type=probe";

/// The nine kinds of mail as minijinja templates.
///
/// Every template is compiled and test-rendered for its kind when loaded, so a broken override
/// stops start-up instead of failing a request. HTML templates escape every value; subjects and
/// plain-text bodies do not. Undefined variables are errors, so a misspelt name is caught too.
pub struct Templates {
    env: Environment<'static>,
    settings: TemplateSettings,
    overridden: BTreeSet<String>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates")
            .field("settings", &self.settings)
            .field("overridden", &self.overridden)
            .finish_non_exhaustive()
    }
}

impl Templates {
    /// The built-in templates, each replaced by `<dir>/<name>` when `overrides` names a folder
    /// holding that file (`confirmation.subject.txt`, `confirmation.txt`, `confirmation.html`,
    /// … and `layout.html`).
    pub fn new(settings: TemplateSettings, overrides: Option<&Path>) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        // Only HTML is escaped: a subject or text body showing `&amp;` would be wrong.
        env.set_auto_escape_callback(|name| if name.ends_with(".html") { AutoEscape::Html } else { AutoEscape::None });
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.add_filter("duration", duration);
        let mut sources: Vec<(String, String)> =
            BUILT_IN.iter().map(|(name, source)| ((*name).to_owned(), (*source).to_owned())).collect();
        let mut overridden = BTreeSet::new();
        if let Some(dir) = overrides {
            read_overrides(dir, &mut sources, &mut overridden)?;
        }
        let replaced = overridden.clone();
        let origin = move |name: &str| match overrides {
            Some(dir) if replaced.contains(name) => dir.join(name).display().to_string(),
            _ => format!("built-in {name}"),
        };
        for (name, source) in sources {
            let file = origin(&name);
            env.add_template_owned(name, source)
                .map_err(|e| TemplateError::Invalid { file, message: e.to_string() })?;
        }
        let templates = Self { env, settings, overridden };
        templates.check(&origin)?;
        Ok(templates)
    }

    /// Names of the templates replaced by files.
    pub fn overridden(&self) -> impl Iterator<Item = &str> {
        self.overridden.iter().map(String::as_str)
    }

    /// Renders every kind once with probe values, so errors surface at start-up.
    fn check(&self, origin: &dyn Fn(&str) -> String) -> Result<(), TemplateError> {
        let to = Email::parse("probe@example.com")
            .map_err(|e| TemplateError::Invalid { file: "built-in probe".into(), message: e.to_string() })?;
        for kind in MailKind::ALL {
            let probe = MailContext {
                kind,
                to: to.clone(),
                code: Some(PROBE_CODE.into()),
                link: Some(PROBE_LINK.into()),
                username: Some("probe_user".into()),
                new_email: Some(to.clone()),
                expires_in_minutes: 60,
                code_expires_in_minutes: 10,
            };
            let values = self.values(&probe);
            let mut subject = String::new();
            for (suffix, out) in [("subject.txt", Some(&mut subject)), ("txt", None), ("html", None)] {
                let name = format!("{}.{suffix}", kind.as_str());
                let rendered = self.render_one(&name, &values).map_err(|e| TemplateError::Invalid {
                    // A failure in the layout is reported by minijinja against `layout.html`.
                    file: origin(e.name().unwrap_or(&name)),
                    message: e.to_string(),
                })?;
                if let Some(out) = out {
                    *out = rendered;
                }
            }
            if subject.trim().is_empty() {
                return Err(invalid(origin, kind, "the subject is empty"));
            }
            // Subjects are logged and shown in inbox previews; codes and links must not be.
            if subject.contains(PROBE_CODE) || subject.contains("probe.invalid") {
                return Err(invalid(origin, kind, "the subject must not show the code or the link"));
            }
        }
        Ok(())
    }

    fn values(&self, context: &MailContext) -> Value {
        context! {
            app_name => self.settings.app_name,
            site_url => self.settings.site_url,
            email => context.to.as_str(),
            new_email => context.new_email.as_ref().map(Email::as_str),
            code => context.code,
            link => context.link,
            username => context.username,
            expires_in_minutes => context.expires_in_minutes,
            code_expires_in_minutes => context.code_expires_in_minutes,
        }
    }

    fn render_one(&self, name: &str, values: &Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(values)
    }
}

fn invalid(origin: &dyn Fn(&str) -> String, kind: MailKind, message: &str) -> TemplateError {
    TemplateError::Invalid { file: origin(&format!("{}.subject.txt", kind.as_str())), message: message.into() }
}

/// Reads the override files of `dir` into `sources`. A `.txt` or `.html` file that replaces no
/// template is refused: a misspelt name would otherwise be ignored without a word.
fn read_overrides(
    dir: &Path,
    sources: &mut [(String, String)],
    overridden: &mut BTreeSet<String>,
) -> Result<(), TemplateError> {
    let dir_error = |cause| TemplateError::Dir { path: dir.to_owned(), cause };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(dir_error)? {
        entries.push(entry.map_err(dir_error)?.path());
    }
    entries.sort();
    for path in entries {
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else { continue };
        if name.starts_with('.') || !path.is_file() {
            continue;
        }
        let Some(slot) = sources.iter_mut().find(|(known, _)| *known == name) else {
            if name.ends_with(".txt") || name.ends_with(".html") {
                return Err(TemplateError::Invalid {
                    file: path.display().to_string(),
                    message: "no mail uses this file; expected <kind>.subject.txt, <kind>.txt, <kind>.html \
                              or layout.html, with <kind> one of "
                        .to_owned()
                        + &MailKind::ALL.map(MailKind::as_str).join(", "),
                });
            }
            continue;
        };
        slot.1 = std::fs::read_to_string(&path).map_err(|cause| TemplateError::Read { path: path.clone(), cause })?;
        overridden.insert(name);
    }
    Ok(())
}

impl MailTemplates for Templates {
    fn render(&self, context: &MailContext) -> Result<Mail, MailError> {
        let values = self.values(context);
        let render = |suffix: &str| {
            let name = format!("{}.{suffix}", context.kind.as_str());
            // minijinja's message names the template and line; without its `debug` feature it
            // never quotes values, so the code and link stay out of the error.
            self.render_one(&name, &values).map_err(|e| MailError::Permanent(format!("mail template failed: {e}")))
        };
        let subject = render("subject.txt")?.split_whitespace().collect::<Vec<_>>().join(" ");
        Ok(Mail { to: context.to.clone(), subject, text: render("txt")?, html: render("html")?, reference: None })
    }
}

/// `{{ expires_in_minutes | duration }}`: "1 minute", "90 minutes", "2 hours", "7 days".
fn duration(minutes: i64) -> String {
    let (count, unit) = match minutes {
        m if m > 0 && m % (24 * 60) == 0 => (m / (24 * 60), "day"),
        m if m > 0 && m % 60 == 0 => (m / 60, "hour"),
        m => (m, "minute"),
    };
    format!("{count} {unit}{}", if count == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(1), "1 minute");
        assert_eq!(duration(15), "15 minutes");
        assert_eq!(duration(60), "1 hour");
        assert_eq!(duration(90), "90 minutes");
        assert_eq!(duration(24 * 60), "1 day");
        assert_eq!(duration(7 * 24 * 60), "7 days");
    }
}
