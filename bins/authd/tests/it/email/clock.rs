//! What hangs on time: codes and links expiring, and delivery retried after an SMTP refusal.
//! The binary reads the real clock, so these build authd's own wiring
//! ([`authd::wiring::server_parts`]) in process over a clock the test moves, serve its app
//! in process, and run its outbox delivery by hand.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use auth_core::ports::Clock;
use auth_core::service::DeliveryReport;
use auth_core::testing::ManualClock;
use auth_crypto::SystemClock;
use auth_testkit::http::{location, post, send};
use auth_testkit::smtp::{Behaviour, Sink};
use authd::config::Config;
use authd::wiring::{ServerParts, server_parts};
use chrono::TimeDelta;
use serde_json::{Value, json};

use super::{Backend, Delivered, Mailbox, PASSWORD, SITE, TestStore, expired, fragment_value, nonce_refused};

/// authd built in process on a fresh database, mailing through a sink, over a manual clock.
struct InProcess {
    _store: TestStore,
    sink: Sink,
    clock: Arc<ManualClock>,
    parts: ServerParts,
}

impl InProcess {
    async fn new(backend: Backend, name: &str) -> Option<Self> {
        let store = TestStore::new(backend, name).await?;
        let sink = Sink::start(Behaviour::default()).await;
        let config: Config = serde_json::from_value(json!({
            "database": {"url": store.url},
            "password": {"hash": {"memory_kib": 256, "iterations": 1}},
            "smtp": {"host": "127.0.0.1", "port": sink.port(), "security": "none", "from_address": "auth@example.test"},
            "site": {"url": SITE},
            "otp": {"send_interval_secs": 0},
            "rate_limits": {"email_per_minute": 0, "verify_per_minute": 0},
        }))
        .unwrap();
        config.validate().unwrap();
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let parts = server_parts(&config, clock.clone()).await.unwrap();
        Some(InProcess { _store: store, sink, clock, parts })
    }

    /// One round of the delivery worker.
    async fn deliver(&self) -> DeliveryReport {
        self.parts.delivery.deliver_due(20).await.unwrap()
    }

    /// One round of the delivery worker while the sink answers as `behaviour` says: how many
    /// messages are to be retried and how many were given up. The sink accepts again afterwards.
    async fn deliver_refused(&self, behaviour: Behaviour) -> (usize, usize) {
        self.sink.set_behaviour(behaviour);
        let report = self.deliver().await;
        self.sink.set_behaviour(Behaviour::default());
        assert_eq!(report.sent, 0, "{report:?}");
        (report.retrying.len(), report.failed.len())
    }

    fn advance(&self, by: TimeDelta) {
        self.clock.advance(by);
    }
}

/// `POST /verify` with the code `mail` carried to `email`.
fn by_code(kind: &str, email: &str, mail: &Delivered) -> TestRequest {
    post("/verify", json!({"type": kind, "email": email, "token": mail.code()}))
}

/// The link page's form, as the browser posts it.
fn by_link(mail: &Delivered) -> TestRequest {
    TestRequest::post()
        .uri("/auth/v1/verify")
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(mail.link_query())
}

/// Status and `error_code` of an answer.
fn code_of((status, _, body): (StatusCode, HeaderMap, Value)) -> (u16, Option<String>) {
    (status.as_u16(), body["error_code"].as_str().map(str::to_owned))
}

const CODE_LIFE: TimeDelta = TimeDelta::minutes(10);
const LINK_LIFE: TimeDelta = TimeDelta::hours(1);
const SECOND: TimeDelta = TimeDelta::seconds(1);

/// A code works for ten minutes and a link for an hour (the defaults), a nonce like a code; a
/// refused delivery is retried after the backoff.
async fn expiry_and_retries(backend: Backend) {
    let Some(world) = InProcess::new(backend, "email_clock").await else { return };
    let app = test::init_service(auth_http::app(world.parts.state.clone())).await;
    let (app, mailbox) = (&app, &mut Mailbox::new(&world.sink));
    let email = "ivy@example.com";

    assert_eq!(send(app, post("/signup", json!({"email": email, "password": PASSWORD}))).await.0, 200);
    world.deliver().await;
    let confirmation = mailbox.next(email);
    world.advance(CODE_LIFE + SECOND);
    assert_eq!(code_of(send(app, by_code("signup", email, &confirmation)).await), expired());
    let verify = json!({"type": "signup", "token_hash": confirmation.link_token()});
    let (status, _, session) = send(app, post("/verify", verify)).await;
    assert_eq!(status, 200, "the link outlives the code: {session}");
    let bearer = ("Authorization", format!("Bearer {}", session["access_token"].as_str().unwrap()));

    // A code still works in its last second.
    assert_eq!(send(app, post("/otp", json!({"email": email}))).await.0, 200);
    world.deliver().await;
    let sign_in = mailbox.next(email);
    world.advance(CODE_LIFE - SECOND);
    assert_eq!(send(app, by_code("email", email, &sign_in)).await.0, 200);

    // A reauthentication code expires like any code.
    let reauthenticate = TestRequest::get().uri("/auth/v1/reauthenticate").insert_header(bearer.clone());
    assert_eq!(send(app, reauthenticate).await.0, 200);
    world.deliver().await;
    let nonce = mailbox.next(email);
    world.advance(CODE_LIFE + SECOND);
    let change = TestRequest::put()
        .uri("/auth/v1/user")
        .insert_header(bearer)
        .set_json(json!({"password": "a new passphrase", "nonce": nonce.code()}));
    assert_eq!(code_of(send(app, change).await), nonce_refused());

    // Past the code's life, within the link's.
    assert_eq!(send(app, post("/recover", json!({"email": email}))).await.0, 200);
    world.deliver().await;
    let recovery = mailbox.next(email);
    world.advance(LINK_LIFE - SECOND);
    assert_eq!(code_of(send(app, by_code("recovery", email, &recovery)).await), expired());
    let (status, headers, _) = send(app, by_link(&recovery)).await;
    assert_eq!(status, 303);
    let landed = location(&headers).unwrap();
    assert_eq!(fragment_value(&landed, "type").as_deref(), Some("recovery"), "{landed}");

    // Past the link's life.
    assert_eq!(send(app, post("/magiclink", json!({"email": email}))).await.0, 200);
    world.deliver().await;
    let link = mailbox.next(email);
    world.advance(LINK_LIFE + SECOND);
    let (status, headers, _) = send(app, by_link(&link)).await;
    assert_eq!(status, 303);
    let landed = location(&headers).unwrap();
    assert!(landed.starts_with(&format!("{SITE}#")), "{landed}");
    assert_eq!(fragment_value(&landed, "error_code").as_deref(), Some("otp_expired"), "{landed}");
    assert!(fragment_value(&landed, "access_token").is_none());
    let verify = json!({"type": "magiclink", "token_hash": link.link_token()});
    assert_eq!(code_of(send(app, post("/verify", verify)).await), expired());

    // A temporary refusal is retried after the backoff, and the mail still works when it
    // arrives; a permanent one is given up at once.
    let email = "jon@example.com";
    assert_eq!(send(app, post("/signup", json!({"email": email, "password": PASSWORD}))).await.0, 200);
    let busy = Behaviour { data_reply: Some("451 4.3.0 try again later"), ..Behaviour::default() };
    assert_eq!(world.deliver_refused(busy).await, (1, 0), "451 is for now");
    world.advance(TimeDelta::seconds(29));
    assert_eq!(world.deliver().await.handled(), 0, "the first retry waits 30 s");
    mailbox.is_read(email);
    world.advance(SECOND);
    assert_eq!(world.deliver().await.sent, 1);
    let confirmation = mailbox.next(email);
    let (status, _, session) = send(app, by_code("signup", email, &confirmation)).await;
    assert_eq!(status, 200, "{session}");

    assert_eq!(send(app, post("/recover", json!({"email": email}))).await.0, 200);
    let unknown = Behaviour { rcpt_reply: Some("550 5.1.1 no such mailbox"), ..Behaviour::default() };
    assert_eq!(world.deliver_refused(unknown).await, (0, 1), "550 is for good");
    world.advance(TimeDelta::hours(13));
    assert_eq!(world.deliver().await.handled(), 0, "a refused message is not tried again");
    mailbox.is_read(email);
}

#[tokio::test(flavor = "multi_thread")]
async fn expiry_and_retries_on_sqlite() {
    expiry_and_retries(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn expiry_and_retries_on_postgres() {
    expiry_and_retries(Backend::Postgres).await;
}
