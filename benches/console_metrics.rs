//! The Metrics pane's figure (DESIGN.md section 8): render time of a full
//! 160x45 frame of the Metrics pane on ratatui's TestBackend (median and
//! p99, target: median <= 2 ms), with 8 charts of 300 points each, every
//! chart with warn and critical levels (some crossed), my grant's start
//! and end marked on the time axis, and the overview row of a second
//! granted service; in the grid, with one chart enlarged, and greyed once
//! the grant ended.
//!
//! Run with `cargo bench --bench console_metrics`.

#[path = "support/mod.rs"]
mod support;

use support::{percentile, print_frames, print_frames_header, signed_in, time_frames};

use std::time::Duration;

use breakglass::console::app::{App, Link, Tab};
use breakglass::console::metrics::{Charts, Overview, Range};
use breakglass::console::theme::Theme;
use breakglass::console::views;
use breakglass::protocol::{Capability, Grant, GrantState, Series};
use chrono::{DateTime, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const CHARTS: usize = 8;
const POINTS: usize = 300;
const FRAMES: usize = 2_000;

/// 300 points over the 15 minutes to `now` (one every 3 s), shaped like
/// an incident: calm, a spike a third of the way in, a burst at the end.
fn points(k: usize, now: DateTime<Utc>) -> Vec<(i64, f64)> {
    let end = now.timestamp_millis();
    let start = end - 900_000;
    (0..POINTS)
        .map(|i| {
            let t = start + (i as i64 + 1) * 3_000;
            let x = i as f64;
            let wobble = (x * 0.37 + k as f64).sin() + 0.4 * (x * 1.9).cos();
            let spike = if (100..130).contains(&i) { 8.0 } else { 0.0 };
            let burst = if i > 250 { 4.0 } else { 0.0 };
            (t, 10.0 + 2.0 * wobble + spike + burst)
        })
        .collect()
}

/// The gateway's charts for a service: levels on every chart, the
/// newest value ok, at warn or critical in turn.
fn series(now: DateTime<Utc>) -> Vec<Series> {
    let names = [
        ("rps", "req/s"),
        ("error_ratio", "%"),
        ("latency_p50", "ms"),
        ("latency_p99", "ms"),
        ("memory", "bytes"),
        ("cpu", "%"),
        ("queue_depth", ""),
        ("gc_pause", "ms"),
    ];
    (0..CHARTS)
        .map(|k| {
            let (name, unit) = names[k % names.len()];
            Series {
                name: name.into(),
                unit: unit.into(),
                points: points(k, now),
                warn: Some([20.0, 12.0, 15.0][k % 3]),
                critical: Some([30.0, 16.0, 25.0][k % 3]),
            }
        })
        .collect()
}

fn grant(id: &str, service: &str, from_min: i64, to_min: i64, now: DateTime<Utc>) -> Grant {
    Grant {
        id: id.into(),
        request_id: format!("req-{id}"),
        user: "alice".into(),
        service: service.into(),
        capabilities: vec![Capability::LogsRead, Capability::MetricsRead],
        starts_at: now + chrono::Duration::minutes(from_min),
        expires_at: now + chrono::Duration::minutes(to_min),
        state: GrantState::Active,
        break_glass: false,
        revoked_by: None,
        revoke_reason: None,
        ended_at: None,
    }
}

/// alice on the Metrics pane at 160x45, charting payments: a grant since
/// 10 minutes ago (and one before it, revoked), a second service
/// (ledger) in the overview.
fn app(now: DateTime<Utc>) -> App {
    let mut app = signed_in(now, "alice", &["oncall"], &["engineer"]);
    app.link = Link::Connected { rtt_ms: Some(3) };
    let mut revoked = grant("grt-0", "payments", -14, 20, now);
    revoked.state = GrantState::Revoked;
    revoked.ended_at = Some(now - chrono::Duration::minutes(12));
    for g in [
        revoked,
        grant("grt-1", "payments", -10, 20, now),
        grant("grt-2", "ledger", -5, 25, now),
    ] {
        app.grants.insert(g.id.clone(), g);
    }
    app.tab = Tab::Metrics;
    app.size = (160, 45);
    let m = &mut app.metrics;
    m.service = Some("payments".into());
    m.attempted = Some(("payments".into(), Range::M15));
    // Nothing due during the run: the frames are all that is timed.
    m.next_due = Some(now + chrono::Duration::hours(1));
    m.charts = Some(Charts {
        service: "payments".into(),
        range: Range::M15,
        step_s: 3,
        series: series(now),
        at: now,
    });
    m.overview.insert(
        "ledger".into(),
        Overview {
            charts: Some(Charts {
                service: "ledger".into(),
                range: Range::M15,
                step_s: 30,
                series: series(now),
                at: now,
            }),
            next_due: Some(now + chrono::Duration::hours(1)),
            ..Overview::default()
        },
    );
    app
}

fn main() {
    println!(
        "machine: nproc {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let now = Utc::now();
    let mut app = app(now);
    let theme = Theme::load("dark").expect("dark theme");
    let mut terminal = Terminal::new(TestBackend::new(160, 45)).unwrap();

    println!(
        "\n== render time of a full 160x45 frame, {CHARTS} charts of {POINTS} points (levels, marks, overview) =="
    );
    print_frames_header();
    type Setup = fn(&mut App);
    let states: [(&str, Setup); 3] = [
        ("grid of 8, overview", |_| {}),
        ("one chart enlarged", |app| {
            app.metrics.focus = 3;
            app.metrics.enlarged = true;
        }),
        ("grant ended, greyed", |app| {
            app.metrics.enlarged = false;
            let now = app.local_now;
            for g in app.grants.values_mut() {
                if g.service == "payments" && g.state == GrantState::Active {
                    g.state = GrantState::Expired;
                    g.ended_at = Some(now);
                }
            }
        }),
    ];
    let mut all = Vec::new();
    for (name, setup) in states {
        setup(&mut app);
        // The frame must be the one described.
        terminal.draw(|f| views::draw(f, &app, &theme)).unwrap();
        let text = terminal.backend().to_string();
        assert!(text.contains("latency_p99"), "{text}");
        assert!(
            text.contains("■ revoked") || app.metrics.enlarged,
            "marks: {text}"
        );
        // A refresh arriving between frames is the same work: nothing is
        // cached from one frame to the next.
        let times = time_frames(&mut terminal, &app, &theme, FRAMES);
        print_frames(name, &times);
        all.extend(times);
    }
    all.sort();
    let median = percentile(&all, 0.5);
    println!(
        "SUMMARY metrics pane, {CHARTS} charts of {POINTS} points with levels, marks and the overview: render median {:.3?}, p99 {:.3?} at 160x45 (n={}; target median <= 2 ms: {})",
        median,
        percentile(&all, 0.99),
        all.len(),
        if median <= Duration::from_millis(2) {
            "PASS"
        } else {
            "FAIL"
        }
    );
}
