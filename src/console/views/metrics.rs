//! The Metrics pane: one chart per series the gateway sends for the
//! charted service, in its order, laid out in a grid that fits.
//!
//! Inside the pane's border: a banner row when the grant ended (what `r`
//! does) or the last refresh failed (the charts are then stale), then the
//! charts. Each chart is a title row (name, unit, the newest value, the
//! window's min and max) over a braille line chart with a y axis from 0
//! (or the lowest value, when negative) to a round figure above the
//! highest. Tall cells (2×2 at 160x45) carry their own time axis; short
//! ones (stacked at 80x24) share the one under the bottom chart, so that
//! every row of the terminal goes to the curves.
//!
//! The border carries the service (top left), the ranges with the
//! current one marked (top right), when the charts were last refreshed
//! or why they are stale (bottom left), and which charts are on screen
//! when not all fit (bottom right).
//!
//! Points are reduced to the columns each chart has
//! ([`metrics::downsample`]); a gap in the data stays a gap.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph, Wrap};

use super::overlays::{centered, frame_box, hint};
use super::{fmt, pane_block, title};
use crate::console::app::App;
use crate::console::metrics::{
    self, Charts, Range, axis, downsample, figures, nice_ceil, refresh_every, spacing_ms,
};
use crate::console::metrics_update::{
    choices, has_grant, last_grant, metrics_grants, pending_request, service,
};
use crate::console::theme::{TAGS, Theme};
use crate::protocol::{Capability, ErrorCode, GrantState, RequestState, Series};

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

/// Inside the pane's border.
fn inner(pane: Rect) -> Rect {
    Rect {
        x: pane.x + 1,
        y: pane.y + 1,
        width: pane.width.saturating_sub(2),
        height: pane.height.saturating_sub(2),
    }
}

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

/// The body (under the banner) of `pane`, and whether a banner is shown.
fn body(app: &App, theme: &Theme, pane: Rect) -> (Rect, Option<Banner>) {
    let inner = inner(pane);
    let b = service(app).and_then(|s| banner(app, theme, s));
    let h = u16::from(b.is_some() && inner.height > MIN_CELL_H + X_AXIS_H + 1);
    let body = Rect {
        y: inner.y + h,
        height: inner.height - h,
        ..inner
    };
    (body, b.filter(|_| h > 0))
}

/// How many series the grid is laid out for.
fn series_count(app: &App) -> usize {
    service(app)
        .and_then(|s| app.metrics.charts_of(s))
        .map_or(TYPICAL_SERIES, |c| c.series.len().max(1))
}

/// Columns of curve a chart has in `pane` (for choosing the step).
pub(super) fn plot_cols(app: &App, pane: Rect) -> u16 {
    let (body, _) = body(app, &Theme::default(), pane);
    let g = grid(series_count(app), body, 0);
    g.col_spans[0].1.saturating_sub(Y_LABELS_W + 1).max(1)
}

/// The last chart row the pane can scroll to.
pub(super) fn scroll_max(app: &App, pane: Rect) -> usize {
    let (body, _) = body(app, &Theme::default(), pane);
    let g = grid(series_count(app), body, 0);
    g.total_rows - g.rows
}

pub(super) fn draw(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let Some(service) = service(app) else {
        no_grant(frame, app, theme, area);
        return;
    };
    let m = &app.metrics;
    let charts = m.charts_of(service).filter(|c| !c.series.is_empty());
    let (body, banner) = body(app, theme, area);
    let grid = charts.map(|c| grid(c.series.len(), body, m.scroll));
    let mut block = pane_block(title_line(app, theme, service), theme)
        .title_top(ranges_line(app, theme).right_aligned());
    if let Some(s) = status_line(app, theme, service) {
        block = block.title_bottom(s);
    }
    if let (Some(g), Some(c)) = (&grid, charts) {
        if let Some(l) = position_line(g, c.series.len(), theme) {
            block = block.title_bottom(l.right_aligned());
        } else if let Some(l) = history_line(c, theme) {
            block = block.title_bottom(l.right_aligned());
        }
    }
    frame.render_widget(block, area);
    if let Some(b) = banner {
        let row = Rect {
            y: body.y - 1,
            height: 1,
            ..body
        };
        let w = row.width as usize;
        let buf = frame.buffer_mut();
        buf.set_style(row, b.style);
        buf.set_stringn(row.x, row.y, b.text(w), w, b.style);
    }
    match (charts, grid) {
        (Some(c), Some(g)) => draw_grid(frame, app, theme, c, &g, !has_grant(app, service)),
        _ => empty_body(frame, app, theme, body, service),
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

/// The y axis of a series: (low, high).
fn y_bounds(lo: f64, hi: f64, unit: &str) -> (f64, f64) {
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

fn draw_grid(frame: &mut Frame, app: &App, theme: &Theme, c: &Charts, g: &Grid, greyed: bool) {
    let (from, to) = c.window();
    let shown: Vec<(usize, &Series)> = c
        .series
        .iter()
        .enumerate()
        .skip(g.first_row * g.ncols)
        .take(g.rows * g.ncols)
        .collect();
    // One width for every chart's y labels, so that their time axes line up.
    let bounds: Vec<Option<(f64, f64)>> = shown
        .iter()
        .map(|(_, s)| figures(&s.points, from, to).map(|f| y_bounds(f.min, f.max, &s.unit)))
        .collect();
    let labels_w = shown
        .iter()
        .zip(&bounds)
        .filter_map(|((_, s), b)| b.map(|(lo, hi)| (s, lo, hi)))
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
    for (k, ((i, s), b)) in shown.iter().zip(&bounds).enumerate() {
        let (row, col) = (k / g.ncols, k % g.ncols);
        let (y, h) = g.row_spans[row];
        let (x, w) = g.col_spans[col];
        let cell = Rect::new(x, y, w, h);
        // The bottom chart of each column carries the time axis.
        let last_in_col = row + 1 == g.rows || k + g.ncols >= shown.len();
        let spec = ChartSpec {
            series: s,
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
        };
        draw_chart(frame, theme, cell, &spec);
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
}

/// The title row: name and unit, then the newest value, min and max.
fn chart_title(theme: &Theme, spec: &ChartSpec<'_>, width: usize) -> Line<'static> {
    let s = spec.series;
    let (from, to) = spec.window;
    let text = |st: Style| if spec.greyed { theme.muted } else { st };
    let mut left = vec![Span::styled(
        s.name.clone(),
        spec.style.add_modifier(Modifier::BOLD),
    )];
    if !s.unit.is_empty() {
        left.push(Span::styled(format!(" ({})", s.unit), theme.muted));
    }
    let Some(f) = figures(&s.points, from, to) else {
        return Line::from(left);
    };
    // "now" only when the newest point is recent: else say when it was.
    let spacing = spacing_ms(&s.points).unwrap_or(0);
    let late = to - f.last.0 > (3 * spacing).max(15_000);
    let newest = metrics::value(f.last.1, &s.unit);
    let mut right = if late {
        let at = DateTime::from_timestamp_millis(f.last.0).unwrap_or(spec.now);
        vec![
            Span::styled("last ", text(theme.warn)),
            Span::styled(newest, text(theme.text.add_modifier(Modifier::BOLD))),
            Span::styled(format!(" at {}", fmt::hhmmss(at)), text(theme.warn)),
        ]
    } else {
        vec![
            Span::styled("now ", theme.muted),
            Span::styled(newest, text(theme.text.add_modifier(Modifier::BOLD))),
        ]
    };
    let extremes = vec![
        Span::styled("  min ", theme.muted),
        Span::styled(metrics::value(f.min, &s.unit), text(theme.text)),
        Span::styled(" · max ", theme.muted),
        Span::styled(metrics::value(f.max, &s.unit), text(theme.text)),
    ];
    let w = |spans: &[Span]| spans.iter().map(Span::width).sum::<usize>();
    if w(&left) + 2 + w(&right) + w(&extremes) <= width {
        right.extend(extremes);
    }
    let pad = width.saturating_sub(w(&left) + w(&right)).max(1);
    left.push(Span::raw(" ".repeat(pad)));
    left.extend(right);
    Line::from(left)
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
    let area = Rect {
        x: body.x + 1,
        y: body.y + 1,
        width: body.width.saturating_sub(2),
        height: body.height.saturating_sub(1),
    };
    frame.render_widget(
        Paragraph::new(Text::from(lines)).wrap(Wrap { trim: false }),
        area,
    );
}

/// No grant with metrics:read, and none ended here: how to get one.
fn no_grant(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let now = app.server_now();
    let block = pane_block(title(vec![Span::raw("Metrics")]), theme);
    let inner = block.inner(area);
    let text_area = Rect {
        x: inner.x + 2,
        y: inner.y + 1,
        width: inner.width.saturating_sub(4),
        height: inner.height.saturating_sub(1),
    };
    let text_w = text_area.width as usize;
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
    for (i, step) in steps.iter().enumerate() {
        let wrapped = fmt::wrap(std::slice::from_ref(step), text_w.saturating_sub(5));
        for (j, mut part) in wrapped.into_iter().enumerate() {
            let lead = if j == 0 {
                format!("  {}. ", i + 1)
            } else {
                "     ".to_string()
            };
            part.spans.insert(0, Span::styled(lead, theme.text));
            lines.push(part);
        }
    }
    let me = app.user_name();
    let mut pending: Vec<_> = app
        .requests
        .values()
        .filter(|r| {
            r.requester == me
                && r.state == RequestState::Pending
                && r.capabilities.contains(&Capability::MetricsRead)
        })
        .collect();
    pending.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    if !pending.is_empty() {
        lines.push(Line::default());
        for r in pending.iter().take(3) {
            lines.push(Line::from(vec![
                Span::styled("  waiting: ", theme.warn),
                Span::styled(format!("{} ", r.service), strong),
                Span::styled(
                    format!(
                        "{}, {}/{} approvals, asked {} ago",
                        r.id,
                        r.approvals.len(),
                        r.approvals_required,
                        fmt::age(now, r.created_at)
                    ),
                    theme.muted,
                ),
            ]));
        }
    }
    let example = app
        .catalog
        .iter()
        .find(|s| s.capabilities.contains(&Capability::MetricsRead))
        .map_or("SERVICE", |s| s.name.as_str());
    lines.push(Line::default());
    lines.push(Line::from(Span::styled("From a shell:", theme.muted)));
    lines.push(Line::from(Span::styled(
        format!("  breakglass request {example} --cap metrics:read --for 30m --reason \"…\""),
        theme.muted,
    )));
    frame.render_widget(block, area);
    frame.render_widget(
        Paragraph::new(Text::from(lines)).wrap(Wrap { trim: false }),
        text_area,
    );
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
    let h = (lines.len() as u16 + 2).min(area.height);
    let rect = centered(area, w, h);
    let keys = hint(
        theme,
        &[("enter", "chart it"), ("↑↓", "choose"), ("esc", "close")],
    );
    let inner = frame_box(
        frame,
        theme,
        rect,
        Line::from(" Service to chart "),
        Some(keys),
        theme.focus,
    );
    let inner = Rect {
        x: inner.x + 1,
        width: inner.width.saturating_sub(2),
        ..inner
    };
    frame.render_widget(Paragraph::new(Text::from(lines)), inner);
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
    fn y_axes_start_at_zero_and_end_on_a_round_figure() {
        assert_eq!(y_bounds(104.0, 2140.0, "ms"), (0.0, 2500.0));
        assert_eq!(y_bounds(0.0, 0.0, "%"), (0.0, 1.0));
        assert_eq!(y_bounds(-3.0, 4.0, ""), (-4.0, 5.0));
        assert_eq!(y_bounds(-3.0, -1.0, ""), (-4.0, 0.0));
    }
}
