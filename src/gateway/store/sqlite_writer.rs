//! The SQLite store's one writer: a thread of its own that owns the write
//! connection and applies commits in groups.
//!
//! Why a thread and not sqlx: through sqlx every statement is a message to
//! the connection's worker thread and back, so a transaction of a few
//! dozen statements cost as many thread hops, or one multi-statement script
//! that SQLite parsed afresh each time. Here the statements are prepared
//! once and stepped in place, and a waiting op costs one hand-over in and
//! one out. Reads stay on sqlx's pool.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

use super::wal_checkpoint::FinishRequest;
use super::wal_sync::WalSync;
use super::{Commit, StoreError, StoreResult, Write};
use crate::audit::chain::{self, GENESIS_HASH};
use crate::protocol::{AccessRequest, AuditEntry, Grant, ts};

/// Most commits folded into one transaction.
pub(super) const MAX_BATCH: usize = 128;

pub(super) type Job = (Commit, oneshot::Sender<StoreResult<Vec<AuditEntry>>>);

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Opens the write connection to the (already migrated) database at `path`
/// and starts the writer thread, which runs until every sender of `jobs`
/// is gone.
pub(super) fn start(
    path: &Path,
    busy_timeout: Duration,
    jobs: mpsc::Receiver<Job>,
    finish: Arc<FinishRequest>,
) -> StoreResult<()> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Unavailable(format!("opening {}: {e}", path.display())))?;
    conn.busy_timeout(busy_timeout).map_err(unavailable)?;
    // WAL, checkpoints left to `wal_checkpoint` (which asks this thread
    // only to finish one now and then), and commits that do not wait for
    // the disk: `WalSync` syncs the WAL beside this thread
    // and holds every answer until its commit is on disk.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA wal_autocheckpoint = 0;",
    )
    .map_err(unavailable)?;
    let starting =
        |e: std::io::Error| StoreError::Unavailable(format!("starting the store writer: {e}"));
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let sync = WalSync::start(wal.into()).map_err(starting)?;
    std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || write_batches(conn, jobs, sync, finish))
        .map_err(starting)?;
    Ok(())
}

/// Group commit: whatever commits queued up while the previous transaction
/// was being applied go into the next one, and its answers wait for the
/// next sync of the WAL.
fn write_batches(
    mut conn: Connection,
    mut jobs: mpsc::Receiver<Job>,
    sync: WalSync,
    finish: Arc<FinishRequest>,
) {
    // The chain head after the last batch this thread committed: it is the
    // database's only writer of the chain, so it need not read it back.
    let mut head: Option<(u64, String)> = None;
    while let Some(first) = jobs.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let (commits, replies): (Vec<Commit>, Vec<_>) = batch.into_iter().unzip();
        let outcomes = match sync.broken() {
            Some(why) => replies
                .iter()
                .map(|_| Err(StoreError::Unavailable(why.clone())))
                .collect(),
            None => match apply_batch(&mut conn, &commits, &mut head) {
                Ok(outcomes) => outcomes,
                Err(e) => {
                    head = None;
                    replies.iter().map(|_| Err(e.clone())).collect()
                }
            },
        };
        // Refusals too: a repeated op id is answered from a stored reply
        // that may still be waiting for this very sync.
        sync.answer_when_durable(replies.into_iter().zip(outcomes).collect());
        if finish.take() {
            finish_checkpoint(&conn);
        }
    }
}

/// Copies the last frames of a long WAL back, so that the next commit
/// starts it again from the top (see `wal_checkpoint`). The batch just
/// committed is already with the sync thread; only the next one waits.
/// Nothing acknowledged is put at risk: even at `synchronous = NORMAL` a
/// checkpoint syncs the WAL before copying and the database file before
/// it counts the frames as copied, so no frame is written over before its
/// page is on disk in the database.
fn finish_checkpoint(conn: &Connection) {
    let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
    });
    match done {
        Ok((log, copied)) if copied < log => {
            tracing::debug!(log, copied, "a reader kept the WAL from restarting")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not finish a WAL checkpoint"),
    }
}

/// Applies commits in one transaction; the outer error means none landed.
/// A commit that loses its compare-and-set (or repeats an op id) is
/// answered with that error and the rest of the batch is applied again
/// without it: such losses are rare, so the common case pays nothing for
/// them (no savepoint per commit).
fn apply_batch(
    conn: &mut Connection,
    commits: &[Commit],
    cached_head: &mut Option<(u64, String)>,
) -> StoreResult<Vec<StoreResult<Vec<AuditEntry>>>> {
    let mut outcomes: Vec<Option<StoreResult<Vec<AuditEntry>>>> = vec![None; commits.len()];
    'attempt: loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        let mut head = match cached_head.take() {
            Some(h) => h,
            None => chain_head(&tx)?,
        };
        let mut landed = Vec::new();
        for (i, commit) in commits.iter().enumerate() {
            if outcomes[i].is_some() {
                continue;
            }
            match apply_one(&tx, commit, &head) {
                Ok(entries) => {
                    if let Some(last) = entries.last() {
                        head = (last.seq, last.hash.clone());
                    }
                    landed.push((i, entries));
                }
                // The store itself failed: the transaction cannot be trusted
                // (dropping it rolls it back).
                Err(e @ StoreError::Unavailable(_)) => return Err(e),
                Err(e) => {
                    outcomes[i] = Some(Err(e));
                    // What this attempt sealed is rolled back with it, so the
                    // head is read again.
                    continue 'attempt;
                }
            }
        }
        tx.commit().map_err(unavailable)?;
        *cached_head = Some(head);
        for (i, entries) in landed {
            outcomes[i] = Some(Ok(entries));
        }
        return Ok(outcomes
            .into_iter()
            .map(|o| o.expect("every commit has an outcome"))
            .collect());
    }
}

fn chain_head(tx: &Transaction<'_>) -> StoreResult<(u64, String)> {
    let mut stmt = tx
        .prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        .map_err(unavailable)?;
    let mut rows = stmt.query([]).map_err(unavailable)?;
    match rows.next().map_err(unavailable)? {
        Some(row) => Ok((
            row.get::<_, i64>(0).map_err(unavailable)? as u64,
            row.get(1).map_err(unavailable)?,
        )),
        None => Ok((0, GENESIS_HASH.to_string())),
    }
}

/// One commit inside the batch's transaction, chained after `head`.
fn apply_one(
    tx: &Transaction<'_>,
    commit: &Commit,
    head: &(u64, String),
) -> StoreResult<Vec<AuditEntry>> {
    for w in &commit.requests {
        write_request(tx, w)?;
    }
    for w in &commit.grants {
        write_grant(tx, w)?;
    }
    let (mut seq, mut prev) = head.clone();
    let mut sealed = Vec::with_capacity(commit.audit.len());
    for draft in &commit.audit {
        seq += 1;
        let entry = chain::seal(draft.clone(), seq, &prev);
        insert_audit(tx, &entry)?;
        prev = entry.hash.clone();
        sealed.push(entry);
    }
    if let Some(op) = &commit.op {
        let changed = tx
            .prepare_cached(
                "INSERT INTO op_replies (user_name, op_id, reply, at) VALUES (?, ?, ?, ?)
                 ON CONFLICT DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    op.user,
                    op.op_id,
                    op.reply.text(&sealed),
                    ts::format(&Utc::now())
                ])
            })
            .map_err(unavailable)?;
        if changed == 0 {
            return Err(StoreError::DuplicateOp);
        }
    }
    Ok(sealed)
}

fn body<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// An insert that finds its id taken, or an update that finds another
/// version, lost to a concurrent change.
fn one_row(changed: usize) -> StoreResult<()> {
    if changed == 0 {
        return Err(StoreError::Conflict);
    }
    Ok(())
}

fn write_request(tx: &Transaction<'_>, w: &Write<AccessRequest>) -> StoreResult<()> {
    let changed = match w {
        Write::Insert(r) => {
            let body = body(r)?;
            tx.prepare_cached(
                "INSERT INTO requests (id, requester, service, state, ticket, created_at, version, body)
                 VALUES (?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    r.id,
                    r.requester,
                    r.service,
                    r.state.as_str(),
                    r.ticket,
                    ts::format(&r.created_at),
                    body,
                ])
            })
        }
        Write::Update {
            value: r,
            expected_version,
        } => {
            let body = body(r)?;
            tx.prepare_cached(
                "UPDATE requests SET state = ?, body = ?, version = version + 1
                 WHERE id = ? AND version = ?",
            )
            .and_then(|mut s| s.execute(params![r.state.as_str(), body, r.id, expected_version]))
        }
    };
    one_row(changed.map_err(unavailable)?)
}

fn write_grant(tx: &Transaction<'_>, w: &Write<Grant>) -> StoreResult<()> {
    let changed = match w {
        Write::Insert(g) => {
            let body = body(g)?;
            tx.prepare_cached(
                "INSERT INTO grants (id, user_name, service, state, expires_at, version, body)
                 VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    g.id,
                    g.user,
                    g.service,
                    g.state.as_str(),
                    ts::format(&g.expires_at),
                    body,
                ])
            })
        }
        Write::Update {
            value: g,
            expected_version,
        } => {
            let body = body(g)?;
            tx.prepare_cached(
                "UPDATE grants SET state = ?, expires_at = ?, body = ?, version = version + 1
                 WHERE id = ? AND version = ?",
            )
            .and_then(|mut s| {
                s.execute(params![
                    g.state.as_str(),
                    ts::format(&g.expires_at),
                    body,
                    g.id,
                    expected_version
                ])
            })
        }
    };
    one_row(changed.map_err(unavailable)?)
}

fn insert_audit(tx: &Transaction<'_>, e: &AuditEntry) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO audit (seq, id, at, actor, origin, action, target, detail, prev_hash, hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .and_then(|mut s| {
        s.execute(params![
            e.seq as i64,
            e.id,
            ts::format(&e.at),
            e.actor,
            e.origin,
            e.action,
            e.target,
            e.detail.to_string(),
            e.prev_hash,
            e.hash
        ])
    })
    .map_err(unavailable)?;
    Ok(())
}
