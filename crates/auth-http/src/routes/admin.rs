//! The admin API (`/admin/...`): operators manage users with the service-role key.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::{HeaderName, HeaderValue, LINK};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use auth_core::AuthError;
use auth_core::domain::{Factor, Password, PasswordHash, UserId, UserQuery};
use auth_core::service::{AdminUserAttributes, ClientInfo};
use serde::Deserialize;
use serde_json::{Value, json};

use super::RedirectQuery;
use crate::bearer::with_bearer_token;
use crate::{ApiError, AppState, views};

/// Page size when the client names none.
const DEFAULT_PER_PAGE: u64 = 50;
/// Largest page a client may ask for (Supabase Auth has no limit; this bounds the memory of
/// one answer).
const MAX_PER_PAGE: u64 = 1000;
/// Page size for `per_page=0`, as Supabase Auth's paginator takes it.
const ZERO_PER_PAGE: u64 = 20;

/// A request made with administrator credentials (the service-role key, or a token of the
/// service role), and where it came from.
pub struct AdminCaller(pub ClientInfo);

impl FromRequest for AdminCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        with_bearer_token(request, |state, token, client| async move {
            state.service.authorize_admin(&token).await?;
            Ok::<_, AuthError>(AdminCaller(client))
        })
    }
}

/// `page` and `per_page`; empty values (auth-js sends `?page=&per_page=`) mean the defaults.
#[derive(Deserialize)]
pub(crate) struct Paging {
    page: Option<String>,
    per_page: Option<String>,
    filter: Option<String>,
    sort: Option<String>,
}

impl Paging {
    /// Page number (from 1) and page size, read as Supabase Auth reads them: a page below 1 is
    /// the first, a size below 1 is 20, and anything but a whole number is refused.
    fn parse(&self) -> Result<(u64, u64), AuthError> {
        let number = |field: &'static str, value: &Option<String>, default: u64| match value.as_deref().map(str::trim) {
            None | Some("") => Ok(default),
            Some(text) => text.parse::<u64>().map_err(|e| AuthError::Validation {
                field,
                message: format!("Bad Pagination Parameters: {field}: {e}"),
            }),
        };
        let page = number("page", &self.page, 1)?.max(1);
        let per_page = match number("per_page", &self.per_page, DEFAULT_PER_PAGE)? {
            0 => ZERO_PER_PAGE,
            size => size.min(MAX_PER_PAGE),
        };
        Ok((page, per_page))
    }
}

/// `Link` (`page` first and `rel` quoted, as auth-js parses it, keeping the request's `filter`
/// and `sort` so the next page lists the same users) and `X-Total-Count`.
fn paged(
    mut response: HttpResponse,
    request: &HttpRequest,
    paging: &Paging,
    (page, per_page): (u64, u64),
    total: u64,
) -> HttpResponse {
    let last = total.div_ceil(per_page).max(1);
    let value = auth_core::domain::encode_query_value;
    let kept: String = [("filter", &paging.filter), ("sort", &paging.sort)]
        .into_iter()
        .filter_map(|(name, given)| given.as_deref().filter(|v| !v.trim().is_empty()).map(|v| (name, v)))
        .map(|(name, given)| format!("&{name}={}", value(given)))
        .collect();
    let link = |n: u64, rel: &str| format!("<{}?page={n}&per_page={per_page}{kept}>; rel=\"{rel}\"", request.path());
    let mut links = Vec::new();
    if page < last {
        links.push(link(page + 1, "next"));
    }
    links.push(link(last, "last"));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&links.join(", ")) {
        headers.insert(LINK, value);
    }
    headers.insert(HeaderName::from_static("x-total-count"), HeaderValue::from(total));
    response
}

/// Reads `sort` as Supabase Auth does: `created_at`, then optionally ` asc` or ` desc` in any
/// letter case; newest first by default.
fn newest_first(sort: Option<&str>) -> Result<bool, AuthError> {
    let Some(sort) = sort.filter(|s| !s.is_empty()) else { return Ok(true) };
    let (field, direction) = sort.split_once(' ').map_or((sort, None), |(f, d)| (f, Some(d)));
    let bad =
        |message: String| AuthError::Validation { field: "sort", message: format!("Bad Sort Parameters: {message}") };
    if field != "created_at" {
        return Err(bad(format!("bad field for sort '{field}'")));
    }
    match direction.map(str::to_ascii_uppercase).as_deref() {
        None | Some("DESC") => Ok(true),
        Some("ASC") => Ok(false),
        Some(_) => Err(bad(format!(
            "bad direction for sort '{}', only 'asc' and 'desc' allowed",
            direction.unwrap_or_default()
        ))),
    }
}

/// `GET /admin/users?page=&per_page=&filter=&sort=created_at desc`.
pub(crate) async fn list_users(
    state: web::Data<AppState>,
    _admin: AdminCaller,
    request: HttpRequest,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let (page, per_page) = paging.parse()?;
    let newest_first = newest_first(paging.sort.as_deref())?;
    let filter = paging.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()).map(str::to_owned);
    let query = UserQuery { filter, newest_first, offset: (page - 1).saturating_mul(per_page), limit: per_page };
    let found = state.service.admin_list_users(&query).await?;
    let ids: Vec<UserId> = found.users.iter().map(|u| u.id).collect();
    let factors = state.service.factors_of(&ids).await?;
    let users: Vec<Value> = found
        .users
        .iter()
        .map(|user| {
            let theirs: Vec<Factor> = factors.iter().filter(|f| f.user_id == user.id).cloned().collect();
            views::user_with_factors(user, &theirs)
        })
        .collect();
    let body = json!({ "users": users, "aud": state.service.settings().audience });
    let response = super::no_store(HttpResponse::Ok()).json(body);
    Ok(paged(response, &request, &paging, (page, per_page), found.total))
}

/// Body of `POST /admin/users` and `PUT /admin/users/{id}`.
#[derive(Deserialize)]
pub(crate) struct UserBody {
    id: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    username: Option<String>,
    password: Option<String>,
    password_hash: Option<String>,
    email_confirm: Option<bool>,
    phone_confirm: Option<bool>,
    user_metadata: Option<Value>,
    app_metadata: Option<Value>,
    ban_duration: Option<String>,
    role: Option<String>,
}

impl UserBody {
    fn into_attributes(self) -> Result<AdminUserAttributes, AuthError> {
        let id = self
            .id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(|id| {
                id.parse().map_err(|_| AuthError::Validation { field: "id", message: "id must be a UUID".into() })
            })
            .transpose()?;
        let password_hash = self.password_hash.filter(|h| !h.trim().is_empty()).map(PasswordHash::new);
        Ok(AdminUserAttributes {
            id,
            email: self.email,
            phone: self.phone,
            username: self.username,
            password: self.password.map(Password::new),
            password_hash,
            email_confirm: self.email_confirm,
            phone_confirm: self.phone_confirm,
            user_metadata: self.user_metadata,
            app_metadata: self.app_metadata,
            ban_duration: self.ban_duration,
            role: self.role,
        })
    }
}

/// `POST /admin/users`: answers the new user (200, as Supabase Auth does).
pub(crate) async fn create_user(
    state: web::Data<AppState>,
    admin: AdminCaller,
    body: web::Json<UserBody>,
) -> Result<HttpResponse, ApiError> {
    let attributes = body.into_inner().into_attributes()?;
    let user = state.service.admin_create_user(attributes, &admin.0).await?;
    Ok(super::no_store(HttpResponse::Ok()).json(views::user(&user)))
}

pub(crate) fn user_id(path: &str) -> Result<UserId, AuthError> {
    path.parse().map_err(|_| AuthError::Validation { field: "user_id", message: "user_id must be a UUID".into() })
}

/// `GET /admin/users/{id}`.
pub(crate) async fn get_user(
    state: web::Data<AppState>,
    _admin: AdminCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = state.service.admin_get_user(user_id(&path)?).await?;
    let factors = state.service.user_factors(user.id).await?;
    Ok(super::no_store(HttpResponse::Ok()).json(views::user_with_factors(&user, &factors)))
}

/// `PUT /admin/users/{id}`.
pub(crate) async fn update_user(
    state: web::Data<AppState>,
    admin: AdminCaller,
    path: web::Path<String>,
    body: web::Json<UserBody>,
) -> Result<HttpResponse, ApiError> {
    let id = user_id(&path)?;
    let attributes = body.into_inner().into_attributes()?;
    let user = state.service.admin_update_user(id, attributes, &admin.0).await?;
    let factors = state.service.user_factors(user.id).await?;
    Ok(super::no_store(HttpResponse::Ok()).json(views::user_with_factors(&user, &factors)))
}

/// Body of `DELETE /admin/users/{id}`.
#[derive(Deserialize)]
pub(crate) struct DeleteBody {
    should_soft_delete: Option<bool>,
}

/// `DELETE /admin/users/{id}`: removes the account with every session and token, answers `{}`;
/// with `should_soft_delete` the emptied row stays, marked `deleted_at`.
pub(crate) async fn delete_user(
    state: web::Data<AppState>,
    admin: AdminCaller,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = super::read_body(&state, payload).await?;
    let id = user_id(&path)?;
    // Read by hand: a body that does not parse must stop the deletion, not count as no body.
    let options: Option<DeleteBody> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(serde_json::from_slice(&body).map_err(ApiError::bad_json)?)
    };
    let soft = options.and_then(|o| o.should_soft_delete) == Some(true);
    state.service.admin_delete_user(id, soft, &admin.0).await?;
    Ok(super::no_store(HttpResponse::Ok()).json(json!({})))
}

/// `POST /admin/users/{id}/logout` (an authd addition): ends every session of the user.
pub(crate) async fn logout_user(
    state: web::Data<AppState>,
    admin: AdminCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.service.admin_logout_user(user_id(&path)?, &admin.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /admin/audit?page=&per_page=`: the audit log, newest first.
pub(crate) async fn audit(
    state: web::Data<AppState>,
    _admin: AdminCaller,
    request: HttpRequest,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let (page, per_page) = paging.parse()?;
    let (events, total) = state.service.audit_events((page - 1).saturating_mul(per_page), per_page).await?;
    // The event's own serialisation is the one shape of an audit event (also `authd audit`).
    let response = super::no_store(HttpResponse::Ok()).json(events);
    Ok(paged(response, &request, &paging, (page, per_page), total))
}

/// `POST /invite` body.
#[derive(Deserialize)]
pub(crate) struct InviteBody {
    email: Option<String>,
    data: Option<Value>,
}

/// `POST /invite` (service role): creates the user and mails the invitation; answers the user.
pub(crate) async fn invite(
    state: web::Data<AppState>,
    admin: AdminCaller,
    query: web::Query<RedirectQuery>,
    body: web::Json<InviteBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let email = body.email.unwrap_or_default();
    let user = state.service.invite_user(&email, body.data, query.redirect_to.as_deref(), &admin.0).await?;
    Ok(super::no_store(HttpResponse::Ok()).json(views::user(&user)))
}

/// `POST /admin/generate_link` body (auth-js also spreads `redirectTo` into it).
#[derive(Deserialize)]
pub(crate) struct GenerateLinkBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    email: Option<String>,
    new_email: Option<String>,
    password: Option<String>,
    data: Option<Value>,
    redirect_to: Option<String>,
    #[serde(rename = "redirectTo")]
    redirect_to_camel: Option<String>,
}

/// `POST /admin/generate_link`: the link and code a mail would carry, handed to the operator;
/// answers the user's fields with `action_link`, `email_otp`, `hashed_token`,
/// `verification_type` and `redirect_to` beside them, as Supabase Auth does.
pub(crate) async fn generate_link(
    state: web::Data<AppState>,
    admin: AdminCaller,
    query: web::Query<RedirectQuery>,
    body: web::Json<GenerateLinkBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let kind = auth_core::service::LinkType::parse(body.kind.as_deref().unwrap_or_default())?;
    let redirect_to = query.into_inner().redirect_to.or(body.redirect_to).or(body.redirect_to_camel);
    let password = body.password.map(Password::new);
    let email = body.email.unwrap_or_default();
    let link = state
        .service
        .generate_link(
            kind,
            &email,
            body.new_email.as_deref(),
            password.as_ref(),
            body.data,
            redirect_to.as_deref(),
            &admin.0,
        )
        .await?;
    let mut answer = views::user(&link.user);
    if let Value::Object(fields) = &mut answer {
        fields.insert("action_link".into(), json!(link.action_link));
        fields.insert("email_otp".into(), json!(link.email_otp));
        fields.insert("hashed_token".into(), json!(link.hashed_token));
        fields.insert("verification_type".into(), json!(link.verification_type));
        fields.insert("redirect_to".into(), json!(link.redirect_to));
    }
    Ok(super::no_store(HttpResponse::Ok()).json(answer))
}
