//! A log line's severity, read from the common formats so the console can
//! colour lines and filter ERROR+ / WARN+ whatever wrote them.
//!
//! # Recognised formats
//!
//! - JSON objects (also after a prefix such as a CRI `… stdout F `): the
//!   first of the keys `level`, `lvl`, `severity`, `loglevel`, `log.level`,
//!   `@l`, with a word value (`"error"`, `"ERR"`, `"Warning"`,
//!   `"Information"`, `"FATAL"`, …) or a pino/bunyan (10…60) or syslog
//!   (0…7) number.
//! - logfmt: `level=warn`, `lvl=…`, `severity=…` (quoted or not), wherever
//!   the pair stands once the line shows it is logfmt.
//! - Text headers: a level word among the first tokens of the line, after
//!   what a logger puts before it: timestamps, dates, pids, `[thread]`,
//!   `logger.names`, `host app[123]:`, ` - `. Bracketed forms `[ERROR]`,
//!   `[error]`, `[core:error]`, `[W]`; Python's `ERROR:root:…`; winston's
//!   `info: …`; klog/glog `E0115 10:23:45.123 …`; ANSI colour codes are
//!   skipped.
//!
//! The header ends at the first ordinary word of the message: after it only
//! an UPPERCASE level word still counts, and after two of them nothing
//! does, so "INFO … no errors found" is info and "Payment error for order
//! 7" is unknown. FATAL, CRITICAL, PANIC, EMERG, ALERT and SEVERE count as
//! [`Level::Error`].
//!
//! # This module must never
//! allocate, fail or use a regex: [`parse_level`] runs on every line a
//! gateway reads, a few passes over its bytes at most.

use serde::{Deserialize, Serialize};

use super::fields::{self, Value};

/// A line's severity, serialised as `"error"`, `"warn"`, `"info"`,
/// `"debug"`, `"trace"`, `"unknown"` (the protocol's `LogLine::level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
    Unknown,
}

impl Level {
    /// The wire name (`"error"`, `"warn"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
            Level::Unknown => "unknown",
        }
    }

    /// Higher is more severe: error 5, warn 4, info 3, debug 2, trace 1,
    /// unknown 0 (so an "at least WARN" filter drops unknown lines unless the
    /// caller decides otherwise, e.g. for stack-trace continuations).
    pub fn severity(self) -> u8 {
        match self {
            Level::Error => 5,
            Level::Warn => 4,
            Level::Info => 3,
            Level::Debug => 2,
            Level::Trace => 1,
            Level::Unknown => 0,
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Keys whose value is the level, in JSON and logfmt.
const LEVEL_KEYS: &[&str] = &["level", "lvl", "severity", "loglevel", "log.level", "@l"];

/// Tokens looked at before giving up on a text header.
const MAX_HEADER_TOKENS: usize = 16;

/// Ordinary (non-header) words tolerated before the header is over; after
/// the first one only UPPERCASE level words count.
const MAX_PLAIN_WORDS: usize = 1;

/// The severity of one line; [`Level::Unknown`] when no format matched.
pub fn parse_level(line: &str) -> Level {
    match scan_header(line.as_bytes()) {
        Header::Found(level) => level,
        Header::Json(at) => match fields::json_field(&line[at..], LEVEL_KEYS) {
            Some((_, value)) => value_level(value),
            None => Level::Unknown,
        },
        Header::End { saw_pair: true } => match fields::logfmt_field(line, LEVEL_KEYS) {
            Some((_, value)) => value_level(value),
            None => Level::Unknown,
        },
        Header::End { saw_pair: false } => Level::Unknown,
    }
}

/// A level word as a field value: any spelling, single letters included,
/// and numbers for JSON.
fn value_level(value: Value<'_>) -> Level {
    let text = value.text().trim();
    if let Some(level) = word_level(text.as_bytes()).map(|(level, _)| level) {
        return level;
    }
    if let [c] = text.as_bytes()
        && let Some(level) = letter_level(c.to_ascii_uppercase())
    {
        return level;
    }
    match (value, text.parse::<u32>()) {
        (Value::Bare(_), Ok(n)) => number_level(n),
        _ => Level::Unknown,
    }
}

/// pino/bunyan levels (10 trace … 60 fatal) and syslog severities (0 emerg
/// … 7 debug); the two ranges do not overlap.
fn number_level(n: u32) -> Level {
    match n {
        0..=3 | 50 | 60 => Level::Error,
        4 | 40 => Level::Warn,
        5 | 6 | 30 => Level::Info,
        7 | 20 => Level::Debug,
        10 => Level::Trace,
        _ => Level::Unknown,
    }
}

/// A level word and whether it is common enough to trust in any case
/// (`error`, `Warning`) rather than only UPPERCASE or bracketed (`ALERT`,
/// `[notice]`), since rarer ones are also ordinary English.
fn word_level(word: &[u8]) -> Option<(Level, bool)> {
    // Longest level word is "informational" (13 bytes).
    if word.len() > 13 || word.is_empty() {
        return None;
    }
    let mut lower = [0u8; 13];
    for (d, s) in lower.iter_mut().zip(word) {
        *d = s.to_ascii_lowercase();
    }
    let found = match &lower[..word.len()] {
        b"error" | b"err" | b"fatal" | b"critical" => (Level::Error, true),
        b"crit" | b"panic" | b"dpanic" | b"emerg" | b"emergency" | b"alert" | b"severe" => {
            (Level::Error, false)
        }
        b"warn" | b"warning" => (Level::Warn, true),
        b"wrn" => (Level::Warn, false),
        b"info" => (Level::Info, true),
        b"inf" | b"information" | b"informational" | b"notice" => (Level::Info, false),
        b"debug" => (Level::Debug, true),
        b"dbg" | b"fine" | b"config" => (Level::Debug, false),
        b"trace" => (Level::Trace, true),
        b"trc" | b"finer" | b"finest" | b"verbose" => (Level::Trace, false),
        _ => return None,
    };
    Some(found)
}

/// `[E]`, `[W]`, … and klog's leading letter.
fn letter_level(c: u8) -> Option<Level> {
    match c {
        b'E' | b'F' | b'C' => Some(Level::Error),
        b'W' => Some(Level::Warn),
        b'I' => Some(Level::Info),
        b'D' => Some(Level::Debug),
        b'T' | b'V' => Some(Level::Trace),
        _ => None,
    }
}

enum Header {
    Found(Level),
    /// A JSON object starts at this byte.
    Json(usize),
    /// The header is over; `saw_pair` if it held logfmt `key=value` pairs.
    End {
        saw_pair: bool,
    },
}

/// Reads the tokens a logger puts before the message, stopping at the
/// first level word, a `{`, a quoted string or the message's words.
fn scan_header(b: &[u8]) -> Header {
    let mut i = 0;
    let mut depth = 0usize;
    let mut tokens = 0;
    let mut plain = 0;
    let mut saw_pair = false;
    while i < b.len() && tokens < MAX_HEADER_TOKENS {
        match b[i] {
            b'[' | b'(' | b'<' => {
                depth += 1;
                i += 1;
            }
            b']' | b')' | b'>' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'{' => return Header::Json(i),
            // A quoted string before any level: the message (an access
            // log's request line, say).
            b'"' => return Header::End { saw_pair },
            0x1b => i = skip_ansi(b, i),
            c if is_separator(c) => i += 1,
            _ => {
                let start = i;
                while i < b.len() && !is_separator(b[i]) && !is_special(b[i]) {
                    i += 1;
                }
                if i == start {
                    // A lone special byte such as `=` or `}`.
                    i += 1;
                    continue;
                }
                tokens += 1;
                let word = &b[start..i];
                if b.get(i) == Some(&b'=') {
                    saw_pair = true;
                    let (value, next) = pair_value(b, i + 1);
                    if LEVEL_KEYS
                        .iter()
                        .any(|k| word.eq_ignore_ascii_case(k.as_bytes()))
                    {
                        let level = word_level(value)
                            .map(|(l, _)| l)
                            .or_else(|| match value {
                                [c] => letter_level(c.to_ascii_uppercase()),
                                _ => None,
                            })
                            .unwrap_or(Level::Unknown);
                        if level != Level::Unknown {
                            return Header::Found(level);
                        }
                    }
                    i = next;
                    continue;
                }
                let bracketed = depth > 0;
                if let Some((level, common)) = word_level(word) {
                    let upper = word.iter().all(|c| !c.is_ascii_lowercase());
                    if upper || bracketed || (common && plain == 0) {
                        return Header::Found(level);
                    }
                }
                if let [c] = word {
                    let alone = start > 0 && b[start - 1] == b'[' && b.get(i) == Some(&b']');
                    if alone && let Some(level) = letter_level(*c) {
                        return Header::Found(level);
                    }
                }
                if tokens == 1
                    && let Some(level) = klog_level(word)
                {
                    return Header::Found(level);
                }
                let headerish = bracketed
                    || word.iter().any(|c| {
                        c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-' | b'/' | b'#')
                    })
                    || b.get(i) == Some(&b'[')
                    || is_calendar_word(word)
                    || word == b"stdout"
                    || word == b"stderr";
                if !headerish {
                    plain += 1;
                    if plain > MAX_PLAIN_WORDS {
                        return Header::End { saw_pair };
                    }
                }
            }
        }
    }
    Header::End { saw_pair }
}

fn is_separator(c: u8) -> bool {
    c.is_ascii_whitespace() || matches!(c, b':' | b',' | b';' | b'|')
}

/// Bytes that end a word and have a meaning of their own in the header.
fn is_special(c: u8) -> bool {
    matches!(
        c,
        b'[' | b'(' | b'<' | b']' | b')' | b'>' | b'{' | b'}' | b'"' | b'=' | 0x1b
    )
}

/// The value of a logfmt pair whose `=` is just before `from`, and where
/// the scan continues.
fn pair_value(b: &[u8], from: usize) -> (&[u8], usize) {
    if b.get(from) == Some(&b'"') {
        let end = fields::string_end(b, from + 1);
        (&b[from + 1..end], end + 1)
    } else {
        let end = b[from..]
            .iter()
            .position(|c| c.is_ascii_whitespace())
            .map_or(b.len(), |p| from + p);
        (&b[from..end], end)
    }
}

/// klog/glog: `E0115` (a level letter and MMDD).
fn klog_level(word: &[u8]) -> Option<Level> {
    match word {
        [c @ (b'I' | b'W' | b'E' | b'F'), rest @ ..]
            if rest.len() == 4 && rest.iter().all(u8::is_ascii_digit) =>
        {
            letter_level(*c)
        }
        _ => None,
    }
}

/// Month and weekday names (syslog, Apache): part of a timestamp.
fn is_calendar_word(word: &[u8]) -> bool {
    const NAMES: [&[u8; 3]; 19] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec", b"mon", b"tue", b"wed", b"thu", b"fri", b"sat", b"sun",
    ];
    word.len() == 3 && NAMES.iter().any(|n| word.eq_ignore_ascii_case(&n[..]))
}

/// Skips an ANSI escape sequence (CSI `ESC [ … final`, or ESC + one byte).
fn skip_ansi(b: &[u8], at: usize) -> usize {
    if b.get(at + 1) != Some(&b'[') {
        return at + 2;
    }
    let mut i = at + 2;
    while i < b.len() && !(0x40..=0x7e).contains(&b[i]) {
        i += 1;
    }
    i + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(cases: &[(&str, Level)]) {
        for (line, want) in cases {
            assert_eq!(parse_level(line), *want, "{line:?}");
        }
    }

    #[test]
    fn json_lines_give_their_level_field() {
        check(&[
            (
                r#"{"level":"error","ts":1705314225.12,"msg":"payment declined"}"#,
                Level::Error,
            ),
            (
                r#"{"ts":"2024-01-15T10:23:45Z","lvl":"WARN","msg":"slow upstream"}"#,
                Level::Warn,
            ),
            (
                r#"{"severity":"INFO","message":"listening on :8080"}"#,
                Level::Info,
            ),
            (
                r#"{"time":"…","level":"debug","msg":"cache miss"}"#,
                Level::Debug,
            ),
            (r#"{"level":"trace","msg":"enter"}"#, Level::Trace),
            (r#"{ "Level" : "Warning", "msg": "disk 91%" }"#, Level::Warn),
            (
                r#"{"@t":"2024-01-15T10:23:45Z","@l":"Information","@m":"ok"}"#,
                Level::Info,
            ),
            (r#"{"log.level":"error","message":"boom"}"#, Level::Error),
            (r#"{"level":"ERR","msg":"x"}"#, Level::Error),
            (r#"{"level":"FATAL","msg":"out of memory"}"#, Level::Error),
            (r#"{"severity":"CRITICAL","msg":"db down"}"#, Level::Error),
            (r#"{"level":"panic","msg":"nil map"}"#, Level::Error),
            (r#"{"level":"dpanic","msg":"zap"}"#, Level::Error),
            (r#"{"level":"E","msg":"short"}"#, Level::Error),
        ]);
    }

    #[test]
    fn pino_and_syslog_numbers_are_levels() {
        check(&[
            (
                r#"{"level":50,"time":1705314225123,"msg":"request failed"}"#,
                Level::Error,
            ),
            (r#"{"level":60,"msg":"fatal"}"#, Level::Error),
            (r#"{"level":40,"msg":"retrying"}"#, Level::Warn),
            (r#"{"level":30,"msg":"request completed"}"#, Level::Info),
            (r#"{"level":20,"msg":"cache"}"#, Level::Debug),
            (r#"{"level":10,"msg":"enter"}"#, Level::Trace),
            (r#"{"severity":3,"msg":"syslog err"}"#, Level::Error),
            (r#"{"severity":4,"msg":"syslog warning"}"#, Level::Warn),
            (r#"{"severity":6,"msg":"syslog info"}"#, Level::Info),
            (r#"{"level":35,"msg":"custom"}"#, Level::Unknown),
            // A quoted number is not a pino level.
            (r#"{"level":"50","msg":"x"}"#, Level::Unknown),
        ]);
    }

    #[test]
    fn json_after_a_container_runtime_prefix_is_read() {
        check(&[
            (
                r#"2024-01-15T10:23:45.123456789Z stdout F {"level":"error","msg":"boom"}"#,
                Level::Error,
            ),
            (
                r#"2024-01-15T10:23:45.123456789Z stderr P {"level":"info","msg":"half"}"#,
                Level::Info,
            ),
        ]);
    }

    #[test]
    fn json_values_that_mention_levels_are_not_levels() {
        check(&[
            (
                r#"{"level":"info","msg":"error rate back to normal","error":null}"#,
                Level::Info,
            ),
            (
                r#"{"msg":"level: high","note":"warn users"}"#,
                Level::Unknown,
            ),
            (r#"{"msg":"set level","new_level":"debug"}"#, Level::Unknown),
            (
                r#"{"msg":"quoted \"level\": \"error\" inside","level":"info"}"#,
                Level::Info,
            ),
            (r#"{"level":"chatty","msg":"?"}"#, Level::Unknown),
        ]);
    }

    #[test]
    fn logfmt_lines_give_their_level_pair() {
        check(&[
            (
                "level=warn ts=2024-01-15T10:23:45Z msg=\"slow query\" ms=1200",
                Level::Warn,
            ),
            (
                "ts=2024-01-15T10:23:45Z level=error caller=pay.go:42 msg=declined",
                Level::Error,
            ),
            (
                r#"time="2024-01-15T10:23:45Z" level=info msg="started""#,
                Level::Info,
            ),
            ("t=2024-01-15T10:23:45+0000 lvl=dbug msg=x", Level::Unknown),
            ("t=2024-01-15T10:23:45+0000 lvl=debug msg=x", Level::Debug),
            (
                r#"ts=1 msg="level=error in config file" level=info"#,
                Level::Info,
            ),
            (r#"level="WARNING" msg=x"#, Level::Warn),
            // Far into a long logfmt line.
            (
                &format!(
                    r#"ts=1 a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8 i=9 j=10 k=11 l=12 m=13 n=14 o=15 p=16 q=17 msg="{}" level=error"#,
                    "x ".repeat(200)
                ),
                Level::Error,
            ),
        ]);
    }

    #[test]
    fn bracketed_levels_are_read() {
        check(&[
            (
                "[ERROR] 2024-01-15 10:23:45 payment-service: card declined",
                Level::Error,
            ),
            ("2024-01-15 10:23:45 [WARN] retry 2/3", Level::Warn),
            (
                "2024/01/15 10:23:45 [error] 1234#0: *1 connect() failed (111)",
                Level::Error,
            ),
            (
                "[Mon Jan 15 10:23:45.123 2024] [core:error] [pid 1234] AH00037: x",
                Level::Error,
            ),
            (
                "[Mon Jan 15 10:23:45.123 2024] [ssl:warn] [pid 1234] AH01909: y",
                Level::Warn,
            ),
            (
                "[2024-01-15T10:23:45Z INFO  my_crate::server] listening",
                Level::Info,
            ),
            ("2024-01-15 10:23:45 [W] low disk", Level::Warn),
            ("2024-01-15 10:23:45 [D] cache", Level::Debug),
            ("[notice] 2024 reloading", Level::Info),
        ]);
    }

    #[test]
    fn bare_levels_after_a_timestamp_are_read() {
        check(&[
            (
                "2024-01-15T10:23:45.123456Z  INFO payments::api: request completed",
                Level::Info,
            ),
            (
                "2024-01-15T10:23:45.123Z ERROR payments::db: connection reset",
                Level::Error,
            ),
            (
                "2024-01-15 10:23:45 DEBUG cache miss key=user:42",
                Level::Debug,
            ),
            ("2024-01-15 10:23:45 TRACE enter handler", Level::Trace),
            ("2024-01-15 10:23:45 WARNING disk 91% full", Level::Warn),
            ("2024-01-15 10:23:45 FATAL cannot bind :8080", Level::Error),
            ("ERROR connection refused", Level::Error),
            ("info: server started on port 3000", Level::Info),
            ("error: ENOENT: no such file", Level::Error),
            (
                "Jan 15 10:23:45 web-01 payments[4242]: ERROR card declined",
                Level::Error,
            ),
            ("Jan 15 10:23:45 web payments[4242]: WARN slow", Level::Warn),
            (
                "\x1b[2m2024-01-15T10:23:45Z\x1b[0m \x1b[31mERROR\x1b[0m boom",
                Level::Error,
            ),
        ]);
    }

    #[test]
    fn java_and_python_layouts_are_read() {
        check(&[
            (
                "2024-01-15 10:23:45,123 ERROR [http-nio-8080-exec-1] c.e.PaymentController - Declined",
                Level::Error,
            ),
            (
                "2024-01-15 10:23:45.123 [http-nio-8080-exec-1] WARN  c.e.Retry - attempt 2",
                Level::Warn,
            ),
            (
                "10:23:45.123 [main] INFO  com.example.Application - Started in 2.1s",
                Level::Info,
            ),
            (
                "2024-01-15T10:23:45.123Z  INFO 12345 --- [           main] c.e.Application : Started",
                Level::Info,
            ),
            (
                "2024-01-15 10:23:45,123 - payments.worker - ERROR - charge failed",
                Level::Error,
            ),
            ("ERROR:root:charge failed", Level::Error),
            ("WARNING:payments.worker:slow", Level::Warn),
            (
                "Jan 15, 2024 10:23:45 AM org.apache.Foo bar\nSEVERE: x",
                Level::Unknown,
            ),
            ("SEVERE: Servlet.service() threw exception", Level::Error),
        ]);
    }

    #[test]
    fn klog_prefixes_are_read() {
        check(&[
            (
                "E0115 10:23:45.123456       1 controller.go:123] sync failed",
                Level::Error,
            ),
            (
                "W0115 10:23:45.123456       1 reflector.go:424] watch closed",
                Level::Warn,
            ),
            (
                "I0115 10:23:45.123456       1 leaderelection.go:248] acquired",
                Level::Info,
            ),
        ]);
    }

    #[test]
    fn message_words_that_look_like_levels_are_not_levels() {
        check(&[
            (
                "2024-01-15 10:23:45,123 INFO  [main] c.e.Batch - Job finished, no errors found",
                Level::Info,
            ),
            (
                "2024-01-15 10:23:45 INFO retry after error: timeout",
                Level::Info,
            ),
            (
                "2024-01-15 10:23:45 Payment error for order 7",
                Level::Unknown,
            ),
            ("Processing error queue", Level::Unknown),
            (
                "2024-01-15 10:23:45 user reported an ERROR page",
                Level::Unknown,
            ),
            ("GET /api/errors 200 12ms", Level::Unknown),
            (
                r#"10.0.0.1 - - [15/Jan/2024:10:23:45 +0000] "GET /error HTTP/1.1" 500 12"#,
                Level::Unknown,
            ),
            ("2024-01-15 10:23:45 sent alert to on-call", Level::Unknown),
            ("2024-01-15 10:23:45 config reloaded", Level::Unknown),
            ("\tat com.example.Foo.bar(Foo.java:42)", Level::Unknown),
            (
                "Caused by: java.lang.IllegalStateException: error",
                Level::Unknown,
            ),
            ("Errors: 0, Warnings: 0", Level::Unknown),
            ("", Level::Unknown),
            ("   ", Level::Unknown),
            ("user set level=error on widget", Level::Unknown),
        ]);
    }

    #[test]
    fn levels_serialise_as_lowercase_names() {
        for (level, name) in [
            (Level::Error, "error"),
            (Level::Warn, "warn"),
            (Level::Info, "info"),
            (Level::Debug, "debug"),
            (Level::Trace, "trace"),
            (Level::Unknown, "unknown"),
        ] {
            assert_eq!(
                serde_json::to_string(&level).unwrap(),
                format!("\"{name}\"")
            );
            assert_eq!(level.as_str(), name);
            assert_eq!(level.to_string(), name);
            assert_eq!(
                serde_json::from_str::<Level>(&format!("\"{name}\"")).unwrap(),
                level
            );
        }
        assert!(Level::Error.severity() > Level::Warn.severity());
        assert!(Level::Trace.severity() > Level::Unknown.severity());
    }

    proptest::proptest! {
        #[test]
        fn any_text_gets_a_level_without_panicking(line in "\\PC{0,200}") {
            let _ = parse_level(&line);
        }

        #[test]
        fn any_bytes_near_the_format_markers_get_a_level(
            line in "[\\[\\]{}\"=: a-zA-Z0-9\\\\\x1b]{0,80}"
        ) {
            let _ = parse_level(&line);
        }
    }
}
