//! The gateway figures of DESIGN.md section 8, measured against an
//! in-process gateway: `cargo bench --bench gateway`.
//!
//! Every section starts its own gateway on 127.0.0.1:0 with a fresh
//! temporary SQLite store (opened by `gateway::open_store`, so WAL, and
//! every op acknowledged only after the WAL sync that covers its commit).
//! The gateway runs on its own multi-threaded runtime, as the binary does,
//! and the clients on another, so client and server threads compete for
//! the cores the way two processes on one machine would.
//!
//! 1. `request.create` round trip (send → reply): one client, then 50
//!    concurrent clients on their own connections.
//! 2. Fan-out: one `request.updated` to 1,000 connected lead consoles, from
//!    just before the op is sent to each console's arrival of the event.
//! 3. The floor of that: a bare tokio-tungstenite broadcast server.
//! 4. Expiry precision: `grant.updated` (expired) arrival minus `expires_at`.
//!
//! The policy is the dev policy with the per-user rate limit lifted (the
//! benchmark must not measure throttling) and 50 extra requesters
//! (`bench01`..`bench50`) so each concurrent client is its own user.

#[path = "support/mod.rs"]
mod support;

use support::{dev_policy_without_rate_limits, gateway_config, nearest_rank, runtime, token_for};

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use breakglass::client::Connection;
use breakglass::gateway::Running;
use breakglass::gateway::config::GatewayConfig;
use breakglass::protocol::{AccessRequest, Capability, Event, GrantState, Op};
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::{Barrier, broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Delivery = (String, Instant);

const RTT_OPS: usize = 10_000;
const RTT_CLIENTS: usize = 50;
const RTT_WARMUP: usize = 200;
/// Most wall time one round-trip phase may take: a gateway that stalls
/// every op must not stretch the whole benchmark past a few minutes.
const RTT_BUDGET: Duration = Duration::from_secs(60);
/// Read-only ops timed to separate transport from the store.
const DIAG_OPS: usize = 2_000;
const FANOUT_CLIENTS: usize = 1_000;
const FANOUT_ROUNDS: usize = 20;
const FANOUT_WARMUP: usize = 2;
const FANOUT_PAUSE: Duration = Duration::from_millis(200);
const CONNECT_PARALLELISM: usize = 50;
const EXPIRY_GRANTS: usize = 200;
const EXPIRY_PACE: Duration = Duration::from_millis(10);
/// Longest wait for anything the benchmark expects to arrive.
const PATIENCE: Duration = Duration::from_secs(20);

fn main() {
    let started = Instant::now();
    let server_rt = runtime("gw");
    let client_rt = runtime("client");
    print_machine();

    let mut rows: Vec<Row> = Vec::new();
    let mut notes: Vec<String> = Vec::new();

    section("1/4 request.create round trip");
    rows.extend(bench_round_trip(&server_rt, &client_rt, &mut notes));
    // `cargo bench --bench gateway -- rtt`: only this section.
    if std::env::args().any(|a| a == "rtt") {
        print_table(&rows);
        notes.iter().for_each(|n| println!("- {n}"));
        rows.iter().for_each(|r| println!("{}", r.summary()));
        return;
    }

    section("2/4 fan-out: request.updated to 1,000 lead consoles");
    let (fanout, frame) = bench_fanout(&server_rt, &client_rt, &mut notes);
    rows.push(Row::new(
        &format!("request.updated → {FANOUT_CLIENTS} clients"),
        &fanout,
        Target::P99(50.0),
    ));

    section("3/4 floor: bare tokio-tungstenite broadcast to 1,000 clients");
    let floor = bench_floor(&server_rt, &client_rt, &frame, &mut notes);
    rows.push(Row::new(
        &format!("floor broadcast → {FANOUT_CLIENTS} clients"),
        &floor,
        Target::None,
    ));

    section("4/4 expiry precision");
    let expiry = bench_expiry(&server_rt, &client_rt, &mut notes);
    rows.push(Row::new(
        &format!("grant expiry lateness, {EXPIRY_GRANTS} grants"),
        &expiry,
        Target::P99(100.0),
    ));

    println!();
    println!("== results (ms) ==");
    print_table(&rows);
    let (fp50, fp99) = (fanout.pct(50.0), fanout.pct(99.0));
    let (lp50, lp99) = (floor.pct(50.0), floor.pct(99.0));
    println!(
        "ratio breakglass/floor (fan-out): p50 {:.1}x, p99 {:.1}x",
        fp50 / lp50,
        fp99 / lp99
    );
    if !notes.is_empty() {
        println!();
        println!("== notes ==");
        for n in &notes {
            println!("- {n}");
        }
    }
    println!();
    for row in &rows {
        println!("{}", row.summary());
    }
    println!(
        "SUMMARY fan-out ratio breakglass/floor: p50 {:.1}x, p99 {:.1}x ({:.2} ms vs {:.2} ms at p99)",
        fp50 / lp50,
        fp99 / lp99,
        fp99,
        lp99
    );
    println!("total bench time {:.1} s", started.elapsed().as_secs_f64());
    // Connections and tasks still parked on the runtimes go with them.
    client_rt.shutdown_timeout(Duration::from_secs(2));
    server_rt.shutdown_timeout(Duration::from_secs(2));
}

fn section(title: &str) {
    println!();
    println!("== {title} ==");
}

// ---------------------------------------------------------------- machine

fn print_machine() {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let fd_limit = std::process::Command::new("sh")
        .args(["-c", "ulimit -n"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("== breakglass gateway benchmark ==");
    println!("machine: nproc {nproc}, cpu {cpu}, fd limit {fd_limit}");
    println!(
        "commit:  {commit}{}",
        if dirty {
            " (working tree has uncommitted changes)"
        } else {
            ""
        }
    );
    println!(
        "store:   SQLite in {} (WAL; each op answered after an fdatasync of the WAL that covers its commit), one fresh store per section",
        std::env::temp_dir().display()
    );
    if cfg!(debug_assertions) {
        println!("WARNING: debug build; run `cargo bench --bench gateway` for release numbers");
    }
}

fn git(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

// ---------------------------------------------------------------- stats

/// Samples in milliseconds.
struct Stats {
    ms: Vec<f64>,
    expected: usize,
}

impl Stats {
    fn new(mut ms: Vec<f64>, expected: usize) -> Stats {
        ms.sort_by(f64::total_cmp);
        Stats { ms, expected }
    }

    fn from_durations(ds: &[Duration], expected: usize) -> Stats {
        Stats::new(ds.iter().map(|d| d.as_secs_f64() * 1e3).collect(), expected)
    }

    /// Nearest-rank percentile; NaN when empty.
    fn pct(&self, p: f64) -> f64 {
        nearest_rank(&self.ms, p)
    }

    fn max(&self) -> f64 {
        self.ms.last().copied().unwrap_or(f64::NAN)
    }

    fn mean(&self) -> f64 {
        self.ms.iter().sum::<f64>() / self.ms.len().max(1) as f64
    }
}

enum Target {
    P99(f64),
    None,
    Diagnostic,
}

struct Row {
    name: String,
    n: usize,
    expected: usize,
    p50: f64,
    p99: f64,
    max: f64,
    mean: f64,
    target: Target,
    /// Stopped early by the time budget (not lost samples).
    capped: bool,
}

impl Row {
    fn new(name: &str, s: &Stats, target: Target) -> Row {
        Row {
            name: name.to_string(),
            n: s.ms.len(),
            expected: s.expected,
            p50: s.pct(50.0),
            p99: s.pct(99.0),
            max: s.max(),
            mean: s.mean(),
            target,
            capped: false,
        }
    }

    fn capped(mut self, capped: bool) -> Row {
        self.capped = capped;
        self
    }

    fn complete(&self) -> bool {
        self.capped || self.n == self.expected
    }

    fn target_text(&self) -> String {
        match self.target {
            Target::P99(t) => format!("p99 ≤ {t} ms"),
            Target::None => "—".into(),
            Target::Diagnostic => "(diagnostic)".into(),
        }
    }

    fn verdict(&self) -> &'static str {
        match self.target {
            Target::None => "floor",
            Target::Diagnostic => "info",
            Target::P99(t) if self.complete() && self.p99 <= t => "PASS",
            Target::P99(_) => "FAIL",
        }
    }

    fn summary(&self) -> String {
        let missing = if self.capped {
            format!(
                ", time-capped at {} of {} ops by the {} s budget",
                self.n,
                self.expected,
                RTT_BUDGET.as_secs()
            )
        } else if self.complete() {
            String::new()
        } else {
            format!(", only {} of {} samples arrived", self.n, self.expected)
        };
        format!(
            "SUMMARY {}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (n={}{missing}); target {}: {}",
            self.name,
            self.p50,
            self.p99,
            self.max,
            self.n,
            self.target_text(),
            self.verdict()
        )
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<38} {:>7} {:>9} {:>9} {:>9} {:>9}  {:<13} verdict",
        "figure", "n", "p50", "p99", "max", "mean", "target"
    );
    println!("{}", "-".repeat(106));
    for r in rows {
        println!(
            "{:<38} {:>7} {:>9.2} {:>9.2} {:>9.2} {:>9.2}  {:<13} {}",
            r.name,
            r.n,
            r.p50,
            r.p99,
            r.max,
            r.mean,
            r.target_text(),
            r.verdict()
        );
    }
}

// ---------------------------------------------------------------- gateway

/// A gateway on its own store; the temporary directory lives as long as it.
struct Gateway {
    running: Running,
    url: String,
    _dir: tempfile::TempDir,
}

fn bench_config(data_dir: &Path) -> GatewayConfig {
    let mut text = dev_policy_without_rate_limits();
    for i in 1..=RTT_CLIENTS {
        text.push_str(&format!(
            "\n[users.{}]\ngroups = [\"engineers\"]\n",
            bench_user(i)
        ));
    }
    gateway_config(&text, data_dir)
}

fn bench_user(i: usize) -> String {
    format!("bench{i:02}")
}

fn start_gateway(server_rt: &Runtime) -> Gateway {
    let dir = tempfile::Builder::new()
        .prefix("breakglass-bench-")
        .tempdir()
        .expect("temporary directory");
    let cfg = bench_config(dir.path());
    let running = server_rt.block_on(support::start_gateway(cfg));
    let url = running.ws_url();
    Gateway {
        running,
        url,
        _dir: dir,
    }
}

impl Gateway {
    fn token(&self, server_rt: &Runtime, user: &str) -> String {
        server_rt.block_on(token_for(&self.running, user))
    }

    fn stop(self, server_rt: &Runtime) {
        let Gateway { running, _dir, .. } = self;
        server_rt.block_on(async {
            if tokio::time::timeout(Duration::from_secs(5), running.stop())
                .await
                .is_err()
            {
                eprintln!("(gateway did not stop within 5 s; leaving it to the runtime)");
            }
        });
    }
}

fn create_op(service: &str, duration_s: u64, reason: &str) -> Op {
    Op::RequestCreate {
        service: service.into(),
        capabilities: vec![Capability::LogsRead],
        duration_s,
        reason: reason.into(),
        ticket: None,
        break_glass: false,
    }
}

/// Drops events that have already arrived, without waiting for more, so an
/// unread event queue does not grow for the whole run. Polled once, not
/// under a zero timeout: tokio's timer fires on a millisecond tick, so a
/// zero timeout waited up to a millisecond whenever nothing had arrived,
/// which idled every client between its ops.
async fn drain_events(conn: &mut Connection) {
    while let Some(Some(_)) = conn.next_event().now_or_never() {}
}

// ---------------------------------------------------------------- 1. RTT

fn bench_round_trip(server_rt: &Runtime, client_rt: &Runtime, notes: &mut Vec<String>) -> Vec<Row> {
    let gw = start_gateway(server_rt);
    let tokens: Vec<String> = (1..=RTT_CLIENTS)
        .map(|i| gw.token(server_rt, &bench_user(i)))
        .collect();
    let alice = gw.token(server_rt, "alice");
    let url = gw.url.clone();
    let engine = gw.running.engine.clone();
    let mut rows = Vec::new();

    // One client, ops back to back.
    let (samples, wall, server) = client_rt.block_on(async {
        let mut conn = Connection::connect(&url, &alice)
            .await
            .expect("connect alice");
        for _ in 0..RTT_WARMUP {
            conn.call(create_op("payments", 600, "bench: warm-up"))
                .await
                .expect("warm-up request.create");
            drain_events(&mut conn).await;
        }
        let before = server_op_time(&engine);
        let mut samples = Vec::with_capacity(RTT_OPS);
        let wall = Instant::now();
        while samples.len() < RTT_OPS && wall.elapsed() < RTT_BUDGET {
            let op = create_op("payments", 600, "bench: round trip");
            let t0 = Instant::now();
            let reply = conn.call(op).await;
            samples.push(t0.elapsed());
            reply.expect("request.create");
            drain_events(&mut conn).await;
        }
        let wall = wall.elapsed();
        let server = server_op_time(&engine).since(before);
        conn.close().await;
        (samples, wall, server)
    });
    let capped = samples.len() < RTT_OPS;
    let one = Stats::from_durations(&samples, RTT_OPS);
    println!(
        "1 client (alice): {} ops in {:.2} s = {:.0} ops/s; p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms{}",
        samples.len(),
        wall.as_secs_f64(),
        samples.len() as f64 / wall.as_secs_f64(),
        one.pct(50.0),
        one.pct(99.0),
        one.max(),
        if capped {
            " (stopped by the time budget)"
        } else {
            ""
        }
    );
    println!(
        "  gateway-side time of those ops (engine.execute, from /metrics): mean {:.2} ms, {:.1} % under 5 ms",
        server.mean_ms(),
        server.share_under_5ms() * 100.0
    );
    notes.push(format!(
        "request.create, 1 client: the client saw mean {:.2} ms per op, the engine spent mean {:.2} ms (plan + commit + the WAL sync that acknowledges it); the rest is between engine and socket",
        one.mean(),
        server.mean_ms()
    ));
    rows.push(Row::new("request.create RTT, 1 client", &one, Target::P99(10.0)).capped(capped));

    // Diagnostic: a read-only op (no store write, no event pushed back).
    let diag = client_rt.block_on(async {
        let conn = Connection::connect(&url, &alice)
            .await
            .expect("connect alice");
        let mut samples = Vec::with_capacity(DIAG_OPS);
        let wall = Instant::now();
        while samples.len() < DIAG_OPS && wall.elapsed() < RTT_BUDGET / 4 {
            let t0 = Instant::now();
            let reply = conn.call(Op::CatalogList {}).await;
            samples.push(t0.elapsed());
            reply.expect("catalog.list");
        }
        conn.close().await;
        samples
    });
    let diag = Stats::from_durations(&diag, diag.len());
    println!(
        "  diagnostic catalog.list (read-only, no event): p50 {:.2} ms, p99 {:.2} ms",
        diag.pct(50.0),
        diag.pct(99.0)
    );
    rows.push(Row::new(
        "catalog.list RTT, 1 client",
        &diag,
        Target::Diagnostic,
    ));

    // Many clients at once, each its own connection and user.
    let per_client = RTT_OPS / RTT_CLIENTS;
    let (samples, wall, errors, server, cpu) = client_rt.block_on(async {
        let mut conns = Vec::with_capacity(RTT_CLIENTS);
        for t in &tokens {
            conns.push(Connection::connect(&url, t).await.expect("connect"));
        }
        let barrier = Arc::new(Barrier::new(RTT_CLIENTS + 1));
        let mut tasks = Vec::with_capacity(RTT_CLIENTS);
        for mut conn in conns {
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..(RTT_WARMUP / RTT_CLIENTS).max(1) {
                    let _ = conn
                        .call(create_op("payments", 600, "bench: warm-up"))
                        .await;
                    drain_events(&mut conn).await;
                }
                // Once when warmed up, once to start together.
                barrier.wait().await;
                barrier.wait().await;
                let wall = Instant::now();
                let mut samples = Vec::with_capacity(per_client);
                let mut errors = 0usize;
                while samples.len() < per_client && wall.elapsed() < RTT_BUDGET {
                    let op = create_op("payments", 600, "bench: round trip");
                    let t0 = Instant::now();
                    let reply = conn.call(op).await;
                    samples.push(t0.elapsed());
                    if reply.is_err() {
                        errors += 1;
                    }
                    drain_events(&mut conn).await;
                }
                conn.close().await;
                (samples, errors)
            }));
        }
        // The gateway-side and CPU figures count from the end of every
        // client's warm-up, so that they are of the timed ops only.
        barrier.wait().await;
        let before = server_op_time(&engine);
        let cpu_before = thread_cpu();
        barrier.wait().await;
        let wall = Instant::now();
        let mut all = Vec::with_capacity(RTT_OPS);
        let mut errors = 0;
        for t in tasks {
            let (s, e) = t.await.expect("client task");
            all.extend(s);
            errors += e;
        }
        let server = server_op_time(&engine).since(before);
        let cpu = cpu_since(&cpu_before, &thread_cpu());
        (all, wall.elapsed(), errors, server, cpu)
    });
    let capped = samples.len() < per_client * RTT_CLIENTS;
    let many = Stats::from_durations(&samples, per_client * RTT_CLIENTS);
    println!(
        "{RTT_CLIENTS} clients ({RTT_CLIENTS} users): {} ops in {:.2} s = {:.0} ops/s; p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} errors{}",
        samples.len(),
        wall.as_secs_f64(),
        samples.len() as f64 / wall.as_secs_f64(),
        many.pct(50.0),
        many.pct(99.0),
        many.max(),
        errors,
        if capped {
            " (stopped by the time budget)"
        } else {
            ""
        }
    );
    println!(
        "  gateway-side time of those ops: mean {:.2} ms, {:.1} % under 5 ms",
        server.mean_ms(),
        server.share_under_5ms() * 100.0
    );
    println!(
        "  CPU per op, by thread: {}",
        cpu.iter()
            .map(|(name, ns)| format!("{name} {:.0} µs", *ns as f64 / 1e3 / samples.len() as f64))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if errors > 0 {
        notes.push(format!(
            "{errors} of the {RTT_CLIENTS}-client request.create ops failed"
        ));
    }
    notes.push(format!(
        "request.create throughput: 1 client {:.0} ops/s, {RTT_CLIENTS} clients {:.0} ops/s (commits grouped by one writer thread, answered after the WAL sync that covers them)",
        one.ms.len() as f64 / wall_of(&one),
        samples.len() as f64 / wall.as_secs_f64()
    ));
    rows.push(
        Row::new(
            &format!("request.create RTT, {RTT_CLIENTS} clients"),
            &many,
            Target::P99(10.0),
        )
        .capped(capped),
    );
    gw.stop(server_rt);
    rows
}

/// CPU time used so far by this process's threads, summed by thread name
/// (nanoseconds, from /proc/self/task/*/schedstat; empty where there is no
/// /proc). Threads that end in between are not counted.
fn thread_cpu() -> std::collections::BTreeMap<String, u64> {
    let mut by_name = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return by_name;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let ns = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
        if let Some(ns) = ns {
            *by_name.entry(name.trim().to_string()).or_insert(0) += ns;
        }
    }
    by_name
}

/// What each thread name used between two `thread_cpu` readings, busiest
/// first, with the whole process as `all`.
fn cpu_since(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
) -> Vec<(String, u64)> {
    let mut used: Vec<(String, u64)> = after
        .iter()
        .map(|(name, ns)| {
            (
                name.clone(),
                ns.saturating_sub(*before.get(name).unwrap_or(&0)),
            )
        })
        .filter(|(_, ns)| *ns > 0)
        .collect();
    used.sort_by_key(|(_, ns)| std::cmp::Reverse(*ns));
    let all = used.iter().map(|(_, ns)| ns).sum();
    used.insert(0, ("all".into(), all));
    used
}

/// The summed round trips of back-to-back ops, in seconds.
fn wall_of(s: &Stats) -> f64 {
    s.ms.iter().sum::<f64>() / 1e3
}

/// The gateway's own op-latency histogram (`breakglass_op_duration_seconds`
/// from `/metrics`): count, sum and how many fell in the 5 ms bucket.
#[derive(Clone, Copy, Default)]
struct ServerOps {
    count: f64,
    sum_s: f64,
    under_5ms: f64,
}

impl ServerOps {
    fn since(self, before: ServerOps) -> ServerOps {
        ServerOps {
            count: self.count - before.count,
            sum_s: self.sum_s - before.sum_s,
            under_5ms: self.under_5ms - before.under_5ms,
        }
    }

    fn mean_ms(self) -> f64 {
        self.sum_s / self.count.max(1.0) * 1e3
    }

    fn share_under_5ms(self) -> f64 {
        self.under_5ms / self.count.max(1.0)
    }
}

fn server_op_time(engine: &breakglass::gateway::engine::Engine) -> ServerOps {
    let text = engine.metrics.render(None);
    let value = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    ServerOps {
        count: value("breakglass_op_duration_seconds_count "),
        sum_s: value("breakglass_op_duration_seconds_sum "),
        under_5ms: value("breakglass_op_duration_seconds_bucket{le=\"0.005\"} "),
    }
}

// ---------------------------------------------------------------- 2. fan-out

async fn raw_connect(url: &str, token: Option<&str>) -> Ws {
    let mut request = url.into_client_request().expect("ws url");
    if let Some(token) = token {
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
        );
    }
    let (ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .expect("websocket connect");
    ws
}

/// Connects `n` sockets, reads the gateway's `hello` when `hello`, and
/// leaves each one reading: every `request.updated` it receives is reported
/// with its arrival instant.
async fn spawn_listeners(
    url: &str,
    token: Option<&str>,
    n: usize,
    hello: bool,
) -> (Vec<JoinHandle<()>>, mpsc::UnboundedReceiver<Delivery>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let sockets: Vec<Ws> = futures_util::stream::iter(0..n)
        .map(|_| async move {
            let mut ws = raw_connect(url, token).await;
            if hello {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) if t.as_str().contains("\"hello\"") => {}
                    other => panic!("expected hello, got {other:?}"),
                }
            }
            ws
        })
        .buffer_unordered(CONNECT_PARALLELISM)
        .collect()
        .await;
    let handles = sockets
        .into_iter()
        .map(|ws| tokio::spawn(listen(ws, tx.clone())))
        .collect();
    (handles, rx)
}

async fn listen(mut ws: Ws, tx: mpsc::UnboundedSender<Delivery>) {
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Text(text) = msg else { continue };
        let at = Instant::now();
        if !text.as_str().contains("\"request.updated\"") {
            continue;
        }
        if let Some(id) = updated_request_id(text.as_str())
            && tx.send((id, at)).is_err()
        {
            return;
        }
    }
}

fn updated_request_id(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    if v["event"] != "request.updated" {
        return None;
    }
    v["request"]["id"].as_str().map(str::to_owned)
}

/// Waits for `want` deliveries of `id`; earlier rounds' stragglers are
/// dropped. Returns the arrival instants (fewer on timeout).
async fn collect(
    rx: &mut mpsc::UnboundedReceiver<Delivery>,
    id: &str,
    want: usize,
) -> Vec<Instant> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut got = Vec::with_capacity(want);
    while got.len() < want {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((rid, at))) if rid == id => got.push(at),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    got
}

/// Measures the gateway's fan-out; also returns a real `request.updated`
/// frame's text shape (as a JSON value) for the floor to send.
fn bench_fanout(
    server_rt: &Runtime,
    client_rt: &Runtime,
    notes: &mut Vec<String>,
) -> (Stats, serde_json::Value) {
    let gw = start_gateway(server_rt);
    let carol = gw.token(server_rt, "carol");
    let alice = gw.token(server_rt, "alice");
    let url = gw.url.clone();
    let (samples, rtts, template, connect_time) = client_rt.block_on(async {
        let t = Instant::now();
        let (listeners, mut rx) = spawn_listeners(&url, Some(&carol), FANOUT_CLIENTS, true).await;
        let connect_time = t.elapsed();
        let mut creator = Connection::connect(&url, &alice)
            .await
            .expect("connect alice");
        let mut samples = Vec::with_capacity(FANOUT_CLIENTS * FANOUT_ROUNDS);
        let mut rtts = Vec::with_capacity(FANOUT_ROUNDS);
        let mut template = serde_json::Value::Null;
        for round in 0..FANOUT_WARMUP + FANOUT_ROUNDS {
            tokio::time::sleep(FANOUT_PAUSE).await;
            drain_events(&mut creator).await;
            let op = create_op("payments", 600, "bench: fan-out to every lead console");
            let t0 = Instant::now();
            let mut reply = creator.call(op).await.expect("request.create");
            let rtt = t0.elapsed();
            let request_value = reply.fields.get("request").cloned().unwrap_or_default();
            let request: AccessRequest = reply.take("request").expect("reply has a request");
            let arrivals = collect(&mut rx, &request.id, FANOUT_CLIENTS).await;
            if round >= FANOUT_WARMUP {
                rtts.push(rtt);
                samples.extend(arrivals.iter().map(|a| a.duration_since(t0)));
            }
            template = request_value;
        }
        creator.close().await;
        for l in listeners {
            l.abort();
        }
        (samples, rtts, template, connect_time)
    });
    let stats = Stats::from_durations(&samples, FANOUT_CLIENTS * FANOUT_ROUNDS);
    let rtt = Stats::from_durations(&rtts, FANOUT_ROUNDS);
    println!(
        "connected {FANOUT_CLIENTS} carol sockets in {:.2} s",
        connect_time.as_secs_f64()
    );
    println!(
        "{} deliveries over {FANOUT_ROUNDS} rounds: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; creator's own reply p50 {:.2} ms",
        stats.ms.len(),
        stats.pct(50.0),
        stats.pct(99.0),
        stats.max(),
        rtt.pct(50.0)
    );
    notes.push(format!(
        "fan-out includes the creating op's commit: its reply took p50 {:.2} ms, max {:.2} ms; each create also pushes an audit.appended to every lead",
        rtt.pct(50.0),
        rtt.max()
    ));
    gw.stop(server_rt);
    (stats, template)
}

// ---------------------------------------------------------------- 3. floor

/// A bare broadcast server: whatever text frame any client sends goes to
/// every connected client.
async fn floor_server() -> (std::net::SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, _) = broadcast::channel::<Utf8Bytes>(8192);
    let accept = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let tx = tx.clone();
            tokio::spawn(async move {
                let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                let (mut sink, mut stream) = ws.split();
                let mut rx = tx.subscribe();
                let writer = tokio::spawn(async move {
                    loop {
                        match rx.recv().await {
                            Ok(text) => {
                                if sink.send(Message::Text(text)).await.is_err() {
                                    return;
                                }
                            }
                            Err(broadcast::error::RecvError::Lagged(_)) => continue,
                            Err(broadcast::error::RecvError::Closed) => return,
                        }
                    }
                });
                while let Some(Ok(msg)) = stream.next().await {
                    if let Message::Text(text) = msg {
                        let _ = tx.send(text);
                    }
                }
                writer.abort();
            });
        }
    });
    (addr, accept)
}

fn floor_frame(template: &serde_json::Value, id: &str) -> String {
    let mut request = template.clone();
    if request.is_object() {
        request["id"] = serde_json::Value::String(id.to_string());
    } else {
        request = serde_json::json!({"id": id, "reason": "x".repeat(700)});
    }
    serde_json::json!({
        "seq": 2,
        "at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "event": "request.updated",
        "request": request,
    })
    .to_string()
}

fn bench_floor(
    server_rt: &Runtime,
    client_rt: &Runtime,
    template: &serde_json::Value,
    notes: &mut Vec<String>,
) -> Stats {
    let (addr, accept) = server_rt.block_on(floor_server());
    let url = format!("ws://{addr}/");
    let (samples, frame_len) = client_rt.block_on(async {
        let (listeners, mut rx) = spawn_listeners(&url, None, FANOUT_CLIENTS, false).await;
        let sender = raw_connect(&url, None).await;
        let (mut sink, mut own) = sender.split();
        // The sender is connected too and gets its own broadcast back.
        let drain = tokio::spawn(async move { while let Some(Ok(_)) = own.next().await {} });
        let mut samples = Vec::with_capacity(FANOUT_CLIENTS * FANOUT_ROUNDS);
        let mut frame_len = 0;
        for round in 0..FANOUT_WARMUP + FANOUT_ROUNDS {
            tokio::time::sleep(FANOUT_PAUSE).await;
            let id = format!("req-floor{round:04}");
            let frame = floor_frame(template, &id);
            frame_len = frame.len();
            let t0 = Instant::now();
            sink.send(Message::Text(frame.into()))
                .await
                .expect("send to the floor server");
            let arrivals = collect(&mut rx, &id, FANOUT_CLIENTS).await;
            if round >= FANOUT_WARMUP {
                samples.extend(arrivals.iter().map(|a| a.duration_since(t0)));
            }
        }
        let _ = sink.close().await;
        drain.abort();
        for l in listeners {
            l.abort();
        }
        (samples, frame_len)
    });
    accept.abort();
    let stats = Stats::from_durations(&samples, FANOUT_CLIENTS * FANOUT_ROUNDS);
    println!(
        "{} deliveries of a {frame_len}-byte frame over {FANOUT_ROUNDS} rounds: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        stats.ms.len(),
        stats.pct(50.0),
        stats.pct(99.0),
        stats.max()
    );
    notes.push(format!(
        "floor frame: a {frame_len}-byte request.updated built from a real reply; one encode shared by all clients"
    ));
    stats
}

// ---------------------------------------------------------------- 4. expiry

fn bench_expiry(server_rt: &Runtime, client_rt: &Runtime, notes: &mut Vec<String>) -> Stats {
    let gw = start_gateway(server_rt);
    let alice = gw.token(server_rt, "alice");
    let url = gw.url.clone();
    let (lateness, created) = client_rt.block_on(async {
        let listener = Connection::connect(&url, &alice)
            .await
            .expect("connect the listener");
        let (tx, mut rx) = mpsc::unbounded_channel::<(String, f64)>();
        let watch = tokio::spawn(async move {
            while let Some(frame) = listener.next_event().await {
                let now = chrono::Utc::now();
                if let Event::GrantUpdated { grant } = frame.event
                    && grant.state == GrantState::Expired
                {
                    let late = (now - grant.expires_at)
                        .num_microseconds()
                        .unwrap_or(i64::MAX);
                    if tx.send((grant.id, late as f64 / 1e3)).is_err() {
                        return;
                    }
                }
            }
        });
        let mut creator = Connection::connect(&url, &alice)
            .await
            .expect("connect the creator");
        let mut ids = std::collections::HashSet::new();
        let mut tick = tokio::time::interval(EXPIRY_PACE);
        for i in 0..EXPIRY_GRANTS {
            tick.tick().await;
            let duration_s = 1 + (i % 5) as u64;
            let mut reply = creator
                .call(create_op("search", duration_s, "bench: expiry precision"))
                .await
                .expect("request.create on search");
            let request: AccessRequest = reply.take("request").expect("request");
            let gid = request
                .grant_id
                .expect("search auto-approves for alice (on call)");
            ids.insert(gid);
            drain_events(&mut creator).await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5) + PATIENCE / 4;
        let mut lateness = Vec::with_capacity(EXPIRY_GRANTS);
        while lateness.len() < ids.len() {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((id, late))) if ids.contains(&id) => lateness.push(late),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        watch.abort();
        creator.close().await;
        (lateness, ids.len())
    });
    let stats = Stats::new(lateness, EXPIRY_GRANTS);
    println!(
        "{} of {created} grants (durations 1–5 s, created {} ms apart) reported expired: lateness p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, min {:.2} ms",
        stats.ms.len(),
        EXPIRY_PACE.as_millis(),
        stats.pct(50.0),
        stats.pct(99.0),
        stats.max(),
        stats.ms.first().copied().unwrap_or(f64::NAN)
    );
    notes.push(
        "expiry lateness = arrival of grant.updated{expired} at a client minus the grant's expires_at (ms precision on the wire); no log sources are wired, so this stands in for `grant expiry → stream closed`".into(),
    );
    gw.stop(server_rt);
    stats
}
