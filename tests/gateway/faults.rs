//! Faults: bad input, policy refusals, frame limits, authentication, clients
//! that vanish, racing decisions, a gateway killed mid-burst and an audit
//! trail that cannot be written. Each test speaks to the real binary.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write as _};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use breakglass::client::{ClientError, Connection};
use breakglass::protocol::{
    AccessRequest, AuditEntry, Capability, ClientFrame, ErrorCode, Grant, OP_NAMES, Op,
    ReceivedReply, RequestState,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::support::*;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Erin's table in the demo policy (removed to "delete" her).
const ERIN_TABLE: &str =
    "[users.erin]\ndisplay_name = \"Erin (engineer, not on call)\"\ngroups = [\"engineers\"]\n";

/// Tries an upgrade with this `Authorization` header (or none); the HTTP
/// status and body of a refusal, or `None` when the upgrade succeeded.
async fn upgrade_refusal(url: &str, authorization: Option<&str>) -> Option<(u16, String)> {
    let mut req = url.into_client_request().unwrap();
    if let Some(value) = authorization {
        req.headers_mut()
            .insert("authorization", value.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok(_) => None,
        Err(tungstenite::Error::Http(resp)) => {
            let body = resp
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            Some((resp.status().as_u16(), body))
        }
        Err(e) => panic!("upgrade failed without an HTTP answer: {e}"),
    }
}

/// Asserts the token is refused with HTTP 401 and a body containing `why`.
async fn assert_refused(url: &str, token: &str, why: &str) {
    let refusal = upgrade_refusal(url, Some(&format!("Bearer {token}"))).await;
    let (status, body) = refusal.unwrap_or_else(|| panic!("token was accepted; want 401 ({why})"));
    assert_eq!(status, 401, "body: {body}");
    assert!(
        body.to_lowercase().contains(why),
        "401 body should say `{why}`: {body:?}"
    );
}

/// `GET path` over plain HTTP/1.0: (status, body).
fn http_get(base: &str, path: &str) -> (u16, String) {
    let addr = base.strip_prefix("http://").unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head:?}"));
    (status, body.to_string())
}

/// The error of a refused call (panics when the call succeeded).
fn refusal(result: Result<ReceivedReply, ClientError>) -> (ErrorCode, String) {
    match result {
        Err(ClientError::Refused(e)) => (e.code, e.message),
        Err(other) => panic!("want a refusal, got {other}"),
        Ok(reply) => panic!("want a refusal, got ok: {:?}", reply.fields),
    }
}

fn create(service: &str, caps: &[Capability], secs: u64) -> Op {
    Op::RequestCreate {
        service: service.into(),
        capabilities: caps.to_vec(),
        duration_s: secs,
        reason: "INC-42 elevated 5xx".into(),
        ticket: Some("INC-42".into()),
        break_glass: false,
    }
}

fn approve(id: &str) -> Op {
    Op::RequestApprove {
        request_id: id.into(),
        comment: Some("ok".into()),
        totp: None,
    }
}

fn deny(id: &str) -> Op {
    Op::RequestDeny {
        request_id: id.into(),
        reason: "not for this incident".into(),
    }
}

async fn created(conn: &Connection, op: Op) -> AccessRequest {
    conn.call(op)
        .await
        .unwrap_or_else(|e| panic!("request.create: {e}"))
        .take("request")
        .unwrap()
}

/// Asserts a raw socket still works: catalog.list is answered ok.
async fn assert_still_usable(raw: &mut Raw) {
    raw.send(r#"{"id":"after","op":"catalog.list"}"#).await;
    let r = raw.reply().await;
    assert_eq!(r.re.as_deref(), Some("after"));
    assert!(r.ok, "catalog.list after a bad frame failed: {:?}", r.error);
    assert!(r.fields.contains_key("services"), "{:?}", r.fields);
}

/// Sends one bad frame and checks the answer: a `bad_request` reply with
/// `re` as given whose message contains every needle; then the connection
/// still serves catalog.list.
async fn bad_frame_is_answered(frame: Message, re: Option<&str>, needles: &[&str]) {
    let gw = Gateway::dev();
    let mut raw = gw.raw("alice").await;
    raw.ws.send(frame).await.unwrap();
    let r = raw.reply().await;
    assert!(!r.ok);
    let error = r.error.expect("a failed reply has an error");
    assert_eq!(error.code, ErrorCode::BadRequest, "{}", error.message);
    assert_eq!(r.re.as_deref(), re, "{}", error.message);
    for needle in needles {
        assert!(
            error.message.contains(needle),
            "message should name `{needle}`: {}",
            error.message
        );
    }
    assert_still_usable(&mut raw).await;
}

fn text(s: &str) -> Message {
    Message::Text(s.to_string().into())
}

// ---------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------

#[tokio::test]
async fn malformed_json_gets_a_bad_request_with_a_null_re_and_the_connection_stays_up() {
    bad_frame_is_answered(
        text(r#"{"id": "x1", "op": "catalog.list""#),
        None,
        &["not valid JSON"],
    )
    .await;
}

#[tokio::test]
async fn a_json_array_gets_a_bad_request_saying_a_frame_must_be_an_object() {
    bad_frame_is_answered(
        text(r#"[{"id":"x2","op":"catalog.list"}]"#),
        None,
        &["JSON object"],
    )
    .await;
}

#[tokio::test]
async fn a_frame_without_an_id_gets_a_bad_request_naming_the_id() {
    bad_frame_is_answered(text(r#"{"op":"catalog.list"}"#), None, &["`id`"]).await;
}

#[tokio::test]
async fn an_unknown_op_gets_a_bad_request_listing_the_known_ops() {
    let mut needles = vec!["grant.steal"];
    needles.extend(OP_NAMES);
    bad_frame_is_answered(
        text(r#"{"id":"op-7","op":"grant.steal","grant_id":"g"}"#),
        Some("op-7"),
        &needles,
    )
    .await;
}

#[tokio::test]
async fn a_missing_field_gets_a_bad_request_naming_the_field() {
    bad_frame_is_answered(
        text(r#"{"id":"d-1","op":"request.deny","request_id":"req-1"}"#),
        Some("d-1"),
        &["reason"],
    )
    .await;
}

#[tokio::test]
async fn a_wrongly_typed_field_gets_a_bad_request_naming_the_field() {
    bad_frame_is_answered(
        text(
            r#"{"id":"c-1","op":"request.create","service":"payments","capabilities":["logs:read"],"duration_s":"30m","reason":"INC-1 errors"}"#,
        ),
        Some("c-1"),
        &["duration_s"],
    )
    .await;
}

#[tokio::test]
async fn an_unknown_capability_gets_a_bad_request_naming_it() {
    bad_frame_is_answered(
        text(
            r#"{"id":"c-2","op":"request.create","service":"payments","capabilities":["root:all"],"duration_s":60,"reason":"INC-1 errors"}"#,
        ),
        Some("c-2"),
        &["root:all"],
    )
    .await;
}

#[tokio::test]
async fn a_binary_frame_gets_a_bad_request_and_the_connection_stays_up() {
    bad_frame_is_answered(
        Message::Binary(br#"{"id":"b-1","op":"catalog.list"}"#.to_vec().into()),
        None,
        &["binary"],
    )
    .await;
}

#[tokio::test]
async fn a_bad_frame_has_no_effect_on_the_store() {
    // A wrongly typed request.create must not create anything.
    let gw = Gateway::dev();
    let mut raw = gw.raw("alice").await;
    raw.send(
        r#"{"id":"c-3","op":"request.create","service":"payments","capabilities":["logs:read"],"duration_s":-5,"reason":"INC-1 errors"}"#,
    )
    .await;
    let r = raw.reply().await;
    assert_eq!(r.error.map(|e| e.code), Some(ErrorCode::BadRequest));
    let alice = gw.connect("alice").await;
    assert!(list_requests(&alice, true).await.is_empty());
}

// ---------------------------------------------------------------------------
// Policy refusals
// ---------------------------------------------------------------------------

/// Extra policy: a service offering only logs:read, and gina, an engineer
/// who is also an approver (so that "own request" is the only reason she
/// may not approve).
const REFUSALS_POLICY: &str = r#"
[users.gina]
display_name = "Gina (engineer and approver)"
groups = ["engineers", "approvers"]

[services.ledger]
description = "Ledger (logs only)"
capabilities = ["logs:read"]
max_duration = "1h"
approvals_required = 1
requesters = ["engineers"]
approvers = ["approvers"]
"#;

#[tokio::test]
async fn requests_outside_the_policy_are_refused_with_the_reason_and_nothing_is_created() {
    let cd = ConfigDir::new(REFUSALS_POLICY, "");
    let mut gw = cd.start();
    cd.mint_into(&mut gw, &["alice", "carol"]);
    let alice = gw.connect("alice").await;

    let (code, msg) = refusal(
        alice
            .call(create("nosuch", &[Capability::LogsRead], 60))
            .await,
    );
    assert_eq!(code, ErrorCode::NotFound, "{msg}");
    assert!(msg.contains("nosuch"), "{msg}");

    let (code, msg) = refusal(
        alice
            .call(create("ledger", &[Capability::MetricsRead], 60))
            .await,
    );
    assert_eq!(code, ErrorCode::BadRequest, "{msg}");
    assert!(msg.contains("metrics:read"), "{msg}");
    assert!(
        msg.contains("logs:read"),
        "should say what is offered: {msg}"
    );

    // Asking for one offered and one not is refused whole, not narrowed.
    let (code, msg) = refusal(
        alice
            .call(create(
                "ledger",
                &[Capability::LogsRead, Capability::MetricsRead],
                60,
            ))
            .await,
    );
    assert_eq!(code, ErrorCode::BadRequest, "{msg}");

    let (code, msg) = refusal(
        alice
            .call(create("payments", &[Capability::LogsRead], 0))
            .await,
    );
    assert_eq!(code, ErrorCode::BadRequest, "{msg}");
    assert!(msg.contains("duration"), "{msg}");

    let (code, msg) = refusal(
        alice
            .call(create("payments", &[Capability::LogsRead], 7201))
            .await,
    );
    assert_eq!(code, ErrorCode::BadRequest, "{msg}");
    assert!(msg.contains("7200"), "should name the 2 h cap: {msg}");

    // Exactly at the cap is fine: the cap is not off by one.
    let at_cap = created(&alice, create("payments", &[Capability::LogsRead], 7200)).await;
    assert_eq!(at_cap.duration_s, 7200);
    let mine = list_requests(&alice, true).await;
    assert_eq!(
        mine.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        vec![at_cap.id.as_str()],
        "refused requests must not be stored"
    );
    // Each refused attempt is in the audit chain, attributed to alice.
    let carol = gw.connect("carol").await;
    let chain = whole_chain(&carol).await;
    breakglass::audit::chain::verify(&chain).expect("the chain verifies");
    let refused: Vec<&AuditEntry> = chain
        .iter()
        .filter(|e| e.action == "request.create.refused")
        .collect();
    assert_eq!(refused.len(), 5, "{refused:?}");
    assert!(refused.iter().all(|e| e.actor == "alice"), "{refused:?}");
    assert_eq!(
        chain
            .iter()
            .filter(|e| e.action == "request.create")
            .count(),
        1
    );
}

#[tokio::test]
async fn decisions_on_unknown_decided_or_own_requests_are_refused() {
    let cd = ConfigDir::new(REFUSALS_POLICY, "");
    let mut gw = cd.start();
    cd.mint_into(&mut gw, &["alice", "bob", "dave", "gina"]);
    let alice = gw.connect("alice").await;
    let bob = gw.connect("bob").await;
    let dave = gw.connect("dave").await;
    let gina = gw.connect("gina").await;

    let (code, msg) = refusal(bob.call(approve("req-000000000000")).await);
    assert_eq!(code, ErrorCode::NotFound, "{msg}");
    let (code, msg) = refusal(bob.call(deny("req-000000000000")).await);
    assert_eq!(code, ErrorCode::NotFound, "{msg}");

    // Decided: payments needs one approval.
    let r = created(&alice, create("payments", &[Capability::LogsRead], 600)).await;
    let approved: AccessRequest = bob
        .call(approve(&r.id))
        .await
        .unwrap()
        .take("request")
        .unwrap();
    assert_eq!(approved.state, RequestState::Approved);
    let (code, msg) = refusal(dave.call(approve(&r.id)).await);
    assert_eq!(code, ErrorCode::Conflict, "{msg}");
    let (code, msg) = refusal(dave.call(deny(&r.id)).await);
    assert_eq!(code, ErrorCode::Conflict, "{msg}");
    let (code, msg) = refusal(bob.call(approve(&r.id)).await);
    assert_eq!(code, ErrorCode::Conflict, "{msg}");

    // Own: gina is an approver of payments, but not of her own request.
    let own = created(&gina, create("payments", &[Capability::LogsRead], 600)).await;
    let (code, msg) = refusal(gina.call(approve(&own.id)).await);
    assert_eq!(code, ErrorCode::Forbidden, "{msg}");
    assert!(msg.contains("own"), "{msg}");
    let (code, msg) = refusal(gina.call(deny(&own.id)).await);
    assert_eq!(code, ErrorCode::Forbidden, "{msg}");

    // None of that changed anything.
    let bob_view: Vec<AccessRequest> = list_requests(&bob, false).await;
    let own_now = bob_view.iter().find(|x| x.id == own.id).unwrap();
    assert_eq!(own_now.state, RequestState::Pending);
    assert!(own_now.approvals.is_empty());
    let r_now = bob_view.iter().find(|x| x.id == r.id).unwrap();
    assert_eq!(r_now.approvals.len(), 1, "{r_now:?}");
    assert_eq!(r_now.denied_by, None);
}

// ---------------------------------------------------------------------------
// Frame limits
// ---------------------------------------------------------------------------

/// Reads until the socket closes: (text frames seen, close code).
async fn drain_until_close(raw: &mut Raw) -> (Vec<String>, Option<u16>) {
    let mut texts = Vec::new();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), raw.ws.next())
            .await
            .expect("the gateway closes within 10 s");
        match msg {
            Some(Ok(Message::Text(t))) => texts.push(t.to_string()),
            Some(Ok(Message::Close(f))) => return (texts, f.map(|f| f.code.into())),
            None | Some(Err(_)) => return (texts, None),
            Some(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn a_frame_over_one_mebibyte_closes_the_connection_with_1009() {
    let gw = Gateway::dev();
    // Exactly 1 MiB is still allowed.
    let mut raw = gw.raw("alice").await;
    let head = r#"{"id":"big","op":"catalog.list","pad":""#;
    let pad = (1 << 20) - head.len() - 2;
    let frame = format!("{head}{}\"}}", "x".repeat(pad));
    assert_eq!(frame.len(), 1 << 20);
    raw.send(frame).await;
    let r = raw.reply().await;
    assert_eq!(r.re.as_deref(), Some("big"));
    assert!(r.ok, "a 1 MiB frame is within the limit: {:?}", r.error);

    // One byte more is not.
    let frame = format!("{head}{}\"}}", "x".repeat(pad + 1));
    // The gateway may close before it has read the whole frame, so the
    // send itself may fail; what counts is the close code.
    let _ = raw.ws.send(text(&frame)).await;
    let (texts, code) = drain_until_close(&mut raw).await;
    assert!(
        texts.is_empty(),
        "no reply to an oversized frame: {texts:?}"
    );
    assert_eq!(code, Some(1009));
}

#[tokio::test]
async fn twenty_one_malformed_frames_in_a_minute_close_the_connection_with_1008() {
    let gw = Gateway::dev();
    let mut raw = gw.raw("alice").await;
    for i in 0..21 {
        raw.send(format!("garbage {i}")).await;
    }
    let (texts, code) = drain_until_close(&mut raw).await;
    let replies: Vec<Value> = texts
        .iter()
        .map(|t| serde_json::from_str(t).unwrap())
        .collect();
    assert_eq!(
        replies.len(),
        20,
        "the first 20 each get a reply: {texts:?}"
    );
    for r in &replies {
        assert_eq!(r["ok"], false, "{r}");
        assert_eq!(r["error"]["code"], "bad_request", "{r}");
    }
    assert_eq!(code, Some(1008));
    // Other connections are unaffected.
    let alice = gw.connect("alice").await;
    alice.call(Op::CatalogList {}).await.unwrap();
}

#[tokio::test]
async fn twenty_malformed_frames_do_not_close_the_connection() {
    let gw = Gateway::dev();
    let mut raw = gw.raw("alice").await;
    for i in 0..20 {
        raw.send(format!("garbage {i}")).await;
    }
    for _ in 0..20 {
        let r = raw.reply().await;
        assert_eq!(r.error.map(|e| e.code), Some(ErrorCode::BadRequest));
    }
    assert_still_usable(&mut raw).await;
}

// ---------------------------------------------------------------------------
// Authentication and HTTP
// ---------------------------------------------------------------------------

#[tokio::test]
async fn missing_garbage_and_unknown_tokens_get_401_and_no_upgrade() {
    let gw = Gateway::dev();
    let (status, body) = upgrade_refusal(&gw.url, None)
        .await
        .expect("no token was accepted");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("no bearer token"), "{body}");

    let (status, body) = upgrade_refusal(&gw.url, Some("Bearer garbage"))
        .await
        .expect("a garbage token was accepted");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("not a breakglass token"), "{body}");

    // Well formed, but never minted.
    let unknown = format!("bgt_{}_{}", "a1".repeat(6), "b2".repeat(32));
    assert_refused(&gw.url, &unknown, "unknown token").await;

    // A real token with its secret changed is unknown too.
    let real = gw.token("alice");
    let mut forged = real[..real.len() - 1].to_string();
    forged.push(if real.ends_with('0') { '1' } else { '0' });
    assert_refused(&gw.url, &forged, "unknown token").await;

    // Another scheme with a real token is not a bearer token.
    let basic = format!("Basic {}", gw.token("alice"));
    let (status, _) = upgrade_refusal(&gw.url, Some(&basic))
        .await
        .expect("a Basic header was accepted");
    assert_eq!(status, 401);

    // The refusals are counted.
    let (_, metrics) = http_get(&gw.http, "/metrics");
    let failures: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("breakglass_auth_failures_total "))
        .expect("breakglass_auth_failures_total in /metrics")
        .trim()
        .parse()
        .unwrap();
    assert!(failures >= 5, "auth failures counted: {failures}");
}

#[tokio::test]
async fn healthz_is_ok_and_metrics_count_ops() {
    let gw = Gateway::dev();
    let alice = gw.connect("alice").await;
    alice.call(Op::CatalogList {}).await.unwrap();
    let (status, body) = http_get(&gw.http, "/healthz");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.trim(), "ok");
    let (status, body) = http_get(&gw.http, "/metrics");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("breakglass_ops_total"), "{body}");
    assert!(
        body.contains(r#"breakglass_ops_total{op="catalog.list",outcome="ok"} 1"#),
        "{body}"
    );
    assert!(body.contains("breakglass_connections 1"), "{body}");
    // An auto-approved grant is in force at once; a revoked one is not.
    let grant_id = grant_at_once(&alice, ask("search", 600), "alice is on call for search").await;
    let (_, body) = http_get(&gw.http, "/metrics");
    assert!(body.contains("breakglass_active_grants 1"), "{body}");
    revoke(&alice, &grant_id, "done").await;
    let (_, body) = http_get(&gw.http, "/metrics");
    assert!(body.contains("breakglass_active_grants 0"), "{body}");
}

#[tokio::test]
async fn a_token_stops_working_once_its_user_is_removed_from_the_policy() {
    let cd = ConfigDir::new("", "");
    let mut gw = cd.start();
    cd.mint_into(&mut gw, &["erin", "alice"]);
    let erin = gw.connect("erin").await;
    erin.call(Op::CatalogList {}).await.unwrap();
    let tokens = gw.tokens.clone();
    gw.kill();
    drop(gw);

    assert!(DEV_POLICY.contains(ERIN_TABLE), "the demo policy changed");
    cd.write(&DEV_POLICY.replace(ERIN_TABLE, ""), "");
    let mut gw = cd.start();
    gw.tokens = tokens;
    assert_refused(
        &gw.url,
        gw.token("erin"),
        "no longer in the gateway's policy",
    )
    .await;
    // Everyone else's tokens survive the restart.
    let alice = gw.connect("alice").await;
    alice.call(Op::CatalogList {}).await.unwrap();
}

#[tokio::test]
async fn an_expired_token_gets_401() {
    let cd = ConfigDir::new("", "");
    let gw = cd.start();
    let (short, _) = cd.mint("alice", Some("1s"));
    let (long, _) = cd.mint("alice", Some("1h"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_refused(&gw.url, &short, "expired").await;
    // A token with an expiry still works before it.
    Connection::connect(&gw.url, &long)
        .await
        .expect("a token valid for an hour connects");
}

#[tokio::test]
async fn a_revoked_token_gets_401_and_other_tokens_keep_working() {
    let cd = ConfigDir::new("", "");
    let gw = cd.start();
    let (token, id) = cd.mint("alice", None);
    let (other, _) = cd.mint("alice", None);
    Connection::connect(&gw.url, &token)
        .await
        .expect("a fresh token connects");
    let out = Command::new(BIN)
        .args([
            "gateway",
            "--config",
            cd.config.to_str().unwrap(),
            "token",
            "revoke",
            &id,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "token revoke: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_refused(&gw.url, &token, "revoked").await;
    Connection::connect(&gw.url, &other)
        .await
        .expect("revoking one token leaves the others");
}

#[test]
fn token_commands_accept_config_after_the_subcommand_as_documented() {
    // PROTOCOL.md and gateway.example.toml both show
    // `breakglass gateway token create --config F --user NAME`.
    let cd = ConfigDir::new("", "");
    let out = Command::new(BIN)
        .args([
            "gateway",
            "token",
            "create",
            "--config",
            cd.config.to_str().unwrap(),
            "--user",
            "alice",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the documented command line fails (exit {:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["token"].as_str().unwrap().starts_with("bgt_"));
    let out = Command::new(BIN)
        .args([
            "gateway",
            "token",
            "revoke",
            doc["id"].as_str().unwrap(),
            "--config",
            cd.config.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "`gateway token revoke ID --config F` fails (exit {:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------
// A client that vanishes mid-op
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_resent_op_after_the_client_vanished_gets_the_stored_reply_and_one_effect() {
    let gw = Gateway::dev();
    let frame = ClientFrame::new(create("payments", &[Capability::LogsRead], 600));
    {
        let mut raw = gw.raw("alice").await;
        raw.send(frame.encode()).await;
        // Dropped without reading the reply (or closing politely).
    }
    let alice = gw.connect("alice").await;
    // The first attempt lands (the gateway read the frame before the socket
    // went away) ...
    let mut landed = Vec::new();
    for _ in 0..50 {
        landed = list_requests(&alice, true).await;
        if !landed.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(landed.len(), 1, "the vanished client's op never landed");
    // ... and the resend gets its stored reply: the same request.
    let mut reply = alice.call_frame(frame.clone()).await.unwrap();
    assert_eq!(reply.re.as_deref(), Some(frame.id.as_str()));
    let again: AccessRequest = reply.take("request").unwrap();
    assert_eq!(again.id, landed[0].id);
    assert_eq!(again.created_at, landed[0].created_at);
    // A third time, from yet another connection, too.
    let other = gw.connect("alice").await;
    let third: AccessRequest = other
        .call_frame(frame.clone())
        .await
        .unwrap()
        .take("request")
        .unwrap();
    assert_eq!(third.id, landed[0].id);
    let all = list_requests(&alice, true).await;
    assert_eq!(all.len(), 1, "one op id, one effect: {all:?}");
    // One request.create in the audit chain too.
    let carol = gw.connect("carol").await;
    let creates = whole_chain(&carol)
        .await
        .iter()
        .filter(|e| e.action == "request.create")
        .count();
    assert_eq!(creates, 1);
}

#[tokio::test]
async fn the_same_op_id_sent_twice_at_once_has_one_effect() {
    let gw = Gateway::dev();
    let frame = ClientFrame::new(create("payments", &[Capability::LogsRead], 600));
    let a = gw.connect("alice").await;
    let b = gw.connect("alice").await;
    let (ra, rb) = tokio::join!(a.call_frame(frame.clone()), b.call_frame(frame.clone()));
    let ra: AccessRequest = ra.unwrap().take("request").unwrap();
    let rb: AccessRequest = rb.unwrap().take("request").unwrap();
    assert_eq!(ra.id, rb.id);
    assert_eq!(list_requests(&a, true).await.len(), 1);
}

#[tokio::test]
async fn op_ids_are_per_user() {
    let gw = Gateway::dev();
    let frame = ClientFrame::new(create("payments", &[Capability::LogsRead], 600));
    let alice = gw.connect("alice").await;
    let erin = gw.connect("erin").await;
    let a: AccessRequest = alice
        .call_frame(frame.clone())
        .await
        .unwrap()
        .take("request")
        .unwrap();
    let e: AccessRequest = erin
        .call_frame(frame)
        .await
        .expect("erin's op with alice's id runs as her own")
        .take("request")
        .unwrap();
    assert_ne!(a.id, e.id);
    assert_eq!(a.requester, "alice");
    assert_eq!(e.requester, "erin");
}

#[tokio::test]
async fn an_op_id_over_128_characters_gets_a_bad_request() {
    let id = "i".repeat(129);
    bad_frame_is_answered(
        text(&format!(r#"{{"id":"{id}","op":"catalog.list"}}"#)),
        None,
        &["128"],
    )
    .await;
}

// ---------------------------------------------------------------------------
// Racing decisions
// ---------------------------------------------------------------------------

const RACE_POLICY: &str = r#"
[users.frank]
display_name = "Frank (approver)"
groups = ["approvers"]

[services.vault]
description = "Secrets vault"
capabilities = ["logs:read"]
max_duration = "1h"
approvals_required = 2
requesters = ["engineers"]
approvers = ["approvers"]
"#;

#[tokio::test]
async fn racing_approvals_and_a_deny_yield_one_consistent_outcome_and_never_a_grant_from_a_denial()
{
    const ROUNDS: usize = 25;
    let cd = ConfigDir::new(RACE_POLICY, "");
    let mut gw = cd.start();
    cd.mint_into(&mut gw, &["alice", "bob", "dave", "frank", "carol"]);
    let alice = gw.connect("alice").await;
    let bob = gw.connect("bob").await;
    let dave = gw.connect("dave").await;
    let frank = gw.connect("frank").await;
    let carol = gw.connect("carol").await;

    // request id -> (ok approvals by, deny ok)
    let mut outcomes: Vec<(String, Vec<&str>, bool)> = Vec::new();
    for _ in 0..ROUNDS {
        let r = created(&alice, create("vault", &[Capability::LogsRead], 600)).await;
        let (b, d, f) = tokio::join!(
            bob.call(approve(&r.id)),
            dave.call(approve(&r.id)),
            frank.call(deny(&r.id)),
        );
        let mut approvers = Vec::new();
        for (who, res) in [("bob", b), ("dave", d)] {
            match res {
                Ok(_) => approvers.push(who),
                Err(e) => assert_eq!(e.code(), Some(ErrorCode::Conflict), "{who}: {e}"),
            }
        }
        let denied = match f {
            Ok(_) => true,
            Err(e) => {
                assert_eq!(e.code(), Some(ErrorCode::Conflict), "frank: {e}");
                false
            }
        };
        outcomes.push((r.id, approvers, denied));
    }

    let requests: HashMap<String, AccessRequest> = list_requests(&carol, false)
        .await
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let grants = list_grants(&carol, false).await;
    let chain = whole_chain(&carol).await;
    breakglass::audit::chain::verify(&chain).expect("the audit chain verifies");
    let count = |action: &str, target: &str| {
        chain
            .iter()
            .filter(|e| e.action == action && e.target == target)
            .count()
    };
    let (mut approved_rounds, mut denied_rounds) = (0, 0);
    for (id, ok_approvers, deny_ok) in &outcomes {
        let r = &requests[id];
        let grants_of: Vec<&Grant> = grants.iter().filter(|g| &g.request_id == id).collect();
        let by: HashSet<&str> = r.approvals.iter().map(|a| a.by.as_str()).collect();
        assert_eq!(
            by.len(),
            r.approvals.len(),
            "an approver counted twice: {r:?}"
        );
        let mut replied: Vec<&str> = ok_approvers.clone();
        replied.sort();
        let mut stored: Vec<&str> = by.iter().copied().collect();
        stored.sort();
        assert_eq!(
            replied, stored,
            "approvals acknowledged vs stored differ: {r:?}"
        );
        assert_eq!(count("request.approve", id), r.approvals.len(), "{r:?}");
        match r.state {
            RequestState::Approved => {
                approved_rounds += 1;
                assert!(!deny_ok, "frank was told his deny landed, yet: {r:?}");
                assert_eq!(r.approvals.len(), 2, "{r:?}");
                assert_eq!(r.denied_by, None, "{r:?}");
                let gid = r
                    .grant_id
                    .as_deref()
                    .expect("an approved request names its grant");
                assert_eq!(grants_of.len(), 1, "{grants_of:?}");
                assert_eq!(grants_of[0].id, gid);
                assert_eq!(count("grant.start", gid), 1);
                assert_eq!(count("request.deny", id), 0);
            }
            RequestState::Denied => {
                denied_rounds += 1;
                assert!(deny_ok, "denied, but frank was told it failed: {r:?}");
                assert_eq!(r.denied_by.as_deref(), Some("frank"), "{r:?}");
                assert!(r.approvals.len() < 2, "{r:?}");
                assert_eq!(r.grant_id, None, "a denied request names a grant: {r:?}");
                assert!(
                    grants_of.is_empty(),
                    "a grant from a denied request: {grants_of:?}"
                );
                assert_eq!(count("request.deny", id), 1);
            }
            other => panic!("request {id} ended {other:?}, not approved or denied: {r:?}"),
        }
    }
    eprintln!("race: {approved_rounds} approved, {denied_rounds} denied of {ROUNDS}");
    assert_eq!(approved_rounds + denied_rounds, ROUNDS);
}

// ---------------------------------------------------------------------------
// kill -9 mid-burst
// ---------------------------------------------------------------------------

#[tokio::test]
async fn every_acknowledged_op_survives_a_kill_9_and_the_audit_chain_stays_whole() {
    const KILL_AFTER: usize = 150;
    let tmp = tempfile::tempdir().unwrap();
    let mut gw = Gateway::dev_in(tmp.path());
    let acks = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for user in ["alice", "alice", "erin", "erin"] {
        let conn = gw.connect(user).await;
        let acks = acks.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            loop {
                match conn
                    .call(create("payments", &[Capability::LogsRead], 600))
                    .await
                {
                    Ok(mut reply) => {
                        let r: AccessRequest = reply.take("request").unwrap();
                        acked.push(r.id);
                        acks.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) if e.code() == Some(ErrorCode::RateLimited) => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(ClientError::Refused(e)) => panic!("refused mid-burst: {e}"),
                    // The gateway died: stop.
                    Err(_) => return acked,
                }
            }
        }));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while acks.load(Ordering::SeqCst) < KILL_AFTER {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} acks in 30 s",
            acks.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    gw.kill();
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    assert!(acked.len() >= KILL_AFTER, "{}", acked.len());
    eprintln!("kill -9 after {} acknowledged creates", acked.len());
    drop(gw);

    let gw = Gateway::dev_in(tmp.path());
    let carol = gw.connect("carol").await;
    let stored: HashSet<String> = list_requests(&carol, false)
        .await
        .into_iter()
        .map(|r| r.id)
        .collect();
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(lost.is_empty(), "acknowledged, then lost: {lost:?}");

    let chain = whole_chain(&carol).await;
    assert_eq!(chain.first().map(|e| e.seq), Some(1));
    let n = breakglass::audit::chain::verify(&chain).expect("the chain verifies after kill -9");
    assert_eq!(n as usize, chain.len());
    let created_in_chain: HashSet<&str> = chain
        .iter()
        .filter(|e| e.action == "request.create")
        .map(|e| e.target.as_str())
        .collect();
    for id in &acked {
        assert!(
            created_in_chain.contains(id.as_str()),
            "{id} acknowledged without its audit entry"
        );
    }
    for id in &stored {
        assert!(
            created_in_chain.contains(id.as_str()),
            "{id} stored without its audit entry (half-applied)"
        );
    }
    assert_eq!(
        created_in_chain.len(),
        stored.len(),
        "request.create entries without a stored request"
    );
    // The restarted gateway takes new work.
    let alice = gw.connect("alice").await;
    created(&alice, create("payments", &[Capability::LogsRead], 600)).await;
}

// ---------------------------------------------------------------------------
// Fail closed
// ---------------------------------------------------------------------------

#[tokio::test]
async fn when_the_audit_cannot_be_written_ops_fail_with_audit_unavailable_and_nothing_changes() {
    use sqlx::Connection as _;
    let cd = ConfigDir::new("", "store_busy_timeout = \"1s\"");
    let mut gw = cd.start();
    cd.mint_into(&mut gw, &["alice", "carol"]);
    let alice = gw.connect("alice").await;
    let carol = gw.connect("carol").await;
    let before = whole_chain(&carol).await;

    let db = cd.data.join("gateway.db");
    assert!(db.exists(), "no store at {}", db.display());
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&db);
    let mut lock = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut lock)
        .await
        .unwrap();

    let frame = ClientFrame::new(create("payments", &[Capability::LogsRead], 600));
    let started = std::time::Instant::now();
    let result = alice.call_frame(frame.clone()).await;
    let took = started.elapsed();
    let (code, msg) = refusal(result);
    assert_eq!(code, ErrorCode::AuditUnavailable, "{msg}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    // Reads still work while writes cannot.
    assert!(list_requests(&alice, true).await.is_empty());

    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    lock.close().await.unwrap();

    assert!(
        list_requests(&alice, true).await.is_empty(),
        "a request exists though its op failed"
    );
    let after = whole_chain(&carol).await;
    assert_eq!(
        after.len(),
        before.len(),
        "the audit chain changed though the op failed: {:?}",
        &after[before.len()..]
    );
    assert!(!after.iter().any(|e| e.action == "request.create"));

    // The gateway recovers: a retry of the same op now runs, and so does a new one.
    let retried: AccessRequest = alice
        .call_frame(frame)
        .await
        .expect("retrying an op that failed with audit_unavailable")
        .take("request")
        .unwrap();
    let fresh = created(&alice, create("payments", &[Capability::LogsRead], 600)).await;
    assert_ne!(retried.id, fresh.id);
    assert_eq!(list_requests(&alice, true).await.len(), 2);
    let chain = whole_chain(&carol).await;
    breakglass::audit::chain::verify(&chain).expect("the chain verifies");
    let creates: Vec<&str> = chain
        .iter()
        .filter(|e| e.action == "request.create")
        .map(|e| e.target.as_str())
        .collect();
    assert_eq!(creates.len(), 2, "{creates:?}");
    assert!(creates.contains(&retried.id.as_str()));
    assert!(creates.contains(&fresh.id.as_str()));
}
