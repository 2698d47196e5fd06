//! Where a service's metric charts come from, gateway side: the
//! `[services.NAME.metrics]` config ([`config`]), the scrapers that keep a
//! bounded history of Prometheus text endpoints ([`scrape`]), and PromQL
//! queries against a Prometheus server ([`prometheus`]), behind one
//! [`MetricSources::query`] that answers `metrics.query`.
//!
//! Scrape sources are scraped from [`MetricSources::start`] on, whether or
//! not anyone looks, since a chart needs history the moment someone asks.
//! A target that fails is logged once when it goes down and once when it
//! comes back, retried every interval, and its gap shows as missing points,
//! never as zeros.
//!
//! # Range and step
//!
//! `range_s` (at least 1) is shortened to what the source can answer: the
//! scrape history, or a prometheus source's `max_range`. `step_s` is raised
//! to at least the scrape interval (scrape) or 1 s (prometheus), and then
//! further so that no series has more than [`MAX_POINTS`] points.
//!
//! # Series
//!
//! One [`Series`] per configured chart, in config order (or only the one
//! `metric` names). A chart without data in the range has no points:
//! before the first scrape, over a gap, or when its metric is missing (a
//! configured chart of a metric the target does not export stays in the
//! answer, empty, and is logged once; a *default* chart of one is left out,
//! unless asked for by name). A scrape source whose targets have never
//! answered is an [`MetricsQueryError::Upstream`] error; once it has
//! history, a target going down only shows as a gap. For a prometheus
//! source see [`prometheus`] (several result series are summed; failing
//! charts are empty unless all fail).

pub mod config;
pub mod prometheus;
pub mod scrape;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::protocol::{ErrorCode, Series};

pub use self::config::{
    MetricInput, MetricSourceConfig, PromQuery, PrometheusConfig, ScrapeConfig, default_queries,
};
use self::prometheus::PrometheusSource;
use self::scrape::ScrapeSource;

/// Most points one series of a `metrics.query` answer holds; the step is
/// raised to stay under it.
pub const MAX_POINTS: i64 = 2_000;

/// Why `metrics.query` has no series to give.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsQueryError {
    /// The service has no `[services.NAME.metrics]` (or does not exist).
    #[error("service `{service}` has no metrics source in the gateway config")]
    NoSource { service: String },
    /// `metric` names no chart of the service.
    #[error("service `{service}` has no chart `{metric}`; its charts are: {}", known.join(", "))]
    UnknownMetric {
        service: String,
        metric: String,
        known: Vec<String>,
    },
    /// The range or step cannot be answered.
    #[error("{0}")]
    BadRange(String),
    /// The endpoint or server the figures come from is unreachable or
    /// failing.
    #[error("metrics source {url}: {reason}")]
    Upstream { url: String, reason: String },
}

impl MetricsQueryError {
    /// The protocol error code the engine replies with.
    pub fn code(&self) -> ErrorCode {
        match self {
            MetricsQueryError::NoSource { .. } | MetricsQueryError::UnknownMetric { .. } => {
                ErrorCode::NotFound
            }
            MetricsQueryError::BadRange(_) => ErrorCode::BadRequest,
            MetricsQueryError::Upstream { .. } => ErrorCode::Internal,
        }
    }
}

/// The HTTP client both kinds of source use. reqwest is built without a
/// crypto provider, so ring's is installed first (once per process; a
/// provider someone else installed is kept).
pub fn http_client() -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("breakglass/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {}", error_chain(&e)))
}

/// A reqwest error as one line: what happened and its causes, without the
/// URL (the caller names it once).
pub(crate) fn describe(e: reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no complete answer within {}", show_ms(timeout.as_millis()));
    }
    let connect = e.is_connect();
    let text = error_chain(&e.without_url());
    if connect {
        format!("cannot connect: {text}")
    } else {
        text
    }
}

fn show_ms(ms: u128) -> String {
    if ms.is_multiple_of(1000) {
        crate::duration::format_duration(Duration::from_millis(ms as u64))
    } else {
        format!("{ms}ms")
    }
}

/// `e: cause: cause`, each distinct message once.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Reads a response body, refusing more than `limit` bytes.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the answer: {}", describe(e, timeout)))?
    {
        if body.len() + chunk.len() > limit {
            return Err(format!(
                "the answer is larger than {} MiB; refused",
                limit / (1024 * 1024)
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// What a query will ask for after clamping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub range_ms: i64,
    pub step_ms: i64,
}

/// Clamps a request: the range to `max_range`, the step to at least
/// `min_step` and to no more than [`MAX_POINTS`] points over the range.
/// A range of 0 is refused.
pub fn plan(
    range_s: u64,
    step_s: u64,
    min_step: Duration,
    max_range: Duration,
) -> Result<Plan, MetricsQueryError> {
    if range_s == 0 {
        return Err(MetricsQueryError::BadRange(
            "range_s must be at least 1: how many seconds back the charts reach (900 for 15 minutes)"
                .into(),
        ));
    }
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let range_ms = i64::try_from(range_s)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000)
        .min(ms(max_range))
        .max(1);
    let step_ms = i64::try_from(step_s)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000)
        .max(ms(min_step))
        .max(1)
        // Steps aligned to multiples of the step: range/step + 1 of them
        // can touch the range.
        .max((range_ms + MAX_POINTS - 2) / (MAX_POINTS - 1));
    Ok(Plan { range_ms, step_ms })
}

/// The charts `metric` selects: all of them, or the named one.
fn select<'q, Q>(
    queries: &'q [(String, Q)],
    service: &str,
    metric: Option<&str>,
) -> Result<Vec<&'q (String, Q)>, MetricsQueryError> {
    match metric {
        None => Ok(queries.iter().collect()),
        Some(m) => match queries.iter().find(|(name, _)| name == m) {
            Some(q) => Ok(vec![q]),
            None => Err(MetricsQueryError::UnknownMetric {
                service: service.into(),
                metric: m.into(),
                known: queries.iter().map(|(name, _)| name.clone()).collect(),
            }),
        },
    }
}

enum Source {
    Scrape(Arc<ScrapeSource>),
    Prometheus(Box<PrometheusSource>),
}

/// Every service's metrics source.
pub struct MetricSources {
    sources: BTreeMap<String, Source>,
    client: Result<reqwest::Client, String>,
    started: AtomicBool,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl MetricSources {
    /// The sources of `configs` (by service name); nothing runs before
    /// [`MetricSources::start`].
    pub fn new(configs: &BTreeMap<String, MetricSourceConfig>) -> MetricSources {
        let client = http_client();
        if let Err(e) = &client {
            tracing::error!(error = %e, "metric sources cannot fetch anything");
        }
        let sources = configs
            .iter()
            .map(|(service, config)| {
                let source = match &config.input {
                    MetricInput::Scrape(c) => {
                        Source::Scrape(Arc::new(ScrapeSource::new(service, c.clone())))
                    }
                    MetricInput::Prometheus(c) => {
                        Source::Prometheus(Box::new(PrometheusSource::new(service, c.clone())))
                    }
                };
                (service.clone(), source)
            })
            .collect();
        MetricSources {
            sources,
            client,
            started: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
        }
    }

    /// Spawns one scraper task per scrape source on the current tokio
    /// runtime (panics outside one, as `tokio::spawn` does). A second call
    /// does nothing. The tasks end when this value is dropped.
    pub fn start(&self) {
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        for source in self.sources.values() {
            if let Source::Scrape(s) = source {
                match &self.client {
                    Ok(client) => {
                        let task = tokio::spawn(scrape::run(Arc::downgrade(s), client.clone()));
                        tasks.push(task.abort_handle());
                    }
                    Err(e) => s.fail_all(e),
                }
            }
        }
    }

    /// Whether `service` has a metrics source.
    pub fn has_source(&self, service: &str) -> bool {
        self.sources.contains_key(service)
    }

    /// The chart names of `service`, in config order (empty without a
    /// source).
    pub fn chart_names(&self, service: &str) -> Vec<String> {
        match self.sources.get(service) {
            None => Vec::new(),
            Some(Source::Scrape(s)) => s.chart_names(),
            Some(Source::Prometheus(p)) => p.chart_names(),
        }
    }

    /// One series per chart of `service` (or only `metric`), covering the
    /// last `range_s` seconds at `step_s` (both clamped, see the module
    /// documentation). A chart with no data in the range has no points.
    pub async fn query(
        &self,
        service: &str,
        metric: Option<&str>,
        range_s: u64,
        step_s: u64,
    ) -> Result<Vec<Series>, MetricsQueryError> {
        let source = self
            .sources
            .get(service)
            .ok_or_else(|| MetricsQueryError::NoSource {
                service: service.into(),
            })?;
        match source {
            Source::Scrape(s) => s.query(metric, range_s, step_s, now_ms()),
            Source::Prometheus(p) => {
                let client = self
                    .client
                    .as_ref()
                    .map_err(|e| MetricsQueryError::Upstream {
                        url: p.config.url.to_string(),
                        reason: e.clone(),
                    })?;
                p.query(client, metric, range_s, step_s, now_ms()).await
            }
        }
    }
}

impl Drop for MetricSources {
    fn drop(&mut self) {
        let tasks = self.tasks.get_mut().unwrap_or_else(|p| p.into_inner());
        for task in tasks.drain(..) {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests;
