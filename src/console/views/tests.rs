//! The views rendered on ratatui's TestBackend and compared with insta
//! snapshots, at 80x24 and 160x45, in the dark and light themes (the text
//! must be the same in both: themes change styles only). The app is built
//! by hand at a fixed time, 2026-11-24 03:00:00 UTC, with no clock offset.

use chrono::{DateTime, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use ratatui_textarea::TextArea;
use serde_json::json;

use super::*;
use crate::console::app::{
    Alert, App, Confirm, Flash, FormField, Level, Link, Overlay, Palette, Prompt, PromptFor, Tab,
};
use crate::console::logs::{Kind, LevelFilter, StreamState};
use crate::console::metrics::{
    Charts, Failure, Overview as MetricsOverview, Query as MetricsQuery, Range as MetricsRange,
};
use crate::console::theme::Theme;
use crate::console::update::{new_form, update};
use crate::protocol::{
    AccessRequest, Approval, AuditEntry, Capability, CatalogService, CloseReason, ErrorCode, Grant,
    GrantState, LogLine, RequestState, Series, Session, UserInfo,
};

const LOGS: Capability = Capability::LogsRead;
const METRICS: Capability = Capability::MetricsRead;

/// 2026-11-24 at `hh:mm:ss` UTC.
fn t(hms: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2026-11-24T{hms}Z"))
        .unwrap()
        .to_utc()
}

fn user(name: &str, roles: &[&str]) -> UserInfo {
    UserInfo {
        name: name.into(),
        groups: vec!["sre".into()],
        roles: roles.iter().map(|r| r.to_string()).collect(),
    }
}

fn service(
    name: &str,
    caps: &[Capability],
    max_s: u64,
    approvals: u32,
    break_glass: bool,
) -> CatalogService {
    CatalogService {
        name: name.into(),
        description: String::new(),
        capabilities: caps.to_vec(),
        max_duration_s: max_s,
        min_duration_s: 300,
        approvals_required: approvals,
        auto_approve: false,
        break_glass,
    }
}

#[allow(clippy::too_many_arguments)]
fn request(
    id: &str,
    who: &str,
    svc: &str,
    caps: &[Capability],
    duration_s: u64,
    reason: &str,
    ticket: Option<&str>,
    created: &str,
    required: u32,
) -> AccessRequest {
    let created_at = t(created);
    AccessRequest {
        id: id.into(),
        requester: who.into(),
        service: svc.into(),
        capabilities: caps.to_vec(),
        duration_s,
        reason: reason.into(),
        ticket: ticket.map(Into::into),
        break_glass: false,
        extends: None,
        state: RequestState::Pending,
        approvals: Vec::new(),
        approvals_required: required,
        denied_by: None,
        deny_reason: None,
        created_at,
        decided_at: None,
        pending_until: created_at + chrono::Duration::minutes(30),
        grant_id: None,
        needs_review: false,
        reviewed_by: None,
        review_comment: None,
    }
}

fn grant(id: &str, who: &str, svc: &str, caps: &[Capability], from: &str, to: &str) -> Grant {
    Grant {
        id: id.into(),
        request_id: format!("req-{}", &id[4..]),
        user: who.into(),
        service: svc.into(),
        capabilities: caps.to_vec(),
        starts_at: t(from),
        expires_at: t(to),
        state: GrantState::Active,
        break_glass: false,
        revoked_by: None,
        revoke_reason: None,
        ended_at: None,
    }
}

/// `g`, revoked by `by` at `at` for `reason`.
fn revoke(g: Grant, by: &str, reason: &str, at: &str) -> Grant {
    Grant {
        state: GrantState::Revoked,
        revoked_by: Some(by.into()),
        revoke_reason: Some(reason.into()),
        ended_at: Some(t(at)),
        ..g
    }
}

fn entry(
    seq: u64,
    at: &str,
    actor: &str,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> AuditEntry {
    AuditEntry {
        seq,
        id: format!("aud-{seq:04}"),
        at: t(at),
        actor: actor.into(),
        origin: "gateway".into(),
        action: action.into(),
        target: target.into(),
        detail,
        prev_hash: "0".repeat(64),
        hash: format!("{seq:02}c0ffee9a7d41b2e8{}", "0".repeat(46)),
    }
}

/// alice, engineer and approver, at 03:00 UTC in the middle of an incident.
fn incident() -> App {
    let mut app = App::new("wss://breakglass.prod.example.com:8443", t("03:00:00"));
    app.me = Some(user("alice", &["engineer", "approver"]));
    app.link = Link::Connected { rtt_ms: Some(12) };
    app.tab_chosen = true;
    app.catalog = vec![
        service("payments", &[LOGS, METRICS], 3600, 1, true),
        service("checkout-api", &[LOGS, METRICS], 7200, 2, false),
        service("ledger", &[METRICS], 1800, 2, false),
    ];

    // alice's grants: plenty of time, under 5 minutes, under 1 minute.
    let mut g1 = grant(
        "grt-7c01d2e3f4a5",
        "alice",
        "payments",
        &[LOGS, METRICS],
        "02:40:00",
        "03:20:00",
    );
    let g2 = grant(
        "grt-8d12e3f4a5b6",
        "alice",
        "checkout-api",
        &[LOGS],
        "02:34:00",
        "03:04:12",
    );
    let mut g3 = grant(
        "grt-9e23f4a5b6c7",
        "alice",
        "ledger",
        &[METRICS],
        "02:50:40",
        "03:00:40",
    );
    g3.break_glass = true;
    g1.request_id = "req-7c01d2e3f4a5".into();
    // Others inside production.
    let g4 = grant(
        "grt-a134a5b6c7d8",
        "bob",
        "payments",
        &[LOGS],
        "02:55:00",
        "03:25:00",
    );
    let mut g5 = grant(
        "grt-b245b6c7d8e9",
        "carol",
        "search",
        &[LOGS, METRICS],
        "02:42:00",
        "03:12:00",
    );
    g5.break_glass = true;
    // Revoked earlier: shows on alice's Grants pane through its request.
    let g6 = revoke(
        grant(
            "grt-c356c7d8e9f0",
            "alice",
            "ledger",
            &[LOGS],
            "01:10:00",
            "01:40:00",
        ),
        "dana",
        "incident INC-4490 closed",
        "01:25:00",
    );
    for g in [g1, g2, g3, g4, g5, g6] {
        app.grants.insert(g.id.clone(), g);
    }

    let mut reqs = Vec::new();
    // Requests behind alice's running grants (not shown as rows).
    let mut r = request(
        "req-7c01d2e3f4a5",
        "alice",
        "payments",
        &[LOGS, METRICS],
        2400,
        "Checkout errors spiking since 02:35; need payment logs",
        Some("INC-4521"),
        "02:39:00",
        1,
    );
    r.state = RequestState::Approved;
    r.grant_id = Some("grt-7c01d2e3f4a5".into());
    reqs.push(r);
    let mut r = request(
        "req-8d12e3f4a5b6",
        "alice",
        "checkout-api",
        &[LOGS],
        1800,
        "Trace failed checkouts",
        Some("INC-4521"),
        "02:30:00",
        2,
    );
    r.state = RequestState::Approved;
    r.grant_id = Some("grt-8d12e3f4a5b6".into());
    reqs.push(r);
    // alice's open and closed requests.
    let mut r = request(
        "req-1f0a9b8c7d6e",
        "alice",
        "ledger",
        &[METRICS],
        1800,
        "Ledger lag after the failover",
        Some("INC-4521"),
        "02:57:00",
        2,
    );
    r.approvals.push(Approval {
        by: "dana".into(),
        at: t("02:58:30"),
        comment: Some("ok while INC-4521 is open".into()),
    });
    reqs.push(r);
    let mut r = request(
        "req-2a1b0c9d8e7f",
        "alice",
        "checkout-api",
        &[LOGS, METRICS],
        7200,
        "Look around",
        None,
        "02:10:00",
        2,
    );
    r.state = RequestState::Denied;
    r.denied_by = Some("dana".into());
    r.deny_reason = Some("too broad: ask for logs only, 30m".into());
    r.decided_at = Some(t("02:14:00"));
    reqs.push(r);
    let mut r = request(
        "req-c356c7d8e9f0",
        "alice",
        "ledger",
        &[LOGS],
        1800,
        "Reconcile stuck transfers",
        Some("INC-4490"),
        "01:08:00",
        2,
    );
    r.state = RequestState::Approved;
    r.grant_id = Some("grt-c356c7d8e9f0".into());
    reqs.push(r);
    // The queue: others' pending requests, newest first.
    reqs.push(request(
        "req-3b2c1d0e9f8a",
        "bob",
        "checkout-api",
        &[LOGS, METRICS],
        1800,
        "5xx on /pay since the 02:40 deploy; need the logs of the\npods that restarted and the error-rate metrics to compare",
        Some("INC-4521"),
        "02:58:00",
        2,
    ));
    let mut r = request(
        "req-4c3d2e1f0a9b",
        "carol",
        "payments",
        &[LOGS],
        3600,
        "Refunds stuck in pending",
        Some("INC-4522"),
        "02:52:00",
        2,
    );
    r.approvals.push(Approval {
        by: "dana".into(),
        at: t("02:53:10"),
        comment: Some("logs only, fine".into()),
    });
    reqs.push(r);
    let mut r = request(
        "req-5d4e3f2a1b0c",
        "erin",
        "payments",
        &[LOGS],
        900,
        "Still tracing the refund bug",
        None,
        "02:45:00",
        1,
    );
    r.extends = Some("grt-a134a5b6c7d8".into());
    reqs.push(r);
    // carol's break-glass, waiting for a lead's review.
    let mut r = request(
        "req-b245b6c7d8e9",
        "carol",
        "search",
        &[LOGS, METRICS],
        1800,
        "Search down, nobody answering pages",
        None,
        "02:42:00",
        1,
    );
    r.break_glass = true;
    r.state = RequestState::Approved;
    r.needs_review = true;
    r.grant_id = Some("grt-b245b6c7d8e9".into());
    reqs.push(r);
    for r in reqs {
        app.requests.insert(r.id.clone(), r);
    }

    let audit = vec![
        entry(
            212,
            "02:59:41",
            "bob",
            "logs.subscribe",
            "payments",
            json!({"service": "payments", "grant_id": "grt-a134a5b6c7d8"}),
        ),
        entry(
            211,
            "02:58:30",
            "dana",
            "request.approve",
            "req-1f0a9b8c7d6e",
            json!({"service": "ledger", "capabilities": ["metrics:read"], "duration_s": 1800, "state": "pending", "comment": "ok while INC-4521 is open"}),
        ),
        entry(
            210,
            "02:58:00",
            "bob",
            "request.create",
            "req-3b2c1d0e9f8a",
            json!({"service": "checkout-api", "capabilities": ["logs:read", "metrics:read"], "duration_s": 1800, "state": "pending", "reason": "5xx on /pay since the 02:40 deploy", "ticket": "INC-4521"}),
        ),
        entry(
            209,
            "02:57:12",
            "carol",
            "metrics.query",
            "search",
            json!({"service": "search", "series": "http_errors_total"}),
        ),
        entry(
            208,
            "02:57:00",
            "alice",
            "request.create",
            "req-1f0a9b8c7d6e",
            json!({"service": "ledger", "capabilities": ["metrics:read"], "duration_s": 1800, "state": "pending", "reason": "Ledger lag after the failover", "ticket": "INC-4521"}),
        ),
        entry(
            207,
            "02:55:00",
            "bob",
            "grant.start",
            "grt-a134a5b6c7d8",
            json!({"service": "payments", "capabilities": ["logs:read"], "state": "active"}),
        ),
        entry(
            206,
            "02:50:40",
            "alice",
            "grant.start",
            "grt-9e23f4a5b6c7",
            json!({"service": "ledger", "capabilities": ["metrics:read"], "state": "active", "break_glass": true}),
        ),
        entry(
            205,
            "02:44:02",
            "carol",
            "logs.subscribe",
            "search",
            json!({"service": "search"}),
        ),
        entry(
            204,
            "02:42:00",
            "carol",
            "request.create",
            "req-b245b6c7d8e9",
            json!({"service": "search", "capabilities": ["logs:read", "metrics:read"], "duration_s": 1800, "break_glass": true, "state": "approved", "reason": "Search down, nobody answering pages"}),
        ),
        entry(
            203,
            "02:14:00",
            "dana",
            "request.deny",
            "req-2a1b0c9d8e7f",
            json!({"service": "checkout-api", "state": "denied", "deny_reason": "too broad: ask for logs only, 30m"}),
        ),
        entry(
            202,
            "01:25:00",
            "dana",
            "grant.revoke",
            "grt-c356c7d8e9f0",
            json!({"service": "ledger", "state": "revoked", "reason": "incident INC-4490 closed"}),
        ),
    ];
    app.audit = audit.into_iter().collect();
    app.sessions = vec![Session {
        grant: app.grants["grt-7c01d2e3f4a5"].clone(),
        last_actions: vec![entry(
            190,
            "02:41:10",
            "alice",
            "logs.subscribe",
            "payments",
            json!({}),
        )],
    }];
    app.alerts.push_front(Alert {
        kind: "break_glass".into(),
        message: "carol broke glass on search for 30m: Search down, nobody answering pages".into(),
        subject: "req-b245b6c7d8e9".into(),
        at: t("02:42:00"),
    });
    app
}

fn render(app: &App, theme: &Theme, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| draw(f, app, theme)).unwrap();
    term
}

fn buffer(app: &App, theme: &Theme, w: u16, h: u16) -> Buffer {
    render(app, theme, w, h).backend().buffer().clone()
}

/// Snapshots `app` at both sizes; the light theme must give the same text.
fn snap(name: &str, mut app: App) {
    let dark = Theme::load("dark").unwrap();
    let light = Theme::load("light").unwrap();
    for (w, h) in [(80, 24), (160, 45)] {
        app.size = (w, h);
        let text = render(&app, &dark, w, h).backend().to_string();
        let light_text = render(&app, &light, w, h).backend().to_string();
        assert_eq!(
            text, light_text,
            "{name} {w}x{h}: themes must change styles only"
        );
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), text);
    }
}

/// Snapshots at 80x24 only (header and footer variants).
fn snap_small(name: &str, mut app: App) {
    app.size = (80, 24);
    let text = render(&app, &Theme::load("dark").unwrap(), 80, 24)
        .backend()
        .to_string();
    insta::assert_snapshot!(format!("{name}_80x24"), text);
}

fn on(mut app: App, tab: Tab) -> App {
    app.tab = tab;
    app
}

/// The screen cell where `needle` first appears on row `y`.
fn find(buf: &Buffer, y: u16, needle: &str) -> Option<u16> {
    let row: String = (0..buf.area.width)
        .map(|x| buf[(x, y)].symbol().to_string())
        .collect::<Vec<_>>()
        .concat();
    let byte = row.find(needle)?;
    Some(row[..byte].chars().count() as u16)
}

fn find_row(buf: &Buffer, needle: &str) -> Option<(u16, u16)> {
    (0..buf.area.height).find_map(|y| find(buf, y, needle).map(|x| (x, y)))
}

// ---- panes ----

#[test]
fn grants_pane() {
    snap("grants", on(incident(), Tab::Grants));
}

#[test]
fn grants_pane_with_nothing_running_says_how_to_ask() {
    let mut app = incident();
    app.grants.clear();
    app.requests.clear();
    snap("grants_empty", on(app, Tab::Grants));
}

#[test]
fn grants_pane_with_a_pending_request_selected() {
    let mut app = on(incident(), Tab::Grants);
    app.selected.insert("Grants", 3);
    snap("grants_request_selected", app);
}

#[test]
fn queue_pane() {
    snap("queue", on(incident(), Tab::Queue));
}

#[test]
fn queue_pane_for_someone_who_is_not_an_approver() {
    let mut app = on(incident(), Tab::Queue);
    app.me = Some(user("alice", &["engineer"]));
    snap("queue_not_approver", app);
}

#[test]
fn queue_pane_empty() {
    let mut app = on(incident(), Tab::Queue);
    app.requests.retain(|_, r| r.requester == "alice");
    snap("queue_empty", app);
}

#[test]
fn sessions_pane() {
    let mut app = on(incident(), Tab::Sessions);
    app.me = Some(user("dana", &["approver", "lead"]));
    snap("sessions", app);
}

#[test]
fn logs_pane_before_streaming_lists_what_can_be_streamed() {
    snap("logs", on(incident(), Tab::Logs));
}

#[test]
fn audit_pane() {
    snap("audit", on(incident(), Tab::Audit));
}

#[test]
fn audit_pane_filtered() {
    let mut app = on(incident(), Tab::Audit);
    app.audit_filter = "dana".into();
    snap("audit_filtered", app);
}

#[test]
fn audit_pane_filtered_to_nothing() {
    let mut app = on(incident(), Tab::Audit);
    app.audit_filter = "mallory".into();
    snap("audit_no_match", app);
}

// ---- header and footer ----

#[test]
fn header_when_the_gateway_is_down() {
    let mut app = incident();
    app.link = Link::Down {
        reason: "connection refused (os error 111)".into(),
        retry_at: Some(t("03:00:04")),
    };
    snap_small("header_down", app);
}

#[test]
fn header_while_connecting() {
    let mut app = incident();
    app.link = Link::Connecting { attempt: 3 };
    snap_small("header_connecting", app);
}

#[test]
fn header_read_only() {
    let mut app = on(incident(), Tab::Sessions);
    app.read_only = true;
    app.me = Some(user("dana", &["approver", "lead"]));
    snap_small("header_read_only", app);
}

#[test]
fn footer_flash() {
    let mut app = incident();
    app.flash = Some(Flash {
        text: "approve req-3b2c1d0e9f8a failed: you already approved this request".into(),
        level: Level::Error,
        until: t("03:00:06"),
    });
    snap_small("footer_flash", app);
}

// ---- overlays ----

#[test]
fn help_overlay() {
    let mut app = incident();
    app.overlay = Some(Overlay::Help);
    snap("help", app);
}

#[test]
fn palette_overlay() {
    let mut app = incident();
    app.overlay = Some(Overlay::Palette(Palette {
        input: "the".into(),
        selected: 1,
    }));
    snap("palette", app);
}

#[test]
fn form_overlay_with_errors() {
    let mut app = incident();
    let mut form = new_form(&app, 0);
    form.focus = FormField::Duration;
    form.duration = "3h".into();
    form.caps[1].1 = false;
    form.errors
        .insert("duration", "at most 1h for payments".into());
    form.errors
        .insert("reason", "say why (at least 3 characters)".into());
    app.overlay = Some(Overlay::Form(Box::new(form)));
    snap("form_errors", app);
}

#[test]
fn form_overlay_writing_the_reason() {
    let mut app = incident();
    let mut form = new_form(&app, 0);
    form.focus = FormField::Reason;
    form.reason = TextArea::from([
        "Refund webhooks time out since 02:35.",
        "Need payments logs to find the failing call.",
    ]);
    form.ticket = "INC-4521".into();
    form.break_glass = true;
    app.overlay = Some(Overlay::Form(Box::new(form)));
    snap("form_reason", app);
}

#[test]
fn prompt_overlay() {
    let mut app = on(incident(), Tab::Queue);
    app.overlay = Some(Overlay::Prompt(Prompt {
        purpose: PromptFor::DenyReason {
            request_id: "req-3b2c1d0e9f8a".into(),
        },
        label: "deny req-3b2c1d0e9f8a (bob on checkout-api): reason".into(),
        text: String::new(),
        error: Some("a reason is required".into()),
    }));
    snap("prompt", app);
}

#[test]
fn confirm_approve_overlay() {
    let mut app = on(incident(), Tab::Queue);
    app.overlay = Some(Overlay::Confirm(Confirm::Approve {
        request_id: "req-3b2c1d0e9f8a".into(),
        comment: None,
    }));
    snap("confirm_approve", app);
}

#[test]
fn confirm_revoke_overlay() {
    let mut app = on(incident(), Tab::Sessions);
    app.overlay = Some(Overlay::Confirm(Confirm::Revoke {
        grant_id: "grt-b245b6c7d8e9".into(),
        reason: "search is back; review pending".into(),
    }));
    snap("confirm_revoke", app);
}

#[test]
fn confirm_quit_overlay() {
    let mut app = incident();
    app.overlay = Some(Overlay::Confirm(Confirm::Quit));
    snap("confirm_quit", app);
}

// ---- behaviour beyond the text ----

#[test]
fn a_countdown_under_a_minute_uses_the_themes_critical_colour() {
    let app = on(incident(), Tab::Grants);
    for name in ["dark", "light"] {
        let theme = Theme::load(name).unwrap();
        let buf = buffer(&app, &theme, 80, 24);
        // ledger has 40s left: the soonest to expire, so the first row.
        let (x, y) = find_row(&buf, "40s").expect("the 40s countdown is on screen");
        assert_eq!(y, FIRST_ROW_Y, "soonest to expire comes first");
        assert_eq!(buf[(x, y)].fg, theme.critical.fg.unwrap(), "{name}");
        // checkout-api, 4m12s left: warn, with the extend hint.
        let (x, y) = find_row(&buf, "4m12s").unwrap();
        assert_eq!(buf[(x, y)].fg, theme.warn.fg.unwrap(), "{name}");
        assert!(find(&buf, y, "e: extend").is_some());
        // payments, 20m left: ok, no hint.
        let (x, y) = find_row(&buf, "20m").unwrap();
        assert_eq!(buf[(x, y)].fg, theme.ok.fg.unwrap(), "{name}");
        assert!(find(&buf, y, "e: extend").is_none());
    }
    let dark = Theme::load("dark").unwrap();
    let light = Theme::load("light").unwrap();
    assert_ne!(dark.warn.fg, light.warn.fg, "light has its own warn colour");
}

#[test]
fn the_selected_row_keeps_its_countdown_colour() {
    let app = on(incident(), Tab::Grants);
    let theme = Theme::load("dark").unwrap();
    let buf = buffer(&app, &theme, 80, 24);
    let (x, y) = find_row(&buf, "40s").unwrap();
    assert_eq!(buf[(x, y)].bg, theme.selection.bg.unwrap());
    assert_eq!(buf[(x, y)].fg, theme.critical.fg.unwrap());
    assert_eq!(buf[(0, y)].symbol(), "│");
    assert_eq!(buf[(1, y)].symbol(), "›");
}

#[test]
fn no_color_leaves_no_colour_on_screen_but_marks_selection_and_danger() {
    let mut app = on(incident(), Tab::Grants);
    let mut form = new_form(&app, 0);
    form.focus = FormField::Ticket;
    app.overlay = Some(Overlay::Form(Box::new(form)));
    let theme = Theme::choose("dark", Some("1".into())).unwrap();
    for tab in Tab::ALL {
        app.tab = tab;
        let buf = buffer(&app, &theme, 160, 45);
        for cell in &buf.content {
            assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "{tab:?}");
        }
    }
    app.overlay = None;
    app.tab = Tab::Grants;
    let buf = buffer(&app, &theme, 80, 24);
    let (x, y) = find_row(&buf, "40s").unwrap();
    assert!(
        buf[(x, y)].modifier.contains(Modifier::REVERSED),
        "selected row"
    );
    assert!(
        buf[(x, y)].modifier.contains(Modifier::BOLD),
        "critical countdown"
    );
}

#[test]
fn the_gateway_being_down_is_loud_in_the_header() {
    let mut app = incident();
    app.link = Link::Down {
        reason: "connection refused".into(),
        retry_at: Some(t("03:00:04")),
    };
    let theme = Theme::load("dark").unwrap();
    let buf = buffer(&app, &theme, 80, 24);
    let x = find(&buf, 0, "DOWN: connection refused, retrying in 4s").expect("down banner");
    assert_eq!(buf[(x, 0)].bg, theme.alarm.bg.unwrap());
    assert_eq!(buf[(0, 0)].bg, theme.alarm.bg.unwrap(), "the whole row");
}

#[test]
fn tabs_sit_where_update_maps_mouse_clicks() {
    let app = incident();
    let buf = buffer(&app, &Theme::default(), 160, 45);
    for (tab, from, to) in crate::console::update::tab_spans(&app) {
        let label = tab_label(&app, tab);
        let on_screen: String = (from..to)
            .map(|x| buf[(x, TAB_ROW)].symbol().to_string())
            .collect::<Vec<_>>()
            .concat();
        assert_eq!(on_screen, label);
    }
    assert_eq!(tab_label(&app, Tab::Queue), "2 Queue (3)");
}

#[test]
fn the_queue_badge_is_in_the_warn_colour() {
    let app = incident();
    let theme = Theme::load("dark").unwrap();
    let buf = buffer(&app, &theme, 80, 24);
    let x = find(&buf, TAB_ROW, "(3)").unwrap();
    assert_eq!(buf[(x, TAB_ROW)].fg, theme.warn.fg.unwrap());
}

#[test]
fn first_data_row_is_where_update_maps_clicks_in_every_list_pane() {
    let mut app = incident();
    app.me = Some(user("alice", &["engineer", "approver", "lead"]));
    for (tab, first) in [
        (Tab::Grants, "ledger"),
        (Tab::Queue, "bob"),
        (Tab::Sessions, "alice"),
        (Tab::Audit, "02:59:41"),
    ] {
        app.tab = tab;
        for (w, h) in [(80, 24), (160, 45)] {
            let buf = buffer(&app, &Theme::default(), w, h);
            assert!(find(&buf, FIRST_ROW_Y, first).is_some(), "{tab:?} {w}x{h}");
        }
    }
}

#[test]
fn a_long_list_pages_to_keep_the_selection_visible() {
    let mut app = on(incident(), Tab::Audit);
    let base = app.audit[0].clone();
    app.audit.clear();
    for i in 0..200u64 {
        let mut e = base.clone();
        e.seq = 1000 - i;
        e.target = format!("target-{i:03}");
        app.audit.push_back(e);
    }
    app.size = (80, 24);
    app.selected.insert("Audit", 57);
    let offset = scroll_offset(&app, Tab::Audit);
    assert!(offset <= 57);
    let buf = buffer(&app, &Theme::default(), 80, 24);
    let y = FIRST_ROW_Y + (57 - offset) as u16;
    assert!(find(&buf, y, "target-057").is_some(), "row {y}");
    assert_eq!(buf[(1, y)].symbol(), "›");
    assert!(find_row(&buf, "of 200").is_some(), "the position is shown");
}

#[test]
fn any_terminal_size_renders_without_panicking() {
    let mut app = incident();
    app.overlay = Some(Overlay::Help);
    for (w, h) in [
        (1, 1),
        (10, 3),
        (49, 11),
        (50, 12),
        (60, 14),
        (80, 24),
        (300, 80),
    ] {
        for tab in Tab::ALL {
            app.tab = tab;
            buffer(&app, &Theme::default(), w, h);
        }
    }
    let small = buffer(&incident(), &Theme::default(), 40, 10);
    assert!(find_row(&small, "needs at least").is_some());
}

#[test]
fn every_overlay_fits_80x24() {
    let base = incident();
    let overlays = [
        Overlay::Help,
        Overlay::Palette(Palette::default()),
        Overlay::Form(Box::new(new_form(&base, 0))),
        Overlay::Confirm(Confirm::Quit),
    ];
    for o in overlays {
        let mut app = incident();
        app.overlay = Some(o);
        let buf = buffer(&app, &Theme::default(), 80, 24);
        // The overlay's frame is complete: a top-left and a bottom-right corner.
        assert!(find_row(&buf, "╭").is_some());
        assert!(find_row(&buf, "╯").is_some());
    }
    // The help shows every key that works where it was opened: the global
    // ones and the pane's own (the other panes' when there is room).
    for tab in Tab::ALL {
        let mut app = on(incident(), tab);
        app.overlay = Some(Overlay::Help);
        let text = render(&app, &Theme::default(), 80, 24)
            .backend()
            .to_string();
        let here = format!("{} pane", tab.title());
        for (heading, entries) in crate::console::keymap::help() {
            if heading != "Everywhere" && heading != here {
                continue;
            }
            for (_, help) in entries {
                let first_word = help.split(' ').next().unwrap();
                assert!(text.contains(first_word), "{tab:?}: help lacks {help:?}");
            }
        }
    }
    // At 160x45 every pane's keys fit.
    let mut app = incident();
    app.overlay = Some(Overlay::Help);
    let text = render(&app, &Theme::default(), 160, 45)
        .backend()
        .to_string();
    for (heading, _) in crate::console::keymap::help() {
        assert!(text.contains(&heading), "help lacks {heading}");
    }
}

#[test]
fn a_frame_with_hundreds_of_rows_renders_only_what_fits() {
    let mut app = incident();
    let g = app.grants["grt-7c01d2e3f4a5"].clone();
    let r = app.requests["req-3b2c1d0e9f8a"].clone();
    let e = app.audit[0].clone();
    for i in 0..50 {
        let mut g = g.clone();
        g.id = format!("grt-{i:012}");
        app.grants.insert(g.id.clone(), g);
    }
    for i in 0..200 {
        let mut r = r.clone();
        r.id = format!("req-{i:012}");
        app.requests.insert(r.id.clone(), r);
    }
    for _ in 0..200 {
        app.audit.push_front(e.clone());
    }
    let theme = Theme::default();
    let mut term = Terminal::new(TestBackend::new(160, 45)).unwrap();
    let mut worst = std::time::Duration::ZERO;
    for tab in Tab::ALL {
        app.tab = tab;
        // Warm up (layout cache), then time.
        term.draw(|f| draw(f, &app, &theme)).unwrap();
        let start = std::time::Instant::now();
        let n = 20;
        for _ in 0..n {
            term.draw(|f| draw(f, &app, &theme)).unwrap();
        }
        worst = worst.max(start.elapsed() / n);
    }
    // Timing is for benchmarks, not tests: this only shows the figure
    // (`cargo test --release ... -- --nocapture`).
    eprintln!("slowest pane: {worst:?} per frame");
}

// ---- the Logs pane ----

/// `n` lines of a payments service, one every 1.37 s, ending just before
/// 03:00:00: requests, retries, a declined card with its stack trace,
/// health checks, pool stats, redacted secrets.
fn payments_lines(n: usize) -> Vec<LogLine> {
    let end = t("03:00:00");
    let mut out = Vec::with_capacity(n);
    let mut i = 0usize;
    while out.len() < n {
        let k = n - out.len();
        let ts = end - chrono::Duration::milliseconds(k as i64 * 1370 - (i as i64 * 7) % 97);
        let push = |out: &mut Vec<LogLine>, level: &str, text: String| {
            out.push(LogLine {
                ts,
                level: level.into(),
                text,
            })
        };
        match i % 13 {
            0 | 4 | 9 => push(
                &mut out,
                "info",
                format!(
                    "POST /v1/charges 200 {}ms customer=cus_{:04x} email=[REDACTED:email] amount=4{}99 EUR",
                    120 + (i * 37) % 300,
                    0x9f2a + i,
                    i % 10
                ),
            ),
            1 | 7 => push(
                &mut out,
                "debug",
                format!("pool stats active={} idle={} waiting=0", 8 + i % 5, 4),
            ),
            2 => push(
                &mut out,
                "warn",
                format!(
                    "retrying call to bank-gw (attempt {}/3): upstream timeout after 2000ms",
                    1 + i % 2
                ),
            ),
            5 => {
                push(
                    &mut out,
                    "error",
                    format!(
                        "charge ch_3Pq{i:03} failed: card_declined (issuer: do_not_honor) card=[REDACTED:card] auth=Bearer [REDACTED:token]"
                    ),
                );
                for frame in [
                    "    at com.example.payments.BankClient.charge(BankClient.java:214)",
                    "    at com.example.payments.ChargeService.run(ChargeService.java:88)",
                ] {
                    if out.len() < n {
                        out.push(LogLine {
                            ts,
                            level: "unknown".into(),
                            text: frame.into(),
                        });
                    }
                }
            }
            11 => push(&mut out, "info", "GET /healthz 200 1ms".into()),
            _ => push(
                &mut out,
                "info",
                format!(
                    "refund rf_{:05} queued for settlement batch 2026-11-24/03",
                    7000 + i
                ),
            ),
        }
        i += 1;
    }
    out
}

fn checkout_lines(n: usize) -> Vec<LogLine> {
    let end = t("03:00:00");
    (0..n)
        .map(|i| {
            let ts = end - chrono::Duration::milliseconds((n - i) as i64 * 2210);
            let (level, text) = match i % 5 {
                0 => (
                    "warn",
                    format!(
                        "cart c_{:04} checkout slow: payments answered in 2.{}s",
                        310 + i,
                        i % 9
                    ),
                ),
                3 => (
                    "error",
                    format!(
                        "POST /pay 502 from payments for cart c_{:04}: upstream timeout",
                        310 + i
                    ),
                ),
                _ => (
                    "info",
                    format!("GET /cart/c_{:04} 200 {}ms", 310 + i, 8 + i % 20),
                ),
            };
            LogLine {
                ts,
                level: level.into(),
                text,
            }
        })
        .collect()
}

/// A stream of `service` marked live with `lines` in it.
fn stream(app: &mut App, service: &str, lines: Vec<LogLine>) -> usize {
    let si = app.logs.ensure_stream(service);
    app.logs.streams[si].state = StreamState::Live {
        sub_id: format!("sub-{service}"),
    };
    let now = app.server_now();
    app.logs.ingest(si, lines, None, now);
    si
}

fn press(app: &mut App, keys: &str) {
    for c in keys.chars() {
        let mods = if c.is_ascii_uppercase() {
            crossterm::event::KeyModifiers::SHIFT
        } else {
            crossterm::event::KeyModifiers::NONE
        };
        update(
            app,
            crate::console::app::Msg::Key(crossterm::event::KeyEvent::new(
                crossterm::event::KeyCode::Char(c),
                mods,
            )),
        );
    }
}

fn press_code(app: &mut App, code: crossterm::event::KeyCode) {
    update(
        app,
        crate::console::app::Msg::Key(crossterm::event::KeyEvent::new(
            code,
            crossterm::event::KeyModifiers::NONE,
        )),
    );
}

/// Snapshots at both sizes, building the app for each size (keys page
/// and scroll by what fits), in the dark and light themes.
fn snap_sized(name: &str, build: impl Fn(u16, u16) -> App) {
    let dark = Theme::load("dark").unwrap();
    let light = Theme::load("light").unwrap();
    for (w, h) in [(80, 24), (160, 45)] {
        let app = build(w, h);
        let text = render(&app, &dark, w, h).backend().to_string();
        let light_text = render(&app, &light, w, h).backend().to_string();
        assert_eq!(
            text, light_text,
            "{name} {w}x{h}: themes must change styles only"
        );
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), text);
    }
}

/// alice on the Logs pane at `w` x `h`, the pane already opened once.
fn logs_app(w: u16, h: u16) -> App {
    let mut app = on(incident(), Tab::Logs);
    app.size = (w, h);
    app.logs.auto_started = true;
    app
}

#[test]
fn logs_pane_with_no_grant_says_how_to_get_one() {
    let mut app = on(incident(), Tab::Logs);
    app.grants.retain(|_, g| g.user != "alice");
    let mut r = request(
        "req-6e5f4a3b2c1d",
        "alice",
        "payments",
        &[LOGS],
        1800,
        "Card declines since 02:35",
        Some("INC-4521"),
        "02:58:10",
        1,
    );
    r.created_at = t("02:58:10");
    app.requests.insert(r.id.clone(), r);
    snap("logs_no_grant", app);
}

#[test]
fn logs_pane_following_one_stream() {
    snap_sized("logs_follow", |w, h| {
        let mut app = logs_app(w, h);
        let mut lines = payments_lines(140);
        let later = lines.split_off(120);
        let si = stream(&mut app, "payments", lines);
        let now = app.server_now();
        app.logs.ingest(si, later, Some(1234), now);
        app
    });
}

#[test]
fn logs_pane_paused_with_a_search_and_new_lines_below() {
    snap_sized("logs_search", |w, h| {
        let mut app = logs_app(w, h);
        let mut lines = payments_lines(160);
        let later = lines.split_off(150);
        stream(&mut app, "payments", lines);
        press(&mut app, "/");
        for c in "timeout".chars() {
            press(&mut app, &c.to_string());
        }
        press_code(&mut app, crossterm::event::KeyCode::Enter);
        press(&mut app, "NN");
        app.flash = None;
        let now = app.server_now();
        app.logs.ingest(0, later, None, now);
        app
    });
}

#[test]
fn logs_pane_two_streams_wrapped_warn_and_up() {
    snap_sized("logs_two_streams", |w, h| {
        let mut app = logs_app(w, h);
        // Interleaved by time, as they would arrive.
        let mut all: Vec<(usize, LogLine)> = payments_lines(90)
            .into_iter()
            .map(|l| (0, l))
            .chain(checkout_lines(60).into_iter().map(|l| (1, l)))
            .collect();
        all.sort_by_key(|(_, l)| l.ts);
        app.logs.ensure_stream("payments");
        app.logs.ensure_stream("checkout-api");
        for si in 0..2 {
            app.logs.streams[si].state = StreamState::Live {
                sub_id: format!("s{si}"),
            };
        }
        let now = app.server_now();
        for (si, l) in all {
            app.logs.ingest(si, vec![l], None, now);
        }
        press(&mut app, "wLL");
        app.flash = None;
        app
    });
}

#[test]
fn logs_pane_when_the_gateway_closed_the_streams() {
    snap_sized("logs_closed", |w, h| {
        let mut app = logs_app(w, h);
        stream(&mut app, "payments", payments_lines(100));
        stream(&mut app, "checkout-api", checkout_lines(20));
        // checkout-api's grant ran out; payments' was revoked by dana.
        for (sub, reason) in [
            ("sub-checkout-api", CloseReason::GrantExpired),
            ("sub-payments", CloseReason::GrantRevoked),
        ] {
            if reason == CloseReason::GrantRevoked {
                let g = app.grants.get_mut("grt-7c01d2e3f4a5").unwrap();
                g.state = GrantState::Revoked;
                g.revoked_by = Some("dana".into());
                g.revoke_reason = Some("INC-4521 handed over to the bank team".into());
            }
            update(
                &mut app,
                crate::console::app::Msg::Net(crate::console::app::NetMsg::Event(Box::new(
                    crate::protocol::Event::LogsClosed {
                        sub_id: sub.into(),
                        reason,
                    },
                ))),
            );
        }
        app.flash = None;
        app
    });
}

#[test]
fn logs_pane_stream_chooser() {
    snap_sized("logs_streams", |w, h| {
        let mut app = logs_app(w, h);
        stream(&mut app, "payments", payments_lines(60));
        press(&mut app, "sj");
        app
    });
}

#[test]
fn logs_pane_subscribing() {
    let mut app = logs_app(80, 24);
    let si = app.logs.ensure_stream("payments");
    app.logs.streams[si].state = StreamState::Subscribing {
        op_id: "op-1".into(),
    };
    snap_small("logs_subscribing", app);
}

#[test]
fn help_on_the_logs_pane_lists_its_keys() {
    let mut app = logs_app(80, 24);
    stream(&mut app, "payments", payments_lines(30));
    app.overlay = Some(Overlay::Help);
    snap("help_logs", app);
}

#[test]
fn log_levels_and_search_hits_use_the_themes_roles() {
    for name in ["dark", "light"] {
        let theme = Theme::load(name).unwrap();
        let mut app = logs_app(160, 45);
        stream(&mut app, "payments", payments_lines(60));
        app.logs.set_search("timeout");
        let buf = buffer(&app, &theme, 160, 45);
        let (x, y) = find_row(&buf, "ERROR").expect("an error line");
        assert_eq!(buf[(x, y)].fg, theme.critical.fg.unwrap(), "{name}");
        let (x, y) = find_row(&buf, "WARN").expect("a warn line");
        assert_eq!(buf[(x, y)].fg, theme.warn.fg.unwrap(), "{name}");
        let (x, y) = find_row(&buf, "timeout after").expect("a hit");
        assert!(buf[(x, y)].modifier.contains(Modifier::REVERSED), "{name}");
        assert!(!buf[(x + 8, y)].modifier.contains(Modifier::REVERSED));
        // The selected (newest) line has the selection's background.
        let last = views_last_text_row(&app);
        assert_eq!(buf[(5, last)].bg, theme.selection.bg.unwrap(), "{name}");
        assert_eq!(buf[(1, last)].symbol(), "›");
    }
}

fn views_last_text_row(app: &App) -> u16 {
    let r = logs_text_rect(app);
    r.y + r.height - 1
}

#[test]
fn nothing_from_a_log_line_can_drive_the_terminal() {
    let mut app = logs_app(80, 24);
    stream(
        &mut app,
        "payments",
        vec![LogLine {
            ts: t("02:59:59"),
            level: "info".into(),
            text: "evil \u{1b}]52;c;aGk=\u{7} \u{1b}[2J done".into(),
        }],
    );
    let buf = buffer(&app, &Theme::default(), 80, 24);
    for cell in &buf.content {
        assert!(
            !cell.symbol().chars().any(char::is_control),
            "{:?}",
            cell.symbol()
        );
    }
    assert!(find_row(&buf, "done").is_some());
}

#[test]
fn with_200k_lines_held_a_search_and_a_filter_the_newest_match_is_drawn_at_the_bottom() {
    let mut app = logs_app(160, 45);
    let sample = payments_lines(1000);
    app.logs.ensure_stream("payments");
    app.logs.streams[0].state = StreamState::Live { sub_id: "s".into() };
    let now = app.server_now();
    for _ in 0..200 {
        app.logs.ingest(0, sample.clone(), None, now);
    }
    assert_eq!(app.logs.len(), 200_000);
    app.logs.set_search("timeout");
    app.logs
        .set_filter(LevelFilter::WarnUp, logs_geometry(&app));
    // The window is laid out from the newest entry shown up (what a frame
    // costs with this much held is timed by benches/console_logs.rs, not
    // here).
    let g = logs_geometry(&app);
    let rows = app.logs.window(g);
    assert!(!rows.is_empty() && rows.len() <= g.height as usize);
    let newest = app.logs.view_seq(app.logs.view_len() - 1);
    assert_eq!(rows.last().map(|r| r.seq), Some(newest));
    let theme = Theme::default();
    let term = render(&app, &theme, 160, 45);
    let bottom = &app.logs.entry(newest).unwrap().text[..24];
    let buf = term.backend().buffer();
    assert!(
        find(buf, views_last_text_row(&app), bottom).is_some(),
        "{bottom}"
    );
    let text = term.backend().to_string();
    assert!(text.contains("WARN+"));
    assert!(app.logs.entry(app.logs.end() - 1).unwrap().kind == Kind::Line);
}

// ---- the Metrics pane ----

/// payments over the 15 minutes to 03:00:00, one point every 10 s, as the
/// demo's incident unfolds: calm (p99 ~120 ms, 0.5 % errors, ~420 req/s),
/// a scrape gap at 02:47, the latency spike from 02:51 (p99 ~2 s), then
/// the error burst from 02:55 (~20 % errors, fewer requests, and the p99
/// back down to ~0.5 s as requests fail fast), still on at 03:00.
fn payments_series() -> Vec<Series> {
    payments_series_over(15)
}

/// [`payments_series`] over the `minutes` to 03:00:00, with the
/// gateway's default levels (error_ratio warn 1 % critical 5 %,
/// latency_p99 warn 500 ms critical 1,000 ms).
fn payments_series_over(minutes: i64) -> Vec<Series> {
    let end = t("03:00:00").timestamp_millis();
    let start = end - minutes * 60_000;
    let at = |hms: &str| t(hms).timestamp_millis();
    let (gap_from, gap_to) = (at("02:47:00"), at("02:47:50"));
    let (spike, burst, fade) = (at("02:51:00"), at("02:55:00"), at("02:56:30"));
    // 0 → 1 over `secs` seconds from `from`.
    let ramp = |ms: i64, from: i64, secs: f64| ((ms - from) as f64 / 1000.0 / secs).clamp(0.0, 1.0);
    let mut rps = Vec::new();
    let mut errors = Vec::new();
    let mut p99 = Vec::new();
    let mut memory = Vec::new();
    let mut ms = start + 10_000;
    let mut i = 0.0f64;
    while ms <= end {
        // Scrape jitter: stamped a little after each step.
        let ts = ms + 230 + ((i * 7.0) as i64 % 5) * 40;
        if !(gap_from..=gap_to).contains(&ms) {
            let wobble = (i * 0.7).sin() + 0.5 * (i * 2.3).cos();
            let slow = ramp(ms, spike, 40.0) * (1.0 - ramp(ms, fade, 60.0));
            let failing = ramp(ms, burst, 30.0);
            rps.push((ts, 418.0 + 9.0 * wobble - 90.0 * failing));
            errors.push((
                ts,
                0.5 + 0.08 * wobble + 1.5 * slow + 19.6 * failing + 0.4 * wobble * failing,
            ));
            p99.push((
                ts,
                121.0
                    + 6.0 * wobble
                    + 1860.0 * slow
                    + (340.0 + 25.0 * wobble) * failing * (1.0 - slow),
            ));
            memory.push((ts, (512.0 + 0.09 * i + 1.5 * wobble) * 1024.0 * 1024.0));
        }
        ms += 10_000;
        i += 1.0;
    }
    let series = |name: &str, unit: &str, points: Vec<(i64, f64)>| Series {
        name: name.into(),
        unit: unit.into(),
        points,
        warn: None,
        critical: None,
    };
    let levels = |mut s: Series, warn: f64, critical: f64| {
        s.warn = Some(warn);
        s.critical = Some(critical);
        s
    };
    vec![
        series("rps", "req/s", rps),
        levels(series("error_ratio", "%", errors), 1.0, 5.0),
        levels(series("latency_p99", "ms", p99), 500.0, 1000.0),
        series("memory", "bytes", memory),
    ]
}

/// ledger over the 15 minutes to 02:59:50, 30 s steps, as the overview
/// asks: the consumer lag climbing since the failover at 02:52 (past its
/// critical level of 30 s), requests and errors calm.
fn ledger_series() -> Vec<Series> {
    let end = t("02:59:50").timestamp_millis();
    let at = |i: i64| end - 900_000 + 30_000 * i;
    let failover = t("02:52:00").timestamp_millis();
    let lag: Vec<(i64, f64)> = (1..=30)
        .map(|i| {
            let since = (at(i) - failover) as f64 / 1000.0;
            (
                at(i),
                0.2 + 0.1 * (i as f64 * 0.9).sin().abs() + (since * 0.1).max(0.0),
            )
        })
        .collect();
    let rps = (1..=30)
        .map(|i| (at(i), 118.0 + 6.0 * (i as f64 * 0.7).sin()))
        .collect();
    let errors = (1..=30)
        .map(|i| (at(i), 0.1 + 0.05 * (i as f64 * 1.3).cos().abs()))
        .collect();
    vec![
        Series {
            name: "consumer_lag".into(),
            unit: "s".into(),
            points: lag,
            warn: Some(10.0),
            critical: Some(30.0),
        },
        Series {
            name: "rps".into(),
            unit: "req/s".into(),
            points: rps,
            warn: None,
            critical: None,
        },
        Series {
            name: "error_ratio".into(),
            unit: "%".into(),
            points: errors,
            warn: Some(1.0),
            critical: Some(5.0),
        },
    ]
}

/// alice on the Metrics pane at `w` x `h`, charting payments (answered
/// at 03:00:00, 15 minutes, 10 s steps).
fn metrics_app(w: u16, h: u16) -> App {
    let mut app = on(incident(), Tab::Metrics);
    app.size = (w, h);
    app.metrics.service = Some("payments".into());
    app.metrics.attempted = Some(("payments".into(), MetricsRange::M15));
    app.metrics.charts = Some(Charts {
        service: "payments".into(),
        range: MetricsRange::M15,
        step_s: 10,
        series: payments_series(),
        at: t("03:00:00"),
    });
    // The overview's other service (alice's break-glass grant on ledger),
    // queried ten seconds ago.
    app.metrics.overview.insert(
        "ledger".into(),
        MetricsOverview {
            charts: Some(Charts {
                service: "ledger".into(),
                range: MetricsRange::M15,
                step_s: 30,
                series: ledger_series(),
                at: t("02:59:50"),
            }),
            next_due: Some(t("03:00:20")),
            ..MetricsOverview::default()
        },
    );
    app
}

#[test]
fn metrics_pane_in_the_middle_of_the_incident() {
    snap_sized("metrics", metrics_app);
}

#[test]
fn metrics_pane_shows_the_incident_in_figures_too() {
    for (w, h) in [(80, 24), (160, 45)] {
        let app = metrics_app(w, h);
        let text = render(&app, &Theme::default(), w, h).backend().to_string();
        for needle in [
            "latency_p99 (ms)",
            "error_ratio (%)",
            "rps (req/s)",
            "memory (bytes)",
        ] {
            assert!(text.contains(needle), "{w}x{h}: {needle}");
        }
        // The p99 jump and the error burst, in the titles' figures.
        assert!(text.contains("min 112 ms · max 1,988 ms"), "{w}x{h}");
        assert!(
            text.contains("now  19.7%  ▲ CRIT ≥5%  min 0.384% · max 22.1%"),
            "{w}x{h}"
        );
        assert!(text.contains("[15m]"));
        assert!(text.contains("refreshed 03:00:00 · every 10s"), "{w}x{h}");
    }
}

#[test]
fn metrics_pane_when_a_refresh_failed_keeps_the_charts_marked_stale() {
    snap_sized("metrics_stale", |w, h| {
        let mut app = metrics_app(w, h);
        app.local_now = t("03:00:21");
        app.metrics.failure = Some(Failure {
            service: "payments".into(),
            code: ErrorCode::AuditUnavailable,
            message: "the gateway cannot write its audit trail".into(),
            at: t("03:00:20"),
        });
        app
    });
}

/// The payments grant ran out at 03:00:00.
fn metrics_ended(w: u16, h: u16) -> App {
    let mut app = metrics_app(w, h);
    app.local_now = t("03:00:30");
    let g = app.grants.get_mut("grt-7c01d2e3f4a5").unwrap();
    g.state = GrantState::Expired;
    g.expires_at = t("03:00:00");
    g.ended_at = Some(t("03:00:00"));
    app.metrics.charts.as_mut().unwrap().at = t("02:59:55");
    app
}

#[test]
fn metrics_pane_when_the_grant_ended_keeps_the_charts_greyed() {
    snap_sized("metrics_ended", metrics_ended);
}

#[test]
fn curves_take_their_series_colour_and_grey_out_when_the_grant_ends() {
    for name in ["dark", "light"] {
        let theme = Theme::load(name).unwrap();
        let braille = |buf: &Buffer| -> Vec<Color> {
            buf.content
                .iter()
                .filter(|c| {
                    c.symbol()
                        .chars()
                        .any(|ch| ('\u{2801}'..='\u{28ff}').contains(&ch))
                })
                .map(|c| c.fg)
                .collect()
        };
        let live = braille(&buffer(&metrics_app(160, 45), &theme, 160, 45));
        assert!(live.len() > 200, "{name}: curves drawn");
        for tag in &theme.tags[..4] {
            assert!(
                live.contains(&tag.fg.unwrap()),
                "{name}: every series has its colour"
            );
        }
        let ended = braille(&buffer(&metrics_ended(160, 45), &theme, 160, 45));
        assert!(!ended.is_empty());
        assert!(
            ended.iter().all(|c| *c == theme.muted.fg.unwrap()),
            "{name}: greyed"
        );
        // The banner is loud.
        let buf = buffer(&metrics_ended(160, 45), &theme, 160, 45);
        let (x, y) = find_row(&buf, "r asks for metrics:read again").unwrap();
        assert_eq!(buf[(x, y)].bg, theme.alarm.bg.unwrap(), "{name}");
    }
}

#[test]
fn metrics_pane_with_no_grant_says_how_to_get_one() {
    let mut app = on(incident(), Tab::Metrics);
    app.grants.retain(|_, g| g.user != "alice");
    snap("metrics_no_grant", app);
}

#[test]
fn metrics_pane_while_the_first_query_runs() {
    let mut app = on(incident(), Tab::Metrics);
    app.metrics.service = Some("payments".into());
    app.metrics.pending = Some(MetricsQuery {
        op_id: "op-1".into(),
        service: "payments".into(),
        range: MetricsRange::M15,
        step_s: 10,
    });
    snap_small("metrics_loading", app);
}

#[test]
fn metrics_pane_service_chooser() {
    snap_sized("metrics_services", |w, h| {
        let mut app = metrics_app(w, h);
        press(&mut app, "s");
        app
    });
}

#[test]
fn help_on_the_metrics_pane_lists_its_keys() {
    let mut app = metrics_app(80, 24);
    app.overlay = Some(Overlay::Help);
    snap("help_metrics", app);
}

#[test]
fn many_charts_scroll_and_any_size_renders() {
    let mut app = metrics_app(80, 24);
    let more = payments_series();
    app.metrics
        .charts
        .as_mut()
        .unwrap()
        .series
        .extend(more.into_iter().map(|mut s| {
            s.name = format!("{}_canary", s.name);
            s
        }));
    let text = render(&app, &Theme::default(), 80, 24)
        .backend()
        .to_string();
    assert!(text.contains("charts 1–4 of 8"), "{text}");
    press(&mut app, "jjjjjjjj");
    assert_eq!(app.metrics.scroll, 4);
    let text = render(&app, &Theme::default(), 80, 24)
        .backend()
        .to_string();
    assert!(text.contains("charts 5–8 of 8"), "{text}");
    assert!(text.contains("memory_canary"));
    for (w, h) in [(50, 12), (60, 14), (100, 30), (200, 60), (300, 80)] {
        app.size = (w, h);
        buffer(&app, &Theme::default(), w, h);
        buffer(&app, &Theme::no_color(), w, h);
    }
}

/// `app` with the chart `keys` move the focus to enlarged (`Enter`).
fn enlarged(mut app: App, keys: &str) -> App {
    press(&mut app, keys);
    press_code(&mut app, crossterm::event::KeyCode::Enter);
    assert!(app.metrics.enlarged);
    app
}

#[test]
fn metrics_pane_with_the_latency_chart_enlarged() {
    snap_sized("metrics_enlarged", |w, h| enlarged(metrics_app(w, h), "ll"));
}

/// Where `text` is drawn in the large font: the screen cell of its top
/// row's first column, its three rows stacked.
fn find_big(buf: &Buffer, text: &str) -> Option<(u16, u16)> {
    let rows = crate::console::big_digits::render(text);
    (0..buf.area.height.saturating_sub(2)).find_map(|y| {
        let x = find(buf, y, &rows[0])?;
        (find(buf, y + 1, &rows[1]) == Some(x) && find(buf, y + 2, &rows[2]) == Some(x))
            .then_some((x, y))
    })
}

#[test]
fn metrics_pane_with_the_error_chart_enlarged_shows_its_value_large() {
    snap_sized("metrics_enlarged_errors", |w, h| {
        enlarged(metrics_app(w, h), "l")
    });
}

#[test]
fn the_newest_value_goes_large_in_its_levels_colour_where_there_is_room() {
    for name in ["dark", "light"] {
        let theme = Theme::load(name).unwrap();
        for (w, h) in [(80, 24), (160, 45)] {
            // The p99 under its warn level: the ok colour, bold; the
            // same figure as the title's.
            let buf = buffer(&enlarged(metrics_app(w, h), "ll"), &theme, w, h);
            assert!(find_row(&buf, "now 435 ms").is_some());
            let (x, y) = find_big(&buf, "435 ms").expect("435 ms large");
            assert_eq!(buf[(x, y)].fg, theme.ok.fg.unwrap(), "{name} {w}x{h}");
            assert!(buf[(x, y)].modifier.contains(Modifier::BOLD));
            // The error ratio past critical: the critical colour (not
            // the alarm banner's background).
            let buf = buffer(&enlarged(metrics_app(w, h), "l"), &theme, w, h);
            let (x, y) = find_big(&buf, "19.7%").expect("19.7% large");
            assert_eq!(buf[(x, y)].fg, theme.critical.fg.unwrap(), "{name}");
            assert_ne!(buf[(x, y)].bg, theme.alarm.bg.unwrap(), "{name}");
        }
    }
    // The stacked charts at 80x24 are too short for it: the titles only.
    let buf = buffer(&metrics_app(80, 24), &Theme::default(), 80, 24);
    for text in ["435 ms", "19.7%"] {
        assert_eq!(find_big(&buf, text), None, "{text}");
    }
    // Greyed once the grant ended.
    let app = enlarged(metrics_ended(160, 45), "ll");
    let theme = Theme::default();
    let buf = buffer(&app, &theme, 160, 45);
    let (x, y) = find_big(&buf, "435 ms").expect("435 ms large");
    assert_eq!(buf[(x, y)].fg, theme.muted.fg.unwrap());
}

/// alice as a lead on the Metrics pane (payments, 15 minutes): her own
/// grant from 02:49, carol's from 02:46 that alice revoked at 02:52, and
/// bob's from 02:55 (his logs grant of the incident, with metrics:read).
fn metrics_lead(w: u16, h: u16, lead: bool) -> App {
    let mut app = metrics_app(w, h);
    let roles: &[&str] = if lead {
        &["engineer", "approver", "lead"]
    } else {
        &["engineer", "approver"]
    };
    app.me = Some(user("alice", roles));
    app.grants.get_mut("grt-7c01d2e3f4a5").unwrap().starts_at = t("02:49:00");
    app.grants
        .get_mut("grt-a134a5b6c7d8")
        .unwrap()
        .capabilities
        .push(METRICS);
    let carols = revoke(
        grant(
            "grt-d478d9e0f1a2",
            "carol",
            "payments",
            &[METRICS],
            "02:46:00",
            "03:16:00",
        ),
        "alice",
        "bob has it",
        "02:52:00",
    );
    app.grants.insert(carols.id.clone(), carols);
    app
}

#[test]
fn metrics_pane_marks_everyones_access_for_a_lead() {
    snap_sized("metrics_lead_marks", |w, h| metrics_lead(w, h, true));
    let text = |lead| {
        render(&metrics_lead(160, 45, lead), &Theme::default(), 160, 45)
            .backend()
            .to_string()
    };
    let lead = text(true);
    for label in [
        "▲ granted",
        "▲ carol: granted",
        "■ carol: revoked",
        "▲ bob: granted",
    ] {
        assert!(lead.contains(label), "{label}: {lead}");
    }
    // Not a lead: the same grants, only alice's own mark.
    let engineer = text(false);
    assert!(engineer.contains("▲ granted"));
    assert!(!engineer.contains("carol:") && !engineer.contains("bob:"));
}

/// payments over the last hour, with alice's access to it: a grant from
/// 02:05 revoked at 02:18, one from 02:20 that expired at 02:35, and the
/// one running since 02:40.
fn metrics_marks(w: u16, h: u16) -> App {
    let mut app = metrics_app(w, h);
    app.metrics.range = MetricsRange::H1;
    app.metrics.attempted = Some(("payments".into(), MetricsRange::H1));
    let c = app.metrics.charts.as_mut().unwrap();
    c.range = MetricsRange::H1;
    c.step_s = 60;
    c.series = payments_series_over(60);
    let revoked = revoke(
        grant(
            "grt-5e01a2b3c4d5",
            "alice",
            "payments",
            &[LOGS, METRICS],
            "02:05:00",
            "02:35:00",
        ),
        "dana",
        "wrong service, ask for checkout-api",
        "02:18:00",
    );
    let mut expired = grant(
        "grt-6f12b3c4d5e6",
        "alice",
        "payments",
        &[METRICS],
        "02:20:00",
        "02:35:00",
    );
    expired.state = GrantState::Expired;
    expired.ended_at = Some(t("02:35:00"));
    for g in [revoked, expired] {
        app.grants.insert(g.id.clone(), g);
    }
    app
}

#[test]
fn metrics_pane_marks_when_my_access_started_and_ended() {
    snap_sized("metrics_marks", metrics_marks);
    let text = render(&metrics_marks(160, 45), &Theme::default(), 160, 45)
        .backend()
        .to_string();
    for label in ["▲ granted", "■ revoked", "■ expired"] {
        assert!(text.contains(label), "{label}");
    }
    // bob's grant on payments (in the incident) is not mine: no mark for it.
    let app = metrics_marks(160, 45);
    assert_eq!(app.grants["grt-a134a5b6c7d8"].user, "bob");
}

#[test]
fn levels_marks_and_the_newest_value_use_the_themes_roles() {
    for name in ["dark", "light", "high-contrast"] {
        let theme = Theme::load(name).unwrap();
        let buf = buffer(&metrics_marks(160, 45), &theme, 160, 45);
        // The critical newest value (`now  20%  ▲ CRIT ≥5%`) is in the
        // alarm banner's colours.
        let (x, y) = find_row(&buf, "▲ CRIT ≥5%").unwrap();
        assert_eq!(buf[(x - 3, y)].symbol(), "%");
        assert_eq!(buf[(x - 3, y)].bg, theme.alarm.bg.unwrap(), "{name}");
        assert!(buf[(x - 3, y)].modifier.contains(Modifier::BOLD));
        assert_eq!(buf[(x, y)].fg, theme.critical.fg.unwrap(), "{name}");
        // Level lines: critical in the critical colour, warn dim.
        let cell = |sym: &str| {
            buf.content
                .iter()
                .find(|c| c.symbol() == sym)
                .unwrap_or_else(|| panic!("{name}: no {sym}"))
                .clone()
        };
        assert_eq!(cell("╍").fg, theme.critical.fg.unwrap(), "{name}");
        assert_eq!(cell("╌").fg, theme.warn.fg.unwrap(), "{name}");
        assert!(cell("╌").modifier.contains(Modifier::DIM));
        // Marks: granted ok, revoked critical, expired warn.
        let (x, y) = find_row(&buf, "▲ granted").unwrap();
        assert_eq!(buf[(x, y)].fg, theme.ok.fg.unwrap(), "{name}");
        let (x, y) = find_row(&buf, "■ revoked").unwrap();
        assert_eq!(buf[(x, y)].fg, theme.critical.fg.unwrap(), "{name}");
        let (x, y) = find_row(&buf, "■ expired").unwrap();
        assert_eq!(buf[(x, y)].fg, theme.warn.fg.unwrap(), "{name}");
        // The overview's critical value, in the critical colour.
        let (x, y) = find_row(&buf, "47.3 s CRIT").unwrap();
        assert_eq!(buf[(x, y)].fg, theme.critical.fg.unwrap(), "{name}");
    }
    // NO_COLOR: still marked, by glyph and bold.
    let buf = buffer(&metrics_marks(160, 45), &Theme::no_color(), 160, 45);
    assert!(find_row(&buf, "▲ CRIT ≥5%").is_some());
    assert!(find_row(&buf, "■ revoked").is_some());
}

#[test]
fn the_overview_shows_only_when_there_is_room_and_another_service() {
    let text = |app: &App, w, h| render(app, &Theme::default(), w, h).backend().to_string();
    // 160x45: a row each for payments and ledger.
    let app = metrics_app(160, 45);
    let t = text(&app, 160, 45);
    assert!(t.contains("● payments   rps "), "{t}");
    assert!(t.contains("consumer_lag ") && t.contains("47.3 s CRIT"));
    // 80x24: no room.
    let app = metrics_app(80, 24);
    assert!(!text(&app, 80, 24).contains("consumer_lag"));
    // Enlarged: the chart takes the whole pane.
    let app = enlarged(metrics_app(160, 45), "");
    assert!(!text(&app, 160, 45).contains("consumer_lag"));
    // Only the charted service: nothing to overview.
    let mut app = metrics_app(160, 45);
    app.grants.remove("grt-9e23f4a5b6c7");
    assert!(!text(&app, 160, 45).contains("● payments   rps"));
    // Many services: four rows, the last says how many more.
    let mut app = metrics_app(160, 45);
    for (i, svc) in ["search", "checkout-api", "ledger-replica", "fraud"]
        .into_iter()
        .enumerate()
    {
        let id = format!("grt-f{i}00000000aa");
        let g = grant(&id, "alice", svc, &[METRICS], "02:58:00", "03:30:00");
        app.grants.insert(id, g);
    }
    let t = text(&app, 160, 45);
    assert!(
        t.contains("+3 more with metrics:read · s charts one"),
        "{t}"
    );
    assert_eq!(
        crate::console::views::metrics_overview(&app).len(),
        3,
        "the services queried are those shown"
    );
    // Not queried yet: it says so.
    assert!(t.contains("queried in turn, every 30s"), "{t}");
}

#[test]
fn levels_and_marks_sit_where_the_canvas_draws_the_same_value_and_time() {
    use crate::console::metrics::{time_column, value_row};
    use ratatui::symbols::Marker;
    use ratatui::widgets::{Axis, Chart, Dataset, GraphType};
    let area = Rect::new(0, 0, 60, 17);
    let (from, to) = (0.0, 900_000.0);
    let (lo, hi) = (0.0, 1500.0);
    for (t, v) in [
        (0.0, 0.0),
        (450_000.0, 1000.0),
        (899_999.0, 500.0),
        (123_456.0, 1234.0),
        (900_000.0, 1500.0),
    ] {
        let data = [(t, v)];
        let chart = Chart::new(vec![
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Scatter)
                .data(&data),
        ])
        .x_axis(Axis::default().bounds([from, to]))
        .y_axis(Axis::default().bounds([lo, hi]));
        let mut buf = Buffer::empty(area);
        ratatui::widgets::Widget::render(chart, area, &mut buf);
        let x = time_column(t as i64, from as i64, to as i64, area.width).unwrap();
        let y = value_row(v, lo, hi, area.height).unwrap();
        let sym = buf[(x, y)].symbol().chars().next().unwrap();
        assert!(
            ('\u{2801}'..='\u{28ff}').contains(&sym),
            "({t}, {v}) drawn elsewhere than ({x}, {y})"
        );
    }
}
