//! The console's figures (DESIGN.md section 8, issue 3):
//!
//! 1. render time of a full frame with 50 grants, 200 queue items and 200
//!    audit entries (median and p99), per pane, on ratatui's TestBackend;
//! 2. idle CPU and RSS of the real console over 30 s with 3 grants counting
//!    down, running in tmux against a real dev gateway;
//! 3. time from starting `breakglass demo` to its first complete frame.
//!
//! Run with `cargo bench --bench console`. Parts 2 and 3 need tmux.

#[path = "support/mod.rs"]
mod support;

use support::{percentile, rss_kib, signed_in};

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use breakglass::console::app::{App, Tab};
use breakglass::console::theme::Theme;
use breakglass::console::views;
use breakglass::protocol::{
    AccessRequest, AuditEntry, Capability, Grant, GrantState, RequestState,
};
use chrono::{DateTime, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const BIN: &str = env!("CARGO_BIN_EXE_breakglass");

fn t0() -> DateTime<Utc> {
    Utc::now()
}

fn request(i: usize, now: DateTime<Utc>) -> AccessRequest {
    AccessRequest {
        id: format!("req-{i:012x}"),
        requester: format!("eng{:02}", i % 40),
        service: ["payments", "checkout", "search"][i % 3].into(),
        capabilities: vec![Capability::LogsRead, Capability::MetricsRead],
        duration_s: 1800,
        reason: format!(
            "INC-{} elevated 5xx on the card path since 02:40, checking timeouts",
            1000 + i
        ),
        ticket: Some(format!("INC-{}", 1000 + i)),
        break_glass: false,
        extends: None,
        state: RequestState::Pending,
        approvals: vec![],
        approvals_required: 1 + (i % 2) as u32,
        denied_by: None,
        deny_reason: None,
        created_at: now - chrono::Duration::seconds(i as i64 * 7),
        decided_at: None,
        pending_until: now + chrono::Duration::hours(24),
        grant_id: None,
        needs_review: false,
        reviewed_by: None,
        review_comment: None,
    }
}

fn grant(i: usize, holder: &str, now: DateTime<Utc>) -> Grant {
    Grant {
        id: format!("grt-{i:012x}"),
        request_id: format!("req-{i:012x}"),
        user: holder.into(),
        service: ["payments", "checkout", "search"][i % 3].into(),
        capabilities: vec![Capability::LogsRead],
        starts_at: now - chrono::Duration::minutes(5),
        expires_at: now + chrono::Duration::seconds(30 + i as i64 * 40),
        state: GrantState::Active,
        break_glass: i.is_multiple_of(10),
        revoked_by: None,
        revoke_reason: None,
        ended_at: None,
    }
}

fn audit(i: usize, now: DateTime<Utc>) -> AuditEntry {
    AuditEntry {
        seq: i as u64 + 1,
        id: format!("{i:032x}"),
        at: now - chrono::Duration::seconds(i as i64),
        actor: format!("eng{:02}", i % 40),
        origin: "gateway".into(),
        action: [
            "request.create",
            "request.approve",
            "grant.start",
            "grant.revoke",
        ][i % 4]
            .into(),
        target: format!("req-{i:012x}"),
        detail: serde_json::json!({"service": "payments", "reason": "INC-1 declines", "duration_s": 1800}),
        prev_hash: "0".repeat(64),
        hash: "f".repeat(64),
    }
}

/// A lead-and-approver's console with 50 grants, 200 queue items, 200 entries.
fn loaded_app() -> App {
    let now = t0();
    let mut app = signed_in(now, "carol", &["leads"], &["approver", "lead"]);
    for i in 0..50usize {
        let holder = if i.is_multiple_of(2) {
            "carol"
        } else {
            "alice"
        };
        let g = grant(i, holder, now);
        app.grants.insert(g.id.clone(), g);
    }
    for i in 0..200 {
        let r = request(1000 + i, now);
        app.requests.insert(r.id.clone(), r);
    }
    for i in 0..200 {
        app.audit.push_back(audit(i, now));
    }
    app
}

fn render_figures() {
    println!(
        "== 1. render time of a full frame (50 grants, 200 queue items, 200 audit entries) =="
    );
    println!(
        "{:<10} {:>8} {:>10} {:>10} {:>10}",
        "pane", "size", "median", "p99", "max"
    );
    let theme = Theme::load("dark").expect("dark theme");
    let mut app = loaded_app();
    let mut all = Vec::new();
    for (w, h) in [(80u16, 24u16), (160, 45)] {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        for tab in Tab::ALL {
            app.tab = tab;
            let mut times = Vec::with_capacity(2000);
            for _ in 0..2000 {
                let started = Instant::now();
                terminal.draw(|f| views::draw(f, &app, &theme)).unwrap();
                times.push(started.elapsed());
            }
            times.sort();
            println!(
                "{:<10} {:>8} {:>10.3?} {:>10.3?} {:>10.3?}",
                tab.title(),
                format!("{w}x{h}"),
                percentile(&times, 0.5),
                percentile(&times, 0.99),
                times[times.len() - 1]
            );
            all.extend(times);
        }
    }
    all.sort();
    println!(
        "SUMMARY render, all panes and sizes: median {:.3?}, p99 {:.3?} (n={}); target median <= 2 ms: {}",
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all.len(),
        if percentile(&all, 0.5) <= Duration::from_millis(2) {
            "PASS"
        } else {
            "FAIL"
        }
    );
}

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("tmux");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn have_tmux() -> bool {
    Command::new("tmux").arg("-V").output().is_ok()
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

fn wait_screen(session: &str, needle: &str, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if tmux(&["capture-pane", "-p", "-t", session]).contains(needle) {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

fn idle_figures() {
    println!("\n== 2. idle CPU and RSS over 30 s, 3 grants counting down ==");
    let dir = tempfile::tempdir().unwrap();
    let mut gw = Command::new(BIN)
        .args([
            "gateway",
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--json",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(gw.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).unwrap();
    let url = info["url"].as_str().unwrap().to_string();
    let token = info["tokens"]["alice"].as_str().unwrap().to_string();
    for (svc, dur) in [("search", "20m"), ("search", "25m"), ("search", "30m")] {
        let st = Command::new(BIN)
            .args([
                "request",
                svc,
                "--cap",
                "logs:read",
                "--for",
                dur,
                "--reason",
                "idle bench",
            ])
            .env("BREAKGLASS_GATEWAY", &url)
            .env("BREAKGLASS_TOKEN", &token)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
    }
    let token_file = dir.path().join("alice.token");
    std::fs::write(&token_file, &token).unwrap();
    let session = "bg-bench-idle";
    tmux(&["kill-session", "-t", session]);
    let cmd = format!(
        "exec env BREAKGLASS_LOG_FILE={}/console.log {BIN} --gateway {url} --token-file {}",
        dir.path().display(),
        token_file.display()
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        session,
        "-x",
        "120",
        "-y",
        "32",
        &cmd,
    ]);
    wait_screen(session, "connected", Duration::from_secs(10)).expect("console connected");
    std::thread::sleep(Duration::from_secs(2));
    let pid = tmux(&["display-message", "-p", "-t", session, "#{pane_pid}"])
        .trim()
        .to_string();
    let hz = 100.0; // USER_HZ on Linux
    let before = cpu_ticks(&pid);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(30));
    let ticks = cpu_ticks(&pid) - before;
    let secs = started.elapsed().as_secs_f64();
    let cpu = ticks as f64 / hz / secs * 100.0;
    let rss = rss_kib(&pid);
    println!("console pid {pid}: {ticks} ticks of CPU in {secs:.1} s");
    println!(
        "SUMMARY idle CPU with 3 countdowns: {cpu:.2} % of a core over {secs:.0} s (target < 0.5 %: {}); RSS {:.1} MiB",
        if cpu < 0.5 { "PASS" } else { "FAIL" },
        rss as f64 / 1024.0
    );
    tmux(&["kill-session", "-t", session]);
    let _ = gw.kill();
    let _ = gw.wait();
}

fn first_frame_figures() {
    println!("\n== 3. `breakglass demo` to the first complete frame ==");
    let mut times = Vec::new();
    for i in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let session = format!("bg-bench-demo-{i}");
        let cmd = format!(
            "exec env BREAKGLASS_LOG_FILE={0}/console.log {BIN} demo --data-dir {0}",
            dir.path().display()
        );
        let started = Instant::now();
        tmux(&[
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            "120",
            "-y",
            "32",
            &cmd,
        ]);
        // Complete: connected, and alice's grant drawn with its countdown.
        let took = wait_screen(&session, "running", Duration::from_secs(10))
            .and_then(|_| wait_screen(&session, "connected", Duration::from_secs(10)))
            .map(|_| started.elapsed());
        tmux(&["kill-session", "-t", &session]);
        match took {
            Some(t) => times.push(t),
            None => println!("run {i}: no complete frame within 10 s"),
        }
    }
    if times.is_empty() {
        return;
    }
    times.sort();
    println!("runs: {times:.0?}");
    println!(
        "SUMMARY demo to first complete frame: median {:.0?}, max {:.0?} (target <= 1 s: {})",
        percentile(&times, 0.5),
        times[times.len() - 1],
        if percentile(&times, 0.5) <= Duration::from_secs(1) {
            "PASS"
        } else {
            "FAIL"
        }
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    println!(
        "machine: nproc {}, commit {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    );
    render_figures();
    if have_tmux() {
        idle_figures();
        first_frame_figures();
    } else {
        println!(
            "\ntmux is missing: idle CPU and first-frame figures skipped (apt-get install tmux)"
        );
    }
}
