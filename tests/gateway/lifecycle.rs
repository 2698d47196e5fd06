//! The access lifecycle as users live it, through the real gateway binary:
//! several people at once, who sees what, expiry (also across a restart),
//! revocation, extension, idempotent resends, the scripting CLI and the
//! pending-request TTL.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use breakglass::client::{ClientError, Connection};
use breakglass::protocol::{
    AccessRequest, Capability, ClientFrame, ErrorCode, Event, EventFrame, Grant, GrantState, Op,
    ReceivedReply, RequestState, Session,
};
use chrono::Utc;

use crate::support::*;

/// Generous limit for an event that should arrive at once.
const WAIT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------- helpers

fn refusal(result: Result<ReceivedReply, ClientError>) -> ErrorCode {
    match result {
        Ok(reply) => panic!("expected a refusal, got {reply:?}"),
        Err(e) => e
            .code()
            .unwrap_or_else(|| panic!("expected a refusal by the gateway, got {e}")),
    }
}

async fn create(conn: &Connection, op: Op) -> AccessRequest {
    conn.call(op)
        .await
        .unwrap_or_else(|e| panic!("request.create as {}: {e}", conn.user.name))
        .take("request")
        .unwrap()
}

fn break_glass(service: &str, secs: u64) -> Op {
    Op::RequestCreate {
        service: service.into(),
        capabilities: vec![Capability::LogsRead],
        duration_s: secs,
        reason: "INC-99 payments down, nobody answers".into(),
        ticket: Some("INC-99".into()),
        break_glass: true,
    }
}

fn approve_op(id: &str) -> Op {
    Op::RequestApprove {
        request_id: id.into(),
        comment: Some("looks fine".into()),
        totp: None,
    }
}

async fn approve(conn: &Connection, id: &str) -> Result<AccessRequest, ClientError> {
    Ok(conn.call(approve_op(id)).await?.take("request").unwrap())
}

fn logs_subscribe(service: &str) -> Op {
    Op::LogsSubscribe {
        service: service.into(),
        filter: None,
        since_s: None,
    }
}

fn request_event(e: &EventFrame) -> Option<&AccessRequest> {
    match &e.event {
        Event::RequestUpdated { request } => Some(request),
        _ => None,
    }
}

fn grant_event(e: &EventFrame) -> Option<&Grant> {
    match &e.event {
        Event::GrantUpdated { grant } => Some(grant),
        _ => None,
    }
}

/// Waits for a `request.updated` of request `id` in `state`.
async fn request_update(conn: &mut Connection, id: &str, state: RequestState) -> AccessRequest {
    let frame = event_where(conn, WAIT, |e| {
        request_event(e).is_some_and(|r| r.id == id && r.state == state)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "{} never heard that request {id} is {}",
            conn.user.name,
            state.as_str()
        )
    });
    request_event(&frame).unwrap().clone()
}

/// Every event up to and including the first one matching `marker`. Events
/// fan out from one ordered channel, so an event published before the
/// marker's would have arrived before it.
async fn events_until(
    conn: &mut Connection,
    mut marker: impl FnMut(&EventFrame) -> bool,
) -> Vec<EventFrame> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, conn.next_event()).await {
            Ok(Some(e)) => {
                let done = marker(&e);
                seen.push(e);
                if done {
                    return seen;
                }
            }
            _ => panic!(
                "{}: the marker event never arrived; saw {seen:#?}",
                conn.user.name
            ),
        }
    }
}

/// Mentions of request or grant `id` among `events`.
fn mentions(events: &[EventFrame], id: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| match &e.event {
            Event::RequestUpdated { request } => {
                request.id == id || request.grant_id.as_deref() == Some(id)
            }
            Event::GrantUpdated { grant } => grant.id == id || grant.request_id == id,
            Event::AuditAppended { entry } => entry.target == id,
            Event::Alert { subject, .. } => subject == id,
            _ => false,
        })
        .map(|e| e.event.name().to_string())
        .collect()
}

fn json_of(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {stdout:?}"))
}

// ------------------------------------------- approvals, several users at once

#[tokio::test]
async fn checkout_needs_bob_and_dave_before_alice_gets_a_grant() {
    let gw = Gateway::dev();
    let mut alice = gw.connect("alice").await;
    let erin = gw.connect("erin").await;
    let bob = gw.connect("bob").await;
    let dave = gw.connect("dave").await;

    // alice and erin ask at the same moment.
    let (a, e) = tokio::join!(
        create(&alice, ask("checkout", 600)),
        create(&erin, ask("checkout", 600))
    );
    assert_ne!(a.id, e.id);
    for r in [&a, &e] {
        assert_eq!(r.state, RequestState::Pending);
        assert_eq!(r.approvals_required, 2);
        assert!(r.approvals.is_empty());
        assert_eq!(r.grant_id, None);
    }

    // One approval is not enough.
    let one = approve(&bob, &a.id).await.unwrap();
    assert_eq!(one.state, RequestState::Pending, "{one:?}");
    assert_eq!(one.approvals.len(), 1);
    assert_eq!(one.approvals[0].by, "bob");
    assert_eq!(one.grant_id, None);
    let seen = event_where(&mut alice, WAIT, |ev| {
        request_event(ev).is_some_and(|r| r.id == a.id && r.approvals.len() == 1)
    })
    .await
    .expect("alice hears of bob's approval");
    assert_eq!(request_event(&seen).unwrap().state, RequestState::Pending);
    let listed = list_requests(&alice, false).await;
    let mine = listed.iter().find(|r| r.id == a.id).unwrap();
    assert_eq!(
        (mine.state, mine.approvals.len(), mine.approvals_required),
        (RequestState::Pending, 1, 2)
    );
    assert!(
        list_grants(&alice, false).await.is_empty(),
        "a grant after 1/2"
    );

    // bob counts once, and alice never approves her own request.
    assert_eq!(
        refusal(bob.call(approve_op(&a.id)).await),
        ErrorCode::Conflict
    );
    assert_eq!(
        refusal(alice.call(approve_op(&a.id)).await),
        ErrorCode::Forbidden
    );

    // dave's approval approves it and yields a grant.
    let two = approve(&dave, &a.id).await.unwrap();
    assert_eq!(two.state, RequestState::Approved);
    assert_eq!(two.approvals.len(), 2);
    let gid = two.grant_id.clone().expect("approved with a grant");
    let frame = event_where(&mut alice, WAIT, |ev| {
        grant_event(ev).is_some_and(|g| g.id == gid)
    })
    .await
    .expect("alice is pushed her grant");
    let g = grant_event(&frame).unwrap();
    assert_eq!(g.state, GrantState::Active);
    assert_eq!((g.user.as_str(), g.service.as_str()), ("alice", "checkout"));
    assert_eq!(g.expires_at - g.starts_at, chrono::Duration::seconds(600));
    let active = list_grants(&alice, true).await;
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].id, gid);

    // erin's request was not touched by any of this.
    let hers = list_requests(&erin, false).await;
    assert_eq!(hers.len(), 1);
    assert_eq!(hers[0].id, e.id);
    assert_eq!(hers[0].state, RequestState::Pending);
    assert!(hers[0].approvals.is_empty());
    assert!(list_grants(&erin, false).await.is_empty());
}

#[tokio::test]
async fn a_denied_request_tells_alice_who_denied_it_and_why() {
    let gw = Gateway::dev();
    let mut alice = gw.connect("alice").await;
    let bob = gw.connect("bob").await;
    let dave = gw.connect("dave").await;
    let r = create(&alice, ask("payments", 600)).await;

    // A deny needs a reason.
    assert_eq!(
        refusal(
            bob.call(Op::RequestDeny {
                request_id: r.id.clone(),
                reason: "   ".into(),
            })
            .await
        ),
        ErrorCode::BadRequest
    );
    assert_eq!(
        list_requests(&alice, false).await[0].state,
        RequestState::Pending
    );

    let denied: AccessRequest = bob
        .call(Op::RequestDeny {
            request_id: r.id.clone(),
            reason: "use the read replica dashboards".into(),
        })
        .await
        .unwrap()
        .take("request")
        .unwrap();
    assert_eq!(denied.state, RequestState::Denied);

    let pushed = request_update(&mut alice, &r.id, RequestState::Denied).await;
    assert_eq!(pushed.denied_by.as_deref(), Some("bob"));
    assert_eq!(
        pushed.deny_reason.as_deref(),
        Some("use the read replica dashboards")
    );
    assert_eq!(pushed.grant_id, None);
    assert!(pushed.decided_at.is_some());

    // Nothing decides it again, and no grant ever appears.
    assert_eq!(
        refusal(dave.call(approve_op(&r.id)).await),
        ErrorCode::Conflict
    );
    assert!(list_grants(&alice, false).await.is_empty());
    assert_eq!(
        refusal(alice.call(logs_subscribe("payments")).await),
        ErrorCode::Forbidden
    );
}

#[tokio::test]
async fn alice_can_cancel_her_pending_request_but_nobody_else_can() {
    let gw = Gateway::dev();
    let mut alice = gw.connect("alice").await;
    let erin = gw.connect("erin").await;
    let bob = gw.connect("bob").await;
    let r = create(&alice, ask("payments", 600)).await;
    let cancel = || Op::RequestCancel {
        request_id: r.id.clone(),
    };

    // bob sees the request but it is not his to withdraw.
    assert_eq!(refusal(bob.call(cancel()).await), ErrorCode::Forbidden);
    // erin cannot even see it.
    assert_eq!(refusal(erin.call(cancel()).await), ErrorCode::NotFound);
    assert_eq!(
        list_requests(&alice, false).await[0].state,
        RequestState::Pending,
        "someone else's cancel changed alice's request"
    );

    let cancelled: AccessRequest = alice.call(cancel()).await.unwrap().take("request").unwrap();
    assert_eq!(cancelled.state, RequestState::Cancelled);
    request_update(&mut alice, &r.id, RequestState::Cancelled).await;
    assert_eq!(refusal(alice.call(cancel()).await), ErrorCode::Conflict);
    assert_eq!(
        refusal(bob.call(approve_op(&r.id)).await),
        ErrorCode::Conflict
    );
    assert!(list_grants(&alice, false).await.is_empty());
}

#[tokio::test]
async fn search_is_granted_at_once_to_alice_on_call_but_erin_waits_for_an_approver() {
    let gw = Gateway::dev();
    let alice = gw.connect("alice").await;
    let erin = gw.connect("erin").await;

    let a = create(&alice, ask("search", 600)).await;
    assert_eq!(a.state, RequestState::Approved);
    assert!(a.approvals.is_empty(), "nobody approved it: {a:?}");
    let gid = a.grant_id.clone().expect("a grant at once");
    let held = list_grants(&alice, true).await;
    assert_eq!(held.len(), 1);
    assert_eq!(
        (held[0].id.as_str(), held[0].state),
        (gid.as_str(), GrantState::Active)
    );
    // The grant works at once: the stream opens.
    let mut opened = alice
        .call(logs_subscribe("search"))
        .await
        .expect("a grant that works at once");
    assert!(opened.take::<String>("sub_id").is_ok());

    let e = create(&erin, ask("search", 600)).await;
    assert_eq!(e.state, RequestState::Pending);
    assert_eq!(e.grant_id, None);
    assert!(list_grants(&erin, false).await.is_empty());
    assert_eq!(
        refusal(erin.call(logs_subscribe("search")).await),
        ErrorCode::Forbidden
    );
}

#[tokio::test]
async fn alice_breaks_glass_on_payments_carol_is_alerted_and_only_carol_reviews_it() {
    let gw = Gateway::dev();
    let alice = gw.connect("alice").await;
    let erin = gw.connect("erin").await;
    let mut bob = gw.connect("bob").await;
    let mut carol = gw.connect("carol").await;

    let r = create(&alice, break_glass("payments", 900)).await;
    assert_eq!(r.state, RequestState::Approved);
    assert!(r.break_glass);
    assert!(r.needs_review);
    let gid = r.grant_id.clone().expect("granted at once");
    let g = list_grants(&alice, true).await;
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].id, gid);
    assert!(g[0].break_glass);

    let alert = event_where(
        &mut carol,
        WAIT,
        |e| matches!(&e.event, Event::Alert { kind, .. } if kind == "break_glass"),
    )
    .await
    .expect("carol (lead) is alerted of the break-glass");
    let Event::Alert {
        subject, message, ..
    } = &alert.event
    else {
        unreachable!()
    };
    assert!(
        subject == &r.id || subject == &gid,
        "alert subject {subject:?} names neither the request nor the grant"
    );
    assert!(message.contains("alice"), "{message}");
    assert!(message.contains("payments"), "{message}");

    // Alerts are for leads: bob hears of the request, not of an alert.
    let marker = create(&alice, ask("payments", 600)).await;
    let seen = events_until(&mut bob, |e| {
        request_event(e).is_some_and(|x| x.id == marker.id)
    })
    .await;
    assert!(
        !seen.iter().any(|e| matches!(e.event, Event::Alert { .. })),
        "bob received a lead alert: {seen:#?}"
    );

    // erin is not on call: no break-glass for her.
    assert_eq!(
        refusal(erin.call(break_glass("payments", 900)).await),
        ErrorCode::Forbidden
    );
    assert!(list_grants(&erin, false).await.is_empty());

    // The review is a lead's job.
    let review = |who: &str| Op::ReviewComplete {
        request_id: r.id.clone(),
        comment: format!("{who}: justified, INC-99 postmortem"),
    };
    assert_eq!(refusal(bob.call(review("bob")).await), ErrorCode::Forbidden);
    assert_eq!(
        refusal(alice.call(review("alice")).await),
        ErrorCode::Forbidden
    );
    let reviewed: AccessRequest = carol
        .call(review("carol"))
        .await
        .unwrap()
        .take("request")
        .unwrap();
    assert!(!reviewed.needs_review);
    assert_eq!(reviewed.reviewed_by.as_deref(), Some("carol"));
    let listed = list_requests(&carol, false).await;
    let now = listed.iter().find(|x| x.id == r.id).unwrap();
    assert!(!now.needs_review, "still in the review list after review");
    assert_eq!(
        refusal(carol.call(review("carol")).await),
        ErrorCode::Conflict
    );
}

// ------------------------------------------------------- scope and visibility

#[tokio::test]
async fn erin_neither_sees_nor_hears_of_alice_requests_while_bob_and_carol_do() {
    let gw = Gateway::dev();
    let alice = gw.connect("alice").await;
    let mut erin = gw.connect("erin").await;
    let mut bob = gw.connect("bob").await;
    let mut carol = gw.connect("carol").await;

    let r = create(&alice, ask("payments", 600)).await;
    // bob (approver) and carol (lead) hear of it live.
    request_update(&mut bob, &r.id, RequestState::Pending).await;
    request_update(&mut carol, &r.id, RequestState::Pending).await;
    let appended = event_where(&mut carol, WAIT, |e| {
        matches!(&e.event, Event::AuditAppended { entry } if entry.target == r.id && entry.actor == "alice")
    })
    .await;
    assert!(appended.is_some(), "carol gets no audit.appended for it");

    // erin tries to decide it: for her it does not exist.
    assert_eq!(
        refusal(erin.call(approve_op(&r.id)).await),
        ErrorCode::NotFound
    );
    assert_eq!(
        refusal(
            erin.call(Op::RequestDeny {
                request_id: r.id.clone(),
                reason: "mine now".into()
            })
            .await
        ),
        ErrorCode::NotFound
    );

    let approved = approve(&bob, &r.id).await.unwrap();
    let gid = approved.grant_id.clone().unwrap();
    request_update(&mut carol, &r.id, RequestState::Approved).await;

    // Lists: erin sees only her own; bob and carol see alice's.
    let mine = create(&erin, ask("payments", 600)).await;
    let erin_list = list_requests(&erin, false).await;
    assert_eq!(
        erin_list.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
        vec![mine.id.as_str()]
    );
    assert!(
        list_grants(&erin, false).await.is_empty(),
        "erin sees alice's grant"
    );
    for who in [&bob, &carol] {
        let ids: Vec<String> = list_requests(who, false)
            .await
            .into_iter()
            .map(|x| x.id)
            .collect();
        assert!(
            ids.contains(&r.id),
            "{} cannot see alice's request",
            who.user.name
        );
        assert!(
            ids.contains(&mine.id),
            "{} cannot see erin's",
            who.user.name
        );
        assert!(list_grants(who, false).await.iter().any(|g| g.id == gid));
    }

    // Events: everything erin got up to her own request's event.
    let seen = events_until(&mut erin, |e| {
        request_event(e).is_some_and(|x| x.id == mine.id)
    })
    .await;
    assert!(
        mentions(&seen, &r.id).is_empty() && mentions(&seen, &gid).is_empty(),
        "erin was pushed alice's request or grant: {seen:#?}"
    );
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e.event, Event::AuditAppended { .. } | Event::Alert { .. })),
        "erin was pushed lead-only events: {seen:#?}"
    );
    // bob got the grant too (approvers of the service see its grants).
    let seen = events_until(&mut bob, |e| {
        request_event(e).is_some_and(|x| x.id == mine.id)
    })
    .await;
    assert!(
        mentions(&seen, &gid).contains(&"grant.updated".to_string()),
        "bob was not pushed alice's grant: {seen:#?}"
    );
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e.event, Event::AuditAppended { .. })),
        "bob was pushed audit entries (leads only)"
    );
}

#[tokio::test]
async fn audit_query_shows_erin_only_her_own_entries_and_carol_everyones() {
    let gw = Gateway::dev();
    let alice = gw.connect("alice").await;
    let erin = gw.connect("erin").await;
    let bob = gw.connect("bob").await;
    let carol = gw.connect("carol").await;
    let a = create(&alice, ask("payments", 600)).await;
    let e = create(&erin, ask("payments", 600)).await;
    approve(&bob, &a.id).await.unwrap();
    // A refused attempt is recorded too.
    assert_eq!(
        refusal(erin.call(approve_op(&a.id)).await),
        ErrorCode::NotFound
    );

    let erins = audit(&erin, None).await;
    assert!(
        erins.iter().any(|x| x.target == e.id),
        "erin's own request is missing from her audit view"
    );
    assert!(
        erins.iter().all(|x| x.actor == "erin"),
        "erin sees others' entries: {:?}",
        erins.iter().map(|x| &x.actor).collect::<Vec<_>>()
    );
    // Asking for alice's entries does not widen erin's view.
    let asked = audit(&erin, Some("alice")).await;
    assert!(
        asked.iter().all(|x| x.actor == "erin"),
        "erin got alice's entries by asking: {asked:?}"
    );

    let all = audit(&carol, None).await;
    assert!(
        all.iter().any(|x| x.actor == "erin" && x.target == a.id),
        "erin's refused approval of alice's request is not in the audit trail"
    );
    for actor in ["alice", "erin", "bob"] {
        assert!(
            all.iter().any(|x| x.actor == actor),
            "carol does not see {actor}'s entries"
        );
    }
    assert!(all.iter().any(|x| x.target == a.id && x.actor == "bob"));
    let alices = audit(&carol, Some("alice")).await;
    assert!(!alices.is_empty());
    assert!(alices.iter().all(|x| x.actor == "alice"));
}

#[tokio::test]
async fn only_carol_sees_who_is_inside_production_in_sessions_list() {
    let gw = Gateway::dev();
    let alice = gw.connect("alice").await;
    let bob = gw.connect("bob").await;
    let carol = gw.connect("carol").await;
    let r = create(&alice, ask("search", 600)).await;
    let gid = r.grant_id.unwrap();
    let pending = create(&alice, ask("payments", 600)).await;

    assert_eq!(
        refusal(alice.call(Op::SessionsList {}).await),
        ErrorCode::Forbidden
    );
    assert_eq!(
        refusal(bob.call(Op::SessionsList {}).await),
        ErrorCode::Forbidden
    );
    let sessions: Vec<Session> = carol
        .call(Op::SessionsList {})
        .await
        .unwrap()
        .take("sessions")
        .unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    assert_eq!(sessions[0].grant.id, gid);
    assert_eq!(sessions[0].grant.user, "alice");
    assert!(
        sessions[0].last_actions.iter().all(|a| a.actor == "alice"),
        "{sessions:#?}"
    );
    // A pending request is no session.
    assert!(sessions.iter().all(|s| s.grant.request_id != pending.id));
}

// ------------------------------------------------------------------- expiry

#[tokio::test]
async fn a_two_second_grant_expires_on_its_own_and_access_ends_with_it() {
    let gw = Gateway::dev();
    let mut alice = gw.connect("alice").await;
    let erin = gw.connect("erin").await;
    let r = create(&alice, ask("search", 2)).await;
    let gid = r.grant_id.clone().expect("auto-approved");
    let grant = list_grants(&alice, true)
        .await
        .into_iter()
        .find(|g| g.id == gid)
        .unwrap();
    assert_eq!(
        grant.expires_at - grant.starts_at,
        chrono::Duration::seconds(2)
    );

    // Before expiry: the stream opens, but only for the capability and
    // person the grant covers.
    let mut opened = alice
        .call(logs_subscribe("search"))
        .await
        .expect("the grant covers logs:read");
    assert!(opened.take::<String>("sub_id").is_ok());
    assert_eq!(
        refusal(
            alice
                .call(Op::MetricsQuery {
                    service: "search".into(),
                    metric: None,
                    range_s: 600,
                    step_s: 15,
                })
                .await
        ),
        ErrorCode::Forbidden,
        "logs:read let alice query metrics"
    );
    assert_eq!(
        refusal(erin.call(logs_subscribe("search")).await),
        ErrorCode::Forbidden
    );

    let limit = (grant.expires_at - Utc::now()).to_std().unwrap_or_default() + WAIT;
    let frame = event_where(&mut alice, limit, |e| {
        grant_event(e).is_some_and(|g| g.id == gid && g.state == GrantState::Expired)
    })
    .await
    .expect("alice is pushed the expiry within 5 s of expires_at");
    let received = Utc::now();
    assert!(
        received >= grant.expires_at,
        "expiry pushed at {received}, before expires_at {}",
        grant.expires_at
    );
    assert!(frame.at >= grant.expires_at, "{frame:?}");

    assert!(
        list_grants(&alice, true).await.iter().all(|g| g.id != gid),
        "the expired grant is still listed as active"
    );
    let all = list_grants(&alice, false).await;
    let ended = all.iter().find(|g| g.id == gid).expect("still in history");
    assert_eq!(ended.state, GrantState::Expired);
    assert_eq!(
        refusal(alice.call(logs_subscribe("search")).await),
        ErrorCode::Forbidden
    );
}

#[tokio::test]
async fn a_grant_that_ran_out_while_the_gateway_was_down_is_expired_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut gw = Gateway::dev_in(dir.path());
    let alice = gw.connect("alice").await;
    let r = create(&alice, ask("search", 2)).await;
    let gid = r.grant_id.unwrap();
    assert_eq!(list_grants(&alice, true).await.len(), 1);
    drop(alice);
    gw.kill();
    tokio::time::sleep(Duration::from_secs(3)).await;

    let gw = Gateway::dev_in(dir.path());
    let alice = gw.connect("alice").await;
    let all = list_grants(&alice, false).await;
    let g = all
        .iter()
        .find(|g| g.id == gid)
        .expect("the grant survived the restart");
    assert_eq!(
        g.state,
        GrantState::Expired,
        "a grant that ran out while the gateway was down is still {:?} after the restart",
        g.state
    );
    assert!(list_grants(&alice, true).await.is_empty());
    assert_eq!(
        refusal(alice.call(logs_subscribe("search")).await),
        ErrorCode::Forbidden
    );
}

// --------------------------------------------------------------- revocation

#[tokio::test]
async fn carol_revokes_alice_grant_and_alice_is_told_at_once() {
    let gw = Gateway::dev();
    let mut alice = gw.connect("alice").await;
    let erin = gw.connect("erin").await;
    let bob = gw.connect("bob").await;
    let carol = gw.connect("carol").await;
    let r = create(&alice, ask("payments", 600)).await;
    let gid = approve(&bob, &r.id).await.unwrap().grant_id.unwrap();
    let revoke = |reason: &str| Op::GrantRevoke {
        grant_id: gid.clone(),
        reason: reason.into(),
    };

    // erin cannot see it; bob sees it but may not revoke.
    assert_eq!(
        refusal(erin.call(revoke("nosy")).await),
        ErrorCode::NotFound
    );
    assert_eq!(refusal(bob.call(revoke("hmm")).await), ErrorCode::Forbidden);
    assert_eq!(list_grants(&alice, true).await.len(), 1);

    let g: Grant = carol
        .call(revoke("incident closed"))
        .await
        .unwrap()
        .take("grant")
        .unwrap();
    assert_eq!(g.state, GrantState::Revoked);
    let frame = event_where(&mut alice, WAIT, |e| {
        grant_event(e).is_some_and(|g| g.id == gid && g.state == GrantState::Revoked)
    })
    .await
    .expect("alice is pushed the revocation");
    let pushed = grant_event(&frame).unwrap();
    assert_eq!(pushed.revoked_by.as_deref(), Some("carol"));
    assert_eq!(pushed.revoke_reason.as_deref(), Some("incident closed"));

    assert!(list_grants(&alice, true).await.is_empty());
    assert_eq!(
        refusal(alice.call(logs_subscribe("payments")).await),
        ErrorCode::Forbidden
    );
    assert_eq!(
        refusal(carol.call(revoke("again")).await),
        ErrorCode::Conflict
    );
}

#[tokio::test]
async fn alice_can_give_up_her_own_grant_once() {
    let gw = Gateway::dev();
    let alice = gw.connect("alice").await;
    let gid = create(&alice, ask("search", 600)).await.grant_id.unwrap();
    let revoke = || Op::GrantRevoke {
        grant_id: gid.clone(),
        reason: "done debugging".into(),
    };
    let g: Grant = alice.call(revoke()).await.unwrap().take("grant").unwrap();
    assert_eq!(g.state, GrantState::Revoked);
    assert_eq!(g.revoked_by.as_deref(), Some("alice"));
    assert!(list_grants(&alice, true).await.is_empty());
    assert_eq!(refusal(alice.call(revoke()).await), ErrorCode::Conflict);
}

// ---------------------------------------------------------------- extension

#[tokio::test]
async fn an_approved_extension_moves_the_same_grant_out_by_the_asked_time() {
    let gw = Gateway::dev();
    let mut alice = gw.connect("alice").await;
    let erin = gw.connect("erin").await;
    let mut bob = gw.connect("bob").await;
    let r = create(&alice, ask("payments", 600)).await;
    let approved = approve(&bob, &r.id).await.unwrap();
    let gid = approved.grant_id.unwrap();
    let before = list_grants(&alice, true).await;
    assert_eq!(before.len(), 1);
    let old_expiry = before[0].expires_at;

    let extend = || Op::GrantExtend {
        grant_id: gid.clone(),
        duration_s: 900,
        reason: "still digging into INC-42".into(),
    };
    assert_eq!(refusal(erin.call(extend()).await), ErrorCode::NotFound);
    assert_eq!(refusal(bob.call(extend()).await), ErrorCode::Forbidden);

    let ext: AccessRequest = alice.call(extend()).await.unwrap().take("request").unwrap();
    assert_ne!(ext.id, r.id, "an extension is a new request");
    assert_eq!(ext.state, RequestState::Pending);
    assert_eq!(ext.extends.as_deref(), Some(gid.as_str()));
    assert_eq!(ext.duration_s, 900);
    // The approver's queue shows it.
    let queued = request_update(&mut bob, &ext.id, RequestState::Pending).await;
    assert_eq!(queued.extends.as_deref(), Some(gid.as_str()));
    // Pending: the grant is unchanged.
    assert_eq!(list_grants(&alice, true).await[0].expires_at, old_expiry);

    let done = approve(&bob, &ext.id).await.unwrap();
    assert_eq!(done.state, RequestState::Approved);
    assert_eq!(done.grant_id.as_deref(), Some(gid.as_str()));
    let frame = event_where(&mut alice, WAIT, |e| {
        grant_event(e).is_some_and(|g| g.id == gid && g.expires_at > old_expiry)
    })
    .await
    .expect("alice is pushed the longer grant");
    let g = grant_event(&frame).unwrap();
    assert_eq!(g.state, GrantState::Active);
    assert_eq!(g.expires_at, old_expiry + chrono::Duration::seconds(900));

    let after = list_grants(&alice, false).await;
    assert_eq!(
        after.len(),
        1,
        "the extension minted another grant: {after:#?}"
    );
    assert_eq!(after[0].id, gid);
    assert_eq!(
        after[0].expires_at,
        old_expiry + chrono::Duration::seconds(900)
    );
}

#[tokio::test]
async fn an_extended_grant_outlives_its_first_expiry() {
    let gw = Gateway::dev();
    let mut alice = gw.connect("alice").await;
    let r = create(&alice, ask("search", 2)).await;
    let gid = r.grant_id.unwrap();
    let first = list_grants(&alice, true).await[0].expires_at;

    // search is automatic for alice, so is its extension: the same grant
    // runs 2 s longer at once.
    let ext: AccessRequest = alice
        .call(Op::GrantExtend {
            grant_id: gid.clone(),
            duration_s: 2,
            reason: "two more seconds".into(),
        })
        .await
        .unwrap()
        .take("request")
        .unwrap();
    assert_eq!(ext.state, RequestState::Approved);
    assert_eq!(ext.extends.as_deref(), Some(gid.as_str()));
    assert_eq!(ext.grant_id.as_deref(), Some(gid.as_str()));
    let held = list_grants(&alice, true).await;
    assert_eq!(held.len(), 1, "{held:#?}");
    let extended = held[0].expires_at;
    assert_eq!(extended, first + chrono::Duration::seconds(2));

    let limit = (extended - Utc::now()).to_std().unwrap_or_default() + WAIT;
    let frame = event_where(&mut alice, limit, |e| {
        grant_event(e).is_some_and(|g| g.id == gid && g.state != GrantState::Active)
    })
    .await
    .expect("the extended grant ends within 5 s of its new expires_at");
    let g = grant_event(&frame).unwrap();
    assert_eq!(g.state, GrantState::Expired);
    assert!(
        Utc::now() >= extended && frame.at >= extended,
        "expired at {} though extended to {extended} (first expiry {first})",
        frame.at
    );
}

#[tokio::test]
async fn a_revoked_grant_is_not_revived_by_approving_its_pending_extension() {
    let gw = Gateway::dev();
    let alice = gw.connect("alice").await;
    let bob = gw.connect("bob").await;
    let carol = gw.connect("carol").await;
    let r = create(&alice, ask("payments", 600)).await;
    let gid = approve(&bob, &r.id).await.unwrap().grant_id.unwrap();
    let ext: AccessRequest = alice
        .call(Op::GrantExtend {
            grant_id: gid.clone(),
            duration_s: 900,
            reason: "still digging into INC-42".into(),
        })
        .await
        .unwrap()
        .take("request")
        .unwrap();
    carol
        .call(Op::GrantRevoke {
            grant_id: gid.clone(),
            reason: "alice is off the incident".into(),
        })
        .await
        .unwrap();

    // bob works through his queue afterwards. Whatever he is told, the
    // lead's revocation stands: alice holds no access to payments.
    let outcome = bob.call(approve_op(&ext.id)).await;
    let active = list_grants(&alice, true).await;
    assert!(
        active.is_empty(),
        "approving the extension of a revoked grant gave alice access again \
         (approve: {outcome:?}); active grants: {active:#?}"
    );
    assert_eq!(
        refusal(alice.call(logs_subscribe("payments")).await),
        ErrorCode::Forbidden
    );
}

// -------------------------------------------------------------- idempotency

#[tokio::test]
async fn resending_an_op_id_returns_the_same_reply_and_files_one_request() {
    let gw = Gateway::dev();
    let alice = gw.connect("alice").await;
    let bob = gw.connect("bob").await;
    let frame = ClientFrame {
        id: uuid::Uuid::new_v4().to_string(),
        op: ask("payments", 600),
    };
    let first = alice.call_frame(frame.clone()).await.unwrap();
    let second = alice.call_frame(frame.clone()).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(first.re.as_deref(), Some(frame.id.as_str()));

    // After a reconnect, as a client unsure whether its op landed would.
    alice.close().await;
    let alice = gw.connect("alice").await;
    let third = alice.call_frame(frame.clone()).await.unwrap();
    assert_eq!(first, third);

    let mine = list_requests(&alice, false).await;
    assert_eq!(mine.len(), 1, "one op id filed {} requests", mine.len());
    let theirs: Vec<_> = list_requests(&bob, false)
        .await
        .into_iter()
        .filter(|r| r.requester == "alice")
        .collect();
    assert_eq!(theirs.len(), 1);
}

#[tokio::test]
async fn the_same_op_id_sent_on_two_connections_at_once_files_one_request() {
    let gw = Gateway::dev();
    let first = gw.connect("alice").await;
    let second = gw.connect("alice").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let frame = ClientFrame {
            id: uuid::Uuid::new_v4().to_string(),
            op: ask("payments", 600),
        };
        let (a, b) = tokio::join!(
            first.call_frame(frame.clone()),
            second.call_frame(frame.clone())
        );
        let (mut a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a, b, "one op id, two different replies");
        ids.push(a.take::<AccessRequest>("request").unwrap().id);
    }
    let filed = list_requests(&first, false).await;
    assert_eq!(
        filed.len(),
        5,
        "5 op ids sent twice each filed {} requests",
        filed.len()
    );
    for id in ids {
        assert!(filed.iter().any(|r| r.id == id));
    }
}

#[tokio::test]
async fn resending_an_approval_counts_it_once() {
    let gw = Gateway::dev();
    let alice = gw.connect("alice").await;
    let bob = gw.connect("bob").await;
    let r = create(&alice, ask("checkout", 600)).await;
    let frame = ClientFrame {
        id: uuid::Uuid::new_v4().to_string(),
        op: approve_op(&r.id),
    };
    let first = bob.call_frame(frame.clone()).await.unwrap();
    let again = bob.call_frame(frame.clone()).await.unwrap();
    assert_eq!(first, again, "a resent approval got a different reply");
    let now = list_requests(&alice, false).await;
    assert_eq!(now[0].approvals.len(), 1);
    assert_eq!(now[0].state, RequestState::Pending);
}

#[tokio::test]
async fn an_op_id_alice_used_is_still_erin_own_op() {
    let gw = Gateway::dev();
    let alice = gw.connect("alice").await;
    let erin = gw.connect("erin").await;
    let id = uuid::Uuid::new_v4().to_string();
    let mut a = alice
        .call_frame(ClientFrame {
            id: id.clone(),
            op: ask("payments", 600),
        })
        .await
        .unwrap();
    let mut e = erin
        .call_frame(ClientFrame {
            id: id.clone(),
            op: ask("checkout", 600),
        })
        .await
        .unwrap();
    let a: AccessRequest = a.take("request").unwrap();
    let e: AccessRequest = e.take("request").unwrap();
    assert_ne!(a.id, e.id, "erin was handed alice's stored reply");
    assert_eq!(
        (e.requester.as_str(), e.service.as_str()),
        ("erin", "checkout")
    );
    assert_eq!(list_requests(&erin, false).await.len(), 1);
}

// ---------------------------------------------------------------------- CLI

#[tokio::test]
async fn cli_request_wait_blocks_until_bob_approves_then_prints_the_grant() {
    let gw = Arc::new(Gateway::dev());
    let mut bob = gw.connect("bob").await;
    let g = gw.clone();
    let cli = tokio::task::spawn_blocking(move || {
        g.cli(
            "alice",
            &[
                "request",
                "payments",
                "--cap",
                "logs:read",
                "--for",
                "30m",
                "--reason",
                "INC-7 card declines",
                "--ticket",
                "INC-7",
                "--wait",
                "--json",
            ],
        )
    });
    let frame = event_where(&mut bob, Duration::from_secs(15), |e| {
        request_event(e).is_some_and(|r| r.requester == "alice" && r.state == RequestState::Pending)
    })
    .await
    .expect("bob sees the CLI's request arrive");
    let id = request_event(&frame).unwrap().id.clone();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!cli.is_finished(), "--wait returned before any decision");
    approve(&bob, &id).await.unwrap();

    let (code, out, err) = tokio::time::timeout(Duration::from_secs(15), cli)
        .await
        .expect("the CLI returns once approved")
        .unwrap();
    assert_eq!(code, 0, "stderr: {err}");
    let v = json_of(&out);
    let request: AccessRequest = serde_json::from_value(v["request"].clone()).unwrap();
    assert_eq!(request.id, id);
    assert_eq!(request.state, RequestState::Approved);
    let grant: Grant = serde_json::from_value(v["grant"].clone())
        .unwrap_or_else(|e| panic!("no grant in the output ({e}): {out}"));
    assert_eq!(Some(grant.id.as_str()), request.grant_id.as_deref());
    assert_eq!(grant.state, GrantState::Active);
    assert_eq!(
        (grant.user.as_str(), grant.service.as_str()),
        ("alice", "payments")
    );
    assert_eq!(
        grant.expires_at - grant.starts_at,
        chrono::Duration::minutes(30)
    );
}

#[tokio::test]
async fn cli_request_wait_exits_3_when_bob_denies() {
    let gw = Arc::new(Gateway::dev());
    let mut bob = gw.connect("bob").await;
    let g = gw.clone();
    let cli = tokio::task::spawn_blocking(move || {
        g.cli(
            "alice",
            &[
                "request",
                "payments",
                "--cap",
                "logs:read",
                "--for",
                "30m",
                "--reason",
                "INC-7 card declines",
                "--wait",
            ],
        )
    });
    let frame = event_where(&mut bob, Duration::from_secs(15), |e| {
        request_event(e).is_some_and(|r| r.requester == "alice" && r.state == RequestState::Pending)
    })
    .await
    .expect("bob sees the CLI's request arrive");
    let id = request_event(&frame).unwrap().id.clone();
    bob.call(Op::RequestDeny {
        request_id: id.clone(),
        reason: "use the staging replay".into(),
    })
    .await
    .unwrap();
    let (code, _out, err) = tokio::time::timeout(Duration::from_secs(15), cli)
        .await
        .expect("the CLI returns once denied")
        .unwrap();
    assert_eq!(code, 3, "stderr: {err}");
    assert!(err.contains("bob"), "stderr does not say who denied: {err}");
    assert!(
        err.contains("use the staging replay"),
        "stderr does not say why: {err}"
    );
}

#[tokio::test]
async fn cli_exit_codes_say_what_went_wrong() {
    let gw = Gateway::dev();

    // Not found.
    let (code, _, err) = gw.cli("bob", &["approve", "req-000000000000"]);
    assert_eq!(code, 4, "approve of an unknown id; stderr: {err}");
    assert!(err.contains("req-000000000000"), "{err}");

    // Above the service's cap: usage, naming the cap; nothing filed.
    let (code, _, err) = gw.cli(
        "alice",
        &[
            "request",
            "payments",
            "--cap",
            "logs:read",
            "--for",
            "3h",
            "--reason",
            "INC-7 card declines",
        ],
    );
    assert_eq!(code, 2, "3h on payments (cap 2h); stderr: {err}");
    assert!(
        err.contains("7200s") || err.contains("2h"),
        "the message does not name the 2h cap: {err}"
    );
    assert!(err.contains("payments"), "{err}");
    let alice = gw.connect("alice").await;
    assert!(
        list_requests(&alice, false).await.is_empty(),
        "an over-long request was filed"
    );

    // Unreachable gateway, even though the environment names a live one.
    let (code, _, err) = gw.cli(
        "alice",
        &["--gateway", "ws://127.0.0.1:1/v1/ws", "requests"],
    );
    assert_eq!(code, 5, "unreachable gateway; stderr: {err}");
    assert!(err.contains("127.0.0.1:1"), "{err}");

    // Forbidden: erin may not break glass.
    let (code, _, err) = gw.cli(
        "erin",
        &[
            "request",
            "payments",
            "--cap",
            "logs:read",
            "--for",
            "10m",
            "--reason",
            "INC-7 card declines",
            "--break-glass",
        ],
    );
    assert_eq!(code, 3, "erin's break-glass; stderr: {err}");
}

#[tokio::test]
async fn cli_lists_requests_as_json_and_grants_as_text() {
    let gw = Gateway::dev();
    let alice = gw.connect("alice").await;
    let pending = create(&alice, ask("payments", 600)).await;
    // A later millisecond, so that "newest first" has one answer.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let granted = create(&alice, ask("search", 600)).await;
    let gid = granted.grant_id.clone().unwrap();

    let (code, out, err) = gw.cli("alice", &["requests", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v = json_of(&out);
    let listed: Vec<AccessRequest> = serde_json::from_value(v["requests"].clone())
        .unwrap_or_else(|e| panic!("`requests` is not a list of requests ({e}): {out}"));
    let ids: Vec<&str> = listed.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![granted.id.as_str(), pending.id.as_str()],
        "alice's two requests, newest first: {out}"
    );
    let (code, out, err) = gw.cli("erin", &["requests", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json_of(&out)["requests"], serde_json::json!([]), "{out}");

    let (code, out, err) = gw.cli("alice", &["grants"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&gid), "grant {gid} missing from:\n{out}");
    assert!(out.contains("search"), "{out}");
    // erin holds nothing and is told so, without alice's grant.
    let (code, out, _) = gw.cli("erin", &["grants"]);
    assert_eq!(code, 0);
    assert!(!out.contains(&gid), "erin's grants list alice's: {out}");
}

// ------------------------------------------------------- request TTL (config)

/// Writes a config file: the demo policy with `request_ttl` changed, and a
/// `[gateway]` table on a free port and `dir`.
fn write_config(dir: &Path, request_ttl: &str) -> std::path::PathBuf {
    let policy = include_str!("../../assets/dev-policy.toml");
    assert!(
        policy.contains("request_ttl = \"24h\""),
        "the demo policy no longer sets request_ttl = \"24h\""
    );
    let changed = policy.replace(
        "request_ttl = \"24h\"",
        &format!("request_ttl = \"{request_ttl}\""),
    );
    let text = format!(
        "{changed}\n[gateway]\nlisten = \"127.0.0.1:0\"\ndata_dir = {:?}\n",
        dir.join("data").to_str().unwrap()
    );
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `breakglass gateway token create --config F --user NAME --json` as the
/// docs spell it; (exit code, token or stderr).
fn mint_documented(config: &Path, user: &str) -> (i32, String) {
    let out = Command::new(BIN)
        .args([
            "gateway",
            "token",
            "create",
            "--config",
            config.to_str().unwrap(),
            "--user",
            user,
            "--json",
        ])
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    if code != 0 {
        return (code, String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let v = json_of(&String::from_utf8_lossy(&out.stdout));
    (
        code,
        v["token"]
            .as_str()
            .expect("`token` in the output")
            .to_string(),
    )
}

/// A token for `user`: the documented command line, or else the one the
/// binary accepts (`gateway --config F token create`), so that the TTL
/// test tests the TTL.
fn mint(config: &Path, user: &str) -> String {
    if let (0, token) = mint_documented(config, user) {
        return token;
    }
    let out = Command::new(BIN)
        .args(["gateway", "--config", config.to_str().unwrap()])
        .args(["token", "create", "--user", user, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "token create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json_of(&String::from_utf8_lossy(&out.stdout));
    v["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_documented_token_create_command_mints_a_working_token() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), "24h");
    let (code, token) = mint_documented(&config, "alice");
    assert_eq!(
        code, 0,
        "`breakglass gateway token create --config F --user alice --json` (docs/PROTOCOL.md) failed: {token}"
    );
    assert!(token.starts_with("bgt_"), "{token}");
    let mut gw = Gateway::with_config(&config, tmp.path());
    gw.tokens.insert("alice".into(), token);
    let alice = gw.connect("alice").await;
    assert_eq!(alice.user.name, "alice");
}

#[tokio::test]
async fn an_undecided_request_expires_after_the_policy_ttl_and_cannot_be_approved_late() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), "2s");
    let alice_token = mint(&config, "alice");
    let bob_token = mint(&config, "bob");
    let mut gw = Gateway::with_config(&config, tmp.path());
    gw.tokens.insert("alice".into(), alice_token);
    gw.tokens.insert("bob".into(), bob_token);
    let mut alice = gw.connect("alice").await;
    let bob = gw.connect("bob").await;

    let r = create(&alice, ask("payments", 600)).await;
    assert_eq!(r.state, RequestState::Pending);
    assert_eq!(r.pending_until - r.created_at, chrono::Duration::seconds(2));

    let limit = (r.pending_until - Utc::now()).to_std().unwrap_or_default() + WAIT;
    let frame = event_where(&mut alice, limit, |e| {
        request_event(e).is_some_and(|x| x.id == r.id && x.state == RequestState::Expired)
    })
    .await
    .expect("alice is told her undecided request expired");
    assert!(frame.at >= r.pending_until, "expired early: {frame:?}");
    assert!(Utc::now() >= r.pending_until);

    assert_eq!(
        refusal(bob.call(approve_op(&r.id)).await),
        ErrorCode::Conflict
    );
    let listed = list_requests(&bob, false).await;
    let now = listed.iter().find(|x| x.id == r.id).unwrap();
    assert_eq!(now.state, RequestState::Expired);
    assert_eq!(now.grant_id, None);
    assert!(list_grants(&alice, false).await.is_empty());
}
