//! What an operator watches: metrics on their own listener, readiness, request log lines, and
//! spans exported to an OpenTelemetry collector.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{Value, json};

use auth_testkit::postgres::test_database;

use crate::process::{PASSWORD, Server, authd, free_port, json, request_at};

/// Polls `probe` every 100 ms until it returns `Some`, for at most `within`.
fn eventually<T>(within: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what} did not happen within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn metrics_on_their_own_listener_and_one_log_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    let mut command = authd(dir.path());
    command
        .env("AUTHD_METRICS__ENABLED", "true")
        .env("AUTHD_METRICS__LISTEN", format!("127.0.0.1:{metrics_port}"))
        .env("AUTHD_LOG__FORMAT", "json");
    let server = Server::start(command);

    let (status, body) = server.sign_up("ada@example.com", PASSWORD);
    assert_eq!(status, 200, "{body}");
    server.get("/auth/v1/verify?token=secret-link-token-123&type=signup&redirect_to=http://localhost:3000").unwrap();
    assert_eq!(server.get("/auth/v1/ready").unwrap().0, 200);
    assert_eq!(server.get("/metrics").unwrap().0, 404, "metrics stay off the public port");

    let scrape = || request_at(metrics_port, "GET", "/metrics", None, &[]).expect("the metrics listener answers");
    // The confirmation mail is delivered by the background worker within a few seconds.
    let metrics = eventually(Duration::from_secs(20), "the confirmation mail's delivery", || {
        let (status, body) = scrape();
        assert_eq!(status, 200, "{body}");
        body.lines().any(|l| l == "authd_mail_sent_total 1").then_some(body)
    });
    for line in [
        r#"authd_http_requests_total{method="POST",route="/signup",status="200"} 1"#,
        r#"authd_http_requests_total{method="GET",route="/ready",status="200"} 1"#,
        r#"authd_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"authd_mail_queued_total{kind="confirmation"} 1"#,
        r#"authd_sign_ups_total{provider="email"} 1"#,
        r#"authd_db_pool_max_connections 10"#,
        r#"authd_password_hash_wait_seconds_count 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "missing {line} in\n{metrics}");
    }
    for prefix in ["authd_db_pool_connections{state=\"idle\"}", "authd_password_hash_pool{state=\"running\"} 0"] {
        assert!(metrics.lines().any(|l| l.starts_with(prefix)), "missing {prefix} in\n{metrics}");
    }
    assert!(metrics.contains(r#"route="/verify""#) && !metrics.contains("secret-link-token"), "{metrics}");
    assert_eq!(request_at(metrics_port, "GET", "/auth/v1/health", None, &[]).unwrap().0, 404);

    server.signal("TERM");
    let (code, stderr) = server.wait(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("secret-link-token"), "a query string reached the log:\n{stderr}");
    let lines: Vec<Value> = stderr.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let completed = |route: &str| {
        lines
            .iter()
            .find(|l| l["message"] == "request completed" && l["span"]["route"] == route)
            .unwrap_or_else(|| panic!("no log line for {route} in\n{stderr}"))
    };
    let verify = completed("/verify");
    assert!(verify["status"].as_u64().is_some() && verify["latency_ms"].as_f64().is_some(), "{verify}");
    assert_eq!(verify["span"]["path"], "/auth/v1/verify", "the path without its query: {verify}");
    assert_eq!(verify["span"]["request_id"].as_str().map(str::len), Some(24), "{verify}");
    assert_eq!(completed("/signup")["status"], 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_needs_every_migration_on_postgres() {
    let Some(db) = test_database("observe_ready").await else { return };
    let (client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let dir = tempfile::tempdir().unwrap();
    let url = db.url().to_owned();
    let server = tokio::task::spawn_blocking(move || {
        let mut command = authd(dir.path());
        command.env("AUTHD_DATABASE__URL", &url);
        let server = Server::start(command);
        assert_eq!(server.get("/auth/v1/ready").unwrap(), (200, r#"{"status":"ready"}"#.to_owned()));
        (server, dir)
    })
    .await
    .unwrap();

    // As if this build were newer than the schema: its last migration is missing.
    let newest: String = client
        .query_one("DELETE FROM auth.__diesel_schema_migrations WHERE version = (SELECT max(version) FROM auth.__diesel_schema_migrations) RETURNING version", &[])
        .await
        .unwrap()
        .get(0);
    let server = tokio::task::spawn_blocking(move || {
        let (status, body) = server.0.get("/auth/v1/ready").unwrap();
        assert_eq!(status, 503, "{body}");
        let error = json(&body);
        assert_eq!(error["error_code"], "not_ready");
        assert_eq!(error["msg"], "Database migrations are pending");
        assert_eq!(server.0.get("/auth/v1/health").unwrap().0, 200, "alive all the same");
        server
    })
    .await
    .unwrap();

    client.execute("INSERT INTO auth.__diesel_schema_migrations (version) VALUES ($1)", &[&newest]).await.unwrap();
    tokio::task::spawn_blocking(move || assert_eq!(server.0.get("/auth/v1/ready").unwrap().0, 200)).await.unwrap();
}

/// An OpenTelemetry collector on loopback: takes OTLP/HTTP trace exports and keeps what it decodes.
struct Collector {
    port: u16,
    exports: Arc<Mutex<Vec<(String, ExportTraceServiceRequest)>>>,
}

impl Collector {
    fn start() -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let exports = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&exports);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let kept = Arc::clone(&kept);
                std::thread::spawn(move || receive(stream, &kept));
            }
        });
        Collector { port, exports }
    }

    /// Every span received so far, with the `service.name` of its resource.
    fn spans(&self) -> Vec<(String, Span)> {
        let exports = self.exports.lock().unwrap();
        let mut spans = Vec::new();
        for (_, export) in exports.iter() {
            for resource in &export.resource_spans {
                let service = resource.resource.as_ref().and_then(|r| attribute(&r.attributes, "service.name"));
                for scope in &resource.scope_spans {
                    for span in &scope.spans {
                        spans.push((service.clone().unwrap_or_default(), span.clone()));
                    }
                }
            }
        }
        spans
    }
}

/// Serves one keep-alive connection: each request's protobuf body is decoded and answered 200.
fn receive(stream: TcpStream, kept: &Mutex<Vec<(String, ExportTraceServiceRequest)>>) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or_default().to_owned();
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let export = ExportTraceServiceRequest::decode(body.as_slice()).expect("an OTLP protobuf trace export");
        kept.lock().unwrap().push((path, export));
        writer
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
    }
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?.value.as_ref()?;
    Some(match value {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::IntValue(i) => i.to_string(),
        any_value::Value::BoolValue(b) => b.to_string(),
        any_value::Value::DoubleValue(d) => d.to_string(),
        other => format!("{other:?}"),
    })
}

#[test]
fn spans_of_requests_database_calls_and_hashes_reach_the_collector() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let mut command = authd(dir.path());
    command
        .env("AUTHD_TRACING__OTLP_ENDPOINT", format!("http://127.0.0.1:{}", collector.port))
        .env("AUTHD_TRACING__SERVICE_NAME", "authd-under-test")
        .env("AUTHD_SIGNUP__AUTOCONFIRM", "true")
        .env("OTEL_BSP_SCHEDULE_DELAY", "200");
    let server = Server::start(command);
    let credentials = json!({"email": "ada@example.com", "password": PASSWORD});
    let (status, body) = server.call_with("POST", "/signup", Some(credentials), &[("X-Request-Id", "trace-me-42")]);
    assert_eq!(status, 200, "{body}");

    // Spans are batched; shutting down flushes whatever is still held.
    server.signal("TERM");
    let (code, stderr) = server.wait(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{stderr}");
    let spans = eventually(Duration::from_secs(10), "the signup's spans", || {
        let spans = collector.spans();
        spans.iter().any(|(_, s)| s.name == "POST /signup").then_some(spans)
    });
    assert!(collector.exports.lock().unwrap().iter().all(|(path, _)| path == "/v1/traces"));

    let (service, request) = spans.iter().find(|(_, s)| s.name == "POST /signup").unwrap();
    assert_eq!(service, "authd-under-test");
    assert_eq!(request.kind, 2, "a server span");
    assert_eq!(attribute(&request.attributes, "route").as_deref(), Some("/signup"));
    assert_eq!(attribute(&request.attributes, "request_id").as_deref(), Some("trace-me-42"));
    assert_eq!(attribute(&request.attributes, "http.response.status_code").as_deref(), Some("200"));
    let in_trace: Vec<&Span> = spans.iter().map(|(_, s)| s).filter(|s| s.trace_id == request.trace_id).collect();
    let names: Vec<&str> = in_trace.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"password.hash"), "no hashing span under the request: {names:?}");
    let database = in_trace
        .iter()
        .filter(|s| attribute(&s.attributes, "db.system.name").as_deref() == Some("sqlite"))
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>();
    assert!(database.contains(&"create_user_with_session"), "no database spans under the request: {names:?}");
    let texts = format!("{spans:?}");
    assert!(!texts.contains("correct horse battery"), "a password reached a span");
}
