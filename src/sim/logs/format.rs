//! Line builders for the three formats the simulated services write.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::sources::Level;

/// RFC 3339, UTC, milliseconds: `2026-11-24T16:40:01.123Z`.
pub fn rfc3339_ms(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// log4j's default date: `2026-11-24 16:40:01,123` (UTC, no zone, as a
/// JVM logging in UTC writes it).
pub fn log4j_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S,%3f").to_string()
}

/// One JSON object on one line, keys in the order given (a structured
/// logger's order: ts, level, msg, then fields).
pub struct JsonLine(String);

impl JsonLine {
    pub fn new(now: DateTime<Utc>, level: Level, msg: &str) -> Self {
        let mut s = String::with_capacity(192);
        let _ = write!(
            s,
            r#"{{"ts":"{}","level":"{}","msg":{}"#,
            rfc3339_ms(now),
            level.as_str(),
            quote_json(msg)
        );
        JsonLine(s)
    }

    pub fn str(mut self, key: &str, value: &str) -> Self {
        let _ = write!(self.0, r#","{key}":{}"#, quote_json(value));
        self
    }

    pub fn num(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        let _ = write!(self.0, r#","{key}":{value}"#);
        self
    }

    pub fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

fn quote_json(s: &str) -> String {
    serde_json::to_string(s).expect("a str always serialises")
}

/// `key=value` pairs, values quoted only when they need it, as Go's
/// logfmt loggers write them.
pub struct Logfmt(String);

impl Logfmt {
    pub fn new(now: DateTime<Utc>, level: Level, msg: &str) -> Self {
        let mut line = Logfmt(String::with_capacity(160));
        let _ = write!(line.0, "ts={} level={}", rfc3339_ms(now), level.as_str());
        line.kv("msg", msg)
    }

    pub fn kv(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        let value = value.to_string();
        let bare = !value.is_empty()
            && !value
                .bytes()
                .any(|b| b <= b' ' || b == b'=' || b == b'"' || b == b'\\');
        if bare {
            let _ = write!(self.0, " {key}={value}");
        } else {
            let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
            let _ = write!(self.0, " {key}=\"{escaped}\"");
        }
        self
    }

    pub fn finish(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 16, 40, 1).unwrap() + chrono::Duration::milliseconds(123)
    }

    #[test]
    fn json_lines_are_valid_json_in_the_given_order() {
        let line = JsonLine::new(at(), Level::Info, "say \"hi\"")
            .num("n", 3)
            .str("k", "v")
            .finish();
        assert_eq!(
            line,
            r#"{"ts":"2026-11-24T16:40:01.123Z","level":"info","msg":"say \"hi\"","n":3,"k":"v"}"#
        );
        serde_json::from_str::<serde_json::Value>(&line).unwrap();
    }

    #[test]
    fn logfmt_quotes_only_what_needs_it() {
        let line = Logfmt::new(at(), Level::Warn, "upstream slow")
            .kv("upstream", "payments")
            .kv("err", r#"said "no""#)
            .finish();
        assert_eq!(
            line,
            r#"ts=2026-11-24T16:40:01.123Z level=warn msg="upstream slow" upstream=payments err="said \"no\"""#
        );
    }

    #[test]
    fn log4j_time_uses_a_comma_before_milliseconds() {
        assert_eq!(log4j_time(at()), "2026-11-24 16:40:01,123");
    }
}
