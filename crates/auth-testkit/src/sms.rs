//! A fake of the SMS providers' HTTP APIs on loopback, written from the request and answer
//! shapes each provider documents (and Supabase Auth reads): it keeps every request it gets
//! and answers each provider's success, a canned refusal, or, while it is down, `503`.

use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// One request a provider received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRequest {
    /// The path, such as `/2010-04-01/Accounts/AC1/Messages.json`.
    pub path: String,
    /// The `Authorization` header, when sent.
    pub authorization: Option<String>,
    /// The `Content-Type` header, when sent.
    pub content_type: Option<String>,
    /// The form fields, decoded, in the order sent.
    pub form: Vec<(String, String)>,
    /// Answered with the provider's success (not down, no canned refusal).
    pub accepted: bool,
}

impl ProviderRequest {
    /// The value of form field `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct FakeState {
    requests: Vec<ProviderRequest>,
    /// Answers given instead of the provider's success, for paths ending so.
    replies: Vec<(String, u16, serde_json::Value)>,
    down: bool,
}

/// The fake provider server; it stops when dropped.
pub struct FakeSmsProvider {
    base_url: String,
    state: Arc<Mutex<FakeState>>,
    handle: actix_web::dev::ServerHandle,
}

/// The success each provider documents, by the end of its path.
fn success(path: &str) -> (u16, serde_json::Value) {
    use serde_json::json;
    if path.ends_with("/Messages.json") {
        (201, json!({"sid": "SM0001", "status": "queued"}))
    } else if path.ends_with("/VerificationCheck") {
        (200, json!({"status": "approved", "valid": true}))
    } else if path.ends_with("/Verifications") {
        (201, json!({"sid": "VE0001", "status": "pending"}))
    } else if path.ends_with("/messages") {
        (201, json!({"id": "mb0001", "recipients": {"totalSentCount": 1}}))
    } else if path.ends_with("/send") {
        (200, json!({"status": "success", "messages": [{"id": "1"}]}))
    } else if path.ends_with("/sms/json") {
        (200, json!({"messages": [{"message-id": "v0001", "status": "0"}]}))
    } else {
        (404, json!({"error": "no such endpoint"}))
    }
}

async fn receive(state: web::Data<Arc<Mutex<FakeState>>>, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let form = form_urlencoded::parse(&body).into_owned().collect();
    let received = ProviderRequest {
        path: request.path().to_owned(),
        authorization: header("authorization"),
        content_type: header("content-type"),
        form,
        accepted: false,
    };
    let mut state = lock(&state);
    let path = received.path.clone();
    if state.down {
        state.requests.push(received);
        return HttpResponse::ServiceUnavailable().json(serde_json::json!({"message": "down for maintenance"}));
    }
    let canned = state
        .replies
        .iter()
        .rev()
        .find(|(suffix, _, _)| path.ends_with(suffix.as_str()))
        .map(|(_, status, body)| (*status, body.clone()));
    state.requests.push(ProviderRequest { accepted: canned.is_none(), ..received });
    let (status, body) = canned.unwrap_or_else(|| success(&path));
    let status = actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::OK);
    HttpResponse::build(status).json(body)
}

fn lock(state: &Mutex<FakeState>) -> MutexGuard<'_, FakeState> {
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FakeSmsProvider {
    /// Starts the fake on a free loopback port.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let data = web::Data::new(Arc::clone(&state));
        let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(receive)))
            .workers(1)
            .bind(("127.0.0.1", 0))
            .expect("bind the fake SMS provider");
        let address = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { base_url: format!("http://{address}"), state, handle }
    }

    /// The base URL to configure for every provider.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// From now on, answers requests whose path ends with `path_suffix` with `status` and `body`.
    pub fn reply(&self, path_suffix: &str, status: u16, body: serde_json::Value) {
        lock(&self.state).replies.push((path_suffix.to_owned(), status, body));
    }

    /// Forgets the canned replies: every provider answers its success again.
    pub fn reset_replies(&self) {
        lock(&self.state).replies.clear();
    }

    /// While `down`, every request is answered `503` (and still recorded).
    pub fn set_down(&self, down: bool) {
        lock(&self.state).down = down;
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<ProviderRequest> {
        lock(&self.state).requests.clone()
    }

    /// The digits of the text of every message accepted (answered with success) for `number` (any provider's field:
    /// `Body`, `body`, `message` or `text`, to `+number`, `whatsapp:+number` or `number`).
    pub fn codes_sent_to(&self, number: &str) -> Vec<String> {
        let number = number.trim_start_matches('+');
        let state = lock(&self.state);
        state
            .requests
            .iter()
            .filter(|r| r.accepted)
            .filter(|r| {
                ["To", "recipients", "numbers", "to"].iter().any(|f| {
                    r.field(f).is_some_and(|to| to.trim_start_matches("whatsapp:").trim_start_matches('+') == number)
                })
            })
            .filter_map(|r| ["Body", "body", "message", "text"].iter().find_map(|f| r.field(f)))
            .map(|text| text.chars().filter(char::is_ascii_digit).collect())
            .collect()
    }
}

impl Drop for FakeSmsProvider {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}
