//! What several bench binaries share: percentiles, a seeded generator, the
//! demo policy without rate limits, the process's memory, and timing a
//! console frame. Each bench includes it with `#[path]` (not every bench
//! uses every piece).

#![allow(dead_code)]

use std::time::{Duration, Instant};

use breakglass::console::app::App;
use breakglass::console::theme::Theme;
use breakglass::console::views;
use breakglass::gateway::config::DEV_POLICY;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// The `p` quantile (0–1) of sorted durations (the sample nearest to it).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The `p`th percentile (0–100) of `v`, nearest rank; NaN when empty.
/// Sorts `v`.
pub fn percentile_of(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// SplitMix64: small, fast, and the same on every machine.
pub fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The demo policy with the per-user op limits lifted, so that a bench
/// measures the gateway and not its rate limiter.
pub fn dev_policy_without_rate_limits() -> String {
    let mut text = DEV_POLICY.to_string();
    for (from, to) in [
        ("ops_burst = 100", "ops_burst = 1000000"),
        ("ops_per_sec = 20.0", "ops_per_sec = 1000000.0"),
    ] {
        assert!(
            text.contains(from),
            "the dev policy no longer says `{from}`; update benches/support"
        );
        text = text.replace(from, to);
    }
    text
}

/// VmRSS of process `pid` (`"self"` for this one), in KiB.
pub fn rss_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `frames` draws of `app` after 20 to warm up, each timed, sorted. Every
/// frame is a new generation, so nothing cached from the frame before
/// counts.
pub fn time_frames(
    terminal: &mut Terminal<TestBackend>,
    app: &mut App,
    theme: &Theme,
    frames: usize,
) -> Vec<Duration> {
    for _ in 0..20 {
        terminal.draw(|f| views::draw(f, app, theme)).unwrap();
    }
    let mut times = Vec::with_capacity(frames);
    for i in 0..frames {
        app.generation = i as u64;
        let started = Instant::now();
        terminal.draw(|f| views::draw(f, app, theme)).unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    times
}
