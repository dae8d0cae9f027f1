//! `Templates`: the defaults for every kind, escaping, overrides, and failures at load.

use auth_core::domain::{Email, MailKind};
use auth_core::ports::{MailError, MailTemplates};
use auth_mail::{TemplateError, Templates};

use crate::support::{self, CODE, LINK};

const ESCAPED_LINK: &str = "tok-SECRET-7f3a&amp;type=signup&amp;x=&lt;b&gt;";

#[test]
fn every_kind_renders_with_code_link_expiry_and_signature() {
    let templates = Templates::new(support::settings(), None).unwrap();
    for kind in MailKind::ALL {
        let mail = templates.render(&support::context(kind)).unwrap();
        let name = kind.as_str();
        assert_eq!(mail.to.as_str(), "user@example.com");
        assert!(!mail.subject.is_empty() && !mail.subject.contains('\n'), "{name}: {:?}", mail.subject);
        assert!(!mail.subject.contains(CODE) && !mail.subject.contains("tok-SECRET"), "{name}");
        for body in [&mail.text, &mail.html] {
            assert!(body.contains(CODE), "{name}: {body}");
            assert!(body.contains("valid for 1 hour"), "{name}: {body}");
            assert!(body.contains("Example App"), "{name}: {body}");
            assert!(body.contains("user@example.com") || kind == MailKind::EmailChangeNew, "{name}: {body}");
            assert!(!body.contains("{{") && !body.contains("{%"), "{name}: {body}");
        }
        assert!(mail.text.contains(LINK), "{name}: {}", mail.text);
        assert!(mail.html.contains(ESCAPED_LINK), "{name}: {}", mail.html);
        assert!(!mail.html.contains("<b>"), "{name}: the link's markup must be escaped");
        assert!(mail.html.starts_with("<!DOCTYPE html>"), "{name}");
    }
}

#[test]
fn subjects_and_kind_specific_content() {
    let templates = Templates::new(support::settings(), None).unwrap();
    let render = |kind| templates.render(&support::context(kind)).unwrap();
    assert_eq!(render(MailKind::Confirmation).subject, "Confirm your email address");
    assert_eq!(render(MailKind::Recovery).subject, "Reset your password");
    assert_eq!(render(MailKind::Invite).subject, "You have been invited to Example App");

    let forgot = render(MailKind::ForgotUsername);
    assert!(forgot.text.contains("Your username is: ada_l"), "{}", forgot.text);
    assert!(forgot.html.contains("ada_l"));

    for kind in [MailKind::EmailChangeCurrent] {
        let mail = render(kind);
        for body in [&mail.text, &mail.html] {
            assert!(body.contains("user@example.com") && body.contains("new-address@example.org"), "{body}");
        }
    }
    let new = render(MailKind::EmailChangeNew);
    assert!(new.text.contains("new-address@example.org") && new.html.contains("new-address@example.org"));
}

#[test]
fn missing_values_leave_their_sentences_out() {
    let templates = Templates::new(support::settings(), None).unwrap();
    let mut context = support::context(MailKind::Reauthentication);
    context.link = None;
    context.code_expires_in_minutes = 5;
    let mail = templates.render(&context).unwrap();
    assert!(mail.text.contains("Enter this code: 482913"), "{}", mail.text);
    assert!(mail.text.contains("The code is valid for 5 minutes."), "{}", mail.text);
    assert!(
        !mail.text.contains("link") && !mail.html.contains("href=\"https://app.example.com/verify"),
        "{}",
        mail.text
    );

    let mut context = support::context(MailKind::ForgotUsername);
    (context.code, context.link, context.username) = (None, None, None);
    let mail = templates.render(&context).unwrap();
    assert!(mail.text.contains("no username"), "{}", mail.text);
    assert!(!mail.text.contains("valid for"), "{}", mail.text);
}

#[test]
fn values_are_escaped_in_html_only() {
    let templates = Templates::new(support::settings(), None).unwrap();
    let mut context = support::context(MailKind::EmailChangeCurrent);
    context.link = Some("https://x.example/?a=1&b=<script>alert(1)</script>\"".into());
    context.new_email = Some(Email::parse("o'brien+tag@example.org").unwrap());
    let mail = templates.render(&context).unwrap();
    assert!(!mail.html.contains("<script>"), "{}", mail.html);
    assert!(mail.html.contains("a=1&amp;b=&lt;script&gt;alert(1)&lt;&#x2f;script&gt;&quot;"), "{}", mail.html);
    assert!(mail.html.contains("o&#x27;brien+tag@example.org"), "{}", mail.html);
    assert!(mail.text.contains("https://x.example/?a=1&b=<script>alert(1)</script>\""), "{}", mail.text);
    assert!(mail.text.contains("o'brien+tag@example.org"), "{}", mail.text);
}

#[test]
fn an_override_file_replaces_one_template() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("confirmation.subject.txt"), "Welcome to {{ app_name }}, please confirm\n").unwrap();
    std::fs::write(dir.path().join("recovery.txt"), "Reset: {{ link }} or {{ code }} ({{ expires_in_minutes }} min)")
        .unwrap();
    std::fs::write(dir.path().join("README.md"), "other files are left alone").unwrap();
    let templates = Templates::new(support::settings(), Some(dir.path())).unwrap();
    assert_eq!(templates.overridden().collect::<Vec<_>>(), ["confirmation.subject.txt", "recovery.txt"]);

    let confirmation = templates.render(&support::context(MailKind::Confirmation)).unwrap();
    assert_eq!(confirmation.subject, "Welcome to Example App, please confirm");
    assert!(confirmation.text.contains("Please confirm that"), "the text body stays the default");
    let recovery = templates.render(&support::context(MailKind::Recovery)).unwrap();
    assert_eq!(recovery.text, format!("Reset: {LINK} or {CODE} (60 min)"));
    assert_eq!(recovery.subject, "Reset your password");
}

#[test]
fn the_layout_can_be_replaced_too() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("layout.html"), "<main>{% block content %}{% endblock %}</main>").unwrap();
    let templates = Templates::new(support::settings(), Some(dir.path())).unwrap();
    let mail = templates.render(&support::context(MailKind::MagicLink)).unwrap();
    assert!(mail.html.starts_with("<main>") && mail.html.contains(ESCAPED_LINK), "{}", mail.html);
}

fn load_error(file: &str, source: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(file), source).unwrap();
    let error = Templates::new(support::settings(), Some(dir.path())).unwrap_err();
    let text = error.to_string();
    assert!(text.contains(&dir.path().join(file).display().to_string()), "{text}");
    text
}

#[test]
fn a_broken_override_fails_at_load_naming_the_file() {
    let syntax = load_error("recovery.html", "{% extends \"layout.html\" %}{% block content %}{% if %}{% endblock %}");
    assert!(syntax.contains("syntax error"), "{syntax}");
    let undefined = load_error("magic_link.txt", "Sign in: {{ lnk }}");
    assert!(undefined.contains("undefined"), "{undefined}");
    let secret_subject = load_error("email_otp.subject.txt", "Your code is {{ code }}");
    assert!(secret_subject.contains("must not show the code"), "{secret_subject}");
    let empty_subject = load_error("invite.subject.txt", "  \n");
    assert!(empty_subject.contains("empty"), "{empty_subject}");
    let unknown = load_error("confirm.txt", "Hello");
    assert!(unknown.contains("no mail uses this file") && unknown.contains("confirmation"), "{unknown}");
}

#[test]
fn a_missing_folder_fails_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let error = Templates::new(support::settings(), Some(&missing)).unwrap_err();
    assert!(matches!(error, TemplateError::Dir { .. }), "{error}");
    assert!(error.to_string().contains("nope"), "{error}");
}

#[test]
fn a_render_failure_is_permanent_and_keeps_secrets_out() {
    // The load-time probe runs with a 60-minute expiry; this template fails only above 100.
    let dir = tempfile::tempdir().unwrap();
    let source = "{{ link }} {{ code }}{% if expires_in_minutes > 100 %}{{ 1 // 0 }}{% endif %}";
    std::fs::write(dir.path().join("invite.txt"), source).unwrap();
    let templates = Templates::new(support::settings(), Some(dir.path())).unwrap();
    let mut context = support::context(MailKind::Invite);
    context.expires_in_minutes = 7 * 24 * 60;
    let error = templates.render(&context).unwrap_err();
    assert!(matches!(error, MailError::Permanent(ref t) if t.contains("invite.txt")), "{error}");
    assert!(!error.to_string().contains(CODE) && !error.to_string().contains("tok-SECRET"), "{error}");
}
