//! Live events from the engine to every connection that may see them.
//!
//! Each connection subscribes under its user with a bounded queue; an event
//! is encoded once and handed only to the connections of the users
//! [`may_see`] admits, so an event wakes its audience and nobody else. A
//! connection too slow to keep up loses its subscription and is told to
//! resync rather than silently missing events.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::policy::Policy;
use crate::protocol::{Event, ts};

/// Events a connection may have queued before it must resync.
pub const QUEUE_PER_CONNECTION: usize = 8192;

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
        splice_frame(seq, &self.at, &self.json)
    }
}

/// An event frame from the event's encoded object (`{"event":…}`): seq and
/// at go first, as [`crate::protocol::encode_event`] writes them.
pub fn splice_frame(seq: u64, at: &DateTime<Utc>, event_json: &str) -> String {
    let mut out = String::with_capacity(event_json.len() + 64);
    out.push_str("{\"seq\":");
    out.push_str(&seq.to_string());
    out.push_str(",\"at\":\"");
    out.push_str(&ts::format(at));
    out.push_str("\",");
    out.push_str(&event_json[1..]);
    out
}

struct Subscriber {
    id: u64,
    tx: mpsc::Sender<Arc<Published>>,
}

/// The gateway's event fan-out.
pub struct Hub {
    policy: Arc<Policy>,
    subscribers: Mutex<HashMap<String, Vec<Subscriber>>>,
    next_id: AtomicU64,
}

/// Ends a subscription when the connection goes.
pub struct Subscription {
    hub: Arc<Hub>,
    user: String,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut subs = self.hub.subscribers.lock().expect("hub lock");
        if let Some(list) = subs.get_mut(&self.user) {
            list.retain(|s| s.id != self.id);
            if list.is_empty() {
                subs.remove(&self.user);
            }
        }
    }
}

impl Hub {
    pub fn new(policy: Arc<Policy>) -> Hub {
        Hub {
            policy,
            subscribers: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        }
    }

    /// Hands `event` to the connections of every user who may see it. A
    /// connection whose queue is full is dropped from the hub: its receiver
    /// then ends, and the connection closes asking the client to resync.
    pub fn publish(&self, event: Event) {
        let mut subs = self.subscribers.lock().expect("hub lock");
        if subs.is_empty() {
            return;
        }
        let published = Arc::new(Published::new(event));
        for user in audience(&self.policy, &published.event) {
            let Some(list) = subs.get_mut(user) else {
                continue;
            };
            list.retain(|s| s.tx.try_send(published.clone()).is_ok());
            if list.is_empty() {
                subs.remove(user);
            }
        }
    }

    /// Subscribes one connection of `user`.
    pub fn subscribe(
        self: &Arc<Self>,
        user: &str,
    ) -> (Subscription, mpsc::Receiver<Arc<Published>>) {
        let (tx, rx) = mpsc::channel(QUEUE_PER_CONNECTION);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.subscribers
            .lock()
            .expect("hub lock")
            .entry(user.to_string())
            .or_default()
            .push(Subscriber { id, tx });
        let sub = Subscription {
            hub: self.clone(),
            user: user.to_string(),
            id,
        };
        (sub, rx)
    }
}

/// Everyone [`may_see`] admits to an event, found from the event rather
/// than by asking about every connected user.
pub fn audience<'p>(policy: &'p Policy, event: &'p Event) -> BTreeSet<&'p str> {
    let mut users: BTreeSet<&str> = policy.leads().iter().map(String::as_str).collect();
    match event {
        Event::RequestUpdated { request } => {
            users.insert(&request.requester);
            users.extend(policy.approvers_of(&request.service));
        }
        Event::GrantUpdated { grant } => {
            users.insert(&grant.user);
            users.extend(policy.approvers_of(&grant.service));
        }
        Event::AuditAppended { .. } | Event::Alert { .. } => {}
        Event::Hello { .. } | Event::LogsLines { .. } | Event::LogsClosed { .. } => users.clear(),
    }
    users
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
    fn the_audience_is_exactly_who_may_see_the_event() {
        let policy = crate::policy::tests::demo_policy();
        let request = crate::lifecycle::tests::pending_request("alice", "payments", 1);
        let events = [
            Event::RequestUpdated { request },
            Event::Alert {
                kind: "k".into(),
                message: "m".into(),
                subject: "s".into(),
            },
        ];
        for event in &events {
            let expected: BTreeSet<&str> = policy
                .user_names()
                .filter(|u| may_see(&policy, u, event))
                .collect();
            assert_eq!(audience(&policy, event), expected, "{}", event.name());
        }
    }

    #[tokio::test]
    async fn an_event_reaches_its_audience_only_and_a_stalled_connection_is_dropped() {
        let hub = Arc::new(Hub::new(Arc::new(crate::policy::tests::demo_policy())));
        let (_a, mut alice) = hub.subscribe("alice");
        let (_e, mut erin) = hub.subscribe("erin");
        let (_c, mut carol) = hub.subscribe("carol");
        let request = crate::lifecycle::tests::pending_request("alice", "payments", 1);
        hub.publish(Event::RequestUpdated { request });
        assert!(alice.try_recv().is_ok());
        assert!(carol.try_recv().is_ok());
        assert!(erin.try_recv().is_err(), "erin may not see alice's request");
        for _ in 0..QUEUE_PER_CONNECTION + 1 {
            hub.publish(Event::Alert {
                kind: "k".into(),
                message: "m".into(),
                subject: "s".into(),
            });
        }
        // carol never read: her queue overflowed and the hub let her go.
        let mut n = 0;
        while carol.recv().await.is_some() {
            n += 1;
        }
        assert_eq!(n, QUEUE_PER_CONNECTION);
    }

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
