//! The audit trail end to end: the CLI journals before it acts and hands
//! its journal to the gateway; `audit verify` names the first bad entry of a
//! tampered journal or gateway chain, including a cut-off tail and a
//! re-hashed forgery (caught by the gateway's signed checkpoints).

use std::path::{Path, PathBuf};

use breakglass::audit::journal;
use breakglass::protocol::{AuditEntry, Op};
use sqlx::Connection as _;

use crate::support::*;

fn journal_dir(gw: &Gateway, user: &str) -> PathBuf {
    let base = gw.data_dir.join("cli-data").join("journal");
    std::fs::read_dir(&base)
        .unwrap_or_else(|e| panic!("no journals under {}: {e}", base.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{user}@"))
        })
        .unwrap_or_else(|| panic!("no journal for {user}"))
}

async fn gateway_chain(gw: &Gateway) -> Vec<AuditEntry> {
    let carol = gw.connect("carol").await;
    let mut reply = carol
        .call(Op::AuditRange {
            from_seq: 1,
            limit: 10_000,
        })
        .await
        .unwrap();
    reply.take("entries").unwrap()
}

fn request_args(reason: &str) -> Vec<String> {
    [
        "request",
        "payments",
        "--cap",
        "logs:read",
        "--for",
        "10m",
        "--reason",
        reason,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn cli(gw: &Gateway, user: &str, args: &[String]) -> (i32, String, String) {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    gw.cli(user, &refs)
}

#[tokio::test]
async fn a_cli_action_is_journaled_locally_and_lands_in_the_gateway_chain_with_its_hash() {
    let gw = Gateway::dev();
    let (code, _, err) = cli(&gw, "alice", &request_args("INC-5 declines"));
    assert_eq!(code, 0, "{err}");
    let dir = journal_dir(&gw, "alice");
    let local = journal::read_dir_chain(&dir).unwrap();
    let mine = local
        .iter()
        .find(|e| e.action == "request.create")
        .expect("journaled");
    assert_eq!(mine.detail["reason"], "INC-5 declines");
    assert!(mine.origin.starts_with("cli:"), "{}", mine.origin);
    let chain = gateway_chain(&gw).await;
    let recorded = chain
        .iter()
        .find(|e| e.detail["client"]["hash"] == mine.hash.as_str())
        .expect("the gateway recorded alice's journal entry");
    assert_eq!(recorded.actor, "alice");
    assert_eq!(recorded.action, "request.create");
    // The journal kept the gateway's head from that reply.
    let cursor = journal::Journal::open(&dir, "alice", "t")
        .unwrap()
        .cursor()
        .unwrap();
    assert_eq!(cursor.delivered_seq, mine.seq);
    assert_eq!(cursor.gateway_seq, recorded.seq);
    assert_eq!(cursor.gateway_head, recorded.hash);
}

#[tokio::test]
async fn a_resent_journal_entry_is_recorded_once() {
    let gw = Gateway::dev();
    cli(&gw, "alice", &request_args("first"));
    let dir = journal_dir(&gw, "alice");
    let j = journal::Journal::open(&dir, "alice", "t").unwrap();
    // Forget the delivery, as if the CLI died before saving the reply.
    j.mark_delivered(&journal::Cursor::default()).unwrap();
    let (code, _, err) = gw.cli("alice", &["grants"]);
    assert_eq!(code, 0, "{err}");
    let chain = gateway_chain(&gw).await;
    for local in journal::read_dir_chain(&dir).unwrap() {
        let copies = chain
            .iter()
            .filter(|e| e.detail["client"]["hash"] == local.hash.as_str())
            .count();
        assert_eq!(
            copies, 1,
            "journal entry {} recorded {copies} times",
            local.seq
        );
    }
}

/// Writes entries back as a journal file.
fn write_journal(path: &Path, entries: &[AuditEntry]) {
    let text: String = entries
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn audit_verify_names_the_first_bad_entry_of_a_tampered_journal() {
    let gw = Gateway::dev();
    for i in 0..4 {
        cli(&gw, "alice", &request_args(&format!("reason {i}")));
    }
    let dir = journal_dir(&gw, "alice");
    let entries = journal::read_dir_chain(&dir).unwrap();
    assert!(entries.len() >= 4);
    let file = gw.data_dir.join("copy.jsonl");
    write_journal(&file, &entries);
    let verify = |f: &Path| gw.cli("alice", &["audit", "verify", f.to_str().unwrap()]);
    let (code, out, _) = verify(&file);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact"), "{out}");

    let mut edited = entries.clone();
    edited[1].detail["reason"] = "nothing to see".into();
    write_journal(&file, &edited);
    let (code, out, _) = verify(&file);
    assert_eq!(code, 1);
    assert!(out.contains("entry 2: hash does not match"), "{out}");

    let mut deleted = entries.clone();
    deleted.remove(1);
    write_journal(&file, &deleted);
    let (code, out, _) = verify(&file);
    assert_eq!(code, 1);
    assert!(out.contains("BROKEN"), "{out}");
    assert!(out.contains('2'), "{out}");

    let mut swapped = entries.clone();
    swapped.swap(1, 2);
    write_journal(&file, &swapped);
    let (code, out, _) = verify(&file);
    assert_eq!(code, 1, "{out}");
}

async fn raw_db(gw: &Gateway) -> sqlx::SqliteConnection {
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(gw.data_dir.join("gateway.db"));
    sqlx::SqliteConnection::connect_with(&opts).await.unwrap()
}

#[tokio::test]
async fn the_gateway_chain_verifies_remotely_and_an_edited_entry_is_named() {
    let gw = Gateway::dev();
    for i in 0..3 {
        cli(&gw, "alice", &request_args(&format!("r{i}")));
    }
    let (code, out, err) = gw.cli("carol", &["audit", "verify", "--remote"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("intact"), "{out}");
    let (code, _, err) = gw.cli("alice", &["audit", "verify", "--remote"]);
    assert_eq!(code, 3, "only leads read the whole chain: {err}");

    let mut db = raw_db(&gw).await;
    sqlx::query("UPDATE audit SET actor = 'mallory' WHERE seq = 2")
        .execute(&mut db)
        .await
        .unwrap();
    let (code, out, _) = gw.cli("carol", &["audit", "verify", "--remote"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("entry 2"), "{out}");
}

#[tokio::test]
async fn a_cut_off_tail_of_the_gateway_chain_is_caught_by_its_signed_checkpoint() {
    let gw = Gateway::dev();
    for i in 0..3 {
        cli(&gw, "alice", &request_args(&format!("r{i}")));
    }
    // A checkpoint now covers the whole chain.
    let (code, _, err) = gw.cli("carol", &["audit", "verify", "--remote"]);
    assert_eq!(code, 0, "{err}");
    let mut db = raw_db(&gw).await;
    let (max,): (i64,) = sqlx::query_as("SELECT MAX(seq) FROM audit")
        .fetch_one(&mut db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit WHERE seq > ?")
        .bind(max - 2)
        .execute(&mut db)
        .await
        .unwrap();
    drop(db);
    let (code, out, _) = gw.cli("carol", &["audit", "verify", "--remote"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("missing tail"), "{out}");
}

#[tokio::test]
async fn a_rehashed_forgery_without_the_key_is_caught() {
    let gw = Gateway::dev();
    for i in 0..3 {
        cli(&gw, "alice", &request_args(&format!("r{i}")));
    }
    let (code, _, err) = gw.cli("carol", &["audit", "verify", "--remote"]);
    assert_eq!(code, 0, "{err}");
    // Rewrite entry 2 and reseal everything after it: a valid chain, but
    // not the one the gateway signed.
    let chain = gateway_chain(&gw).await;
    let mut forged = chain.clone();
    forged[1].actor = "mallory".into();
    let mut prev = forged[0].hash.clone();
    for e in forged.iter_mut().skip(1) {
        e.prev_hash = prev.clone();
        e.hash = breakglass::audit::chain::compute_hash(e);
        prev = e.hash.clone();
    }
    assert!(breakglass::audit::chain::verify(&forged).is_ok());
    let mut db = raw_db(&gw).await;
    for e in &forged[1..] {
        sqlx::query("UPDATE audit SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?")
            .bind(&e.actor)
            .bind(&e.prev_hash)
            .bind(&e.hash)
            .bind(e.seq as i64)
            .execute(&mut db)
            .await
            .unwrap();
    }
    drop(db);
    let (code, out, _) = gw.cli("carol", &["audit", "verify", "--remote"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not the entry"), "{out}");
}

#[tokio::test]
async fn the_incident_export_is_a_markdown_timeline_with_the_verdict_on_top() {
    let gw = Gateway::dev();
    let args: Vec<String> = [
        "request",
        "payments",
        "--cap",
        "logs:read",
        "--for",
        "10m",
        "--reason",
        "card declines at acquirer X",
        "--ticket",
        "INC-77",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (code, out, err) = cli(&gw, "alice", &args);
    assert_eq!(code, 0, "{err}");
    let id = out.split_whitespace().next().unwrap().to_string();
    let (code, _, err) = gw.cli("bob", &["approve", &id, "--comment", "go ahead"]);
    assert_eq!(code, 0, "{err}");
    cli(&gw, "erin", &request_args("unrelated"));
    let (code, md, err) = gw.cli(
        "carol",
        &["audit", "export", "--ticket", "INC-77", "--format", "md"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(md.starts_with("# Access audit: INC-77"), "{md}");
    assert!(md.contains("✅ intact"), "{md}");
    assert!(
        md.contains("alice requested logs:read on payments for 10m: “card declines at acquirer X”"),
        "{md}"
    );
    assert!(md.contains("bob approved"), "{md}");
    assert!(md.contains("access began"), "{md}");
    assert!(!md.contains("unrelated"), "{md}");
    let (code, csv, _) = gw.cli(
        "carol",
        &["audit", "export", "--ticket", "INC-77", "--format", "csv"],
    );
    assert_eq!(code, 0);
    assert!(csv.starts_with("seq,at,actor"), "{csv}");
}

#[tokio::test]
async fn actions_journaled_while_the_gateway_was_down_arrive_once_and_in_order() {
    let data = tempfile::tempdir().unwrap();
    // The same gateway (same address) before and after the outage.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let start = || {
        Gateway::spawn_args(&[
            "gateway",
            "--dev",
            "--listen",
            &listen,
            "--json",
            "--data-dir",
            data.path().to_str().unwrap(),
        ])
        .in_dir(data.path())
    };
    let mut gw = start();
    cli(&gw, "alice", &request_args("before the outage"));
    let dir = journal_dir(&gw, "alice");
    gw.kill();
    // While the gateway is down, the person's actions go to the journal only.
    {
        let mut r =
            breakglass::client::recorder::Recorder::open(&dir, "alice", "console:test").unwrap();
        for i in 0..5 {
            r.record(
                "logs.copy",
                "payments",
                serde_json::json!({"lines": i, "bytes": 120 * i}),
            )
            .unwrap();
        }
    }
    let queued: Vec<AuditEntry> = journal::Journal::open(&dir, "alice", "t")
        .unwrap()
        .undelivered()
        .unwrap();
    assert_eq!(queued.len(), 5);
    let gw = start();
    let (code, _, err) = gw.cli("alice", &["grants"]);
    assert_eq!(code, 0, "{err}");
    let chain = gateway_chain(&gw).await;
    let arrived: Vec<&AuditEntry> = chain.iter().filter(|e| e.action == "logs.copy").collect();
    assert_eq!(arrived.len(), 5, "each queued entry exactly once");
    let order: Vec<u64> = arrived
        .iter()
        .map(|e| e.detail["detail"]["lines"].as_u64().unwrap())
        .collect();
    assert_eq!(
        order,
        vec![0, 1, 2, 3, 4],
        "in the order they were journaled"
    );
    assert!(
        journal::Journal::open(&dir, "alice", "t")
            .unwrap()
            .undelivered()
            .unwrap()
            .is_empty()
    );
    // A later command sends nothing twice.
    gw.cli("alice", &["grants"]);
    let again = gateway_chain(&gw).await;
    assert_eq!(again.iter().filter(|e| e.action == "logs.copy").count(), 5);
}

#[tokio::test]
async fn a_cli_whose_journal_cannot_be_written_refuses_to_act() {
    let gw = Gateway::dev();
    cli(&gw, "alice", &request_args("first"));
    let dir = journal_dir(&gw, "alice");
    // The live journal file replaced by a directory: every append fails.
    let live = dir.join("journal.jsonl");
    std::fs::remove_file(&live).unwrap();
    std::fs::create_dir(&live).unwrap();
    let (code, _, err) = cli(&gw, "alice", &request_args("second"));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("will not act unrecorded") || err.contains("journal"),
        "{err}"
    );
    let alice = gw.connect("alice").await;
    let mut reply = alice
        .call(Op::RequestList {
            state: None,
            mine: true,
        })
        .await
        .unwrap();
    let requests: Vec<breakglass::protocol::AccessRequest> = reply.take("requests").unwrap();
    assert!(
        !requests.iter().any(|r| r.reason == "second"),
        "an unjournaled request reached the gateway"
    );
}
