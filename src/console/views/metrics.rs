//! The Metrics pane: one chart per series the gateway sends for the
//! charted service, in its order, laid out in a grid that fits.
//!
//! Inside the pane's border: a banner row when the grant ended (what `r`
//! does) or the last refresh failed (the charts are then stale), the
//! overview when there is room for it, then the charts.
//!
//! - The overview (160x45 and up: at least 100 columns and 30 rows
//!   inside the border; hidden at 80x24 and while a chart is enlarged):
//!   a row per service I may chart (the charted one first, marked `●`),
//!   with a tiny sparkline, the newest value and its level for each
//!   chart, or for the first chart and those at a level when not all
//!   fit. Only when there is another service than the charted one; at
//!   most four rows.
//! - Each chart is a title row (name, unit, the newest value, the
//!   window's min and max) over a braille line chart with a y axis from 0
//!   (or the lowest value, when negative) to a round figure above the
//!   highest and above the chart's levels. Tall cells (2×2 at 160x45)
//!   carry their own time axis; short ones (stacked at 80x24) share the
//!   one under the bottom chart, so that every row of the terminal goes
//!   to the curves.
//! - The newest value is the loudest text of a chart: bold, in the
//!   colour of its level (`ok`, `warn`, or the `alarm` banner colours when
//!   critical), with the level crossed (`▲ CRIT ≥1,000`). Where the plot
//!   has room (enlarged, or a grid cell of at least 50x12 of plot) it is
//!   also drawn large ([`big_digits`]) in a top corner of the plot, the
//!   right one first, in its level's colour, only on cells the curve,
//!   the marks and their labels leave empty.
//! - Levels are dashed lines across the chart (`╍` critical in the
//!   theme's critical colour, `╌` warn in a dim warn colour), labelled at
//!   their left end when the curve leaves room; the curve is drawn over
//!   them.
//! - My metrics:read grants on the charted service start (`▲ granted`)
//!   and end (`■ revoked`, `■ expired`) as dotted vertical lines down
//!   every chart, labelled on the top rows of the top row of charts. Once
//!   the grant ended within a refresh of the last answer, the window
//!   reaches the end, so that its mark shows. A lead sees everyone's
//!   grants there the same way, named when not theirs (`▲ bob: granted`).
//! - The focused chart (`←→↑↓`, `hjkl`, a click) has `›` before its name;
//!   `Enter` enlarges it to the whole pane.
//!
//! The border carries the service (top left), the ranges with the
//! current one marked (top right), when the charts were last refreshed
//! or why they are stale (bottom left), and which charts are on screen
//! when not all fit or one is enlarged (bottom right).
//!
//! Points are reduced to the columns each chart has
//! ([`metrics::downsample`]); a gap in the data stays a gap.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph};

use super::overlays;
use super::{draw_note, draw_prose, fmt, pane_block, pane_inner, prose_area, title};
use crate::console::app::App;
use crate::console::big_digits;
use crate::console::metrics::{
    self, Charts, Figures, Mark, MarkKind, REFRESH_MAX_S, Range, Severity, Whose, axis,
    columns_max, crossed, downsample, figures, level_label, levels, place_labels, refresh_every,
    spacing_ms, spark, time_column, value_row, y_range,
};
use crate::console::metrics_update::{
    choices, has_grant, last_grant, metrics_grants, pending_request, service,
};
use crate::console::theme::{TAGS, Theme};
use crate::protocol::{Capability, ErrorCode, GrantState, Series};

/// Rows of a chart at least: its title and three rows of curve.
const MIN_CELL_H: u16 = 4;
/// From this height per chart on, each chart has its own time axis.
const ROOMY_CELL_H: u16 = 10;
/// Charts side by side need at least this many columns each.
const SIDE_BY_SIDE_W: u16 = 60;
/// Columns between charts side by side.
const GAP_X: u16 = 3;
/// Rows of a time axis (the line and its labels).
const X_AXIS_H: u16 = 2;
/// The y labels' width assumed when choosing a step.
const Y_LABELS_W: u16 = 5;
/// Series assumed before the first answer.
const TYPICAL_SERIES: usize = 4;
/// The overview shows from this size inside the pane's border on.
const OVERVIEW_MIN: (u16, u16) = (100, 30);
/// Rows of overview at most (the last says how many more when cut).
const OVERVIEW_ROWS: usize = 4;
/// Rows of the top of a chart its marks' labels may take.
const MARK_LABEL_ROWS: u16 = 2;
/// What the overlays draw with (and may draw over).
const DASH_WARN: &str = "╌";
const DASH_CRITICAL: &str = "╍";
const MARK_LINE: &str = "┊";
const MARK_TICK: &str = "┴";
/// A chart of the grid shows its newest value large only on a plot at
/// least this wide and tall (columns, rows): three rows of figure in a
/// corner then leave the curve most of the chart (2×2 at 160x45 has it,
/// the stacked charts at 80x24 do not).
const BIG_VALUE_MIN: (u16, u16) = (50, 12);
/// An enlarged chart shows it from this many rows of plot on: the chart
/// is the one looked at, and has the room.
const BIG_VALUE_MIN_ENLARGED_H: u16 = 6;
/// Rows below the top the large value may slide down to, to clear the
/// marks' labels or a curve that reaches the corner.
const BIG_VALUE_SLIDE: u16 = MARK_LABEL_ROWS + 1;

/// How the charts are laid out in the body.
#[derive(Debug, Clone, PartialEq)]
struct Grid {
    ncols: usize,
    /// Chart rows on screen, and in all.
    rows: usize,
    total_rows: usize,
    /// The first chart row on screen.
    first_row: usize,
    /// Each chart has its own time axis (else only the bottom row's).
    roomy: bool,
    /// (y, height) of each chart row on screen.
    row_spans: Vec<(u16, u16)>,
    /// (x, width) of each column.
    col_spans: Vec<(u16, u16)>,
}

fn grid(n: usize, body: Rect, scroll: usize) -> Grid {
    let ncols = if n >= 6 && body.width >= 3 * SIDE_BY_SIDE_W + 2 * GAP_X {
        3
    } else if n >= 2
        && body.width >= 2 * SIDE_BY_SIDE_W + GAP_X
        && (n >= 4 || body.height / (n as u16) < ROOMY_CELL_H)
    {
        2
    } else {
        1
    };
    let total_rows = n.div_ceil(ncols).max(1);
    // Tall enough for every chart to have its own axis (and a blank row
    // between rows of charts)?
    let roomy_fit = ((body.height + 1) / (ROOMY_CELL_H + 1)).max(1) as usize;
    let roomy = roomy_fit >= total_rows;
    let (rows, avail) = if roomy {
        (
            total_rows,
            body.height.saturating_sub(total_rows as u16 - 1),
        )
    } else {
        let avail = body.height.saturating_sub(X_AXIS_H);
        let fit = ((avail / MIN_CELL_H).max(1)) as usize;
        (total_rows.min(fit), avail)
    };
    let first_row = scroll.min(total_rows - rows);
    let base = avail / rows as u16;
    let extra = avail % rows as u16;
    let mut row_spans = Vec::with_capacity(rows);
    let mut y = body.y;
    for i in 0..rows {
        let mut h = base + u16::from((i as u16) < extra);
        if !roomy && i + 1 == rows {
            h += X_AXIS_H;
        }
        row_spans.push((y, h));
        y += h + u16::from(roomy);
    }
    let gaps = GAP_X * (ncols as u16 - 1);
    let w = body.width.saturating_sub(gaps) / ncols as u16;
    let mut col_spans = Vec::with_capacity(ncols);
    for c in 0..ncols {
        let x = body.x + c as u16 * (w + GAP_X);
        let width = if c + 1 == ncols {
            body.right().saturating_sub(x)
        } else {
            w
        };
        col_spans.push((x, width));
    }
    Grid {
        ncols,
        rows,
        total_rows,
        first_row,
        roomy,
        row_spans,
        col_spans,
    }
}

/// One chart filling the body (enlarged).
fn single(body: Rect) -> Grid {
    Grid {
        ncols: 1,
        rows: 1,
        total_rows: 1,
        first_row: 0,
        roomy: true,
        row_spans: vec![(body.y, body.height)],
        col_spans: vec![(body.x, body.width)],
    }
}

/// A banner under the border: who, why (cut to fit), what now (long and
/// short forms), and how it looks.
struct Banner {
    head: String,
    why: String,
    tail: String,
    tail_short: String,
    style: Style,
}

impl Banner {
    /// The text for `w` columns: the long form if it fits, else the
    /// short one with the reason cut to what is left.
    fn text(&self, w: usize) -> String {
        let len = |tail: &str| fmt::width(&self.head) + fmt::width(&self.why) + fmt::width(tail);
        let tail = if len(&self.tail) <= w {
            &self.tail
        } else {
            &self.tail_short
        };
        let room = w.saturating_sub(fmt::width(&self.head) + fmt::width(tail));
        let why = fmt::fit(&self.why, room);
        fmt::fit(&format!("{}{why}{tail}", self.head), w).into_owned()
    }
}

/// The banner under the border, if any: the grant ended (or a request
/// for it waits), or the last refresh failed while charts are shown.
fn banner(app: &App, theme: &Theme, service: &str) -> Option<Banner> {
    let m = &app.metrics;
    if !has_grant(app, service) {
        if let Some(r) = pending_request(app, service) {
            return Some(Banner {
                head: format!(" ◌ {service}: "),
                why: format!(
                    "{} waits for approval ({}/{})",
                    r.id,
                    r.approvals.len(),
                    r.approvals_required
                ),
                tail: "; the charts resume once granted ".into(),
                tail_short: "; resumes once granted ".into(),
                style: theme.warn.add_modifier(Modifier::REVERSED),
            });
        }
        let why = match last_grant(app, service) {
            Some(g) if g.state == GrantState::Revoked => format!(
                "your metrics:read grant was revoked by {} ({})",
                g.revoked_by.as_deref().unwrap_or("?"),
                g.revoke_reason.as_deref().unwrap_or("no reason given")
            ),
            Some(g) => format!(
                "your metrics:read grant expired at {}",
                fmt::hhmmss(g.ended_at.unwrap_or(g.expires_at))
            ),
            None => "no grant covers metrics:read here".to_string(),
        };
        return Some(Banner {
            head: format!(" ✕ {service}: "),
            why,
            tail: "; r asks for metrics:read again ".into(),
            tail_short: "; r: ask again ".into(),
            style: theme.alarm,
        });
    }
    let f = m.failure_of(service)?;
    let c = m.charts_of(service)?;
    let (tail, tail_short) = if m.halted {
        ("; R tries again ".to_string(), "; R: retry ".to_string())
    } else {
        let every = if f.code == ErrorCode::RateLimited {
            metrics::RATE_LIMITED_RETRY_S
        } else {
            refresh_every(c.step_s)
        };
        (
            format!("; retrying every {every}s "),
            format!("; retry {every}s "),
        )
    };
    Some(Banner {
        head: format!(" ! refresh failed at {} ({}): ", fmt::hhmmss(f.at), f.code),
        why: f.message.clone(),
        tail,
        tail_short,
        style: theme.warn.add_modifier(Modifier::REVERSED),
    })
}

/// Whether the banner shows for `service` (as [`banner`] decides).
fn banner_shown(app: &App, service: &str) -> bool {
    let m = &app.metrics;
    !has_grant(app, service) || (m.failure_of(service).is_some() && m.charts_of(service).is_some())
}

/// The overview's rows.
#[derive(Debug, Clone, PartialEq)]
struct OverviewRows {
    area: Rect,
    /// The services on its rows, the charted one first.
    services: Vec<String>,
    /// Services left out (the last row says so).
    more: usize,
}

/// Where the parts of the pane go.
#[derive(Debug, Clone, PartialEq)]
struct PaneLayout {
    /// The banner's row, when shown.
    banner: Option<Rect>,
    overview: Option<OverviewRows>,
    /// Where the charts go.
    body: Rect,
}

/// The services the overview would show: the charted one first, then
/// the others I may chart (most recent grant first).
fn overview_services(app: &App) -> Vec<String> {
    let charted = service(app);
    let mut out: Vec<String> = charted.map(str::to_string).into_iter().collect();
    out.extend(
        choices(app)
            .into_iter()
            .map(|c| c.service)
            .filter(|s| Some(s.as_str()) != charted),
    );
    out
}

fn layout(app: &App, pane: Rect) -> PaneLayout {
    let inner = pane_inner(pane);
    let banner = service(app).is_some_and(|s| banner_shown(app, s))
        && inner.height > MIN_CELL_H + X_AXIS_H + 1;
    let h = u16::from(banner);
    let mut body = Rect {
        y: inner.y + h,
        height: inner.height - h,
        ..inner
    };
    let banner = banner.then_some(Rect {
        y: inner.y,
        height: 1,
        ..inner
    });
    let mut overview = None;
    if !app.metrics.enlarged && inner.width >= OVERVIEW_MIN.0 && inner.height >= OVERVIEW_MIN.1 {
        let mut services = overview_services(app);
        if services.len() >= 2 {
            let mut more = 0;
            if services.len() > OVERVIEW_ROWS {
                more = services.len() - (OVERVIEW_ROWS - 1);
                services.truncate(OVERVIEW_ROWS - 1);
            }
            let rows = (services.len() + usize::from(more > 0)) as u16;
            overview = Some(OverviewRows {
                area: Rect {
                    height: rows,
                    ..body
                },
                services,
                more,
            });
            // The overview, a blank row, the charts.
            body.y += rows + 1;
            body.height = body.height.saturating_sub(rows + 1);
        }
    }
    PaneLayout {
        banner,
        overview,
        body,
    }
}

/// How many series the grid is laid out for.
fn series_count(app: &App) -> usize {
    service(app)
        .and_then(|s| app.metrics.charts_of(s))
        .map_or(TYPICAL_SERIES, |c| c.series.len().max(1))
}

/// The grid the pane shows (one enlarged chart, or all of them).
fn grid_of(app: &App, body: Rect) -> Grid {
    if app.metrics.enlarged {
        single(body)
    } else {
        grid(series_count(app), body, app.metrics.scroll)
    }
}

/// Columns of curve a chart of the grid has in `pane` (for choosing the
/// step: an enlarged chart draws the same points wider, so enlarging
/// costs no query).
pub(super) fn plot_cols(app: &App, pane: Rect) -> u16 {
    let body = layout(app, pane).body;
    let g = grid(series_count(app), body, 0);
    g.col_spans[0].1.saturating_sub(Y_LABELS_W + 1).max(1)
}

/// The last chart row the pane can scroll to.
pub(super) fn scroll_max(app: &App, pane: Rect) -> usize {
    if app.metrics.enlarged {
        return 0;
    }
    let g = grid(series_count(app), layout(app, pane).body, 0);
    g.total_rows - g.rows
}

/// The grid's charts per row, and its chart rows on screen.
pub(super) fn grid_shape(app: &App, pane: Rect) -> (usize, usize) {
    let g = grid(series_count(app), layout(app, pane).body, 0);
    (g.ncols, g.rows)
}

/// The services the overview shows in `pane` (none when hidden).
pub(super) fn overview_shown(app: &App, pane: Rect) -> Vec<String> {
    layout(app, pane)
        .overview
        .map(|o| o.services)
        .unwrap_or_default()
}

/// Each chart on screen: (its index in the series, its cell, its row of
/// the grid).
fn cells(g: &Grid, n: usize, focus: usize, enlarged: bool) -> Vec<(usize, Rect, usize)> {
    if enlarged {
        let (y, h) = g.row_spans[0];
        let (x, w) = g.col_spans[0];
        return vec![(focus.min(n.saturating_sub(1)), Rect::new(x, y, w, h), 0)];
    }
    (g.first_row * g.ncols..n)
        .take(g.rows * g.ncols)
        .enumerate()
        .map(|(k, i)| {
            let (row, col) = (k / g.ncols, k % g.ncols);
            let (y, h) = g.row_spans[row];
            let (x, w) = g.col_spans[col];
            (i, Rect::new(x, y, w, h), row)
        })
        .collect()
}

/// The chart under screen cell (`x`, `y`) of `pane`, if any.
pub(super) fn chart_at(app: &App, pane: Rect, x: u16, y: u16) -> Option<usize> {
    let s = service(app)?;
    let n = app.metrics.charts_of(s)?.series.len();
    let g = grid_of(app, layout(app, pane).body);
    cells(&g, n, app.metrics.focus, app.metrics.enlarged)
        .into_iter()
        .find(|(_, r, _)| r.contains(ratatui::layout::Position { x, y }))
        .map(|(i, _, _)| i)
}

pub(super) fn draw(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let Some(service) = service(app) else {
        no_grant(frame, app, theme, area);
        return;
    };
    let m = &app.metrics;
    let charts = m.charts_of(service).filter(|c| !c.series.is_empty());
    let lay = layout(app, area);
    let grid = charts.map(|_| grid_of(app, lay.body));
    let mut block = pane_block(title_line(app, theme, service), theme)
        .title_top(ranges_line(app, theme).right_aligned());
    if let Some(s) = status_line(app, theme, service) {
        block = block.title_bottom(s);
    }
    if let (Some(g), Some(c)) = (&grid, charts) {
        if m.enlarged {
            block = block.title_bottom(enlarged_line(app, c, theme).right_aligned());
        } else if let Some(l) = position_line(g, c.series.len(), theme) {
            block = block.title_bottom(l.right_aligned());
        } else if let Some(l) = history_line(c, theme) {
            block = block.title_bottom(l.right_aligned());
        }
    }
    frame.render_widget(block, area);
    if let (Some(row), Some(b)) = (lay.banner, banner(app, theme, service)) {
        let w = row.width as usize;
        let buf = frame.buffer_mut();
        buf.set_style(row, b.style);
        buf.set_stringn(row.x, row.y, b.text(w), w, b.style);
    }
    if let Some(o) = &lay.overview {
        draw_overview(frame, app, theme, o);
    }
    match (charts, grid) {
        (Some(c), Some(g)) => draw_grid(frame, app, theme, c, &g, !has_grant(app, service)),
        _ => empty_body(frame, app, theme, lay.body, service),
    }
}

/// ` Metrics · ● payments `
fn title_line<'a>(app: &App, theme: &Theme, service: &'a str) -> Line<'a> {
    let m = &app.metrics;
    let (glyph, style) = if !has_grant(app, service) {
        ("✕", theme.critical)
    } else if m.failure_of(service).is_some() || !app.connected() {
        ("!", theme.warn)
    } else if m.charts_of(service).is_some() {
        ("●", theme.ok)
    } else {
        ("○", theme.muted)
    };
    title(vec![
        Span::raw("Metrics · "),
        Span::styled(glyph, style),
        Span::raw(" "),
        Span::styled(service, theme.title),
    ])
}

/// ` 5m [15m] 1h 6h `: the ranges, the current one marked.
fn ranges_line(app: &App, theme: &Theme) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    for (i, r) in Range::ALL.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(" "));
        }
        if r == app.metrics.range {
            spans.push(Span::styled(
                format!("[{}]", r.label()),
                theme.accent.add_modifier(Modifier::BOLD),
            ));
        } else {
            spans.push(Span::styled(r.label(), theme.muted));
        }
    }
    spans.push(Span::raw(" "));
    Line::from(spans)
}

/// When the charts were refreshed, or why they are not fresh.
fn status_line(app: &App, theme: &Theme, service: &str) -> Option<Line<'static>> {
    let m = &app.metrics;
    let c = m.charts_of(service);
    let loading = m
        .pending_for(service)
        .filter(|q| q.range != c.map_or(q.range, |c| c.range));
    let (text, style) = match c {
        None => return None,
        Some(c) if !has_grant(app, service) => (
            format!(" stopped · last refreshed {} ", fmt::hhmmss(c.at)),
            theme.muted,
        ),
        Some(c) if !app.connected() => (
            format!(" not connected · last refreshed {} ", fmt::hhmmss(c.at)),
            theme.warn.add_modifier(Modifier::BOLD),
        ),
        Some(c) if m.failure_of(service).is_some() => (
            format!(" STALE · last refreshed {} ", fmt::hhmmss(c.at)),
            theme.warn.add_modifier(Modifier::BOLD),
        ),
        Some(c) if loading.is_some() || c.range != m.range => (
            format!(
                " loading {}… · showing {} from {} ",
                m.range.label(),
                c.range.label(),
                fmt::hhmmss(c.at)
            ),
            theme.accent,
        ),
        Some(c) => (
            format!(
                " refreshed {} · every {}s ",
                fmt::hhmmss(c.at),
                refresh_every(c.step_s)
            ),
            theme.muted,
        ),
    };
    Some(Line::from(Span::styled(text, style)))
}

/// ` charts 1–4 of 6 · j/k ` when not all charts fit.
fn position_line(g: &Grid, n: usize, theme: &Theme) -> Option<Line<'static>> {
    if g.rows >= g.total_rows {
        return None;
    }
    let first = g.first_row * g.ncols + 1;
    let last = ((g.first_row + g.rows) * g.ncols).min(n);
    Some(Line::from(vec![
        Span::styled(format!(" charts {first}–{last} of {n} · "), theme.muted),
        Span::styled("j/k", theme.key),
        Span::raw(" "),
    ]))
}

/// ` chart 3 of 4 · ←→ others · esc all ` while one is enlarged.
fn enlarged_line(app: &App, c: &Charts, theme: &Theme) -> Line<'static> {
    let n = c.series.len();
    let i = app.metrics.focus.min(n.saturating_sub(1)) + 1;
    let mut spans = vec![Span::styled(format!(" chart {i} of {n} · "), theme.muted)];
    if n > 1 {
        spans.push(Span::styled("←→", theme.key));
        spans.push(Span::styled(" others · ", theme.muted));
    }
    spans.push(Span::styled("esc", theme.key));
    spans.push(Span::styled(" all ", theme.muted));
    Line::from(spans)
}

/// ` data from 02:00 ` when the gateway answered less than the range
/// (its history is shorter).
fn history_line(c: &Charts, theme: &Theme) -> Option<Line<'static>> {
    let (from, to) = c.window();
    let first = c
        .series
        .iter()
        .filter_map(|s| s.points.iter().map(|p| p.0).filter(|t| *t >= from).min())
        .min()?;
    let slack = ((to - from) / 20).max(c.step_s as i64 * 2000);
    if first - from <= slack {
        return None;
    }
    let at = DateTime::from_timestamp_millis(first)?;
    Some(Line::from(Span::styled(
        format!(" data from {} ", fmt::hhmm(at)),
        theme.muted,
    )))
}

/// A time on the x axis: seconds only when the range is short.
fn time_label(ms: i64, range: Range) -> String {
    let t = DateTime::from_timestamp_millis(ms).unwrap_or_default();
    if range == Range::M5 {
        fmt::hhmmss(t)
    } else {
        fmt::hhmm(t)
    }
}

/// The time window the charts of `c` show: the range up to the answer.
/// When my grant ended soon after the answer (within a refresh), up to
/// the end instead, so that its mark is on the charts.
fn window(app: &App, c: &Charts) -> (i64, i64) {
    let (from, to) = c.window();
    if has_grant(app, &c.service) {
        return (from, to);
    }
    let end =
        last_grant(app, &c.service).map(|g| g.ended_at.unwrap_or(g.expires_at).timestamp_millis());
    match end {
        Some(e) if e > to && e - to <= REFRESH_MAX_S as i64 * 1000 => (from + (e - to), e),
        _ => (from, to),
    }
}

fn draw_grid(frame: &mut Frame, app: &App, theme: &Theme, c: &Charts, g: &Grid, greyed: bool) {
    let (from, to) = window(app, c);
    let m = &app.metrics;
    let n = c.series.len();
    let shown = cells(g, n, m.focus, m.enlarged);
    // One width for every chart's y labels, so that their time axes line up.
    let bounds: Vec<Option<(f64, f64)>> = shown
        .iter()
        .map(|(i, _, _)| {
            let s = &c.series[*i];
            let (warn, critical) = levels(s);
            let lv: Vec<f64> = warn.into_iter().chain(critical).collect();
            figures(&s.points, from, to).map(|f| y_range(f.min, f.max, &lv, &s.unit))
        })
        .collect();
    let labels_w = shown
        .iter()
        .zip(&bounds)
        .filter_map(|((i, _, _), b)| b.map(|(lo, hi)| (&c.series[*i], lo, hi)))
        .flat_map(|(s, lo, hi)| {
            [
                axis(lo, &s.unit),
                axis((lo + hi) / 2.0, &s.unit),
                axis(hi, &s.unit),
            ]
        })
        .map(|l| fmt::width(&l))
        .max()
        .unwrap_or(1);
    // Leads watch everyone's sessions: their charts show everyone's access.
    let whose = if app.has_role("lead") {
        Whose::Everyone(app.user_name())
    } else {
        Whose::Own(app.user_name())
    };
    let marks = metrics::marks(
        app.grants.values(),
        whose,
        &c.service,
        from,
        to,
        app.server_now(),
    );
    let focus = m.focus.min(n.saturating_sub(1));
    for (k, ((i, cell, row), b)) in shown.iter().zip(&bounds).enumerate() {
        // The bottom chart of each column carries the time axis.
        let last_in_col = *row + 1 == g.rows || k + g.ncols >= shown.len();
        let spec = ChartSpec {
            series: &c.series[*i],
            style: if greyed {
                theme.muted
            } else {
                theme.tags[i % TAGS]
            },
            window: (from, to),
            range: c.range,
            bounds: *b,
            labels_w,
            show_x: g.roomy || last_in_col,
            greyed,
            now: app.server_now(),
            focused: *i == focus && n > 1 && !m.enlarged,
            marks: &marks,
            mark_labels: *row == 0,
            enlarged: m.enlarged,
        };
        draw_chart(frame, theme, *cell, &spec);
    }
}

/// One chart: what and how.
struct ChartSpec<'a> {
    series: &'a Series,
    style: Style,
    window: (i64, i64),
    range: Range,
    bounds: Option<(f64, f64)>,
    labels_w: usize,
    show_x: bool,
    greyed: bool,
    now: DateTime<Utc>,
    /// `›` before the name.
    focused: bool,
    /// Access events on the time axis.
    marks: &'a [Mark<'a>],
    /// Their labels on this chart (else the lines only).
    mark_labels: bool,
    /// The chart fills the pane (its newest value goes large whenever
    /// it fits).
    enlarged: bool,
}

/// What a level looks like: (the newest value, the badge, the line).
fn level_styles(theme: &Theme, sev: Option<Severity>) -> (Style, Style) {
    match sev {
        Some(Severity::Critical) => (theme.alarm, theme.critical),
        Some(Severity::Warn) => (
            theme.warn.add_modifier(Modifier::BOLD),
            theme.warn.add_modifier(Modifier::BOLD),
        ),
        Some(Severity::Ok) => (theme.ok.add_modifier(Modifier::BOLD), theme.ok),
        None => (theme.text.add_modifier(Modifier::BOLD), theme.text),
    }
}

/// The title row: the name and unit on the left; on the right the newest
/// value (the loudest text of the chart: bold, in its level's colour),
/// the level it crossed, then min and max. What does not fit goes, least
/// useful first: min and max, the unit, the level's figure, `now`.
fn chart_title(theme: &Theme, spec: &ChartSpec<'_>, width: usize) -> Line<'static> {
    let s = spec.series;
    let (from, to) = spec.window;
    let text = |st: Style| if spec.greyed { theme.muted } else { st };
    let name = |w: usize| -> Vec<Span<'static>> {
        let mut out = Vec::with_capacity(2);
        let mut w = w;
        if spec.focused {
            out.push(Span::styled(
                "› ",
                text(theme.accent.add_modifier(Modifier::BOLD)),
            ));
            w = w.saturating_sub(2);
        }
        out.push(Span::styled(
            fmt::fit(&s.name, w).into_owned(),
            spec.style.add_modifier(Modifier::BOLD),
        ));
        out
    };
    let unit = (!s.unit.is_empty()).then(|| Span::styled(format!(" ({})", s.unit), theme.muted));
    let Some(f) = figures(&s.points, from, to) else {
        let mut left = name(width);
        left.extend(unit.filter(|u| fmt::width(&s.name) + u.width() + 2 <= width));
        return Line::from(left);
    };
    let sev = Severity::in_series(s, f.last.1);
    let (value_style, badge_style) = level_styles(theme, sev);
    // "now" only when the newest point is recent: else say when it was.
    let spacing = spacing_ms(&s.points).unwrap_or(0);
    let late = to - f.last.0 > (3 * spacing).max(15_000);
    let newest = newest_value(s, &f);
    let newest = if sev == Some(Severity::Critical) && !spec.greyed {
        format!(" {newest} ")
    } else {
        newest
    };
    let crossed_level = sev.and_then(|sv| Some((sv.badge()?, crossed(s, sv)?)));
    let right = |prefix: bool, level: bool, extremes: bool| -> Vec<Span<'static>> {
        let mut out = Vec::with_capacity(10);
        if late {
            if prefix {
                out.push(Span::styled("last ", text(theme.warn)));
            }
        } else if prefix {
            out.push(Span::styled("now ", theme.muted));
        }
        out.push(Span::styled(newest.clone(), text(value_style)));
        if let Some((badge, lv)) = crossed_level {
            out.push(Span::styled(
                format!(" ▲ {badge}"),
                text(badge_style.add_modifier(Modifier::BOLD)),
            ));
            if level {
                out.push(Span::styled(
                    format!(" ≥{}", level_label(lv, &s.unit)),
                    text(badge_style),
                ));
            }
        }
        if late && prefix {
            let at = DateTime::from_timestamp_millis(f.last.0).unwrap_or(spec.now);
            out.push(Span::styled(
                format!(" at {}", fmt::hhmmss(at)),
                text(theme.warn),
            ));
        }
        if extremes {
            out.extend([
                Span::styled("  min ", theme.muted),
                Span::styled(metrics::value(f.min, &s.unit), text(theme.text)),
                Span::styled(" · max ", theme.muted),
                Span::styled(metrics::value(f.max, &s.unit), text(theme.text)),
            ]);
        }
        out
    };
    let w = |spans: &[Span]| spans.iter().map(Span::width).sum::<usize>();
    let name_w = fmt::width(&s.name) + if spec.focused { 2 } else { 0 };
    let unit_w = unit.as_ref().map_or(0, Span::width);
    // (with the unit, the level's figure, the prefix, min and max)
    let tries = [
        (true, true, true, true),
        (true, true, true, false),
        (false, true, true, false),
        (false, false, true, false),
        (false, false, false, false),
    ];
    let mut chosen = None;
    for (with_unit, level, prefix, extremes) in tries {
        let r = right(prefix, level, extremes);
        let left_w = name_w + if with_unit { unit_w } else { 0 };
        if left_w + 1 + w(&r) <= width {
            chosen = Some((with_unit, r));
            break;
        }
    }
    let (with_unit, r) = chosen.unwrap_or_else(|| (false, right(false, false, false)));
    let mut left = name(width.saturating_sub(w(&r) + 1).max(3));
    if with_unit {
        left.extend(unit);
    }
    let pad = width.saturating_sub(w(&left) + w(&r)).max(1);
    left.push(Span::raw(" ".repeat(pad)));
    left.extend(r);
    Line::from(left)
}

/// The newest value as the title and the large figure both write it.
fn newest_value(s: &Series, f: &Figures) -> String {
    metrics::value(f.last.1, &s.unit)
}

fn draw_chart(frame: &mut Frame, theme: &Theme, cell: Rect, spec: &ChartSpec<'_>) {
    if cell.height == 0 || cell.width < 4 {
        return;
    }
    let title_row = Rect { height: 1, ..cell };
    frame.render_widget(chart_title(theme, spec, cell.width as usize), title_row);
    let area = Rect {
        y: cell.y + 1,
        height: cell.height - 1,
        ..cell
    };
    let (from, to) = spec.window;
    let Some((lo, hi)) = spec.bounds else {
        let text = format!(
            "no data in the last {} (the gateway has no point for it)",
            spec.range.label()
        );
        let at = Rect {
            y: area.y + area.height.saturating_sub(1) / 2,
            height: area.height.min(1),
            ..area
        };
        frame.render_widget(
            Paragraph::new(fmt::fit(&text, at.width as usize).into_owned())
                .style(theme.muted)
                .alignment(Alignment::Center),
            at,
        );
        return;
    };
    let unit = &spec.series.unit;
    let plot_h = area
        .height
        .saturating_sub(if spec.show_x { X_AXIS_H } else { 0 });
    let w = spec.labels_w;
    let label = |v: f64| Span::styled(format!("{:>w$}", axis(v, unit)), theme.muted);
    let y_labels = if plot_h >= 5 {
        vec![label(lo), label((lo + hi) / 2.0), label(hi)]
    } else {
        vec![label(lo), label(hi)]
    };
    let cols = area.width.saturating_sub(w as u16 + 1) as usize;
    let runs = downsample(&spec.series.points, from, to, cols);
    let datasets: Vec<Dataset> = runs
        .iter()
        .map(|run| {
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(spec.style)
                .data(run)
        })
        .collect();
    let mut x_axis = Axis::default()
        .bounds([from as f64, to as f64])
        .style(theme.muted);
    if spec.show_x {
        let mut labels = vec![Span::styled(time_label(from, spec.range), theme.muted)];
        if cols >= 30 {
            labels.push(Span::styled(
                time_label((from + to) / 2, spec.range),
                theme.muted,
            ));
        }
        labels.push(Span::styled(time_label(to, spec.range), theme.muted));
        x_axis = x_axis.labels(labels).labels_alignment(Alignment::Right);
    }
    let chart = Chart::new(datasets)
        .style(theme.base)
        .legend_position(None)
        .x_axis(x_axis)
        .y_axis(
            Axis::default()
                .bounds([lo, hi])
                .labels(y_labels)
                .style(theme.muted),
        );
    frame.render_widget(chart, area);
    // Where the chart put its curves (as ratatui's Chart lays it out: the
    // y labels, the y axis, then the graph; the time axis under it).
    let graph = Rect {
        x: area.x + w as u16 + 1,
        y: area.y,
        width: area.width.saturating_sub(w as u16 + 1),
        height: plot_h,
    };
    if graph.width == 0 || graph.height == 0 {
        return;
    }
    let buf = frame.buffer_mut();
    // Lines first, then labels (which the lines must not cut through).
    let level_labels = draw_levels(buf, theme, graph, spec, (lo, hi));
    draw_marks(buf, theme, graph, spec);
    // After the marks (their labels come first), before the levels'
    // labels (which then find room beside it).
    draw_big_value(buf, theme, graph, spec);
    for (ry, text, style) in level_labels {
        let tw = fmt::width(&text) as u16;
        if tw + 2 > graph.width {
            continue;
        }
        if !put_if_free(buf, graph.x + 1, ry, &text, style) {
            put_if_free(buf, graph.right() - tw - 1, ry, &text, style);
        }
    }
}

/// Whether the overlays may draw on a cell: nothing of the chart's there.
fn free(buf: &Buffer, x: u16, y: u16) -> bool {
    matches!(
        buf[(x, y)].symbol(),
        " " | DASH_WARN | DASH_CRITICAL | MARK_LINE
    )
}

/// Writes `text` at (`x`, `y`) if every cell it takes is free.
fn put_if_free(buf: &mut Buffer, x: u16, y: u16, text: &str, style: Style) -> bool {
    let w = fmt::width(text) as u16;
    if x + w > buf.area.right() || !(x..x + w).all(|cx| free(buf, cx, y)) {
        return false;
    }
    buf.set_string(x, y, text, style);
    true
}

/// The chart's levels as dashed lines in the cells the curve leaves
/// empty (critical first: where both fall on one row, it wins); returns
/// their labels, (row, text, style), to write at their left end (or
/// their right end) once the marks are drawn. A level on the bottom row
/// is not drawn: it would read as the floor the curve sits on (the title
/// still says when it is crossed).
fn draw_levels(
    buf: &mut Buffer,
    theme: &Theme,
    graph: Rect,
    spec: &ChartSpec<'_>,
    y: (f64, f64),
) -> Vec<(u16, String, Style)> {
    let (warn, critical) = levels(spec.series);
    let line = |st: Style| {
        if spec.greyed {
            theme.muted
        } else {
            st.remove_modifier(Modifier::BOLD | Modifier::UNDERLINED)
        }
    };
    let all = [
        (critical, DASH_CRITICAL, "crit", line(theme.critical)),
        (
            warn,
            DASH_WARN,
            "warn",
            line(theme.warn).add_modifier(Modifier::DIM),
        ),
    ];
    let mut labels: Vec<(u16, String, Style)> = Vec::with_capacity(2);
    for (v, dash, name, style) in all {
        let Some(v) = v else { continue };
        let Some(row) = value_row(v, y.0, y.1, graph.height) else {
            continue;
        };
        if graph.height > 1 && row + 1 == graph.height {
            continue;
        }
        let ry = graph.y + row;
        for x in graph.x..graph.right() {
            if buf[(x, ry)].symbol() == " " {
                buf[(x, ry)].set_symbol(dash).set_style(style);
            }
        }
        if labels.iter().all(|(r, _, _)| *r != ry) {
            labels.push((
                ry,
                format!(" {name} {} ", axis(v, &spec.series.unit)),
                style,
            ));
        }
    }
    labels
}

/// Access events: a dotted line down the chart at each (in the cells
/// the curve leaves empty), a tick on the time axis, and the labels on
/// the top rows.
fn draw_marks(buf: &mut Buffer, theme: &Theme, graph: Rect, spec: &ChartSpec<'_>) {
    let (from, to) = spec.window;
    let style = |k: MarkKind| {
        if spec.greyed {
            theme.muted
        } else {
            match k {
                MarkKind::Granted => theme.ok,
                MarkKind::Revoked => theme.critical,
                MarkKind::Expired => theme.warn,
            }
        }
    };
    let placed: Vec<(u16, Mark)> = spec
        .marks
        .iter()
        .filter_map(|m| Some((time_column(m.at_ms, from, to, graph.width)?, *m)))
        .collect();
    for (col, m) in &placed {
        let x = graph.x + col;
        let st = style(m.kind).remove_modifier(Modifier::BOLD | Modifier::UNDERLINED);
        for y in graph.y..graph.bottom() {
            if buf[(x, y)].symbol() == " " {
                buf[(x, y)].set_symbol(MARK_LINE).set_style(st);
            }
        }
        let axis_y = graph.bottom();
        if spec.show_x && axis_y < buf.area.bottom() && buf[(x, axis_y)].symbol() == "─" {
            buf[(x, axis_y)].set_symbol(MARK_TICK).set_style(st);
        }
    }
    if !spec.mark_labels {
        return;
    }
    let labels: Vec<String> = placed.iter().map(|(_, m)| m.label(false)).collect();
    let widths: Vec<(u16, u16)> = placed
        .iter()
        .zip(&labels)
        .map(|((c, _), l)| (*c, fmt::width(l) as u16))
        .collect();
    let rows = MARK_LABEL_ROWS.min(graph.height);
    let at = place_labels(&widths, graph.width, rows, |x, row, w| {
        (graph.x + x..graph.x + x + w).all(|cx| free(buf, cx, graph.y + row))
    });
    for (((_, m), label), at) in placed.iter().zip(labels).zip(at) {
        let Some((x, row, left)) = at else { continue };
        let text = if left { m.label(true) } else { label };
        buf.set_string(graph.x + x, graph.y + row, text, style(m.kind));
    }
}

/// Whether the large figure may overlap a cell: blank, or a level's
/// dash (the line reads on either side). Not a mark's line: the figure
/// must not hide when access started or ended.
fn blank_for_big(buf: &Buffer, x: u16, y: u16) -> bool {
    matches!(buf[(x, y)].symbol(), " " | DASH_WARN | DASH_CRITICAL)
}

/// Whether a plot of `graph` has room for a large figure `w` columns
/// wide: enough of the plot stays for the curve.
fn big_value_fits(graph: Rect, w: u16, enlarged: bool) -> bool {
    let (min_w, min_h) = if enlarged {
        (0, BIG_VALUE_MIN_ENLARGED_H)
    } else {
        BIG_VALUE_MIN
    };
    graph.width >= min_w && graph.height >= min_h && w + 2 <= graph.width / 2
}

/// Where a figure `w` columns wide and [`big_digits::ROWS`] tall goes on
/// `graph`: the top-right corner, a row or two lower, then the same on
/// the left; the first spot where it and a cell around it (so that it
/// does not touch the curve) are `blank`. None when no spot is.
fn big_value_spot(graph: Rect, w: u16, blank: impl Fn(u16, u16) -> bool) -> Option<(u16, u16)> {
    let h = big_digits::ROWS as u16;
    if w + 2 > graph.width || h > graph.height {
        return None;
    }
    let right = graph.right() - 1 - w;
    let left = graph.x + 1;
    let lowest = graph.bottom() - h;
    let clear = |x: u16, y: u16| {
        let ys = y.saturating_sub(1).max(graph.y)..(y + h + 1).min(graph.bottom());
        ys.into_iter()
            .all(|cy| (x - 1..x + w + 1).all(|cx| blank(cx, cy)))
    };
    [right, left]
        .into_iter()
        .flat_map(|x| (0..=BIG_VALUE_SLIDE).map(move |dy| (x, graph.y + dy)))
        .filter(|(_, y)| *y <= lowest)
        .find(|(x, y)| clear(*x, *y))
}

/// The style of the large figure: its level's colour (the critical
/// colour rather than the alarm banner's, which would make a block of
/// it), bold; grey once the grant ended.
fn big_value_style(theme: &Theme, sev: Option<Severity>, greyed: bool) -> Style {
    if greyed {
        return theme.muted;
    }
    match sev {
        Some(Severity::Critical) => theme
            .critical
            .add_modifier(Modifier::BOLD)
            .remove_modifier(Modifier::UNDERLINED),
        _ => level_styles(theme, sev).0,
    }
}

/// The newest value, large, in a top corner of the plot, when the chart
/// has room for it and a spot the curve leaves empty.
fn draw_big_value(buf: &mut Buffer, theme: &Theme, graph: Rect, spec: &ChartSpec<'_>) {
    let s = spec.series;
    let (from, to) = spec.window;
    let Some(f) = figures(&s.points, from, to) else {
        return;
    };
    let text = newest_value(s, &f);
    let w = big_digits::width(&text) as u16;
    if !big_digits::has_big(&text) || !big_value_fits(graph, w, spec.enlarged) {
        return;
    }
    let Some((x, y)) = big_value_spot(graph, w, |cx, cy| blank_for_big(buf, cx, cy)) else {
        return;
    };
    let style = big_value_style(theme, Severity::in_series(s, f.last.1), spec.greyed);
    for (dy, row) in big_digits::render(&text).iter().enumerate() {
        buf.set_string(x, y + dy as u16, row, style);
    }
}

// ---- the overview ----

/// One chart in an overview row.
struct Item {
    index: usize,
    name: String,
    /// The newest value, and its level.
    value: String,
    sev: Option<Severity>,
    /// The first chart, or one at a level: kept when not all fit.
    must: bool,
}

impl Item {
    fn width(&self, spark_w: usize) -> usize {
        let badge = self.badge().map_or(0, |b| b.len() + 1);
        fmt::width(&self.name) + 1 + spark_w + 1 + fmt::width(&self.value) + badge
    }

    fn badge(&self) -> Option<&'static str> {
        self.sev.and_then(Severity::badge)
    }
}

/// Columns between the overview's items.
const ITEM_GAP: usize = 3;

/// The items that fit in `avail` columns and the sparkline width: all of
/// them with sparklines of 10 or more, else the first chart and those at
/// a level with the widest sparkline they allow, and what else fits.
fn fit_items(items: &[Item], avail: usize) -> (Vec<usize>, usize) {
    let total = |chosen: &[usize], sw: usize| -> usize {
        chosen.iter().map(|i| items[*i].width(sw)).sum::<usize>()
            + ITEM_GAP * chosen.len().saturating_sub(1)
    };
    let all: Vec<usize> = (0..items.len()).collect();
    for sw in [16, 14, 12, 10] {
        if total(&all, sw) <= avail {
            return (all, sw);
        }
    }
    let must: Vec<usize> = all.iter().copied().filter(|i| items[*i].must).collect();
    for sw in [16, 14, 12, 10, 8, 6, 4] {
        if total(&must, sw) <= avail {
            let mut chosen = must.clone();
            for i in all.iter().copied().filter(|i| !items[*i].must) {
                let mut with = chosen.clone();
                with.push(i);
                if total(&with, sw) <= avail {
                    chosen = with;
                }
            }
            chosen.sort_unstable();
            return (chosen, sw);
        }
    }
    (Vec::new(), 4)
}

fn draw_overview(frame: &mut Frame, app: &App, theme: &Theme, o: &OverviewRows) {
    let m = &app.metrics;
    let charted = service(app);
    let name_w = o
        .services
        .iter()
        .map(|s| fmt::width(s))
        .max()
        .unwrap_or(8)
        .min(18);
    let prefix_w = 2 + name_w + 3;
    let avail = (o.area.width as usize).saturating_sub(prefix_w + 1);
    let strong = theme.text.add_modifier(Modifier::BOLD);
    for (row, s) in o.services.iter().enumerate() {
        let is_charted = Some(s.as_str()) == charted;
        let granted = has_grant(app, s);
        let greyed = !granted;
        let dim = |st: Style| if greyed { theme.muted } else { st };
        let own = m.overview.get(s);
        let failure = if is_charted {
            m.failure_of(s)
        } else {
            own.and_then(|o| o.failure.as_ref())
        };
        let mut spans = vec![
            Span::styled(if is_charted { "● " } else { "  " }, theme.accent),
            Span::styled(
                format!("{:<name_w$}", fmt::fit(s, name_w)),
                dim(if is_charted { theme.title } else { strong }),
            ),
            Span::styled(
                if failure.is_some() { " ! " } else { "   " },
                theme.warn.add_modifier(Modifier::BOLD),
            ),
        ];
        match m.overview_of(s) {
            Some(c) if !c.series.is_empty() => {
                spans.extend(overview_items(theme, c, avail, greyed));
            }
            Some(_) => spans.push(Span::styled("the gateway charts nothing here", theme.muted)),
            None => {
                let text = if !granted {
                    "grant ended before its charts were shown".to_string()
                } else if let Some(f) = failure {
                    format!("no charts: {} ({})", f.message, f.code)
                } else if m.pending_for(s).is_some()
                    || m.overview_pending.as_ref().is_some_and(|q| q.service == *s)
                {
                    "querying…".to_string()
                } else if !app.connected() {
                    "not connected".to_string()
                } else {
                    "queried in turn, every 30s".to_string()
                };
                spans.push(Span::styled(
                    fmt::fit(&text, avail).into_owned(),
                    theme.muted,
                ));
            }
        }
        let area = Rect {
            y: o.area.y + row as u16,
            height: 1,
            ..o.area
        };
        frame.render_widget(Line::from(spans), area);
    }
    if o.more > 0 {
        let area = Rect {
            y: o.area.y + o.services.len() as u16,
            height: 1,
            ..o.area
        };
        frame.render_widget(
            Line::from(vec![
                Span::raw("  "),
                Span::styled(
                    format!("+{} more with metrics:read · ", o.more),
                    theme.muted,
                ),
                Span::styled("s", theme.key),
                Span::styled(" charts one", theme.muted),
            ]),
            area,
        );
    }
}

/// The items of one overview row: `name ▁▂▇ 19.7% CRIT`, for each chart
/// that fits in `avail` columns (`+2` when some do not).
fn overview_items(theme: &Theme, c: &Charts, avail: usize, greyed: bool) -> Vec<Span<'static>> {
    let (from, to) = c.window();
    let items: Vec<Item> = c
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let f = figures(&s.points, from, to);
            let sev = f.and_then(|f| Severity::in_series(s, f.last.1));
            Item {
                index: i,
                name: fmt::fit(&s.name, 16).into_owned(),
                value: f.map_or_else(|| "–".to_string(), |f| metrics::value(f.last.1, &s.unit)),
                sev,
                must: i == 0 || sev.is_some_and(|v| v > Severity::Ok),
            }
        })
        .collect();
    let (chosen, sw) = fit_items(&items, avail.saturating_sub(4));
    let mut spans: Vec<Span<'static>> = Vec::with_capacity(chosen.len() * 5 + 1);
    for (k, i) in chosen.iter().enumerate() {
        let item = &items[*i];
        let s = &c.series[item.index];
        let tag = if greyed {
            theme.muted
        } else {
            theme.tags[item.index % TAGS]
        };
        if k > 0 {
            spans.push(Span::raw(" ".repeat(ITEM_GAP)));
        }
        spans.push(Span::styled(format!("{} ", item.name), theme.muted));
        let (warn, critical) = levels(s);
        let lv: Vec<f64> = warn.into_iter().chain(critical).collect();
        let cols = columns_max(&s.points, from, to, sw);
        let (lo, hi) = figures(&s.points, from, to)
            .map_or((0.0, 1.0), |f| y_range(f.min, f.max, &lv, &s.unit));
        // One span per run of blocks of the same level.
        let mut run = String::new();
        let mut run_style = tag;
        for v in cols {
            let st = match v.and_then(|v| Severity::in_series(s, v)) {
                _ if greyed => theme.muted,
                Some(Severity::Critical) => theme.critical,
                Some(Severity::Warn) => theme.warn,
                _ => tag,
            };
            if st != run_style && !run.is_empty() {
                spans.push(Span::styled(std::mem::take(&mut run), run_style));
            }
            run_style = st;
            run.push(spark(v, lo, hi));
        }
        spans.push(Span::styled(run, run_style));
        let (value_style, badge_style) = match level_styles(theme, item.sev) {
            // The alarm banner's colours are for the charts' titles.
            (_, b) if item.sev == Some(Severity::Critical) => (theme.critical, b),
            styles => styles,
        };
        let dim = |st: Style| if greyed { theme.muted } else { st };
        spans.push(Span::styled(format!(" {}", item.value), dim(value_style)));
        if let Some(b) = item.badge() {
            spans.push(Span::styled(
                format!(" {b}"),
                dim(badge_style.add_modifier(Modifier::BOLD)),
            ));
        }
    }
    let left_out = items.len() - chosen.len();
    if left_out > 0 {
        spans.push(Span::styled(format!("   +{left_out}"), theme.muted));
    }
    spans
}

/// A service, but no charts to draw: why, and what happens next.
fn empty_body(frame: &mut Frame, app: &App, theme: &Theme, body: Rect, service: &str) {
    let m = &app.metrics;
    let range = m.range.label();
    let mut lines: Vec<Line> = Vec::new();
    if let Some(c) = m.charts_of(service) {
        lines.push(Line::from(Span::styled(
            format!(
                "The gateway charts nothing for {service} (its answer at {} had no series).",
                fmt::hhmmss(c.at)
            ),
            theme.text,
        )));
    } else if let Some(f) = m.failure_of(service) {
        lines.push(Line::from(Span::styled(
            format!("No charts for {service}: {} ({}).", f.message, f.code),
            theme.warn,
        )));
        if m.halted {
            lines.push(Line::from(vec![
                Span::styled("R", theme.key),
                Span::styled(" asks again.", theme.muted),
            ]));
        } else {
            lines.push(Line::from(Span::styled(
                "The pane asks again in a few seconds.",
                theme.muted,
            )));
        }
    } else if !has_grant(app, service) {
        lines.push(Line::from(Span::styled(
            format!("No charts of {service} were shown before the grant ended."),
            theme.muted,
        )));
    } else if m.pending_for(service).is_some() {
        lines.push(Line::from(Span::styled(
            format!("Querying the metrics of {service} over the last {range}…"),
            theme.muted,
        )));
    } else if !app.connected() {
        lines.push(Line::from(Span::styled(
            format!("Not connected: the charts of {service} load once the gateway is back."),
            theme.warn,
        )));
    } else {
        lines.push(Line::from(Span::styled(
            format!("The charts of {service} load when this pane is on screen."),
            theme.muted,
        )));
    }
    draw_note(frame, lines, body);
}

/// No grant with metrics:read, and none ended here: how to get one.
fn no_grant(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let now = app.server_now();
    let text_w = prose_area(area).width as usize;
    let strong = theme.text.add_modifier(Modifier::BOLD);
    let mut lines = vec![
        Line::from(Span::styled(
            "The metric charts of a service your grants cover show here: what the gateway \
             charts for it (request rate, errors, latency, memory…), over 5 minutes to 6 hours, \
             refreshed every few seconds while you look.",
            theme.text,
        )),
        Line::default(),
        Line::from(Span::styled(
            "You hold no grant with metrics:read right now. To get one:",
            strong,
        )),
    ];
    let steps = [
        Line::from(vec![
            Span::styled("press ", theme.text),
            Span::styled("n", theme.key),
            Span::styled(
                ", pick the service, keep metrics:read ticked, say why (a ticket helps);",
                theme.text,
            ),
        ]),
        Line::from(Span::styled(
            "an approver decides (the Grants pane shows where it stands);",
            theme.text,
        )),
        Line::from(Span::styled(
            "once granted, its charts show here by themselves.",
            theme.text,
        )),
    ];
    lines.extend(fmt::how_to_get(
        app,
        theme,
        Capability::MetricsRead,
        &steps,
        text_w,
        now,
    ));
    draw_prose(frame, theme, area, "Metrics", lines);
}

/// The service chooser (`s`).
pub(super) fn draw_services(
    frame: &mut Frame,
    app: &App,
    theme: &Theme,
    area: Rect,
    cursor: usize,
) {
    let now = app.server_now();
    let cs = choices(app);
    let current = service(app);
    let w = area.width.saturating_sub(4).min(64);
    let name_w = cs
        .iter()
        .map(|c| fmt::width(&c.service))
        .max()
        .unwrap_or(8)
        .min(24);
    let mut lines: Vec<Line> = Vec::new();
    if cs.is_empty() {
        lines.push(Line::from(Span::styled(
            "No grant covers metrics:read right now: close this and press n to ask for one.",
            theme.muted,
        )));
    }
    let cursor = cursor.min(cs.len().saturating_sub(1));
    let order = metrics_grants(app);
    for (i, c) in cs.iter().enumerate() {
        let is_sel = i == cursor;
        let shown = Some(c.service.as_str()) == current;
        let mut spans = vec![
            Span::styled(if is_sel { "› " } else { "  " }, theme.accent),
            Span::styled(if shown { "● " } else { "  " }, theme.ok),
            Span::styled(
                format!("{:<name_w$}  ", fmt::fit(&c.service, name_w)),
                theme.text.add_modifier(Modifier::BOLD),
            ),
        ];
        match c.expires_at {
            Some(at) => {
                let left = fmt::secs_until(now, at);
                spans.push(Span::styled(
                    format!("{} left", fmt::countdown(now, at)),
                    fmt::countdown_style(theme, left),
                ));
                if i == 0 && order.len() > 1 {
                    spans.push(Span::styled(" · newest grant", theme.muted));
                }
            }
            None => spans.push(Span::styled("grant ended", theme.critical)),
        }
        let line = Line::from(spans);
        lines.push(if is_sel {
            line.style(theme.selection)
        } else {
            line
        });
    }
    overlays::text_box(
        frame,
        theme,
        area,
        w,
        "Service to chart",
        &[("enter", "chart it"), ("↑↓", "choose"), ("esc", "close")],
        lines,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_is_two_by_two_when_wide_and_stacked_when_narrow() {
        // 160x45: the pane's body is 158x40.
        let g = grid(4, Rect::new(1, 3, 158, 40), 0);
        assert_eq!((g.ncols, g.rows, g.roomy), (2, 2, true));
        assert_eq!(g.row_spans, [(3, 20), (24, 19)]);
        assert_eq!(g.col_spans, [(1, 77), (81, 78)]);
        // 80x24: 78x19, stacked, the shared time axis under the last.
        let g = grid(4, Rect::new(1, 3, 78, 19), 0);
        assert_eq!((g.ncols, g.rows, g.roomy), (1, 4, false));
        assert_eq!(g.row_spans, [(3, 5), (8, 4), (12, 4), (16, 6)]);
        // One series takes it all.
        let g = grid(1, Rect::new(1, 3, 158, 40), 0);
        assert_eq!((g.ncols, g.rows), (1, 1));
        // Too many to fit: a window of rows that scrolls.
        let g = grid(9, Rect::new(1, 3, 78, 19), 3);
        assert_eq!((g.rows, g.total_rows, g.first_row), (4, 9, 3));
        let g = grid(9, Rect::new(1, 3, 78, 19), 99);
        assert_eq!(g.first_row, 5);
    }

    #[test]
    fn the_large_value_needs_a_roomy_plot_in_the_grid_and_less_when_enlarged() {
        // 2x2 at 160x45: 71x15 of plot.
        assert!(big_value_fits(Rect::new(0, 0, 71, 15), 20, false));
        // Stacked at 80x24: 72x3 of plot; a short or narrow cell neither.
        assert!(!big_value_fits(Rect::new(0, 0, 72, 3), 14, false));
        assert!(!big_value_fits(Rect::new(0, 0, 71, 11), 14, false));
        assert!(!big_value_fits(Rect::new(0, 0, 49, 30), 14, false));
        // Enlarged: from 6 rows on, whatever the width...
        assert!(big_value_fits(Rect::new(0, 0, 72, 15), 14, true));
        assert!(big_value_fits(Rect::new(0, 0, 40, 6), 14, true));
        assert!(!big_value_fits(Rect::new(0, 0, 72, 5), 14, true));
        // ...as long as it takes at most half of it.
        assert!(!big_value_fits(Rect::new(0, 0, 40, 15), 19, true));
    }

    #[test]
    fn the_large_value_takes_the_first_empty_corner_and_never_touches_the_curve() {
        let graph = Rect::new(10, 5, 60, 15);
        // All empty: top right, a column from the edge.
        assert_eq!(big_value_spot(graph, 14, |_, _| true), Some((55, 5)));
        // The curve in the top-right corner down to row 6: it slides down
        // until a blank row parts them.
        let curve = |x: u16, y: u16| !(x >= 60 && y <= 6);
        assert_eq!(big_value_spot(graph, 14, curve), Some((55, 8)));
        // The right taken further down: the top left.
        let curve = |x: u16, _: u16| x < 62;
        assert_eq!(big_value_spot(graph, 14, curve), Some((11, 5)));
        // Taken everywhere, or too wide: nowhere.
        assert_eq!(big_value_spot(graph, 14, |_, _| false), None);
        let tight = |x: u16, y: u16| x >= 55 || y >= 9;
        assert_eq!(big_value_spot(graph, 14, tight), None);
        assert_eq!(big_value_spot(graph, 59, |_, _| true), None);
        assert_eq!(
            big_value_spot(Rect::new(0, 0, 60, 2), 14, |_, _| true),
            None
        );
    }
}
