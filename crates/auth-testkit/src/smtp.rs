//! A small SMTP server on loopback for tests: enough of RFC 5321 and RFC 4954 (AUTH PLAIN and
//! LOGIN) for lettre, with switches, changeable while it runs, to refuse temporarily or for good,
//! or to say nothing at all.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// How the sink answers.
#[derive(Clone, Default)]
pub struct Behaviour {
    /// Advertise these AUTH mechanisms and demand these credentials before MAIL FROM.
    pub auth: Option<(&'static str, &'static str, &'static str)>,
    /// Reply to RCPT TO with this line instead of 250.
    pub rcpt_reply: Option<&'static str>,
    /// Reply to the end of DATA with this line instead of 250.
    pub data_reply: Option<&'static str>,
    /// Accept connections and never say a word.
    pub silent: bool,
}

/// One message the sink accepted.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope sender.
    pub mail_from: String,
    /// The envelope recipients.
    pub rcpt_to: Vec<String>,
    /// The message as sent (headers and body, dot-stuffing undone).
    pub data: Vec<u8>,
    /// The user that authenticated, if any.
    pub user: Option<String>,
}

/// A running sink; it stops with the runtime that started it.
pub struct Sink {
    /// Where it listens.
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    behaviour: Arc<Mutex<Behaviour>>,
}

impl Sink {
    /// Starts a sink on a free loopback port.
    pub async fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let behaviour = Arc::new(Mutex::new(behaviour));
        let store = Arc::clone(&received);
        let current = Arc::clone(&behaviour);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                // Each connection sees the behaviour in force when it was accepted.
                let behaviour = current.lock().unwrap().clone();
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    if behaviour.silent {
                        // Hold the socket open without a greeting until the client gives up.
                        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                        drop(stream);
                        return;
                    }
                    let _ = session(stream, &behaviour, &store).await;
                });
            }
        });
        Self { addr, received, behaviour }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every message accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Changes how later connections are answered.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }
}

async fn session(stream: TcpStream, behaviour: &Behaviour, store: &Mutex<Vec<Received>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let reply =
        async |w: &mut tokio::net::tcp::OwnedWriteHalf, line: &str| w.write_all(format!("{line}\r\n").as_bytes()).await;
    reply(&mut write, "220 sink.test ESMTP ready").await?;
    let mut user: Option<String> = None;
    let mut mail_from = String::new();
    let mut rcpt_to = Vec::new();
    loop {
        let mut line = String::new();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let line = line.trim_end().to_owned();
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            match behaviour.auth {
                Some((mechanisms, _, _)) => {
                    reply(&mut write, "250-sink.test").await?;
                    reply(&mut write, "250-8BITMIME").await?;
                    reply(&mut write, &format!("250 AUTH {mechanisms}")).await?;
                }
                None => {
                    reply(&mut write, "250-sink.test").await?;
                    reply(&mut write, "250 8BITMIME").await?;
                }
            }
        } else if upper.starts_with("AUTH ") {
            let Some((_, expected_user, expected_password)) = behaviour.auth else {
                reply(&mut write, "502 5.5.1 no AUTH here").await?;
                continue;
            };
            let mut words = line.split_whitespace().skip(1);
            let mechanism = words.next().unwrap_or_default().to_ascii_uppercase();
            let initial = words.next().map(str::to_owned);
            let mut next = async |prompt: &str| -> std::io::Result<String> {
                reply(&mut write, prompt).await?;
                let mut answer = String::new();
                lines.read_line(&mut answer).await?;
                Ok(answer.trim_end().to_owned())
            };
            let decode = |b64: &str| String::from_utf8(STANDARD.decode(b64).unwrap_or_default()).unwrap_or_default();
            let (given_user, given_password) = match mechanism.as_str() {
                "PLAIN" => {
                    let response = match initial {
                        Some(r) => r,
                        None => next("334 ").await?,
                    };
                    let decoded = decode(&response);
                    let mut parts = decoded.split('\0').skip(1);
                    (parts.next().unwrap_or_default().to_owned(), parts.next().unwrap_or_default().to_owned())
                }
                "LOGIN" => {
                    let name = match initial {
                        Some(r) => decode(&r),
                        None => decode(&next("334 VXNlcm5hbWU6").await?),
                    };
                    (name, decode(&next("334 UGFzc3dvcmQ6").await?))
                }
                _ => {
                    reply(&mut write, "504 5.5.4 unknown mechanism").await?;
                    continue;
                }
            };
            if given_user == expected_user && given_password == expected_password {
                user = Some(given_user);
                reply(&mut write, "235 2.7.0 authenticated").await?;
            } else {
                reply(&mut write, "535 5.7.8 authentication credentials invalid").await?;
            }
        } else if upper.starts_with("MAIL FROM:") {
            if behaviour.auth.is_some() && user.is_none() {
                reply(&mut write, "530 5.7.0 authentication required").await?;
                continue;
            }
            mail_from = address(&line);
            rcpt_to.clear();
            reply(&mut write, "250 2.1.0 ok").await?;
        } else if upper.starts_with("RCPT TO:") {
            match behaviour.rcpt_reply {
                Some(answer) => reply(&mut write, answer).await?,
                None => {
                    rcpt_to.push(address(&line));
                    reply(&mut write, "250 2.1.5 ok").await?;
                }
            }
        } else if upper == "DATA" {
            reply(&mut write, "354 end with <CRLF>.<CRLF>").await?;
            let mut data = Vec::new();
            loop {
                let mut raw = Vec::new();
                if lines.read_until(b'\n', &mut raw).await? == 0 {
                    return Ok(());
                }
                if raw == b".\r\n" {
                    break;
                }
                // Undo dot-stuffing (RFC 5321 section 4.5.2).
                let raw = if raw.starts_with(b"..") { &raw[1..] } else { &raw[..] };
                data.extend_from_slice(raw);
            }
            match behaviour.data_reply {
                Some(answer) => reply(&mut write, answer).await?,
                None => {
                    store.lock().unwrap().push(Received {
                        mail_from: mail_from.clone(),
                        rcpt_to: rcpt_to.clone(),
                        data,
                        user: user.clone(),
                    });
                    reply(&mut write, "250 2.0.0 queued").await?;
                }
            }
        } else if upper == "RSET" || upper == "NOOP" {
            reply(&mut write, "250 2.0.0 ok").await?;
        } else if upper == "QUIT" {
            reply(&mut write, "221 2.0.0 bye").await?;
            return Ok(());
        } else {
            reply(&mut write, "500 5.5.2 what?").await?;
        }
    }
}

/// `MAIL FROM:<a@b> SIZE=1` → `a@b`.
fn address(line: &str) -> String {
    line.split_once('<').and_then(|(_, rest)| rest.split_once('>')).map(|(a, _)| a.to_owned()).unwrap_or_default()
}
