//! Renders the console's state; never awaits, never mutates.
//!
//! Layout (rows): 0 the header, 1 the tabs, 2 .. h-2 the current pane, h-1
//! the footer. Every list pane is a bordered table whose header sits on row
//! 3, so its first data row is row 4 ([`FIRST_ROW_Y`]); a detail box for the
//! selected row sits under the table. Overlays are drawn last, centred, on
//! a cleared area.
//!
//! Only the rows that fit are turned into widgets, so a frame costs the
//! same with 20 or 2,000 rows. Scrolling is by pages: the page holding the
//! selected row is shown ([`scroll_offset`]), which needs no state beyond
//! the selection itself.
//!
//! This module must never change [`App`], wait on anything, or name a
//! colour: colours come from the [`Theme`] by role.

mod audit;
mod fmt;
mod form;
mod grants;
mod logs;
mod metrics;
mod overlays;
mod queue;
mod sessions;
#[cfg(test)]
mod tests;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{
    Block, BorderType, Cell, HighlightSpacing, Padding, Paragraph, Row, Table, TableState, Wrap,
};

use super::app::{App, GrantsRow, Level, Link, Tab};
use super::keymap;
use super::logs::Geometry;
use super::theme::Theme;

/// Screen row of the tab titles (for mouse clicks).
pub const TAB_ROW: u16 = 1;
/// Screen row of a pane's first data row (for mouse clicks): the pane's
/// border is row 2, its column header row 3.
pub const FIRST_ROW_Y: u16 = 4;
/// Screen row where the panes start.
const PANE_Y: u16 = 2;
/// Smallest terminal the console draws in; below it, a message says so.
pub const MIN_SIZE: (u16, u16) = (50, 12);
/// From this width on, tables show more columns (ids, tickets, full names).
const WIDE: u16 = 120;
/// Marks the selected row without relying on colour.
const SELECTED_MARK: &str = "› ";

/// A tab's title as shown, with its key and any badge (e.g. `2 Queue (3)`).
pub fn tab_label(app: &App, tab: Tab) -> String {
    let n = tab.index() + 1;
    if tab == Tab::Queue {
        let waiting = app.queue().len();
        if waiting > 0 {
            return format!("{n} {} ({waiting})", tab.title());
        }
    }
    format!("{n} {}", tab.title())
}

/// Draws the whole screen for `app`.
pub fn draw(frame: &mut Frame, app: &App, theme: &Theme) {
    let area = frame.area();
    frame.buffer_mut().set_style(area, theme.base);
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        too_small(frame, area, theme);
    } else {
        draw_header(frame, app, theme, Rect::new(0, 0, area.width, 1));
        draw_tabs(frame, app, theme, Rect::new(0, TAB_ROW, area.width, 1));
        let pane = pane_area(area);
        match app.tab {
            Tab::Grants => grants::draw(frame, app, theme, pane),
            Tab::Queue => queue::draw(frame, app, theme, pane),
            Tab::Sessions => sessions::draw(frame, app, theme, pane),
            Tab::Logs => logs::draw(frame, app, theme, pane),
            Tab::Metrics => metrics::draw(frame, app, theme, pane),
            Tab::Audit => audit::draw(frame, app, theme, pane),
        }
        draw_footer(
            frame,
            app,
            theme,
            Rect::new(0, area.height - 1, area.width, 1),
        );
        if let Some(overlay) = &app.overlay {
            overlays::draw(frame, app, theme, overlay, area);
        }
    }
    if theme.no_color {
        strip_colours(frame.buffer_mut());
    }
}

/// Index of the first row shown in `tab`'s table at the terminal size the
/// app last saw (`app.size`): a mouse click on screen row `y` lands on row
/// `scroll_offset(app, tab) + (y - FIRST_ROW_Y)`.
pub fn scroll_offset(app: &App, tab: Tab) -> usize {
    let (table, _) = split_list(tab, pane_at_size(app));
    let n = match tab {
        Tab::Grants => app.grants_rows().len(),
        Tab::Queue => app.queue().len(),
        Tab::Sessions => app.active_sessions().len(),
        Tab::Audit => app.audit_view().len(),
        Tab::Logs | Tab::Metrics => 0,
    };
    window(n, app.selected(tab.title()), table_capacity(table)).0
}

/// Where the Logs pane puts its lines at the terminal size the app last
/// saw (`app.size`), for mouse clicks.
pub fn logs_text_rect(app: &App) -> Rect {
    logs::text_rect(app, pane_at_size(app))
}

/// The Logs pane's text geometry at `app.size`: `update` pages, scrolls
/// and keeps the selection on screen with the same layout the view draws.
pub fn logs_geometry(app: &App) -> Geometry {
    let r = logs_text_rect(app);
    Geometry {
        width: r.width,
        height: r.height,
    }
}

/// Columns of curve each chart of the Metrics pane has at `app.size`:
/// `update` asks for about one point per column.
pub fn metrics_plot_cols(app: &App) -> u16 {
    metrics::plot_cols(app, pane_at_size(app))
}

/// The last row of charts the Metrics pane can scroll to at `app.size`.
pub fn metrics_scroll_max(app: &App) -> usize {
    metrics::scroll_max(app, pane_at_size(app))
}

/// The Metrics pane's grid at `app.size`: (charts per row, chart rows on
/// screen), for moving the focus.
pub fn metrics_grid(app: &App) -> (usize, usize) {
    metrics::grid_shape(app, pane_at_size(app))
}

/// The services the Metrics pane's overview shows at `app.size` (none
/// when it is hidden): `update` queries only those.
pub fn metrics_overview(app: &App) -> Vec<String> {
    metrics::overview_shown(app, pane_at_size(app))
}

/// The Metrics pane's chart under screen cell (`x`, `y`) at `app.size`.
pub fn metrics_chart_at(app: &App, x: u16, y: u16) -> Option<usize> {
    metrics::chart_at(app, pane_at_size(app), x, y)
}

/// The pane area at the terminal size the app last saw (`app.size`):
/// where `update` finds what the view draws.
fn pane_at_size(app: &App) -> Rect {
    let (w, h) = app.size;
    pane_area(Rect::new(0, 0, w, h))
}

/// The pane area between the tab row and the footer.
fn pane_area(screen: Rect) -> Rect {
    Rect::new(
        0,
        PANE_Y,
        screen.width,
        screen.height.saturating_sub(PANE_Y + 1),
    )
}

/// A list pane split into its table and the detail box under it (none when
/// the terminal is too short for both).
fn split_list(tab: Tab, area: Rect) -> (Rect, Option<Rect>) {
    let tall = area.height >= 30;
    let detail_h: u16 = match tab {
        Tab::Grants => {
            if tall {
                9
            } else {
                6
            }
        }
        Tab::Queue => {
            if tall {
                12
            } else {
                8
            }
        }
        Tab::Sessions => {
            if tall {
                12
            } else {
                7
            }
        }
        Tab::Audit => {
            if tall {
                7
            } else {
                5
            }
        }
        Tab::Logs | Tab::Metrics => 0,
    };
    if detail_h == 0 || area.height < detail_h + 6 {
        return (area, None);
    }
    let table = Rect {
        height: area.height - detail_h,
        ..area
    };
    let detail = Rect {
        y: area.y + table.height,
        height: detail_h,
        ..area
    };
    (table, Some(detail))
}

/// Data rows a bordered table with a header row shows in `area`.
fn table_capacity(area: Rect) -> usize {
    area.height.saturating_sub(3) as usize
}

/// The visible window of `n` rows with `selected` in it: (first, count,
/// selected clamped). Pages of `cap` rows, so that moving within a page
/// does not scroll.
fn window(n: usize, selected: usize, cap: usize) -> (usize, usize, usize) {
    if n == 0 || cap == 0 {
        return (0, 0, 0);
    }
    let sel = selected.min(n - 1);
    let first = sel / cap * cap;
    (first, cap.min(n - first), sel)
}

fn wide(area: Rect) -> bool {
    area.width >= WIDE
}

/// Everything a list pane needs to draw its table.
struct List<'a> {
    title: Line<'a>,
    header: Vec<&'a str>,
    widths: Vec<Constraint>,
    /// Only the visible rows.
    rows: Vec<Row<'a>>,
    total: usize,
    first: usize,
    /// Selected index within `rows`.
    selected: Option<usize>,
    /// Shown instead of rows when there are none.
    empty: Text<'a>,
}

fn pane_block<'a>(title: Line<'a>, theme: &Theme) -> Block<'a> {
    Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(theme.border)
        .title(title.style(theme.title))
}

/// Inside a pane's border.
fn pane_inner(pane: Rect) -> Rect {
    Rect {
        x: pane.x + 1,
        y: pane.y + 1,
        width: pane.width.saturating_sub(2),
        height: pane.height.saturating_sub(2),
    }
}

/// Where a pane that explains itself (no data to show yet) puts its
/// prose: inside the border, two columns in and a row down.
fn prose_area(pane: Rect) -> Rect {
    let inner = pane_inner(pane);
    Rect {
        x: inner.x + 2,
        y: inner.y + 1,
        width: inner.width.saturating_sub(4),
        height: inner.height.saturating_sub(1),
    }
}

/// A pane that explains itself: `name` on its border, `text` wrapped in
/// its [`prose_area`].
fn draw_prose<'a>(
    frame: &mut Frame,
    theme: &Theme,
    area: Rect,
    name: &'a str,
    text: impl Into<Text<'a>>,
) {
    frame.render_widget(pane_block(title(vec![Span::raw(name)]), theme), area);
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: false }),
        prose_area(area),
    );
}

/// A note in a pane's body where its data would be (no stream yet, charts
/// loading): wrapped, one column and one row in.
fn draw_note(frame: &mut Frame, lines: Vec<Line<'_>>, body: Rect) {
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

/// ` title ` with a space either side, as block titles are written.
fn title<'a>(parts: Vec<Span<'a>>) -> Line<'a> {
    let mut spans = Vec::with_capacity(parts.len() + 2);
    spans.push(Span::raw(" "));
    spans.extend(parts);
    spans.push(Span::raw(" "));
    Line::from(spans)
}

fn draw_list(frame: &mut Frame, theme: &Theme, area: Rect, list: List<'_>) {
    let mut block = pane_block(list.title, theme);
    if list.total > list.rows.len() && !list.rows.is_empty() {
        let range = format!(
            " {}–{} of {} ",
            list.first + 1,
            list.first + list.rows.len(),
            list.total
        );
        block = block.title_bottom(Line::from(Span::styled(range, theme.muted)).right_aligned());
    }
    let header_style = theme.muted.add_modifier(Modifier::BOLD);
    let header = Row::new(list.header.into_iter().map(Cell::from)).style(header_style);
    if list.rows.is_empty() {
        let inner = block.inner(area);
        frame.render_widget(block, area);
        if inner.height < 2 {
            return;
        }
        // Keep the column header so the pane reads the same empty or full.
        let table = Table::new(Vec::<Row>::new(), list.widths.clone())
            .header(header)
            .highlight_spacing(HighlightSpacing::Always)
            .highlight_symbol(SELECTED_MARK);
        frame.render_widget(table, Rect { height: 1, ..inner });
        let text = Rect {
            x: inner.x + 2,
            y: inner.y + 1,
            width: inner.width.saturating_sub(3),
            height: inner.height - 1,
        };
        frame.render_widget(Paragraph::new(list.empty).wrap(Wrap { trim: false }), text);
        return;
    }
    let table = Table::new(list.rows, list.widths)
        .header(header)
        .block(block)
        .column_spacing(1)
        .row_highlight_style(theme.selection)
        .highlight_spacing(HighlightSpacing::Always)
        .highlight_symbol(SELECTED_MARK);
    let mut state = TableState::default().with_selected(list.selected);
    frame.render_stateful_widget(table, area, &mut state);
}

/// A bordered box with wrapped text, for the detail under a table.
fn draw_detail(frame: &mut Frame, theme: &Theme, area: Rect, title: Line<'_>, body: Text<'_>) {
    let block = pane_block(title, theme).padding(Padding::horizontal(1));
    frame.render_widget(
        Paragraph::new(body).block(block).wrap(Wrap { trim: false }),
        area,
    );
}

fn too_small(frame: &mut Frame, area: Rect, theme: &Theme) {
    let msg = format!(
        "breakglass needs at least {}x{}; this terminal is {}x{}",
        MIN_SIZE.0, MIN_SIZE.1, area.width, area.height
    );
    frame.render_widget(
        Paragraph::new(msg)
            .style(theme.warn)
            .wrap(Wrap { trim: true }),
        area,
    );
}

/// The ticket of what the user is looking at: the selected grant or
/// request on the Grants, Queue or Sessions pane (the Grants pane's
/// selection on the other panes).
fn ticket_in_focus(app: &App) -> Option<&str> {
    let from_grant = |request_id: &str| {
        app.requests
            .get(request_id)
            .and_then(|r| r.ticket.as_deref())
    };
    match app.tab {
        Tab::Queue if !app.has_role("approver") => None,
        Tab::Queue => {
            let q = app.queue();
            let (_, _, sel) = window(q.len(), app.selected(Tab::Queue.title()), 1);
            q.get(sel).and_then(|r| r.ticket.as_deref())
        }
        Tab::Sessions => {
            let s = app.active_sessions();
            let (_, _, sel) = window(s.len(), app.selected(Tab::Sessions.title()), 1);
            s.get(sel).and_then(|(g, _)| from_grant(&g.request_id))
        }
        Tab::Audit => None,
        _ => {
            let rows = app.grants_rows();
            let (_, _, sel) = window(rows.len(), app.selected(Tab::Grants.title()), 1);
            match rows.get(sel)? {
                GrantsRow::Grant(g) => from_grant(&g.request_id),
                GrantsRow::Request(r) => r.ticket.as_deref(),
            }
        }
    }
}

/// The connection state as the header shows it, and whether it is down.
fn link_span(app: &App, theme: &Theme, max_reason: usize) -> (Span<'static>, bool) {
    match &app.link {
        Link::Connecting { attempt } => {
            let text = if *attempt > 1 {
                format!("○ connecting (attempt {attempt})")
            } else {
                "○ connecting".to_string()
            };
            (Span::styled(text, theme.warn), false)
        }
        Link::Connected { rtt_ms } => {
            let text = match rtt_ms {
                Some(ms) => format!("● connected {ms} ms"),
                None => "● connected".to_string(),
            };
            (Span::styled(text, theme.ok), false)
        }
        Link::Down { reason, retry_at } => {
            let mut text = format!(" DOWN: {}", fmt::fit(reason, max_reason));
            if let Some(at) = retry_at {
                let s = (*at - app.local_now).num_milliseconds();
                if s > 0 {
                    text.push_str(&format!(", retrying in {}s", (s + 999) / 1000));
                } else {
                    text.push_str(", retrying now");
                }
            }
            text.push(' ');
            (
                Span::styled(text, Style::new().add_modifier(Modifier::BOLD)),
                true,
            )
        }
    }
}

/// The gateway as the header shows it: host and port, no scheme.
fn gateway_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

fn draw_header(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let w = area.width as usize;
    let clock = format!("{} UTC ", fmt::hhmm(app.server_now()));
    let brand = Span::styled(" breakglass ", theme.brand);
    let name_w = app.me.as_ref().map_or(0, |u| fmt::width(&u.name) + 1);
    // What is left for a DOWN reason once the essentials have their room.
    let fixed = " DOWN: , retrying in 99s ".len() + 2 + clock.len() + brand.width() + name_w + 1;
    let (link, down) = link_span(app, theme, w.saturating_sub(fixed).max(10));
    // When the gateway is down the whole row turns into an alarm banner
    // and every part of it takes the banner's colours.
    let row_style = if down { theme.alarm } else { theme.header };
    let st = |s: Style| if down { Style::new() } else { s };
    let right_w = link.width() + 2 + clock.len();

    let brand = Span::styled(brand.content, st(theme.brand));
    let user = app.me.as_ref().map(|u| {
        let roles = if u.roles.is_empty() {
            String::new()
        } else {
            format!(" ({})", u.roles.join(", "))
        };
        (u.name.as_str(), roles)
    });
    let read_only = app
        .read_only
        .then(|| Span::styled(" READ-ONLY ", st(theme.alarm)));
    let ticket = ticket_in_focus(app);
    let gateway = gateway_host(&app.gateway);

    // Fit the left side by priority: brand, read-only, user, ticket, the
    // gateway (which may be cut), then the roles.
    let mut avail = w.saturating_sub(right_w + 1);
    fn take(avail: &mut usize, n: usize) -> bool {
        let fits = n <= *avail;
        if fits {
            *avail -= n;
        }
        fits
    }
    let show_brand = take(&mut avail, brand.width());
    let show_ro = read_only
        .as_ref()
        .is_some_and(|s| take(&mut avail, s.width() + 1));
    let show_user = user
        .as_ref()
        .is_some_and(|(n, _)| take(&mut avail, fmt::width(n) + 1));
    let show_ticket = ticket.is_some_and(|t| take(&mut avail, fmt::width(t) + 3));
    let gateway_w = fmt::width(gateway).min(avail.saturating_sub(3));
    let show_gateway = gateway_w >= 10.min(fmt::width(gateway)) && take(&mut avail, gateway_w + 3);
    let show_roles = show_user
        && user
            .as_ref()
            .is_some_and(|(_, r)| take(&mut avail, fmt::width(r)));

    let mut spans: Vec<Span> = Vec::with_capacity(12);
    if show_brand {
        spans.push(brand);
    }
    if let (true, Some((name, roles))) = (show_user, &user) {
        spans.push(Span::styled(
            format!(" {name}"),
            st(theme.text.add_modifier(Modifier::BOLD)),
        ));
        if show_roles {
            spans.push(Span::styled(roles.clone(), st(theme.muted)));
        }
    }
    if show_gateway {
        spans.push(Span::styled(" · ", st(theme.muted)));
        spans.push(Span::styled(
            fmt::fit(gateway, gateway_w).into_owned(),
            st(theme.text),
        ));
    }
    if let (true, Some(ro)) = (show_ro, read_only) {
        spans.push(Span::raw(" "));
        spans.push(ro);
    }
    if let (true, Some(t)) = (show_ticket, ticket) {
        spans.push(Span::styled(" · ", st(theme.muted)));
        spans.push(Span::styled(t.to_string(), st(theme.accent)));
    }
    let left_w: usize = spans.iter().map(Span::width).sum();
    let pad = w.saturating_sub(left_w + right_w);
    spans.push(Span::raw(" ".repeat(pad)));
    spans.push(link);
    spans.push(Span::raw("  "));
    spans.push(Span::styled(clock, st(theme.text)));
    frame.render_widget(Line::from(spans).style(row_style), area);
}

fn draw_tabs(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    // Column 1 onwards, three columns between labels: `update::tab_spans`
    // maps clicks with the same arithmetic.
    let mut spans: Vec<Span> = Vec::with_capacity(16);
    spans.push(Span::raw(" "));
    for (i, tab) in Tab::ALL.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", theme.muted));
        }
        let label = tab_label(app, tab);
        let style = if tab == app.tab {
            theme.tab
        } else {
            theme.text
        };
        match label.find(" (") {
            Some(at) if tab == Tab::Queue => {
                let badge = label[at + 1..].to_string();
                let mut head = label;
                head.truncate(at + 1);
                spans.push(Span::styled(head, style));
                let badge_style = if tab == app.tab {
                    style
                } else {
                    theme.warn.add_modifier(Modifier::BOLD)
                };
                spans.push(Span::styled(badge, badge_style));
            }
            _ => spans.push(Span::styled(label, style)),
        }
    }
    let mut flags = Vec::new();
    if !app.mouse {
        flags.push("mouse off (m)");
    }
    if !app.bell {
        flags.push("bell off");
    }
    if !flags.is_empty() {
        let used: usize = spans.iter().map(Span::width).sum();
        let text = flags.join(" · ");
        let room = (area.width as usize).saturating_sub(used + 1);
        if fmt::width(&text) + 2 <= room {
            spans.push(Span::raw(" ".repeat(room - fmt::width(&text))));
            spans.push(Span::styled(text, theme.muted));
        }
    }
    frame.render_widget(Line::from(spans), area);
}

/// A footer label shortened for narrow screens: `ask to extend the
/// selected grant` → `extend`, `filter by actor, action…` → `filter`.
fn compact(label: &str) -> &str {
    let label = label.strip_prefix("ask to ").unwrap_or(label);
    let end = [" the ", " by ", ","]
        .iter()
        .filter_map(|p| label.find(p))
        .min()
        .unwrap_or(label.len());
    &label[..end]
}

fn draw_footer(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let w = area.width as usize;
    if let Some(flash) = app.flash.as_ref().filter(|f| f.until > app.local_now) {
        let style = match flash.level {
            Level::Info => theme.accent,
            Level::Warn => theme.warn,
            Level::Error => theme.critical,
        };
        let text = format!(" {}", fmt::fit(&flash.text, w.saturating_sub(2)));
        frame.render_widget(Line::from(Span::styled(text, style)), area);
        return;
    }
    let (mut pane, mut global) = keymap::footer_for(app);
    let full: usize = pane
        .iter()
        .chain(&global)
        .map(|(k, l)| fmt::width(k) + fmt::width(l) + 3)
        .sum();
    let short = full + 1 > w;
    let width = |keys: &[keymap::FooterKey]| -> usize {
        keys.iter()
            .map(|(k, l)| {
                let l = if short { compact(l) } else { l };
                fmt::width(k) + 1 + fmt::width(l) + 2
            })
            .sum::<usize>()
    };
    // When even the short labels do not fit, quit and help stay: first the
    // other global keys go, then the pane's last ones.
    let essential = |k: &keymap::FooterKey| matches!(k.0, "q" | "?");
    // (The leading blank is one column; the last entry's trailing two are
    // not needed.)
    while width(&pane) + width(&global) > w + 1 {
        if let Some(i) = global.iter().rposition(|k| !essential(k)) {
            global.remove(i);
        } else if pane.pop().is_none() {
            break;
        }
    }
    let keys: Vec<keymap::FooterKey> = pane.into_iter().chain(global).collect();
    let mut spans: Vec<Span> = Vec::with_capacity(keys.len() * 3 + 1);
    spans.push(Span::raw(" "));
    let mut used = 1;
    for (key, label) in keys {
        let label = if short { compact(label) } else { label };
        let need = fmt::width(key) + 1 + fmt::width(label) + 2;
        if used + need - 2 > w {
            break;
        }
        used += need;
        spans.push(Span::styled(key, theme.key));
        spans.push(Span::styled(format!(" {label}"), theme.muted));
        spans.push(Span::raw("  "));
    }
    frame.render_widget(Line::from(spans), area);
}

/// NO_COLOR: whatever a widget set, no colour reaches the terminal.
fn strip_colours(buf: &mut Buffer) {
    for cell in &mut buf.content {
        cell.fg = Color::Reset;
        cell.bg = Color::Reset;
    }
}
