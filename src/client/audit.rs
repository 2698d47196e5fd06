//! Reading and checking the gateway's audit trail from a client: the whole
//! chain page by page, its signed checkpoints, and the heads this machine's
//! journals were told. Shared by `breakglass audit` and the console.

use std::path::Path;

use super::recorder;
use super::{ClientError, Connection};
use crate::audit::journal;
use crate::audit::report::{self, KnownHead, Verification};
use crate::protocol::{AuditEntry, Checkpoint, Op};

/// Entries fetched per `audit.range` call.
const PAGE: u32 = 5000;

/// The gateway's whole chain, oldest first (leads only).
pub async fn fetch_chain(conn: &Connection) -> Result<Vec<AuditEntry>, ClientError> {
    let mut all: Vec<AuditEntry> = Vec::new();
    loop {
        let from_seq = all.last().map_or(1, |e| e.seq + 1);
        let mut reply = conn
            .call(Op::AuditRange {
                from_seq,
                limit: PAGE,
            })
            .await?;
        let page: Vec<AuditEntry> = reply.take("entries").map_err(ClientError::Protocol)?;
        let done = (page.len() as u32) < PAGE;
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}

/// The heads the journals under `base` were told by the gateway at `url`.
pub fn known_heads(base: &Path, url: &str) -> Vec<KnownHead> {
    let probe = recorder::journal_dir(Path::new(""), "x", url);
    let suffix = probe
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split_once('@'))
        .map(|(_, h)| format!("@{h}"))
        .unwrap_or_default();
    let root = base.join("journal");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs.into_iter()
        .filter(|d| d.to_string_lossy().ends_with(&suffix))
        .filter_map(|dir| {
            let j = journal::Journal::open(&dir, "", "").ok()?;
            let c = j.cursor().ok()?;
            (c.gateway_seq > 0).then(|| {
                (
                    format!("local journal {}", dir.display()),
                    c.gateway_seq,
                    c.gateway_head,
                )
            })
        })
        .collect()
}

/// Signs a fresh checkpoint, fetches the chain and every checkpoint, and
/// checks them against the gateway's key and the local journals' heads.
pub async fn remote_verdict(
    conn: &Connection,
    url: &str,
    journal_base: &Path,
) -> Result<(Vec<AuditEntry>, Verification), ClientError> {
    let key = conn.audit_key.clone().ok_or_else(|| {
        ClientError::Protocol("the gateway announced no audit key; it cannot be checked".into())
    })?;
    // A fresh checkpoint first, so that what is fetched next is covered.
    conn.call(Op::AuditCheckpoint {}).await?;
    let entries = fetch_chain(conn).await?;
    let mut reply = conn.call(Op::AuditCheckpoints {}).await?;
    let checkpoints: Vec<Checkpoint> = reply.take("checkpoints").map_err(ClientError::Protocol)?;
    let v = report::verify_trail(
        &entries,
        false,
        &checkpoints,
        Some(&key),
        &known_heads(journal_base, url),
    );
    Ok((entries, v))
}
