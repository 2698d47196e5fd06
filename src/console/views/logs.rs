//! The Logs pane: the live lines of the services my grants cover.
//!
//! Layout inside the pane's border: a banner row per stream the gateway
//! closed (why, and what `r` does), then the lines, one column of gutter
//! (`›` on the selected line) and per line: service tag (several streams
//! only), time, level, text. The title names the streams with their state;
//! the top right says follow/paused and the level filter; the bottom
//! border carries the search (left) and the position or the "N new lines"
//! marker (right).
//!
//! Only the entries on screen are looked at ([`LogsState::window`]), and
//! they are written straight into the buffer: a frame costs the same with
//! 200 or 200,000 lines held.

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::overlays;
use super::{draw_note, draw_prose, fmt, pane_block, pane_inner, prose_area, title};
use crate::console::app::App;
use crate::console::logs::{
    FIRST_SINCE_S, Geometry, Kind, LogsState, Row, Sev, Stream, StreamState, TS_WIDTH, cut_at,
    text_width, thousands, wrap_rows,
};
use crate::console::logs_update::{choices, logs_grants};
use crate::console::theme::{TAGS, Theme};
use crate::console::update::{last_grant_for, pending_request_for};
use crate::protocol::{Capability, CloseReason, GrantState};

/// Banner rows at most (one per closed stream).
const BANNERS_MAX: usize = 3;

fn banner_streams(logs: &LogsState) -> impl Iterator<Item = &Stream> {
    logs.streams
        .iter()
        .filter(|s| s.state.needs_banner())
        .take(BANNERS_MAX)
}

fn banner_count(app: &App, inner_h: u16) -> u16 {
    let n = banner_streams(&app.logs).count();
    if inner_h as usize >= n + 3 {
        n as u16
    } else {
        0
    }
}

/// Where the lines go in `pane` (after the gutter column and the banners).
pub(super) fn text_rect(app: &App, pane: Rect) -> Rect {
    let inner = pane_inner(pane);
    let b = banner_count(app, inner.height);
    Rect {
        x: inner.x + 1,
        y: inner.y + b,
        width: inner.width.saturating_sub(1),
        height: inner.height - b,
    }
}

pub(super) fn draw(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let logs = &app.logs;
    if logs.streams.is_empty() {
        no_stream(frame, app, theme, area);
        return;
    }
    let text = text_rect(app, area);
    let g = Geometry {
        width: text.width,
        height: text.height,
    };
    let rows = logs.window(g);
    let new = logs.new_lines(rows.last().map(|r| r.seq));
    let mut block = pane_block(title_line(app, theme), theme)
        .title_top(status_line(app, theme).right_aligned())
        .title_bottom(position_line(app, theme, new).right_aligned());
    if let Some(s) = search_line(app, theme) {
        block = block.title_bottom(s);
    }
    frame.render_widget(block, area);
    draw_banners(frame.buffer_mut(), app, theme, pane_inner(area));
    if rows.is_empty() {
        empty_view(frame, app, theme, text);
        return;
    }
    draw_rows(frame.buffer_mut(), app, theme, text, &rows);
}

fn tag_style(theme: &Theme, stream: usize) -> Style {
    theme.tags[stream % TAGS]
}

/// ` Logs · ● payments · ✕ checkout-api `
fn title_line<'a>(app: &'a App, theme: &Theme) -> Line<'a> {
    let logs = &app.logs;
    let mut parts = vec![Span::raw("Logs")];
    for (i, s) in logs.streams.iter().enumerate() {
        let (glyph, style) = match &s.state {
            StreamState::Live { .. } => ("●", theme.ok),
            StreamState::Subscribing { .. } => ("○", theme.muted),
            StreamState::Waiting => ("◌", theme.warn),
            StreamState::Closed {
                reason: CloseReason::Unsubscribed,
                ..
            }
            | StreamState::Stopped => ("‖", theme.muted),
            StreamState::Closed { .. } | StreamState::Refused { .. } => ("✕", theme.critical),
        };
        parts.push(Span::raw(" · "));
        parts.push(Span::styled(glyph, style));
        parts.push(Span::raw(" "));
        let name_style = if logs.tagged() {
            tag_style(theme, i)
        } else {
            theme.title
        };
        parts.push(Span::styled(s.service.as_str(), name_style));
    }
    title(parts)
}

/// ` FOLLOW · all levels ` / ` PAUSED · ERROR+ · wrap `
fn status_line(app: &App, theme: &Theme) -> Line<'static> {
    let logs = &app.logs;
    let mut spans = vec![Span::raw(" ")];
    if logs.follow {
        spans.push(Span::styled(
            "FOLLOW",
            theme.ok.add_modifier(Modifier::BOLD),
        ));
    } else {
        spans.push(Span::styled(
            "PAUSED",
            theme.warn.add_modifier(Modifier::BOLD),
        ));
    }
    spans.push(Span::styled(" · ", theme.muted));
    let filter_style = if logs.filter == crate::console::logs::LevelFilter::All {
        theme.muted
    } else {
        theme.accent.add_modifier(Modifier::BOLD)
    };
    spans.push(Span::styled(logs.filter.label(), filter_style));
    if logs.wrap {
        spans.push(Span::styled(" · wrap", theme.muted));
    }
    spans.push(Span::raw(" "));
    Line::from(spans)
}

/// ` /timeout · 17 matches · n/N `
fn search_line<'a>(app: &'a App, theme: &Theme) -> Option<Line<'a>> {
    let s = app.logs.search.as_ref()?;
    let count = app.logs.match_count().unwrap_or(0);
    let matches = match count {
        0 => "no match".to_string(),
        1 => "1 match".to_string(),
        n => format!("{} matches", thousands(n)),
    };
    Some(Line::from(vec![
        Span::raw(" "),
        Span::styled("/", theme.key),
        Span::styled(fmt::fit(&s.pattern, 24).into_owned(), theme.accent),
        Span::styled(format!(" · {matches} · "), theme.muted),
        Span::styled("n/N", theme.key),
        Span::raw(" "),
    ]))
}

/// ` ↓ 42 new lines · G follows ` or where the selection is.
fn position_line(app: &App, theme: &Theme, new: usize) -> Line<'static> {
    let logs = &app.logs;
    if new > 0 {
        return Line::from(vec![
            Span::styled(
                format!(
                    " ↓ {} new line{} ",
                    thousands(new as u64),
                    if new == 1 { "" } else { "s" }
                ),
                theme.warn.add_modifier(Modifier::BOLD),
            ),
            Span::styled("· ", theme.muted),
            Span::styled("G", theme.key),
            Span::styled(" follows ", theme.muted),
        ]);
    }
    let n = logs.view_len();
    let held = if logs.evicted > 0 {
        format!(
            " (the oldest go past {})",
            thousands(logs.capacity() as u64)
        )
    } else {
        String::new()
    };
    let text = match logs.selected() {
        Some(sel) if !logs.follow => format!(
            " line {} of {}{held} ",
            thousands(logs.view_pos(sel) as u64 + 1),
            thousands(n as u64)
        ),
        _ => format!(
            " {} line{}{held} ",
            thousands(n as u64),
            if n == 1 { "" } else { "s" }
        ),
    };
    Line::from(Span::styled(text, theme.muted))
}

/// A banner: who, why (cut to fit), what now (long and short forms), and
/// whether it is an alarm (nothing pending that would restart it).
struct Banner {
    head: String,
    why: String,
    tail: String,
    tail_short: String,
    alarm: bool,
}

/// Why a stream stopped, and what `r` does about it.
fn banner(app: &App, s: &Stream) -> Banner {
    let pending = pending_request_for(app, &s.service, Capability::LogsRead);
    let why = match &s.state {
        StreamState::Closed {
            reason: CloseReason::GrantExpired,
            at,
        } => format!("your grant expired at {}", fmt::hhmmss(*at)),
        StreamState::Closed {
            reason: CloseReason::GrantRevoked,
            ..
        } => {
            let g = last_grant_for(app, &s.service, Capability::LogsRead)
                .filter(|g| g.state == GrantState::Revoked);
            match g {
                Some(g) => format!(
                    "your grant was revoked by {} ({})",
                    g.revoked_by.as_deref().unwrap_or("?"),
                    g.revoke_reason.as_deref().unwrap_or("no reason given")
                ),
                None => "your grant was revoked".to_string(),
            }
        }
        StreamState::Closed {
            reason: CloseReason::SourceError,
            at,
        } => format!("the gateway lost the log source at {}", fmt::hhmmss(*at)),
        StreamState::Refused { code, message } => format!("refused ({code}): {message}"),
        _ => String::new(),
    };
    let head = format!(" ✕ {}: ", s.service);
    if let Some(r) = pending {
        return Banner {
            head: format!(" ◌ {}: ", s.service),
            why,
            tail: format!(
                "; {} waits for approval ({}/{}), the stream restarts once granted ",
                r.id,
                r.approvals.len(),
                r.approvals_required
            ),
            tail_short: "; restarts once granted ".into(),
            alarm: false,
        };
    }
    let source = matches!(
        s.state,
        StreamState::Closed {
            reason: CloseReason::SourceError,
            ..
        }
    );
    let (tail, tail_short) = if source {
        ("; r restarts the stream ", "; r: restart ")
    } else {
        ("; r asks for logs:read again ", "; r: ask again ")
    };
    Banner {
        head,
        why,
        tail: tail.into(),
        tail_short: tail_short.into(),
        alarm: true,
    }
}

fn draw_banners(buf: &mut Buffer, app: &App, theme: &Theme, inner: Rect) {
    let n = banner_count(app, inner.height);
    let w = inner.width as usize;
    for (i, s) in banner_streams(&app.logs).take(n as usize).enumerate() {
        let b = banner(app, s);
        let style = if b.alarm {
            theme.alarm
        } else {
            theme.warn.add_modifier(Modifier::REVERSED)
        };
        // The reason gets what the rest leaves, but at least a few words.
        let fixed = |tail: &str| fmt::width(&b.head) + fmt::width(tail);
        let tail = if fixed(&b.tail) + 16 <= w || fixed(&b.tail) + fmt::width(&b.why) <= w {
            &b.tail
        } else {
            &b.tail_short
        };
        let why = fmt::fit(&b.why, w.saturating_sub(fixed(tail)));
        let text = format!("{}{why}{tail}", b.head);
        let row = Rect {
            y: inner.y + i as u16,
            height: 1,
            ..inner
        };
        buf.set_style(row, style);
        buf.set_stringn(row.x, row.y, fmt::fit(&text, w), w, style);
    }
}

fn level_style(theme: &Theme, level: Sev) -> Style {
    match level {
        Sev::Error => theme.critical,
        Sev::Warn => theme.warn,
        Sev::Info => theme.ok,
        Sev::Debug | Sev::Trace | Sev::Unknown => theme.muted,
    }
}

/// Writes `s` at (x, y) up to `end_x`; returns where it stopped.
fn write(buf: &mut Buffer, x: u16, y: u16, s: &str, end_x: u16, style: Style) -> u16 {
    if x >= end_x || s.is_empty() {
        return x;
    }
    buf.set_stringn(x, y, s, (end_x - x) as usize, style).0
}

/// Writes `text[a..b]` with the search hits in it highlighted.
#[allow(clippy::too_many_arguments)]
fn write_hl(
    buf: &mut Buffer,
    mut x: u16,
    y: u16,
    text: &str,
    (a, b): (usize, usize),
    end_x: u16,
    style: Style,
    hits: &[(usize, usize)],
    hl: Style,
) {
    let mut pos = a;
    for &(ha, hb) in hits.iter().filter(|(ha, hb)| *hb > a && *ha < b) {
        let (ha, hb) = (ha.max(a), hb.min(b));
        if ha > pos {
            x = write(buf, x, y, &text[pos..ha], end_x, style);
        }
        x = write(buf, x, y, &text[ha..hb], end_x, hl);
        pos = hb;
    }
    if pos < b {
        write(buf, x, y, &text[pos..b], end_x, style);
    }
}

fn draw_rows(buf: &mut Buffer, app: &App, theme: &Theme, area: Rect, rows: &[Row]) {
    let logs = &app.logs;
    let selected = logs.selected();
    let tagged = logs.tagged();
    let tag_w = logs.tag_width();
    let prefix = (logs.prefix_width() as u16).min(area.width);
    let cols = logs.text_cols(area.width);
    let text_x = area.x + prefix;
    let end_x = area.right();
    let text_w = end_x - text_x;
    let hl = theme.accent.add_modifier(Modifier::REVERSED);
    let mut y = area.y;
    let mut hits: Vec<(usize, usize)> = Vec::new();
    for r in rows {
        let Some(e) = logs.entry(r.seq) else {
            continue;
        };
        if selected == Some(r.seq) {
            let band = Rect {
                x: area.x.saturating_sub(1),
                y,
                width: area.width + 1,
                height: r.rows,
            };
            buf.set_style(band, theme.selection);
            if area.x > 0 {
                buf.set_string(area.x - 1, y, "›", theme.accent);
            }
        }
        if r.skip == 0 {
            let mut x = area.x;
            if tagged {
                let name = logs
                    .streams
                    .get(e.stream as usize)
                    .map_or("", |s| s.service.as_str());
                write(
                    buf,
                    x,
                    y,
                    &fmt::fit(name, tag_w),
                    end_x,
                    tag_style(theme, e.stream as usize),
                );
                x += tag_w as u16 + 1;
            }
            if logs.timestamps {
                let ts = e.ts().format("%H:%M:%S%.3f").to_string();
                write(buf, x, y, &ts, end_x, theme.muted);
                x += TS_WIDTH as u16;
            }
            if e.kind == Kind::Line {
                write(
                    buf,
                    x,
                    y,
                    e.level.label(),
                    end_x,
                    level_style(theme, e.level),
                );
            }
        }
        let style = match e.kind {
            Kind::Line if e.eff == Sev::Debug || e.eff == Sev::Trace => theme.muted,
            Kind::Line => theme.text,
            Kind::Dropped => theme.warn,
            Kind::Closed => theme.critical,
            Kind::Note => theme.muted,
        };
        hits.clear();
        if let Some(s) = &logs.search
            && e.kind == Kind::Line
        {
            hits.extend(s.find_iter(&e.text));
        }
        if logs.wrap {
            for (i, range) in wrap_rows(&e.text, cols)
                .skip(r.skip as usize)
                .take(r.rows as usize)
                .enumerate()
            {
                write_hl(
                    buf,
                    text_x,
                    y + i as u16,
                    &e.text,
                    range,
                    end_x,
                    style,
                    &hits,
                    hl,
                );
            }
        } else if text_width(&e.text) <= text_w as usize {
            write_hl(
                buf,
                text_x,
                y,
                &e.text,
                (0, e.text.len()),
                end_x,
                style,
                &hits,
                hl,
            );
        } else if text_w > 1 {
            // Cut, with an ellipsis saying so (w shows the rest).
            let range = (0, cut_at(&e.text, text_w as usize - 1));
            write_hl(buf, text_x, y, &e.text, range, end_x, style, &hits, hl);
            write(buf, end_x - 1, y, "…", end_x, theme.muted);
        }
        y += r.rows;
    }
}

/// Streams, but nothing to show (yet, or at this level).
fn empty_view(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let logs = &app.logs;
    let names = |pred: &dyn Fn(&StreamState) -> bool| -> Vec<&str> {
        logs.streams
            .iter()
            .filter(|s| pred(&s.state))
            .map(|s| s.service.as_str())
            .collect()
    };
    let starting = names(&|s| matches!(s, StreamState::Subscribing { .. }));
    let live = names(&|s| matches!(s, StreamState::Live { .. }));
    let waiting = names(&|s| matches!(s, StreamState::Waiting));
    let mut lines: Vec<Line> = Vec::new();
    if !logs.is_empty() {
        lines.push(Line::from(vec![
            Span::styled(
                format!(
                    "No {} lines among the {} held. ",
                    logs.filter.label(),
                    thousands(logs.len() as u64)
                ),
                theme.text,
            ),
            Span::styled("L", theme.key),
            Span::styled(" shows more levels.", theme.muted),
        ]));
    } else if !starting.is_empty() {
        lines.push(Line::from(Span::styled(
            format!(
                "Subscribing to {}… (the last {} minutes come first)",
                starting.join(", "),
                FIRST_SINCE_S / 60
            ),
            theme.muted,
        )));
    } else if !live.is_empty() {
        lines.push(Line::from(Span::styled(
            format!(
                "Streaming {}: no lines yet. They show here as the service writes them.",
                live.join(", ")
            ),
            theme.muted,
        )));
    } else if !waiting.is_empty() {
        lines.push(Line::from(Span::styled(
            format!(
                "Not connected: {} resumes once the gateway is back.",
                waiting.join(", ")
            ),
            theme.warn,
        )));
    } else {
        lines.push(Line::from(vec![
            Span::styled("Nothing is streaming. Press ", theme.muted),
            Span::styled("s", theme.key),
            Span::styled(" to choose a service.", theme.muted),
        ]));
    }
    draw_note(frame, lines, area);
}

/// Before any stream: how to get access, or what can be streamed.
fn no_stream(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let now = app.server_now();
    let text_w = prose_area(area).width as usize;
    let grants = logs_grants(app);
    let strong = theme.text.add_modifier(Modifier::BOLD);
    let mut lines = vec![
        Line::from(Span::styled(
            "The live logs of the services your grants cover stream here, redacted by the \
             gateway: follow, pause, search, filter by level, wrap, copy a line.",
            theme.text,
        )),
        Line::default(),
    ];
    if grants.is_empty() {
        lines.push(Line::from(Span::styled(
            "You hold no grant with logs:read right now. To get one:",
            strong,
        )));
        let rules: Vec<String> = app
            .catalog
            .iter()
            .filter(|s| s.capabilities.contains(&Capability::LogsRead))
            .take(4)
            .map(|s| {
                if s.auto_approve {
                    format!("{} is granted at once if you are on call", s.name)
                } else {
                    format!(
                        "{} needs {} approval{}",
                        s.name,
                        s.approvals_required,
                        if s.approvals_required == 1 { "" } else { "s" }
                    )
                }
            })
            .collect();
        let decide = if rules.is_empty() {
            "an approver decides;".to_string()
        } else {
            format!("an approver decides: {};", rules.join(", "))
        };
        let steps = [
            Line::from(vec![
                Span::styled("press ", theme.text),
                Span::styled("n", theme.key),
                Span::styled(
                    ", pick the service, keep logs:read ticked, say why (a ticket helps);",
                    theme.text,
                ),
            ]),
            Line::from(Span::styled(decide, theme.text)),
            Line::from(Span::styled(
                format!(
                    "once granted, it streams here by itself, starting with the last {} minutes.",
                    FIRST_SINCE_S / 60
                ),
                theme.text,
            )),
        ];
        lines.extend(fmt::how_to_get(
            app,
            theme,
            Capability::LogsRead,
            &steps,
            text_w,
            now,
        ));
    } else {
        lines.push(Line::from(Span::styled(
            "Your grants that cover logs:read:",
            strong,
        )));
        let name_w = grants
            .iter()
            .map(|g| fmt::width(&g.service))
            .max()
            .unwrap_or(0);
        for g in &grants {
            let left = fmt::secs_until(now, g.expires_at);
            lines.push(Line::from(vec![
                Span::raw("  "),
                Span::styled(format!("{:<name_w$}", g.service), strong),
                Span::raw("  "),
                Span::styled(
                    format!("{} left", fmt::countdown(now, g.expires_at)),
                    fmt::countdown_style(theme, left),
                ),
            ]));
        }
        lines.push(Line::default());
        if app.connected() {
            lines.push(Line::from(vec![
                Span::styled("Press ", theme.muted),
                Span::styled("s", theme.key),
                Span::styled(" to choose what to stream.", theme.muted),
            ]));
        } else {
            lines.push(Line::from(Span::styled(
                "Streaming starts once the console is connected.",
                theme.muted,
            )));
        }
    }
    draw_prose(frame, theme, area, "Logs", lines);
}

/// The stream chooser (`s`).
pub(super) fn draw_streams(frame: &mut Frame, app: &App, theme: &Theme, area: Rect, cursor: usize) {
    let now = app.server_now();
    let cs = choices(app);
    let w = area.width.saturating_sub(4).min(76);
    let name_w = cs
        .iter()
        .map(|c| fmt::width(&c.service))
        .max()
        .unwrap_or(8)
        .min(20);
    let mut lines: Vec<Line> = Vec::new();
    if cs.is_empty() {
        lines.push(Line::from(Span::styled(
            "No grant covers logs:read right now: close this and press n to ask for one.",
            theme.muted,
        )));
    }
    let cursor = cursor.min(cs.len().saturating_sub(1));
    for (i, c) in cs.iter().enumerate() {
        let stream = c.stream.map(|si| &app.logs.streams[si]);
        let on = stream.is_some_and(|s| s.state.is_on());
        let (state, style) = match stream.map(|s| &s.state) {
            Some(StreamState::Live { .. }) => ("● live".to_string(), theme.ok),
            Some(StreamState::Subscribing { .. }) => ("○ starting".to_string(), theme.muted),
            Some(StreamState::Waiting) => ("◌ reconnecting".to_string(), theme.warn),
            Some(StreamState::Closed { reason, .. }) if *reason != CloseReason::Unsubscribed => {
                let why = match reason {
                    CloseReason::GrantExpired => "grant expired",
                    CloseReason::GrantRevoked => "grant revoked",
                    _ => "source lost",
                };
                (format!("✕ closed: {why}"), theme.critical)
            }
            Some(StreamState::Refused { .. }) => ("✕ refused".to_string(), theme.critical),
            _ => ("off".to_string(), theme.muted),
        };
        let is_sel = i == cursor;
        let mut spans = vec![
            Span::styled(if is_sel { "› " } else { "  " }, theme.accent),
            Span::styled(if on { "[x] " } else { "[ ] " }, theme.key),
            Span::styled(
                format!("{:<name_w$}  ", fmt::fit(&c.service, name_w)),
                tag_style(theme, c.stream.unwrap_or(app.logs.streams.len())),
            ),
            Span::styled(state, style),
        ];
        if let Some(s) = stream.filter(|s| s.received > 0) {
            spans.push(Span::styled(
                format!(" · {} lines", thousands(s.received)),
                theme.muted,
            ));
        }
        match c.expires_at {
            Some(at) => {
                let left = fmt::secs_until(now, at);
                spans.push(Span::styled(" · ", theme.muted));
                spans.push(Span::styled(
                    format!("{} left", fmt::countdown(now, at)),
                    fmt::countdown_style(theme, left),
                ));
            }
            None => spans.push(Span::styled(" · no grant", theme.muted)),
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
        "Streams",
        &[("space", "on/off"), ("↑↓", "choose"), ("esc", "close")],
        lines,
    );
}
