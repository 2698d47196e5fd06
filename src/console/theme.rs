//! Colour themes by role, loaded from `themes/*.toml`.
//!
//! Views never name a colour: they ask for a role (`accent`, `warn`,
//! `critical`, `selection`, ...) and the theme says what it looks like. The
//! three built-in themes (`dark`, `light`, `high-contrast`) are embedded in
//! the binary and use only the 16 ANSI colours, so a 16-colour terminal (and
//! the user's own palette) stays readable. A user theme is any `.toml` file
//! with the same roles; it may start from a built-in one with
//! `extends = "light"` and override only some roles.
//!
//! `NO_COLOR` (<https://no-color.org>) is honoured by [`Theme::from_env`]:
//! no colour at all, with selection and danger still marked by modifiers.
//!
//! This module must never touch the terminal: it only turns text into styles.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

/// The built-in themes, by name, with their TOML source.
const BUILT_IN: [(&str, &str); 3] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

/// Every role a theme defines, in the order a theme file lists them.
pub const ROLES: [&str; 16] = [
    "base",
    "text",
    "muted",
    "accent",
    "ok",
    "warn",
    "critical",
    "alarm",
    "selection",
    "border",
    "focus",
    "title",
    "header",
    "brand",
    "tab",
    "key",
];

/// Why a theme could not be loaded; each says what to do instead.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error(
        "no theme named `{name}`: use one of {known}, or the path of a theme file ending in .toml"
    )]
    Unknown { name: String, known: String },
    #[error("cannot read theme file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("theme {origin} is not valid TOML: {source}")]
    Parse {
        origin: String,
        #[source]
        source: toml::de::Error,
    },
    #[error(
        "theme {origin}: unknown role `{role}`; the roles are {}",
        ROLES.join(", ")
    )]
    UnknownRole { origin: String, role: String },
    #[error(
        "theme {origin}, role `{role}`: `{value}` is not a colour; use an ANSI name \
         (black, red, green, yellow, blue, magenta, cyan, gray, dark-gray, light-red, \
         light-green, light-yellow, light-blue, light-magenta, light-cyan, white), \
         `reset`, 0-255 or #rrggbb"
    )]
    Colour {
        origin: String,
        role: String,
        value: String,
    },
    #[error(
        "theme {origin}, role `{role}`: `{value}` is not a modifier; use bold, dim, italic, \
         underlined, reversed, crossed-out, slow-blink, rapid-blink or hidden"
    )]
    Modifier {
        origin: String,
        role: String,
        value: String,
    },
    #[error("theme {origin}: `extends` must name a built-in theme ({known}), not `{extends}`")]
    Extends {
        origin: String,
        extends: String,
        known: String,
    },
}

/// How each part of the screen looks, by what it means.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    /// The name it was loaded by (`dark`, `no-color`, or a file path).
    pub name: String,
    /// Set by [`Theme::no_color`]: the views then strip every colour,
    /// including any a widget brings along by itself.
    pub no_color: bool,
    /// The whole screen (usually the terminal's own colours).
    pub base: Style,
    /// Ordinary text.
    pub text: Style,
    /// Secondary text: ages, ids, hints, empty-state lines.
    pub muted: Style,
    /// What the eye should find: column headers' keys, counts, links.
    pub accent: Style,
    /// All is well: connected, a grant with time to spare.
    pub ok: Style,
    /// Needs attention soon: a grant under 5 minutes, a queue waiting.
    pub warn: Style,
    /// Needs attention now: a grant under 1 minute, break-glass, errors.
    pub critical: Style,
    /// Loud banners: connection down, break-glass badges.
    pub alarm: Style,
    /// The selected row.
    pub selection: Style,
    /// Borders of panes and overlays.
    pub border: Style,
    /// The focused field of a form, the focused border.
    pub focus: Style,
    /// Titles of panes and overlays.
    pub title: Style,
    /// The header row (row 0) as a whole.
    pub header: Style,
    /// The product name in the header.
    pub brand: Style,
    /// The current tab.
    pub tab: Style,
    /// Key names in the footer and help.
    pub key: Style,
    /// Service tags in the Logs pane when several streams interleave, one
    /// per stream in turn. Optional in theme files (`tags = ["cyan", …]`);
    /// the built-in themes use the defaults below.
    pub tags: [Style; TAGS],
}

/// How many service tag styles a theme has.
pub const TAGS: usize = 6;

/// Tag colours readable on dark backgrounds (and on black).
const DARK_TAGS: [Color; TAGS] = [
    Color::Cyan,
    Color::Magenta,
    Color::LightGreen,
    Color::LightBlue,
    Color::LightYellow,
    Color::LightMagenta,
];

/// Tag colours readable on light backgrounds (no yellow, no light tints).
const LIGHT_TAGS: [Color; TAGS] = [
    Color::Blue,
    Color::Magenta,
    Color::Green,
    Color::Cyan,
    Color::DarkGray,
    Color::Red,
];

fn default_tags(origin: &str) -> [Style; TAGS] {
    let colours = if origin == "light" {
        LIGHT_TAGS
    } else {
        DARK_TAGS
    };
    colours.map(|c| Style::new().fg(c).add_modifier(Modifier::BOLD))
}

/// A role as written in a theme file: a colour name (the foreground), or
/// a table with `fg`, `bg` and `modifiers`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StyleSpec {
    Fg(String),
    Full(FullSpec),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FullSpec {
    fg: Option<String>,
    bg: Option<String>,
    #[serde(default)]
    modifiers: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct ThemeFile {
    #[serde(default)]
    extends: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    tags: Option<Vec<StyleSpec>>,
    #[serde(flatten)]
    roles: BTreeMap<String, StyleSpec>,
}

impl Default for Theme {
    fn default() -> Self {
        Theme::built_in("dark").expect("the built-in dark theme is valid")
    }
}

impl Theme {
    /// Names of the built-in themes, for the palette and error messages.
    pub fn names() -> [&'static str; 3] {
        BUILT_IN.map(|(name, _)| name)
    }

    /// A built-in theme by name, or a theme file when `name` ends in `.toml`.
    pub fn load(name: &str) -> Result<Theme, ThemeError> {
        let name = name.trim();
        if name.ends_with(".toml") {
            let path = PathBuf::from(name);
            let text = std::fs::read_to_string(&path).map_err(|source| ThemeError::Read {
                path: path.clone(),
                source,
            })?;
            return Theme::parse(name, &text);
        }
        Theme::built_in(name)
    }

    /// [`Theme::load`], unless `NO_COLOR` is set to something non-empty:
    /// then [`Theme::no_color`] whatever the name.
    pub fn from_env(name: &str) -> Result<Theme, ThemeError> {
        Theme::choose(name, std::env::var_os("NO_COLOR"))
    }

    /// [`Theme::from_env`] with the value of `NO_COLOR` given (for tests).
    pub fn choose(name: &str, no_color: Option<std::ffi::OsString>) -> Result<Theme, ThemeError> {
        if no_color.is_some_and(|v| !v.is_empty()) {
            Ok(Theme::no_color())
        } else {
            Theme::load(name)
        }
    }

    /// No colour anywhere; what matters is still marked: the selection
    /// reversed, danger bold and underlined, banners reversed.
    pub fn no_color() -> Theme {
        let plain = Style::new();
        let m = |m: Modifier| Style::new().add_modifier(m);
        Theme {
            name: "no-color".into(),
            no_color: true,
            base: plain,
            text: plain,
            muted: plain,
            accent: m(Modifier::BOLD),
            ok: plain,
            warn: m(Modifier::BOLD),
            critical: m(Modifier::BOLD | Modifier::UNDERLINED),
            alarm: m(Modifier::BOLD | Modifier::REVERSED),
            selection: m(Modifier::REVERSED),
            border: plain,
            focus: m(Modifier::BOLD),
            title: m(Modifier::BOLD),
            header: plain,
            brand: m(Modifier::BOLD | Modifier::REVERSED),
            tab: m(Modifier::BOLD | Modifier::REVERSED),
            key: m(Modifier::BOLD),
            tags: [m(Modifier::BOLD); TAGS],
        }
    }

    fn built_in(name: &str) -> Result<Theme, ThemeError> {
        let (_, text) =
            BUILT_IN
                .iter()
                .find(|(n, _)| *n == name)
                .ok_or_else(|| ThemeError::Unknown {
                    name: name.to_string(),
                    known: Theme::names().join(", "),
                })?;
        Theme::parse(name, text)
    }

    /// A theme from TOML text; `origin` names it in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Theme, ThemeError> {
        let file: ThemeFile = toml::from_str(text).map_err(|source| ThemeError::Parse {
            origin: origin.to_string(),
            source,
        })?;
        let mut theme = match &file.extends {
            Some(parent) => {
                let (_, parent_text) =
                    BUILT_IN.iter().find(|(n, _)| n == parent).ok_or_else(|| {
                        ThemeError::Extends {
                            origin: origin.to_string(),
                            extends: parent.clone(),
                            known: Theme::names().join(", "),
                        }
                    })?;
                Theme::parse(parent, parent_text)?
            }
            None => Theme {
                tags: default_tags(origin),
                ..Theme::blank()
            },
        };
        theme.name = origin.to_string();
        if let Some(tags) = &file.tags {
            for (i, spec) in tags.iter().take(TAGS).enumerate() {
                theme.tags[i] = to_style(origin, "tags", spec)?;
            }
        }
        for (role, spec) in &file.roles {
            let style = to_style(origin, role, spec)?;
            *theme
                .role_mut(role)
                .ok_or_else(|| ThemeError::UnknownRole {
                    origin: origin.to_string(),
                    role: role.clone(),
                })? = style;
        }
        Ok(theme)
    }

    /// Every role unstyled (the terminal's own colours).
    fn blank() -> Theme {
        let plain = Style::new();
        Theme {
            name: String::new(),
            no_color: false,
            base: plain,
            text: plain,
            muted: plain,
            accent: plain,
            ok: plain,
            warn: plain,
            critical: plain,
            alarm: plain,
            selection: plain,
            border: plain,
            focus: plain,
            title: plain,
            header: plain,
            brand: plain,
            tab: plain,
            key: plain,
            tags: default_tags("dark"),
        }
    }

    /// A role by its name in theme files.
    pub fn role(&self, role: &str) -> Option<Style> {
        Some(match role {
            "base" => self.base,
            "text" => self.text,
            "muted" => self.muted,
            "accent" => self.accent,
            "ok" => self.ok,
            "warn" => self.warn,
            "critical" => self.critical,
            "alarm" => self.alarm,
            "selection" => self.selection,
            "border" => self.border,
            "focus" => self.focus,
            "title" => self.title,
            "header" => self.header,
            "brand" => self.brand,
            "tab" => self.tab,
            "key" => self.key,
            _ => return None,
        })
    }

    fn role_mut(&mut self, role: &str) -> Option<&mut Style> {
        Some(match role {
            "base" => &mut self.base,
            "text" => &mut self.text,
            "muted" => &mut self.muted,
            "accent" => &mut self.accent,
            "ok" => &mut self.ok,
            "warn" => &mut self.warn,
            "critical" => &mut self.critical,
            "alarm" => &mut self.alarm,
            "selection" => &mut self.selection,
            "border" => &mut self.border,
            "focus" => &mut self.focus,
            "title" => &mut self.title,
            "header" => &mut self.header,
            "brand" => &mut self.brand,
            "tab" => &mut self.tab,
            "key" => &mut self.key,
            _ => return None,
        })
    }
}

fn to_style(origin: &str, role: &str, spec: &StyleSpec) -> Result<Style, ThemeError> {
    let colour = |value: &str| {
        value.parse::<Color>().map_err(|_| ThemeError::Colour {
            origin: origin.to_string(),
            role: role.to_string(),
            value: value.to_string(),
        })
    };
    match spec {
        StyleSpec::Fg(fg) => Ok(Style::new().fg(colour(fg)?)),
        StyleSpec::Full(full) => {
            let mut style = Style::new();
            if let Some(fg) = &full.fg {
                style = style.fg(colour(fg)?);
            }
            if let Some(bg) = &full.bg {
                style = style.bg(colour(bg)?);
            }
            for name in &full.modifiers {
                let m = modifier(name).ok_or_else(|| ThemeError::Modifier {
                    origin: origin.to_string(),
                    role: role.to_string(),
                    value: name.clone(),
                })?;
                style = style.add_modifier(m);
            }
            Ok(style)
        }
    }
}

fn modifier(name: &str) -> Option<Modifier> {
    Some(match name.to_lowercase().replace('_', "-").as_str() {
        "bold" => Modifier::BOLD,
        "dim" => Modifier::DIM,
        "italic" => Modifier::ITALIC,
        "underlined" | "underline" => Modifier::UNDERLINED,
        "reversed" | "reverse" => Modifier::REVERSED,
        "crossed-out" | "strikethrough" => Modifier::CROSSED_OUT,
        "slow-blink" => Modifier::SLOW_BLINK,
        "rapid-blink" => Modifier::RAPID_BLINK,
        "hidden" => Modifier::HIDDEN,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn colours(style: Style) -> impl Iterator<Item = Color> {
        style.fg.into_iter().chain(style.bg)
    }

    #[test]
    fn every_built_in_theme_defines_every_role_with_16_ansi_colours_only() {
        for name in Theme::names() {
            let text = BUILT_IN.iter().find(|(n, _)| *n == name).unwrap().1;
            let file: ThemeFile = toml::from_str(text).unwrap();
            for role in ROLES {
                assert!(file.roles.contains_key(role), "{name} lacks `{role}`");
            }
            let theme = Theme::load(name).unwrap();
            for role in ROLES {
                for c in colours(theme.role(role).unwrap()) {
                    assert!(
                        !matches!(c, Color::Rgb(..) | Color::Indexed(_)),
                        "{name}.{role} uses {c:?}, which a 16-colour terminal cannot show"
                    );
                }
            }
        }
    }

    #[test]
    fn danger_and_calm_look_different_in_every_theme() {
        for name in Theme::names() {
            let t = Theme::load(name).unwrap();
            assert_ne!(t.critical, t.warn, "{name}");
            assert_ne!(t.warn, t.ok, "{name}");
            assert_ne!(t.selection, Style::new(), "{name}");
        }
    }

    #[test]
    fn the_light_theme_never_writes_yellow_text_on_a_white_background() {
        let t = Theme::load("light").unwrap();
        for role in ROLES {
            let s = t.role(role).unwrap();
            if s.bg.is_none() {
                assert_ne!(s.fg, Some(Color::Yellow), "light.{role}");
                assert_ne!(s.fg, Some(Color::LightYellow), "light.{role}");
            }
        }
    }

    #[test]
    fn no_color_set_means_no_colour_but_selection_and_danger_still_show() {
        let t = Theme::choose("light", Some("1".into())).unwrap();
        assert!(t.no_color);
        for role in ROLES {
            assert_eq!(
                colours(t.role(role).unwrap()).count(),
                0,
                "{role} has a colour"
            );
        }
        assert!(t.selection.add_modifier.contains(Modifier::REVERSED));
        assert!(t.critical.add_modifier.contains(Modifier::BOLD));
        assert!(t.alarm.add_modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn an_empty_no_color_is_ignored_as_the_convention_says() {
        let t = Theme::choose("light", Some("".into())).unwrap();
        assert!(!t.no_color);
        assert_eq!(t, Theme::load("light").unwrap());
    }

    #[test]
    fn an_unknown_theme_name_lists_the_ones_that_exist() {
        let e = Theme::load("solarized").unwrap_err();
        assert!(matches!(e, ThemeError::Unknown { .. }));
        let msg = e.to_string();
        assert!(msg.contains("dark, light, high-contrast"), "{msg}");
    }

    #[test]
    fn a_theme_file_can_extend_a_built_in_one_and_override_a_role() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.toml");
        std::fs::write(
            &path,
            "extends = \"light\"\nwarn = { fg = \"blue\", modifiers = [\"bold\"] }\n",
        )
        .unwrap();
        let t = Theme::load(path.to_str().unwrap()).unwrap();
        assert_eq!(
            t.warn,
            Style::new().fg(Color::Blue).add_modifier(Modifier::BOLD)
        );
        assert_eq!(t.critical, Theme::load("light").unwrap().critical);
    }

    #[test]
    fn service_tags_have_defaults_per_theme_and_a_file_may_set_them() {
        let dark = Theme::load("dark").unwrap();
        let light = Theme::load("light").unwrap();
        assert_eq!(dark.tags[0].fg, Some(Color::Cyan));
        assert_eq!(light.tags[0].fg, Some(Color::Blue));
        for t in light.tags {
            assert_ne!(t.fg, Some(Color::Yellow));
            assert_ne!(t.fg, Some(Color::LightYellow));
        }
        let mine = Theme::parse(
            "mine.toml",
            "extends = \"light\"\ntags = [\"red\", { fg = \"green\" }]\n",
        )
        .unwrap();
        assert_eq!(mine.tags[0].fg, Some(Color::Red));
        assert_eq!(mine.tags[1].fg, Some(Color::Green));
        assert_eq!(mine.tags[2], light.tags[2]);
        assert!(Theme::no_color().tags.iter().all(|t| t.fg.is_none()));
    }

    #[test]
    fn a_typo_in_a_theme_file_is_reported_with_the_role() {
        let e = Theme::parse("mine.toml", "wran = \"red\"").unwrap_err();
        assert!(matches!(e, ThemeError::UnknownRole { ref role, .. } if role == "wran"));
        let e = Theme::parse("mine.toml", "warn = \"purplish\"").unwrap_err();
        assert!(e.to_string().contains("`purplish` is not a colour"), "{e}");
        let e = Theme::parse(
            "mine.toml",
            "warn = { fg = \"red\", modifiers = [\"blink\"] }",
        )
        .unwrap_err();
        assert!(matches!(e, ThemeError::Modifier { .. }), "{e}");
        let e = Theme::parse("mine.toml", "extends = \"nord\"").unwrap_err();
        assert!(matches!(e, ThemeError::Extends { .. }), "{e}");
        let e = Theme::load("/nonexistent/mine.toml").unwrap_err();
        assert!(matches!(e, ThemeError::Read { .. }), "{e}");
    }
}
