//! The Logs and Metrics panes, until their streams land: what will show
//! there, and which of my grants cover it right now.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Paragraph, Wrap};

use super::{fmt, pane_block, title};
use crate::console::app::{App, Tab};
use crate::console::theme::Theme;
use crate::protocol::Capability;

pub(super) fn draw(frame: &mut Frame, app: &App, theme: &Theme, area: Rect, tab: Tab) {
    let (cap, what) = match tab {
        Tab::Metrics => (
            Capability::MetricsRead,
            "Charts of the metrics of the services your grants cover will show here: \
             request rate, errors and latency over time, drawn to the width of the screen.",
        ),
        _ => (
            Capability::LogsRead,
            "The live logs of the services your grants cover will show here, redacted by \
             the gateway: follow, pause, search, filter by level, wrap, copy a line.",
        ),
    };
    let now = app.server_now();
    let covering: Vec<_> = app
        .my_active_grants()
        .into_iter()
        .filter(|g| g.capabilities.contains(&cap))
        .collect();
    let mut lines = vec![
        Line::from(Span::styled(what, theme.text)),
        Line::from(Span::styled(
            "(This pane is being built; the gateway already enforces who may see what.)",
            theme.muted,
        )),
        Line::default(),
    ];
    if covering.is_empty() {
        lines.push(Line::from(vec![
            Span::styled(
                format!("None of your grants covers {cap}. Press "),
                theme.muted,
            ),
            Span::styled("n", theme.key),
            Span::styled(" to ask for it.", theme.muted),
        ]));
    } else {
        lines.push(Line::from(Span::styled(
            format!("Your grants that cover {cap}:"),
            theme.text.add_modifier(Modifier::BOLD),
        )));
        let name_w = covering
            .iter()
            .map(|g| fmt::width(&g.service))
            .max()
            .unwrap_or(0);
        for g in &covering {
            let left = fmt::secs_until(now, g.expires_at);
            let mut spans = vec![
                Span::raw("  "),
                Span::styled(
                    format!("{:<name_w$}", g.service),
                    theme.text.add_modifier(Modifier::BOLD),
                ),
                Span::raw("  "),
                Span::styled(
                    format!("{} left", fmt::countdown(now, g.expires_at)),
                    fmt::countdown_style(theme, left),
                ),
            ];
            if g.break_glass {
                spans.push(Span::styled("  break-glass", theme.critical));
            }
            lines.push(Line::from(spans));
        }
    }
    let block = pane_block(title(vec![Span::raw(tab.title())]), theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let text_area = Rect {
        x: inner.x + 2,
        y: inner.y + 1,
        width: inner.width.saturating_sub(4),
        height: inner.height.saturating_sub(1),
    };
    frame.render_widget(
        Paragraph::new(Text::from(lines)).wrap(Wrap { trim: false }),
        text_area,
    );
}
