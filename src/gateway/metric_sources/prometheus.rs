//! The `prometheus` source: each named chart is a PromQL query run through
//! the server's `GET /api/v1/query_range`.
//!
//! # Mapping an answer to one series
//!
//! `data.result[].values[[ts, "value"]]` becomes `(unix_ms, value)` points;
//! NaN and ±Inf values are left out (JSON cannot carry them). When the
//! PromQL yields several series (say `rate(x[1m])` without a `sum`), they
//! are **summed** at each timestamp into one series, as `sum(...)` would,
//! since a chart is one line; a timestamp where only some series have a
//! value sums those. This is logged once per chart, so the operator can
//! wrap the query in the aggregation they mean (`max`, `avg`, …). A query
//! with no result series gives a chart with no points.
//!
//! `end` is aligned down to a multiple of the step (so charts do not
//! shimmer between refreshes) and `start` is `end - range`.
//!
//! When some charts fail (a PromQL syntax error, say), the others are
//! still answered and the failing ones are empty (and logged); when all
//! fail, the query is an [`MetricsQueryError::Upstream`] error naming the
//! server and what it said.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::join_all;
use reqwest::Url;
use serde::Deserialize;

use super::config::{PromQuery, PrometheusConfig, chart_series};
use super::{MetricsQueryError, describe, plan, read_capped, select};
use crate::metrics::exposition::parse_value;
use crate::protocol::Series;

/// The largest answer read (2,000 points × a few hundred series).
const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// One service's prometheus source.
pub struct PrometheusSource {
    service: String,
    pub(super) config: PrometheusConfig,
    /// Charts already logged as summed or failing.
    warned: Mutex<BTreeSet<String>>,
}

/// The points of one answer, and how many series were summed into them.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    pub points: Vec<(i64, f64)>,
    pub series: usize,
}

#[derive(Debug, Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Matrix(Vec<RangeSeries>),
    Vector(Vec<InstantSample>),
    Scalar(Point),
    #[serde(rename = "string")]
    Text(serde_json::Value),
}

#[derive(Debug, Deserialize)]
struct RangeSeries {
    #[serde(default)]
    values: Vec<Point>,
}

#[derive(Debug, Deserialize)]
struct InstantSample {
    value: Point,
}

/// `[1435781430.781, "1.5"]`.
#[derive(Debug, Deserialize)]
struct Point(f64, String);

/// Reads a query_range answer (any HTTP status: Prometheus explains its
/// errors in the same JSON) into one summed series.
pub fn map_answer(body: &[u8]) -> Result<Mapped, String> {
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        let start = String::from_utf8_lossy(&body[..body.len().min(120)]).into_owned();
        format!("the answer is not Prometheus API JSON ({e}): {start:?}")
    })?;
    if answer.status != "success" {
        return Err(format!(
            "{}: {}",
            answer.error_type.as_deref().unwrap_or("error"),
            answer.error.as_deref().unwrap_or("(no message)")
        ));
    }
    let series: Vec<Vec<Point>> = match answer.data {
        None => return Err("the answer has no `data`".into()),
        Some(Data::Matrix(m)) => m.into_iter().map(|s| s.values).collect(),
        Some(Data::Vector(v)) => v.into_iter().map(|s| vec![s.value]).collect(),
        Some(Data::Scalar(p)) => vec![vec![p]],
        Some(Data::Text(v)) => {
            return Err(format!("the query gives a string ({v}), not numbers"));
        }
    };
    let count = series.len();
    let mut sums: BTreeMap<i64, f64> = BTreeMap::new();
    for Point(ts, text) in series.into_iter().flatten() {
        let Some(value) = parse_value(&text).filter(|v| v.is_finite()) else {
            continue;
        };
        if !ts.is_finite() {
            continue;
        }
        *sums.entry((ts * 1000.0).round() as i64).or_insert(0.0) += value;
    }
    Ok(Mapped {
        points: sums.into_iter().filter(|(_, v)| v.is_finite()).collect(),
        series: count,
    })
}

/// The `/api/v1/query_range` URL under a base URL (a path prefix kept).
pub fn query_range_url(base: &Url) -> Url {
    let mut url = base.clone();
    let path = format!("{}/api/v1/query_range", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

/// `start` and `end` in seconds for a plan at `now_ms`: `end` aligned down
/// to the step.
fn bounds(now_ms: i64, range_ms: i64, step_ms: i64) -> (i64, i64) {
    let step_s = (step_ms / 1000).max(1);
    let end_s = now_ms.div_euclid(1000).div_euclid(step_s) * step_s;
    (end_s - range_ms / 1000, end_s)
}

impl PrometheusSource {
    pub fn new(service: &str, config: PrometheusConfig) -> PrometheusSource {
        PrometheusSource {
            service: service.into(),
            config,
            warned: Mutex::new(BTreeSet::new()),
        }
    }

    pub fn chart_names(&self) -> Vec<String> {
        self.config.queries.iter().map(|(n, _)| n.clone()).collect()
    }

    fn warn_once(&self, key: String, f: impl FnOnce()) {
        if self
            .warned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key)
        {
            f();
        }
    }

    fn clear_warning(&self, key: &str) {
        self.warned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// The charts, see [`super::MetricSources::query`].
    pub(super) async fn query(
        &self,
        client: &reqwest::Client,
        metric: Option<&str>,
        range_s: u64,
        step_s: u64,
        now_ms: i64,
    ) -> Result<Vec<Series>, MetricsQueryError> {
        let selected = select(&self.config.queries, &self.service, metric)?;
        let mut plan = plan(
            range_s,
            step_s,
            Duration::from_secs(1),
            self.config.max_range,
        )?;
        // Whole seconds, as the server is asked.
        plan.step_ms = plan.step_ms.saturating_add(999) / 1000 * 1000;
        let (start, end) = bounds(now_ms, plan.range_ms, plan.step_ms);
        let step = plan.step_ms / 1000;
        let url = query_range_url(&self.config.url);
        let answers = join_all(
            selected
                .iter()
                .map(|(_, q)| self.range(client, &url, q, start, end, step)),
        )
        .await;
        let mut series = Vec::with_capacity(selected.len());
        let mut first_error = None;
        let failed = answers.iter().filter(|a| a.is_err()).count();
        for ((name, q), answer) in selected.iter().zip(answers) {
            let points = match answer {
                Ok(mapped) => {
                    self.clear_warning(&format!("failed:{name}"));
                    if mapped.series > 1 {
                        self.warn_once(format!("summed:{name}"), || {
                            tracing::warn!(
                                service = %self.service,
                                chart = %name,
                                series = mapped.series,
                                "PromQL gives several series; they are summed into one (wrap the query in sum(), max(), … to choose)"
                            )
                        });
                    }
                    mapped.points
                }
                Err(reason) => {
                    let reason = format!("chart `{name}`: {reason}");
                    if failed < selected.len() {
                        self.warn_once(format!("failed:{name}"), || {
                            tracing::warn!(service = %self.service, url = %self.config.url, error = %reason, "metrics chart failed");
                        });
                    }
                    first_error.get_or_insert(reason);
                    Vec::new()
                }
            };
            series.push(chart_series(&self.config.thresholds, name, &q.unit, points));
        }
        match first_error {
            Some(reason) if failed == selected.len() => Err(MetricsQueryError::Upstream {
                url: self.config.url.to_string(),
                reason,
            }),
            _ => Ok(series),
        }
    }

    async fn range(
        &self,
        client: &reqwest::Client,
        url: &Url,
        query: &PromQuery,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Mapped, String> {
        let timeout = self.config.timeout;
        let response = client
            .get(url.clone())
            .query(&[
                ("query", query.promql.as_str()),
                ("start", &start.to_string()),
                ("end", &end.to_string()),
                ("step", &step.to_string()),
            ])
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| describe(e, timeout))?;
        let status = response.status();
        let body = read_capped(response, MAX_ANSWER_BYTES, timeout).await?;
        match map_answer(&body) {
            Ok(mapped) if status.is_success() => Ok(mapped),
            Ok(_) => Err(format!("HTTP {status}")),
            Err(e) if status.is_success() => Err(e),
            // A JSON error explains itself; anything else (a proxy's HTML
            // page) is named by its status.
            Err(e) if e.starts_with("the answer is not") => Err(format!("HTTP {status}")),
            Err(e) => Err(format!("HTTP {status}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matrix_maps_to_points_in_ms() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"__name__":"up","job":"a"},"values":[[1700000000,"1"],[1700000001.5,"0.5"],[1700000002.25,"2e3"]]}]}}"#;
        let m = map_answer(body).unwrap();
        assert_eq!(m.series, 1);
        assert_eq!(
            m.points,
            [
                (1_700_000_000_000, 1.0),
                (1_700_000_001_500, 0.5),
                (1_700_000_002_250, 2000.0)
            ]
        );
    }

    #[test]
    fn non_finite_values_are_left_out() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{},"values":[[1,"NaN"],[2,"+Inf"],[3,"-Inf"],[4,"7"],[5,"bogus"]]}]}}"#;
        let m = map_answer(body).unwrap();
        assert_eq!(m.points, [(4_000, 7.0)]);
    }

    #[test]
    fn several_series_are_summed_per_timestamp() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"instance":"a"},"values":[[1,"1"],[2,"2"],[3,"NaN"]]},
            {"metric":{"instance":"b"},"values":[[2,"10"],[3,"30"],[4,"40"]]}]}}"#;
        let m = map_answer(body).unwrap();
        assert_eq!(m.series, 2);
        assert_eq!(
            m.points,
            [(1_000, 1.0), (2_000, 12.0), (3_000, 30.0), (4_000, 40.0)]
        );
    }

    #[test]
    fn an_empty_result_is_a_chart_without_points() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert_eq!(
            map_answer(body).unwrap(),
            Mapped {
                points: vec![],
                series: 0
            }
        );
    }

    #[test]
    fn instant_shapes_are_read_too() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[10,"3"]}]}}"#;
        assert_eq!(map_answer(body).unwrap().points, [(10_000, 3.0)]);
        let body = br#"{"status":"success","data":{"resultType":"scalar","result":[10,"4"]}}"#;
        assert_eq!(map_answer(body).unwrap().points, [(10_000, 4.0)]);
        let body = br#"{"status":"success","data":{"resultType":"string","result":[10,"x"]}}"#;
        assert!(map_answer(body).unwrap_err().contains("string"));
    }

    #[test]
    fn errors_say_what_the_server_said() {
        let body = br#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected \")\""}"#;
        let err = map_answer(body).unwrap_err();
        assert!(err.starts_with("bad_data: 1:5: parse error"), "{err}");
        let err = map_answer(b"<html>502 Bad Gateway</html>").unwrap_err();
        assert!(err.contains("not Prometheus API JSON"), "{err}");
        assert!(err.contains("<html>502"), "{err}");
        let err = map_answer(br#"{"status":"success"}"#).unwrap_err();
        assert!(err.contains("no `data`"), "{err}");
    }

    #[test]
    fn the_api_path_goes_under_the_base_url() {
        for (base, want) in [
            ("http://p:9090", "http://p:9090/api/v1/query_range"),
            ("http://p:9090/", "http://p:9090/api/v1/query_range"),
            (
                "https://h/prometheus/",
                "https://h/prometheus/api/v1/query_range",
            ),
        ] {
            assert_eq!(query_range_url(&Url::parse(base).unwrap()).as_str(), want);
        }
    }

    #[test]
    fn the_end_is_aligned_to_the_step() {
        assert_eq!(bounds(1_000_999, 60_000, 1_000), (940, 1_000));
        assert_eq!(bounds(1_007_999, 60_000, 15_000), (945, 1_005));
    }
}
