//! Running the authd binary: commands that exit, and a server that is started and stopped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// The password the tests' accounts are made with.
pub const PASSWORD: &str = "correct horse battery";

/// The binary under test, with a clean environment: no inherited `AUTHD_*` or `GOTRUE_*`
/// configuration.
pub fn authd(workdir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_authd"));
    command.current_dir(workdir);
    for (key, _) in std::env::vars() {
        if key.starts_with("AUTHD_") || key.starts_with("GOTRUE_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    // Tiny argon2 parameters keep start-up and hashing fast in debug builds.
    command.env("AUTHD_PASSWORD__HASH__MEMORY_KIB", "256").env("AUTHD_PASSWORD__HASH__ITERATIONS", "1");
    command
}

/// Runs a command to completion.
pub fn run(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().expect("authd runs")
}

/// Stdout and stderr as text.
pub fn text(output: &Output) -> (String, String) {
    (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Parses JSON text; a failure names the text.
pub fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: not JSON: {text}"))
}

/// A command's standard output as JSON, once the command has succeeded.
pub fn json_output(output: &Output) -> Value {
    assert!(output.status.success(), "{:?}", text(output));
    json(&text(output).0)
}

/// The body of a `200` answer; any other status fails the test.
pub fn ok((status, body): (u16, Value)) -> Value {
    assert_eq!(status, 200, "{body}");
    body
}

/// A session's access token.
pub fn access_token(session: &Value) -> String {
    session["access_token"].as_str().unwrap_or_else(|| panic!("no access token in {session}")).to_owned()
}

/// A JWT's header.
pub fn jwt_header(token: &str) -> Value {
    jwt_part(token, 0)
}

/// A JWT's claims.
pub fn claims(token: &str) -> Value {
    jwt_part(token, 1)
}

/// The `kid` in a JWT's header.
pub fn kid(token: &str) -> String {
    jwt_header(token)["kid"].as_str().unwrap_or_else(|| panic!("no kid in {token}")).to_owned()
}

fn jwt_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap_or_else(|| panic!("not a JWT: {token}"));
    json(&String::from_utf8(URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap())
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `authd serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Server {
    /// Starts the server on a free port and waits until `/auth/v1/health` answers.
    pub fn start(command: Command) -> Server {
        Self::start_on(command, free_port())
    }

    /// Starts the server on `port` and waits until `/auth/v1/health` answers.
    pub fn start_on(mut command: Command, port: u16) -> Server {
        let child = command
            .env("AUTHD_SERVER__PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("authd starts");
        let mut server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                let mut stderr = String::new();
                server.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
                panic!("authd exited early with {status}: {stderr}");
            }
            if server.get("/auth/v1/health").is_some() {
                return server;
            }
            assert!(Instant::now() < deadline, "authd did not answer within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// GETs a path; `None` when nothing answers. Returns the status and the body.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        self.request("GET", path, None, None)
    }

    /// Sends a request with an optional JSON body and bearer token.
    pub fn request(&self, method: &str, path: &str, json: Option<&str>, token: Option<&str>) -> Option<(u16, String)> {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        self.request_with(method, path, json, &headers)
    }

    /// Sends a request with an optional JSON body and extra headers.
    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        json: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Option<(u16, String)> {
        request_at(self.port, method, path, json, headers)
    }

    /// POSTs a form as a browser does; returns the status and the `Location` header.
    pub fn post_form(&self, path: &str, form: &str) -> Option<(u16, Option<String>)> {
        let content_type = Some("application/x-www-form-urlencoded");
        let (status, head, _) = exchange_at(self.port, "POST", path, content_type, form, &[])?;
        let location = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("location").then(|| value.trim().to_owned())
        });
        Some((status, location))
    }

    /// A JSON call to `/auth/v1<path>` with an optional bearer token: the status and the answer
    /// (`Null` when empty). Fails the test when nothing answers.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>, token: Option<&str>) -> (u16, Value) {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        self.call_with(method, path, body, &headers)
    }

    /// A JSON call to `/auth/v1<path>` with extra headers.
    pub fn call_with(&self, method: &str, path: &str, body: Option<Value>, headers: &[(&str, &str)]) -> (u16, Value) {
        let body = body.map(|b| b.to_string());
        let (status, answer) =
            self.request_with(method, &format!("/auth/v1{path}"), body.as_deref(), headers).expect("authd answers");
        (status, if answer.is_empty() { Value::Null } else { json(&answer) })
    }

    /// `POST /auth/v1<path>` with a JSON body.
    pub fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(body), None)
    }

    /// `POST /signup` with an email address and a password.
    pub fn sign_up(&self, email: &str, password: &str) -> (u16, Value) {
        self.post("/signup", json!({ "email": email, "password": password }))
    }

    /// A password sign-in.
    pub fn sign_in(&self, email: &str, password: &str) -> (u16, Value) {
        self.post("/token?grant_type=password", json!({ "email": email, "password": password }))
    }

    /// Rotates a refresh token.
    pub fn refresh(&self, refresh_token: &str) -> (u16, Value) {
        self.post("/token?grant_type=refresh_token", json!({ "refresh_token": refresh_token }))
    }

    /// `GET /user` with an access token.
    pub fn get_user(&self, access_token: &str) -> (u16, Value) {
        self.call("GET", "/user", None, Some(access_token))
    }

    /// Sends a signal by name (`TERM`, `INT`) to the server process.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit and returns its exit code and stderr.
    pub fn wait(mut self, within: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut stderr = String::new();
                self.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
                return (status.code(), stderr);
            }
            assert!(Instant::now() < deadline, "authd did not exit within {within:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Sends a request to a port on this machine; `None` when nothing answers. Returns the status and
/// the body.
pub fn request_at(
    port: u16,
    method: &str,
    path: &str,
    json: Option<&str>,
    headers: &[(&str, &str)],
) -> Option<(u16, String)> {
    let content_type = json.map(|_| "application/json");
    let (status, _, body) = exchange_at(port, method, path, content_type, json.unwrap_or(""), headers)?;
    Some((status, body))
}

/// One HTTP/1.1 exchange with the server on `port`: the status, the header lines and the body.
fn exchange_at(
    port: u16,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
    headers: &[(&str, &str)],
) -> Option<(u16, String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let extra: String = headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
    let content = content_type.map(|c| format!("Content-Type: {c}\r\n")).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{extra}{content}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((response.as_str(), ""));
    Some((status, head.to_owned(), body.to_owned()))
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
