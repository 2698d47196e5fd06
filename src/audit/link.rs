//! What checking a chain needs of one entry — its place, its link to the
//! entry before, and whether its own hash holds — read straight from a
//! journal line without building an [`AuditEntry`].
//!
//! `audit verify` on a million-entry journal spends its time turning lines
//! into something hashable; borrowing the line's strings instead of
//! allocating each one, and keeping `at` as the text it already is, is what
//! gets it past half a million entries a second. The bytes hashed are the
//! canonical form of [`super::chain`], exactly as for an `AuditEntry`: the
//! `lines_and_entries_agree` tests pin that.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::chain::{self, EntryView};
use crate::protocol::{AuditEntry, ts};

/// A hash as its 64 lowercase hex characters, kept inline (a million of
/// them would otherwise be a million allocations). Anything that is not
/// 64 ASCII characters is kept as "not a hash", which equals no real one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HashText(Option<[u8; 64]>);

impl HashText {
    pub fn new(text: &str) -> HashText {
        match <[u8; 64]>::try_from(text.as_bytes()) {
            Ok(bytes) if text.is_ascii() => HashText(Some(bytes)),
            _ => HashText(None),
        }
    }

    /// The hash, or `""` when it was not one.
    pub fn as_str(&self) -> &str {
        self.0
            .as_ref()
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

impl std::fmt::Debug for HashText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// One entry as the chain check sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub seq: u64,
    pub prev_hash: HashText,
    pub hash: HashText,
    /// Whether the recorded hash is the hash of the entry's content.
    pub hash_ok: bool,
}

impl Link {
    /// The link of an entry whose hash was already checked.
    pub fn of_entry(e: &AuditEntry, hash_ok: bool) -> Link {
        Link {
            seq: e.seq,
            prev_hash: HashText::new(&e.prev_hash),
            hash: HashText::new(&e.hash),
            hash_ok,
        }
    }

    /// Reads one journal line (an [`AuditEntry`] as JSON) and checks its
    /// hash; `scratch` is reused between lines. Errors say why the line is
    /// not an entry, as parsing it into an `AuditEntry` would.
    pub fn from_line(line: &[u8], scratch: &mut Vec<u8>) -> Result<Link, String> {
        let raw: RawEntry<'_> = serde_json::from_slice(line).map_err(|e| e.to_string())?;
        let at = canonical_at(&raw.at)?;
        let hash = chain::hash_hex(
            &EntryView {
                seq: raw.seq,
                id: &raw.id,
                at: &at,
                actor: &raw.actor,
                origin: &raw.origin,
                action: &raw.action,
                target: &raw.target,
                detail: &raw.detail,
                prev_hash: &raw.prev_hash,
            },
            scratch,
        );
        Ok(Link {
            seq: raw.seq,
            prev_hash: HashText::new(&raw.prev_hash),
            hash: HashText::new(&raw.hash),
            hash_ok: raw.hash.as_bytes() == hash,
        })
    }
}

/// The members of an [`AuditEntry`], borrowed from the line wherever it has
/// no escapes.
#[derive(Deserialize)]
struct RawEntry<'a> {
    seq: u64,
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    at: Cow<'a, str>,
    #[serde(borrow)]
    actor: Cow<'a, str>,
    #[serde(borrow)]
    origin: Cow<'a, str>,
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(borrow)]
    target: Cow<'a, str>,
    detail: Value,
    #[serde(borrow)]
    prev_hash: Cow<'a, str>,
    #[serde(borrow)]
    hash: Cow<'a, str>,
}

/// `at` as the canonical form writes it: the text itself when it already
/// is `YYYY-MM-DDTHH:MM:SS.mmmZ` for a real date and time (what every
/// journal holds), otherwise parsed and written again, as reading it into
/// an `AuditEntry` would.
fn canonical_at(raw: &str) -> Result<Cow<'_, str>, String> {
    if is_canonical_time(raw) {
        return Ok(Cow::Borrowed(raw));
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| Cow::Owned(ts::format(&t.with_timezone(&Utc))))
        .map_err(|e| format!("at: {e}"))
}

fn is_canonical_time(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 24 {
        return false;
    }
    let shape = b"dddd-dd-ddTdd:dd:dd.dddZ";
    if !b.iter().zip(shape).all(|(c, p)| {
        if *p == b'd' {
            c.is_ascii_digit()
        } else {
            c == p
        }
    }) {
        return false;
    }
    let num = |from: usize, to: usize| -> u32 {
        b[from..to]
            .iter()
            .fold(0, |n, d| n * 10 + u32::from(d - b'0'))
    };
    // A leap second (:60) goes the long way: chrono decides what it means.
    NaiveDate::from_ymd_opt(num(0, 4) as i32, num(5, 7), num(8, 10)).is_some()
        && num(11, 13) < 24
        && num(14, 16) < 60
        && num(17, 19) < 60
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::{Draft, GENESIS_HASH, compute_hash, seal};
    use serde_json::json;

    fn entry(detail: Value, actor: &str) -> AuditEntry {
        seal(
            Draft {
                id: "7d1b0c1e-1a4e-4a57-9a52-2d4f0f3c9b10".into(),
                at: DateTime::parse_from_rfc3339("2026-11-24T09:30:00.120Z")
                    .unwrap()
                    .to_utc(),
                actor: actor.into(),
                origin: "console:laptop".into(),
                action: "logs.search".into(),
                target: "payments".into(),
                detail,
            },
            7,
            GENESIS_HASH,
        )
    }

    fn link_of(line: &str) -> Result<Link, String> {
        Link::from_line(line.as_bytes(), &mut Vec::new())
    }

    #[test]
    fn lines_and_entries_agree_on_the_hash() {
        for e in [
            entry(json!({"pattern": "timeout", "lines": 3}), "alice"),
            // Escapes, non-ASCII and nesting take the slow paths.
            entry(json!({"q": "a\"b\\c\n", "z": {"é": [1, null]}}), "al\tice"),
        ] {
            let line = serde_json::to_string(&e).unwrap();
            let link = link_of(&line).unwrap();
            assert_eq!(link, Link::of_entry(&e, true));
            assert_eq!(link.hash.as_str(), compute_hash(&e));
        }
    }

    #[test]
    fn lines_and_entries_agree_on_a_differently_written_line() {
        // Same entry, other spelling: escaped letters, spaces, reordered
        // detail, a time with an offset. The hash is of the meaning.
        let e = entry(json!({"a": 1, "b": "x"}), "alice");
        let line = format!(
            r#"{{ "seq": 7, "id": "{}", "at": "2026-11-24T10:30:00.12+01:00", "actor": "\u0061lice", "origin": "console:laptop", "action": "logs.search", "target": "payments", "detail": {{"b": "x", "a": 1}}, "prev_hash": "{}", "hash": "{}" }}"#,
            e.id, e.prev_hash, e.hash
        );
        let reparsed: AuditEntry = serde_json::from_str(&line).unwrap();
        assert_eq!(compute_hash(&reparsed), e.hash);
        assert!(link_of(&line).unwrap().hash_ok);
    }

    #[test]
    fn an_edited_line_fails_its_hash() {
        let e = entry(json!({"pattern": "timeout"}), "alice");
        let line = serde_json::to_string(&e).unwrap();
        for edited in [
            line.replace("timeout", "timeouT"),
            line.replace("09:30:00.120Z", "09:30:00.121Z"),
            line.replace(&e.hash, &e.hash.to_uppercase()),
            line.replace(&e.hash, &e.hash[..63]),
        ] {
            assert!(!link_of(&edited).unwrap().hash_ok, "{edited}");
        }
    }

    #[test]
    fn a_line_that_is_not_an_entry_says_why() {
        assert!(
            link_of("{\"seq\": 1}")
                .unwrap_err()
                .contains("missing field")
        );
        let e = entry(json!({}), "alice");
        let bad_time = serde_json::to_string(&e)
            .unwrap()
            .replace("2026-11-24T09:30:00.120Z", "2026-02-30T09:30:00.120Z");
        assert!(link_of(&bad_time).unwrap_err().starts_with("at:"));
    }

    #[test]
    fn only_real_times_in_canonical_shape_skip_parsing() {
        assert!(is_canonical_time("2026-11-24T09:30:00.123Z"));
        assert!(is_canonical_time("2028-02-29T23:59:59.999Z"));
        for t in [
            "2026-02-29T09:30:00.123Z",
            "2026-11-24T24:00:00.000Z",
            "2026-11-24T09:30:60.000Z",
            "2026-11-24T09:30:00.12Z",
            "2026-11-24 09:30:00.123Z",
            "2026-11-24T09:30:00.123+00:00",
        ] {
            assert!(!is_canonical_time(t), "{t}");
        }
    }

    #[test]
    fn hash_text_keeps_only_64_character_hashes() {
        let h = "ab".repeat(32);
        assert_eq!(HashText::new(&h).as_str(), h);
        assert_eq!(HashText::new("abc").as_str(), "");
        assert_eq!(HashText::new(&"é".repeat(32)).as_str(), "");
    }
}
