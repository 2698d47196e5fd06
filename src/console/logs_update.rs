//! The Logs pane's part of `update`: subscribing (on first opening, on a
//! pick, again after a reconnect or a new grant), lines and closures
//! arriving, the pane's keys and mouse, search, level filter, and copies.
//!
//! Pure like `update`: state in, state and effects out.
//!
//! - A stream starts with `since_s` = 300 (the last five minutes); after a
//!   reconnect, a closure or a stop it asks for the gap since its newest
//!   line, capped at 600 s, and skips what it already holds.
//! - Every copy (`y`, `Y`) goes through the journal first
//!   ([`Effect::Copy`]); only once journaled does it reach the clipboard.
//!   Searches and level filters are journaled too ([`Effect::Record`]).

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use serde_json::json;

use super::app::{App, ClipVia, CopyJob, Effect, Level, Overlay, Prompt, PromptFor, Tab};
use super::clipboard;
use super::keymap::Action;
use super::logs::{
    Entry, FIRST_SINCE_S, Geometry, Kind, LevelFilter, Orphan, RESUME_MAX_S, StreamState, thousands,
};
use super::update::{self, flash, send};
use super::views;
use crate::protocol::{
    Capability, CloseReason, ErrorBody, ErrorCode, Grant, GrantState, LogLine, Op,
};

/// Journal action of a log search.
pub const SEARCH_ACTION: &str = "logs.search";
/// Journal action of a level filter change.
pub const FILTER_ACTION: &str = "logs.filter";

/// The geometry of the Logs pane's text at the app's terminal size.
fn geometry(app: &App) -> Geometry {
    views::logs_geometry(app)
}

/// My running grants that cover logs:read, one per service, most
/// recently granted first (the first is what the pane opens on).
pub fn logs_grants(app: &App) -> Vec<&Grant> {
    app.my_grants_covering(Capability::LogsRead)
}

fn has_grant(app: &App, service: &str) -> bool {
    app.my_grant_covers(service, Capability::LogsRead)
}

/// One line of the stream chooser.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub service: String,
    /// Index into `app.logs.streams`, once it has one.
    pub stream: Option<usize>,
    /// When the grant covering it ends; None without a grant.
    pub expires_at: Option<DateTime<Utc>>,
}

/// What the chooser offers: services I may tail now, then streams that
/// ended.
pub fn choices(app: &App) -> Vec<Choice> {
    let mut out: Vec<Choice> = logs_grants(app)
        .into_iter()
        .map(|g| Choice {
            service: g.service.clone(),
            stream: app.logs.stream_index(&g.service),
            expires_at: Some(g.expires_at),
        })
        .collect();
    for (i, s) in app.logs.streams.iter().enumerate() {
        if !out.iter().any(|c| c.service == s.service) {
            out.push(Choice {
                service: s.service.clone(),
                stream: Some(i),
                expires_at: None,
            });
        }
    }
    out
}

/// Services the pane streams (or streamed), for journal targets.
fn services(app: &App) -> String {
    let on: Vec<&str> = app
        .logs
        .streams
        .iter()
        .filter(|s| s.state.is_on())
        .map(|s| s.service.as_str())
        .collect();
    if on.is_empty() {
        app.logs
            .streams
            .iter()
            .map(|s| s.service.as_str())
            .collect::<Vec<_>>()
            .join(",")
    } else {
        on.join(",")
    }
}

fn subscribe(app: &mut App, si: usize, since_s: u64) -> Vec<Effect> {
    let service = app.logs.streams[si].service.clone();
    let now = app.server_now();
    if !app.connected() {
        let st = &mut app.logs.streams[si];
        st.state = StreamState::Waiting;
        st.since = Some((now, since_s));
        flash(
            app,
            Level::Warn,
            format!("not connected: {service} streams once the console reconnects"),
        );
        return Vec::new();
    }
    let effects = send(
        app,
        Op::LogsSubscribe {
            service: service.clone(),
            filter: None,
            since_s: Some(since_s),
        },
        format!("stream {service}"),
    );
    if let Some(Effect::Send { op_id, .. }) = effects.first() {
        let st = &mut app.logs.streams[si];
        st.state = StreamState::Subscribing {
            op_id: op_id.clone(),
        };
        st.since = Some((now, since_s));
    }
    effects
}

/// Starts (or restarts) streaming `service`: the last five minutes the
/// first time, the gap since the newest line held afterwards.
pub fn start(app: &mut App, service: &str) -> Vec<Effect> {
    let si = app.logs.ensure_stream(service);
    let now = app.server_now();
    let st = &mut app.logs.streams[si];
    if st.received == 0 && st.since.is_none() {
        return subscribe(app, si, FIRST_SINCE_S);
    }
    let last = st.last_ts();
    let (since, gap) = st.resume_since(now);
    let text = match last {
        Some(last) if gap => format!(
            "⋯ resumed: lines from {} to {} may be missing (the gateway resends at most {} min)",
            last.format("%H:%M:%S"),
            (now - chrono::Duration::seconds(RESUME_MAX_S as i64)).format("%H:%M:%S"),
            RESUME_MAX_S / 60
        ),
        Some(last) => format!(
            "⋯ resumed: the gateway resends what came after {}",
            last.format("%H:%M:%S")
        ),
        None => "⋯ resumed".to_string(),
    };
    app.logs.mark(si, Kind::Note, text, now);
    subscribe(app, si, since)
}

/// Stops a stream the user turned off.
fn stop(app: &mut App, si: usize) -> Vec<Effect> {
    let now = app.server_now();
    let prev = std::mem::replace(&mut app.logs.streams[si].state, StreamState::Stopped);
    let service = app.logs.streams[si].service.clone();
    app.logs.mark(
        si,
        Kind::Note,
        "⋯ stopped (s starts it again)".to_string(),
        now,
    );
    match prev {
        StreamState::Live { sub_id } => unsubscribe(app, sub_id, &service),
        StreamState::Subscribing { op_id } => {
            // Its reply unsubscribes it.
            app.logs.cancelled.push(op_id);
            Vec::new()
        }
        _ => Vec::new(),
    }
}

fn unsubscribe(app: &mut App, sub_id: String, service: &str) -> Vec<Effect> {
    if !app.connected() {
        return Vec::new();
    }
    let effects = send(
        app,
        Op::LogsUnsubscribe { sub_id },
        format!("stop {service}"),
    );
    if let Some(Effect::Send { op_id, .. }) = effects.first() {
        app.logs.unsubscribing.push(op_id.clone());
    }
    effects
}

/// Opens the pane's first stream by itself: when the pane is on screen,
/// connected, nothing was streamed yet and a grant covers logs:read.
pub fn auto_start(app: &mut App) -> Vec<Effect> {
    if app.tab != Tab::Logs
        || app.logs.auto_started
        || !app.logs.streams.is_empty()
        || !app.connected()
    {
        return Vec::new();
    }
    let Some(service) = logs_grants(app).first().map(|g| g.service.clone()) else {
        return Vec::new();
    };
    app.logs.auto_started = true;
    start(app, &service)
}

// ---- the network ----

pub fn on_lines(app: &mut App, sub_id: String, lines: Vec<LogLine>, dropped: Option<u64>) {
    match app.logs.stream_by_sub(&sub_id) {
        Some(si) => {
            let now = app.server_now();
            app.logs.ingest(si, lines, dropped, now);
        }
        None => app.logs.hold(&sub_id, Orphan::Lines(lines, dropped)),
    }
}

pub fn on_closed(app: &mut App, sub_id: String, reason: CloseReason) {
    match app.logs.stream_by_sub(&sub_id) {
        Some(si) => close(app, si, reason),
        None => app.logs.hold(&sub_id, Orphan::Closed(reason)),
    }
}

fn close(app: &mut App, si: usize, reason: CloseReason) {
    let now = app.server_now();
    let service = app.logs.streams[si].service.clone();
    app.logs.streams[si].state = StreamState::Closed { reason, at: now };
    let why = match reason {
        CloseReason::GrantExpired => "your grant expired",
        CloseReason::GrantRevoked => "your grant was revoked",
        CloseReason::SourceError => "the gateway lost the log source",
        CloseReason::Unsubscribed => "unsubscribed",
    };
    app.logs.mark(
        si,
        Kind::Closed,
        format!("⋯ stream closed by the gateway: {why}"),
        now,
    );
    if reason != CloseReason::Unsubscribed {
        flash(
            app,
            Level::Warn,
            format!("{service} logs stopped: {why} (r on the Logs pane)"),
        );
    }
}

/// Handles the reply to a logs op; None when the op was not one.
pub fn on_reply(
    app: &mut App,
    op_id: &str,
    result: &Result<serde_json::Map<String, serde_json::Value>, ErrorBody>,
) -> Option<Vec<Effect>> {
    if let Some(i) = app.logs.unsubscribing.iter().position(|id| id == op_id) {
        app.logs.unsubscribing.remove(i);
        app.in_flight.remove(op_id);
        return Some(Vec::new());
    }
    let sub_id = result
        .as_ref()
        .ok()
        .and_then(|f| f.get("sub_id"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    if let Some(i) = app.logs.cancelled.iter().position(|id| id == op_id) {
        // Stopped before the gateway answered: undo it there too.
        app.logs.cancelled.remove(i);
        app.in_flight.remove(op_id);
        let effects = match sub_id {
            Some(sub_id) => unsubscribe(app, sub_id, "stream"),
            None => Vec::new(),
        };
        return Some(effects);
    }
    let si = app.logs.stream_by_op(op_id)?;
    app.in_flight.remove(op_id);
    let service = app.logs.streams[si].service.clone();
    match (result, sub_id) {
        (Ok(_), Some(sub_id)) => {
            app.logs.streams[si].state = StreamState::Live {
                sub_id: sub_id.clone(),
            };
            for held in app.logs.take_held(&sub_id) {
                match held {
                    Orphan::Lines(lines, dropped) => {
                        let now = app.server_now();
                        app.logs.ingest(si, lines, dropped, now);
                    }
                    Orphan::Closed(reason) => close(app, si, reason),
                }
            }
        }
        (Ok(_), None) => {
            app.logs.streams[si].state = StreamState::Refused {
                code: ErrorCode::Internal,
                message: "the gateway's reply had no sub_id".into(),
            };
        }
        (Err(e), _) => {
            app.logs.streams[si].state = StreamState::Refused {
                code: e.code,
                message: e.message.clone(),
            };
            flash(
                app,
                Level::Error,
                format!("{service} logs refused: {}", e.message),
            );
        }
    }
    Some(Vec::new())
}

/// The connection dropped: every subscription died with it.
pub fn on_down(app: &mut App) {
    for s in &mut app.logs.streams {
        if matches!(
            s.state,
            StreamState::Live { .. } | StreamState::Subscribing { .. }
        ) {
            s.state = StreamState::Waiting;
        }
    }
    app.logs.drop_held();
    app.logs.cancelled.clear();
    app.logs.unsubscribing.clear();
}

/// After a (re)connect's snapshot: subscribes again what waited, with the
/// gap covered; streams whose grant ended meanwhile say so; streams
/// closed for want of a grant restart if a new grant covers them.
pub fn resume(app: &mut App) -> Vec<Effect> {
    let mut effects = Vec::new();
    if !app.connected() {
        return effects;
    }
    for si in 0..app.logs.streams.len() {
        let service = app.logs.streams[si].service.clone();
        let granted = has_grant(app, &service);
        match app.logs.streams[si].state {
            StreamState::Waiting if granted => effects.extend(start(app, &service)),
            StreamState::Waiting => {
                let revoked = update::last_grant_for(app, &service, Capability::LogsRead)
                    .is_some_and(|g| g.state == GrantState::Revoked);
                let reason = if revoked {
                    CloseReason::GrantRevoked
                } else {
                    CloseReason::GrantExpired
                };
                close(app, si, reason);
            }
            _ if granted && ended_for_want_of_grant(&app.logs.streams[si].state) => {
                effects.extend(start(app, &service));
            }
            _ => {}
        }
    }
    effects
}

fn ended_for_want_of_grant(state: &StreamState) -> bool {
    matches!(
        state,
        StreamState::Closed {
            reason: CloseReason::GrantExpired | CloseReason::GrantRevoked,
            ..
        } | StreamState::Refused {
            code: ErrorCode::Forbidden,
            ..
        }
    )
}

/// A grant of mine changed: a new one covering a closed stream restarts it.
pub fn on_grant(app: &mut App, grant: &Grant) -> Vec<Effect> {
    if grant.user != app.user_name()
        || grant.state != GrantState::Active
        || !grant.capabilities.contains(&Capability::LogsRead)
    {
        return Vec::new();
    }
    match app.logs.stream_index(&grant.service) {
        Some(si)
            if ended_for_want_of_grant(&app.logs.streams[si].state)
                && has_grant(app, &grant.service) =>
        {
            start(app, &grant.service.clone())
        }
        _ => Vec::new(),
    }
}

// ---- keys and mouse ----

/// The Logs pane's meaning of an action; None leaves it to `update`.
pub fn act(app: &mut App, action: Action) -> Option<Vec<Effect>> {
    if app.tab != Tab::Logs {
        return None;
    }
    let g = geometry(app);
    let logs = &mut app.logs;
    match action {
        Action::Up => logs.move_by(-1, g),
        Action::Down => logs.move_by(1, g),
        Action::PageUp => logs.page(false, g),
        Action::PageDown => logs.page(true, g),
        Action::Top => logs.to_top(g),
        Action::Bottom => logs.resume_follow(),
        Action::Follow => {
            if logs.follow {
                logs.pause(g);
                flash(
                    app,
                    Level::Info,
                    "follow off: new lines wait below (f or G to follow again)",
                );
            } else {
                logs.resume_follow();
            }
        }
        Action::Search => {
            let text = logs
                .search
                .as_ref()
                .map(|s| s.pattern.clone())
                .unwrap_or_default();
            app.overlay = Some(Overlay::Prompt(Prompt {
                purpose: PromptFor::LogSearch,
                label: "search the lines held here (plain text; a capital letter makes it case-sensitive)"
                    .into(),
                text,
                error: None,
            }));
        }
        Action::NextMatch => return Some(jump(app, true)),
        Action::PrevMatch => return Some(jump(app, false)),
        Action::ClearSearch => {
            logs.search = None;
            flash(app, Level::Info, "search cleared");
        }
        Action::Levels => return Some(cycle_levels(app)),
        Action::Wrap => {
            logs.wrap = !logs.wrap;
            logs.settle(g);
        }
        Action::Timestamps => {
            logs.timestamps = !logs.timestamps;
            logs.settle(g);
        }
        Action::CopyLine => return Some(copy(app, false)),
        Action::CopyView => return Some(copy(app, true)),
        Action::Streams => app.overlay = Some(Overlay::Streams(0)),
        Action::AskAgain => return Some(ask_again(app)),
        _ => return None,
    }
    Some(Vec::new())
}

/// Mouse in the Logs pane: the wheel scrolls three lines, a click selects.
/// None when it is not the pane's.
pub fn on_mouse(app: &mut App, m: &MouseEvent) -> Option<()> {
    if app.tab != Tab::Logs || app.overlay.is_some() {
        return None;
    }
    let g = geometry(app);
    match m.kind {
        MouseEventKind::ScrollDown => app.logs.move_by(3, g),
        MouseEventKind::ScrollUp => app.logs.move_by(-3, g),
        MouseEventKind::Down(MouseButton::Left) => {
            let rect = views::logs_text_rect(app);
            if m.row < rect.y
                || m.row >= rect.y + rect.height
                || m.column < rect.x.saturating_sub(1)
            {
                return None;
            }
            let mut y = rect.y;
            for r in app.logs.window(g) {
                if m.row < y + r.rows {
                    app.logs.select(r.seq, g);
                    break;
                }
                y += r.rows;
            }
        }
        _ => return None,
    }
    Some(())
}

/// After a resize: the selection stays on screen.
pub fn on_resize(app: &mut App) {
    let g = geometry(app);
    app.logs.settle(g);
}

/// Keys of the stream chooser (`s`).
pub fn on_streams_key(app: &mut App, cursor: usize, key: KeyEvent) -> Vec<Effect> {
    let choices = choices(app);
    let mut cursor = cursor.min(choices.len().saturating_sub(1));
    match key.code {
        KeyCode::Esc | KeyCode::Char('s') | KeyCode::Char('q') => return Vec::new(),
        KeyCode::Up | KeyCode::Char('k') => cursor = cursor.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => {
            cursor = (cursor + 1).min(choices.len().saturating_sub(1))
        }
        KeyCode::Char(' ') | KeyCode::Enter | KeyCode::Char('x') => {
            let effects = match choices.get(cursor) {
                Some(c) => toggle(app, &c.service.clone()),
                None => Vec::new(),
            };
            app.overlay = Some(Overlay::Streams(cursor));
            return effects;
        }
        _ => {}
    }
    app.overlay = Some(Overlay::Streams(cursor));
    Vec::new()
}

fn toggle(app: &mut App, service: &str) -> Vec<Effect> {
    if let Some(si) = app.logs.stream_index(service)
        && app.logs.streams[si].state.is_on()
    {
        return stop(app, si);
    }
    if !has_grant(app, service) {
        flash(
            app,
            Level::Warn,
            format!("no active grant with logs:read on {service}: ask for one with n"),
        );
        return Vec::new();
    }
    start(app, service)
}

// ---- search and levels ----

/// `/` submitted: sets the search, journals it, jumps to the newest match
/// at or above the selection.
pub fn search_submit(app: &mut App, text: String) -> Vec<Effect> {
    let g = geometry(app);
    if text.is_empty() {
        app.logs.search = None;
        flash(app, Level::Info, "search cleared");
        return Vec::new();
    }
    let count = app.logs.set_search(&text).unwrap_or(0);
    let effects = vec![Effect::Record {
        action: SEARCH_ACTION.into(),
        target: services(app),
        detail: json!({
            "pattern": text,
            "matches": count,
            "levels": app.logs.filter.audit_name(),
        }),
    }];
    if count == 0 {
        flash(
            app,
            Level::Info,
            format!(
                "no line here matches “{text}” ({} held); new lines that match are highlighted",
                thousands(app.logs.view_len() as u64)
            ),
        );
        return effects;
    }
    if let Some(from) = app.logs.selected() {
        let hit = app
            .logs
            .find(from, false, true)
            .or_else(|| app.logs.find(from, true, true));
        if let Some((seq, _)) = hit {
            app.logs.select(seq, g);
        }
    }
    flash(
        app,
        Level::Info,
        format!(
            "{} line{} match “{text}”: n next, N previous, esc clears",
            thousands(count),
            if count == 1 { "" } else { "s" }
        ),
    );
    effects
}

fn jump(app: &mut App, forward: bool) -> Vec<Effect> {
    let g = geometry(app);
    let Some(from) = app.logs.selected() else {
        return Vec::new();
    };
    match app.logs.find(from, forward, false) {
        Some((seq, wrapped)) => {
            app.logs.select(seq, g);
            if wrapped {
                let to = if forward { "oldest" } else { "newest" };
                flash(app, Level::Info, format!("search wrapped to the {to} line"));
            }
        }
        None => {
            let pattern = app
                .logs
                .search
                .as_ref()
                .map(|s| s.pattern.clone())
                .unwrap_or_default();
            flash(app, Level::Info, format!("no line matches “{pattern}”"));
        }
    }
    Vec::new()
}

fn cycle_levels(app: &mut App) -> Vec<Effect> {
    let g = geometry(app);
    let f = app.logs.filter.next();
    app.logs.set_filter(f, g);
    if f != LevelFilter::All {
        flash(
            app,
            Level::Info,
            format!(
                "showing {} (stack-trace lines count with the line above them)",
                f.label()
            ),
        );
    }
    vec![Effect::Record {
        action: FILTER_ACTION.into(),
        target: services(app),
        detail: json!({"levels": f.audit_name()}),
    }]
}

// ---- copying ----

/// A line as copied: what the screen shows (tag, time and level when
/// shown), with the full date and time.
pub fn copy_text(app: &App, e: &Entry) -> String {
    let logs = &app.logs;
    let mut out = String::with_capacity(e.text.len() + 48);
    if logs.tagged()
        && let Some(s) = logs.streams.get(e.stream as usize)
    {
        out.push_str(&s.service);
        out.push(' ');
    }
    if logs.timestamps {
        out.push_str(&e.ts().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
        out.push(' ');
    }
    if e.kind == Kind::Line && !e.level.label().is_empty() {
        out.push_str(e.level.label());
        out.push(' ');
    }
    out.push_str(&e.text);
    out
}

/// `y` (the selected line) or `Y` (the lines on screen): journaled first.
fn copy(app: &mut App, visible: bool) -> Vec<Effect> {
    let g = geometry(app);
    let seqs: Vec<u64> = if visible {
        app.logs.window(g).iter().map(|r| r.seq).collect()
    } else {
        app.logs.selected().into_iter().collect()
    };
    if seqs.is_empty() {
        flash(app, Level::Info, "nothing to copy yet");
        return Vec::new();
    }
    if let Some(e) = app.journal.as_ref().and_then(|j| j.error.clone()) {
        flash(
            app,
            Level::Error,
            format!("not copied: copies are audited and your journal cannot be written ({e})"),
        );
        return Vec::new();
    }
    let mut text = String::new();
    let mut services: Vec<&str> = Vec::new();
    for (i, seq) in seqs.iter().enumerate() {
        let Some(e) = app.logs.entry(*seq) else {
            continue;
        };
        if i > 0 {
            text.push('\n');
        }
        text.push_str(&copy_text(app, e));
        if let Some(s) = app.logs.streams.get(e.stream as usize)
            && !services.contains(&s.service.as_str())
        {
            services.push(&s.service);
        }
    }
    let job = CopyJob {
        target: services.join(","),
        text,
        lines: seqs.len(),
        what: if visible { "visible" } else { "line" },
        via: app.clipboard,
    };
    if matches!(job.via, ClipVia::Osc52 { .. }) && !clipboard::fits_osc52(job.bytes()) {
        flash(app, Level::Warn, clipboard::too_large(job.bytes()));
        return Vec::new();
    }
    vec![Effect::Copy(Box::new(job))]
}

/// The journal took the copy: now it may reach the clipboard.
pub fn on_copy_journaled(job: Box<CopyJob>) -> Vec<Effect> {
    vec![Effect::WriteClipboard(job)]
}

/// What the footer says after a clipboard write.
pub fn on_clipboard(app: &mut App, outcome: super::app::ClipOutcome) {
    match outcome.result {
        Ok(how) => {
            let via = if how == "osc52" {
                " (through the terminal, OSC 52)"
            } else {
                ""
            };
            flash(
                app,
                Level::Info,
                format!(
                    "copied {} line{} ({} bytes){via}; the copy is in the audit trail",
                    thousands(outcome.lines as u64),
                    if outcome.lines == 1 { "" } else { "s" },
                    thousands(outcome.bytes as u64)
                ),
            );
        }
        Err(e) => flash(app, Level::Error, e),
    }
}

// ---- asking again ----

/// `r` after a stream closed: restarts it when a grant still covers it (or
/// the source failed), else opens the request form filled in for
/// logs:read on that service.
fn ask_again(app: &mut App) -> Vec<Effect> {
    let Some(si) = app.logs.streams.iter().position(|s| s.state.needs_banner()) else {
        return Vec::new();
    };
    let service = app.logs.streams[si].service.clone();
    let source_error = matches!(
        app.logs.streams[si].state,
        StreamState::Closed {
            reason: CloseReason::SourceError,
            ..
        }
    );
    if source_error || has_grant(app, &service) {
        return start(app, &service);
    }
    update::ask_again_for(
        app,
        &service,
        Capability::LogsRead,
        Tab::Logs,
        "the stream restarts",
    )
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use crossterm::event::KeyModifiers;
    use serde_json::Value;

    use super::*;
    use crate::console::app::{ClipOutcome, FormField, JournalStatus, Msg, NetMsg, Snapshot};
    use crate::console::fixtures::{
        catalog_entry, code, connected_as, drop_link, event, key, reconnect, t0,
    };
    use crate::console::keymap::Ctx;
    use crate::console::logs::LogsState;
    use crate::console::update::update;
    use crate::protocol::Event;

    fn grant(id: &str, service: &str, from_s: i64, secs: i64) -> Grant {
        crate::console::fixtures::grant(id, service, Capability::LogsRead, from_s, secs)
    }

    /// alice, connected, with logs grants on payments (older) and
    /// checkout (newer), on the Grants pane.
    fn alice() -> App {
        let mut app = connected_as("alice", &["engineer"]);
        app.catalog = vec![catalog_entry("payments"), catalog_entry("checkout")];
        for g in [
            grant("grt-1", "payments", -600, 1200),
            grant("grt-2", "checkout", -60, 1800),
        ] {
            app.grants.insert(g.id.clone(), g);
        }
        app.journal = Some(JournalStatus {
            entries: 1,
            queued: 0,
            error: None,
        });
        app
    }

    fn reply_ok(app: &mut App, op_id: &str, sub_id: &str) -> Vec<Effect> {
        let mut fields = serde_json::Map::new();
        fields.insert("sub_id".into(), Value::String(sub_id.into()));
        update(
            app,
            Msg::Net(NetMsg::Reply {
                op_id: op_id.into(),
                result: Ok(fields),
            }),
        )
    }

    /// The single subscribe in `effects`: (op_id, service, since_s).
    fn subscribed(effects: &[Effect]) -> (String, String, Option<u64>) {
        match effects {
            [
                Effect::Send {
                    op_id,
                    op:
                        Op::LogsSubscribe {
                            service, since_s, ..
                        },
                },
            ] => (op_id.clone(), service.clone(), *since_s),
            other => panic!("expected one logs.subscribe, got {other:?}"),
        }
    }

    fn lines(from_s: i64, n: usize, level: &str, text: &str) -> Vec<LogLine> {
        (0..n)
            .map(|i| LogLine {
                ts: t0() + Duration::milliseconds(from_s * 1000 + i as i64),
                level: level.into(),
                text: format!("{text} {i}"),
            })
            .collect()
    }

    fn push(app: &mut App, sub_id: &str, batch: Vec<LogLine>) {
        event(
            app,
            Event::LogsLines {
                sub_id: sub_id.into(),
                lines: batch,
                dropped: None,
            },
        );
    }

    /// alice on the Logs pane, streaming checkout as `s1`.
    fn streaming() -> App {
        let mut app = alice();
        let (op_id, _, _) = subscribed(&update(&mut app, key('4')));
        assert!(reply_ok(&mut app, &op_id, "s1").is_empty());
        app
    }

    /// Back `secs` after t0 once the link dropped: hello, then the
    /// snapshot with the catalog and the grants the app holds.
    fn back_at(app: &mut App, secs: i64) -> Vec<Effect> {
        update(app, Msg::Tick(t0() + Duration::seconds(secs)));
        reconnect(app);
        let snapshot = Snapshot {
            catalog: app.catalog.clone(),
            grants: app.grants.values().cloned().collect(),
            ..Default::default()
        };
        update(app, Msg::Net(NetMsg::Snapshot(Box::new(snapshot))))
    }

    fn selected_text(app: &App) -> String {
        let seq = app.logs.selected().expect("a selection");
        app.logs.entry(seq).unwrap().text.to_string()
    }

    #[test]
    fn opening_the_pane_subscribes_to_the_newest_grant_with_the_last_five_minutes() {
        let mut app = alice();
        let (op_id, service, since) = subscribed(&update(&mut app, key('4')));
        assert_eq!((service.as_str(), since), ("checkout", Some(FIRST_SINCE_S)));
        assert!(matches!(
            app.logs.streams[0].state,
            StreamState::Subscribing { .. }
        ));
        // The reply names the subscription; nothing is flashed as "done".
        assert!(reply_ok(&mut app, &op_id, "s1").is_empty());
        assert_eq!(
            app.logs.streams[0].state,
            StreamState::Live {
                sub_id: "s1".into()
            }
        );
        assert!(app.flash.is_none());
        assert!(app.in_flight.is_empty());
        // Leaving and coming back does not subscribe again.
        update(&mut app, key('1'));
        assert!(update(&mut app, key('4')).is_empty());
    }

    #[test]
    fn without_a_grant_nothing_is_subscribed_until_one_arrives() {
        let mut app = alice();
        app.grants.clear();
        assert!(update(&mut app, key('4')).is_empty());
        assert!(app.logs.streams.is_empty());
        let effects = event(
            &mut app,
            Event::GrantUpdated {
                grant: grant("grt-3", "payments", 0, 900),
            },
        );
        let (_, service, since) = subscribed(&effects);
        assert_eq!((service.as_str(), since), ("payments", Some(300)));
    }

    #[test]
    fn lines_are_appended_even_when_they_beat_the_reply() {
        let mut app = alice();
        let (op_id, _, _) = subscribed(&update(&mut app, key('4')));
        // The first batch overtakes the subscribe reply.
        push(&mut app, "s1", lines(1, 3, "info", "early"));
        assert!(app.logs.is_empty());
        reply_ok(&mut app, &op_id, "s1");
        push(&mut app, "s1", lines(2, 2, "info", "late"));
        assert_eq!(app.logs.len(), 5);
        assert_eq!(selected_text(&app), "late 1");
        // Lines of an unknown subscription are not kept.
        push(&mut app, "s9", lines(3, 2, "info", "stray"));
        assert_eq!(app.logs.len(), 5);
    }

    #[test]
    fn scrolling_up_pauses_and_new_lines_are_counted_not_lost() {
        let mut app = streaming();
        push(&mut app, "s1", lines(1, 100, "info", "line"));
        assert!(app.logs.follow);
        update(&mut app, key('k'));
        assert!(!app.logs.follow);
        assert_eq!(selected_text(&app), "line 98");
        push(&mut app, "s1", lines(2, 7, "info", "more"));
        let g = views::logs_geometry(&app);
        let last = app.logs.window(g).last().map(|r| r.seq);
        assert_eq!(app.logs.new_lines(last), 7);
        assert_eq!(selected_text(&app), "line 98", "the selection stays put");
        // Page up, then home: the oldest line.
        update(&mut app, code(KeyCode::PageUp));
        assert!(selected_text(&app).starts_with("line "));
        update(&mut app, code(KeyCode::Home));
        assert_eq!(selected_text(&app), "line 0");
        // The wheel scrolls three lines.
        update(
            &mut app,
            Msg::Mouse(MouseEvent {
                kind: MouseEventKind::ScrollDown,
                column: 10,
                row: 10,
                modifiers: KeyModifiers::NONE,
            }),
        );
        assert_eq!(selected_text(&app), "line 3");
        // G follows again; f toggles; End toggles too.
        update(&mut app, key('G'));
        assert!(app.logs.follow);
        assert_eq!(selected_text(&app), "more 6");
        update(&mut app, key('f'));
        assert!(!app.logs.follow);
        update(&mut app, code(KeyCode::End));
        assert!(app.logs.follow);
    }

    #[test]
    fn search_jumps_to_the_newest_match_and_n_and_shift_n_move_between_matches() {
        let mut app = streaming();
        let mut batch = lines(1, 50, "info", "ok");
        batch[10].text = "upstream Timeout after 30s".into();
        batch[20].text = "db timeout".into();
        batch[40].text = "bank TIMEOUT".into();
        push(&mut app, "s1", batch);
        update(&mut app, key('/'));
        for c in "timeout".chars() {
            update(&mut app, key(c));
        }
        let effects = update(&mut app, code(KeyCode::Enter));
        match effects.as_slice() {
            [
                Effect::Record {
                    action,
                    target,
                    detail,
                },
            ] => {
                assert_eq!(
                    (action.as_str(), target.as_str()),
                    (SEARCH_ACTION, "checkout")
                );
                assert_eq!(detail["pattern"], "timeout");
                assert_eq!(detail["matches"], 3);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(app.logs.match_count(), Some(3));
        assert_eq!(selected_text(&app), "bank TIMEOUT");
        assert!(Ctx::of(&app).searching);
        // n is "next match" now (newer, wrapping to the oldest)...
        update(&mut app, key('n'));
        assert_eq!(selected_text(&app), "upstream Timeout after 30s");
        assert!(app.flash.as_ref().unwrap().text.contains("wrapped"));
        update(&mut app, key('n'));
        assert_eq!(selected_text(&app), "db timeout");
        update(&mut app, key('N'));
        assert_eq!(selected_text(&app), "upstream Timeout after 30s");
        assert!(app.overlay.is_none(), "n did not open the request form");
        // ...and after esc clears the search, n is a new request again.
        update(&mut app, code(KeyCode::Esc));
        assert!(app.logs.search.is_none());
        update(&mut app, key('n'));
        assert!(matches!(app.overlay, Some(Overlay::Form(_))));
    }

    #[test]
    fn the_level_filter_cycles_keeps_stack_traces_and_is_journaled() {
        let mut app = streaming();
        let mut batch = lines(1, 6, "info", "ok");
        batch[2].level = "error".into();
        batch[2].text = "payment failed".into();
        batch[3].level = "unknown".into();
        batch[3].text = "  at charge()".into();
        batch[4].level = "warn".into();
        push(&mut app, "s1", batch);
        let effects = update(&mut app, key('L'));
        assert_eq!(
            effects,
            vec![Effect::Record {
                action: FILTER_ACTION.into(),
                target: "checkout".into(),
                detail: json!({"levels": "error+"}),
            }]
        );
        assert_eq!(app.logs.filter, LevelFilter::ErrorUp);
        assert_eq!(app.logs.view_len(), 2, "the error and its stack trace");
        update(&mut app, key('L'));
        assert_eq!(app.logs.filter, LevelFilter::WarnUp);
        assert_eq!(app.logs.view_len(), 3);
        update(&mut app, key('L'));
        assert_eq!(app.logs.filter, LevelFilter::All);
        assert_eq!(app.logs.view_len(), 6);
    }

    #[test]
    fn the_ring_buffer_keeps_its_configured_bound() {
        let mut app = alice();
        app.logs = LogsState::new(1_000);
        let (op_id, _, _) = subscribed(&update(&mut app, key('4')));
        reply_ok(&mut app, &op_id, "s1");
        for i in 0..25 {
            push(&mut app, "s1", lines(i, 100, "info", "line"));
        }
        assert_eq!(app.logs.len(), 1_000);
        assert_eq!(app.logs.evicted, 1_500);
        assert_eq!(app.logs.streams[0].received, 2_500);
    }

    #[test]
    fn lines_the_gateway_dropped_are_marked_where_it_happened() {
        let mut app = streaming();
        push(&mut app, "s1", lines(1, 2, "info", "before"));
        event(
            &mut app,
            Event::LogsLines {
                sub_id: "s1".into(),
                lines: lines(2, 1, "info", "after"),
                dropped: Some(1234),
            },
        );
        let texts: Vec<String> = (0..app.logs.len() as u64)
            .map(|s| app.logs.entry(s).unwrap().text.to_string())
            .collect();
        assert_eq!(
            texts,
            [
                "before 0",
                "before 1",
                "⋯ 1,234 lines dropped by the gateway (console too slow)",
                "after 0"
            ]
        );
        assert_eq!(app.logs.entry(2).unwrap().kind, Kind::Dropped);
        assert_eq!(app.logs.streams[0].dropped, 1234);
    }

    #[test]
    fn a_closed_stream_says_why_and_r_opens_the_request_form_filled_in() {
        let mut app = streaming();
        push(&mut app, "s1", lines(1, 2, "info", "line"));
        // The grant ran out: the gateway closes the stream.
        app.grants.get_mut("grt-2").unwrap().expires_at = t0();
        event(
            &mut app,
            Event::LogsClosed {
                sub_id: "s1".into(),
                reason: CloseReason::GrantExpired,
            },
        );
        assert!(matches!(
            app.logs.streams[0].state,
            StreamState::Closed {
                reason: CloseReason::GrantExpired,
                ..
            }
        ));
        let last = app.logs.entry(app.logs.end() - 1).unwrap();
        assert_eq!(last.kind, Kind::Closed);
        assert!(last.text.contains("your grant expired"));
        assert!(Ctx::of(&app).stream_closed);
        assert!(update(&mut app, key('r')).is_empty());
        let Some(Overlay::Form(form)) = &app.overlay else {
            panic!("no form: {:?}", app.overlay)
        };
        assert_eq!(app.catalog[form.service].name, "checkout");
        assert_eq!(
            form.caps,
            vec![
                (Capability::LogsRead, true),
                (Capability::MetricsRead, false)
            ]
        );
        assert_eq!(form.return_to, Some(Tab::Logs));
        assert_eq!(form.focus, FormField::Reason);
    }

    #[test]
    fn a_new_grant_restarts_a_closed_stream_from_where_it_stopped() {
        let mut app = streaming();
        push(&mut app, "s1", lines(10, 1, "info", "line"));
        app.grants.get_mut("grt-2").unwrap().expires_at = t0();
        event(
            &mut app,
            Event::LogsClosed {
                sub_id: "s1".into(),
                reason: CloseReason::GrantExpired,
            },
        );
        update(&mut app, Msg::Tick(t0() + Duration::seconds(70)));
        let effects = event(
            &mut app,
            Event::GrantUpdated {
                grant: grant("grt-9", "checkout", 65, 2000),
            },
        );
        let (_, service, since) = subscribed(&effects);
        // Newest line at 03:00:10, now 03:01:10: a minute, plus a second.
        assert_eq!((service.as_str(), since), ("checkout", Some(61)));
    }

    #[test]
    fn after_a_reconnect_streams_subscribe_again_covering_the_gap() {
        let mut app = streaming();
        push(&mut app, "s1", lines(10, 3, "info", "line"));
        drop_link(&mut app);
        assert_eq!(app.logs.streams[0].state, StreamState::Waiting);
        // Back 30 s later: hello, then the snapshot (grants still there).
        let effects = back_at(&mut app, 40);
        let (op_id, service, since) = subscribed(&effects);
        assert_eq!((service.as_str(), since), ("checkout", Some(31)));
        let note = app.logs.entry(app.logs.end() - 1).unwrap();
        assert_eq!(note.kind, Kind::Note);
        assert!(note.text.contains("resends what came after 03:00:10"));
        // The gateway resends the last line held, then new ones: no duplicate.
        reply_ok(&mut app, &op_id, "s2");
        let mut again = lines(10, 3, "info", "line");
        again.extend(lines(41, 1, "info", "new"));
        push(&mut app, "s2", again);
        assert_eq!(app.logs.streams[0].received, 4);
        assert_eq!(selected_text(&app), "new 0");
        // Offline for longer than the gateway resends: capped, and said.
        drop_link(&mut app);
        let effects = back_at(&mut app, 1000);
        assert_eq!(subscribed(&effects).2, Some(RESUME_MAX_S));
        let note = app.logs.entry(app.logs.end() - 1).unwrap();
        assert!(note.text.contains("may be missing"), "{}", note.text);
    }

    #[test]
    fn a_grant_that_ended_while_offline_is_not_resubscribed() {
        let mut app = streaming();
        drop_link(&mut app);
        let effects = back_at(&mut app, 1900);
        assert!(effects.is_empty(), "{effects:?}");
        assert!(matches!(
            app.logs.streams[0].state,
            StreamState::Closed {
                reason: CloseReason::GrantExpired,
                ..
            }
        ));
    }

    #[test]
    fn a_stream_closed_while_offline_says_how_its_last_grant_ended() {
        // An earlier checkout grant, revoked long ago (its expiry, never
        // reached, lies after the current grant's).
        let mut app = streaming();
        let mut old = grant("grt-0", "checkout", -3000, 3000);
        old.state = GrantState::Revoked;
        old.ended_at = Some(t0() - Duration::seconds(1200));
        app.grants.insert(old.id.clone(), old);
        // grt-2 runs out while offline: expired, not revoked.
        drop_link(&mut app);
        assert!(back_at(&mut app, 1900).is_empty());
        assert!(matches!(
            app.logs.streams[0].state,
            StreamState::Closed {
                reason: CloseReason::GrantExpired,
                ..
            }
        ));
        // grt-2 revoked while offline: revoked.
        let mut app = streaming();
        let g = app.grants.get_mut("grt-2").unwrap();
        g.state = GrantState::Revoked;
        g.ended_at = Some(t0() + Duration::seconds(20));
        drop_link(&mut app);
        assert!(back_at(&mut app, 40).is_empty());
        assert!(matches!(
            app.logs.streams[0].state,
            StreamState::Closed {
                reason: CloseReason::GrantRevoked,
                ..
            }
        ));
    }

    #[test]
    fn copies_are_journaled_before_they_reach_the_clipboard_and_never_carry_the_text() {
        let mut app = streaming();
        push(&mut app, "s1", lines(1, 30, "error", "card declined"));
        update(&mut app, key('k'));
        let effects = update(&mut app, key('y'));
        let job = match effects.as_slice() {
            [Effect::Copy(job)] => job.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(job.lines, 1);
        assert_eq!(job.target, "checkout");
        assert_eq!(job.text, "2026-11-24T03:00:01.028Z ERROR card declined 28");
        assert_eq!(job.what, "line");
        let detail = job.audit_detail();
        assert_eq!(
            detail,
            json!({"services": ["checkout"], "lines": 1, "bytes": job.text.len(), "what": "line", "via": "clipboard"})
        );
        assert!(!detail.to_string().contains("declined"), "never the bytes");
        // Only once the journal holds it is it written.
        let effects = update(&mut app, Msg::Net(NetMsg::CopyJournaled(job.clone())));
        assert_eq!(effects, vec![Effect::WriteClipboard(job.clone())]);
        update(
            &mut app,
            Msg::Clipboard(ClipOutcome {
                lines: 1,
                bytes: job.bytes(),
                result: Ok("clipboard"),
            }),
        );
        assert!(
            app.flash
                .as_ref()
                .unwrap()
                .text
                .starts_with("copied 1 line (")
        );
        // Y copies every line on screen.
        let effects = update(&mut app, key('Y'));
        let Effect::Copy(all) = &effects[0] else {
            panic!("{effects:?}")
        };
        let g = views::logs_geometry(&app);
        assert_eq!(all.lines, app.logs.window(g).len());
        assert_eq!(all.text.lines().count(), all.lines);
        assert_eq!(all.what, "visible");
        // A journal that cannot be written refuses the copy outright.
        let effects = update(
            &mut app,
            Msg::Net(NetMsg::CopyRefused {
                error: "disk full".into(),
            }),
        );
        assert!(effects.is_empty());
        assert_eq!(app.flash.as_ref().unwrap().level, Level::Error);
        app.journal.as_mut().unwrap().error = Some("disk full".into());
        assert!(update(&mut app, key('y')).is_empty());
    }

    #[test]
    fn an_osc52_copy_over_the_cap_is_refused_up_front() {
        let mut app = streaming();
        app.clipboard = ClipVia::Osc52 { tmux: true };
        push(&mut app, "s1", lines(1, 1, "info", &"x".repeat(120_000)));
        assert!(update(&mut app, key('y')).is_empty());
        assert!(app.flash.as_ref().unwrap().text.contains("OSC 52"));
        push(&mut app, "s1", lines(2, 1, "info", "short"));
        match update(&mut app, key('y')).as_slice() {
            [Effect::Copy(job)] => assert_eq!(job.via, ClipVia::Osc52 { tmux: true }),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_stream_chooser_starts_and_stops_streams() {
        let mut app = streaming();
        push(&mut app, "s1", lines(1, 2, "info", "line"));
        update(&mut app, key('s'));
        assert!(matches!(app.overlay, Some(Overlay::Streams(0))));
        let c = choices(&app);
        assert_eq!(
            c.iter().map(|c| c.service.as_str()).collect::<Vec<_>>(),
            ["checkout", "payments"]
        );
        // Down to payments, space: it streams too (the last 5 minutes).
        update(&mut app, key('j'));
        let (op_id, service, since) = subscribed(&update(&mut app, key(' ')));
        assert_eq!((service.as_str(), since), ("payments", Some(300)));
        reply_ok(&mut app, &op_id, "s2");
        assert!(app.logs.tagged());
        // Up to checkout, space: it stops (unsubscribed at the gateway).
        update(&mut app, key('k'));
        let effects = update(&mut app, key(' '));
        match effects.as_slice() {
            [
                Effect::Send {
                    op_id,
                    op: Op::LogsUnsubscribe { sub_id },
                },
            ] => {
                assert_eq!(sub_id, "s1");
                let op_id = op_id.clone();
                assert!(reply_ok(&mut app, &op_id, "").is_empty());
                assert!(app.flash.as_ref().is_none_or(|f| !f.text.contains("done")));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(app.logs.streams[0].state, StreamState::Stopped);
        update(&mut app, code(KeyCode::Esc));
        assert!(app.overlay.is_none());
    }

    #[test]
    fn a_click_selects_the_line_under_the_pointer() {
        let mut app = streaming();
        push(&mut app, "s1", lines(1, 100, "info", "line"));
        let rect = views::logs_text_rect(&app);
        update(
            &mut app,
            Msg::Mouse(MouseEvent {
                kind: MouseEventKind::Down(MouseButton::Left),
                column: rect.x + 5,
                row: rect.y + 2,
                modifiers: KeyModifiers::NONE,
            }),
        );
        assert!(!app.logs.follow);
        let first = 100 - rect.height as usize;
        assert_eq!(selected_text(&app), format!("line {}", first + 2));
    }
}
