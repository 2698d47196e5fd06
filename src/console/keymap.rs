//! Key bindings: one table that `update` looks keys up in and that the
//! footer and the help overlay are generated from, so the keys shown are
//! always the keys that work. Context decides: a pane's own bindings win
//! over global ones (first matching rule wins), and a binding may hold only
//! in a state of its pane ([`When`]): in the Logs pane `n`/`N` move between
//! search matches while a search is active, and `n` is "new request"
//! otherwise, as everywhere else; `r` asks again for access only once a
//! stream or the charts stopped for want of it; in the Metrics pane the
//! arrows and `h j k l` move the focus between charts, `Enter` enlarges
//! the focused one and `Esc` (only then) brings the grid back.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{App, Tab};

/// What a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    ForceQuit,
    Help,
    Palette,
    NextTab,
    PrevTab,
    GoTab(usize),
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    NewRequest,
    Approve,
    Deny,
    Revoke,
    Extend,
    Cancel,
    Filter,
    Refresh,
    ToggleMouse,
    VerifyChain,
    Export,
    // The Logs pane.
    Streams,
    Follow,
    Search,
    NextMatch,
    PrevMatch,
    ClearSearch,
    Levels,
    Wrap,
    Timestamps,
    CopyLine,
    CopyView,
    AskAgain,
    // The Metrics pane.
    ChartService,
    ZoomIn,
    ZoomOut,
    RefreshCharts,
    ChartPrev,
    ChartNext,
    Enlarge,
    Shrink,
}

/// When a binding holds, beyond its scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Always,
    /// A log search is active.
    Searching,
    /// A log stream was closed by the gateway or refused.
    StreamClosed,
    /// The charted service's metrics:read grant has ended.
    ChartsEnded,
    /// A chart fills the Metrics pane.
    ChartEnlarged,
}

/// The state the conditional bindings look at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ctx {
    pub searching: bool,
    pub stream_closed: bool,
    pub charts_ended: bool,
    pub chart_enlarged: bool,
}

impl Ctx {
    pub fn of(app: &App) -> Ctx {
        Ctx {
            searching: app.logs.search.is_some(),
            stream_closed: app.logs.streams.iter().any(|s| s.state.needs_banner()),
            charts_ended: super::metrics_update::ended(app),
            chart_enlarged: app.metrics.enlarged,
        }
    }

    fn holds(self, when: When) -> bool {
        match when {
            When::Always => true,
            When::Searching => self.searching,
            When::StreamClosed => self.stream_closed,
            When::ChartsEnded => self.charts_ended,
            When::ChartEnlarged => self.chart_enlarged,
        }
    }
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Pane(Tab),
}

#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub code: KeyCode,
    pub mods: KeyModifiers,
    pub action: Action,
    pub scope: Scope,
    /// How the key is written in the footer and help.
    pub key: &'static str,
    pub help: &'static str,
    /// Shown in the footer (the rest only in help).
    pub footer: bool,
    pub when: When,
}

const NONE: KeyModifiers = KeyModifiers::NONE;
const SHIFT: KeyModifiers = KeyModifiers::SHIFT;

const fn b(
    code: KeyCode,
    mods: KeyModifiers,
    action: Action,
    scope: Scope,
    key: &'static str,
    help: &'static str,
    footer: bool,
) -> Binding {
    Binding {
        code,
        mods,
        action,
        scope,
        key,
        help,
        footer,
        when: When::Always,
    }
}

/// [`b`] holding only `when`.
#[allow(clippy::too_many_arguments)]
const fn bw(
    code: KeyCode,
    mods: KeyModifiers,
    action: Action,
    scope: Scope,
    key: &'static str,
    help: &'static str,
    footer: bool,
    when: When,
) -> Binding {
    Binding {
        when,
        ..b(code, mods, action, scope, key, help, footer)
    }
}

use Action as A;
use KeyCode as K;
use Scope::{Global as G, Pane as P};

/// Every binding; pane scopes first so they win over globals.
pub const BINDINGS: &[Binding] = &[
    b(
        K::Char('e'),
        NONE,
        A::Extend,
        P(Tab::Grants),
        "e",
        "ask to extend the selected grant",
        true,
    ),
    b(
        K::Char('c'),
        NONE,
        A::Cancel,
        P(Tab::Grants),
        "c",
        "cancel the selected pending request",
        true,
    ),
    b(
        K::Char('r'),
        NONE,
        A::Revoke,
        P(Tab::Grants),
        "r",
        "give up the selected grant",
        false,
    ),
    b(
        K::Char('a'),
        NONE,
        A::Approve,
        P(Tab::Queue),
        "a",
        "approve the selected request",
        true,
    ),
    b(
        K::Char('d'),
        NONE,
        A::Deny,
        P(Tab::Queue),
        "d",
        "deny the selected request (reason required)",
        true,
    ),
    b(
        K::Char('r'),
        NONE,
        A::Revoke,
        P(Tab::Sessions),
        "r",
        "revoke the selected grant",
        true,
    ),
    b(
        K::Char('/'),
        NONE,
        A::Filter,
        P(Tab::Audit),
        "/",
        "filter by actor, action, target or detail",
        true,
    ),
    b(
        K::Char('v'),
        NONE,
        A::VerifyChain,
        P(Tab::Audit),
        "v",
        "verify the gateway's chain and its signatures",
        true,
    ),
    b(
        K::Char('x'),
        NONE,
        A::Export,
        P(Tab::Audit),
        "x",
        "export the filtered trail as Markdown (leads)",
        true,
    ),
    b(
        K::Char('s'),
        NONE,
        A::Streams,
        P(Tab::Logs),
        "s",
        "streams: services to tail",
        true,
    ),
    b(
        K::Char('f'),
        NONE,
        A::Follow,
        P(Tab::Logs),
        "f",
        "follow: newest line, on/off",
        true,
    ),
    b(
        K::End,
        NONE,
        A::Follow,
        P(Tab::Logs),
        "end",
        "follow: newest line, on/off",
        false,
    ),
    b(
        K::Char('G'),
        SHIFT,
        A::Bottom,
        P(Tab::Logs),
        "G",
        "newest line, and follow",
        false,
    ),
    bw(
        K::Char('n'),
        NONE,
        A::NextMatch,
        P(Tab::Logs),
        "n",
        "next match (while searching; otherwise new request)",
        true,
        When::Searching,
    ),
    bw(
        K::Char('N'),
        SHIFT,
        A::PrevMatch,
        P(Tab::Logs),
        "N",
        "prev match (while searching)",
        true,
        When::Searching,
    ),
    bw(
        K::Esc,
        NONE,
        A::ClearSearch,
        P(Tab::Logs),
        "esc",
        "clear the search",
        false,
        When::Searching,
    ),
    b(
        K::Char('/'),
        NONE,
        A::Search,
        P(Tab::Logs),
        "/",
        "search: highlight, then n/N",
        true,
    ),
    b(
        K::Char('L'),
        SHIFT,
        A::Levels,
        P(Tab::Logs),
        "L",
        "levels: ERROR+ → WARN+ → all",
        true,
    ),
    b(
        K::Char('w'),
        NONE,
        A::Wrap,
        P(Tab::Logs),
        "w",
        "wrap: long lines on/off",
        true,
    ),
    b(
        K::Char('t'),
        NONE,
        A::Timestamps,
        P(Tab::Logs),
        "t",
        "time: timestamps on/off",
        false,
    ),
    b(
        K::Char('y'),
        NONE,
        A::CopyLine,
        P(Tab::Logs),
        "y",
        "copy: selected line (audited)",
        true,
    ),
    b(
        K::Char('Y'),
        SHIFT,
        A::CopyView,
        P(Tab::Logs),
        "Y",
        "copy all: lines on screen",
        false,
    ),
    bw(
        K::Char('r'),
        NONE,
        A::AskAgain,
        P(Tab::Logs),
        "r",
        "ask again: a closed stream",
        true,
        When::StreamClosed,
    ),
    bw(
        K::Char('r'),
        NONE,
        A::AskAgain,
        P(Tab::Metrics),
        "r",
        "ask again: metrics:read on the charted service",
        true,
        When::ChartsEnded,
    ),
    b(
        K::Char('s'),
        NONE,
        A::ChartService,
        P(Tab::Metrics),
        "s",
        "service: whose charts to show",
        true,
    ),
    b(
        K::Char('['),
        NONE,
        A::ZoomIn,
        P(Tab::Metrics),
        "[",
        "zoom in: shorter range (6h → 1h → 15m → 5m)",
        true,
    ),
    b(
        K::Char('-'),
        NONE,
        A::ZoomIn,
        P(Tab::Metrics),
        "-",
        "zoom in: shorter range (6h → 1h → 15m → 5m)",
        false,
    ),
    b(
        K::Char(']'),
        NONE,
        A::ZoomOut,
        P(Tab::Metrics),
        "]",
        "zoom out: longer range (5m → 15m → 1h → 6h)",
        true,
    ),
    b(
        K::Char('+'),
        NONE,
        A::ZoomOut,
        P(Tab::Metrics),
        "+",
        "zoom out: longer range (5m → 15m → 1h → 6h)",
        false,
    ),
    b(
        K::Char('='),
        NONE,
        A::ZoomOut,
        P(Tab::Metrics),
        "=",
        "zoom out: longer range (5m → 15m → 1h → 6h)",
        false,
    ),
    bw(
        K::Esc,
        NONE,
        A::Shrink,
        P(Tab::Metrics),
        "esc",
        "back to every chart",
        true,
        When::ChartEnlarged,
    ),
    b(
        K::Enter,
        NONE,
        A::Enlarge,
        P(Tab::Metrics),
        "enter",
        "enlarge: the focused chart (again: back)",
        true,
    ),
    b(
        K::Left,
        NONE,
        A::ChartPrev,
        P(Tab::Metrics),
        "←",
        "focus: the previous chart",
        false,
    ),
    b(
        K::Char('h'),
        NONE,
        A::ChartPrev,
        P(Tab::Metrics),
        "h",
        "focus: the previous chart",
        false,
    ),
    b(
        K::Right,
        NONE,
        A::ChartNext,
        P(Tab::Metrics),
        "→",
        "focus: the next chart",
        false,
    ),
    b(
        K::Char('l'),
        NONE,
        A::ChartNext,
        P(Tab::Metrics),
        "l",
        "focus: the next chart",
        false,
    ),
    b(
        K::Up,
        NONE,
        A::Up,
        P(Tab::Metrics),
        "↑",
        "focus: the chart above",
        false,
    ),
    b(
        K::Char('k'),
        NONE,
        A::Up,
        P(Tab::Metrics),
        "k",
        "focus: the chart above",
        false,
    ),
    b(
        K::Down,
        NONE,
        A::Down,
        P(Tab::Metrics),
        "↓",
        "focus: the chart below",
        false,
    ),
    b(
        K::Char('j'),
        NONE,
        A::Down,
        P(Tab::Metrics),
        "j",
        "focus: the chart below",
        false,
    ),
    b(
        K::Char('R'),
        SHIFT,
        A::RefreshCharts,
        P(Tab::Metrics),
        "R",
        "refresh: query the charts now (each query is audited)",
        true,
    ),
    b(
        K::Char('c'),
        KeyModifiers::CONTROL,
        A::ForceQuit,
        G,
        "ctrl-c",
        "quit at once",
        false,
    ),
    b(K::Char('q'), NONE, A::Quit, G, "q", "quit", true),
    b(K::Char('?'), NONE, A::Help, G, "?", "help: every key", true),
    b(
        K::Char(':'),
        NONE,
        A::Palette,
        G,
        ":",
        "command palette",
        true,
    ),
    b(
        K::Char('n'),
        NONE,
        A::NewRequest,
        G,
        "n",
        "new access request",
        true,
    ),
    b(K::Tab, NONE, A::NextTab, G, "tab", "next tab", false),
    b(
        K::BackTab,
        KeyModifiers::SHIFT,
        A::PrevTab,
        G,
        "shift-tab",
        "previous tab",
        false,
    ),
    b(K::Char('1'), NONE, A::GoTab(0), G, "1", "Grants", false),
    b(K::Char('2'), NONE, A::GoTab(1), G, "2", "Queue", false),
    b(K::Char('3'), NONE, A::GoTab(2), G, "3", "Sessions", false),
    b(K::Char('4'), NONE, A::GoTab(3), G, "4", "Logs", false),
    b(K::Char('5'), NONE, A::GoTab(4), G, "5", "Metrics", false),
    b(K::Char('6'), NONE, A::GoTab(5), G, "6", "Audit", false),
    b(K::Up, NONE, A::Up, G, "↑", "previous row", false),
    b(K::Char('k'), NONE, A::Up, G, "k", "previous row", false),
    b(K::Down, NONE, A::Down, G, "↓", "next row", false),
    b(K::Char('j'), NONE, A::Down, G, "j", "next row", false),
    b(K::PageUp, NONE, A::PageUp, G, "pgup", "page up", false),
    b(
        K::PageDown,
        NONE,
        A::PageDown,
        G,
        "pgdn",
        "page down",
        false,
    ),
    b(K::Home, NONE, A::Top, G, "home", "first row", false),
    b(K::Char('g'), NONE, A::Top, G, "g", "first row", false),
    b(K::End, NONE, A::Bottom, G, "end", "last row", false),
    b(
        K::Char('G'),
        KeyModifiers::SHIFT,
        A::Bottom,
        G,
        "G",
        "last row",
        false,
    ),
    b(
        K::Char('R'),
        KeyModifiers::SHIFT,
        A::Refresh,
        G,
        "R",
        "reload everything from the gateway",
        false,
    ),
    b(
        K::Char('m'),
        NONE,
        A::ToggleMouse,
        G,
        "m",
        "mouse capture on/off (off: select text)",
        false,
    ),
];

fn same_mods(binding: KeyModifiers, pressed: KeyModifiers) -> bool {
    // Terminals disagree on whether shifted characters carry SHIFT.
    let relevant = KeyModifiers::CONTROL | KeyModifiers::ALT;
    (binding & relevant) == (pressed & relevant)
}

/// The action a key has on this tab, if any (conditional bindings off).
pub fn lookup(key: &KeyEvent, tab: Tab) -> Option<Action> {
    lookup_in(key, tab, Ctx::default())
}

/// The bindings that hold on `tab` in `ctx`, pane ones first.
fn active(tab: Tab, ctx: Ctx) -> impl Iterator<Item = &'static Binding> {
    BINDINGS.iter().filter(move |b| {
        (b.scope == Scope::Global || b.scope == Scope::Pane(tab)) && ctx.holds(b.when)
    })
}

/// The action a key has on this tab in this state, if any.
pub fn lookup_in(key: &KeyEvent, tab: Tab, ctx: Ctx) -> Option<Action> {
    active(tab, ctx)
        .find(|b| b.code == key.code && same_mods(b.mods, key.modifiers))
        .map(|b| b.action)
}

/// Footer entries for a tab: the pane's keys, then the global ones.
pub fn footer(tab: Tab) -> Vec<(&'static str, &'static str)> {
    footer_in(tab, Ctx::default())
}

/// Footer entries for a tab in this state: the pane's keys that hold, then
/// the global ones a pane key does not shadow.
pub fn footer_in(tab: Tab, ctx: Ctx) -> Vec<(&'static str, &'static str)> {
    let (mut pane, global) = footer_split(tab, ctx);
    pane.extend(global);
    pane
}

/// [`footer_in`] as (the pane's keys, the global ones). The pane's keys
/// that hold only in the current state come first: they are what is new.
pub fn footer_split(tab: Tab, ctx: Ctx) -> (Vec<FooterKey>, Vec<FooterKey>) {
    let mut pane: Vec<&Binding> = active(tab, ctx)
        .filter(|b| b.scope == Scope::Pane(tab))
        .collect();
    let shadowed = |g: &Binding| {
        pane.iter()
            .any(|p| p.code == g.code && same_mods(p.mods, g.mods))
    };
    let global: Vec<FooterKey> = BINDINGS
        .iter()
        .filter(|b| b.scope == Scope::Global && b.footer && !shadowed(b))
        .map(|b| (b.key, short(b.help)))
        .collect();
    pane.sort_by_key(|b| b.when == When::Always);
    let pane = pane
        .into_iter()
        .filter(|b| b.footer)
        .map(|b| (b.key, short(b.help)))
        .collect();
    (pane, global)
}

/// A footer entry: (key, what it does).
pub type FooterKey = (&'static str, &'static str);

/// The footer for the app's tab and state: (the pane's keys, the global).
pub fn footer_for(app: &App) -> (Vec<FooterKey>, Vec<FooterKey>) {
    footer_split(app.tab, Ctx::of(app))
}

/// The first words of a help text, for the narrow footer.
fn short(help: &'static str) -> &'static str {
    help.split([':', '(']).next().unwrap_or(help).trim_end()
}

/// Help lines grouped by scope: (heading, [(key, help)]).
pub fn help() -> Vec<(String, Vec<(&'static str, &'static str)>)> {
    let mut groups: Vec<(String, Vec<(&'static str, &'static str)>)> = Vec::new();
    let mut push = |heading: String, b: &Binding| match groups.iter_mut().find(|g| g.0 == heading) {
        Some(g) => g.1.push((b.key, b.help)),
        None => groups.push((heading, vec![(b.key, b.help)])),
    };
    for bind in BINDINGS.iter().filter(|b| b.scope == Scope::Global) {
        push("Everywhere".into(), bind);
    }
    for bind in BINDINGS {
        if let Scope::Pane(t) = bind.scope {
            push(format!("{} pane", t.title()), bind);
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn r_revokes_in_sessions_and_gives_up_in_grants_but_does_nothing_in_the_queue() {
        assert_eq!(lookup(&key('r'), Tab::Sessions), Some(Action::Revoke));
        assert_eq!(lookup(&key('r'), Tab::Grants), Some(Action::Revoke));
        assert_eq!(lookup(&key('r'), Tab::Queue), None);
        assert_eq!(lookup(&key('a'), Tab::Queue), Some(Action::Approve));
        assert_eq!(lookup(&key('a'), Tab::Grants), None);
    }

    #[test]
    fn ctrl_c_quits_everywhere_and_plain_c_cancels_in_grants() {
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        for tab in Tab::ALL {
            assert_eq!(lookup(&ctrl_c, tab), Some(Action::ForceQuit));
        }
        assert_eq!(lookup(&key('c'), Tab::Grants), Some(Action::Cancel));
    }

    #[test]
    fn no_key_is_bound_twice_in_one_scope() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                let clash = a.code == b.code && a.mods == b.mods && a.scope == b.scope;
                assert!(!clash, "{} bound twice in {:?}", a.key, a.scope);
            }
        }
    }

    #[test]
    fn in_the_logs_pane_n_moves_between_matches_only_while_searching() {
        let searching = Ctx {
            searching: true,
            ..Ctx::default()
        };
        assert_eq!(
            lookup_in(&key('n'), Tab::Logs, Ctx::default()),
            Some(Action::NewRequest)
        );
        assert_eq!(
            lookup_in(&key('n'), Tab::Logs, searching),
            Some(Action::NextMatch)
        );
        assert_eq!(
            lookup_in(&key('n'), Tab::Grants, searching),
            Some(Action::NewRequest)
        );
        let shift_n = KeyEvent::new(KeyCode::Char('N'), KeyModifiers::SHIFT);
        assert_eq!(
            lookup_in(&shift_n, Tab::Logs, searching),
            Some(Action::PrevMatch)
        );
        // The footer says what n does now, and never both.
        let f = footer_in(Tab::Logs, searching);
        assert!(f.contains(&("n", "next match")), "{f:?}");
        assert!(!f.contains(&("n", "new access request")));
        let f = footer_in(Tab::Logs, Ctx::default());
        assert!(f.contains(&("n", "new access request")));
        assert!(!f.iter().any(|(k, _)| *k == "N"));
        // End follows in the Logs pane and is "last row" elsewhere.
        let end = KeyEvent::new(KeyCode::End, KeyModifiers::NONE);
        assert_eq!(lookup(&end, Tab::Logs), Some(Action::Follow));
        assert_eq!(lookup(&end, Tab::Audit), Some(Action::Bottom));
        // r asks again only once a stream has closed.
        let closed = Ctx {
            stream_closed: true,
            ..Ctx::default()
        };
        assert_eq!(lookup_in(&key('r'), Tab::Logs, Ctx::default()), None);
        assert_eq!(
            lookup_in(&key('r'), Tab::Logs, closed),
            Some(Action::AskAgain)
        );
    }

    #[test]
    fn the_metrics_pane_zooms_with_brackets_or_minus_plus_and_r_asks_again_once_ended() {
        let tab = Tab::Metrics;
        let plus = KeyEvent::new(KeyCode::Char('+'), KeyModifiers::SHIFT);
        assert_eq!(lookup(&key('['), tab), Some(Action::ZoomIn));
        assert_eq!(lookup(&key('-'), tab), Some(Action::ZoomIn));
        assert_eq!(lookup(&key(']'), tab), Some(Action::ZoomOut));
        assert_eq!(lookup(&plus, tab), Some(Action::ZoomOut));
        assert_eq!(lookup(&key('='), tab), Some(Action::ZoomOut));
        assert_eq!(lookup(&key('s'), tab), Some(Action::ChartService));
        // R refreshes the charts here and reloads everything elsewhere.
        let shift_r = KeyEvent::new(KeyCode::Char('R'), KeyModifiers::SHIFT);
        assert_eq!(lookup(&shift_r, tab), Some(Action::RefreshCharts));
        assert_eq!(lookup(&shift_r, Tab::Logs), Some(Action::Refresh));
        assert_eq!(lookup_in(&key('r'), tab, Ctx::default()), None);
        let ended = Ctx {
            charts_ended: true,
            ..Ctx::default()
        };
        assert_eq!(lookup_in(&key('r'), tab, ended), Some(Action::AskAgain));
        // The Logs pane's closed streams do not make r work here.
        let closed = Ctx {
            stream_closed: true,
            ..Ctx::default()
        };
        assert_eq!(lookup_in(&key('r'), tab, closed), None);
        let f = footer_in(tab, ended);
        assert_eq!(f[0].0, "r", "what is new comes first: {f:?}");
        assert!(f.contains(&("[", "zoom in")) && f.contains(&("]", "zoom out")));
        assert!(!f.iter().any(|(k, _)| *k == "-" || *k == "+"));
    }

    #[test]
    fn in_the_metrics_pane_arrows_and_hjkl_move_between_charts_and_enter_enlarges() {
        let tab = Tab::Metrics;
        let code = |c: KeyCode| KeyEvent::new(c, KeyModifiers::NONE);
        assert_eq!(lookup(&key('h'), tab), Some(Action::ChartPrev));
        assert_eq!(lookup(&code(KeyCode::Left), tab), Some(Action::ChartPrev));
        assert_eq!(lookup(&key('l'), tab), Some(Action::ChartNext));
        assert_eq!(lookup(&code(KeyCode::Right), tab), Some(Action::ChartNext));
        assert_eq!(lookup(&key('j'), tab), Some(Action::Down));
        assert_eq!(lookup(&code(KeyCode::Up), tab), Some(Action::Up));
        assert_eq!(lookup(&code(KeyCode::Enter), tab), Some(Action::Enlarge));
        // Esc only means something while a chart is enlarged.
        assert_eq!(lookup(&code(KeyCode::Esc), tab), None);
        let enlarged = Ctx {
            chart_enlarged: true,
            ..Ctx::default()
        };
        assert_eq!(
            lookup_in(&code(KeyCode::Esc), tab, enlarged),
            Some(Action::Shrink)
        );
        // Tab still changes tabs; h, l and Enter mean nothing elsewhere.
        assert_eq!(lookup(&code(KeyCode::Tab), tab), Some(Action::NextTab));
        assert_eq!(lookup(&key('l'), Tab::Grants), None);
        assert_eq!(lookup(&code(KeyCode::Enter), Tab::Sessions), None);
        // The footer offers enter, and esc first while enlarged.
        assert!(footer_in(tab, Ctx::default()).contains(&("enter", "enlarge")));
        let f = footer_in(tab, enlarged);
        assert_eq!(f[0], ("esc", "back to every chart"), "{f:?}");
        // The help has them under the Metrics pane.
        let help = help();
        let (_, metrics) = help.iter().find(|g| g.0 == "Metrics pane").unwrap();
        assert!(metrics.contains(&("←", "focus: the previous chart")));
        assert!(metrics.contains(&("enter", "enlarge: the focused chart (again: back)")));
    }

    #[test]
    fn the_footer_shows_the_panes_keys_first() {
        let f = footer(Tab::Queue);
        assert_eq!(f[0], ("a", "approve the selected request"));
        assert!(f.iter().any(|(k, _)| *k == "q"));
        assert!(!f.iter().any(|(k, _)| *k == "e"));
    }
}
