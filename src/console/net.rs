//! The console's network task: keeps one connection to the gateway alive
//! (reconnecting with exponential backoff and jitter), fetches a snapshot
//! after every (re)connect, forwards pushed events, runs the ops `update`
//! asks for, and measures round-trip time. It only ever sends messages to
//! the UI; it never touches the screen.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::RngExt;
use tokio::sync::mpsc;

use std::path::PathBuf;

use super::app::{COPY_ACTION, CopyJob, JournalStatus, Msg, NetMsg, Snapshot};
use crate::client::recorder::{self, Recorder};
use crate::client::{ClientError, Connection};
use crate::protocol::{ClientFrame, Op, ReceivedReply};

/// What the UI asks the network task to do.
#[derive(Debug, Clone)]
pub enum Command {
    /// Journal the op, then send it.
    Send {
        op_id: String,
        op: Op,
    },
    /// Journal a user action that is not an op (a copy, a local search).
    Record {
        action: String,
        target: String,
        detail: serde_json::Value,
    },
    /// Journal a copy to the clipboard (what and how much, never the
    /// text); only once journaled is it handed back to be written.
    Copy(Box<CopyJob>),
    Refresh,
    VerifyChain,
    Export {
        filter: String,
    },
    /// The user leaves: journal it and deliver what can be delivered.
    Quit,
}

/// The console's journal: opened at the first `hello` (which names the
/// user), then every action goes through it before anything is sent.
struct Journaling {
    base: PathBuf,
    url: String,
    recorder: Option<Recorder>,
}

impl Journaling {
    fn status(&self, error: Option<String>) -> Option<NetMsg> {
        let r = self.recorder.as_ref()?;
        let entries = r.journal().head().0;
        let queued = r.journal().queued().unwrap_or(0);
        Some(NetMsg::Journal(JournalStatus {
            entries,
            queued,
            error,
        }))
    }

    fn open(&mut self, user: &str) -> Result<(), String> {
        if self.recorder.is_none() {
            let dir = recorder::journal_dir(&self.base, user, &self.url);
            let r = Recorder::open(&dir, user, &recorder::origin("console"))
                .map_err(|e| e.to_string())?;
            self.recorder = Some(r);
        }
        Ok(())
    }

    /// Journals one action; the error text says why nothing may happen.
    fn record(
        &mut self,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) -> Result<(), String> {
        match self.recorder.as_mut() {
            Some(r) => r
                .record(action, target, detail)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            None => Err("not signed in yet: nothing was done".into()),
        }
    }

    fn record_op(&mut self, frame: &ClientFrame) -> Result<(), String> {
        match self.recorder.as_mut() {
            Some(r) => r.record_op(frame).map(|_| ()).map_err(|e| e.to_string()),
            None => Err("not signed in yet: nothing was sent".into()),
        }
    }

    /// Journals a copy; the answer for the UI either way.
    fn record_copy(&mut self, job: Box<CopyJob>) -> NetMsg {
        match self.record(COPY_ACTION, &job.target, job.audit_detail()) {
            Ok(()) => NetMsg::CopyJournaled(job),
            Err(error) => NetMsg::CopyRefused { error },
        }
    }

    async fn deliver(&self, conn: &Connection) {
        if let Some(r) = &self.recorder
            && let Err(e) = r.deliver(conn).await
        {
            tracing::warn!(error = %e, "journal delivery postponed");
        }
    }
}

const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(15);
/// How often the round trip is measured while connected.
const RTT_EVERY: Duration = Duration::from_secs(10);

/// The delay before reconnect attempt `attempt` (1-based): doubling from
/// 250 ms to 15 s, with ±50 % jitter so a fleet of consoles does not
/// reconnect in lockstep after a gateway restart.
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let base = BACKOFF_FIRST.as_secs_f64() * 2f64.powi(attempt.saturating_sub(1).min(16) as i32);
    let capped = base.min(BACKOFF_MAX.as_secs_f64());
    Duration::from_secs_f64(capped * (0.5 + jitter.clamp(0.0, 1.0)))
}

/// Runs until the UI goes away (its receiver or our command sender drops).
pub async fn run(
    url: String,
    token: String,
    journal_base: PathBuf,
    ui: mpsc::UnboundedSender<Msg>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let mut journaling = Journaling {
        base: journal_base,
        url: url.clone(),
        recorder: None,
    };
    let mut attempt = 0u32;
    loop {
        if ui.send(Msg::Net(NetMsg::Connecting { attempt })).is_err() {
            return;
        }
        let reason = match Connection::connect(&url, &token).await {
            Ok(conn) => {
                attempt = 0;
                match serve(Arc::new(conn), &ui, &mut commands, &mut journaling).await {
                    Served::UiGone => return,
                    Served::Lost(reason) => reason,
                }
            }
            Err(ClientError::Unauthorized(m)) => format!("token refused: {m}"),
            Err(e) => e.to_string(),
        };
        attempt += 1;
        let wait = backoff(attempt, rand::rng().random::<f64>());
        let retry_at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
        let down = NetMsg::Down {
            reason,
            retry_at: Some(retry_at),
        };
        if ui.send(Msg::Net(down)).is_err() {
            return;
        }
        // Commands sent while down are answered at once: nothing was sent.
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                cmd = commands.recv() => match cmd {
                    None | Some(Command::Quit) => {
                        let _ = journaling.record("session.logout", &url, serde_json::json!({"offline": true}));
                        return;
                    }
                    Some(Command::Record { action, target, detail }) => {
                        // Offline actions wait in the journal for the gateway.
                        let error = journaling.record(&action, &target, detail).err();
                        if let Some(m) = journaling.status(error) {
                            let _ = ui.send(Msg::Net(m));
                        }
                    }
                    Some(Command::Copy(job)) => {
                        let answer = journaling.record_copy(job);
                        let _ = ui.send(Msg::Net(answer));
                        if let Some(m) = journaling.status(None) {
                            let _ = ui.send(Msg::Net(m));
                        }
                    }
                    Some(Command::Send { op_id, .. }) => {
                        let _ = ui.send(Msg::Net(NetMsg::Reply {
                            op_id,
                            result: Err(crate::protocol::ErrorBody::new(
                                crate::protocol::ErrorCode::Internal,
                                "not connected to the gateway; nothing was sent",
                            )),
                        }));
                    }
                    // A manual refresh while down means: try now.
                    Some(Command::Refresh) => break,
                    Some(Command::VerifyChain) | Some(Command::Export { .. }) => {
                        let _ = ui.send(Msg::Net(NetMsg::Verdict {
                            intact: false,
                            summary: "not checked: not connected".into(),
                            exported: None,
                        }));
                    }
                },
            }
        }
    }
}

enum Served {
    UiGone,
    Lost(String),
}

async fn serve(
    conn: Arc<Connection>,
    ui: &mpsc::UnboundedSender<Msg>,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    journaling: &mut Journaling,
) -> Served {
    let connected = NetMsg::Connected {
        user: conn.user.clone(),
        clock_offset: conn.clock_offset,
    };
    if ui.send(Msg::Net(connected)).is_err() {
        return Served::UiGone;
    }
    let first_sign_in = journaling.recorder.is_none();
    let opened = journaling.open(&conn.user.name);
    if first_sign_in && opened.is_ok() {
        let _ = journaling.record(
            "session.login",
            &journaling.url.clone(),
            serde_json::json!({}),
        );
    }
    journaling.deliver(&conn).await;
    if let Some(m) = journaling.status(opened.err()) {
        let _ = ui.send(Msg::Net(m));
    }
    match snapshot(&conn).await {
        Ok(s) => {
            if ui.send(Msg::Net(NetMsg::Snapshot(Box::new(s)))).is_err() {
                return Served::UiGone;
            }
        }
        Err(e) => return Served::Lost(e.to_string()),
    }
    let mut rtt = tokio::time::interval(RTT_EVERY);
    loop {
        tokio::select! {
            event = conn.next_event() => match event {
                Some(frame) => {
                    if ui.send(Msg::Net(NetMsg::Event(Box::new(frame.event)))).is_err() {
                        return Served::UiGone;
                    }
                }
                None => return Served::Lost("the gateway closed the connection".into()),
            },
            cmd = commands.recv() => match cmd {
                None => return Served::UiGone,
                Some(Command::Quit) => {
                    let _ = journaling.record("session.logout", &conn.user.name.clone(), serde_json::json!({}));
                    journaling.deliver(&conn).await;
                    return Served::UiGone;
                }
                Some(Command::Record { action, target, detail }) => {
                    let error = journaling.record(&action, &target, detail).err();
                    journaling.deliver(&conn).await;
                    if let Some(m) = journaling.status(error) {
                        let _ = ui.send(Msg::Net(m));
                    }
                }
                Some(Command::Copy(job)) => {
                    // Journaled (fsync) before the text may leave the console.
                    let answer = journaling.record_copy(job);
                    if ui.send(Msg::Net(answer)).is_err() {
                        return Served::UiGone;
                    }
                    journaling.deliver(&conn).await;
                    if let Some(m) = journaling.status(None) {
                        let _ = ui.send(Msg::Net(m));
                    }
                }
                Some(Command::Send { op_id, op }) => {
                    let frame = ClientFrame { id: op_id.clone(), op };
                    // Fail closed: an action the journal cannot hold is not sent.
                    if let Err(e) = journaling.record_op(&frame) {
                        let status = journaling.status(Some(e.clone()));
                        let _ = ui.send(Msg::Net(NetMsg::Reply {
                            op_id,
                            result: Err(crate::protocol::ErrorBody::new(
                                crate::protocol::ErrorCode::AuditUnavailable,
                                format!("not sent: {e}"),
                            )),
                        }));
                        if let Some(m) = status {
                            let _ = ui.send(Msg::Net(m));
                        }
                        continue;
                    }
                    let op = frame.op;
                    let (call_conn, reply_to) = (conn.clone(), ui.clone());
                    tokio::spawn(async move {
                        let result = call_conn
                            .call_frame(ClientFrame { id: op_id.clone(), op })
                            .await
                            .map(|r: ReceivedReply| r.fields)
                            .map_err(|e| match e {
                                ClientError::Refused(body) => body,
                                other => crate::protocol::ErrorBody::new(
                                    crate::protocol::ErrorCode::Internal,
                                    other.to_string(),
                                ),
                            });
                        let _ = reply_to.send(Msg::Net(NetMsg::Reply { op_id, result }));
                    });
                    journaling.deliver(&conn).await;
                    if let Some(m) = journaling.status(None) {
                        let _ = ui.send(Msg::Net(m));
                    }
                }
                Some(Command::VerifyChain) => {
                    let msg = verdict(&conn, journaling, None).await;
                    let _ = ui.send(Msg::Net(msg));
                }
                Some(Command::Export { filter }) => {
                    let msg = verdict(&conn, journaling, Some(filter)).await;
                    let _ = ui.send(Msg::Net(msg));
                }
                Some(Command::Refresh) => match snapshot(&conn).await {
                    Ok(s) => {
                        if ui.send(Msg::Net(NetMsg::Snapshot(Box::new(s)))).is_err() {
                            return Served::UiGone;
                        }
                    }
                    Err(e) => return Served::Lost(e.to_string()),
                },
            },
            _ = rtt.tick() => {
                let started = Instant::now();
                if conn.call(Op::CatalogList {}).await.is_ok() {
                    let ms = started.elapsed().as_millis() as u64;
                    if ui.send(Msg::Net(NetMsg::Rtt(ms))).is_err() {
                        return Served::UiGone;
                    }
                }
            }
        }
    }
}

/// Checks the gateway's chain; with a filter, also writes the matching
/// entries as a Markdown timeline into `<journal base>/exports/` (the
/// export is journaled: it is an action on the trail).
async fn verdict(conn: &Connection, journaling: &mut Journaling, export: Option<String>) -> NetMsg {
    let failed = |summary: String| NetMsg::Verdict {
        intact: false,
        summary,
        exported: None,
    };
    let (entries, v) =
        match crate::client::audit::remote_verdict(conn, &journaling.url, &journaling.base).await {
            Ok(r) => r,
            Err(e) => return failed(format!("not checked: {e}")),
        };
    let exported = match export {
        None => None,
        Some(filter) => {
            let f = filter.to_lowercase();
            let picked: Vec<&crate::protocol::AuditEntry> =
                crate::audit::report::select(&entries, None, None, None)
                    .into_iter()
                    .filter(|e| {
                        f.is_empty()
                            || e.actor.to_lowercase().contains(&f)
                            || e.action.to_lowercase().contains(&f)
                            || e.target.to_lowercase().contains(&f)
                            || e.detail.to_string().to_lowercase().contains(&f)
                    })
                    .collect();
            if let Err(e) = journaling.record(
                "audit.export",
                if filter.is_empty() { "all" } else { &filter },
                serde_json::json!({"entries": picked.len(), "format": "md"}),
            ) {
                return failed(format!("not exported: {e}"));
            }
            journaling.deliver(conn).await;
            let title = if filter.is_empty() {
                "Access audit".to_string()
            } else {
                format!("Access audit: {filter}")
            };
            let text = crate::audit::report::to_markdown(&title, &v, &picked);
            let dir = journaling.base.join("exports");
            let path = dir.join(format!(
                "audit-{}.md",
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
            ));
            match std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&path, text)) {
                Ok(()) => Some(path.display().to_string()),
                Err(e) => {
                    return failed(format!("checked, but the export could not be written: {e}"));
                }
            }
        }
    };
    NetMsg::Verdict {
        intact: v.intact(),
        summary: v.summary(),
        exported,
    }
}

/// Everything the panes show, fetched fresh (after a reconnect nothing
/// cached is trusted).
async fn snapshot(conn: &Connection) -> Result<Snapshot, ClientError> {
    fn take<T: serde::de::DeserializeOwned>(
        mut r: ReceivedReply,
        field: &str,
    ) -> Result<T, ClientError> {
        r.take(field).map_err(ClientError::Protocol)
    }
    let catalog = take(conn.call(Op::CatalogList {}).await?, "services")?;
    let requests = take(
        conn.call(Op::RequestList {
            state: None,
            mine: false,
        })
        .await?,
        "requests",
    )?;
    let grants = take(
        conn.call(Op::GrantList { active_only: false }).await?,
        "grants",
    )?;
    let sessions = if conn.user.has_role("lead") {
        take(conn.call(Op::SessionsList {}).await?, "sessions")?
    } else {
        Vec::new()
    };
    let audit = take(
        conn.call(Op::AuditQuery {
            since: None,
            actor: None,
            limit: Some(500),
        })
        .await?,
        "entries",
    )?;
    Ok(Snapshot {
        catalog,
        requests,
        grants,
        sessions,
        audit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_and_jitter_stays_within_half() {
        assert_eq!(backoff(1, 0.5), Duration::from_millis(250));
        assert_eq!(backoff(2, 0.5), Duration::from_millis(500));
        assert_eq!(backoff(30, 0.5), BACKOFF_MAX);
        assert_eq!(backoff(1, 0.0), Duration::from_millis(125));
        assert_eq!(backoff(1, 1.0), Duration::from_millis(375));
    }
}
