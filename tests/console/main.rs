//! End-to-end tests of the console in a real terminal: tmux runs
//! `breakglass` against a real `gateway --dev`, other users act through a
//! real WebSocket client, and the assertions read the screen.

#[path = "../gateway/support.rs"]
mod support;
mod tmux;

use std::path::{Path, PathBuf};
use std::time::Duration;

use breakglass::protocol::{AccessRequest, Op};
use support::{BIN, Gateway, ask};
use tmux::Tmux;

/// Runs the console as `user` against `gw` in a fresh tmux session.
fn console(gw: &Gateway, user: &str, extra: &str, dir: &Path) -> Tmux {
    console_with_env(gw, user, "", extra, dir)
}

/// The same, with more `NAME=value` words for its environment.
fn console_with_env(gw: &Gateway, user: &str, env: &str, extra: &str, dir: &Path) -> Tmux {
    let token_file = dir.join(format!("{user}.token"));
    std::fs::write(&token_file, gw.token(user)).unwrap();
    let cmd = format!(
        "env {env} BREAKGLASS_CONFIG_DIR={cfg} BREAKGLASS_DATA_DIR={data} BREAKGLASS_LOG_FILE={log} {BIN} --gateway {url} --token-file {tok} {extra}",
        cfg = dir.join("cfg").display(),
        data = dir.join("data").display(),
        log = dir.join(format!("{user}-console.log")).display(),
        url = gw.url,
        tok = token_file.display(),
    );
    Tmux::start(&cmd, 120, 32)
}

/// The journal of `user`'s console run by [`console`] in `dir`.
fn console_journal(dir: &Path, user: &str) -> PathBuf {
    support::journal_of(&dir.join("data").join("journal"), user)
}

#[tokio::test]
async fn alice_files_a_request_and_watches_bob_approve_it_and_the_countdown_fall() {
    let gw = Gateway::dev();
    let dir = tempfile::tempdir().unwrap();
    let screen_of_alice = console(&gw, "alice", "", dir.path());
    screen_of_alice.wait_text("connected");
    // The new-request form: move to payments, keep the offered duration,
    // write a reason, submit.
    screen_of_alice.keys(&["n"]);
    screen_of_alice.wait_text("Reason");
    screen_of_alice.keys(&["Right"]);
    screen_of_alice.wait_text("payments");
    screen_of_alice.keys(&["Tab", "Tab", "Tab"]);
    screen_of_alice.type_text("INC-7 card declines");
    screen_of_alice.keys(&["C-s"]);
    screen_of_alice.wait_for("the request pending with 0/1 approvals", |s| {
        s.contains("pending") && s.contains("0/1")
    });

    let bob = gw.connect("bob").await;
    let requests = support::list_requests(&bob, false).await;
    let filed = requests
        .iter()
        .find(|r| r.requester == "alice" && r.service == "payments")
        .expect("alice's request reached the gateway");
    assert_eq!(filed.reason, "INC-7 card declines");
    bob.call(Op::RequestApprove {
        request_id: filed.id.clone(),
        comment: None,
        totp: None,
    })
    .await
    .unwrap();

    let first = screen_of_alice.wait_for("a running countdown", |s| s.contains("29m"));
    assert!(first.contains("payments"), "{first}");
    // The countdown falls without a key being pressed.
    let countdown = |s: &str| {
        s.lines()
            .find(|l| l.contains("payments") && l.contains("29m"))
            .map(str::to_string)
    };
    let before = countdown(&first).unwrap();
    let after = screen_of_alice.wait_for("the countdown to move", |s| {
        countdown(s).is_some_and(|l| l != before)
    });
    assert!(countdown(&after).is_some(), "{after}");
}

#[tokio::test]
async fn bob_sees_the_queue_badge_and_approves_with_two_keys() {
    let gw = Gateway::dev();
    let dir = tempfile::tempdir().unwrap();
    let screen_of_bob = console(&gw, "bob", "", dir.path());
    screen_of_bob.wait_text("connected");
    let alice = gw.connect("alice").await;
    let mut reply = alice.call(ask("payments", 900)).await.unwrap();
    let request: AccessRequest = reply.take("request").unwrap();
    screen_of_bob.wait_text("Queue (1)");
    screen_of_bob.wait_text("INC-42 elevated 5xx");
    screen_of_bob.keys(&["a"]);
    screen_of_bob.wait_text("approve");
    screen_of_bob.keys(&["a"]);
    screen_of_bob.wait_for("the queue to empty", |s| !s.contains("Queue (1)"));
    // Bob's approval went through his journal first and reached the
    // gateway's chain from there.
    let bob_dir = console_journal(dir.path(), "bob");
    let journaled = breakglass::audit::journal::read_dir_chain(&bob_dir).unwrap();
    let approval = journaled
        .iter()
        .find(|e| e.action == "request.approve" && e.target == request.id)
        .expect("the approval was journaled");
    assert!(
        approval.origin.starts_with("console:"),
        "{}",
        approval.origin
    );
    let grants = support::list_grants(&alice, true).await;
    assert!(
        grants.iter().any(|g| g.request_id == request.id),
        "bob's two keys did not grant alice's request"
    );
}

#[tokio::test]
async fn a_grant_revoked_by_the_lead_disappears_from_alices_console() {
    let gw = Gateway::dev();
    let dir = tempfile::tempdir().unwrap();
    let alice = gw.connect("alice").await;
    let mut reply = alice.call(ask("search", 900)).await.unwrap();
    let request: AccessRequest = reply.take("request").unwrap();
    let grant_id = request.grant_id.expect("search is automatic for alice");
    let screen_of_alice = console(&gw, "alice", "", dir.path());
    screen_of_alice.wait_for("the search grant", |s| {
        s.contains("search") && s.contains("14m")
    });
    let carol = gw.connect("carol").await;
    carol
        .call(Op::GrantRevoke {
            grant_id,
            reason: "incident over".into(),
        })
        .await
        .unwrap();
    let screen = screen_of_alice.wait_text("revoked by carol");
    assert!(
        !screen.contains("14m"),
        "the revoked grant still counts down:\n{screen}"
    );
}

#[tokio::test]
async fn losing_the_gateway_shows_at_once_and_the_console_comes_back_by_itself() {
    let data = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let start = || Gateway::dev_at(port, data.path(), &[]);
    let mut gw = start();
    let dir = tempfile::tempdir().unwrap();
    let alice = gw.connect("alice").await;
    alice.call(ask("search", 900)).await.unwrap();
    let screen_of_alice = console(&gw, "alice", "", dir.path());
    screen_of_alice.wait_for("the grant", |s| s.contains("search") && s.contains("14m"));
    gw.kill();
    screen_of_alice.wait_text("DOWN");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _gw = start();
    let screen = screen_of_alice.wait_text("connected");
    assert!(
        screen.contains("search"),
        "the grant is gone after reconnecting:\n{screen}"
    );
}

#[tokio::test]
async fn ctrl_c_quits_and_gives_the_terminal_back() {
    let gw = Gateway::dev();
    let dir = tempfile::tempdir().unwrap();
    let t = console(
        &gw,
        "carol",
        "; echo console-exited-$?; sleep 60",
        dir.path(),
    );
    t.wait_text("connected");
    t.keys(&["C-c"]);
    let screen = t.wait_text("console-exited-0");
    assert!(
        !screen.contains("Sessions"),
        "the alternate screen was not left:\n{screen}"
    );
}

#[tokio::test]
async fn the_logs_pane_shows_redacted_lines_finds_them_pauses_and_says_when_the_grant_ends() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("search");
    std::fs::create_dir_all(&logs).unwrap();
    let file = logs.join("search.log");
    std::fs::write(&file, "").unwrap();
    let gw = support::config_gateway(
        &format!(
            "[services.search.logs]\nfile = {:?}\n",
            file.to_str().unwrap()
        ),
        &["alice"],
    );
    // search is approved at once for alice (on call); 20 s to watch it end.
    let alice = gw.connect("alice").await;
    alice.call(ask("search", 20)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let screen = console(&gw, "alice", "", dir.path());
    screen.wait_text("connected");
    screen.keys(&["4"]);
    screen.wait_text("search");
    let append = |line: &str| {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap();
        writeln!(f, "{line}").unwrap();
    };
    // The stream starts when the pane opens; lines written from then on
    // arrive (keep writing until the first shows, the reader polls).
    screen.wait_for("the first line", |s| {
        append("level=info msg=\"checkout for jane.doe@example.com\"");
        std::thread::sleep(Duration::from_millis(200));
        s.contains("checkout for")
    });
    append("level=error msg=\"needle timeout talking to the index\"");
    let shown = screen.wait_text("needle timeout");
    assert!(shown.contains("[REDACTED:email]"), "{shown}");
    assert!(
        !shown.contains("jane.doe"),
        "a secret reached the screen:\n{shown}"
    );

    screen.keys(&["/"]);
    screen.type_text("needle");
    screen.keys(&["Enter"]);
    let found = screen.wait_text("1 match");
    // Jumping to a match stops following; `f` flips it either way.
    let (now, next) = if found.contains("PAUSED") {
        ("PAUSED", "FOLLOW")
    } else {
        ("FOLLOW", "PAUSED")
    };
    assert!(found.contains(now), "{found}");
    screen.keys(&["f"]);
    screen.wait_text(next);
    screen.keys(&["f"]);
    screen.wait_text(now);
    screen.wait_for("the expiry banner", |s| {
        s.contains("expired") && s.contains("r asks for logs:read again")
    });
}

#[tokio::test]
async fn the_metrics_pane_charts_the_simulated_service_and_freezes_when_the_grant_ends() {
    let gw = Gateway::dev();
    let alice = gw.connect("alice").await;
    // search is approved at once for alice; 25 s to see charts and the end.
    alice
        .call(support::ask_for(
            "search",
            breakglass::protocol::Capability::MetricsRead,
            25,
        ))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let screen = console(&gw, "alice", "", dir.path());
    screen.wait_text("connected");
    screen.keys(&["5"]);
    // The gateway scrapes the simulated service every 5 s: the charts and
    // their current values appear once two scrapes make a rate.
    let shown = screen.wait_for("the charts with values", |s| {
        s.contains("Metrics · ● search") && s.contains("rps (req/s)") && s.contains("now ")
    });
    assert!(shown.contains("latency_p99 (ms)"), "{shown}");
    assert!(shown.contains("refreshed"), "{shown}");
    screen.keys(&["["]);
    screen.wait_text("[5m]");
    // The grant runs out 25 s after it was made, however long the charts
    // took to show.
    screen.wait_for_up_to(Duration::from_secs(40), "the expiry banner", |s| {
        s.contains("grant expired") && s.contains("r asks for metrics:read again")
    });
}

/// The entries of the gateway's chain that record `hash`, a client
/// journal entry's.
async fn gateway_records_of(gw: &Gateway, hash: &str) -> Vec<u64> {
    gw.chain()
        .await
        .iter()
        .filter(|e| e.detail["client"]["hash"] == hash)
        .map(|e| e.seq)
        .collect()
}

/// Waits (20 s at most) until the gateway's chain records `hash`.
async fn until_recorded(gw: &Gateway, hash: &str, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while gateway_records_of(gw, hash).await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} never reached the gateway"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn process_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) S …`: the state follows the last `)`.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

#[tokio::test]
async fn a_console_killed_between_journaling_an_action_and_sending_it_loses_nothing_and_sends_it_once()
 {
    let gw = Gateway::dev();
    let alice = gw.connect("alice").await;
    let mut reply = alice.call(ask("payments", 900)).await.unwrap();
    let request: AccessRequest = reply.take("request").unwrap();
    let dir = tempfile::tempdir().unwrap();

    // Bob's console stops itself the moment his approval is fsynced to his
    // journal, before the op or the entry leave it; then it is killed -9.
    let bob = console_with_env(
        &gw,
        "bob",
        "BREAKGLASS_FAILPOINT=journaled:request.approve",
        "",
        dir.path(),
    );
    bob.wait_text("Queue (1)");
    bob.keys(&["a"]);
    bob.wait_text("approve");
    bob.keys(&["a"]);
    let bob_dir = console_journal(dir.path(), "bob");
    let journaled = |action: &str| -> Vec<breakglass::protocol::AuditEntry> {
        breakglass::audit::journal::read_dir_chain(&bob_dir)
            .unwrap()
            .into_iter()
            .filter(|e| e.action == action && e.target == request.id)
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while journaled("request.approve").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the approval never reached bob's journal:\n{}",
            bob.screen()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let approval = journaled("request.approve").remove(0);
    // The console hangs at the failpoint: alive, and nothing sent.
    let pid = bob.pane_pid();
    assert!(matches!(process_state(pid), Some('S' | 'R')));
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    bob.wait_for("the console to die", |_| bob.pane_dead());
    drop(bob);

    // Nothing was sent: the request still waits, the gateway has no record.
    let mine = support::list_requests(&alice, true).await;
    let still = mine.iter().find(|r| r.id == request.id).unwrap();
    assert_eq!(
        still.state,
        breakglass::protocol::RequestState::Pending,
        "an op killed before it was sent took effect"
    );
    assert!(gateway_records_of(&gw, &approval.hash).await.is_empty());

    // Bob starts his console again: the journal's outbox delivers the
    // approval's entry, once. The approval itself was never acknowledged,
    // so the request is still in his queue and he approves it again.
    let bob = console(&gw, "bob", "", dir.path());
    bob.wait_text("Queue (1)");
    until_recorded(&gw, &approval.hash, "the journaled approval").await;
    bob.keys(&["a"]);
    bob.wait_text("approve");
    bob.keys(&["a"]);
    bob.wait_for("the queue to empty", |s| !s.contains("Queue (1)"));
    let approvals = journaled("request.approve");
    assert_eq!(approvals.len(), 2, "{approvals:#?}");
    let second = &approvals[1];
    until_recorded(&gw, &second.hash, "the second approval's entry").await;
    // Delivered in order and exactly once, across the kill and the restart.
    let first_at = gateway_records_of(&gw, &approval.hash).await;
    let second_at = gateway_records_of(&gw, &second.hash).await;
    assert_eq!(
        first_at.len(),
        1,
        "the killed console's entry was recorded {first_at:?}"
    );
    assert_eq!(second_at.len(), 1);
    assert!(first_at[0] < second_at[0]);
}
