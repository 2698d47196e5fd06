//! The client side of the audit trail: every user action goes into the
//! person's local journal (fsynced) before it is sent, and the journal's
//! undelivered tail is handed to the gateway with `audit.record`, in order,
//! each entry's id as the op id (exactly once across crashes and
//! reconnects). The gateway's reply names its chain head, which is kept
//! beside the journal so neither side can rewrite history alone.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{ClientError, Connection};
use crate::audit::journal::{Cursor, Journal, JournalError};
use crate::protocol::{AuditEntry, ClientFrame, Op, ts};

pub const ENV_DATA_DIR: &str = "BREAKGLASS_DATA_DIR";

/// Where journals live: `BREAKGLASS_DATA_DIR`, else the platform data dir.
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os(ENV_DATA_DIR) {
        return PathBuf::from(d);
    }
    directories::ProjectDirs::from("dev", "breakglass", "breakglass")
        .map(|d| d.data_local_dir().to_path_buf())
        .unwrap_or_else(|| std::env::temp_dir().join("breakglass"))
}

/// One journal per person per gateway: `journal/<user>@<host_port>/`.
pub fn journal_dir(base: &Path, user: &str, gateway_url: &str) -> PathBuf {
    let host: String = gateway_url
        .split("://")
        .nth(1)
        .unwrap_or(gateway_url)
        .split('/')
        .next()
        .unwrap_or("")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    base.join("journal").join(format!("{user}@{host}"))
}

/// `cli:<host>` or `console:<host>`.
pub fn origin(kind: &str) -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into());
    format!("{kind}:{host}")
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("delivering the journal to the gateway: {0}")]
    Deliver(#[from] ClientError),
}

pub struct Recorder {
    journal: Journal,
}

impl Recorder {
    pub fn open(dir: &Path, user: &str, origin: &str) -> Result<Recorder, JournalError> {
        Ok(Recorder {
            journal: Journal::open(dir, user, origin)?,
        })
    }

    /// Journals an action; only after this succeeds may it be carried out.
    pub fn record(
        &mut self,
        action: &str,
        target: &str,
        detail: Value,
    ) -> Result<AuditEntry, JournalError> {
        let entry = self.journal.append(action, target, detail, ts::now())?;
        crate::failpoint::hang_if("journaled", action);
        Ok(entry)
    }

    /// Journals an op about to be sent, with its id so the two can be matched.
    pub fn record_op(&mut self, frame: &ClientFrame) -> Result<AuditEntry, JournalError> {
        let mut detail = serde_json::to_value(&frame.op).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut detail {
            map.remove("op");
            map.insert("op_id".into(), Value::String(frame.id.clone()));
        }
        self.record(frame.op.name(), &frame.op.target(), detail)
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Sends every undelivered entry, oldest first; stops at the first
    /// failure (the rest stays queued on disk). Returns how many went.
    pub async fn deliver(&self, conn: &Connection) -> Result<usize, RecordError> {
        let mut sent = 0;
        for entry in self.journal.undelivered()? {
            let seq = entry.seq;
            let frame = ClientFrame {
                id: entry.id.clone(),
                op: Op::AuditRecord {
                    entry: Box::new(entry),
                },
            };
            let mut reply = conn.call_frame(frame).await?;
            let gateway_seq: u64 = reply.take("seq").unwrap_or(0);
            let gateway_head: String = reply.take("head").unwrap_or_default();
            self.journal.mark_delivered(&Cursor {
                delivered_seq: seq,
                gateway_seq,
                gateway_head,
            })?;
            sent += 1;
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_person_and_gateway_has_its_own_journal_directory() {
        let base = Path::new("/d");
        assert_eq!(
            journal_dir(base, "alice", "ws://127.0.0.1:7443/v1/ws"),
            Path::new("/d/journal/alice@127.0.0.1_7443")
        );
        assert_ne!(
            journal_dir(base, "alice", "ws://a:1/v1/ws"),
            journal_dir(base, "bob", "ws://a:1/v1/ws")
        );
    }

    #[test]
    fn an_op_is_journaled_with_its_id_and_params() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Recorder::open(dir.path(), "alice", "cli:test").unwrap();
        let frame = ClientFrame::new(Op::RequestDeny {
            request_id: "req-1".into(),
            reason: "freeze".into(),
        });
        let e = r.record_op(&frame).unwrap();
        assert_eq!(e.action, "request.deny");
        assert_eq!(e.target, "req-1");
        assert_eq!(e.detail["op_id"], frame.id.as_str());
        assert_eq!(e.detail["reason"], "freeze");
    }
}
