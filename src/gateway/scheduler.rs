//! Expiry at the exact instant: one task keeps every grant's `expires_at`
//! and every pending request's TTL in a min-heap and sleeps until the
//! earliest one (mini-redis's purge task, without polling).
//!
//! It decides nothing itself: at a deadline it asks the engine, which
//! re-reads the object and lets the lifecycle say whether it is due (an
//! extension may have moved it).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;

use super::engine::{Deadline, Engine};

/// Pause before retrying a deadline whose write failed (store unavailable).
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// Runs until the engine's deadline sender is dropped.
pub async fn run(engine: Arc<Engine>, mut rx: mpsc::UnboundedReceiver<Deadline>) {
    let mut heap: BinaryHeap<Reverse<Deadline>> = BinaryHeap::new();
    loop {
        while let Some(Reverse(next)) = heap.peek() {
            if next.at() > Utc::now() {
                break;
            }
            let Reverse(due) = heap.pop().expect("peeked");
            if let Some(later) = fire(&engine, &due).await {
                heap.push(Reverse(later));
            }
        }
        let sleep_for = heap
            .peek()
            .map(|Reverse(d)| (d.at() - Utc::now()).to_std().unwrap_or(Duration::ZERO))
            // Nothing scheduled: wait for the next deadline however long.
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            got = rx.recv() => match got {
                Some(d) => heap.push(Reverse(d)),
                None => return,
            },
            _ = tokio::time::sleep(sleep_for) => {}
        }
    }
}

/// Acts on one deadline; returns a deadline to keep when the object is not
/// done (moved by an extension, or the write failed and must be retried).
async fn fire(engine: &Engine, due: &Deadline) -> Option<Deadline> {
    let result = match due {
        Deadline::GrantExpiry { id, .. } => engine.expire_grant(id).await,
        Deadline::RequestTtl { id, .. } => engine.expire_request(id).await,
    };
    match result {
        Ok(None) => None,
        Ok(Some(at)) => Some(due.moved_to(at)),
        Err(e) => {
            tracing::error!(?due, error = %e, "could not record an expiry; retrying");
            let at = Utc::now() + chrono::Duration::from_std(RETRY_AFTER).expect("small");
            Some(due.moved_to(at))
        }
    }
}
