//! `breakglass metrics SERVICE [--range 15m] [--metric NAME]`: a service's
//! charts as one line each (latest value, min, max, a sparkline), or the
//! series as JSON for scripts.

use serde_json::json;

use super::args::ClientArgs;
use super::session::Session;
use super::{CliError, CliResult, print, protocol};
use crate::console::metrics::{Severity, columns_max, crossed, spark};
use crate::duration::parse_duration;
use crate::protocol::{Op, Series};

/// Points a sparkline is squeezed into.
const SPARK_WIDTH: usize = 40;

pub async fn run(
    client: &ClientArgs,
    service: &str,
    range: &str,
    metric: Option<String>,
) -> CliResult {
    let range_s = parse_duration(range)
        .map(|d| d.as_secs())
        .map_err(|e| CliError::usage(format!("--range {range}: {e}")))?;
    // About one point per sparkline cell; the gateway raises it to what it has.
    let step_s = (range_s / SPARK_WIDTH as u64).max(1);
    let mut session = Session::open(client).await?;
    let mut reply = session
        .act(Op::MetricsQuery {
            service: service.to_string(),
            metric,
            range_s,
            step_s,
        })
        .await?;
    let series: Vec<Series> = reply.take("series").map_err(protocol)?;
    print(client, &json!({ "series": series }), || {
        series.iter().map(describe).collect()
    });
    Ok(())
}

/// One chart as a line of text.
fn describe(s: &Series) -> String {
    let values: Vec<f64> = s.points.iter().map(|p| p.1).collect();
    let Some(latest) = values.last() else {
        return format!("{:<14} {:<6} no data yet\n", s.name, s.unit);
    };
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let level = match Severity::in_series(s, *latest) {
        Some(sev @ Severity::Critical) => format!("  CRITICAL (≥ {})", level_of(s, sev)),
        Some(sev @ Severity::Warn) => format!("  WARN (≥ {})", level_of(s, sev)),
        _ => String::new(),
    };
    format!(
        "{:<14} {:<6} latest {:>10}  min {:>10}  max {:>10}  {}{level}\n",
        s.name,
        s.unit,
        number(*latest),
        number(min),
        number(max),
        sparkline(&s.points, SPARK_WIDTH)
    )
}

fn level_of(s: &Series, sev: Severity) -> String {
    crossed(s, sev).map(number).unwrap_or_default()
}

fn number(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{:.3e}", v)
    } else if v.abs() >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The chart as block characters, as the console draws its sparklines:
/// the highest point of each cell kept so that a spike shows, a gap left
/// blank.
fn sparkline(points: &[(i64, f64)], width: usize) -> String {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return String::new();
    };
    let cells = columns_max(points, first.0, last.0, width.min(points.len()));
    let values = cells.iter().flatten();
    let lo = values.clone().copied().fold(f64::INFINITY, f64::min);
    let hi = values.copied().fold(f64::NEG_INFINITY, f64::max);
    cells.iter().map(|v| spark(*v, lo, hi)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparkline_keeps_a_spike_and_fits_its_width() {
        let mut points: Vec<(i64, f64)> = (0..100).map(|t| (t * 1000, 1.0)).collect();
        points[37].1 = 50.0;
        let line = sparkline(&points, 10);
        assert_eq!(line.chars().count(), 10);
        assert_eq!(line.chars().filter(|c| *c == '█').count(), 1, "{line}");
        assert_eq!(sparkline(&[(0, 3.0), (1000, 3.0)], 10), "▁▁");
        assert_eq!(sparkline(&[(0, 3.0)], 10), "▁");
    }

    #[test]
    fn a_chart_reads_as_one_line() {
        let s = Series {
            name: "latency_p99".into(),
            unit: "ms".into(),
            points: vec![(0, 120.0), (1, 2100.0), (2, 130.5)],
            warn: Some(100.0),
            critical: Some(1000.0),
        };
        let line = describe(&s);
        assert!(line.trim_end().ends_with("WARN (≥ 100)"), "{line}");
        assert!(line.starts_with("latency_p99    ms     latest"), "{line}");
        assert!(line.contains("max       2100"), "{line}");
        let empty = Series {
            points: vec![],
            ..s
        };
        assert!(describe(&empty).contains("no data yet"));
    }
}
