//! The email flows: `/recover`, `/recover/username`, `/resend`, `/magiclink`, `/otp` and
//! `/verify`. Requests that send mail answer `{}` whether or not the address has an account.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::AuthError;
use auth_core::domain::PKCE_LINK_PREFIX;
use auth_core::service::{ClientInfo, IssuedSession, SignInMail, Verified, VerifyChannel, VerifyProof, VerifyType};
use serde::Deserialize;
use serde_json::{Value, json};

use super::RedirectQuery;
use super::pkce::ChallengeFields;
use crate::client::client_info;
use crate::{ApiError, AppState, Bucket, views};

/// The answer to the first of the two confirmations of an email change.
const OTHER_ADDRESS: &str = "Confirmation link accepted. Please proceed to confirm link sent to the other email";

/// A body holding just an address.
#[derive(Deserialize)]
pub(crate) struct EmailBody {
    email: Option<String>,
}

/// `POST /recover` body.
#[derive(Deserialize)]
pub(crate) struct RecoverBody {
    email: Option<String>,
    #[serde(flatten)]
    pkce: ChallengeFields,
}

/// The address of a request that needs one; without it, `missing` (Supabase Auth's sentence for
/// the endpoint) is the `validation_failed` message.
fn required_email(email: Option<String>, missing: &str) -> Result<String, AuthError> {
    email
        .filter(|e| !e.trim().is_empty())
        .ok_or_else(|| AuthError::Validation { field: "email", message: missing.into() })
}

/// What Supabase Auth answers for a missing address where it has no sentence of its own.
const EMAIL_REQUIRED: &str = "An email address is required";

fn empty_ok() -> HttpResponse {
    super::no_store(HttpResponse::Ok()).json(json!({}))
}

/// Runs the part of a mail request whose cost depends on whether the address is known, and
/// answers no sooner than `settings.mail_answer_floor` after it began, whatever the outcome.
async fn answer_alike(
    state: &AppState,
    work: impl std::future::Future<Output = Result<(), AuthError>>,
) -> Result<HttpResponse, ApiError> {
    let started = actix_web::rt::time::Instant::now();
    let outcome = work.await;
    actix_web::rt::time::sleep_until(started + state.settings.mail_answer_floor).await;
    state.counted(outcome)?;
    Ok(empty_ok())
}

/// `POST /recover`: mails a recovery link and code.
pub(crate) async fn recover(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<RedirectQuery>,
    body: web::Json<RecoverBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let link = body.pkce.link_options(&state, query.into_inner().redirect_to)?;
    let email = required_email(body.email, "Password recovery requires an email")?;
    state.limit(Bucket::Email, &request).await?;
    answer_alike(&state, state.service.recover(&email, &link)).await
}

/// `POST /recover/username` (an authd addition): mails the username of the account.
pub(crate) async fn forgot_username(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Json<EmailBody>,
) -> Result<HttpResponse, ApiError> {
    let email = required_email(body.into_inner().email, EMAIL_REQUIRED)?;
    state.limit(Bucket::Email, &request).await?;
    answer_alike(&state, state.service.forgot_username(&email)).await
}

/// `POST /resend` body.
#[derive(Deserialize)]
pub(crate) struct ResendBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    #[serde(flatten)]
    pkce: ChallengeFields,
}

/// `POST /resend`: the sign-up confirmation, or the mails of a pending email change, again.
pub(crate) async fn resend(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<RedirectQuery>,
    body: web::Json<ResendBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let email_change = match body.kind.as_deref().map(str::trim) {
        Some("signup") => false,
        Some("email_change") => true,
        Some(kind @ ("sms" | "phone_change")) => {
            let phone = body.phone.filter(|p| !p.trim().is_empty()).ok_or(AuthError::Validation {
                field: "phone",
                message: "Type provided requires a phone number".into(),
            })?;
            state.limit(Bucket::Email, &request).await?;
            let change = kind == "phone_change";
            return answer_alike(&state, state.service.resend_phone(&phone, change)).await;
        }
        _ => {
            let message = "Missing one of these types: signup, email_change, sms, phone_change".into();
            return Err(AuthError::Validation { field: "type", message }.into());
        }
    };
    let link = body.pkce.link_options(&state, query.into_inner().redirect_to)?;
    let email = required_email(body.email, EMAIL_REQUIRED)?;
    state.limit(Bucket::Email, &request).await?;
    if email_change {
        answer_alike(&state, state.service.resend_email_change(&email, &link)).await
    } else {
        answer_alike(&state, state.service.resend_confirmation(&email, &link)).await
    }
}

/// `POST /magiclink` and `POST /otp` body.
#[derive(Deserialize)]
pub(crate) struct OtpBody {
    email: Option<String>,
    phone: Option<String>,
    create_user: Option<bool>,
    data: Option<Value>,
    channel: Option<String>,
    #[serde(flatten)]
    pkce: ChallengeFields,
}

/// `POST /magiclink`: a sign-in link (and code); an unknown address signs up.
pub(crate) async fn magiclink(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<RedirectQuery>,
    body: web::Json<OtpBody>,
) -> Result<HttpResponse, ApiError> {
    send_sign_in(state, request, query.into_inner().redirect_to, body.into_inner(), SignInMail::Link).await
}

/// `POST /otp`: a sign-in code (and link); an unknown address signs up unless
/// `create_user` is false.
pub(crate) async fn otp(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<RedirectQuery>,
    body: web::Json<OtpBody>,
) -> Result<HttpResponse, ApiError> {
    send_sign_in(state, request, query.into_inner().redirect_to, body.into_inner(), SignInMail::Code).await
}

async fn send_sign_in(
    state: web::Data<AppState>,
    request: HttpRequest,
    redirect_to: Option<String>,
    body: OtpBody,
    asked: SignInMail,
) -> Result<HttpResponse, ApiError> {
    if let Some(phone) = body.phone.filter(|p| !p.trim().is_empty()) {
        if body.email.as_deref().is_some_and(|e| !e.trim().is_empty()) {
            let message = "Only an email address or phone number should be provided".into();
            return Err(AuthError::Validation { field: "phone", message }.into());
        }
        state.limit(Bucket::Email, &request).await?;
        let client = client_info(&request, &state.settings.trusted_proxies);
        let create_user = body.create_user.unwrap_or(true);
        let work = state.service.send_phone_otp(&phone, create_user, body.data, body.channel.as_deref(), &client);
        return answer_alike(&state, work).await;
    }
    let email = required_email(body.email, "One of email or phone must be set")?;
    let link = body.pkce.link_options(&state, redirect_to)?;
    state.limit(Bucket::Email, &request).await?;
    let create_user = body.create_user.unwrap_or(true);
    answer_alike(&state, state.service.send_magic_link(&email, asked, create_user, body.data, &link)).await
}

/// `POST /verify` body, as JSON (auth-js `verifyOtp`) or as the form of the link page.
#[derive(Deserialize)]
pub(crate) struct VerifyBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    token: Option<String>,
    token_hash: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    redirect_to: Option<String>,
    /// The PKCE verifier, which a `pkce_` link posted as JSON needs.
    code_verifier: Option<String>,
}

impl VerifyBody {
    fn parse(self) -> Result<(VerifyType, VerifyProof), AuthError> {
        let kind = VerifyType::parse(self.kind.as_deref().unwrap_or_default())?;
        let present = |v: Option<String>| v.filter(|t| !t.trim().is_empty());
        let verifier = present(self.code_verifier);
        let link = |token: String| match verifier.clone() {
            Some(code_verifier) => VerifyProof::PkceLink { token, code_verifier },
            None => VerifyProof::Link(token),
        };
        if matches!(kind, VerifyType::Sms | VerifyType::PhoneChange) {
            let (Some(phone), Some(code)) = (present(self.phone), present(self.token)) else {
                return Err(AuthError::Validation {
                    field: "phone",
                    message: "Only the token and phone number are needed to verify a code sent by SMS".into(),
                });
            };
            return Ok((kind, VerifyProof::PhoneCode { phone, code }));
        }
        let proof = match (present(self.token_hash), present(self.token), present(self.email)) {
            (Some(hash), _, _) => link(hash),
            (None, Some(code), Some(email)) => VerifyProof::Code { email, code },
            // A link's `token` without an address is the link token itself.
            (None, Some(token), None) => link(token),
            (None, None, _) => {
                return Err(AuthError::Validation {
                    field: "token",
                    message: "give token_hash, or token with the email it was sent to".into(),
                });
            }
        };
        Ok((kind, proof))
    }
}

/// `POST /verify`: JSON answers the session; the link page's form is redirected to the app
/// with the session (or the error) in the URL fragment, or, for a PKCE link, with an auth code
/// (or the error) in the query.
pub(crate) async fn verify(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = super::read_body(&state, payload).await?;
    state.limit(Bucket::Verify, &request).await?;
    let is_form = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form && !same_origin(&request, &state.service.settings().email.verify_url) {
        // Only the link page posts this form: another site posting it would sign the visitor
        // in to an account of that site's choosing.
        return Err(ApiError::from(AuthError::Validation {
            field: "origin",
            message: "the verification form can only be sent from its own page".into(),
        }));
    }
    let client = client_info(&request, &state.settings.trusted_proxies);
    if !is_form {
        let parsed: VerifyBody = serde_json::from_slice(&body).map_err(ApiError::bad_json)?;
        let by_link = parsed.token_hash.as_deref().is_some_and(|t| !t.trim().is_empty());
        let (kind, proof) = parsed.parse()?;
        let verified = state.service.verify(kind, &proof, VerifyChannel::Api, &client).await;
        return Ok(match verified.map_err(|error| verify_error(error, by_link))? {
            Verified::Session(issued) => super::no_store(HttpResponse::Ok()).json(views::session(&issued)),
            Verified::AwaitingOtherAddress => super::no_store(HttpResponse::Ok()).json(json!({ "msg": OTHER_ADDRESS })),
            Verified::AuthCode(_) => {
                return Err(ApiError::from(AuthError::Internal("an auth code was issued to an API caller".into())));
            }
        });
    }
    let parsed: VerifyBody = form_body(&body)?;
    Ok(redeem_in_browser(&state, &client, parsed).await)
}

/// Redeems a link the browser brought (the link page's form, or `GET /verify` itself) and
/// redirects `303` to the app: with the session (or the error) in the URL fragment, or, for a
/// PKCE link, with an auth code (or the error) in the query.
async fn redeem_in_browser(state: &AppState, client: &ClientInfo, parsed: VerifyBody) -> HttpResponse {
    let target = state.service.redirect_target(parsed.redirect_to.as_deref());
    let kind_name = parsed.kind.clone().unwrap_or_default();
    // A PKCE client reads the outcome from the query, an implicit one from the fragment.
    let pkce = parsed.token.as_deref().is_some_and(|t| t.trim().starts_with(PKCE_LINK_PREFIX));
    let outcome = match parsed.parse() {
        Ok((kind, proof)) => {
            // The browser always brings a link's token.
            state.service.verify(kind, &proof, VerifyChannel::Browser, client).await.map_err(|e| verify_error(e, true))
        }
        Err(error) => Err(ApiError::from(error)),
    };
    let value = auth_core::domain::encode_query_value;
    let (query, fragment) = match &outcome {
        Ok(Verified::Session(issued)) => (None, Some(session_fragment(issued, &kind_name))),
        Ok(Verified::AuthCode(code)) => (Some(format!("code={}", value(code.as_str()))), None),
        Ok(Verified::AwaitingOtherAddress) => {
            let message = format!("message={}", value(OTHER_ADDRESS));
            (pkce.then(|| message.clone()), Some(message))
        }
        Err(error) => {
            let params =
                format!("error=access_denied&error_code={}&error_description={}", error.code(), value(error.message()));
            (pkce.then(|| params.clone()), Some(params))
        }
    };
    HttpResponse::SeeOther()
        .insert_header((LOCATION, landing_url(&target, query.as_deref(), fragment.as_deref())))
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish()
}

/// A refusal of `POST /verify`: a link (`token_hash`) that does not work is, in Supabase Auth's
/// words, an invalid or expired email link rather than a token.
fn verify_error(error: AuthError, by_link: bool) -> ApiError {
    let link_refused = by_link && error == AuthError::OtpExpired;
    let mut api = ApiError::from(error);
    if link_refused {
        api = ApiError::new(api.status(), api.code(), "Email link is invalid or has expired");
    }
    api
}

/// `target` with `query` added to its query string and `fragment` to its fragment.
fn landing_url(target: &str, query: Option<&str>, fragment: Option<&str>) -> String {
    let (base, existing_fragment) = match target.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (target, None),
    };
    let mut url = base.to_owned();
    if let Some(query) = query {
        url.push(if base.contains('?') { '&' } else { '?' });
        url.push_str(query);
    }
    let fragments: Vec<&str> = existing_fragment.into_iter().chain(fragment).filter(|f| !f.is_empty()).collect();
    if !fragments.is_empty() {
        url.push('#');
        url.push_str(&fragments.join("&"));
    }
    url
}

/// Whether the request's `Origin` (when the browser sent one) is the origin of `page_url`.
fn same_origin(request: &HttpRequest, page_url: &str) -> bool {
    let Some(origin) = request.headers().get(actix_web::http::header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let expected = page_url.split_once("://").map(|(scheme, rest)| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        format!("{scheme}://{host}")
    });
    expected.is_some_and(|e| e.eq_ignore_ascii_case(origin.trim_end_matches('/')))
}

fn form_body(body: &[u8]) -> Result<VerifyBody, ApiError> {
    let pairs = form_pairs(body);
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    Ok(VerifyBody {
        kind: get("type"),
        token: get("token"),
        token_hash: get("token_hash"),
        email: get("email"),
        phone: None,
        redirect_to: get("redirect_to"),
        // The link page's form never carries one: the browser's answer is an auth code.
        code_verifier: None,
    })
}

/// `application/x-www-form-urlencoded` pairs, decoded.
fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// The session in the fragment form Supabase Auth redirects with (auth-js reads it).
fn session_fragment(issued: &IssuedSession, kind: &str) -> String {
    let value = auth_core::domain::encode_query_value;
    format!(
        "access_token={}&expires_at={}&expires_in={}&refresh_token={}&token_type=bearer&type={}",
        value(&issued.access_token),
        issued.expires_at,
        issued.expires_in,
        value(issued.refresh_token.expose()),
        value(kind)
    )
}

/// `GET /verify` query.
#[derive(Deserialize)]
pub(crate) struct VerifyQuery {
    token: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    redirect_to: Option<String>,
}

/// `GET /verify`: the link a mail carries. With `verify_links_at_once` (Supabase Auth's way) it
/// redeems the link and redirects `303` to the app; otherwise it answers the link page.
pub(crate) async fn verify_link(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<VerifyQuery>,
) -> Result<HttpResponse, ApiError> {
    if !state.settings.verify_links_at_once {
        return Ok(verify_page(query.into_inner()));
    }
    state.limit(Bucket::Verify, &request).await?;
    let client = client_info(&request, &state.settings.trusted_proxies);
    let query = query.into_inner();
    let parsed = VerifyBody {
        kind: query.kind,
        token: query.token,
        token_hash: None,
        email: None,
        phone: None,
        redirect_to: query.redirect_to,
        code_verifier: None,
    };
    Ok(redeem_in_browser(&state, &client, parsed).await)
}

/// The link page. It redeems nothing: a button posts the link back, so mail scanners that
/// fetch links cannot use them up (or the code sent with them).
fn verify_page(query: VerifyQuery) -> HttpResponse {
    let escape = |s: Option<String>| html_escape(s.as_deref().unwrap_or_default());
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"robots\" content=\"noindex\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Continue</title></head>\
         <body style=\"font-family:sans-serif;max-width:32rem;margin:4rem auto;text-align:center\">\
         <form method=\"post\"><input type=\"hidden\" name=\"token\" value=\"{}\">\
         <input type=\"hidden\" name=\"type\" value=\"{}\"><input type=\"hidden\" name=\"redirect_to\" value=\"{}\">\
         <p>Press the button to continue.</p><button type=\"submit\" style=\"font-size:1.2rem;padding:.6rem 1.4rem\">Continue</button>\
         </form></body></html>\n",
        escape(query.token),
        escape(query.kind),
        escape(query.redirect_to)
    );
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(body)
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::landing_url;

    #[test]
    fn landing_urls_keep_what_the_target_already_has() {
        assert_eq!(landing_url("http://app/cb", Some("code=c"), None), "http://app/cb?code=c");
        assert_eq!(landing_url("http://app/cb?a=1", Some("code=c"), None), "http://app/cb?a=1&code=c");
        assert_eq!(landing_url("http://app/cb#tab", None, Some("error=e")), "http://app/cb#tab&error=e");
        assert_eq!(
            landing_url("http://app/cb?a=1#tab", Some("error=e"), Some("error=e")),
            "http://app/cb?a=1&error=e#tab&error=e"
        );
        assert_eq!(landing_url("http://app/cb", None, None), "http://app/cb");
    }
}
