//! The Metrics pane's part of `update`: choosing the service, querying
//! (on opening, when due, on `R`, on a new range or service), answers and
//! failures arriving, the end of a grant, the pane's keys and mouse.
//!
//! Pure like `update`: state in, state and effects out.
//!
//! Every `metrics.query` is a data access the gateway audits (and the
//! console journals), so the pane asks only while it is on screen, a grant
//! covers the service and the console is connected; one query at a time;
//! again once due ([`refresh_every`]: the step, 5 to 30 s), at once for a
//! new range or service, on `R`, or when a new grant arrives. A failed
//! query keeps the charts held (marked stale); a refusal that asking again
//! would not change (`forbidden`, `not_found`, `bad_request`) stops the
//! refreshes until something changes.
//!
//! The overview (a sparkline row per granted service, on screen only
//! when the pane has room for it) needs the other services' charts too:
//! they are queried by the same rules, one at a time besides the charts'
//! query, each at most every [`OVERVIEW_REFRESH_S`] (30 s), and only the
//! services the overview shows, only while it is on screen. They ask
//! for the pane's range at a step for a sparkline; a new range reaches
//! them at their next query, not in a burst. Enlarging a chart costs no
//! query either: it draws the same points wider.
//!
//! Focus: `←`/`→` (`h`/`l`) and `↑`/`↓` (`k`/`j`) move it between charts
//! (the rows scroll to keep it on screen), `Enter` enlarges the focused
//! chart to the whole pane and back, `Esc` goes back.

use chrono::{DateTime, Duration, Utc};
use crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};

use super::app::{App, Effect, Level, Overlay, Tab};
use super::keymap::Action;
use super::metrics::{
    OVERVIEW_REFRESH_S, OVERVIEW_SPARK_COLS, Query, RATE_LIMITED_RETRY_S, Range, refresh_every,
    step_for,
};
use super::update::{self, flash, send};
use super::views;
use crate::protocol::{Capability, ErrorBody, ErrorCode, Grant, GrantState, Op, Series};

/// My running grants that cover metrics:read, one per service, most
/// recently granted first (the first is what the pane opens on).
pub fn metrics_grants(app: &App) -> Vec<&Grant> {
    app.my_grants_covering(Capability::MetricsRead)
}

/// Whether a running grant of mine lets me chart `service`.
pub fn has_grant(app: &App, service: &str) -> bool {
    app.my_grant_covers(service, Capability::MetricsRead)
}

/// The service the pane charts: the one chosen, else the most recent
/// grant's.
pub fn service(app: &App) -> Option<&str> {
    app.metrics
        .service
        .as_deref()
        .or_else(|| metrics_grants(app).first().map(|g| g.service.as_str()))
}

/// The charted service's grant has ended (the pane says so, `r` asks).
pub fn ended(app: &App) -> bool {
    service(app).is_some_and(|s| !has_grant(app, s))
}

/// My grant on `service` that covered metrics:read last (the one that
/// ended, when none is active).
pub fn last_grant<'a>(app: &'a App, service: &str) -> Option<&'a Grant> {
    update::last_grant_for(app, service, Capability::MetricsRead)
}

/// My pending request for metrics:read on `service`, if any.
pub fn pending_request<'a>(
    app: &'a App,
    service: &str,
) -> Option<&'a crate::protocol::AccessRequest> {
    update::pending_request_for(app, service, Capability::MetricsRead)
}

/// The step to ask for: about one point per chart column at the
/// terminal size the app last saw.
fn step_now(app: &App) -> u64 {
    step_for(app.metrics.range.secs(), views::metrics_plot_cols(app))
}

/// Sends a `metrics.query` for `service` over `range` at `step_s`;
/// returns the query now in flight, if it went. Not an op to report when
/// the connection drops: a refresh lost with it is no news, the pane asks
/// again once reconnected.
fn send_query(
    app: &mut App,
    service: String,
    range: Range,
    step_s: u64,
    what: String,
) -> (Vec<Effect>, Option<Query>) {
    let effects = send(
        app,
        Op::MetricsQuery {
            service: service.clone(),
            metric: None,
            range_s: range.secs(),
            step_s,
        },
        what,
    );
    let sent = match effects.first() {
        Some(Effect::Send { op_id, .. }) => {
            app.in_flight.remove(op_id);
            Some(Query {
                op_id: op_id.clone(),
                service,
                range,
                step_s,
            })
        }
        _ => None,
    };
    (effects, sent)
}

/// Queries the charts of `service` at the current range.
fn query(app: &mut App, service: String) -> Vec<Effect> {
    let range = app.metrics.range;
    let step_s = step_now(app);
    let fresh = app.metrics.attempted.as_ref() != Some(&(service.clone(), range));
    let what = format!("charts of {service}");
    let (effects, sent) = send_query(app, service, range, step_s, what);
    if let Some(q) = sent {
        let m = &mut app.metrics;
        m.attempted = Some((q.service.clone(), range));
        m.pending = Some(q);
        m.halted = false;
        if fresh {
            m.failure = None;
        }
    }
    effects
}

/// Queries when it is time: the pane on screen, connected, a grant
/// covering the service, nothing in flight, and a new (service, range)
/// or the refresh due. Picks the service the first time. Runs after
/// every message.
pub fn poll(app: &mut App) -> Vec<Effect> {
    let mut effects = poll_charts(app);
    effects.extend(poll_overview(app));
    effects
}

fn poll_charts(app: &mut App) -> Vec<Effect> {
    if app.tab != Tab::Metrics || !app.connected() || app.metrics.pending.is_some() {
        return Vec::new();
    }
    if app.metrics.service.is_none() {
        app.metrics.service = metrics_grants(app).first().map(|g| g.service.clone());
    }
    let Some(service) = app.metrics.service.clone() else {
        return Vec::new();
    };
    if !has_grant(app, &service) {
        return Vec::new();
    }
    let m = &app.metrics;
    let fresh = m.attempted.as_ref() != Some(&(service.clone(), m.range));
    let due = m.next_due.is_none_or(|t| app.local_now >= t);
    if fresh || (due && !m.halted) {
        query(app, service)
    } else {
        Vec::new()
    }
}

/// The services the overview shows now and should be queried for: on
/// screen, not the charted one, covered by a grant.
fn overview_to_query(app: &App) -> Vec<String> {
    let charted = service(app);
    views::metrics_overview(app)
        .into_iter()
        .filter(|s| Some(s.as_str()) != charted && has_grant(app, s))
        .collect()
}

/// Queries the first overview service that is due (one in flight at
/// most); forgets the overview of services no grant covers any more.
fn poll_overview(app: &mut App) -> Vec<Effect> {
    if app.tab != Tab::Metrics || !app.connected() || app.metrics.overview_pending.is_some() {
        return Vec::new();
    }
    let granted: Vec<String> = metrics_grants(app)
        .iter()
        .map(|g| g.service.clone())
        .collect();
    app.metrics.overview.retain(|s, _| granted.contains(s));
    let now = app.local_now;
    let due = overview_to_query(app).into_iter().find(|s| {
        app.metrics
            .overview
            .get(s)
            .is_none_or(|o| !o.halted && o.next_due.is_none_or(|t| now >= t))
    });
    let Some(service) = due else {
        return Vec::new();
    };
    let range = app.metrics.range;
    let step_s = step_for(range.secs(), OVERVIEW_SPARK_COLS);
    let what = format!("overview of {service}");
    let (effects, sent) = send_query(app, service, range, step_s, what);
    app.metrics.overview_pending = sent;
    effects
}

/// When the runtime should wake `update` for the next refresh (local
/// time), while refreshes run: the charts' or the overview's.
pub fn next_wakeup(app: &App) -> Option<DateTime<Utc>> {
    let m = &app.metrics;
    if app.tab != Tab::Metrics || !app.connected() {
        return None;
    }
    let charts = if m.pending.is_some() || m.halted {
        None
    } else {
        service(app).filter(|s| has_grant(app, s)).and(m.next_due)
    };
    let overview = if m.overview_pending.is_some() {
        None
    } else {
        overview_to_query(app)
            .iter()
            .filter_map(|s| m.overview.get(s))
            .filter(|o| !o.halted)
            .filter_map(|o| o.next_due)
            .min()
    };
    match (charts, overview) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

// ---- the network ----

/// Handles the reply to a metrics query; None when the op was not one.
pub fn on_reply(
    app: &mut App,
    op_id: &str,
    result: &Result<serde_json::Map<String, serde_json::Value>, ErrorBody>,
) -> Option<Vec<Effect>> {
    if let Some(q) = app.metrics.overview_pending.take_if(|q| q.op_id == op_id) {
        app.in_flight.remove(op_id);
        on_overview_reply(app, q, result);
        return Some(Vec::new());
    }
    let q = app.metrics.pending.take_if(|q| q.op_id == op_id)?;
    app.in_flight.remove(op_id);
    let now = app.server_now();
    let current =
        app.metrics.service.as_deref() == Some(q.service.as_str()) && app.metrics.range == q.range;
    if !current {
        // Asked before the user moved on: `poll` asks for what is wanted.
        return Some(Vec::new());
    }
    let m = &mut app.metrics;
    match series_of(result) {
        Ok(series) => {
            let n = series.len();
            m.next_due = Some(app.local_now + Duration::seconds(refresh_every(q.step_s) as i64));
            m.charts = Some(q.answered(series, now));
            m.failure = None;
            // The gateway may chart fewer series than before.
            m.focus = m.focus.min(n.saturating_sub(1));
            m.enlarged &= n > 0;
        }
        Err(e) => {
            let first = m.failure.is_none();
            let retry = match e.code {
                ErrorCode::RateLimited => RATE_LIMITED_RETRY_S,
                _ => refresh_every(q.step_s),
            };
            m.halted = asking_again_is_useless(e.code);
            m.next_due = Some(app.local_now + Duration::seconds(retry as i64));
            m.failure = Some(q.failed(&e, now));
            // The banner says it for as long as it lasts; the footer once.
            if first && m.charts_of(&q.service).is_some() {
                flash(
                    app,
                    Level::Warn,
                    format!(
                        "{} charts not refreshed ({}): {}",
                        q.service, e.code, e.message
                    ),
                );
            }
        }
    }
    Some(Vec::new())
}

/// A refusal that asking again would not change: no more queries by
/// themselves until something does (`R`, a grant).
fn asking_again_is_useless(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::Forbidden
            | ErrorCode::NotFound
            | ErrorCode::BadRequest
            | ErrorCode::Unauthorized
    )
}

/// The series of a `metrics.query` reply.
fn series_of(
    result: &Result<serde_json::Map<String, serde_json::Value>, ErrorBody>,
) -> Result<Vec<Series>, ErrorBody> {
    result.as_ref().map_err(Clone::clone).and_then(|fields| {
        let v = fields.get("series").cloned().ok_or_else(|| ErrorBody {
            code: ErrorCode::Internal,
            message: "the gateway's answer had no series".into(),
        })?;
        serde_json::from_value::<Vec<Series>>(v).map_err(|e| ErrorBody {
            code: ErrorCode::Internal,
            message: format!("the gateway's series could not be read: {e}"),
        })
    })
}

/// An overview query answered: kept, and the next one due in 30 s. A
/// failure is said on the overview's row only (no footer message: the
/// charts of that service are not what is on screen).
fn on_overview_reply(
    app: &mut App,
    q: Query,
    result: &Result<serde_json::Map<String, serde_json::Value>, ErrorBody>,
) {
    let now = app.server_now();
    let due = app.local_now + Duration::seconds(OVERVIEW_REFRESH_S as i64);
    let o = app.metrics.overview.entry(q.service.clone()).or_default();
    o.next_due = Some(due);
    match series_of(result) {
        Ok(series) => {
            o.charts = Some(q.answered(series, now));
            o.failure = None;
            o.halted = false;
        }
        Err(e) => {
            o.halted = asking_again_is_useless(e.code);
            o.failure = Some(q.failed(&e, now));
        }
    }
}

/// The connection dropped: the queries in flight died with it.
pub fn on_down(app: &mut App) {
    app.metrics.pending = None;
    app.metrics.overview_pending = None;
}

/// A grant changed: a new (or extended) one covering the charted service
/// refreshes at once, after an ended grant or a refusal alike.
pub fn on_grant(app: &mut App, grant: &Grant) {
    if grant.user != app.user_name()
        || grant.state != GrantState::Active
        || !grant.capabilities.contains(&Capability::MetricsRead)
    {
        return;
    }
    if app.metrics.service.as_deref() == Some(grant.service.as_str()) {
        app.metrics.halted = false;
        app.metrics.next_due = None;
    } else if let Some(o) = app.metrics.overview.get_mut(&grant.service) {
        // A refusal may not hold any more: the overview asks again.
        o.halted = false;
        o.next_due = None;
    }
}

// ---- keys and mouse ----

/// The Metrics pane's meaning of an action; None leaves it to `update`.
pub fn act(app: &mut App, action: Action) -> Option<Vec<Effect>> {
    if app.tab != Tab::Metrics {
        return None;
    }
    match action {
        Action::ChartService => {
            let cursor = choices(app)
                .iter()
                .position(|c| Some(c.service.as_str()) == service(app))
                .unwrap_or(0);
            app.overlay = Some(Overlay::ChartServices(cursor));
        }
        Action::ZoomIn => zoom(app, app.metrics.range.shorter(), "shortest"),
        Action::ZoomOut => zoom(app, app.metrics.range.longer(), "longest"),
        Action::RefreshCharts => return Some(refresh(app)),
        Action::AskAgain => return Some(ask_again(app)),
        Action::ChartPrev => focus_by(app, -1),
        Action::ChartNext => focus_by(app, 1),
        Action::Up => focus_rows(app, -1),
        Action::Down => focus_rows(app, 1),
        Action::PageUp => focus_rows(app, -(views::metrics_grid(app).1.max(1) as isize)),
        Action::PageDown => focus_rows(app, views::metrics_grid(app).1.max(1) as isize),
        Action::Top => focus_to(app, 0),
        Action::Bottom => focus_to(app, usize::MAX),
        Action::Enlarge => enlarge(app),
        Action::Shrink => app.metrics.enlarged = false,
        _ => return None,
    }
    Some(Vec::new())
}

/// How many charts the pane shows for the charted service.
fn chart_count(app: &App) -> usize {
    service(app)
        .and_then(|s| app.metrics.charts_of(s))
        .map_or(0, |c| c.series.len())
}

/// Focus on chart `i` (clamped), the rows scrolled to show it.
fn focus_to(app: &mut App, i: usize) {
    let n = chart_count(app);
    app.metrics.focus = i.min(n.saturating_sub(1));
    keep_focus_visible(app);
}

/// The previous / next chart, in reading order.
fn focus_by(app: &mut App, delta: isize) {
    let to = (app.metrics.focus as isize).saturating_add(delta).max(0) as usize;
    focus_to(app, to);
}

/// The chart `delta` rows up or down the grid, same column (the last
/// chart when the row below is short); enlarged, the previous / next.
fn focus_rows(app: &mut App, delta: isize) {
    let ncols = if app.metrics.enlarged {
        1
    } else {
        views::metrics_grid(app).0.max(1)
    };
    let n = chart_count(app);
    let f = app.metrics.focus as isize + delta.saturating_mul(ncols as isize);
    if f < 0 {
        // Already on the top row: the first row's chart in this column.
        focus_to(app, app.metrics.focus % ncols);
    } else if f as usize >= n && app.metrics.focus / ncols == n.saturating_sub(1) / ncols {
        // Already on the bottom row: stay.
    } else {
        focus_to(app, f as usize);
    }
}

/// Scrolls the chart rows so that the focused chart is on screen.
fn keep_focus_visible(app: &mut App) {
    let (ncols, rows) = views::metrics_grid(app);
    let (ncols, rows) = (ncols.max(1), rows.max(1));
    let row = app.metrics.focus / ncols;
    let m = &mut app.metrics;
    if row < m.scroll {
        m.scroll = row;
    } else if row >= m.scroll + rows {
        m.scroll = row + 1 - rows;
    }
    scroll(app, 0);
}

/// After the rows scrolled (the wheel): the focus moves onto them.
fn keep_focus_on_screen(app: &mut App) {
    let (ncols, rows) = views::metrics_grid(app);
    let (ncols, rows) = (ncols.max(1), rows.max(1));
    let n = chart_count(app);
    let m = &mut app.metrics;
    let (row, col) = (m.focus / ncols, m.focus % ncols);
    let first = m.scroll.min(n.saturating_sub(1) / ncols);
    let to_row = row.clamp(first, first + rows - 1);
    if to_row != row {
        m.focus = (to_row * ncols + col).min(n.saturating_sub(1));
    }
}

/// `Enter`: the focused chart fills the pane, or the grid is back.
fn enlarge(app: &mut App) {
    if app.metrics.enlarged {
        app.metrics.enlarged = false;
    } else if chart_count(app) == 0 {
        flash(app, Level::Info, "no chart to enlarge yet");
    } else {
        app.metrics.enlarged = true;
    }
}

/// A new range: `poll` queries it at once (one query in flight at most,
/// so keys pressed in a burst cost two queries, not one each).
fn zoom(app: &mut App, to: Option<Range>, end: &str) {
    match to {
        Some(r) => app.metrics.range = r,
        None => flash(
            app,
            Level::Info,
            format!("{} is the {end} range", app.metrics.range.label()),
        ),
    }
}

fn scroll(app: &mut App, delta: isize) {
    let max = views::metrics_scroll_max(app);
    let to = (app.metrics.scroll as isize).saturating_add(delta);
    app.metrics.scroll = to.clamp(0, max as isize) as usize;
}

/// `R`: query now.
fn refresh(app: &mut App) -> Vec<Effect> {
    let Some(service) = service(app).map(str::to_string) else {
        flash(
            app,
            Level::Info,
            "no grant covers metrics:read: press n to ask for one",
        );
        return Vec::new();
    };
    if !has_grant(app, &service) {
        flash(
            app,
            Level::Warn,
            format!("your metrics:read grant on {service} has ended: r asks for it again"),
        );
        return Vec::new();
    }
    if app.metrics.pending.is_some() {
        flash(app, Level::Info, "refreshing already");
        return Vec::new();
    }
    app.metrics.service = Some(service.clone());
    query(app, service)
}

/// Mouse in the Metrics pane: the wheel scrolls the charts when they do
/// not all fit. None when it is not the pane's.
pub fn on_mouse(app: &mut App, m: &MouseEvent) -> Option<()> {
    if app.tab != Tab::Metrics || app.overlay.is_some() {
        return None;
    }
    match m.kind {
        MouseEventKind::ScrollDown if !app.metrics.enlarged => {
            scroll(app, 1);
            keep_focus_on_screen(app);
        }
        MouseEventKind::ScrollUp if !app.metrics.enlarged => {
            scroll(app, -1);
            keep_focus_on_screen(app);
        }
        MouseEventKind::Down(MouseButton::Left) => {
            // A click on a chart focuses it.
            let i = views::metrics_chart_at(app, m.column, m.row)?;
            app.metrics.focus = i;
        }
        _ => return None,
    }
    Some(())
}

/// After a resize: the scroll stays within what there is, the focused
/// chart on screen.
pub fn on_resize(app: &mut App) {
    scroll(app, 0);
    keep_focus_visible(app);
}

// ---- the service chooser ----

/// One line of the service chooser.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub service: String,
    /// When the grant covering it ends; None without a grant.
    pub expires_at: Option<DateTime<Utc>>,
}

/// What the chooser offers: services a grant lets me chart now, most
/// recent grant first, then the one charted if its grant ended.
pub fn choices(app: &App) -> Vec<Choice> {
    let mut out: Vec<Choice> = metrics_grants(app)
        .into_iter()
        .map(|g| Choice {
            service: g.service.clone(),
            expires_at: Some(g.expires_at),
        })
        .collect();
    if let Some(s) = service(app)
        && !out.iter().any(|c| c.service == s)
    {
        out.push(Choice {
            service: s.to_string(),
            expires_at: None,
        });
    }
    out
}

/// Keys of the service chooser (`s`).
pub fn on_services_key(app: &mut App, cursor: usize, key: KeyEvent) -> Vec<Effect> {
    let choices = choices(app);
    let last = choices.len().saturating_sub(1);
    let mut cursor = cursor.min(last);
    match key.code {
        KeyCode::Esc | KeyCode::Char('s') | KeyCode::Char('q') => return Vec::new(),
        KeyCode::Up | KeyCode::Char('k') => cursor = cursor.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => cursor = (cursor + 1).min(last),
        KeyCode::Enter | KeyCode::Char(' ') => {
            if let Some(c) = choices.get(cursor) {
                let old = service(app).map(str::to_string);
                if old.as_deref() != Some(c.service.as_str()) {
                    switched_from(app, old.as_deref());
                }
                app.metrics.service = Some(c.service.clone());
            }
            // Closed; `poll` queries the new service.
            return Vec::new();
        }
        _ => {}
    }
    app.overlay = Some(Overlay::ChartServices(cursor));
    Vec::new()
}

/// Another service is charted: the grid starts over at its first
/// chart, and the one charted before goes to the overview with the
/// charts it had (its next overview query in 30 s, not at once).
fn switched_from(app: &mut App, old: Option<&str>) {
    let m = &mut app.metrics;
    m.scroll = 0;
    m.focus = 0;
    m.enlarged = false;
    let Some(old) = old else {
        return;
    };
    let due = app.local_now + Duration::seconds(OVERVIEW_REFRESH_S as i64);
    if let Some(c) = m.charts_of(old).cloned() {
        let o = m.overview.entry(old.to_string()).or_default();
        if o.charts.as_ref().is_none_or(|oc| oc.at < c.at) {
            o.charts = Some(c);
            o.failure = None;
        }
        o.next_due = Some(o.next_due.map_or(due, |d| d.max(due)));
    }
}

// ---- asking again ----

/// `r` once the grant ended: opens the request form filled in for
/// metrics:read on that service (with the ended grant's ticket), unless
/// a request is already waiting or a grant covers it again.
fn ask_again(app: &mut App) -> Vec<Effect> {
    let Some(service) = service(app).map(str::to_string) else {
        return Vec::new();
    };
    if has_grant(app, &service) {
        return refresh(app);
    }
    update::ask_again_for(
        app,
        &service,
        Capability::MetricsRead,
        Tab::Metrics,
        "the charts resume",
    )
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyModifiers;
    use serde_json::{Value, json};

    use super::*;
    use crate::console::app::{FormField, Msg, NetMsg};
    use crate::console::fixtures::{
        catalog_entry, code, connected_as, drop_link, event, key, reconnect, t0,
    };
    use crate::console::keymap::Ctx;
    use crate::console::update::{next_wakeup as wakeup, update};
    use crate::protocol::{AccessRequest, Event, RequestState};

    fn grant(id: &str, service: &str, from_s: i64, secs: i64) -> Grant {
        crate::console::fixtures::grant(id, service, Capability::MetricsRead, from_s, secs)
    }

    /// alice, connected at 160x45, with metrics grants on payments (older)
    /// and checkout (newer), a logs-only grant on search; on the Grants
    /// pane.
    fn alice() -> App {
        let mut app = connected_as("alice", &["engineer"]);
        app.size = (160, 45);
        app.catalog = vec![catalog_entry("payments"), catalog_entry("checkout")];
        let mut logs_only = grant("grt-3", "search", 0, 1800);
        logs_only.capabilities = vec![Capability::LogsRead];
        for g in [
            grant("grt-1", "payments", -600, 1200),
            grant("grt-2", "checkout", -60, 1800),
            logs_only,
        ] {
            app.grants.insert(g.id.clone(), g);
        }
        app
    }

    fn tick(app: &mut App, secs: f64) -> Vec<Effect> {
        update(
            app,
            Msg::Tick(t0() + Duration::milliseconds((secs * 1000.0) as i64)),
        )
    }

    /// Every metrics query in `effects`: (op_id, service, range_s, step_s).
    fn queries(effects: &[Effect]) -> Vec<(String, String, u64, u64)> {
        effects
            .iter()
            .map(|e| match e {
                Effect::Send {
                    op_id,
                    op:
                        Op::MetricsQuery {
                            service,
                            metric: None,
                            range_s,
                            step_s,
                        },
                } => (op_id.clone(), service.clone(), *range_s, *step_s),
                other => panic!("expected metrics.query only, got {other:?}"),
            })
            .collect()
    }

    /// The single charts query in `effects` (the first), with at most
    /// one overview query (of another service) after it.
    fn queried(effects: &[Effect]) -> (String, String, u64, u64) {
        let qs = queries(effects);
        match qs.as_slice() {
            [charts] => charts.clone(),
            [charts, overview] if overview.1 != charts.1 => charts.clone(),
            other => panic!("expected one charts query, got {other:?}"),
        }
    }

    /// Four charts, as the demo's services answer.
    fn series_json() -> Value {
        let pts = |a: f64, b: f64| json!([[1_795_489_190_000i64, a], [1_795_489_200_000i64, b]]);
        json!([
            {"name": "rps", "unit": "req/s", "points": pts(410.0, 415.5)},
            {"name": "error_ratio", "unit": "%", "points": pts(0.5, 19.6)},
            {"name": "latency_p99", "unit": "ms", "points": pts(118.0, 1984.0)},
            {"name": "memory", "unit": "bytes", "points": pts(5.4e8, 5.5e8)},
        ])
    }

    fn answer(app: &mut App, op_id: &str) -> Vec<Effect> {
        let mut fields = serde_json::Map::new();
        fields.insert("series".into(), series_json());
        update(
            app,
            Msg::Net(NetMsg::Reply {
                op_id: op_id.into(),
                result: Ok(fields),
            }),
        )
    }

    fn refuse(app: &mut App, op_id: &str, code: ErrorCode, message: &str) -> Vec<Effect> {
        update(
            app,
            Msg::Net(NetMsg::Reply {
                op_id: op_id.into(),
                result: Err(ErrorBody {
                    code,
                    message: message.into(),
                }),
            }),
        )
    }

    /// alice on the Metrics pane with checkout's charts in.
    fn charting() -> App {
        let mut app = alice();
        let (op_id, _, _, _) = queried(&update(&mut app, key('5')));
        assert!(answer(&mut app, &op_id).is_empty());
        app
    }

    #[test]
    fn opening_the_pane_queries_the_most_recent_grants_service_and_nothing_while_hidden() {
        let mut app = alice();
        // Hidden: no query, whatever the clock says.
        assert!(tick(&mut app, 30.0).is_empty());
        let (op_id, service, range_s, step_s) = queried(&update(&mut app, key('5')));
        assert_eq!((service.as_str(), range_s), ("checkout", 900));
        // About one point per column of a 2x2 grid at 160 columns.
        assert_eq!(step_s, 15);
        assert_eq!(app.metrics.service.as_deref(), Some("checkout"));
        // One query at a time: nothing more until it answers.
        assert!(tick(&mut app, 40.0).is_empty());
        assert!(answer(&mut app, &op_id).is_empty());
        let charts = app.metrics.charts.as_ref().unwrap();
        assert_eq!(charts.series.len(), 4);
        assert_eq!(charts.series[2].name, "latency_p99", "the gateway's order");
        assert_eq!(charts.at, t0() + Duration::seconds(40));
        // Not a background op to report when the connection drops.
        assert!(app.in_flight.is_empty());
    }

    #[test]
    fn refreshes_come_when_due_and_stop_when_the_pane_is_hidden() {
        let mut app = charting();
        // Answered at 03:00:00 with a 15 s step: due at 03:00:15.
        assert_eq!(wakeup(&app, t0()), Some(t0() + Duration::seconds(1)));
        assert_eq!(
            next_wakeup(&app),
            Some(t0() + Duration::seconds(15)),
            "the runtime wakes update for it"
        );
        assert!(tick(&mut app, 14.0).is_empty());
        let (op_id, ..) = queried(&tick(&mut app, 15.0));
        answer(&mut app, &op_id);
        // Another pane: nothing, however long.
        update(&mut app, key('1'));
        assert!(tick(&mut app, 120.0).is_empty());
        assert_eq!(next_wakeup(&app), None);
        // Back: the charts are old, so at once.
        let (_, service, ..) = queried(&update(&mut app, key('5')));
        assert_eq!(service, "checkout");
    }

    #[test]
    fn r_refreshes_at_once_and_a_new_range_queries_at_once() {
        let mut app = charting();
        let (op_id, _, range_s, _) = queried(&update(&mut app, key('R')));
        assert_eq!(range_s, 900);
        // R again while in flight: nothing more.
        assert!(update(&mut app, key('R')).is_empty());
        answer(&mut app, &op_id);
        let (op_id, _, range_s, step_s) = queried(&update(&mut app, key(']')));
        assert_eq!((range_s, step_s), (3600, 60));
        answer(&mut app, &op_id);
        let (_, _, range_s, step_s) = queried(&update(&mut app, key('-')));
        assert_eq!((range_s, step_s), (900, 15));
    }

    #[test]
    fn keys_in_a_burst_cost_two_queries_and_the_stale_answer_is_dropped() {
        let mut app = charting();
        let (first, _, range_s, _) = queried(&update(&mut app, key(']')));
        assert_eq!(range_s, 3600);
        assert!(update(&mut app, key(']')).is_empty(), "1h still in flight");
        assert_eq!(app.metrics.range, Range::H6);
        // The 1h answer is not what is wanted any more: dropped, and 6h asked.
        let (_, _, range_s, step_s) = queried(&answer(&mut app, &first));
        assert_eq!((range_s, step_s), (21600, 300));
        assert_eq!(app.metrics.charts.as_ref().unwrap().range, Range::M15);
        // The end of the ranges is said, not queried.
        assert!(update(&mut app, key('+')).is_empty());
        assert!(
            app.flash
                .as_ref()
                .unwrap()
                .text
                .contains("6h is the longest")
        );
    }

    #[test]
    fn a_failed_refresh_keeps_the_charts_and_retries_when_due() {
        let mut app = charting();
        let before = app.metrics.charts.clone();
        let (op_id, ..) = queried(&tick(&mut app, 15.0));
        refuse(
            &mut app,
            &op_id,
            ErrorCode::AuditUnavailable,
            "the audit trail cannot be written",
        );
        assert_eq!(app.metrics.charts, before, "the old charts stay");
        let f = app.metrics.failure.as_ref().unwrap();
        assert_eq!(f.code, ErrorCode::AuditUnavailable);
        assert_eq!(f.at, t0() + Duration::seconds(15));
        assert!(app.flash.as_ref().unwrap().text.contains("not refreshed"));
        // Retried when due; an answer clears the failure.
        assert!(tick(&mut app, 29.0).is_empty());
        let (op_id, ..) = queried(&tick(&mut app, 30.0));
        answer(&mut app, &op_id);
        assert!(app.metrics.failure.is_none());
        // rate_limited waits longer.
        let (op_id, ..) = queried(&tick(&mut app, 45.0));
        refuse(&mut app, &op_id, ErrorCode::RateLimited, "slow down");
        assert!(tick(&mut app, 70.0).is_empty());
        queried(&tick(&mut app, 75.0));
    }

    #[test]
    fn a_refusal_that_asking_again_would_not_change_stops_the_refreshes_until_r() {
        let mut app = charting();
        let (op_id, ..) = queried(&tick(&mut app, 15.0));
        refuse(
            &mut app,
            &op_id,
            ErrorCode::NotFound,
            "the gateway has no metrics source configured for `checkout`",
        );
        assert!(app.metrics.halted);
        assert!(tick(&mut app, 300.0).is_empty());
        queried(&update(&mut app, key('R')));
    }

    #[test]
    fn no_query_without_a_grant_or_a_connection() {
        let mut app = alice();
        app.grants.clear();
        assert!(update(&mut app, key('5')).is_empty());
        assert!(app.metrics.service.is_none());
        update(&mut app, key('R'));
        assert!(app.flash.as_ref().unwrap().text.contains("press n"));
        // A grant arrives: the pane starts by itself.
        let (_, service, ..) = queried(&event(
            &mut app,
            Event::GrantUpdated {
                grant: grant("grt-9", "payments", 10, 1800),
            },
        ));
        assert_eq!(service, "payments");
        // Disconnected: nothing until the connection is back.
        app.flash = None;
        update(
            &mut app,
            Msg::Net(NetMsg::Down {
                reason: "reset".into(),
                retry_at: None,
            }),
        );
        assert!(app.metrics.pending.is_none());
        assert!(app.flash.is_none(), "a lost refresh is no news");
        assert!(tick(&mut app, 60.0).is_empty());
        let user = app.me.clone().unwrap();
        let effects = update(
            &mut app,
            Msg::Net(NetMsg::Connected {
                user,
                clock_offset: Duration::zero(),
            }),
        );
        queried(&effects);
    }

    #[test]
    fn when_the_grant_ends_the_charts_stay_and_r_opens_the_form_for_metrics_read() {
        let mut app = charting();
        app.requests.insert(
            "req-grt-2".into(),
            AccessRequest {
                ticket: Some("INC-4521".into()),
                ..request("req-grt-2", "checkout", RequestState::Approved)
            },
        );
        let mut g = app.grants["grt-2"].clone();
        g.state = GrantState::Expired;
        g.ended_at = Some(g.expires_at);
        event(&mut app, Event::GrantUpdated { grant: g });
        assert!(ended(&app));
        assert!(Ctx::of(&app).charts_ended);
        assert!(app.metrics.charts.is_some(), "what was shown stays");
        assert_eq!(service(&app), Some("checkout"), "no switch behind my back");
        assert!(tick(&mut app, 60.0).is_empty(), "no query without a grant");
        assert!(update(&mut app, key('r')).is_empty());
        let Some(Overlay::Form(form)) = &app.overlay else {
            panic!("no form: {:?}", app.overlay)
        };
        assert_eq!(app.catalog[form.service].name, "checkout");
        assert_eq!(
            form.caps,
            vec![
                (Capability::LogsRead, false),
                (Capability::MetricsRead, true)
            ]
        );
        assert_eq!(form.ticket, "INC-4521");
        assert_eq!(form.return_to, Some(Tab::Metrics));
        assert_eq!(form.focus, FormField::Reason);
        app.overlay = None;
        // While the new request waits, r says so instead.
        app.requests.insert(
            "req-new".into(),
            request("req-new", "checkout", RequestState::Pending),
        );
        assert!(update(&mut app, key('r')).is_empty());
        assert!(app.overlay.is_none());
        assert!(app.flash.as_ref().unwrap().text.contains("already waiting"));
        // Granted: the charts resume at once.
        let (_, service, ..) = queried(&event(
            &mut app,
            Event::GrantUpdated {
                grant: grant("grt-10", "checkout", 70, 2000),
            },
        ));
        assert_eq!(service, "checkout");
        assert!(!ended(&app));
    }

    #[test]
    fn a_grant_that_runs_out_on_the_clock_stops_the_refreshes_too() {
        let mut app = charting();
        // checkout's grant ends at 03:30:00; no event needed.
        assert!(tick(&mut app, 1800.0).is_empty());
        assert!(ended(&app));
    }

    #[test]
    fn the_service_chooser_switches_and_queries_the_new_service() {
        let mut app = charting();
        update(&mut app, key('s'));
        assert!(matches!(app.overlay, Some(Overlay::ChartServices(0))));
        let names: Vec<String> = choices(&app).into_iter().map(|c| c.service).collect();
        assert_eq!(
            names,
            ["checkout", "payments"],
            "search has no metrics:read"
        );
        update(&mut app, key('j'));
        let (_, service, ..) = queried(&update(
            &mut app,
            Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
        ));
        assert_eq!(service, "payments");
        assert!(app.overlay.is_none());
        // The checkout charts are not shown as payments'.
        assert!(app.metrics.charts_of("payments").is_none());
    }

    #[test]
    fn an_answer_without_series_is_a_failure_not_a_crash() {
        let mut app = alice();
        let (op_id, ..) = queried(&update(&mut app, key('5')));
        update(
            &mut app,
            Msg::Net(NetMsg::Reply {
                op_id,
                result: Ok(serde_json::Map::new()),
            }),
        );
        assert!(app.metrics.charts.is_none());
        assert_eq!(
            app.metrics.failure.as_ref().unwrap().code,
            ErrorCode::Internal
        );
    }

    fn services(qs: &[(String, String, u64, u64)]) -> Vec<&str> {
        qs.iter().map(|q| q.1.as_str()).collect()
    }

    #[test]
    fn the_overview_queries_the_other_granted_services_every_30s_while_on_screen() {
        let mut app = alice();
        let qs = queries(&update(&mut app, key('5')));
        // The charts of the newest grant's service, and the overview's
        // other service, at about one point per sparkline column.
        assert_eq!(services(&qs), ["checkout", "payments"]);
        assert_eq!((qs[1].2, qs[1].3), (900, 30));
        assert!(app.in_flight.is_empty(), "background queries");
        answer(&mut app, &qs[0].0);
        assert!(answer(&mut app, &qs[1].0).is_empty());
        let o = &app.metrics.overview["payments"];
        assert_eq!(o.charts.as_ref().unwrap().series.len(), 4);
        assert_eq!(o.next_due, Some(t0() + Duration::seconds(30)));
        assert_eq!(
            app.metrics.overview_of("payments").unwrap().service,
            "payments"
        );
        // The charts refresh every 15 s; the overview waits its 30 s.
        assert_eq!(next_wakeup(&app), Some(t0() + Duration::seconds(15)));
        let qs = queries(&tick(&mut app, 15.0));
        assert_eq!(services(&qs), ["checkout"]);
        answer(&mut app, &qs[0].0);
        assert_eq!(next_wakeup(&app), Some(t0() + Duration::seconds(30)));
        let qs = queries(&tick(&mut app, 30.0));
        assert_eq!(services(&qs), ["checkout", "payments"]);
        for q in &qs {
            answer(&mut app, &q.0);
        }
        // Another pane: nothing at all, however long.
        update(&mut app, key('1'));
        assert!(tick(&mut app, 300.0).is_empty());
        assert_eq!(next_wakeup(&app), None);
        // 80x24 has no room for the overview: the charts only.
        app.size = (80, 24);
        let qs = queries(&update(&mut app, key('5')));
        assert_eq!(services(&qs), ["checkout"]);
        answer(&mut app, &qs[0].0);
        assert!(tick(&mut app, 400.0).iter().all(|e| matches!(
            e,
            Effect::Send { op: Op::MetricsQuery { service, .. }, .. } if service == "checkout"
        )));
    }

    #[test]
    fn an_overview_refusal_stops_its_queries_quietly_until_a_grant_changes() {
        let mut app = alice();
        let qs = queries(&update(&mut app, key('5')));
        answer(&mut app, &qs[0].0);
        refuse(&mut app, &qs[1].0, ErrorCode::Forbidden, "not yours");
        let o = &app.metrics.overview["payments"];
        assert!(o.halted && o.charts.is_none());
        assert_eq!(o.failure.as_ref().unwrap().code, ErrorCode::Forbidden);
        assert!(app.flash.is_none(), "the overview's row says it");
        for at in [15.0, 30.0, 45.0, 60.0, 75.0] {
            let qs = queries(&tick(&mut app, at));
            assert_eq!(services(&qs), ["checkout"], "at {at} s");
            answer(&mut app, &qs[0].0);
        }
        // A new grant on payments: asked again at once.
        let qs = queries(&event(
            &mut app,
            Event::GrantUpdated {
                grant: grant("grt-11", "payments", 80, 2000),
            },
        ));
        assert_eq!(services(&qs), ["payments"]);
        // The overview's query lost with the connection is asked again.
        drop_link(&mut app);
        assert!(app.metrics.overview_pending.is_none());
        let qs = queries(&reconnect(&mut app));
        assert!(services(&qs).contains(&"payments"));
    }

    #[test]
    fn the_overview_forgets_a_service_whose_grant_ended() {
        let mut app = alice();
        let qs = queries(&update(&mut app, key('5')));
        answer(&mut app, &qs[0].0);
        answer(&mut app, &qs[1].0);
        assert!(app.metrics.overview.contains_key("payments"));
        // payments' grant runs out at 03:20:00.
        let effects = tick(&mut app, 1200.0);
        assert!(!services(&queries(&effects)).contains(&"payments"));
        assert!(!app.metrics.overview.contains_key("payments"));
    }

    #[test]
    fn arrows_and_hjkl_move_the_focus_through_the_grid_and_enter_enlarges() {
        // 160x45: four charts in a 2x2 grid.
        let mut app = charting();
        let press = |app: &mut App, m: Msg| {
            assert!(
                update(app, m).is_empty(),
                "moving the focus queries nothing"
            );
            app.metrics.focus
        };
        assert_eq!(app.metrics.focus, 0);
        assert_eq!(press(&mut app, key('l')), 1);
        assert_eq!(press(&mut app, key('j')), 3);
        assert_eq!(press(&mut app, key('j')), 3, "the bottom row");
        assert_eq!(press(&mut app, key('l')), 3, "the last chart");
        assert_eq!(press(&mut app, key('h')), 2);
        assert_eq!(press(&mut app, key('k')), 0);
        assert_eq!(press(&mut app, key('k')), 0, "the top row");
        assert_eq!(press(&mut app, code(KeyCode::Right)), 1);
        assert_eq!(press(&mut app, code(KeyCode::Down)), 3);
        assert_eq!(press(&mut app, code(KeyCode::Left)), 2);
        assert_eq!(press(&mut app, code(KeyCode::Up)), 0);
        assert_eq!(press(&mut app, key('G')), 3);
        assert_eq!(press(&mut app, key('g')), 0);
        // Enter enlarges the focused chart; the arrows then go through
        // the charts one by one; Esc (or Enter) brings the grid back.
        press(&mut app, key('l'));
        press(&mut app, code(KeyCode::Enter));
        assert!(app.metrics.enlarged);
        assert!(Ctx::of(&app).chart_enlarged);
        let (pane, _) = crate::console::keymap::footer_for(&app);
        assert_eq!(pane[0], ("esc", "back to every chart"), "{pane:?}");
        assert_eq!(press(&mut app, key('j')), 2);
        assert_eq!(press(&mut app, code(KeyCode::Right)), 3);
        assert_eq!(press(&mut app, key('k')), 2);
        press(&mut app, code(KeyCode::Esc));
        assert!(!app.metrics.enlarged);
        assert_eq!(app.metrics.focus, 2, "the focus stays");
        press(&mut app, code(KeyCode::Esc));
        assert!(!app.metrics.enlarged, "esc does nothing more");
        press(&mut app, code(KeyCode::Enter));
        press(&mut app, code(KeyCode::Enter));
        assert!(!app.metrics.enlarged, "enter toggles");
        // Fewer charts in the next answer: the focus stays on one.
        press(&mut app, key('G'));
        press(&mut app, code(KeyCode::Enter));
        let (op_id, ..) = queried(&update(&mut app, key('R')));
        let mut fields = serde_json::Map::new();
        let one =
            json!([{"name": "rps", "unit": "req/s", "points": [[1_795_489_200_000i64, 1.0]]}]);
        fields.insert("series".into(), one);
        update(
            &mut app,
            Msg::Net(NetMsg::Reply {
                op_id,
                result: Ok(fields),
            }),
        );
        assert_eq!(app.metrics.focus, 0);
        assert!(app.metrics.enlarged, "the one chart, still enlarged");
    }

    #[test]
    fn enter_before_any_chart_says_so() {
        let mut app = alice();
        update(&mut app, key('5'));
        update(&mut app, code(KeyCode::Enter));
        assert!(!app.metrics.enlarged);
        assert!(app.flash.as_ref().unwrap().text.contains("no chart"));
    }

    #[test]
    fn stacked_charts_scroll_to_keep_the_focus_on_screen() {
        // 80x24: four charts stacked, all on screen; eight do not fit.
        let mut app = charting();
        update(&mut app, Msg::Resize(80, 24));
        let c = app.metrics.charts.as_mut().unwrap();
        let more = c.series.clone();
        c.series.extend(more);
        assert_eq!(crate::console::views::metrics_grid(&app), (1, 4));
        for _ in 0..5 {
            update(&mut app, key('j'));
        }
        assert_eq!((app.metrics.focus, app.metrics.scroll), (5, 2));
        update(&mut app, key('g'));
        assert_eq!((app.metrics.focus, app.metrics.scroll), (0, 0));
        // The wheel scrolls, and the focus comes along onto the rows shown.
        for _ in 0..3 {
            update(
                &mut app,
                Msg::Mouse(MouseEvent {
                    kind: MouseEventKind::ScrollDown,
                    column: 10,
                    row: 10,
                    modifiers: KeyModifiers::NONE,
                }),
            );
        }
        assert_eq!((app.metrics.focus, app.metrics.scroll), (3, 3));
    }

    #[test]
    fn a_click_on_a_chart_focuses_it() {
        let mut app = charting();
        let click = |column, row| {
            Msg::Mouse(MouseEvent {
                kind: MouseEventKind::Down(MouseButton::Left),
                column,
                row,
                modifiers: KeyModifiers::NONE,
            })
        };
        // 160x45, 2x2: the bottom right chart.
        assert!(update(&mut app, click(120, 40)).is_empty());
        assert_eq!(app.metrics.focus, 3);
        update(&mut app, click(20, 12));
        assert_eq!(app.metrics.focus, 0);
        // The overview's rows are not a chart.
        update(&mut app, click(20, 3));
        assert_eq!(app.metrics.focus, 0);
    }

    #[test]
    fn charting_another_service_starts_at_its_first_chart_and_keeps_the_old_one_in_the_overview() {
        let mut app = alice();
        let qs = queries(&update(&mut app, key('5')));
        answer(&mut app, &qs[0].0);
        answer(&mut app, &qs[1].0);
        update(&mut app, key('l'));
        update(&mut app, code(KeyCode::Enter));
        update(&mut app, key('s'));
        update(&mut app, key('j'));
        let qs = queries(&update(&mut app, code(KeyCode::Enter)));
        // payments is charted now; checkout's charts go to the overview,
        // whose next query of it waits its 30 s.
        assert_eq!(services(&qs), ["payments"]);
        assert_eq!((app.metrics.focus, app.metrics.enlarged), (0, false));
        let o = &app.metrics.overview["checkout"];
        assert_eq!(o.charts.as_ref().unwrap().service, "checkout");
        assert_eq!(o.next_due, Some(t0() + Duration::seconds(30)));
        assert!(app.metrics.overview_of("checkout").is_some());
    }

    /// alice's request `id` for metrics:read on `service`.
    fn request(id: &str, service: &str, state: RequestState) -> AccessRequest {
        AccessRequest {
            service: service.into(),
            capabilities: vec![Capability::MetricsRead],
            reason: "p99 up".into(),
            ticket: None,
            ..crate::console::fixtures::request(id, "alice", state)
        }
    }
}
