//! Supabase Auth's user object and user management (issue 21, items 2, 4 and 10): the fields it
//! sends, `/admin/generate_link` for every type, anonymous users that stop being anonymous,
//! admin creation with `id`, `password_hash` and `phone_confirm`, and soft deletion.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use auth_core::service::AuthSettings;
use auth_http::HttpSettings;
use chrono::Duration;
use serde_json::{Value, json};

use crate::harness::{TestApp, api_key, post, with_token};

fn quick() -> HttpSettings {
    HttpSettings { mail_answer_floor: std::time::Duration::ZERO, ..HttpSettings::default() }
}

/// Mail confirmed, no interval between mails to one address.
fn confirming() -> AuthSettings {
    let mut settings = AuthSettings::default();
    settings.email.send_interval = Duration::zero();
    settings
}

fn get(path: &str) -> TestRequest {
    TestRequest::get().uri(&format!("/auth/v1{path}"))
}

fn put(path: &str, body: Value) -> TestRequest {
    TestRequest::put().uri(&format!("/auth/v1{path}")).set_json(body)
}

fn admin(request: TestRequest) -> TestRequest {
    with_token(request, &api_key("service_role"))
}

#[actix_web::test]
async fn the_user_object_carries_supabase_auths_fields() {
    let app = TestApp::with(quick(), confirming()).await;
    let body =
        json!({"email": "ann@example.com", "password": "correct horse", "data": {"full_name": "Ann", "sub": "x"}});
    let (status, _, user) = app.send(post("/signup", body)).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    let id = user["id"].as_str().unwrap().to_owned();
    // Seeded as Supabase Auth seeds it: the identity's fields over the data given.
    let seeded = json!({"full_name": "Ann", "sub": id, "email": "ann@example.com",
                        "email_verified": false, "phone_verified": false});
    assert_eq!(user["user_metadata"], seeded);
    assert!(user["confirmation_sent_at"].is_string());
    let identity = &user["identities"][0];
    assert_eq!((identity["identity_id"].as_str(), identity["id"].as_str()), (Some(id.as_str()), Some(id.as_str())));
    assert_eq!(
        identity["identity_data"],
        json!({"sub": id, "email": "ann@example.com", "email_verified": false, "phone_verified": false})
    );
    assert!(identity.get("last_sign_in_at").is_none(), "left out when null, as Supabase Auth does");

    let mail = app.mails().await.remove(0);
    let (status, _, session) =
        app.send(post("/verify", json!({"type": "signup", "email": "ann@example.com", "token": mail.code}))).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["user"]["user_metadata"]["email_verified"], true, "confirming verifies it");
    assert_eq!(session["user"]["identities"][0]["identity_data"]["email_verified"], true);
    let token = session["access_token"].as_str().unwrap().to_owned();

    // Each mail leaves its time on the user, and a pending change its address.
    app.send(post("/recover", json!({"email": "ann@example.com"}))).await;
    app.send(with_token(get("/reauthenticate"), &token)).await;
    let (status, _, changed) = app.send(with_token(put("/user", json!({"email": "ann@new.example"})), &token)).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["new_email"], "ann@new.example");
    assert_eq!(changed["email"], "ann@example.com", "not changed until confirmed");
    for field in ["recovery_sent_at", "reauthentication_sent_at", "email_change_sent_at", "confirmation_sent_at"] {
        assert!(changed[field].is_string(), "{field}: {changed}");
    }
    let (_, _, seen) = app.send(admin(get(&format!("/admin/users/{id}")))).await;
    assert_eq!(seen["new_email"], "ann@new.example");

    // Confirming the change ends it: `new_email` is gone.
    app.mails().await;
    app.send(with_token(put("/user", json!({"email": "ann@new.example"})), &token)).await;
    for mail in app.mails().await {
        let verify = json!({"type": "email_change", "token_hash": mail.link_token()});
        assert_eq!(app.send(post("/verify", verify)).await.0, StatusCode::OK);
    }
    let (_, _, done) = app.send(admin(get(&format!("/admin/users/{id}")))).await;
    assert_eq!(done["email"], "ann@new.example");
    assert!(done.get("new_email").is_none(), "{done}");

    // An invitation and a ban show on the user.
    let (_, _, invited) = app.send(admin(post("/invite", json!({"email": "bo@example.com"})))).await;
    assert!(invited["invited_at"].is_string() && invited["confirmation_sent_at"].is_string(), "{invited}");
    let path = format!("/admin/users/{}", invited["id"].as_str().unwrap());
    let (_, _, banned) = app.send(admin(put(&path, json!({"ban_duration": "24h"})))).await;
    assert!(banned["banned_until"].is_string() && banned["invited_at"].is_string(), "{banned}");
    assert!(banned.get("deleted_at").is_none() && banned.get("is_sso_user").is_none());
}

/// Each type answers the user's fields with `action_link`, `email_otp`, `hashed_token`,
/// `redirect_to` and `verification_type`, as Supabase Auth does; the email-change halves work.
#[actix_web::test]
async fn generate_link_makes_every_type() {
    let app = TestApp::with(quick(), confirming()).await;
    let generate = |body: Value| admin(post("/admin/generate_link?redirect_to=http://localhost:3000/cb", body));
    let cases = [
        (json!({"type": "signup", "email": "cy@example.com", "password": "correct horse"}), "signup", "signup"),
        (json!({"type": "invite", "email": "di@example.com"}), "invite", "invite"),
        (json!({"type": "magiclink", "email": "cy@example.com"}), "magiclink", "magiclink"),
        (json!({"type": "recovery", "email": "cy@example.com"}), "recovery", "recovery"),
        (
            json!({"type": "email_change_current", "email": "cy@example.com", "new_email": "cy@new.example"}),
            "email_change_current",
            "email_change",
        ),
        (
            json!({"type": "email_change_new", "email": "cy@example.com", "new_email": "cy@new.example"}),
            "email_change_new",
            "email_change",
        ),
    ];
    let mut halves = Vec::new();
    for (body, verification_type, link_type) in cases {
        let (status, _, link) = app.send(generate(body.clone())).await;
        assert_eq!(status, StatusCode::OK, "{body}: {link}");
        assert_eq!(link["verification_type"], verification_type);
        assert_eq!(link["redirect_to"], "http://localhost:3000/cb");
        assert_eq!(link["email_otp"].as_str().unwrap().len(), 6);
        let action = link["action_link"].as_str().unwrap();
        assert!(action.contains(&format!("token={}", link["hashed_token"].as_str().unwrap())), "{action}");
        assert!(action.contains(&format!("type={link_type}")), "{action}");
        assert!(link["id"].is_string() && link["aud"].is_string(), "the user's fields at the top: {link}");
        if link_type == "email_change" {
            assert_eq!(link["new_email"], "cy@new.example");
            assert!(link["email_change_sent_at"].is_string());
            halves.push(link["hashed_token"].as_str().unwrap().to_owned());
        }
    }
    assert!(app.mails().await.is_empty(), "nothing is mailed");
    // Both halves were generated for one address: the change waits for both.
    let verify = |hash: &str| post("/verify", json!({"type": "email_change", "token_hash": hash}));
    let (status, _, first) = app.send(verify(&halves[0])).await;
    assert_eq!((status, first["msg"].is_string()), (StatusCode::OK, true), "{first}");
    let (status, _, session) = app.send(verify(&halves[1])).await;
    assert_eq!((status, session["user"]["email"].as_str()), (StatusCode::OK, Some("cy@new.example")));

    for (body, status, code) in [
        (
            json!({"type": "email_change_new", "email": "nobody@example.com", "new_email": "x@example.com"}),
            404,
            "user_not_found",
        ),
        (
            json!({"type": "email_change_new", "email": "cy@new.example", "new_email": "di@example.com"}),
            422,
            "email_exists",
        ),
        (json!({"type": "email_change_new", "email": "cy@new.example", "new_email": "nope"}), 400, "validation_failed"),
    ] {
        let (got, _, answer) = app.send(generate(body.clone())).await;
        assert_eq!((got.as_u16(), answer["error_code"].as_str()), (status, Some(code)), "{body}");
    }

    let mut insecure = confirming();
    insecure.email.secure_email_change = false;
    let app = TestApp::with(quick(), insecure).await;
    app.send(admin(post("/admin/users", json!({"email": "ed@example.com", "email_confirm": true})))).await;
    let body = json!({"type": "email_change_current", "email": "ed@example.com", "new_email": "ed@new.example"});
    let (status, _, answer) = app.send(generate(body)).await;
    assert_eq!((status, answer["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_failed")));
    assert_eq!(answer["msg"], "Enable secure email change to generate link for current email");
}

#[actix_web::test]
async fn anonymous_users_who_get_a_way_to_sign_in_are_anonymous_no_longer() {
    let anonymous = AuthSettings { anonymous_enabled: true, ..confirming() };
    let app = TestApp::with(quick(), anonymous.clone()).await;
    let start = async || {
        let (_, _, session) = app.send(post("/signup", json!({}))).await;
        assert_eq!(session["user"]["is_anonymous"], true);
        session["access_token"].as_str().unwrap().to_owned()
    };
    // A username and a password.
    let token = start().await;
    let (_, _, user) = app.send(with_token(put("/user", json!({"username": "guest_1"})), &token)).await;
    assert_eq!(user["is_anonymous"], true, "a username alone signs nobody in");
    let (_, _, user) = app.send(with_token(put("/user", json!({"password": "correct horse"})), &token)).await;
    assert_eq!(user["is_anonymous"], false, "{user}");
    // An email address, once confirmed.
    let token = start().await;
    let (_, _, user) = app.send(with_token(put("/user", json!({"email": "fi@example.com"})), &token)).await;
    assert_eq!((user["is_anonymous"].as_bool(), user["new_email"].as_str()), (Some(true), Some("fi@example.com")));
    let mail = app.mails().await.remove(0);
    let (status, _, session) =
        app.send(post("/verify", json!({"type": "email_change", "token_hash": mail.link_token()}))).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(
        (session["user"]["is_anonymous"].as_bool(), session["user"]["email"].as_str()),
        (Some(false), Some("fi@example.com"))
    );

    // With autoconfirm the address applies at once, as a sign-up would.
    let app = TestApp::with(quick(), AuthSettings { autoconfirm: true, ..anonymous }).await;
    let (_, _, session) = app.send(post("/signup", json!({}))).await;
    let token = session["access_token"].as_str().unwrap();
    let (_, _, user) = app.send(with_token(put("/user", json!({"email": "gu@example.com"})), token)).await;
    assert_eq!((user["is_anonymous"].as_bool(), user["email"].as_str()), (Some(false), Some("gu@example.com")));
    assert!(user["email_confirmed_at"].is_string());
}

#[actix_web::test]
async fn admin_creation_takes_an_id_a_password_hash_and_phone_confirm() {
    let app = TestApp::with(quick(), confirming()).await;
    let id = "6b1c3d2e-0000-4000-8000-00000000abcd";
    let body = json!({"id": id, "email": "ha@example.com", "email_confirm": true,
                      "password_hash": "fake$$imported secret", "phone": "15550001234", "phone_confirm": true});
    let (status, _, user) = app.send(admin(post("/admin/users", body))).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["id"], id);
    assert!(user["phone_confirmed_at"].is_string(), "{user}");
    let (status, _, session) = app.sign_in("ha@example.com", "imported secret").await;
    assert_eq!((status, session["user"]["id"].as_str()), (StatusCode::OK, Some(id)), "the hash is the password's");

    for (body, status, code) in [
        (json!({"id": id, "email": "other@example.com"}), 422, "user_already_exists"),
        (json!({"id": "00000000-0000-0000-0000-000000000000", "email": "n@example.com"}), 400, "validation_failed"),
        (json!({"id": "not-a-uuid", "email": "n@example.com"}), 400, "validation_failed"),
        (
            json!({"email": "n@example.com", "password": "correct horse", "password_hash": "fake$$x"}),
            400,
            "validation_failed",
        ),
        (
            json!({"email": "n@example.com", "password_hash": "$2b$31$notahashthehasheraccepts"}),
            400,
            "validation_failed",
        ),
    ] {
        let (got, _, answer) = app.send(admin(post("/admin/users", body.clone()))).await;
        assert_eq!((got.as_u16(), answer["error_code"].as_str()), (status, Some(code)), "{body}: {answer}");
    }
}

#[actix_web::test]
async fn soft_deletion_keeps_an_emptied_row() {
    let settings = AuthSettings { autoconfirm: true, ..confirming() };
    let app = TestApp::with(quick(), settings).await;
    let (_, _, session) = app.sign_up("ivo@example.com", "correct horse").await;
    let path = format!("/admin/users/{}", session["user"]["id"].as_str().unwrap());
    let soft = TestRequest::delete().uri(&format!("/auth/v1{path}")).set_json(json!({"should_soft_delete": true}));
    let (status, _, body) = app.send(admin(soft)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));

    let (status, _, user) = app.send(admin(get(&path))).await;
    assert_eq!(status, StatusCode::OK, "the row stays");
    assert!(user["deleted_at"].is_string(), "{user}");
    assert_eq!((user["email"].as_str(), user["identities"].as_array().map(Vec::len)), (Some(""), Some(0)));
    assert_eq!(user["user_metadata"], json!({}));
    let (status, _, _) = app.send(with_token(get("/user"), session["access_token"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "its sessions are gone");
    assert_eq!(app.sign_in("ivo@example.com", "correct horse").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(app.sign_up("ivo@example.com", "another horse").await.0, StatusCode::OK, "the address is free");
    // Sent without a JSON content type (plain `curl -d`), the body still counts.
    let again = TestRequest::delete().uri(&format!("/auth/v1{path}")).set_payload(r#"{"should_soft_delete": true}"#);
    assert_eq!(app.send(admin(again)).await.0, StatusCode::NOT_FOUND, "deleted already");
    let hard = TestRequest::delete().uri(&format!("/auth/v1{path}"));
    assert_eq!(app.send(admin(hard)).await.0, StatusCode::OK);
    assert_eq!(app.send(admin(get(&path))).await.0, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn the_admin_filter_reads_full_name_too() {
    let app = TestApp::with(quick(), confirming()).await;
    for (email, name) in [("jo@example.com", "Joan Clarke"), ("al@example.com", "Alan Turing")] {
        let body = json!({"email": email, "user_metadata": {"full_name": name}});
        assert_eq!(app.send(admin(post("/admin/users", body))).await.0, StatusCode::OK);
    }
    let (_, headers, body) = app.send(admin(get("/admin/users?filter=clarke"))).await;
    assert_eq!(headers.get("x-total-count").unwrap(), "1");
    assert_eq!(body["users"][0]["email"], "jo@example.com");
}

#[actix_web::test]
async fn an_operator_confirming_an_anonymous_users_address_makes_it_permanent() {
    let app = TestApp::with(quick(), AuthSettings { anonymous_enabled: true, ..confirming() }).await;
    let (_, _, session) = app.send(post("/signup", json!({}))).await;
    let path = format!("/admin/users/{}", session["user"]["id"].as_str().unwrap());
    let (_, _, user) = app.send(admin(put(&path, json!({"email": "op@example.com"})))).await;
    assert_eq!(user["is_anonymous"], true, "not confirmed yet");
    let (_, _, user) = app.send(admin(put(&path, json!({"email_confirm": true})))).await;
    assert_eq!(user["is_anonymous"], false, "{user}");
}
