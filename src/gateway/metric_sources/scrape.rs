//! The `scrape` source: one task per service fetches every target each
//! interval, keeps the samples its charts read in a bounded
//! [`History`], and charts are evaluated over that history on demand.
//!
//! A round is stamped with the time it started. Targets are fetched
//! concurrently; the samples of those that answered form the round's
//! scrape, each labelled `instance` with its target's URL. When no target
//! answered, nothing is pushed and the charts show a gap.

use std::collections::BTreeSet;
use std::sync::{Mutex, Weak};

use futures_util::future::join_all;
use reqwest::Url;
use reqwest::header::ACCEPT;
use tokio::time::MissedTickBehavior;

use super::config::{ScrapeConfig, chart_series};
use super::{MetricsQueryError, describe, plan, read_capped, select};
use crate::metrics::{History, MetricFamily, QueryError, Scrape, Window, evaluate, parse_lenient};
use crate::protocol::Series;

/// The largest `/metrics` body read (a big Go service serves well under
/// 1 MiB).
const MAX_SCRAPE_BYTES: usize = 16 * 1024 * 1024;

/// What a Prometheus server asks for, minus OpenMetrics (not parsed here).
const ACCEPT_TEXT: &str = "text/plain;version=0.0.4;q=1,*/*;q=0.1";

/// One service's scrape source.
pub struct ScrapeSource {
    service: String,
    pub(super) config: ScrapeConfig,
    /// Sample names the charts read; the rest of a scrape is dropped.
    names: Vec<String>,
    pub(super) history: Mutex<History>,
    targets: Mutex<Vec<TargetState>>,
    /// Charts currently failing, logged once until they work again.
    warned: Mutex<BTreeSet<String>>,
}

#[derive(Debug, Default, Clone)]
struct TargetState {
    /// `None` before the first scrape.
    up: Option<bool>,
    last_error: Option<String>,
    bad_lines: bool,
}

impl ScrapeSource {
    pub fn new(service: &str, config: ScrapeConfig) -> ScrapeSource {
        let mut names: Vec<String> = config
            .queries
            .iter()
            .flat_map(|(_, q)| q.expr.sample_names())
            .collect();
        names.sort();
        names.dedup();
        let history = History::new(config.capacity(), config.interval);
        let targets = vec![TargetState::default(); config.targets.len()];
        ScrapeSource {
            service: service.into(),
            config,
            names,
            history: Mutex::new(history),
            targets: Mutex::new(targets),
            warned: Mutex::new(BTreeSet::new()),
        }
    }

    pub fn chart_names(&self) -> Vec<String> {
        self.config.queries.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Marks every target failed with `reason` (no HTTP client).
    pub(super) fn fail_all(&self, reason: &str) {
        for t in lock(&self.targets).iter_mut() {
            t.up = Some(false);
            t.last_error = Some(reason.into());
        }
    }

    /// One round: fetch every target, push what answered.
    pub(super) async fn round(&self, client: &reqwest::Client, at_ms: i64) {
        let results = join_all(
            self.config
                .targets
                .iter()
                .map(|url| fetch(client, url, self.config.timeout)),
        )
        .await;
        let mut families: Vec<MetricFamily> = Vec::new();
        let mut answered = false;
        {
            let mut states = lock(&self.targets);
            for ((url, result), state) in self
                .config
                .targets
                .iter()
                .zip(results)
                .zip(states.iter_mut())
            {
                match result {
                    Ok(parsed) => {
                        if state.up != Some(true) {
                            if state.up == Some(false) {
                                tracing::info!(service = %self.service, target = %url, "metrics target answers again");
                            } else {
                                tracing::debug!(service = %self.service, target = %url, "metrics target answers");
                            }
                        }
                        let bad = parsed.bad_lines > 0;
                        if bad && !state.bad_lines {
                            let first = parsed
                                .errors
                                .first()
                                .map(|e| e.to_string())
                                .unwrap_or_default();
                            tracing::warn!(
                                service = %self.service,
                                target = %url,
                                bad_lines = parsed.bad_lines,
                                first = %first,
                                "metrics target serves lines that are not Prometheus text; they are skipped"
                            );
                        }
                        state.bad_lines = bad;
                        state.up = Some(true);
                        state.last_error = None;
                        answered = true;
                        families.extend(
                            parsed
                                .families
                                .into_iter()
                                .map(|f| from_instance(f, url.as_str())),
                        );
                    }
                    Err(reason) => {
                        if state.up != Some(false) {
                            tracing::warn!(
                                service = %self.service,
                                target = %url,
                                error = %reason,
                                interval = ?self.config.interval,
                                "metrics scrape failed; retrying every interval, charts show a gap"
                            );
                        }
                        state.up = Some(false);
                        state.last_error = Some(reason);
                    }
                }
            }
        }
        if !answered {
            return;
        }
        let mut scrape = Scrape::new(at_ms, families);
        scrape.retain_samples_named(&self.names);
        if let Err(e) = lock(&self.history).push(scrape) {
            tracing::warn!(service = %self.service, error = %e, "metrics scrape dropped");
        }
    }

    /// The charts over the history, see [`super::MetricSources::query`].
    pub(super) fn query(
        &self,
        metric: Option<&str>,
        range_s: u64,
        step_s: u64,
        now_ms: i64,
    ) -> Result<Vec<Series>, MetricsQueryError> {
        let selected = select(&self.config.queries, &self.service, metric)?;
        let plan = plan(range_s, step_s, self.config.interval, self.config.history)?;
        let window = Window {
            start_ms: now_ms.saturating_sub(plan.range_ms),
            end_ms: now_ms,
            step_ms: plan.step_ms,
        };
        let history = lock(&self.history);
        if history.is_empty() {
            // Nothing yet: an error if the targets fail, else the first
            // scrape has not happened.
            let states = lock(&self.targets);
            if let Some((url, reason)) = self
                .config
                .targets
                .iter()
                .zip(states.iter())
                .find_map(|(url, s)| Some((url, s.last_error.clone()?)))
            {
                return Err(MetricsQueryError::Upstream {
                    url: url.to_string(),
                    reason: format!("no scrape has succeeded yet: {reason}"),
                });
            }
        }
        let mut series = Vec::with_capacity(selected.len());
        let mut warned = lock(&self.warned);
        for (name, query) in selected {
            let points = match evaluate(query, &history, window) {
                Ok(points) => {
                    warned.remove(name);
                    points
                }
                // A default chart of a metric the target does not export
                // is left out; asked for by name, it is empty.
                Err(QueryError::UnknownMetric { .. })
                    if self.config.defaults && metric.is_none() =>
                {
                    continue;
                }
                Err(e) => {
                    if warned.insert(name.clone()) {
                        tracing::warn!(service = %self.service, chart = %name, error = %e, "metrics chart has no data");
                    }
                    Vec::new()
                }
            };
            series.push(chart_series(
                &self.config.thresholds,
                name,
                &query.unit,
                points,
            ));
        }
        Ok(series)
    }
}

/// `family` as scraped from `instance`: each sample labelled with it, and
/// an `instance` label of the target's own kept as `exported_instance`, as
/// Prometheus does.
fn from_instance(mut family: MetricFamily, instance: &str) -> MetricFamily {
    for sample in &mut family.samples {
        if let Some(theirs) = sample.labels.remove("instance") {
            sample.labels.insert("exported_instance".into(), theirs);
        }
        sample.labels.insert("instance".into(), instance.into());
    }
    family
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Fetches and parses one target.
async fn fetch(
    client: &reqwest::Client,
    url: &Url,
    timeout: std::time::Duration,
) -> Result<crate::metrics::Parsed, String> {
    let response = client
        .get(url.clone())
        .header(ACCEPT, ACCEPT_TEXT)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| describe(e, timeout))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let body = read_capped(response, MAX_SCRAPE_BYTES, timeout).await?;
    let text = String::from_utf8_lossy(&body);
    let parsed = parse_lenient(&text);
    if parsed.families.is_empty() && parsed.bad_lines > 0 {
        let first = parsed
            .errors
            .first()
            .map(|e| e.to_string())
            .unwrap_or_default();
        return Err(format!("the answer is not Prometheus text format: {first}"));
    }
    Ok(parsed)
}

/// Scrapes `source` every interval until it is dropped.
pub(super) async fn run(source: Weak<ScrapeSource>, client: reqwest::Client) {
    let Some(interval) = source.upgrade().map(|s| s.config.interval) else {
        return;
    };
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(source) = source.upgrade() else {
            return;
        };
        source.round(&client, super::now_ms()).await;
    }
}
