//! The Metrics pane's data: which service's charts, over which range, the
//! last answer of the gateway and what became of the last query, and the
//! pure helpers the view draws with: column downsampling, window figures,
//! value and axis formatting.
//!
//! - Series are shown as the gateway sends them, in its order, with its
//!   names and units: nothing here knows what `latency_p99` is.
//! - A gap is a stretch without points (the gateway leaves out steps it
//!   has no data for, and never sends zeros for them): consecutive points
//!   further apart than one and a half times the usual spacing are not
//!   joined. Non-finite values (the protocol never sends them) break the
//!   line the same way.
//! - Downsampling keeps, per screen column, the largest value of the
//!   points that fall in it, stamped with that point's time: a spike one
//!   sample wide survives any zoom level, and a chart never has more
//!   points than columns. A gap narrower than a column cannot be drawn
//!   and is bridged; any wider one stays a gap.
//!
//! Pure data: no terminal, no clock, no I/O.

use chrono::{DateTime, Utc};

use crate::protocol::{ErrorCode, Series};

/// Refreshes come at least this far apart (seconds)...
pub const REFRESH_MIN_S: u64 = 5;
/// ...and at most this far apart while the pane is on screen: a new point
/// only comes once per step, so a long range refreshes less often.
pub const REFRESH_MAX_S: u64 = 30;
/// After `rate_limited`, the next try waits this long (seconds).
pub const RATE_LIMITED_RETRY_S: u64 = 30;
/// The steps the console asks for (seconds): round figures, so that a
/// small resize does not change the step.
const STEPS: [u64; 14] = [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600];

/// How far back the charts reach (`[`/`]` and `-`/`+` cycle through them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Range {
    M5,
    #[default]
    M15,
    H1,
    H6,
}

impl Range {
    pub const ALL: [Range; 4] = [Range::M5, Range::M15, Range::H1, Range::H6];

    pub fn secs(self) -> u64 {
        match self {
            Range::M5 => 5 * 60,
            Range::M15 => 15 * 60,
            Range::H1 => 3600,
            Range::H6 => 6 * 3600,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Range::M5 => "5m",
            Range::M15 => "15m",
            Range::H1 => "1h",
            Range::H6 => "6h",
        }
    }

    fn index(self) -> usize {
        Range::ALL.iter().position(|r| *r == self).expect("in ALL")
    }

    /// The next shorter range, None at the shortest.
    pub fn shorter(self) -> Option<Range> {
        self.index().checked_sub(1).map(|i| Range::ALL[i])
    }

    /// The next longer range, None at the longest.
    pub fn longer(self) -> Option<Range> {
        Range::ALL.get(self.index() + 1).copied()
    }
}

/// The step (seconds) that gives about one point per column over
/// `range_s`: the round step nearest (by ratio) to `range_s / cols`.
pub fn step_for(range_s: u64, cols: u16) -> u64 {
    let want = range_s as f64 / f64::from(cols.max(1));
    let off = |s: u64| (s as f64 / want).ln().abs();
    STEPS
        .iter()
        .copied()
        .min_by(|a, b| off(*a).total_cmp(&off(*b)))
        .expect("steps")
}

/// How long to wait before the next refresh with this step (seconds).
pub fn refresh_every(step_s: u64) -> u64 {
    step_s.clamp(REFRESH_MIN_S, REFRESH_MAX_S)
}

/// A `metrics.query` on its way.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub op_id: String,
    pub service: String,
    pub range: Range,
    pub step_s: u64,
}

/// The gateway's last answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Charts {
    pub service: String,
    pub range: Range,
    /// The step asked for (the gateway may have raised it).
    pub step_s: u64,
    pub series: Vec<Series>,
    /// Server time when the answer came: the right edge of the charts.
    pub at: DateTime<Utc>,
}

impl Charts {
    /// The time window shown, in unix ms: the range up to the answer.
    pub fn window(&self) -> (i64, i64) {
        let to = self.at.timestamp_millis();
        (to - self.range.secs() as i64 * 1000, to)
    }
}

/// A query that failed: the charts held (if any) are stale.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub service: String,
    pub code: ErrorCode,
    pub message: String,
    /// Server time of the failure.
    pub at: DateTime<Utc>,
}

/// The Metrics pane's whole state.
#[derive(Debug, Clone, Default)]
pub struct MetricsState {
    /// The service charted; None until the pane picks one (the most
    /// recent grant with metrics:read) or the user does (`s`).
    pub service: Option<String>,
    pub range: Range,
    /// The last answer; kept when a later query fails or the grant ends.
    pub charts: Option<Charts>,
    /// The query in flight (one at most).
    pub pending: Option<Query>,
    /// The (service, range) last queried: a different one is queried at
    /// once, the same one when it is due.
    pub attempted: Option<(String, Range)>,
    /// The last query failed (cleared by an answer).
    pub failure: Option<Failure>,
    /// Local time of the next refresh.
    pub next_due: Option<DateTime<Utc>>,
    /// No refresh by itself until something changes (the gateway said no
    /// in a way that asking again would not change): `R` resumes.
    pub halted: bool,
    /// The first chart row on screen, when not all charts fit.
    pub scroll: usize,
}

impl MetricsState {
    /// The charts held for `service`, if any.
    pub fn charts_of(&self, service: &str) -> Option<&Charts> {
        self.charts.as_ref().filter(|c| c.service == service)
    }

    /// The last failure for `service`, if the charts since did not answer.
    pub fn failure_of(&self, service: &str) -> Option<&Failure> {
        self.failure.as_ref().filter(|f| f.service == service)
    }

    /// The query in flight for `service`, if any.
    pub fn pending_for(&self, service: &str) -> Option<&Query> {
        self.pending.as_ref().filter(|q| q.service == service)
    }
}

// ---- downsampling ----

/// The usual spacing of `points` (ms): the median gap between
/// consecutive finite points; None with fewer than two.
pub fn spacing_ms(points: &[(i64, f64)]) -> Option<i64> {
    let mut deltas: Vec<i64> = points
        .windows(2)
        .filter(|w| w[0].1.is_finite() && w[1].1.is_finite() && w[1].0 > w[0].0)
        .map(|w| w[1].0 - w[0].0)
        .collect();
    if deltas.is_empty() {
        return None;
    }
    let mid = deltas.len() / 2;
    Some(*deltas.select_nth_unstable(mid).1)
}

/// Points further apart than this (ms) are not joined.
fn gap_threshold(points: &[(i64, f64)]) -> i64 {
    spacing_ms(points).map_or(i64::MAX, |s| s + s / 2)
}

/// The points of one series inside `[from_ms, to_ms]`, reduced to at most
/// one per column of `cols`, as runs to draw as lines: a gap between
/// runs stays a gap. Each column keeps its largest value (at that
/// point's time, in ms as f64). `points` should be oldest first (they are
/// sorted if not).
pub fn downsample(
    points: &[(i64, f64)],
    from_ms: i64,
    to_ms: i64,
    cols: usize,
) -> Vec<Vec<(f64, f64)>> {
    if cols == 0 || to_ms <= from_ms || points.is_empty() {
        return Vec::new();
    }
    let sorted;
    let points = if points.windows(2).all(|w| w[0].0 <= w[1].0) {
        points
    } else {
        let mut p = points.to_vec();
        p.sort_by_key(|(t, _)| *t);
        sorted = p;
        &sorted[..]
    };
    let gap = gap_threshold(points);
    let span = i128::from(to_ms - from_ms) + 1;
    let column = |t: i64| -> usize {
        let c = i128::from(t - from_ms) * cols as i128 / span;
        (c as usize).min(cols - 1)
    };
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    // The column being filled: (column, time of its max, its max).
    let mut cur: Option<(usize, i64, f64)> = None;
    // The previous finite point's time, and whether a break came since.
    let mut prev_t: Option<i64> = None;
    let mut broken = true;
    let flush = |runs: &mut Vec<Vec<(f64, f64)>>, c: (usize, i64, f64), new_run: bool| {
        if new_run || runs.is_empty() {
            runs.push(Vec::new());
        }
        runs.last_mut().expect("a run").push((c.1 as f64, c.2));
    };
    let mut cur_new_run = true;
    for &(t, v) in points {
        if t < from_ms || t > to_ms {
            continue;
        }
        if !v.is_finite() {
            broken = true;
            continue;
        }
        let starts_gap = broken || prev_t.is_some_and(|p| t - p > gap);
        let col = column(t);
        match cur {
            Some((c, _, max)) if c == col => {
                // A gap inside one column cannot be drawn: bridged.
                if v > max {
                    cur = Some((c, t, v));
                }
            }
            _ => {
                if let Some(done) = cur.take() {
                    flush(&mut runs, done, cur_new_run);
                }
                cur = Some((col, t, v));
                cur_new_run = starts_gap;
            }
        }
        prev_t = Some(t);
        broken = false;
    }
    if let Some(done) = cur {
        flush(&mut runs, done, cur_new_run);
    }
    runs
}

/// What a chart's title says about its window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// The newest point: (unix ms, value).
    pub last: (i64, f64),
    pub min: f64,
    pub max: f64,
}

/// The newest value and the extremes of the finite points inside
/// `[from_ms, to_ms]` (all of them, not the downsampled ones).
pub fn figures(points: &[(i64, f64)], from_ms: i64, to_ms: i64) -> Option<Figures> {
    let mut out: Option<Figures> = None;
    for &(t, v) in points {
        if t < from_ms || t > to_ms || !v.is_finite() {
            continue;
        }
        out = Some(match out {
            None => Figures {
                last: (t, v),
                min: v,
                max: v,
            },
            Some(f) => Figures {
                last: if t >= f.last.0 { (t, v) } else { f.last },
                min: f.min.min(v),
                max: f.max.max(v),
            },
        });
    }
    out
}

// ---- numbers as people read them ----

fn is_bytes(unit: &str) -> bool {
    matches!(unit, "bytes" | "byte" | "B")
}

/// `v` with about three significant digits: `1,984`, `19.6`, `0.52`,
/// `412k`, `1.25M`.
fn number(v: f64) -> String {
    let a = v.abs();
    let sign = if v < 0.0 { "-" } else { "" };
    if a >= 100_000.0 {
        let (d, s) = if a >= 1e12 {
            (1e12, "T")
        } else if a >= 1e9 {
            (1e9, "G")
        } else if a >= 1e6 {
            (1e6, "M")
        } else {
            (1e3, "k")
        };
        return format!("{sign}{}{s}", sig3(a / d));
    }
    if a >= 100.0 {
        return format!("{sign}{}", thousands(a.round() as u64));
    }
    format!("{sign}{}", sig3(a))
}

/// A value under 1,000 with three significant digits, trailing zeros kept
/// off: `412`, `19.6`, `1.25`, `0.52`, `0.031`.
fn sig3(a: f64) -> String {
    if a == 0.0 {
        return "0".into();
    }
    let decimals = if a >= 100.0 {
        0
    } else if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        // 0.52 → 2, 0.031 → 3, 0.0042 → 4.
        (2 - a.log10().floor() as i32).clamp(2, 6) as usize
    };
    let s = format!("{a:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn thousands(n: u64) -> String {
    super::logs::thousands(n)
}

const BINARY: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];

/// Bytes in the largest binary unit that keeps the figure at least 1.
fn bytes(v: f64) -> (f64, &'static str) {
    let mut x = v.abs();
    let mut i = 0;
    while x >= 1024.0 && i + 1 < BINARY.len() {
        x /= 1024.0;
        i += 1;
    }
    (x.copysign(v), BINARY[i])
}

/// A value with its unit, as a chart's title says it: `1,984 ms`,
/// `19.6%`, `412 req/s`, `587 MiB`.
pub fn value(v: f64, unit: &str) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    if is_bytes(unit) {
        let (x, u) = bytes(v);
        let n = if x.abs() >= 100.0 {
            format!("{x:.0}")
        } else if x < 0.0 {
            format!("-{}", sig3(-x))
        } else {
            sig3(x)
        };
        return format!("{n} {u}");
    }
    match unit {
        "" => number(v),
        "%" => format!("{}%", number(v)),
        u => format!("{} {u}", number(v)),
    }
}

/// An axis label: short, no unit (the title has it): `2.5k`, `512M`, `0.5`.
pub fn axis(v: f64, unit: &str) -> String {
    if v == 0.0 || !v.is_finite() {
        return "0".into();
    }
    if is_bytes(unit) {
        let (x, u) = bytes(v);
        let suffix = match u {
            "KiB" => "K",
            "MiB" => "M",
            "GiB" => "G",
            "TiB" => "T",
            _ => "",
        };
        let sign = if x < 0.0 { "-" } else { "" };
        return format!("{sign}{}{suffix}", sig3(x.abs()));
    }
    let a = v.abs();
    let sign = if v < 0.0 { "-" } else { "" };
    let (d, s) = if a >= 1e9 {
        (1e9, "G")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    format!("{sign}{}{s}", sig3(a / d))
}

/// The smallest round number at least `x` (for the top of an axis):
/// 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten (of 1024 for
/// bytes, in the unit [`axis`] writes).
pub fn nice_ceil(x: f64, unit: &str) -> f64 {
    if !x.is_finite() || x <= 0.0 {
        return 1.0;
    }
    if is_bytes(unit) {
        let mut scale = 1.0;
        while x / scale >= 1024.0 {
            scale *= 1024.0;
        }
        let top = nice_ceil(x / scale, "");
        // 1000 MiB reads worse than 1 GiB.
        return if top >= 1000.0 {
            scale * 1024.0
        } else {
            top * scale
        };
    }
    let p = 10f64.powf(x.log10().floor());
    let f = x / p;
    let nice = [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .into_iter()
        .find(|n| f <= n + 1e-9)
        .unwrap_or(10.0);
    nice * p
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One point every 10 s from t = 0, values as given (None: no point).
    fn every_10s(values: &[Option<f64>]) -> Vec<(i64, f64)> {
        values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i as i64 * 10_000, v)))
            .collect()
    }

    fn count(runs: &[Vec<(f64, f64)>]) -> usize {
        runs.iter().map(Vec::len).sum()
    }

    #[test]
    fn a_spike_one_sample_wide_survives_squeezing_into_few_columns() {
        let mut values = vec![Some(120.0); 360];
        values[211] = Some(2040.0);
        let points = every_10s(&values);
        for cols in [7, 40, 77, 158, 400] {
            let runs = downsample(&points, 0, 3_590_000, cols);
            assert_eq!(runs.len(), 1, "{cols} columns: one line");
            let max = runs[0].iter().map(|p| p.1).fold(0.0, f64::max);
            assert_eq!(max, 2040.0, "{cols} columns: the spike is there");
            assert!(count(&runs) <= cols);
        }
        // The spike stays at its own time.
        let runs = downsample(&points, 0, 3_590_000, 40);
        let at = runs[0].iter().find(|p| p.1 == 2040.0).unwrap().0;
        assert_eq!(at, 2_110_000.0);
    }

    #[test]
    fn missing_points_are_a_gap_not_a_line_to_zero() {
        // 0..30 s, nothing for 60 s, then 100..150 s.
        let mut values = vec![Some(5.0); 16];
        for v in &mut values[4..10] {
            *v = None;
        }
        let points = every_10s(&values);
        let runs = downsample(&points, 0, 150_000, 60);
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].last().unwrap().0, 30_000.0);
        assert_eq!(runs[1].first().unwrap().0, 100_000.0);
        assert!(
            runs.iter().flatten().all(|p| p.1 == 5.0),
            "no zeros made up"
        );
        // Fewer points than columns is not a gap: a line goes across
        // the empty columns between two points.
        let points = every_10s(&[Some(1.0), Some(2.0), Some(3.0)]);
        assert_eq!(downsample(&points, 0, 20_000, 100).len(), 1);
        // A gap narrower than a column cannot be drawn and is bridged:
        // 30 s to 60 s, in the first of two 75 s columns.
        let mut values = vec![Some(5.0); 16];
        values[4] = None;
        values[5] = None;
        assert_eq!(downsample(&every_10s(&values), 0, 150_000, 60).len(), 2);
        assert_eq!(downsample(&every_10s(&values), 0, 150_000, 2).len(), 1);
        // Not-a-number (which the gateway never sends) breaks the line too.
        let points = vec![(0, 1.0), (10_000, 2.0), (20_000, f64::NAN), (30_000, 4.0)];
        let runs = downsample(&points, 0, 30_000, 30);
        assert_eq!(runs.len(), 2);
    }

    #[test]
    fn points_outside_the_window_or_unsorted_are_handled() {
        let points = vec![(30_000, 3.0), (-5_000, 9.0), (10_000, 1.0), (20_000, 2.0)];
        let runs = downsample(&points, 0, 30_000, 10);
        let xs: Vec<f64> = runs.iter().flatten().map(|p| p.0).collect();
        assert_eq!(xs, [10_000.0, 20_000.0, 30_000.0]);
        assert!(downsample(&points, 0, 30_000, 0).is_empty());
        assert!(downsample(&[], 0, 30_000, 10).is_empty());
    }

    proptest! {
        #[test]
        fn never_more_points_than_columns_and_the_max_always_survives(
            raw in proptest::collection::vec((0i64..600_000, -1e6f64..1e6), 1..2000),
            cols in 1usize..300,
        ) {
            let mut points = raw;
            points.sort_by_key(|p| p.0);
            let runs = downsample(&points, 0, 600_000, cols);
            prop_assert!(count(&runs) <= cols);
            prop_assert!(runs.iter().all(|r| !r.is_empty()));
            let max = points.iter().map(|p| p.1).fold(f64::MIN, f64::max);
            let shown = runs.iter().flatten().map(|p| p.1).fold(f64::MIN, f64::max);
            prop_assert_eq!(shown, max);
            // Times only go forward, within and across runs.
            let xs: Vec<f64> = runs.iter().flatten().map(|p| p.0).collect();
            prop_assert!(xs.windows(2).all(|w| w[0] < w[1]));
        }
    }

    #[test]
    fn figures_are_of_every_point_in_the_window() {
        let points = vec![(0, 5.0), (10, 1.0), (20, 9.0), (30, f64::NAN), (40, 3.0)];
        let f = figures(&points, 0, 40).unwrap();
        assert_eq!((f.last, f.min, f.max), ((40, 3.0), 1.0, 9.0));
        assert_eq!(figures(&points, 100, 200), None);
    }

    #[test]
    fn steps_give_about_a_point_per_column_in_round_figures() {
        assert_eq!(step_for(300, 70), 5);
        assert_eq!(step_for(900, 70), 15);
        assert_eq!(step_for(3600, 70), 60);
        assert_eq!(step_for(21600, 150), 120);
        assert_eq!(step_for(21600, 71), 300);
        assert_eq!(step_for(300, 0), 300);
        assert_eq!(step_for(10 * 86400, 10), 3600);
        assert_eq!(refresh_every(1), 5);
        assert_eq!(refresh_every(15), 15);
        assert_eq!(refresh_every(300), 30);
    }

    #[test]
    fn ranges_cycle_and_stop_at_both_ends() {
        assert_eq!(Range::default(), Range::M15);
        assert_eq!(Range::M15.longer(), Some(Range::H1));
        assert_eq!(Range::H6.longer(), None);
        assert_eq!(Range::M5.shorter(), None);
        assert_eq!(Range::H1.shorter(), Some(Range::M15));
    }

    #[test]
    fn values_read_like_people_write_them() {
        assert_eq!(value(1984.4, "ms"), "1,984 ms");
        assert_eq!(value(118.6, "ms"), "119 ms");
        assert_eq!(value(12.34, "ms"), "12.3 ms");
        assert_eq!(value(19.64, "%"), "19.6%");
        assert_eq!(value(0.52, "%"), "0.52%");
        assert_eq!(value(0.0, "%"), "0%");
        assert_eq!(value(412.0, "req/s"), "412 req/s");
        assert_eq!(value(1_250_000.0, ""), "1.25M");
        assert_eq!(value(615_514_112.0, "bytes"), "587 MiB");
        assert_eq!(value(1.5 * 1024.0 * 1024.0 * 1024.0, "bytes"), "1.5 GiB");
        assert_eq!(value(f64::NAN, "ms"), "–");
        assert_eq!(axis(2500.0, "ms"), "2.5k");
        assert_eq!(axis(25.0, "%"), "25");
        assert_eq!(axis(0.5, "%"), "0.5");
        assert_eq!(axis(768.0 * 1024.0 * 1024.0, "bytes"), "768M");
        assert_eq!(axis(512.0, "bytes"), "512");
    }

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_ceil(2140.0, "ms"), 2500.0);
        assert_eq!(nice_ceil(21.4, "%"), 25.0);
        assert_eq!(nice_ceil(0.0, "%"), 1.0);
        assert_eq!(nice_ceil(430.0, "req/s"), 500.0);
        assert_eq!(nice_ceil(100.0, ""), 100.0);
        let mib = 1024.0 * 1024.0;
        assert_eq!(nice_ceil(620.0 * mib, "bytes"), 800.0 * mib);
        assert_eq!(nice_ceil(924.0 * mib, "bytes"), 1024.0 * mib);
        assert_eq!(axis(1024.0 * mib, "bytes"), "1G");
    }
}
