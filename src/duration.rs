//! Durations as people write them (`30m`, `1h30m`, `90d`) and as they read
//! them back, for the CLI, the policy file and the console's countdowns.
//!
//! # Accepted text
//!
//! A whole number of seconds (`45`), or whole numbers each followed by a
//! unit, largest unit first and each unit at most once: `w` (7 days), `d`,
//! `h`, `m`, `s`. Surrounding whitespace is ignored; nothing else is
//! accepted, so a typo such as `1h30h` or `30M` is an error rather than a
//! guess.
//!
//! # This module must never
//! do I/O or read the clock: it only converts between text and
//! [`std::time::Duration`].

use std::time::Duration;

/// Longest duration accepted: 100 years of 365 days. Anything longer is a
/// typo, and adding it to a timestamp could overflow chrono (which panics).
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * DAY);

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
const WEEK: u64 = 7 * DAY;

/// Units in the only order they may appear.
const UNITS: [(&str, u64); 5] = [
    ("w", WEEK),
    ("d", DAY),
    ("h", HOUR),
    ("m", MINUTE),
    ("s", 1),
];

/// What every error message tells the user to write instead.
const ACCEPTED: &str = "write whole seconds (45) or numbers with units w, d, h, m, s, \
                        largest first (90s, 30m, 1h30m, 2d, 1w)";

/// Why a text is not a duration. Each message ends with the accepted format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration; {ACCEPTED}")]
    Empty,
    #[error("`{input}`: durations cannot be negative; {ACCEPTED}")]
    Negative { input: String },
    #[error("`{input}`: unknown unit `{unit}`; {ACCEPTED}")]
    UnknownUnit { input: String, unit: String },
    #[error("`{input}`: {reason}; {ACCEPTED}")]
    Malformed { input: String, reason: &'static str },
    #[error("`{input}` is too long: at most 36500d (100 years)")]
    TooLong { input: String },
}

/// Reads `45`, `90s`, `30m`, `2h`, `1h30m`, `90d`, `1w` and the like.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let text = s.trim();
    let malformed = |reason| DurationError::Malformed {
        input: s.to_string(),
        reason,
    };
    let too_long = || DurationError::TooLong {
        input: s.to_string(),
    };
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text.starts_with('-') {
        return Err(DurationError::Negative {
            input: s.to_string(),
        });
    }

    let mut total: u64 = 0;
    // Units go largest first, once each: the next one must sit at this
    // index of UNITS or later.
    let mut next_unit = 0;
    let mut rest = text;
    while let Some(first) = rest.chars().next() {
        if first.is_whitespace() {
            return Err(malformed("no spaces inside a duration (write 1h30m)"));
        }
        if first.is_alphabetic() {
            return Err(malformed("expected a number before each unit"));
        }
        if !first.is_ascii_digit() {
            return Err(malformed("unexpected character"));
        }
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (digits, after) = rest.split_at(digits_end);
        let number: u64 = digits.parse().map_err(|_| too_long())?;
        let unit_end = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        if unit.is_empty() {
            let bare_number = next_unit == 0 && after.is_empty();
            if bare_number {
                // Plain seconds, the unit of the CLI and the protocol.
                return checked(Duration::from_secs(number)).ok_or_else(too_long);
            }
            return Err(match after.chars().next() {
                None => malformed("the last number has no unit (write 1h30m, not 1h30)"),
                Some('.' | ',') => malformed("fractions are not accepted (write 1h30m, not 1.5h)"),
                Some(c) if c.is_whitespace() => {
                    malformed("no spaces inside a duration (write 1h30m)")
                }
                Some(_) => malformed("unexpected character"),
            });
        }
        let Some(offset) = UNITS[next_unit..].iter().position(|(u, _)| *u == unit) else {
            return Err(if UNITS.iter().any(|(u, _)| *u == unit) {
                malformed("units must go from largest to smallest, each at most once")
            } else {
                DurationError::UnknownUnit {
                    input: s.to_string(),
                    unit: unit.to_string(),
                }
            });
        };
        let index = next_unit + offset;
        total = number
            .checked_mul(UNITS[index].1)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(too_long)?;
        next_unit = index + 1;
        rest = after;
    }
    checked(Duration::from_secs(total)).ok_or_else(too_long)
}

fn checked(d: Duration) -> Option<Duration> {
    (d <= MAX_DURATION).then_some(d)
}

/// Whole days, hours, minutes and seconds of `d`, largest first.
fn parts(d: Duration) -> [(u64, &'static str); 4] {
    let secs = d.as_secs();
    [
        (secs / DAY, "d"),
        (secs % DAY / HOUR, "h"),
        (secs % HOUR / MINUTE, "m"),
        (secs % MINUTE, "s"),
    ]
}

/// Exact compact text for whole seconds, every non-zero unit from days down:
/// `45s`, `1h30m`, `2d3h`, `1d0h0m5s` → `1d5s`, zero → `0s`. Weeks are not
/// used (`14d` reads better than `2w`). Parsing the result gives `d` back,
/// minus any fraction of a second, which is dropped.
pub fn format_duration(d: Duration) -> String {
    let mut out = String::new();
    for (n, unit) in parts(d) {
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(unit);
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// Short text for a countdown: the largest non-zero unit and the one just
/// below it when that is non-zero: `1d2h`, `2h5m`, `5m3s`, `45s`, `1d` (for
/// 1 day 0 hours 5 minutes). Rounded down, so a countdown never shows more
/// time than is left.
pub fn format_countdown(d: Duration) -> String {
    let parts = parts(d);
    let Some(first) = parts.iter().position(|(n, _)| *n > 0) else {
        return "0s".to_string();
    };
    let mut out = format!("{}{}", parts[first].0, parts[first].1);
    if let Some((n, unit)) = parts.get(first + 1).filter(|(n, _)| *n > 0) {
        out.push_str(&n.to_string());
        out.push_str(unit);
    }
    out
}

/// `#[serde(with = "crate::duration::serde_human")]` for a [`Duration`]
/// field: reads `"30m"`-style text or an integer number of seconds, writes
/// the text of [`format_duration`] (whole seconds).
pub mod serde_human {
    use std::fmt;
    use std::time::Duration;

    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    use super::{MAX_DURATION, format_duration, parse_duration};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(HumanDuration)
    }

    struct HumanDuration;

    impl Visitor<'_> for HumanDuration {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a duration such as \"30m\" or \"1h30m\", or a whole number of seconds")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse_duration(v).map_err(E::custom)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            let d = Duration::from_secs(v);
            if d > MAX_DURATION {
                return Err(E::custom(format!(
                    "{v} seconds is too long: at most 36500d (100 years)"
                )));
            }
            Ok(d)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            match u64::try_from(v) {
                Ok(v) => self.visit_u64(v),
                Err(_) => Err(E::custom(format!("{v}: durations cannot be negative"))),
            }
        }
    }

    /// The same for `Option<Duration>`; `null` or a missing field (with
    /// `#[serde(default)]`) is `None`.
    pub mod option {
        use std::time::Duration;

        use serde::{Deserialize, Deserializer, Serializer};

        struct Wrapped(Duration);

        impl<'de> Deserialize<'de> for Wrapped {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                super::deserialize(d).map(Wrapped)
            }
        }

        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            Ok(Option::<Wrapped>::deserialize(d)?.map(|w| w.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn reads_every_documented_form() {
        for (text, want) in [
            ("90s", 90),
            ("30m", 1_800),
            ("2h", 7_200),
            ("1h30m", 5_400),
            ("90d", 90 * DAY),
            ("1w", WEEK),
            ("45", 45),
            ("0", 0),
            ("0s", 0),
            ("1w2d3h4m5s", WEEK + 2 * DAY + 3 * HOUR + 4 * MINUTE + 5),
            ("  15m\n", 900),
            ("007m", 420),
        ] {
            assert_eq!(parse_duration(text), Ok(secs(want)), "{text:?}");
        }
    }

    #[test]
    fn empty_text_is_refused_with_the_accepted_format() {
        for text in ["", "   "] {
            let err = parse_duration(text).unwrap_err();
            assert_eq!(err, DurationError::Empty);
            assert!(err.to_string().contains("1h30m"), "{err}");
        }
    }

    #[test]
    fn negative_durations_are_refused() {
        for text in ["-5m", "-45", " -1h"] {
            let err = parse_duration(text).unwrap_err();
            assert!(
                matches!(err, DurationError::Negative { .. }),
                "{text}: {err:?}"
            );
            assert!(err.to_string().contains("cannot be negative"));
        }
    }

    #[test]
    fn unknown_units_are_named() {
        let err = parse_duration("30M").unwrap_err();
        assert_eq!(
            err,
            DurationError::UnknownUnit {
                input: "30M".into(),
                unit: "M".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "`30M`: unknown unit `M`; write whole seconds (45) or numbers with units \
             w, d, h, m, s, largest first (90s, 30m, 1h30m, 2d, 1w)"
        );
        for (text, unit) in [
            ("5ms", "ms"),
            ("2y", "y"),
            ("1hour", "hour"),
            ("1h5min", "min"),
        ] {
            assert_eq!(
                parse_duration(text),
                Err(DurationError::UnknownUnit {
                    input: text.into(),
                    unit: unit.into()
                })
            );
        }
    }

    #[test]
    fn ambiguous_or_garbled_text_says_what_is_wrong() {
        for (text, fragment) in [
            ("1.5h", "fractions"),
            ("1h30", "no unit"),
            ("1h 30m", "no spaces"),
            ("30m1h", "largest to smallest"),
            ("1h1h", "largest to smallest"),
            ("h", "number before"),
            ("+5m", "unexpected"),
            ("5m!", "unexpected"),
            ("5_000s", "unexpected"),
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(
                matches!(err, DurationError::Malformed { .. }),
                "{text}: {err:?}"
            );
            assert!(err.to_string().contains(fragment), "{text}: {err}");
        }
    }

    #[test]
    fn absurdly_long_durations_are_refused_not_wrapped() {
        for text in [
            "99999999999999999999999s",
            "18446744073709551615w",
            "30000000000w",
            "36501d",
            "3153600001",
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(
                matches!(err, DurationError::TooLong { .. }),
                "{text}: {err:?}"
            );
        }
        assert_eq!(parse_duration("36500d"), Ok(MAX_DURATION));
    }

    #[test]
    fn formats_compactly_and_exactly() {
        for (d, want) in [
            (0, "0s"),
            (45, "45s"),
            (60, "1m"),
            (5_400, "1h30m"),
            (2 * DAY + 3 * HOUR, "2d3h"),
            (DAY + 5, "1d5s"),
            (14 * DAY, "14d"),
            (DAY + 2 * HOUR + 3 * MINUTE + 4, "1d2h3m4s"),
        ] {
            assert_eq!(format_duration(secs(d)), want);
        }
        assert_eq!(format_duration(Duration::from_millis(1_999)), "1s");
        assert_eq!(format_duration(Duration::from_millis(999)), "0s");
    }

    #[test]
    fn countdowns_show_the_two_largest_units_rounded_down() {
        for (d, want) in [
            (0, "0s"),
            (45, "45s"),
            (5 * MINUTE + 3, "5m3s"),
            (2 * HOUR + 5 * MINUTE + 59, "2h5m"),
            (DAY + 2 * HOUR + 59 * MINUTE, "1d2h"),
            (DAY + 5 * MINUTE, "1d"),
            (3 * HOUR + 7, "3h"),
            (40 * DAY, "40d"),
        ] {
            assert_eq!(format_countdown(secs(d)), want, "{d}");
        }
        assert_eq!(format_countdown(Duration::from_millis(59_999)), "59s");
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Config {
        #[serde(with = "crate::duration::serde_human")]
        ttl: Duration,
        #[serde(default, with = "crate::duration::serde_human::option")]
        grace: Option<Duration>,
    }

    #[test]
    fn config_fields_take_text_or_seconds() {
        let c: Config = toml::from_str("ttl = \"1h30m\"\ngrace = 30").unwrap();
        assert_eq!(
            c,
            Config {
                ttl: secs(5_400),
                grace: Some(secs(30))
            }
        );
        let c: Config = serde_json::from_str(r#"{"ttl": 45}"#).unwrap();
        assert_eq!(c.ttl, secs(45));
        assert_eq!(c.grace, None);
        let c: Config = serde_json::from_str(r#"{"ttl": "2d", "grace": null}"#).unwrap();
        assert_eq!(c.ttl, secs(2 * DAY));
        assert_eq!(c.grace, None);
    }

    #[test]
    fn config_fields_are_written_as_text() {
        let c = Config {
            ttl: secs(5_400),
            grace: Some(secs(DAY)),
        };
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"{"ttl":"1h30m","grace":"1d"}"#);
        assert_eq!(serde_json::from_str::<Config>(&json).unwrap(), c);
    }

    #[test]
    fn bad_config_values_explain_themselves() {
        let err = toml::from_str::<Config>("ttl = \"1.5h\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("fractions"), "{err}");
        let err = toml::from_str::<Config>("ttl = -5")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot be negative"), "{err}");
        let err = serde_json::from_str::<Config>(r#"{"ttl": 1.5}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("whole number of seconds"), "{err}");
        let err = serde_json::from_str::<Config>(r#"{"ttl": 18446744073709551615}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("too long"), "{err}");
    }

    proptest! {
        #[test]
        fn formatted_durations_parse_back_to_themselves(n in 0..=MAX_DURATION.as_secs()) {
            let text = format_duration(secs(n));
            prop_assert_eq!(parse_duration(&text), Ok(secs(n)), "{}", text);
        }

        #[test]
        fn countdowns_never_overstate_and_lose_less_than_the_second_unit(
            n in 0..=MAX_DURATION.as_secs(),
        ) {
            let text = format_countdown(secs(n));
            let shown = parse_duration(&text).unwrap().as_secs();
            prop_assert!(shown <= n, "{} -> {}", n, text);
            // What is dropped is less than one of the smaller unit shown.
            let most_dropped = match n {
                n if n >= DAY => HOUR - 1,
                n if n >= HOUR => MINUTE - 1,
                _ => 0,
            };
            prop_assert!(n - shown <= most_dropped, "{} -> {}", n, text);
        }

        #[test]
        fn arbitrary_text_never_panics(s in ".{0,24}") {
            let _ = parse_duration(&s);
        }
    }
}
