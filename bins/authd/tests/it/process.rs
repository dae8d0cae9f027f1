//! Running the authd binary: commands that exit, and a server that is started and stopped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

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
    pub fn start(mut command: Command) -> Server {
        let port = free_port();
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
