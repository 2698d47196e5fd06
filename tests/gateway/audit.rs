//! The audit trail end to end: the CLI journals before it acts and hands
//! its journal to the gateway; `audit verify` names the first bad entry of a
//! tampered journal or gateway chain, including a cut-off tail and a
//! re-hashed forgery (caught by the gateway's signed checkpoints).

use std::path::{Path, PathBuf};

use breakglass::audit::journal;
use breakglass::protocol::AuditEntry;
use sqlx::Connection as _;

use crate::support::*;

/// The journal of `user`'s CLI runs against `gw`.
fn journal_dir(gw: &Gateway, user: &str) -> PathBuf {
    journal_of(&gw.data_dir.join("cli-data").join("journal"), user)
}

/// What alice's journal in `dir` still has to send.
fn undelivered(dir: &Path) -> Vec<AuditEntry> {
    journal::Journal::open(dir, "alice", "t")
        .unwrap()
        .undelivered()
        .unwrap()
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

#[tokio::test]
async fn a_cli_action_is_journaled_locally_and_lands_in_the_gateway_chain_with_its_hash() {
    let gw = Gateway::dev();
    let (code, _, err) = gw.cli("alice", &request_args("INC-5 declines"));
    assert_eq!(code, 0, "{err}");
    let dir = journal_dir(&gw, "alice");
    let local = journal::read_dir_chain(&dir).unwrap();
    let mine = local
        .iter()
        .find(|e| e.action == "request.create")
        .expect("journaled");
    assert_eq!(mine.detail["reason"], "INC-5 declines");
    assert!(mine.origin.starts_with("cli:"), "{}", mine.origin);
    let chain = gw.chain().await;
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
    gw.cli("alice", &request_args("first"));
    let dir = journal_dir(&gw, "alice");
    let j = journal::Journal::open(&dir, "alice", "t").unwrap();
    // Forget the delivery, as if the CLI died before saving the reply.
    j.mark_delivered(&journal::Cursor::default()).unwrap();
    let (code, _, err) = gw.cli("alice", &["grants"]);
    assert_eq!(code, 0, "{err}");
    each_recorded_once(&gw, &journal::read_dir_chain(&dir).unwrap()).await;
}

/// Every entry of `local` (a client journal) is in the gateway's chain
/// exactly once.
async fn each_recorded_once(gw: &Gateway, local: &[AuditEntry]) {
    let chain = gw.chain().await;
    for entry in local {
        let copies = chain
            .iter()
            .filter(|c| c.detail["client"]["hash"] == entry.hash.as_str())
            .count();
        assert_eq!(
            copies, 1,
            "journal entry {} recorded {copies} times",
            entry.seq
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
        gw.cli("alice", &request_args(&format!("reason {i}")));
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
    // The journal's directory, read as one chain across its files.
    let (code, out, _) = verify(&dir);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact"), "{out}");

    let mut edited = entries.clone();
    edited[1].detail["reason"] = "nothing to see".into();
    write_journal(&file, &edited);
    let (code, out, _) = verify(&file);
    assert_eq!(code, 1);
    assert!(out.contains("entry 2: hash does not match"), "{out}");
    // The same entries as an export (`{"entries": [...]}`) say the same.
    let export = gw.data_dir.join("export.json");
    std::fs::write(
        &export,
        serde_json::json!({ "entries": edited }).to_string(),
    )
    .unwrap();
    let (code, out, _) = verify(&export);
    assert_eq!(code, 1, "{out}");
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
        gw.cli("alice", &request_args(&format!("r{i}")));
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
        gw.cli("alice", &request_args(&format!("r{i}")));
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
        gw.cli("alice", &request_args(&format!("r{i}")));
    }
    let (code, _, err) = gw.cli("carol", &["audit", "verify", "--remote"]);
    assert_eq!(code, 0, "{err}");
    // Rewrite entry 2 and reseal everything after it: a valid chain, but
    // not the one the gateway signed.
    let chain = gw.chain().await;
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
    let (code, out, err) = gw.cli("alice", &args);
    assert_eq!(code, 0, "{err}");
    let id = out.split_whitespace().next().unwrap().to_string();
    let (code, _, err) = gw.cli("bob", &["approve", &id, "--comment", "go ahead"]);
    assert_eq!(code, 0, "{err}");
    gw.cli("erin", &request_args("unrelated"));
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
    let port = free_port();
    let start = || Gateway::dev_at(port, data.path(), &[]);
    let mut gw = start();
    gw.cli("alice", &request_args("before the outage"));
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
    let queued = undelivered(&dir);
    assert_eq!(queued.len(), 5);
    let gw = start();
    let (code, _, err) = gw.cli("alice", &["grants"]);
    assert_eq!(code, 0, "{err}");
    let chain = gw.chain().await;
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
    assert!(undelivered(&dir).is_empty());
    // A later command sends nothing twice.
    gw.cli("alice", &["grants"]);
    let again = gw.chain().await;
    assert_eq!(again.iter().filter(|e| e.action == "logs.copy").count(), 5);
}

#[tokio::test]
async fn a_cli_whose_journal_cannot_be_written_refuses_to_act() {
    let gw = Gateway::dev();
    gw.cli("alice", &request_args("first"));
    let dir = journal_dir(&gw, "alice");
    // The live journal file replaced by a directory: every append fails.
    let live = dir.join("journal.jsonl");
    std::fs::remove_file(&live).unwrap();
    std::fs::create_dir(&live).unwrap();
    let (code, _, err) = gw.cli("alice", &request_args("second"));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("will not act unrecorded") || err.contains("journal"),
        "{err}"
    );
    let alice = gw.connect("alice").await;
    let requests = list_requests(&alice, true).await;
    assert!(
        !requests.iter().any(|r| r.reason == "second"),
        "an unjournaled request reached the gateway"
    );
}

#[tokio::test]
async fn a_gateway_killed_between_committing_a_record_and_replying_records_it_once() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    // The gateway hangs right after committing the first `audit.record`,
    // before its reply leaves.
    let mut gw = Gateway::dev_at(
        port,
        data.path(),
        &[("BREAKGLASS_FAILPOINT", "committed:audit.record")],
    );
    let mut cli = gw
        .cli_command("alice", &request_args("INC-5 card declines"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let dir = {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if let Some(d) = std::fs::read_dir(data.path().join("cli-data").join("journal"))
                .ok()
                .and_then(|rd| rd.filter_map(|e| e.ok()).next())
            {
                break d.path();
            }
            assert!(std::time::Instant::now() < deadline, "no journal appeared");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    // Wait for the commit to show in the chain (the other worker thread
    // still answers reads), then kill -9 before any reply.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let first = loop {
        let local = journal::read_dir_chain(&dir).unwrap_or_default();
        let chain = gw.chain().await;
        if let Some(e) = local.iter().find(|l| {
            chain
                .iter()
                .any(|c| c.detail["client"]["hash"] == l.hash.as_str())
        }) {
            break e.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no audit.record was committed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    gw.kill();
    let _ = cli.wait();
    let unacknowledged = undelivered(&dir);
    assert!(
        unacknowledged.iter().any(|e| e.hash == first.hash),
        "the client never heard back, so the entry must still be queued"
    );

    // Back up: the next CLI run resends the queue; the committed entry is
    // answered from its stored reply, not recorded again.
    let gw = Gateway::dev_at(port, data.path(), &[]);
    let (code, _, err) = gw.cli("alice", &["grants"]);
    assert_eq!(code, 0, "{err}");
    let local = journal::read_dir_chain(&dir).unwrap();
    assert!(local.iter().any(|e| e.hash == first.hash), "{local:#?}");
    each_recorded_once(&gw, &local).await;
    assert!(undelivered(&dir).is_empty());
}
