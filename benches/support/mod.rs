//! What several bench binaries share: percentiles, a seeded generator,
//! tokio runtimes, an in-process gateway on the demo policy without rate
//! limits, the process's memory, and a signed-in console whose frames are
//! timed. Each bench includes it with `#[path]` (not every bench uses every
//! piece).

#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use breakglass::console::app::{App, Msg, NetMsg};
use breakglass::console::theme::Theme;
use breakglass::console::update::update;
use breakglass::console::views;
use breakglass::gateway::config::{DEV_POLICY, GatewayConfig};
use breakglass::gateway::{self, Running, auth};
use breakglass::protocol::UserInfo;
use chrono::{DateTime, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// The `p` quantile (0–1) of sorted durations (the sample nearest to it).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The `p`th percentile (0–100) of `v`, nearest rank; NaN when empty.
/// Sorts `v`.
pub fn percentile_of(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    nearest_rank(v, p)
}

/// The `p`th percentile (0–100) of `sorted`, nearest rank; NaN when empty.
pub fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
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

/// A multi-threaded runtime whose threads are named `bench-NAME` (the
/// gateway and the clients each get their own).
pub fn runtime(name: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(format!("bench-{name}"))
        .build()
        .expect("tokio runtime")
}

/// `text` as a gateway config listening on a free loopback port, with its
/// data in `data_dir`.
pub fn gateway_config(text: &str, data_dir: &Path) -> GatewayConfig {
    let mut cfg = GatewayConfig::parse(text, Path::new("bench")).expect("bench config parses");
    cfg.server.listen = "127.0.0.1:0".parse().expect("address");
    cfg.server.data_dir = data_dir.to_path_buf();
    cfg
}

/// An in-process gateway on `cfg`, its store opened.
pub async fn start_gateway(cfg: GatewayConfig) -> Running {
    let store = gateway::open_store(&cfg).await.expect("open the store");
    gateway::start(cfg, store).await.expect("start the gateway")
}

/// A token for `user`, minted and stored in `running`'s store.
pub async fn token_for(running: &Running, user: &str) -> String {
    let minted = auth::mint(user, None, "bench");
    running
        .engine
        .store
        .insert_token(minted.record)
        .await
        .expect("insert a token");
    minted.token
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

/// `name` signed in to a console (as the network task leaves it after the
/// gateway's hello), on the first screen of their roles.
pub fn signed_in(now: DateTime<Utc>, name: &str, groups: &[&str], roles: &[&str]) -> App {
    let mut app = App::new("ws://127.0.0.1:7443/v1/ws", now);
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
    update(
        &mut app,
        Msg::Net(NetMsg::Connected {
            user: UserInfo {
                name: name.into(),
                groups: strings(groups),
                roles: strings(roles),
            },
            clock_offset: chrono::Duration::zero(),
        }),
    );
    app
}

/// `frames` draws of `app` after 20 to warm up, each timed, sorted. The
/// views keep nothing from one frame to the next, so each draw is a whole
/// frame's work.
pub fn time_frames(
    terminal: &mut Terminal<TestBackend>,
    app: &App,
    theme: &Theme,
    frames: usize,
) -> Vec<Duration> {
    for _ in 0..20 {
        terminal.draw(|f| views::draw(f, app, theme)).unwrap();
    }
    let mut times = Vec::with_capacity(frames);
    for _ in 0..frames {
        let started = Instant::now();
        terminal.draw(|f| views::draw(f, app, theme)).unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    times
}

/// The header of the table [`print_frames`] writes rows of.
pub fn print_frames_header() {
    println!(
        "{:<34} {:>10} {:>10} {:>10}",
        "state", "median", "p99", "max"
    );
}

/// One row: the median, p99 and worst of `sorted` frame times.
pub fn print_frames(state: &str, sorted: &[Duration]) {
    println!(
        "{:<34} {:>10.3?} {:>10.3?} {:>10.3?}",
        state,
        percentile(sorted, 0.5),
        percentile(sorted, 0.99),
        sorted[sorted.len() - 1]
    );
}
