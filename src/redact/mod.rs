//! The gateway's redactor: every log line passes through it before a byte
//! leaves the gateway (DESIGN.md section 4, rule 5), and `breakglass redact`
//! runs exactly the same code so a policy author can check a pattern.
//!
//! # What it finds
//!
//! Built-in detectors, each with its [`Kind`] (the name shown in the
//! `[REDACTED:kind]` marker and used in a service's `disabled` list):
//!
//! | kind | what | example |
//! |---|---|---|
//! | `bearer` | `Authorization: Bearer …`, `bearer=…`, `Bearer …` followed by a random-looking token | `Bearer 8f3kQ2…` |
//! | `jwt` | three base64url segments, the header starting `eyJ` | `eyJhbGciOi….eyJzdWIi….sig` |
//! | `aws_key` | AWS access key ids `AKIA…` / `ASIA…` (20 characters) | `AKIAIOSFODNN7EXAMPLE` |
//! | `aws_secret` | the value of `aws_secret_access_key=` and the like, or a 40-character mixed-case base64 word on a line that carries an access key id | |
//! | `github_token` | `ghp_ gho_ ghu_ ghs_ ghr_ github_pat_` | |
//! | `slack_token` | `xoxb- xoxp- xoxa- xoxo- xoxs- xoxr-` tokens and `hooks.slack.com/services/…` webhook paths | |
//! | `stripe_key` | `sk_live_ rk_live_ sk_test_ rk_test_` | |
//! | `url_password` | the password of `scheme://user:PASSWORD@host` (user and host stay) | |
//! | `secret` | the value of a key whose name ends in password, passwd, passphrase, pwd, secret, token, api_key/apikey/api-key, private_key, secret_key, credential(s), in `k=v`, `k: v`, `"k": "v"`, `'k': 'v'`, `k => v`, `--k v`, escaped JSON inside JSON, any case and with any prefix (`db_password`, `X-Api-Key`, `clientSecret`); the credentials of an `Authorization:` header that is not `Bearer` | `db_password=[REDACTED:secret]` |
//! | `card` | 13–19 digits, optionally grouped by single spaces or dashes, with the prefix and length of a card network (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro, Mir, RuPay, Troy), passing the Luhn check | |
//! | `email` | `local@domain.tld`, also percent-encoded as `%40` | |
//! | `iban` | an IBAN of a known country, of that country's length, with a valid mod-97 checksum, written solid or in groups of four | |
//!
//! A service adds its own patterns (`extra`, each a regex replaced by
//! `[REDACTED:name]`) and turns built-ins off (`disabled`): see
//! [`RedactorConfig`].
//!
//! # Choices (what stays, and why)
//!
//! * Only the *value* of a secret key is replaced; the key stays so the
//!   line still says what was there. A key matches only when the secret word
//!   ends it: `password_reset_requested=true`, `token_expires_in=3600`,
//!   `passwordHash=…`, `tokenizer=bert` stay.
//! * Values that carry no secret stay: empty values, `true`/`false`/`null`
//!   and a few status words (see `NOT_SECRET_VALUES` in `scan.rs`), `***`,
//!   structured values (`{…}`, a JSON array; their own keys are checked in
//!   turn), and a path as the value of `PWD`/`OLDPWD`.
//! * `k: v` in prose is redacted too: `invalid token: expired` keeps
//!   `expired` (a status word) but `failed to decode token: illegal base64`
//!   loses `illegal`. One lost word is the price of never printing
//!   `password: letmein`.
//! * Digits: a card must have the prefix and length of a card network, so
//!   epoch timestamps (`17…`), 17-digit numbers starting with 4 and most ids
//!   never look like cards; a number touching a letter, `_` or `.` (hex ids,
//!   UUID parts, decimals, version strings) is not a card; but an id of the
//!   right shape that passes Luhn by chance (1 in 10; e.g. an all-decimal
//!   16-hex-digit span id) *is* redacted: a false positive costs a
//!   debugging clue, a false negative leaks a card.
//! * `scheme://user@host` (no password) keeps the user: that is an account
//!   name in a URL, not an e-mail address.
//! * Nothing is found inside an existing `[REDACTED:…]` marker, and a
//!   line that had a secret is redacted again until nothing more is found
//!   (a marker can reveal a key beside it), so redacting twice changes
//!   nothing (the property tests and the fuzz target check it).
//!
//! # This module must never
//! do I/O, log, or keep state between lines: it maps a line to a line. It
//! never panics on any input and never allocates for a line it leaves
//! alone.

mod checks;
mod scan;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// The built-in detectors, in the order a tie between two of them over the
/// very same text is settled (the first wins: a JWT sent as a bearer token
/// is reported as `jwt`, a GitHub token in `token=` as `github_token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Jwt,
    GithubToken,
    SlackToken,
    StripeKey,
    AwsKey,
    AwsSecret,
    Bearer,
    UrlPassword,
    Secret,
    Iban,
    Card,
    Email,
}

impl Kind {
    /// Every built-in kind, in tie-break order.
    pub const ALL: [Kind; 12] = [
        Kind::Jwt,
        Kind::GithubToken,
        Kind::SlackToken,
        Kind::StripeKey,
        Kind::AwsKey,
        Kind::AwsSecret,
        Kind::Bearer,
        Kind::UrlPassword,
        Kind::Secret,
        Kind::Iban,
        Kind::Card,
        Kind::Email,
    ];

    /// The name in `[REDACTED:name]` and in a service's `disabled` list.
    pub fn name(self) -> &'static str {
        self.table().0
    }

    /// The full marker text that replaces a match, e.g. `[REDACTED:card]`.
    pub fn marker(self) -> &'static str {
        self.table().1
    }

    /// The kind called `name` (exact, lower case), if it is a built-in.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    fn table(self) -> (&'static str, &'static str) {
        match self {
            Kind::Bearer => ("bearer", "[REDACTED:bearer]"),
            Kind::Jwt => ("jwt", "[REDACTED:jwt]"),
            Kind::AwsKey => ("aws_key", "[REDACTED:aws_key]"),
            Kind::AwsSecret => ("aws_secret", "[REDACTED:aws_secret]"),
            Kind::GithubToken => ("github_token", "[REDACTED:github_token]"),
            Kind::SlackToken => ("slack_token", "[REDACTED:slack_token]"),
            Kind::StripeKey => ("stripe_key", "[REDACTED:stripe_key]"),
            Kind::UrlPassword => ("url_password", "[REDACTED:url_password]"),
            Kind::Secret => ("secret", "[REDACTED:secret]"),
            Kind::Card => ("card", "[REDACTED:card]"),
            Kind::Email => ("email", "[REDACTED:email]"),
            Kind::Iban => ("iban", "[REDACTED:iban]"),
        }
    }

    fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Start of every marker this module writes.
pub const MARKER_PREFIX: &str = "[REDACTED:";

/// Longest name of an extra pattern (it is printed in every marker).
pub const MAX_NAME_LEN: usize = 64;

/// One service's redaction settings (`[services.NAME.redact]` in the
/// gateway config):
///
/// ```toml
/// [services.payments.redact]
/// disabled = ["email"]                 # support staff need the addresses
/// extra = [
///   { name = "customer_id", regex = 'cus_[A-Za-z0-9]{14}' },
/// ]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedactorConfig {
    /// Built-in kinds to turn off for this service (names as in [`Kind::name`]).
    pub disabled: Vec<String>,
    /// The service's own patterns, each replaced by `[REDACTED:name]`.
    pub extra: Vec<ExtraPattern>,
}

/// A service's own pattern: every match of `regex` becomes `[REDACTED:name]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraPattern {
    /// 1–64 letters, digits, `_`, `-` or `.`.
    pub name: String,
    /// Rust `regex` syntax; `(?i)` for case-insensitive.
    pub regex: String,
}

/// Why a [`RedactorConfig`] was refused. Each message names the offending
/// entry and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedactError {
    #[error(
        "redact.disabled: unknown kind `{name}`; built-in kinds are {}",
        known_kinds()
    )]
    UnknownKind { name: String },
    #[error(
        "redact.extra `{name}`: a name is 1-{MAX_NAME_LEN} letters, digits, `_`, `-` or `.` \
         (it is printed as [REDACTED:name])"
    )]
    BadName { name: String },
    #[error("redact.extra `{name}` is defined twice; give each pattern its own name")]
    DuplicateName { name: String },
    #[error("redact.extra `{name}`: invalid regex: {reason}")]
    BadRegex { name: String, reason: String },
}

fn known_kinds() -> String {
    Kind::ALL.map(Kind::name).join(", ")
}

/// A compiled redactor: build once per service with [`Redactor::new`], share
/// with `Arc`, call [`Redactor::redact`] from any thread.
#[derive(Debug, Clone)]
pub struct Redactor {
    /// Kinds turned on, one bit per [`Kind`].
    enabled: u16,
    /// The enabled built-in detectors.
    scanner: scan::Scanner,
    extras: Vec<Extra>,
}

#[derive(Debug, Clone)]
struct Extra {
    marker: String,
    regex: Regex,
}

impl Default for Redactor {
    /// Every built-in detector on, no extra pattern.
    fn default() -> Self {
        Redactor::new(&RedactorConfig::default()).expect("the default config is valid")
    }
}

impl Redactor {
    /// Compiles `config`; an unknown kind in `disabled` or a bad extra
    /// pattern is an error naming it.
    pub fn new(config: &RedactorConfig) -> Result<Redactor, RedactError> {
        let mut enabled: u16 = Kind::ALL.iter().map(|k| k.bit()).sum();
        for name in &config.disabled {
            let kind = Kind::from_name(name.trim())
                .ok_or_else(|| RedactError::UnknownKind { name: name.clone() })?;
            enabled &= !kind.bit();
        }
        let mut extras: Vec<Extra> = Vec::with_capacity(config.extra.len());
        for (i, pattern) in config.extra.iter().enumerate() {
            let name = &pattern.name;
            let name_ok = !name.is_empty()
                && name.len() <= MAX_NAME_LEN
                && name.bytes().all(scan::is_marker_name_byte);
            if !name_ok {
                return Err(RedactError::BadName { name: name.clone() });
            }
            if config.extra[..i].iter().any(|p| &p.name == name) {
                return Err(RedactError::DuplicateName { name: name.clone() });
            }
            let regex = Regex::new(&pattern.regex).map_err(|e| RedactError::BadRegex {
                name: name.clone(),
                reason: e.to_string(),
            })?;
            extras.push(Extra {
                marker: format!("{MARKER_PREFIX}{name}]"),
                regex,
            });
        }

        Ok(Redactor {
            enabled,
            scanner: scan::Scanner::new(enabled),
            extras,
        })
    }

    /// Whether the built-in `kind` is on.
    pub fn is_enabled(&self, kind: Kind) -> bool {
        self.enabled & kind.bit() != 0
    }

    /// `line` with every secret replaced by its `[REDACTED:kind]` marker;
    /// borrowed, without allocating, when nothing was found.
    pub fn redact<'a>(&self, line: &'a str) -> Cow<'a, str> {
        let spans = self.find(line);
        if spans.is_empty() {
            return Cow::Borrowed(line);
        }
        let mut out = String::with_capacity(line.len() + 16 * spans.len());
        self.render(line, &spans, &mut out);
        Cow::Owned(self.until_settled(out))
    }

    /// Appends the redacted `line` to `out` (for callers that build a batch
    /// in one buffer).
    pub fn redact_into(&self, line: &str, out: &mut String) {
        match self.redact(line) {
            Cow::Borrowed(line) => out.push_str(line),
            Cow::Owned(redacted) => out.push_str(&redacted),
        }
    }

    /// Redacts `text` again until nothing more is found. A marker changes
    /// what stands around it: in `x:DE89…000-password:hunter2` the key looks
    /// like a segment of a colon path (`arn:…:secret:NAME`) until the IBAN
    /// in front of it becomes `[REDACTED:iban]`, and then `hunter2` is a
    /// password. Only lines that had a secret pay for the extra scan, and
    /// it ends: each round turns some text outside markers into a marker,
    /// and nothing inside a marker is ever found.
    fn until_settled(&self, mut text: String) -> String {
        loop {
            let spans = self.find(&text);
            if spans.is_empty() {
                return text;
            }
            let mut again = String::with_capacity(text.len() + 16 * spans.len());
            self.render(&text, &spans, &mut again);
            text = again;
        }
    }

    fn marker(&self, label: Label) -> &str {
        match label {
            Label::Kind(k) => k.marker(),
            Label::Extra(i) => &self.extras[i].marker,
        }
    }

    fn render(&self, line: &str, spans: &[Span], out: &mut String) {
        let mut at = 0;
        for s in spans {
            out.push_str(&line[at..s.start]);
            out.push_str(self.marker(s.label));
            at = s.end;
        }
        out.push_str(&line[at..]);
    }

    /// The merged, ordered spans to replace.
    fn find(&self, line: &str) -> Vec<Span> {
        let mut found = scan::Found::new(self.enabled);
        self.scanner.scan(line, &mut found);
        for (i, extra) in self.extras.iter().enumerate() {
            for m in extra.regex.find_iter(line) {
                if !m.is_empty() {
                    found.spans.push(Span {
                        start: m.start(),
                        end: m.end(),
                        label: Label::Extra(i),
                    });
                }
            }
        }
        if found.spans.is_empty() {
            return found.spans;
        }
        let mut spans = if found.markers.is_empty() {
            found.spans
        } else {
            clip_out_markers(found.spans, &found.markers)
        };
        merge(&mut spans);
        spans
    }
}

/// What a span is replaced with: a built-in kind or the i-th extra pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Kind(Kind),
    Extra(usize),
}

impl Label {
    /// Lower wins a tie over the same text: the service's own patterns
    /// first, then the built-ins in [`Kind`] order.
    fn rank(self) -> usize {
        match self {
            Label::Extra(i) => i,
            Label::Kind(k) => usize::MAX / 2 + k as usize,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
    label: Label,
}

/// Removes every part of a span that lies inside an existing marker, so a
/// second pass finds nothing new inside what the first one wrote.
fn clip_out_markers(spans: Vec<Span>, markers: &[(usize, usize)]) -> Vec<Span> {
    let mut out = Vec::with_capacity(spans.len());
    for s in spans {
        let mut at = s.start;
        for &(ms, me) in markers {
            if me <= at || ms >= s.end {
                continue;
            }
            if ms > at {
                out.push(Span { end: ms, ..s }.with_start(at));
            }
            at = at.max(me);
        }
        if at < s.end {
            out.push(s.with_start(at));
        }
    }
    out
}

impl Span {
    fn with_start(self, start: usize) -> Span {
        Span { start, ..self }
    }
}

/// Sorts and joins overlapping spans into one, which takes the label of its
/// longest member (ties: the lowest rank). Touching spans stay apart.
fn merge(spans: &mut Vec<Span>) {
    if spans.len() < 2 {
        return;
    }
    spans.sort_unstable_by_key(|s| (s.start, std::cmp::Reverse(s.end), s.label.rank()));
    let mut w = 0;
    let mut best_len = spans[0].end - spans[0].start;
    let mut best_rank = spans[0].label.rank();
    for r in 1..spans.len() {
        let s = spans[r];
        if s.start < spans[w].end {
            let len = s.end - s.start;
            if len > best_len || (len == best_len && s.label.rank() < best_rank) {
                best_len = len;
                best_rank = s.label.rank();
                spans[w].label = s.label;
            }
            spans[w].end = spans[w].end.max(s.end);
        } else {
            w += 1;
            spans[w] = s;
            best_len = s.end - s.start;
            best_rank = s.label.rank();
        }
    }
    spans.truncate(w + 1);
}
