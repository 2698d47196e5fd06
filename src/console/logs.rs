//! The Logs pane's data: one bounded ring of lines from every log stream
//! the console follows, the level-filtered views of it, the search, and
//! the viewport (follow mode, selection, scrolling).
//!
//! Everything here is kept up to date as lines arrive, so that a frame
//! never walks the whole buffer:
//!
//! - every entry has an absolute sequence number (`base` + its position),
//!   so the selection and the viewport survive the ring dropping its
//!   oldest lines;
//! - the WARN+ and ERROR+ views are sorted deques of sequence numbers,
//!   extended as lines arrive and trimmed as the ring evicts, so a filtered
//!   view is indexed in O(1) and searched by position in O(log n);
//! - the number of search matches per view is counted when a search is
//!   set (one pass) and then adjusted per arriving and evicted line;
//! - the window on screen is computed from the selection or the newest
//!   line, touching only as many entries as there are rows.
//!
//! Levels: a line whose level is `unknown` (a stack-trace continuation,
//! or a line the gateway could not classify) takes the level of the
//! previous line of the same stream for filtering, so the frames of a
//! stack trace stay with the ERROR that started it. An `unknown` line with
//! no previous line is shown only under "all levels".
//!
//! Pure data: no terminal, no clock, no I/O.

use std::collections::VecDeque;

use aho_corasick::AhoCorasick;
use chrono::{DateTime, Utc};
use ratatui::text::Span;

use crate::protocol::{CloseReason, ErrorCode, LogLine};

/// Lines kept by default (`log_buffer_lines` in config.toml changes it).
pub const DEFAULT_CAPACITY: usize = 200_000;
/// The smallest and largest buffer the config may ask for.
pub const MIN_CAPACITY: usize = 1_000;
pub const MAX_CAPACITY: usize = 5_000_000;
/// How far back the first subscription to a service asks (`since_s`).
pub const FIRST_SINCE_S: u64 = 300;
/// The most a resubscription asks to be resent (`since_s`).
pub const RESUME_MAX_S: u64 = 600;
/// Lines held for a subscription whose reply has not arrived yet.
const ORPHAN_MAX_LINES: usize = 50_000;
/// The widest a service tag gets.
pub const TAG_MAX: usize = 12;
/// Columns of `HH:MM:SS.mmm `.
pub const TS_WIDTH: usize = 13;
/// Columns of `ERROR `.
pub const LEVEL_WIDTH: usize = 6;
/// Text columns a wrapped line keeps at least.
const MIN_TEXT_COLS: usize = 8;

/// A line's level, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Sev {
    Unknown = 0,
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Sev {
    /// The level as the gateway names it (`error`, `warn`, ...); anything
    /// else is `Unknown`.
    pub fn parse(s: &str) -> Sev {
        let is = |name: &str| s.eq_ignore_ascii_case(name);
        if is("error") || is("fatal") || is("critical") || is("crit") || is("panic") {
            Sev::Error
        } else if is("warn") || is("warning") {
            Sev::Warn
        } else if is("info") || is("notice") {
            Sev::Info
        } else if is("debug") {
            Sev::Debug
        } else if is("trace") {
            Sev::Trace
        } else {
            Sev::Unknown
        }
    }

    /// The level column's text; empty for unknown (continuation) lines.
    pub fn label(self) -> &'static str {
        match self {
            Sev::Error => "ERROR",
            Sev::Warn => "WARN",
            Sev::Info => "INFO",
            Sev::Debug => "DEBUG",
            Sev::Trace => "TRACE",
            Sev::Unknown => "",
        }
    }
}

/// Which lines the pane shows (`L` cycles all → ERROR+ → WARN+ → all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelFilter {
    All,
    WarnUp,
    ErrorUp,
}

impl LevelFilter {
    pub fn next(self) -> LevelFilter {
        match self {
            LevelFilter::All => LevelFilter::ErrorUp,
            LevelFilter::ErrorUp => LevelFilter::WarnUp,
            LevelFilter::WarnUp => LevelFilter::All,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            LevelFilter::All => "all levels",
            LevelFilter::WarnUp => "WARN+",
            LevelFilter::ErrorUp => "ERROR+",
        }
    }

    /// As written in the audit trail.
    pub fn audit_name(self) -> &'static str {
        match self {
            LevelFilter::All => "all",
            LevelFilter::WarnUp => "warn+",
            LevelFilter::ErrorUp => "error+",
        }
    }

    fn slot(self) -> usize {
        match self {
            LevelFilter::All => 0,
            LevelFilter::WarnUp => 1,
            LevelFilter::ErrorUp => 2,
        }
    }
}

/// What an entry of the ring is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A log line from the gateway.
    Line,
    /// `⋯ N lines dropped by the gateway`.
    Dropped,
    /// The stream ended here.
    Closed,
    /// Anything else the console notes in the stream (resumed, stopped).
    Note,
}

/// One entry of the ring: a line, or a marker the console put there.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Milliseconds since the epoch (the line's own time).
    pub ts_ms: i64,
    pub text: Box<str>,
    /// Index into [`LogsState::streams`].
    pub stream: u16,
    /// The level the gateway gave.
    pub level: Sev,
    /// The level used for filtering (continuations inherit theirs).
    pub eff: Sev,
    pub kind: Kind,
}

impl Entry {
    pub fn ts(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.ts_ms).unwrap_or_default()
    }

    fn passes(&self, filter: LevelFilter) -> bool {
        self.kind != Kind::Line
            || match filter {
                LevelFilter::All => true,
                LevelFilter::WarnUp => self.eff >= Sev::Warn,
                LevelFilter::ErrorUp => self.eff >= Sev::Error,
            }
    }
}

/// Where a stream stands.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamState {
    /// `logs.subscribe` sent; its reply (with the sub_id) not yet in.
    Subscribing {
        op_id: String,
    },
    Live {
        sub_id: String,
    },
    /// The connection dropped: subscribe again once reconnected.
    Waiting,
    /// The gateway ended it (`logs.closed`), at this server time.
    Closed {
        reason: CloseReason,
        at: DateTime<Utc>,
    },
    /// `logs.subscribe` was refused.
    Refused {
        code: ErrorCode,
        message: String,
    },
    /// The user turned it off.
    Stopped,
}

impl StreamState {
    /// Subscribed, or about to be.
    pub fn is_on(&self) -> bool {
        matches!(
            self,
            StreamState::Subscribing { .. } | StreamState::Live { .. } | StreamState::Waiting
        )
    }

    /// Ended by the gateway or refused: the pane shows a banner.
    pub fn needs_banner(&self) -> bool {
        match self {
            StreamState::Closed { reason, .. } => *reason != CloseReason::Unsubscribed,
            StreamState::Refused { .. } => true,
            _ => false,
        }
    }
}

/// One service's log stream.
#[derive(Debug, Clone)]
pub struct Stream {
    pub service: String,
    pub state: StreamState,
    /// Lines received (resent duplicates not counted).
    pub received: u64,
    /// Lines the gateway dropped for this console, in total.
    pub dropped: u64,
    /// Time of the newest line (ms) and how many lines had that very time.
    last_ts: Option<(i64, u32)>,
    /// After a resubscription: lines up to this time were already here.
    resume: Option<(i64, u32)>,
    /// The filtering level of this stream's previous line.
    last_eff: Sev,
    /// When it was last subscribed (server time) and how far back it asked.
    pub since: Option<(DateTime<Utc>, u64)>,
}

impl Stream {
    fn new(service: &str) -> Stream {
        Stream {
            service: service.to_string(),
            state: StreamState::Stopped,
            received: 0,
            dropped: 0,
            last_ts: None,
            resume: None,
            last_eff: Sev::Unknown,
            since: None,
        }
    }

    /// Time of the newest line received.
    pub fn last_ts(&self) -> Option<DateTime<Utc>> {
        self.last_ts
            .and_then(|(ms, _)| DateTime::from_timestamp_millis(ms))
    }

    /// What `since_s` to ask for when subscribing again at `now` (server
    /// time): the gap since the newest line, capped at [`RESUME_MAX_S`],
    /// and whether the gap was longer than that (lines may be missing).
    /// Remembers what was already received so resent lines are skipped.
    pub fn resume_since(&mut self, now: DateTime<Utc>) -> (u64, bool) {
        let wanted = match (self.last_ts, self.since) {
            (Some((ms, _)), _) => {
                let gap_ms = (now.timestamp_millis() - ms).max(0) as u64;
                gap_ms.div_ceil(1000) + 1
            }
            (None, Some((at, s))) => s + (now - at).num_seconds().max(0) as u64 + 1,
            (None, None) => FIRST_SINCE_S,
        };
        self.resume = self.last_ts;
        (wanted.min(RESUME_MAX_S), wanted > RESUME_MAX_S)
    }
}

/// A search: a plain substring, case-insensitive unless it has capitals.
#[derive(Debug, Clone)]
pub struct Search {
    pub pattern: String,
    matcher: AhoCorasick,
    /// Matching lines in the buffer, per view (all, WARN+, ERROR+).
    counts: [u64; 3],
}

impl Search {
    pub fn new(pattern: &str) -> Option<Search> {
        if pattern.is_empty() {
            return None;
        }
        let insensitive = !pattern.chars().any(char::is_uppercase);
        let matcher = AhoCorasick::builder()
            .ascii_case_insensitive(insensitive)
            .build([pattern])
            .ok()?;
        Some(Search {
            pattern: pattern.to_string(),
            matcher,
            counts: [0; 3],
        })
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.matcher.is_match(text)
    }

    /// Byte ranges of the matches in `text`, left to right.
    pub fn find_iter<'a>(&'a self, text: &'a str) -> impl Iterator<Item = (usize, usize)> + 'a {
        self.matcher.find_iter(text).map(|m| (m.start(), m.end()))
    }

    fn count(&mut self, e: &Entry, add: bool) {
        if e.kind != Kind::Line || !self.is_match(&e.text) {
            return;
        }
        for f in [LevelFilter::All, LevelFilter::WarnUp, LevelFilter::ErrorUp] {
            if e.passes(f) {
                let c = &mut self.counts[f.slot()];
                *c = if add { *c + 1 } else { c.saturating_sub(1) };
            }
        }
    }
}

/// Something that arrived for a subscription before its reply did.
#[derive(Debug, Clone)]
pub enum Orphan {
    Lines(Vec<LogLine>, Option<u64>),
    Closed(CloseReason),
}

/// The text area the lines are laid out in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Geometry {
    /// Columns for the prefix (tag, time, level) and the text.
    pub width: u16,
    pub height: u16,
}

/// One entry on screen: `rows` of its rows, starting `skip` rows into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub seq: u64,
    pub skip: u16,
    pub rows: u16,
}

/// The Logs pane's whole state.
#[derive(Debug, Clone)]
pub struct LogsState {
    capacity: usize,
    buf: VecDeque<Entry>,
    /// Sequence number of `buf[0]`.
    base: u64,
    /// Sequence numbers of the entries the WARN+ and ERROR+ views show.
    idx_warn: VecDeque<u64>,
    idx_error: VecDeque<u64>,
    pub streams: Vec<Stream>,
    pub filter: LevelFilter,
    pub follow: bool,
    pub wrap: bool,
    pub timestamps: bool,
    /// The selected entry (when not following).
    sel: u64,
    /// The first entry on screen (when not following).
    top: u64,
    /// The end of the buffer when follow was turned off: what came after
    /// is "new".
    unseen_from: u64,
    pub search: Option<Search>,
    /// Set once the pane has subscribed by itself (first opening).
    pub auto_started: bool,
    /// Entries the ring has dropped to stay within its capacity.
    pub evicted: u64,
    orphans: VecDeque<(String, Orphan)>,
    orphan_lines: usize,
    /// `logs.unsubscribe` ops in flight (their replies say nothing new).
    pub unsubscribing: Vec<String>,
    /// `logs.subscribe` ops of streams stopped before their reply came:
    /// the reply's subscription is undone.
    pub cancelled: Vec<String>,
}

impl Default for LogsState {
    fn default() -> Self {
        LogsState::new(DEFAULT_CAPACITY)
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Columns a string takes on screen.
pub fn text_width(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        Span::raw(s).width()
    }
}

fn char_width(c: char) -> usize {
    if c.is_ascii() {
        1
    } else {
        let mut b = [0u8; 4];
        Span::raw(&*c.encode_utf8(&mut b)).width()
    }
}

/// Byte ranges of `text` cut into rows of at most `cols` columns: at a
/// space when there is one in the row's second half (words stay whole),
/// else at the width (a wide character that does not fit moves to the
/// next row); the space a row breaks at ends that row. Always one row at
/// least. The renderer and the layout both cut with this.
pub fn wrap_rows(text: &str, cols: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
    let cols = cols.max(2);
    let ascii = text.is_ascii();
    let mut start = 0usize;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        if start >= text.len() {
            done = true;
            // An empty text still takes one row.
            return (start == 0).then_some((0, 0));
        }
        let mut end = if ascii {
            (start + cols).min(text.len())
        } else {
            let mut w = 0;
            let mut end = text.len();
            for (i, c) in text[start..].char_indices() {
                let cw = char_width(c);
                if w + cw > cols {
                    end = start + i;
                    break;
                }
                w += cw;
            }
            end
        };
        if end < text.len() {
            if text[end..].starts_with(' ') {
                end += 1;
            } else if let Some(p) = text[start..end].rfind(' ')
                && p + 1 > (end - start) / 2
            {
                end = start + p + 1;
            }
        }
        let range = (start, end);
        start = end;
        if start >= text.len() {
            done = true;
        }
        Some(range)
    })
}

/// The end (in bytes) of the longest start of `text` that fits `cols`
/// columns: where a line is cut when it does not wrap.
pub fn cut_at(text: &str, cols: usize) -> usize {
    if text.is_ascii() {
        return cols.min(text.len());
    }
    let mut w = 0;
    for (i, c) in text.char_indices() {
        let cw = char_width(c);
        if w + cw > cols {
            return i;
        }
        w += cw;
    }
    text.len()
}

/// Rows `text` takes wrapped at `cols`.
fn rows_for(text: &str, cols: usize) -> usize {
    if text.len() <= cols || text_width(text) <= cols {
        1
    } else {
        wrap_rows(text, cols).count()
    }
}

/// What may reach the screen and the clipboard: no control characters
/// (a log line must not be able to drive the terminal), tabs as spaces.
fn sanitize(text: String) -> Box<str> {
    let dirty = if text.is_ascii() {
        text.bytes().any(|b| b < 0x20 || b == 0x7f)
    } else {
        text.chars().any(char::is_control)
    };
    if !dirty {
        return text.into_boxed_str();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.trim_end_matches(['\r', '\n']).chars() {
        match c {
            '\t' => out.push_str("    "),
            '\n' => out.push('↵'),
            '\r' => {}
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out.into_boxed_str()
}

impl LogsState {
    pub fn new(capacity: usize) -> LogsState {
        let capacity = capacity.clamp(MIN_CAPACITY, MAX_CAPACITY);
        LogsState {
            capacity,
            buf: VecDeque::new(),
            base: 0,
            idx_warn: VecDeque::new(),
            idx_error: VecDeque::new(),
            streams: Vec::new(),
            filter: LevelFilter::All,
            follow: true,
            wrap: false,
            timestamps: true,
            sel: 0,
            top: 0,
            unseen_from: 0,
            search: None,
            auto_started: false,
            evicted: 0,
            orphans: VecDeque::new(),
            orphan_lines: 0,
            unsubscribing: Vec::new(),
            cancelled: Vec::new(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Entries in the ring (lines and markers).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// One past the newest entry's sequence number.
    pub fn end(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    pub fn entry(&self, seq: u64) -> Option<&Entry> {
        let i = seq.checked_sub(self.base)?;
        self.buf.get(usize::try_from(i).ok()?)
    }

    pub fn stream_index(&self, service: &str) -> Option<usize> {
        self.streams.iter().position(|s| s.service == service)
    }

    pub fn stream_by_sub(&self, sub_id: &str) -> Option<usize> {
        self.streams
            .iter()
            .position(|s| matches!(&s.state, StreamState::Live { sub_id: id } if id == sub_id))
    }

    pub fn stream_by_op(&self, op_id: &str) -> Option<usize> {
        self.streams
            .iter()
            .position(|s| matches!(&s.state, StreamState::Subscribing { op_id: id } if id == op_id))
    }

    /// The stream of `service`, created (stopped) if new.
    pub fn ensure_stream(&mut self, service: &str) -> usize {
        match self.stream_index(service) {
            Some(i) => i,
            // More services than an entry can name: the last one is reused
            // (never reached: a console follows a handful).
            None if self.streams.len() > u16::MAX as usize => self.streams.len() - 1,
            None => {
                self.streams.push(Stream::new(service));
                self.streams.len() - 1
            }
        }
    }

    /// Whether lines carry a service tag (more than one stream).
    pub fn tagged(&self) -> bool {
        self.streams.len() > 1
    }

    /// Width of the service tag column (without its trailing space).
    pub fn tag_width(&self) -> usize {
        self.streams
            .iter()
            .map(|s| text_width(&s.service))
            .max()
            .unwrap_or(0)
            .min(TAG_MAX)
    }

    /// Columns before a line's text: tag, time, level.
    pub fn prefix_width(&self) -> usize {
        let tag = if self.tagged() {
            self.tag_width() + 1
        } else {
            0
        };
        let ts = if self.timestamps { TS_WIDTH } else { 0 };
        tag + ts + LEVEL_WIDTH
    }

    /// Columns for a line's text at `width`.
    pub fn text_cols(&self, width: u16) -> usize {
        (width as usize)
            .saturating_sub(self.prefix_width())
            .max(MIN_TEXT_COLS)
    }

    // ---- arriving lines ----

    /// Appends a batch of `stream`'s lines; `dropped` puts a marker first.
    /// `now` (server time) dates a marker when the batch is empty.
    pub fn ingest(
        &mut self,
        stream: usize,
        lines: Vec<LogLine>,
        dropped: Option<u64>,
        now: DateTime<Utc>,
    ) {
        if let Some(d) = dropped.filter(|d| *d > 0) {
            self.streams[stream].dropped += d;
            let at = lines.first().map_or(now, |l| l.ts);
            let text = format!(
                "⋯ {} line{} dropped by the gateway (console too slow)",
                thousands(d),
                if d == 1 { "" } else { "s" }
            );
            self.mark(stream, Kind::Dropped, text, at);
        }
        for line in lines {
            let ts_ms = line.ts.timestamp_millis();
            let st = &mut self.streams[stream];
            if let Some((rts, rn)) = st.resume {
                // Resent after a resubscription: skip what is already here.
                if ts_ms < rts {
                    continue;
                }
                if ts_ms == rts && rn > 0 {
                    st.resume = Some((rts, rn - 1));
                    continue;
                }
                if ts_ms > rts {
                    st.resume = None;
                }
            }
            st.last_ts = match st.last_ts {
                Some((t, n)) if t == ts_ms => Some((t, n + 1)),
                Some((t, n)) if t > ts_ms => Some((t, n)),
                _ => Some((ts_ms, 1)),
            };
            let level = Sev::parse(&line.level);
            let eff = if level == Sev::Unknown {
                st.last_eff
            } else {
                level
            };
            st.last_eff = eff;
            st.received += 1;
            self.push(Entry {
                ts_ms,
                text: sanitize(line.text),
                stream: stream as u16,
                level,
                eff,
                kind: Kind::Line,
            });
        }
    }

    /// Puts a marker into the stream (shown in every view, never searched).
    pub fn mark(&mut self, stream: usize, kind: Kind, text: String, at: DateTime<Utc>) {
        self.push(Entry {
            ts_ms: at.timestamp_millis(),
            text: text.into_boxed_str(),
            stream: stream as u16,
            level: Sev::Unknown,
            eff: Sev::Unknown,
            kind,
        });
    }

    fn push(&mut self, e: Entry) {
        if self.buf.len() >= self.capacity {
            self.evict_one();
        }
        let seq = self.end();
        if e.passes(LevelFilter::WarnUp) {
            self.idx_warn.push_back(seq);
        }
        if e.passes(LevelFilter::ErrorUp) {
            self.idx_error.push_back(seq);
        }
        if let Some(s) = &mut self.search {
            s.count(&e, true);
        }
        if self.buf.capacity() == 0 {
            // Grows on demand up to the capacity, never past it.
            self.buf.reserve(self.capacity.min(4096));
        } else if self.buf.len() == self.buf.capacity() {
            let more = self.buf.capacity().min(self.capacity - self.buf.len());
            self.buf.reserve_exact(more.max(1));
        }
        self.buf.push_back(e);
    }

    fn evict_one(&mut self) {
        let Some(e) = self.buf.pop_front() else {
            return;
        };
        if self.idx_warn.front() == Some(&self.base) {
            self.idx_warn.pop_front();
        }
        if self.idx_error.front() == Some(&self.base) {
            self.idx_error.pop_front();
        }
        if let Some(s) = &mut self.search {
            s.count(&e, false);
        }
        self.base += 1;
        self.evicted += 1;
    }

    // ---- subscriptions whose reply is late ----

    /// Keeps what arrived for an unknown subscription while one is being
    /// set up (its reply may come after its first lines). Bounded.
    pub fn hold(&mut self, sub_id: &str, o: Orphan) {
        if !self
            .streams
            .iter()
            .any(|s| matches!(s.state, StreamState::Subscribing { .. }))
        {
            return;
        }
        if let Orphan::Lines(l, _) = &o {
            self.orphan_lines += l.len();
        }
        self.orphans.push_back((sub_id.to_string(), o));
        while self.orphan_lines > ORPHAN_MAX_LINES {
            match self.orphans.pop_front() {
                Some((_, Orphan::Lines(l, _))) => self.orphan_lines -= l.len(),
                Some(_) => {}
                None => break,
            }
        }
    }

    /// What was held for `sub_id`, in arrival order.
    pub fn take_held(&mut self, sub_id: &str) -> Vec<Orphan> {
        let mut out = Vec::new();
        let mut keep = VecDeque::new();
        for (id, o) in self.orphans.drain(..) {
            if id == sub_id {
                if let Orphan::Lines(l, _) = &o {
                    self.orphan_lines -= l.len();
                }
                out.push(o);
            } else {
                keep.push_back((id, o));
            }
        }
        self.orphans = keep;
        out
    }

    pub fn drop_held(&mut self) {
        self.orphans.clear();
        self.orphan_lines = 0;
    }

    // ---- the view (the level-filtered sequence) ----

    /// Entries the current level filter shows.
    pub fn view_len(&self) -> usize {
        match self.filter {
            LevelFilter::All => self.buf.len(),
            LevelFilter::WarnUp => self.idx_warn.len(),
            LevelFilter::ErrorUp => self.idx_error.len(),
        }
    }

    /// Sequence number of the view's `i`th entry (`i < view_len()`).
    pub fn view_seq(&self, i: usize) -> u64 {
        match self.filter {
            LevelFilter::All => self.base + i as u64,
            LevelFilter::WarnUp => self.idx_warn[i],
            LevelFilter::ErrorUp => self.idx_error[i],
        }
    }

    /// Position in the view of the first entry at or after `seq`.
    pub fn view_pos(&self, seq: u64) -> usize {
        match self.filter {
            LevelFilter::All => (seq.saturating_sub(self.base) as usize).min(self.buf.len()),
            LevelFilter::WarnUp => self.idx_warn.partition_point(|s| *s < seq),
            LevelFilter::ErrorUp => self.idx_error.partition_point(|s| *s < seq),
        }
    }

    fn last_in_view(&self) -> Option<u64> {
        let n = self.view_len();
        (n > 0).then(|| self.view_seq(n - 1))
    }

    /// The selected entry: the newest when following.
    pub fn selected(&self) -> Option<u64> {
        let n = self.view_len();
        if n == 0 {
            return None;
        }
        if self.follow {
            return Some(self.view_seq(n - 1));
        }
        Some(self.view_seq(self.view_pos(self.sel).min(n - 1)))
    }

    /// Lines that arrived since follow was turned off and are below the
    /// screen (`last_visible` is the bottom entry on screen).
    pub fn new_lines(&self, last_visible: Option<u64>) -> usize {
        if self.follow {
            return 0;
        }
        let from = last_visible.map_or(self.unseen_from, |l| (l + 1).max(self.unseen_from));
        self.view_len() - self.view_pos(from)
    }

    /// Rows entry `seq` takes on screen.
    pub fn rows_of(&self, seq: u64, g: Geometry) -> usize {
        match self.entry(seq) {
            Some(e) if self.wrap => rows_for(&e.text, self.text_cols(g.width)),
            _ => 1,
        }
    }

    /// The entries on screen, top to bottom. Touches only those.
    pub fn window(&self, g: Geometry) -> Vec<Row> {
        let n = self.view_len();
        let h = g.height as usize;
        let mut out = Vec::with_capacity(h);
        if n == 0 || h == 0 {
            return out;
        }
        if self.follow {
            let mut used = 0;
            let mut i = n;
            while i > 0 && used < h {
                i -= 1;
                let seq = self.view_seq(i);
                let rows = self.rows_of(seq, g);
                let show = rows.min(h - used);
                out.push(Row {
                    seq,
                    skip: (rows - show) as u16,
                    rows: show as u16,
                });
                used += show;
            }
            out.reverse();
        } else {
            let mut used = 0;
            let mut i = self.view_pos(self.top).min(n - 1);
            while i < n && used < h {
                let seq = self.view_seq(i);
                let show = self.rows_of(seq, g).min(h - used);
                out.push(Row {
                    seq,
                    skip: 0,
                    rows: show as u16,
                });
                used += show;
                i += 1;
            }
        }
        out
    }

    /// The earliest view position from which `last` still ends on screen.
    fn fill_up_to(&self, last: usize, g: Geometry) -> usize {
        let h = g.height as usize;
        let mut j = last;
        let mut used = self.rows_of(self.view_seq(last), g);
        while j > 0 {
            let r = self.rows_of(self.view_seq(j - 1), g);
            if used + r > h {
                break;
            }
            used += r;
            j -= 1;
        }
        j
    }

    /// Brings the viewport in line with the selection after a move, a
    /// filter change or a resize: the selection on screen, the screen full.
    pub fn settle(&mut self, g: Geometry) {
        let n = self.view_len();
        if n == 0 {
            return;
        }
        if self.follow {
            self.sel = self.view_seq(n - 1);
            return;
        }
        let h = (g.height as usize).max(1);
        let sp = self.view_pos(self.sel).min(n - 1);
        self.sel = self.view_seq(sp);
        let mut tp = self.view_pos(self.top.max(self.base)).min(sp);
        // Is the selection on screen from tp?
        let mut used = 0;
        let mut i = tp;
        while i <= sp {
            used += self.rows_of(self.view_seq(i), g);
            if used > h {
                break;
            }
            i += 1;
        }
        if used > h {
            tp = self.fill_up_to(sp, g);
        }
        // No blank rows under the last entry while there is more above.
        let mut used = 0;
        let mut j = tp;
        while j < n && used < h {
            used += self.rows_of(self.view_seq(j), g);
            j += 1;
        }
        if used < h && tp > 0 {
            tp = tp.min(self.fill_up_to(n - 1, g));
        }
        self.top = self.view_seq(tp);
    }

    /// Stops following, keeping what is on screen where it is.
    pub fn pause(&mut self, g: Geometry) {
        if !self.follow {
            return;
        }
        let top = self.window(g).first().map(|r| r.seq);
        self.follow = false;
        self.unseen_from = self.end();
        if let Some(last) = self.last_in_view() {
            self.sel = last;
            self.top = top.unwrap_or(last);
        }
        self.settle(g);
    }

    /// Follows the newest line again.
    pub fn resume_follow(&mut self) {
        self.follow = true;
    }

    /// Moves the selection by `delta` entries of the view.
    pub fn move_by(&mut self, delta: isize, g: Geometry) {
        let n = self.view_len();
        if n == 0 {
            return;
        }
        if delta == 0 || (self.follow && delta > 0) {
            return;
        }
        self.pause(g);
        let sp = self.view_pos(self.sel).min(n - 1) as isize;
        let to = (sp + delta).clamp(0, n as isize - 1) as usize;
        self.sel = self.view_seq(to);
        self.settle(g);
    }

    /// Moves a page (the rows on screen, less one) up or down.
    pub fn page(&mut self, down: bool, g: Geometry) {
        let n = self.view_len();
        if n == 0 || (self.follow && down) {
            return;
        }
        self.pause(g);
        let step = (g.height as isize - 1).max(1);
        let step = if down { step } else { -step };
        let sp = self.view_pos(self.sel).min(n - 1) as isize;
        let tp = self.view_pos(self.top).min(n - 1) as isize;
        self.sel = self.view_seq((sp + step).clamp(0, n as isize - 1) as usize);
        self.top = self.view_seq((tp + step).clamp(0, n as isize - 1) as usize);
        self.settle(g);
    }

    /// The oldest entry (stops following).
    pub fn to_top(&mut self, g: Geometry) {
        if self.view_len() == 0 {
            return;
        }
        self.pause(g);
        self.sel = self.view_seq(0);
        self.top = self.sel;
        self.settle(g);
    }

    /// Selects entry `seq` (stops following); one that was off screen
    /// (a search hit) comes to the middle, with what led to it above.
    pub fn select(&mut self, seq: u64, g: Geometry) {
        let n = self.view_len();
        if n == 0 {
            return;
        }
        let on_screen = self.window(g).iter().any(|r| r.seq == seq);
        self.pause(g);
        self.sel = seq;
        if !on_screen {
            let half = Geometry {
                height: (g.height / 2).max(1),
                ..g
            };
            let sp = self.view_pos(seq).min(n - 1);
            self.top = self.view_seq(self.fill_up_to(sp, half));
        }
        self.settle(g);
    }

    /// Changes the level filter; the selection stays on the same line or
    /// the next one the new view shows.
    pub fn set_filter(&mut self, f: LevelFilter, g: Geometry) {
        self.filter = f;
        self.settle(g);
    }

    // ---- search ----

    /// Sets (or with an empty pattern clears) the search; counts matches
    /// in one pass. Returns the count in the current view.
    pub fn set_search(&mut self, pattern: &str) -> Option<u64> {
        self.search = Search::new(pattern);
        let s = self.search.as_mut()?;
        for e in &self.buf {
            s.count(e, true);
        }
        self.match_count()
    }

    /// Matching lines in the current view.
    pub fn match_count(&self) -> Option<u64> {
        self.search.as_ref().map(|s| s.counts[self.filter.slot()])
    }

    /// The next matching line after (`forward`) or before `from` in the
    /// view, wrapping around; with `inclusive`, `from` itself may match.
    /// Returns it and whether the search wrapped.
    pub fn find(&self, from: u64, forward: bool, inclusive: bool) -> Option<(u64, bool)> {
        let s = self.search.as_ref()?;
        let n = self.view_len();
        if n == 0 {
            return None;
        }
        let hit = |i: usize| {
            let seq = self.view_seq(i);
            self.entry(seq)
                .filter(|e| e.kind == Kind::Line && s.is_match(&e.text))
                .map(|_| seq)
        };
        let p = self.view_pos(from);
        let here = p < n && self.view_seq(p) == from;
        if forward {
            let start = if here && !inclusive { p + 1 } else { p };
            if let Some(seq) = (start..n).find_map(hit) {
                return Some((seq, false));
            }
            (0..start.min(n)).find_map(hit).map(|s| (s, true))
        } else {
            // Positions before p (and p itself when inclusive and there).
            let end = if here && inclusive { p + 1 } else { p };
            if let Some(seq) = (0..end.min(n)).rev().find_map(hit) {
                return Some((seq, false));
            }
            (end.min(n)..n).rev().find_map(hit).map(|s| (s, true))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + s, 0).unwrap()
    }

    fn line(s: i64, level: &str, text: &str) -> LogLine {
        LogLine {
            ts: t(s),
            level: level.into(),
            text: text.into(),
        }
    }

    fn state_with(lines: &[(&str, &str)]) -> LogsState {
        let mut st = LogsState::new(MIN_CAPACITY);
        let s = st.ensure_stream("payments");
        let batch = lines
            .iter()
            .enumerate()
            .map(|(i, (l, txt))| line(i as i64, l, txt))
            .collect();
        st.ingest(s, batch, None, t(0));
        st
    }

    const G: Geometry = Geometry {
        width: 60,
        height: 5,
    };

    #[test]
    fn stack_trace_lines_count_with_the_error_above_them() {
        let mut st = state_with(&[
            ("unknown", "orphan continuation"),
            ("info", "ok"),
            ("error", "boom"),
            ("unknown", "  at a()"),
            ("unknown", "  at b()"),
            ("warn", "slow"),
            ("info", "ok again"),
            ("unknown", "  more info"),
        ]);
        st.set_filter(LevelFilter::ErrorUp, G);
        let texts: Vec<&str> = (0..st.view_len())
            .map(|i| &*st.entry(st.view_seq(i)).unwrap().text)
            .collect();
        assert_eq!(texts, ["boom", "  at a()", "  at b()"]);
        st.set_filter(LevelFilter::WarnUp, G);
        assert_eq!(st.view_len(), 4);
        st.set_filter(LevelFilter::All, G);
        assert_eq!(st.view_len(), 8);
    }

    #[test]
    fn the_ring_keeps_its_bound_and_the_indices_follow_it() {
        let mut st = LogsState::new(MIN_CAPACITY);
        let s = st.ensure_stream("payments");
        for i in 0..3000 {
            let level = if i % 10 == 0 { "error" } else { "info" };
            st.ingest(s, vec![line(i, level, &format!("line {i}"))], None, t(0));
        }
        assert_eq!(st.len(), MIN_CAPACITY);
        assert_eq!(st.evicted, 2000);
        assert_eq!(&*st.entry(st.end() - 1).unwrap().text, "line 2999");
        assert!(st.entry(1999).is_none());
        st.filter = LevelFilter::ErrorUp;
        assert_eq!(st.view_len(), 100);
        assert_eq!(&*st.entry(st.view_seq(0)).unwrap().text, "line 2000");
    }

    #[test]
    fn search_counts_follow_arrivals_and_evictions() {
        let mut st = LogsState::new(MIN_CAPACITY);
        let s = st.ensure_stream("payments");
        st.ingest(
            s,
            vec![line(0, "error", "Timeout talking to bank")],
            None,
            t(0),
        );
        assert_eq!(st.set_search("timeout"), Some(1));
        for i in 0..MIN_CAPACITY as i64 {
            st.ingest(s, vec![line(i, "info", "a timeout")], None, t(0));
        }
        // The error line was evicted; every line in the ring matches.
        assert_eq!(st.match_count(), Some(MIN_CAPACITY as u64));
        st.filter = LevelFilter::ErrorUp;
        assert_eq!(st.match_count(), Some(0));
        // Capitals make it case-sensitive.
        assert_eq!(st.set_search("Timeout"), Some(0));
    }

    #[test]
    fn control_characters_never_reach_the_screen() {
        let st = state_with(&[("info", "a\tb\x1b[31mred\x07\r\n")]);
        assert_eq!(&*st.entry(0).unwrap().text, "a    b\u{FFFD}[31mred\u{FFFD}");
    }

    #[test]
    fn wrapping_cuts_rows_to_the_width_even_with_wide_characters() {
        let rows: Vec<_> = wrap_rows("abcdefghij", 4).collect();
        assert_eq!(rows, [(0, 4), (4, 8), (8, 10)]);
        assert_eq!(wrap_rows("", 4).count(), 1);
        // 漢 takes two columns: three of them do not fit in five.
        let text = "漢漢漢";
        let rows: Vec<_> = wrap_rows(text, 5).map(|(a, b)| &text[a..b]).collect();
        assert_eq!(rows, ["漢漢", "漢"]);
        assert_eq!(rows_for(text, 5), 2);
        assert_eq!(rows_for("abcdefghij", 4), 3);
        // Words stay whole when a space is near the end of the row.
        let text = "upstream timeout after 2000ms";
        let rows: Vec<_> = wrap_rows(text, 12).map(|(a, b)| &text[a..b]).collect();
        assert_eq!(rows, ["upstream ", "timeout ", "after 2000ms"]);
        assert_eq!(rows_for(text, 12), 3);
        // A row ending right before a space does not start the next with it.
        let rows: Vec<_> = wrap_rows("abcd efgh", 4)
            .map(|(a, b)| &"abcd efgh"[a..b])
            .collect();
        assert_eq!(rows, ["abcd ", "efgh"]);
        assert_eq!(cut_at("abc def", 5), 5);
        assert_eq!(cut_at("漢漢漢", 5), 6);
    }

    #[test]
    fn the_window_fills_from_the_newest_line_when_following() {
        let st = state_with(&[
            ("info", "1"),
            ("info", "2"),
            ("info", "3"),
            ("info", "4"),
            ("info", "5"),
            ("info", "6"),
            ("info", "7"),
        ]);
        let w = st.window(G);
        assert_eq!(w.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 3, 4, 5, 6]);
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn resuming_asks_for_the_gap_capped_and_skips_what_was_here() {
        let mut st = state_with(&[("info", "a"), ("info", "b"), ("info", "c")]);
        // Newest line at t(2); reconnect at t(32).
        let (since, gap) = st.streams[0].resume_since(t(32));
        assert_eq!((since, gap), (31, false));
        // The gateway resends b and c, then new lines.
        st.ingest(
            0,
            vec![
                line(1, "info", "b"),
                line(2, "info", "c"),
                line(33, "info", "d"),
            ],
            None,
            t(33),
        );
        let texts: Vec<&str> = (0..st.view_len())
            .map(|i| &*st.entry(st.view_seq(i)).unwrap().text)
            .collect();
        assert_eq!(texts, ["a", "b", "c", "d"]);
        let (since, gap) = st.streams[0].resume_since(t(3600));
        assert_eq!((since, gap), (RESUME_MAX_S, true));
    }
}
