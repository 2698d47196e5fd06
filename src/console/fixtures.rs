//! Data and steps the console's update tests share: a fixed clock,
//! catalog entries, grants and requests, a connected user, keys, and the
//! connection dropping and coming back.

use chrono::{DateTime, Duration, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{App, Effect, Msg, NetMsg};
use super::update::update;
use crate::protocol::{
    AccessRequest, Capability, CatalogService, Event, Grant, GrantState, RequestState, UserInfo,
};

/// The tests' "now".
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T03:00:00Z")
        .unwrap()
        .to_utc()
}

/// A service offering both capabilities, one approval, up to 2 h.
pub fn catalog_entry(name: &str) -> CatalogService {
    CatalogService {
        name: name.into(),
        description: String::new(),
        capabilities: vec![Capability::LogsRead, Capability::MetricsRead],
        max_duration_s: 7200,
        min_duration_s: 1,
        approvals_required: 1,
        auto_approve: false,
        break_glass: false,
    }
}

/// alice's active grant `id` of `cap` on `service`, from `from_s` to
/// `until_s` seconds after [`t0`].
pub fn grant(id: &str, service: &str, cap: Capability, from_s: i64, until_s: i64) -> Grant {
    Grant {
        id: id.into(),
        request_id: format!("req-{id}"),
        user: "alice".into(),
        service: service.into(),
        capabilities: vec![cap],
        starts_at: t0() + Duration::seconds(from_s),
        expires_at: t0() + Duration::seconds(until_s),
        state: GrantState::Active,
        break_glass: false,
        revoked_by: None,
        revoke_reason: None,
        ended_at: None,
    }
}

/// `requester`'s request `id` for logs:read on payments, 30 min, ticket
/// INC-1, made at [`t0`].
pub fn request(id: &str, requester: &str, state: RequestState) -> AccessRequest {
    AccessRequest {
        id: id.into(),
        requester: requester.into(),
        service: "payments".into(),
        capabilities: vec![Capability::LogsRead],
        duration_s: 1800,
        reason: "INC-1 card declines".into(),
        ticket: Some("INC-1".into()),
        break_glass: false,
        extends: None,
        state,
        approvals: vec![],
        approvals_required: 1,
        denied_by: None,
        deny_reason: None,
        created_at: t0(),
        decided_at: None,
        pending_until: t0() + Duration::hours(24),
        grant_id: None,
        needs_review: false,
        reviewed_by: None,
        review_comment: None,
    }
}

/// `name` with `roles`, connected at [`t0`] (no catalog or grants yet).
pub fn connected_as(name: &str, roles: &[&str]) -> App {
    let mut app = App::new("ws://gw/v1/ws", t0());
    update(
        &mut app,
        Msg::Net(NetMsg::Connected {
            user: UserInfo {
                name: name.into(),
                groups: vec![],
                roles: roles.iter().map(|r| r.to_string()).collect(),
            },
            clock_offset: Duration::zero(),
        }),
    );
    app
}

/// A character key, with SHIFT for capitals as terminals send them.
pub fn key(c: char) -> Msg {
    let mods = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    Msg::Key(KeyEvent::new(KeyCode::Char(c), mods))
}

/// Any other key, without modifiers.
pub fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

/// An event pushed by the gateway.
pub fn event(app: &mut App, e: Event) -> Vec<Effect> {
    update(app, Msg::Net(NetMsg::Event(Box::new(e))))
}

/// The connection drops.
pub fn drop_link(app: &mut App) {
    update(
        app,
        Msg::Net(NetMsg::Down {
            reason: "reset".into(),
            retry_at: None,
        }),
    );
}

/// The connection is back: the gateway's hello, as the same user.
pub fn reconnect(app: &mut App) -> Vec<Effect> {
    let user = app.me.clone().expect("connected before");
    update(
        app,
        Msg::Net(NetMsg::Connected {
            user,
            clock_offset: Duration::zero(),
        }),
    )
}
