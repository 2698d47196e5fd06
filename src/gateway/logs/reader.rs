//! A source's reader task: takes lines from its files or its command,
//! redacts each once, reads its level, and hands them to the fan-out.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::command::{Backoff, LineReader, Running};
use super::config::LogInput;
use super::fanout::Line;
use super::{READ_BATCH, Source};
use crate::protocol::ts;
use crate::sources::{MultiTail, Since, SinceFilter, TailOptions, parse_level, parse_timestamp};

/// How often an idle file is looked at again (a stat and a read).
const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);
/// How far back in bytes a file's history is read at most.
const HISTORY_BYTES: u64 = 64 * 1024 * 1024;

/// Reads `source` until aborted; `following` turns true once a line
/// written from then on is a new line (files open; a command from its
/// start).
pub(super) async fn run(source: Arc<Source>, following: watch::Sender<bool>) {
    match source.config.input.clone() {
        LogInput::File(glob) => follow_files(source, glob, following).await,
        LogInput::Command(argv) => {
            let _ = following.send(true);
            run_command(source, argv).await
        }
    }
}

impl Source {
    /// One raw line as subscribers get it.
    fn line(&self, text: &str, history: bool, now: DateTime<Utc>) -> Arc<Line> {
        let level = parse_level(text);
        let at = if history {
            parse_timestamp(text).unwrap_or(now)
        } else {
            now
        };
        let redacted = self.redactor.redact(text).into_owned();
        Arc::new(Line::new(at, history, level.as_str(), redacted))
    }

    /// A line from the gateway itself about the source (a command that
    /// exited): it goes to subscribers like any other, marked as ours.
    fn notice(&self, text: String) {
        let line = Arc::new(Line::new(ts::now(), false, "warn", text));
        self.deliver(vec![line]);
    }
}

async fn follow_files(
    source: Arc<Source>,
    glob: std::path::PathBuf,
    following: watch::Sender<bool>,
) {
    let opts = TailOptions {
        since: Since::Last {
            lines: source.config.backlog_lines,
            max_bytes: HISTORY_BYTES,
        },
        max_line_bytes: source.config.max_line_bytes,
        // A new line waits half this on average before it is seen.
        poll_interval: POLL_INTERVAL,
        ..TailOptions::default()
    };
    // Opening reads the files' history back from their ends (up to
    // HISTORY_BYTES each): file I/O that must not hold a runtime worker.
    let pattern = glob.clone();
    let opened = match tokio::task::spawn_blocking(move || MultiTail::open(&pattern, opts)).await {
        Ok(opened) => opened,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // The runtime is shutting down.
        Err(_) => return,
    };
    // Opened or not, subscribers waiting for the reader may be answered.
    let _ = following.send(true);
    let mut tail = match opened {
        Ok(tail) => tail,
        Err(e) => {
            // The glob was checked when the config loaded; this is I/O.
            tracing::error!(service = %source.service, error = %e, "cannot follow log files");
            source.notice(format!("breakglass: cannot follow {}: {e}", glob.display()));
            return;
        }
    };
    let history = chrono::Duration::from_std(source.config.history).unwrap_or_default();
    let mut since = SinceFilter::new(ts::now() - history);
    loop {
        let batch = tail.next_batch(READ_BATCH).await;
        let now = ts::now();
        let lines = batch
            .iter()
            .filter(|l| since.keep(l))
            .map(|l| source.line(&l.text, l.history, now))
            .collect();
        source.deliver(lines);
        // With a file full of unread lines `next_batch` never waits, and
        // the forwarders this just woke sit in this worker's LIFO slot,
        // where no other worker can steal them: let them run.
        tokio::task::yield_now().await;
    }
}

async fn run_command(source: Arc<Source>, argv: Vec<String>) {
    let shown = argv.join(" ");
    let mut backoff = Backoff::default();
    loop {
        let started = Instant::now();
        let outcome = match Running::spawn(&source.service, &argv) {
            Ok(mut running) => {
                let stdout = running.child.stdout.take().expect("stdout is piped");
                let mut reader = LineReader::new(stdout, source.config.max_line_bytes);
                let mut failed = None;
                loop {
                    match reader.next_batch(READ_BATCH).await {
                        Ok(Some(batch)) => {
                            let now = ts::now();
                            let lines = batch.iter().map(|t| source.line(t, false, now)).collect();
                            source.deliver(lines);
                            tokio::task::yield_now().await;
                        }
                        Ok(None) => break,
                        Err(e) => {
                            failed = Some(e.to_string());
                            break;
                        }
                    }
                }
                match (failed, running.child.wait().await) {
                    (Some(e), _) => format!("could not be read ({e})"),
                    (None, Ok(status)) => format!("exited ({status})"),
                    (None, Err(e)) => format!("ended ({e})"),
                }
            }
            Err(e) => format!("could not start ({e})"),
        };
        let wait = backoff.after(started.elapsed());
        tracing::warn!(service = %source.service, command = %shown, %outcome, ?wait, "log source command stopped; restarting");
        source.notice(format!(
            "breakglass: `{shown}` {outcome}; restarting in {} s",
            wait.as_secs()
        ));
        tokio::time::sleep(wait).await;
    }
}
