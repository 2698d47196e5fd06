//! The new-request form (`n`): service, capabilities, duration, a
//! multi-line reason, ticket and, where policy allows it, break-glass. The
//! focused field is marked (`›` and the focus style); each field's error
//! from the last submit sits right under it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType};

use super::fmt;
use super::overlays::{centered, cursor, frame_box, hint};
use crate::console::app::{App, FormField, RequestForm};
use crate::console::theme::Theme;
use crate::protocol::CatalogService;

/// Width of the label column.
const LABEL_W: u16 = 16;
/// Most lines of reason shown at once (the text area scrolls).
const REASON_LINES: u16 = 5;

/// One row of the form: a field's line(s) and its error, or the reason box.
enum Part<'a> {
    Lines(Vec<Line<'a>>),
    Reason { error: Option<&'a str> },
}

fn label(name: &'static str, focused: bool, theme: &Theme) -> Span<'static> {
    if focused {
        Span::styled(
            format!("› {name:<w$}", w = LABEL_W as usize - 2),
            theme.focus,
        )
    } else {
        Span::styled(
            format!("  {name:<w$}", w = LABEL_W as usize - 2),
            theme.muted,
        )
    }
}

fn indent() -> Span<'static> {
    Span::raw(" ".repeat(LABEL_W as usize))
}

fn error_line<'a>(form: &'a RequestForm, key: &str, theme: &Theme) -> Option<Line<'a>> {
    form.errors
        .get(key)
        .map(|e| Line::from(vec![indent(), Span::styled(e.as_str(), theme.critical)]))
}

fn approvals_text(svc: &CatalogService) -> String {
    if svc.auto_approve {
        "approved at once for you".to_string()
    } else if svc.approvals_required == 1 {
        "1 approval needed".to_string()
    } else {
        format!("{} approvals needed", svc.approvals_required)
    }
}

pub(super) fn draw(frame: &mut Frame, app: &App, theme: &Theme, form: &RequestForm, area: Rect) {
    let w = area.width.saturating_sub(4).min(80);
    let max_h = area.height.saturating_sub(2);
    let value_w = w.saturating_sub(4 + LABEL_W) as usize;
    let focus = form.focus;
    let Some(svc) = app.catalog.get(form.service) else {
        let rect = centered(area, w, 3);
        let inner = frame_box(
            frame,
            theme,
            rect,
            Line::from(" New access request "),
            None,
            theme.border,
        );
        frame.render_widget(
            Line::from(Span::styled(" No services you may request.", theme.muted)),
            inner,
        );
        return;
    };
    let mut parts: Vec<Part> = Vec::with_capacity(8);

    // Service: the choice, then what the catalog says about it.
    let on = focus == FormField::Service;
    let mut line = vec![label("Service", on, theme)];
    if on {
        line.push(Span::styled(format!("‹ {} ›", svc.name), theme.focus));
        line.push(Span::styled(
            format!(
                "  {} of {} · ←/→ to change",
                form.service + 1,
                app.catalog.len()
            ),
            theme.muted,
        ));
    } else {
        line.push(Span::styled(
            svc.name.as_str(),
            theme.text.add_modifier(Modifier::BOLD),
        ));
    }
    let mut info = format!(
        "up to {} · {}",
        fmt::dur(svc.max_duration_s),
        approvals_text(svc)
    );
    if svc.break_glass {
        info.push_str(" · break-glass allowed");
    }
    if !svc.description.is_empty() {
        info.push_str(" · ");
        info.push_str(&svc.description);
    }
    let mut lines = vec![
        Line::from(line),
        Line::from(vec![
            indent(),
            Span::styled(fmt::fit(&info, value_w).into_owned(), theme.muted),
        ]),
    ];
    lines.extend(error_line(form, "service", theme));
    parts.push(Part::Lines(lines));

    // Capabilities: checkboxes, the one under the cursor marked when focused.
    let on = focus == FormField::Capabilities;
    let mut line = vec![label("Capabilities", on, theme)];
    for (i, (cap, ticked)) in form.caps.iter().enumerate() {
        if i > 0 {
            line.push(Span::raw("   "));
        }
        let mark = if *ticked { "[x] " } else { "[ ] " };
        let style = if on && i == form.cap_cursor {
            theme.focus.add_modifier(Modifier::REVERSED)
        } else if *ticked {
            theme.text
        } else {
            theme.muted
        };
        line.push(Span::styled(format!("{mark}{cap}"), style));
    }
    if on {
        line.push(Span::styled("  space ticks", theme.muted));
    }
    let mut lines = vec![Line::from(line)];
    lines.extend(error_line(form, "capabilities", theme));
    parts.push(Part::Lines(lines));

    // Duration, with the service's bounds beside it.
    let on = focus == FormField::Duration;
    let mut line = vec![
        label("Duration", on, theme),
        Span::styled(
            form.duration.as_str(),
            if on { theme.focus } else { theme.text },
        ),
    ];
    if on {
        line.push(cursor(theme));
    }
    let bounds = if svc.min_duration_s > 0 {
        format!(
            "   {} to {}, e.g. 30m or 1h30m",
            fmt::dur(svc.min_duration_s),
            fmt::dur(svc.max_duration_s)
        )
    } else {
        format!(
            "   at most {}, e.g. 30m or 1h30m",
            fmt::dur(svc.max_duration_s)
        )
    };
    line.push(Span::styled(bounds, theme.muted));
    let mut lines = vec![Line::from(line)];
    lines.extend(error_line(form, "duration", theme));
    parts.push(Part::Lines(lines));

    parts.push(Part::Reason {
        error: form.errors.get("reason").map(String::as_str),
    });

    // Ticket.
    let on = focus == FormField::Ticket;
    let mut line = vec![label("Ticket", on, theme)];
    if form.ticket.is_empty() && !on {
        line.push(Span::styled("optional, e.g. INC-4521", theme.muted));
    } else {
        line.push(Span::styled(
            form.ticket.as_str(),
            if on { theme.focus } else { theme.text },
        ));
    }
    if on {
        line.push(cursor(theme));
        if form.ticket.is_empty() {
            line.push(Span::styled("  optional, e.g. INC-4521", theme.muted));
        }
    }
    let mut lines = vec![Line::from(line)];
    lines.extend(error_line(form, "ticket", theme));
    parts.push(Part::Lines(lines));

    // Break-glass: a toggle only where the catalog allows it.
    let on = focus == FormField::BreakGlass;
    let bg_error = form.errors.contains_key("break_glass");
    if svc.break_glass || on || bg_error {
        let mut line = vec![label("Break-glass", on, theme)];
        if svc.break_glass {
            let (mark, style) = if form.break_glass {
                ("[x] ", theme.critical)
            } else {
                ("[ ] ", if on { theme.focus } else { theme.text })
            };
            line.push(Span::styled(
                format!("{mark}access now, no approval"),
                style,
            ));
            line.push(Span::styled(
                if on {
                    "  space toggles · every lead is alerted"
                } else {
                    "  every lead is alerted"
                },
                theme.muted,
            ));
        } else {
            line.push(Span::styled(
                "not allowed for you on this service",
                theme.muted,
            ));
        }
        let mut lines = vec![Line::from(line)];
        lines.extend(error_line(form, "break_glass", theme));
        parts.push(Part::Lines(lines));
    }

    // Size the reason box to what is left, within bounds.
    let fixed: u16 = parts
        .iter()
        .map(|p| match p {
            Part::Lines(l) => l.len() as u16,
            Part::Reason { error } => 3 + u16::from(error.is_some()),
        })
        .sum();
    let inner_max = max_h.saturating_sub(2);
    let reason_lines = inner_max.saturating_sub(fixed).clamp(1, REASON_LINES);
    let h = fixed + reason_lines + 2;

    let rect = centered(area, w, h);
    let (title_text, border) = if form.break_glass {
        (" New access request · BREAK-GLASS ", theme.critical)
    } else {
        (" New access request ", theme.focus)
    };
    let hint = hint(
        theme,
        &[
            ("tab", "next field"),
            ("enter/ctrl-s", "submit"),
            ("esc", "cancel"),
        ],
    );
    let inner = frame_box(
        frame,
        theme,
        rect,
        Line::from(title_text),
        Some(hint),
        border,
    );
    let inner = Rect {
        x: inner.x + 1,
        width: inner.width.saturating_sub(1),
        ..inner
    };
    let mut y = inner.y;
    let bottom = inner.bottom();
    let put = |frame: &mut Frame, line: Line, y: &mut u16| {
        if *y < bottom {
            frame.render_widget(
                line,
                Rect {
                    y: *y,
                    height: 1,
                    ..inner
                },
            );
            *y += 1;
        }
    };
    for part in parts {
        match part {
            Part::Lines(lines) => {
                for l in lines {
                    put(frame, l, &mut y);
                }
            }
            Part::Reason { error } => {
                let on = focus == FormField::Reason;
                let mut line = vec![label("Reason", on, theme)];
                if on {
                    line.push(Span::styled(
                        "enter: new line · ctrl-s: submit",
                        theme.muted,
                    ));
                }
                put(frame, Line::from(line), &mut y);
                let box_h = (reason_lines + 2).min(bottom.saturating_sub(y));
                if box_h < 3 {
                    continue;
                }
                let boxed = Rect {
                    x: inner.x + 2,
                    y,
                    width: inner.width.saturating_sub(3),
                    height: box_h,
                };
                let block = Block::bordered()
                    .border_type(BorderType::Plain)
                    .border_style(if on { theme.focus } else { theme.border });
                let text_area = block.inner(boxed);
                frame.render_widget(block, boxed);
                frame.render_widget(&form.reason, text_area);
                if !on {
                    hide_cursor(frame, text_area);
                }
                y += box_h;
                if let Some(e) = error {
                    put(
                        frame,
                        Line::from(vec![Span::raw("  "), Span::styled(e, theme.critical)]),
                        &mut y,
                    );
                }
            }
        }
    }
}

/// The text area always draws its cursor (reversed); an unfocused field
/// should not look like it takes keys.
fn hide_cursor(frame: &mut Frame, area: Rect) {
    let buf = frame.buffer_mut();
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            if let Some(cell) = buf.cell_mut((x, y)) {
                cell.modifier.remove(Modifier::REVERSED);
            }
        }
    }
}
