//! Copying the WAL back into the database file, and keeping the WAL short
//! while commits keep coming.
//!
//! SQLite starts the WAL again from its first frame only once a checkpoint
//! has copied every frame back. A PASSIVE checkpoint on its own connection
//! never blocks the writer, but under a steady stream of commits it never
//! gets there: each run copies what the WAL held when it began, and by the
//! time it ends the writer has appended more. So the WAL grew for as long
//! as commits kept coming (past 600 MB in the gateway bench, whose clients
//! never pause). Every new frame then
//! landed on a page the kernel had to allocate (a write into the file's
//! cached pages costs under half as much), and the WAL index every read
//! searches grew with it.
//!
//! So while the WAL is long, the checkpointer runs back to back, each run
//! copying only what arrived during the last, and the lag shrinks. Once a
//! run had little left to copy, it asks the writer to finish: between two
//! batches the writer checkpoints the last few frames itself (it cannot
//! append while it does), and its next commit starts the WAL from the top.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::Row;
use sqlx::sqlite::SqlitePool;

/// When to restart the WAL. Frames are pages (4 KiB) plus a 24-byte
/// header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalLimits {
    /// How often the WAL is copied back while it is short.
    pub every: Duration,
    /// A WAL up to this many frames is left to the periodic checkpoint (it
    /// restarts by itself after any pause in the commits).
    pub long: i64,
    /// The writer is asked to finish once a run copied at most this many,
    /// few enough that the pause goes unnoticed.
    pub tail: i64,
}

impl Default for WalLimits {
    fn default() -> Self {
        // 256 MiB (PostgreSQL's max_wal_size is 1 GB): a quiet gateway
        // never gets there. Once the file has reached it, every later
        // frame is written over a page the kernel already holds. At the
        // bench's peak (about 300 MB of WAL a second) that is a restart
        // about every second; the writer's pauses for them measured
        // 0.5–1 ms (once 8.6 ms), the copying being the checkpointer's.
        // Restarting at 32 MiB with a look every 100 ms put the p99 of the
        // 50-client bench at 6.9–8.6 ms against 4.3–5.2 ms without
        // restarts (the database file's syncs competing with the WAL's);
        // 256 MiB with a look every 100 ms gave 4.3–6.3 ms, every second
        // 3.1–5.1 ms.
        WalLimits {
            every: Duration::from_secs(1),
            long: 65_536,
            tail: 512,
        }
    }
}

/// How long the checkpointer leaves the writer (or a reader holding part
/// of the WAL) before it looks again.
const SHORT_WAIT: Duration = Duration::from_millis(10);

/// What one `PRAGMA wal_checkpoint(PASSIVE)` reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Run {
    /// Frames in the WAL when the run began.
    pub log: i64,
    /// Frames copied back by now (all of `log`, unless a reader held some).
    pub checkpointed: i64,
}

/// What the checkpointer does after a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// The WAL is short: the periodic checkpoint is enough.
    Wait,
    /// Still far behind: run again at once.
    RunAgain,
    /// A reader still needs frames that were not copied: look again soon
    /// (no restart can happen before it moves on).
    Blocked,
    /// Nearly caught up: the writer is to copy the rest and restart.
    AskWriter,
}

/// The deciding step: `previous_log` is the WAL length the run before saw
/// (none after a restart or at start), so `run.log - previous_log` is what
/// arrived while that run copied, which is what this run had to copy.
pub(super) fn next(limits: WalLimits, previous_log: Option<i64>, run: Run) -> Next {
    if run.log < limits.long {
        return Next::Wait;
    }
    let arrived = match previous_log {
        Some(before) if before <= run.log => run.log - before,
        // The WAL restarted in between: all of it is new.
        _ => run.log,
    };
    if run.checkpointed < run.log {
        Next::Blocked
    } else if arrived == 0 {
        // Nothing came since: all of it is copied, and the next commit
        // starts the WAL over by itself.
        Next::Wait
    } else if arrived <= limits.tail {
        Next::AskWriter
    } else {
        Next::RunAgain
    }
}

/// The flag the checkpointer raises for the writer.
#[derive(Debug, Default)]
pub(super) struct FinishRequest(AtomicBool);

impl FinishRequest {
    fn ask(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// True once per request.
    pub(super) fn take(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
    }
}

/// Checkpoints on a connection of its own for as long as `alive` says the
/// store lives. Durability does not depend on it: a commit is durable once
/// its WAL frames are synced.
pub(super) async fn run(
    pool: SqlitePool,
    alive: impl Fn() -> bool,
    limits: WalLimits,
    finish: Arc<FinishRequest>,
) {
    let mut previous_log = None;
    let mut wait = limits.every;
    loop {
        if wait.is_zero() {
            // A yield, not a pause: the copying is the work to be done.
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(wait).await;
        }
        if !alive() {
            pool.close().await;
            return;
        }
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await;
        let run = match row {
            Ok(row) => Run {
                log: row.get(1),
                checkpointed: row.get(2),
            },
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed; the WAL grows until one succeeds");
                previous_log = None;
                wait = limits.every;
                continue;
            }
        };
        wait = match next(limits, previous_log, run) {
            Next::Wait => limits.every,
            Next::RunAgain => Duration::ZERO,
            Next::Blocked => SHORT_WAIT,
            Next::AskWriter => {
                finish.ask();
                SHORT_WAIT
            }
        };
        previous_log = Some(run.log);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: WalLimits = WalLimits {
        every: Duration::from_secs(1),
        long: 1_000,
        tail: 50,
    };

    fn run(log: i64) -> Run {
        Run {
            log,
            checkpointed: log,
        }
    }

    #[test]
    fn a_short_wal_waits_for_the_periodic_checkpoint() {
        assert_eq!(next(LIMITS, None, run(999)), Next::Wait);
        assert_eq!(next(LIMITS, Some(990), run(999)), Next::Wait);
    }

    #[test]
    fn a_long_wal_is_copied_again_at_once_until_little_arrived_meanwhile() {
        assert_eq!(next(LIMITS, None, run(5_000)), Next::RunAgain);
        assert_eq!(next(LIMITS, Some(4_000), run(5_000)), Next::RunAgain);
        assert_eq!(next(LIMITS, Some(4_950), run(5_000)), Next::AskWriter);
    }

    #[test]
    fn a_long_wal_nothing_was_added_to_is_left_for_the_next_commit_to_restart() {
        // Asking an idle writer would only poll it every few milliseconds.
        assert_eq!(next(LIMITS, Some(5_000), run(5_000)), Next::Wait);
    }

    #[test]
    fn a_wal_that_restarted_in_between_counts_as_all_new() {
        assert_eq!(next(LIMITS, Some(9_000), run(1_020)), Next::RunAgain);
    }

    #[test]
    fn frames_a_reader_still_holds_keep_the_writer_out_of_it() {
        // The writer could not restart the WAL anyway, and running again
        // at once would only spin until the reader moves on.
        let held = Run {
            log: 5_000,
            checkpointed: 4_000,
        };
        assert_eq!(next(LIMITS, Some(4_990), held), Next::Blocked);
        assert_eq!(next(LIMITS, Some(1_000), held), Next::Blocked);
    }

    #[test]
    fn a_request_is_taken_once() {
        let finish = FinishRequest::default();
        assert!(!finish.take());
        finish.ask();
        assert!(finish.take());
        assert!(!finish.take());
    }
}
