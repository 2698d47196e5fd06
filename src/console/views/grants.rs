//! The Grants pane: my running grants (soonest to expire first) with a
//! countdown and gauge each, then my requests and how they stand.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Cell, Row};

use super::fmt::{self, WARN_SECS};
use super::{List, draw_detail, draw_list, split_list, table_capacity, title, wide, window};
use crate::console::app::{App, GrantsRow, Tab};
use crate::console::theme::Theme;
use crate::protocol::{AccessRequest, Grant, GrantState, RequestState};

pub(super) fn draw(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let rows = app.grants_rows();
    let (table_area, detail_area) = split_list(Tab::Grants, area);
    let (first, count, sel) = window(
        rows.len(),
        app.selected(Tab::Grants.title()),
        table_capacity(table_area),
    );
    let now = app.server_now();
    let wide = wide(area);
    let gauge_w = if wide { 20 } else { 8 };
    let (header, widths) = if wide {
        (
            vec![
                "ID",
                "SERVICE",
                "ACCESS",
                "STATE",
                "TIME",
                "REMAINING",
                "DETAIL",
            ],
            vec![
                Constraint::Length(16),
                Constraint::Length(16),
                Constraint::Length(23),
                Constraint::Length(11),
                Constraint::Length(8),
                Constraint::Length(gauge_w),
                Constraint::Fill(1),
            ],
        )
    } else {
        (
            vec!["SERVICE", "ACCESS", "STATE", "TIME", "LEFT", "DETAIL"],
            vec![
                Constraint::Length(12),
                Constraint::Length(12),
                Constraint::Length(11),
                Constraint::Length(7),
                Constraint::Length(gauge_w),
                Constraint::Fill(1),
            ],
        )
    };
    let visible: Vec<Row> = rows[first..first + count]
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let selected = first + i == sel;
            match row {
                GrantsRow::Grant(g) => grant_row(app, theme, g, now, wide, gauge_w, selected),
                GrantsRow::Request(r) => request_row(app, theme, r, now, wide, selected),
            }
        })
        .collect();

    let running = rows
        .iter()
        .filter(|r| matches!(r, GrantsRow::Grant(_)))
        .count();
    let pending = rows
        .iter()
        .filter(|r| matches!(r, GrantsRow::Request(r) if r.state == RequestState::Pending))
        .count();
    let mut parts = vec![Span::raw("Your access")];
    if running > 0 {
        parts.push(Span::raw(" · "));
        parts.push(Span::styled(format!("{running} running"), theme.ok));
    }
    if pending > 0 {
        parts.push(Span::raw(" · "));
        parts.push(Span::styled(format!("{pending} pending"), theme.warn));
    }
    let empty = if app.connected() || app.me.is_some() {
        Text::from(vec![
            Line::from(Span::styled(
                "You hold no access to production and have no open requests.",
                theme.text,
            )),
            Line::from(vec![
                Span::styled("Press ", theme.muted),
                Span::styled("n", theme.key),
                Span::styled(
                    " to ask for it: a service, what you need (logs:read, metrics:read), \
                     for how long, and why.",
                    theme.muted,
                ),
            ]),
        ])
    } else {
        Text::from(Span::styled(
            "Waiting for the gateway: your grants and requests show here once connected.",
            theme.muted,
        ))
    };
    draw_list(
        frame,
        theme,
        table_area,
        List {
            title: title(parts),
            header,
            widths,
            rows: visible,
            total: rows.len(),
            first,
            selected: (count > 0).then(|| sel - first),
            empty,
        },
    );
    if let (Some(d), Some(row)) = (detail_area, rows.get(sel)) {
        let (t, body) = match row {
            GrantsRow::Grant(g) => grant_detail(app, theme, g, now),
            GrantsRow::Request(r) => request_detail(app, theme, r, now),
        };
        draw_detail(frame, theme, d, t, body);
    } else if let Some(d) = detail_area {
        draw_detail(
            frame,
            theme,
            d,
            title(vec![Span::raw("Details")]),
            Text::from(Span::styled(
                "Every grant counts down here; its colour changes under 5 minutes and \
                 again under 1, and e asks for more time.",
                theme.muted,
            )),
        );
    }
}

/// My pending request that would extend grant `g`, if any.
fn extension_of<'a>(app: &'a App, g: &Grant) -> Option<&'a AccessRequest> {
    app.requests
        .values()
        .find(|r| r.state == RequestState::Pending && r.extends.as_deref() == Some(g.id.as_str()))
}

fn grant_row<'a>(
    app: &App,
    theme: &Theme,
    g: &'a Grant,
    now: DateTime<Utc>,
    wide: bool,
    gauge_w: u16,
    selected: bool,
) -> Row<'a> {
    let muted = if selected { theme.text } else { theme.muted };
    let left = fmt::secs_until(now, g.expires_at);
    let colour = fmt::countdown_style(theme, left);
    let state = if g.break_glass {
        Span::styled("BREAK-GLASS", theme.critical)
    } else {
        Span::styled("active", theme.ok)
    };
    let note = if left < WARN_SECS {
        Span::styled("e: extend", theme.warn.add_modifier(Modifier::BOLD))
    } else if extension_of(app, g).is_some() {
        Span::styled("extension asked", theme.accent)
    } else {
        match app
            .requests
            .get(&g.request_id)
            .and_then(|r| r.ticket.as_deref())
        {
            Some(t) => Span::styled(t.to_string(), muted),
            None => Span::raw(""),
        }
    };
    let ratio = fmt::remaining_ratio(now, g.starts_at, g.expires_at);
    let bar = Line::from(fmt::gauge(ratio, gauge_w as usize, colour, theme.muted).to_vec());
    let mut cells = Vec::with_capacity(7);
    if wide {
        cells.push(Cell::from(Span::styled(g.id.as_str(), muted)));
    }
    cells.push(Cell::from(Span::styled(
        g.service.as_str(),
        theme.text.add_modifier(Modifier::BOLD),
    )));
    cells.push(Cell::from(fmt::caps(&g.capabilities, wide)));
    cells.push(Cell::from(state));
    cells.push(Cell::from(Span::styled(
        fmt::countdown(now, g.expires_at),
        colour,
    )));
    cells.push(Cell::from(bar));
    cells.push(Cell::from(note));
    Row::new(cells).style(theme.text)
}

/// How a request of mine stands, as a short word and its style.
fn request_state<'a>(
    app: &'a App,
    theme: &Theme,
    r: &AccessRequest,
) -> (&'static str, Style, Option<&'a Grant>) {
    match r.state {
        RequestState::Pending => ("pending", theme.warn, None),
        RequestState::Denied => ("denied", theme.critical, None),
        RequestState::Cancelled => ("cancelled", theme.muted, None),
        RequestState::Expired => ("expired", theme.muted, None),
        RequestState::Approved => {
            let grant = r.grant_id.as_ref().and_then(|id| app.grants.get(id));
            match grant.map(|g| g.state) {
                Some(GrantState::Revoked) => ("revoked", theme.critical, grant),
                Some(GrantState::Expired) => ("ended", theme.muted, grant),
                // Active in the store but past its end: the gateway's
                // expiry event is on its way.
                Some(GrantState::Active) => ("ended", theme.muted, grant),
                None => ("approved", theme.ok, None),
            }
        }
    }
}

fn request_row<'a>(
    app: &'a App,
    theme: &Theme,
    r: &'a AccessRequest,
    now: DateTime<Utc>,
    wide: bool,
    selected: bool,
) -> Row<'a> {
    let muted = if selected { theme.text } else { theme.muted };
    let (word, style, grant) = request_state(app, theme, r);
    let progress = if r.state == RequestState::Pending {
        Line::from(vec![
            Span::styled(
                fmt::dots(r.approvals.len(), r.approvals_required as usize),
                theme.accent,
            ),
            Span::styled(
                format!(" {}/{}", r.approvals.len(), r.approvals_required),
                muted,
            ),
        ])
    } else {
        Line::default()
    };
    let detail = match (r.state, grant) {
        (RequestState::Denied, _) => Span::styled(
            format!(
                "by {}: {}",
                r.denied_by.as_deref().unwrap_or("?"),
                fmt::first_line(r.deny_reason.as_deref().unwrap_or(""))
            ),
            style,
        ),
        (_, Some(g)) if g.state == GrantState::Revoked => Span::styled(
            format!(
                "by {}: {}",
                g.revoked_by.as_deref().unwrap_or("?"),
                fmt::first_line(g.revoke_reason.as_deref().unwrap_or(""))
            ),
            style,
        ),
        _ => {
            let reason = fmt::first_line(&r.reason);
            match r.extends {
                Some(_) => Span::styled(format!("+{}: {reason}", fmt::dur(r.duration_s)), muted),
                None => Span::styled(reason, muted),
            }
        }
    };
    let mut cells = Vec::with_capacity(7);
    if wide {
        cells.push(Cell::from(Span::styled(r.id.as_str(), muted)));
    }
    cells.push(Cell::from(r.service.as_str()));
    cells.push(Cell::from(fmt::caps(&r.capabilities, wide)));
    cells.push(Cell::from(Span::styled(word, style)));
    cells.push(Cell::from(Span::styled(
        format!("{} ago", fmt::age(now, r.created_at)),
        muted,
    )));
    cells.push(Cell::from(progress));
    cells.push(Cell::from(detail));
    Row::new(cells).style(theme.text)
}

fn label(text: &'static str, theme: &Theme) -> Span<'static> {
    Span::styled(text, theme.muted)
}

fn grant_detail<'a>(
    app: &'a App,
    theme: &Theme,
    g: &'a Grant,
    now: DateTime<Utc>,
) -> (Line<'a>, Text<'a>) {
    let left = fmt::secs_until(now, g.expires_at);
    let colour = fmt::countdown_style(theme, left);
    let total = (g.expires_at - g.starts_at).num_seconds().max(0) as u64;
    let mut lines = vec![Line::from(vec![
        Span::styled(g.service.as_str(), theme.text.add_modifier(Modifier::BOLD)),
        Span::raw("  "),
        Span::raw(fmt::caps(&g.capabilities, true)),
        Span::styled("  until ", theme.muted),
        Span::raw(format!("{} UTC", fmt::hhmm(g.expires_at))),
        Span::styled(" · ", theme.muted),
        Span::styled(
            format!("{} left", fmt::countdown(now, g.expires_at)),
            colour,
        ),
        Span::styled(format!(" of {}", fmt::dur(total)), theme.muted),
    ])];
    let request = app.requests.get(&g.request_id);
    let mut from = vec![label("from ", theme), Span::raw(g.request_id.as_str())];
    if let Some(t) = request.and_then(|r| r.ticket.as_deref()) {
        from.push(label(" · ticket ", theme));
        from.push(Span::styled(t, theme.accent));
    }
    if let Some(r) = request {
        from.push(label(" · why: ", theme));
        from.push(Span::raw(fmt::first_line(&r.reason)));
    }
    lines.push(Line::from(from));
    if let Some(ext) = extension_of(app, g) {
        lines.push(Line::from(vec![
            Span::styled("Extension asked: ", theme.accent),
            Span::raw(format!(
                "+{} ({}, {}/{} approvals)",
                fmt::dur(ext.duration_s),
                ext.id,
                ext.approvals.len(),
                ext.approvals_required
            )),
        ]));
    } else if left < WARN_SECS {
        lines.push(Line::from(vec![
            Span::styled("Runs out soon: press ", theme.warn),
            Span::styled("e", theme.key),
            Span::styled(" to ask for more time before it ends.", theme.warn),
        ]));
    }
    if g.break_glass {
        lines.push(Line::from(Span::styled(
            "Break-glass: every lead was alerted; a lead reviews this use afterwards.",
            theme.critical,
        )));
    }
    (
        super::title(vec![Span::raw("Grant "), Span::raw(g.id.as_str())]),
        Text::from(lines),
    )
}

fn request_detail<'a>(
    app: &'a App,
    theme: &Theme,
    r: &'a AccessRequest,
    now: DateTime<Utc>,
) -> (Line<'a>, Text<'a>) {
    let (word, style, grant) = request_state(app, theme, r);
    let mut head = vec![
        Span::styled(r.service.as_str(), theme.text.add_modifier(Modifier::BOLD)),
        Span::raw("  "),
        Span::raw(fmt::caps(&r.capabilities, true)),
        label("  for ", theme),
        Span::raw(fmt::dur(r.duration_s)),
    ];
    if let Some(t) = r.ticket.as_deref() {
        head.push(label(" · ticket ", theme));
        head.push(Span::styled(t, theme.accent));
    }
    if let Some(g) = r.extends.as_deref() {
        head.push(label(" · extends ", theme));
        head.push(Span::raw(g));
    }
    let mut lines = vec![Line::from(head)];
    let mut status = vec![Span::styled(word, style.add_modifier(Modifier::BOLD))];
    match r.state {
        RequestState::Pending => {
            status.push(Span::raw(format!(
                ": {} of {} approvals",
                r.approvals.len(),
                r.approvals_required
            )));
            for a in &r.approvals {
                status.push(label(" · ", theme));
                status.push(Span::styled(format!("✓ {}", a.by), theme.ok));
                if let Some(c) = a.comment.as_deref() {
                    status.push(Span::styled(
                        format!(" “{}”", fmt::first_line(c)),
                        theme.muted,
                    ));
                }
            }
            status.push(label(" · undecided it lapses in ", theme));
            status.push(Span::raw(fmt::countdown(now, r.pending_until)));
            status.push(label(" · c cancels it", theme));
        }
        RequestState::Denied => {
            status.push(Span::raw(format!(
                " by {} {} ago: ",
                r.denied_by.as_deref().unwrap_or("?"),
                fmt::age(now, r.decided_at.unwrap_or(r.created_at))
            )));
            status.push(Span::styled(
                r.deny_reason.as_deref().unwrap_or("no reason given"),
                theme.critical,
            ));
        }
        _ => {
            if let Some(g) = grant {
                status.push(label(" · grant ", theme));
                status.push(Span::raw(g.id.as_str()));
                if let Some(end) = g.ended_at {
                    status.push(label(" ended ", theme));
                    status.push(Span::raw(format!("{} ago", fmt::age(now, end))));
                }
                if g.state == GrantState::Revoked {
                    status.push(Span::raw(format!(
                        " · revoked by {}: ",
                        g.revoked_by.as_deref().unwrap_or("?")
                    )));
                    status.push(Span::styled(
                        g.revoke_reason.as_deref().unwrap_or(""),
                        theme.critical,
                    ));
                }
            }
        }
    }
    lines.push(Line::from(status));
    let mut reason = r.reason.lines();
    lines.push(Line::from(vec![
        label("why: ", theme),
        Span::raw(reason.next().unwrap_or("")),
    ]));
    lines.extend(reason.map(|l| Line::from(format!("     {l}"))));
    (
        super::title(vec![Span::raw("Request "), Span::raw(r.id.as_str())]),
        Text::from(lines),
    )
}
