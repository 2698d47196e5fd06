//! Renders the console's state; never awaits, never mutates.

use ratatui::Frame;

use super::app::{App, Tab};
use super::theme::Theme;

/// Screen row of the tab titles (for mouse clicks).
pub const TAB_ROW: u16 = 1;
/// Screen row of a pane's first data row (for mouse clicks).
pub const FIRST_ROW_Y: u16 = 4;

/// A tab's title as shown, with its key and any badge (e.g. `2 Queue (3)`).
pub fn tab_label(app: &App, tab: Tab) -> String {
    let n = tab.index() + 1;
    match tab {
        Tab::Queue if !app.queue().is_empty() => format!("{n} {} ({})", tab.title(), app.queue().len()),
        _ => format!("{n} {}", tab.title()),
    }
}

pub fn draw(frame: &mut Frame, app: &App, theme: &Theme) {
    let _ = (frame, app, theme);
}
