//! Live events from the engine to every connection that may see them.
//!
//! One broadcast channel for the whole gateway; each connection filters by
//! [`may_see`] with its user. A connection too slow to keep up is told to
//! resync rather than silently missing events.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::policy::Policy;
use crate::protocol::Event;

/// How many events a slow connection may fall behind before it must resync.
const HUB_CAPACITY: usize = 8192;

#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Arc<Event>>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl Hub {
    pub fn new() -> Hub {
        let (tx, _) = broadcast::channel(HUB_CAPACITY);
        Hub { tx }
    }

    pub fn publish(&self, event: Event) {
        // No receivers is fine: nobody is connected.
        let _ = self.tx.send(Arc::new(event));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}

/// Who sees which pushed event: the request's requester and approvers and
/// leads for requests; the holder, the service's approvers and leads for
/// grants; leads only for audit entries and alerts.
pub fn may_see(policy: &Policy, user: &str, event: &Event) -> bool {
    match event {
        Event::RequestUpdated { request } => policy.can_see_request(user, request),
        Event::GrantUpdated { grant } => policy.can_see_grant(user, grant),
        Event::AuditAppended { .. } | Event::Alert { .. } => policy.is_lead(user),
        // Per-connection events never travel through the hub.
        Event::Hello { .. } | Event::LogsLines { .. } | Event::LogsClosed { .. } => false,
    }
}
