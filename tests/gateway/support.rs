//! Test support: start the real `breakglass` binary as a dev gateway on a
//! free loopback port, and talk to it over real WebSockets.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use breakglass::client::Connection;
use breakglass::protocol::{EventFrame, Op, ReceivedReply, ServerFrame};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub const BIN: &str = env!("CARGO_BIN_EXE_breakglass");

/// A gateway process; killed when dropped.
pub struct Gateway {
    pub child: Child,
    pub url: String,
    pub http: String,
    pub tokens: HashMap<String, String>,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Gateway {
    /// `gateway --dev --listen 127.0.0.1:0 --json` with a fresh data dir.
    pub fn dev() -> Gateway {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut g = Gateway::dev_in(&dir);
        g._tmp = Some(tmp);
        g
    }

    /// The same on a data dir the caller keeps (to restart on it).
    pub fn dev_in(dir: &Path) -> Gateway {
        Gateway::spawn(&[
            "gateway",
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--json",
            "--data-dir",
            dir.to_str().unwrap(),
        ])
        .with_dir(dir)
    }

    /// `gateway --config FILE --json`; tokens must be minted separately.
    pub fn with_config(config: &Path, dir: &Path) -> Gateway {
        Gateway::spawn(&["gateway", "--config", config.to_str().unwrap(), "--json"]).with_dir(dir)
    }

    /// The data dir this gateway (and its CLI runs) use.
    pub fn in_dir(self, dir: &Path) -> Gateway {
        self.with_dir(dir)
    }

    fn with_dir(mut self, dir: &Path) -> Gateway {
        self.data_dir = dir.to_path_buf();
        self
    }

    /// Any `breakglass` command line whose first stdout line is the JSON
    /// `gateway --json` prints.
    pub fn spawn_args(args: &[&str]) -> Gateway {
        Gateway::spawn(args)
    }

    fn spawn(args: &[&str]) -> Gateway {
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start breakglass");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let first: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("first stdout line is not JSON ({e}): {line:?}"));
        let tokens = first["tokens"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        Gateway {
            child,
            url: first["url"].as_str().unwrap().to_string(),
            http: first["http"].as_str().unwrap().to_string(),
            tokens,
            data_dir: PathBuf::new(),
            _tmp: None,
        }
    }

    pub fn token(&self, user: &str) -> &str {
        &self.tokens[user]
    }

    /// A connection as `user` through the crate's client.
    pub async fn connect(&self, user: &str) -> Connection {
        Connection::connect(&self.url, self.token(user))
            .await
            .unwrap_or_else(|e| panic!("connect as {user}: {e}"))
    }

    /// A raw socket as `user`, hello already read.
    pub async fn raw(&self, user: &str) -> Raw {
        Raw::connect(&self.url, self.token(user)).await
    }

    /// kill -9.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Runs the CLI against this gateway as `user`; (exit code, stdout, stderr).
    pub fn cli(&self, user: &str, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(BIN)
            .args(args)
            .env("BREAKGLASS_GATEWAY", &self.url)
            .env("BREAKGLASS_TOKEN", self.token(user))
            .env("BREAKGLASS_CONFIG_DIR", self.data_dir.join("cli-config"))
            .env("BREAKGLASS_DATA_DIR", self.data_dir.join("cli-data"))
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A raw WebSocket speaking frames by hand (for bad input).
pub struct Raw {
    pub ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Raw {
    pub async fn connect(url: &str, token: &str) -> Raw {
        let mut req = url.into_client_request().unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        let mut raw = Raw { ws };
        let hello = raw.next_text().await.expect("hello");
        assert!(hello.contains("\"event\":\"hello\""), "{hello}");
        raw
    }

    pub async fn send(&mut self, text: impl Into<String>) {
        self.ws
            .send(Message::Text(text.into().into()))
            .await
            .unwrap();
    }

    /// The next text frame, or None when the socket closed (10 s limit).
    pub async fn next_text(&mut self) -> Option<String> {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("a frame within 10 s");
            match msg {
                Some(Ok(Message::Text(t))) => return Some(t.to_string()),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next reply (skipping events).
    pub async fn reply(&mut self) -> ReceivedReply {
        loop {
            let text = self.next_text().await.expect("socket open");
            if let ServerFrame::Reply(r) = ServerFrame::decode(&text).unwrap() {
                return r;
            }
        }
    }

    /// Waits for the close frame and returns its code.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("close within 10 s");
            match msg {
                Some(Ok(Message::Close(Some(f)))) => return Some(f.code.into()),
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }
}

/// Waits up to `limit` for an event matching `pred`.
pub async fn event_where(
    conn: &mut Connection,
    limit: Duration,
    mut pred: impl FnMut(&EventFrame) -> bool,
) -> Option<EventFrame> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, conn.next_event()).await {
            Ok(Some(e)) if pred(&e) => return Some(e),
            Ok(Some(_)) => continue,
            _ => return None,
        }
    }
}

/// `request.create` params for the demo's services.
pub fn ask(service: &str, secs: u64) -> Op {
    Op::RequestCreate {
        service: service.into(),
        capabilities: vec![breakglass::protocol::Capability::LogsRead],
        duration_s: secs,
        reason: "INC-42 elevated 5xx".into(),
        ticket: Some("INC-42".into()),
        break_glass: false,
    }
}

/// A gateway run from a config file: the demo policy plus `extra` TOML
/// (e.g. log sources), with a token minted for each of `users`.
pub fn config_gateway(dir: &Path, extra: &str, users: &[&str]) -> Gateway {
    let text = format!(
        "{}\n{extra}\n[gateway]\nlisten = \"127.0.0.1:0\"\ndata_dir = {:?}\n",
        include_str!("../../assets/dev-policy.toml"),
        dir.join("data").to_str().unwrap()
    );
    let config = dir.join("gateway.toml");
    std::fs::write(&config, text).unwrap();
    let tokens: HashMap<String, String> = users
        .iter()
        .map(|user| {
            let out = Command::new(BIN)
                .args(["gateway", "token", "create", "--config"])
                .arg(&config)
                .args(["--user", user, "--json"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "token create: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            (user.to_string(), v["token"].as_str().unwrap().to_string())
        })
        .collect();
    let mut gw = Gateway::with_config(&config, dir);
    gw.tokens = tokens;
    gw
}

/// `audit.query` as `conn`: newest first; its own entries, or everyone's
/// (optionally one `actor`'s) for a lead.
pub async fn audit(
    conn: &Connection,
    actor: Option<&str>,
) -> Vec<breakglass::protocol::AuditEntry> {
    conn.call(Op::AuditQuery {
        since: None,
        actor: actor.map(str::to_string),
        limit: Some(10_000),
    })
    .await
    .unwrap()
    .take("entries")
    .unwrap()
}
