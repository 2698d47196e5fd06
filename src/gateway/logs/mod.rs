//! Log streaming (`logs.subscribe`): one reader per source however many
//! people follow it, every line redacted once at the source, then fanned
//! out to each subscriber's bounded queue, from which a forwarder sends
//! batches into that subscriber's connection.
//!
//! ```text
//! file/command ──reader──▶ redact, level, encode ──▶ backlog (since_s)
//!                                         └──▶ queue per subscriber ──forwarder──▶ connection
//! ```
//!
//! A source's reader starts with its first subscriber and stops (files
//! closed, command's process group killed) when its last one leaves. When
//! a grant ends, every stream it backs is closed at once: what was still
//! queued is discarded and the subscriber gets `logs.closed` with the
//! reason.
//!
//! # This module must never
//! decide who may subscribe (the engine checks the grant and audits first)
//! or let a line leave unredacted.

pub mod command;
pub mod config;
pub mod fanout;
mod reader;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use self::config::LogSourceConfig;
use self::fanout::{Batch, Line, LineFilter, SubQueue};
use super::config::ServiceSources;
use crate::protocol::{CloseReason, Event, ts};
use crate::redact::Redactor;

/// Lines a subscriber may have waiting before the oldest are dropped.
pub const QUEUE_LINES: usize = 50_000;
/// Most lines in one `logs.lines` frame.
pub const FRAME_LINES: usize = 2_000;
/// About the most bytes of lines in one frame (well under the 1 MiB limit).
pub const FRAME_BYTES: usize = 256 * 1024;
/// How long a forwarder lets lines gather before sending a frame that is
/// not full: a few ms of latency buys far fewer frames under load.
pub const BATCH_WINDOW: Duration = Duration::from_millis(5);
/// Lines the reader takes from its input at a time.
const READ_BATCH: usize = 2_048;

/// Why a subscription could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error("the gateway has no log source configured for `{0}`")]
    NoSource(String),
    #[error("{0}")]
    BadFilter(String),
}

/// Every configured log source, by service.
pub struct LogStreams {
    sources: HashMap<String, Arc<Source>>,
    next_id: AtomicU64,
}

impl LogStreams {
    /// Builds the sources of a config (readers start on first use).
    pub fn new(sources: &std::collections::BTreeMap<String, ServiceSources>) -> LogStreams {
        let sources = sources
            .iter()
            .filter_map(|(name, s)| {
                let config = s.logs.clone()?;
                let redactor = Redactor::new(&s.redact)
                    .expect("redaction settings were checked when the config loaded");
                Some((name.clone(), Arc::new(Source::new(name, config, redactor))))
            })
            .collect();
        LogStreams {
            sources,
            next_id: AtomicU64::new(1),
        }
    }

    /// No sources at all (tests that do not stream).
    pub fn none() -> LogStreams {
        LogStreams::new(&Default::default())
    }

    /// Attaches a subscriber backed by `grant_id` (already checked and
    /// audited by the caller); its lines go to `out` once
    /// [`Subscription::start`] runs.
    pub fn subscribe(&self, req: SubscribeRequest) -> Result<Subscription, SubscribeError> {
        let source = self
            .sources
            .get(&req.service)
            .ok_or_else(|| SubscribeError::NoSource(req.service.clone()))?
            .clone();
        let filter = req
            .filter
            .as_ref()
            .map(LineFilter::new)
            .transpose()
            .map_err(SubscribeError::BadFilter)?;
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let sub_id = format!(
            "sub-{n}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let since = req.since_s.map(|s| {
            let s = s.min(source.config.history.as_secs());
            ts::now() - chrono::Duration::seconds(s as i64)
        });
        let sub = Arc::new(Subscriber {
            sub_id,
            grant_id: req.grant_id,
            filter,
            since,
            expires_at_ms: AtomicI64::new(req.expires_at.timestamp_millis()),
            queue: Mutex::new(SubQueue::new(QUEUE_LINES)),
            wake: Notify::new(),
            sent_lines: AtomicU64::new(0),
            sent_bytes: AtomicU64::new(0),
        });
        let following = source.attach(&sub);
        Ok(Subscription {
            source,
            sub,
            following,
        })
    }

    /// A grant ended: close every stream it backs, with `reason`.
    pub fn grant_ended(&self, grant_id: &str, reason: CloseReason) {
        for source in self.sources.values() {
            for sub in source.subscribers_of(grant_id) {
                source.close(&sub, reason);
            }
        }
    }

    /// A grant now runs until `expires_at` (an extension).
    pub fn grant_extended(&self, grant_id: &str, expires_at: DateTime<Utc>) {
        for source in self.sources.values() {
            for sub in source.subscribers_of(grant_id) {
                sub.extend_to(expires_at);
            }
        }
    }

    /// Subscribers now attached, over all sources.
    pub fn subscriber_count(&self) -> usize {
        self.sources.values().map(|s| s.subscriber_count()).sum()
    }

    /// Sources whose reader is running.
    pub fn running_readers(&self) -> usize {
        self.sources.values().filter(|s| s.is_running()).count()
    }
}

/// What a subscriber asked for, after the engine found its grant.
#[derive(Debug, Clone)]
pub struct SubscribeRequest {
    pub service: String,
    pub grant_id: String,
    pub expires_at: DateTime<Utc>,
    pub filter: Option<crate::protocol::LogFilter>,
    pub since_s: Option<u64>,
}

/// One source: its config, its reader while anyone listens, and the lines
/// it keeps for late subscribers.
struct Source {
    service: String,
    config: LogSourceConfig,
    redactor: Redactor,
    state: Mutex<SourceState>,
}

#[derive(Default)]
struct SourceState {
    subscribers: Vec<Arc<Subscriber>>,
    backlog: VecDeque<Arc<Line>>,
    reader: Option<Reader>,
}

/// A source's running reader.
struct Reader {
    task: JoinHandle<()>,
    /// Turns true once the reader follows its input (files open, positions
    /// taken): a line written after that is a new line.
    following: watch::Receiver<bool>,
}

impl Source {
    fn new(service: &str, config: LogSourceConfig, redactor: Redactor) -> Source {
        Source {
            service: service.to_string(),
            config,
            redactor,
            state: Mutex::new(SourceState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SourceState> {
        self.state.lock().expect("log source lock")
    }

    /// Adds a subscriber, hands it the backlog its `since` reaches, and
    /// starts the reader if it is the first. The answer turns true once the
    /// reader follows its input.
    fn attach(self: &Arc<Self>, sub: &Arc<Subscriber>) -> watch::Receiver<bool> {
        let mut state = self.lock();
        if let Some(since) = sub.since {
            let mut queue = sub.queue.lock().expect("queue lock");
            for line in state.backlog.iter().filter(|l| l.ts >= since) {
                if sub.wants(line) {
                    queue.push(line.clone());
                }
            }
        }
        state.subscribers.push(sub.clone());
        let running = state.reader.get_or_insert_with(|| {
            let (tx, following) = watch::channel(false);
            Reader {
                task: tokio::spawn(reader::run(self.clone(), tx)),
                following,
            }
        });
        let following = running.following.clone();
        drop(state);
        sub.wake.notify_one();
        following
    }

    /// Removes a subscriber; the last one out stops the reader and forgets
    /// the backlog (a restart reads history afresh).
    fn detach(&self, sub: &Arc<Subscriber>) {
        let mut state = self.lock();
        state.subscribers.retain(|s| !Arc::ptr_eq(s, sub));
        if state.subscribers.is_empty() {
            if let Some(reader) = state.reader.take() {
                reader.task.abort();
            }
            state.backlog.clear();
        }
    }

    fn close(&self, sub: &Arc<Subscriber>, reason: CloseReason) {
        let closed = sub.queue.lock().expect("queue lock").close(reason);
        self.detach(sub);
        if closed {
            sub.wake.notify_one();
        }
    }

    fn subscribers_of(&self, grant_id: &str) -> Vec<Arc<Subscriber>> {
        self.lock()
            .subscribers
            .iter()
            .filter(|s| s.grant_id == grant_id)
            .cloned()
            .collect()
    }

    fn subscriber_count(&self) -> usize {
        self.lock().subscribers.len()
    }

    fn is_running(&self) -> bool {
        self.lock().reader.is_some()
    }

    /// The reader's call: keep lines for `since_s` and queue them for
    /// everyone who wants them.
    fn deliver(&self, lines: Vec<Arc<Line>>) {
        if lines.is_empty() {
            return;
        }
        let mut state = self.lock();
        for sub in &state.subscribers {
            let mut queue = sub.queue.lock().expect("queue lock");
            let mut pushed = false;
            for line in &lines {
                if sub.wants(line) {
                    queue.push(line.clone());
                    pushed = true;
                }
            }
            drop(queue);
            if pushed {
                sub.wake.notify_one();
            }
        }
        let keep = self.config.backlog_lines;
        let backlog = &mut state.backlog;
        for line in lines {
            if backlog.len() == keep {
                backlog.pop_front();
            }
            backlog.push_back(line);
        }
    }
}

/// One `logs.subscribe`.
struct Subscriber {
    sub_id: String,
    grant_id: String,
    filter: Option<LineFilter>,
    /// History reaches back to here; `None`: live lines only.
    since: Option<DateTime<Utc>>,
    /// The backing grant's end: a forwarder never sends past it, even if
    /// the scheduler's close were late.
    expires_at_ms: AtomicI64,
    queue: Mutex<SubQueue>,
    wake: Notify,
    sent_lines: AtomicU64,
    sent_bytes: AtomicU64,
}

impl Subscriber {
    fn wants(&self, line: &Line) -> bool {
        if line.history && self.since.is_none_or(|since| line.ts < since) {
            return false;
        }
        self.filter.as_ref().is_none_or(|f| f.matches(&line.text))
    }

    /// The backing grant now ends at `expires_at`. An end only moves
    /// later (extensions), so whichever of two racing updates lands last,
    /// the later end stays.
    fn extend_to(&self, expires_at: DateTime<Utc>) {
        self.expires_at_ms
            .fetch_max(expires_at.timestamp_millis(), Ordering::Relaxed);
    }

    fn take(&self) -> Batch {
        let mut queue = self.queue.lock().expect("queue lock");
        if ts::now().timestamp_millis() >= self.expires_at_ms.load(Ordering::Relaxed) {
            queue.close(CloseReason::GrantExpired);
        }
        queue.take(FRAME_LINES, FRAME_BYTES)
    }
}

/// A connection's handle on one stream.
pub struct Subscription {
    source: Arc<Source>,
    sub: Arc<Subscriber>,
    following: watch::Receiver<bool>,
}

/// Counts of what a stream sent, for its audit record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub lines: u64,
    pub bytes: u64,
}

impl Subscription {
    pub fn sub_id(&self) -> &str {
        &self.sub.sub_id
    }

    pub fn service(&self) -> &str {
        &self.source.service
    }

    pub fn sent(&self) -> Sent {
        Sent {
            lines: self.sub.sent_lines.load(Ordering::Relaxed),
            bytes: self.sub.sent_bytes.load(Ordering::Relaxed),
        }
    }

    /// Starts sending: `logs.lines` frames (event objects without
    /// seq/at) into `out`, then `logs.closed`. Start it after the
    /// subscribe reply is queued, so the client knows the sub_id first.
    pub fn start(&self, out: mpsc::Sender<String>) -> JoinHandle<()> {
        tokio::spawn(forward(self.sub.clone(), self.source.clone(), out))
    }

    /// Ends the stream with `reason` (the forwarder sends `logs.closed`).
    pub fn close(&self, reason: CloseReason) {
        self.source.close(&self.sub, reason);
    }

    /// The backing grant now ends at `expires_at`, if that is later.
    pub fn extend_to(&self, expires_at: DateTime<Utc>) {
        self.sub.extend_to(expires_at);
    }

    /// Waits until the source's reader follows its input, so that "only
    /// new lines" means lines written after the subscription is answered:
    /// a file's lines from before its reader opened it are history.
    pub async fn following(&self) {
        let mut following = self.following.clone();
        // Err: the reader is gone (its source stopped); nothing to wait for.
        let _ = following.wait_for(|ready| *ready).await;
    }

    pub fn is_closed(&self) -> bool {
        self.sub.queue.lock().expect("queue lock").is_closed()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // A connection that goes takes its streams with it.
        self.source.close(&self.sub, CloseReason::Unsubscribed);
    }
}

/// Sends a subscriber's queue into its connection, frame by frame.
async fn forward(sub: Arc<Subscriber>, source: Arc<Source>, out: mpsc::Sender<String>) {
    loop {
        sub.wake.notified().await;
        let (waiting, closed) = {
            let queue = sub.queue.lock().expect("queue lock");
            (queue.len(), queue.is_closed())
        };
        if waiting < FRAME_LINES && !closed {
            tokio::time::sleep(BATCH_WINDOW).await;
        }
        loop {
            let batch = sub.take();
            if !batch.lines.is_empty() || batch.dropped > 0 {
                let frame = fanout::lines_event(&sub.sub_id, &batch.lines, batch.dropped);
                sub.sent_lines
                    .fetch_add(batch.lines.len() as u64, Ordering::Relaxed);
                sub.sent_bytes.fetch_add(
                    batch.lines.iter().map(|l| l.text.len() as u64).sum(),
                    Ordering::Relaxed,
                );
                if out.send(frame).await.is_err() {
                    source.detach(&sub);
                    return;
                }
            }
            if let Some(reason) = batch.closed {
                source.detach(&sub);
                let closed = Event::LogsClosed {
                    sub_id: sub.sub_id.clone(),
                    reason,
                };
                let _ = out
                    .send(serde_json::to_string(&closed).expect("events serialize"))
                    .await;
                return;
            }
            if !batch.more {
                break;
            }
        }
    }
}

/// Most streams one connection may have open (rule 7: subscriptions are
/// rate limited too).
pub const MAX_STREAMS_PER_CONNECTION: usize = 16;

/// A connection's open streams and the channel their frames go out by.
pub struct ConnStreams {
    subs: HashMap<String, Subscription>,
    out: mpsc::Sender<String>,
    /// Made by the last op; starts sending once its reply is queued.
    pending: Option<String>,
}

impl ConnStreams {
    pub fn new(out: mpsc::Sender<String>) -> ConnStreams {
        ConnStreams {
            subs: HashMap::new(),
            out,
            pending: None,
        }
    }

    /// Streams still open (closed ones are forgotten here).
    pub fn open_count(&mut self) -> usize {
        self.subs.retain(|_, s| !s.is_closed());
        self.subs.len()
    }

    /// Keeps a new stream; it starts with [`ConnStreams::start_pending`].
    pub fn add(&mut self, sub: Subscription) {
        let id = sub.sub_id().to_string();
        self.subs.insert(id.clone(), sub);
        self.pending = Some(id);
    }

    pub fn get(&self, sub_id: &str) -> Option<&Subscription> {
        self.subs.get(sub_id).filter(|s| !s.is_closed())
    }

    pub fn remove(&mut self, sub_id: &str) -> Option<Subscription> {
        self.subs.remove(sub_id)
    }

    /// Starts the stream the last op made, now that its reply is queued.
    pub fn start_pending(&mut self) {
        if let Some(sub) = self.pending.take().and_then(|id| self.subs.get(&id)) {
            sub.start(self.out.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ServerFrame;

    fn streams(dir: &std::path::Path) -> LogStreams {
        let mut sources = std::collections::BTreeMap::new();
        sources.insert(
            "svc".to_string(),
            ServiceSources {
                logs: Some(LogSourceConfig::file(dir.join("svc.log"))),
                ..Default::default()
            },
        );
        LogStreams::new(&sources)
    }

    fn request(grant: &str) -> SubscribeRequest {
        SubscribeRequest {
            service: "svc".into(),
            grant_id: grant.into(),
            expires_at: ts::now() + chrono::Duration::hours(1),
            filter: None,
            since_s: None,
        }
    }

    fn lines(from: usize, n: usize) -> Vec<Arc<Line>> {
        (from..from + n)
            .map(|i| Arc::new(Line::new(ts::now(), false, "info", format!("line {i}"))))
            .collect()
    }

    fn event(frame: &str) -> Event {
        let full = crate::gateway::hub::splice_frame(1, &ts::now(), frame);
        match ServerFrame::decode(&full).expect("a valid frame") {
            ServerFrame::Event(e) => e.event,
            other => panic!("not an event: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_subscriber_that_cannot_keep_up_loses_the_oldest_lines_and_is_told_how_many() {
        let dir = tempfile::tempdir().unwrap();
        let streams = streams(dir.path());
        let sub = streams.subscribe(request("g1")).unwrap();
        let (tx, mut rx) = mpsc::channel(1);
        sub.start(tx);
        let source = streams.sources["svc"].clone();
        // The forwarder cannot run until this test yields: every line lands
        // in the bounded queue first.
        let total = 2 * QUEUE_LINES + 10;
        for chunk in 0..total / 10 {
            source.deliver(lines(chunk * 10, 10));
        }
        let (mut received, mut dropped, mut last) = (0usize, 0u64, None);
        while received + dropped as usize != total {
            let Event::LogsLines {
                lines, dropped: d, ..
            } = event(&rx.recv().await.unwrap())
            else {
                panic!("expected lines")
            };
            received += lines.len();
            dropped += d.unwrap_or(0);
            last = lines.last().map(|l| l.text.clone());
        }
        assert_eq!(received, QUEUE_LINES, "the queue holds its bound, no more");
        assert_eq!(dropped as usize, total - QUEUE_LINES);
        assert_eq!(
            last.as_deref(),
            Some(format!("line {}", total - 1).as_str())
        );
    }

    #[tokio::test]
    async fn a_grant_ending_closes_its_streams_without_sending_what_was_queued_and_stops_the_reader()
     {
        let dir = tempfile::tempdir().unwrap();
        let streams = streams(dir.path());
        let ended = streams.subscribe(request("g1")).unwrap();
        let other = streams.subscribe(request("g2")).unwrap();
        assert_eq!(
            streams.running_readers(),
            1,
            "one reader for two subscribers"
        );
        let (tx, mut rx) = mpsc::channel(16);
        ended.start(tx);
        streams.sources["svc"].deliver(lines(0, 5));
        streams.grant_ended("g1", CloseReason::GrantRevoked);
        match event(&rx.recv().await.unwrap()) {
            Event::LogsClosed { reason, .. } => assert_eq!(reason, CloseReason::GrantRevoked),
            e => panic!("lines queued before the revocation went out: {e:?}"),
        }
        assert!(ended.is_closed() && !other.is_closed());
        assert_eq!(streams.subscriber_count(), 1);
        drop(other);
        assert_eq!(streams.subscriber_count(), 0);
        assert_eq!(
            streams.running_readers(),
            0,
            "nobody listens: the reader stops"
        );
    }

    #[tokio::test]
    async fn a_line_written_once_the_subscription_follows_is_new_not_history() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("svc.log"), "old line\n").unwrap();
        let streams = streams(dir.path());
        let sub = streams.subscribe(request("g1")).unwrap();
        sub.following().await;
        // Written the moment the subscriber could have been answered: the
        // reader already holds the file, so this is a new line.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("svc.log"))
            .unwrap();
        std::io::Write::write_all(&mut f, b"new line\n").unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        sub.start(tx);
        let got = tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv())
            .await
            .expect("the new line arrives")
            .unwrap();
        match event(&got) {
            Event::LogsLines { lines, .. } => {
                let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
                assert_eq!(
                    texts,
                    ["new line"],
                    "history leaked or the new line was lost"
                );
            }
            e => panic!("{e:?}"),
        }
    }

    #[tokio::test]
    async fn an_extension_keeps_a_stream_open_even_when_an_older_end_lands_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let streams = streams(dir.path());
        let mut req = request("g1");
        req.expires_at = ts::now() - chrono::Duration::milliseconds(1);
        let sub = streams.subscribe(req).unwrap();
        // The extension, then the end the subscriber was checked against.
        streams.grant_extended("g1", ts::now() + chrono::Duration::hours(1));
        sub.extend_to(ts::now() - chrono::Duration::milliseconds(1));
        let (tx, mut rx) = mpsc::channel(16);
        sub.start(tx);
        streams.sources["svc"].deliver(lines(0, 3));
        match event(&rx.recv().await.unwrap()) {
            Event::LogsLines { lines, .. } => assert_eq!(lines.len(), 3),
            e => panic!("an extended stream closed: {e:?}"),
        }
        assert!(!sub.is_closed());
    }

    #[tokio::test]
    async fn a_stream_never_sends_past_its_grant_even_before_the_scheduler_closes_it() {
        let dir = tempfile::tempdir().unwrap();
        let streams = streams(dir.path());
        let mut req = request("g1");
        req.expires_at = ts::now() - chrono::Duration::milliseconds(1);
        let sub = streams.subscribe(req).unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        sub.start(tx);
        streams.sources["svc"].deliver(lines(0, 3));
        match event(&rx.recv().await.unwrap()) {
            Event::LogsClosed { reason, .. } => assert_eq!(reason, CloseReason::GrantExpired),
            e => panic!("sent after expiry: {e:?}"),
        }
    }
}
