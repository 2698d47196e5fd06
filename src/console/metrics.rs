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
//! - Levels: a series may carry `warn` and `critical` (values at or
//!   above are bad, in the chart's unit). A chart's y axis always reaches
//!   them ([`y_range`]), so that their lines are on it; the newest value
//!   is judged against them ([`Severity`]).
//! - Access marks: the times my metrics:read grants on the charted
//!   service started and ended, everyone's for a lead, named when not
//!   mine ([`marks`]), placed on the time axis with the same arithmetic
//!   the chart's canvas uses ([`time_column`]), their labels kept from
//!   overlapping ([`place_labels`]).
//! - The overview: one tiny sparkline per chart per granted service
//!   ([`columns_max`], [`spark`]).
//!
//! Pure data: no terminal, no clock, no I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::logs::{cut_at, text_width, thousands};
use crate::protocol::{Capability, ErrorBody, ErrorCode, Grant, GrantState, Series};

/// Refreshes come at least this far apart (seconds)...
pub const REFRESH_MIN_S: u64 = 5;
/// ...and at most this far apart while the pane is on screen: a new point
/// only comes once per step, so a long range refreshes less often.
pub const REFRESH_MAX_S: u64 = 30;
/// After `rate_limited`, the next try waits this long (seconds).
pub const RATE_LIMITED_RETRY_S: u64 = 30;
/// The overview's services other than the charted one are queried this
/// far apart (seconds): each query is audited at the gateway, and a
/// sparkline needs no more.
pub const OVERVIEW_REFRESH_S: u64 = 30;
/// The sparkline width the overview's queries choose their step for.
pub const OVERVIEW_SPARK_COLS: u16 = 30;
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

impl Query {
    /// The charts this query's answer holds, as of `at` (server time).
    pub fn answered(self, series: Vec<Series>, at: DateTime<Utc>) -> Charts {
        Charts {
            service: self.service,
            range: self.range,
            step_s: self.step_s,
            series,
            at,
        }
    }

    /// What its refusal (or unreadable answer) says, as of `at`.
    pub fn failed(&self, e: &ErrorBody, at: DateTime<Utc>) -> Failure {
        Failure {
            service: self.service.clone(),
            code: e.code,
            message: e.message.clone(),
            at,
        }
    }
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
    /// The focused chart (an index into the series): what `Enter`
    /// enlarges.
    pub focus: usize,
    /// The focused chart fills the pane.
    pub enlarged: bool,
    /// The overview's data for the services other than the charted one.
    pub overview: BTreeMap<String, Overview>,
    /// The overview query in flight (one at most, besides the charts').
    pub overview_pending: Option<Query>,
}

/// What the overview holds for one service other than the charted one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overview {
    /// The last answer (kept when a later query fails).
    pub charts: Option<Charts>,
    /// The last query failed (cleared by an answer).
    pub failure: Option<Failure>,
    /// Local time of the next query; None: at once.
    pub next_due: Option<DateTime<Utc>>,
    /// A refusal that asking again would not change: no more queries
    /// until a grant on the service changes.
    pub halted: bool,
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

    /// What the overview shows for `service`: its own answer, or the
    /// charts' when they are of it (the charted service, or the one
    /// charted before), whichever is newer.
    pub fn overview_of(&self, service: &str) -> Option<&Charts> {
        let own = self.overview.get(service).and_then(|o| o.charts.as_ref());
        match (own, self.charts_of(service)) {
            (Some(o), Some(c)) if o.at > c.at => Some(o),
            (_, Some(c)) => Some(c),
            (o, None) => o,
        }
    }
}

// ---- levels ----

/// How a value stands against its chart's levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Ok,
    Warn,
    Critical,
}

impl Severity {
    /// `v` against `warn` and `critical` (at or above is bad); None when
    /// the chart has no levels (or `v` is not a number).
    pub fn of(v: f64, warn: Option<f64>, critical: Option<f64>) -> Option<Severity> {
        let (warn, critical) = (finite(warn), finite(critical));
        if (warn.is_none() && critical.is_none()) || !v.is_finite() {
            return None;
        }
        Some(if critical.is_some_and(|c| v >= c) {
            Severity::Critical
        } else if warn.is_some_and(|w| v >= w) {
            Severity::Warn
        } else {
            Severity::Ok
        })
    }

    /// `v` against the levels of `s`.
    pub fn in_series(s: &Series, v: f64) -> Option<Severity> {
        Severity::of(v, s.warn, s.critical)
    }

    /// The level crossed, as the title says it: `WARN`, `CRIT`.
    pub fn badge(self) -> Option<&'static str> {
        match self {
            Severity::Ok => None,
            Severity::Warn => Some("WARN"),
            Severity::Critical => Some("CRIT"),
        }
    }
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite())
}

/// The levels of `s` that are numbers: (warn, critical).
pub fn levels(s: &Series) -> (Option<f64>, Option<f64>) {
    (finite(s.warn), finite(s.critical))
}

/// The level `v` crossed in `s`, if any: its value.
pub fn crossed(s: &Series, sev: Severity) -> Option<f64> {
    match sev {
        Severity::Ok => None,
        Severity::Warn => finite(s.warn),
        Severity::Critical => finite(s.critical),
    }
}

/// A level as the title writes it: `1,000`, `5%`, `1.5 GiB`.
pub fn level_label(v: f64, unit: &str) -> String {
    if is_bytes(unit) || unit == "%" {
        value(v, unit)
    } else {
        value(v, "")
    }
}

/// The y axis of a chart whose points go from `lo` to `hi`: from 0 (or
/// a round figure under the lowest value, when negative) to a round
/// figure above the highest, the chart's levels included so that their
/// lines are on the chart.
pub fn y_range(lo: f64, hi: f64, levels: &[f64], unit: &str) -> (f64, f64) {
    let (lo, hi) = levels
        .iter()
        .filter(|v| v.is_finite())
        .fold((lo, hi), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let low = if lo >= 0.0 {
        0.0
    } else {
        -nice_ceil(-lo * 1.02, unit)
    };
    let high = if hi > 0.0 {
        nice_ceil(hi * 1.02, unit)
    } else if low < 0.0 {
        0.0
    } else {
        1.0
    };
    (low, high)
}

// ---- where things fall on a chart ----

/// The column (of `cols`, from the left) where time `t_ms` falls on a
/// chart over `[from_ms, to_ms]`, as the braille canvas places a point
/// (two dots a column, rounded); None outside the window.
pub fn time_column(t_ms: i64, from_ms: i64, to_ms: i64, cols: u16) -> Option<u16> {
    if cols == 0 || to_ms <= from_ms || t_ms < from_ms || t_ms > to_ms {
        return None;
    }
    let dots = f64::from(cols) * 2.0 - 1.0;
    let dot = ((t_ms - from_ms) as f64 * dots / (to_ms - from_ms) as f64).round() as u16;
    Some((dot / 2).min(cols - 1))
}

/// The row (of `rows`, from the top) where `v` falls on a y axis from
/// `lo` to `hi`, as the braille canvas places a point (four dots a row,
/// rounded); None outside the axis.
pub fn value_row(v: f64, lo: f64, hi: f64, rows: u16) -> Option<u16> {
    if rows == 0 || hi <= lo || !v.is_finite() || v < lo || v > hi {
        return None;
    }
    let dots = f64::from(rows) * 4.0 - 1.0;
    let dot = ((hi - v) * dots / (hi - lo)).round() as u16;
    Some((dot / 4).min(rows - 1))
}

// ---- access marks ----

/// What happened to someone's access at a mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    Granted,
    Revoked,
    Expired,
}

impl MarkKind {
    /// The glyph that sits on the mark.
    fn glyph(self) -> &'static str {
        match self {
            MarkKind::Granted => "▲",
            MarkKind::Revoked | MarkKind::Expired => "■",
        }
    }

    fn word(self) -> &'static str {
        match self {
            MarkKind::Granted => "granted",
            MarkKind::Revoked => "revoked",
            MarkKind::Expired => "expired",
        }
    }
}

/// Whose grants mark the charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose<'a> {
    /// Only this user's own: what an engineer sees.
    Own(&'a str),
    /// Every grant the console knows of, this user's included: a lead
    /// watches everyone's sessions, so their charts tell everyone's story.
    Everyone(&'a str),
}

/// A holder's name at most this many columns on a label (a mark's label
/// must stay short enough to sit beside the others).
const MARK_NAME_MAX: usize = 12;

/// An access event on the time axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark<'a> {
    pub at_ms: i64,
    pub kind: MarkKind,
    /// Whose grant, when not the viewer's own.
    pub who: Option<&'a str>,
}

impl Mark<'_> {
    /// The label: `▲ granted` on my own grant, `▲ bob: granted` on
    /// someone else's (the colon keeps it from reading as bob granting
    /// something). `ends_on_mark` puts the glyph last, for a mark near
    /// the right edge: `bob: granted ▲`.
    pub fn label(&self, ends_on_mark: bool) -> String {
        let (glyph, word) = (self.kind.glyph(), self.kind.word());
        let text = match self.who {
            None => word.to_string(),
            Some(who) if text_width(who) > MARK_NAME_MAX => {
                let cut = &who[..cut_at(who, MARK_NAME_MAX - 1)];
                format!("{cut}…: {word}")
            }
            Some(who) => format!("{who}: {word}"),
        };
        if ends_on_mark {
            format!("{text} {glyph}")
        } else {
            format!("{glyph} {text}")
        }
    }
}

/// The starts and ends of the grants covering metrics:read on `service`
/// inside `[from_ms, to_ms]` that `whose` says to show, oldest first: a
/// start for each, and an end for each that ended (revoked, expired, or
/// past its expiry at `now` without the event having come yet). Marks
/// of someone else's grant carry their name.
pub fn marks<'a>(
    grants: impl IntoIterator<Item = &'a Grant>,
    whose: Whose<'_>,
    service: &str,
    from_ms: i64,
    to_ms: i64,
    now: DateTime<Utc>,
) -> Vec<Mark<'a>> {
    let (me, everyone) = match whose {
        Whose::Own(me) => (me, false),
        Whose::Everyone(me) => (me, true),
    };
    let mut out = Vec::new();
    for g in grants {
        if (!everyone && g.user != me)
            || g.service != service
            || !g.capabilities.contains(&Capability::MetricsRead)
        {
            continue;
        }
        let who = (g.user != me).then_some(g.user.as_str());
        out.push(Mark {
            at_ms: g.starts_at.timestamp_millis(),
            kind: MarkKind::Granted,
            who,
        });
        let end = match g.state {
            GrantState::Revoked => Some((g.ended_at.unwrap_or(g.expires_at), MarkKind::Revoked)),
            GrantState::Expired => Some((g.ended_at.unwrap_or(g.expires_at), MarkKind::Expired)),
            GrantState::Active if g.expires_at <= now => Some((g.expires_at, MarkKind::Expired)),
            GrantState::Active => None,
        };
        if let Some((at, kind)) = end {
            out.push(Mark {
                at_ms: at.timestamp_millis(),
                kind,
                who,
            });
        }
    }
    out.retain(|m| m.at_ms >= from_ms && m.at_ms <= to_ms);
    // Ends before starts at the same instant (an extension follows on);
    // then mine before others' (None first), so that the order is stable.
    out.sort_by_key(|m| (m.at_ms, m.kind == MarkKind::Granted, m.who));
    out.dedup();
    out
}

/// Where labels go on the top `rows` rows of a chart `cols` wide: each
/// label is `(mark column, width)`, left to right; the answer is `(x,
/// row, ends on the mark)`. A label starts on its mark, or ends on it
/// when it would run past the right edge; it takes the first row where
/// it keeps a column clear of the labels already placed and `room(x,
/// row, width)` says the chart leaves it room; None when no row does.
pub fn place_labels(
    labels: &[(u16, u16)],
    cols: u16,
    rows: u16,
    mut room: impl FnMut(u16, u16, u16) -> bool,
) -> Vec<Option<(u16, u16, bool)>> {
    // The first free column on each row.
    let mut free: Vec<u16> = vec![0; rows as usize];
    labels
        .iter()
        .map(|&(col, w)| {
            if w > cols {
                return None;
            }
            let (x, left) = if col + w <= cols {
                (col, false)
            } else {
                ((col + 1).saturating_sub(w), true)
            };
            let row = (0..rows).find(|r| free[*r as usize] <= x && room(x, *r, w))?;
            free[row as usize] = x + w + 1;
            Some((x, row, left))
        })
        .collect()
}

// ---- sparklines ----

/// The largest value per column of `cols` over `[from_ms, to_ms]` (both
/// ends in: `from_ms == to_ms` is one millisecond, a one-point series'
/// window); None where no point falls. A column left empty between two
/// points no further apart than the usual spacing allows (a step wider
/// than a column) takes the value between them; a real gap stays empty.
pub fn columns_max(
    points: &[(i64, f64)],
    from_ms: i64,
    to_ms: i64,
    cols: usize,
) -> Vec<Option<f64>> {
    let mut out: Vec<Option<f64>> = vec![None; cols];
    if cols == 0 || to_ms < from_ms {
        return out;
    }
    let gap = gap_threshold(points);
    let column = |t: i64| column_of(t, from_ms, to_ms, cols);
    // The previous finite point: (column, time, value).
    let mut prev: Option<(usize, i64, f64)> = None;
    for &(t, v) in points {
        if t < from_ms || t > to_ms {
            continue;
        }
        if !v.is_finite() {
            prev = None;
            continue;
        }
        let c = column(t);
        out[c] = Some(out[c].map_or(v, |m: f64| m.max(v)));
        if let Some((pc, pt, pv)) = prev
            && c > pc + 1
            && t - pt <= gap
        {
            for (k, slot) in out.iter_mut().enumerate().take(c).skip(pc + 1) {
                let f = (k - pc) as f64 / (c - pc) as f64;
                *slot = Some(pv + (v - pv) * f);
            }
        }
        prev = Some((c, t, v));
    }
    out
}

/// Which of `cols` even slices of `[from_ms, to_ms]` time `t` falls in
/// (`cols` > 0, `from_ms` <= `to_ms`).
fn column_of(t: i64, from_ms: i64, to_ms: i64, cols: usize) -> usize {
    let span = i128::from(to_ms - from_ms) + 1;
    let c = i128::from(t - from_ms) * cols as i128 / span;
    (c as usize).min(cols - 1)
}

/// Eight heights of block.
const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The block for `v` on an axis from `lo` to `hi` (a blank for no value).
pub fn spark(v: Option<f64>, lo: f64, hi: f64) -> char {
    let Some(v) = v.filter(|v| v.is_finite()) else {
        return ' ';
    };
    if hi <= lo {
        return BLOCKS[0];
    }
    let f = ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
    BLOCKS[((f * 8.0) as usize).min(7)]
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
    let column = |t: i64| column_of(t, from_ms, to_ms, cols);
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

    fn series(warn: Option<f64>, critical: Option<f64>) -> Series {
        Series {
            name: "latency_p99".into(),
            unit: "ms".into(),
            points: vec![],
            warn,
            critical,
        }
    }

    #[test]
    fn a_value_at_or_above_a_level_has_crossed_it() {
        let s = series(Some(500.0), Some(1000.0));
        assert_eq!(Severity::in_series(&s, 499.9), Some(Severity::Ok));
        assert_eq!(Severity::in_series(&s, 500.0), Some(Severity::Warn));
        assert_eq!(Severity::in_series(&s, 1000.0), Some(Severity::Critical));
        assert_eq!(Severity::in_series(&s, 2140.0), Some(Severity::Critical));
        assert_eq!(crossed(&s, Severity::Critical), Some(1000.0));
        assert_eq!(Severity::Critical.badge(), Some("CRIT"));
        assert_eq!(Severity::Ok.badge(), None);
        // Only one level, or none (or not numbers): judged by what there is.
        assert_eq!(Severity::of(7.0, None, Some(5.0)), Some(Severity::Critical));
        assert_eq!(Severity::of(3.0, None, Some(5.0)), Some(Severity::Ok));
        assert_eq!(Severity::of(3.0, None, None), None);
        assert_eq!(Severity::of(3.0, Some(f64::NAN), None), None);
        assert_eq!(Severity::of(f64::NAN, Some(1.0), None), None);
        assert_eq!(level_label(1000.0, "ms"), "1,000");
        assert_eq!(level_label(5.0, "%"), "5%");
        assert_eq!(
            level_label(1.5 * 1024.0 * 1024.0 * 1024.0, "bytes"),
            "1.5 GiB"
        );
    }

    #[test]
    fn the_y_axis_reaches_the_levels_so_their_lines_are_on_the_chart() {
        // Without levels, as before: 0 to a round figure above the max.
        assert_eq!(y_range(104.0, 2140.0, &[], "ms"), (0.0, 2500.0));
        assert_eq!(y_range(0.0, 0.0, &[], "%"), (0.0, 1.0));
        assert_eq!(y_range(-3.0, 4.0, &[], ""), (-4.0, 5.0));
        assert_eq!(y_range(-3.0, -1.0, &[], ""), (-4.0, 0.0));
        // A calm p99 under its levels: the axis goes above critical.
        assert_eq!(y_range(104.0, 435.0, &[500.0, 1000.0], "ms"), (0.0, 1500.0));
        // Above them already: the data decides.
        assert_eq!(
            y_range(104.0, 2140.0, &[500.0, 1000.0], "ms"),
            (0.0, 2500.0)
        );
        assert_eq!(y_range(0.4, 0.6, &[1.0, 5.0], "%"), (0.0, 6.0));
        // Every level lands inside the axis, never on its top edge.
        for (max, lv) in [(0.6, 5.0), (435.0, 1000.0), (12.0, 30.0), (1e9, 2e9)] {
            let (lo, hi) = y_range(0.0, max, &[lv], "");
            assert!(lo <= lv && lv < hi, "{lv} in {lo}..{hi}");
        }
        // Not-a-number levels are ignored.
        assert_eq!(y_range(1.0, 2.0, &[f64::NAN], ""), (0.0, 2.5));
    }

    #[test]
    fn times_and_values_fall_where_the_braille_canvas_puts_them() {
        // 72 columns over 15 minutes: the ends are the first and last.
        let (from, to) = (0, 900_000);
        assert_eq!(time_column(from, from, to, 72), Some(0));
        assert_eq!(time_column(to, from, to, 72), Some(71));
        // The middle rounds to the right (71.5 dots of 143).
        assert_eq!(time_column(450_000, from, to, 72), Some(36));
        assert_eq!(time_column(from - 1, from, to, 72), None);
        assert_eq!(time_column(to + 1, from, to, 72), None);
        assert_eq!(time_column(10, 0, 0, 72), None);
        // 15 rows from 0 to 1,500: 1,000 is a third down, 0 the bottom.
        assert_eq!(value_row(1500.0, 0.0, 1500.0, 15), Some(0));
        assert_eq!(value_row(1000.0, 0.0, 1500.0, 15), Some(5));
        assert_eq!(value_row(500.0, 0.0, 1500.0, 15), Some(9));
        assert_eq!(value_row(0.0, 0.0, 1500.0, 15), Some(14));
        assert_eq!(value_row(1600.0, 0.0, 1500.0, 15), None);
        assert_eq!(value_row(f64::NAN, 0.0, 1500.0, 15), None);
        assert_eq!(value_row(1.0, 0.0, 1500.0, 0), None);
    }

    /// `HH:MM:SS` on the tests' day.
    fn at(hms: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-11-24T{hms}Z"))
            .unwrap()
            .to_utc()
    }

    /// [`at`] in unix ms.
    fn ms(hms: &str) -> i64 {
        at(hms).timestamp_millis()
    }

    fn my_grant(id: &str, from: &str, to: &str, state: GrantState) -> Grant {
        Grant {
            id: id.into(),
            request_id: format!("req-{id}"),
            user: "alice".into(),
            service: "payments".into(),
            capabilities: vec![Capability::LogsRead, Capability::MetricsRead],
            starts_at: at(from),
            expires_at: at(to),
            state,
            break_glass: false,
            revoked_by: None,
            revoke_reason: None,
            ended_at: (state != GrantState::Active).then(|| at(to)),
        }
    }

    #[test]
    fn marks_are_my_metrics_grants_starts_and_ends_inside_the_window() {
        let now = at("03:00:00");
        let mut revoked = my_grant("g1", "02:05:00", "02:35:00", GrantState::Revoked);
        revoked.ended_at = Some(at("02:18:00"));
        let expired = my_grant("g2", "02:20:00", "02:35:00", GrantState::Expired);
        let active = my_grant("g3", "02:40:00", "03:20:00", GrantState::Active);
        // Ran out on the clock, the event not in yet: an end all the same.
        let ran_out = my_grant("g4", "02:50:00", "02:55:00", GrantState::Active);
        let mut bobs = my_grant("g5", "02:30:00", "02:45:00", GrantState::Expired);
        bobs.user = "bob".into();
        let mut logs_only = my_grant("g6", "02:31:00", "02:45:00", GrantState::Expired);
        logs_only.capabilities = vec![Capability::LogsRead];
        let mut elsewhere = my_grant("g7", "02:32:00", "02:45:00", GrantState::Expired);
        elsewhere.service = "ledger".into();
        let all = [
            revoked, expired, active, ran_out, bobs, logs_only, elsewhere,
        ];
        let got = marks(
            &all,
            Whose::Own("alice"),
            "payments",
            ms("02:00:00"),
            ms("03:00:00"),
            now,
        );
        let want = [
            ("02:05:00", MarkKind::Granted),
            ("02:18:00", MarkKind::Revoked),
            ("02:20:00", MarkKind::Granted),
            ("02:35:00", MarkKind::Expired),
            ("02:40:00", MarkKind::Granted),
            ("02:50:00", MarkKind::Granted),
            ("02:55:00", MarkKind::Expired),
        ]
        .map(|(at, kind)| Mark {
            at_ms: ms(at),
            kind,
            who: None,
        });
        assert_eq!(got, want);
        // Outside the window: not there.
        let got = marks(
            &all,
            Whose::Own("alice"),
            "payments",
            ms("02:45:00"),
            ms("03:00:00"),
            now,
        );
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|m| m.at_ms >= ms("02:45:00")));
        // An extension starting as the old grant ends: the end first.
        let old = my_grant("g8", "02:45:00", "02:52:00", GrantState::Expired);
        let new = my_grant("g9", "02:52:00", "03:20:00", GrantState::Active);
        let got = marks(
            [&new, &old],
            Whose::Own("alice"),
            "payments",
            ms("02:50:00"),
            ms("03:00:00"),
            now,
        );
        let kinds: Vec<MarkKind> = got.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, [MarkKind::Expired, MarkKind::Granted]);
    }

    #[test]
    fn a_lead_sees_everyones_marks_named_and_a_non_lead_only_their_own() {
        let now = at("03:00:00");
        let mine = my_grant("g1", "02:40:00", "03:20:00", GrantState::Active);
        let mut bobs = my_grant("g2", "02:30:00", "02:45:00", GrantState::Revoked);
        bobs.user = "bob".into();
        // Starts with mine: mine first at the same instant.
        let mut carols = my_grant("g3", "02:40:00", "02:50:00", GrantState::Expired);
        carols.user = "carol".into();
        // A lead still sees only grants covering metrics:read there.
        let mut logs_only = my_grant("g4", "02:31:00", "02:45:00", GrantState::Expired);
        logs_only.user = "dave".into();
        logs_only.capabilities = vec![Capability::LogsRead];
        let mut elsewhere = my_grant("g5", "02:32:00", "02:45:00", GrantState::Expired);
        elsewhere.user = "erin".into();
        elsewhere.service = "ledger".into();
        let all = [mine, bobs, carols, logs_only, elsewhere];
        let (from, to) = (ms("02:00:00"), ms("03:00:00"));
        let got = marks(&all, Whose::Everyone("alice"), "payments", from, to, now);
        let want = [
            ("02:30:00", MarkKind::Granted, Some("bob")),
            ("02:40:00", MarkKind::Granted, None),
            ("02:40:00", MarkKind::Granted, Some("carol")),
            ("02:45:00", MarkKind::Revoked, Some("bob")),
            ("02:50:00", MarkKind::Expired, Some("carol")),
        ]
        .map(|(at, kind, who)| Mark {
            at_ms: ms(at),
            kind,
            who,
        });
        assert_eq!(got, want);
        let labels: Vec<String> = got.iter().map(|m| m.label(false)).collect();
        assert_eq!(
            labels,
            [
                "▲ bob: granted",
                "▲ granted",
                "▲ carol: granted",
                "■ bob: revoked",
                "■ carol: expired",
            ]
        );
        // Not a lead: the same grants, only mine, unnamed.
        let got = marks(&all, Whose::Own("alice"), "payments", from, to, now);
        assert_eq!(
            got,
            [Mark {
                at_ms: ms("02:40:00"),
                kind: MarkKind::Granted,
                who: None,
            }]
        );
    }

    #[test]
    fn mark_labels_put_the_glyph_on_the_mark_and_keep_names_short() {
        let mark = |kind, who| Mark {
            at_ms: 0,
            kind,
            who,
        };
        assert_eq!(mark(MarkKind::Revoked, None).label(false), "■ revoked");
        assert_eq!(mark(MarkKind::Granted, None).label(true), "granted ▲");
        assert_eq!(
            mark(MarkKind::Expired, Some("bob")).label(true),
            "bob: expired ■"
        );
        assert_eq!(
            mark(MarkKind::Granted, Some("maximiliane.oberhuber")).label(false),
            "▲ maximiliane…: granted"
        );
        // Cut by columns: a wide character counts twice.
        assert_eq!(
            mark(MarkKind::Granted, Some("渡辺あゆみ.oncall")).label(false),
            "▲ 渡辺あゆみ.…: granted"
        );
    }

    #[test]
    fn mark_labels_stack_when_they_would_touch_and_end_on_marks_near_the_edge() {
        let anywhere = |_: u16, _: u16, _: u16| true;
        // Three labels 9 wide on a 72-column chart.
        let got = place_labels(
            &[(6, 9), (21, 9), (24, 9), (42, 9), (70, 9)],
            72,
            2,
            anywhere,
        );
        assert_eq!(
            got,
            [
                Some((6, 0, false)),
                Some((21, 0, false)),
                // Would touch the one at 21: a row down.
                Some((24, 1, false)),
                Some((42, 0, false)),
                // Would run past the edge: ends on its mark.
                Some((62, 0, true)),
            ]
        );
        // No row left: left out (the line stays).
        let got = place_labels(&[(0, 9), (2, 9), (4, 9)], 72, 2, anywhere);
        assert_eq!(got[2], None);
        // A row the curve takes is skipped.
        let got = place_labels(&[(5, 9)], 72, 2, |_, row, _| row == 1);
        assert_eq!(got, [Some((5, 1, false))]);
        // Wider than the chart: nowhere.
        assert_eq!(place_labels(&[(0, 9)], 8, 2, anywhere), [None]);
    }

    #[test]
    fn sparklines_keep_spikes_and_gaps_and_bridge_coarse_steps() {
        // A point every 30 s for 15 minutes into 40 columns (22.5 s each):
        // some columns have no point of their own, and are bridged.
        let points: Vec<(i64, f64)> = (0..=30).map(|i| (i * 30_000, 1.0)).collect();
        let cols = columns_max(&points, 0, 900_000, 40);
        assert!(cols.iter().all(Option::is_some), "{cols:?}");
        // A one-sample spike survives.
        let mut spiky = points.clone();
        spiky[12].1 = 9.0;
        let cols = columns_max(&spiky, 0, 900_000, 10);
        assert_eq!(cols.iter().flatten().copied().fold(0.0, f64::max), 9.0);
        // A real gap (two minutes without a point) stays empty.
        let gappy: Vec<(i64, f64)> = points
            .iter()
            .copied()
            .filter(|(t, _)| !(300_000..=420_000).contains(t))
            .collect();
        let cols = columns_max(&gappy, 0, 900_000, 30);
        assert!(cols[9..14].iter().all(Option::is_none), "{cols:?}");
        assert!(cols[..9].iter().all(Option::is_some));
        assert!(cols[14..].iter().all(Option::is_some));
        // Before the first point: empty, not zero.
        let late: Vec<(i64, f64)> = points.iter().copied().filter(|p| p.0 >= 600_000).collect();
        let cols = columns_max(&late, 0, 900_000, 30);
        assert!(cols[..19].iter().all(Option::is_none));
        assert!(columns_max(&points, 0, 900_000, 0).is_empty());
        // A window of one instant holds the point at it.
        assert_eq!(columns_max(&[(5, 3.0)], 5, 5, 1), [Some(3.0)]);
        assert_eq!(columns_max(&[(5, 3.0)], 6, 5, 1), [None]);
        // Blocks from the floor of the axis to its top.
        assert_eq!(spark(Some(0.0), 0.0, 10.0), '▁');
        assert_eq!(spark(Some(5.0), 0.0, 10.0), '▅');
        assert_eq!(spark(Some(10.0), 0.0, 10.0), '█');
        assert_eq!(spark(Some(99.0), 0.0, 10.0), '█');
        assert_eq!(spark(None, 0.0, 10.0), ' ');
        assert_eq!(spark(Some(3.0), 1.0, 1.0), '▁');
    }
}
