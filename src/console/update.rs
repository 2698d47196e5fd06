//! `update(app, msg) -> effects`: the console's only way to change state.
//!
//! Pure and synchronous: a key, a pushed event or a reply goes in; the new
//! state and the I/O to perform come out. Tests drive it with plain data.

use chrono::{DateTime, Utc};
use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEventKind,
};
use ratatui_textarea::TextArea;

use super::app::{
    ALERTS_KEEP, AUDIT_KEEP, Alert, App, Confirm, Effect, FLASH_SECS, Flash, FormField, GrantsRow,
    InFlight, Level, Link, Msg, NetMsg, Overlay, Palette, Prompt, PromptFor, RequestForm, Snapshot,
    Tab,
};
use super::keymap::{self, Action};
use super::logs_update;
use super::metrics_update;
use crate::duration::{format_duration, parse_duration};
use crate::protocol::{AccessRequest, Capability, Event, Grant, GrantState, Op, RequestState};

/// Commands the `:` palette offers: (name, what it does).
pub const PALETTE_COMMANDS: &[(&str, &str)] = &[
    ("request", "new access request"),
    ("approve", "approve the selected queue item"),
    ("deny", "deny the selected queue item"),
    ("revoke", "revoke the selected grant"),
    ("extend", "ask to extend the selected grant"),
    ("refresh", "reload everything from the gateway"),
    ("mouse", "toggle mouse capture"),
    ("bell", "toggle the bell for new queue items"),
    ("theme dark", "dark theme"),
    ("theme light", "light theme"),
    ("theme high-contrast", "high-contrast theme"),
    ("help", "every key"),
    ("quit", "leave the console"),
];

pub(super) fn flash(app: &mut App, level: Level, text: impl Into<String>) {
    app.flash = Some(Flash {
        text: text.into(),
        level,
        until: app.local_now + chrono::Duration::seconds(FLASH_SECS),
    });
}

/// Sends an op, remembering what it was for the reply's message.
pub(super) fn send(app: &mut App, op: Op, what: impl Into<String>) -> Vec<Effect> {
    if !app.connected() {
        flash(
            app,
            Level::Error,
            "not connected to the gateway: nothing was sent; try again when the header says connected",
        );
        return Vec::new();
    }
    let op_id = crate::protocol::new_op_id();
    app.in_flight
        .insert(op_id.clone(), InFlight { what: what.into() });
    vec![Effect::Send { op_id, op }]
}

/// Applies one message.
pub fn update(app: &mut App, msg: Msg) -> Vec<Effect> {
    app.generation += 1;
    let mut effects = match msg {
        Msg::Tick(now) => {
            app.local_now = now;
            if app.flash.as_ref().is_some_and(|f| now >= f.until) {
                app.flash = None;
            }
            Vec::new()
        }
        Msg::Resize(w, h) => {
            app.size = (w, h);
            logs_update::on_resize(app);
            metrics_update::on_resize(app);
            Vec::new()
        }
        Msg::Key(key) if key.kind == KeyEventKind::Press => on_key(app, key),
        Msg::Key(_) => Vec::new(),
        Msg::Mouse(m) => on_mouse(app, m),
        Msg::Net(net) => on_net(app, net),
        Msg::Clipboard(outcome) => {
            logs_update::on_clipboard(app, outcome);
            Vec::new()
        }
    };
    // The Logs pane starts its first stream by itself once it is on screen.
    effects.extend(logs_update::auto_start(app));
    // The Metrics pane queries while on screen, when due.
    effects.extend(metrics_update::poll(app));
    effects
}

fn on_net(app: &mut App, net: NetMsg) -> Vec<Effect> {
    match net {
        NetMsg::Connecting { attempt } => {
            app.link = Link::Connecting { attempt };
            Vec::new()
        }
        NetMsg::Connected { user, clock_offset } => {
            if !app.tab_chosen {
                // The first screen fits the role.
                app.tab = if user.has_role("lead") {
                    Tab::Sessions
                } else if user.has_role("approver") {
                    Tab::Queue
                } else {
                    Tab::Grants
                };
                app.tab_chosen = true;
            }
            app.me = Some(user);
            app.clock_offset = clock_offset;
            app.link = Link::Connected { rtt_ms: None };
            Vec::new()
        }
        NetMsg::Down { reason, retry_at } => {
            app.link = Link::Down { reason, retry_at };
            logs_update::on_down(app);
            metrics_update::on_down(app);
            // Replies to what was in flight will never come.
            let lost = std::mem::take(&mut app.in_flight);
            if let Some(f) = lost.values().next() {
                flash(
                    app,
                    Level::Warn,
                    format!(
                        "connection lost while sending: {}; check its state after reconnecting",
                        f.what
                    ),
                );
            }
            Vec::new()
        }
        NetMsg::Verdict {
            intact,
            summary,
            exported,
        } => {
            let level = if intact { Level::Info } else { Level::Error };
            let text = match &exported {
                Some(path) => format!("exported to {path}; chain {summary}"),
                None => format!("chain {summary}"),
            };
            flash(app, level, text);
            app.chain = Some((intact, summary));
            Vec::new()
        }
        NetMsg::Journal(status) => {
            if let Some(e) = &status.error {
                flash(app, Level::Error, e.clone());
            }
            app.journal = Some(status);
            Vec::new()
        }
        NetMsg::Rtt(ms) => {
            if let Link::Connected { rtt_ms } = &mut app.link {
                *rtt_ms = Some(ms);
            }
            Vec::new()
        }
        NetMsg::Snapshot(snap) => {
            apply_snapshot(app, *snap);
            // Log streams died with the old connection: subscribe again.
            logs_update::resume(app)
        }
        NetMsg::Event(event) => on_event(app, *event),
        NetMsg::CopyJournaled(job) => logs_update::on_copy_journaled(job),
        NetMsg::CopyRefused { error } => {
            flash(
                app,
                Level::Error,
                format!("not copied: the audit journal refused it ({error})"),
            );
            Vec::new()
        }
        NetMsg::Reply { op_id, result } => {
            if let Some(effects) = logs_update::on_reply(app, &op_id, &result) {
                return effects;
            }
            if let Some(effects) = metrics_update::on_reply(app, &op_id, &result) {
                return effects;
            }
            let what = app
                .in_flight
                .remove(&op_id)
                .map(|f| f.what)
                .unwrap_or_else(|| "op".into());
            match result {
                Ok(mut fields) => {
                    if let Some(r) = fields
                        .remove("request")
                        .and_then(|v| serde_json::from_value::<AccessRequest>(v).ok())
                    {
                        let text = match r.state {
                            RequestState::Pending => format!(
                                "{what}: {} pending, {}/{} approvals",
                                r.id,
                                r.approvals.len(),
                                r.approvals_required
                            ),
                            s => format!("{what}: {} {}", r.id, s.as_str()),
                        };
                        upsert_request(app, r);
                        flash(app, Level::Info, text);
                    } else if let Some(g) = fields
                        .remove("grant")
                        .and_then(|v| serde_json::from_value::<crate::protocol::Grant>(v).ok())
                    {
                        flash(
                            app,
                            Level::Info,
                            format!("{what}: {} {}", g.id, g.state.as_str()),
                        );
                        app.grants.insert(g.id.clone(), g);
                    } else {
                        flash(app, Level::Info, format!("{what}: done"));
                    }
                }
                Err(e) => flash(app, Level::Error, format!("{what} failed: {}", e.message)),
            }
            Vec::new()
        }
    }
}

fn apply_snapshot(app: &mut App, snap: Snapshot) {
    app.catalog = snap.catalog;
    if std::mem::take(&mut app.form_wanted) && app.overlay.is_none() {
        if app.catalog.is_empty() {
            flash(app, Level::Warn, "there are no services you may request");
        } else {
            app.overlay = Some(Overlay::Form(Box::new(new_form(app, 0))));
        }
    }
    app.requests = snap
        .requests
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    app.grants = snap.grants.into_iter().map(|g| (g.id.clone(), g)).collect();
    for s in &snap.sessions {
        app.grants.insert(s.grant.id.clone(), s.grant.clone());
    }
    app.sessions = snap.sessions;
    app.audit = snap.audit.into_iter().take(AUDIT_KEEP).collect();
}

fn upsert_request(app: &mut App, r: AccessRequest) {
    app.requests.insert(r.id.clone(), r);
}

fn on_event(app: &mut App, event: Event) -> Vec<Effect> {
    let mut effects = Vec::new();
    match event {
        Event::RequestUpdated { request } => {
            let me = app.user_name().to_string();
            let is_new = !app.requests.contains_key(&request.id);
            let was_pending = app
                .requests
                .get(&request.id)
                .is_some_and(|r| r.state == RequestState::Pending);
            if request.requester == me && was_pending && request.state != RequestState::Pending {
                let text = match request.state {
                    RequestState::Approved => format!(
                        "{} approved: access to {} granted",
                        request.id, request.service
                    ),
                    RequestState::Denied => format!(
                        "{} denied by {}: {}",
                        request.id,
                        request.denied_by.as_deref().unwrap_or("?"),
                        request.deny_reason.as_deref().unwrap_or("")
                    ),
                    s => format!("{} {}", request.id, s.as_str()),
                };
                let level = if request.state == RequestState::Approved {
                    Level::Info
                } else {
                    Level::Warn
                };
                flash(app, level, text);
            }
            let for_my_queue = is_new
                && request.state == RequestState::Pending
                && request.requester != me
                && app.has_role("approver");
            upsert_request(app, request);
            if for_my_queue && app.bell {
                effects.push(Effect::Bell);
            }
        }
        Event::GrantUpdated { grant } => {
            let me = app.user_name();
            if grant.user == me && grant.state != GrantState::Active {
                let text = match grant.state {
                    GrantState::Revoked => format!(
                        "your grant on {} was revoked by {}: {}",
                        grant.service,
                        grant.revoked_by.as_deref().unwrap_or("?"),
                        grant.revoke_reason.as_deref().unwrap_or("")
                    ),
                    _ => format!("your grant on {} expired", grant.service),
                };
                flash(app, Level::Warn, text);
            }
            app.grants.insert(grant.id.clone(), grant.clone());
            effects.extend(logs_update::on_grant(app, &grant));
            metrics_update::on_grant(app, &grant);
        }
        Event::AuditAppended { entry } => {
            app.audit.push_front(entry);
            app.audit.truncate(AUDIT_KEEP);
        }
        Event::Alert {
            kind,
            message,
            subject,
        } => {
            flash(app, Level::Warn, message.clone());
            app.alerts.push_front(Alert {
                kind,
                message,
                subject,
                at: app.server_now(),
            });
            app.alerts.truncate(ALERTS_KEEP);
            if app.bell {
                effects.push(Effect::Bell);
            }
        }
        Event::LogsLines {
            sub_id,
            lines,
            dropped,
        } => logs_update::on_lines(app, sub_id, lines, dropped),
        Event::LogsClosed { sub_id, reason } => logs_update::on_closed(app, sub_id, reason),
        Event::Hello { .. } => {}
    }
    effects
}

fn rows_in(app: &App, tab: Tab) -> usize {
    match tab {
        Tab::Grants => app.grants_rows().len(),
        Tab::Queue => app.queue().len(),
        Tab::Sessions => app.active_sessions().len(),
        Tab::Audit => app.audit_view().len(),
        Tab::Logs | Tab::Metrics => 0,
    }
}

fn pane_key(tab: Tab) -> &'static str {
    tab.title()
}

fn move_selection(app: &mut App, delta: isize) {
    let n = rows_in(app, app.tab);
    let key = pane_key(app.tab);
    let cur = app.selected(key) as isize;
    let next = if n == 0 {
        0
    } else {
        (cur + delta).clamp(0, n as isize - 1)
    };
    app.selected.insert(key, next as usize);
}

/// The selected row index, clamped to what exists now.
fn selected_index(app: &App, tab: Tab) -> Option<usize> {
    let n = rows_in(app, tab);
    (n > 0).then(|| app.selected(pane_key(tab)).min(n - 1))
}

fn on_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    // Ctrl-C always gets you out, whatever is open.
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        app.quit = true;
        return vec![Effect::Quit];
    }
    if let Some(overlay) = app.overlay.take() {
        return on_overlay_key(app, overlay, key);
    }
    let Some(action) = keymap::lookup_in(&key, app.tab, keymap::Ctx::of(app)) else {
        return Vec::new();
    };
    act(app, action)
}

fn act(app: &mut App, action: Action) -> Vec<Effect> {
    if let Some(effects) = logs_update::act(app, action) {
        return effects;
    }
    if let Some(effects) = metrics_update::act(app, action) {
        return effects;
    }
    match action {
        Action::ForceQuit => {
            app.quit = true;
            vec![Effect::Quit]
        }
        Action::Quit => {
            // Leaving with access still running is worth a second key.
            if app.my_active_grants().is_empty() {
                app.quit = true;
                vec![Effect::Quit]
            } else {
                app.overlay = Some(Overlay::Confirm(Confirm::Quit));
                Vec::new()
            }
        }
        Action::Help => {
            app.overlay = Some(Overlay::Help);
            Vec::new()
        }
        Action::Palette => {
            app.overlay = Some(Overlay::Palette(Palette::default()));
            Vec::new()
        }
        Action::NextTab => {
            app.tab = Tab::ALL[(app.tab.index() + 1) % Tab::ALL.len()];
            Vec::new()
        }
        Action::PrevTab => {
            app.tab = Tab::ALL[(app.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len()];
            Vec::new()
        }
        Action::GoTab(i) => {
            app.tab = Tab::ALL[i.min(Tab::ALL.len() - 1)];
            Vec::new()
        }
        Action::Up => {
            move_selection(app, -1);
            Vec::new()
        }
        Action::Down => {
            move_selection(app, 1);
            Vec::new()
        }
        Action::PageUp => {
            move_selection(app, -10);
            Vec::new()
        }
        Action::PageDown => {
            move_selection(app, 10);
            Vec::new()
        }
        Action::Top => {
            app.selected.insert(pane_key(app.tab), 0);
            Vec::new()
        }
        Action::Bottom => {
            move_selection(app, isize::MAX / 2);
            Vec::new()
        }
        Action::NewRequest => open_form(app),
        Action::Approve => start_approve(app),
        Action::Deny => start_deny(app),
        Action::Revoke => start_revoke(app),
        Action::Extend => start_extend(app),
        Action::Cancel => cancel_selected(app),
        Action::Filter => {
            app.overlay = Some(Overlay::Prompt(Prompt {
                purpose: PromptFor::AuditFilter,
                label: "filter audit (actor, action, target, detail)".into(),
                text: app.audit_filter.clone(),
                error: None,
            }));
            Vec::new()
        }
        Action::Refresh => vec![Effect::Refresh],
        Action::VerifyChain => {
            if !app.has_role("lead") {
                flash(
                    app,
                    Level::Info,
                    "only leads can read the gateway's whole chain; your own journal's state is in the title",
                );
                return Vec::new();
            }
            flash(app, Level::Info, "verifying the gateway's chain…");
            vec![Effect::VerifyChain]
        }
        Action::Export => {
            if !app.has_role("lead") {
                flash(app, Level::Info, "exports are for leads");
                return Vec::new();
            }
            flash(app, Level::Info, "exporting…");
            vec![Effect::Export {
                filter: app.audit_filter.clone(),
            }]
        }
        Action::ToggleMouse => {
            app.mouse = !app.mouse;
            let state = if app.mouse {
                "on"
            } else {
                "off: select text with the mouse"
            };
            flash(app, Level::Info, format!("mouse capture {state}"));
            Vec::new()
        }
        // The Logs pane's own keys (handled above when it is on screen).
        Action::Streams
        | Action::Follow
        | Action::Search
        | Action::NextMatch
        | Action::PrevMatch
        | Action::ClearSearch
        | Action::Levels
        | Action::Wrap
        | Action::Timestamps
        | Action::CopyLine
        | Action::CopyView
        | Action::AskAgain => Vec::new(),
        // The Metrics pane's own keys (handled above when it is on screen).
        Action::ChartService
        | Action::ZoomIn
        | Action::ZoomOut
        | Action::RefreshCharts
        | Action::ChartPrev
        | Action::ChartNext
        | Action::Enlarge
        | Action::Shrink => Vec::new(),
    }
}

fn refuse_read_only(app: &mut App) -> bool {
    if app.read_only {
        flash(
            app,
            Level::Warn,
            "read-only console: approve, deny and revoke are disabled",
        );
    }
    app.read_only
}

fn selected_queue_item(app: &App) -> Option<AccessRequest> {
    let i = selected_index(app, Tab::Queue)?;
    app.queue().get(i).map(|r| (*r).clone())
}

fn start_approve(app: &mut App) -> Vec<Effect> {
    if refuse_read_only(app) {
        return Vec::new();
    }
    let Some(r) = selected_queue_item(app) else {
        flash(app, Level::Info, "nothing to approve: the queue is empty");
        return Vec::new();
    };
    app.overlay = Some(Overlay::Confirm(Confirm::Approve {
        request_id: r.id,
        comment: None,
    }));
    Vec::new()
}

fn start_deny(app: &mut App) -> Vec<Effect> {
    if refuse_read_only(app) {
        return Vec::new();
    }
    let Some(r) = selected_queue_item(app) else {
        flash(app, Level::Info, "nothing to deny: the queue is empty");
        return Vec::new();
    };
    app.overlay = Some(Overlay::Prompt(Prompt {
        purpose: PromptFor::DenyReason {
            request_id: r.id.clone(),
        },
        label: format!("deny {} ({} on {}): reason", r.id, r.requester, r.service),
        text: String::new(),
        error: None,
    }));
    Vec::new()
}

fn selected_grant_id(app: &App) -> Option<String> {
    match app.tab {
        Tab::Sessions => {
            let i = selected_index(app, Tab::Sessions)?;
            app.active_sessions().get(i).map(|(g, _)| g.id.clone())
        }
        Tab::Grants => {
            let i = selected_index(app, Tab::Grants)?;
            match app.grants_rows().get(i) {
                Some(GrantsRow::Grant(g)) => Some(g.id.clone()),
                _ => None,
            }
        }
        _ => None,
    }
}

fn start_revoke(app: &mut App) -> Vec<Effect> {
    if refuse_read_only(app) {
        return Vec::new();
    }
    let Some(grant_id) = selected_grant_id(app) else {
        flash(app, Level::Info, "select an active grant first");
        return Vec::new();
    };
    let g = &app.grants[&grant_id];
    let label = format!("revoke {} ({} on {}): reason", g.id, g.user, g.service);
    app.overlay = Some(Overlay::Prompt(Prompt {
        purpose: PromptFor::RevokeReason { grant_id },
        label,
        text: String::new(),
        error: None,
    }));
    Vec::new()
}

fn start_extend(app: &mut App) -> Vec<Effect> {
    let Some(grant_id) = selected_grant_id(app) else {
        flash(
            app,
            Level::Info,
            "select one of your active grants to extend",
        );
        return Vec::new();
    };
    app.overlay = Some(Overlay::Prompt(Prompt {
        purpose: PromptFor::ExtendFor {
            grant_id: grant_id.clone(),
        },
        label: format!("extend {grant_id} by (e.g. 15m)"),
        text: "15m".into(),
        error: None,
    }));
    Vec::new()
}

fn cancel_selected(app: &mut App) -> Vec<Effect> {
    let target = selected_index(app, Tab::Grants).and_then(|i| match app.grants_rows().get(i) {
        Some(GrantsRow::Request(r)) if r.state == RequestState::Pending => Some(r.id.clone()),
        _ => None,
    });
    match target {
        Some(id) => send(
            app,
            Op::RequestCancel {
                request_id: id.clone(),
            },
            format!("cancel {id}"),
        ),
        None => {
            flash(
                app,
                Level::Info,
                "select one of your pending requests to cancel",
            );
            Vec::new()
        }
    }
}

fn open_form(app: &mut App) -> Vec<Effect> {
    if app.catalog.is_empty() {
        // Right after connecting the catalog may still be on its way: a key
        // pressed then is kept, not lost.
        let waiting = matches!(app.link, Link::Connecting { .. } | Link::Connected { .. });
        app.form_wanted = waiting;
        let text = if waiting {
            "loading the services you may request…"
        } else {
            "no services you may request (not connected)"
        };
        flash(app, Level::Warn, text);
        return Vec::new();
    }
    app.overlay = Some(Overlay::Form(Box::new(new_form(app, 0))));
    Vec::new()
}

/// My grant of `cap` on `service` that ends (or ended) last.
pub fn last_grant_for<'a>(app: &'a App, service: &str, cap: Capability) -> Option<&'a Grant> {
    let me = app.user_name();
    app.grants
        .values()
        .filter(|g| g.user == me && g.service == service && g.capabilities.contains(&cap))
        .max_by_key(|g| (g.ended_at.unwrap_or(g.expires_at), g.starts_at))
}

/// My newest pending request for `cap` on `service`.
pub fn pending_request_for<'a>(
    app: &'a App,
    service: &str,
    cap: Capability,
) -> Option<&'a AccessRequest> {
    let me = app.user_name();
    app.requests
        .values()
        .filter(|r| {
            r.requester == me
                && r.service == service
                && r.state == RequestState::Pending
                && r.capabilities.contains(&cap)
        })
        .max_by_key(|r| r.created_at)
}

/// `r` once access to `service` ended: the request form filled in to ask
/// for `cap` again (with the ticket of my last grant for it), coming back
/// to `back_to`. When a request for it is already waiting the footer says
/// so, and that `then` once it is granted.
pub fn ask_again_for(
    app: &mut App,
    service: &str,
    cap: Capability,
    back_to: Tab,
    then: &str,
) -> Vec<Effect> {
    if let Some(r) = pending_request_for(app, service, cap) {
        let text = format!(
            "{} for {service} is already waiting ({}/{} approvals); {then} once it is granted",
            r.id,
            r.approvals.len(),
            r.approvals_required
        );
        flash(app, Level::Info, text);
        return Vec::new();
    }
    let Some(ci) = app.catalog.iter().position(|s| s.name == service) else {
        flash(
            app,
            Level::Warn,
            format!("{service} is not among the services you may request"),
        );
        return Vec::new();
    };
    let ticket = last_grant_for(app, service, cap)
        .and_then(|g| app.requests.get(&g.request_id))
        .and_then(|r| r.ticket.clone());
    let mut form = new_form(app, ci);
    for c in &mut form.caps {
        c.1 = c.0 == cap;
    }
    form.ticket = ticket.unwrap_or_default();
    form.focus = FormField::Reason;
    form.return_to = Some(back_to);
    app.overlay = Some(Overlay::Form(Box::new(form)));
    Vec::new()
}

pub fn new_form(app: &App, service: usize) -> RequestForm {
    let svc = &app.catalog[service];
    let mut reason = TextArea::default();
    reason.set_placeholder_text("why you need it (shown to approvers, kept in the audit trail)");
    let default_s = 1800.min(svc.max_duration_s).max(svc.min_duration_s);
    RequestForm {
        service,
        caps: svc.capabilities.iter().map(|c| (*c, true)).collect(),
        cap_cursor: 0,
        duration: format_duration(std::time::Duration::from_secs(default_s)),
        reason,
        ticket: String::new(),
        break_glass: false,
        focus: FormField::Service,
        errors: Default::default(),
        return_to: None,
    }
}

/// Checks the form against what the catalog says; fills `errors`.
pub fn validate_form(app: &App, form: &mut RequestForm) -> Option<Op> {
    form.errors.clear();
    let svc = &app.catalog[form.service];
    let caps: Vec<_> = form
        .caps
        .iter()
        .filter(|(_, on)| *on)
        .map(|(c, _)| *c)
        .collect();
    if caps.is_empty() {
        form.errors
            .insert("capabilities", "tick at least one capability".into());
    }
    let duration_s = match parse_duration(&form.duration) {
        Ok(d) if d.as_secs() > svc.max_duration_s => {
            form.errors.insert(
                "duration",
                format!(
                    "at most {} for {}",
                    format_duration(std::time::Duration::from_secs(svc.max_duration_s)),
                    svc.name
                ),
            );
            0
        }
        Ok(d) if d.as_secs() < svc.min_duration_s.max(1) => {
            form.errors.insert(
                "duration",
                format!(
                    "at least {}",
                    format_duration(std::time::Duration::from_secs(svc.min_duration_s.max(1)))
                ),
            );
            0
        }
        Ok(d) => d.as_secs(),
        Err(e) => {
            form.errors.insert("duration", e.to_string());
            0
        }
    };
    let reason = form.reason.lines().join("\n").trim().to_string();
    if reason.chars().count() < 3 {
        form.errors
            .insert("reason", "say why (at least 3 characters)".into());
    }
    if form.break_glass && !svc.break_glass {
        form.errors.insert(
            "break_glass",
            "break-glass is not allowed for you here".into(),
        );
    }
    if !form.errors.is_empty() {
        return None;
    }
    let ticket = form.ticket.trim();
    Some(Op::RequestCreate {
        service: svc.name.clone(),
        capabilities: caps,
        duration_s,
        reason,
        ticket: (!ticket.is_empty()).then(|| ticket.to_string()),
        break_glass: form.break_glass,
    })
}

fn on_overlay_key(app: &mut App, overlay: Overlay, key: KeyEvent) -> Vec<Effect> {
    match overlay {
        Overlay::Help => {
            // Any key closes help; it is not swallowed if it was a command.
            if matches!(
                key.code,
                KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q') | KeyCode::Enter
            ) {
                Vec::new()
            } else {
                on_key(app, key)
            }
        }
        Overlay::Palette(p) => on_palette_key(app, p, key),
        Overlay::Form(form) => on_form_key(app, *form, key),
        Overlay::Prompt(p) => on_prompt_key(app, p, key),
        Overlay::Confirm(c) => on_confirm_key(app, c, key),
        Overlay::Streams(cursor) => logs_update::on_streams_key(app, cursor, key),
        Overlay::ChartServices(cursor) => metrics_update::on_services_key(app, cursor, key),
    }
}

fn on_confirm_key(app: &mut App, confirm: Confirm, key: KeyEvent) -> Vec<Effect> {
    let yes = |c: char| {
        matches!(key.code, KeyCode::Char(k) if k == c || k == 'y') || key.code == KeyCode::Enter
    };
    match confirm {
        Confirm::Approve {
            request_id,
            comment,
        } => {
            if key.code == KeyCode::Char('c') {
                app.overlay = Some(Overlay::Prompt(Prompt {
                    purpose: PromptFor::ApproveComment { request_id },
                    label: "approval comment (optional)".into(),
                    text: comment.unwrap_or_default(),
                    error: None,
                }));
                return Vec::new();
            }
            if yes('a') {
                let what = format!("approve {request_id}");
                return send(
                    app,
                    Op::RequestApprove {
                        request_id,
                        comment,
                        totp: None,
                    },
                    what,
                );
            }
        }
        Confirm::Deny { request_id, reason } => {
            if yes('d') {
                let what = format!("deny {request_id}");
                return send(app, Op::RequestDeny { request_id, reason }, what);
            }
        }
        Confirm::Revoke { grant_id, reason } => {
            if yes('r') {
                let what = format!("revoke {grant_id}");
                return send(app, Op::GrantRevoke { grant_id, reason }, what);
            }
        }
        Confirm::BreakGlass { op } => {
            if yes('b') {
                let what = match &op {
                    Op::RequestCreate { service, .. } => format!("break-glass on {service}"),
                    _ => "break-glass".into(),
                };
                return send(app, op, what);
            }
        }
        Confirm::Quit => {
            if yes('q') {
                app.quit = true;
                return vec![Effect::Quit];
            }
        }
    }
    flash(app, Level::Info, "cancelled");
    Vec::new()
}

/// Edits a one-line text field; returns true when the key was consumed.
fn edit_line(text: &mut String, key: &KeyEvent) -> bool {
    match key.code {
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
            text.push(c);
            true
        }
        KeyCode::Backspace => {
            text.pop();
            true
        }
        KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
            text.clear();
            true
        }
        _ => false,
    }
}

fn on_prompt_key(app: &mut App, mut p: Prompt, key: KeyEvent) -> Vec<Effect> {
    match key.code {
        KeyCode::Esc => {
            if p.purpose == PromptFor::AuditFilter {
                app.audit_filter.clear();
            }
            Vec::new()
        }
        KeyCode::Enter => submit_prompt(app, p),
        _ => {
            edit_line(&mut p.text, &key);
            if p.purpose == PromptFor::AuditFilter {
                // The filter applies as you type.
                app.audit_filter = p.text.clone();
                app.selected.insert(pane_key(Tab::Audit), 0);
            }
            p.error = None;
            app.overlay = Some(Overlay::Prompt(p));
            Vec::new()
        }
    }
}

fn submit_prompt(app: &mut App, mut p: Prompt) -> Vec<Effect> {
    let text = p.text.trim().to_string();
    let required = |p: &mut Prompt, app: &mut App, what: &str| {
        p.error = Some(format!("{what} is required"));
        app.overlay = Some(Overlay::Prompt(p.clone()));
    };
    match p.purpose.clone() {
        PromptFor::ApproveComment { request_id } => {
            app.overlay = Some(Overlay::Confirm(Confirm::Approve {
                request_id,
                comment: (!text.is_empty()).then_some(text),
            }));
        }
        PromptFor::DenyReason { request_id } => {
            if text.is_empty() {
                required(&mut p, app, "a reason");
            } else {
                app.overlay = Some(Overlay::Confirm(Confirm::Deny {
                    request_id,
                    reason: text,
                }));
            }
        }
        PromptFor::RevokeReason { grant_id } => {
            if text.is_empty() {
                required(&mut p, app, "a reason");
            } else {
                app.overlay = Some(Overlay::Confirm(Confirm::Revoke {
                    grant_id,
                    reason: text,
                }));
            }
        }
        PromptFor::ExtendFor { grant_id } => match parse_duration(&text) {
            Ok(d) if d.as_secs() > 0 => {
                app.overlay = Some(Overlay::Prompt(Prompt {
                    purpose: PromptFor::ExtendReason {
                        grant_id: grant_id.clone(),
                        duration_s: d.as_secs(),
                    },
                    label: format!("extend {grant_id} by {}: reason", format_duration(d)),
                    text: String::new(),
                    error: None,
                }));
            }
            Ok(_) => {
                p.error = Some("give a duration above zero".into());
                app.overlay = Some(Overlay::Prompt(p));
            }
            Err(e) => {
                p.error = Some(e.to_string());
                app.overlay = Some(Overlay::Prompt(p));
            }
        },
        PromptFor::ExtendReason {
            grant_id,
            duration_s,
        } => {
            if text.is_empty() {
                required(&mut p, app, "a reason");
            } else {
                let what = format!("extend {grant_id}");
                return send(
                    app,
                    Op::GrantExtend {
                        grant_id,
                        duration_s,
                        reason: text,
                    },
                    what,
                );
            }
        }
        PromptFor::AuditFilter => {
            app.audit_filter = text;
        }
        PromptFor::LogSearch => return logs_update::search_submit(app, p.text),
    }
    Vec::new()
}

fn on_form_key(app: &mut App, mut form: RequestForm, key: KeyEvent) -> Vec<Effect> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Esc => return Vec::new(),
        KeyCode::Tab | KeyCode::BackTab => {
            let order = FormField::ORDER;
            let i = order.iter().position(|f| *f == form.focus).unwrap_or(0);
            let next = if key.code == KeyCode::Tab {
                i + 1
            } else {
                i + order.len() - 1
            };
            form.focus = order[next % order.len()];
        }
        // Ctrl-S submits from anywhere; Enter submits except inside the reason.
        KeyCode::Char('s') if ctrl => return submit_form(app, form),
        KeyCode::Enter if form.focus != FormField::Reason => return submit_form(app, form),
        _ => match form.focus {
            FormField::Service => match key.code {
                KeyCode::Left | KeyCode::Up | KeyCode::Char('k') | KeyCode::Char('h') => {
                    let n = app.catalog.len();
                    form = RequestForm {
                        focus: FormField::Service,
                        ..new_form(app, (form.service + n - 1) % n)
                    };
                }
                KeyCode::Right | KeyCode::Down | KeyCode::Char('j') | KeyCode::Char('l') => {
                    let n = app.catalog.len();
                    form = RequestForm {
                        focus: FormField::Service,
                        ..new_form(app, (form.service + 1) % n)
                    };
                }
                _ => {}
            },
            FormField::Capabilities => match key.code {
                KeyCode::Left | KeyCode::Up => form.cap_cursor = form.cap_cursor.saturating_sub(1),
                KeyCode::Right | KeyCode::Down => {
                    form.cap_cursor = (form.cap_cursor + 1).min(form.caps.len().saturating_sub(1))
                }
                KeyCode::Char(' ') | KeyCode::Char('x') => {
                    if let Some(c) = form.caps.get_mut(form.cap_cursor) {
                        c.1 = !c.1;
                    }
                }
                _ => {}
            },
            FormField::Duration => {
                edit_line(&mut form.duration, &key);
            }
            FormField::Reason => {
                form.reason.input(key);
            }
            FormField::Ticket => {
                edit_line(&mut form.ticket, &key);
            }
            FormField::BreakGlass => {
                if matches!(key.code, KeyCode::Char(' ') | KeyCode::Char('x')) {
                    form.break_glass = !form.break_glass;
                }
            }
        },
    }
    app.overlay = Some(Overlay::Form(Box::new(form)));
    Vec::new()
}

fn submit_form(app: &mut App, mut form: RequestForm) -> Vec<Effect> {
    match validate_form(app, &mut form) {
        Some(op) => {
            app.tab = form.return_to.unwrap_or(Tab::Grants);
            if let Op::RequestCreate {
                break_glass: true, ..
            } = op
            {
                // Access without approval takes a second, deliberate key.
                app.overlay = Some(Overlay::Confirm(Confirm::BreakGlass { op }));
                return Vec::new();
            }
            let what = match &op {
                Op::RequestCreate { service, .. } => format!("request for {service}"),
                _ => "request".into(),
            };
            send(app, op, what)
        }
        None => {
            app.overlay = Some(Overlay::Form(Box::new(form)));
            Vec::new()
        }
    }
}

/// Palette entries matching what was typed.
pub fn palette_matches(input: &str) -> Vec<(&'static str, &'static str)> {
    let q = input.trim().to_lowercase();
    PALETTE_COMMANDS
        .iter()
        .filter(|(name, help)| q.is_empty() || name.contains(&q) || help.contains(&q))
        .copied()
        .collect()
}

fn on_palette_key(app: &mut App, mut p: Palette, key: KeyEvent) -> Vec<Effect> {
    match key.code {
        KeyCode::Esc => Vec::new(),
        KeyCode::Up => {
            p.selected = p.selected.saturating_sub(1);
            app.overlay = Some(Overlay::Palette(p));
            Vec::new()
        }
        KeyCode::Down => {
            let n = palette_matches(&p.input).len();
            p.selected = (p.selected + 1).min(n.saturating_sub(1));
            app.overlay = Some(Overlay::Palette(p));
            Vec::new()
        }
        KeyCode::Enter => {
            let matches = palette_matches(&p.input);
            match matches.get(p.selected.min(matches.len().saturating_sub(1))) {
                Some((name, _)) => run_command(app, name),
                None => {
                    flash(
                        app,
                        Level::Warn,
                        format!("no command matches `{}`", p.input),
                    );
                    Vec::new()
                }
            }
        }
        _ => {
            edit_line(&mut p.input, &key);
            p.selected = 0;
            app.overlay = Some(Overlay::Palette(p));
            Vec::new()
        }
    }
}

fn run_command(app: &mut App, name: &str) -> Vec<Effect> {
    if let Some(theme) = name.strip_prefix("theme ") {
        app.theme = theme.to_string();
        flash(app, Level::Info, format!("theme {theme}"));
        return Vec::new();
    }
    match name {
        "request" => act(app, Action::NewRequest),
        "approve" => {
            app.tab = Tab::Queue;
            act(app, Action::Approve)
        }
        "deny" => {
            app.tab = Tab::Queue;
            act(app, Action::Deny)
        }
        "revoke" => act(app, Action::Revoke),
        "extend" => act(app, Action::Extend),
        "refresh" => act(app, Action::Refresh),
        "mouse" => act(app, Action::ToggleMouse),
        "bell" => {
            app.bell = !app.bell;
            let state = if app.bell { "on" } else { "off" };
            flash(app, Level::Info, format!("bell {state}"));
            Vec::new()
        }
        "help" => act(app, Action::Help),
        "quit" => act(app, Action::Quit),
        _ => Vec::new(),
    }
}

/// Where the tab titles sit on the tab row (row 1): (tab, first col, last col).
pub fn tab_spans(app: &App) -> Vec<(Tab, u16, u16)> {
    let mut x = 1u16;
    Tab::ALL
        .iter()
        .map(|t| {
            let w = super::views::tab_label(app, *t).chars().count() as u16;
            let span = (*t, x, x + w);
            x += w + 3;
            span
        })
        .collect()
}

fn on_mouse(app: &mut App, m: crossterm::event::MouseEvent) -> Vec<Effect> {
    if m.row != super::views::TAB_ROW
        && (logs_update::on_mouse(app, &m).is_some() || metrics_update::on_mouse(app, &m).is_some())
    {
        return Vec::new();
    }
    match m.kind {
        MouseEventKind::ScrollDown => move_selection(app, 1),
        MouseEventKind::ScrollUp => move_selection(app, -1),
        MouseEventKind::Down(MouseButton::Left) if app.overlay.is_none() => {
            if m.row == super::views::TAB_ROW {
                if let Some((t, _, _)) = tab_spans(app)
                    .into_iter()
                    .find(|(_, a, b)| m.column >= *a && m.column < *b)
                {
                    app.tab = t;
                }
            } else if m.row >= super::views::FIRST_ROW_Y {
                let row = super::views::scroll_offset(app, app.tab)
                    + (m.row - super::views::FIRST_ROW_Y) as usize;
                let n = rows_in(app, app.tab);
                if row < n {
                    app.selected.insert(pane_key(app.tab), row);
                }
            }
        }
        _ => {}
    }
    Vec::new()
}

/// The local time `update` should be told about next (a flash expiring,
/// the next countdown second or the next chart refresh), for the
/// runtime's timer.
pub fn next_wakeup(app: &App, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut next = app.flash.as_ref().map(|f| f.until);
    if app.countdown_visible() {
        let ms = now.timestamp_subsec_millis() as i64;
        let tick = now + chrono::Duration::milliseconds(1000 - ms);
        next = Some(next.map_or(tick, |n| n.min(tick)));
    }
    if let Some(due) = metrics_update::next_wakeup(app) {
        next = Some(next.map_or(due, |n| n.min(due)));
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::fixtures::{catalog_entry, code, connected_as, event, request, t0};
    use crate::protocol::{Capability, CatalogService, Grant};

    fn connected(name: &str, roles: &[&str]) -> App {
        let mut app = connected_as(name, roles);
        app.catalog = vec![CatalogService {
            break_glass: true,
            ..catalog_entry("payments")
        }];
        app
    }

    /// A character key without modifiers, as these tests type text.
    fn key(c: char) -> Msg {
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
    }

    fn typed(app: &mut App, text: &str) {
        for c in text.chars() {
            update(app, key(c));
        }
    }

    /// `holder`'s logs:read grant on payments from t0, granted by req-1.
    fn grant(id: &str, holder: &str, secs: i64) -> Grant {
        Grant {
            request_id: "req-1".into(),
            user: holder.into(),
            ..crate::console::fixtures::grant(id, "payments", Capability::LogsRead, 0, secs)
        }
    }

    #[test]
    fn n_pressed_before_the_catalog_arrives_opens_the_form_when_it_does() {
        let mut app = connected("alice", &["engineer"]);
        let catalog = std::mem::take(&mut app.catalog);
        update(&mut app, key('n'));
        assert!(app.overlay.is_none());
        assert!(
            app.flash
                .as_ref()
                .is_some_and(|f| f.text.contains("loading"))
        );
        update(
            &mut app,
            Msg::Net(NetMsg::Snapshot(Box::new(Snapshot {
                catalog,
                ..Snapshot::default()
            }))),
        );
        assert!(
            matches!(app.overlay, Some(Overlay::Form(_))),
            "the key was kept"
        );
    }

    #[test]
    fn each_role_lands_on_its_own_first_screen() {
        assert_eq!(connected("alice", &["engineer"]).tab, Tab::Grants);
        assert_eq!(connected("bob", &["approver"]).tab, Tab::Queue);
        assert_eq!(connected("carol", &["lead"]).tab, Tab::Sessions);
    }

    #[test]
    fn a_new_queue_item_rings_the_bell_and_approving_takes_two_keys() {
        let mut app = connected("bob", &["approver"]);
        let effects = event(
            &mut app,
            Event::RequestUpdated {
                request: request("req-1", "alice", RequestState::Pending),
            },
        );
        assert_eq!(effects, vec![Effect::Bell]);
        assert_eq!(app.queue().len(), 1);
        assert!(
            update(&mut app, key('a')).is_empty(),
            "the first key only asks"
        );
        assert!(matches!(
            app.overlay,
            Some(Overlay::Confirm(Confirm::Approve { .. }))
        ));
        let effects = update(&mut app, key('a'));
        match effects.as_slice() {
            [
                Effect::Send {
                    op:
                        Op::RequestApprove {
                            request_id,
                            comment: None,
                            ..
                        },
                    ..
                },
            ] => {
                assert_eq!(request_id, "req-1")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn any_other_key_cancels_a_confirmation() {
        let mut app = connected("bob", &["approver"]);
        event(
            &mut app,
            Event::RequestUpdated {
                request: request("req-1", "alice", RequestState::Pending),
            },
        );
        update(&mut app, key('a'));
        assert!(update(&mut app, key('x')).is_empty());
        assert!(app.overlay.is_none());
    }

    #[test]
    fn denying_requires_a_reason_then_confirmation() {
        let mut app = connected("bob", &["approver"]);
        event(
            &mut app,
            Event::RequestUpdated {
                request: request("req-1", "alice", RequestState::Pending),
            },
        );
        update(&mut app, key('d'));
        assert!(update(&mut app, code(KeyCode::Enter)).is_empty());
        match &app.overlay {
            Some(Overlay::Prompt(p)) => {
                assert_eq!(p.error.as_deref(), Some("a reason is required"))
            }
            other => panic!("{other:?}"),
        }
        typed(&mut app, "not during the freeze");
        update(&mut app, code(KeyCode::Enter));
        let effects = update(&mut app, key('y'));
        match effects.as_slice() {
            [
                Effect::Send {
                    op: Op::RequestDeny { reason, .. },
                    ..
                },
            ] => assert_eq!(reason, "not during the freeze"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn read_only_consoles_cannot_approve_or_revoke() {
        let mut app = connected("carol", &["lead", "approver"]);
        app.read_only = true;
        app.grants
            .insert("grt-1".into(), grant("grt-1", "alice", 600));
        event(
            &mut app,
            Event::RequestUpdated {
                request: request("req-1", "alice", RequestState::Pending),
            },
        );
        app.tab = Tab::Queue;
        assert!(update(&mut app, key('a')).is_empty());
        assert!(app.overlay.is_none());
        app.tab = Tab::Sessions;
        update(&mut app, key('r'));
        assert!(app.overlay.is_none());
        assert_eq!(app.flash.as_ref().unwrap().level, Level::Warn);
    }

    #[test]
    fn a_lead_revokes_the_selected_session_with_a_reason() {
        let mut app = connected("carol", &["lead"]);
        app.grants
            .insert("grt-1".into(), grant("grt-1", "alice", 600));
        app.grants
            .insert("grt-2".into(), grant("grt-2", "erin", 300));
        update(&mut app, key('j'));
        update(&mut app, key('r'));
        typed(&mut app, "incident over");
        update(&mut app, code(KeyCode::Enter));
        let effects = update(&mut app, key('r'));
        match effects.as_slice() {
            // Sessions are sorted soonest-to-expire first: row 2 is alice's.
            [
                Effect::Send {
                    op: Op::GrantRevoke { grant_id, reason },
                    ..
                },
            ] => {
                assert_eq!(
                    (grant_id.as_str(), reason.as_str()),
                    ("grt-1", "incident over")
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_request_form_checks_the_cap_before_sending() {
        let mut app = connected("alice", &["engineer"]);
        update(&mut app, key('n'));
        let Some(Overlay::Form(_)) = &app.overlay else {
            panic!("no form")
        };
        // Service → Capabilities → Duration.
        update(&mut app, code(KeyCode::Tab));
        update(&mut app, code(KeyCode::Tab));
        update(
            &mut app,
            Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)),
        );
        typed(&mut app, "3h");
        update(&mut app, code(KeyCode::Tab));
        typed(&mut app, "INC-1 declines");
        assert!(
            update(
                &mut app,
                Msg::Key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL))
            )
            .is_empty()
        );
        let Some(Overlay::Form(form)) = &app.overlay else {
            panic!("form closed")
        };
        assert_eq!(
            form.errors.get("duration").map(String::as_str),
            Some("at most 2h for payments")
        );
        // Fix the duration and submit.
        update(&mut app, code(KeyCode::BackTab));
        update(
            &mut app,
            Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)),
        );
        typed(&mut app, "30m");
        let effects = update(&mut app, code(KeyCode::Enter));
        match effects.as_slice() {
            [
                Effect::Send {
                    op:
                        Op::RequestCreate {
                            service,
                            duration_s,
                            reason,
                            capabilities,
                            ..
                        },
                    ..
                },
            ] => {
                assert_eq!(
                    (service.as_str(), *duration_s, reason.as_str()),
                    ("payments", 1800, "INC-1 declines")
                );
                assert_eq!(capabilities.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        assert!(app.overlay.is_none());
    }

    #[test]
    fn breaking_glass_takes_a_deliberate_second_key() {
        let mut app = connected("alice", &["engineer"]);
        update(&mut app, key('n'));
        // Service → … → Reason, then down to the break-glass toggle.
        for _ in 0..3 {
            update(&mut app, code(KeyCode::Tab));
        }
        typed(&mut app, "prod down, nobody answers");
        update(&mut app, code(KeyCode::Tab));
        update(&mut app, code(KeyCode::Tab));
        update(&mut app, key(' '));
        assert!(
            update(&mut app, code(KeyCode::Enter)).is_empty(),
            "nothing before confirming"
        );
        assert!(matches!(
            app.overlay,
            Some(Overlay::Confirm(Confirm::BreakGlass { .. }))
        ));
        let effects = update(&mut app, key('b'));
        match effects.as_slice() {
            [
                Effect::Send {
                    op:
                        Op::RequestCreate {
                            break_glass: true, ..
                        },
                    ..
                },
            ] => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nothing_is_sent_while_disconnected_and_the_user_is_told() {
        let mut app = connected("bob", &["approver"]);
        event(
            &mut app,
            Event::RequestUpdated {
                request: request("req-1", "alice", RequestState::Pending),
            },
        );
        update(
            &mut app,
            Msg::Net(NetMsg::Down {
                reason: "refused".into(),
                retry_at: None,
            }),
        );
        update(&mut app, key('a'));
        assert!(update(&mut app, key('a')).is_empty());
        assert!(app.flash.as_ref().unwrap().text.contains("not connected"));
    }

    #[test]
    fn my_request_being_denied_is_announced_with_who_and_why() {
        let mut app = connected("alice", &["engineer"]);
        event(
            &mut app,
            Event::RequestUpdated {
                request: request("req-1", "alice", RequestState::Pending),
            },
        );
        let mut denied = request("req-1", "alice", RequestState::Denied);
        denied.denied_by = Some("bob".into());
        denied.deny_reason = Some("use the runbook".into());
        event(&mut app, Event::RequestUpdated { request: denied });
        let f = app.flash.as_ref().unwrap();
        assert!(
            f.text.contains("denied by bob: use the runbook"),
            "{}",
            f.text
        );
    }

    #[test]
    fn quitting_with_a_running_grant_asks_first_but_ctrl_c_does_not() {
        let mut app = connected("alice", &["engineer"]);
        app.grants
            .insert("grt-1".into(), grant("grt-1", "alice", 600));
        assert!(update(&mut app, key('q')).is_empty());
        assert!(matches!(app.overlay, Some(Overlay::Confirm(Confirm::Quit))));
        let effects = update(
            &mut app,
            Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        );
        assert_eq!(effects, vec![Effect::Quit]);
    }

    #[test]
    fn countdowns_keep_ticking_only_while_one_is_visible() {
        let mut app = connected("alice", &["engineer"]);
        assert_eq!(next_wakeup(&app, t0()), None);
        app.grants
            .insert("grt-1".into(), grant("grt-1", "alice", 600));
        let at = t0() + chrono::Duration::milliseconds(250);
        assert_eq!(
            next_wakeup(&app, at),
            Some(t0() + chrono::Duration::seconds(1))
        );
    }

    #[test]
    fn the_palette_switches_theme_by_name() {
        let mut app = connected("alice", &["engineer"]);
        update(&mut app, key(':'));
        typed(&mut app, "light");
        update(&mut app, code(KeyCode::Enter));
        assert_eq!(app.theme, "light");
    }

    #[test]
    fn extending_asks_how_long_and_why() {
        let mut app = connected("alice", &["engineer"]);
        app.grants
            .insert("grt-1".into(), grant("grt-1", "alice", 200));
        update(&mut app, key('e'));
        update(&mut app, code(KeyCode::Enter)); // the offered 15m
        typed(&mut app, "still digging");
        let effects = update(&mut app, code(KeyCode::Enter));
        match effects.as_slice() {
            [
                Effect::Send {
                    op:
                        Op::GrantExtend {
                            grant_id,
                            duration_s,
                            reason,
                        },
                    ..
                },
            ] => {
                assert_eq!(
                    (grant_id.as_str(), *duration_s, reason.as_str()),
                    ("grt-1", 900, "still digging")
                )
            }
            other => panic!("{other:?}"),
        }
    }
}
