//! When a log line says it was written, so a subscription's `since_s` can be
//! served from history read back from the end of a file
//! ([`super::tail::Since::Last`]) and filtered here ([`SinceFilter`]).
//!
//! # Recognised timestamps
//!
//! - ISO 8601 / RFC 3339 at the start of the line, optionally inside `[`:
//!   `2024-01-15T10:23:45Z`, `2024-01-15T10:23:45.123456+01:00`,
//!   `2024-01-15 10:23:45,123` (Python), `2024/01/15 10:23:45` (nginx).
//! - JSON fields `ts`, `time`, `timestamp`, `@timestamp`, `@t`, `t`: an ISO
//!   string or a Unix epoch number in seconds, milliseconds, microseconds or
//!   nanoseconds (told apart by magnitude).
//! - logfmt pairs `ts=`, `time=`, `t=`, `timestamp=` holding an ISO value.
//!
//! A timestamp without an offset is taken as UTC. Syslog's `Jan 15
//! 10:23:45` (no year) and klog's `0115 10:23:45` are not read: such lines
//! inherit the previous line's verdict in [`SinceFilter`].
//!
//! # This module must never
//! read the clock or do I/O: the cutoff is given by the caller.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};

use super::fields::{self, Value};
use super::tail::TailLine;

const TS_KEYS: &[&str] = &["ts", "time", "timestamp", "@timestamp", "@t", "t"];

/// The time a line says it was written, if it says so in a known format.
pub fn parse_timestamp(line: &str) -> Option<DateTime<Utc>> {
    let head = line.trim_start().trim_start_matches('[');
    if let Some(ts) = iso_prefix(head.as_bytes()) {
        return Some(ts);
    }
    if line.contains('{')
        && let Some((_, value)) = fields::json_field(line, TS_KEYS)
    {
        return match value {
            Value::Str(s) => iso_prefix(s.as_bytes()),
            Value::Bare(n) => epoch(n),
        };
    }
    match fields::logfmt_field(line, TS_KEYS)? {
        (_, Value::Str(s) | Value::Bare(s)) => iso_prefix(s.as_bytes()),
    }
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|±HH:MM|±HHMM]` at the start of `b`
/// (`/` also accepted between date parts; `,` before the fraction).
fn iso_prefix(b: &[u8]) -> Option<DateTime<Utc>> {
    let num = |at: usize, len: usize| -> Option<u32> {
        let digits = b.get(at..at + len)?;
        digits.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let sep = |at: usize, allowed: &[u8]| b.get(at).is_some_and(|c| allowed.contains(c));
    let year = num(0, 4)?;
    if !(sep(4, b"-/") && sep(7, b"-/") && sep(10, b"T ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (month, day, hour, min, sec) = (
        num(5, 2)?,
        num(8, 2)?,
        num(11, 2)?,
        num(14, 2)?,
        num(17, 2)?,
    );
    let mut i = 19;
    let mut nanos = 0u32;
    if sep(i, b".,") {
        i += 1;
        let mut scale = 100_000_000;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            nanos += u32::from(c - b'0') * scale;
            scale /= 10;
            i += 1;
        }
    }
    let naive = NaiveDate::from_ymd_opt(year as i32, month, day)?.and_hms_nano_opt(
        hour,
        min,
        sec.min(59),
        nanos,
    )?;
    let offset_secs = match b.get(i) {
        Some(&sign @ (b'+' | b'-')) => {
            let h = num(i + 1, 2)?;
            let m = if sep(i + 3, b":") {
                num(i + 4, 2)?
            } else {
                num(i + 3, 2).unwrap_or(0)
            };
            let secs = (h * 3600 + m * 60) as i32;
            if sign == b'-' { -secs } else { secs }
        }
        // `Z`, or no offset at all (taken as UTC).
        _ => 0,
    };
    let local = FixedOffset::east_opt(offset_secs)?
        .from_local_datetime(&naive)
        .single()?;
    Some(local.with_timezone(&Utc))
}

/// A Unix time: whole seconds, ms, µs or ns (told apart by magnitude), or
/// seconds with a decimal fraction (zap's `1705314225.123`).
fn epoch(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(n) = text.parse::<i64>() {
        let nanos = match n {
            ..0 => return None,
            100_000_000_000_000_000.. => n,
            100_000_000_000_000.. => n.checked_mul(1_000)?,
            100_000_000_000.. => n.checked_mul(1_000_000)?,
            _ => n.checked_mul(1_000_000_000)?,
        };
        return Some(DateTime::from_timestamp_nanos(nanos));
    }
    let (whole, frac) = text.split_once('.')?;
    let secs: i64 = whole.parse().ok().filter(|s| *s >= 0)?;
    if frac.is_empty() || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut nanos = 0u32;
    for (i, c) in frac.bytes().take(9).enumerate() {
        nanos += u32::from(c - b'0') * 10u32.pow(8 - i as u32);
    }
    DateTime::from_timestamp(secs, nanos)
}

/// Keeps the history lines written at or after a cutoff, and every live
/// line: how the gateway serves `since_s` (cutoff = now − since_s) from
/// lines read back with [`super::tail::Since::Last`].
///
/// A history line without a timestamp (a stack-trace continuation, say)
/// gets the verdict of the line before it in the same file; one at the very
/// start of a file's history is dropped, as is the history of a file whose
/// lines carry no recognisable timestamp at all.
#[derive(Debug, Clone)]
pub struct SinceFilter {
    cutoff: DateTime<Utc>,
    keeping: HashMap<Arc<Path>, bool>,
}

impl SinceFilter {
    pub fn new(cutoff: DateTime<Utc>) -> Self {
        SinceFilter {
            cutoff,
            keeping: HashMap::new(),
        }
    }

    /// Whether to pass this line on.
    pub fn keep(&mut self, line: &TailLine) -> bool {
        if !line.history {
            return true;
        }
        let keeping = self.keeping.entry(line.path.clone()).or_insert(false);
        if let Some(ts) = parse_timestamp(&line.text) {
            *keeping = ts >= self.cutoff;
        }
        *keeping
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn timestamps_in_common_layouts_are_read() {
        for (line, want) in [
            ("2024-01-15T10:23:45Z INFO x", "2024-01-15T10:23:45Z"),
            (
                "2024-01-15T10:23:45.123456789Z stdout F {}",
                "2024-01-15T10:23:45.123456789Z",
            ),
            (
                "2024-01-15T11:23:45.5+01:00 WARN x",
                "2024-01-15T10:23:45.5Z",
            ),
            ("2024-01-15T05:23:45-0500 x", "2024-01-15T10:23:45Z"),
            (
                "2024-01-15 10:23:45,123 ERROR [main] x",
                "2024-01-15T10:23:45.123Z",
            ),
            ("2024/01/15 10:23:45 [error] 1#0: x", "2024-01-15T10:23:45Z"),
            (
                "[2024-01-15T10:23:45Z INFO  my_crate] x",
                "2024-01-15T10:23:45Z",
            ),
            (
                r#"{"level":"info","ts":"2024-01-15T10:23:45.1Z"}"#,
                "2024-01-15T10:23:45.1Z",
            ),
            (
                r#"{"@timestamp":"2024-01-15T10:23:45Z","msg":"x"}"#,
                "2024-01-15T10:23:45Z",
            ),
            (
                r#"{"level":30,"time":1705314225123,"msg":"pino"}"#,
                "2024-01-15T10:23:45.123Z",
            ),
            (
                r#"{"level":"info","ts":1705314225.5,"msg":"zap"}"#,
                "2024-01-15T10:23:45.5Z",
            ),
            (
                r#"{"ts":1705314225000000,"msg":"us"}"#,
                "2024-01-15T10:23:45Z",
            ),
            (
                r#"{"ts":1705314225000000000,"msg":"ns"}"#,
                "2024-01-15T10:23:45Z",
            ),
            (
                "level=info ts=2024-01-15T10:23:45Z msg=x",
                "2024-01-15T10:23:45Z",
            ),
            (
                r#"time="2024-01-15T10:23:45Z" level=info"#,
                "2024-01-15T10:23:45Z",
            ),
        ] {
            assert_eq!(parse_timestamp(line), Some(at(want)), "{line:?}");
        }
    }

    #[test]
    fn lines_without_a_readable_timestamp_have_none() {
        for line in [
            "",
            "\tat com.example.Foo(Foo.java:1)",
            "Jan 15 10:23:45 web-01 app[1]: x",
            "2024-13-45T10:23:45Z impossible date",
            "2024-01-15 no time",
            r#"{"msg":"no time here"}"#,
            "msg=\"ts=2024-01-15T10:23:45Z\"",
        ] {
            assert_eq!(parse_timestamp(line), None, "{line:?}");
        }
    }

    fn line(path: &Arc<Path>, text: &str, history: bool) -> TailLine {
        TailLine {
            text: text.to_string(),
            truncated: false,
            history,
            path: path.clone(),
        }
    }

    #[test]
    fn since_keeps_recent_history_with_its_continuations_and_all_live_lines() {
        let a: Arc<Path> = Arc::from(Path::new("/logs/a.log"));
        let b: Arc<Path> = Arc::from(Path::new("/logs/b.log"));
        let mut f = SinceFilter::new(at("2024-01-15T10:00:00Z"));
        let kept: Vec<bool> = [
            line(&a, "  continuation of something older", true),
            line(&a, "2024-01-15T09:59:59Z ERROR too old", true),
            line(&a, "\tat too.old(Stack.java:1)", true),
            line(&b, "2024-01-15T10:00:00Z INFO b is recent", true),
            line(&a, "2024-01-15T10:00:01Z ERROR recent", true),
            line(&a, "\tat recent(Stack.java:1)", true),
            line(&a, "no timestamp but live", false),
            line(&b, "b continuation", true),
        ]
        .iter()
        .map(|l| f.keep(l))
        .collect();
        assert_eq!(kept, [false, false, false, true, true, true, true, true]);
    }
}
