//! SQLite store: one file in WAL mode, and no op is acknowledged before
//! its commit is synced to disk, so an acknowledged op survives a kill -9
//! or a power cut.
//!
//! Commits (state changes, their audit entries, op replies) go through one
//! connection on a thread of its own (`sqlite_writer`) and start with
//! `BEGIN IMMEDIATE`: SQLite has a single writer anyway, and taking the
//! write lock up front keeps the audit chain's "read head, append" step
//! free of races. Commits that arrive while one is being applied are
//! grouped into the next transaction, and answered once a sync of the WAL
//! on another thread (`wal_sync`) has put them on disk. The rare writes
//! outside the chain (tokens, signed checkpoints) and migrations use a sqlx
//! connection with `synchronous = FULL`, reads a sqlx pool; SQLite's lock
//! orders them against the writer.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use tokio::sync::{mpsc, oneshot};

use super::sqlite_writer::{self, Job, MAX_BATCH};
pub use super::wal_checkpoint::WalLimits;
use super::wal_checkpoint::{self, FinishRequest};
use super::{
    AuditQuery, Commit, RequestQuery, Store, StoreError, StoreResult, TokenRecord, Versioned,
};
use crate::protocol::{AccessRequest, AuditEntry, Checkpoint, Grant, ts};

pub struct SqliteStore {
    /// Migrations and the writes outside the chain (tokens, checkpoints);
    /// commits go to the writer thread through `jobs`.
    other_writes: SqlitePool,
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
        Self::open_with(path, busy_timeout, WalLimits::default()).await
    }

    /// The same, restarting the WAL at other lengths than the default.
    pub async fn open_with(
        path: &Path,
        busy_timeout: Duration,
        wal: WalLimits,
    ) -> StoreResult<SqliteStore> {
        let url = format!("sqlite://{}", path.display());
        let options = SqliteConnectOptions::from_str(&url)
            .map_err(unavailable)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(busy_timeout)
            .foreign_keys(true)
            // Checkpoints run beside the writer (see `wal_checkpoint`), not
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
        let finish = Arc::new(FinishRequest::default());
        sqlite_writer::start(path, busy_timeout, rx, finish.clone())?;
        let alive = jobs.downgrade();
        tokio::spawn(wal_checkpoint::run(
            checkpointer,
            move || alive.upgrade().is_some(),
            wal,
            finish,
        ));
        Ok(SqliteStore {
            other_writes: writer,
            reader,
            jobs,
        })
    }
}

/// The listing of requests with just the filters given, newest first: one
/// statement per set of filters, so that SQLite serves each from an index
/// (`requests_state`, `requests_requester`) instead of scanning the table.
/// "Newest" is the order the store received them (rowid), which those
/// indexes already hold, so no listing sorts; it is the order of
/// `created_at` but for ops planned within the same instant. Binds:
/// state, requester (those given), then the limit.
fn requests_sql(state: bool, requester: bool) -> &'static str {
    match (state, requester) {
        (false, false) => "SELECT body, version FROM requests ORDER BY rowid DESC LIMIT ?",
        (true, false) => {
            "SELECT body, version FROM requests WHERE state = ? ORDER BY rowid DESC LIMIT ?"
        }
        (false, true) => {
            "SELECT body, version FROM requests WHERE requester = ? ORDER BY rowid DESC LIMIT ?"
        }
        (true, true) => {
            "SELECT body, version FROM requests WHERE state = ? AND requester = ?
             ORDER BY rowid DESC LIMIT ?"
        }
    }
}

/// Grants, the latest to end first. The active ones come from
/// `grants_state` and are sorted (they are the handful in force); the
/// whole list is the whole table.
fn grants_sql(active_only: bool) -> &'static str {
    if active_only {
        "SELECT body, version FROM grants WHERE state = 'active' ORDER BY expires_at DESC, id DESC"
    } else {
        "SELECT body, version FROM grants ORDER BY expires_at DESC, id DESC"
    }
}

/// Audit entries, newest first. One actor's come from `audit_actor` in
/// chain order; without an actor the table is read backwards from its
/// head, which stops at the limit. Binds: since, actor (those given), then
/// the limit.
fn audit_sql(since: bool, actor: bool) -> &'static str {
    match (since, actor) {
        (false, false) => "SELECT * FROM audit ORDER BY seq DESC LIMIT ?",
        (true, false) => "SELECT * FROM audit WHERE at >= ? ORDER BY seq DESC LIMIT ?",
        (false, true) => "SELECT * FROM audit WHERE actor = ? ORDER BY seq DESC LIMIT ?",
        (true, true) => "SELECT * FROM audit WHERE at >= ? AND actor = ? ORDER BY seq DESC LIMIT ?",
    }
}

/// A listing's limit as SQLite takes it: 0 (no limit) is -1.
fn sql_limit(limit: u32) -> i64 {
    if limit == 0 { -1 } else { i64::from(limit) }
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
            let sql = requests_sql(q.state.is_some(), q.requester.is_some());
            let mut query = sqlx::query(sql);
            if let Some(state) = q.state {
                query = query.bind(state.as_str());
            }
            if let Some(requester) = q.requester {
                query = query.bind(requester);
            }
            let rows = query
                .bind(sql_limit(q.limit))
                .fetch_all(&self.reader)
                .await
                .map_err(unavailable)?;
            rows.iter().map(|r| versioned(r).map(|v| v.value)).collect()
        })
    }

    fn list_grants(&self, active_only: bool) -> BoxFuture<'_, StoreResult<Vec<Grant>>> {
        Box::pin(async move {
            let rows = sqlx::query(grants_sql(active_only))
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
            let sql = audit_sql(q.since.is_some(), q.actor.is_some());
            let mut query = sqlx::query(sql);
            if let Some(since) = &q.since {
                query = query.bind(ts::format(since));
            }
            if let Some(actor) = q.actor {
                query = query.bind(actor);
            }
            let rows = query
                .bind(sql_limit(q.limit))
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
            .execute(&self.other_writes)
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
            .execute(&self.other_writes)
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
                    .execute(&self.other_writes)
                    .await
                    .map_err(unavailable)?;
            Ok(res.rows_affected() == 1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Write;
    use super::*;
    use crate::audit::chain::Draft;
    use crate::protocol::RequestState;

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
            append(&store, serde_json::json!({"i": i, "pad": pad})).await;
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

    /// Commits one audit entry with `detail`, and nothing else.
    async fn append(store: &SqliteStore, detail: serde_json::Value) {
        let draft = Draft::new("alice", "gateway", "test.append", "t", detail, ts::now());
        store
            .commit(Commit {
                audit: vec![draft],
                ..Commit::default()
            })
            .await
            .unwrap();
    }

    fn entry(action: &str) -> Draft {
        Draft::new(
            "alice",
            "gateway",
            action,
            "t",
            serde_json::json!({}),
            ts::now(),
        )
    }

    fn op(op_id: &str) -> Option<super::super::OpRecord> {
        Some(super::super::OpRecord {
            user: "alice".into(),
            op_id: op_id.into(),
            reply: super::super::StoredReply::Text(format!("reply to {op_id}")),
        })
    }

    /// Commits that queue up behind a held write lock land as one batch: a
    /// lost compare-and-set and a repeated op id are refused on their own,
    /// the rest lands, and the chain has no gap or fork where the refused
    /// attempts were rolled back.
    #[tokio::test]
    async fn a_refused_commit_in_a_batch_leaves_the_others_and_the_chain_whole() {
        use sqlx::Connection as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.db");
        let store = SqliteStore::open(&path, Duration::from_secs(10))
            .await
            .unwrap();
        let mut first = crate::lifecycle::tests::pending_request("alice", "payments", 1);
        first.id = "req-first".into();
        store
            .commit(Commit {
                requests: vec![Write::Insert(first.clone())],
                audit: vec![entry("request.create")],
                op: op("op-first"),
                ..Commit::default()
            })
            .await
            .unwrap();

        // Hold the write lock so that everything below queues behind it.
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path);
        let mut lock = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut lock)
            .await
            .unwrap();

        let update = |state: RequestState, action: &str| {
            let mut r = first.clone();
            r.state = state;
            Commit {
                requests: vec![Write::Update {
                    value: r,
                    expected_version: 1,
                }],
                audit: vec![entry(action)],
                ..Commit::default()
            }
        };
        let mut second = crate::lifecycle::tests::pending_request("alice", "payments", 2);
        second.id = "req-second".into();
        let release = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
        };
        // `join!` polls in order, so the commits queue in this order.
        let (approved, denied, created, repeated, ()) = tokio::join!(
            store.commit(update(RequestState::Approved, "request.approve")),
            store.commit(update(RequestState::Denied, "request.deny")),
            store.commit(Commit {
                requests: vec![Write::Insert(second.clone())],
                audit: vec![entry("request.create")],
                op: op("op-second"),
                ..Commit::default()
            }),
            store.commit(Commit {
                audit: vec![entry("request.create.again")],
                op: op("op-second"),
                ..Commit::default()
            }),
            release,
        );
        assert_eq!(approved.unwrap().len(), 1);
        assert_eq!(denied, Err(StoreError::Conflict));
        assert_eq!(created.unwrap().len(), 1);
        assert_eq!(repeated, Err(StoreError::DuplicateOp));

        let stored = store.request("req-first").await.unwrap().unwrap();
        assert_eq!(
            (stored.value.state, stored.version),
            (RequestState::Approved, 2)
        );
        assert!(store.request("req-second").await.unwrap().is_some());
        assert_eq!(
            store
                .op_reply("alice", "op-second")
                .await
                .unwrap()
                .as_deref(),
            Some("reply to op-second")
        );
        let chain = store.audit_range(1, 100).await.unwrap();
        let actions: Vec<&str> = chain.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            ["request.create", "request.approve", "request.create"]
        );
        crate::audit::chain::verify(&chain).expect("the chain verifies");
    }

    /// A gateway upgraded across the migration that re-keyed stored replies
    /// still answers a resend of an op from before the upgrade, and still
    /// tells two users' equal op ids apart.
    #[tokio::test]
    async fn replies_stored_before_the_op_replies_migration_still_answer_resends() {
        use sqlx::Connection as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.db");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let mut old = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        let mut before = sqlx::migrate!("migrations/sqlite");
        before.migrations = before
            .migrations
            .iter()
            .filter(|m| m.version < 3)
            .cloned()
            .collect::<Vec<_>>()
            .into();
        before.run(&mut old).await.unwrap();
        for user in ["alice", "bob"] {
            sqlx::query("INSERT INTO op_replies (user_name, op_id, reply, at) VALUES (?, 'op-1', ?, 'then')")
                .bind(user)
                .bind(format!("{user}'s reply"))
                .execute(&mut old)
                .await
                .unwrap();
        }
        old.close().await.unwrap();

        let store = SqliteStore::open(&path, Duration::from_secs(5))
            .await
            .unwrap();
        for user in ["alice", "bob"] {
            assert_eq!(
                store.op_reply(user, "op-1").await.unwrap(),
                Some(format!("{user}'s reply"))
            );
        }
        assert_eq!(store.op_reply("carol", "op-1").await.unwrap(), None);
        let repeated = store
            .commit(Commit {
                audit: vec![entry("request.create.again")],
                op: Some(super::super::OpRecord {
                    user: "bob".into(),
                    op_id: "op-1".into(),
                    reply: super::super::StoredReply::Text("a second reply".into()),
                }),
                ..Commit::default()
            })
            .await;
        assert_eq!(repeated, Err(StoreError::DuplicateOp));
    }

    /// Every listing a user can ask for is read through an index in the
    /// order it is returned (or the table's own order): no statement scans
    /// a table to filter it or sorts what it found, so a listing costs the
    /// rows it returns, not the size of months of history. (Active grants
    /// are sorted: they are the few in force.)
    #[tokio::test]
    async fn every_listing_reads_an_index_in_the_order_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("gateway.db"), Duration::from_secs(5))
            .await
            .unwrap();
        let plan = |sql: &'static str| {
            let reader = store.reader.clone();
            async move {
                let mut query =
                    sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")));
                for _ in 0..sql.matches('?').count() {
                    query = query.bind("x");
                }
                let rows = query.fetch_all(&reader).await.unwrap();
                rows.iter()
                    .map(|r| r.get::<String, _>("detail"))
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        };
        // (table, statement, what its plan must say, whether it may sort)
        let mut shapes = Vec::new();
        for a in [false, true] {
            for b in [false, true] {
                let requests_index = match (a, b) {
                    (false, false) => "SCAN requests",
                    (_, true) => "USING INDEX requests_requester",
                    (true, false) => "USING INDEX requests_state",
                };
                shapes.push(("requests", requests_sql(a, b), requests_index, false));
                let audit_index = if b {
                    "USING INDEX audit_actor"
                } else {
                    "SCAN audit"
                };
                shapes.push(("audit", audit_sql(a, b), audit_index, false));
            }
        }
        shapes.push(("grants", grants_sql(true), "USING INDEX grants_state", true));
        for (table, sql, expected, may_sort) in shapes {
            let plan = plan(sql).await;
            assert!(
                plan.contains(expected) && (may_sort || !plan.contains("TEMP B-TREE")),
                "{table}: `{sql}` is planned as `{plan}`; expected `{expected}`{}",
                if may_sort { "" } else { " and no sort" }
            );
        }
    }

    /// Commits that never pause would keep a checkpoint from ever catching
    /// up, and the WAL grew for as long as they came. Now it starts over
    /// once it is long, and nothing committed is lost to the restarts.
    #[tokio::test]
    async fn a_steady_stream_of_commits_keeps_the_wal_short_and_whole() {
        const TASKS: usize = 4;
        const COMMITS: usize = 400;
        const FRAME: u64 = 4096 + 24;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.db");
        let limits = WalLimits {
            every: Duration::from_millis(20),
            long: 64,
            tail: 16,
        };
        let store = Arc::new(
            SqliteStore::open_with(&path, Duration::from_secs(10), limits)
                .await
                .unwrap(),
        );
        // Each entry fills a page of its own, so without restarts the WAL
        // would end at least this long.
        let pad = "x".repeat(3_500);
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let (store, pad) = (store.clone(), pad.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..COMMITS {
                    append(&store, serde_json::json!({"t": t, "i": i, "pad": pad})).await;
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        // The file keeps the length it reached: its high-water mark.
        let reached = std::fs::metadata(&wal).unwrap().len() / FRAME;
        let unbounded = (TASKS * COMMITS) as u64;
        assert!(
            reached < unbounded,
            "the WAL reached {reached} frames for {unbounded} commits of a page each"
        );
        let chain = store.audit_range(1, 10_000).await.unwrap();
        assert_eq!(chain.len(), TASKS * COMMITS);
        crate::audit::chain::verify(&chain).expect("the chain verifies");
    }
}
