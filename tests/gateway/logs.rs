//! Log streaming through the real binary: real files and a real command as
//! sources, redaction at the gateway, streams closed by the grant's end.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use breakglass::client::Connection;
use breakglass::protocol::{
    AuditEntry, CloseReason, ErrorCode, Event, GrantState, LogFilter, LogLine, Op,
};

use crate::support::{
    Gateway, ask, audit, config_gateway, event_where, grant_at_once, list_grants, revoke,
};

/// A gateway whose `search` logs are the files `DIR/search/*.log` and whose
/// `payments` logs are what `payments_cmd` prints.
fn gateway_with_sources(dir: &Path, payments_cmd: &str) -> Gateway {
    let logs = dir.join("search");
    std::fs::create_dir_all(&logs).unwrap();
    let extra = format!(
        "[services.search.logs]\nfile = {:?}\n\n[services.payments.logs]\ncommand = [\"sh\", \"-c\", {:?}]\n",
        logs.join("*.log").to_str().unwrap(),
        payments_cmd
    );
    config_gateway(&extra, &["alice", "bob", "carol", "erin"])
}

fn append(path: &Path, lines: &[&str]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    f.sync_all().unwrap();
}

/// alice's `search` grant (auto-approved: she is on call) for `secs`.
async fn search_grant(alice: &Connection, secs: u64) -> String {
    grant_at_once(
        alice,
        ask("search", secs),
        "search is approved at once for whoever is on call",
    )
    .await
}

/// alice's `payments` grant, approved by bob.
async fn payments_grant(gw: &Gateway, alice: &Connection) {
    let mut reply = alice.call(ask("payments", 600)).await.unwrap();
    let request: breakglass::protocol::AccessRequest = reply.take("request").unwrap();
    gw.connect("bob")
        .await
        .call(Op::RequestApprove {
            request_id: request.id,
            comment: None,
            totp: None,
        })
        .await
        .unwrap();
}

async fn subscribe(
    conn: &Connection,
    service: &str,
    filter: Option<LogFilter>,
    since_s: Option<u64>,
) -> Result<String, breakglass::client::ClientError> {
    let mut reply = conn
        .call(Op::LogsSubscribe {
            service: service.into(),
            filter,
            since_s,
        })
        .await?;
    Ok(reply.take("sub_id").unwrap())
}

/// Lines of `sub_id` until `want` have arrived (or 10 s pass).
async fn lines_until(conn: &mut Connection, sub_id: &str, want: usize) -> Vec<LogLine> {
    let mut got = Vec::new();
    while got.len() < want {
        let batch = lines_within(conn, sub_id, Duration::from_secs(10)).await;
        if batch.is_empty() {
            break;
        }
        got.extend(batch);
    }
    got
}

/// The next batch of lines of `sub_id`; none if `limit` passes first.
async fn lines_within(conn: &mut Connection, sub_id: &str, limit: Duration) -> Vec<LogLine> {
    let e = event_where(
        conn,
        limit,
        |e| matches!(&e.event, Event::LogsLines { sub_id: s, .. } if s == sub_id),
    )
    .await;
    match e.map(|e| e.event) {
        Some(Event::LogsLines { lines, .. }) => lines,
        _ => Vec::new(),
    }
}

/// Every event of the stream up to and including its `logs.closed`.
async fn until_closed(conn: &mut Connection, sub_id: &str) -> (Vec<LogLine>, Option<CloseReason>) {
    let mut lines = Vec::new();
    loop {
        let e = event_where(conn, Duration::from_secs(15), |e| match &e.event {
            Event::LogsLines { sub_id: s, .. } | Event::LogsClosed { sub_id: s, .. } => s == sub_id,
            _ => false,
        })
        .await;
        match e.map(|e| e.event) {
            Some(Event::LogsLines { lines: l, .. }) => lines.extend(l),
            Some(Event::LogsClosed { reason, .. }) => return (lines, Some(reason)),
            _ => return (lines, None),
        }
    }
}

async fn my_audit(conn: &Connection, action: &str) -> Vec<AuditEntry> {
    audit(conn, None)
        .await
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

fn log_file(dir: &Path) -> PathBuf {
    dir.join("search").join("search.log")
}

#[tokio::test]
async fn a_granted_stream_gets_new_lines_redacted_with_levels_and_is_closed_at_expiry() {
    let tmp = tempfile::tempdir().unwrap();
    let gw = gateway_with_sources(tmp.path(), "sleep 60");
    let file = log_file(tmp.path());
    append(
        &file,
        &["2026-01-01T00:00:00Z INFO old line, before anyone subscribed"],
    );
    let mut alice = gw.connect("alice").await;
    let grant_id = search_grant(&alice, 4).await;
    // The reply comes once the reader has the file open: what is written
    // from now on is new, what was there is history this stream never gets.
    let sub = subscribe(&alice, "search", None, None).await.unwrap();
    append(
        &file,
        &[
            "level=error msg=\"charge failed\" customer=jane.doe@example.com card=\"4111 1111 1111 1111\"",
            "[WARN] retrying with Authorization: Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0ffeeddcc",
            "plain continuation line",
        ],
    );
    let lines = lines_until(&mut alice, &sub, 3).await;
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(
        lines.len(),
        3,
        "the three new lines, not the old one: {texts:?}"
    );
    assert!(
        texts[0].contains("[REDACTED:email]") && texts[0].contains("[REDACTED:card]"),
        "{texts:?}"
    );
    assert!(
        !texts[0].contains("jane.doe") && !texts[0].contains("4111"),
        "{texts:?}"
    );
    assert!(!texts[1].contains("9f8e7d6c5b4a"), "{texts:?}");
    let levels: Vec<&str> = lines.iter().map(|l| l.level.as_str()).collect();
    assert_eq!(levels, ["error", "warn", "unknown"]);

    let (after, reason) = until_closed(&mut alice, &sub).await;
    assert_eq!(reason, Some(CloseReason::GrantExpired));
    assert!(
        after.is_empty(),
        "nothing was written, nothing came: {after:?}"
    );
    // Later use is forbidden.
    append(&file, &["after expiry"]);
    let err = subscribe(&alice, "search", None, None).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}");
    let grants = list_grants(&alice, false).await;
    assert!(
        grants
            .iter()
            .any(|g| g.id == grant_id && g.state == GrantState::Expired)
    );
}

#[tokio::test]
async fn without_a_grant_a_subscription_is_forbidden_and_the_attempt_is_in_the_trail() {
    let tmp = tempfile::tempdir().unwrap();
    let gw = gateway_with_sources(tmp.path(), "sleep 60");
    let erin = gw.connect("erin").await;
    let err = subscribe(&erin, "search", None, None).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}");
    assert!(
        err.to_string().contains("breakglass request search"),
        "{err}"
    );
    let err = subscribe(&erin, "nosuch", None, None).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound), "{err}");
    let refused = my_audit(&erin, "logs.subscribe.refused").await;
    let mut targets: Vec<&str> = refused.iter().map(|e| e.target.as_str()).collect();
    targets.sort();
    assert_eq!(targets, ["nosuch", "search"], "{refused:?}");
}

#[tokio::test]
async fn since_s_replays_recent_history_and_a_filter_sees_only_redacted_text() {
    let tmp = tempfile::tempdir().unwrap();
    let file = log_file(tmp.path());
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let now = chrono::Utc::now();
    let at = |ago: i64| (now - chrono::Duration::seconds(ago)).format("%Y-%m-%dT%H:%M:%S%.3fZ");
    append(
        &file,
        &[
            &format!("{} INFO two hours ago", at(7200)),
            &format!("{} ERROR ten minutes ago password=hunter2", at(600)),
            &format!("{} INFO one minute ago", at(60)),
        ],
    );
    let gw = gateway_with_sources(tmp.path(), "sleep 60");
    let mut alice = gw.connect("alice").await;
    search_grant(&alice, 600).await;
    let all = subscribe(&alice, "search", None, Some(900)).await.unwrap();
    let lines = lines_until(&mut alice, &all, 2).await;
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts[0].contains("ten minutes ago password=[REDACTED:secret]"),
        "{texts:?}"
    );
    assert!(texts[1].contains("one minute ago"), "{texts:?}");

    // A filter cannot be used to probe a secret: it sees redacted text.
    let probe = LogFilter {
        pattern: "hunter2".into(),
        regex: false,
    };
    let by_secret = subscribe(&alice, "search", Some(probe), Some(900))
        .await
        .unwrap();
    let wanted = LogFilter {
        pattern: "minutes? ago".into(),
        regex: true,
    };
    let by_regex = subscribe(&alice, "search", Some(wanted), Some(900))
        .await
        .unwrap();
    let lines = lines_until(&mut alice, &by_regex, 2).await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    append(&file, &["live line hunter2 one minute ago"]);
    let probed = lines_until(&mut alice, &by_secret, 1).await;
    assert_eq!(
        probed.len(),
        1,
        "only the live line with the literal text: {probed:?}"
    );
    assert!(probed[0].text.starts_with("live line"), "{probed:?}");
    alice
        .call(Op::LogsUnsubscribe {
            sub_id: by_secret.clone(),
        })
        .await
        .unwrap();
    let (after, reason) = until_closed(&mut alice, &by_secret).await;
    assert_eq!(reason, Some(CloseReason::Unsubscribed));
    assert!(after.is_empty(), "{after:?}");
    let subs = my_audit(&alice, "logs.subscribe").await;
    assert_eq!(subs.len(), 3);
    assert!(
        subs.iter()
            .any(|e| e.detail["filter"]["pattern"] == "hunter2"),
        "filters are audited as queries: {subs:?}"
    );
    let unsubs = my_audit(&alice, "logs.unsubscribe").await;
    assert_eq!(unsubs[0].detail["lines_sent"], 1);

    let bad = LogFilter {
        pattern: "([".into(),
        regex: true,
    };
    let err = subscribe(&alice, "search", Some(bad), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::BadRequest), "{err}");
}

#[tokio::test]
async fn a_revoked_grant_closes_its_stream_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let gw = gateway_with_sources(tmp.path(), "sleep 60");
    let mut alice = gw.connect("alice").await;
    let carol = gw.connect("carol").await;
    let grant_id = search_grant(&alice, 600).await;
    let sub = subscribe(&alice, "search", None, None).await.unwrap();
    revoke(&carol, &grant_id, "incident over").await;
    let (_, reason) = until_closed(&mut alice, &sub).await;
    assert_eq!(reason, Some(CloseReason::GrantRevoked));
    // And no new stream on it.
    let err = subscribe(&alice, "search", None, None).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}");
}

/// The pids the command source's script wrote to `pidfile`, its shell's
/// first.
fn pids(pidfile: &Path) -> Vec<i32> {
    std::fs::read_to_string(pidfile)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[tokio::test]
async fn a_command_source_streams_its_stdout_and_its_process_group_dies_with_the_last_subscriber() {
    let tmp = tempfile::tempdir().unwrap();
    let pidfile = tmp.path().join("pids");
    // The shell and each `sleep` it starts share the process group the
    // gateway made; all must be gone after the last subscriber leaves.
    let script = format!(
        "echo $$ >> {p}; i=0; while true; do i=$((i+1)); echo \"tick $i token=abc123secret\"; sleep 0.05 & echo $! >> {p}; wait; done",
        p = pidfile.display()
    );
    let gw = gateway_with_sources(tmp.path(), &script);
    let mut alice = gw.connect("alice").await;
    payments_grant(&gw, &alice).await;
    let sub = subscribe(&alice, "payments", None, None).await.unwrap();
    let lines = lines_until(&mut alice, &sub, 5).await;
    assert!(lines.len() >= 5, "{lines:?}");
    assert!(lines[0].text.starts_with("tick "), "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|l| l.text.ends_with("token=[REDACTED:secret]")),
        "{lines:?}"
    );
    let shell = pids(&pidfile)[0];
    assert!(alive(shell), "the command runs while someone listens");
    alice
        .call(Op::LogsUnsubscribe {
            sub_id: sub.clone(),
        })
        .await
        .unwrap();
    let (_, reason) = until_closed(&mut alice, &sub).await;
    assert_eq!(reason, Some(CloseReason::Unsubscribed));
    let mut gone = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if pids(&pidfile).iter().all(|&p| !alive(p)) {
            gone = true;
            break;
        }
    }
    assert!(
        gone,
        "the command and its children outlived the last subscriber"
    );
}

#[tokio::test]
async fn a_command_that_exits_is_restarted_and_subscribers_are_told() {
    let tmp = tempfile::tempdir().unwrap();
    let gw = gateway_with_sources(tmp.path(), "echo run; exit 3");
    let mut alice = gw.connect("alice").await;
    payments_grant(&gw, &alice).await;
    let sub = subscribe(&alice, "payments", None, None).await.unwrap();
    // run, notice, (1 s) run, notice
    let lines = lines_until(&mut alice, &sub, 4).await;
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts[0], "run", "{texts:?}");
    assert!(
        texts[1].contains("exited") && texts[1].contains("restarting"),
        "{texts:?}"
    );
    assert_eq!(lines[1].level, "warn");
    assert_eq!(texts[2], "run", "restarted: {texts:?}");
}

#[tokio::test]
async fn breakglass_logs_prints_recent_redacted_lines_for_scripts_and_says_why_it_cannot() {
    let tmp = tempfile::tempdir().unwrap();
    let file = log_file(tmp.path());
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
    append(
        &file,
        &[
            &format!("{now} ERROR payment failed for jane@example.com"),
            &format!("{now} INFO all good"),
        ],
    );
    let gw = gateway_with_sources(tmp.path(), "sleep 60");
    let (code, _, err) = gw.cli("alice", &["logs", "search"]);
    assert_eq!(code, 3, "no grant yet: {err}");
    assert!(err.contains("breakglass request search"), "{err}");
    let alice = gw.connect("alice").await;
    search_grant(&alice, 600).await;

    let (code, out, err) = gw.cli("alice", &["logs", "search", "--since", "10m"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].ends_with("payment failed for [REDACTED:email]"),
        "{out}"
    );

    let (code, out, err) = gw.cli("alice", &["logs", "search", "--grep", "ERR(OR)?", "--json"]);
    assert_eq!(code, 0, "{err}");
    let docs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 1, "{out}");
    assert_eq!(docs[0]["level"], "error");

    let (code, _, err) = gw.cli("alice", &["logs", "nosuch"]);
    assert_eq!(code, 4, "{err}");
}

#[test]
fn breakglass_redact_runs_the_gateway_redactor_over_stdin_with_a_service_s_settings() {
    use std::process::{Command, Stdio};
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n[services.payments.redact]\ndisabled = [\"email\"]\nextra = [{{ name = \"customer\", regex = 'cus_[0-9a-zA-Z]{{8}}' }}]\n",
            include_str!("../../assets/dev-policy.toml")
        ),
    )
    .unwrap();
    let run = |args: &[&str], input: &str| {
        let mut child = Command::new(crate::support::BIN)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let line = "cus_AbCd1234 jane@example.com card 4111-1111-1111-1111\n";
    let (code, out, _) = run(&["redact"], line);
    assert_eq!(code, 0);
    assert_eq!(out, "cus_AbCd1234 [REDACTED:email] card [REDACTED:card]\n");
    let cfg = config.to_str().unwrap();
    let (code, out, err) = run(&["redact", "--config", cfg, "--service", "payments"], line);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "[REDACTED:customer] jane@example.com card [REDACTED:card]\n"
    );
    let (code, _, err) = run(&["redact", "--config", cfg, "--service", "nosuch"], line);
    assert_eq!(code, 4);
    assert!(err.contains("payments"), "names the services it has: {err}");
}

#[tokio::test]
async fn the_dev_gateway_streams_the_simulated_services_logs_redacted_until_the_grant_ends() {
    let gw = Gateway::dev();
    let mut alice = gw.connect("alice").await;
    search_grant(&alice, 6).await;
    let sub = subscribe(&alice, "search", None, Some(300)).await.unwrap();
    let (lines, reason) = until_closed(&mut alice, &sub).await;
    assert_eq!(reason, Some(CloseReason::GrantExpired));
    assert!(
        lines.len() > 50,
        "two minutes of history and more: {}",
        lines.len()
    );
    let redacted = lines
        .iter()
        .filter(|l| l.text.contains("[REDACTED:"))
        .count();
    assert!(redacted > 0, "the simulated logs carry secrets");
    for l in &lines {
        for leak in [
            "eyJ",
            "Bearer ",
            "4111 1111",
            "@example.",
            "sk_live_",
            "password=",
        ] {
            let rest = l.text.split(leak).nth(1);
            assert!(
                rest.is_none_or(|r| r.starts_with("[REDACTED:")),
                "`{leak}` unredacted in {:?}",
                l.text
            );
        }
    }
    let levels: std::collections::BTreeSet<&str> = lines.iter().map(|l| l.level.as_str()).collect();
    assert!(
        levels.contains("info") && levels.contains("unknown"),
        "{levels:?}"
    );
}
