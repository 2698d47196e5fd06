//! Verifying a whole trail (chain, signed checkpoints, heads other parties
//! recorded) and exporting it for a post-mortem (JSON, CSV, Markdown).
//! Pure: entries in, verdicts and text out.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::chain::{ChainError, ChainVerifier};
use super::checkpoint::{self, CheckpointError};
use super::link::{HashText, Link};
use crate::protocol::{AuditEntry, Checkpoint, ts};

/// The first thing found wrong with a trail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("missing tail: a checkpoint signed entry {signed} but the chain ends at {end}")]
    MissingTail { signed: u64, end: u64 },
    #[error("entry {seq} is not the entry the gateway signed in a checkpoint (rewritten?)")]
    CheckpointMismatch { seq: u64 },
    #[error("entry {seq} is not the entry {party} was told about (rewritten?)")]
    HeadMismatch { seq: u64, party: String },
    #[error("missing tail: {party} was told of entry {seq} but the chain ends at {end}")]
    HeadBeyondEnd { seq: u64, end: u64, party: String },
}

/// The verdict on a trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verification {
    pub entries: u64,
    pub first_seq: Option<u64>,
    pub head: Option<(u64, String)>,
    pub checkpoints: usize,
    pub problem: Option<Problem>,
}

impl Verification {
    pub fn intact(&self) -> bool {
        self.problem.is_none()
    }

    /// One line for people.
    pub fn summary(&self) -> String {
        let span = match (self.first_seq, &self.head) {
            (Some(a), Some((b, h))) => format!("entries {a}–{b}, head {}", &h[..h.len().min(12)]),
            _ => "no entries".into(),
        };
        let cps = if self.checkpoints > 0 {
            format!(", {} signed checkpoints checked", self.checkpoints)
        } else {
            String::new()
        };
        match &self.problem {
            None => format!("intact: {} entries ({span}){cps}", self.entries),
            Some(p) => format!("BROKEN: {p} ({} entries read, {span}{cps})", self.entries),
        }
    }
}

/// A head some other party recorded: (who, seq, hash).
pub type KnownHead = (String, u64, String);

/// Verifies `entries` (oldest first) as a chain — from seq 1, or from the
/// first entry's place when `from_middle` (a rotated file) — then every
/// checkpoint against `key` and the chain, then every known head.
pub fn verify_trail(
    entries: &[AuditEntry],
    from_middle: bool,
    checkpoints: &[Checkpoint],
    key: Option<&str>,
    known: &[KnownHead],
) -> Verification {
    let mut check = TrailCheck::new(from_middle, checkpoints, key, known);
    let hash_ok = super::chain::hashes_match(entries);
    for (e, ok) in entries.iter().zip(hash_ok) {
        if !check.push(&Link::of_entry(e, ok)) {
            break;
        }
    }
    check.finish()
}

/// [`verify_trail`] one entry at a time, so that a journal can be checked
/// as it is read, keeping only the hashes the checkpoints and known heads
/// will be compared with.
pub struct TrailCheck<'a> {
    from_middle: bool,
    checkpoints: &'a [Checkpoint],
    key: Option<&'a str>,
    known: &'a [KnownHead],
    verifier: Option<ChainVerifier>,
    /// Hashes of the entries at the seqs a checkpoint or known head names.
    wanted: BTreeMap<u64, Option<HashText>>,
    v: Verification,
}

impl<'a> TrailCheck<'a> {
    pub fn new(
        from_middle: bool,
        checkpoints: &'a [Checkpoint],
        key: Option<&'a str>,
        known: &'a [KnownHead],
    ) -> TrailCheck<'a> {
        let wanted = checkpoints
            .iter()
            .map(|c| c.seq)
            .chain(known.iter().map(|k| k.1))
            .map(|seq| (seq, None))
            .collect();
        TrailCheck {
            from_middle,
            checkpoints,
            key,
            known,
            verifier: None,
            wanted,
            v: Verification::default(),
        }
    }

    /// Takes the next entry; false once the chain is broken (the rest
    /// need not be read).
    pub fn push(&mut self, link: &Link) -> bool {
        if self.v.problem.is_some() {
            return false;
        }
        let from_middle = self.from_middle;
        let verifier = self.verifier.get_or_insert_with(|| {
            if from_middle {
                ChainVerifier::resume(link.seq, link.prev_hash.as_str())
            } else {
                ChainVerifier::new()
            }
        });
        self.v.first_seq.get_or_insert(link.seq);
        if let Err(err) = verifier.push_link(link) {
            self.v.problem = Some(err.into());
            return false;
        }
        self.v.entries += 1;
        if let Some(slot) = self.wanted.get_mut(&link.seq) {
            *slot = Some(link.hash);
        }
        true
    }

    /// The verdict: the chain's, then the checkpoints', then the heads'.
    pub fn finish(mut self) -> Verification {
        let mut v = std::mem::take(&mut self.v);
        if v.problem.is_some() {
            return v;
        }
        v.head = self
            .verifier
            .as_ref()
            .and_then(ChainVerifier::head)
            .map(|(s, h)| (s, h.to_string()));
        let end = v.head.as_ref().map_or(0, |h| h.0);
        // A seq inside the chain read names an entry whose hash was kept;
        // one before its first entry (a rotated file) cannot be checked.
        let differs = |seq: u64, hash: &str| {
            self.wanted
                .get(&seq)
                .copied()
                .flatten()
                .is_some_and(|h| h.as_str() != hash)
        };
        if let Some(key) = self.key {
            for c in self.checkpoints {
                if let Err(e) = checkpoint::verify(key, c) {
                    v.problem = Some(e.into());
                    return v;
                }
                v.checkpoints += 1;
                if c.seq == 0 {
                    continue;
                }
                if c.seq > end {
                    v.problem = Some(Problem::MissingTail { signed: c.seq, end });
                    return v;
                }
                if differs(c.seq, &c.hash) {
                    v.problem = Some(Problem::CheckpointMismatch { seq: c.seq });
                    return v;
                }
            }
        }
        for (source, seq, hash) in self.known {
            if *seq == 0 {
                continue;
            }
            if *seq > end {
                v.problem = Some(Problem::HeadBeyondEnd {
                    seq: *seq,
                    end,
                    party: source.clone(),
                });
                return v;
            }
            if differs(*seq, hash) {
                v.problem = Some(Problem::HeadMismatch {
                    seq: *seq,
                    party: source.clone(),
                });
                return v;
            }
        }
        v
    }
}

/// The ticket a gateway entry carries, if any.
fn ticket_of(e: &AuditEntry) -> Option<&str> {
    e.detail.get("ticket").and_then(Value::as_str)
}

/// Entries of one incident: the requests filed with `ticket`, the grants
/// they produced, and everything done with those requests and grants — or
/// everything, without a ticket; then cut to `[since, until)`.
pub fn select<'a>(
    entries: &'a [AuditEntry],
    ticket: Option<&str>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Vec<&'a AuditEntry> {
    let mut ids: BTreeSet<String> = BTreeSet::new();
    if let Some(t) = ticket {
        for e in entries.iter().filter(|e| ticket_of(e) == Some(t)) {
            ids.insert(e.target.clone());
        }
        // Grants name the request they came from.
        for e in entries {
            let from = e.detail.get("request_id").and_then(Value::as_str);
            if from.is_some_and(|r| ids.contains(r)) {
                ids.insert(e.target.clone());
            }
        }
    }
    entries
        .iter()
        .filter(|e| ticket.is_none() || ids.contains(&e.target) || ticket_of(e) == ticket)
        .filter(|e| since.is_none_or(|s| e.at >= s))
        .filter(|e| until.is_none_or(|u| e.at < u))
        .collect()
}

fn caps(d: &Value) -> String {
    d.get("capabilities")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn text(d: &Value, key: &str) -> String {
    match d.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// What an entry means, in a sentence a post-mortem can use.
pub fn describe(e: &AuditEntry) -> String {
    let d = &e.detail;
    let who = &e.actor;
    let mins = d
        .get("duration_s")
        .and_then(Value::as_u64)
        .map(|s| crate::duration::format_duration(std::time::Duration::from_secs(s)))
        .unwrap_or_default();
    match e.action.as_str() {
        "request.create" => {
            let bg = if d.get("break_glass").and_then(Value::as_bool) == Some(true) {
                "BROKE GLASS for"
            } else {
                "requested"
            };
            format!(
                "{who} {bg} {} on {} for {mins}: “{}”",
                caps(d),
                text(d, "service"),
                text(d, "reason")
            )
        }
        "request.approve" => format!(
            "{who} approved {} ({} {})",
            e.target,
            text(d, "service"),
            text(d, "comment")
        ),
        "request.deny" => format!("{who} denied {}: “{}”", e.target, text(d, "deny_reason")),
        "request.cancel" => format!("{who} cancelled {}", e.target),
        "request.expired" => format!("{} expired undecided", e.target),
        "grant.start" => format!(
            "access began: {} on {} until {}",
            caps(d),
            text(d, "service"),
            text(d, "expires_at")
        ),
        "grant.extended" => format!("access extended until {}", text(d, "expires_at")),
        "grant.expired" => format!(
            "access ended: {} on {} expired",
            text(d, "user"),
            text(d, "service")
        ),
        "grant.revoke" => format!(
            "{who} revoked {}'s access to {}: “{}”",
            text(d, "user"),
            text(d, "service"),
            text(d, "reason")
        ),
        "grant.extend" => format!("{who} asked to extend by {mins}: “{}”", text(d, "reason")),
        "review.complete" => format!(
            "{who} reviewed the break-glass use: “{}”",
            text(d, "review_comment")
        ),
        a if a.ends_with(".refused") => format!(
            "{who} was refused {}: {}",
            a.trim_end_matches(".refused"),
            text(d, "message")
        ),
        a => format!("{who} {a} {}", e.target),
    }
}

pub fn to_json(v: &Verification, entries: &[&AuditEntry]) -> String {
    serde_json::json!({
        "verification": {
            "intact": v.intact(),
            "summary": v.summary(),
            "entries": v.entries,
            "head": v.head.as_ref().map(|(s, h)| serde_json::json!({"seq": s, "hash": h})),
        },
        "entries": entries,
    })
    .to_string()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn to_csv(entries: &[&AuditEntry]) -> String {
    let mut out = String::from("seq,at,actor,origin,action,target,summary,detail,hash\n");
    for e in entries {
        let row = [
            e.seq.to_string(),
            ts::format(&e.at),
            e.actor.clone(),
            e.origin.clone(),
            e.action.clone(),
            e.target.clone(),
            describe(e),
            e.detail.to_string(),
            e.hash.clone(),
        ];
        let _ = writeln!(
            out,
            "{}",
            row.iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(",")
        );
    }
    out
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn to_markdown(title: &str, v: &Verification, entries: &[&AuditEntry]) -> String {
    let mut out = format!("# {title}\n\n");
    let mark = if v.intact() { "✅" } else { "❌" };
    let _ = writeln!(out, "**Audit chain:** {mark} {}\n", v.summary());
    let people: BTreeSet<&str> = entries
        .iter()
        .map(|e| e.actor.as_str())
        .filter(|a| *a != "gateway")
        .collect();
    if let (Some(first), Some(last)) = (entries.first(), entries.last()) {
        let _ = writeln!(
            out,
            "{} entries from {} to {} UTC; people involved: {}.\n",
            entries.len(),
            ts::format(&first.at),
            ts::format(&last.at),
            people.into_iter().collect::<Vec<_>>().join(", ")
        );
    } else {
        out.push_str("No entries in this selection.\n\n");
    }
    out.push_str("| time (UTC) | who | what happened | target | seq |\n|---|---|---|---|---|\n");
    for e in entries {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            e.at.format("%Y-%m-%d %H:%M:%S"),
            md_cell(&e.actor),
            md_cell(&describe(e)),
            md_cell(&e.target),
            e.seq
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::{Draft, GENESIS_HASH, seal};
    use serde_json::json;

    fn chain_of(drafts: Vec<(&str, &str, &str, Value)>) -> Vec<AuditEntry> {
        let t0 = DateTime::parse_from_rfc3339("2026-11-24T03:00:00Z")
            .unwrap()
            .to_utc();
        let mut prev = GENESIS_HASH.to_string();
        drafts
            .into_iter()
            .enumerate()
            .map(|(i, (actor, action, target, detail))| {
                let at = t0 + chrono::Duration::seconds(i as i64 * 60);
                let e = seal(
                    Draft::new(actor, "gateway", action, target, detail, at),
                    i as u64 + 1,
                    &prev,
                );
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn incident() -> Vec<AuditEntry> {
        chain_of(vec![
            (
                "alice",
                "request.create",
                "req-1",
                json!({"service": "payments", "capabilities": ["logs:read"], "duration_s": 1800, "reason": "card declines", "ticket": "INC-1"}),
            ),
            (
                "erin",
                "request.create",
                "req-2",
                json!({"service": "search", "capabilities": ["logs:read"], "duration_s": 600, "reason": "reindex", "ticket": "OPS-9"}),
            ),
            (
                "bob",
                "request.approve",
                "req-1",
                json!({"service": "payments", "ticket": "INC-1", "comment": "go"}),
            ),
            (
                "alice",
                "grant.start",
                "grt-1",
                json!({"request_id": "req-1", "service": "payments", "capabilities": ["logs:read"], "expires_at": "2026-11-24T03:32:00.000Z"}),
            ),
            (
                "carol",
                "grant.revoke",
                "grt-1",
                json!({"request_id": "req-1", "user": "alice", "service": "payments", "reason": "done"}),
            ),
        ])
    }

    #[test]
    fn an_incident_export_holds_its_requests_grants_and_decisions_only() {
        let all = incident();
        let picked: Vec<u64> = select(&all, Some("INC-1"), None, None)
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(picked, vec![1, 3, 4, 5]);
    }

    #[test]
    fn the_markdown_timeline_says_who_did_what_and_why_with_the_verdict_on_top() {
        let all = incident();
        let v = verify_trail(&all, false, &[], None, &[]);
        let md = to_markdown("INC-1", &v, &select(&all, Some("INC-1"), None, None));
        let lines: Vec<&str> = md.lines().collect();
        assert!(
            lines[2].starts_with("**Audit chain:** ✅ intact: 5 entries"),
            "{md}"
        );
        assert!(
            md.contains("alice requested logs:read on payments for 30m: “card declines”"),
            "{md}"
        );
        assert!(
            md.contains("carol revoked alice's access to payments: “done”"),
            "{md}"
        );
        assert!(!md.contains("reindex"));
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let all = incident();
        let csv = to_csv(&all.iter().collect::<Vec<_>>());
        assert_eq!(csv.lines().count(), 6);
        assert!(csv.contains("alice requested logs:read on payments for 30m: “card declines”"));
        // The detail has commas and quotes: one quoted field, quotes doubled.
        assert!(
            csv.contains("\"{\"\"capabilities\"\":[\"\"logs:read\"\"],"),
            "{csv}"
        );
    }

    #[test]
    fn a_cut_off_tail_shows_against_a_signed_checkpoint() {
        let all = incident();
        let key = checkpoint::signing_key(&[9u8; 32]);
        let public = checkpoint::public_key_hex(&key);
        let signed = checkpoint::sign(&key, 5, &all[4].hash, all[4].at);
        assert!(
            verify_trail(
                &all,
                false,
                std::slice::from_ref(&signed),
                Some(&public),
                &[]
            )
            .intact()
        );
        let v = verify_trail(&all[..3], false, &[signed], Some(&public), &[]);
        assert_eq!(v.problem, Some(Problem::MissingTail { signed: 5, end: 3 }));
    }

    #[test]
    fn a_resealed_rewrite_shows_against_a_head_someone_else_kept() {
        let all = incident();
        let mut forged = all.clone();
        forged[3].detail = json!({"service": "payments", "note": "nothing to see"});
        // Reseal from the edit onwards: the chain itself verifies again.
        let mut prev = forged[2].hash.clone();
        for e in forged.iter_mut().skip(3) {
            e.prev_hash = prev.clone();
            e.hash = crate::audit::chain::compute_hash(e);
            prev = e.hash.clone();
        }
        assert!(verify_trail(&forged, false, &[], None, &[]).intact());
        let known = vec![("alice's journal".to_string(), 4, all[3].hash.clone())];
        let v = verify_trail(&forged, false, &[], None, &known);
        assert_eq!(
            v.problem,
            Some(Problem::HeadMismatch {
                seq: 4,
                party: "alice's journal".into()
            })
        );
    }
}
