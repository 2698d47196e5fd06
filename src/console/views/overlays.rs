//! Overlays: help, the command palette, one-line prompts and the
//! confirmations of destructive actions. Each is centred on a cleared area
//! and sized to its text, within the screen.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};

use super::{SELECTED_MARK, fmt, form, window};
use crate::console::app::{App, Confirm, Overlay, Prompt, PromptFor, Tab};
use crate::console::keymap;
use crate::console::theme::Theme;
use crate::console::update::palette_matches;

pub(super) fn draw(frame: &mut Frame, app: &App, theme: &Theme, overlay: &Overlay, area: Rect) {
    match overlay {
        Overlay::Help => help(frame, theme, area, app.tab),
        Overlay::Palette(p) => palette(frame, theme, area, &p.input, p.selected),
        Overlay::Form(f) => form::draw(frame, app, theme, f, area),
        Overlay::Prompt(p) => prompt(frame, theme, area, p),
        Overlay::Confirm(c) => confirm(frame, app, theme, area, c),
        Overlay::Streams(cursor) => super::logs::draw_streams(frame, app, theme, area, *cursor),
        Overlay::ChartServices(cursor) => {
            super::metrics::draw_services(frame, app, theme, area, *cursor)
        }
    }
}

/// A `w` x `h` rectangle centred in `area` (clamped to it).
pub(super) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// Clears `rect` and draws the overlay's frame; returns the inside.
pub(super) fn frame_box(
    frame: &mut Frame,
    theme: &Theme,
    rect: Rect,
    title: Line<'_>,
    hint: Option<Line<'_>>,
    border: Style,
) -> Rect {
    frame.render_widget(Clear, rect);
    let mut block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(border)
        .style(theme.base)
        .title(title.style(theme.title));
    if let Some(h) = hint {
        block = block.title_bottom(h);
    }
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    inner
}

/// `lines` in a centred box `w` wide and as tall as they are, titled, with
/// its keys on the bottom border: prompts, and the Logs and Metrics panes'
/// choosers.
pub(super) fn text_box(
    frame: &mut Frame,
    theme: &Theme,
    area: Rect,
    w: u16,
    title: &str,
    keys: &[(&'static str, &'static str)],
    lines: Vec<Line<'_>>,
) {
    // `centered` keeps it within the area.
    let rect = centered(area, w, lines.len() as u16 + 2);
    let inner = frame_box(
        frame,
        theme,
        rect,
        self::title(title),
        Some(hint(theme, keys)),
        theme.focus,
    );
    let inner = Rect {
        x: inner.x + 1,
        width: inner.width.saturating_sub(2),
        ..inner
    };
    frame.render_widget(Paragraph::new(Text::from(lines)), inner);
}

/// `key what · key what` with keys in the key style.
pub(super) fn keys_line(theme: &Theme, keys: &[(&'static str, &'static str)]) -> Line<'static> {
    let mut spans = Vec::with_capacity(keys.len() * 3);
    for (i, (k, what)) in keys.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", theme.muted));
        }
        if k.is_empty() {
            spans.push(Span::styled(*what, theme.muted));
            continue;
        }
        spans.push(Span::styled(*k, theme.key));
        if !what.is_empty() {
            spans.push(Span::styled(format!(" {what}"), theme.muted));
        }
    }
    Line::from(spans)
}

/// [`keys_line`] padded for a border title.
pub(super) fn hint(theme: &Theme, keys: &[(&'static str, &'static str)]) -> Line<'static> {
    let mut line = keys_line(theme, keys);
    line.spans.insert(0, Span::raw(" "));
    line.spans.push(Span::raw(" "));
    line
}

fn title(text: &str) -> Line<'static> {
    Line::from(format!(" {text} "))
}

/// The help's entries by group, from the key table: keys with the same
/// meaning share a line (`↑/k`), the tab keys one line (`1–6`).
fn help_groups() -> Vec<(String, Vec<(String, String)>)> {
    let tab_names: Vec<&str> = Tab::ALL.iter().map(|t| t.title()).collect();
    keymap::help()
        .into_iter()
        .map(|(heading, entries)| {
            let mut out: Vec<(String, String)> = Vec::with_capacity(entries.len());
            let mut tabs: Vec<(&str, &str)> = Vec::new();
            for (key, help) in entries {
                if tab_names.contains(&help) {
                    if tabs.is_empty() {
                        // Placeholder where the tab line goes.
                        out.push((String::new(), String::new()));
                    }
                    tabs.push((key, help));
                    continue;
                }
                match out.last_mut() {
                    Some(last) if last.1 == help => {
                        last.0.push('/');
                        last.0.push_str(key);
                    }
                    _ => out.push((key.to_string(), help.to_string())),
                }
            }
            if let Some(slot) = out.iter_mut().find(|e| e.0.is_empty()) {
                let keys = match (tabs.first(), tabs.last()) {
                    (Some(a), Some(b)) if tabs.len() > 1 => format!("{}–{}", a.0, b.0),
                    (Some(a), _) => a.0.to_string(),
                    _ => String::new(),
                };
                let names: Vec<&str> = tabs.iter().map(|t| t.1).collect();
                *slot = (keys, format!("go to that tab ({})", names.join(" ")));
            }
            (heading, out)
        })
        .collect()
}

type Group = (String, Vec<(String, String)>);

/// Help columns laid out in `inner_w` x `inner_h`: (column widths, their
/// lines, whether everything fits).
type HelpLayout<'a> = (Vec<usize>, Vec<Vec<Line<'a>>>, bool);

fn layout_help<'a>(
    groups: &'a [Group],
    theme: &Theme,
    inner_w: usize,
    inner_h: usize,
) -> Option<HelpLayout<'a>> {
    // As few columns as fit the height; each group stays in one column;
    // columns as wide as their text, narrowed to share the width.
    let mut best: Option<HelpLayout> = None;
    'search: for ncols in 1..=3usize {
        let cols = arrange(groups, ncols, inner_h);
        for gaps in [true, false] {
            let mut widths = share_width(&cols, inner_w.saturating_sub(3 * (cols.len() - 1)));
            let render = |widths: &[usize]| -> Vec<Vec<Line>> {
                cols.iter()
                    .zip(widths)
                    .map(|(col, w)| column_lines(col, theme, *w, gaps))
                    .collect()
            };
            let mut lines = render(&widths);
            // Give width to a column that is too tall from one with lines
            // to spare (it wraps a little more).
            for _ in 0..inner_w {
                let Some(tall) = lines.iter().position(|l| l.len() > inner_h) else {
                    break;
                };
                let Some(spare) = (0..lines.len())
                    .filter(|i| *i != tall && lines[*i].len() < inner_h && widths[*i] > 20)
                    .max_by_key(|i| inner_h - lines[*i].len())
                else {
                    break;
                };
                let mut trial = widths.clone();
                trial[spare] -= 1;
                trial[tall] += 1;
                let next = render(&trial);
                if next[spare].len() > inner_h {
                    break;
                }
                widths = trial;
                lines = next;
            }
            let fits = lines.iter().all(|l| l.len() <= inner_h);
            best = Some((widths, lines, fits));
            if fits {
                break 'search;
            }
        }
    }
    best
}

/// Every key, by group. When they do not all fit, the keys that work
/// everywhere and on the current pane (the other panes' are in their
/// own help).
fn help(frame: &mut Frame, theme: &Theme, area: Rect, tab: Tab) {
    let all = help_groups();
    let here = format!("{} pane", tab.title());
    let mine: Vec<Group> = all
        .iter()
        .filter(|(h, _)| h == "Everywhere" || *h == here)
        .cloned()
        .collect();
    let max_w = area.width.saturating_sub(2).min(110) as usize;
    let inner_w = max_w.saturating_sub(4);
    let inner_h = area.height.saturating_sub(4) as usize;
    let mut partial = false;
    let Some(mut layout) = layout_help(&all, theme, inner_w, inner_h) else {
        return;
    };
    if !layout.2
        && let Some(l) = layout_help(&mine, theme, inner_w, inner_h)
    {
        layout = l;
        partial = true;
    }
    let (widths, columns, _) = layout;
    let tallest = columns.iter().map(Vec::len).max().unwrap_or(0).min(inner_h);
    let used_w: usize = widths.iter().sum::<usize>() + 3 * (widths.len() - 1);
    let rect = centered(area, (used_w + 4) as u16, (tallest + 2) as u16);
    let keys: &[(&'static str, &'static str)] = if partial {
        &[("esc", "close"), ("", "other panes: ? there")]
    } else {
        &[("esc", "close"), ("", "other keys work as usual")]
    };
    let keys = hint(theme, keys);
    let inner = frame_box(frame, theme, rect, title("Keys"), Some(keys), theme.border);
    let mut x = inner.x + 1;
    for (lines, w) in columns.into_iter().zip(widths) {
        if x >= inner.right() {
            break;
        }
        let col = Rect {
            x,
            width: (w as u16).min(inner.right() - x),
            ..inner
        };
        frame.render_widget(Paragraph::new(Text::from(lines)), col);
        x += w as u16 + 3;
    }
}

/// Width of the key column of a help column.
fn key_width(col: &[&Group]) -> usize {
    col.iter()
        .flat_map(|(_, e)| e.iter().map(|(k, _)| fmt::width(k)))
        .max()
        .unwrap_or(1)
        + 2
}

/// Groups into at most `ncols` columns, in order, a new column when the
/// next group would make this one taller than `height`.
fn arrange(groups: &[Group], ncols: usize, height: usize) -> Vec<Vec<&Group>> {
    let mut cols: Vec<Vec<&Group>> = vec![Vec::new()];
    let mut h = 0;
    for g in groups {
        let need = g.1.len() + 1 + usize::from(h > 0);
        if h > 0 && h + need > height && cols.len() < ncols {
            cols.push(Vec::new());
            h = 0;
        }
        h += g.1.len() + 1 + usize::from(h > 0);
        cols.last_mut().expect("one column").push(g);
    }
    cols
}

/// Column widths: each its natural width if all fit, else the narrow ones
/// keep theirs and the wide ones share the rest.
fn share_width(cols: &[Vec<&Group>], avail: usize) -> Vec<usize> {
    let natural: Vec<usize> = cols
        .iter()
        .map(|col| {
            let k = key_width(col);
            col.iter()
                .flat_map(|(h, e)| {
                    std::iter::once(fmt::width(h))
                        .chain(e.iter().map(move |(_, t)| k + fmt::width(t)))
                })
                .max()
                .unwrap_or(k)
        })
        .collect();
    if natural.iter().sum::<usize>() <= avail {
        return natural;
    }
    let mut order: Vec<usize> = (0..cols.len()).collect();
    order.sort_by_key(|i| natural[*i]);
    let mut out = vec![0; cols.len()];
    let mut left = avail;
    for (n, i) in order.iter().enumerate() {
        let share = left / (cols.len() - n);
        out[*i] = natural[*i].min(share);
        left -= out[*i];
    }
    out
}

/// One help column's lines, the help text wrapped to `width`.
fn column_lines<'a>(col: &[&'a Group], theme: &Theme, width: usize, gaps: bool) -> Vec<Line<'a>> {
    let key_w = key_width(col);
    let help_w = width.saturating_sub(key_w).max(8);
    let mut lines: Vec<Line> = Vec::new();
    for (i, (heading, entries)) in col.iter().enumerate() {
        if i > 0 && gaps {
            lines.push(Line::default());
        }
        lines.push(Line::from(Span::styled(heading.as_str(), theme.title)));
        for (key, help) in entries {
            let wrapped = fmt::wrap(&[Line::from(help.as_str())], help_w);
            for (j, part) in wrapped.into_iter().enumerate() {
                let key_cell = if j == 0 {
                    Span::styled(format!("{key:<key_w$}"), theme.key)
                } else {
                    Span::raw(" ".repeat(key_w))
                };
                let mut spans = vec![key_cell];
                spans.extend(part.spans.into_iter().map(|s| s.style(theme.text)));
                lines.push(Line::from(spans));
            }
        }
    }
    lines
}

fn palette(frame: &mut Frame, theme: &Theme, area: Rect, input: &str, selected: usize) {
    let matches = palette_matches(input);
    let w = area.width.saturating_sub(4).min(64);
    let list_h = matches.len().clamp(1, 12) as u16;
    let rect = centered(area, w, list_h + 4);
    let hint = hint(
        theme,
        &[("↑↓", "choose"), ("enter", "run"), ("esc", "close")],
    );
    let inner = frame_box(
        frame,
        theme,
        rect,
        title("Command"),
        Some(hint),
        theme.focus,
    );
    if inner.height < 2 {
        return;
    }
    let input_w = (inner.width as usize).saturating_sub(4);
    frame.render_widget(
        Line::from(vec![
            Span::styled(" : ", theme.accent),
            Span::styled(tail(input, input_w), theme.text),
            cursor(theme),
        ]),
        Rect { height: 1, ..inner },
    );
    let list = Rect {
        y: inner.y + 2,
        height: inner.height - 2,
        ..inner
    };
    if matches.is_empty() {
        frame.render_widget(
            Line::from(Span::styled(
                format!("   no command matches “{input}”"),
                theme.muted,
            )),
            list,
        );
        return;
    }
    let name_w = matches
        .iter()
        .map(|(n, _)| fmt::width(n))
        .max()
        .unwrap_or(8)
        + 2;
    let (first, count, sel) = window(matches.len(), selected, list.height as usize);
    let lines: Vec<Line> = matches[first..first + count]
        .iter()
        .enumerate()
        .map(|(i, (name, what))| {
            let is_sel = first + i == sel;
            let mark = if is_sel { SELECTED_MARK } else { "  " };
            let line = Line::from(vec![
                Span::raw(" "),
                Span::styled(mark, theme.accent),
                Span::styled(format!("{name:<name_w$}"), theme.key),
                Span::styled(*what, if is_sel { theme.text } else { theme.muted }),
            ]);
            if is_sel {
                line.style(theme.selection)
            } else {
                line
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(Text::from(lines)), list);
}

/// The end of `text` that fits `w` columns (what is being typed stays in
/// view).
fn tail(text: &str, w: usize) -> String {
    if fmt::width(text) <= w {
        return text.to_string();
    }
    let mut out: Vec<char> = Vec::new();
    let mut used = 1;
    for c in text.chars().rev() {
        let cw = fmt::char_width(c);
        if used + cw > w {
            break;
        }
        used += cw;
        out.push(c);
    }
    std::iter::once('…').chain(out.into_iter().rev()).collect()
}

/// A block cursor at the end of a text field.
pub(super) fn cursor(theme: &Theme) -> Span<'static> {
    Span::styled(" ", theme.focus.add_modifier(Modifier::REVERSED))
}

fn prompt(frame: &mut Frame, theme: &Theme, area: Rect, p: &Prompt) {
    let (name, keys): (&str, &[(&'static str, &'static str)]) = match p.purpose {
        PromptFor::ApproveComment { .. } => (
            "Approve",
            &[("enter", "back to approve"), ("esc", "cancel")],
        ),
        PromptFor::DenyReason { .. } => (
            "Deny",
            &[
                ("enter", "continue"),
                ("esc", "cancel"),
                ("ctrl-u", "clear"),
            ],
        ),
        PromptFor::RevokeReason { .. } => (
            "Revoke",
            &[
                ("enter", "continue"),
                ("esc", "cancel"),
                ("ctrl-u", "clear"),
            ],
        ),
        PromptFor::ExtendFor { .. } => (
            "Extend",
            &[
                ("enter", "continue"),
                ("esc", "cancel"),
                ("ctrl-u", "clear"),
            ],
        ),
        PromptFor::ExtendReason { .. } => (
            "Extend",
            &[("enter", "send"), ("esc", "cancel"), ("ctrl-u", "clear")],
        ),
        PromptFor::LogSearch => (
            "Search",
            &[("enter", "search"), ("esc", "cancel"), ("ctrl-u", "clear")],
        ),
        PromptFor::AuditFilter => (
            "Filter",
            &[
                ("enter", "keep"),
                ("esc", "clear"),
                ("", "filters as you type"),
            ],
        ),
    };
    let w = area.width.saturating_sub(4).min(72);
    let text_w = w.saturating_sub(4) as usize;
    let mut lines = fmt::wrap(
        &[Line::from(Span::styled(p.label.as_str(), theme.text))],
        text_w,
    );
    lines.truncate(3);
    lines.push(Line::from(vec![
        Span::styled("> ", theme.accent),
        Span::styled(tail(&p.text, text_w.saturating_sub(3)), theme.text),
        cursor(theme),
    ]));
    if let Some(e) = &p.error {
        lines.extend(fmt::wrap(
            &[Line::from(Span::styled(e.as_str(), theme.critical))],
            text_w,
        ));
    }
    text_box(frame, theme, area, w, name, keys, lines);
}

fn confirm(frame: &mut Frame, app: &App, theme: &Theme, area: Rect, c: &Confirm) {
    let now = app.server_now();
    let label = |s: &'static str| Span::styled(s, theme.muted);
    let strong = theme.text.add_modifier(Modifier::BOLD);
    let mut lines: Vec<Line> = Vec::new();
    let (name, keys, border): (&str, Vec<(&'static str, &'static str)>, Style) = match c {
        Confirm::Approve {
            request_id,
            comment,
        } => {
            match app.requests.get(request_id) {
                Some(r) => {
                    lines.push(Line::from(vec![
                        Span::styled(format!("Approve {} from {}", r.id, r.requester), strong),
                        Span::raw(format!(
                            ": {} {} for {}?",
                            r.service,
                            fmt::caps(&r.capabilities, true),
                            fmt::dur(r.duration_s)
                        )),
                    ]));
                    let mut reason = r.reason.lines();
                    lines.push(Line::from(vec![
                        label("why: "),
                        Span::raw(reason.next().unwrap_or("")),
                    ]));
                    lines.extend(reason.take(2).map(|l| Line::from(format!("     {l}"))));
                    if let Some(t) = &r.ticket {
                        lines.push(Line::from(vec![
                            label("ticket: "),
                            Span::styled(t.as_str(), theme.accent),
                        ]));
                    }
                    let after = r.approvals.len() as u32 + 1;
                    if after >= r.approvals_required {
                        lines.push(Line::from(Span::styled(
                            format!(
                                "Yours makes {after} of {}: {} gets access at once.",
                                r.approvals_required, r.requester
                            ),
                            theme.warn,
                        )));
                    } else {
                        lines.push(Line::from(Span::styled(
                            format!(
                                "Yours makes {after} of {}: {} more needed after you.",
                                r.approvals_required,
                                r.approvals_required - after
                            ),
                            theme.muted,
                        )));
                    }
                }
                None => lines.push(Line::from(Span::styled(
                    format!("Approve {request_id}? (it is no longer in the queue)"),
                    strong,
                ))),
            }
            if let Some(cm) = comment {
                lines.push(Line::from(vec![
                    label("your comment: "),
                    Span::raw(format!("“{cm}”")),
                ]));
            }
            (
                "Approve?",
                vec![
                    ("a/y/enter", "approve"),
                    ("c", "add comment"),
                    ("", "any other key cancels"),
                ],
                theme.warn,
            )
        }
        Confirm::Deny { request_id, reason } => {
            match app.requests.get(request_id) {
                Some(r) => lines.push(Line::from(vec![
                    Span::styled(format!("Deny {} from {}", r.id, r.requester), strong),
                    Span::raw(format!(
                        ": {} {} for {}?",
                        r.service,
                        fmt::caps(&r.capabilities, true),
                        fmt::dur(r.duration_s)
                    )),
                ])),
                None => lines.push(Line::from(Span::styled(
                    format!("Deny {request_id}?"),
                    strong,
                ))),
            }
            lines.push(Line::from(vec![
                label("reason: "),
                Span::raw(format!("“{reason}”")),
            ]));
            lines.push(Line::from(Span::styled(
                "The requester sees who denied it and why; the trail keeps both.",
                theme.muted,
            )));
            (
                "Deny?",
                vec![("d/y/enter", "deny"), ("", "any other key cancels")],
                theme.warn,
            )
        }
        Confirm::Revoke { grant_id, reason } => {
            match app.grants.get(grant_id) {
                Some(g) => {
                    let left = fmt::secs_until(now, g.expires_at);
                    let who = if g.user == app.user_name() {
                        "your grant".to_string()
                    } else {
                        format!("{}'s grant", g.user)
                    };
                    lines.push(Line::from(vec![
                        Span::styled(format!("Revoke {who} {}", g.id), strong),
                        Span::raw(format!(
                            " on {} ({}, ",
                            g.service,
                            fmt::caps(&g.capabilities, true)
                        )),
                        Span::styled(
                            format!("{} left", fmt::countdown(now, g.expires_at)),
                            fmt::countdown_style(theme, left),
                        ),
                        Span::raw(")?"),
                    ]));
                }
                None => lines.push(Line::from(Span::styled(
                    format!("Revoke {grant_id}?"),
                    strong,
                ))),
            }
            lines.push(Line::from(vec![
                label("reason: "),
                Span::raw(format!("“{reason}”")),
            ]));
            lines.push(Line::from(Span::styled(
                "Access ends at once and open log and metric streams are cut.",
                theme.warn,
            )));
            (
                "Revoke?",
                vec![("r/y/enter", "revoke"), ("", "any other key cancels")],
                theme.critical,
            )
        }
        Confirm::BreakGlass { .. } => {
            lines.push(Line::from(Span::styled("Break glass?", theme.critical)));
            lines.push(Line::from(Span::raw(
                "You get access at once, without approval. Every lead and webhook is alerted, \
                 and this use stays on the leads' review list until a lead reviews it.",
            )));
            (
                "Break glass?",
                vec![("b/y/enter", "break glass"), ("", "any other key cancels")],
                theme.critical,
            )
        }
        Confirm::Quit => {
            let grants = app.my_active_grants();
            lines.push(Line::from(Span::styled("Quit the console?", strong)));
            if !grants.is_empty() {
                let mut spans = vec![Span::raw(format!(
                    "You still hold {} grant{}: ",
                    grants.len(),
                    if grants.len() == 1 { "" } else { "s" }
                ))];
                for (i, g) in grants.iter().take(4).enumerate() {
                    if i > 0 {
                        spans.push(Span::raw(", "));
                    }
                    let left = fmt::secs_until(now, g.expires_at);
                    spans.push(Span::raw(format!("{} ", g.service)));
                    spans.push(Span::styled(
                        format!("({} left)", fmt::countdown(now, g.expires_at)),
                        fmt::countdown_style(theme, left),
                    ));
                }
                if grants.len() > 4 {
                    spans.push(Span::raw(format!(" and {} more", grants.len() - 4)));
                }
                spans.push(Span::raw("."));
                lines.push(Line::from(spans));
                lines.push(Line::from(Span::styled(
                    "They keep running at the gateway until they end: quitting does not give \
                     them up (r on the Grants pane does).",
                    theme.muted,
                )));
            }
            (
                "Quit?",
                vec![("q/y/enter", "quit"), ("", "any other key stays")],
                theme.warn,
            )
        }
    };
    let w = area.width.saturating_sub(4).min(76);
    let text_w = w.saturating_sub(4) as usize;
    let mut body = fmt::wrap(&lines, text_w);
    body.push(Line::default());
    body.extend(fmt::wrap(&[keys_line(theme, &keys)], text_w));
    let rect = centered(area, w, body.len() as u16 + 2);
    let inner = frame_box(frame, theme, rect, title(name), None, border);
    let inner = Rect {
        x: inner.x + 1,
        width: inner.width.saturating_sub(2),
        ..inner
    };
    frame.render_widget(Paragraph::new(Text::from(body)), inner);
}
