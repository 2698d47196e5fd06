//! The pure parts of streaming: a subscriber's bounded queue, its filter,
//! and the `logs.lines` frame built from lines encoded once for everyone.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use regex::{Regex, RegexBuilder};

use crate::protocol::{CloseReason, LogFilter, ts};

/// One redacted line as every subscriber gets it.
#[derive(Debug)]
pub struct Line {
    /// For history, the line's own timestamp; for live lines, when the
    /// gateway read it.
    pub ts: DateTime<Utc>,
    /// Read back from before the source started (only subscribers whose
    /// `since_s` reaches that far get it).
    pub history: bool,
    /// The redacted text: what filters match against, so a filter can never
    /// probe a secret.
    pub text: String,
    /// The `{"ts":…,"level":…,"text":…}` object, encoded once.
    pub json: String,
}

impl Line {
    pub fn new(ts: DateTime<Utc>, history: bool, level: &str, text: String) -> Line {
        #[derive(serde::Serialize)]
        struct Wire<'a> {
            ts: String,
            level: &'a str,
            text: &'a str,
        }
        let json = serde_json::to_string(&Wire {
            ts: ts::format(&ts),
            level,
            text: &text,
        })
        .expect("a line always serializes");
        Line {
            ts,
            history,
            text,
            json,
        }
    }
}

/// Longest filter pattern accepted.
pub const MAX_FILTER_CHARS: usize = 1024;
/// Compiled size limit of a filter regex (guards the gateway's memory).
const FILTER_REGEX_BYTES: usize = 1 << 20;

/// A subscriber's server-side filter.
#[derive(Debug, Clone)]
pub enum LineFilter {
    Substring(String),
    Regex(Regex),
}

impl LineFilter {
    /// Compiles a client's filter; the error says what is wrong with it.
    pub fn new(filter: &LogFilter) -> Result<LineFilter, String> {
        if filter.pattern.is_empty() {
            return Err("filter.pattern is empty; leave `filter` out to get every line".into());
        }
        if filter.pattern.chars().count() > MAX_FILTER_CHARS {
            return Err(format!(
                "filter.pattern is longer than {MAX_FILTER_CHARS} characters"
            ));
        }
        if !filter.regex {
            return Ok(LineFilter::Substring(filter.pattern.clone()));
        }
        RegexBuilder::new(&filter.pattern)
            .size_limit(FILTER_REGEX_BYTES)
            .build()
            .map(LineFilter::Regex)
            .map_err(|e| format!("filter.pattern is not a valid regex: {e}"))
    }

    pub fn matches(&self, text: &str) -> bool {
        match self {
            LineFilter::Substring(s) => text.contains(s.as_str()),
            LineFilter::Regex(r) => r.is_match(text),
        }
    }
}

/// What a subscriber is waiting to be sent. Bounded: when the console
/// falls behind, the oldest lines go and the next batch says how many.
#[derive(Debug)]
pub struct SubQueue {
    lines: VecDeque<Arc<Line>>,
    capacity: usize,
    dropped: u64,
    closed: Option<CloseReason>,
    /// The close went out in a batch.
    close_taken: bool,
}

/// One frame's worth taken from a queue.
#[derive(Debug, Default)]
pub struct Batch {
    pub lines: Vec<Arc<Line>>,
    /// Lines dropped since the previous batch.
    pub dropped: u64,
    /// Set once, on the batch after which the stream ends.
    pub closed: Option<CloseReason>,
    /// More lines were waiting than fit in this batch.
    pub more: bool,
}

impl SubQueue {
    pub fn new(capacity: usize) -> SubQueue {
        SubQueue {
            lines: VecDeque::new(),
            capacity: capacity.max(1),
            dropped: 0,
            closed: None,
            close_taken: false,
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    pub fn push(&mut self, line: Arc<Line>) {
        if self.closed.is_some() {
            return;
        }
        if self.lines.len() == self.capacity {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines.push_back(line);
    }

    /// Ends the stream: what is still queued is never sent (the grant
    /// behind it is over). The first reason stays.
    pub fn close(&mut self, reason: CloseReason) -> bool {
        if self.closed.is_some() {
            return false;
        }
        self.closed = Some(reason);
        self.lines.clear();
        true
    }

    /// Up to `max_lines` lines and about `max_bytes` of them (always at
    /// least one line when any is queued).
    pub fn take(&mut self, max_lines: usize, max_bytes: usize) -> Batch {
        let mut lines = Vec::with_capacity(self.lines.len().min(max_lines));
        let mut bytes = 0;
        while lines.len() < max_lines {
            let Some(front) = self.lines.front() else {
                break;
            };
            if !lines.is_empty() && bytes + front.json.len() > max_bytes {
                break;
            }
            bytes += front.json.len() + 1;
            lines.push(self.lines.pop_front().expect("front exists"));
        }
        Batch {
            lines,
            dropped: std::mem::take(&mut self.dropped),
            closed: if self.close_taken {
                None
            } else {
                self.close_taken = self.closed.is_some();
                self.closed
            },
            more: !self.lines.is_empty(),
        }
    }
}

/// The `logs.lines` event object (without `seq`/`at`), byte for byte what
/// serde writes for [`crate::protocol::Event::LogsLines`].
pub fn lines_event(sub_id: &str, lines: &[Arc<Line>], dropped: u64) -> String {
    let bytes: usize = lines.iter().map(|l| l.json.len() + 1).sum();
    let mut out = String::with_capacity(bytes + sub_id.len() + 80);
    out.push_str("{\"event\":\"logs.lines\",\"sub_id\":");
    out.push_str(&serde_json::to_string(sub_id).expect("a string serializes"));
    out.push_str(",\"lines\":[");
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&line.json);
    }
    out.push(']');
    if dropped > 0 {
        out.push_str(",\"dropped\":");
        out.push_str(&dropped.to_string());
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Event, LogLine};

    fn line(text: &str) -> Arc<Line> {
        let at = DateTime::parse_from_rfc3339("2026-11-24T10:00:00.250Z")
            .unwrap()
            .with_timezone(&Utc);
        Arc::new(Line::new(at, false, "warn", text.to_string()))
    }

    #[test]
    fn the_hand_built_frame_is_what_serde_writes() {
        let lines = vec![line("plain"), line("quote \" and \\ and \u{1} and é")];
        for dropped in [0, 7] {
            let event = Event::LogsLines {
                sub_id: "sub-\"x".into(),
                lines: lines
                    .iter()
                    .map(|l| LogLine {
                        ts: l.ts,
                        level: "warn".into(),
                        text: l.text.clone(),
                    })
                    .collect(),
                dropped: (dropped > 0).then_some(dropped),
            };
            assert_eq!(
                lines_event("sub-\"x", &lines, dropped),
                serde_json::to_string(&event).unwrap()
            );
        }
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_the_next_batch_says_how_many() {
        let mut q = SubQueue::new(3);
        for i in 0..5 {
            q.push(line(&format!("l{i}")));
        }
        let b = q.take(10, usize::MAX);
        let texts: Vec<&str> = b.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["l2", "l3", "l4"]);
        assert_eq!(b.dropped, 2);
        assert_eq!(q.take(10, usize::MAX).dropped, 0, "said once");
    }

    #[test]
    fn batches_are_cut_by_count_and_by_bytes_but_never_empty() {
        let mut q = SubQueue::new(100);
        for i in 0..10 {
            q.push(line(&format!("line number {i}")));
        }
        let b = q.take(4, usize::MAX);
        assert_eq!((b.lines.len(), b.more), (4, true));
        let b = q.take(100, 1);
        assert_eq!(b.lines.len(), 1, "one line even over the byte budget");
        let b = q.take(100, usize::MAX);
        assert_eq!((b.lines.len(), b.more), (5, false));
    }

    #[test]
    fn closing_discards_what_was_queued_and_is_reported_once() {
        let mut q = SubQueue::new(10);
        q.push(line("before expiry"));
        assert!(q.close(CloseReason::GrantExpired));
        assert!(!q.close(CloseReason::GrantRevoked), "first reason stays");
        q.push(line("after expiry"));
        let b = q.take(10, usize::MAX);
        assert!(b.lines.is_empty());
        assert_eq!(b.closed, Some(CloseReason::GrantExpired));
        assert_eq!(q.take(10, usize::MAX).closed, None);
        assert!(q.is_closed() && q.is_empty());
    }

    #[test]
    fn filters_match_substrings_or_regexes_and_refuse_bad_ones() {
        let f = |p: &str, regex| {
            LineFilter::new(&LogFilter {
                pattern: p.into(),
                regex,
            })
        };
        assert!(
            f("timeout", false)
                .unwrap()
                .matches("upstream timeout after 2s")
        );
        assert!(!f("time.ut", false).unwrap().matches("timeout"));
        assert!(f("time.ut", true).unwrap().matches("timeout"));
        assert!(f("(", true).unwrap_err().contains("not a valid regex"));
        assert!(f("", false).unwrap_err().contains("empty"));
        assert!(f(&"a".repeat(2000), false).unwrap_err().contains("longer"));
    }
}
