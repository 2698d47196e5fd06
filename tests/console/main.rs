//! End-to-end tests of the console in a real terminal: tmux runs
//! `breakglass` against a real `gateway --dev`, other users act through a
//! real WebSocket client, and the assertions read the screen.

#[path = "../gateway/support.rs"]
mod support;
mod tmux;

use std::path::Path;
use std::time::Duration;

use breakglass::protocol::{AccessRequest, Grant, Op};
use support::{BIN, Gateway, ask};
use tmux::Tmux;

/// Runs the console as `user` against `gw` in a fresh tmux session.
fn console(gw: &Gateway, user: &str, extra: &str, dir: &Path) -> Tmux {
    let token_file = dir.join(format!("{user}.token"));
    std::fs::write(&token_file, gw.token(user)).unwrap();
    let cmd = format!(
        "env BREAKGLASS_CONFIG_DIR={cfg} BREAKGLASS_DATA_DIR={data} BREAKGLASS_LOG_FILE={log} {BIN} --gateway {url} --token-file {tok} {extra}",
        cfg = dir.join("cfg").display(),
        data = dir.join("data").display(),
        log = dir.join(format!("{user}-console.log")).display(),
        url = gw.url,
        tok = token_file.display(),
    );
    Tmux::start(&cmd, 120, 32)
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
    let mut reply = bob
        .call(Op::RequestList {
            state: None,
            mine: false,
        })
        .await
        .unwrap();
    let requests: Vec<AccessRequest> = reply.take("requests").unwrap();
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
    let journal_root = dir.path().join("data").join("journal");
    let bob_dir = std::fs::read_dir(&journal_root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("bob@"))
        .expect("bob's console journal");
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
    let mut reply = alice
        .call(Op::GrantList { active_only: true })
        .await
        .unwrap();
    let grants: Vec<Grant> = reply.take("grants").unwrap();
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
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let start = || {
        Gateway::spawn_args(&[
            "gateway",
            "--dev",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--json",
            "--data-dir",
            data.path().to_str().unwrap(),
        ])
    };
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
        tmp.path(),
        &format!(
            "[services.search.logs]\nfile = {:?}\n",
            file.to_str().unwrap()
        ),
        &["alice"],
    );
    // search is approved at once for alice (on call); 15 s to watch it end.
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
        .call(Op::RequestCreate {
            service: "search".into(),
            capabilities: vec![breakglass::protocol::Capability::MetricsRead],
            duration_s: 25,
            reason: "INC-8 search latency".into(),
            ticket: None,
            break_glass: false,
        })
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
    std::thread::sleep(Duration::from_secs(12));
    screen.wait_for("the expiry banner", |s| {
        s.contains("grant expired") && s.contains("r asks for metrics:read again")
    });
}
