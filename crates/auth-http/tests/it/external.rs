//! External sign-in end to end in process, over a fake identity provider: the browser flow
//! (implicit and PKCE), its browser binding, single use and error redirects, ID-token sign-in
//! with its nonce rule, identities in the user, linking by a verified address only, unlinking.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use async_trait::async_trait;
use auth_core::domain::{ProviderName, hashed_nonce};
use auth_core::ports::{
    AuthorizationRequest, IdentityProviders, IdpError, ProviderSignIn, ProviderTokens, ProviderUser, VerifiedIdToken,
};
use auth_core::service::{AuthSettings, ExternalSettings};
use auth_core::testing::TestWorld;
use serde_json::{Map, Value, json};

use crate::harness::{TestApp, post, with_token};

/// A provider "fake" whose codes are `user:<sub>:<email>:<verified>` and whose ID tokens are
/// `<sub>:<email>:<nonce>`.
struct Fake;

fn user_of(sub: &str, email: &str, verified: bool) -> ProviderUser {
    ProviderUser {
        provider_id: sub.into(),
        email: Some(email.into()),
        email_verified: verified,
        name: Some("Fake User".into()),
        avatar_url: None,
        claims: Map::new(),
    }
}

#[async_trait]
impl IdentityProviders for Fake {
    fn enabled(&self) -> Vec<ProviderName> {
        vec![ProviderName::parse("fake").unwrap()]
    }

    async fn authorization_url(&self, _: &ProviderName, request: &AuthorizationRequest) -> Result<String, IdpError> {
        Ok(format!("https://idp.test/auth?state={}&nonce={}", request.state, request.nonce))
    }

    async fn exchange_code(&self, _: &ProviderName, code: &str, _: &str, _: &str) -> Result<ProviderSignIn, IdpError> {
        let parts: Vec<&str> = code.split(':').collect();
        match parts[..] {
            ["user", sub, email, verified] => Ok(ProviderSignIn {
                user: user_of(sub, email, verified == "true"),
                tokens: ProviderTokens { access_token: Some("provider-at".into()), refresh_token: None },
            }),
            _ => Err(IdpError::Exchange("bad code".into())),
        }
    }

    async fn verify_id_token(
        &self,
        _: &ProviderName,
        token: &str,
        _: Option<&str>,
    ) -> Result<VerifiedIdToken, IdpError> {
        let parts: Vec<&str> = token.split(':').collect();
        match parts[..] {
            [sub, email, nonce] => Ok(VerifiedIdToken {
                user: user_of(sub, email, true),
                nonce: (!nonce.is_empty()).then(|| nonce.to_owned()),
                skip_nonce_check: false,
            }),
            _ => Err(IdpError::BadIdToken("Bad ID token".into())),
        }
    }
}

fn get(path: &str) -> TestRequest {
    TestRequest::get().uri(&format!("/auth/v1{path}"))
}

fn location(headers: &actix_web::http::header::HeaderMap) -> String {
    headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

fn param(url: &str, key: &str) -> Option<String> {
    let rest = url.split(['?', '#', '&']).find(|p| p.starts_with(&format!("{key}=")))?;
    Some(rest[key.len() + 1..].to_owned())
}

async fn app(
    manual_linking: bool,
) -> TestApp<
    impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
> {
    app_with(manual_linking, true).await
}

async fn app_with(
    manual_linking: bool,
    autoconfirm: bool,
) -> TestApp<
    impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
> {
    let external = ExternalSettings { manual_linking, ..ExternalSettings::default() };
    let world = TestWorld::new(AuthSettings { autoconfirm, external, ..AuthSettings::default() })
        .with_ports(|ports| ports.providers = Arc::new(Fake));
    TestApp::builder().world(world).start().await
}

/// `/authorize` → the provider's URL and the binding cookie.
async fn authorize<S, B>(app: &TestApp<S>, query: &str) -> (String, String)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let response = app.call(get(&format!("/authorize?provider=fake&{query}"))).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let cookie = response.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let value = cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();
    let url = location(response.headers());
    (param(&url, "state").unwrap(), value)
}

fn callback(state: &str, code: &str, binding: Option<&str>) -> TestRequest {
    let request = get(&format!("/callback?state={state}&code={code}"));
    match binding {
        Some(b) => request.insert_header(("cookie", format!("authd-oauth-binding={b}"))),
        None => request,
    }
}

#[actix_web::test]
async fn the_implicit_flow_lands_with_a_session_and_the_identity() {
    let app = app(false).await;
    let (status, _, settings) = app.send(get("/settings")).await;
    assert_eq!((status, &settings["external"]["fake"]), (StatusCode::OK, &json!(true)));
    let (state, binding) = authorize(&app, "redirect_to=http://localhost:3000/welcome&login_hint=x").await;
    let (status, headers, _) = app.send(callback(&state, "user:42:New@Example.com:true", Some(&binding))).await;
    assert_eq!(status, StatusCode::FOUND);
    let landed = location(&headers);
    assert!(landed.starts_with("http://localhost:3000/welcome#access_token="), "{landed}");
    assert_eq!(param(&landed, "provider_token").as_deref(), Some("provider-at"));
    assert_eq!(param(&landed, "sb").as_deref(), Some(""));
    let token = param(&landed, "access_token").unwrap();
    let (status, _, user) = app.send(with_token(get("/user"), &token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["email"], "new@example.com");
    assert_eq!(user["app_metadata"]["providers"], json!(["fake"]));
    let identities = user["identities"].as_array().unwrap();
    assert_eq!(identities.len(), 1, "{identities:?}");
    assert_eq!((identities[0]["provider"].as_str(), identities[0]["id"].as_str()), (Some("fake"), Some("42")));
    // The flow is used once.
    let (status, headers, _) = app.send(callback(&state, "user:42:New@Example.com:true", Some(&binding))).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(param(&location(&headers), "error_code").as_deref(), Some("bad_oauth_state"));
}

#[actix_web::test]
async fn pkce_lands_with_a_code_that_the_token_endpoint_exchanges() {
    let app = app(false).await;
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let (state, binding) = authorize(&app, &format!("code_challenge={challenge}&code_challenge_method=s256")).await;
    let (_, headers, _) = app.send(callback(&state, "user:7:p@example.com:true", Some(&binding))).await;
    let code = param(&location(&headers), "code").unwrap();
    let body = json!({"auth_code": code, "code_verifier": verifier});
    let (status, _, session) = app.send(post("/token?grant_type=pkce", body)).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["user"]["identities"][0]["provider"], "fake");
}

#[actix_web::test]
async fn callbacks_from_another_browser_or_without_state_are_refused() {
    let app = app(false).await;
    let (state, _) = authorize(&app, "").await;
    let (status, headers, _) = app.send(callback(&state, "user:1:a@example.com:true", Some("forged"))).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let to = location(&headers);
    assert!(to.contains("error=invalid_request") && to.contains("error_code=bad_oauth_state"), "{to}");
    let (status, headers, _) = app.send(get("/callback?code=x")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(param(&location(&headers), "error_code").as_deref(), Some("bad_oauth_callback"));
    let (status, _, body) = app.send(get("/authorize?provider=nope")).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_failed")));
}

#[actix_web::test]
async fn errors_after_the_state_go_to_the_flow_in_query_and_fragment() {
    let app = app(false).await;
    let (state, binding) = authorize(&app, "redirect_to=http://localhost:3000/cb").await;
    let request = get(&format!("/callback?state={state}&error=access_denied&error_description=cancelled"))
        .insert_header(("cookie", format!("authd-oauth-binding={binding}")));
    let (status, headers, _) = app.send(request).await;
    assert_eq!(status, StatusCode::FOUND);
    let to = location(&headers);
    assert!(to.starts_with("http://localhost:3000/cb?error=access_denied&error_description=cancelled#"), "{to}");
    assert!(!to.contains("error_code"), "{to}");
}

#[actix_web::test]
async fn an_unverified_provider_address_never_takes_over_an_account() {
    // Without autoconfirm, which would count every provider address as verified.
    let app = app_with(false, false).await;
    let (_, _, owner) = app.sign_up("owner@example.com", "correct horse").await;
    let owner_id = owner["id"].clone();
    let (state, binding) = authorize(&app, "").await;
    let (_, headers, _) = app.send(callback(&state, "user:9:owner@example.com:false", Some(&binding))).await;
    let landed = location(&headers);
    // Not linked: a new account without the taken address, which has no verified address.
    assert!(landed.contains("access_token="), "{landed}");
    let token = param(&landed, "access_token").unwrap();
    let (_, _, user) = app.send(with_token(get("/user"), &token)).await;
    assert_ne!(user["id"], owner_id);
    assert_eq!(user["email"], "");
    // A verified one links to the account.
    let (state, binding) = authorize(&app, "").await;
    let (_, headers, _) = app.send(callback(&state, "user:10:owner@example.com:true", Some(&binding))).await;
    let token = param(&location(&headers), "access_token").unwrap();
    let (_, _, user) = app.send(with_token(get("/user"), &token)).await;
    assert_eq!(user["id"], owner_id);
    assert!(user["email_confirmed_at"].is_string(), "the provider proved the address");
    assert_eq!(user["app_metadata"]["providers"], json!(["email", "fake"]));
    assert_eq!(user["identities"].as_array().map(Vec::len), Some(2));
}

#[actix_web::test]
async fn id_tokens_need_the_hashed_nonce() {
    let app = app(false).await;
    let token = format!("5:id@example.com:{}", hashed_nonce("raw-nonce"));
    let wrong = json!({"provider": "fake", "id_token": token, "nonce": "other"});
    let (status, _, body) = app.send(post("/token?grant_type=id_token", wrong)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_nonce")));
    let missing = json!({"provider": "fake", "id_token": token});
    let (status, _, _) = app.send(post("/token?grant_type=id_token", missing)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let right = json!({"provider": "fake", "id_token": token, "nonce": "raw-nonce"});
    let (status, _, session) = app.send(post("/token?grant_type=id_token", right)).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["user"]["email"], "id@example.com");
    let disabled = json!({"provider": "google", "id_token": token, "nonce": "raw-nonce"});
    let (status, _, body) = app.send(post("/token?grant_type=id_token", disabled)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("provider_disabled")));
}

#[actix_web::test]
async fn linking_and_unlinking_need_manual_linking_and_keep_one_identity() {
    let off = app(false).await;
    let (_, _, session) = off.sign_up("linker@example.com", "correct horse").await;
    let token = session["access_token"].as_str().unwrap();
    let (status, _, body) = off.send(with_token(get("/user/identities/authorize?provider=fake"), token)).await;
    assert_eq!((status, body["msg"].as_str()), (StatusCode::NOT_FOUND, Some("Manual linking is disabled")));

    let app = app(true).await;
    let (_, _, session) = app.sign_up("linker@example.com", "correct horse").await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let (status, _, body) =
        app.send(with_token(get("/user/identities/authorize?provider=fake&skip_http_redirect=true"), &token)).await;
    assert_eq!(status, StatusCode::OK);
    let state = param(body["url"].as_str().unwrap(), "state").unwrap();
    // No cookie: a linking flow carries its binding in the state.
    let (_, headers, _) = app.send(callback(&state, "user:77:elsewhere@example.com:false", None)).await;
    assert!(location(&headers).contains("access_token="), "{}", location(&headers));
    let (_, _, user) = app.send(with_token(get("/user"), &token)).await;
    let identities = user["identities"].as_array().unwrap().clone();
    assert_eq!(identities.len(), 2);
    let fake_id = identities[1]["identity_id"].as_str().unwrap().to_owned();
    let (status, _, body) =
        app.send(with_token(TestRequest::delete().uri(&format!("/auth/v1/user/identities/{fake_id}")), &token)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let (status, _, body) =
        app.send(with_token(TestRequest::delete().uri(&format!("/auth/v1/user/identities/{fake_id}")), &token)).await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, Value::from("single_identity_not_deletable"))
    );
}
