//! Named chart queries over a scrape [`History`]: what the gateway config
//! says a chart shows, and turning it into `(unix_ms, value)` points.
//!
//! # Config
//!
//! ```toml
//! latency_p99 = { kind = "histogram_quantile", metric = "http_request_duration_seconds", quantile = 0.99, unit = "ms", scale = 1000 }
//! rps         = { kind = "rate", metric = "http_requests_total" }
//! errors      = { kind = "rate", metric = "http_requests_total", labels = { code = "=~5.." } }
//! error_rate  = { kind = "ratio", unit = "%", scale = 100, numerator = { kind = "rate", metric = "http_requests_total", labels = { code = "=~5.." } }, denominator = { kind = "rate", metric = "http_requests_total" } }
//! memory      = { kind = "gauge", metric = "process_resident_memory_bytes", unit = "bytes" }
//! ```
//!
//! * `kind`: `gauge` (the value), `rate` (per-second increase of a
//!   counter), `histogram_quantile` (from the `metric_bucket` series) or
//!   `ratio` (`numerator` / `denominator`, each a query without unit or
//!   scale).
//! * `metric`: the sample name; for `histogram_quantile` the histogram's
//!   name (a trailing `_bucket` is accepted).
//! * `labels`: matchers, all of which must hold: `"500"` is equality,
//!   `"!=500"`, `"=~5.."` (a regex matching the whole value) and `"!~2.."`
//!   work as in PromQL; `"=!x"` matches the literal `!x`. A missing label
//!   reads as empty, as in PromQL.
//! * `aggregate` (`gauge`, `rate`): how matching series combine: `sum`
//!   (default), `avg`, `min`, `max`. A histogram quantile always merges the
//!   matching series' buckets (`sum by (le)`).
//! * `unit` (free text for the chart) and `scale` (every value is
//!   multiplied by it, default 1) on the outer query only.
//!
//! # Points
//!
//! The window is cut into steps aligned to multiples of the step
//! (`[k·step, (k+1)·step)`); each step with data gives one point, stamped
//! with the time of the newest scrape that went into it:
//!
//! * gauge: the value at the newest scrape in the step (the last value);
//! * rate: every counter increase between consecutive scrapes whose later
//!   scrape falls in the step, summed and divided by the time they span
//!   (`rate(x[step])`); with a step no longer than the scrape interval that
//!   is the rate between each pair of consecutive scrapes;
//! * histogram quantile: the quantile of the bucket increases summed the
//!   same way (`histogram_quantile(q, sum by (le) (rate(x_bucket[step])))`);
//! * ratio: numerator and denominator of the same step; a step whose
//!   denominator is 0 (no traffic) has no point.
//!
//! Pairs of scrapes further apart than [`History::max_gap_ms`] are not
//! used. A series appearing in the later scrape only adds nothing (as in
//! Prometheus). When the target exports the metric but no series matches
//! the labels, `sum` is 0 (no 5xx responses yet is an error rate of 0, not
//! a missing chart); other aggregates and quantiles have no point. Points
//! are always finite: NaN and ±Inf are left out, since JSON cannot carry
//! them. A step of 0 gives one point per scrape.
//!
//! # This module must never
//! do I/O or read the clock: the caller passes the window.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

use super::exposition::{MetricKind, is_label_name, is_metric_name, parse_value};
use super::history::{History, Scrape};
use super::maths::{Aggregate, bucket_quantile, counter_increase};

/// One chart's query: what to compute, and how to show it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawQuery")]
pub struct Query {
    pub expr: Expr,
    /// Free text for the chart: `ms`, `%`, `req/s`, `bytes`; empty if none.
    pub unit: String,
    /// Every value is multiplied by this (1000 for seconds shown as ms).
    pub scale: f64,
}

/// What a query computes.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Gauge {
        metric: String,
        labels: Vec<LabelMatcher>,
        aggregate: Aggregate,
    },
    Rate {
        metric: String,
        labels: Vec<LabelMatcher>,
        aggregate: Aggregate,
    },
    HistogramQuantile {
        /// The histogram's name, without `_bucket`.
        metric: String,
        labels: Vec<LabelMatcher>,
        quantile: f64,
    },
    Ratio {
        numerator: Box<Expr>,
        denominator: Box<Expr>,
    },
}

/// One `labels` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelMatcher {
    pub label: String,
    pub test: MatchTest,
}

/// How a label value is tested.
#[derive(Debug, Clone)]
pub enum MatchTest {
    Equal(String),
    NotEqual(String),
    /// Anchored: must match the whole value.
    Regex(Regex),
    NotRegex(Regex),
}

impl PartialEq for MatchTest {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (MatchTest::Equal(a), MatchTest::Equal(b))
            | (MatchTest::NotEqual(a), MatchTest::NotEqual(b)) => a == b,
            (MatchTest::Regex(a), MatchTest::Regex(b))
            | (MatchTest::NotRegex(a), MatchTest::NotRegex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl LabelMatcher {
    /// Reads the config form: `"v"`, `"=v"`, `"!=v"`, `"=~re"`, `"!~re"`.
    pub fn parse(label: &str, text: &str) -> Result<LabelMatcher, QueryConfigError> {
        if !is_label_name(label) {
            return Err(QueryConfigError::BadLabelName {
                label: label.into(),
            });
        }
        let regex = |pattern: &str| {
            Regex::new(&format!("^(?:{pattern})$")).map_err(|e| QueryConfigError::BadRegex {
                label: label.into(),
                reason: e.to_string(),
            })
        };
        let test = if let Some(p) = text.strip_prefix("=~") {
            MatchTest::Regex(regex(p)?)
        } else if let Some(p) = text.strip_prefix("!~") {
            MatchTest::NotRegex(regex(p)?)
        } else if let Some(v) = text.strip_prefix("!=") {
            MatchTest::NotEqual(v.into())
        } else {
            MatchTest::Equal(text.strip_prefix('=').unwrap_or(text).into())
        };
        Ok(LabelMatcher {
            label: label.into(),
            test,
        })
    }

    /// Whether a series' labels pass; a missing label reads as empty.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.label).map_or("", String::as_str);
        match &self.test {
            MatchTest::Equal(v) => value == v,
            MatchTest::NotEqual(v) => value != v,
            MatchTest::Regex(r) => r.is_match(value),
            MatchTest::NotRegex(r) => !r.is_match(value),
        }
    }
}

/// Why a query in the config is refused (at load, not at chart time).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryConfigError {
    #[error("kind = \"{kind}\" needs `{field}`")]
    Missing {
        kind: &'static str,
        field: &'static str,
    },
    #[error("`{field}` has no meaning for kind = \"{kind}\"")]
    NotAllowed {
        kind: &'static str,
        field: &'static str,
    },
    #[error("`{metric}` is not a metric name (letters, digits, `_` and `:`)")]
    BadMetricName { metric: String },
    #[error("`{label}` is not a label name (letters, digits and `_`)")]
    BadLabelName { label: String },
    #[error("label `{label}`: bad regex: {reason}")]
    BadRegex { label: String, reason: String },
    #[error("`le` is chosen by `quantile`; remove it from `labels`")]
    LeInLabels,
    #[error("quantile {quantile} must be between 0 and 1 (0.99 for p99)")]
    BadQuantile { quantile: f64 },
    #[error("scale {scale} must be a finite number other than 0")]
    BadScale { scale: f64 },
    #[error("`unit` and `scale` go on the outer ratio query, not on its numerator or denominator")]
    NestedDisplay,
}

/// The config form, checked into [`Query`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    kind: Kind,
    metric: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    aggregate: Option<Aggregate>,
    quantile: Option<f64>,
    numerator: Option<Box<RawQuery>>,
    denominator: Option<Box<RawQuery>>,
    unit: Option<String>,
    scale: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Gauge,
    Rate,
    HistogramQuantile,
    Ratio,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Rate => "rate",
            Kind::HistogramQuantile => "histogram_quantile",
            Kind::Ratio => "ratio",
        }
    }
}

impl TryFrom<RawQuery> for Query {
    type Error = QueryConfigError;

    fn try_from(mut raw: RawQuery) -> Result<Query, QueryConfigError> {
        let unit = raw.unit.take().unwrap_or_default();
        let scale = raw.scale.take().unwrap_or(1.0);
        if !scale.is_finite() || scale == 0.0 {
            return Err(QueryConfigError::BadScale { scale });
        }
        Ok(Query {
            expr: Expr::try_from(raw)?,
            unit,
            scale,
        })
    }
}

impl TryFrom<RawQuery> for Expr {
    type Error = QueryConfigError;

    fn try_from(raw: RawQuery) -> Result<Expr, QueryConfigError> {
        let kind = raw.kind.as_str();
        let not_allowed = |present: bool, field| {
            if present {
                Err(QueryConfigError::NotAllowed { kind, field })
            } else {
                Ok(())
            }
        };
        if raw.unit.is_some() || raw.scale.is_some() {
            return Err(QueryConfigError::NestedDisplay);
        }
        if raw.kind == Kind::Ratio {
            not_allowed(raw.metric.is_some(), "metric")?;
            not_allowed(raw.labels.is_some(), "labels")?;
            not_allowed(raw.aggregate.is_some(), "aggregate")?;
            not_allowed(raw.quantile.is_some(), "quantile")?;
            let side = |side: Option<Box<RawQuery>>, field| match side {
                Some(q) => Ok(Box::new(Expr::try_from(*q)?)),
                None => Err(QueryConfigError::Missing { kind, field }),
            };
            return Ok(Expr::Ratio {
                numerator: side(raw.numerator, "numerator")?,
                denominator: side(raw.denominator, "denominator")?,
            });
        }
        not_allowed(raw.numerator.is_some(), "numerator")?;
        not_allowed(raw.denominator.is_some(), "denominator")?;
        let metric = raw.metric.ok_or(QueryConfigError::Missing {
            kind,
            field: "metric",
        })?;
        if !is_metric_name(&metric) {
            return Err(QueryConfigError::BadMetricName { metric });
        }
        let labels = raw
            .labels
            .unwrap_or_default()
            .iter()
            .map(|(label, text)| LabelMatcher::parse(label, text))
            .collect::<Result<Vec<_>, _>>()?;
        if raw.kind == Kind::HistogramQuantile {
            not_allowed(raw.aggregate.is_some(), "aggregate")?;
            let quantile = raw.quantile.ok_or(QueryConfigError::Missing {
                kind,
                field: "quantile",
            })?;
            if !(0.0..=1.0).contains(&quantile) {
                return Err(QueryConfigError::BadQuantile { quantile });
            }
            if labels.iter().any(|m| m.label == "le") {
                return Err(QueryConfigError::LeInLabels);
            }
            let metric = match metric.strip_suffix("_bucket") {
                Some(base) if !base.is_empty() => base.to_string(),
                _ => metric,
            };
            return Ok(Expr::HistogramQuantile {
                metric,
                labels,
                quantile,
            });
        }
        not_allowed(raw.quantile.is_some(), "quantile")?;
        let aggregate = raw.aggregate.unwrap_or_default();
        Ok(if raw.kind == Kind::Gauge {
            Expr::Gauge {
                metric,
                labels,
                aggregate,
            }
        } else {
            Expr::Rate {
                metric,
                labels,
                aggregate,
            }
        })
    }
}

impl Expr {
    /// The sample names this expression reads, e.g. `x_bucket` for a
    /// histogram quantile of `x`.
    pub fn sample_names(&self) -> Vec<String> {
        match self {
            Expr::Gauge { metric, .. } | Expr::Rate { metric, .. } => vec![metric.clone()],
            Expr::HistogramQuantile { metric, .. } => vec![format!("{metric}_bucket")],
            Expr::Ratio {
                numerator,
                denominator,
            } => {
                let mut names = numerator.sample_names();
                names.extend(denominator.sample_names());
                names
            }
        }
    }
}

/// The time span a chart shows and its resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Inclusive, milliseconds since 1970.
    pub start_ms: i64,
    /// Inclusive.
    pub end_ms: i64,
    /// Length of one point's step; 0 for one point per scrape.
    pub step_ms: i64,
}

impl Window {
    /// The `range` up to `now_ms`, in steps of `step`.
    pub fn ending_at(now_ms: i64, range: Duration, step: Duration) -> Window {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Window {
            start_ms: now_ms.saturating_sub(ms(range)),
            end_ms: now_ms,
            step_ms: ms(step),
        }
    }

    fn contains(&self, t: i64) -> bool {
        self.start_ms <= t && t <= self.end_ms
    }

    fn step_of(&self, t: i64) -> i64 {
        if self.step_ms <= 0 {
            t
        } else {
            t.div_euclid(self.step_ms)
        }
    }
}

/// Why a query gives no points at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the window ends ({end_ms} ms) before it starts ({start_ms} ms)")]
    BackwardWindow { start_ms: i64, end_ms: i64 },
    #[error("the target exports no metric `{metric}`{hint}")]
    UnknownMetric {
        metric: String,
        /// Empty, or starting with `; ` (e.g. a histogram's real names).
        hint: String,
    },
}

/// The query's points in the window, oldest first, already scaled and
/// all finite. An empty history gives no points (the first scrape has not
/// happened yet); a metric that no scrape in the history knows is an
/// error, so a typo in the config reads as such and not as a flat chart.
pub fn evaluate(
    query: &Query,
    history: &History,
    window: Window,
) -> Result<Vec<(i64, f64)>, QueryError> {
    if window.end_ms < window.start_ms {
        return Err(QueryError::BackwardWindow {
            start_ms: window.start_ms,
            end_ms: window.end_ms,
        });
    }
    if !history.is_empty() {
        for name in query.expr.sample_names() {
            if !history.scrapes().rev().any(|s| s.knows(&name)) {
                return Err(unknown_metric(&name, history));
            }
        }
    }
    let points = eval(&query.expr, history, &window);
    Ok(points
        .into_values()
        .map(|(t, v)| (t, v * query.scale))
        .filter(|(_, v)| v.is_finite())
        .collect())
}

fn unknown_metric(name: &str, history: &History) -> QueryError {
    let declared = history
        .latest()
        .into_iter()
        .flat_map(|s| &s.families)
        .find(|f| f.name == name || name.strip_suffix("_bucket") == Some(f.name.as_str()));
    let hint = match declared.map(|f| (f.name.as_str(), f.kind)) {
        Some((f, MetricKind::Histogram)) => {
            format!(
                "; `{f}` is a histogram: its samples are `{f}_bucket`, `{f}_sum` and `{f}_count`"
            )
        }
        Some((f, MetricKind::Summary)) => {
            format!("; `{f}` is a summary: its samples are `{f}`, `{f}_sum` and `{f}_count`")
        }
        Some((f, kind)) => format!("; `{f}` is a {}", kind.as_str()),
        None => String::new(),
    };
    QueryError::UnknownMetric {
        metric: name.into(),
        hint,
    }
}

/// Step index → (time of the newest scrape used, value).
type Points = BTreeMap<i64, (i64, f64)>;

type Labels = BTreeMap<String, String>;

/// Per series: summed increase and the seconds it spans.
type SeriesIncreases<'h> = HashMap<&'h Labels, (f64, f64)>;

fn eval(expr: &Expr, history: &History, window: &Window) -> Points {
    match expr {
        Expr::Gauge {
            metric,
            labels,
            aggregate,
        } => gauge(history, window, metric, labels, *aggregate),
        Expr::Rate {
            metric,
            labels,
            aggregate,
        } => rates(history, window, metric, labels, *aggregate),
        Expr::HistogramQuantile {
            metric,
            labels,
            quantile,
        } => quantiles(history, window, metric, labels, *quantile),
        Expr::Ratio {
            numerator,
            denominator,
        } => {
            let top = eval(numerator, history, window);
            let bottom = eval(denominator, history, window);
            bottom
                .into_iter()
                .filter_map(|(step, (tb, den))| {
                    let (tt, num) = *top.get(&step)?;
                    (den != 0.0 && den.is_finite()).then(|| (step, (tt.max(tb), num / den)))
                })
                .collect()
        }
    }
}

fn matching<'s>(
    scrape: &'s Scrape,
    name: &str,
    matchers: &[LabelMatcher],
) -> impl Iterator<Item = (&'s Labels, f64)> {
    scrape
        .samples_named(name)
        .filter(|s| matchers.iter().all(|m| m.matches(&s.labels)))
        .map(|s| (&s.labels, s.value))
}

fn gauge(
    history: &History,
    window: &Window,
    metric: &str,
    matchers: &[LabelMatcher],
    aggregate: Aggregate,
) -> Points {
    let mut points = Points::new();
    for scrape in history
        .scrapes()
        .filter(|s| window.contains(s.at_ms) && s.knows(metric))
    {
        let all: Vec<f64> = matching(scrape, metric, matchers).map(|(_, v)| v).collect();
        let values: Vec<f64> = all.iter().copied().filter(|v| !v.is_nan()).collect();
        if values.is_empty() && !all.is_empty() {
            continue; // every match is NaN (a summary with no observations)
        }
        if let Some(v) = aggregate.apply(values) {
            points.insert(window.step_of(scrape.at_ms), (scrape.at_ms, v));
        }
    }
    points
}

/// Calls `each(step, later scrape, seconds between, earlier values)` for
/// every pair of consecutive scrapes whose later one is in the window, is
/// no more than the history's gap apart, and knows `name`.
fn for_each_pair<'h>(
    history: &'h History,
    window: &Window,
    name: &str,
    matchers: &[LabelMatcher],
    mut each: impl FnMut(i64, &'h Scrape, f64, &HashMap<&'h Labels, f64>),
) {
    let mut before: Option<(&Scrape, HashMap<&Labels, f64>)> = None;
    for scrape in history.since_one_before(window.start_ms) {
        if scrape.at_ms > window.end_ms {
            break;
        }
        let values: HashMap<&Labels, f64> = matching(scrape, name, matchers).collect();
        if let Some((prev, prev_values)) = &before
            && window.contains(scrape.at_ms)
            && scrape.at_ms - prev.at_ms <= history.max_gap_ms()
            && scrape.knows(name)
        {
            let seconds = (scrape.at_ms - prev.at_ms) as f64 / 1000.0;
            each(window.step_of(scrape.at_ms), scrape, seconds, prev_values);
        }
        before = Some((scrape, values));
    }
}

fn rates(
    history: &History,
    window: &Window,
    metric: &str,
    matchers: &[LabelMatcher],
    aggregate: Aggregate,
) -> Points {
    // Per step: newest time, and per series (increase, seconds).
    let mut steps: BTreeMap<i64, (i64, SeriesIncreases)> = BTreeMap::new();
    for_each_pair(
        history,
        window,
        metric,
        matchers,
        |step, scrape, dt, prev| {
            let (at, series) = steps.entry(step).or_default();
            *at = scrape.at_ms;
            for (labels, value) in matching(scrape, metric, matchers) {
                if let Some(&before) = prev.get(labels)
                    && let Some(inc) = counter_increase(before, value)
                {
                    let acc = series.entry(labels).or_default();
                    acc.0 += inc;
                    acc.1 += dt;
                }
            }
        },
    );
    steps
        .into_iter()
        .filter_map(|(step, (at, series))| {
            let v = aggregate.apply(series.values().map(|(inc, dt)| inc / dt))?;
            Some((step, (at, v)))
        })
        .collect()
}

fn quantiles(
    history: &History,
    window: &Window,
    metric: &str,
    matchers: &[LabelMatcher],
    q: f64,
) -> Points {
    let name = format!("{metric}_bucket");
    // Per step: newest time, and per upper bound the summed increase.
    let mut steps: BTreeMap<i64, (i64, Vec<(f64, f64)>)> = BTreeMap::new();
    for_each_pair(history, window, &name, matchers, |step, scrape, _, prev| {
        let (at, buckets) = steps.entry(step).or_default();
        *at = scrape.at_ms;
        for (labels, value) in matching(scrape, &name, matchers) {
            if let Some(bound) = labels.get("le").and_then(|le| parse_value(le))
                && let Some(&before) = prev.get(labels)
                && let Some(inc) = counter_increase(before, value)
            {
                buckets.push((bound, inc));
            }
        }
    });
    steps
        .into_iter()
        .filter_map(|(step, (at, buckets))| {
            let v = bucket_quantile(q, &buckets);
            (!v.is_nan()).then_some((step, (at, v)))
        })
        .collect()
}

impl fmt::Display for Expr {
    /// The PromQL this computes, for logs and the console (`[step]` stands
    /// for the chart's step).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let selector = |f: &mut fmt::Formatter<'_>, metric: &str, labels: &[LabelMatcher]| {
            write!(f, "{metric}")?;
            if !labels.is_empty() {
                let parts: Vec<String> = labels
                    .iter()
                    .map(|m| {
                        let (op, v) = match &m.test {
                            MatchTest::Equal(v) => ("=", v.as_str()),
                            MatchTest::NotEqual(v) => ("!=", v.as_str()),
                            MatchTest::Regex(r) => ("=~", strip_anchors(r.as_str())),
                            MatchTest::NotRegex(r) => ("!~", strip_anchors(r.as_str())),
                        };
                        format!("{}{op}{v:?}", m.label)
                    })
                    .collect();
                write!(f, "{{{}}}", parts.join(","))?;
            }
            Ok(())
        };
        let agg = |a: &Aggregate| match a {
            Aggregate::Sum => "sum",
            Aggregate::Avg => "avg",
            Aggregate::Min => "min",
            Aggregate::Max => "max",
        };
        match self {
            Expr::Gauge {
                metric,
                labels,
                aggregate,
            } => {
                write!(f, "{}(", agg(aggregate))?;
                selector(f, metric, labels)?;
                write!(f, ")")
            }
            Expr::Rate {
                metric,
                labels,
                aggregate,
            } => {
                write!(f, "{}(rate(", agg(aggregate))?;
                selector(f, metric, labels)?;
                write!(f, "[step]))")
            }
            Expr::HistogramQuantile {
                metric,
                labels,
                quantile,
            } => {
                write!(f, "histogram_quantile({quantile}, sum by (le) (rate(")?;
                selector(f, &format!("{metric}_bucket"), labels)?;
                write!(f, "[step])))")
            }
            Expr::Ratio {
                numerator,
                denominator,
            } => write!(f, "{numerator} / {denominator}"),
        }
    }
}

fn strip_anchors(pattern: &str) -> &str {
    pattern
        .strip_prefix("^(?:")
        .and_then(|p| p.strip_suffix(")$"))
        .unwrap_or(pattern)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::exposition::parse;

    const ALL: Window = Window {
        start_ms: 0,
        end_ms: i64::MAX,
        step_ms: 0,
    };

    #[derive(Debug, Deserialize)]
    struct Config {
        q: Query,
    }

    fn query(toml_value: &str) -> Query {
        toml::from_str::<Config>(&format!("q = {toml_value}"))
            .unwrap_or_else(|e| panic!("{toml_value}: {e}"))
            .q
    }

    fn config_error(toml_value: &str) -> String {
        toml::from_str::<Config>(&format!("q = {toml_value}"))
            .expect_err(toml_value)
            .to_string()
    }

    /// A history scraped every 10 s from `(unix_ms, exposition text)`.
    fn history(scrapes: &[(i64, String)]) -> History {
        let mut history = History::new(100, Duration::from_secs(10));
        for (at, text) in scrapes {
            history
                .push(Scrape::new(*at, parse(text).unwrap()))
                .unwrap();
        }
        history
    }

    fn points(q: &str, history: &History, window: Window) -> Vec<(i64, f64)> {
        evaluate(&query(q), history, window).unwrap()
    }

    fn close(got: &[(i64, f64)], want: &[(i64, f64)]) -> bool {
        got.len() == want.len()
            && got
                .iter()
                .zip(want)
                .all(|(g, w)| g.0 == w.0 && (g.1 - w.1).abs() <= 1e-9 * w.1.abs().max(1.0))
    }

    fn requests(ok: u32, errors: Option<u32>) -> String {
        let mut text = String::from(
            "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n",
        );
        text += &format!("http_requests_total{{code=\"200\",handler=\"/api\"}} {ok}\n");
        if let Some(errors) = errors {
            text += &format!("http_requests_total{{code=\"500\",handler=\"/api\"}} {errors}\n");
        }
        text
    }

    const BOUNDS: [&str; 5] = ["0.1", "0.25", "0.5", "1", "+Inf"];

    /// A latency histogram with cumulative counts per handler.
    fn latency(per_handler: &[(&str, [u32; 5])]) -> String {
        let mut text = String::from("# TYPE http_request_duration_seconds histogram\n");
        for (handler, counts) in per_handler {
            for (le, count) in BOUNDS.iter().zip(counts) {
                text += &format!(
                    "http_request_duration_seconds_bucket{{handler=\"{handler}\",le=\"{le}\"}} {count}\n"
                );
            }
            text += &format!(
                "http_request_duration_seconds_count{{handler=\"{handler}\"}} {}\n",
                counts[4]
            );
        }
        text
    }

    const RATE: &str = r#"{ kind = "rate", metric = "http_requests_total" }"#;

    #[test]
    fn rate_between_two_scrapes_ten_seconds_apart() {
        let h = history(&[
            (0, requests(1000, Some(10))),
            (10_000, requests(1250, Some(40))),
        ]);
        // (1250 − 1000) + (40 − 10) = 280 requests in 10 s: 28 req/s.
        assert_eq!(points(RATE, &h, ALL), [(10_000, 28.0)]);
        // 5xx only: (40 − 10) / 10 = 3 req/s.
        let errors =
            r#"{ kind = "rate", metric = "http_requests_total", labels = { code = "=~5.." } }"#;
        assert_eq!(points(errors, &h, ALL), [(10_000, 3.0)]);
        // Error rate in percent: 3 / 28 × 100 = 10.714285714…
        let ratio = r#"{ kind = "ratio", unit = "%", scale = 100,
            numerator = { kind = "rate", metric = "http_requests_total", labels = { code = "=~5.." } },
            denominator = { kind = "rate", metric = "http_requests_total" } }"#;
        assert!(close(&points(ratio, &h, ALL), &[(10_000, 300.0 / 28.0)]));
    }

    #[test]
    fn a_counter_reset_counts_from_zero_in_the_rate() {
        let h = history(&[
            (0, requests(1000, None)),
            (10_000, requests(1100, None)),
            (20_000, requests(30, None)), // the service restarted
            (30_000, requests(90, None)),
        ]);
        // 100/10 = 10; after the restart 30 counted from 0: 30/10 = 3
        // (not −107); then (90 − 30)/10 = 6.
        assert_eq!(
            points(RATE, &h, ALL),
            [(10_000, 10.0), (20_000, 3.0), (30_000, 6.0)]
        );
    }

    #[test]
    fn a_step_longer_than_the_interval_averages_rates_over_time() {
        let h = history(&[
            (0, requests(1000, None)),
            (10_000, requests(1100, None)),
            (20_000, requests(30, None)),
            (30_000, requests(90, None)),
        ]);
        let window = Window {
            step_ms: 20_000,
            ..ALL
        };
        // Step [0, 20 s): the pair ending at 10 s: 100/10 = 10.
        // Step [20 s, 40 s): pairs ending at 20 s and 30 s: (30 + 60) /
        // (10 + 10) = 4.5, stamped with the newest scrape (30 s).
        assert_eq!(points(RATE, &h, window), [(10_000, 10.0), (30_000, 4.5)]);
    }

    #[test]
    fn two_missed_scrapes_leave_a_hole_instead_of_a_made_up_rate() {
        let h = history(&[
            (0, requests(100, None)),
            (10_000, requests(200, None)),
            // 20 s and 30 s failed: 30 s between scrapes > 25 s.
            (40_000, requests(500, None)),
            (50_000, requests(600, None)),
            // 60 s failed only: 20 s between scrapes, bridged.
            (70_000, requests(800, None)),
        ]);
        // 100/10 = 10; no point at 40 s; 100/10 = 10; 200/20 = 10.
        assert_eq!(
            points(RATE, &h, ALL),
            [(10_000, 10.0), (50_000, 10.0), (70_000, 10.0)]
        );
    }

    #[test]
    fn only_scrapes_ending_inside_the_window_count() {
        let h = history(&[
            (0, requests(0, None)),
            (10_000, requests(100, None)),
            (20_000, requests(300, None)),
            (30_000, requests(600, None)),
        ]);
        let window = Window {
            start_ms: 15_000,
            end_ms: 25_000,
            step_ms: 0,
        };
        // Only the pair 10 s → 20 s ends inside: 200/10 = 20.
        assert_eq!(points(RATE, &h, window), [(20_000, 20.0)]);
    }

    const P50_MS: &str = r#"{ kind = "histogram_quantile", metric = "http_request_duration_seconds", quantile = 0.5, unit = "ms", scale = 1000 }"#;
    const P99_MS: &str = r#"{ kind = "histogram_quantile", metric = "http_request_duration_seconds", quantile = 0.99, unit = "ms", scale = 1000 }"#;

    fn latency_history() -> History {
        let before = latency(&[
            ("/a", [70, 100, 110, 115, 116]),
            ("/b", [30, 50, 60, 65, 66]),
        ]);
        let after = latency(&[
            ("/a", [100, 150, 170, 179, 181]),
            ("/b", [40, 70, 90, 99, 101]),
        ]);
        // 20 s: nothing observed since 10 s.
        history(&[(0, before), (10_000, after.clone()), (20_000, after)])
    }

    #[test]
    fn histogram_quantile_from_bucket_increases() {
        let h = latency_history();
        // Increases /a: 30, 50, 60, 64, 65; /b: 10, 20, 30, 34, 35.
        // Summed by le: 40, 70, 90, 98, 100 (cumulative).
        // p50: rank 50 in le=0.25 (40 below it, 30 in it):
        // 0.1 + (0.25 − 0.1) × (50 − 40)/30 = 0.15 s = 150 ms.
        // The scrape at 20 s saw no new requests: no point.
        assert!(close(&points(P50_MS, &h, ALL), &[(10_000, 150.0)]));
        // p99: rank 99 > 98 (le=1), so in +Inf: the largest finite bound,
        // 1 s = 1000 ms.
        assert_eq!(points(P99_MS, &h, ALL), [(10_000, 1000.0)]);
        // /a alone: 30, 50, 60, 64, 65; p50 rank 32.5 in le=0.25:
        // 0.1 + 0.15 × (32.5 − 30)/20 = 0.11875 s = 118.75 ms.
        let a = r#"{ kind = "histogram_quantile", metric = "http_request_duration_seconds_bucket", labels = { handler = "/a" }, quantile = 0.5, scale = 1000 }"#;
        assert!(close(&points(a, &h, ALL), &[(10_000, 118.75)]));
    }

    #[test]
    fn keeping_only_the_queried_samples_changes_no_point() {
        let full = latency_history();
        let q = query(P50_MS);
        let mut trimmed = History::new(100, Duration::from_secs(10));
        for scrape in full.scrapes() {
            let mut scrape = scrape.clone();
            scrape.retain_samples_named(&q.expr.sample_names());
            trimmed.push(scrape).unwrap();
        }
        assert_eq!(evaluate(&q, &trimmed, ALL), evaluate(&q, &full, ALL));
    }

    #[test]
    fn error_ratio_with_no_traffic_has_no_point() {
        let ratio = r#"{ kind = "ratio",
            numerator = { kind = "rate", metric = "http_requests_total", labels = { code = "500" } },
            denominator = { kind = "rate", metric = "http_requests_total" } }"#;
        let h = history(&[
            (0, requests(100, Some(5))),
            (10_000, requests(100, Some(5))),  // no requests: 0/0
            (20_000, requests(150, Some(5))),  // 50 ok, no errors: 0/5
            (30_000, requests(150, Some(25))), // 20 errors of 20: 2/2
        ]);
        assert_eq!(points(ratio, &h, ALL), [(20_000, 0.0), (30_000, 1.0)]);
    }

    #[test]
    fn errors_that_never_happened_are_a_zero_rate_not_a_missing_chart() {
        // The 500 series does not exist yet; the counter family does.
        let h = history(&[(0, requests(100, None)), (10_000, requests(200, None))]);
        let errors =
            r#"{ kind = "rate", metric = "http_requests_total", labels = { code = "500" } }"#;
        assert_eq!(points(errors, &h, ALL), [(10_000, 0.0)]);
        // The Python client declares a labelled counter before its first
        // increment: HELP and TYPE with no samples. Still 0, not an error.
        let declared = "# TYPE payment_errors_total counter\n".to_string();
        let h = history(&[(0, declared.clone()), (10_000, declared)]);
        let q = r#"{ kind = "rate", metric = "payment_errors_total" }"#;
        assert_eq!(points(q, &h, ALL), [(10_000, 0.0)]);
        // Averages of nothing are nothing.
        let q = r#"{ kind = "rate", metric = "payment_errors_total", aggregate = "avg" }"#;
        assert_eq!(points(q, &h, ALL), []);
    }

    fn filesystems(root: f64, run: f64) -> String {
        format!(
            "# TYPE node_filesystem_avail_bytes gauge\n\
             node_filesystem_avail_bytes{{mountpoint=\"/\"}} {root}\n\
             node_filesystem_avail_bytes{{mountpoint=\"/run\"}} {run}\n"
        )
    }

    #[test]
    fn gauges_are_summed_averaged_or_picked_over_label_sets() {
        let h = history(&[(0, filesystems(100.0, 20.0))]);
        let q = |extra: &str| {
            format!(r#"{{ kind = "gauge", metric = "node_filesystem_avail_bytes"{extra} }}"#)
        };
        assert_eq!(points(&q(""), &h, ALL), [(0, 120.0)]);
        assert_eq!(points(&q(r#", aggregate = "avg""#), &h, ALL), [(0, 60.0)]);
        assert_eq!(points(&q(r#", aggregate = "max""#), &h, ALL), [(0, 100.0)]);
        assert_eq!(points(&q(r#", aggregate = "min""#), &h, ALL), [(0, 20.0)]);
        let root = q(r#", labels = { mountpoint = "/" }"#);
        assert_eq!(points(&root, &h, ALL), [(0, 100.0)]);
        let not_root = q(r#", labels = { mountpoint = "!=/" }"#);
        assert_eq!(points(&not_root, &h, ALL), [(0, 20.0)]);
        // A missing label reads as empty, as in PromQL.
        let no_device = q(r#", labels = { device = "" }"#);
        assert_eq!(points(&no_device, &h, ALL), [(0, 120.0)]);
    }

    #[test]
    fn a_gauge_step_shows_its_last_value() {
        let h = history(&[
            (0, filesystems(1.0, 0.0)),
            (10_000, filesystems(2.0, 0.0)),
            (20_000, filesystems(3.0, 0.0)),
            (30_000, filesystems(4.0, 0.0)),
        ]);
        let window = Window {
            step_ms: 20_000,
            ..ALL
        };
        let q = r#"{ kind = "gauge", metric = "node_filesystem_avail_bytes", scale = 0.5 }"#;
        assert_eq!(points(q, &h, window), [(10_000, 1.0), (30_000, 2.0)]);
    }

    #[test]
    fn nan_and_infinite_values_never_reach_the_chart() {
        let h = history(&[
            (
                0,
                "# TYPE rpc summary\nrpc{quantile=\"0.99\"} NaN\nrpc_count 0\nspeed +Inf\n".into(),
            ),
            (
                10_000,
                "# TYPE rpc summary\nrpc{quantile=\"0.99\"} 0.25\nrpc_count 1\nspeed 5\n".into(),
            ),
        ]);
        let p99 = r#"{ kind = "gauge", metric = "rpc", labels = { quantile = "0.99" } }"#;
        // NaN (no observations yet) is no point, not a sum of 0.
        assert_eq!(points(p99, &h, ALL), [(10_000, 0.25)]);
        let speed = r#"{ kind = "gauge", metric = "speed" }"#;
        assert_eq!(points(speed, &h, ALL), [(10_000, 5.0)]);
    }

    #[test]
    fn an_empty_history_has_no_points_yet() {
        let h = History::new(10, Duration::from_secs(10));
        assert_eq!(points(RATE, &h, ALL), []);
    }

    #[test]
    fn a_misspelt_metric_is_an_error_not_a_flat_chart() {
        let h = latency_history();
        let q = query(r#"{ kind = "rate", metric = "http_request_duration_seconds" }"#);
        let err = evaluate(&q, &h, ALL).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the target exports no metric `http_request_duration_seconds`; \
             `http_request_duration_seconds` is a histogram: its samples are \
             `http_request_duration_seconds_bucket`, `http_request_duration_seconds_sum` and \
             `http_request_duration_seconds_count`"
        );
        let q = query(r#"{ kind = "gauge", metric = "htp_requests_total" }"#);
        assert_eq!(
            evaluate(&q, &h, ALL),
            Err(QueryError::UnknownMetric {
                metric: "htp_requests_total".into(),
                hint: String::new()
            })
        );
        let q = query(r#"{ kind = "histogram_quantile", metric = "rpc", quantile = 0.5 }"#);
        assert!(matches!(
            evaluate(&q, &h, ALL),
            Err(QueryError::UnknownMetric { metric, .. }) if metric == "rpc_bucket"
        ));
    }

    #[test]
    fn a_backward_window_is_refused() {
        let h = latency_history();
        let window = Window {
            start_ms: 10,
            end_ms: 5,
            step_ms: 0,
        };
        assert_eq!(
            evaluate(&query(RATE), &h, window),
            Err(QueryError::BackwardWindow {
                start_ms: 10,
                end_ms: 5
            })
        );
    }

    #[test]
    fn windows_end_now_and_reach_back_the_range() {
        let w = Window::ending_at(1_000_000, Duration::from_secs(300), Duration::from_secs(2));
        assert_eq!(
            w,
            Window {
                start_ms: 700_000,
                end_ms: 1_000_000,
                step_ms: 2_000
            }
        );
    }

    #[test]
    fn config_examples_read_into_queries() {
        let q = query(P99_MS);
        assert_eq!(q.unit, "ms");
        assert_eq!(q.scale, 1000.0);
        assert_eq!(
            q.expr,
            Expr::HistogramQuantile {
                metric: "http_request_duration_seconds".into(),
                labels: vec![],
                quantile: 0.99
            }
        );
        let q = query(
            r#"{ kind = "rate", metric = "http_requests_total", labels = { status = "5xx" } }"#,
        );
        assert_eq!((q.unit.as_str(), q.scale), ("", 1.0));
        assert_eq!(
            q.expr,
            Expr::Rate {
                metric: "http_requests_total".into(),
                labels: vec![LabelMatcher {
                    label: "status".into(),
                    test: MatchTest::Equal("5xx".into())
                }],
                aggregate: Aggregate::Sum
            }
        );
        // The module documentation's examples all load.
        let doc = include_str!("query.rs");
        let start = doc.find("//! ```toml\n").unwrap() + "//! ```toml\n".len();
        let end = start + doc[start..].find("//! ```\n").unwrap();
        let table: String = doc[start..end]
            .lines()
            .map(|l| l.trim_start_matches("//! "))
            .map(|l| format!("{l}\n"))
            .collect();
        let charts: BTreeMap<String, Query> = toml::from_str(&table).unwrap();
        assert_eq!(charts.len(), 5);
        assert_eq!(charts["error_rate"].unit, "%");
    }

    #[test]
    fn queries_describe_themselves_as_promql() {
        let q = query(
            r#"{ kind = "ratio",
            numerator = { kind = "rate", metric = "http_requests_total", labels = { code = "=~5..", handler = "!=/healthz" } },
            denominator = { kind = "rate", metric = "http_requests_total" } }"#,
        );
        assert_eq!(
            q.expr.to_string(),
            r#"sum(rate(http_requests_total{code=~"5..",handler!="/healthz"}[step])) / sum(rate(http_requests_total[step]))"#
        );
        assert_eq!(
            query(P99_MS).expr.to_string(),
            "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[step])))"
        );
        let q = query(r#"{ kind = "gauge", metric = "up", aggregate = "min" }"#);
        assert_eq!(q.expr.to_string(), "min(up)");
    }

    #[test]
    fn bad_config_says_what_to_fix() {
        for (toml_value, fragment) in [
            (
                r#"{ kind = "histogram_quantile", metric = "x" }"#,
                "needs `quantile`",
            ),
            (
                r#"{ kind = "histogram_quantile", metric = "x", quantile = 99 }"#,
                "between 0 and 1",
            ),
            (
                r#"{ kind = "histogram_quantile", metric = "x", quantile = 0.9, aggregate = "sum" }"#,
                "`aggregate` has no meaning",
            ),
            (
                r#"{ kind = "histogram_quantile", metric = "x", quantile = 0.9, labels = { le = "1" } }"#,
                "remove it from `labels`",
            ),
            (
                r#"{ kind = "rate", metric = "x", quantile = 0.9 }"#,
                "`quantile` has no meaning",
            ),
            (r#"{ kind = "rate" }"#, "needs `metric`"),
            (r#"{ kind = "rate", metric = "x-y" }"#, "not a metric name"),
            (
                r#"{ kind = "rate", metric = "x", labels = { "a-b" = "1" } }"#,
                "not a label name",
            ),
            (
                r#"{ kind = "rate", metric = "x", labels = { a = "=~(" } }"#,
                "bad regex",
            ),
            (r#"{ kind = "rate", metric = "x", scale = 0 }"#, "scale 0"),
            (
                r#"{ kind = "rate", metric = "x", metrc = "y" }"#,
                "unknown field `metrc`",
            ),
            (
                r#"{ kind = "counter", metric = "x" }"#,
                "unknown variant `counter`",
            ),
            (
                r#"{ kind = "ratio", numerator = { kind = "rate", metric = "x" } }"#,
                "needs `denominator`",
            ),
            (
                r#"{ kind = "ratio", metric = "x", numerator = { kind = "rate", metric = "x" }, denominator = { kind = "rate", metric = "y" } }"#,
                "`metric` has no meaning",
            ),
            (
                r#"{ kind = "ratio", numerator = { kind = "rate", metric = "x", unit = "%" }, denominator = { kind = "rate", metric = "y" } }"#,
                "go on the outer ratio",
            ),
            (
                r#"{ kind = "gauge", metric = "x", numerator = { kind = "rate", metric = "x" } }"#,
                "`numerator` has no meaning",
            ),
        ] {
            let err = config_error(toml_value);
            assert!(err.contains(fragment), "{toml_value}: {err}");
        }
    }
}
