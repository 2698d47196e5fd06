//! `[services.NAME.metrics]`: where a service's charts come from.
//!
//! ```toml
//! # Either the gateway scrapes Prometheus text endpoints itself and keeps
//! # a bounded history of them in memory:
//! [services.payments.metrics]
//! scrape = ["http://127.0.0.1:9101/metrics"]  # one or more targets, http or https
//! interval = "5s"   # how often; default 5s, at least 1s
//! history = "1h"    # how far back charts reach; default 1h (history/interval scrapes kept)
//! timeout = "5s"    # per scrape; default the interval, at most 10s, never above the interval
//! [services.payments.metrics.queries]       # named charts, src/metrics/query.rs syntax
//! rps = { kind = "rate", metric = "http_requests_total", unit = "req/s" }
//! latency_p99 = { kind = "histogram_quantile", metric = "http_request_duration_seconds", quantile = 0.99, unit = "ms", scale = 1000 }
//!
//! # Or named PromQL queries against a Prometheus server's HTTP API:
//! [services.search.metrics]
//! prometheus = "http://prometheus:9090"       # the server's base URL (a path prefix is kept)
//! timeout = "5s"     # per query; default 5s
//! max_range = "7d"   # longest range a chart may ask for; default 7d
//! [services.search.metrics.queries]
//! rps = { promql = 'sum(rate(http_requests_total{service="search"}[1m]))', unit = "req/s" }
//! ```
//!
//! A scrape source without `queries` charts the usual figures of an HTTP
//! service, see [`default_queries`]; each of them only appears when the
//! target exports its metric. A prometheus source needs its queries.
//!
//! Several scrape targets are one service's instances: each round scrapes
//! them all at once, every sample gets an `instance` label naming its target
//! (a label of that name sent by the target is kept as `exported_instance`,
//! as Prometheus does), and the queries aggregate across them (`sum` by
//! default, histogram buckets merged).
//!
//! Every error names the key and what it accepts.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

use crate::metrics::Query;

/// Keys of a scrape source.
const SCRAPE_KEYS: &[&str] = &["scrape", "interval", "history", "timeout", "queries"];
/// Keys of a prometheus source.
const PROMETHEUS_KEYS: &[&str] = &["prometheus", "timeout", "max_range", "queries"];

/// Most scrapes one service's history may keep (a day at 1 s).
pub const MAX_HISTORY_SCRAPES: u64 = 86_400;
/// Longest timeout of one scrape.
const MAX_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// One service's validated metrics source.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSourceConfig {
    pub input: MetricInput,
}

/// Where the figures come from.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricInput {
    Scrape(ScrapeConfig),
    Prometheus(PrometheusConfig),
}

/// `scrape = [...]`: the gateway scrapes the targets itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeConfig {
    pub targets: Vec<Url>,
    /// Time between two scrape rounds (the config accepts whole seconds;
    /// code and tests may use less).
    pub interval: Duration,
    /// How far back charts reach; `history / interval` scrapes are kept.
    pub history: Duration,
    /// Per scrape, at most `interval`.
    pub timeout: Duration,
    /// Named charts, in config order.
    pub queries: Vec<(String, Query)>,
    /// Each chart's `warn` / `critical` levels, by name.
    pub thresholds: BTreeMap<String, Thresholds>,
    /// The queries are [`default_queries`] (none were configured): a chart
    /// whose metric the target does not export is left out instead of
    /// shown empty.
    pub defaults: bool,
}

/// `prometheus = "URL"`: named PromQL queries via the HTTP API.
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusConfig {
    /// Base URL; `/api/v1/query_range` is appended to its path.
    pub url: Url,
    /// Named charts, in config order.
    pub queries: Vec<(String, PromQuery)>,
    /// Each chart's `warn` / `critical` levels, by name.
    pub thresholds: BTreeMap<String, Thresholds>,
    /// Per query_range request.
    pub timeout: Duration,
    /// Longer ranges are shortened to this.
    pub max_range: Duration,
}

/// A chart's levels (in its unit, after `scale`): `warn = 500,
/// critical = 1000` beside a chart's other keys; values at or above them
/// are drawn as such.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Thresholds {
    pub warn: Option<f64>,
    pub critical: Option<f64>,
}

/// Chart `name` as the protocol carries it: its points and its levels
/// from `thresholds` (none when it has no entry).
pub fn chart_series(
    thresholds: &BTreeMap<String, Thresholds>,
    name: &str,
    unit: &str,
    points: Vec<(i64, f64)>,
) -> crate::protocol::Series {
    let levels = thresholds.get(name).copied().unwrap_or_default();
    crate::protocol::Series {
        name: name.to_string(),
        unit: unit.to_string(),
        points,
        warn: levels.warn,
        critical: levels.critical,
    }
}

/// One named PromQL chart.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromQuery {
    pub promql: String,
    #[serde(default)]
    pub unit: String,
}

impl ScrapeConfig {
    /// A scrape source of `targets` with the defaults (every 5 s, 1 h of
    /// history, the default charts).
    pub fn new(targets: Vec<Url>) -> ScrapeConfig {
        ScrapeConfig {
            targets,
            interval: DEFAULT_INTERVAL,
            history: DEFAULT_HISTORY,
            timeout: DEFAULT_INTERVAL,
            queries: default_queries(),
            thresholds: default_thresholds(),
            defaults: true,
        }
    }

    /// How many scrapes the history keeps: enough to cover `history`, plus
    /// the one just before it (a rate needs a pair).
    pub fn capacity(&self) -> usize {
        let interval = self.interval.as_millis().max(1);
        let n = self.history.as_millis().div_ceil(interval) + 1;
        usize::try_from(n).unwrap_or(usize::MAX)
    }
}

const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_HISTORY: Duration = Duration::from_secs(3600);
const DEFAULT_PROMETHEUS_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_MAX_RANGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The charts of a scrape source without `queries`, for a service
/// instrumented the usual way (the Prometheus client libraries' and the
/// demo's names):
///
/// * `rps`: `sum(rate(http_requests_total))`, req/s;
/// * `error_ratio`: the share of `http_requests_total` with a 5xx `code`
///   label, in %;
/// * `latency_p99`: the 99th percentile of the
///   `http_request_duration_seconds` histogram, in ms;
/// * `memory`: `process_resident_memory_bytes`, in bytes.
pub fn default_queries() -> Vec<(String, Query)> {
    const DEFAULTS: &str = r#"
rps = { kind = "rate", metric = "http_requests_total", unit = "req/s" }
error_ratio = { kind = "ratio", unit = "%", scale = 100, numerator = { kind = "rate", metric = "http_requests_total", labels = { code = "=~5.." } }, denominator = { kind = "rate", metric = "http_requests_total" } }
latency_p99 = { kind = "histogram_quantile", metric = "http_request_duration_seconds", quantile = 0.99, unit = "ms", scale = 1000 }
memory = { kind = "gauge", metric = "process_resident_memory_bytes", unit = "bytes" }
"#;
    let table: toml::Table = toml::from_str(DEFAULTS).expect("the default queries are TOML");
    let mut queries: Vec<(String, Query)> = table
        .into_iter()
        .map(|(name, q)| (name, q.try_into().expect("the default queries are valid")))
        .collect();
    // In this order whatever the TOML map's order.
    let order = ["rps", "error_ratio", "latency_p99", "memory"];
    queries.sort_by_key(|(name, _)| order.iter().position(|o| o == name));
    queries
}

impl MetricSourceConfig {
    /// A scrape source of `targets` with every default.
    pub fn scrape(targets: Vec<Url>) -> MetricSourceConfig {
        MetricSourceConfig {
            input: MetricInput::Scrape(ScrapeConfig::new(targets)),
        }
    }

    /// Reads and checks a `[services.NAME.metrics]` table.
    pub fn from_toml(value: toml::Value) -> Result<MetricSourceConfig, String> {
        let toml::Value::Table(mut table) = value else {
            return Err(format!(
                "expected a table with `scrape = [\"http://HOST:PORT/metrics\"]` or `prometheus = \"http://HOST:9090\"`, found {}",
                value.type_str()
            ));
        };
        let input = match (
            table.contains_key("scrape"),
            table.contains_key("prometheus"),
        ) {
            (true, true) => {
                return Err(
                    "give either `scrape` (the gateway scrapes the endpoints itself) or `prometheus` (PromQL against a Prometheus server), not both"
                        .into(),
                );
            }
            (false, false) => {
                return Err(match table.keys().find(|k| !all_keys().contains(&k.as_str())) {
                    Some(k) => unknown_key(k, "a metrics source", &all_keys()),
                    None => "say where the figures come from: `scrape = [\"http://HOST:PORT/metrics\"]` or `prometheus = \"http://HOST:9090\"`".into(),
                });
            }
            (true, false) => {
                check_keys(&table, "scrape", SCRAPE_KEYS, PROMETHEUS_KEYS)?;
                MetricInput::Scrape(scrape_config(&mut table)?)
            }
            (false, true) => {
                check_keys(&table, "prometheus", PROMETHEUS_KEYS, SCRAPE_KEYS)?;
                MetricInput::Prometheus(prometheus_config(&mut table)?)
            }
        };
        Ok(MetricSourceConfig { input })
    }
}

fn all_keys() -> Vec<&'static str> {
    let mut keys: Vec<&str> = SCRAPE_KEYS.to_vec();
    keys.extend(PROMETHEUS_KEYS.iter().filter(|k| !SCRAPE_KEYS.contains(k)));
    keys
}

fn unknown_key(key: &str, what: &str, accepted: &[&str]) -> String {
    format!(
        "unknown key `{key}` in {what}; accepted: {}",
        accepted
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn check_keys(
    table: &toml::Table,
    kind: &str,
    accepted: &[&str],
    other: &[&str],
) -> Result<(), String> {
    for key in table.keys() {
        if accepted.contains(&key.as_str()) {
            continue;
        }
        if other.contains(&key.as_str()) {
            return Err(format!(
                "`{key}` applies to {} sources only; a `{kind}` source accepts: {}",
                if kind == "scrape" {
                    "`prometheus`"
                } else {
                    "`scrape`"
                },
                accepted
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        return Err(unknown_key(key, &format!("a `{kind}` source"), accepted));
    }
    Ok(())
}

fn duration(table: &mut toml::Table, key: &str) -> Result<Option<Duration>, String> {
    match table.remove(key) {
        None => Ok(None),
        Some(v) => crate::duration::serde_human::deserialize(v)
            .map(Some)
            .map_err(|e: toml::de::Error| format!("`{key}`: {}", e.message().trim_end())),
    }
}

fn url(key: &str, text: &str, example: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| {
        format!("`{key}`: `{text}` is not a URL ({e}); write it in full, e.g. \"{example}\"")
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "`{key}`: `{text}` must be an http:// or https:// URL with a host, e.g. \"{example}\""
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "`{key}`: `{text}` carries credentials; they would show in logs and errors, so they are not accepted"
        ));
    }
    Ok(url)
}

fn scrape_config(table: &mut toml::Table) -> Result<ScrapeConfig, String> {
    const EXAMPLE: &str = "http://127.0.0.1:9101/metrics";
    let shape_error =
        || format!("`scrape`: give a list of the endpoints' URLs, e.g. scrape = [\"{EXAMPLE}\"]");
    let targets = match table.remove("scrape") {
        Some(toml::Value::Array(items)) => {
            if items.is_empty() {
                return Err(shape_error());
            }
            let mut targets: Vec<Url> = Vec::new();
            for item in items {
                let toml::Value::String(text) = item else {
                    return Err(shape_error());
                };
                let target = url("scrape", &text, EXAMPLE)?;
                if targets.contains(&target) {
                    return Err(format!("`scrape`: `{text}` is listed twice"));
                }
                targets.push(target);
            }
            targets
        }
        _ => return Err(shape_error()),
    };
    let interval = duration(table, "interval")?.unwrap_or(DEFAULT_INTERVAL);
    if interval < Duration::from_secs(1) {
        return Err("`interval`: must be at least 1s (e.g. interval = \"5s\")".into());
    }
    let history = duration(table, "history")?.unwrap_or(DEFAULT_HISTORY);
    if history < interval {
        return Err(format!(
            "`history`: must be at least the interval ({}), e.g. history = \"1h\"",
            crate::duration::format_duration(interval)
        ));
    }
    if history.as_secs() / interval.as_secs() > MAX_HISTORY_SCRAPES {
        return Err(format!(
            "`history`: {} at an interval of {} would keep more than {MAX_HISTORY_SCRAPES} scrapes in memory; shorten `history` or lengthen `interval`",
            crate::duration::format_duration(history),
            crate::duration::format_duration(interval)
        ));
    }
    let default_timeout = interval.min(MAX_SCRAPE_TIMEOUT);
    let timeout = duration(table, "timeout")?.unwrap_or(default_timeout);
    if timeout.is_zero() || timeout > interval || timeout > MAX_SCRAPE_TIMEOUT {
        return Err(format!(
            "`timeout`: must be between 1s and the interval ({}), at most 10s",
            crate::duration::format_duration(interval)
        ));
    }
    let mut thresholds = BTreeMap::new();
    let (queries, defaults) = match table.remove("queries") {
        None => {
            thresholds = default_thresholds();
            (default_queries(), true)
        }
        Some(v) => (
            named_queries(v, &mut thresholds, |name, q| {
                if q.as_table().is_some_and(|t| t.contains_key("promql")) {
                    return Err(format!(
                        "`queries.{name}`: `promql` needs a `prometheus` source; a scrape source's queries take `kind` and `metric` (kind = \"gauge\" | \"rate\" | \"histogram_quantile\" | \"ratio\")"
                    ));
                }
                q.try_into::<Query>()
                    .map_err(|e| format!("`queries.{name}`: {}", e.message().trim_end()))
            })?,
            false,
        ),
    };
    Ok(ScrapeConfig {
        targets,
        interval,
        history,
        timeout,
        queries,
        thresholds,
        defaults,
    })
}

fn prometheus_config(table: &mut toml::Table) -> Result<PrometheusConfig, String> {
    const EXAMPLE: &str = "http://prometheus:9090";
    let url = match table.remove("prometheus") {
        Some(toml::Value::String(text)) => url("prometheus", &text, EXAMPLE)?,
        _ => {
            return Err(format!(
                "`prometheus`: give the server's base URL as a string, e.g. prometheus = \"{EXAMPLE}\""
            ));
        }
    };
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`prometheus`: give the base URL only, without `?…` or `#…`, e.g. \"{EXAMPLE}\""
        ));
    }
    let timeout = duration(table, "timeout")?.unwrap_or(DEFAULT_PROMETHEUS_TIMEOUT);
    if timeout.is_zero() || timeout > Duration::from_secs(60) {
        return Err("`timeout`: must be between 1s and 60s (default 5s)".into());
    }
    let max_range = duration(table, "max_range")?.unwrap_or(DEFAULT_MAX_RANGE);
    if max_range < Duration::from_secs(60) {
        return Err("`max_range`: must be at least 1m (default 7d)".into());
    }
    let mut thresholds = BTreeMap::new();
    let queries = match table.remove("queries") {
        None => {
            return Err(
                "a `prometheus` source needs its charts: add a `queries` table, e.g. [services.NAME.metrics.queries] rps = { promql = 'sum(rate(http_requests_total{service=\"NAME\"}[1m]))', unit = \"req/s\" }"
                    .into(),
            );
        }
        Some(v) => named_queries(v, &mut thresholds, |name, q| {
            if q.as_table().is_some_and(|t| t.contains_key("kind")) {
                return Err(format!(
                    "`queries.{name}`: `kind` describes a query of a `scrape` source; a `prometheus` source's queries take `promql` and `unit`, e.g. {{ promql = 'sum(rate(http_requests_total[1m]))', unit = \"req/s\" }}"
                ));
            }
            let q: PromQuery = q.try_into().map_err(|e: toml::de::Error| {
                format!("`queries.{name}`: {}", e.message().trim_end())
            })?;
            if q.promql.trim().is_empty() {
                return Err(format!("`queries.{name}`: `promql` is empty"));
            }
            Ok(q)
        })?,
    };
    Ok(PrometheusConfig {
        url,
        queries,
        thresholds,
        timeout,
        max_range,
    })
}

/// A chart's name: what `metrics.query`'s `metric` names.
fn is_query_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn named_queries<Q>(
    value: toml::Value,
    thresholds: &mut BTreeMap<String, Thresholds>,
    mut each: impl FnMut(&str, toml::Value) -> Result<Q, String>,
) -> Result<Vec<(String, Q)>, String> {
    let toml::Value::Table(table) = value else {
        return Err(
            "`queries`: expected a table of named charts, e.g. [services.NAME.metrics.queries]"
                .into(),
        );
    };
    if table.is_empty() {
        return Err("`queries`: name at least one chart, or leave the table out".into());
    }
    let mut queries = Vec::with_capacity(table.len());
    for (name, q) in table {
        if !is_query_name(&name) {
            return Err(format!(
                "`queries.{name}`: a chart's name is 1 to 64 letters, digits, `_`, `-` or `.`"
            ));
        }
        let toml::Value::Table(mut q) = q else {
            return Err(format!(
                "`queries.{name}`: expected an inline table such as {{ kind = \"rate\", metric = \"http_requests_total\" }}"
            ));
        };
        let levels = take_thresholds(&name, &mut q)?;
        if levels != Thresholds::default() {
            thresholds.insert(name.clone(), levels);
        }
        let q = each(&name, toml::Value::Table(q))?;
        queries.push((name, q));
    }
    Ok(queries)
}

/// Levels of the demo's kind of service for the default charts: 1 % and
/// 5 % errors, 500 ms and 1 s at p99.
fn default_thresholds() -> BTreeMap<String, Thresholds> {
    BTreeMap::from([
        (
            "error_ratio".to_string(),
            Thresholds {
                warn: Some(1.0),
                critical: Some(5.0),
            },
        ),
        (
            "latency_p99".to_string(),
            Thresholds {
                warn: Some(500.0),
                critical: Some(1000.0),
            },
        ),
    ])
}

/// Takes `warn` and `critical` out of a chart's table.
fn take_thresholds(name: &str, q: &mut toml::Table) -> Result<Thresholds, String> {
    let mut level = |key: &str| match q.remove(key) {
        None => Ok(None),
        Some(toml::Value::Integer(i)) => Ok(Some(i as f64)),
        Some(toml::Value::Float(f)) if f.is_finite() => Ok(Some(f)),
        Some(_) => Err(format!(
            "`queries.{name}.{key}`: expected a number in the chart's unit, e.g. {key} = 500"
        )),
    };
    let t = Thresholds {
        warn: level("warn")?,
        critical: level("critical")?,
    };
    if let (Some(w), Some(c)) = (t.warn, t.critical)
        && c < w
    {
        return Err(format!(
            "`queries.{name}`: `critical` ({c}) is below `warn` ({w}); values at or above each are flagged"
        ));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_carry_their_warn_and_critical_levels() {
        let MetricInput::Prometheus(p) = parse(
            "prometheus = \"http://p:9090\"\n[queries]\nlat = { promql = 'x', unit = \"ms\", warn = 500, critical = 1000.5 }\nrps = { promql = 'y' }\n",
        )
        .unwrap()
        .input
        else {
            panic!("a prometheus source")
        };
        assert_eq!(
            p.thresholds["lat"],
            Thresholds {
                warn: Some(500.0),
                critical: Some(1000.5)
            }
        );
        assert!(!p.thresholds.contains_key("rps"));
        let err = parse("prometheus = \"http://p:9090\"\n[queries]\nlat = { promql = 'x', warn = 5, critical = 1 }\n").unwrap_err();
        assert!(err.contains("below `warn`"), "{err}");
        let err = parse(
            "prometheus = \"http://p:9090\"\n[queries]\nlat = { promql = 'x', warn = \"high\" }\n",
        )
        .unwrap_err();
        assert!(err.contains("queries.lat.warn"), "{err}");
    }

    fn parse(text: &str) -> Result<MetricSourceConfig, String> {
        MetricSourceConfig::from_toml(toml::from_str::<toml::Value>(text).unwrap())
    }

    fn scrape(text: &str) -> ScrapeConfig {
        match parse(text).unwrap().input {
            MetricInput::Scrape(s) => s,
            other => panic!("{other:?}"),
        }
    }

    fn prometheus(text: &str) -> PrometheusConfig {
        match parse(text).unwrap().input {
            MetricInput::Prometheus(p) => p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_scrape_source_takes_the_defaults() {
        let s = scrape(r#"scrape = ["http://127.0.0.1:9101/metrics"]"#);
        assert_eq!(s.targets.len(), 1);
        assert_eq!(s.targets[0].as_str(), "http://127.0.0.1:9101/metrics");
        assert_eq!(s.interval, Duration::from_secs(5));
        assert_eq!(s.history, Duration::from_secs(3600));
        assert_eq!(s.timeout, Duration::from_secs(5));
        assert_eq!(s.capacity(), 721);
        assert!(s.defaults);
        let names: Vec<&str> = s.queries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["rps", "error_ratio", "latency_p99", "memory"]);
        assert_eq!(s, ScrapeConfig::new(s.targets.clone()));
    }

    #[test]
    fn a_full_scrape_source_reads() {
        let s = scrape(
            r#"
            scrape = ["http://127.0.0.1:9101/metrics", "https://10.0.0.2:9101/metrics"]
            interval = "15s"
            history = "6h"
            timeout = 3
            [queries]
            rps = { kind = "rate", metric = "http_requests_total", unit = "req/s" }
            latency_p99 = { kind = "histogram_quantile", metric = "http_request_duration_seconds", quantile = 0.99, unit = "ms", scale = 1000 }
            "#,
        );
        assert_eq!(s.targets.len(), 2);
        assert_eq!(s.interval, Duration::from_secs(15));
        assert_eq!(s.history, Duration::from_secs(6 * 3600));
        assert_eq!(s.timeout, Duration::from_secs(3));
        assert!(!s.defaults);
        let names: Vec<&str> = s.queries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"rps") && names.contains(&"latency_p99"));
        let p99 = &s
            .queries
            .iter()
            .find(|(n, _)| n == "latency_p99")
            .unwrap()
            .1;
        assert_eq!((p99.unit.as_str(), p99.scale), ("ms", 1000.0));
        // A long interval caps the default timeout at 10 s.
        let s = scrape("scrape = [\"http://a:1/metrics\"]\ninterval = \"1m\"");
        assert_eq!(s.timeout, Duration::from_secs(10));
    }

    #[test]
    fn a_prometheus_source_reads() {
        let p = prometheus(
            r#"
            prometheus = "http://prometheus:9090/prom/"
            [queries]
            rps = { promql = 'sum(rate(http_requests_total{service="search"}[1m]))', unit = "req/s" }
            up = { promql = "up" }
            "#,
        );
        assert_eq!(p.url.as_str(), "http://prometheus:9090/prom/");
        assert_eq!(p.timeout, Duration::from_secs(5));
        assert_eq!(p.max_range, Duration::from_secs(7 * 86_400));
        let rps = &p.queries.iter().find(|(n, _)| n == "rps").unwrap().1;
        assert_eq!(rps.unit, "req/s");
        assert!(rps.promql.contains("service=\"search\""));
        let up = &p.queries.iter().find(|(n, _)| n == "up").unwrap().1;
        assert_eq!(up.unit, "");
        let p = prometheus(
            "prometheus = \"https://p\"\ntimeout = \"10s\"\nmax_range = \"1d\"\nqueries.a = { promql = \"up\" }",
        );
        assert_eq!(p.timeout, Duration::from_secs(10));
        assert_eq!(p.max_range, Duration::from_secs(86_400));
    }

    #[test]
    fn mistakes_are_named_with_what_is_accepted() {
        const T: &str = "scrape = [\"http://127.0.0.1:9101/metrics\"]\n";
        const P: &str = "prometheus = \"http://p:9090\"\n";
        const PQ: &str = "queries.rps = { promql = \"up\" }\n";
        for (text, fragments) in [
            ("", &["scrape = [", "prometheus = "][..]),
            ("interval = \"5s\"", &["scrape = [", "prometheus = "]),
            (
                "scrap = []",
                &["unknown key `scrap`", "`scrape`", "`prometheus`"],
            ),
            (
                "scrape = []\nprometheus = \"http://p\"",
                &["either `scrape`", "not both"],
            ),
            ("scrape = \"http://a/metrics\"", &["`scrape`", "list"]),
            ("scrape = []", &["`scrape`", "list"]),
            ("scrape = [1]", &["`scrape`", "list"]),
            ("scrape = [\"127.0.0.1:9101\"]", &["`scrape`", "http://"]),
            (
                "scrape = [\"localhost/metrics\"]",
                &["`scrape`", "not a URL"],
            ),
            ("scrape = [\"ftp://a/metrics\"]", &["`scrape`", "http://"]),
            ("scrape = [\"http://u:pw@a/metrics\"]", &["credentials"]),
            (
                "scrape = [\"http://a/m\", \"http://a/m\"]",
                &["`scrape`", "twice"],
            ),
            (
                &format!("{T}intervall = \"5s\""),
                &[
                    "unknown key `intervall`",
                    "`interval`",
                    "`history`",
                    "`queries`",
                ],
            ),
            (
                &format!("{T}max_range = \"1d\""),
                &["`max_range` applies to `prometheus`", "`interval`"],
            ),
            (&format!("{T}interval = \"5 s\""), &["`interval`", "1h30m"]),
            (&format!("{T}interval = 0"), &["`interval`", "at least 1s"]),
            (&format!("{T}interval = -5"), &["`interval`", "negative"]),
            (&format!("{T}interval = 1.5"), &["`interval`", "duration"]),
            (
                &format!("{T}history = \"1s\"\ninterval = \"5s\""),
                &["`history`", "at least the interval"],
            ),
            (
                &format!("{T}history = \"30d\"\ninterval = \"1s\""),
                &["`history`", "86400 scrapes"],
            ),
            (
                &format!("{T}timeout = \"10s\"\ninterval = \"5s\""),
                &["`timeout`", "interval (5s)"],
            ),
            (&format!("{T}queries = 1"), &["`queries`", "table"]),
            (
                &format!("{T}queries = {{}}"),
                &["`queries`", "at least one"],
            ),
            (
                &format!("{T}queries.rps = \"rate\""),
                &["`queries.rps`", "inline table"],
            ),
            (
                &format!("{T}queries.\"a b\" = {{ kind = \"gauge\", metric = \"up\" }}"),
                &["`queries.a b`", "letters, digits"],
            ),
            (
                &format!("{T}queries.rps = {{ kind = \"rate\" }}"),
                &["`queries.rps`", "needs `metric`"],
            ),
            (
                &format!("{T}queries.rps = {{ kind = \"rate\", metric = \"x\", unti = \"s\" }}"),
                &["`queries.rps`", "unknown field `unti`", "`unit`"],
            ),
            (
                &format!("{T}queries.rps = {{ kind = \"counter\", metric = \"x\" }}"),
                &["`queries.rps`", "`counter`", "`gauge`"],
            ),
            (
                &format!("{T}queries.rps = {{ promql = \"up\" }}"),
                &[
                    "`queries.rps`",
                    "`promql` needs a `prometheus` source",
                    "kind",
                ],
            ),
            (
                "prometheus = [\"http://p\"]",
                &["`prometheus`", "base URL as a string"],
            ),
            ("prometheus = \"p:9090\"", &["`prometheus`", "http://"]),
            (
                "prometheus = \"http://p:9090/?x=1\"\nqueries.a = { promql = \"up\" }",
                &["`prometheus`", "base URL only"],
            ),
            (P, &["needs its charts", "`queries`", "promql"]),
            (
                &format!("{P}{PQ}interval = \"5s\""),
                &["`interval` applies to `scrape`", "`max_range`"],
            ),
            (
                &format!("{P}{PQ}step = \"5s\""),
                &["unknown key `step`", "`timeout`", "`max_range`"],
            ),
            (
                &format!("{P}{PQ}timeout = \"2m\""),
                &["`timeout`", "between 1s and 60s"],
            ),
            (&format!("{P}{PQ}max_range = 30"), &["`max_range`", "1m"]),
            (
                &format!("{P}queries.rps = {{ promql = \"up\", unti = \"s\" }}"),
                &[
                    "`queries.rps`",
                    "unknown field `unti`",
                    "`promql`",
                    "`unit`",
                ],
            ),
            (
                &format!("{P}queries.rps = {{ unit = \"s\" }}"),
                &["`queries.rps`", "missing field `promql`"],
            ),
            (
                &format!("{P}queries.rps = {{ promql = \" \" }}"),
                &["`queries.rps`", "`promql` is empty"],
            ),
            (
                &format!("{P}queries.rps = {{ kind = \"rate\", metric = \"x\" }}"),
                &["`queries.rps`", "`kind`", "`promql`"],
            ),
        ] {
            let err = parse(text).expect_err(text);
            for fragment in fragments {
                assert!(
                    err.contains(fragment),
                    "{text:?}: {err:?} lacks {fragment:?}"
                );
            }
        }
        let err = MetricSourceConfig::from_toml(toml::Value::String("x".into())).unwrap_err();
        assert!(err.contains("expected a table"), "{err}");
    }
}
