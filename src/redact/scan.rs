//! The built-in detectors: hand-written scanners over the bytes of a line.
//!
//! Two passes over a line find every spot worth a closer look, and only
//! there does a detector run (see [`Scanner`]): a pre-pass, 16 bytes at a
//! time, lower-cases the line and marks each `@`, each digit after two
//! capitals (an IBAN's start) and each run of 13 or more digits, spaces and
//! dashes (room for a card number), so that the short digit runs log lines
//! are full of (times, dates, ids) cost nothing more; then a packed
//! (Teddy) search of the lower-cased copy finds the trigger substrings
//! (`://`, `bearer`, `eyj`, `akia`, `ghp_`, key words such as `password`
//! and `token`, …). A line with neither costs those two passes.
//!
//! Every detector only pushes byte ranges, and every range starts and ends
//! next to an ASCII byte (or at an end of the line), so it is always a valid
//! `str` boundary. No detector caps a length (a span cut in the middle of a
//! word would let a second pass see a word boundary the first did not, and
//! find more); instead, where one detector's hits can fall inside its own
//! earlier match, it remembers how far it got (`*_done`), so a line costs
//! linear time whatever it holds.
//!
//! Stability (redacting twice changes nothing): a span never starts in the
//! middle of a word a detector reads as one run, except where the first
//! pass could not take that run whole; the bearer detector then refuses a
//! run cut short by a marker, as the first pass refused the whole.

use std::cell::RefCell;

use aho_corasick::{AhoCorasick, MatchKind, packed};

use super::checks::{card_network_ok, iban_length, iban_mod97_ok, luhn_ok};
use super::{Kind, Label, Span};

/// What a trigger substring sets off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trigger {
    /// A secret word that may end a key (`password`, `token`, …).
    Key,
    Bearer,
    Jwt,
    AwsKey,
    Github,
    Slack,
    SlackWebhook,
    Stripe,
    Url,
    /// `%40` (`@` is searched for apart).
    Email,
    /// `[REDACTED:`: text a detector must not touch.
    Marker,
}

impl Trigger {
    /// The kinds this trigger's detector can report (it is left out of the
    /// automaton when all of them are disabled).
    pub(super) fn kinds(self) -> u16 {
        match self {
            Trigger::Key => Kind::Secret.bit() | Kind::AwsSecret.bit() | Kind::Bearer.bit(),
            Trigger::Bearer => Kind::Bearer.bit(),
            Trigger::Jwt => Kind::Jwt.bit(),
            Trigger::AwsKey => Kind::AwsKey.bit() | Kind::AwsSecret.bit(),
            Trigger::Github => Kind::GithubToken.bit(),
            Trigger::Slack | Trigger::SlackWebhook => Kind::SlackToken.bit(),
            Trigger::Stripe => Kind::StripeKey.bit(),
            // The URL detector also tells the e-mail detector which `@`
            // belong to a URL's user part.
            Trigger::Url => Kind::UrlPassword.bit() | Kind::Email.bit(),
            Trigger::Email => Kind::Email.bit(),
            Trigger::Marker => 0,
        }
    }
}

/// Trigger substrings, in lower case, matched against the lower-cased line
/// (each detector then checks the exact case it needs). None is a substring
/// of another, so a non-overlapping search misses none of them.
///
/// The Slack prefixes are listed one by one, which is more exact than
/// `xox` and also takes the list past 32 patterns: from there on
/// aho-corasick's packed search uses its 16-bucket ("fat") Teddy where the
/// CPU has AVX2, instead of the 8-bucket one, and on lower-cased text,
/// where every letter has the same high nibble, the 8 buckets let through
/// so many false candidates that the search takes about a third longer.
/// Whoever shortens the list should run `cargo bench --bench redact`.
pub(super) const TRIGGERS: &[(&str, Trigger)] = &[
    ("passw", Trigger::Key),
    ("passphrase", Trigger::Key),
    ("pwd", Trigger::Key),
    ("secret", Trigger::Key),
    ("token", Trigger::Key),
    ("apikey", Trigger::Key),
    ("api_key", Trigger::Key),
    ("api-key", Trigger::Key),
    ("api.key", Trigger::Key),
    ("privatekey", Trigger::Key),
    ("private_key", Trigger::Key),
    ("private-key", Trigger::Key),
    ("credential", Trigger::Key),
    ("authorization", Trigger::Key),
    ("bearer", Trigger::Bearer),
    ("eyj", Trigger::Jwt),
    ("akia", Trigger::AwsKey),
    ("asia", Trigger::AwsKey),
    ("ghp_", Trigger::Github),
    ("gho_", Trigger::Github),
    ("ghu_", Trigger::Github),
    ("ghs_", Trigger::Github),
    ("ghr_", Trigger::Github),
    ("github_pat_", Trigger::Github),
    ("xoxa-", Trigger::Slack),
    ("xoxb-", Trigger::Slack),
    ("xoxo-", Trigger::Slack),
    ("xoxp-", Trigger::Slack),
    ("xoxr-", Trigger::Slack),
    ("xoxs-", Trigger::Slack),
    ("hooks.slack.com/", Trigger::SlackWebhook),
    ("k_live_", Trigger::Stripe),
    ("k_test_", Trigger::Stripe),
    ("://", Trigger::Url),
    ("%40", Trigger::Email),
    ("[redacted:", Trigger::Marker),
];

/// Values of a secret key that are not secrets (compared ignoring case).
const NOT_SECRET_VALUES: &[&str] = &[
    "true",
    "false",
    "yes",
    "no",
    "on",
    "off",
    "null",
    "nil",
    "none",
    "undefined",
    "empty",
    "missing",
    "invalid",
    "expired",
    "required",
    "present",
    "set",
    "unset",
    "redacted",
    "masked",
    "hidden",
    "filtered",
];

/// Key name endings (lower case, without `_`, `-`, `.`) whose value is a secret.
const SECRET_KEY_ENDINGS: &[&[u8]] = &[
    b"password",
    b"passwd",
    b"passphrase",
    b"pwd",
    b"secret",
    b"token",
    b"apikey",
    b"privatekey",
    b"secretkey",
    b"credential",
    b"credentials",
];

/// How much of a key name's end decides whether it names a secret.
const KEY_MAX: usize = 64;

/// What the detectors found in one line.
pub(super) struct Found {
    enabled: u16,
    pub(super) spans: Vec<Span>,
    /// Existing `[REDACTED:…]` markers, in order.
    pub(super) markers: Vec<(usize, usize)>,
    /// Positions of `@` that separate a URL's user part from its host.
    url_ats: Vec<usize>,
    /// Triggers before this position were already covered by a key or value.
    key_done: usize,
    /// Hits before these positions lie inside an earlier token of the kind.
    github_done: usize,
    slack_done: usize,
    aws_key_seen: bool,
}

impl Found {
    pub(super) fn new(enabled: u16) -> Found {
        Found {
            enabled,
            spans: Vec::new(),
            markers: Vec::new(),
            url_ats: Vec::new(),
            key_done: 0,
            github_done: 0,
            slack_done: 0,
            aws_key_seen: false,
        }
    }

    fn on(&self, kind: Kind) -> bool {
        self.enabled & kind.bit() != 0
    }

    fn push(&mut self, start: usize, end: usize, kind: Kind) {
        if start < end && self.on(kind) {
            self.spans.push(Span {
                start,
                end,
                label: Label::Kind(kind),
            });
        }
    }
}

/// Bytes a marker's name may hold (built-in kinds and extra-pattern names).
pub(super) fn is_marker_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-')
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
}

fn is_email_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_email_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// End of the run of `pred` bytes from `from`, at most `max` long.
fn run_end(b: &[u8], from: usize, max: usize, pred: impl Fn(u8) -> bool) -> usize {
    let limit = b.len().min(from.saturating_add(max));
    let mut i = from.min(limit);
    while i < limit && pred(b[i]) {
        i += 1;
    }
    i
}

/// Start of the run of `pred` bytes ending at `to`, at most `max` long.
fn run_start(b: &[u8], to: usize, max: usize, pred: impl Fn(u8) -> bool) -> usize {
    let limit = to.saturating_sub(max);
    let mut i = to;
    while i > limit && pred(b[i - 1]) {
        i -= 1;
    }
    i
}

/// Whether `b[i - 2..i]` is a JSON escape that ends a word (`\n`, `\t`, `\r`).
fn after_escape(b: &[u8], i: usize) -> bool {
    i >= 2 && b[i - 2] == b'\\' && matches!(b[i - 1], b'n' | b't' | b'r')
}

/// Whether a word may start at `i`: not glued to a letter or digit before it.
fn starts_word(b: &[u8], i: usize) -> bool {
    i == 0 || !b[i - 1].is_ascii_alphanumeric() || after_escape(b, i)
}

/// Whether a word may end at `i`: not glued to a letter or digit after it.
fn ends_word(b: &[u8], i: usize) -> bool {
    i >= b.len() || !b[i].is_ascii_alphanumeric()
}

fn skip_blanks(b: &[u8], i: usize) -> usize {
    run_end(b, i, 16, |c| c == b' ' || c == b'\t')
}

/// The built-in detectors of one redactor: the pre-pass ([`prepass`]), the
/// search for trigger words, then each detector at each of its hits and
/// spots.
#[derive(Debug, Clone)]
pub(super) struct Scanner {
    search: Search,
    /// What each pattern of `search` sets off.
    of: Vec<Trigger>,
}

/// The search for trigger words. It runs over a lower-cased copy of the
/// line with lower-case patterns: a case-sensitive search can use a SIMD
/// prefilter, which a case-insensitive one cannot (three times faster on
/// log text).
#[derive(Debug, Clone)]
enum Search {
    /// The packed (Teddy) searcher alone, where the CPU has one (x86_64,
    /// aarch64): without the automaton that `AhoCorasick` runs behind it
    /// as a prefilter, a fifth faster on the bench's log text.
    Packed(packed::Searcher),
    /// Anywhere else.
    Automaton(AhoCorasick),
}

impl Search {
    fn new(patterns: &[&str]) -> Search {
        let packed = packed::Config::new()
            .match_kind(packed::MatchKind::LeftmostFirst)
            .builder()
            .extend(patterns)
            .build();
        match packed {
            Some(searcher) => Search::Packed(searcher),
            None => Search::Automaton(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(patterns)
                    .expect("the trigger set is small and valid"),
            ),
        }
    }

    /// Calls `hit(start, end, pattern)` for each non-overlapping match in
    /// `haystack`, leftmost first.
    fn for_each(&self, haystack: &[u8], mut hit: impl FnMut(usize, usize, usize)) {
        match self {
            Search::Packed(searcher) => {
                for m in searcher.find_iter(haystack) {
                    hit(m.start(), m.end(), m.pattern().as_usize());
                }
            }
            Search::Automaton(ac) => {
                for m in ac.find_iter(haystack) {
                    hit(m.start(), m.end(), m.pattern().as_usize());
                }
            }
        }
    }
}

/// Buffers reused from line to line on each thread.
struct Scratch {
    /// The lower-cased line.
    lower: Vec<u8>,
    /// The spots of each 64-byte block of the line.
    spots: Vec<Spots>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const {
        RefCell::new(Scratch {
            lower: Vec::new(),
            spots: Vec::new(),
        })
    };
}

/// A lower-case buffer larger than this is not kept for the next line.
const LOWER_KEEP: usize = 1 << 20;

impl Scanner {
    pub(super) fn new(enabled: u16) -> Scanner {
        let (patterns, of): (Vec<&str>, Vec<Trigger>) = TRIGGERS
            .iter()
            .filter(|(_, trigger)| trigger.kinds() & enabled != 0 || *trigger == Trigger::Marker)
            .copied()
            .unzip();
        debug_assert!(patterns.iter().all(|p| *p == p.to_ascii_lowercase()));
        Scanner {
            search: Search::new(&patterns),
            of,
        }
    }

    /// Runs every enabled built-in detector over `line`.
    pub(super) fn scan(&self, line: &str, f: &mut Found) {
        let b = line.as_bytes();
        SCRATCH.with_borrow_mut(|scratch| {
            let Scratch { lower, spots } = scratch;
            let any = prepass(b, lower, spots);
            // Positions in `lower` are positions in `b`: ASCII lower-casing
            // keeps every byte in place.
            self.search
                .for_each(&lower[..b.len()], |p, e, pattern| match self.of[pattern] {
                    Trigger::Key => key_value(b, p, e, f),
                    Trigger::Bearer => bearer(b, p, e, f),
                    Trigger::Jwt => jwt(b, p, f),
                    Trigger::AwsKey => aws_key(b, p, f),
                    Trigger::Github => github(b, p, e, f),
                    Trigger::Slack => slack(b, p, f),
                    Trigger::SlackWebhook => slack_webhook(b, e, f),
                    Trigger::Stripe => stripe(b, p, e, f),
                    Trigger::Url => url_password(b, p, f),
                    Trigger::Email => email(line, p, e, f),
                    Trigger::Marker => marker(b, p, f),
                });
            // After every URL was seen: the e-mail detector skips the `@`
            // of a URL's user part.
            if f.on(Kind::Email) && any.ats != 0 {
                for_each_spot(spots, |s| s.ats, |p| email(line, p, p + 1, f));
            }
            if f.aws_key_seen && f.on(Kind::AwsSecret) {
                aws_secret_beside_key(b, f);
            }
            if f.on(Kind::Iban) && any.ibans != 0 {
                for_each_spot(spots, |s| s.ibans, |p| iban_spot(b, p - 2, f));
            }
            if f.on(Kind::Card) && any.cards != 0 {
                for_each_spot(spots, |s| s.cards, |p| card_run(b, p, f));
            }
            if lower.capacity() > LOWER_KEEP {
                *lower = Vec::new();
                *spots = Vec::new();
            }
        });
    }
}

fn marker(b: &[u8], p: usize, f: &mut Found) {
    if let Some(end) = marker_end(b, p) {
        f.markers.push((p, end));
    }
}

/// The end of the `[REDACTED:name]` marker starting at `p`, if one does.
fn marker_end(b: &[u8], p: usize) -> Option<usize> {
    if !b[p..].starts_with(super::MARKER_PREFIX.as_bytes()) {
        return None;
    }
    let name_start = p + super::MARKER_PREFIX.len();
    let name_end = run_end(b, name_start, super::MAX_NAME_LEN, is_marker_name_byte);
    (name_end > name_start && b.get(name_end) == Some(&b']')).then_some(name_end + 1)
}

/// How a key's value is treated, from the key's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyClass {
    Secret,
    AwsSecret,
    /// `Authorization`: `Scheme credentials`.
    Authorization,
    /// `PWD` / `OLDPWD`: a secret unless the value is a path.
    Pwd,
}

fn classify_key(key: &[u8]) -> Option<KeyClass> {
    // Lower case, separators dropped, last KEY_MAX bytes: the ending decides.
    let mut buf = [0u8; KEY_MAX];
    let mut n = 0;
    for &c in key.iter().rev() {
        if matches!(c, b'_' | b'-' | b'.') {
            continue;
        }
        if n == KEY_MAX {
            break;
        }
        buf[KEY_MAX - 1 - n] = c.to_ascii_lowercase();
        n += 1;
    }
    let norm = &buf[KEY_MAX - n..];
    let has = |needle: &[u8]| norm.windows(needle.len()).any(|w| w == needle);
    if norm.ends_with(b"authorization") {
        Some(KeyClass::Authorization)
    } else if norm.ends_with(b"secretaccesskey")
        || (has(b"aws") && (norm.ends_with(b"secretkey") || norm.ends_with(b"secret")))
    {
        Some(KeyClass::AwsSecret)
    } else if norm == b"pwd" || norm == b"oldpwd" {
        Some(KeyClass::Pwd)
    } else if SECRET_KEY_ENDINGS.iter().any(|end| norm.ends_with(end)) {
        Some(KeyClass::Secret)
    } else {
        None
    }
}

/// `key=value`, `key: value`, `"key": "value"`, `'key': 'value'`,
/// `\"key\":\"value\"`, `key => value`, `--key value`.
fn key_value(b: &[u8], p: usize, e: usize, f: &mut Found) {
    if p < f.key_done {
        return;
    }
    let start = run_start(b, p, p - f.key_done, is_key_byte);
    let end = run_end(b, e, usize::MAX, is_key_byte);
    f.key_done = end;
    if start > 0 && matches!(b[start - 1], b'/' | b'\\') {
        return; // a path such as /etc/passwd, not a key
    }
    // `arn:aws:secretsmanager:…:secret:NAME`, `urn:…:token:…`: a segment
    // of a colon path, not a key.
    let colon_path = start > 0 && b[start - 1] == b':' && b.get(end) == Some(&b':');
    let Some(class) = classify_key(&b[start..end]) else {
        return;
    };
    let mut q = end;
    match b.get(q) {
        Some(b'"' | b'\'') => q += 1,
        Some(b'\\') if b.get(q + 1) == Some(&b'"') => q += 2,
        _ => {}
    }
    q = skip_blanks(b, q);
    let rest = &b[q..];
    if rest.starts_with(b"=>") || rest.starts_with(b":=") {
        q += 2;
    } else if rest.starts_with(b"://") {
        return;
    } else if rest.starts_with(b"=") || (rest.starts_with(b":") && !colon_path) {
        q += 1;
    } else if b[start..].starts_with(b"--") && q == end + 1 && b[end] == b' ' {
        // `--password hunter2`: a command line in a process log.
    } else {
        return;
    }
    q = skip_blanks(b, q);
    if let Some((vs, ve, kind)) = value(b, q, class) {
        f.key_done = f.key_done.max(ve);
        f.push(vs, ve, kind);
    }
}

/// The secret part of the value starting at `v`, if there is one.
fn value(b: &[u8], v: usize, class: KeyClass) -> Option<(usize, usize, Kind)> {
    let (cs, ce, quoted) = match b.get(v)? {
        b'\\' if b.get(v + 1) == Some(&b'"') => {
            let cs = v + 2;
            let ce = find(b, cs, b"\\\"").unwrap_or(b.len());
            (cs, ce, true)
        }
        b'"' => (v + 1, json_string_end(b, v + 1), true),
        b'\'' => (v + 1, find(b, v + 1, b"'").unwrap_or(b.len()), true),
        // A structured value: its own keys are looked at in turn.
        b'{' => return None,
        b'[' if b
            .get(v + 1)
            .is_none_or(|c| c.is_ascii_whitespace() || matches!(c, b'{' | b'[' | b'"' | b']')) =>
        {
            return None;
        }
        _ => (v, unquoted_end(b, v), false),
    };
    let (vs, ve, kind) = match class {
        KeyClass::Authorization => {
            let scheme_end = run_end(b, cs, 32, |c| c.is_ascii_alphabetic());
            let creds = skip_blanks(b, scheme_end);
            let limit = if quoted { ce } else { b.len() };
            if scheme_end > cs && creds > scheme_end && creds < limit {
                let kind = if b[cs..scheme_end].eq_ignore_ascii_case(b"bearer") {
                    Kind::Bearer
                } else {
                    Kind::Secret
                };
                let end = if quoted { ce } else { unquoted_end(b, creds) };
                (creds, end, kind)
            } else {
                (cs, ce, Kind::Secret)
            }
        }
        KeyClass::AwsSecret => (cs, ce, Kind::AwsSecret),
        KeyClass::Secret | KeyClass::Pwd => (cs, ce, Kind::Secret),
    };
    let ve = if quoted {
        ve
    } else {
        // `{password=hunter2}`, `password=hunter2, user=bob`, `password=x.`
        vs + b[vs..ve]
            .iter()
            .rposition(|c| !matches!(c, b',' | b';' | b')' | b']' | b'}' | b'.'))
            .map_or(0, |i| i + 1)
    };
    let text = &b[vs..ve];
    if text.is_empty()
        || text.iter().all(|&c| c == b'*')
        || NOT_SECRET_VALUES
            .iter()
            .any(|w| text.eq_ignore_ascii_case(w.as_bytes()))
        || (class == KeyClass::Pwd && matches!(text[0], b'/' | b'~'))
    {
        return None;
    }
    Some((vs, ve, kind))
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| from + i)
}

/// End of a JSON string's content starting at `from` (its closing quote),
/// or the end of the line.
fn json_string_end(b: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'"' => return i,
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    b.len()
}

/// End of an unquoted value: whitespace, `&`, a quote, `<`, `>`, or a JSON
/// escape for a quote or a line break (the value sits inside a JSON
/// string), whichever comes first.
fn unquoted_end(b: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < b.len() {
        match b[i] {
            c if c.is_ascii_whitespace() => return i,
            b'&' | b'"' | b'\'' | b'<' | b'>' => return i,
            b'\\' => match b.get(i + 1) {
                Some(b'"' | b'n' | b'r' | b't') => return i,
                Some(b'\\') => i += 2,
                _ => i += 1,
            },
            _ => i += 1,
        }
    }
    b.len().min(i)
}

/// Whether a bearer token looks random rather than like a word of prose
/// (`Bearer token expired` stays).
fn looks_random(tok: &[u8]) -> bool {
    tok.len() >= 8
        && (tok.iter().any(u8::is_ascii_digit)
            || tok
                .iter()
                .any(|c| matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'='))
            || (tok[1..].iter().any(u8::is_ascii_uppercase)
                && tok.iter().any(u8::is_ascii_lowercase)))
}

/// `Bearer TOKEN`, `bearer=TOKEN`, `bearer: TOKEN`, `Bearer+TOKEN`, `Bearer%20TOKEN`.
fn bearer(b: &[u8], p: usize, e: usize, f: &mut Found) {
    if !starts_word(b, p) {
        return;
    }
    let q = match b.get(e) {
        Some(b' ' | b'\t') => skip_blanks(b, e),
        Some(b'=' | b':') => {
            let q = skip_blanks(b, e + 1);
            if matches!(b.get(q), Some(b'"' | b'\'')) {
                q + 1
            } else {
                q
            }
        }
        Some(b'+') => e + 1,
        Some(b'%') if b[e..].starts_with(b"%20") => e + 3,
        _ => return,
    };
    let mut end = run_end(b, q, usize::MAX, is_token_byte);
    end = run_end(b, end, 3, |c| c == b'=');
    // `Bearer realm="api"`, `Bearer error=x`: a parameter, not a token.
    // Base64 padding must end a token, so that what follows decides the
    // same way on redacted text as on the original.
    let ends_token = |c: &u8| {
        c.is_ascii_whitespace()
            || matches!(
                c,
                b'"' | b'\'' | b',' | b';' | b')' | b']' | b'}' | b'&' | b'<' | b'>' | b'\\'
            )
    };
    if end > q && b[end - 1] == b'=' && b.get(end).is_some_and(|c| !ends_token(c)) {
        return;
    }
    // A run that a first pass cut short with a marker was refused whole.
    if end < b.len() && marker_end(b, end).is_some() {
        return;
    }
    if looks_random(&b[q..end]) {
        f.push(q, end, Kind::Bearer);
    }
}

/// `eyJ….….…` (and the five parts of an encrypted JWT).
fn jwt(b: &[u8], p: usize, f: &mut Found) {
    if !b[p..].starts_with(b"eyJ") || (p > 0 && is_b64url(b[p - 1]) && !after_escape(b, p)) {
        return;
    }
    let header_end = run_end(b, p, usize::MAX, is_b64url);
    if header_end - p < 10 || b.get(header_end) != Some(&b'.') {
        return;
    }
    let payload_end = run_end(b, header_end + 1, usize::MAX, is_b64url);
    if payload_end - header_end - 1 < 2 || b.get(payload_end) != Some(&b'.') {
        return;
    }
    let mut end = run_end(b, payload_end + 1, usize::MAX, is_b64url);
    for _ in 0..2 {
        if b.get(end) == Some(&b'.') && b.get(end + 1).is_some_and(|c| is_b64url(*c)) {
            end = run_end(b, end + 1, usize::MAX, is_b64url);
        }
    }
    f.push(p, end, Kind::Jwt);
}

/// `AKIA` or `ASIA` and 16 more upper-case letters or digits.
fn aws_key(b: &[u8], p: usize, f: &mut Found) {
    if !(b[p..].starts_with(b"AKIA") || b[p..].starts_with(b"ASIA")) || !starts_word(b, p) {
        return;
    }
    let end = run_end(b, p + 4, 16, |c| {
        c.is_ascii_uppercase() || c.is_ascii_digit()
    });
    if end == p + 20 && ends_word(b, end) {
        f.aws_key_seen = true;
        f.push(p, end, Kind::AwsKey);
    }
}

/// A 40-character mixed-case base64 word on a line that holds an access key
/// id: the secret key printed beside its id (`AKIA…:wJalr…`).
fn aws_secret_beside_key(b: &[u8], f: &mut Found) {
    let is_b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'/' || c == b'+';
    let mut i = 0;
    while i < b.len() {
        if !is_b64(b[i]) {
            i += 1;
            continue;
        }
        let end = run_end(b, i, usize::MAX, is_b64);
        let word = &b[i..end];
        if word.len() == 40
            && word.iter().any(u8::is_ascii_uppercase)
            && word.iter().any(u8::is_ascii_lowercase)
        {
            f.push(i, end, Kind::AwsSecret);
        }
        i = end;
    }
}

/// `ghp_ gho_ ghu_ ghs_ ghr_` + at least 20 letters or digits; `github_pat_` + 20 more.
fn github(b: &[u8], p: usize, e: usize, f: &mut Found) {
    let prefix = &b[p..e];
    let exact =
        prefix == b"github_pat_" || (prefix.starts_with(b"gh") && prefix[2].is_ascii_lowercase());
    if !exact || !starts_word(b, p) {
        return;
    }
    if p < f.github_done {
        return;
    }
    let end = if prefix == b"github_pat_" {
        run_end(b, e, usize::MAX, |c| c.is_ascii_alphanumeric() || c == b'_')
    } else {
        run_end(b, e, usize::MAX, |c| c.is_ascii_alphanumeric())
    };
    f.github_done = end;
    if end - e >= 20 {
        f.push(p, end, Kind::GithubToken);
    }
}

/// `xox[abposr]-` + at least 10 letters, digits or dashes.
fn slack(b: &[u8], p: usize, f: &mut Found) {
    let shaped = b[p..].starts_with(b"xox")
        && matches!(b.get(p + 3), Some(b'a' | b'b' | b'p' | b'o' | b's' | b'r'))
        && b.get(p + 4) == Some(&b'-');
    if !shaped || !starts_word(b, p) || p < f.slack_done {
        return;
    }
    let end = run_end(b, p + 5, usize::MAX, |c| {
        c.is_ascii_alphanumeric() || c == b'-'
    });
    f.slack_done = end;
    if end - (p + 5) >= 10 {
        f.push(p, end, Kind::SlackToken);
    }
}

/// `hooks.slack.com/services/T…/B…/…`: the path is the webhook's secret.
fn slack_webhook(b: &[u8], e: usize, f: &mut Found) {
    if !b[e..].starts_with(b"services/") {
        return;
    }
    let start = e + "services/".len();
    let end = run_end(b, start, usize::MAX, |c| {
        c.is_ascii_alphanumeric() || matches!(c, b'/' | b'_' | b'-')
    });
    if end - start >= 8 {
        f.push(start, end, Kind::SlackToken);
    }
}

/// `sk_live_ rk_live_ sk_test_ rk_test_` + at least 10 letters or digits.
fn stripe(b: &[u8], p: usize, e: usize, f: &mut Found) {
    if p == 0 || !matches!(b[p - 1], b's' | b'r') || !starts_word(b, p - 1) {
        return;
    }
    if !(b[p..e] == *b"k_live_" || b[p..e] == *b"k_test_") {
        return;
    }
    let end = run_end(b, e, usize::MAX, |c| c.is_ascii_alphanumeric());
    if end - e >= 10 {
        f.push(p - 1, end, Kind::StripeKey);
    }
}

/// `scheme://user:PASSWORD@host`: only the password goes. The scheme is
/// not looked at: what precedes `://` may be a marker on a second pass.
fn url_password(b: &[u8], p: usize, f: &mut Found) {
    let from = p + 3;
    let end = run_end(b, from, usize::MAX, |c| {
        !(c.is_ascii_whitespace()
            || matches!(c, b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>' | b'\\'))
    });
    let Some(at) = b[from..end]
        .iter()
        .rposition(|&c| c == b'@')
        .map(|i| from + i)
    else {
        return;
    };
    f.url_ats.push(at);
    // The first `:` of the user part, not one inside a marker a first pass
    // wrote (`scheme://[REDACTED:aws_key]@host` has no password).
    let mut k = from;
    while k < at {
        if let Some(end) = marker_end(b, k) {
            k = end;
        } else if b[k] == b':' {
            f.push(k + 1, at, Kind::UrlPassword);
            return;
        } else {
            k += 1;
        }
    }
}

/// `local@domain.tld`, or `local%40domain.tld` in a URL-encoded query.
/// Local part and domain may hold non-ASCII letters (`jürgen@münchen.de`).
/// Neither extends over another `@` or `%40`, so each address is read once.
pub(super) fn email(line: &str, p: usize, e: usize, f: &mut Found) {
    let b = line.as_bytes();
    if !f.on(Kind::Email) || f.url_ats.contains(&p) {
        return;
    }
    let is_local = |c: char| {
        if c.is_ascii() {
            is_email_local(c as u8)
        } else {
            c.is_alphanumeric()
        }
    };
    let mut s = p;
    for (i, c) in line[..p].char_indices().rev() {
        if !is_local(c) || after_escape(b, i + 1) || b[..=i].ends_with(b"%40") {
            break;
        }
        s = i;
    }
    while s < p && b[s] == b'.' {
        s += 1;
    }
    if s == p {
        return;
    }
    let domain_len = line[e..]
        .char_indices()
        .find(|&(_, c)| {
            let domain_char = if c.is_ascii() {
                is_email_domain(c as u8)
            } else {
                c.is_alphanumeric()
            };
            !domain_char
        })
        .map_or(line.len() - e, |(i, _)| i);
    // A domain a first pass cut short with a marker was refused whole
    // (`0@example.com-AKIA…`: `com-AKIA…` is no top-level domain).
    if marker_end(b, e + domain_len).is_some() {
        return;
    }
    let domain = line[e..e + domain_len].trim_end_matches(['.', '-']);
    let Some((name, tld)) = domain.rsplit_once('.') else {
        return;
    };
    if !name.is_empty()
        && !name.starts_with(['.', '-'])
        && !domain.contains("..")
        && tld.chars().count() >= 2
        && tld.chars().all(char::is_alphabetic)
    {
        f.push(s, e + domain.len(), Kind::Email);
    }
}

/// Where the pre-pass saw the end of something a detector without a
/// trigger word looks at: one bit per byte of a 64-byte block of the line
/// (bit `i` of block `k` is byte `64 * k + i`). Log lines are full of short
/// digit runs (times, dates, ids, hex): a loop over them a byte at a time
/// cost as much as all the rest of the redactor, while with one bit per
/// byte a block is classified in a few vector instructions and its runs
/// measured with a few shifts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Spots {
    /// The 13th byte of a run of digits, spaces and dashes, once per run:
    /// a card number needs 13 digits in such a run.
    cards: u64,
    /// A digit after two capitals: how an IBAN starts.
    ibans: u64,
    /// An `@`.
    ats: u64,
}

/// The byte classes the pre-pass needs, one bit per byte of a 64-byte block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Classes {
    digit: u64,
    upper: u64,
    /// Digits, spaces and dashes: what a card number may be written with.
    number: u64,
    at: u64,
}

/// Writes `b` lower-cased into the first `b.len()` bytes of `lower` and
/// notes the spots of each of its 64-byte blocks in `spots` (the last block
/// padded with NUL, which is in no class). Returns all the spots of the
/// line or-ed together, so that a detector with none skips the blocks.
fn prepass(b: &[u8], lower: &mut Vec<u8>, spots: &mut Vec<Spots>) -> Spots {
    // Whole blocks, so that each is written in place; what lies past the
    // line is left over from longer lines and never read.
    let whole = 64 * b.len().div_ceil(64);
    if lower.len() < whole {
        lower.resize(whole, 0);
    }
    spots.clear();
    let mut any = Spots::default();
    let mut prev = Classes::default();
    for (block, out) in b.chunks(64).zip(lower.chunks_exact_mut(64)) {
        let out = out.try_into().expect("a 64-byte chunk");
        let now = match block.try_into() {
            Ok(block) => classify(block, out),
            Err(_) => {
                let mut padded = [0u8; 64];
                padded[..block.len()].copy_from_slice(block);
                classify(&padded, out)
            }
        };
        let s = spots_of(now, prev);
        any.cards |= s.cards;
        any.ibans |= s.ibans;
        any.ats |= s.ats;
        spots.push(s);
        prev = now;
    }
    any
}

/// The spots of a block of classes `now` that follows a block of classes
/// `prev` (all empty before the first block), so that a run or a pair may
/// start in the block before.
fn spots_of(now: Classes, prev: Classes) -> Spots {
    // Bit `64 + i` of a joined word is byte `i` of this block, bit `i` is
    // byte `i` of the block before: shifting left looks back.
    let join = |now: u64, prev: u64| (u128::from(now) << 64) | u128::from(prev);
    let this_block = |w: u128| (w >> 64) as u64;
    let number = join(now.number, prev.number);
    // Bit j set: bytes j-12..=j all belong to a number (2, 4, 8, then 13).
    let mut run13 = number & (number << 1);
    run13 &= run13 << 2;
    run13 &= run13 << 4;
    run13 &= run13 << 5;
    // Once per run: byte j-13 is not part of it. Within a block, j-13 is
    // never before the block before.
    let cards = this_block(run13 & !(number << 13));
    let upper = join(now.upper, prev.upper);
    let ibans = now.digit & this_block(upper << 1) & this_block(upper << 2);
    Spots {
        cards,
        ibans,
        ats: now.at,
    }
}

/// The byte classes of `block`, which it writes lower-cased to `lower`,
/// with SSE2 (every x86_64 CPU has it).
#[cfg(target_arch = "x86_64")]
fn classify(block: &[u8; 64], lower: &mut [u8; 64]) -> Classes {
    use std::arch::x86_64::{
        _mm_add_epi8, _mm_and_si128, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128,
        _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_storeu_si128,
    };
    let mut c = Classes::default();
    for (q, (chunk, out)) in block
        .chunks_exact(16)
        .zip(lower.chunks_exact_mut(16))
        .enumerate()
    {
        // SAFETY: SSE2 is part of the x86_64 baseline, so these intrinsics
        // exist on every CPU this code runs on; the unaligned load and
        // store touch exactly the 16 bytes of `chunk` and of `out`.
        let masks = unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().cast());
            // Signed comparisons against shifted bytes: `+ 80` maps
            // '0'..='9' to -128..=-119, `+ 63` maps 'A'..='Z' to -128..=-103,
            // and every other byte above them.
            let digit = _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8(80)), _mm_set1_epi8(-118));
            let upper = _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8(63)), _mm_set1_epi8(-102));
            let space = _mm_cmpeq_epi8(v, _mm_set1_epi8(b' ' as i8));
            let dash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'-' as i8));
            let number = _mm_or_si128(digit, _mm_or_si128(space, dash));
            let at = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'@' as i8));
            let lowered = _mm_or_si128(v, _mm_and_si128(upper, _mm_set1_epi8(0x20)));
            _mm_storeu_si128(out.as_mut_ptr().cast(), lowered);
            [digit, upper, number, at].map(|m| u64::from(_mm_movemask_epi8(m) as u16) << (16 * q))
        };
        let [digit, upper, number, at] = masks;
        c.digit |= digit;
        c.upper |= upper;
        c.number |= number;
        c.at |= at;
    }
    c
}

/// The byte classes of `block`, which it writes lower-cased to `lower`, one
/// byte at a time.
#[cfg(not(target_arch = "x86_64"))]
fn classify(block: &[u8; 64], lower: &mut [u8; 64]) -> Classes {
    classify_bytewise(block, lower)
}

/// The reference for [`classify`] (and what it does without SSE2).
#[cfg(any(test, not(target_arch = "x86_64")))]
fn classify_bytewise(block: &[u8; 64], lower: &mut [u8; 64]) -> Classes {
    let mut c = Classes::default();
    for (i, (&x, out)) in block.iter().zip(lower.iter_mut()).enumerate() {
        *out = x.to_ascii_lowercase();
        let bit = 1u64 << i;
        if x.is_ascii_digit() {
            c.digit |= bit;
        }
        if x.is_ascii_uppercase() {
            c.upper |= bit;
        }
        if is_number_byte(x) {
            c.number |= bit;
        }
        if x == b'@' {
            c.at |= bit;
        }
    }
    c
}

/// Calls `at(position)` for each bit `which` picks from `spots`, in order.
fn for_each_spot(spots: &[Spots], which: impl Fn(&Spots) -> u64, mut at: impl FnMut(usize)) {
    for (k, s) in spots.iter().enumerate() {
        let mut bits = which(s);
        while bits != 0 {
            at(64 * k + bits.trailing_zeros() as usize);
            bits &= bits - 1;
        }
    }
}

fn is_number_byte(c: u8) -> bool {
    c.is_ascii_digit() || c == b' ' || c == b'-'
}

/// The cards in the run of digits, spaces and dashes whose 13th byte is `p`.
fn card_run(b: &[u8], p: usize, f: &mut Found) {
    let end = run_end(b, p, usize::MAX, is_number_byte);
    card_runs(b, p - 12, end, f);
}

fn iban_spot(b: &[u8], s: usize, f: &mut Found) {
    if starts_word(b, s)
        && let Some(end) = iban_at(b, s)
    {
        f.push(s, end, Kind::Iban);
    }
}

/// The runs of digit groups (joined by single spaces or dashes) that start
/// in `from..to`, each checked for cards.
fn card_runs(b: &[u8], from: usize, to: usize, f: &mut Found) {
    let mut i = from;
    while i < to {
        match b[i..to].iter().position(u8::is_ascii_digit) {
            Some(k) => i += k,
            None => return,
        }
        let start = i;
        // Count first: most runs are too short to be a card.
        let mut groups = 0;
        let mut digits = 0;
        let mut j = start;
        loop {
            let gs = j;
            j = run_end(b, j, usize::MAX, |c| c.is_ascii_digit());
            groups += 1;
            digits += j - gs;
            let joined = matches!(b.get(j), Some(b' ' | b'-'))
                && b.get(j + 1).is_some_and(u8::is_ascii_digit);
            if !joined {
                break;
            }
            j += 1;
        }
        i = j;
        if digits < 13 {
            continue;
        }
        if groups == 1 {
            cards_in(b, &[(start, j)], f);
        } else {
            let mut all = Vec::with_capacity(groups);
            let mut k = start;
            while k < j {
                let ge = run_end(b, k, usize::MAX, |c| c.is_ascii_digit());
                all.push((k, ge));
                k = ge + 1;
            }
            cards_in(b, &all, f);
        }
    }
}

/// Card numbers among consecutive digit `groups`: the longest run of
/// groups of 13–19 digits, either one solid group or groups of at most six
/// digits (all but the last of four or more), with the prefix and length
/// of a card network, that passes Luhn.
fn cards_in(b: &[u8], groups: &[(usize, usize)], f: &mut Found) {
    let first = groups[0].0;
    let last = groups[groups.len() - 1].1;
    // Not glued to a word, an identifier or a decimal point on either side.
    let left_ok = starts_word(b, first)
        && !(first > 0 && matches!(b[first - 1], b'_' | b'.'))
        && !(first >= 2 && b[first - 1] == b'-' && b[first - 2].is_ascii_alphanumeric());
    let right_ok = ends_word(b, last)
        && b.get(last) != Some(&b'_')
        && !(b.get(last) == Some(&b'.') && b.get(last + 1).is_some_and(u8::is_ascii_digit));
    let lo = usize::from(!left_ok);
    let hi = groups.len() - usize::from(!right_ok);
    let mut a = lo;
    while a < hi {
        let mut best = None;
        let mut digits = 0;
        for z in a..hi {
            let len = |k: usize| groups[k].1 - groups[k].0;
            // Grouped as cards are printed (4-4-4-4, 4-6-5, 4-4-4-4-3):
            // no group of more than six digits, none but the last under four.
            if z > a && (!(4..=6).contains(&len(z - 1)) || len(z) > 6) {
                break;
            }
            digits += len(z);
            if digits > 19 {
                break;
            }
            if digits >= 13 {
                let mut pan = [0u8; 19];
                let mut n = 0;
                for &c in &b[groups[a].0..groups[z].1] {
                    if c.is_ascii_digit() {
                        pan[n] = c;
                        n += 1;
                    }
                }
                if card_network_ok(&pan[..n]) && luhn_ok(&pan[..n]) {
                    best = Some(z);
                }
            }
        }
        match best {
            Some(z) => {
                f.push(groups[a].0, groups[z].1, Kind::Card);
                a = z + 1;
            }
            None => a += 1,
        }
    }
}

/// The end of a valid IBAN starting at `s` (two capitals, then its check
/// digits), written solid or in groups of four separated by single spaces.
fn iban_at(b: &[u8], s: usize) -> Option<usize> {
    let len = iban_length([b[s], b[s + 1]])?;
    let mut chars = [0u8; 34];
    let mut count = 0;
    let mut i = s;
    let is_iban_char = |c: u8| c.is_ascii_digit() || c.is_ascii_uppercase();
    while count < len {
        let c = *b.get(i)?;
        if is_iban_char(c) {
            chars[count] = c;
            count += 1;
            i += 1;
        } else if c == b' ' && count % 4 == 0 && b.get(i + 1).is_some_and(|c| is_iban_char(*c)) {
            i += 1;
        } else {
            return None;
        }
    }
    let check_digits = chars[2].is_ascii_digit() && chars[3].is_ascii_digit();
    (check_digits && ends_word(b, i) && iban_mod97_ok(&chars[..len])).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines of digits, spaces, dashes, capitals, `@` and letters, 0 to
    /// 200 bytes long, the same on every run.
    fn dense_lines() -> Vec<Vec<u8>> {
        const ALPHABET: &[u8] = b"0123456789     ---ABZ@xy\x00\xc3";
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..3000)
            .map(|_| {
                let len = (next() % 200) as usize;
                (0..len)
                    .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_vector_byte_classes_are_the_bytewise_ones() {
        let mut blocks: Vec<[u8; 64]> = (0..=255u8).map(|v| [v; 64]).collect();
        for q in 0..4u8 {
            blocks.push(std::array::from_fn(|i| q * 64 + i as u8));
        }
        blocks.extend(dense_lines().iter().filter(|l| l.len() >= 64).map(|l| {
            let block: [u8; 64] = l[..64].try_into().unwrap();
            block
        }));
        for block in blocks {
            let (mut vector, mut bytewise) = ([0u8; 64], [0u8; 64]);
            assert_eq!(
                classify(&block, &mut vector),
                classify_bytewise(&block, &mut bytewise),
                "{block:?}"
            );
            assert_eq!(vector, bytewise);
            assert_eq!(vector, block.map(|c| c.to_ascii_lowercase()));
        }
    }

    /// The spots of `b`, found one byte at a time.
    fn spots_bytewise(b: &[u8]) -> [Vec<usize>; 3] {
        let number = |i: usize| is_number_byte(b[i]);
        let cards = (12..b.len())
            .filter(|&p| (p - 12..=p).all(number) && (p == 12 || !number(p - 13)))
            .collect();
        let ibans = (2..b.len())
            .filter(|&p| {
                b[p].is_ascii_digit()
                    && b[p - 1].is_ascii_uppercase()
                    && b[p - 2].is_ascii_uppercase()
            })
            .collect();
        let ats = (0..b.len()).filter(|&p| b[p] == b'@').collect();
        [cards, ibans, ats]
    }

    #[test]
    fn the_prepass_marks_every_spot_once_also_across_blocks() {
        let mut lower = Vec::new();
        let mut spots = Vec::new();
        for line in dense_lines() {
            prepass(&line, &mut lower, &mut spots);
            let mut found = [Vec::new(), Vec::new(), Vec::new()];
            for_each_spot(&spots, |s| s.cards, |p| found[0].push(p));
            for_each_spot(&spots, |s| s.ibans, |p| found[1].push(p));
            for_each_spot(&spots, |s| s.ats, |p| found[2].push(p));
            assert_eq!(found, spots_bytewise(&line), "{line:?}");
            assert_eq!(lower[..line.len()], line.to_ascii_lowercase());
        }
    }

    #[test]
    fn the_packed_search_finds_what_the_automaton_finds() {
        let patterns: Vec<&str> = TRIGGERS.iter().map(|(p, _)| *p).collect();
        let Search::Packed(packed) = Search::new(&patterns) else {
            return; // no packed searcher on this CPU: nothing to compare
        };
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(&patterns)
            .unwrap();
        let text = [
            include_str!("../../tests/data/redact/secrets.tsv"),
            include_str!("../../tests/data/redact/lookalikes.txt"),
        ]
        .concat()
        .to_ascii_lowercase();
        for line in text.lines() {
            let hits = |search: &Search| {
                let mut hits = Vec::new();
                search.for_each(line.as_bytes(), |p, e, i| hits.push((p, e, i)));
                hits
            };
            let (a, b) = (
                hits(&Search::Packed(packed.clone())),
                hits(&Search::Automaton(ac.clone())),
            );
            assert_eq!(a, b, "{line}");
        }
    }
}
