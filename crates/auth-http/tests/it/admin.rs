use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use auth_http::HttpSettings;
use serde_json::{Value, json};

use crate::harness::{TestApp, api_key, post, with_token};

fn admin(request: TestRequest) -> TestRequest {
    with_token(request, &api_key("service_role"))
}

fn get(path: &str) -> TestRequest {
    TestRequest::get().uri(&format!("/auth/v1{path}"))
}

fn put(path: &str, body: Value) -> TestRequest {
    TestRequest::put().uri(&format!("/auth/v1{path}")).set_json(body)
}

fn delete(path: &str) -> TestRequest {
    TestRequest::delete().uri(&format!("/auth/v1{path}"))
}

#[actix_web::test]
async fn only_the_service_role_gets_in() {
    let app = TestApp::new(HttpSettings::default()).await;
    let (status, _, body) = app.send(get("/admin/users")).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::UNAUTHORIZED, Some("no_authorization")));
    let (status, _, body) = app.send(with_token(get("/admin/users"), "garbage")).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::FORBIDDEN, Some("bad_jwt")));
    let (status, _, body) = app.send(with_token(get("/admin/users"), &api_key("anon"))).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::FORBIDDEN, Some("not_admin")));

    let (_, _, session) = app.sign_up("u@example.com", "correct horse").await;
    let user_token = session["access_token"].as_str().unwrap();
    for request in [
        get("/admin/users"),
        post("/admin/users", json!({"email": "x@example.com"})),
        get("/admin/audit"),
        delete(&format!("/admin/users/{}", session["user"]["id"].as_str().unwrap())),
    ] {
        let (status, _, body) = app.send(with_token(request, user_token)).await;
        assert_eq!((status, body["error_code"].as_str()), (StatusCode::FORBIDDEN, Some("not_admin")), "{body}");
    }
    assert_eq!(app.send(with_token(get("/user"), user_token)).await.0, StatusCode::OK, "nothing was deleted");
}

#[actix_web::test]
async fn users_are_created_listed_in_pages_and_filtered() {
    let app = TestApp::new(HttpSettings::default()).await;
    for n in 1..=3 {
        let body = json!({"email": format!("user{n}@example.com"), "password": "correct horse", "email_confirm": true,
                          "user_metadata": {"n": n}, "app_metadata": {"plan": "pro"}, "role": "normal_user"});
        let (status, _, user) = app.send(admin(post("/admin/users", body))).await;
        assert_eq!(status, StatusCode::OK, "{user}");
        assert_eq!(user["role"], "normal_user");
        assert_eq!(user["app_metadata"], json!({"provider": "email", "providers": ["email"], "plan": "pro"}));
        assert!(user["email_confirmed_at"].is_string());
    }
    let (status, _, body) = app.send(admin(post("/admin/users", json!({"email": "USER1@example.com"})))).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("email_exists")));
    let (status, _, body) = app.send(admin(post("/admin/users", json!({"user_metadata": {}})))).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_failed")));
    let (status, _, body) =
        app.send(admin(post("/admin/users", json!({"email": "weak@example.com", "password": "x"})))).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("weak_password")));

    // auth-js sends empty paging parameters when it has none.
    let (status, headers, body) = app.send(admin(get("/admin/users?page=&per_page="))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["users"].as_array().unwrap().len(), 3);
    assert_eq!(body["aud"], "authenticated");
    assert_eq!(headers.get("x-total-count").unwrap(), "3");
    assert_eq!(body["users"][0]["email"], "user3@example.com", "newest first");

    let (_, headers, body) = app.send(admin(get("/admin/users?page=1&per_page=2"))).await;
    assert_eq!(body["users"].as_array().unwrap().len(), 2);
    assert_eq!(
        headers.get("link").unwrap(),
        "</auth/v1/admin/users?page=2&per_page=2>; rel=\"next\", </auth/v1/admin/users?page=2&per_page=2>; rel=\"last\""
    );
    let (_, headers, body) = app.send(admin(get("/admin/users?page=2&per_page=2&sort=created_at%20asc"))).await;
    assert_eq!(body["users"][0]["email"], "user3@example.com");
    // The links keep the order (and filter) asked for, so the next page continues this listing.
    assert_eq!(
        headers.get("link").unwrap(),
        "</auth/v1/admin/users?page=2&per_page=2&sort=created_at%20asc>; rel=\"last\""
    );
    let (_, headers, _) = app.send(admin(get("/admin/users?per_page=1&filter=user&sort=created_at%20desc"))).await;
    assert!(
        headers
            .get("link")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("</auth/v1/admin/users?page=2&per_page=1&filter=user&sort=created_at%20desc>; rel=\"next\""),
        "{headers:?}"
    );

    let (_, headers, body) = app.send(admin(get("/admin/users?filter=USER2"))).await;
    assert_eq!(body["users"].as_array().unwrap().len(), 1);
    assert_eq!(headers.get("x-total-count").unwrap(), "1");
    // Read as Supabase Auth reads them: page 0 is the first page, per_page 0 is 20, and
    // anything but a whole number is refused with its words.
    let (status, _, body) = app.send(admin(get("/admin/users?page=0&per_page=0"))).await;
    assert_eq!((status, body["users"].as_array().unwrap().len()), (StatusCode::OK, 3));
    for (bad, words) in [
        ("page=-1", "Bad Pagination Parameters"),
        ("per_page=abc", "Bad Pagination Parameters"),
        ("sort=email", "Bad Sort Parameters: bad field for sort 'email'"),
        ("sort=created_at%20up", "Bad Sort Parameters"),
    ] {
        let (status, _, body) = app.send(admin(get(&format!("/admin/users?{bad}")))).await;
        assert_eq!(
            (status, body["error_code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("validation_failed")),
            "{bad}"
        );
        assert!(body["msg"].as_str().unwrap().starts_with(words), "{bad}: {body}");
    }
    let (status, _, body) = app.send(admin(get("/admin/users?sort=created_at%20ASC"))).await;
    assert_eq!((status, body["users"][0]["email"].as_str()), (StatusCode::OK, Some("user1@example.com")));
}

#[actix_web::test]
async fn get_update_ban_and_delete_a_user() {
    let app = TestApp::new(HttpSettings::default()).await;
    let (_, _, session) = app.sign_up("eve@example.com", "correct horse").await;
    let id = session["user"]["id"].as_str().unwrap().to_owned();
    let token = session["access_token"].as_str().unwrap().to_owned();
    let path = format!("/admin/users/{id}");

    let (status, _, user) = app.send(admin(get(&path))).await;
    assert_eq!((status, user["email"].as_str()), (StatusCode::OK, Some("eve@example.com")));
    let (status, _, body) = app.send(admin(get("/admin/users/not-a-uuid"))).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_failed")));
    let unknown = "/admin/users/00000000-0000-4000-8000-000000000000";
    let (status, _, body) = app.send(admin(get(unknown))).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::NOT_FOUND, Some("user_not_found")));
    let (status, _, body) = app.send(admin(put(unknown, json!({"role": "x"})))).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::NOT_FOUND, Some("user_not_found")));

    // A ban ends the sessions at once (a token of the banned user answers Supabase Auth's 403
    // user_banned); the user cannot sign in until it is lifted.
    let (status, _, user) = app.send(admin(put(&path, json!({"ban_duration": "24h"})))).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert!(user["banned_until"].is_string());
    let (status, _, body) = app.send(with_token(get("/user"), &token)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::FORBIDDEN, Some("user_banned")));
    let (status, _, body) = app.sign_in("eve@example.com", "correct horse").await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("user_banned")));
    let (status, _, body) = app.send(admin(put(&path, json!({"ban_duration": "forever"})))).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_failed")));
    let (_, _, user) = app.send(admin(put(&path, json!({"ban_duration": "none"})))).await;
    assert!(user.get("banned_until").is_none());
    let (status, _, fresh) = app.sign_in("eve@example.com", "correct horse").await;
    assert_eq!(status, StatusCode::OK);

    // A new password ends every session too.
    let (status, _, _) =
        app.send(admin(put(&path, json!({"password": "a brand new one", "user_metadata": {"k": 1}})))).await;
    assert_eq!(status, StatusCode::OK);
    let refresh = json!({"refresh_token": fresh["refresh_token"]});
    assert_eq!(app.send(post("/token?grant_type=refresh_token", refresh)).await.0, StatusCode::BAD_REQUEST);
    let (status, _, fresh) = app.sign_in("eve@example.com", "a brand new one").await;
    assert_eq!((status, fresh["user"]["user_metadata"]["k"].as_i64()), (StatusCode::OK, Some(1)));

    // Ending sessions by hand, then deleting.
    let logout = TestRequest::post().uri(&format!("/auth/v1{path}/logout"));
    assert_eq!(app.send(admin(logout)).await.0, StatusCode::NO_CONTENT);
    let (status, _, _) = app.send(with_token(get("/user"), fresh["access_token"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let garbled = delete(&path).set_payload("{not json");
    let (status, _, body) = app.send(admin(garbled)).await;
    assert_eq!((status, body["error_code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_json")));
    assert_eq!(app.send(admin(get(&path))).await.0, StatusCode::OK, "still there");
    let (status, _, body) = app.send(admin(delete(&path).set_json(json!({"should_soft_delete": false})))).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    assert_eq!(app.send(admin(get(&path))).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.send(admin(delete(&path))).await.0, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn the_audit_log_records_who_did_what_without_secrets() {
    let app = TestApp::new(HttpSettings::default()).await;
    let (_, _, session) = app.sign_up("kim@example.com", "correct horse").await;
    let id = session["user"]["id"].as_str().unwrap().to_owned();
    app.sign_in("kim@example.com", "wrong password").await;
    app.sign_in("nobody@example.com", "wrong password").await;
    let refresh = json!({"refresh_token": session["refresh_token"]});
    app.send(post("/token?grant_type=refresh_token", refresh)).await;
    app.send(admin(put(&format!("/admin/users/{id}"), json!({"ban_duration": "1h"})))).await;

    let (status, headers, events) = app.send(admin(get("/admin/audit?page=&per_page="))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers.get("x-total-count").unwrap(), "5");
    let actions: Vec<&str> =
        events.as_array().unwrap().iter().map(|e| e["payload"]["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["user_banned_by_admin", "token_refreshed", "login_failed", "login_failed", "user_signedup"]);
    let text = events.to_string();
    for secret in ["correct horse", "wrong password", session["refresh_token"].as_str().unwrap()] {
        assert!(!text.contains(secret), "the audit log must not hold {secret:?}");
    }
    let unknown = &events[2]["payload"];
    assert_eq!((unknown["actor_type"].as_str(), unknown["target_id"].as_str()), (Some("anonymous"), None));
    let wrong = &events[3]["payload"];
    assert_eq!(
        (wrong["actor_id"].as_str(), wrong["traits"]["reason"].as_str()),
        (Some(id.as_str()), Some("invalid_credentials"))
    );
    assert_eq!(events[0]["payload"]["actor_type"], "admin");
    let (_, headers, page) = app.send(admin(get("/admin/audit?page=2&per_page=4"))).await;
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert!(headers.get("link").unwrap().to_str().unwrap().contains("rel=\"last\""));
}
