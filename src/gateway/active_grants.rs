//! The active grants, held in memory beside the store, so that rule 1 ("no
//! grant, no data") is decided without a store read on every data op:
//! `metrics.query` and `logs.subscribe` check it each time.
//!
//! The store stays the truth. The index is filled from it at start-up and
//! then follows every grant the engine commits (never ahead of the store:
//! a grant is applied only after its commit landed). Whether a grant
//! covers an op is still decided against the clock (`expires_at`), so a
//! grant whose expiry the scheduler has not processed yet covers nothing.
//!
//! One gateway process owns its SQLite store; a future store shared by
//! several replicas would have to feed this index with other replicas'
//! changes too (e.g. PostgreSQL LISTEN/NOTIFY).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::protocol::{Capability, Grant, GrantState};

#[derive(Debug, Default)]
pub struct ActiveGrants {
    by_id: HashMap<String, Grant>,
}

impl ActiveGrants {
    /// Replaces the index with `grants` (the store's active grants).
    pub fn reset(&mut self, grants: impl IntoIterator<Item = Grant>) {
        self.by_id.clear();
        for g in grants {
            self.apply(g);
        }
    }

    /// Takes a grant as it now stands in the store.
    pub fn apply(&mut self, grant: Grant) {
        if grant.state == GrantState::Active {
            self.by_id.insert(grant.id.clone(), grant);
        } else {
            self.by_id.remove(&grant.id);
        }
    }

    /// The grant `id`, while it is active.
    pub fn get(&self, id: &str) -> Option<&Grant> {
        self.by_id.get(id)
    }

    /// The grant of `user` covering `cap` on `service` at `now`; of two,
    /// the one lasting longer (it backs a stream the longest).
    pub fn covering(
        &self,
        user: &str,
        service: &str,
        cap: Capability,
        now: DateTime<Utc>,
    ) -> Option<&Grant> {
        self.by_id
            .values()
            .filter(|g| g.user == user && g.covers(service, cap, now))
            .max_by_key(|g| g.expires_at)
    }

    /// How many grants are in force at `now` (expired ones the scheduler
    /// has not processed yet do not count).
    pub fn in_force(&self, now: DateTime<Utc>) -> usize {
        self.by_id.values().filter(|g| now < g.expires_at).count()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_id.len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T03:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn grant(id: &str, user: &str, caps: &[Capability], minutes: i64) -> Grant {
        Grant {
            id: id.into(),
            request_id: format!("req-{id}"),
            user: user.into(),
            service: "payments".into(),
            capabilities: caps.to_vec(),
            starts_at: t0(),
            expires_at: t0() + Duration::minutes(minutes),
            state: GrantState::Active,
            break_glass: false,
            revoked_by: None,
            revoke_reason: None,
            ended_at: None,
        }
    }

    #[test]
    fn the_longest_covering_grant_of_the_user_backs_the_op() {
        let mut idx = ActiveGrants::default();
        idx.reset([
            grant("g1", "alice", &[Capability::MetricsRead], 10),
            grant("g2", "alice", &[Capability::MetricsRead], 30),
            grant("g3", "alice", &[Capability::LogsRead], 60),
            grant("g4", "bob", &[Capability::MetricsRead], 90),
        ]);
        let now = t0() + Duration::minutes(1);
        let got = idx.covering("alice", "payments", Capability::MetricsRead, now);
        assert_eq!(got.map(|g| g.id.as_str()), Some("g2"));
        assert!(
            idx.covering("alice", "checkout", Capability::MetricsRead, now)
                .is_none()
        );
        assert!(
            idx.covering("carol", "payments", Capability::MetricsRead, now)
                .is_none()
        );
    }

    #[test]
    fn a_revoked_or_expired_grant_stops_covering_at_once() {
        let mut idx = ActiveGrants::default();
        let g = grant("g1", "alice", &[Capability::LogsRead], 10);
        idx.apply(g.clone());
        let now = t0() + Duration::minutes(1);
        assert!(
            idx.covering("alice", "payments", Capability::LogsRead, now)
                .is_some()
        );
        // Past expires_at it covers nothing, even before the scheduler ran.
        let late = t0() + Duration::minutes(10);
        assert_eq!((idx.in_force(now), idx.in_force(late)), (1, 0));
        assert!(
            idx.covering("alice", "payments", Capability::LogsRead, late)
                .is_none()
        );
        idx.apply(Grant {
            state: GrantState::Revoked,
            ..g
        });
        assert!(
            idx.covering("alice", "payments", Capability::LogsRead, now)
                .is_none()
        );
        assert!(idx.get("g1").is_none());
        assert!(idx.is_empty());
    }

    #[test]
    fn an_extension_replaces_the_grant_it_extends() {
        let mut idx = ActiveGrants::default();
        let g = grant("g1", "alice", &[Capability::LogsRead], 10);
        idx.apply(g.clone());
        idx.apply(Grant {
            expires_at: t0() + Duration::minutes(40),
            ..g
        });
        assert_eq!(idx.len(), 1);
        assert_eq!(
            idx.get("g1").map(|g| g.expires_at),
            Some(t0() + Duration::minutes(40))
        );
        let late = t0() + Duration::minutes(20);
        assert!(
            idx.covering("alice", "payments", Capability::LogsRead, late)
                .is_some()
        );
    }
}
