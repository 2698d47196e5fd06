//! The Sessions pane: who is inside production right now, for how long
//! still, and what they did last; alerts and break-glass uses to review
//! beside the selected holder's activity.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Cell, Row};

use super::{List, draw_detail, draw_list, fmt, split_list, table_capacity, title, wide, window};
use crate::console::app::{App, Tab};
use crate::console::theme::Theme;
use crate::protocol::{AuditEntry, Grant};

pub(super) fn draw(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let sessions = app.active_sessions();
    let (table_area, detail_area) = split_list(Tab::Sessions, area);
    let (first, count, sel) = window(
        sessions.len(),
        app.selected(Tab::Sessions.title()),
        table_capacity(table_area),
    );
    let now = app.server_now();
    let wide = wide(area);
    let gauge_w: u16 = if wide { 20 } else { 8 };
    let (header, widths) = if wide {
        (
            vec![
                "KIND",
                "HOLDER",
                "SERVICE",
                "SCOPE",
                "LEFT",
                "REMAINING",
                "LAST ACTION",
            ],
            vec![
                Constraint::Length(11),
                Constraint::Length(12),
                Constraint::Length(16),
                Constraint::Length(23),
                Constraint::Length(8),
                Constraint::Length(gauge_w),
                Constraint::Fill(1),
            ],
        )
    } else {
        (
            vec!["", "HOLDER", "SERVICE", "SCOPE", "LEFT", "", "LAST ACTION"],
            vec![
                Constraint::Length(2),
                Constraint::Length(10),
                Constraint::Length(12),
                Constraint::Length(12),
                Constraint::Length(7),
                Constraint::Length(gauge_w),
                Constraint::Fill(1),
            ],
        )
    };
    let rows: Vec<Row> = sessions[first..first + count]
        .iter()
        .enumerate()
        .map(|(i, (g, actions))| {
            let selected = first + i == sel;
            let muted = if selected { theme.text } else { theme.muted };
            let left = fmt::secs_until(now, g.expires_at);
            let colour = fmt::countdown_style(theme, left);
            let kind = match (g.break_glass, wide) {
                (true, true) => Span::styled("BREAK-GLASS", theme.alarm),
                (true, false) => Span::styled("BG", theme.alarm),
                (false, true) => Span::styled("approved", muted),
                (false, false) => Span::raw(""),
            };
            let holder_style = if g.break_glass {
                theme.critical
            } else {
                theme.text.add_modifier(Modifier::BOLD)
            };
            let last = latest(app, g, actions).first().map_or_else(
                || Span::styled("nothing yet", muted),
                |e| {
                    Span::raw(format!(
                        "{} {} · {}",
                        e.action,
                        e.target,
                        fmt::age(now, e.at)
                    ))
                },
            );
            let ratio = fmt::remaining_ratio(now, g.starts_at, g.expires_at);
            Row::new(vec![
                Cell::from(kind),
                Cell::from(Span::styled(g.user.as_str(), holder_style)),
                Cell::from(g.service.as_str()),
                Cell::from(fmt::caps(&g.capabilities, wide)),
                Cell::from(Span::styled(fmt::countdown(now, g.expires_at), colour)),
                Cell::from(Line::from(
                    fmt::gauge(ratio, gauge_w as usize, colour, theme.muted).to_vec(),
                )),
                Cell::from(last),
            ])
            .style(theme.text)
        })
        .collect();
    let bg = sessions.iter().filter(|(g, _)| g.break_glass).count();
    let mut parts = vec![Span::raw("Sessions")];
    if !sessions.is_empty() {
        parts.push(Span::raw(format!(" · {} active", sessions.len())));
    }
    if bg > 0 {
        parts.push(Span::raw(" · "));
        parts.push(Span::styled(format!("{bg} break-glass"), theme.critical));
    }
    let mut empty = vec![Line::from(Span::styled(
        "Nobody holds access to production right now.",
        theme.text,
    ))];
    if !app.has_role("lead") {
        empty.push(Line::from(Span::styled(
            "You see your own grants here; leads see everyone's.",
            theme.muted,
        )));
    }
    draw_list(
        frame,
        theme,
        table_area,
        List {
            title: title(parts),
            header,
            widths,
            rows,
            total: sessions.len(),
            first,
            selected: (count > 0).then(|| sel - first),
            empty: Text::from(empty),
        },
    );
    let Some(d) = detail_area else {
        return;
    };
    let half = d.width / 2;
    let activity_area = Rect { width: half, ..d };
    let alerts_area = Rect {
        x: d.x + half,
        width: d.width - half,
        ..d
    };
    let room = d.height.saturating_sub(2) as usize;
    let narrow = activity_area.width < 60;
    match sessions.get(sel) {
        Some((g, actions)) => {
            let entries = latest(app, g, actions);
            let mut lines: Vec<Line> = entries
                .iter()
                .take(room)
                .map(|e| {
                    if narrow {
                        Line::from(vec![
                            Span::styled(format!("{:>3}", fmt::age(now, e.at)), theme.muted),
                            Span::raw(" "),
                            Span::styled(e.action.as_str(), theme.accent),
                            Span::raw(" "),
                            Span::raw(e.target.as_str()),
                        ])
                    } else {
                        Line::from(vec![
                            Span::styled(fmt::hhmmss(e.at), theme.muted),
                            Span::raw("  "),
                            Span::styled(e.action.as_str(), theme.accent),
                            Span::raw(" "),
                            Span::raw(e.target.as_str()),
                            Span::styled(format!(" · {} ago", fmt::age(now, e.at)), theme.muted),
                        ])
                    }
                })
                .collect();
            if lines.is_empty() {
                lines.push(Line::from(Span::styled(
                    format!("{} has done nothing with this grant yet.", g.user),
                    theme.muted,
                )));
            }
            draw_detail(
                frame,
                theme,
                activity_area,
                title(vec![Span::raw(format!("{} on {}", g.user, g.service))]),
                Text::from(lines),
            );
        }
        None => draw_detail(
            frame,
            theme,
            activity_area,
            title(vec![Span::raw("Activity")]),
            Text::from(Span::styled(
                "What the selected holder does shows here live.",
                theme.muted,
            )),
        ),
    }
    draw_alerts(frame, app, theme, alerts_area, now, room);
}

/// What the holder of `g` did last, newest first: the live audit feed, or
/// the snapshot's `sessions.list` when the feed has nothing yet.
fn latest<'a>(app: &'a App, g: &Grant, live: &[&'a AuditEntry]) -> Vec<&'a AuditEntry> {
    if !live.is_empty() {
        return live.to_vec();
    }
    app.sessions
        .iter()
        .find(|s| s.grant.id == g.id)
        .map(|s| s.last_actions.iter().collect())
        .unwrap_or_default()
}

fn draw_alerts(
    frame: &mut Frame,
    app: &App,
    theme: &Theme,
    area: Rect,
    now: DateTime<Utc>,
    room: usize,
) {
    let mut lines: Vec<Line> = Vec::with_capacity(room);
    let mut to_review = 0;
    for r in app.requests.values().filter(|r| r.needs_review) {
        to_review += 1;
        if lines.len() < room {
            lines.push(Line::from(vec![
                Span::styled("review ", theme.critical),
                Span::raw(format!(
                    "{} broke glass on {} {} ago",
                    r.requester,
                    r.service,
                    fmt::age(now, r.created_at)
                )),
                Span::styled(format!(" ({})", r.id), theme.muted),
            ]));
        }
    }
    for a in app.alerts.iter() {
        if lines.len() >= room {
            break;
        }
        let style = if a.kind == "break_glass" {
            theme.critical
        } else {
            theme.warn
        };
        lines.push(Line::from(vec![
            Span::styled(fmt::hhmm(a.at), theme.muted),
            Span::raw(" "),
            Span::styled(a.message.as_str(), style),
        ]));
    }
    if lines.is_empty() {
        lines.push(Line::from(Span::styled(
            "No alerts. Break-glass uses and other alerts show here as they happen.",
            theme.muted,
        )));
    }
    let mut parts = vec![Span::raw("Alerts")];
    if !app.alerts.is_empty() {
        parts.push(Span::raw(format!(" · {}", app.alerts.len())));
    }
    if to_review > 0 {
        parts.push(Span::raw(" · "));
        parts.push(Span::styled(
            format!("{to_review} to review"),
            theme.critical,
        ));
    }
    draw_detail(frame, theme, area, title(parts), Text::from(lines));
}
