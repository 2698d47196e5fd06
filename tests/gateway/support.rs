//! Test support: start the real `breakglass` binary as a dev gateway on a
//! free loopback port, and talk to it over real WebSockets.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use breakglass::client::Connection;
use breakglass::protocol::{
    AccessRequest, Capability, EventFrame, Grant, Op, ReceivedReply, ServerFrame,
};
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
        Gateway::dev_at(0, dir, &[])
    }

    /// The same on a fixed loopback `port` (0: any free one) with more
    /// environment (e.g. a failpoint): restarted on the same port and data
    /// dir, it is the same gateway to the clients that knew it.
    pub fn dev_at(port: u16, dir: &Path, env: &[(&str, &str)]) -> Gateway {
        let listen = format!("127.0.0.1:{port}");
        Gateway::spawn(
            &[
                "gateway",
                "--dev",
                "--listen",
                &listen,
                "--json",
                "--data-dir",
                dir.to_str().unwrap(),
            ],
            env,
        )
        .with_dir(dir)
    }

    /// `gateway --config FILE --json`; tokens must be minted separately.
    pub fn with_config(config: &Path, dir: &Path) -> Gateway {
        Gateway::spawn(
            &["gateway", "--config", config.to_str().unwrap(), "--json"],
            &[],
        )
        .with_dir(dir)
    }

    /// The data dir this gateway (and its CLI runs) use.
    fn with_dir(mut self, dir: &Path) -> Gateway {
        self.data_dir = dir.to_path_buf();
        self
    }

    /// A `breakglass` command line whose first stdout line is the JSON
    /// `gateway --json` prints.
    fn spawn(args: &[&str], env: &[(&str, &str)]) -> Gateway {
        let mut child = Command::new(BIN)
            .args(args)
            .envs(env.iter().copied())
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

    /// The gateway's whole audit chain, oldest first, as carol (a lead)
    /// reads it.
    pub async fn chain(&self) -> Vec<breakglass::protocol::AuditEntry> {
        whole_chain(&self.connect("carol").await).await
    }

    /// kill -9.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Runs the CLI against this gateway as `user`; (exit code, stdout, stderr).
    pub fn cli<S: AsRef<std::ffi::OsStr>>(&self, user: &str, args: &[S]) -> (i32, String, String) {
        let out = self.cli_command(user, args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The CLI run by [`Gateway::cli`], not started yet: `user` against
    /// this gateway, with its config and journal under the data dir.
    pub fn cli_command<S: AsRef<std::ffi::OsStr>>(&self, user: &str, args: &[S]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env("BREAKGLASS_GATEWAY", &self.url)
            .env("BREAKGLASS_TOKEN", self.token(user))
            .env("BREAKGLASS_CONFIG_DIR", self.data_dir.join("cli-config"))
            .env("BREAKGLASS_DATA_DIR", self.data_dir.join("cli-data"));
        command
    }
}

/// The journal directory of `user` among those under `root` (a client's
/// data dir's `journal`).
pub fn journal_of(root: &Path, user: &str) -> PathBuf {
    std::fs::read_dir(root)
        .unwrap_or_else(|e| panic!("no journals under {}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{user}@"))
        })
        .unwrap_or_else(|| panic!("no journal for {user} under {}", root.display()))
}

/// A loopback port free right now, for a gateway that must come back on
/// the same address.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
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

/// `request.create` params for the demo's services: logs:read.
pub fn ask(service: &str, secs: u64) -> Op {
    ask_for(service, Capability::LogsRead, secs)
}

/// The same for another capability.
pub fn ask_for(service: &str, capability: Capability, secs: u64) -> Op {
    Op::RequestCreate {
        service: service.into(),
        capabilities: vec![capability],
        duration_s: secs,
        reason: "INC-42 elevated 5xx".into(),
        ticket: Some("INC-42".into()),
        break_glass: false,
    }
}

/// The demo policy text, as a config-mode gateway starts from.
pub const DEV_POLICY: &str = include_str!("../../assets/dev-policy.toml");

/// A config file (demo policy + `extra` policy tables + a `[gateway]` table)
/// in a temporary directory whose `data` subdirectory is the data dir.
pub struct ConfigDir {
    _tmp: tempfile::TempDir,
    pub config: PathBuf,
    pub data: PathBuf,
}

impl ConfigDir {
    pub fn new(extra_policy: &str, extra_gateway: &str) -> ConfigDir {
        let tmp = tempfile::tempdir().unwrap();
        let config = tmp.path().join("gateway.toml");
        let data = tmp.path().join("data");
        let cd = ConfigDir {
            _tmp: tmp,
            config,
            data,
        };
        cd.write(&format!("{DEV_POLICY}\n{extra_policy}"), extra_gateway);
        cd
    }

    /// (Re)writes the config with this policy text.
    pub fn write(&self, policy: &str, extra_gateway: &str) {
        let text = format!(
            "{policy}\n[gateway]\nlisten = \"127.0.0.1:0\"\ndata_dir = {:?}\n{extra_gateway}\n",
            self.data.to_str().unwrap()
        );
        std::fs::write(&self.config, text).unwrap();
    }

    pub fn start(&self) -> Gateway {
        Gateway::with_config(&self.config, &self.data)
    }

    /// `breakglass gateway --config F token create --user U --json [--ttl T]`:
    /// (token, token id).
    pub fn mint(&self, user: &str, ttl: Option<&str>) -> (String, String) {
        let mut args = vec![
            "gateway",
            "--config",
            self.config.to_str().unwrap(),
            "token",
            "create",
            "--user",
            user,
            "--json",
        ];
        if let Some(ttl) = ttl {
            args.extend(["--ttl", ttl]);
        }
        let out = Command::new(BIN).args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "token create for {user}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("token create --json printed no JSON ({e})"));
        (
            doc["token"].as_str().unwrap().to_string(),
            doc["id"].as_str().unwrap().to_string(),
        )
    }

    /// Mints tokens for `users` and hands them to `gw` (for `gw.connect`).
    pub fn mint_into(&self, gw: &mut Gateway, users: &[&str]) {
        for user in users {
            let (token, _) = self.mint(user, None);
            gw.tokens.insert(user.to_string(), token);
        }
    }
}

/// A gateway run from a [`ConfigDir`] with `extra` policy tables (e.g. log
/// sources), with a token for each of `users`. The gateway keeps the
/// directory for as long as it runs.
pub fn config_gateway(extra: &str, users: &[&str]) -> Gateway {
    let cd = ConfigDir::new(extra, "");
    let mut gw = cd.start();
    cd.mint_into(&mut gw, users);
    gw._tmp = Some(cd._tmp);
    gw
}

/// `request.list` as `conn`, newest first: the requests its user filed
/// (`mine`), or all it may see.
pub async fn list_requests(conn: &Connection, mine: bool) -> Vec<AccessRequest> {
    conn.call(Op::RequestList { state: None, mine })
        .await
        .unwrap()
        .take("requests")
        .unwrap()
}

/// The grant of a `request.create` approved at once (`why`: why it is).
pub async fn grant_at_once(conn: &Connection, op: Op, why: &str) -> String {
    let mut reply = conn.call(op).await.unwrap();
    let request: AccessRequest = reply.take("request").unwrap();
    match request.grant_id {
        Some(id) => id,
        None => panic!("{why}: {request:?}"),
    }
}

/// `grant.list` as `conn`.
pub async fn list_grants(conn: &Connection, active_only: bool) -> Vec<Grant> {
    conn.call(Op::GrantList { active_only })
        .await
        .unwrap()
        .take("grants")
        .unwrap()
}

/// `grant.revoke` as `conn`.
pub async fn revoke(conn: &Connection, grant_id: &str, reason: &str) {
    conn.call(Op::GrantRevoke {
        grant_id: grant_id.to_string(),
        reason: reason.to_string(),
    })
    .await
    .unwrap();
}

/// The whole audit chain, oldest first, as `lead` (a lead) reads it.
pub async fn whole_chain(lead: &Connection) -> Vec<breakglass::protocol::AuditEntry> {
    lead.call(Op::AuditRange {
        from_seq: 1,
        limit: 10_000,
    })
    .await
    .unwrap()
    .take("entries")
    .unwrap()
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
