//! `authd config import postgrest-auth FILE.json`: turns postgrest-auth's JSON configuration
//! (`postgrest-auth.json`) into authd's TOML, and says what it could not carry.
//!
//! postgrest-auth's keys: `app_name`; `db.connection_string` or `db.connection` (host, port,
//! database, user, password), `db.pool` (min, max), `db.schema`, `db.table`; `email` (nodemailer
//! transport options: from, host, port, secure, auth.user, auth.pass; later versions call it
//! `nodemailer`); `payload` (claims merged into every token, `exp` as a lifetime in seconds,
//! `iss`); `port`; `roles.anonymous`, `roles.user`; `secret` (the HS256 key shared with PostgREST).

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use toml::Table;

/// Characters kept as they are in a URL's user name or password; the rest are percent-encoded.
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
/// authd's longest access-token lifetime (`jwt.expiry_secs`).
const EXPIRY_MAX_SECS: u64 = 7 * 24 * 3600;
/// authd's shortest access-token lifetime.
const EXPIRY_MIN_SECS: u64 = 30;
/// authd's shortest HS256 secret.
const SECRET_MIN_BYTES: usize = 32;

/// The TOML for authd, and one remark per thing left behind or changed on the way.
#[derive(Debug, Default)]
pub struct Translation {
    /// authd's configuration, as TOML.
    pub toml: String,
    /// What was not carried, or carried differently, one sentence each; never a secret.
    pub remarks: Vec<String>,
}

/// Runs the command: reads `file`, writes the TOML to `output` (created readable by its owner
/// only, as it holds secrets) or stdout, and the remarks to stderr.
pub fn run(file: &Path, output: Option<&Path>) -> anyhow::Result<()> {
    let json = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let translation =
        translate(&json).with_context(|| format!("{} is not postgrest-auth's configuration", file.display()))?;
    match output {
        Some(path) => {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut out = options.open(path).with_context(|| format!("cannot write {}", path.display()))?;
            out.write_all(translation.toml.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
            crate::output::note(&format!("wrote {}", path.display()));
        }
        None => crate::output::say(translation.toml.trim_end()),
    }
    for remark in &translation.remarks {
        crate::output::note(remark);
    }
    Ok(())
}

/// Translates postgrest-auth's configuration (the JSON text of its file).
pub fn translate(json: &str) -> anyhow::Result<Translation> {
    let source: Value = serde_json::from_str(json).map_err(|e| anyhow::anyhow!("not JSON: {e}"))?;
    let Some(source) = source.as_object() else { anyhow::bail!("not a JSON object") };
    let mut out = Output::default();
    for (key, value) in source {
        match key.as_str() {
            "app_name" => out.text("mail", "app_name", value, key),
            "db" => out.database(value),
            "email" | "nodemailer" => out.mail(value, key),
            "payload" => out.payload(value),
            "port" => match value.as_u64().or_else(|| value.as_str().and_then(|s| s.parse().ok())) {
                Some(port) if (1..=u64::from(u16::MAX)).contains(&port) => {
                    out.set("server", "port", toml::Value::Integer(port as i64));
                    out.remark(
                        "port: postgrest-auth listened on every interface; authd listens on server.host \
                         (127.0.0.1 by default): set host = \"0.0.0.0\" under [server] to do the same",
                    );
                }
                _ => out.remark("port: not a port number, not carried"),
            },
            "roles" => out.roles(value),
            "secret" => out.secret(value),
            other => out.remark(&format!("{other}: postgrest-auth setting unknown to this import, not carried")),
        }
    }
    out.remark(
        "postgrest-auth's users are not moved by this command, and its /auth/* endpoints differ from authd's \
         Supabase-style API: clients must move to /token, /signup, /user and the rest (docs/migrating.md)",
    );
    let body = toml::to_string_pretty(&out.table).map_err(|e| anyhow::anyhow!("cannot write TOML: {e}"))?;
    let toml = format!(
        "# authd configuration translated from postgrest-auth's JSON by `authd config import postgrest-auth`.\n\
         # Everything not set here keeps authd's default (docs/configuration.md).\n\n{body}"
    );
    Ok(Translation { toml, remarks: out.remarks })
}

/// The table being built and the remarks gathered.
#[derive(Default)]
struct Output {
    table: Table,
    remarks: Vec<String>,
}

impl Output {
    fn remark(&mut self, text: &str) {
        self.remarks.push(text.to_owned());
    }

    fn set(&mut self, section: &str, key: &str, value: toml::Value) {
        let entry = self.table.entry(section.to_owned()).or_insert_with(|| toml::Value::Table(Table::new()));
        if let toml::Value::Table(table) = entry {
            table.insert(key.to_owned(), value);
        }
    }

    /// A non-empty string value, or a remark naming `source`.
    fn text(&mut self, section: &str, key: &str, value: &Value, source: &str) {
        match value.as_str().map(str::trim) {
            Some(text) if !text.is_empty() => self.set(section, key, toml::Value::String(text.to_owned())),
            Some(_) => {}
            None => self.remark(&format!("{source}: not a string, not carried")),
        }
    }

    fn database(&mut self, db: &Value) {
        let Some(db) = db.as_object() else { return self.remark("db: not an object, not carried") };
        let url = match (db.get("connection_string").and_then(Value::as_str), db.get("connection")) {
            (Some(url), _) if !url.trim().is_empty() => Some(url.trim().to_owned()),
            (_, Some(Value::String(url))) if !url.trim().is_empty() => Some(url.trim().to_owned()),
            (_, Some(Value::Object(parts))) => connection_url(parts),
            _ => None,
        };
        match url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                self.set("database", "url", toml::Value::String(url));
            }
            Some(_) => self.remark("db.connection_string: not a postgres:// URL, not carried"),
            None => self.remark("db: no connection_string or connection.host, so database.url stays the default"),
        }
        if let Some(max) = db.get("pool").and_then(|p| p.get("max")).and_then(Value::as_u64).filter(|m| *m > 0) {
            self.set("database", "max_connections", toml::Value::Integer(max as i64));
        }
        if db.get("pool").and_then(|p| p.get("min")).is_some() {
            self.remark("db.pool.min: authd opens connections as needed, not carried");
        }
        let schema = db.get("schema").and_then(Value::as_str).unwrap_or("auth");
        let table = db.get("table").and_then(Value::as_str).unwrap_or("users");
        self.remark(&format!(
            "db.schema/db.table ({schema}.{table}): authd keeps its own tables in the schema auth and creates \
             them itself (`authd migrate`); postgrest-auth's table is left alone. If it is auth.users, give authd \
             another database, or rename that table first"
        ));
    }

    fn mail(&mut self, email: &Value, source: &str) {
        let Some(email) = email.as_object() else { return self.remark(&format!("{source}: not an object")) };
        let field = |name: &str| email.get(name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
        if let Some(host) = field("host") {
            self.set("smtp", "host", toml::Value::String(host.to_owned()));
            // nodemailer: `secure` is TLS from the first byte; otherwise it upgrades when offered.
            let secure = email.get("secure").and_then(Value::as_bool).unwrap_or(false);
            self.set("smtp", "security", toml::Value::String(if secure { "tls" } else { "starttls" }.into()));
            if !secure {
                self.remark(&format!(
                    "{source}.secure is false: nodemailer sent in clear when the server offered no STARTTLS; \
                     authd requires STARTTLS (smtp.security = \"none\" only for a server on this machine)"
                ));
            }
        } else {
            self.remark(&format!("{source}.host is empty: authd writes mail to files in mail.outbox_dir"));
        }
        if let Some(port) = email.get("port").and_then(Value::as_u64).filter(|p| (1..=65535).contains(p)) {
            self.set("smtp", "port", toml::Value::Integer(port as i64));
        }
        let auth = email.get("auth");
        let credential = |name: &str| {
            auth.and_then(|a| a.get(name)).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
        };
        if let (Some(user), Some(pass)) = (credential("user"), credential("pass")) {
            self.set("smtp", "username", toml::Value::String(user.to_owned()));
            self.set("smtp", "password", toml::Value::String(pass.to_owned()));
        }
        if let Some(from) = field("from") {
            let (name, address) = split_mailbox(from);
            self.set("smtp", "from_address", toml::Value::String(address.to_owned()));
            if let Some(name) = name {
                self.set("smtp", "sender_name", toml::Value::String(name.to_owned()));
            }
        } else if field("host").is_some() {
            self.remark(&format!("{source}.from is empty: authd needs smtp.from_address with smtp.host"));
        }
        for key in email.keys() {
            if !matches!(key.as_str(), "from" | "host" | "port" | "secure" | "auth") {
                self.remark(&format!("{source}.{key}: nodemailer option without an authd equivalent, not carried"));
            }
        }
    }

    fn payload(&mut self, payload: &Value) {
        let Some(payload) = payload.as_object() else { return self.remark("payload: not an object") };
        for (key, value) in payload {
            match key.as_str() {
                "exp" => match value.as_u64() {
                    Some(secs) => {
                        let carried = secs.clamp(EXPIRY_MIN_SECS, EXPIRY_MAX_SECS);
                        if carried != secs {
                            self.remark(&format!(
                                "payload.exp ({secs} s) is outside authd's 30 s to one week; carried as {carried} s"
                            ));
                        }
                        self.set("jwt", "expiry_secs", toml::Value::Integer(carried as i64));
                    }
                    None => self.remark("payload.exp: not a number of seconds, not carried"),
                },
                "iss" => self.text("jwt", "issuer", value, "payload.iss"),
                "aud" => self.text("jwt", "audience", value, "payload.aud"),
                other => self.remark(&format!(
                    "payload.{other}: authd does not add fixed claims to tokens, not carried (PostgREST's \
                     pre-request or RLS can read app_metadata instead)"
                )),
            }
        }
    }

    fn roles(&mut self, roles: &Value) {
        let Some(roles) = roles.as_object() else { return self.remark("roles: not an object") };
        for (key, value) in roles {
            match key.as_str() {
                "anonymous" => self.text("roles", "anonymous", value, "roles.anonymous"),
                "user" => self.text("roles", "authenticated", value, "roles.user"),
                other => self.remark(&format!("roles.{other}: no authd equivalent, not carried")),
            }
        }
    }

    fn secret(&mut self, secret: &Value) {
        let Some(secret) = secret.as_str().filter(|s| !s.is_empty()) else {
            return self.remark("secret: empty or not a string; authd will generate ES256 keys instead");
        };
        self.set("jwt", "algorithm", toml::Value::String("HS256".into()));
        self.set("jwt", "secret", toml::Value::String(secret.to_owned()));
        if secret.len() < SECRET_MIN_BYTES {
            self.remark(&format!(
                "secret is {} bytes; authd needs at least {SECRET_MIN_BYTES}: choose a longer one for jwt.secret \
                 and for PostgREST's jwt-secret together (tokens made with the old one stop working)",
                secret.len()
            ));
        }
    }
}

/// `postgres://user:password@host:port/database` from knex's connection object.
fn connection_url(parts: &serde_json::Map<String, Value>) -> Option<String> {
    let field = |name: &str| match parts.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let host = field("host")?;
    let userinfo = match (field("user"), field("password")) {
        (Some(user), Some(password)) => {
            format!("{}:{}@", utf8_percent_encode(&user, USERINFO), utf8_percent_encode(&password, USERINFO))
        }
        (Some(user), None) => format!("{}@", utf8_percent_encode(&user, USERINFO)),
        _ => String::new(),
    };
    let port = field("port").map(|p| format!(":{p}")).unwrap_or_default();
    let database = field("database").unwrap_or_else(|| "postgres".into());
    Some(format!("postgres://{userinfo}{host}{port}/{}", utf8_percent_encode(&database, USERINFO)))
}

/// `"Name" <address>` or `Name <address>` or a bare address, as nodemailer takes them.
fn split_mailbox(from: &str) -> (Option<&str>, &str) {
    match (from.rfind('<'), from.ends_with('>')) {
        (Some(open), true) => {
            let name = from[..open].trim().trim_matches('"').trim();
            (Some(name).filter(|n| !n.is_empty()), from[open + 1..from.len() - 1].trim())
        }
        _ => (None, from),
    }
}

#[cfg(test)]
// figment::Jail fixes the closure's error type; its size is not ours to choose.
#[allow(clippy::result_large_err)]
mod tests {
    use std::path::Path;

    use figment::Jail;

    use super::*;
    use crate::config::{Config, JwtAlgorithm, SmtpSecurity};

    const FIXTURE: &str = include_str!("../tests/fixtures/postgrest-auth.json");

    #[test]
    fn every_value_of_the_fixture_reaches_authd_s_loader() {
        let translation = translate(FIXTURE).unwrap();
        Jail::expect_with(|jail| {
            jail.create_file("authd.toml", &translation.toml)?;
            let config = Config::load(Some(Path::new("authd.toml"))).unwrap();
            config.validate().unwrap();
            assert_eq!(config.mail.app_name, "A Game of Theories");
            assert_eq!(config.database.url.expose(), "postgres://theories:p%40ss%3Aword@db.internal:5433/theories");
            assert_eq!(config.database.max_connections, 12);
            assert_eq!(config.smtp.host.as_deref(), Some("mail.example.com"));
            assert_eq!(config.smtp.port, Some(465));
            assert_eq!(config.smtp.security, SmtpSecurity::Tls);
            assert_eq!(config.smtp.username.as_deref(), Some("contact@example.com"));
            assert_eq!(config.smtp.password.as_ref().unwrap().expose(), "the-mail-password");
            assert_eq!(config.smtp.from_address.as_deref(), Some("contact@example.com"));
            assert_eq!(config.smtp.sender_name.as_deref(), Some("Theories Team"));
            assert_eq!(config.jwt.expiry_secs, 604_800);
            assert_eq!(config.jwt.issuer, "https://theories.example.com");
            assert_eq!(config.server.port, 3001);
            assert_eq!(config.roles.anonymous, "web_anon");
            assert_eq!(config.roles.authenticated, "normal_user");
            assert_eq!(config.jwt.algorithm, JwtAlgorithm::HS256);
            assert_eq!(config.jwt.secret.as_ref().unwrap().expose(), "a-postgrest-auth-secret-that-is-long-enough");
            Ok(())
        });
        let remarks = translation.remarks.join("\n");
        for expected in ["db.pool.min", "payload.role", "port", "db.schema"] {
            assert!(remarks.contains(expected), "{expected}: {remarks}");
        }
        assert!(!remarks.contains("the-mail-password") && !remarks.contains("long-enough"), "{remarks}");
    }

    #[test]
    fn the_readme_example_carries_with_remarks_on_what_authd_refuses() {
        let readme = r#"{"app_name": "A Game of Theories",
            "db": {"connection_string": "postgres://postgres:pass@localhost/postgres", "pool": {"min": 2, "max": 10},
                   "schema": "auth", "table": "users"},
            "email": {"from": "", "host": "", "port": 465, "secure": true, "auth": {"user": "", "pass": "thepassword"}},
            "payload": {"exp": 9999999, "iss": ""}, "port": 3001,
            "roles": {"anonymous": "web_anon", "user": "normal_user"}, "secret": "secret"}"#;
        let translation = translate(readme).unwrap();
        let remarks = translation.remarks.join("\n");
        assert!(remarks.contains("secret is 6 bytes"), "{remarks}");
        assert!(remarks.contains("carried as 604800"), "{remarks}");
        assert!(remarks.contains("email.host is empty"), "{remarks}");
        assert!(!translation.toml.contains("thepassword"), "no credentials without a host and user");
        Jail::expect_with(|jail| {
            jail.create_file("authd.toml", &translation.toml)?;
            let config = Config::load(Some(Path::new("authd.toml"))).unwrap();
            assert_eq!(config.database.url.expose(), "postgres://postgres:pass@localhost/postgres");
            assert!(config.validate().unwrap_err().to_string().contains("32 bytes"));
            Ok(())
        });
    }

    #[test]
    fn mailboxes_and_bad_input() {
        assert_eq!(split_mailbox("\"Team\" <a@b.c>"), (Some("Team"), "a@b.c"));
        assert_eq!(split_mailbox("a@b.c"), (None, "a@b.c"));
        assert!(translate("[1]").is_err());
        assert!(translate("{").is_err());
    }
}
