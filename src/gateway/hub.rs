//! Live events from the engine to every connection that may see them.
//!
//! One broadcast channel for the whole gateway; each connection filters by
//! [`may_see`] with its user. A connection too slow to keep up is told to
//! resync rather than silently missing events.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use crate::policy::Policy;
use crate::protocol::{Event, ts};

/// An event as published: encoded once, whatever the number of connections
/// it goes to; each connection only splices in its own `seq`.
#[derive(Debug)]
pub struct Published {
    pub event: Event,
    pub at: DateTime<Utc>,
    json: String,
}

impl Published {
    pub fn new(event: Event) -> Published {
        let json = serde_json::to_string(&event).expect("events always serialize");
        Published {
            event,
            at: ts::now(),
            json,
        }
    }

    /// The frame for one connection, identical to `encode_event`.
    pub fn frame(&self, seq: u64) -> String {
        // `json` is an object: `{"event":…}`; the frame puts seq and at first.
        format!(
            "{{\"seq\":{seq},\"at\":\"{}\",{}",
            ts::format(&self.at),
            &self.json[1..]
        )
    }
}

/// How many events a slow connection may fall behind before it must resync.
const HUB_CAPACITY: usize = 8192;

#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Arc<Published>>,
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
        let _ = self.tx.send(Arc::new(Published::new(event)));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{CloseReason, encode_event};

    #[test]
    fn a_shared_frame_is_byte_for_byte_the_per_connection_encoding() {
        let p = Published::new(Event::Alert {
            kind: "break_glass".into(),
            message: "alice broke \"glass\"".into(),
            subject: "req-1".into(),
        });
        assert_eq!(p.frame(7), encode_event(7, p.at, &p.event));
        let p = Published::new(Event::LogsClosed {
            sub_id: "s".into(),
            reason: CloseReason::GrantRevoked,
        });
        assert_eq!(p.frame(1), encode_event(1, p.at, &p.event));
    }
}
