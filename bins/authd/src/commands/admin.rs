//! `authd users`, `authd sessions` and `authd audit`: operators manage accounts straight
//! through the database, with the same use cases (and audit records) as the admin API.

use std::io::Read;

use anyhow::{Context, bail};
use auth_core::domain::{Actor, Password, Session, User, UserQuery};
use auth_core::service::{AdminUserAttributes, AuthService};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::command_line;
use crate::config::Config;
use crate::output::{say, time};
use crate::wiring;

/// `authd users ...`
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// List users, newest first.
    List {
        /// Only users whose email or username contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// Page number, from 1.
        #[arg(long, default_value_t = 1)]
        page: u64,
        /// Users per page.
        #[arg(long, default_value_t = 50)]
        per_page: u64,
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one user (by id, email address or username).
    Show {
        /// Id, email address or username.
        user: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Create a user; with --password-stdin the password is read from standard input.
    Create {
        /// The account's fields.
        #[command(flatten)]
        fields: UserFields,
        /// Read the password from standard input (never from the command line, where other
        /// users of the machine could see it).
        #[arg(long)]
        password_stdin: bool,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Change a user's email, username, role or metadata.
    Update {
        /// Id, email address or username.
        user: String,
        /// The account's fields.
        #[command(flatten)]
        fields: UserFields,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Delete a user with every session.
    Delete {
        /// Id, email address or username.
        user: String,
    },
    /// Ban a user and end their sessions.
    Ban {
        /// Id, email address or username.
        user: String,
        /// How long: `24h`, `30m`, `1h30m`, `876000h`.
        #[arg(long, default_value = "876000h")]
        duration: String,
    },
    /// Lift a ban.
    Unban {
        /// Id, email address or username.
        user: String,
    },
    /// Set a user's password, read from standard input; every session of the user ends.
    SetPassword {
        /// Id, email address or username.
        user: String,
    },
    /// Mark a user's email address confirmed.
    Confirm {
        /// Id, email address or username.
        user: String,
    },
    /// A user's second factors (MFA).
    #[command(subcommand)]
    Factors(FactorsCommand),
}

/// `authd users factors ...`
#[derive(Debug, Subcommand)]
pub enum FactorsCommand {
    /// A user's factors, verified or not (never their secrets).
    List {
        /// Id, email address or username.
        user: String,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delete one factor of a user (a lost authenticator); sessions it raised go back to aal1.
    Delete {
        /// Id, email address or username.
        user: String,
        /// The factor's id.
        factor: String,
    },
}

/// Fields `create` and `update` take.
#[derive(Debug, Args)]
pub struct UserFields {
    /// Email address.
    #[arg(long)]
    email: Option<String>,
    /// Username.
    #[arg(long)]
    username: Option<String>,
    /// Database role for the user's tokens.
    #[arg(long)]
    role: Option<String>,
    /// JSON object merged into user_metadata.
    #[arg(long, value_name = "JSON")]
    user_metadata: Option<String>,
    /// JSON object merged into app_metadata.
    #[arg(long, value_name = "JSON")]
    app_metadata: Option<String>,
    /// Mark the email address confirmed.
    #[arg(long)]
    confirm: bool,
}

impl UserFields {
    fn into_attributes(self) -> anyhow::Result<AdminUserAttributes> {
        let object = |name: &str, text: Option<String>| -> anyhow::Result<Option<Value>> {
            text.map(|t| serde_json::from_str(&t).with_context(|| format!("--{name} is not JSON"))).transpose()
        };
        Ok(AdminUserAttributes {
            email: self.email,
            username: self.username,
            role: self.role,
            user_metadata: object("user-metadata", self.user_metadata)?,
            app_metadata: object("app-metadata", self.app_metadata)?,
            email_confirm: self.confirm.then_some(true),
            ..AdminUserAttributes::default()
        })
    }
}

/// `authd sessions ...`
#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// A user's live sessions.
    List {
        /// Id, email address or username.
        user: String,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// End one session (by its id), or every session of a user with --user.
    Revoke {
        /// Session id.
        #[arg(required_unless_present = "user", conflicts_with = "user")]
        session: Option<String>,
        /// End every session of this user (id, email address or username).
        #[arg(long)]
        user: Option<String>,
    },
}

/// The admin use cases over the configured database.
async fn service(config: &Config) -> anyhow::Result<AuthService> {
    wiring::operator(config).await?.service(config).await
}

fn read_password() -> anyhow::Result<Password> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).context("cannot read the password from standard input")?;
    let password = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
    if password.is_empty() {
        bail!("no password on standard input");
    }
    Ok(Password::new(password))
}

fn print_user(user: &User, json: bool) -> anyhow::Result<()> {
    if json {
        say(&serde_json::to_string_pretty(&auth_http::views::user(user))?);
    } else {
        user_table(std::slice::from_ref(user));
    }
    Ok(())
}

fn user_table(users: &[User]) {
    say(&format!(
        "{:<36} {:<32} {:<16} {:<14} {:<9} {:<19} {:<19}",
        "ID", "EMAIL", "USERNAME", "ROLE", "CONFIRMED", "BANNED UNTIL", "CREATED"
    ));
    for user in users {
        say(&format!(
            "{:<36} {:<32} {:<16} {:<14} {:<9} {:<19} {:<19}",
            user.id,
            user.email.as_ref().map(|e| e.as_str()).unwrap_or("-"),
            user.username.as_ref().map(|u| u.as_str()).unwrap_or("-"),
            user.role,
            if user.email_confirmed_at.is_some() { "yes" } else { "no" },
            time(user.banned_until),
            time(Some(user.created_at)),
        ));
    }
}

/// Runs `authd users factors ...`.
async fn factors(service: &AuthService, command: FactorsCommand) -> anyhow::Result<()> {
    match command {
        FactorsCommand::List { user, json } => {
            let id = service.admin_find_user(&user).await?.id;
            let factors = service.admin_list_factors(id).await?;
            if json {
                let rows: Vec<Value> = factors.iter().map(auth_http::views::factor).collect();
                say(&serde_json::to_string_pretty(&rows)?);
            } else {
                say(&format!("{:<36} {:<14} {:<10} {:<19} {}", "ID", "TYPE", "STATUS", "CREATED", "NAME"));
                for f in &factors {
                    say(&format!(
                        "{:<36} {:<14} {:<10} {:<19} {}",
                        f.id,
                        f.factor_type.as_str(),
                        f.status.as_str(),
                        time(Some(f.created_at)),
                        f.friendly_name
                    ));
                }
            }
        }
        FactorsCommand::Delete { user, factor } => {
            let id = service.admin_find_user(&user).await?.id;
            let factor_id = factor.parse().map_err(|_| anyhow::anyhow!("{factor:?} is not a factor id (a UUID)"))?;
            let deleted = service.admin_delete_factor(id, factor_id, &command_line()).await?;
            say(&format!("deleted {} factor {} of user {id}", deleted.factor_type.as_str(), deleted.id));
        }
    }
    Ok(())
}

fn session_json(session: &Session) -> Value {
    json!({
        "id": session.id.to_string(),
        "user_id": session.user_id.to_string(),
        "created_at": session.created_at,
        "refreshed_at": session.refreshed_at,
        "aal": session.aal.as_str(),
        "ip": session.ip,
        "user_agent": session.user_agent,
    })
}

/// Runs `authd users ...`.
pub async fn users(config: &Config, command: UsersCommand) -> anyhow::Result<()> {
    let service = &service(config).await?;
    let client = command_line();
    match command {
        UsersCommand::List { filter, page, per_page, json } => {
            if page == 0 || per_page == 0 {
                bail!("--page and --per-page start at 1");
            }
            let offset = (page - 1).saturating_mul(per_page);
            let query = UserQuery { filter, newest_first: true, offset, limit: per_page };
            let found = service.admin_list_users(&query).await?;
            if json {
                let users: Vec<Value> = found.users.iter().map(auth_http::views::user).collect();
                say(&serde_json::to_string_pretty(&json!({ "users": users, "total": found.total }))?);
            } else {
                user_table(&found.users);
                say(&format!("{} of {} user(s)", found.users.len(), found.total));
            }
        }
        UsersCommand::Show { user, json } => print_user(&service.admin_find_user(&user).await?, json)?,
        UsersCommand::Create { fields, password_stdin, json } => {
            let mut attributes = fields.into_attributes()?;
            if password_stdin {
                attributes.password = Some(read_password()?);
            }
            print_user(&service.admin_create_user(attributes, &client).await?, json)?;
        }
        UsersCommand::Update { user, fields, json } => {
            let id = service.admin_find_user(&user).await?.id;
            print_user(&service.admin_update_user(id, fields.into_attributes()?, &client).await?, json)?;
        }
        UsersCommand::Delete { user } => {
            let id = service.admin_find_user(&user).await?.id;
            let deleted = service.admin_delete_user(id, false, &client).await?;
            say(&format!("deleted user {}", deleted.id));
        }
        UsersCommand::Ban { user, duration } => {
            let id = service.admin_find_user(&user).await?.id;
            let attributes = AdminUserAttributes { ban_duration: Some(duration), ..AdminUserAttributes::default() };
            let banned = service.admin_update_user(id, attributes, &client).await?;
            say(&format!("banned user {} until {}; their sessions have ended", banned.id, time(banned.banned_until)));
        }
        UsersCommand::Unban { user } => {
            let id = service.admin_find_user(&user).await?.id;
            let attributes =
                AdminUserAttributes { ban_duration: Some("none".into()), ..AdminUserAttributes::default() };
            service.admin_update_user(id, attributes, &client).await?;
            say(&format!("lifted the ban on user {id}"));
        }
        UsersCommand::SetPassword { user } => {
            let id = service.admin_find_user(&user).await?.id;
            let attributes = AdminUserAttributes { password: Some(read_password()?), ..AdminUserAttributes::default() };
            service.admin_update_user(id, attributes, &client).await?;
            say(&format!("set the password of user {id}; their sessions have ended"));
        }
        UsersCommand::Confirm { user } => {
            let id = service.admin_find_user(&user).await?.id;
            let attributes = AdminUserAttributes { email_confirm: Some(true), ..AdminUserAttributes::default() };
            service.admin_update_user(id, attributes, &client).await?;
            say(&format!("confirmed the email address of user {id}"));
        }
        UsersCommand::Factors(command) => factors(service, command).await?,
    }
    Ok(())
}

/// Runs `authd sessions ...`.
pub async fn sessions(config: &Config, command: SessionsCommand) -> anyhow::Result<()> {
    let service = &service(config).await?;
    let client = command_line();
    match command {
        SessionsCommand::List { user, json } => {
            let id = service.admin_find_user(&user).await?.id;
            let sessions = service.admin_list_sessions(id).await?;
            if json {
                let rows: Vec<Value> = sessions.iter().map(session_json).collect();
                say(&serde_json::to_string_pretty(&rows)?);
            } else {
                say(&format!("{:<36} {:<19} {:<19} {:<15} {}", "ID", "CREATED", "REFRESHED", "IP", "USER AGENT"));
                for s in &sessions {
                    say(&format!(
                        "{:<36} {:<19} {:<19} {:<15} {}",
                        s.id,
                        time(Some(s.created_at)),
                        time(s.refreshed_at),
                        s.ip.as_deref().unwrap_or("-"),
                        s.user_agent.as_deref().unwrap_or("-")
                    ));
                }
            }
        }
        SessionsCommand::Revoke { session: Some(session), user: None } => {
            let id = session.parse().map_err(|_| anyhow::anyhow!("{session:?} is not a session id (a UUID)"))?;
            service.admin_revoke_session(id, &client).await?;
            say(&format!("ended session {session}"));
        }
        SessionsCommand::Revoke { user: Some(user), .. } => {
            let id = service.admin_find_user(&user).await?.id;
            let ended = service.admin_logout_user(id, &client).await?;
            say(&format!("ended {ended} session(s) of user {id}"));
        }
        SessionsCommand::Revoke { session: None, user: None } => bail!("name a session id or --user"),
    }
    Ok(())
}

/// Runs `authd audit`.
pub async fn audit(config: &Config, page: u64, per_page: u64, json: bool) -> anyhow::Result<()> {
    if page == 0 || per_page == 0 {
        bail!("--page and --per-page start at 1");
    }
    let service = service(config).await?;
    let (events, total) = service.audit_events((page - 1).saturating_mul(per_page), per_page).await?;
    if json {
        // The same shape as `GET /admin/audit`'s events: auth-core's serialisation.
        say(&serde_json::to_string_pretty(&json!({ "events": events, "total": total }))?);
        return Ok(());
    }
    say(&format!("{:<19} {:<26} {:<36} {:<36} {:<15}", "TIME", "ACTION", "ACTOR", "TARGET", "IP"));
    for event in &events {
        let actor = match &event.actor {
            Actor::User(id) => id.to_string(),
            Actor::Admin => "admin".into(),
            Actor::Anonymous => "anonymous".into(),
        };
        say(&format!(
            "{:<19} {:<26} {:<36} {:<36} {:<15}",
            time(Some(event.at)),
            event.action.as_str(),
            actor,
            event.target.map_or_else(|| "-".into(), |t| t.to_string()),
            event.ip.as_deref().unwrap_or("-"),
        ));
    }
    say(&format!("{} of {total} event(s)", events.len()));
    Ok(())
}
