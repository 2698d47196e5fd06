//! Wire protocol v1: the single source of truth for what crosses the
//! WebSocket between a client (console, CLI, bot) and the gateway.
//!
//! Both halves use these types; nothing else in the crate defines a frame.
//! The human-readable description for bot authors is `docs/PROTOCOL.md`;
//! this module is its machine-checked twin.
//!
//! # Framing
//!
//! * Endpoint `ws[s]://HOST:PORT/v1/ws`, `Authorization: Bearer TOKEN` on the
//!   upgrade request (401 and no upgrade otherwise).
//! * Text frames, one JSON object each, at most [`MAX_FRAME_BYTES`]
//!   (larger: close code 1009). An unparseable frame gets an `error` reply
//!   (`re` is the frame's `id` when one could be read, else `null`); more than
//!   [`BAD_FRAMES_PER_MINUTE`] of them in a minute: close code 1008.
//! * Client to gateway: `{"id": "<uuid>", "op": "<op>", ...params}` ([`ClientFrame`]).
//!   The id is the idempotency key: resending an id after a reconnect yields
//!   the stored reply of the first execution and no second effect.
//! * Replies: `{"re": "<id>", "ok": true, ...}` or
//!   `{"re": "<id>", "ok": false, "error": {"code", "message"}}` ([`Reply`]).
//! * Pushes: `{"event": "<name>", "seq": N, "at": "<RFC 3339 ms>", ...}`
//!   ([`EventFrame`]); `seq` rises by one per connection, starting at 1 with
//!   `hello`.
//!
//! # This module must never
//! do I/O or know about the gateway's state: it only says what frames look like.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Protocol version announced in `hello`.
pub const PROTOCOL_VERSION: u32 = 1;
/// Largest text frame either side accepts.
pub const MAX_FRAME_BYTES: usize = 1 << 20;

/// How much a WebSocket read asks the socket for at a time, on both sides.
/// tungstenite zero-fills its read buffer up to this size before every
/// read, including the ones that find nothing; at its 128 KiB default that
/// was a quarter of a megabyte of memset per small op. Bigger frames still
/// arrive whole, over several reads.
pub const READ_BUFFER_BYTES: usize = 16 * 1024;
/// Unparseable frames tolerated per minute before the gateway closes with 1008.
pub const BAD_FRAMES_PER_MINUTE: u32 = 20;
/// Longest op id accepted (ids are normally UUIDs, 36 characters).
pub const MAX_OP_ID_LEN: usize = 128;
/// WebSocket close code for a frame over [`MAX_FRAME_BYTES`].
pub const CLOSE_TOO_BIG: u16 = 1009;
/// WebSocket close code for a client that keeps sending garbage.
pub const CLOSE_POLICY: u16 = 1008;

/// RFC 3339 UTC timestamps with millisecond precision, as the protocol
/// specifies (`2026-11-24T09:30:00.123Z`).
pub mod ts {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// The current time at the protocol's precision, so that a value read
    /// back from the wire or the store equals the one that was written.
    pub fn now() -> DateTime<Utc> {
        use chrono::SubsecRound;
        Utc::now().trunc_subsecs(3)
    }

    pub fn format(t: &DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let raw = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&raw)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }

    /// The same for `Option<DateTime<Utc>>` (`null` when absent).
    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            t: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            let raw = Option::<String>::deserialize(d)?;
            raw.map(|r| {
                DateTime::parse_from_rfc3339(&r)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
        }
    }
}

/// What a grant lets its holder do on one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Capability {
    #[serde(rename = "logs:read")]
    LogsRead,
    #[serde(rename = "metrics:read")]
    MetricsRead,
}

impl Capability {
    pub const ALL: [Capability; 2] = [Capability::LogsRead, Capability::MetricsRead];

    pub fn as_str(self) -> &'static str {
        match self {
            Capability::LogsRead => "logs:read",
            Capability::MetricsRead => "metrics:read",
        }
    }

    pub fn parse(s: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lifecycle of an access request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    Pending,
    Approved,
    Denied,
    Cancelled,
    Expired,
}

impl RequestState {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Approved => "approved",
            RequestState::Denied => "denied",
            RequestState::Cancelled => "cancelled",
            RequestState::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<RequestState> {
        [
            RequestState::Pending,
            RequestState::Approved,
            RequestState::Denied,
            RequestState::Cancelled,
            RequestState::Expired,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        self != RequestState::Pending
    }
}

/// Lifecycle of a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantState {
    Active,
    Expired,
    Revoked,
}

impl GrantState {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantState::Active => "active",
            GrantState::Expired => "expired",
            GrantState::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<GrantState> {
        [GrantState::Active, GrantState::Expired, GrantState::Revoked]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

/// One approver's approval of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub by: String,
    #[serde(with = "ts")]
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// An access request (protocol object `request`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequest {
    pub id: String,
    pub requester: String,
    pub service: String,
    pub capabilities: Vec<Capability>,
    pub duration_s: u64,
    pub reason: String,
    #[serde(default)]
    pub ticket: Option<String>,
    #[serde(default)]
    pub break_glass: bool,
    /// The grant this request would extend (from `grant.extend`).
    #[serde(default)]
    pub extends: Option<String>,
    pub state: RequestState,
    #[serde(default)]
    pub approvals: Vec<Approval>,
    pub approvals_required: u32,
    #[serde(default)]
    pub denied_by: Option<String>,
    #[serde(default)]
    pub deny_reason: Option<String>,
    #[serde(with = "ts")]
    pub created_at: DateTime<Utc>,
    #[serde(default, with = "ts::option")]
    pub decided_at: Option<DateTime<Utc>>,
    /// When a still-pending request expires (the policy's request TTL).
    #[serde(with = "ts")]
    pub pending_until: DateTime<Utc>,
    #[serde(default)]
    pub grant_id: Option<String>,
    /// Break-glass uses stay here until a lead completes a review.
    #[serde(default)]
    pub needs_review: bool,
    #[serde(default)]
    pub reviewed_by: Option<String>,
    #[serde(default)]
    pub review_comment: Option<String>,
}

/// A grant: time-boxed capabilities on one service (protocol object `grant`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: String,
    pub request_id: String,
    pub user: String,
    pub service: String,
    pub capabilities: Vec<Capability>,
    #[serde(with = "ts")]
    pub starts_at: DateTime<Utc>,
    #[serde(with = "ts")]
    pub expires_at: DateTime<Utc>,
    pub state: GrantState,
    #[serde(default)]
    pub break_glass: bool,
    #[serde(default)]
    pub revoked_by: Option<String>,
    #[serde(default)]
    pub revoke_reason: Option<String>,
    /// When the grant stopped being active (expiry or revocation).
    #[serde(default, with = "ts::option")]
    pub ended_at: Option<DateTime<Utc>>,
}

impl Grant {
    /// Whether this grant lets its holder use `cap` on `service` at `now`.
    pub fn covers(&self, service: &str, cap: Capability, now: DateTime<Utc>) -> bool {
        self.state == GrantState::Active
            && self.service == service
            && self.capabilities.contains(&cap)
            && now < self.expires_at
    }
}

/// A service as the catalog shows it to one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogService {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub capabilities: Vec<Capability>,
    pub max_duration_s: u64,
    pub min_duration_s: u64,
    pub approvals_required: u32,
    /// Whether a request from this user is approved at once.
    pub auto_approve: bool,
    /// Whether this user may self-grant in an emergency.
    pub break_glass: bool,
}

/// Who the connection belongs to, as announced in `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
    /// Any of `engineer`, `approver`, `lead`.
    pub roles: Vec<String>,
}

impl UserInfo {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// One entry of an audit chain (DESIGN.md section 5), gateway or console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub id: String,
    #[serde(with = "ts")]
    pub at: DateTime<Utc>,
    pub actor: String,
    /// `gateway`, or `console:<host>` / `cli:<host>` for client journals.
    pub origin: String,
    pub action: String,
    pub target: String,
    pub detail: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// The gateway's signature over its audit chain head at one moment: with
/// it, losing the newest entries (truncation) shows, not only edits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: u64,
    pub hash: String,
    #[serde(with = "ts")]
    pub at: DateTime<Utc>,
    /// ed25519 signature (hex) over [`Checkpoint::message`].
    pub signature: String,
}

impl Checkpoint {
    /// The exact bytes that are signed.
    pub fn message(seq: u64, hash: &str, at: DateTime<Utc>) -> String {
        format!(
            "breakglass-checkpoint-v1\n{seq}\n{hash}\n{}",
            ts::format(&at)
        )
    }
}

/// An active grant with what its holder did last (`sessions.list`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub grant: Grant,
    pub last_actions: Vec<AuditEntry>,
}

/// One metric series (`metrics.query`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub name: String,
    pub unit: String,
    /// `[unix_ms, value]` pairs, oldest first.
    pub points: Vec<(i64, f64)>,
    /// Values at or above this are worth a look (the chart's unit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<f64>,
    /// Values at or above this are an incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical: Option<f64>,
}

/// One log line (`logs.lines`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    #[serde(with = "ts")]
    pub ts: DateTime<Utc>,
    pub level: String,
    pub text: String,
}

/// Why a log stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    GrantExpired,
    GrantRevoked,
    Unsubscribed,
    SourceError,
}

/// Error codes of failed replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    RateLimited,
    AuditUnavailable,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::AuditUnavailable => "audit_unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `error` member of a failed reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            code,
            message: message.into(),
        }
    }
}

/// Filter for `logs.subscribe`: a substring, or a regex when `regex` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogFilter {
    pub pattern: String,
    #[serde(default)]
    pub regex: bool,
}

/// The operations a client may ask for, with their parameters.
///
/// On the wire the variant is the `op` member and the fields sit beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op")]
pub enum Op {
    #[serde(rename = "catalog.list")]
    CatalogList {},
    #[serde(rename = "request.create")]
    RequestCreate {
        service: String,
        capabilities: Vec<Capability>,
        duration_s: u64,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ticket: Option<String>,
        #[serde(default)]
        break_glass: bool,
    },
    #[serde(rename = "request.cancel")]
    RequestCancel { request_id: String },
    #[serde(rename = "request.approve")]
    RequestApprove {
        request_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        totp: Option<String>,
    },
    #[serde(rename = "request.deny")]
    RequestDeny { request_id: String, reason: String },
    #[serde(rename = "request.list")]
    RequestList {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<RequestState>,
        #[serde(default)]
        mine: bool,
    },
    #[serde(rename = "grant.list")]
    GrantList {
        #[serde(default)]
        active_only: bool,
    },
    #[serde(rename = "grant.revoke")]
    GrantRevoke { grant_id: String, reason: String },
    #[serde(rename = "grant.extend")]
    GrantExtend {
        grant_id: String,
        duration_s: u64,
        reason: String,
    },
    #[serde(rename = "logs.subscribe")]
    LogsSubscribe {
        service: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<LogFilter>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since_s: Option<u64>,
    },
    #[serde(rename = "logs.unsubscribe")]
    LogsUnsubscribe { sub_id: String },
    #[serde(rename = "metrics.query")]
    MetricsQuery {
        service: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metric: Option<String>,
        range_s: u64,
        step_s: u64,
    },
    #[serde(rename = "audit.record")]
    AuditRecord { entry: Box<AuditEntry> },
    #[serde(rename = "audit.query")]
    AuditQuery {
        #[serde(default, skip_serializing_if = "Option::is_none", with = "ts::option")]
        since: Option<DateTime<Utc>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    #[serde(rename = "audit.range")]
    AuditRange { from_seq: u64, limit: u32 },
    #[serde(rename = "audit.checkpoint")]
    AuditCheckpoint {},
    #[serde(rename = "audit.checkpoints")]
    AuditCheckpoints {},
    #[serde(rename = "sessions.list")]
    SessionsList {},
    #[serde(rename = "review.complete")]
    ReviewComplete { request_id: String, comment: String },
}

/// Every op name, for error messages and documentation.
pub const OP_NAMES: [&str; 19] = [
    "catalog.list",
    "request.create",
    "request.cancel",
    "request.approve",
    "request.deny",
    "request.list",
    "grant.list",
    "grant.revoke",
    "grant.extend",
    "logs.subscribe",
    "logs.unsubscribe",
    "metrics.query",
    "audit.record",
    "audit.query",
    "audit.range",
    "audit.checkpoint",
    "audit.checkpoints",
    "sessions.list",
    "review.complete",
];

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Op::CatalogList {} => "catalog.list",
            Op::RequestCreate { .. } => "request.create",
            Op::RequestCancel { .. } => "request.cancel",
            Op::RequestApprove { .. } => "request.approve",
            Op::RequestDeny { .. } => "request.deny",
            Op::RequestList { .. } => "request.list",
            Op::GrantList { .. } => "grant.list",
            Op::GrantRevoke { .. } => "grant.revoke",
            Op::GrantExtend { .. } => "grant.extend",
            Op::LogsSubscribe { .. } => "logs.subscribe",
            Op::LogsUnsubscribe { .. } => "logs.unsubscribe",
            Op::MetricsQuery { .. } => "metrics.query",
            Op::AuditRecord { .. } => "audit.record",
            Op::AuditQuery { .. } => "audit.query",
            Op::AuditRange { .. } => "audit.range",
            Op::AuditCheckpoint {} => "audit.checkpoint",
            Op::AuditCheckpoints {} => "audit.checkpoints",
            Op::SessionsList {} => "sessions.list",
            Op::ReviewComplete { .. } => "review.complete",
        }
    }

    /// What the op acts on (a service, request or grant id), for audit entries.
    pub fn target(&self) -> String {
        match self {
            Op::RequestCreate { service, .. }
            | Op::LogsSubscribe { service, .. }
            | Op::MetricsQuery { service, .. } => service.clone(),
            Op::RequestCancel { request_id }
            | Op::RequestApprove { request_id, .. }
            | Op::RequestDeny { request_id, .. }
            | Op::ReviewComplete { request_id, .. } => request_id.clone(),
            Op::GrantRevoke { grant_id, .. } | Op::GrantExtend { grant_id, .. } => grant_id.clone(),
            Op::LogsUnsubscribe { sub_id } => sub_id.clone(),
            Op::AuditRecord { entry } => entry.id.clone(),
            _ => String::new(),
        }
    }

    /// Ops that change state: their replies are stored under the op id so a
    /// resend after a reconnect has one effect.
    pub fn is_mutation(&self) -> bool {
        matches!(
            self,
            Op::RequestCreate { .. }
                | Op::RequestCancel { .. }
                | Op::RequestApprove { .. }
                | Op::RequestDeny { .. }
                | Op::GrantRevoke { .. }
                | Op::GrantExtend { .. }
                | Op::AuditRecord { .. }
                | Op::ReviewComplete { .. }
        )
    }
}

/// A fresh op id. Time-ordered (UUIDv7), so the gateway's stored replies,
/// keyed op id first, grow at the end of their index.
pub fn new_op_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A client frame: an op with its idempotency id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientFrame {
    pub id: String,
    #[serde(flatten)]
    pub op: Op,
}

/// Why a client frame could not be decoded. `id` is kept when it could be
/// read so the error reply can still name the op it answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    pub id: Option<String>,
    pub message: String,
}

impl ClientFrame {
    pub fn new(op: Op) -> Self {
        ClientFrame {
            id: new_op_id(),
            op,
        }
    }

    /// Decodes one text frame, with messages that tell a bot author what to fix.
    pub fn decode(text: &str) -> Result<ClientFrame, DecodeError> {
        let fail = |id: Option<String>, message: String| DecodeError { id, message };
        let value: Value = serde_json::from_str(text)
            .map_err(|e| fail(None, format!("frame is not valid JSON: {e}")))?;
        let Value::Object(mut map) = value else {
            return Err(fail(None, "frame must be a JSON object".into()));
        };
        let id = match map.remove("id") {
            Some(Value::String(id)) if !id.is_empty() && id.len() <= MAX_OP_ID_LEN => id,
            Some(Value::String(_)) => {
                return Err(fail(
                    None,
                    format!("`id` must be 1 to {MAX_OP_ID_LEN} characters (a UUID)"),
                ));
            }
            Some(_) => return Err(fail(None, "`id` must be a string (a UUID)".into())),
            None => return Err(fail(None, "missing `id` (a UUID naming this op)".into())),
        };
        let op_name = match map.get("op") {
            Some(Value::String(op)) => op.clone(),
            Some(_) => return Err(fail(Some(id), "`op` must be a string".into())),
            None => return Err(fail(Some(id), "missing `op`".into())),
        };
        if !OP_NAMES.contains(&op_name.as_str()) {
            return Err(fail(
                Some(id),
                format!("unknown op `{op_name}`; known ops: {}", OP_NAMES.join(", ")),
            ));
        }
        let fields = map.clone();
        let op: Op = serde_json::from_value(Value::Object(map)).map_err(|e| {
            let message = e.to_string();
            match culprit(&fields, &message) {
                Some(field) => fail(
                    Some(id.clone()),
                    format!("{op_name}: field `{field}`: {message}"),
                ),
                None => fail(Some(id.clone()), format!("{op_name}: {message}")),
            }
        })?;
        Ok(ClientFrame { id, op })
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("client frames always serialize")
    }
}

/// Which top-level field a serde "invalid type/value" error is about:
/// serde names the offending value but not where it sat, and every op's
/// parameters are top-level, so the field holding that value is the one.
fn culprit(fields: &serde_json::Map<String, Value>, message: &str) -> Option<String> {
    let unexpected = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))?;
    let described = |v: &Value| match v {
        Value::String(s) => format!("string {s:?}"),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) if n.is_f64() => format!("floating point `{n}`"),
        Value::Number(n) => format!("integer `{n}`"),
        Value::Null => "null".to_string(),
        Value::Array(_) => "sequence".to_string(),
        Value::Object(_) => "map".to_string(),
    };
    let mut hits = fields
        .iter()
        .filter(|(k, v)| *k != "op" && unexpected.starts_with(&described(v)))
        .map(|(k, _)| k.clone());
    let first = hits.next()?;
    // Two fields with the same value: naming one would be a guess.
    hits.next().is_none().then_some(first)
}

/// The payload of a successful reply; its fields sit beside `re` and `ok`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ReplyBody {
    Services { services: Vec<CatalogService> },
    Request { request: AccessRequest },
    Requests { requests: Vec<AccessRequest> },
    Grant { grant: Grant },
    Grants { grants: Vec<Grant> },
    Subscription { sub_id: String },
    Series { series: Vec<Series> },
    Recorded { seq: u64, head: String },
    Entries { entries: Vec<AuditEntry> },
    Checkpoint { checkpoint: Checkpoint },
    Checkpoints { checkpoints: Vec<Checkpoint> },
    Sessions { sessions: Vec<Session> },
    Empty {},
}

/// A reply as the gateway writes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reply {
    pub re: Option<String>,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub body: Option<ReplyBody>,
}

impl Reply {
    pub fn ok(re: String, body: ReplyBody) -> Self {
        Reply {
            re: Some(re),
            ok: true,
            error: None,
            body: Some(body),
        }
    }

    pub fn err(re: Option<String>, error: ErrorBody) -> Self {
        Reply {
            re,
            ok: false,
            error: Some(error),
            body: None,
        }
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("replies always serialize")
    }
}

/// The body of a pushed event; the variant is the `event` member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum Event {
    #[serde(rename = "hello")]
    Hello {
        protocol: u32,
        #[serde(with = "ts")]
        server_time: DateTime<Utc>,
        user: UserInfo,
        /// The gateway's ed25519 public key (hex) that signs its checkpoints.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audit_key: Option<String>,
    },
    #[serde(rename = "request.updated")]
    RequestUpdated { request: AccessRequest },
    #[serde(rename = "grant.updated")]
    GrantUpdated { grant: Grant },
    #[serde(rename = "logs.lines")]
    LogsLines {
        sub_id: String,
        lines: Vec<LogLine>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dropped: Option<u64>,
    },
    #[serde(rename = "logs.closed")]
    LogsClosed { sub_id: String, reason: CloseReason },
    #[serde(rename = "audit.appended")]
    AuditAppended { entry: AuditEntry },
    #[serde(rename = "alert")]
    Alert {
        kind: String,
        message: String,
        subject: String,
    },
}

impl Event {
    pub fn name(&self) -> &'static str {
        match self {
            Event::Hello { .. } => "hello",
            Event::RequestUpdated { .. } => "request.updated",
            Event::GrantUpdated { .. } => "grant.updated",
            Event::LogsLines { .. } => "logs.lines",
            Event::LogsClosed { .. } => "logs.closed",
            Event::AuditAppended { .. } => "audit.appended",
            Event::Alert { .. } => "alert",
        }
    }
}

/// A pushed event with its per-connection sequence number and time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventFrame {
    pub seq: u64,
    #[serde(with = "ts")]
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub event: Event,
}

impl EventFrame {
    pub fn encode(&self) -> String {
        encode_event(self.seq, self.at, &self.event)
    }
}

/// Encodes an event frame without owning the event (one event fans out to
/// many connections, each with its own `seq`).
pub fn encode_event(seq: u64, at: DateTime<Utc>, event: &Event) -> String {
    #[derive(Serialize)]
    struct Borrowed<'a> {
        seq: u64,
        #[serde(with = "ts")]
        at: DateTime<Utc>,
        #[serde(flatten)]
        event: &'a Event,
    }
    serde_json::to_string(&Borrowed { seq, at, event }).expect("events always serialize")
}

/// A reply as a client reads it: the payload stays JSON until the caller,
/// who knows which op it sent, takes the field it expects.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReceivedReply {
    pub re: Option<String>,
    pub ok: bool,
    #[serde(default)]
    pub error: Option<ErrorBody>,
    #[serde(flatten)]
    pub fields: serde_json::Map<String, Value>,
}

impl ReceivedReply {
    /// Takes one payload field (e.g. `request`) as a typed value.
    pub fn take<T: serde::de::DeserializeOwned>(&mut self, field: &str) -> Result<T, String> {
        let value = self
            .fields
            .remove(field)
            .ok_or_else(|| format!("reply has no `{field}`"))?;
        serde_json::from_value(value).map_err(|e| format!("reply field `{field}`: {e}"))
    }
}

/// Any frame the gateway sends.
// Frames live only between the socket and their consumer; boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ServerFrame {
    Reply(ReceivedReply),
    Event(EventFrame),
}

/// A `logs.lines` frame read in one pass: a log stream is most of what a
/// busy connection carries, and the general path (a JSON tree first, then
/// the flattened, tagged event) costs several times more per line.
#[derive(Deserialize)]
struct LinesFrame {
    seq: u64,
    #[serde(with = "ts")]
    at: DateTime<Utc>,
    /// Only `logs.lines` reads: the parse itself checks the kind.
    #[serde(rename = "event")]
    _event: LinesTag,
    sub_id: String,
    lines: Vec<LogLine>,
    #[serde(default)]
    dropped: Option<u64>,
}

#[derive(Deserialize)]
enum LinesTag {
    #[serde(rename = "logs.lines")]
    LogsLines,
}

impl LinesFrame {
    /// The frame, if `text` is a `logs.lines` event; `None` sends it down
    /// the general path. The gateway writes
    /// `{"seq":…,"at":"…","event":"logs.lines",…`, so a look at the head
    /// spares every other frame a failed parse.
    fn decode(text: &str) -> Option<EventFrame> {
        let head = text.get(..text.len().min(96)).unwrap_or("");
        if !(head.starts_with("{\"seq\":") && head.contains("\"event\":\"logs.lines\"")) {
            return None;
        }
        let f: LinesFrame = serde_json::from_str(text).ok()?;
        Some(EventFrame {
            seq: f.seq,
            at: f.at,
            event: Event::LogsLines {
                sub_id: f.sub_id,
                lines: f.lines,
                dropped: f.dropped,
            },
        })
    }
}

impl ServerFrame {
    pub fn decode(text: &str) -> Result<ServerFrame, String> {
        if let Some(frame) = LinesFrame::decode(text) {
            return Ok(ServerFrame::Event(frame));
        }
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("gateway sent invalid JSON: {e}"))?;
        if value.get("event").is_some() {
            serde_json::from_value(value)
                .map(ServerFrame::Event)
                .map_err(|e| format!("gateway sent an event this client cannot read: {e}"))
        } else {
            serde_json::from_value(value)
                .map(ServerFrame::Reply)
                .map_err(|e| format!("gateway sent a reply this client cannot read: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_lines_frame_decodes_the_same_on_the_fast_path() {
        let event = Event::LogsLines {
            sub_id: "sub-1".into(),
            lines: vec![LogLine {
                ts: ts::now(),
                level: "warn".into(),
                text: "quote \" and é".into(),
            }],
            dropped: Some(3),
        };
        let text = encode_event(7, ts::now(), &event);
        let fast = LinesFrame::decode(&text).expect("the fast path takes what the gateway writes");
        let ServerFrame::Event(frame) = ServerFrame::decode(&text).unwrap() else {
            panic!("an event")
        };
        assert_eq!(frame.event, event);
        assert_eq!(frame.seq, 7);
        assert_eq!(fast, frame);
        // The general path reads it the same.
        let general: EventFrame = serde_json::from_str(&text).unwrap();
        assert_eq!(general, frame);
        // Another event is never taken for lines, even with their fields
        // and the words in its head.
        let closed = r#"{"seq":8,"at":"2026-11-24T10:00:00.000Z","event":"logs.closed","x":{"event":"logs.lines"},"sub_id":"s","reason":"unsubscribed","lines":[]}"#;
        assert!(LinesFrame::decode(closed).is_none());
        let ServerFrame::Event(frame) = ServerFrame::decode(closed).unwrap() else {
            panic!("an event")
        };
        assert!(matches!(frame.event, Event::LogsClosed { .. }), "{frame:?}");
    }

    #[test]
    fn decodes_a_request_create_frame() {
        let f = ClientFrame::decode(
            r#"{"id":"a1","op":"request.create","service":"payments","capabilities":["logs:read"],"duration_s":1800,"reason":"INC"}"#,
        )
        .unwrap();
        assert_eq!(f.id, "a1");
        assert_eq!(
            f.op,
            Op::RequestCreate {
                service: "payments".into(),
                capabilities: vec![Capability::LogsRead],
                duration_s: 1800,
                reason: "INC".into(),
                ticket: None,
                break_glass: false
            }
        );
    }

    #[test]
    fn encoded_frames_decode_to_themselves() {
        let f = ClientFrame::new(Op::RequestDeny {
            request_id: "req-1".into(),
            reason: "no".into(),
        });
        assert_eq!(ClientFrame::decode(&f.encode()).unwrap(), f);
        let f = ClientFrame::new(Op::CatalogList {});
        assert_eq!(ClientFrame::decode(&f.encode()).unwrap(), f);
    }

    #[test]
    fn unknown_op_names_the_known_ones_and_keeps_the_id() {
        let e = ClientFrame::decode(r#"{"id":"x","op":"grant.steal"}"#).unwrap_err();
        assert_eq!(e.id.as_deref(), Some("x"));
        assert!(
            e.message.contains("unknown op `grant.steal`"),
            "{}",
            e.message
        );
        assert!(e.message.contains("request.create"));
    }

    #[test]
    fn missing_or_mistyped_fields_are_named() {
        let e =
            ClientFrame::decode(r#"{"id":"x","op":"request.deny","request_id":"r"}"#).unwrap_err();
        assert!(
            e.message.contains("missing field `reason`"),
            "{}",
            e.message
        );
        let e = ClientFrame::decode(
            r#"{"id":"x","op":"request.create","service":"p","capabilities":["logs:read"],"duration_s":"30m","reason":"r"}"#,
        )
        .unwrap_err();
        assert!(
            e.message.contains("field `duration_s`: invalid type"),
            "{}",
            e.message
        );
        let e = ClientFrame::decode(
            r#"{"id":"x","op":"request.create","service":"p","capabilities":["root:all"],"duration_s":3,"reason":"r"}"#,
        )
        .unwrap_err();
        assert!(e.message.contains("root:all"), "{}", e.message);
    }

    #[test]
    fn non_objects_and_bad_ids_are_rejected_without_an_id() {
        for bad in [
            "[1,2]",
            "not json",
            r#"{"op":"catalog.list"}"#,
            r#"{"id":7,"op":"catalog.list"}"#,
        ] {
            let e = ClientFrame::decode(bad).unwrap_err();
            assert_eq!(e.id, None, "{bad}");
        }
    }

    #[test]
    fn replies_and_events_have_the_documented_shape() {
        let r = Reply::ok(
            "a".into(),
            ReplyBody::Subscription {
                sub_id: "s1".into(),
            },
        );
        assert_eq!(r.encode(), r#"{"re":"a","ok":true,"sub_id":"s1"}"#);
        let r = Reply::err(
            Some("a".into()),
            ErrorBody::new(ErrorCode::NotFound, "no such request"),
        );
        assert_eq!(
            r.encode(),
            r#"{"re":"a","ok":false,"error":{"code":"not_found","message":"no such request"}}"#
        );
        let e = EventFrame {
            seq: 3,
            at: DateTime::parse_from_rfc3339("2026-11-24T10:00:00.5Z")
                .unwrap()
                .to_utc(),
            event: Event::LogsClosed {
                sub_id: "s".into(),
                reason: CloseReason::GrantExpired,
            },
        };
        assert_eq!(
            e.encode(),
            r#"{"seq":3,"at":"2026-11-24T10:00:00.500Z","event":"logs.closed","sub_id":"s","reason":"grant_expired"}"#
        );
        match ServerFrame::decode(&e.encode()).unwrap() {
            ServerFrame::Event(back) => assert_eq!(back, e),
            other => panic!("{other:?}"),
        }
    }
}
