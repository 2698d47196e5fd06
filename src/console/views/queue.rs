//! The Queue pane: pending requests I may decide, newest first, and the
//! whole of the selected one under the table.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Cell, Row};

use super::{
    List, draw_detail, draw_list, draw_prose, fmt, split_list, table_capacity, title, wide, window,
};
use crate::console::app::{App, Tab};
use crate::console::theme::Theme;
use crate::protocol::AccessRequest;

pub(super) fn draw(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    if !app.has_role("approver") {
        not_an_approver(frame, app, theme, area);
        return;
    }
    let q = app.queue();
    let (table_area, detail_area) = split_list(Tab::Queue, area);
    let (first, count, sel) = window(
        q.len(),
        app.selected(Tab::Queue.title()),
        table_capacity(table_area),
    );
    let now = app.server_now();
    let wide = wide(area);
    let (header, widths) = if wide {
        (
            vec![
                "ID",
                "FROM",
                "SERVICE",
                "ACCESS",
                "FOR",
                "APPROVALS",
                "AGE",
                "TICKET",
                "REASON",
            ],
            vec![
                Constraint::Length(16),
                Constraint::Length(12),
                Constraint::Length(16),
                Constraint::Length(23),
                Constraint::Length(7),
                Constraint::Length(9),
                Constraint::Length(5),
                Constraint::Length(12),
                Constraint::Fill(1),
            ],
        )
    } else {
        (
            vec!["FROM", "SERVICE", "ACCESS", "FOR", "APPR", "AGE", "REASON"],
            vec![
                Constraint::Length(9),
                Constraint::Length(12),
                Constraint::Length(12),
                Constraint::Length(6),
                Constraint::Length(4),
                Constraint::Length(4),
                Constraint::Fill(1),
            ],
        )
    };
    let rows: Vec<Row> = q[first..first + count]
        .iter()
        .enumerate()
        .map(|(i, r)| row(theme, r, now, wide, first + i == sel))
        .collect();
    let mut parts = vec![Span::raw("Queue")];
    if !q.is_empty() {
        parts.push(Span::raw(" · "));
        parts.push(Span::styled(
            format!("{} waiting for your decision", q.len()),
            theme.warn,
        ));
    }
    if app.read_only {
        parts.push(Span::raw(" · "));
        parts.push(Span::styled("read-only: a and d are off", theme.muted));
    }
    let bell = if app.bell { " (the bell rings)" } else { "" };
    let empty = Text::from(vec![
        Line::from(Span::styled("Nothing waits for your decision.", theme.text)),
        Line::from(Span::styled(
            format!("New requests from others show here the moment they arrive{bell}."),
            theme.muted,
        )),
    ]);
    draw_list(
        frame,
        theme,
        table_area,
        List {
            title: title(parts),
            header,
            widths,
            rows,
            total: q.len(),
            first,
            selected: (count > 0).then(|| sel - first),
            empty,
        },
    );
    if let Some(d) = detail_area {
        match q.get(sel) {
            Some(r) => {
                let (t, body) = detail(app, theme, r, now);
                draw_detail(frame, theme, d, t, body);
            }
            None => draw_detail(
                frame,
                theme,
                d,
                title(vec![Span::raw("Details")]),
                Text::from(Span::styled(
                    "The selected request shows here in full: who, what, for how long, \
                     why, and who approved it so far.",
                    theme.muted,
                )),
            ),
        }
    }
}

fn not_an_approver(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let text = match &app.me {
        None => Text::from(Span::styled(
            "Waiting for the gateway: the queue shows once it says who you are.",
            theme.muted,
        )),
        Some(me) => Text::from(vec![
            Line::from(Span::styled(
                "The queue is for approvers.",
                theme.text.add_modifier(Modifier::BOLD),
            )),
            Line::default(),
            Line::from(Span::styled(
                format!(
                    "You are signed in as {} ({}). Requests waiting for an approver's \
                     decision show here for people with the approver role.",
                    me.name,
                    if me.roles.is_empty() {
                        "no roles".to_string()
                    } else {
                        me.roles.join(", ")
                    }
                ),
                theme.muted,
            )),
            Line::from(vec![
                Span::styled("Your own requests and how they stand are on ", theme.muted),
                Span::styled("1", theme.key),
                Span::styled(" Grants.", theme.muted),
            ]),
        ]),
    };
    draw_prose(frame, theme, area, "Queue", text);
}

fn row<'a>(
    theme: &Theme,
    r: &'a AccessRequest,
    now: DateTime<Utc>,
    wide: bool,
    selected: bool,
) -> Row<'a> {
    let muted = if selected { theme.text } else { theme.muted };
    let duration = match r.extends {
        Some(_) => format!("+{}", fmt::dur(r.duration_s)),
        None => fmt::dur(r.duration_s),
    };
    let approvals = format!("{}/{}", r.approvals.len(), r.approvals_required);
    let mut cells = Vec::with_capacity(9);
    if wide {
        cells.push(Cell::from(Span::styled(r.id.as_str(), muted)));
    }
    cells.push(Cell::from(Span::styled(
        r.requester.as_str(),
        theme.text.add_modifier(Modifier::BOLD),
    )));
    cells.push(Cell::from(r.service.as_str()));
    cells.push(Cell::from(fmt::caps(&r.capabilities, wide)));
    cells.push(Cell::from(duration));
    if wide {
        cells.push(Cell::from(Line::from(vec![
            Span::styled(
                fmt::dots(r.approvals.len(), r.approvals_required as usize),
                theme.accent,
            ),
            Span::raw(" "),
            Span::raw(approvals),
        ])));
    } else {
        cells.push(Cell::from(Span::styled(approvals, theme.accent)));
    }
    cells.push(Cell::from(Span::styled(fmt::age(now, r.created_at), muted)));
    if wide {
        cells.push(Cell::from(Span::styled(
            r.ticket.as_deref().unwrap_or(""),
            theme.accent,
        )));
    }
    cells.push(Cell::from(fmt::first_line(&r.reason)));
    Row::new(cells).style(theme.text)
}

fn detail<'a>(
    app: &'a App,
    theme: &Theme,
    r: &'a AccessRequest,
    now: DateTime<Utc>,
) -> (Line<'a>, Text<'a>) {
    let label = |s: &'static str| Span::styled(s, theme.muted);
    let mut head = vec![
        Span::styled(
            r.requester.as_str(),
            theme.text.add_modifier(Modifier::BOLD),
        ),
        label(" wants "),
        Span::raw(fmt::caps(&r.capabilities, true)),
        label(" on "),
        Span::styled(r.service.as_str(), theme.text.add_modifier(Modifier::BOLD)),
        label(" for "),
        Span::raw(fmt::dur(r.duration_s)),
    ];
    if let Some(t) = r.ticket.as_deref() {
        head.push(label(" · ticket "));
        head.push(Span::styled(t, theme.accent));
    } else {
        head.push(label(" · no ticket"));
    }
    let mut lines = vec![Line::from(head)];
    if let Some(gid) = r.extends.as_deref() {
        let mut ext = vec![label("extends "), Span::raw(gid)];
        if let Some(g) = app.grants.get(gid) {
            ext.push(label(", which has "));
            let left = fmt::secs_until(now, g.expires_at);
            ext.push(Span::styled(
                format!("{} left", fmt::countdown(now, g.expires_at)),
                fmt::countdown_style(theme, left),
            ));
        }
        lines.push(Line::from(ext));
    }
    let mut appr = vec![
        label("approvals "),
        Span::styled(
            format!("{} of {}", r.approvals.len(), r.approvals_required),
            theme.accent,
        ),
    ];
    if r.approvals.is_empty() {
        appr.push(label(": none yet"));
    }
    for a in &r.approvals {
        appr.push(label(" · "));
        appr.push(Span::styled(format!("✓ {}", a.by), theme.ok));
        appr.push(Span::styled(
            format!(" {} ago", fmt::age(now, a.at)),
            theme.muted,
        ));
        if let Some(c) = a.comment.as_deref() {
            appr.push(Span::raw(format!(" “{}”", fmt::first_line(c))));
        }
    }
    lines.push(Line::from(appr));
    let mut reason = r.reason.lines();
    lines.push(Line::from(vec![
        label("why: "),
        Span::raw(reason.next().unwrap_or("")),
    ]));
    lines.extend(reason.map(|l| Line::from(format!("     {l}"))));
    let mut keys = vec![
        label("asked "),
        Span::raw(format!("{} ago", fmt::age(now, r.created_at))),
        label(" · lapses undecided in "),
        Span::raw(fmt::countdown(now, r.pending_until)),
    ];
    if app.read_only {
        keys.push(label(" · read-only console: a and d are off"));
    } else {
        keys.push(label(" · "));
        keys.push(Span::styled("a", theme.key));
        keys.push(label(" approve · "));
        keys.push(Span::styled("d", theme.key));
        keys.push(label(" deny"));
    }
    lines.push(Line::from(keys));
    (
        title(vec![Span::raw("Request "), Span::raw(r.id.as_str())]),
        Text::from(lines),
    )
}
