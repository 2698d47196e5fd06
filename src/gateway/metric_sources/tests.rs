use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Instant;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use reqwest::Url;

use super::*;

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// An endpoint whose counters grow by `per_scrape` 2xx and `per_scrape/10`
/// 5xx requests each time it is read, and that answers 503 while `down`.
fn counting_endpoint(per_scrape: u64, down: Arc<AtomicBool>) -> Router {
    let hits = Arc::new(AtomicU64::new(0));
    Router::new().route(
        "/metrics",
        get(move || {
            let hits = hits.clone();
            let down = down.clone();
            async move {
                if down.load(Ordering::SeqCst) {
                    return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
                }
                let n = hits.fetch_add(1, Ordering::SeqCst) + 1;
                let ok = n * per_scrape;
                let errors = n * per_scrape / 10;
                format!(
                    "# HELP http_requests_total Requests.\n\
                     # TYPE http_requests_total counter\n\
                     http_requests_total{{code=\"200\",instance=\"theirs\"}} {ok}\n\
                     http_requests_total{{code=\"500\",instance=\"theirs\"}} {errors}\n\
                     # TYPE process_resident_memory_bytes gauge\n\
                     process_resident_memory_bytes 123456\n\
                     # TYPE go_goroutines gauge\n\
                     go_goroutines 7\n"
                )
                .into_response()
            }
        }),
    )
}

fn url(addr: SocketAddr, path: &str) -> Url {
    Url::parse(&format!("http://{addr}{path}")).unwrap()
}

fn named<'s>(series: &'s [Series], name: &str) -> Option<&'s Series> {
    series.iter().find(|s| s.name == name)
}

/// The sources of one service, not started.
fn one_source(service: &str, input: MetricInput) -> MetricSources {
    let configs = BTreeMap::from([(service.to_string(), MetricSourceConfig { input })]);
    MetricSources::new(&configs)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_range_is_clamped_to_the_history_and_the_step_to_the_interval() {
    let s = Duration::from_secs;
    // As asked when it fits.
    assert_eq!(
        plan(900, 15, s(5), s(3600)).unwrap(),
        Plan {
            range_ms: 900_000,
            step_ms: 15_000
        }
    );
    // A longer range than the history is shortened to it.
    assert_eq!(plan(86_400, 60, s(5), s(3600)).unwrap().range_ms, 3_600_000);
    // Steps below the interval (or 0) are raised to it.
    assert_eq!(plan(900, 1, s(5), s(3600)).unwrap().step_ms, 5_000);
    assert_eq!(plan(900, 0, s(5), s(3600)).unwrap().step_ms, 5_000);
    assert_eq!(
        plan(60, 0, Duration::from_millis(100), s(60))
            .unwrap()
            .step_ms,
        100
    );
    // Never more than MAX_POINTS points: 1 day at 1 s becomes ~44 s steps.
    let p = plan(86_400, 1, s(1), s(7 * 86_400)).unwrap();
    assert!(p.step_ms >= 43_200, "{p:?}");
    assert!(p.range_ms / p.step_ms < MAX_POINTS, "{p:?}");
    // Absurd numbers saturate rather than overflow.
    let p = plan(u64::MAX, u64::MAX, s(1), s(3600)).unwrap();
    assert_eq!(p.range_ms, 3_600_000);
    assert_eq!(p.step_ms, i64::MAX);
    // A range of 0 is refused as a bad request.
    let err = plan(0, 1, s(1), s(3600)).unwrap_err();
    assert!(matches!(err, MetricsQueryError::BadRange(_)));
    assert_eq!(err.code(), ErrorCode::BadRequest);
    assert!(err.to_string().contains("range_s"), "{err}");
}

#[test]
fn errors_map_to_protocol_codes() {
    let e = MetricsQueryError::NoSource {
        service: "x".into(),
    };
    assert_eq!(e.code(), ErrorCode::NotFound);
    let e = MetricsQueryError::UnknownMetric {
        service: "x".into(),
        metric: "rsp".into(),
        known: vec!["rps".into(), "memory".into()],
    };
    assert_eq!(e.code(), ErrorCode::NotFound);
    assert_eq!(
        e.to_string(),
        "service `x` has no chart `rsp`; its charts are: rps, memory"
    );
    let e = MetricsQueryError::Upstream {
        url: "http://p:9090/".into(),
        reason: "cannot connect: connection refused".into(),
    };
    assert_eq!(e.code(), ErrorCode::Internal);
    assert!(e.to_string().contains("http://p:9090/"), "{e}");
}

#[tokio::test]
async fn unknown_services_and_charts_are_named() {
    let mut configs = BTreeMap::new();
    configs.insert(
        "payments".to_string(),
        MetricSourceConfig::scrape(vec![Url::parse("http://127.0.0.1:9/metrics").unwrap()]),
    );
    let sources = MetricSources::new(&configs);
    assert!(sources.has_source("payments"));
    assert!(!sources.has_source("search"));
    assert_eq!(
        sources.chart_names("payments"),
        ["rps", "error_ratio", "latency_p99", "memory"]
    );
    let err = sources.query("search", None, 60, 1).await.unwrap_err();
    assert_eq!(
        err,
        MetricsQueryError::NoSource {
            service: "search".into()
        }
    );
    let err = sources
        .query("payments", Some("rsp"), 60, 1)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("its charts are: rps, error_ratio, latency_p99, memory"),
        "{err}"
    );
    let err = sources.query("payments", None, 0, 1).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::BadRequest);
    // Not started: no scrape yet, so no points, but no error either.
    let series = sources.query("payments", None, 60, 1).await.unwrap();
    assert_eq!(series.len(), 4);
    assert!(series.iter().all(|s| s.points.is_empty()));
}

/// Rounds driven by hand with chosen times: what the history keeps and
/// how the charts read it, over real HTTP.
#[tokio::test]
async fn several_targets_are_summed_and_a_failing_round_is_a_gap() {
    let down_a = Arc::new(AtomicBool::new(false));
    let down_b = Arc::new(AtomicBool::new(false));
    let a = serve(counting_endpoint(10, down_a.clone())).await;
    let b = serve(counting_endpoint(20, down_b.clone())).await;
    let mut config = ScrapeConfig::new(vec![url(a, "/metrics"), url(b, "/metrics")]);
    config.interval = Duration::from_secs(1);
    config.history = Duration::from_secs(60);
    let source = ScrapeSource::new("payments", config);
    let client = http_client().unwrap();
    for t in [1, 2, 3] {
        source.round(&client, t * 1000).await;
    }
    // Both down for five rounds, then back.
    down_a.store(true, Ordering::SeqCst);
    down_b.store(true, Ordering::SeqCst);
    for t in 4..=8 {
        source.round(&client, t * 1000).await;
    }
    down_a.store(false, Ordering::SeqCst);
    down_b.store(false, Ordering::SeqCst);
    for t in 9..=11 {
        source.round(&client, t * 1000).await;
    }
    let series = source.query(None, 60, 1, 11_000).unwrap();
    // No histogram exported: the default latency chart is left out.
    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["rps", "error_ratio", "memory"]);
    let rps = named(&series, "rps").unwrap();
    assert_eq!(rps.unit, "req/s");
    // 10+1 and 20+2 requests a second; nothing across the gap (3 s → 9 s),
    // and no zeros in it.
    assert_eq!(
        rps.points,
        [(2_000, 33.0), (3_000, 33.0), (10_000, 33.0), (11_000, 33.0)]
    );
    let errors = named(&series, "error_ratio").unwrap();
    assert_eq!(errors.unit, "%");
    for (_, v) in &errors.points {
        assert!((v - 300.0 / 33.0).abs() < 1e-9, "{v}");
    }
    // The gauges of both instances add up; each round that answered has one.
    let memory = named(&series, "memory").unwrap();
    let times: Vec<i64> = memory.points.iter().map(|p| p.0).collect();
    assert_eq!(times, [1_000, 2_000, 3_000, 9_000, 10_000, 11_000]);
    assert!(memory.points.iter().all(|p| p.1 == 246_912.0));
    // Asked for by name, a chart of an unexported metric is empty.
    let series = source.query(Some("latency_p99"), 60, 1, 11_000).unwrap();
    assert_eq!(series.len(), 1);
    assert!(series[0].points.is_empty());
    // Only the samples the charts read are kept; every sample says which
    // target it came from, the target's own `instance` moved aside.
    let history = source.history.lock().unwrap();
    let latest = history.latest().unwrap();
    assert!(!latest.knows("go_goroutines"));
    let instances: BTreeSet<&str> = latest
        .samples_named("http_requests_total")
        .map(|s| {
            assert_eq!(s.label("exported_instance"), Some("theirs"));
            s.label("instance").unwrap()
        })
        .collect();
    let want: BTreeSet<String> = [url(a, "/metrics"), url(b, "/metrics")]
        .iter()
        .map(|u| u.to_string())
        .collect();
    assert_eq!(instances, want.iter().map(String::as_str).collect());
}

#[tokio::test]
async fn one_failing_target_does_not_hide_the_other() {
    let up = serve(counting_endpoint(10, Arc::new(AtomicBool::new(false)))).await;
    let dead = url(SocketAddr::from(([127, 0, 0, 1], free_port())), "/metrics");
    let mut config = ScrapeConfig::new(vec![dead, url(up, "/metrics")]);
    config.interval = Duration::from_secs(1);
    let source = ScrapeSource::new("payments", config);
    let client = http_client().unwrap();
    for t in [1, 2] {
        source.round(&client, t * 1000).await;
    }
    let series = source.query(Some("rps"), 60, 1, 2_000).unwrap();
    assert_eq!(series[0].points, [(2_000, 11.0)]);
}

#[tokio::test]
async fn configured_charts_of_unexported_metrics_stay_empty() {
    let addr = serve(counting_endpoint(10, Arc::new(AtomicBool::new(false)))).await;
    let value: toml::Value = toml::from_str(&format!(
        "scrape = [\"http://{addr}/metrics\"]\n\
         [queries]\n\
         rps = {{ kind = \"rate\", metric = \"http_requests_total\", unit = \"req/s\" }}\n\
         typo = {{ kind = \"gauge\", metric = \"proces_resident_memory_bytes\" }}\n"
    ))
    .unwrap();
    let MetricInput::Scrape(config) = MetricSourceConfig::from_toml(value).unwrap().input else {
        panic!("a scrape source");
    };
    let source = ScrapeSource::new("payments", config);
    let client = http_client().unwrap();
    for t in [1, 2] {
        source.round(&client, t * 1000).await;
    }
    let series = source.query(None, 60, 1, 2_000).unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!(named(&series, "rps").unwrap().points, [(2_000, 11.0)]);
    assert!(named(&series, "typo").unwrap().points.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_scrape_gives_a_positive_rate() {
    let addr = serve(counting_endpoint(10, Arc::new(AtomicBool::new(false)))).await;
    let mut config = ScrapeConfig::new(vec![url(addr, "/metrics")]);
    config.interval = Duration::from_millis(100);
    config.timeout = Duration::from_secs(2);
    config.history = Duration::from_secs(60);
    let sources = one_source("payments", MetricInput::Scrape(config));
    sources.start();
    sources.start(); // a second call changes nothing
    let deadline = Instant::now() + Duration::from_secs(30);
    let series = loop {
        let series = sources.query("payments", None, 60, 1).await.unwrap();
        let rps = named(&series, "rps").unwrap();
        if rps.points.iter().any(|p| p.1 > 0.0) {
            break series;
        }
        assert!(
            Instant::now() < deadline,
            "no positive rate after 30 s: {series:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(named(&series, "latency_p99").is_none());
    let memory = named(&series, "memory").unwrap();
    assert_eq!(memory.unit, "bytes");
    assert!(memory.points.iter().all(|p| p.1 == 123_456.0));
    let errors = named(&series, "error_ratio").unwrap();
    assert!(
        errors
            .points
            .iter()
            .all(|p| (p.1 - 100.0 / 11.0).abs() < 1e-9)
    );
    // Points are in order, within the range, and finite.
    let now = now_ms();
    for s in &series {
        assert!(s.points.windows(2).all(|w| w[0].0 < w[1].0), "{s:?}");
        assert!(
            s.points
                .iter()
                .all(|p| p.0 > now - 61_000 && p.0 <= now && p.1.is_finite())
        );
    }
    // Dropping the sources stops the scrapers.
    drop(sources);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_target_is_an_upstream_error_naming_it() {
    let dead = url(SocketAddr::from(([127, 0, 0, 1], free_port())), "/metrics");
    let mut config = ScrapeConfig::new(vec![dead.clone()]);
    config.interval = Duration::from_millis(100);
    config.timeout = Duration::from_secs(2);
    let sources = one_source("payments", MetricInput::Scrape(config));
    sources.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    let err = loop {
        match sources.query("payments", None, 60, 1).await {
            Err(e) => break e,
            Ok(series) => assert!(series.iter().all(|s| s.points.is_empty())),
        }
        assert!(Instant::now() < deadline, "no error after 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(err.code(), ErrorCode::Internal);
    let text = err.to_string();
    assert!(text.contains(dead.as_str()), "{text}");
    assert!(text.contains("cannot connect"), "{text}");
}

fn prometheus_config(url: Url, queries: &[(&str, &str, &str)]) -> PrometheusConfig {
    PrometheusConfig {
        url,
        thresholds: Default::default(),
        queries: queries
            .iter()
            .map(|(name, promql, unit)| {
                (
                    name.to_string(),
                    PromQuery {
                        promql: promql.to_string(),
                        unit: unit.to_string(),
                    },
                )
            })
            .collect(),
        timeout: Duration::from_secs(5),
        max_range: Duration::from_secs(3600),
    }
}

#[tokio::test]
async fn an_unreachable_prometheus_is_an_upstream_error() {
    let base = url(SocketAddr::from(([127, 0, 0, 1], free_port())), "/");
    let source = PrometheusSource::new(
        "search",
        prometheus_config(base.clone(), &[("up", "up", "")]),
    );
    let client = http_client().unwrap();
    let err = source
        .query(&client, None, 60, 1, now_ms())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Internal);
    let text = err.to_string();
    assert!(text.contains(base.as_str()), "{text}");
    assert!(text.contains("chart `up`: cannot connect"), "{text}");
}

#[tokio::test]
async fn a_slow_prometheus_times_out() {
    let app = Router::new().route(
        "/api/v1/query_range",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "{}"
        }),
    );
    let addr = serve(app).await;
    let mut config = prometheus_config(url(addr, "/"), &[("up", "up", "")]);
    config.timeout = Duration::from_millis(300);
    let source = PrometheusSource::new("search", config);
    let err = source
        .query(&http_client().unwrap(), None, 60, 1, now_ms())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("no complete answer within 300ms"),
        "{err}"
    );
}

/// A Prometheus server started for one test, killed when dropped (also
/// when the test panics), its log shown if the test failed.
struct PrometheusProcess {
    child: std::process::Child,
    log: PathBuf,
}

impl Drop for PrometheusProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("--- prometheus log (last lines) ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

fn start_prometheus(bin: &Path, dir: &Path, target: SocketAddr) -> (PrometheusProcess, SocketAddr) {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: svc\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let log = dir.join("prometheus.log");
    let child = std::process::Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={listen}"))
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(dir.join("prometheus.out")).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    (PrometheusProcess { child, log }, listen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_answers_the_named_promql() {
    let Some(bin) = std::env::var_os("BREAKGLASS_TEST_PROMETHEUS") else {
        eprintln!(
            "SKIPPED: a_real_prometheus_answers_the_named_promql needs a Prometheus binary; \
             set BREAKGLASS_TEST_PROMETHEUS=/usr/bin/prometheus"
        );
        return;
    };
    let bin = PathBuf::from(bin);
    assert!(
        bin.is_file(),
        "BREAKGLASS_TEST_PROMETHEUS={} does not exist",
        bin.display()
    );
    let began = Instant::now();
    let deadline = began + Duration::from_secs(60);
    let target = serve(counting_endpoint(10, Arc::new(AtomicBool::new(false)))).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut process, listen) = start_prometheus(&bin, dir.path(), target);
    let client = http_client().unwrap();
    // Ready?
    loop {
        if let Some(status) = process.child.try_wait().unwrap() {
            panic!("prometheus exited early: {status}");
        }
        let ready = client
            .get(format!("http://{listen}/-/ready"))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(Instant::now() < deadline, "prometheus not ready after 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ready_after = began.elapsed();
    let sources = one_source(
        "search",
        MetricInput::Prometheus(prometheus_config(
            url(listen, "/"),
            &[
                ("rps", "sum(rate(http_requests_total[5s]))", "req/s"),
                // Two series (codes 200 and 500), summed into one.
                ("by_code", "rate(http_requests_total[5s])", "req/s"),
                ("up", "up", ""),
            ],
        )),
    );
    sources.start();
    let series = loop {
        let series = sources.query("search", None, 60, 1).await.unwrap();
        let has_rate = |name| {
            named(&series, name)
                .unwrap()
                .points
                .iter()
                .any(|p| p.1 > 0.0)
        };
        if has_rate("rps") && has_rate("by_code") {
            break series;
        }
        assert!(
            Instant::now() < deadline,
            "no rate from prometheus after 60 s: {series:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), 3);
    let up = named(&series, "up").unwrap();
    assert!(up.points.iter().any(|p| p.1 == 1.0), "{up:?}");
    let rps = named(&series, "rps").unwrap();
    assert_eq!(rps.unit, "req/s");
    let now = now_ms();
    assert!(rps.points.iter().all(|p| p.0 <= now && p.0 >= now - 62_000));
    assert!(rps.points.windows(2).all(|w| w[1].0 - w[0].0 >= 1_000));
    // The same rate, whichever way it is summed.
    let by_code = named(&series, "by_code").unwrap();
    for (t, v) in &by_code.points {
        if let Some((_, w)) = rps.points.iter().find(|p| p.0 == *t) {
            assert!((v - w).abs() < 1e-6 * w.abs().max(1.0), "{t}: {v} vs {w}");
        }
    }
    // One chart by name.
    let one = sources.query("search", Some("up"), 60, 1).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].name, "up");
    // A broken PromQL is the server's own words.
    let broken = PrometheusSource::new(
        "search",
        prometheus_config(url(listen, "/"), &[("bad", "sum(rate(", "")]),
    );
    let err = broken
        .query(&client, None, 60, 1, now_ms())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("chart `bad`: HTTP 400"), "{text}");
    assert!(text.contains("bad_data"), "{text}");
    eprintln!(
        "prometheus test: ready after {:.1?}, data after {:.1?}",
        ready_after,
        began.elapsed()
    );
    drop(process);
}
