//! `metrics.query` figures, issue 5: `cargo bench --bench metrics`.
//!
//! A real Prometheus (Debian's `prometheus`, or $BREAKGLASS_TEST_PROMETHEUS)
//! starts with the last hour of the simulated `search` service's metrics
//! (three instances every 15 s, backfilled with the `promtool` beside it),
//! then scrapes the live simulated service every second; an
//! in-process gateway has a `prometheus` source with 4 named PromQL
//! queries for `search`. Then, 200 times each, alternating:
//!
//! * through the gateway: `metrics.query` (1 h range, 4 series, step 15 s:
//!   240 points each) over a real WebSocket, grant checked and the query
//!   audited (an fsynced append) before the answer;
//! * straight to Prometheus: the same 4 `query_range` calls with reqwest,
//!   concurrently (as the gateway makes them).
//!
//! Prints p50/p99 of both and the overhead ratio (target ≤ 1.2×).

#[path = "support/mod.rs"]
mod support;

use support::{
    dev_policy_without_rate_limits, gateway_config, percentile_of, runtime, start_gateway,
    token_for,
};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use breakglass::client::Connection;
use breakglass::gateway::config::GatewayConfig;
use breakglass::gateway::metric_sources::http_client;
use breakglass::protocol::{Capability, Op, Series};
use breakglass::sim::{Service, SimOptions, SimServices};
use futures_util::future::join_all;

const ROUNDS: usize = 200;
const RANGE_S: u64 = 3600;
const STEP_S: u64 = 15;
const QUERIES: [(&str, &str, &str); 4] = [
    ("rps", "sum(rate(http_requests_total[1m]))", "req/s"),
    (
        "error_ratio",
        "100 * sum(rate(http_requests_total{code=~\"5..\"}[1m])) / sum(rate(http_requests_total[1m]))",
        "%",
    ),
    (
        "latency_p99",
        "1000 * histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))",
        "ms",
    ),
    ("memory", "sum(process_resident_memory_bytes)", "bytes"),
];

struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let bin = std::env::var_os("BREAKGLASS_TEST_PROMETHEUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/prometheus"));
    if !bin.is_file() {
        println!(
            "SKIPPED: no Prometheus at {} (apt-get install prometheus, or set BREAKGLASS_TEST_PROMETHEUS)",
            bin.display()
        );
        return;
    }
    runtime("metrics").block_on(run(&bin));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// How much history the bench's Prometheus holds before it starts: the
/// whole range asked for, so that the 1 h query reads an hour of data as it
/// would in production (a fresh Prometheus has seconds of it).
const HISTORY_S: i64 = RANGE_S as i64;
/// Scrape interval of that history, and how many instances of `search`.
const HISTORY_STEP_S: i64 = 15;
const HISTORY_INSTANCES: u64 = 3;

/// The simulated `search` service's metrics for the last hour, three
/// instances scraped every 15 s, written into `tsdb` with promtool's
/// OpenMetrics backfill. Returns the number of samples.
fn backfill(promtool: &Path, dir: &Path) -> usize {
    use breakglass::metrics::exposition::{self, MetricKind};
    use breakglass::sim::{ServiceMetrics, Timeline};
    use std::collections::BTreeMap;
    use std::fmt::Write as _;

    let end = chrono::Utc::now().timestamp() - 30;
    let start = end - HISTORY_S;
    // family → (its OpenMetrics name and type, series → lines in time order)
    type Series = BTreeMap<String, Vec<String>>;
    let mut families: BTreeMap<String, (String, &'static str, Series)> = BTreeMap::new();
    let mut samples = 0;
    for instance in 0..HISTORY_INSTANCES {
        let mut m = ServiceMetrics::new(Service::Search, Timeline::demo(instance));
        for t in (0..=HISTORY_S).step_by(HISTORY_STEP_S as usize) {
            m.advance_to(t as f64);
            let at = start + t;
            for family in exposition::parse(&m.render()).expect("the sim's exposition parses") {
                let (name, kind) = match (family.name.as_str(), family.kind) {
                    ("http_requests_total", MetricKind::Counter) => ("http_requests", "counter"),
                    ("http_request_duration_seconds", MetricKind::Histogram) => {
                        ("http_request_duration_seconds", "histogram")
                    }
                    ("process_resident_memory_bytes", MetricKind::Gauge) => {
                        ("process_resident_memory_bytes", "gauge")
                    }
                    _ => continue,
                };
                let entry = families
                    .entry(name.to_string())
                    .or_insert_with(|| (name.to_string(), kind, Series::new()));
                for sample in &family.samples {
                    let mut labels: Vec<(String, String)> = sample
                        .labels
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    labels.push(("instance".into(), format!("search-{instance}:9100")));
                    labels.push(("job".into(), "search".into()));
                    labels.sort();
                    // One OpenMetrics "metric" is a label set without `le`;
                    // its buckets, count and sum at one time go together.
                    let series_key: String = labels
                        .iter()
                        .filter(|(k, _)| k != "le")
                        .map(|(k, v)| format!("{k}={v},"))
                        .collect();
                    let label_text = labels
                        .iter()
                        .map(|(k, v)| format!("{k}=\"{v}\""))
                        .collect::<Vec<_>>()
                        .join(",");
                    let value = exposition::format_value(sample.value);
                    let mut line = String::new();
                    let _ = writeln!(line, "{}{{{label_text}}} {value} {at}", sample.name);
                    entry.2.entry(series_key).or_default().push(line);
                    samples += 1;
                }
            }
        }
    }
    let mut text = String::new();
    for (name, kind, series) in families.values() {
        let _ = writeln!(text, "# TYPE {name} {kind}");
        for lines in series.values() {
            text.extend(lines.iter().map(String::as_str));
        }
    }
    text.push_str("# EOF\n");
    let input = dir.join("history.om");
    std::fs::write(&input, text).expect("write the history");
    let tsdb = dir.join("tsdb");
    std::fs::create_dir_all(&tsdb).expect("tsdb dir");
    let out = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&tsdb)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool backfill failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    samples
}

fn start_prometheus(bin: &Path, dir: &Path, target: SocketAddr) -> (Prometheus, SocketAddr) {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: search\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .expect("write prometheus.yml");
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={listen}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    (Prometheus(child), listen)
}

fn config(data_dir: &Path, prometheus: SocketAddr) -> GatewayConfig {
    let mut text = dev_policy_without_rate_limits();
    text.push_str(&format!(
        "\n[services.search.metrics]\nprometheus = \"http://{prometheus}\"\n[services.search.metrics.queries]\n"
    ));
    for (name, promql, unit) in QUERIES {
        text.push_str(&format!(
            "{name} = {{ promql = '{promql}', unit = \"{unit}\" }}\n"
        ));
    }
    gateway_config(&text, &data_dir.join("gateway"))
}

async fn run(bin: &Path) {
    let dir = tempfile::Builder::new()
        .prefix("breakglass-metrics-bench-")
        .tempdir()
        .expect("temporary directory");
    let sim = SimServices::start(&dir.path().join("sim"), SimOptions::default())
        .await
        .expect("simulated services");
    let promtool = bin.with_file_name("promtool");
    if promtool.is_file() {
        let samples = backfill(&promtool, dir.path());
        println!(
            "backfilled {samples} samples: {HISTORY_INSTANCES} instances of search, every {HISTORY_STEP_S} s for {} min",
            HISTORY_S / 60
        );
    } else {
        println!(
            "NOTE: no promtool beside {}: Prometheus starts empty, the 1 h query reads seconds of data",
            bin.display()
        );
    }
    let (_prometheus, listen) =
        start_prometheus(bin, dir.path(), sim.metrics_addr(Service::Search));
    let client = http_client().expect("http client");
    let base = format!("http://{listen}");
    let ready = Instant::now();
    while !client
        .get(format!("{base}/-/ready"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            ready.elapsed() < Duration::from_secs(60),
            "prometheus not ready"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Ready, it scrapes the live service every second from now on.
    let scraping = Instant::now();
    let cfg = config(dir.path(), listen);
    let running = start_gateway(cfg).await;
    let token = token_for(&running, "alice").await;
    let conn = Connection::connect(&running.ws_url(), &token)
        .await
        .expect("connect");
    conn.call(Op::RequestCreate {
        service: "search".into(),
        capabilities: vec![Capability::MetricsRead],
        duration_s: 7200,
        reason: "metrics bench".into(),
        ticket: None,
        break_glass: false,
    })
    .await
    .expect("a grant");
    // Wait until Prometheus has a rate to give.
    let started = Instant::now();
    loop {
        let series = through_gateway(&conn).await;
        if series
            .iter()
            .any(|s| s.name == "rps" && !s.points.is_empty())
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no data from prometheus"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let points: usize = through_gateway(&conn)
        .await
        .iter()
        .map(|s| s.points.len())
        .sum();
    println!(
        "4 series, {points} points in all (plus ~{} s of live scrapes)",
        scraping.elapsed().as_secs()
    );
    let (mut gw, mut direct) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        std::hint::black_box(through_gateway(&conn).await);
        gw.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        std::hint::black_box(straight(&client, &base).await);
        direct.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (g50, g99) = (percentile_of(&mut gw, 50.0), percentile_of(&mut gw, 99.0));
    let (d50, d99) = (
        percentile_of(&mut direct, 50.0),
        percentile_of(&mut direct, 99.0),
    );
    println!("through the gateway (metrics.query, audited): p50 {g50:.2} ms, p99 {g99:.2} ms");
    println!("straight to Prometheus (4 × query_range):     p50 {d50:.2} ms, p99 {d99:.2} ms");
    let ratio = g50 / d50;
    println!(
        "SUMMARY metrics: gateway p50 {g50:.2} ms vs direct {d50:.2} ms, overhead {ratio:.2}× (target ≤ 1.2×{})",
        if ratio <= 1.2 { " ✔" } else { " ✘" }
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), running.stop()).await;
    sim.stop().await;
}

async fn through_gateway(conn: &Connection) -> Vec<Series> {
    let mut reply = conn
        .call(Op::MetricsQuery {
            service: "search".into(),
            metric: None,
            range_s: RANGE_S,
            step_s: STEP_S,
        })
        .await
        .expect("metrics.query");
    reply.take("series").expect("series")
}

async fn straight(client: &reqwest::Client, base: &str) -> Vec<serde_json::Value> {
    let end = chrono::Utc::now().timestamp() / STEP_S as i64 * STEP_S as i64;
    let start = end - RANGE_S as i64;
    join_all(QUERIES.iter().map(|(_, promql, _)| async move {
        client
            .get(format!("{base}/api/v1/query_range"))
            .query(&[
                ("query", promql.to_string()),
                ("start", start.to_string()),
                ("end", end.to_string()),
                ("step", STEP_S.to_string()),
            ])
            .send()
            .await
            .expect("query_range")
            .json::<serde_json::Value>()
            .await
            .expect("json")
    }))
    .await
}
