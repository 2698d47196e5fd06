//! Executes protocol ops for an authenticated user: loads what the op needs
//! from the store, asks the pure lifecycle what follows, and persists the
//! outcome, its audit entries and its reply in one commit before anyone
//! hears of it. Then it publishes events and hands deadlines to the expiry
//! scheduler.
//!
//! It must never acknowledge anything the store has not durably recorded
//! (fail closed), and never decide anything the lifecycle did not.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::mpsc;

use super::active_grants::ActiveGrants;
use super::hub::Hub;
use super::logs::{ConnStreams, LogStreams};
use super::metric_sources::MetricSources;
use super::metrics::Metrics;
use super::store::{
    AuditQuery, Commit, OpRecord, RequestQuery, Store, StoreError, StoredReply, Versioned, Write,
};
use crate::audit::chain::{self, Draft};
use crate::lifecycle::{self, LifecycleError, NewIds, NewRequest};
use crate::policy::Policy;
use crate::protocol::{
    AccessRequest, AuditEntry, Capability, CloseReason, ErrorBody, ErrorCode, Event, Grant,
    GrantState, Op, Reply, ReplyBody, RequestState, Session, UserInfo, ts,
};
use crate::ratelimit::RateLimiter;
use ed25519_dalek::SigningKey;

/// The origin the gateway writes into its own chain entries.
pub const ORIGIN: &str = "gateway";
/// How often a mutation is retried when a compare-and-set loses a race.
const CAS_ATTEMPTS: usize = 16;
/// Most rows a list op returns.
const LIST_LIMIT: u32 = 1000;

/// A moment the scheduler must act at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Deadline {
    GrantExpiry { at: DateTime<Utc>, id: String },
    RequestTtl { at: DateTime<Utc>, id: String },
}

impl Deadline {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Deadline::GrantExpiry { at, .. } | Deadline::RequestTtl { at, .. } => *at,
        }
    }

    /// The same deadline at another time.
    pub fn moved_to(&self, at: DateTime<Utc>) -> Deadline {
        match self {
            Deadline::GrantExpiry { id, .. } => Deadline::GrantExpiry { at, id: id.clone() },
            Deadline::RequestTtl { id, .. } => Deadline::RequestTtl { at, id: id.clone() },
        }
    }
}

/// A refusal, as the reply's `error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError(pub ErrorBody);

impl OpError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        OpError(ErrorBody::new(code, message))
    }
}

impl From<LifecycleError> for OpError {
    fn from(e: LifecycleError) -> Self {
        OpError::new(e.code(), e.to_string())
    }
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => OpError::new(
                ErrorCode::AuditUnavailable,
                format!(
                    "the gateway cannot record this in its audit trail, so it did nothing ({m}); retry later"
                ),
            ),
            other => OpError::new(ErrorCode::Internal, other.to_string()),
        }
    }
}

/// What a mutation will change, planned against the state it loaded.
struct Plan {
    requests: Vec<Write<AccessRequest>>,
    grants: Vec<Write<Grant>>,
    audit: Vec<Draft>,
    reply: ReplyBody,
    events: Vec<Event>,
}

impl Plan {
    fn new(reply: ReplyBody) -> Plan {
        Plan {
            requests: Vec::new(),
            grants: Vec::new(),
            audit: Vec::new(),
            reply,
            events: Vec::new(),
        }
    }
}

fn write<T>(value: T, loaded: Option<i64>) -> Write<T> {
    match loaded {
        Some(expected_version) => Write::Update {
            value,
            expected_version,
        },
        None => Write::Insert(value),
    }
}

fn draft(
    actor: &str,
    action: &str,
    target: &str,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> Draft {
    Draft::new(actor, ORIGIN, action, target, detail, now)
}

fn request_detail(r: &AccessRequest) -> serde_json::Value {
    json!({
        "service": r.service,
        "capabilities": r.capabilities,
        "duration_s": r.duration_s,
        "reason": r.reason,
        "ticket": r.ticket,
        "break_glass": r.break_glass,
        "extends": r.extends,
        "state": r.state,
        "approvals": r.approvals.len(),
        "approvals_required": r.approvals_required,
    })
}

fn grant_detail(g: &Grant) -> serde_json::Value {
    json!({
        "request_id": g.request_id,
        "user": g.user,
        "service": g.service,
        "capabilities": g.capabilities,
        "starts_at": ts::format(&g.starts_at),
        "expires_at": ts::format(&g.expires_at),
        "state": g.state,
        "break_glass": g.break_glass,
    })
}

/// Short random ids people can type: `req-3f2a9c01b7de`.
pub fn new_id(prefix: &str) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &hex[..12])
}

pub struct Engine {
    pub store: Arc<dyn Store>,
    pub policy: Arc<Policy>,
    pub hub: Arc<Hub>,
    /// Log sources and the streams they feed.
    pub logs: Arc<LogStreams>,
    /// Metric sources (scraped history or Prometheus).
    pub charts: Arc<MetricSources>,
    pub metrics: Arc<Metrics>,
    deadlines: mpsc::UnboundedSender<Deadline>,
    limiter: Mutex<RateLimiter<String>>,
    /// Rule 1 without a store read: the grants the store holds as active.
    active: Mutex<ActiveGrants>,
    /// Signs checkpoints of the chain head.
    signer: SigningKey,
}

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        policy: Arc<Policy>,
        logs: Arc<LogStreams>,
        charts: Arc<MetricSources>,
        metrics: Arc<Metrics>,
        deadlines: mpsc::UnboundedSender<Deadline>,
        signer: SigningKey,
    ) -> Engine {
        let s = policy.settings();
        let limiter = RateLimiter::new(s.ops_burst, s.ops_per_sec);
        let hub = Arc::new(Hub::new(policy.clone()));
        Engine {
            store,
            policy,
            hub,
            logs,
            charts,
            metrics,
            deadlines,
            limiter: Mutex::new(limiter),
            active: Mutex::new(ActiveGrants::default()),
            signer,
        }
    }

    /// Runs one op that arrived on connection `conn` (whose streams
    /// `logs.subscribe` and `logs.unsubscribe` open and close) and returns
    /// the encoded reply.
    pub async fn execute(
        &self,
        user: &UserInfo,
        op_id: &str,
        op: Op,
        conn: &mut ConnStreams,
    ) -> String {
        let started = Instant::now();
        let name = op.name();
        let (reply, outcome) = match self.check_rate(&user.name) {
            Err(e) => failed(op_id, e),
            Ok(()) if op.is_mutation() => self.mutate(user, op_id, op).await,
            Ok(()) => match self.read(user, op, conn).await {
                Ok(body) => (Reply::ok(op_id.to_string(), body).encode(), "ok"),
                Err(e) => failed(op_id, e),
            },
        };
        self.metrics.op(name, outcome, started.elapsed());
        reply
    }

    fn check_rate(&self, user: &str) -> Result<(), OpError> {
        let mut limiter = self.limiter.lock().expect("rate limiter lock");
        limiter
            .check(user.to_string(), Instant::now())
            .map_err(|retry| {
                OpError::new(
                    ErrorCode::RateLimited,
                    format!("too many ops; retry in {} ms", retry.as_millis().max(1)),
                )
            })
    }

    /// A mutation: plan and commit, retrying when a concurrent change wins
    /// the compare-and-set; the stored reply if this op id already ran.
    async fn mutate(&self, user: &UserInfo, op_id: &str, op: Op) -> (String, &'static str) {
        // A resent op id is caught by the commit (its op record already
        // exists), which then answers with the stored reply: no read first.
        for _ in 0..CAS_ATTEMPTS {
            let now = ts::now();
            let planned = self.plan(user, &op, now).await;
            let (commit, reply, events, code) = match planned {
                Ok(plan) => {
                    let reply = match plan.reply {
                        // Its reply names the chain entry the commit seals.
                        ReplyBody::Recorded { .. } => StoredReply::ChainHead {
                            re: op_id.to_string(),
                        },
                        body => StoredReply::Text(Reply::ok(op_id.to_string(), body).encode()),
                    };
                    let commit = Commit {
                        requests: plan.requests,
                        grants: plan.grants,
                        audit: plan.audit,
                        op: None,
                    };
                    (commit, reply, plan.events, None)
                }
                Err(OpError(body)) => {
                    // A refused attempt is a user action too: it is recorded.
                    let audit = vec![draft(
                        &user.name,
                        &format!("{}.refused", op.name()),
                        &op.target(),
                        json!({"code": body.code, "message": body.message}),
                        now,
                    )];
                    let code = body.code;
                    let reply =
                        StoredReply::Text(Reply::err(Some(op_id.to_string()), body).encode());
                    let commit = Commit {
                        audit,
                        ..Commit::default()
                    };
                    (commit, reply, Vec::new(), Some(code))
                }
            };
            let commit = Commit {
                op: Some(OpRecord {
                    user: user.name.clone(),
                    op_id: op_id.to_string(),
                    reply: reply.clone(),
                }),
                ..commit
            };
            match self.store.commit(commit).await {
                Ok(entries) => {
                    crate::failpoint::hang_if("committed", op.name());
                    let text = reply.text(&entries);
                    self.after_commit(events, entries);
                    return (text, code.map_or("ok", ErrorCode::as_str));
                }
                Err(StoreError::Conflict) => continue,
                Err(StoreError::DuplicateOp) => {
                    if let Ok(Some(stored)) = self.store.op_reply(&user.name, op_id).await {
                        return (stored, "replayed");
                    }
                }
                Err(e) => return failed(op_id, e.into()),
            }
        }
        failed(
            op_id,
            OpError::new(
                ErrorCode::Conflict,
                "the object kept changing under this op; reload and try again",
            ),
        )
    }

    /// Fills the active-grant index from the store (start-up).
    pub async fn load_active_grants(&self) -> Result<(), StoreError> {
        let grants = self.store.list_grants(true).await?;
        self.active_grants().reset(grants);
        Ok(())
    }

    fn active_grants(&self) -> MutexGuard<'_, ActiveGrants> {
        self.active.lock().expect("active grants lock")
    }

    /// Grants in force now, for the `/metrics` gauge.
    pub fn grants_in_force(&self) -> u64 {
        self.active_grants().in_force(ts::now()) as u64
    }

    /// When the grant `id` ends, while it is active (it may have ended or
    /// moved since someone found it covering).
    pub(super) fn active_grant_expiry(&self, id: &str) -> Option<DateTime<Utc>> {
        self.active_grants().get(id).map(|g| g.expires_at)
    }

    /// What follows a commit that landed. Every grant a commit writes comes
    /// with its `grant.updated` event, so the events alone say how the
    /// active-grant index, the streams and the scheduler follow. The index
    /// moves before the streams hear of it: `logs_subscribe` relies on
    /// that order.
    fn after_commit(&self, events: Vec<Event>, entries: Vec<AuditEntry>) {
        self.metrics.audit_appended(entries.len());
        for event in events {
            match &event {
                Event::RequestUpdated { request } if request.state == RequestState::Pending => self
                    .schedule(Deadline::RequestTtl {
                        at: request.pending_until,
                        id: request.id.clone(),
                    }),
                Event::GrantUpdated { grant } => {
                    self.active_grants().apply(grant.clone());
                    self.grant_changed(grant);
                }
                _ => {}
            }
            self.hub.publish(event);
        }
        for entry in entries {
            self.hub.publish(Event::AuditAppended { entry });
        }
    }

    /// The streams and the scheduler follow a grant as committed.
    fn grant_changed(&self, grant: &Grant) {
        match grant.state {
            GrantState::Active => {
                self.logs.grant_extended(&grant.id, grant.expires_at);
                self.schedule(Deadline::GrantExpiry {
                    at: grant.expires_at,
                    id: grant.id.clone(),
                })
            }
            GrantState::Expired => self.logs.grant_ended(&grant.id, CloseReason::GrantExpired),
            GrantState::Revoked => self.logs.grant_ended(&grant.id, CloseReason::GrantRevoked),
        }
    }

    pub fn schedule(&self, deadline: Deadline) {
        // The scheduler outlives every engine user; a closed channel means
        // the gateway is shutting down.
        let _ = self.deadlines.send(deadline);
    }

    async fn load_request(
        &self,
        user: &UserInfo,
        id: &str,
    ) -> Result<Versioned<AccessRequest>, OpError> {
        match self.store.request(id).await? {
            Some(r) if self.policy.can_see_request(&user.name, &r.value) => Ok(r),
            // Requests one may not see do not exist, as far as one can tell.
            _ => Err(OpError::new(
                ErrorCode::NotFound,
                format!("no request `{id}`; `breakglass requests` lists yours"),
            )),
        }
    }

    async fn load_grant(&self, user: &UserInfo, id: &str) -> Result<Versioned<Grant>, OpError> {
        match self.store.grant(id).await? {
            Some(g) if self.policy.can_see_grant(&user.name, &g.value) => Ok(g),
            _ => Err(OpError::new(
                ErrorCode::NotFound,
                format!("no grant `{id}`; `breakglass grants` lists yours"),
            )),
        }
    }

    async fn plan(&self, user: &UserInfo, op: &Op, now: DateTime<Utc>) -> Result<Plan, OpError> {
        let me = user.name.as_str();
        let p = &*self.policy;
        match op.clone() {
            Op::RequestCreate {
                service,
                capabilities,
                duration_s,
                reason,
                ticket,
                break_glass,
            } => {
                let new = NewRequest {
                    service,
                    capabilities,
                    duration_s,
                    reason,
                    ticket,
                    break_glass,
                };
                let ids = NewIds {
                    request_id: new_id("req"),
                    grant_id: new_id("grt"),
                };
                let out = lifecycle::create(p, me, new, ids, now)?;
                let mut plan = Plan::new(ReplyBody::Request {
                    request: out.request.clone(),
                });
                plan.audit.push(draft(
                    me,
                    "request.create",
                    &out.request.id,
                    request_detail(&out.request),
                    now,
                ));
                if let Some(g) = out.grant {
                    self.plan_grant_start(&mut plan, &out.request, g, None, now);
                }
                if out.request.break_glass {
                    plan.events.push(Event::Alert {
                        kind: "break_glass".into(),
                        message: format!(
                            "{me} broke glass on {} for {}: {}",
                            out.request.service,
                            crate::duration::format_duration(std::time::Duration::from_secs(
                                out.request.duration_s
                            )),
                            out.request.reason
                        ),
                        subject: out.request.id.clone(),
                    });
                }
                plan.requests.push(Write::Insert(out.request.clone()));
                plan.events.insert(
                    0,
                    Event::RequestUpdated {
                        request: out.request,
                    },
                );
                Ok(plan)
            }
            Op::RequestCancel { request_id } => {
                let loaded = self.load_request(user, &request_id).await?;
                let r = lifecycle::cancel(&loaded.value, me, now)?;
                Ok(self.plan_request_update(me, "request.cancel", r, loaded.version, now))
            }
            Op::RequestApprove {
                request_id,
                comment,
                totp: _,
            } => {
                let loaded = self.load_request(user, &request_id).await?;
                let extended = match &loaded.value.extends {
                    Some(gid) => self.store.grant(gid).await?,
                    None => None,
                };
                let out = lifecycle::approve(
                    p,
                    &loaded.value,
                    me,
                    comment,
                    new_id("grt"),
                    extended.as_ref().map(|g| &g.value),
                    now,
                )?;
                let mut plan = self.plan_request_update(
                    me,
                    "request.approve",
                    out.request.clone(),
                    loaded.version,
                    now,
                );
                if let Some(g) = out.grant {
                    let version = extended.filter(|e| e.value.id == g.id).map(|e| e.version);
                    self.plan_grant_start(&mut plan, &out.request, g, version, now);
                }
                Ok(plan)
            }
            Op::RequestDeny { request_id, reason } => {
                let loaded = self.load_request(user, &request_id).await?;
                let r = lifecycle::deny(p, &loaded.value, me, reason, now)?;
                Ok(self.plan_request_update(me, "request.deny", r, loaded.version, now))
            }
            Op::ReviewComplete {
                request_id,
                comment,
            } => {
                let loaded = self.load_request(user, &request_id).await?;
                let r = lifecycle::complete_review(p, &loaded.value, me, comment)?;
                let mut plan =
                    self.plan_request_update(me, "review.complete", r.clone(), loaded.version, now);
                plan.audit[0].detail["review_comment"] = json!(r.review_comment);
                Ok(plan)
            }
            Op::GrantRevoke { grant_id, reason } => {
                let loaded = self.load_grant(user, &grant_id).await?;
                let g = lifecycle::revoke(p, &loaded.value, me, reason, now)?;
                let mut plan = Plan::new(ReplyBody::Grant { grant: g.clone() });
                let mut detail = grant_detail(&g);
                detail["reason"] = json!(g.revoke_reason);
                plan.audit
                    .push(draft(me, "grant.revoke", &g.id, detail, now));
                plan.grants.push(write(g.clone(), Some(loaded.version)));
                plan.events.push(Event::GrantUpdated { grant: g });
                Ok(plan)
            }
            Op::GrantExtend {
                grant_id,
                duration_s,
                reason,
            } => {
                let loaded = self.load_grant(user, &grant_id).await?;
                let ids = NewIds {
                    request_id: new_id("req"),
                    grant_id: new_id("grt"),
                };
                let out = lifecycle::extend(p, me, &loaded.value, duration_s, reason, ids, now)?;
                let mut plan = Plan::new(ReplyBody::Request {
                    request: out.request.clone(),
                });
                plan.audit.push(draft(
                    me,
                    "grant.extend",
                    &out.request.id,
                    request_detail(&out.request),
                    now,
                ));
                plan.requests.push(Write::Insert(out.request.clone()));
                plan.events.push(Event::RequestUpdated {
                    request: out.request.clone(),
                });
                if let Some(g) = out.grant {
                    self.plan_grant_start(&mut plan, &out.request, g, Some(loaded.version), now);
                }
                Ok(plan)
            }
            Op::AuditRecord { entry } => {
                if entry.actor != me {
                    return Err(OpError::new(
                        ErrorCode::Forbidden,
                        format!("entry names actor `{}`, but you are `{me}`", entry.actor),
                    ));
                }
                if chain::compute_hash(&entry) != entry.hash {
                    return Err(OpError::new(
                        ErrorCode::BadRequest,
                        format!(
                            "entry {} of your journal does not match its hash",
                            entry.seq
                        ),
                    ));
                }
                let detail = json!({
                    "client": {"seq": entry.seq, "id": entry.id, "at": ts::format(&entry.at), "hash": entry.hash},
                    "detail": entry.detail,
                });
                let mut plan = Plan::new(ReplyBody::Recorded {
                    seq: 0,
                    head: String::new(),
                });
                plan.audit.push(Draft::new(
                    me,
                    &entry.origin,
                    &entry.action,
                    &entry.target,
                    detail,
                    now,
                ));
                Ok(plan)
            }
            other => Err(OpError::new(
                ErrorCode::Internal,
                format!("{} is not a mutation", other.name()),
            )),
        }
    }

    fn plan_request_update(
        &self,
        me: &str,
        action: &str,
        r: AccessRequest,
        version: i64,
        now: DateTime<Utc>,
    ) -> Plan {
        let mut plan = Plan::new(ReplyBody::Request { request: r.clone() });
        let mut detail = request_detail(&r);
        if let Some(reason) = &r.deny_reason {
            detail["deny_reason"] = json!(reason);
        }
        if let Some(a) = r.approvals.iter().find(|a| a.by == me) {
            detail["comment"] = json!(a.comment);
        }
        plan.audit.push(draft(me, action, &r.id, detail, now));
        plan.requests.push(write(r.clone(), Some(version)));
        plan.events.push(Event::RequestUpdated { request: r });
        plan
    }

    /// Adds a new or extended grant to a plan (`version` set when extending).
    fn plan_grant_start(
        &self,
        plan: &mut Plan,
        request: &AccessRequest,
        g: Grant,
        version: Option<i64>,
        now: DateTime<Utc>,
    ) {
        let action = if version.is_some() {
            "grant.extended"
        } else {
            "grant.start"
        };
        let mut detail = grant_detail(&g);
        detail["request_id"] = json!(request.id);
        plan.audit
            .push(draft(&request.requester, action, &g.id, detail, now));
        plan.grants.push(write(g.clone(), version));
        plan.events.push(Event::GrantUpdated { grant: g });
    }

    /// Ops that change no request or grant: reads, and the data ops.
    async fn read(
        &self,
        user: &UserInfo,
        op: Op,
        conn: &mut ConnStreams,
    ) -> Result<ReplyBody, OpError> {
        let me = user.name.as_str();
        let p = &*self.policy;
        match op {
            Op::CatalogList {} => Ok(ReplyBody::Services {
                services: p.catalog_for(me),
            }),
            Op::RequestList { state, mine } => {
                let requester =
                    (mine || !(p.is_lead(me) || user.has_role("approver"))).then(|| me.to_string());
                let requests = self
                    .store
                    .list_requests(RequestQuery {
                        state,
                        requester,
                        limit: LIST_LIMIT,
                    })
                    .await?
                    .into_iter()
                    .filter(|r| p.can_see_request(me, r))
                    .collect();
                Ok(ReplyBody::Requests { requests })
            }
            Op::GrantList { active_only } => {
                let now = ts::now();
                let grants = self
                    .store
                    .list_grants(active_only)
                    .await?
                    .into_iter()
                    .filter(|g| p.can_see_grant(me, g))
                    // A grant past its time is over even if the scheduler has
                    // not written it yet.
                    .filter(|g| !active_only || now < g.expires_at)
                    .take(LIST_LIMIT as usize)
                    .collect();
                Ok(ReplyBody::Grants { grants })
            }
            Op::SessionsList {} => {
                if !p.is_lead(me) {
                    return Err(OpError::new(
                        ErrorCode::Forbidden,
                        "only leads see every session",
                    ));
                }
                let now = ts::now();
                let mut sessions = Vec::new();
                for grant in self.store.list_grants(true).await? {
                    if now >= grant.expires_at {
                        continue;
                    }
                    let last_actions = self
                        .store
                        .audit_query(AuditQuery {
                            since: Some(grant.starts_at),
                            actor: Some(grant.user.clone()),
                            limit: 5,
                        })
                        .await?;
                    sessions.push(Session {
                        grant,
                        last_actions,
                    });
                }
                Ok(ReplyBody::Sessions { sessions })
            }
            Op::AuditQuery {
                since,
                actor,
                limit,
            } => {
                // Everyone but leads sees only their own entries.
                let actor = if p.is_lead(me) {
                    actor
                } else {
                    Some(me.to_string())
                };
                let entries = self
                    .store
                    .audit_query(AuditQuery {
                        since,
                        actor,
                        limit: limit.filter(|l| *l > 0).unwrap_or(200).min(10_000),
                    })
                    .await?;
                Ok(ReplyBody::Entries { entries })
            }
            Op::AuditRange { from_seq, limit } => {
                self.only_leads(me, "read the whole audit chain")?;
                let entries = self
                    .store
                    .audit_range(from_seq.max(1), limit.clamp(1, 10_000))
                    .await?;
                Ok(ReplyBody::Entries { entries })
            }
            Op::AuditCheckpoint {} => Ok(ReplyBody::Checkpoint {
                checkpoint: self.checkpoint().await?,
            }),
            Op::AuditCheckpoints {} => {
                self.only_leads(me, "list checkpoints")?;
                Ok(ReplyBody::Checkpoints {
                    checkpoints: self.store.checkpoints().await?,
                })
            }
            Op::MetricsQuery {
                service,
                metric,
                range_s,
                step_s,
            } => {
                self.metrics_query(user, &service, metric, range_s, step_s)
                    .await
            }
            Op::LogsSubscribe {
                service,
                filter,
                since_s,
            } => {
                self.logs_subscribe(user, &service, filter, since_s, conn)
                    .await
            }
            Op::LogsUnsubscribe { sub_id } => self.logs_unsubscribe(user, &sub_id, conn).await,
            other => Err(OpError::new(
                ErrorCode::Internal,
                format!("{} is not a read", other.name()),
            )),
        }
    }

    fn only_leads(&self, user: &str, what: &str) -> Result<(), OpError> {
        if self.policy.is_lead(user) {
            Ok(())
        } else {
            Err(OpError::new(
                ErrorCode::Forbidden,
                format!("only leads {what}"),
            ))
        }
    }

    /// The gateway's public key (hex) for checkpoint signatures.
    pub fn audit_key(&self) -> String {
        crate::audit::checkpoint::public_key_hex(&self.signer)
    }

    /// Signs and stores the current chain head (a fresh checkpoint even if
    /// the head did not move, so its time says "still intact at").
    pub async fn checkpoint(&self) -> Result<crate::protocol::Checkpoint, OpError> {
        let (seq, hash) = self
            .store
            .audit_head()
            .await?
            .unwrap_or((0, crate::audit::chain::GENESIS_HASH.to_string()));
        let c = crate::audit::checkpoint::sign(&self.signer, seq, &hash, ts::now());
        self.store.insert_checkpoint(c.clone()).await?;
        Ok(c)
    }

    /// Rule 1: no grant, no data.
    pub(super) fn covering_grant(
        &self,
        user: &str,
        service: &str,
        cap: Capability,
    ) -> Result<Grant, OpError> {
        if self.policy.service(service).is_none() {
            return Err(OpError::new(
                ErrorCode::NotFound,
                format!("unknown service `{service}`"),
            ));
        }
        let now = ts::now();
        self.active_grants()
            .covering(user, service, cap, now)
            .cloned()
            .ok_or_else(|| {
                OpError::new(
                    ErrorCode::Forbidden,
                    format!(
                        "you hold no active grant for {cap} on {service}; ask with `breakglass request {service} --cap {cap} --for 30m --reason …`"
                    ),
                )
            })
    }

    /// The scheduler's call: expire a grant whose time is up. Returns a later
    /// deadline when the grant was extended meanwhile.
    pub async fn expire_grant(&self, id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(loaded) = self.store.grant(id).await? else {
                return Ok(None);
            };
            let now = ts::now();
            let Some(g) = lifecycle::expire_grant(&loaded.value, now) else {
                let still_active = loaded.value.state == crate::protocol::GrantState::Active;
                return Ok(still_active.then_some(loaded.value.expires_at));
            };
            let commit = Commit {
                grants: vec![write(g.clone(), Some(loaded.version))],
                audit: vec![draft(
                    "gateway",
                    "grant.expired",
                    &g.id,
                    grant_detail(&g),
                    now,
                )],
                ..Commit::default()
            };
            match self.store.commit(commit).await {
                Ok(entries) => {
                    self.after_commit(vec![Event::GrantUpdated { grant: g }], entries);
                    return Ok(None);
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }

    /// The scheduler's call: expire a pending request past its TTL.
    pub async fn expire_request(&self, id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(loaded) = self.store.request(id).await? else {
                return Ok(None);
            };
            let now = ts::now();
            let Some(r) = lifecycle::expire_request(&loaded.value, now) else {
                let pending = loaded.value.state == RequestState::Pending;
                return Ok(pending.then_some(loaded.value.pending_until));
            };
            let commit = Commit {
                requests: vec![write(r.clone(), Some(loaded.version))],
                audit: vec![draft(
                    "gateway",
                    "request.expired",
                    &r.id,
                    request_detail(&r),
                    now,
                )],
                ..Commit::default()
            };
            match self.store.commit(commit).await {
                Ok(entries) => {
                    self.after_commit(vec![Event::RequestUpdated { request: r }], entries);
                    return Ok(None);
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }

    /// Every deadline in the store: what start-up hands the scheduler.
    pub async fn all_deadlines(&self) -> Result<Vec<Deadline>, StoreError> {
        let mut out: Vec<Deadline> = self
            .store
            .list_grants(true)
            .await?
            .into_iter()
            .map(|g| Deadline::GrantExpiry {
                at: g.expires_at,
                id: g.id,
            })
            .collect();
        out.extend(
            self.store
                .list_requests(RequestQuery {
                    state: Some(RequestState::Pending),
                    requester: None,
                    limit: 0,
                })
                .await?
                .into_iter()
                .map(|r| Deadline::RequestTtl {
                    at: r.pending_until,
                    id: r.id,
                }),
        );
        Ok(out)
    }

    /// Records a data access or other non-lifecycle user action in the chain.
    pub async fn record(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) -> Result<AuditEntry, OpError> {
        let commit = Commit {
            audit: vec![draft(actor, action, target, detail, ts::now())],
            ..Commit::default()
        };
        let mut entries = self.store.commit(commit).await?;
        let entry = entries.pop().expect("one entry was committed");
        self.after_commit(Vec::new(), vec![entry.clone()]);
        Ok(entry)
    }
}

fn failed(op_id: &str, e: OpError) -> (String, &'static str) {
    let code = e.0.code.as_str();
    (Reply::err(Some(op_id.to_string()), e.0).encode(), code)
}
