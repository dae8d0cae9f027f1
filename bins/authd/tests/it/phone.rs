//! Phone accounts end to end through the `authd` binary on SQLite and PostgreSQL, with text
//! messages delivered to the fake provider API on loopback ([`FakeSmsProvider`], Twilio's
//! shapes): sign-up and the code, password sign-in, `/otp`, phone change, resend, test numbers,
//! and a provider outage that delays the code and delivers it once.

use std::time::{Duration, Instant};

use auth_testkit::sms::FakeSmsProvider;
use serde_json::{Value, json};

use crate::email::{Backend, TestStore};
use crate::process::{Server, authd};

const PASSWORD: &str = "correct horse battery";

fn start(store: &TestStore, fake: &str) -> Server {
    let mut command = authd(store.dir.path());
    command
        .env("AUTHD_DATABASE__URL", &store.url)
        .env("AUTHD_SITE__URL", "http://app.example.test")
        .env("AUTHD_SMS__ENABLED", "true")
        .env("AUTHD_SMS__PROVIDER", "twilio")
        .env("AUTHD_SMS__API_BASE", fake)
        .env("AUTHD_SMS__TWILIO_ACCOUNT_SID", "AC1")
        .env("AUTHD_SMS__TWILIO_AUTH_TOKEN", "secret-token")
        .env("AUTHD_SMS__TWILIO_MESSAGE_SERVICE_SID", "\"+15550009999\"")
        .env("AUTHD_SMS__SEND_INTERVAL_SECS", "0")
        .env("AUTHD_SMS__TEST_OTP", "{15550000000=\"424242\"}")
        .env("AUTHD_RATE_LIMITS__EMAIL_PER_MINUTE", "0")
        .env("AUTHD_RATE_LIMITS__VERIFY_PER_MINUTE", "0");
    Server::start(command)
}

/// The `n`-th code (1-based) the provider accepted for `number`, waiting for it as long as a
/// retried delivery may take.
fn code(fake: &FakeSmsProvider, number: &str, n: usize) -> String {
    let within = Duration::from_secs(90);
    let deadline = Instant::now() + within;
    loop {
        if let Some(code) = fake.codes_sent_to(number).get(n - 1) {
            return code.clone();
        }
        assert!(Instant::now() < deadline, "no code number {n} to {number} within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn verify(server: &Server, kind: &str, phone: &str, token: &str) -> (u16, Value) {
    server.post("/verify", json!({"type": kind, "phone": phone, "token": token}))
}

fn flows(server: &Server, fake: &FakeSmsProvider) {
    let (status, settings) = server.call("GET", "/settings", None, None);
    assert_eq!(
        (status, &settings["external"]["phone"], &settings["sms_provider"]),
        (200, &json!(true), &json!("twilio"))
    );

    // Sign-up: the user waits for the code sent to the number.
    let (status, user) = server.post("/signup", json!({"phone": "+1 555 000 1234", "password": PASSWORD}));
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["phone"], "15550001234");
    assert!(user.get("access_token").is_none() && user["phone_confirmed_at"].is_null());
    let first = code(fake, "15550001234", 1);
    let request = &fake.requests()[0];
    assert_eq!(
        (request.path.as_str(), request.field("To")),
        ("/2010-04-01/Accounts/AC1/Messages.json", Some("+15550001234"))
    );
    assert_eq!(request.field("Body"), Some(format!("Your code is {first}").as_str()));

    let sign_in = json!({"phone": "15550001234", "password": PASSWORD});
    let (status, refused) = server.post("/token?grant_type=password", sign_in.clone());
    assert_eq!((status, &refused["error_code"]), (400, &json!("phone_not_confirmed")), "{refused}");
    assert_eq!(verify(server, "sms", "+15550001234", "000000").0, 403);
    let (status, session) = verify(server, "sms", "+15550001234", &first);
    assert_eq!(status, 200, "{session}");
    assert!(session["user"]["phone_confirmed_at"].is_string());
    assert_eq!(verify(server, "sms", "+15550001234", &first).0, 403, "a code works once");
    let (status, session) = server.post("/token?grant_type=password", sign_in);
    assert_eq!(status, 200, "{session}");
    let access = session["access_token"].as_str().unwrap().to_owned();

    // `/otp` signs in with a new code.
    assert_eq!(server.post("/otp", json!({"phone": "+15550001234"})), (200, json!({})));
    let second = code(fake, "15550001234", 2);
    assert_eq!(verify(server, "sms", "15550001234", &second).0, 200);

    // Phone change: the code goes to the new number; the number changes once it is verified.
    let (status, user) = server.call("PUT", "/user", Some(json!({"phone": "+15550005678"})), Some(&access));
    assert_eq!(status, 200, "{user}");
    assert_eq!((&user["phone"], &user["new_phone"]), (&json!("15550001234"), &json!("15550005678")));
    let change = code(fake, "15550005678", 1);
    assert_eq!(server.post("/resend", json!({"type": "phone_change", "phone": "+15550001234"})), (200, json!({})));
    let resent = code(fake, "15550005678", 2);
    assert_eq!(verify(server, "phone_change", "+15550005678", &change).0, 403, "replaced by the resend");
    let (status, session) = verify(server, "phone_change", "+15550005678", &resent);
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["user"]["phone"], "15550005678");
    assert!(session["user"].get("new_phone").is_none());

    // A test number gets its fixed code and no message.
    let before = fake.requests().len();
    assert_eq!(server.post("/otp", json!({"phone": "+15550000000"})), (200, json!({})));
    assert_eq!(verify(server, "sms", "15550000000", "424242").0, 200);
    assert_eq!(fake.requests().len(), before);

    // An outage: the code waits in the outbox and arrives once the provider is back.
    fake.set_down(true);
    assert_eq!(server.post("/otp", json!({"phone": "+15550003333"})), (200, json!({})));
    let deadline = Instant::now() + Duration::from_secs(30);
    while fake.requests().len() == before {
        assert!(Instant::now() < deadline, "the provider was never tried");
        std::thread::sleep(Duration::from_millis(50));
    }
    fake.set_down(false);
    let late = code(fake, "15550003333", 1);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(fake.codes_sent_to("15550003333").len(), 1, "delivered once");
    assert_eq!(verify(server, "sms", "+15550003333", &late).0, 200, "the retry came within the code's minute");
}

async fn run(backend: Backend, name: &str) {
    let Some(store) = TestStore::new(backend, name).await else { return };
    let fake = FakeSmsProvider::start().await;
    tokio::task::spawn_blocking(move || {
        let server = start(&store, fake.base_url());
        flows(&server, &fake);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn phone_accounts_on_sqlite() {
    run(Backend::Sqlite, "phone_sqlite").await;
}

#[tokio::test]
async fn phone_accounts_on_postgres() {
    run(Backend::Postgres, "phone_postgres").await;
}
