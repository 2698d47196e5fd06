//! Small text helpers shared by the views: widths, truncation, ages,
//! countdowns and gauges. Pure functions of their arguments.

use std::borrow::Cow;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::console::theme::Theme;
use crate::duration::{format_countdown, format_duration};
use crate::protocol::Capability;

/// Under this many seconds left a countdown turns `warn` and offers `e`.
pub const WARN_SECS: i64 = 5 * 60;
/// Under this many seconds left a countdown turns `critical`.
pub const CRITICAL_SECS: i64 = 60;

/// Columns a character takes on screen.
pub fn char_width(c: char) -> usize {
    let mut buf = [0u8; 4];
    let s: &str = c.encode_utf8(&mut buf);
    Span::raw(s).width()
}

/// Columns a string takes on screen.
pub fn width(s: &str) -> usize {
    Span::raw(s).width()
}

/// `s` cut to `max` columns, ending in `…` when something was cut.
pub fn fit(s: &str, max: usize) -> Cow<'_, str> {
    if width(s) <= max {
        return Cow::Borrowed(s);
    }
    if max == 0 {
        return Cow::Borrowed("");
    }
    let mut out = String::with_capacity(max + 3);
    let mut used = 0;
    for c in s.chars() {
        let w = char_width(c);
        if used + w > max - 1 {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    Cow::Owned(out)
}

/// The first line of a possibly multi-line text.
pub fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("").trim_end()
}

/// How long ago, in one unit: `45s`, `3m`, `2h`, `4d`.
pub fn age(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let s = (now - at).num_seconds().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// Whole seconds from `now` to `until` (negative when past).
pub fn secs_until(now: DateTime<Utc>, until: DateTime<Utc>) -> i64 {
    (until - now).num_seconds()
}

/// Time left as text (`4m12s`), `0s` when past.
pub fn countdown(now: DateTime<Utc>, until: DateTime<Utc>) -> String {
    format_countdown(Duration::from_secs(secs_until(now, until).max(0) as u64))
}

/// A duration in seconds as people write it (`30m`, `1h30m`).
pub fn dur(secs: u64) -> String {
    format_duration(Duration::from_secs(secs))
}

/// The colour of a countdown with `left` seconds to go.
pub fn countdown_style(theme: &Theme, left: i64) -> Style {
    if left < CRITICAL_SECS {
        theme.critical
    } else if left < WARN_SECS {
        theme.warn
    } else {
        theme.ok
    }
}

/// `HH:MM` of a UTC time.
pub fn hhmm(t: DateTime<Utc>) -> String {
    t.format("%H:%M").to_string()
}

/// `HH:MM:SS` of a UTC time.
pub fn hhmmss(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S").to_string()
}

/// Capabilities for a table cell: `logs,metrics` when narrow, the
/// protocol names when wide.
pub fn caps(caps: &[Capability], wide: bool) -> String {
    let mut out = String::new();
    for (i, c) in caps.iter().enumerate() {
        if i > 0 {
            out.push_str(if wide { ", " } else { "," });
        }
        out.push_str(if wide {
            c.as_str()
        } else {
            match c {
                Capability::LogsRead => "logs",
                Capability::MetricsRead => "metrics",
            }
        });
    }
    out
}

const FULL: &str = "████████████████████████████████████████████████████████████████";
const EMPTY: &str = "░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░";

/// A text gauge `width` columns wide, `ratio` (0..=1) of it filled; no
/// allocation (slices of two constant bars).
pub fn gauge(ratio: f64, width: usize, filled: Style, empty: Style) -> [Span<'static>; 2] {
    let width = width.min(64);
    let ratio = if ratio.is_finite() {
        ratio.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mut n = (ratio * width as f64).round() as usize;
    if ratio > 0.0 && n == 0 {
        // Something left always shows as something.
        n = 1;
    }
    let n = n.min(width);
    // Each block is 3 bytes in UTF-8.
    [
        Span::styled(&FULL[..n * 3], filled),
        Span::styled(&EMPTY[..(width - n) * 3], empty),
    ]
}

/// Share of a grant's time still to run, 0..=1.
pub fn remaining_ratio(now: DateTime<Utc>, start: DateTime<Utc>, end: DateTime<Utc>) -> f64 {
    let total = (end - start).num_milliseconds();
    if total <= 0 {
        return 0.0;
    }
    ((end - now).num_milliseconds() as f64 / total as f64).clamp(0.0, 1.0)
}

/// Approval progress as dots: `●○` for 1 of 2.
pub fn dots(got: usize, of: usize) -> String {
    let of = of.clamp(got, 8);
    let mut s = String::with_capacity(of * 3);
    for i in 0..of {
        s.push(if i < got { '●' } else { '○' });
    }
    s
}

/// Word-wraps styled lines to `max` columns (words longer than a line are
/// cut), keeping each piece's style. For overlays, which size themselves to
/// their text.
pub fn wrap(lines: &[Line<'_>], max: usize) -> Vec<Line<'static>> {
    let max = max.max(1);
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        let mut cur: Vec<Span<'static>> = Vec::new();
        let mut used = 0;
        for span in &line.spans {
            for piece in span.content.split_inclusive(' ') {
                let mut piece = piece;
                loop {
                    let word = width(piece.trim_end());
                    if used > 0 && used + word > max {
                        out.push(Line::from(std::mem::take(&mut cur)).style(line.style));
                        used = 0;
                        piece = piece.trim_start();
                        if piece.is_empty() {
                            break;
                        }
                    }
                    if used == 0 && word > max {
                        // Cut a word that cannot fit on any line.
                        let mut cut = 0;
                        let mut w = 0;
                        for (i, c) in piece.char_indices() {
                            let cw = char_width(c);
                            if w + cw > max {
                                break;
                            }
                            w += cw;
                            cut = i + c.len_utf8();
                        }
                        let cut = cut.max(piece.chars().next().map_or(0, char::len_utf8));
                        cur.push(Span::styled(piece[..cut].to_string(), span.style));
                        out.push(Line::from(std::mem::take(&mut cur)).style(line.style));
                        piece = &piece[cut..];
                        if piece.trim_end().is_empty() {
                            break;
                        }
                        continue;
                    }
                    used += width(piece);
                    cur.push(Span::styled(piece.to_string(), span.style));
                    break;
                }
            }
        }
        out.push(Line::from(cur).style(line.style));
    }
    out
}

/// How to get `cap`, the same words on every pane that needs a grant: the
/// pane's numbered `steps`, my requests for it still waiting, and the
/// command that asks from a shell.
pub fn how_to_get(
    app: &crate::console::app::App,
    theme: &Theme,
    cap: Capability,
    steps: &[Line<'static>],
    text_w: usize,
    now: DateTime<Utc>,
) -> Vec<Line<'static>> {
    use crate::protocol::RequestState;
    let strong = theme.text.add_modifier(ratatui::style::Modifier::BOLD);
    let mut lines = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let wrapped = wrap(std::slice::from_ref(step), text_w.saturating_sub(5));
        for (j, mut part) in wrapped.into_iter().enumerate() {
            let lead = if j == 0 {
                format!("  {}. ", i + 1)
            } else {
                "     ".to_string()
            };
            part.spans.insert(0, Span::styled(lead, theme.text));
            lines.push(part);
        }
    }
    let me = app.user_name();
    let mut pending: Vec<_> = app
        .requests
        .values()
        .filter(|r| {
            r.requester == me && r.state == RequestState::Pending && r.capabilities.contains(&cap)
        })
        .collect();
    pending.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    if !pending.is_empty() {
        lines.push(Line::default());
        for r in pending.iter().take(3) {
            lines.push(Line::from(vec![
                Span::styled("  waiting: ", theme.warn),
                Span::styled(format!("{} ", r.service), strong),
                Span::styled(
                    format!(
                        "{}, {}/{} approvals, asked {} ago",
                        r.id,
                        r.approvals.len(),
                        r.approvals_required,
                        age(now, r.created_at)
                    ),
                    theme.muted,
                ),
            ]));
        }
    }
    let example = app
        .catalog
        .iter()
        .find(|s| s.capabilities.contains(&cap))
        .map_or("SERVICE", |s| s.name.as_str());
    lines.push(Line::default());
    lines.push(Line::from(Span::styled("From a shell:", theme.muted)));
    lines.push(Line::from(Span::styled(
        format!(
            "  breakglass request {example} --cap {} --for 30m --reason \"…\"",
            cap.as_str()
        ),
        theme.muted,
    )));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_with_an_ellipsis_to_the_exact_width() {
        assert_eq!(fit("payments", 20), "payments");
        assert_eq!(fit("payments-gateway", 8), "payment…");
        assert_eq!(width(&fit("payments-gateway", 8)), 8);
        assert_eq!(fit("abc", 0), "");
    }

    #[test]
    fn ages_read_in_one_unit() {
        let now = DateTime::parse_from_rfc3339("2026-11-24T03:00:00Z")
            .unwrap()
            .to_utc();
        let ago = |s: i64| age(now, now - chrono::Duration::seconds(s));
        assert_eq!(ago(5), "5s");
        assert_eq!(ago(185), "3m");
        assert_eq!(ago(7300), "2h");
        assert_eq!(ago(3 * 86400), "3d");
        assert_eq!(ago(-10), "0s");
    }

    #[test]
    fn a_gauge_always_fills_its_width_and_shows_any_time_left() {
        let s = Style::new();
        for (r, w) in [
            (0.0, 10),
            (0.001, 10),
            (0.5, 7),
            (1.0, 10),
            (2.0, 5),
            (f64::NAN, 4),
        ] {
            let [a, b] = gauge(r, w, s, s);
            assert_eq!(a.width() + b.width(), w);
        }
        assert_eq!(gauge(0.001, 10, s, s)[0].width(), 1);
        assert_eq!(gauge(0.0, 10, s, s)[0].width(), 0);
    }

    #[test]
    fn wrapped_text_keeps_words_whole_and_fits_the_width() {
        let text = |ls: &[Line]| -> Vec<String> { ls.iter().map(|l| l.to_string()).collect() };
        let l = [Line::from(vec![
            Span::raw("Approve req-1 from "),
            Span::raw("bob: payments logs:read for 30m?"),
        ])];
        let w = wrap(&l, 20);
        assert!(
            text(&w).iter().all(|l| width(l.trim_end()) <= 20),
            "{:?}",
            text(&w)
        );
        assert_eq!(text(&w)[0].trim_end(), "Approve req-1 from");
        let long = [Line::from("abcdefghijklmnopqrstuvwxyz")];
        assert_eq!(
            text(&wrap(&long, 10)),
            ["abcdefghij", "klmnopqrst", "uvwxyz"]
        );
        assert_eq!(wrap(&[Line::default()], 10).len(), 1);
    }
}
