//! The Audit pane: the gateway's trail, newest first, with the filter in
//! the title and the selected entry in full under the table.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Cell, Row};
use serde_json::Value;

use super::{List, draw_detail, draw_list, fmt, split_list, table_capacity, title, wide, window};
use crate::console::app::{App, Tab};
use crate::console::theme::Theme;
use crate::protocol::AuditEntry;

pub(super) fn draw(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let entries = app.audit_view();
    let (table_area, detail_area) = split_list(Tab::Audit, area);
    let (first, count, sel) = window(
        entries.len(),
        app.selected(Tab::Audit.title()),
        table_capacity(table_area),
    );
    let wide = wide(area);
    let (header, widths) = if wide {
        (
            vec!["TIME", "ACTOR", "ORIGIN", "ACTION", "TARGET", "DETAIL"],
            vec![
                Constraint::Length(8),
                Constraint::Length(12),
                Constraint::Length(16),
                Constraint::Length(16),
                Constraint::Length(16),
                Constraint::Fill(1),
            ],
        )
    } else {
        (
            vec!["TIME", "ACTOR", "ACTION", "TARGET", "DETAIL"],
            vec![
                Constraint::Length(8),
                Constraint::Length(9),
                Constraint::Length(15),
                Constraint::Length(16),
                Constraint::Fill(1),
            ],
        )
    };
    let rows: Vec<Row> = entries[first..first + count]
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let muted = if first + i == sel {
                theme.text
            } else {
                theme.muted
            };
            let action_style = if is_alarming(&e.action) {
                theme.critical
            } else {
                theme.accent
            };
            let mut cells = Vec::with_capacity(6);
            cells.push(Cell::from(Span::styled(fmt::hhmmss(e.at), muted)));
            cells.push(Cell::from(e.actor.as_str()));
            if wide {
                cells.push(Cell::from(Span::styled(e.origin.as_str(), muted)));
            }
            cells.push(Cell::from(Span::styled(e.action.as_str(), action_style)));
            cells.push(Cell::from(e.target.as_str()));
            cells.push(Cell::from(Span::styled(summary(&e.detail), muted)));
            Row::new(cells).style(theme.text)
        })
        .collect();
    let mut parts = vec![Span::raw("Audit")];
    match &app.journal {
        Some(j) if j.error.is_some() => {
            parts.push(Span::styled(
                " · your journal: NOT WRITABLE",
                theme.critical,
            ));
        }
        Some(j) => parts.push(Span::styled(
            format!(
                " · your journal: {} entries, {}",
                j.entries,
                if j.queued == 0 {
                    "all at the gateway".to_string()
                } else {
                    format!("{} queued", j.queued)
                }
            ),
            theme.muted,
        )),
        None => {}
    }
    match &app.chain {
        Some((true, _)) => parts.push(Span::styled(" · chain intact", theme.ok)),
        Some((false, summary)) => {
            parts.push(Span::styled(format!(" · chain {summary}"), theme.critical))
        }
        None => {}
    }
    if app.audit_filter.is_empty() {
        parts.push(Span::styled(
            format!(" · {} entries, newest first", entries.len()),
            theme.muted,
        ));
    } else {
        parts.push(Span::raw(" · filter "));
        parts.push(Span::styled(
            format!("“{}”", app.audit_filter),
            theme.accent,
        ));
        parts.push(Span::styled(
            format!(": {} of {}", entries.len(), app.audit.len()),
            theme.muted,
        ));
    }
    let empty = if app.audit_filter.is_empty() {
        Text::from(Span::styled(
            "No audit entries yet: every decision and every access shows here as it happens.",
            theme.muted,
        ))
    } else {
        Text::from(vec![
            Line::from(Span::styled(
                format!("Nothing matches “{}”.", app.audit_filter),
                theme.text,
            )),
            Line::from(vec![
                Span::styled("Press ", theme.muted),
                Span::styled("/", theme.key),
                Span::styled(" to change the filter (esc there clears it).", theme.muted),
            ]),
        ])
    };
    draw_list(
        frame,
        theme,
        table_area,
        List {
            title: title(parts),
            header,
            widths,
            rows,
            total: entries.len(),
            first,
            selected: (count > 0).then(|| sel - first),
            empty,
        },
    );
    if let (Some(d), Some(e)) = (detail_area, entries.get(sel)) {
        draw_detail(frame, theme, d, entry_title(e), entry_body(theme, e));
    } else if let Some(d) = detail_area {
        draw_detail(
            frame,
            theme,
            d,
            title(vec![Span::raw("Entry")]),
            Text::from(Span::styled(
                "The selected entry shows here in full.",
                theme.muted,
            )),
        );
    }
}

/// Actions a lead's eye should catch in the trail.
fn is_alarming(action: &str) -> bool {
    action.contains("revoke")
        || action.contains("deny")
        || action.contains("break")
        || action.contains("error")
}

fn entry_title(e: &AuditEntry) -> Line<'_> {
    title(vec![Span::raw(format!("#{} {}", e.seq, e.id))])
}

fn entry_body<'a>(theme: &Theme, e: &'a AuditEntry) -> Text<'a> {
    let label = |s: &'static str| Span::styled(s, theme.muted);
    let hash = e.hash.get(..12).unwrap_or(&e.hash);
    Text::from(vec![
        Line::from(vec![
            Span::raw(crate::protocol::ts::format(&e.at)),
            Span::raw("  "),
            Span::raw(e.actor.as_str()),
            label(" via "),
            Span::raw(e.origin.as_str()),
            label(": "),
            Span::styled(e.action.as_str(), theme.accent),
            Span::raw(" "),
            Span::raw(e.target.as_str()),
            label(" · hash "),
            Span::styled(hash, theme.muted),
        ]),
        Line::from(Span::raw(e.detail.to_string())),
    ])
}

/// The few fields of a detail a person scans for, on one line:
/// `payments logs:read 30m pending “disk filling”`.
fn summary(detail: &Value) -> String {
    let Value::Object(map) = detail else {
        return match detail {
            Value::String(s) => fmt::first_line(s).to_string(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
    };
    let mut out = String::new();
    fn push(out: &mut String, s: &str) {
        if !s.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(s);
        }
    }
    if let Some(Value::String(s)) = map.get("service") {
        push(&mut out, s);
    }
    if let Some(Value::Array(caps)) = map.get("capabilities") {
        let caps: Vec<&str> = caps.iter().filter_map(Value::as_str).collect();
        push(&mut out, &caps.join(","));
    }
    if let Some(secs) = map.get("duration_s").and_then(Value::as_u64) {
        push(&mut out, &fmt::dur(secs));
    }
    if map.get("break_glass").and_then(Value::as_bool) == Some(true) {
        push(&mut out, "BREAK-GLASS");
    }
    if let Some(Value::String(s)) = map.get("state") {
        push(&mut out, s);
    }
    if let Some(Value::String(s)) = map.get("code") {
        push(&mut out, s);
    }
    for key in ["deny_reason", "reason", "comment", "message"] {
        if let Some(Value::String(s)) = map.get(key) {
            push(&mut out, &format!("“{}”", fmt::first_line(s)));
            break;
        }
    }
    if let Some(Value::String(s)) = map.get("ticket") {
        push(&mut out, s);
    }
    if out.is_empty() {
        // Something unfamiliar: its first fields as they are.
        for (k, v) in map.iter().take(3) {
            push(&mut out, &format!("{k}={v}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audit_detail_reads_as_a_short_line() {
        let d = serde_json::json!({
            "service": "payments", "capabilities": ["logs:read"], "duration_s": 1800,
            "reason": "disk filling\nsecond line", "ticket": "INC-1", "break_glass": false,
            "state": "pending", "approvals": 0
        });
        assert_eq!(
            summary(&d),
            "payments logs:read 30m pending “disk filling” INC-1"
        );
        assert_eq!(summary(&serde_json::json!({"x": 1})), "x=1");
        assert_eq!(summary(&Value::Null), "");
    }
}
