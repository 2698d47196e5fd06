//! The audit trail's figures (issue 6):
//!
//! 1. local journal appends per second with fsync, beside a bare
//!    `write + fdatasync` loop of the same bytes (the floor);
//! 2. the gateway's `audit.record` round trip, p50/p99 (in-process gateway,
//!    SQLite durable);
//! 3. `audit verify` speed on a 1,000,000-entry journal (target ≥ 500,000
//!    entries/s), reading the file as `breakglass audit verify FILE` does.
//!
//! Run with `cargo bench --bench audit`.

#[path = "support/mod.rs"]
mod support;

use support::{
    dev_policy_without_rate_limits, gateway_config, percentile, start_gateway, token_for,
};

use std::io::Write;
use std::time::Instant;

use breakglass::audit::chain::{Draft, GENESIS_HASH, seal};
use breakglass::audit::journal::{self, Journal};
use breakglass::audit::report;
use breakglass::client::Connection;
use breakglass::protocol::{ClientFrame, Op, ts};
use serde_json::json;

fn appends() {
    println!("== 1. local journal appends with fsync ==");
    let dir = tempfile::tempdir_in(".").unwrap_or_else(|_| tempfile::tempdir().unwrap());
    let mut j = Journal::open(dir.path(), "alice", "bench:local").unwrap();
    let n = 2000;
    let started = Instant::now();
    let mut bytes = 0usize;
    for i in 0..n {
        let e = j
            .append(
                "logs.search",
                "payments",
                json!({"pattern": "timeout", "lines": i, "service": "payments"}),
                ts::now(),
            )
            .unwrap();
        bytes += serde_json::to_string(&e).unwrap().len() + 1;
    }
    let journal_rate = n as f64 / started.elapsed().as_secs_f64();
    let line = vec![b'x'; bytes / n];
    let path = dir.path().join("floor.bin");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    let started = Instant::now();
    for _ in 0..n {
        f.write_all(&line).unwrap();
        f.sync_data().unwrap();
    }
    let floor_rate = n as f64 / started.elapsed().as_secs_f64();
    println!(
        "SUMMARY journal appends: {journal_rate:.0}/s with fsync ({} bytes each); bare write+fdatasync floor {floor_rate:.0}/s; ratio {:.2}",
        bytes / n,
        journal_rate / floor_rate
    );
}

async fn record_latency() {
    println!("\n== 2. gateway audit.record round trip ==");
    let dir = tempfile::tempdir().unwrap();
    let cfg = gateway_config(&dev_policy_without_rate_limits(), dir.path());
    let running = start_gateway(cfg).await;
    let token = token_for(&running, "alice").await;
    let conn = Connection::connect(&running.ws_url(), &token)
        .await
        .unwrap();
    let mut prev = GENESIS_HASH.to_string();
    let mut times = Vec::new();
    for i in 0..3000u64 {
        let e = seal(
            Draft::new(
                "alice",
                "console:bench",
                "logs.copy",
                "payments",
                json!({"lines": i}),
                ts::now(),
            ),
            i + 1,
            &prev,
        );
        prev = e.hash.clone();
        let frame = ClientFrame {
            id: e.id.clone(),
            op: Op::AuditRecord { entry: Box::new(e) },
        };
        let started = Instant::now();
        conn.call_frame(frame).await.unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "SUMMARY audit.record round trip (1 client, durable SQLite): p50 {:.2?}, p99 {:.2?}, max {:.2?} (n={})",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times[times.len() - 1],
        times.len()
    );
    running.stop().await;
}

fn verify_speed() {
    println!("\n== 3. audit verify on a 1,000,000-entry journal ==");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut prev = GENESIS_HASH.to_string();
    let t0 = ts::now();
    for i in 0..1_000_000u64 {
        let e = seal(
            Draft::new(
                "alice",
                "console:bench",
                ["logs.search", "logs.copy", "metrics.query"][(i % 3) as usize],
                "payments",
                json!({"pattern": "timeout", "lines": i % 500, "service": "payments"}),
                t0 + chrono::Duration::milliseconds(i as i64),
            ),
            i + 1,
            &prev,
        );
        prev = e.hash.clone();
        serde_json::to_writer(&mut out, &e).unwrap();
        out.write_all(b"\n").unwrap();
    }
    out.flush().unwrap();
    drop(out);
    let size = std::fs::metadata(&path).unwrap().len();
    // What `breakglass audit verify FILE` does: read, hash and link-check
    // as the file streams past.
    let started = Instant::now();
    let mut check = report::TrailCheck::new(false, &[], None, &[]);
    let torn = journal::scan_links(&path, |l| check.push(l)).unwrap();
    let v = check.finish();
    let total = started.elapsed();
    assert!(v.intact() && !torn, "{}", v.summary());
    let rate = v.entries as f64 / total.as_secs_f64();
    println!("file {:.0} MB", size as f64 / 1e6);
    println!(
        "SUMMARY audit verify: {rate:.0} entries/s over {} entries ({:.2?} total); target >= 500000/s: {}",
        v.entries,
        total,
        if rate >= 500_000.0 { "PASS" } else { "FAIL" }
    );
}

fn main() {
    appends();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(record_latency());
    verify_speed();
}
