//! A three-row font for a chart's newest value, so that it reads from
//! across the room: digits and the signs around them (`.`, `,`, `-`, `+`,
//! `%`, `:`) in box-drawing strokes three columns wide, everything else
//! (a unit, a `k` or `M`) as ordinary text on the bottom row beside
//! them, where a reader looks for it after the figure.
//!
//! `412 ms`:
//!
//! ```text
//! ╷ ╷ ╶┐  ╶─╮
//! ╰─┤  │  ╭─╯
//!   ╵ ╶┴╴ ╰─╴ ms
//! ```
//!
//! Pure text: no terminal, no styles.

use super::logs::text_width;

/// Rows of the font.
pub const ROWS: usize = 3;

/// The glyph of `c` drawn large, top row first; None for what stays
/// small. Every row of a glyph is as wide as the others.
fn glyph(c: char) -> Option<[&'static str; ROWS]> {
    Some(match c {
        '0' => ["╭─╮", "│ │", "╰─╯"],
        '1' => ["╶┐ ", " │ ", "╶┴╴"],
        '2' => ["╶─╮", "╭─╯", "╰─╴"],
        '3' => ["╶─╮", " ─┤", "╶─╯"],
        '4' => ["╷ ╷", "╰─┤", "  ╵"],
        '5' => ["┌─╴", "└─╮", "╶─╯"],
        '6' => ["╭─╴", "├─╮", "╰─╯"],
        '7' => ["╶─┐", "  │", "  ╵"],
        '8' => ["╭─╮", "├─┤", "╰─╯"],
        '9' => ["╭─╮", "╰─┤", "╶─╯"],
        '.' => [" ", " ", "▪"],
        ',' => [" ", " ", ","],
        ':' => ["▪", " ", "▪"],
        // What `metrics::value` writes for no number is a dash too.
        '-' | '−' | '–' | '—' => ["   ", "╶─╴", "   "],
        '+' => [" ╷ ", "╶┼╴", " ╵ "],
        '%' => ["▪ ╱", " ╱ ", "╱ ▪"],
        _ => return None,
    })
}

/// One piece of the text: a large glyph, or a run of small text.
enum Piece<'a> {
    Big([&'static str; ROWS]),
    Small(&'a str),
}

/// `text` cut into large glyphs and runs of small text, in order.
fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut small_from: Option<usize> = None;
    for (i, c) in text.char_indices() {
        match glyph(c) {
            Some(g) => {
                if let Some(from) = small_from.take() {
                    out.push(Piece::Small(&text[from..i]));
                }
                out.push(Piece::Big(g));
            }
            None => {
                small_from.get_or_insert(i);
            }
        }
    }
    if let Some(from) = small_from {
        out.push(Piece::Small(&text[from..]));
    }
    out
}

impl Piece<'_> {
    fn width(&self) -> usize {
        match self {
            Piece::Big(g) => text_width(g[0]),
            Piece::Small(s) => text_width(s),
        }
    }

    /// Strokes touching strokes read as one shape: a blank column goes
    /// between two pieces unless a space already parts them.
    fn parted_from(&self, next: &Piece<'_>) -> bool {
        let ends_blank = matches!(self, Piece::Small(s) if s.ends_with(' '));
        let starts_blank = matches!(next, Piece::Small(s) if s.starts_with(' '));
        !(ends_blank || starts_blank)
    }
}

/// Columns `text` takes in the font.
pub fn width(text: &str) -> usize {
    let ps = pieces(text);
    let gaps = ps.windows(2).filter(|w| w[0].parted_from(&w[1])).count();
    ps.iter().map(Piece::width).sum::<usize>() + gaps
}

/// Whether `text` has anything to draw large (else the font adds
/// nothing to the plain text).
pub fn has_big(text: &str) -> bool {
    text.chars().any(|c| glyph(c).is_some())
}

/// `text` in the font: its rows, top first, each [`width`] columns.
pub fn render(text: &str) -> [String; ROWS] {
    let ps = pieces(text);
    let mut rows: [String; ROWS] = Default::default();
    for (k, p) in ps.iter().enumerate() {
        match p {
            Piece::Big(g) => {
                for (row, part) in rows.iter_mut().zip(g) {
                    row.push_str(part);
                }
            }
            Piece::Small(s) => {
                let blank = " ".repeat(text_width(s));
                rows[0].push_str(&blank);
                rows[1].push_str(&blank);
                rows[2].push_str(s);
            }
        }
        if ps.get(k + 1).is_some_and(|next| p.parted_from(next)) {
            for row in &mut rows {
                row.push(' ');
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<String> {
        render(text).into()
    }

    #[test]
    fn digits_are_large_and_the_unit_sits_small_on_the_bottom_row() {
        assert_eq!(
            rows("412 ms"),
            ["╷ ╷ ╶┐  ╶─╮   ", "╰─┤  │  ╭─╯   ", "  ╵ ╶┴╴ ╰─╴ ms",]
        );
        assert_eq!(
            rows("412ms"),
            ["╷ ╷ ╶┐  ╶─╮   ", "╰─┤  │  ╭─╯   ", "  ╵ ╶┴╴ ╰─╴ ms",]
        );
    }

    #[test]
    fn points_percents_and_multipliers() {
        assert_eq!(
            rows("3.2%"),
            ["╶─╮   ╶─╮ ▪ ╱", " ─┤   ╭─╯  ╱ ", "╶─╯ ▪ ╰─╴ ╱ ▪"]
        );
        assert_eq!(
            rows("1.2k req/s"),
            [
                "╶┐    ╶─╮        ",
                " │    ╭─╯        ",
                "╶┴╴ ▪ ╰─╴ k req/s",
            ]
        );
        assert_eq!(
            rows("-1,984"),
            [
                "    ╶┐    ╭─╮ ╭─╮ ╷ ╷",
                "╶─╴  │    ╰─┤ ├─┤ ╰─┤",
                "    ╶┴╴ , ╶─╯ ╰─╯   ╵",
            ]
        );
    }

    #[test]
    fn no_number_is_a_large_dash() {
        for dash in ["—", "–", "-"] {
            assert_eq!(rows(dash), ["   ", "╶─╴", "   "], "{dash}");
        }
        assert!(has_big("–"));
        assert!(!has_big("n/a"));
        assert_eq!(rows("n/a"), ["   ", "   ", "n/a"]);
        assert_eq!(rows(""), ["", "", ""]);
    }

    #[test]
    fn every_row_is_as_wide_as_width_says() {
        for text in [
            "412 ms",
            "412ms",
            "3.2%",
            "1.2k req/s",
            "—",
            "1,984 ms",
            "0.384%",
            "587 MiB",
            "12:30",
            "+5",
            "µs 3",
            "",
        ] {
            let w = width(text);
            for row in render(text) {
                assert_eq!(text_width(&row), w, "{text:?}: {row:?}");
            }
        }
        assert_eq!(width("412 ms"), 14);
        assert_eq!(width("19.7%"), 17);
        assert_eq!(width("—"), 3);
        assert_eq!(width(""), 0);
    }
}
