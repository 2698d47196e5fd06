//! SQLite store: one file in WAL mode with `synchronous = FULL`, so an
//! acknowledged op survives a kill -9 or a power cut.
//!
//! All writes go through one connection and start with `BEGIN IMMEDIATE`:
//! SQLite has a single writer anyway, and taking the write lock up front
//! keeps the audit chain's "read head, append" step free of races. Commits
//! that arrive while one is syncing are grouped into the next transaction.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::{
    AuditQuery, Commit, RequestQuery, Store, StoreError, StoreResult, TokenRecord, Versioned, Write,
};
use crate::audit::chain::{self, GENESIS_HASH};
use crate::protocol::{AccessRequest, AuditEntry, Checkpoint, Grant, ts};

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    jobs: mpsc::Sender<Job>,
}

fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn parse_time(raw: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(corrupt)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub async fn open(path: &Path, busy_timeout: Duration) -> StoreResult<SqliteStore> {
        let url = format!("sqlite://{}", path.display());
        let options = SqliteConnectOptions::from_str(&url)
            .map_err(unavailable)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(busy_timeout)
            .foreign_keys(true)
            // Checkpoints run beside the writer (see `checkpoint_wal`), not
            // inside whichever commit crosses SQLite's 1,000-page mark.
            .pragma("wal_autocheckpoint", "0");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(busy_timeout + Duration::from_secs(5))
            .connect_with(options.clone())
            .await
            .map_err(unavailable)?;
        sqlx::migrate!("migrations/sqlite")
            .run(&writer)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migrating {}: {e}", path.display())))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone().read_only(true))
            .await
            .map_err(unavailable)?;
        let checkpointer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(checkpoint_wal(checkpointer, jobs.downgrade()));
        tokio::spawn(write_batches(writer.clone(), rx));
        Ok(SqliteStore {
            writer,
            reader,
            jobs,
        })
    }
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Copies committed WAL frames into the database file on a connection of
/// its own, every second, for as long as the store lives. A PASSIVE
/// checkpoint never waits for (or blocks) the writer, so commits keep their
/// latency; SQLite restarts the WAL from the top once a checkpoint has
/// caught up, which keeps the file bounded. Durability does not depend on
/// it: a commit is durable once its WAL frames are synced.
async fn checkpoint_wal(pool: SqlitePool, alive: mpsc::WeakSender<Job>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if alive.upgrade().is_none() {
            pool.close().await;
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, "WAL checkpoint failed; the WAL grows until one succeeds");
        }
    }
}

/// Most commits folded into one transaction.
const MAX_BATCH: usize = 128;

type Job = (Commit, oneshot::Sender<StoreResult<Vec<AuditEntry>>>);

/// Group commit: whatever commits queued up while the previous transaction
/// was syncing go into the next one; one fsync then makes the whole batch
/// durable before any of them is acknowledged.
async fn write_batches(pool: SqlitePool, mut jobs: mpsc::Receiver<Job>) {
    // The chain head after the last batch this task committed: this task is
    // the database's only writer, so it need not be read back every time.
    let mut head: Option<(u64, String)> = None;
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let (commits, replies): (Vec<Commit>, Vec<_>) = batch.into_iter().unzip();
        let outcomes = match apply_batch(&pool, commits, &mut head).await {
            Ok(outcomes) => outcomes,
            Err(e) => {
                head = None;
                replies.iter().map(|_| Err(e.clone())).collect()
            }
        };
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            let _ = reply.send(outcome);
        }
    }
}

/// Applies commits in one transaction; the outer error means none landed.
/// Optimistic: a commit that loses its compare-and-set (or repeats an op id)
/// is answered with that error and the rest of the batch is applied again
/// without it, which keeps the common case at one statement per row.
async fn apply_batch(
    pool: &SqlitePool,
    commits: Vec<Commit>,
    cached_head: &mut Option<(u64, String)>,
) -> StoreResult<Vec<StoreResult<Vec<AuditEntry>>>> {
    let mut outcomes: Vec<Option<StoreResult<Vec<AuditEntry>>>> = vec![None; commits.len()];
    let mut fast = true;
    'attempt: loop {
        let mut tx = pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(unavailable)?;
        let mut head = match cached_head.take() {
            Some(h) => h,
            None => {
                let row = sqlx::query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                match row {
                    Some(row) => (row.get::<i64, _>(0) as u64, row.get::<String, _>(1)),
                    None => (0, GENESIS_HASH.to_string()),
                }
            }
        };
        if fast {
            // The common case: every write lands. One round trip for the
            // whole batch; any surprise falls back to the careful path.
            fast = false;
            if let Some(sealed) = run_script(&mut tx, &commits, &head).await {
                tx.commit().await.map_err(unavailable)?;
                *cached_head = sealed
                    .iter()
                    .flatten()
                    .last()
                    .map(|e| (e.seq, e.hash.clone()))
                    .or(Some(head));
                return Ok(sealed.into_iter().map(Ok).collect());
            }
            drop(tx);
            *cached_head = Some(head);
            continue 'attempt;
        }
        let mut landed = Vec::new();
        for (i, commit) in commits.iter().enumerate() {
            if outcomes[i].is_some() {
                continue;
            }
            match apply_one(&mut tx, commit.clone(), &head).await {
                Ok(entries) => {
                    if let Some(last) = entries.last() {
                        head = (last.seq, last.hash.clone());
                    }
                    landed.push((i, entries));
                }
                // The store itself failed: the transaction cannot be trusted.
                Err(e @ StoreError::Unavailable(_)) => return Err(e),
                Err(e) => {
                    outcomes[i] = Some(Err(e));
                    drop(tx);
                    // What this attempt sealed was rolled back: read the head again.
                    *cached_head = None;
                    continue 'attempt;
                }
            }
        }
        tx.commit().await.map_err(unavailable)?;
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

/// One SQL value of a batch script.
enum Val {
    Text(String),
    OptText(Option<String>),
    Int(i64),
}

/// Every statement of every commit, as one multi-statement query; each
/// statement affects exactly one row when all goes well, so the total
/// tells whether it did. `None`: something did not land (a lost
/// compare-and-set, a repeated op id, an error), and nothing of it counts.
async fn run_script(
    tx: &mut Transaction<'static, Sqlite>,
    commits: &[Commit],
    head: &(u64, String),
) -> Option<Vec<Vec<AuditEntry>>> {
    use sqlx::Arguments as _;
    let mut sql = String::new();
    let mut vals: Vec<Val> = Vec::new();
    let mut statements = 0u64;
    let mut push = |stmt: &str, v: Vec<Val>| {
        sql.push_str(stmt);
        sql.push_str(";\n");
        vals.extend(v);
        statements += 1;
    };
    let (mut seq, mut prev) = head.clone();
    let mut sealed_all = Vec::with_capacity(commits.len());
    for commit in commits {
        for w in &commit.requests {
            match w {
                Write::Insert(r) => push(
                    "INSERT INTO requests (id, requester, service, state, ticket, created_at, version, body) \
                     VALUES (?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT DO NOTHING",
                    vec![
                        Val::Text(r.id.clone()),
                        Val::Text(r.requester.clone()),
                        Val::Text(r.service.clone()),
                        Val::Text(r.state.as_str().into()),
                        Val::OptText(r.ticket.clone()),
                        Val::Text(ts::format(&r.created_at)),
                        Val::Text(serde_json::to_string(r).ok()?),
                    ],
                ),
                Write::Update {
                    value: r,
                    expected_version,
                } => push(
                    "UPDATE requests SET state = ?, body = ?, version = version + 1 WHERE id = ? AND version = ?",
                    vec![
                        Val::Text(r.state.as_str().into()),
                        Val::Text(serde_json::to_string(r).ok()?),
                        Val::Text(r.id.clone()),
                        Val::Int(*expected_version),
                    ],
                ),
            }
        }
        for w in &commit.grants {
            match w {
                Write::Insert(g) => push(
                    "INSERT INTO grants (id, user_name, service, state, expires_at, version, body) \
                     VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT DO NOTHING",
                    vec![
                        Val::Text(g.id.clone()),
                        Val::Text(g.user.clone()),
                        Val::Text(g.service.clone()),
                        Val::Text(g.state.as_str().into()),
                        Val::Text(ts::format(&g.expires_at)),
                        Val::Text(serde_json::to_string(g).ok()?),
                    ],
                ),
                Write::Update {
                    value: g,
                    expected_version,
                } => push(
                    "UPDATE grants SET state = ?, expires_at = ?, body = ?, version = version + 1 \
                     WHERE id = ? AND version = ?",
                    vec![
                        Val::Text(g.state.as_str().into()),
                        Val::Text(ts::format(&g.expires_at)),
                        Val::Text(serde_json::to_string(g).ok()?),
                        Val::Text(g.id.clone()),
                        Val::Int(*expected_version),
                    ],
                ),
            }
        }
        let mut sealed = Vec::with_capacity(commit.audit.len());
        for draft in &commit.audit {
            seq += 1;
            let e = chain::seal(draft.clone(), seq, &prev);
            push(
                "INSERT INTO audit (seq, id, at, actor, origin, action, target, detail, prev_hash, hash) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                vec![
                    Val::Int(e.seq as i64),
                    Val::Text(e.id.clone()),
                    Val::Text(ts::format(&e.at)),
                    Val::Text(e.actor.clone()),
                    Val::Text(e.origin.clone()),
                    Val::Text(e.action.clone()),
                    Val::Text(e.target.clone()),
                    Val::Text(e.detail.to_string()),
                    Val::Text(e.prev_hash.clone()),
                    Val::Text(e.hash.clone()),
                ],
            );
            prev = e.hash.clone();
            sealed.push(e);
        }
        if let Some(op) = &commit.op {
            push(
                "INSERT INTO op_replies (user_name, op_id, reply, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                vec![
                    Val::Text(op.user.clone()),
                    Val::Text(op.op_id.clone()),
                    Val::Text(op.reply.text(&sealed)),
                    Val::Text(ts::format(&Utc::now())),
                ],
            );
        }
        sealed_all.push(sealed);
    }
    if statements == 0 {
        return Some(sealed_all);
    }
    let mut args = sqlx::sqlite::SqliteArguments::default();
    for v in vals {
        let added = match v {
            Val::Text(t) => args.add(t),
            Val::OptText(t) => args.add(t),
            Val::Int(i) => args.add(i),
        };
        added.ok()?;
    }
    let done = sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
        .execute(&mut **tx)
        .await
        .ok()?;
    (done.rows_affected() == statements).then_some(sealed_all)
}

/// One commit inside the batch's transaction, chained after `head`.
async fn apply_one(
    tx: &mut Transaction<'static, Sqlite>,
    commit: Commit,
    head: &(u64, String),
) -> StoreResult<Vec<AuditEntry>> {
    for w in &commit.requests {
        write_request(tx, w).await?;
    }
    for w in &commit.grants {
        write_grant(tx, w).await?;
    }
    let (mut seq, mut prev) = head.clone();
    let mut sealed = Vec::with_capacity(commit.audit.len());
    for draft in commit.audit {
        seq += 1;
        let entry = chain::seal(draft, seq, &prev);
        insert_audit(tx, &entry).await?;
        prev = entry.hash.clone();
        sealed.push(entry);
    }
    if let Some(op) = &commit.op {
        insert_op(tx, &op.user, &op.op_id, &op.reply.text(&sealed)).await?;
    }
    Ok(sealed)
}

async fn insert_op(
    tx: &mut Transaction<'static, Sqlite>,
    user: &str,
    op_id: &str,
    reply: &str,
) -> StoreResult<()> {
    let res = sqlx::query(
        "INSERT INTO op_replies (user_name, op_id, reply, at) VALUES (?, ?, ?, ?)
         ON CONFLICT DO NOTHING",
    )
    .bind(user)
    .bind(op_id)
    .bind(reply)
    .bind(ts::format(&Utc::now()))
    .execute(&mut **tx)
    .await
    .map_err(unavailable)?;
    if res.rows_affected() == 0 {
        return Err(StoreError::DuplicateOp);
    }
    Ok(())
}

async fn write_request(
    tx: &mut Transaction<'static, Sqlite>,
    w: &Write<AccessRequest>,
) -> StoreResult<()> {
    let res = match w {
        Write::Insert(r) => sqlx::query(
            "INSERT INTO requests (id, requester, service, state, ticket, created_at, version, body)
             VALUES (?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&r.id)
        .bind(&r.requester)
        .bind(&r.service)
        .bind(r.state.as_str())
        .bind(&r.ticket)
        .bind(ts::format(&r.created_at))
        .bind(serde_json::to_string(r).map_err(corrupt)?)
        .execute(&mut **tx)
        .await
        .map_err(unavailable)?,
        Write::Update {
            value: r,
            expected_version,
        } => sqlx::query(
            "UPDATE requests SET state = ?, body = ?, version = version + 1
             WHERE id = ? AND version = ?",
        )
        .bind(r.state.as_str())
        .bind(serde_json::to_string(r).map_err(corrupt)?)
        .bind(&r.id)
        .bind(expected_version)
        .execute(&mut **tx)
        .await
        .map_err(unavailable)?,
    };
    if res.rows_affected() == 0 {
        return Err(StoreError::Conflict);
    }
    Ok(())
}

async fn write_grant(tx: &mut Transaction<'static, Sqlite>, w: &Write<Grant>) -> StoreResult<()> {
    let res = match w {
        Write::Insert(g) => sqlx::query(
            "INSERT INTO grants (id, user_name, service, state, expires_at, version, body)
             VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&g.id)
        .bind(&g.user)
        .bind(&g.service)
        .bind(g.state.as_str())
        .bind(ts::format(&g.expires_at))
        .bind(serde_json::to_string(g).map_err(corrupt)?)
        .execute(&mut **tx)
        .await
        .map_err(unavailable)?,
        Write::Update {
            value: g,
            expected_version,
        } => sqlx::query(
            "UPDATE grants SET state = ?, expires_at = ?, body = ?, version = version + 1
             WHERE id = ? AND version = ?",
        )
        .bind(g.state.as_str())
        .bind(ts::format(&g.expires_at))
        .bind(serde_json::to_string(g).map_err(corrupt)?)
        .bind(&g.id)
        .bind(expected_version)
        .execute(&mut **tx)
        .await
        .map_err(unavailable)?,
    };
    if res.rows_affected() == 0 {
        return Err(StoreError::Conflict);
    }
    Ok(())
}

async fn insert_audit(tx: &mut Transaction<'static, Sqlite>, e: &AuditEntry) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit (seq, id, at, actor, origin, action, target, detail, prev_hash, hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(e.seq as i64)
    .bind(&e.id)
    .bind(ts::format(&e.at))
    .bind(&e.actor)
    .bind(&e.origin)
    .bind(&e.action)
    .bind(&e.target)
    .bind(e.detail.to_string())
    .bind(&e.prev_hash)
    .bind(&e.hash)
    .execute(&mut **tx)
    .await
    .map_err(unavailable)?;
    Ok(())
}

fn audit_from_row(row: &SqliteRow) -> StoreResult<AuditEntry> {
    Ok(AuditEntry {
        seq: row.get::<i64, _>("seq") as u64,
        id: row.get("id"),
        at: parse_time(row.get("at"))?,
        actor: row.get("actor"),
        origin: row.get("origin"),
        action: row.get("action"),
        target: row.get("target"),
        detail: serde_json::from_str(row.get("detail")).map_err(corrupt)?,
        prev_hash: row.get("prev_hash"),
        hash: row.get("hash"),
    })
}

fn versioned<T: serde::de::DeserializeOwned>(row: &SqliteRow) -> StoreResult<Versioned<T>> {
    Ok(Versioned {
        value: serde_json::from_str(row.get("body")).map_err(corrupt)?,
        version: row.get("version"),
    })
}

fn token_from_row(row: &SqliteRow) -> StoreResult<TokenRecord> {
    let opt_time = |col: &str| -> StoreResult<Option<DateTime<Utc>>> {
        row.get::<Option<String>, _>(col)
            .as_deref()
            .map(parse_time)
            .transpose()
    };
    Ok(TokenRecord {
        id: row.get("id"),
        user: row.get("user_name"),
        secret_hash: row.get("secret_hash"),
        created_at: parse_time(row.get("created_at"))?,
        expires_at: opt_time("expires_at")?,
        revoked_at: opt_time("revoked_at")?,
        label: row.get("label"),
    })
}

impl Store for SqliteStore {
    fn commit(&self, commit: Commit) -> BoxFuture<'_, StoreResult<Vec<AuditEntry>>> {
        Box::pin(async move {
            let stopped = || StoreError::Unavailable("the store's writer has stopped".into());
            let (tx, rx) = oneshot::channel();
            self.jobs.send((commit, tx)).await.map_err(|_| stopped())?;
            rx.await.map_err(|_| stopped())?
        })
    }

    fn request(&self, id: &str) -> BoxFuture<'_, StoreResult<Option<Versioned<AccessRequest>>>> {
        let id = id.to_string();
        Box::pin(async move {
            sqlx::query("SELECT body, version FROM requests WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.reader)
                .await
                .map_err(unavailable)?
                .as_ref()
                .map(versioned)
                .transpose()
        })
    }

    fn grant(&self, id: &str) -> BoxFuture<'_, StoreResult<Option<Versioned<Grant>>>> {
        let id = id.to_string();
        Box::pin(async move {
            sqlx::query("SELECT body, version FROM grants WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.reader)
                .await
                .map_err(unavailable)?
                .as_ref()
                .map(versioned)
                .transpose()
        })
    }

    fn list_requests(&self, q: RequestQuery) -> BoxFuture<'_, StoreResult<Vec<AccessRequest>>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT body, version FROM requests
                 WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR requester = ?2)
                 ORDER BY created_at DESC, id DESC LIMIT ?3",
            )
            .bind(q.state.map(|s| s.as_str()))
            .bind(q.requester)
            .bind(if q.limit == 0 { -1 } else { i64::from(q.limit) })
            .fetch_all(&self.reader)
            .await
            .map_err(unavailable)?;
            rows.iter().map(|r| versioned(r).map(|v| v.value)).collect()
        })
    }

    fn list_grants(&self, active_only: bool) -> BoxFuture<'_, StoreResult<Vec<Grant>>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT body, version FROM grants WHERE (?1 = 0 OR state = 'active')
                 ORDER BY expires_at DESC, id DESC",
            )
            .bind(active_only)
            .fetch_all(&self.reader)
            .await
            .map_err(unavailable)?;
            rows.iter().map(|r| versioned(r).map(|v| v.value)).collect()
        })
    }

    fn op_reply(&self, user: &str, op_id: &str) -> BoxFuture<'_, StoreResult<Option<String>>> {
        let (user, op_id) = (user.to_string(), op_id.to_string());
        Box::pin(async move {
            // A new read transaction sees every acknowledged commit; a
            // resend racing its first attempt is caught by the insert.
            let row = sqlx::query("SELECT reply FROM op_replies WHERE user_name = ? AND op_id = ?")
                .bind(user)
                .bind(op_id)
                .fetch_optional(&self.reader)
                .await
                .map_err(unavailable)?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn audit_query(&self, q: AuditQuery) -> BoxFuture<'_, StoreResult<Vec<AuditEntry>>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT * FROM audit WHERE (?1 IS NULL OR at >= ?1) AND (?2 IS NULL OR actor = ?2)
                 ORDER BY seq DESC LIMIT ?3",
            )
            .bind(q.since.as_ref().map(ts::format))
            .bind(q.actor)
            .bind(if q.limit == 0 { -1 } else { i64::from(q.limit) })
            .fetch_all(&self.reader)
            .await
            .map_err(unavailable)?;
            rows.iter().map(audit_from_row).collect()
        })
    }

    fn audit_range(&self, from: u64, limit: u32) -> BoxFuture<'_, StoreResult<Vec<AuditEntry>>> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT * FROM audit WHERE seq >= ? ORDER BY seq ASC LIMIT ?")
                .bind(from as i64)
                .bind(i64::from(limit))
                .fetch_all(&self.reader)
                .await
                .map_err(unavailable)?;
            rows.iter().map(audit_from_row).collect()
        })
    }

    fn audit_head(&self) -> BoxFuture<'_, StoreResult<Option<(u64, String)>>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&self.reader)
                .await
                .map_err(unavailable)?;
            Ok(row.map(|r| (r.get::<i64, _>(0) as u64, r.get(1))))
        })
    }

    fn insert_checkpoint(&self, c: Checkpoint) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO checkpoints (seq, hash, at, signature) VALUES (?, ?, ?, ?)
                 ON CONFLICT DO NOTHING",
            )
            .bind(c.seq as i64)
            .bind(c.hash)
            .bind(ts::format(&c.at))
            .bind(c.signature)
            .execute(&self.writer)
            .await
            .map_err(unavailable)?;
            Ok(())
        })
    }

    fn checkpoints(&self) -> BoxFuture<'_, StoreResult<Vec<Checkpoint>>> {
        Box::pin(async move {
            let rows =
                sqlx::query("SELECT seq, hash, at, signature FROM checkpoints ORDER BY seq, at")
                    .fetch_all(&self.reader)
                    .await
                    .map_err(unavailable)?;
            rows.iter()
                .map(|r| {
                    Ok(Checkpoint {
                        seq: r.get::<i64, _>(0) as u64,
                        hash: r.get(1),
                        at: parse_time(r.get(2))?,
                        signature: r.get(3),
                    })
                })
                .collect()
        })
    }

    fn insert_token(&self, t: TokenRecord) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO tokens (id, user_name, secret_hash, created_at, expires_at, revoked_at, label)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(t.id)
            .bind(t.user)
            .bind(t.secret_hash)
            .bind(ts::format(&t.created_at))
            .bind(t.expires_at.as_ref().map(ts::format))
            .bind(t.revoked_at.as_ref().map(ts::format))
            .bind(t.label)
            .execute(&self.writer)
            .await
            .map_err(unavailable)?;
            Ok(())
        })
    }

    fn token(&self, id: &str) -> BoxFuture<'_, StoreResult<Option<TokenRecord>>> {
        let id = id.to_string();
        Box::pin(async move {
            sqlx::query("SELECT * FROM tokens WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.reader)
                .await
                .map_err(unavailable)?
                .as_ref()
                .map(token_from_row)
                .transpose()
        })
    }

    fn revoke_token(&self, id: &str, at: DateTime<Utc>) -> BoxFuture<'_, StoreResult<bool>> {
        let id = id.to_string();
        Box::pin(async move {
            let res =
                sqlx::query("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                    .bind(ts::format(&at))
                    .bind(id)
                    .execute(&self.writer)
                    .await
                    .map_err(unavailable)?;
            Ok(res.rows_affected() == 1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::Draft;

    #[tokio::test]
    async fn committed_entries_reach_the_database_file_without_any_commit_checkpointing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.db");
        let store = SqliteStore::open(&path, Duration::from_secs(5))
            .await
            .unwrap();
        let size = || std::fs::metadata(&path).unwrap().len();
        let before = size();
        let pad = "x".repeat(2_000);
        for i in 0..300 {
            let draft = Draft::new(
                "alice",
                "gateway",
                "test.append",
                "t",
                serde_json::json!({"i": i, "pad": pad}),
                ts::now(),
            );
            store
                .commit(Commit {
                    audit: vec![draft],
                    ..Commit::default()
                })
                .await
                .unwrap();
        }
        // Commits only append to the WAL; the background checkpoint copies
        // them into the database file (600 KB of entries).
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while size() < before + 300 * 2_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint moved the WAL into {} ({} bytes)",
                path.display(),
                size()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(store.audit_head().await.unwrap().unwrap().0, 300);
    }
}
