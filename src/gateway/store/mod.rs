//! The gateway's durable state: requests, grants, the audit chain, stored op
//! replies and token hashes, behind one trait so that SQLite (one gateway)
//! and PostgreSQL (several replicas) can both serve.
//!
//! The store owns atomicity: a [`Commit`] (state changes, their audit
//! entries, the op's reply) lands whole or not at all, and every update of a
//! request or grant is a compare-and-set on its version. It never decides
//! anything: the lifecycle engine has already done that.

pub mod sqlite;
mod sqlite_writer;
mod wal_checkpoint;
mod wal_sync;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use crate::audit::chain::Draft;
use crate::protocol::{
    AccessRequest, AuditEntry, Checkpoint, Grant, Reply, ReplyBody, RequestState,
};

/// A stored object with the version its next update must name.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: i64,
}

/// How a write is applied: a fresh row, or a compare-and-set on a version.
#[derive(Debug, Clone, PartialEq)]
pub enum Write<T> {
    Insert(T),
    Update { value: T, expected_version: i64 },
}

/// The stored reply of a mutating op.
#[derive(Debug, Clone, PartialEq)]
pub struct OpRecord {
    pub user: String,
    pub op_id: String,
    pub reply: StoredReply,
}

/// A reply as it is stored with its op.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredReply {
    /// Known before the commit.
    Text(String),
    /// `audit.record`'s reply names the chain entry the commit creates: the
    /// store writes it once it has sealed that entry.
    ChainHead { re: String },
}

impl StoredReply {
    /// The reply text, given the entries this commit sealed.
    pub fn text(&self, sealed: &[AuditEntry]) -> String {
        match self {
            StoredReply::Text(t) => t.clone(),
            StoredReply::ChainHead { re } => {
                let (seq, head) = sealed
                    .last()
                    .map(|e| (e.seq, e.hash.clone()))
                    .unwrap_or_default();
                Reply::ok(re.clone(), ReplyBody::Recorded { seq, head }).encode()
            }
        }
    }
}

/// Everything one op changes, applied atomically.
#[derive(Debug, Clone, Default)]
pub struct Commit {
    pub requests: Vec<Write<AccessRequest>>,
    pub grants: Vec<Write<Grant>>,
    pub audit: Vec<Draft>,
    pub op: Option<OpRecord>,
}

/// Why a store call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be written or read (disk, permissions, lock, network).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A compare-and-set lost: someone else changed the object first.
    #[error("the object changed concurrently")]
    Conflict,
    /// This op id was already executed; its stored reply stands.
    #[error("op already executed")]
    DuplicateOp,
    /// Stored data that this version cannot read.
    #[error("store holds unreadable data: {0}")]
    Corrupt(String),
}

/// Which requests `list_requests` returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestQuery {
    pub state: Option<RequestState>,
    pub requester: Option<String>,
    pub limit: u32,
}

/// Which audit entries `audit_query` returns (newest first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    pub since: Option<DateTime<Utc>>,
    pub actor: Option<String>,
    pub limit: u32,
}

/// A bearer token as stored: never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub user: String,
    pub secret_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub label: String,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The gateway's durable state.
pub trait Store: Send + Sync + 'static {
    /// Applies a commit atomically and returns the sealed audit entries.
    fn commit(&self, commit: Commit) -> BoxFuture<'_, StoreResult<Vec<AuditEntry>>>;

    fn request(&self, id: &str) -> BoxFuture<'_, StoreResult<Option<Versioned<AccessRequest>>>>;
    fn grant(&self, id: &str) -> BoxFuture<'_, StoreResult<Option<Versioned<Grant>>>>;
    fn list_requests(&self, q: RequestQuery) -> BoxFuture<'_, StoreResult<Vec<AccessRequest>>>;
    /// Grants, newest first; only active ones when `active_only`.
    fn list_grants(&self, active_only: bool) -> BoxFuture<'_, StoreResult<Vec<Grant>>>;

    /// The reply stored for `(user, op_id)`, if that op already ran.
    fn op_reply(&self, user: &str, op_id: &str) -> BoxFuture<'_, StoreResult<Option<String>>>;

    fn audit_query(&self, q: AuditQuery) -> BoxFuture<'_, StoreResult<Vec<AuditEntry>>>;
    /// Entries with `seq >= from`, oldest first, at most `limit`.
    fn audit_range(&self, from: u64, limit: u32) -> BoxFuture<'_, StoreResult<Vec<AuditEntry>>>;
    /// The newest entry's seq and hash.
    fn audit_head(&self) -> BoxFuture<'_, StoreResult<Option<(u64, String)>>>;

    fn insert_checkpoint(&self, c: Checkpoint) -> BoxFuture<'_, StoreResult<()>>;
    /// Checkpoints, oldest first.
    fn checkpoints(&self) -> BoxFuture<'_, StoreResult<Vec<Checkpoint>>>;

    fn insert_token(&self, token: TokenRecord) -> BoxFuture<'_, StoreResult<()>>;
    fn token(&self, id: &str) -> BoxFuture<'_, StoreResult<Option<TokenRecord>>>;
    fn revoke_token(&self, id: &str, at: DateTime<Utc>) -> BoxFuture<'_, StoreResult<bool>>;
}
