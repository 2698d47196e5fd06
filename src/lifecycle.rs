//! The access lifecycle: requests pending → approved · denied · cancelled ·
//! expired, grants active → expired · revoked.
//!
//! Every transition is a pure function of the current objects, the policy,
//! the acting user and `now`, returning the new objects or a typed refusal.
//! It never touches the store or the clock: the gateway loads, calls, and
//! persists the result with a compare-and-set, so the rules here are the
//! only place a grant can come from.

use chrono::{DateTime, Utc};

use crate::policy::{Policy, PolicyError};
use crate::protocol::{
    AccessRequest, Approval, Capability, ErrorCode, Grant, GrantState, RequestState,
};

/// Why a transition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("request {id} is already {state}; only pending requests can be decided or cancelled")]
    NotPending { id: String, state: &'static str },
    #[error("you cannot approve or deny your own request")]
    OwnRequest,
    #[error("you are not an approver of `{0}`")]
    NotAnApprover(String),
    #[error("you have already approved request {0}")]
    AlreadyApproved(String),
    #[error("only the requester can cancel request {0}")]
    NotRequester(String),
    #[error("a reason is required")]
    ReasonRequired,
    #[error("grant {id} is already {state}")]
    GrantNotActive { id: String, state: &'static str },
    #[error("only the holder or a lead may revoke grant {0}")]
    NotHolderOrLead(String),
    #[error("only the holder may extend grant {0}")]
    NotHolder(String),
    #[error("only leads complete reviews")]
    NotALead,
    #[error("request {0} does not need a review")]
    NoReviewNeeded(String),
}

impl LifecycleError {
    pub fn code(&self) -> ErrorCode {
        match self {
            LifecycleError::Policy(p) => p.code(),
            LifecycleError::NotPending { .. }
            | LifecycleError::AlreadyApproved(_)
            | LifecycleError::GrantNotActive { .. }
            | LifecycleError::NoReviewNeeded(_) => ErrorCode::Conflict,
            LifecycleError::ReasonRequired => ErrorCode::BadRequest,
            LifecycleError::OwnRequest
            | LifecycleError::NotAnApprover(_)
            | LifecycleError::NotRequester(_)
            | LifecycleError::NotHolderOrLead(_)
            | LifecycleError::NotHolder(_)
            | LifecycleError::NotALead => ErrorCode::Forbidden,
        }
    }
}

/// What a user asks for in `request.create` / `grant.extend`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    pub service: String,
    pub capabilities: Vec<Capability>,
    pub duration_s: u64,
    pub reason: String,
    pub ticket: Option<String>,
    pub break_glass: bool,
}

/// Ids the caller mints (randomness stays outside the pure code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIds {
    pub request_id: String,
    pub grant_id: String,
}

/// The outcome of a transition that may produce or change a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub request: AccessRequest,
    /// A new grant, or the extended one.
    pub grant: Option<Grant>,
}

fn non_blank(s: &str) -> Result<(), LifecycleError> {
    if s.trim().is_empty() {
        Err(LifecycleError::ReasonRequired)
    } else {
        Ok(())
    }
}

fn secs(s: u64) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000))
}

fn dedup_caps(caps: &[Capability]) -> Vec<Capability> {
    let mut caps = caps.to_vec();
    caps.sort();
    caps.dedup();
    caps
}

/// `request.create`: a pending request, or at once approved when the policy
/// auto-approves this user or the user breaks glass.
pub fn create(
    policy: &Policy,
    requester: &str,
    new: NewRequest,
    ids: NewIds,
    now: DateTime<Utc>,
) -> Result<Outcome, LifecycleError> {
    let caps = dedup_caps(&new.capabilities);
    let rules = policy.check_request(
        requester,
        &new.service,
        &caps,
        new.duration_s,
        &new.reason,
        new.break_glass,
    )?;
    let ttl = chrono::Duration::from_std(rules.request_ttl).unwrap_or(chrono::Duration::days(1));
    let request = AccessRequest {
        id: ids.request_id,
        requester: requester.to_string(),
        service: new.service,
        capabilities: caps,
        duration_s: new.duration_s,
        reason: new.reason,
        ticket: new.ticket.filter(|t| !t.trim().is_empty()),
        break_glass: new.break_glass,
        extends: None,
        state: RequestState::Pending,
        approvals: Vec::new(),
        approvals_required: rules.approvals_required,
        denied_by: None,
        deny_reason: None,
        created_at: now,
        decided_at: None,
        pending_until: now + ttl,
        grant_id: None,
        needs_review: new.break_glass,
        reviewed_by: None,
        review_comment: None,
    };
    if rules.auto_approve || rules.break_glass {
        return Ok(grant_from(request, ids.grant_id, None, now));
    }
    Ok(Outcome {
        request,
        grant: None,
    })
}

/// `grant.extend`: a new request that, once approved, pushes the grant's
/// `expires_at` out by `duration_s`. Only the holder asks; the policy's cap
/// applies to the extension itself.
pub fn extend(
    policy: &Policy,
    holder: &str,
    grant: &Grant,
    duration_s: u64,
    reason: String,
    ids: NewIds,
    now: DateTime<Utc>,
) -> Result<Outcome, LifecycleError> {
    if grant.user != holder {
        return Err(LifecycleError::NotHolder(grant.id.clone()));
    }
    ensure_running(grant, now)?;
    let new = NewRequest {
        service: grant.service.clone(),
        capabilities: grant.capabilities.clone(),
        duration_s,
        reason,
        ticket: None,
        break_glass: false,
    };
    let mut outcome = create(
        policy,
        holder,
        new,
        NewIds {
            request_id: ids.request_id,
            grant_id: grant.id.clone(),
        },
        now,
    )?;
    outcome.request.extends = Some(grant.id.clone());
    if outcome.request.state == RequestState::Approved {
        // Auto-approved: extend the existing grant rather than mint a new one.
        let request = AccessRequest {
            state: RequestState::Pending,
            grant_id: None,
            decided_at: None,
            ..outcome.request
        };
        return Ok(grant_from(request, grant.id.clone(), Some(grant), now));
    }
    Ok(outcome)
}

/// Turns an approved request into its grant: a new one from `now`, or, for
/// an extension of a grant still active, the same grant running longer.
fn grant_from(
    mut request: AccessRequest,
    grant_id: String,
    extends: Option<&Grant>,
    now: DateTime<Utc>,
) -> Outcome {
    request.state = RequestState::Approved;
    request.decided_at = Some(now);
    let grant = match extends {
        Some(g) if g.state == GrantState::Active && now < g.expires_at => Grant {
            expires_at: g.expires_at + secs(request.duration_s),
            ..g.clone()
        },
        _ => Grant {
            id: grant_id,
            request_id: request.id.clone(),
            user: request.requester.clone(),
            service: request.service.clone(),
            capabilities: request.capabilities.clone(),
            starts_at: now,
            expires_at: now + secs(request.duration_s),
            state: GrantState::Active,
            break_glass: request.break_glass,
            revoked_by: None,
            revoke_reason: None,
            ended_at: None,
        },
    };
    request.grant_id = Some(grant.id.clone());
    Outcome {
        request,
        grant: Some(grant),
    }
}

/// A grant is running while active and before its `expires_at`, even if
/// the scheduler has not written its expiry yet.
fn ensure_running(grant: &Grant, now: DateTime<Utc>) -> Result<(), LifecycleError> {
    if grant.state == GrantState::Active && now < grant.expires_at {
        return Ok(());
    }
    Err(LifecycleError::GrantNotActive {
        id: grant.id.clone(),
        state: if grant.state == GrantState::Active {
            "expired"
        } else {
            grant.state.as_str()
        },
    })
}

fn ensure_pending(request: &AccessRequest, now: DateTime<Utc>) -> Result<(), LifecycleError> {
    let state = if request.state == RequestState::Pending && now >= request.pending_until {
        RequestState::Expired
    } else {
        request.state
    };
    if state != RequestState::Pending {
        return Err(LifecycleError::NotPending {
            id: request.id.clone(),
            state: state.as_str(),
        });
    }
    Ok(())
}

fn ensure_decider(
    policy: &Policy,
    request: &AccessRequest,
    user: &str,
) -> Result<(), LifecycleError> {
    if user == request.requester {
        return Err(LifecycleError::OwnRequest);
    }
    if !policy.may_decide(user, request) {
        return Err(LifecycleError::NotAnApprover(request.service.clone()));
    }
    Ok(())
}

/// `request.approve`: counts one approval per approver; the last one needed
/// approves the request and yields its grant. `extended` is the grant an
/// extension request names, as currently stored.
pub fn approve(
    policy: &Policy,
    request: &AccessRequest,
    approver: &str,
    comment: Option<String>,
    grant_id: String,
    extended: Option<&Grant>,
    now: DateTime<Utc>,
) -> Result<Outcome, LifecycleError> {
    ensure_pending(request, now)?;
    ensure_decider(policy, request, approver)?;
    if let Some(gid) = &request.extends {
        // An extension only ever lengthens a running grant: approving it
        // after a revocation or expiry must not hand access back.
        match extended {
            Some(g) => ensure_running(g, now)?,
            None => {
                return Err(LifecycleError::GrantNotActive {
                    id: gid.clone(),
                    state: "gone",
                });
            }
        }
    }
    if request.approvals.iter().any(|a| a.by == approver) {
        return Err(LifecycleError::AlreadyApproved(request.id.clone()));
    }
    let mut request = request.clone();
    request.approvals.push(Approval {
        by: approver.to_string(),
        at: now,
        comment: comment.filter(|c| !c.trim().is_empty()),
    });
    if (request.approvals.len() as u32) < request.approvals_required {
        return Ok(Outcome {
            request,
            grant: None,
        });
    }
    Ok(grant_from(request, grant_id, extended, now))
}

/// `request.deny`: one deny from an approver denies the request.
pub fn deny(
    policy: &Policy,
    request: &AccessRequest,
    approver: &str,
    reason: String,
    now: DateTime<Utc>,
) -> Result<AccessRequest, LifecycleError> {
    ensure_pending(request, now)?;
    ensure_decider(policy, request, approver)?;
    non_blank(&reason)?;
    let mut request = request.clone();
    request.state = RequestState::Denied;
    request.denied_by = Some(approver.to_string());
    request.deny_reason = Some(reason);
    request.decided_at = Some(now);
    Ok(request)
}

/// `request.cancel`: the requester withdraws a pending request.
pub fn cancel(
    request: &AccessRequest,
    user: &str,
    now: DateTime<Utc>,
) -> Result<AccessRequest, LifecycleError> {
    if user != request.requester {
        return Err(LifecycleError::NotRequester(request.id.clone()));
    }
    ensure_pending(request, now)?;
    let mut request = request.clone();
    request.state = RequestState::Cancelled;
    request.decided_at = Some(now);
    Ok(request)
}

/// The scheduler's transition for a pending request past its TTL; `None`
/// when there is nothing to do (already decided, or not yet due).
pub fn expire_request(request: &AccessRequest, now: DateTime<Utc>) -> Option<AccessRequest> {
    if request.state != RequestState::Pending || now < request.pending_until {
        return None;
    }
    let mut request = request.clone();
    request.state = RequestState::Expired;
    request.decided_at = Some(now);
    Some(request)
}

/// The scheduler's transition for a grant whose time is up.
pub fn expire_grant(grant: &Grant, now: DateTime<Utc>) -> Option<Grant> {
    if grant.state != GrantState::Active || now < grant.expires_at {
        return None;
    }
    let mut grant = grant.clone();
    grant.state = GrantState::Expired;
    grant.ended_at = Some(grant.expires_at);
    Some(grant)
}

/// `grant.revoke`: by a lead, or the holder giving it up.
pub fn revoke(
    policy: &Policy,
    grant: &Grant,
    by: &str,
    reason: String,
    now: DateTime<Utc>,
) -> Result<Grant, LifecycleError> {
    if !policy.may_revoke(by, grant) {
        return Err(LifecycleError::NotHolderOrLead(grant.id.clone()));
    }
    non_blank(&reason)?;
    ensure_running(grant, now)?;
    let mut grant = grant.clone();
    grant.state = GrantState::Revoked;
    grant.revoked_by = Some(by.to_string());
    grant.revoke_reason = Some(reason);
    grant.ended_at = Some(now);
    Ok(grant)
}

/// `review.complete`: a lead closes the review of a break-glass use.
pub fn complete_review(
    policy: &Policy,
    request: &AccessRequest,
    lead: &str,
    comment: String,
) -> Result<AccessRequest, LifecycleError> {
    if !policy.is_lead(lead) {
        return Err(LifecycleError::NotALead);
    }
    if !request.needs_review {
        return Err(LifecycleError::NoReviewNeeded(request.id.clone()));
    }
    non_blank(&comment)?;
    let mut request = request.clone();
    request.needs_review = false;
    request.reviewed_by = Some(lead.to_string());
    request.review_comment = Some(comment);
    Ok(request)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::policy::tests::demo_policy;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T03:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn ids(n: u32) -> NewIds {
        NewIds {
            request_id: format!("req-{n}"),
            grant_id: format!("grt-{n}"),
        }
    }

    fn ask(service: &str, secs: u64) -> NewRequest {
        NewRequest {
            service: service.into(),
            capabilities: vec![Capability::LogsRead],
            duration_s: secs,
            reason: "INC-7 checkout errors".into(),
            ticket: Some("INC-7".into()),
            break_glass: false,
        }
    }

    pub(crate) fn pending_request(who: &str, service: &str, n: u32) -> AccessRequest {
        create(&demo_policy(), who, ask(service, 600), ids(n), t0())
            .unwrap()
            .request
    }

    #[test]
    fn one_approval_grants_payments_for_exactly_the_asked_time() {
        let p = demo_policy();
        let r = create(&p, "alice", ask("payments", 1800), ids(1), t0()).unwrap();
        assert_eq!(r.request.state, RequestState::Pending);
        assert!(r.grant.is_none());
        let later = t0() + chrono::Duration::seconds(30);
        let out = approve(
            &p,
            &r.request,
            "bob",
            Some("ok".into()),
            "grt-1".into(),
            None,
            later,
        )
        .unwrap();
        assert_eq!(out.request.state, RequestState::Approved);
        let g = out.grant.unwrap();
        assert_eq!(g.starts_at, later);
        assert_eq!(g.expires_at, later + chrono::Duration::seconds(1800));
        assert_eq!(out.request.grant_id.as_deref(), Some("grt-1"));
    }

    #[test]
    fn checkout_needs_two_distinct_approvers() {
        let p = demo_policy();
        let r = create(&p, "alice", ask("checkout", 600), ids(1), t0())
            .unwrap()
            .request;
        let one = approve(&p, &r, "bob", None, "g".into(), None, t0()).unwrap();
        assert_eq!(one.request.state, RequestState::Pending);
        assert!(one.grant.is_none());
        assert_eq!(
            approve(&p, &one.request, "bob", None, "g".into(), None, t0()).unwrap_err(),
            LifecycleError::AlreadyApproved("req-1".into())
        );
        let two = approve(&p, &one.request, "dave", None, "g".into(), None, t0()).unwrap();
        assert_eq!(two.request.state, RequestState::Approved);
        assert!(two.grant.is_some());
    }

    #[test]
    fn nobody_approves_their_own_or_someone_elses_service() {
        let p = demo_policy();
        let r = pending_request("alice", "payments", 1);
        assert_eq!(
            approve(&p, &r, "alice", None, "g".into(), None, t0()).unwrap_err(),
            LifecycleError::OwnRequest
        );
        assert_eq!(
            approve(&p, &r, "erin", None, "g".into(), None, t0())
                .unwrap_err()
                .code(),
            ErrorCode::Forbidden
        );
    }

    #[test]
    fn one_deny_denies_and_nothing_decides_it_again() {
        let p = demo_policy();
        let r = create(&p, "alice", ask("checkout", 600), ids(1), t0())
            .unwrap()
            .request;
        let one = approve(&p, &r, "bob", None, "g".into(), None, t0())
            .unwrap()
            .request;
        let denied = deny(&p, &one, "dave", "not during the freeze".into(), t0()).unwrap();
        assert_eq!(denied.state, RequestState::Denied);
        let again = approve(&p, &denied, "dave", None, "g".into(), None, t0()).unwrap_err();
        assert_eq!(again.code(), ErrorCode::Conflict);
        assert_eq!(
            deny(&p, &r, "dave", "  ".into(), t0()).unwrap_err(),
            LifecycleError::ReasonRequired
        );
    }

    #[test]
    fn pending_requests_expire_after_the_ttl_and_cannot_be_approved_late() {
        let p = demo_policy();
        let r = pending_request("alice", "payments", 1);
        let late = r.pending_until;
        assert!(expire_request(&r, late - chrono::Duration::milliseconds(1)).is_none());
        assert_eq!(
            expire_request(&r, late).unwrap().state,
            RequestState::Expired
        );
        let err = approve(&p, &r, "bob", None, "g".into(), None, late).unwrap_err();
        assert_eq!(
            err,
            LifecycleError::NotPending {
                id: "req-1".into(),
                state: "expired"
            }
        );
    }

    #[test]
    fn break_glass_grants_at_once_and_asks_for_review() {
        let p = demo_policy();
        let mut new = ask("payments", 900);
        new.break_glass = true;
        let out = create(&p, "alice", new, ids(1), t0()).unwrap();
        assert_eq!(out.request.state, RequestState::Approved);
        assert!(out.request.needs_review);
        assert!(out.grant.as_ref().unwrap().break_glass);
        assert_eq!(
            complete_review(&p, &out.request, "bob", "fine".into()).unwrap_err(),
            LifecycleError::NotALead
        );
        let reviewed = complete_review(&p, &out.request, "carol", "justified".into()).unwrap();
        assert!(!reviewed.needs_review);
    }

    #[test]
    fn search_is_automatic_for_whoever_is_on_call() {
        let p = demo_policy();
        let out = create(&p, "alice", ask("search", 600), ids(1), t0()).unwrap();
        assert_eq!(out.request.state, RequestState::Approved);
        let out = create(&p, "erin", ask("search", 600), ids(2), t0()).unwrap();
        assert_eq!(out.request.state, RequestState::Pending);
    }

    #[test]
    fn approved_extension_pushes_the_same_grant_out() {
        let p = demo_policy();
        let r = create(&p, "alice", ask("payments", 600), ids(1), t0()).unwrap();
        let g = approve(&p, &r.request, "bob", None, "grt-1".into(), None, t0())
            .unwrap()
            .grant
            .unwrap();
        let ext = extend(&p, "alice", &g, 900, "still digging".into(), ids(2), t0()).unwrap();
        assert_eq!(ext.request.extends.as_deref(), Some("grt-1"));
        assert_eq!(ext.request.state, RequestState::Pending);
        assert_eq!(
            extend(&p, "erin", &g, 900, "mine now".into(), ids(3), t0()).unwrap_err(),
            LifecycleError::NotHolder("grt-1".into())
        );
        let out = approve(
            &p,
            &ext.request,
            "bob",
            None,
            "unused".into(),
            Some(&g),
            t0(),
        )
        .unwrap();
        let g2 = out.grant.unwrap();
        assert_eq!(g2.id, "grt-1");
        assert_eq!(g2.expires_at, g.expires_at + chrono::Duration::seconds(900));
    }

    #[test]
    fn approving_the_extension_of_a_revoked_grant_gives_no_access_back() {
        let p = demo_policy();
        let r = create(&p, "alice", ask("payments", 600), ids(1), t0()).unwrap();
        let g = approve(&p, &r.request, "bob", None, "grt-1".into(), None, t0())
            .unwrap()
            .grant
            .unwrap();
        let ext = extend(&p, "alice", &g, 900, "still digging".into(), ids(2), t0()).unwrap();
        let revoked = revoke(&p, &g, "carol", "incident over".into(), t0()).unwrap();
        let err = approve(
            &p,
            &ext.request,
            "bob",
            None,
            "grt-3".into(),
            Some(&revoked),
            t0(),
        )
        .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Conflict);
        assert!(err.to_string().contains("revoked"), "{err}");
    }

    #[test]
    fn revocation_is_for_leads_and_the_holder_only() {
        let p = demo_policy();
        let r = create(&p, "alice", ask("search", 600), ids(1), t0()).unwrap();
        let g = r.grant.unwrap();
        assert_eq!(
            revoke(&p, &g, "erin", "nosy".into(), t0())
                .unwrap_err()
                .code(),
            ErrorCode::Forbidden
        );
        let by_lead = revoke(&p, &g, "carol", "incident over".into(), t0()).unwrap();
        assert_eq!(by_lead.state, GrantState::Revoked);
        assert!(!by_lead.covers("search", Capability::LogsRead, t0()));
        assert!(revoke(&p, &g, "alice", "done".into(), t0()).is_ok());
        assert_eq!(
            revoke(&p, &by_lead, "carol", "again".into(), t0())
                .unwrap_err()
                .code(),
            ErrorCode::Conflict
        );
    }

    /// Random actions by random people at random times.
    #[derive(Debug, Clone)]
    enum Action {
        Create {
            who: usize,
            svc: usize,
            secs: u64,
            bg: bool,
        },
        Approve {
            who: usize,
            req: usize,
        },
        Deny {
            who: usize,
            req: usize,
        },
        Cancel {
            who: usize,
            req: usize,
        },
        Revoke {
            who: usize,
            grant: usize,
        },
        Extend {
            grant: usize,
            secs: u64,
        },
        Tick {
            secs: i64,
        },
    }

    const PEOPLE: [&str; 5] = ["alice", "erin", "bob", "dave", "carol"];
    const SERVICES: [&str; 3] = ["payments", "checkout", "search"];

    fn action() -> impl Strategy<Value = Action> {
        prop_oneof![
            (0..5usize, 0..3usize, 0..9000u64, any::<bool>())
                .prop_map(|(who, svc, secs, bg)| Action::Create { who, svc, secs, bg }),
            (0..5usize, 0..16usize).prop_map(|(who, req)| Action::Approve { who, req }),
            (0..5usize, 0..16usize).prop_map(|(who, req)| Action::Deny { who, req }),
            (0..5usize, 0..16usize).prop_map(|(who, req)| Action::Cancel { who, req }),
            (0..5usize, 0..16usize).prop_map(|(who, grant)| Action::Revoke { who, grant }),
            (0..16usize, 0..3000u64).prop_map(|(grant, secs)| Action::Extend { grant, secs }),
            (0..4000i64).prop_map(|secs| Action::Tick { secs }),
        ]
    }

    proptest! {
        /// No sequence of ops yields a grant without enough distinct
        /// approvals (unless auto-approved or break-glass), a grant from a
        /// refused request, or a grant usable after its expires_at.
        #[test]
        fn no_sequence_of_ops_breaks_the_grant_rules(actions in prop::collection::vec(action(), 1..60)) {
            let p = demo_policy();
            let mut now = t0();
            let mut requests: Vec<AccessRequest> = Vec::new();
            let mut grants: Vec<Grant> = Vec::new();
            let mut n = 0u32;
            let save_grant = |grants: &mut Vec<Grant>, g: Grant| {
                match grants.iter_mut().find(|x| x.id == g.id) {
                    Some(x) => *x = g,
                    None => grants.push(g),
                }
            };
            for a in actions {
                n += 1;
                match a {
                    Action::Create { who, svc, secs, bg } => {
                        let mut new = ask(SERVICES[svc], secs);
                        new.break_glass = bg;
                        if let Ok(out) = create(&p, PEOPLE[who], new, ids(n), now) {
                            prop_assert!(secs <= p.service(SERVICES[svc]).unwrap().max_duration.as_secs());
                            requests.push(out.request);
                            if let Some(g) = out.grant { save_grant(&mut grants, g); }
                        }
                    }
                    Action::Approve { who, req } => {
                        if let Some(r) = requests.get(req).cloned() {
                            let ext = r.extends.as_ref().and_then(|id| grants.iter().find(|g| &g.id == id)).cloned();
                            if let Ok(out) = approve(&p, &r, PEOPLE[who], None, format!("grt-{n}"), ext.as_ref(), now) {
                                prop_assert_ne!(&r.requester, PEOPLE[who]);
                                requests[req] = out.request;
                                if let Some(g) = out.grant { save_grant(&mut grants, g); }
                            }
                        }
                    }
                    Action::Deny { who, req } => {
                        if let Some(r) = requests.get(req).cloned()
                            && let Ok(d) = deny(&p, &r, PEOPLE[who], "no".into(), now) {
                                requests[req] = d;
                        }
                    }
                    Action::Cancel { who, req } => {
                        if let Some(r) = requests.get(req).cloned()
                            && let Ok(c) = cancel(&r, PEOPLE[who], now) {
                                requests[req] = c;
                        }
                    }
                    Action::Revoke { who, grant } => {
                        if let Some(g) = grants.get(grant).cloned()
                            && let Ok(r) = revoke(&p, &g, PEOPLE[who], "stop".into(), now) {
                                grants[grant] = r;
                        }
                    }
                    Action::Extend { grant, secs } => {
                        if let Some(g) = grants.get(grant).cloned()
                            && let Ok(out) = extend(&p, &g.user.clone(), &g, secs, "more".into(), ids(n), now) {
                                requests.push(out.request);
                                if let Some(g) = out.grant { save_grant(&mut grants, g); }
                        }
                    }
                    Action::Tick { secs } => {
                        now += chrono::Duration::seconds(secs);
                        for r in requests.iter_mut() {
                            if let Some(e) = expire_request(r, now) { *r = e; }
                        }
                        for g in grants.iter_mut() {
                            if let Some(e) = expire_grant(g, now) { *g = e; }
                        }
                    }
                }
                for r in &requests {
                    let auto = p.catalog_for(&r.requester).iter().any(|s| s.name == r.service && s.auto_approve);
                    if r.state == RequestState::Approved && !r.break_glass && !auto {
                        let mut by: Vec<_> = r.approvals.iter().map(|a| a.by.clone()).collect();
                        by.sort();
                        by.dedup();
                        prop_assert!(by.len() as u32 >= r.approvals_required, "approved with {:?}", r.approvals);
                        prop_assert!(!by.contains(&r.requester));
                    }
                    if r.state != RequestState::Approved {
                        prop_assert!(r.grant_id.is_none());
                    }
                }
                for g in &grants {
                    let from = requests.iter().find(|r| r.grant_id.as_deref() == Some(&g.id));
                    prop_assert!(from.is_some_and(|r| r.state == RequestState::Approved), "grant {} without an approved request", g.id);
                    for cap in Capability::ALL {
                        prop_assert!(!g.covers(&g.service, cap, g.expires_at));
                        prop_assert!(!g.covers(&g.service, cap, now) || now < g.expires_at);
                    }
                }
            }
        }
    }
}
