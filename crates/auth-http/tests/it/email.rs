use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use auth_core::service::AuthSettings;
use auth_core::testing::SentMail;
use auth_http::HttpSettings;
use chrono::Duration;
use serde_json::json;

use crate::harness::{TestApp, api_key, post, with_token};

fn confirming() -> AuthSettings {
    AuthSettings::default()
}

/// No answer floor.
fn quick() -> HttpSettings {
    HttpSettings { mail_answer_floor: std::time::Duration::ZERO, ..HttpSettings::default() }
}

/// `settings` with mail to one address as often as asked.
fn unthrottled(mut settings: AuthSettings) -> AuthSettings {
    settings.email.send_interval = Duration::zero();
    settings
}

#[actix_web::test]
async fn signup_confirmation_by_code_works_once() {
    let app = TestApp::with(quick(), unthrottled(confirming())).await;
    let body = json!({"email": "ada@example.com", "password": "correct horse"});
    let (status, _, user) = app.send(post("/signup?redirect_to=http://localhost:3000/welcome", body)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(user.get("access_token").is_none() && user["confirmation_sent_at"].is_string());
    let mails = app.mails().await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!((mail.kind.as_str(), mail.to.as_str()), ("confirmation", "ada@example.com"));
    assert_eq!(mail.code.len(), 6);
    assert!(
        mail.link.contains("type=signup") && mail.link.contains("redirect_to=http%3A%2F%2Flocalhost%3A3000%2Fwelcome")
    );

    let wrong = json!({"type": "signup", "email": "ada@example.com", "token": "000000"});
    let (status, _, body) = app.send(post("/verify", wrong)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::FORBIDDEN, Some("otp_expired")));

    let right = json!({"type": "signup", "email": "ADA@example.com", "token": mail.code});
    let (status, headers, session) = app.send(post("/verify", right.clone())).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    assert!(session["user"]["email_confirmed_at"].is_string());
    assert_eq!(session["user"]["id"], user["id"]);
    let (status, _, body) = app.send(post("/verify", right)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::FORBIDDEN, Some("otp_expired")), "used once");

    let sign_in = json!({"email": "ada@example.com", "password": "correct horse"});
    assert_eq!(app.send(post("/token?grant_type=password", sign_in)).await.0, StatusCode::OK);
}

#[actix_web::test]
async fn links_expire_later_than_codes_and_a_new_mail_replaces_the_old() {
    let app = TestApp::with(quick(), unthrottled(confirming())).await;
    app.sign_up("bo@example.com", "correct horse").await;
    let first = app.mails().await.remove(0);
    let (status, _, _) = app.send(post("/resend", json!({"type": "signup", "email": "bo@example.com"}))).await;
    assert_eq!(status, StatusCode::OK);
    let second = app.mails().await.remove(0);
    let old = json!({"type": "signup", "token_hash": first.link_token()});
    assert_eq!(app.send(post("/verify", old)).await.0, StatusCode::FORBIDDEN, "replaced by the resend");

    app.clock.advance(Duration::minutes(11));
    let code = json!({"type": "signup", "email": "bo@example.com", "token": second.code});
    assert_eq!(app.send(post("/verify", code)).await.0, StatusCode::FORBIDDEN, "codes last ten minutes");
    let link = json!({"type": "signup", "token_hash": second.link_token()});
    let (status, _, session) = app.send(post("/verify", link.clone())).await;
    assert_eq!(status, StatusCode::OK, "links last an hour: {session}");

    app.send(post("/recover", json!({"email": "bo@example.com"}))).await;
    let recovery = app.mails().await.remove(0);
    app.clock.advance(Duration::minutes(61));
    let late = json!({"type": "recovery", "token_hash": recovery.link_token()});
    assert_eq!(app.send(post("/verify", late)).await.0, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn recovery_signs_in_and_allows_a_new_password_without_the_old_one() {
    let settings = AuthSettings { autoconfirm: true, ..AuthSettings::default() };
    let app = TestApp::with(quick(), unthrottled(settings)).await;
    app.sign_up("cy@example.com", "forgotten one").await;
    let (status, _, body) = app.send(post("/recover", json!({"email": "cy@example.com"}))).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let mail = app.mails().await.remove(0);
    assert_eq!(mail.kind, "recovery");
    assert!(mail.link.contains("type=recovery"));

    let wrong_type = json!({"type": "magiclink", "token_hash": mail.link_token()});
    assert_eq!(
        app.send(post("/verify", wrong_type)).await.0,
        StatusCode::FORBIDDEN,
        "a recovery link is not a magic link"
    );
    let (status, _, session) =
        app.send(post("/verify", json!({"type": "recovery", "token_hash": mail.link_token()}))).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    let token = session["access_token"].as_str().unwrap();
    let change = TestRequest::put().uri("/auth/v1/user").set_json(json!({"password": "a brand new one"}));
    let (status, _, body) = app.send(with_token(change, token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sign_in = json!({"email": "cy@example.com", "password": "a brand new one"});
    assert_eq!(app.send(post("/token?grant_type=password", sign_in)).await.0, StatusCode::OK);
}

#[actix_web::test]
async fn mail_requests_answer_alike_for_unknown_addresses_and_are_throttled_per_address() {
    let app = TestApp::with(HttpSettings::default(), confirming()).await;
    for path in ["/recover", "/recover/username", "/magiclink"] {
        let (status, _, body) = app.send(post(path, json!({"email": "nobody@example.com"}))).await;
        assert_eq!((status, &body), (StatusCode::OK, &json!({})), "{path}");
    }
    let (status, _, body) = app.send(post("/otp", json!({"email": "ghost@example.com", "create_user": false}))).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let mails = app.mails().await;
    assert_eq!(
        mails.iter().map(|m| m.kind.as_str()).collect::<Vec<_>>(),
        ["confirmation"],
        "magiclink signed nobody@ up"
    );

    // The same address again within the interval: 429, known or not.
    let (status, headers, body) = app.send(post("/recover", json!({"email": "NOBODY@example.com"}))).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("over_email_send_rate_limit"))
    );
    assert!(headers.get("retry-after").is_some());
    let (status, _, body) = app.send(post("/recover", json!({}))).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_failed")));
}

#[actix_web::test]
async fn forgot_username_mails_the_username() {
    let settings = AuthSettings { autoconfirm: true, ..AuthSettings::default() };
    let app = TestApp::with(quick(), unthrottled(settings)).await;
    let body = json!({"email": "dee@example.com", "username": "dee_dee", "password": "correct horse"});
    app.send(post("/signup", body)).await;
    app.send(post("/recover/username", json!({"email": "dee@example.com"}))).await;
    let mail = app.mails().await.remove(0);
    assert_eq!((mail.kind.as_str(), mail.username.as_str(), mail.code.as_str()), ("forgot_username", "dee_dee", ""));
}

#[actix_web::test]
async fn magic_links_and_codes_sign_in() {
    let settings = AuthSettings { autoconfirm: true, ..AuthSettings::default() };
    let app = TestApp::with(quick(), unthrottled(settings)).await;
    app.sign_up("eve@example.com", "correct horse").await;
    app.send(post("/otp", json!({"email": "eve@example.com"}))).await;
    let code_mail = app.mails().await.remove(0);
    assert_eq!(code_mail.kind, "email_otp");
    let (status, _, session) =
        app.send(post("/verify", json!({"type": "email", "email": "eve@example.com", "token": code_mail.code}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(session["user"]["email"], "eve@example.com");

    app.send(post("/magiclink", json!({"email": "eve@example.com"}))).await;
    let link_mail = app.mails().await.remove(0);
    assert_eq!(link_mail.kind, "magic_link");
    assert!(link_mail.link.contains("type=magiclink"));
    let (status, _, _) =
        app.send(post("/verify", json!({"type": "magiclink", "token_hash": link_mail.link_token()}))).await;
    assert_eq!(status, StatusCode::OK);
}

#[actix_web::test]
async fn the_link_page_redeems_nothing_and_its_form_redirects_with_the_session() {
    let app = TestApp::with(quick(), unthrottled(confirming())).await;
    app.sign_up("fay@example.com", "correct horse").await;
    let mail = app.mails().await.remove(0);
    let path = mail.link.split_once("/auth/v1").unwrap().1.to_owned();
    for _ in 0..3 {
        let page = app.call(TestRequest::get().uri(&format!("/auth/v1{path}"))).await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = String::from_utf8(actix_web::test::read_body(page).await.to_vec()).unwrap();
        assert!(html.contains("<form method=\"post\"") && html.contains(&mail.link_token()), "{html}");
    }
    // The scanner's fetches above used nothing: the code still works.
    let form = format!("token={}&type=signup&redirect_to=http%3A%2F%2Flocalhost%3A3000%2Fdone", mail.link_token());
    let location = submit_link_form(&app, &form).await;
    assert!(location.starts_with("http://localhost:3000/done#access_token="), "{location}");
    assert!(location.contains("&refresh_token=") && location.contains("&type=signup"));

    let location = submit_link_form(&app, &form).await;
    assert!(
        location.starts_with("http://localhost:3000/done#error=access_denied&error_code=otp_expired"),
        "{location}"
    );
}

/// Posts the link page's form as the browser does; answers where it redirects.
async fn submit_link_form<S, B>(app: &TestApp<S>, form: &str) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let request = TestRequest::post()
        .uri("/auth/v1/verify")
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(form.to_owned());
    let response = app.call(request).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    response.headers().get("location").unwrap().to_str().unwrap().to_owned()
}

fn service_key() -> String {
    api_key("service_role")
}

#[actix_web::test]
async fn invitations_are_mailed_and_accepted_by_verify() {
    let app = TestApp::with(quick(), unthrottled(confirming())).await;
    let invite = || {
        let body = json!({"email": "gil@example.com", "data": {"team": "ops"}});
        post("/invite?redirect_to=http://localhost:3000/join", body)
    };
    let (status, _, body) = app.send(invite()).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::UNAUTHORIZED, Some("no_authorization")));
    let (status, _, user) = app.send(with_token(invite(), &service_key())).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["user_metadata"]["team"], "ops");
    let mail = app.mails().await.remove(0);
    assert_eq!(mail.kind, "invite");
    assert!(mail.link.contains("type=invite"));

    let (status, _, session) =
        app.send(post("/verify", json!({"type": "invite", "token_hash": mail.link_token()}))).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    let token = session["access_token"].as_str().unwrap();
    let set = TestRequest::put().uri("/auth/v1/user").set_json(json!({"password": "chosen at last"}));
    assert_eq!(app.send(with_token(set, token)).await.0, StatusCode::OK, "an invited user sets a first password");
    let again = with_token(post("/invite", json!({"email": "gil@example.com"})), &service_key());
    let (status, _, body) = app.send(again).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("email_exists")));
}

#[actix_web::test]
async fn generated_links_are_returned_not_mailed_and_verify() {
    let app = TestApp::with(quick(), unthrottled(confirming())).await;
    let generate = |body: serde_json::Value| with_token(post("/admin/generate_link", body), &service_key());
    let (status, _, link) =
        app.send(generate(json!({"type": "signup", "email": "hal@example.com", "password": "correct horse"}))).await;
    assert_eq!(status, StatusCode::OK, "{link}");
    assert_eq!(link["email"], "hal@example.com");
    assert_eq!(link["verification_type"], "signup");
    assert!(link["action_link"].as_str().unwrap().contains("/verify?token="));
    assert!(app.mails().await.is_empty(), "nothing is mailed");
    let verify = json!({"type": "signup", "email": "hal@example.com", "token": link["email_otp"]});
    let (status, session) = {
        let (s, _, b) = app.send(post("/verify", verify)).await;
        (s, b)
    };
    assert_eq!(status, StatusCode::OK, "{session}");

    let (status, _, link) = app.send(generate(json!({"type": "recovery", "email": "hal@example.com"}))).await;
    assert_eq!((status, link["verification_type"].as_str()), (StatusCode::OK, Some("recovery")));
    let by_hash = json!({"type": "recovery", "token_hash": link["hashed_token"]});
    assert_eq!(app.send(post("/verify", by_hash)).await.0, StatusCode::OK);

    let (status, _, body) = app.send(generate(json!({"type": "recovery", "email": "nobody@example.com"}))).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::NOT_FOUND, Some("user_not_found")));
    let (status, _, body) =
        app.send(generate(json!({"type": "signup", "email": "hal@example.com", "password": "x y z w v"}))).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("email_exists")));
    let (status, _, body) = app.send(generate(json!({"type": "signup", "email": "ivy@example.com"}))).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_failed")));
    let (status, _, body) = app.send(generate(json!({"type": "email_change_new", "email": "hal@example.com"}))).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("validation_failed")),
        "no new_email"
    );
}

#[actix_web::test]
async fn a_reauthentication_code_replaces_the_current_password_once() {
    let settings = AuthSettings { autoconfirm: true, ..AuthSettings::default() };
    let app = TestApp::with(quick(), unthrottled(settings)).await;
    let (_, _, session) = app.sign_up("jo@example.com", "correct horse").await;
    let token = session["access_token"].as_str().unwrap();
    let ask = with_token(TestRequest::get().uri("/auth/v1/reauthenticate"), token);
    let (status, _, body) = app.send(ask).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let mail = app.mails().await.remove(0);
    assert_eq!((mail.kind.as_str(), mail.link.as_str()), ("reauthentication", ""), "a code, no link");

    let change = |nonce: &str, password: &str| {
        let body = json!({"password": password, "nonce": nonce});
        with_token(TestRequest::put().uri("/auth/v1/user").set_json(body), token)
    };
    // Supabase Auth's answer to a bad nonce: 422 reauthentication_not_valid.
    let (status, _, body) = app.send(change("000000", "a new password 1")).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("reauthentication_not_valid"))
    );
    assert_eq!(body["msg"], "Nonce has expired or is invalid");
    let (status, _, body) = app.send(change(&mail.code, "a new password 1")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = app.send(change(&mail.code, "a new password 2")).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("reauthentication_not_valid")),
        "a nonce works once"
    );
    let sign_in = json!({"email": "jo@example.com", "password": "a new password 1"});
    assert_eq!(app.send(post("/token?grant_type=password", sign_in)).await.0, StatusCode::OK);
}

#[actix_web::test]
async fn an_email_change_applies_once_both_addresses_confirm() {
    let settings = AuthSettings { autoconfirm: true, ..AuthSettings::default() };
    let app = TestApp::with(quick(), unthrottled(settings)).await;
    let (_, _, session) = app.sign_up("kim@example.com", "correct horse").await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let put = |body: serde_json::Value| with_token(TestRequest::put().uri("/auth/v1/user").set_json(body), &token);

    // A taken address answers like a free one, so it reveals no account, and starts nothing.
    app.sign_up("taken@example.com", "correct horse").await;
    let (status, _, body) = app.send(put(json!({"email": "taken@example.com"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["email"], "kim@example.com");
    assert!(app.mails().await.is_empty(), "nothing is mailed for a taken address");
    let (status, _, user) = app.send(put(json!({"email": "Kim.New@example.com"}))).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["email"], "kim@example.com", "unchanged until confirmed");

    let mut mails = app.mails().await;
    mails.sort_by(|a, b| a.kind.cmp(&b.kind));
    assert_eq!(
        mails.iter().map(|m| (m.kind.as_str(), m.to.as_str())).collect::<Vec<_>>(),
        [("email_change_current", "kim@example.com"), ("email_change_new", "kim.new@example.com")]
    );
    let (status, _, body) =
        app.send(post("/verify", json!({"type": "email_change", "token_hash": mails[0].link_token()}))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["msg"].as_str().unwrap().contains("other email"), "{body}");
    let (_, _, current) = app.send(with_token(TestRequest::get().uri("/auth/v1/user"), &token)).await;
    assert_eq!(current["email"], "kim@example.com");

    let by_code = json!({"type": "email_change", "email": "kim.new@example.com", "token": mails[1].code});
    let (status, _, session) = app.send(post("/verify", by_code)).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["user"]["email"], "kim.new@example.com");
    let sign_in = json!({"email": "kim.new@example.com", "password": "correct horse"});
    assert_eq!(app.send(post("/token?grant_type=password", sign_in)).await.0, StatusCode::OK);
    let old = json!({"email": "kim@example.com", "password": "correct horse"});
    assert_eq!(app.send(post("/token?grant_type=password", old)).await.0, StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn wrong_codes_use_up_the_secret() {
    let settings = AuthSettings { autoconfirm: true, ..AuthSettings::default() };
    let app = TestApp::with(quick(), unthrottled(settings)).await;
    app.sign_up("lou@example.com", "correct horse").await;
    app.send(post("/otp", json!({"email": "lou@example.com"}))).await;
    let mail = app.mails().await.remove(0);
    let wrong = if mail.code == "000000" { "111111" } else { "000000" };
    for _ in 0..auth_core::domain::MAX_CODE_ATTEMPTS {
        let guess = json!({"type": "email", "email": "lou@example.com", "token": wrong});
        assert_eq!(app.send(post("/verify", guess)).await.0, StatusCode::FORBIDDEN);
    }
    let right = json!({"type": "email", "email": "lou@example.com", "token": mail.code});
    let (status, _, body) = app.send(post("/verify", right)).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (StatusCode::FORBIDDEN, Some("otp_expired")),
        "guessing used it up"
    );
}

#[actix_web::test]
async fn an_account_made_in_someone_elses_name_does_not_keep_its_password() {
    let app = TestApp::with(quick(), unthrottled(confirming())).await;
    // Someone signs up with an address that is not theirs; it stays unconfirmed.
    app.sign_up("mo@example.com", "squatter password").await;
    let _ = app.mails().await;
    // The owner signs in by code: the address is proved, the squatter's password is gone.
    app.send(post("/otp", json!({"email": "mo@example.com"}))).await;
    let mail = app.mails().await.remove(0);
    let verify = json!({"type": "email", "email": "mo@example.com", "token": mail.code});
    assert_eq!(app.send(post("/verify", verify)).await.0, StatusCode::OK);
    let squatter = json!({"email": "mo@example.com", "password": "squatter password"});
    assert_eq!(app.send(post("/token?grant_type=password", squatter)).await.0, StatusCode::BAD_REQUEST);

    // A repeat sign-up of an unconfirmed address with another password keeps neither: the one
    // who confirms is signed in by the link and sets their own password in that session.
    app.sign_up("ned@example.com", "squatter password").await;
    app.sign_up("ned@example.com", "the owner's own").await;
    let confirmation = app.mails().await.pop().unwrap();
    let verify = json!({"type": "signup", "email": "ned@example.com", "token": confirmation.code});
    let (status, _, session) = app.send(post("/verify", verify)).await;
    assert_eq!(status, StatusCode::OK);
    let squatter = json!({"email": "ned@example.com", "password": "squatter password"});
    assert_eq!(app.send(post("/token?grant_type=password", squatter)).await.0, StatusCode::BAD_REQUEST);
    let owner = json!({"email": "ned@example.com", "password": "the owner's own"});
    assert_eq!(app.send(post("/token?grant_type=password", owner.clone())).await.0, StatusCode::BAD_REQUEST);
    let set = TestRequest::put().uri("/auth/v1/user").set_json(json!({"password": "the owner's own"}));
    let token = session["access_token"].as_str().unwrap();
    assert_eq!(app.send(with_token(set, token)).await.0, StatusCode::OK);
    assert_eq!(app.send(post("/token?grant_type=password", owner)).await.0, StatusCode::OK);
}

/// The review's race: the owner signs up, someone else signs up again with the same address
/// and their own password before a new mail may go out, and the owner clicks the only mail
/// they got. The second password must not come with it.
#[actix_web::test]
async fn a_repeat_signup_does_not_ride_on_the_first_confirmation() {
    let app = TestApp::with(quick(), confirming()).await;
    app.sign_up("vic@example.com", "victim password").await;
    let (status, _, answer) = app.sign_up("vic@example.com", "attacker password").await;
    assert_eq!(status, StatusCode::OK, "answered like any sign-up");
    // Only what a first sign-up seeds: nothing of the account's own data.
    let keys: Vec<&String> = answer["user_metadata"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["sub", "email", "email_verified", "phone_verified"]);
    let mails = app.mails().await;
    assert_eq!(mails.len(), 1, "the send interval held back a second mail");
    let verify = json!({"type": "signup", "token_hash": mails[0].link_token()});
    let (status, _, session) = app.send(post("/verify", verify)).await;
    assert_eq!(status, StatusCode::OK, "the owner is signed in by their link");
    assert!(session["access_token"].is_string());
    assert_eq!(app.sign_in("vic@example.com", "attacker password").await.0, StatusCode::BAD_REQUEST);

    // The attacker signs up first and the owner second: the owner's click is just as safe.
    app.sign_up("val@example.com", "attacker password").await;
    app.sign_up("val@example.com", "owner password").await;
    let mail = app.mails().await.remove(0);
    let verify = json!({"type": "signup", "token_hash": mail.link_token()});
    assert_eq!(app.send(post("/verify", verify)).await.0, StatusCode::OK);
    assert_eq!(app.sign_in("val@example.com", "attacker password").await.0, StatusCode::BAD_REQUEST);

    // The same password again only asks for the mail once more; it stays the account's.
    let app = TestApp::with(quick(), unthrottled(confirming())).await;
    app.sign_up("ida@example.com", "her password").await;
    app.sign_up("ida@example.com", "her password").await;
    let confirmation = app.mails().await.pop().unwrap();
    let verify = json!({"type": "signup", "token_hash": confirmation.link_token()});
    assert_eq!(app.send(post("/verify", verify)).await.0, StatusCode::OK);
    assert_eq!(app.sign_in("ida@example.com", "her password").await.0, StatusCode::OK);
}

#[actix_web::test]
async fn a_secret_sent_to_a_former_address_is_void() {
    let settings = AuthSettings { autoconfirm: true, ..AuthSettings::default() };
    let app = TestApp::with(quick(), unthrottled(settings)).await;
    let (_, _, session) = app.sign_up("oz@example.com", "correct horse").await;
    let id = session["user"]["id"].as_str().unwrap().to_owned();
    app.send(post("/recover", json!({"email": "oz@example.com"}))).await;
    let recovery = app.mails().await.remove(0);
    let change =
        TestRequest::put().uri(&format!("/auth/v1/admin/users/{id}")).set_json(json!({"email": "oz2@example.com"}));
    assert_eq!(app.send(with_token(change, &service_key())).await.0, StatusCode::OK);
    let verify = json!({"type": "recovery", "token_hash": recovery.link_token()});
    assert_eq!(app.send(post("/verify", verify)).await.0, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn the_form_is_refused_from_another_site() {
    let app = TestApp::with(quick(), unthrottled(confirming())).await;
    app.sign_up("pat@example.com", "correct horse").await;
    let mail = app.mails().await.remove(0);
    let form = format!("token={}&type=signup", mail.link_token());
    let posted = |origin: &str| {
        TestRequest::post()
            .uri("/auth/v1/verify")
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .insert_header(("origin", origin.to_owned()))
            .set_payload(form.clone())
    };
    let (status, _, body) = app.send(posted("https://attacker.example")).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_failed")));
    let response = app.call(posted("http://127.0.0.1:9999")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "the link page's own origin");
}

#[actix_web::test]
async fn a_recovery_session_skips_the_current_password_only_for_a_while() {
    let mut settings = AuthSettings { autoconfirm: true, ..AuthSettings::default() };
    settings.email.link_ttl = Duration::minutes(20);
    let app = TestApp::with(quick(), unthrottled(settings)).await;
    app.sign_up("quinn@example.com", "correct horse").await;
    app.send(post("/recover", json!({"email": "quinn@example.com"}))).await;
    let mail = app.mails().await.remove(0);
    let (_, _, session) = app.send(post("/verify", json!({"type": "recovery", "token_hash": mail.link_token()}))).await;
    let token = session["access_token"].as_str().unwrap();
    app.clock.advance(Duration::minutes(21));
    let change = TestRequest::put().uri("/auth/v1/user").set_json(json!({"password": "too late for this"}));
    let (status, _, body) = app.send(with_token(change, token)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("current_password_required")));
}

// RFC 7636, appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The link form of `mail`, landing at `redirect_to`.
fn link_form(mail: &SentMail, kind: &str, redirect_to: &str) -> String {
    format!(
        "token={}&type={kind}&redirect_to={}",
        mail.link_token(),
        auth_core::domain::encode_query_value(redirect_to)
    )
}

/// The `code` query value of a PKCE landing URL.
fn auth_code_of(location: &str) -> String {
    let query = location.split_once('?').unwrap_or_else(|| panic!("no query in {location}")).1;
    let query = query.split('#').next().unwrap();
    query.split('&').find_map(|p| p.strip_prefix("code=")).unwrap_or_else(|| panic!("no code in {location}")).to_owned()
}

#[actix_web::test]
async fn a_pkce_link_lands_with_a_code_that_only_the_verifier_exchanges_once() {
    let settings = AuthSettings { autoconfirm: true, ..AuthSettings::default() };
    let app = TestApp::with(quick(), unthrottled(settings)).await;
    app.sign_up("pia@example.com", "correct horse").await;
    let ask = json!({"email": "pia@example.com", "code_challenge": CHALLENGE, "code_challenge_method": "s256"});
    let (status, _, body) = app.send(post("/magiclink?redirect_to=http://localhost:3000/cb", ask)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let mail = app.mails().await.remove(0);
    assert!(mail.link_token().starts_with("pkce_"), "{}", mail.link);

    let location = submit_link_form(&app, &link_form(&mail, "magiclink", "http://localhost:3000/cb")).await;
    assert!(location.starts_with("http://localhost:3000/cb?code="), "{location}");
    assert!(!location.contains("access_token") && !location.contains('#'), "no session in the URL: {location}");
    let code = auth_code_of(&location);

    let exchange = |verifier: &str| json!({"auth_code": code, "code_verifier": verifier});
    let (status, _, body) = app.send(post("/token?grant_type=pkce", exchange(&VERIFIER.replace('d', "e")))).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_code_verifier")));
    let (status, _, session) = app.send(post("/token?grant_type=pkce", exchange(VERIFIER))).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["user"]["email"], "pia@example.com");
    assert!(session["access_token"].is_string() && session["refresh_token"].is_string());
    let (status, _, body) = app.send(post("/token?grant_type=pkce", exchange(VERIFIER))).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::NOT_FOUND, Some("flow_state_not_found")));
    let (status, _, body) = app.send(post("/token?grant_type=pkce", json!({"auth_code": code}))).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_failed")));
}

#[actix_web::test]
async fn pkce_errors_reach_the_query_codes_expire_and_plain_is_refused() {
    let app = TestApp::with(quick(), unthrottled(confirming())).await;
    let signup = json!({
        "email": "quin@example.com", "password": "correct horse",
        "code_challenge": CHALLENGE, "code_challenge_method": "S256",
    });
    assert_eq!(app.send(post("/signup", signup)).await.0, StatusCode::OK);
    let mail = app.mails().await.remove(0);
    let form = link_form(&mail, "signup", "http://localhost:3000/cb");
    let code = auth_code_of(&submit_link_form(&app, &form).await);

    let again = submit_link_form(&app, &form).await;
    assert!(again.starts_with("http://localhost:3000/cb?error=access_denied&error_code=otp_expired"), "{again}");
    assert!(again.contains("#error=access_denied"), "implicit readers find it too: {again}");

    app.clock.advance(Duration::minutes(6));
    let late = json!({"auth_code": code, "code_verifier": VERIFIER});
    let (status, _, body) = app.send(post("/token?grant_type=pkce", late)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("flow_state_expired")));

    let plain = json!({"email": "quin@example.com", "code_challenge": VERIFIER, "code_challenge_method": "plain"});
    let (status, _, body) = app.send(post("/recover", plain)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_failed")));
    let half = json!({"email": "quin@example.com", "code_challenge": CHALLENGE, "code_challenge_method": null});
    assert_eq!(app.send(post("/recover", half)).await.0, StatusCode::BAD_REQUEST);
    let implicit = json!({"email": "quin@example.com", "code_challenge": null, "code_challenge_method": null});
    assert_eq!(app.send(post("/recover", implicit)).await.0, StatusCode::OK);
    assert!(!app.mails().await.remove(0).link_token().starts_with("pkce_"));
}

#[actix_web::test]
async fn a_pkce_flow_verified_by_code_answers_the_session_directly() {
    let settings = AuthSettings { autoconfirm: true, ..AuthSettings::default() };
    let app = TestApp::with(quick(), unthrottled(settings)).await;
    app.sign_up("rae@example.com", "correct horse").await;
    let ask = json!({"email": "rae@example.com", "code_challenge": CHALLENGE, "code_challenge_method": "s256"});
    app.send(post("/recover", ask)).await;
    let mail = app.mails().await.remove(0);
    let by_code = json!({"type": "recovery", "email": "rae@example.com", "token": mail.code});
    let (status, _, session) = app.send(post("/verify", by_code)).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["user"]["email"], "rae@example.com");
}

/// Whoever only read a PKCE link (a mail scanner's log, a forwarded mail) cannot post it as
/// JSON for a session: that needs the verifier, as the browser's auth code does.
#[actix_web::test]
async fn a_pkce_link_posted_as_json_needs_the_verifier() {
    let settings = AuthSettings { autoconfirm: true, ..AuthSettings::default() };
    let app = TestApp::with(quick(), unthrottled(settings)).await;
    app.sign_up("ria@example.com", "correct horse").await;
    let ask = json!({"email": "ria@example.com", "code_challenge": CHALLENGE, "code_challenge_method": "s256"});
    app.send(post("/magiclink", ask)).await;
    let token = app.mails().await.remove(0).link_token();
    assert!(token.starts_with("pkce_"));

    let bare = json!({"type": "magiclink", "token_hash": token});
    let (status, _, body) = app.send(post("/verify", bare)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_failed")), "{body}");
    let as_token = json!({"type": "magiclink", "token": token});
    assert_eq!(app.send(post("/verify", as_token)).await.0, StatusCode::BAD_REQUEST);
    let wrong = json!({"type": "magiclink", "token_hash": token, "code_verifier": VERIFIER.replace('d', "e")});
    let (status, _, body) = app.send(post("/verify", wrong)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_code_verifier")));

    // Refusals used nothing up: the client holding the verifier still signs in.
    let right = json!({"type": "magiclink", "token_hash": token, "code_verifier": VERIFIER});
    let (status, _, session) = app.send(post("/verify", right)).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["user"]["email"], "ria@example.com");
}

#[actix_web::test]
async fn a_pkce_email_change_lands_with_a_code_after_both_confirmations() {
    let settings = AuthSettings { autoconfirm: true, ..AuthSettings::default() };
    let app = TestApp::with(quick(), unthrottled(settings)).await;
    let (_, _, session) = app.sign_up("sam@example.com", "correct horse").await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let change = json!({"email": "sam.new@example.com", "code_challenge": CHALLENGE, "code_challenge_method": "s256"});
    let request = with_token(TestRequest::put().uri("/auth/v1/user?redirect_to=http://localhost:3000/cb"), &token);
    assert_eq!(app.send(request.set_json(change)).await.0, StatusCode::OK);
    let mut mails = app.mails().await;
    mails.sort_by(|a, b| a.kind.cmp(&b.kind));

    let first = submit_link_form(&app, &link_form(&mails[0], "email_change", "http://localhost:3000/cb")).await;
    assert!(first.starts_with("http://localhost:3000/cb?message=Confirmation"), "{first}");
    let second = submit_link_form(&app, &link_form(&mails[1], "email_change", "http://localhost:3000/cb")).await;
    let exchange = json!({"auth_code": auth_code_of(&second), "code_verifier": VERIFIER});
    let (status, _, session) = app.send(post("/token?grant_type=pkce", exchange)).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["user"]["email"], "sam.new@example.com");
}

#[actix_web::test]
async fn resend_email_change_replaces_the_pending_halves() {
    let settings = AuthSettings { autoconfirm: true, ..AuthSettings::default() };
    let app = TestApp::with(quick(), unthrottled(settings)).await;
    let (_, _, session) = app.sign_up("tia@example.com", "correct horse").await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let request = with_token(TestRequest::put().uri("/auth/v1/user"), &token);
    assert_eq!(app.send(request.set_json(json!({"email": "tia.new@example.com"}))).await.0, StatusCode::OK);
    let mut first = app.mails().await;
    first.sort_by(|a, b| a.kind.cmp(&b.kind));

    let resend = json!({"type": "email_change", "email": "tia@example.com"});
    let (status, _, body) = app.send(post("/resend", resend)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let mut second = app.mails().await;
    second.sort_by(|a, b| a.kind.cmp(&b.kind));
    assert_eq!(
        second.iter().map(|m| (m.kind.as_str(), m.to.as_str())).collect::<Vec<_>>(),
        [("email_change_current", "tia@example.com"), ("email_change_new", "tia.new@example.com")]
    );
    let stale = json!({"type": "email_change", "token_hash": first[0].link_token()});
    assert_eq!(app.send(post("/verify", stale)).await.0, StatusCode::FORBIDDEN, "replaced by the resend");
    for mail in &second {
        let (status, _, _) =
            app.send(post("/verify", json!({"type": "email_change", "token_hash": mail.link_token()}))).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, _, user) = app.send(with_token(TestRequest::get().uri("/auth/v1/user"), &token)).await;
    assert_eq!(user["email"], "tia.new@example.com");

    let nothing = json!({"type": "email_change", "email": "nobody@example.com"});
    let (status, _, body) = app.send(post("/resend", nothing)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})), "answers alike with no change pending");
    assert!(app.mails().await.is_empty());
}

#[actix_web::test]
async fn mail_requests_take_at_least_the_floor_for_known_and_unknown_addresses() {
    let floor = std::time::Duration::from_millis(80);
    let settings = HttpSettings { mail_answer_floor: floor, ..quick() };
    let app = TestApp::with(settings, AuthSettings { autoconfirm: true, ..AuthSettings::default() }).await;
    app.sign_up("uma@example.com", "correct horse").await;
    for (path, email) in
        [("/recover", "uma@example.com"), ("/recover", "nobody@example.com"), ("/otp", "uma@example.com")]
    {
        let started = std::time::Instant::now();
        let (status, _, body) = app.send(post(path, json!({"email": email}))).await;
        assert_eq!((status, body), (StatusCode::OK, json!({})));
        assert!(started.elapsed() >= floor, "{path} for {email} answered before the floor");
    }
    assert_eq!(app.mails().await.len(), 2, "the known address got its mails");
}

#[actix_web::test]
async fn signups_and_email_changes_take_at_least_the_floor() {
    let floor = std::time::Duration::from_millis(80);
    let settings = HttpSettings { mail_answer_floor: floor, ..quick() };
    let app = TestApp::with(settings, confirming()).await;
    app.sign_up("una@example.com", "correct horse").await;
    let mail = app.mails().await.remove(0);
    let verify = json!({"type": "signup", "email": "una@example.com", "token": mail.code});
    assert_eq!(app.send(post("/verify", verify)).await.0, StatusCode::OK);
    for email in ["una@example.com", "new@example.com", "new@example.com"] {
        let started = std::time::Instant::now();
        let (status, _, _) = app.sign_up(email, "correct horse").await;
        assert_eq!(status, StatusCode::OK);
        assert!(started.elapsed() >= floor, "/signup for {email} answered before the floor");
    }
    let mail = app.mails().await.remove(0);
    let verify = json!({"type": "signup", "email": "new@example.com", "token": mail.code});
    let (_, _, session) = app.send(post("/verify", verify)).await;
    let token = session["access_token"].as_str().unwrap();
    for email in ["una@example.com", "free@example.com"] {
        let started = std::time::Instant::now();
        let change = TestRequest::put().uri("/auth/v1/user").set_json(json!({"email": email}));
        assert_eq!(app.send(with_token(change, token)).await.0, StatusCode::OK);
        assert!(started.elapsed() >= floor, "PUT /user to {email} answered before the floor");
    }
}

#[actix_web::test]
async fn halves_of_different_email_changes_cannot_finish_either() {
    use auth_core::domain::{Email, OneTimeKind, link_digest};
    use auth_core::ports::EmailFlowStore;
    let settings = AuthSettings { autoconfirm: true, ..AuthSettings::default() };
    let app = TestApp::with(quick(), unthrottled(settings)).await;
    let (_, _, session) = app.sign_up("vic@example.com", "correct horse").await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let change =
        with_token(TestRequest::put().uri("/auth/v1/user"), &token).set_json(json!({"email": "y@example.com"}));
    assert_eq!(app.send(change).await.0, StatusCode::OK);
    let to_y = app.mails().await;
    let confirm_y = to_y.iter().find(|m| m.kind == "email_change_new").unwrap();

    // Overlapping requests can leave the current address's half naming another address.
    let user_id: auth_core::domain::UserId = session["user"]["id"].as_str().unwrap().parse().unwrap();
    let mut approve_x = app.store.find_token(user_id, OneTimeKind::EmailChangeCurrent).await.unwrap().unwrap();
    approve_x.relates_to = Some(Email::parse("x@example.com").unwrap());
    approve_x.link_digest = link_digest("approve-x");
    app.store.issue_tokens(user_id, &[(approve_x, None)], &[], None).await.unwrap();

    let by_new = json!({"type": "email_change", "token_hash": confirm_y.link_token()});
    let (status, _, body) = app.send(post("/verify", by_new)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::FORBIDDEN, Some("otp_expired")));
    let by_current = json!({"type": "email_change", "token_hash": "approve-x"});
    let (status, _, body) = app.send(post("/verify", by_current)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::FORBIDDEN, Some("otp_expired")));
    let (_, _, user) = app.send(with_token(TestRequest::get().uri("/auth/v1/user"), &token)).await;
    assert_eq!(user["email"], "vic@example.com", "neither half changed the address");
}

/// Without mail templates, every request that would mail is refused with one clear error,
/// alike for known and unknown addresses; sign-up with autoconfirm still works.
#[actix_web::test]
async fn without_mail_templates_mailing_requests_are_refused_clearly() {
    let app = TestApp::builder().without_mail().start().await;
    assert_eq!(app.sign_up("ada@example.com", "correct horse").await.0, StatusCode::OK);
    for email in ["ada@example.com", "nobody@example.com"] {
        for (path, body) in [
            ("/recover", json!({"email": email})),
            ("/magiclink", json!({"email": email})),
            ("/otp", json!({"email": email})),
        ] {
            let (status, _, answer) = app.send(post(path, body)).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path} {email}: {answer}");
            assert_eq!(answer["error_code"], "email_provider_disabled", "{path} {email}: {answer}");
        }
    }
    let confirming = TestApp::builder().auth(AuthSettings::default()).without_mail().start().await;
    let (status, _, answer) = confirming.sign_up("eve@example.com", "correct horse").await;
    assert_eq!((status, &answer["error_code"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("email_provider_disabled")));
}
