//! Answering commits only once they are on disk, without making the writer
//! wait for the disk.
//!
//! The writer commits with `synchronous = NORMAL`: its frames reach the WAL
//! file but are not synced, so the next batch can be applied while this
//! thread syncs the file. A commit's answer is held until an `fdatasync` of
//! the WAL that started after the commit returns; one sync answers every
//! batch committed before it began (group commit, like PostgreSQL's WAL
//! flush). So the rule stays "acknowledged means durable", and everything
//! that follows an acknowledgement (events, the active-grant index) follows
//! it. What changes: for the millisecond or two between commit and sync,
//! other connections' reads may already see a commit that a power cut would
//! still take back; it was never acknowledged, and a signed checkpoint
//! cannot cover it, because storing a checkpoint syncs the WAL first.
//!
//! If a sync fails, the disk can no longer be trusted with what it holds:
//! the answers of that sync say so (`Unavailable`), and the store takes no
//! further commits until the gateway restarts. Those ops may have landed;
//! a retry after the restart gets their stored reply.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::{StoreError, StoreResult};
use crate::protocol::AuditEntry;

/// One commit's answer, waiting for the sync that makes it true.
pub(super) type Answer = (
    oneshot::Sender<StoreResult<Vec<AuditEntry>>>,
    StoreResult<Vec<AuditEntry>>,
);

/// Hands answers to the sync thread.
pub(super) struct WalSync {
    answers: mpsc::Sender<Vec<Answer>>,
    broken: Arc<Mutex<Option<String>>>,
}

impl WalSync {
    /// Starts the thread that syncs `wal` (the database path + `-wal`).
    pub(super) fn start(wal: PathBuf) -> std::io::Result<WalSync> {
        let (answers, waiting) = mpsc::channel();
        let broken = Arc::new(Mutex::new(None));
        let state = broken.clone();
        std::thread::Builder::new()
            .name("store-sync".into())
            .spawn(move || sync_and_answer(wal, waiting, state))?;
        Ok(WalSync { answers, broken })
    }

    /// Why commits must stop, once a sync has failed.
    pub(super) fn broken(&self) -> Option<String> {
        self.broken.lock().expect("wal sync state").clone()
    }

    /// Sends `answers` once everything committed so far is on disk.
    pub(super) fn answer_when_durable(&self, answers: Vec<Answer>) {
        if let Err(mpsc::SendError(answers)) = self.answers.send(answers) {
            // The sync thread is gone (it only ends with this sender, so
            // this does not happen): answer nothing as done.
            for (reply, _) in answers {
                let _ = reply.send(Err(StoreError::Unavailable(
                    "the store's sync thread has stopped".into(),
                )));
            }
        }
    }
}

fn sync_and_answer(
    wal: PathBuf,
    waiting: mpsc::Receiver<Vec<Answer>>,
    broken: Arc<Mutex<Option<String>>>,
) {
    let mut file: Option<File> = None;
    while let Ok(first) = waiting.recv() {
        // Everything handed over so far was committed before this sync
        // starts, so this one sync covers all of it.
        let mut due = first;
        while let Ok(more) = waiting.try_recv() {
            due.extend(more);
        }
        let failed = broken.lock().expect("wal sync state").clone();
        let synced = match failed {
            Some(why) => Err(why),
            None => sync(&wal, &mut file).map_err(|e| {
                let why = format!(
                    "could not sync {} ({e}); the gateway takes no more changes until it restarts",
                    wal.display()
                );
                tracing::error!("{why}");
                *broken.lock().expect("wal sync state") = Some(why.clone());
                why
            }),
        };
        for (reply, outcome) in due {
            let outcome = match &synced {
                Ok(()) => outcome,
                Err(why) => Err(StoreError::Unavailable(why.clone())),
            };
            let _ = reply.send(outcome);
        }
    }
}

fn sync(wal: &Path, file: &mut Option<File>) -> std::io::Result<()> {
    if file.is_none() {
        // Opened once and kept: SQLite keeps this file (same inode) while
        // the writer's connection is open, and syncing any descriptor of
        // a file syncs all of its pages.
        *file = Some(std::fs::OpenOptions::new().write(true).open(wal)?);
    }
    file.as_ref().expect("opened above").sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(n: u64) -> (Answer, oneshot::Receiver<StoreResult<Vec<AuditEntry>>>) {
        let (tx, rx) = oneshot::channel();
        let entry = crate::audit::chain::seal(
            crate::audit::chain::Draft::new(
                "alice",
                "gateway",
                "x",
                "t",
                serde_json::json!(null),
                crate::protocol::ts::now(),
            ),
            n,
            crate::audit::chain::GENESIS_HASH,
        );
        ((tx, Ok(vec![entry])), rx)
    }

    // That an answer waits for its sync is what the next test shows: with
    // a sync that fails, no answer comes back as done.
    #[tokio::test]
    async fn answers_arrive_in_order_with_their_outcomes() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("gateway.db-wal");
        std::fs::write(&wal, b"frames").unwrap();
        let sync = WalSync::start(wal).unwrap();
        let (a, ra) = answer(1);
        let (b, rb) = answer(2);
        let (c, rc) = answer(3);
        sync.answer_when_durable(vec![a, b]);
        sync.answer_when_durable(vec![c]);
        for (rx, seq) in [(ra, 1), (rb, 2), (rc, 3)] {
            assert_eq!(rx.await.unwrap().unwrap()[0].seq, seq);
        }
        assert_eq!(sync.broken(), None);
    }

    #[tokio::test]
    async fn after_a_failed_sync_every_answer_says_the_store_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        // No WAL file to sync: the sync fails like a disk that cannot.
        let sync = WalSync::start(dir.path().join("missing.db-wal")).unwrap();
        let (a, ra) = answer(1);
        sync.answer_when_durable(vec![a]);
        let Err(StoreError::Unavailable(why)) = ra.await.unwrap() else {
            panic!("a commit was acknowledged without its sync")
        };
        assert!(why.contains("missing.db-wal"), "{why}");
        assert!(why.contains("restarts"), "{why}");
        // It stays broken, even though the file now exists.
        std::fs::write(dir.path().join("missing.db-wal"), b"frames").unwrap();
        let (b, rb) = answer(2);
        sync.answer_when_durable(vec![b]);
        assert!(matches!(rb.await.unwrap(), Err(StoreError::Unavailable(_))));
        assert!(sync.broken().is_some());
    }
}
