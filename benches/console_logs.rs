//! The Logs pane's figures (DESIGN.md section 8):
//!
//! 1. render time of a full 160x45 frame of the Logs pane with 200,000
//!    realistic 120-byte lines buffered (median and p99), following, paused
//!    in the middle with a search, filtered to WARN+ and wrapped, two
//!    streams interleaved, on ratatui's TestBackend (target: median
//!    <= 2 ms);
//! 2. the process's RSS with those 200,000 lines held (target <= 64 MiB);
//! 3. how fast `update` takes `logs.lines` batches into the buffer (no
//!    target here: the end-to-end figure is the gateway bench's).
//!
//! Run with `cargo bench --bench console_logs`.

#[path = "support/mod.rs"]
mod support;

use support::{percentile, print_frames, print_frames_header, rss_kib, signed_in, time_frames};

use std::time::{Duration, Instant};

use breakglass::console::app::{App, Link, Msg, NetMsg, Tab};
use breakglass::console::logs::{LevelFilter, LogsState, StreamState};
use breakglass::console::theme::Theme;
use breakglass::console::update::update;
use breakglass::console::views;
use breakglass::protocol::{Capability, Event, Grant, GrantState, LogLine};
use chrono::{DateTime, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const LINES: usize = 200_000;
const FRAMES: usize = 2_000;

/// A 120-byte line as services write them (before the gateway's level
/// and timestamp parsing): requests, retries, errors with redacted
/// secrets, stack frames, debug noise.
fn text(i: usize) -> (&'static str, String) {
    let (level, mut s) = match i % 20 {
        0..=9 => (
            "info",
            format!(
                "POST /v1/charges 200 {}ms customer=cus_{:06x} email=[REDACTED:email] amount={} EUR trace={:016x}",
                100 + i % 400,
                i,
                1000 + i % 9000,
                i.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ),
        ),
        10..=13 => (
            "debug",
            format!(
                "pool stats active={} idle={} waiting={} acquired_total={} released_total={}",
                i % 16,
                i % 7,
                i % 3,
                i * 3,
                i * 3 - i % 5
            ),
        ),
        14..=16 => (
            "warn",
            format!(
                "retrying call to bank-gw (attempt {}/3): upstream timeout after 2000ms request_id={:016x}",
                1 + i % 3,
                i.wrapping_mul(0x2545_f491_4f6c_dd1d)
            ),
        ),
        17 => (
            "error",
            format!(
                "charge ch_{i:08} failed: card_declined (issuer: do_not_honor) card=[REDACTED:card] auth=Bearer [REDACTED:token]"
            ),
        ),
        _ => (
            "unknown",
            format!(
                "    at com.example.payments.BankClient.charge(BankClient.java:{}) in worker-{}",
                200 + i % 50,
                i % 32
            ),
        ),
    };
    // Exactly 120 bytes: pad or cut (all ASCII).
    while s.len() < 120 {
        s.push_str(" ok");
    }
    s.truncate(120);
    (level, s)
}

fn lines(from: usize, n: usize, t0: DateTime<Utc>) -> Vec<LogLine> {
    (from..from + n)
        .map(|i| {
            let (level, text) = text(i);
            LogLine {
                ts: t0 + chrono::Duration::milliseconds(i as i64),
                level: level.into(),
                text,
            }
        })
        .collect()
}

/// alice on the Logs pane with a live logs grant on payments and checkout.
fn app(now: DateTime<Utc>) -> App {
    let mut app = signed_in(now, "alice", &["oncall"], &["engineer"]);
    app.link = Link::Connected { rtt_ms: Some(3) };
    for (i, service) in ["payments", "checkout"].into_iter().enumerate() {
        let g = Grant {
            id: format!("grt-{i}"),
            request_id: format!("req-{i}"),
            user: "alice".into(),
            service: service.into(),
            capabilities: vec![Capability::LogsRead],
            starts_at: now - chrono::Duration::minutes(5),
            expires_at: now + chrono::Duration::minutes(25),
            state: GrantState::Active,
            break_glass: false,
            revoked_by: None,
            revoke_reason: None,
            ended_at: None,
        };
        app.grants.insert(g.id.clone(), g);
    }
    app.tab = Tab::Logs;
    app.size = (160, 45);
    app.logs = LogsState::new(LINES);
    app.logs.auto_started = true;
    for (i, service) in ["payments", "checkout"].into_iter().enumerate() {
        let si = app.logs.ensure_stream(service);
        app.logs.streams[si].state = StreamState::Live {
            sub_id: format!("sub-{i}"),
        };
    }
    app
}

fn main() {
    println!(
        "machine: nproc {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let rss_start = rss_kib("self");
    let now = Utc::now();
    let t0 = now - chrono::Duration::milliseconds(LINES as i64);
    let mut app = app(now);

    // 3. ingest through `update`, as the network task delivers them:
    // batches of 500 lines, alternating between the two streams.
    println!("\n== 3. logs.lines into the buffer, through update() ==");
    let batch = 500;
    let started = Instant::now();
    let mut from = 0;
    while from < LINES {
        let sub = if (from / batch) % 4 == 3 {
            "sub-1"
        } else {
            "sub-0"
        };
        let event = Event::LogsLines {
            sub_id: sub.into(),
            lines: lines(from, batch, t0),
            dropped: None,
        };
        update(&mut app, Msg::Net(NetMsg::Event(Box::new(event))));
        from += batch;
    }
    let took = started.elapsed();
    println!(
        "{} lines in {:.1?} (line generation included): {:.0} lines/s",
        LINES,
        took,
        LINES as f64 / took.as_secs_f64()
    );
    assert_eq!(app.logs.len(), LINES);

    // 2. memory with the buffer full.
    let rss = rss_kib("self");
    println!("\n== 2. RSS with {LINES} lines of 120 bytes buffered ==");
    println!(
        "RSS {:.1} MiB (at start {:.1} MiB)",
        rss as f64 / 1024.0,
        rss_start as f64 / 1024.0
    );

    // 1. frames.
    println!("\n== 1. render time of a full 160x45 frame, {LINES} lines buffered ==");
    print_frames_header();
    let theme = Theme::load("dark").expect("dark theme");
    let mut terminal = Terminal::new(TestBackend::new(160, 45)).unwrap();
    let g = views::logs_geometry(&app);
    type Setup = fn(&mut App, views_geometry: breakglass::console::logs::Geometry);
    let states: [(&str, Setup); 4] = [
        ("following, all levels", |_, _| {}),
        ("paused mid-buffer, search active", |app, g| {
            app.logs.set_search("timeout");
            let mid = app.logs.end() - (LINES as u64) / 2;
            app.logs.select(mid, g);
        }),
        ("WARN+, wrapped, search active", |app, g| {
            app.logs.wrap = true;
            app.logs.set_filter(LevelFilter::WarnUp, g);
            app.logs.resume_follow();
        }),
        ("ERROR+, paused at the oldest", |app, g| {
            app.logs.wrap = false;
            app.logs.set_filter(LevelFilter::ErrorUp, g);
            app.logs.to_top(g);
        }),
    ];
    let mut all = Vec::new();
    for (name, setup) in states {
        setup(&mut app, g);
        // A line arriving between frames is the same work: the window is
        // recomputed every frame.
        let times = time_frames(&mut terminal, &app, &theme, FRAMES);
        print_frames(name, &times);
        all.extend(times);
    }
    all.sort();
    let median = percentile(&all, 0.5);
    let rss_mib = rss as f64 / 1024.0;
    println!(
        "SUMMARY logs pane, {LINES} lines of 120 bytes: render median {:.3?}, p99 {:.3?} at 160x45 (target median <= 2 ms: {}); RSS {:.1} MiB (target <= 64 MiB: {})",
        median,
        percentile(&all, 0.99),
        if median <= Duration::from_millis(2) {
            "PASS"
        } else {
            "FAIL"
        },
        rss_mib,
        if rss_mib <= 64.0 { "PASS" } else { "FAIL" }
    );
}
