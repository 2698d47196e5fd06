//! Data the console's update tests share: a fixed clock, catalog entries
//! and grants.

use chrono::{DateTime, Duration, Utc};

use crate::protocol::{Capability, CatalogService, Grant, GrantState};

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
