//! The hash chain behind every audit journal (DESIGN.md section 5): how an
//! entry is sealed onto the end of a chain and how a chain, or a slice of
//! one, is checked.
//!
//! Both the gateway's chain and each console's local journal use this module,
//! so an entry sealed on one side verifies on the other.
//!
//! # This module must never
//! do I/O, pick its own clock, or change the canonical form below: every hash
//! ever written depends on it, and a journal from an older version must still
//! verify with a newer one. The `canonical_form_is_frozen` test pins it.
//!
//! # Hash
//!
//! `hash = lowercase_hex(sha256(prev_hash ‖ canonical_json(entry)))`, where
//! `prev_hash` is taken as its ASCII bytes (64 lowercase hex characters) and
//! the first entry of a chain (seq 1) has `prev_hash` = [`GENESIS_HASH`].
//!
//! # Canonical JSON
//!
//! The entry as its JSON line serializes (the serde form of
//! [`AuditEntry`], so `at` is RFC 3339 UTC with exactly three fractional
//! digits and a `Z`, e.g. `2026-11-24T09:30:00.123Z`) with the `hash` member
//! removed, written as:
//!
//! * objects: members sorted by key in byte order of the keys' UTF-8 (which
//!   is Unicode code point order), at every depth, including inside `detail`;
//! * no whitespace anywhere outside strings;
//! * strings: serde_json's escaping: `"` and `\` escaped, control characters
//!   as `\b \f \n \r \t` or `\u00XX` (lowercase hex), everything else,
//!   including `/` and non-ASCII, as raw UTF-8;
//! * numbers: as serde_json writes them: integers in plain decimal, floats in
//!   their shortest round-trip form (`1.5`, `1e-7`);
//! * `true`, `false`, `null` as is.
//!
//! The sorting is done here rather than left to `serde_json::Map`, because
//! that map keeps insertion order as soon as any crate in the build turns on
//! serde_json's `preserve_order` feature, which would silently change every
//! hash.
//!
//! Floats in `detail` are best avoided: without serde_json's
//! `float_roundtrip` feature, reading a float back may land one ulp away from
//! the value that was hashed, and the entry would then fail to verify.
//! Integers and strings always survive the round trip.
//!
//! # What the chain can and cannot show
//!
//! Editing, inserting, deleting or reordering entries anywhere before the
//! last one breaks the chain. Dropping entries from the end, or rewriting an
//! entry and resealing everything after it, leaves a valid (shorter or
//! different) chain: catching that needs a head ([`ChainVerifier::head`])
//! recorded somewhere else, such as the gateway's copy of a console journal.

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::protocol::AuditEntry;

/// `prev_hash` of the first entry (seq 1) of every chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An entry before it has a place in a chain: what happened, not yet where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub origin: String,
    pub action: String,
    pub target: String,
    pub detail: Value,
}

impl Draft {
    /// A draft with a fresh id. `at` is cut to whole milliseconds, the
    /// precision the JSON line keeps, so the draft equals what a reader of
    /// the journal will later see.
    pub fn new(
        actor: impl Into<String>,
        origin: impl Into<String>,
        action: impl Into<String>,
        target: impl Into<String>,
        detail: Value,
        at: DateTime<Utc>,
    ) -> Draft {
        Draft {
            // Time-ordered (v7): the store's index of entry ids then grows
            // at its end instead of taking a write on a random page per entry.
            id: uuid::Uuid::now_v7().to_string(),
            at: at.trunc_subsecs(3),
            actor: actor.into(),
            origin: origin.into(),
            action: action.into(),
            target: target.into(),
            detail,
        }
    }
}

/// The entry without its `hash`, in the canonical form the module doc
/// describes.
pub fn canonical_json(entry: &AuditEntry) -> String {
    let mut out = Vec::with_capacity(512);
    canonical_bytes(entry, &mut out);
    String::from_utf8(out).expect("canonical JSON is UTF-8")
}

/// The same, written into `out`.
pub fn canonical_bytes(entry: &AuditEntry, out: &mut Vec<u8>) {
    let at = crate::protocol::ts::format(&entry.at);
    write_entry(&EntryView::of(entry, &at), out);
}

/// An entry's hashed members, borrowed: from an [`AuditEntry`] or straight
/// from a journal line (see [`super::link`]). `at` is already in its
/// canonical text form.
pub(crate) struct EntryView<'a> {
    pub seq: u64,
    pub id: &'a str,
    pub at: &'a str,
    pub actor: &'a str,
    pub origin: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub detail: &'a Value,
    pub prev_hash: &'a str,
}

impl<'a> EntryView<'a> {
    /// `entry`'s members, with `at` its time as [`crate::protocol::ts::format`]
    /// writes it.
    fn of(entry: &'a AuditEntry, at: &'a str) -> EntryView<'a> {
        EntryView {
            seq: entry.seq,
            id: &entry.id,
            at,
            actor: &entry.actor,
            origin: &entry.origin,
            action: &entry.action,
            target: &entry.target,
            detail: &entry.detail,
            prev_hash: &entry.prev_hash,
        }
    }
}

/// The canonical form of `v`. The top-level members are written in their
/// sorted order directly (no intermediate `Value`), which is what makes
/// verifying a million entries fast; `detail` goes through the general
/// sorted writer.
pub(crate) fn write_entry(v: &EntryView<'_>, out: &mut Vec<u8>) {
    // Keys in byte order: action actor at detail id origin prev_hash seq target.
    out.extend_from_slice(b"{\"action\":");
    write_string(v.action, out);
    out.extend_from_slice(b",\"actor\":");
    write_string(v.actor, out);
    out.extend_from_slice(b",\"at\":");
    write_string(v.at, out);
    out.extend_from_slice(b",\"detail\":");
    write_canonical(v.detail, out);
    out.extend_from_slice(b",\"id\":");
    write_string(v.id, out);
    out.extend_from_slice(b",\"origin\":");
    write_string(v.origin, out);
    out.extend_from_slice(b",\"prev_hash\":");
    write_string(v.prev_hash, out);
    out.extend_from_slice(b",\"seq\":");
    out.extend_from_slice(v.seq.to_string().as_bytes());
    out.extend_from_slice(b",\"target\":");
    write_string(v.target, out);
    out.push(b'}');
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            // str's Ord is byte order, which the canonical form promises.
            members.sort_unstable_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
            out.push(b'{');
            for (i, (key, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_canonical(item, out);
            }
            out.push(b'}');
        }
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    // Most strings need no escaping: copying them is the same bytes as
    // serde_json would write, without its per-byte table walk.
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, s).expect("a str always serializes");
    }
}

/// `lowercase_hex(sha256(prev_hash ‖ canonical_json(entry)))`.
pub fn compute_hash(entry: &AuditEntry) -> String {
    let at = crate::protocol::ts::format(&entry.at);
    let hash = hash_hex(&EntryView::of(entry, &at), &mut Vec::with_capacity(512));
    String::from_utf8(hash.to_vec()).expect("hex digits are ASCII")
}

/// The same for `v`, as the hash's 64 ASCII bytes (no allocation when
/// checking many entries); `scratch` holds the canonical form meanwhile.
pub(crate) fn hash_hex(v: &EntryView<'_>, scratch: &mut Vec<u8>) -> [u8; 64] {
    scratch.clear();
    write_entry(v, scratch);
    let digest = Sha256::new()
        .chain_update(v.prev_hash.as_bytes())
        .chain_update(&*scratch)
        .finalize();
    let mut hex = [0; 64];
    hex::encode_to_slice(digest, &mut hex).expect("32 bytes are 64 hex digits");
    hex
}

/// Whether each entry's hash matches its content, computed on every core:
/// each entry carries its own `prev_hash`, so these checks are independent.
pub fn hashes_match(entries: &[AuditEntry]) -> Vec<bool> {
    super::map_on_every_core(entries, || |e: &AuditEntry| compute_hash(e) == e.hash)
}

/// Puts a draft at position `seq` after the entry whose hash is `prev_hash`.
pub fn seal(draft: Draft, seq: u64, prev_hash: &str) -> AuditEntry {
    let mut entry = AuditEntry {
        seq,
        id: draft.id,
        // Drafts built by hand may carry nanoseconds; hashing them would
        // still work (the JSON form drops them), but the sealed entry would
        // then differ from the same entry read back from its journal.
        at: draft.at.trunc_subsecs(3),
        actor: draft.actor,
        origin: draft.origin,
        action: draft.action,
        target: draft.target,
        detail: draft.detail,
        prev_hash: prev_hash.to_string(),
        hash: String::new(),
    };
    entry.hash = compute_hash(&entry);
    entry
}

/// The first entry at which a chain stops being trustworthy, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The entry's content no longer gives its recorded hash.
    #[error("entry {seq}: hash does not match its content (edited?)")]
    HashMismatch { seq: u64 },
    /// The entry does not point at the entry before it: that one was
    /// rewritten (and resealed), replaced, or this one was moved here.
    #[error(
        "entry {seq}: prev_hash is not the hash of the entry before it \
         (was an earlier entry rewritten or replaced?)"
    )]
    BrokenLink { seq: u64 },
    /// Entries are missing, duplicated or out of order at this point.
    #[error(
        "expected entry {expected} but found entry {found} \
         (entries deleted, inserted or reordered?)"
    )]
    SeqGap { expected: u64, found: u64 },
}

impl ChainError {
    /// The position in the chain where it breaks: the entry the message
    /// names first, for "first broken entry" reports.
    pub fn seq(&self) -> u64 {
        match self {
            ChainError::HashMismatch { seq } | ChainError::BrokenLink { seq } => *seq,
            ChainError::SeqGap { expected, .. } => *expected,
        }
    }
}

/// Checks a chain one entry at a time, so a journal can be verified while it
/// is read without holding it all in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainVerifier {
    next_seq: u64,
    prev_hash: String,
    count: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier::new()
    }
}

impl ChainVerifier {
    /// A verifier for a whole chain: the first entry must be seq 1 after
    /// [`GENESIS_HASH`].
    pub fn new() -> ChainVerifier {
        ChainVerifier::resume(1, GENESIS_HASH)
    }

    /// A verifier for a slice that starts at `next_seq`, trusting that the
    /// entry before it had hash `prev_hash`. `next_seq` starts at 1.
    pub fn resume(next_seq: u64, prev_hash: impl Into<String>) -> ChainVerifier {
        ChainVerifier {
            next_seq,
            prev_hash: prev_hash.into(),
            count: 0,
        }
    }

    /// Accepts the next entry or says why it breaks the chain. A refused
    /// entry leaves the verifier as it was.
    ///
    /// Checks run in this order, so the error names the first bad entry
    /// precisely: its position (`SeqGap`), then its link to the previous
    /// entry (`BrokenLink`), then its own content (`HashMismatch`).
    pub fn push(&mut self, entry: &AuditEntry) -> Result<(), ChainError> {
        let hash_ok = compute_hash(entry) == entry.hash;
        self.push_parts(entry.seq, &entry.prev_hash, &entry.hash, hash_ok)
    }

    /// [`push`](Self::push) for an entry read as a
    /// [`Link`](super::link::Link), its hash already checked; the errors are
    /// the same.
    pub fn push_link(&mut self, link: &super::link::Link) -> Result<(), ChainError> {
        self.push_parts(
            link.seq,
            link.prev_hash.as_str(),
            link.hash.as_str(),
            link.hash_ok,
        )
    }

    fn push_parts(
        &mut self,
        seq: u64,
        prev_hash: &str,
        hash: &str,
        hash_ok: bool,
    ) -> Result<(), ChainError> {
        if seq != self.next_seq {
            return Err(ChainError::SeqGap {
                expected: self.next_seq,
                found: seq,
            });
        }
        if prev_hash != self.prev_hash {
            return Err(ChainError::BrokenLink { seq });
        }
        if !hash_ok {
            return Err(ChainError::HashMismatch { seq });
        }
        self.next_seq = self.next_seq.saturating_add(1);
        self.prev_hash.clear();
        self.prev_hash.push_str(hash);
        self.count += 1;
        Ok(())
    }

    /// Seq and hash of the last entry accepted (or of the entry a resumed
    /// verifier starts after); `None` before the first entry of a chain.
    pub fn head(&self) -> Option<(u64, &str)> {
        (self.next_seq > 1).then(|| (self.next_seq - 1, self.prev_hash.as_str()))
    }

    /// How many entries this verifier has accepted.
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// Checks a whole chain from seq 1; the number of entries on success.
pub fn verify(entries: &[AuditEntry]) -> Result<u64, ChainError> {
    let mut verifier = ChainVerifier::new();
    for entry in entries {
        verifier.push(entry)?;
    }
    Ok(verifier.count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn at(millis: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(millis).expect("test time in range")
    }

    fn fixed_draft(n: u64) -> Draft {
        Draft {
            id: format!("00000000-0000-4000-8000-{n:012}"),
            at: at(1_795_000_000_000 + n as i64 * 1_500),
            actor: "alice".into(),
            origin: "gateway".into(),
            action: "logs.subscribe".into(),
            target: format!("payments/{n}"),
            detail: json!({"grant_id": "g-1", "n": n}),
        }
    }

    fn build(drafts: Vec<Draft>) -> Vec<AuditEntry> {
        let mut prev = GENESIS_HASH.to_string();
        let mut out = Vec::new();
        for (i, d) in drafts.into_iter().enumerate() {
            let e = seal(d, i as u64 + 1, &prev);
            prev = e.hash.clone();
            out.push(e);
        }
        out
    }

    fn fixed_chain(n: u64) -> Vec<AuditEntry> {
        build((1..=n).map(fixed_draft).collect())
    }

    fn reparse(entries: &[AuditEntry]) -> Vec<AuditEntry> {
        entries
            .iter()
            .map(|e| {
                let line = serde_json::to_string(e).unwrap();
                serde_json::from_str(&line).unwrap()
            })
            .collect()
    }

    #[test]
    fn genesis_hash_is_64_zeros() {
        assert_eq!(GENESIS_HASH.len(), 64);
        assert!(GENESIS_HASH.bytes().all(|b| b == b'0'));
    }

    #[test]
    fn canonical_form_is_frozen() {
        // Journals written today must verify forever: if this test fails,
        // the change breaks every existing chain.
        let mut e = seal(
            Draft {
                id: "7d1b0c1e-1a4e-4a57-9a52-2d4f0f3c9b10".into(),
                at: DateTime::parse_from_rfc3339("2026-11-24T09:30:00.123456Z")
                    .unwrap()
                    .to_utc(),
                actor: "alice".into(),
                origin: "console:laptop".into(),
                action: "request.create".into(),
                target: "payments".into(),
                detail: json!({"z": 1, "a": {"y": "é\n\"/", "b": [true, null, -3]}}),
            },
            1,
            GENESIS_HASH,
        );
        assert_eq!(
            canonical_json(&e),
            r#"{"action":"request.create","actor":"alice","at":"2026-11-24T09:30:00.123Z","detail":{"a":{"b":[true,null,-3],"y":"é\n\"/"},"z":1},"id":"7d1b0c1e-1a4e-4a57-9a52-2d4f0f3c9b10","origin":"console:laptop","prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","seq":1,"target":"payments"}"#
        );
        let mut manual = Sha256::new();
        manual.update(GENESIS_HASH.as_bytes());
        manual.update(canonical_json(&e).as_bytes());
        assert_eq!(e.hash, hex::encode(manual.finalize()));
        assert_eq!(
            e.hash, "3448c38afa22b9c6786b2fdc6b13a246f23738d1ffc2410997abe868d241f3fb",
            "pinned hash of the golden entry (checked independently with Python hashlib)"
        );
        // The hash itself is not part of what it covers.
        e.hash = "anything".into();
        assert!(!canonical_json(&e).contains("anything"));
    }

    #[test]
    fn a_sealed_chain_verifies_and_reports_its_length() {
        let chain = fixed_chain(5);
        assert_eq!(verify(&chain), Ok(5));
        assert_eq!(verify(&[]), Ok(0));
        assert_eq!(chain[0].prev_hash, GENESIS_HASH);
        for pair in chain.windows(2) {
            assert_eq!(pair[1].prev_hash, pair[0].hash);
        }
        assert!(chain.iter().all(|e| {
            e.hash.len() == 64
                && e.hash
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }));
    }

    #[test]
    fn an_edited_entry_is_named_by_its_own_seq() {
        let mut chain = fixed_chain(5);
        chain[2].action = "logs.unsubscribe".into();
        let err = verify(&chain).unwrap_err();
        assert_eq!(err, ChainError::HashMismatch { seq: 3 });
        assert_eq!(err.seq(), 3);
        assert_eq!(
            err.to_string(),
            "entry 3: hash does not match its content (edited?)"
        );
    }

    #[test]
    fn an_edited_and_resealed_entry_is_caught_at_the_next_one() {
        let mut chain = fixed_chain(5);
        chain[2].target = "billing".into();
        chain[2].hash = compute_hash(&chain[2]);
        assert_eq!(verify(&chain), Err(ChainError::BrokenLink { seq: 4 }));
    }

    #[test]
    fn a_resealed_last_entry_needs_an_outside_head_to_catch() {
        let chain = fixed_chain(3);
        let mut forged = chain.clone();
        forged[2].target = "billing".into();
        forged[2].hash = compute_hash(&forged[2]);
        assert_eq!(verify(&forged), Ok(3));
        let head = |entries: &[AuditEntry]| {
            let mut v = ChainVerifier::new();
            entries.iter().for_each(|e| v.push(e).unwrap());
            v.head().map(|(s, h)| (s, h.to_string()))
        };
        assert_ne!(head(&forged), head(&chain));
    }

    #[test]
    fn a_deleted_entry_shows_as_a_gap() {
        let mut chain = fixed_chain(5);
        chain.remove(1);
        let err = verify(&chain).unwrap_err();
        assert_eq!(
            err,
            ChainError::SeqGap {
                expected: 2,
                found: 3
            }
        );
        assert_eq!(
            err.to_string(),
            "expected entry 2 but found entry 3 (entries deleted, inserted or reordered?)"
        );
    }

    #[test]
    fn a_chain_not_starting_at_genesis_is_refused() {
        let chain = fixed_chain(3);
        assert_eq!(
            verify(&chain[1..]),
            Err(ChainError::SeqGap {
                expected: 1,
                found: 2
            })
        );
        let off_genesis = seal(fixed_draft(1), 1, &chain[0].hash);
        assert_eq!(
            verify(&[off_genesis]),
            Err(ChainError::BrokenLink { seq: 1 })
        );
    }

    #[test]
    fn a_slice_from_the_middle_verifies_after_resume() {
        let chain = fixed_chain(6);
        let mut v = ChainVerifier::resume(4, chain[2].hash.clone());
        assert_eq!(v.head(), Some((3, chain[2].hash.as_str())));
        for e in &chain[3..] {
            v.push(e).unwrap();
        }
        assert_eq!(v.count(), 3);
        assert_eq!(v.head(), Some((6, chain[5].hash.as_str())));
        // Resuming at the wrong link is caught on the first entry.
        let mut wrong = ChainVerifier::resume(4, chain[1].hash.clone());
        assert_eq!(
            wrong.push(&chain[3]),
            Err(ChainError::BrokenLink { seq: 4 })
        );
    }

    #[test]
    fn a_refused_entry_leaves_the_verifier_unchanged() {
        let chain = fixed_chain(3);
        let mut v = ChainVerifier::new();
        assert_eq!(v.head(), None);
        v.push(&chain[0]).unwrap();
        let before = v.clone();
        assert!(v.push(&chain[2]).is_err());
        assert_eq!(v, before);
        v.push(&chain[1]).unwrap();
        v.push(&chain[2]).unwrap();
        assert_eq!(v.count(), 3);
    }

    #[test]
    fn sub_millisecond_times_are_cut_so_a_reread_entry_is_identical() {
        let t = DateTime::parse_from_rfc3339("2026-11-24T09:30:00.123999999Z")
            .unwrap()
            .to_utc();
        let d = Draft::new("alice", "gateway", "grant.revoke", "g-1", json!({}), t);
        assert_eq!(d.at.timestamp_subsec_nanos(), 123_000_000);
        let mut by_hand = d.clone();
        by_hand.at = t;
        let e = seal(by_hand, 1, GENESIS_HASH);
        assert_eq!(e.at, d.at);
        let back = reparse(std::slice::from_ref(&e));
        assert_eq!(back[0], e);
        assert_eq!(verify(&back), Ok(1));
    }

    #[test]
    fn drafts_get_distinct_time_ordered_uuid_ids() {
        let now = Utc::now();
        let ids: Vec<String> = (0..1_000)
            .map(|_| Draft::new("a", "gateway", "x", "y", json!(null), now).id)
            .collect();
        assert_eq!(uuid::Uuid::parse_str(&ids[0]).unwrap().get_version_num(), 7);
        // Strictly rising, also within one millisecond: the store's index of
        // ids only ever grows at its end.
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    }

    // ---- properties ----

    fn arb_detail() -> impl Strategy<Value = Value> {
        // No floats: see the module doc on why they are best kept out.
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(".{0,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn arb_draft() -> impl Strategy<Value = Draft> {
        (
            "[a-z]{1,8}",
            prop_oneof![Just("gateway".to_string()), "console:[a-z]{1,6}"],
            "[a-z]{1,6}\\.[a-z]{1,8}",
            ".{0,16}",
            arb_detail(),
            // Years 1970 to about 2100, at nanosecond precision to exercise
            // the millisecond cut.
            (0i64..4_102_444_800, 0u32..1_000_000_000),
        )
            .prop_map(|(actor, origin, action, target, detail, (secs, nanos))| {
                let t = DateTime::from_timestamp(secs, nanos).unwrap();
                Draft::new(actor, origin, action, target, detail, t)
            })
    }

    fn arb_chain() -> impl Strategy<Value = Vec<AuditEntry>> {
        prop::collection::vec(arb_draft(), 1..12).prop_map(build)
    }

    #[derive(Debug, Clone, Copy)]
    enum Field {
        Actor,
        Origin,
        Action,
        Target,
        Detail,
        At,
        Id,
    }

    fn edit(e: &mut AuditEntry, field: Field) {
        match field {
            Field::Actor => e.actor.push('x'),
            Field::Origin => e.origin.push('x'),
            Field::Action => e.action.push('x'),
            Field::Target => e.target.push('x'),
            Field::Detail => {
                e.detail = json!({"was": e.detail.take(), "edited": true});
            }
            Field::At => e.at += chrono::Duration::milliseconds(1),
            Field::Id => e.id.push('x'),
        }
    }

    fn arb_field() -> impl Strategy<Value = Field> {
        prop_oneof![
            Just(Field::Actor),
            Just(Field::Origin),
            Just(Field::Action),
            Just(Field::Target),
            Just(Field::Detail),
            Just(Field::At),
            Just(Field::Id),
        ]
    }

    proptest! {
        #[test]
        fn any_sealed_chain_verifies(chain in arb_chain()) {
            prop_assert_eq!(verify(&chain), Ok(chain.len() as u64));
        }

        #[test]
        fn json_lines_read_back_still_verify(chain in arb_chain()) {
            let back = reparse(&chain);
            prop_assert_eq!(&back, &chain);
            prop_assert_eq!(verify(&back), Ok(chain.len() as u64));
        }

        #[test]
        fn editing_any_field_names_that_entry(
            chain in arb_chain(), pick in any::<prop::sample::Index>(), field in arb_field(),
        ) {
            let mut chain = chain;
            let i = pick.index(chain.len());
            edit(&mut chain[i], field);
            prop_assert_eq!(verify(&chain), Err(ChainError::HashMismatch { seq: i as u64 + 1 }));
        }

        #[test]
        fn editing_and_resealing_an_entry_names_the_next_one(
            chain in arb_chain(), pick in any::<prop::sample::Index>(), field in arb_field(),
        ) {
            prop_assume!(chain.len() >= 2);
            let mut chain = chain;
            let i = pick.index(chain.len() - 1);
            edit(&mut chain[i], field);
            chain[i].hash = compute_hash(&chain[i]);
            prop_assert_eq!(verify(&chain), Err(ChainError::BrokenLink { seq: i as u64 + 2 }));
        }

        #[test]
        fn changing_a_seq_names_the_position(
            chain in arb_chain(), pick in any::<prop::sample::Index>(), new_seq in any::<u64>(),
        ) {
            let mut chain = chain;
            let i = pick.index(chain.len());
            prop_assume!(new_seq != chain[i].seq);
            chain[i].seq = new_seq;
            prop_assert_eq!(
                verify(&chain),
                Err(ChainError::SeqGap { expected: i as u64 + 1, found: new_seq })
            );
        }

        #[test]
        fn changing_a_prev_hash_or_hash_names_that_entry(
            chain in arb_chain(), pick in any::<prop::sample::Index>(), which in any::<bool>(),
        ) {
            let mut chain = chain;
            let i = pick.index(chain.len());
            let seq = i as u64 + 1;
            if which {
                chain[i].prev_hash = compute_hash(&chain[i]);
                prop_assert_eq!(verify(&chain), Err(ChainError::BrokenLink { seq }));
            } else {
                chain[i].hash = GENESIS_HASH.to_string();
                prop_assert_eq!(verify(&chain), Err(ChainError::HashMismatch { seq }));
            }
        }

        #[test]
        fn deleting_any_entry_is_detected(
            chain in arb_chain(), pick in any::<prop::sample::Index>(),
        ) {
            let n = chain.len();
            let i = pick.index(n);
            let mut cut = chain.clone();
            cut.remove(i);
            if i + 1 < n {
                prop_assert_eq!(
                    verify(&cut),
                    Err(ChainError::SeqGap { expected: i as u64 + 1, found: i as u64 + 2 })
                );
            } else {
                // Dropping the tail leaves a valid shorter chain; it shows
                // only against the head recorded before.
                prop_assert_eq!(verify(&cut), Ok(n as u64 - 1));
                let mut v = ChainVerifier::new();
                for e in &cut {
                    v.push(e).unwrap();
                }
                prop_assert_ne!(v.head(), Some((n as u64, chain[n - 1].hash.as_str())));
            }
        }

        #[test]
        fn swapping_adjacent_entries_is_detected(
            chain in arb_chain(), pick in any::<prop::sample::Index>(),
        ) {
            prop_assume!(chain.len() >= 2);
            let mut chain = chain;
            let i = pick.index(chain.len() - 1);
            chain.swap(i, i + 1);
            prop_assert_eq!(
                verify(&chain),
                Err(ChainError::SeqGap { expected: i as u64 + 1, found: i as u64 + 2 })
            );
        }

        #[test]
        fn canonical_json_ignores_detail_key_order(
            pairs in prop::collection::btree_map("[a-z]{0,5}", any::<i32>(), 0..8),
            draft in arb_draft(),
        ) {
            let forward: serde_json::Map<String, Value> =
                pairs.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            let backward: serde_json::Map<String, Value> =
                pairs.iter().rev().map(|(k, v)| (k.clone(), json!(v))).collect();
            let mut a = draft.clone();
            a.detail = json!({"outer": Value::Object(forward.clone()), "k": Value::Object(forward)});
            let mut b = draft;
            b.detail = json!({"k": Value::Object(backward.clone()), "outer": Value::Object(backward)});
            let (a, b) = (seal(a, 1, GENESIS_HASH), seal(b, 1, GENESIS_HASH));
            prop_assert_eq!(canonical_json(&a), canonical_json(&b));
            prop_assert_eq!(a.hash, b.hash);
        }

        #[test]
        fn canonical_json_is_valid_json_of_the_entry_without_hash(chain in arb_chain()) {
            for e in &chain {
                let c = canonical_json(e);
                // Raw line breaks would split a JSON line; strings escape them.
                prop_assert!(!c.contains(['\n', '\r']));
                let parsed: Value = serde_json::from_str(&c).unwrap();
                let mut expected = serde_json::to_value(e).unwrap();
                expected.as_object_mut().unwrap().remove("hash");
                prop_assert_eq!(parsed, expected);
            }
        }
    }
}
