//! The Prometheus text exposition format, version 0.0.4: reading what a
//! `/metrics` endpoint serves into [`MetricFamily`] values, and writing
//! families back as text (the demo's simulated services serve it).
//!
//! # What is read
//!
//! * `# HELP name text` (escapes `\\` and `\n`) and `# TYPE name kind`
//!   (`counter`, `gauge`, `histogram`, `summary`, `untyped`, any case);
//!   any other `#` line is a comment and is skipped, as are blank lines.
//! * Samples `name{label="value",…} value [timestamp_ms]`: names may hold
//!   colons, label values the escapes `\"`, `\\` and `\n`, a trailing comma
//!   inside the braces is allowed, values may be `NaN`, `+Inf`, `-Inf` or
//!   use exponents, and blanks and tabs may separate every token. Leading
//!   and trailing whitespace (a `\r` of CRLF endings included) is ignored.
//! * Histograms and summaries: `x_bucket` (with a numeric `le`), `x_sum`
//!   and `x_count` join the family `x` when `# TYPE x histogram` came first;
//!   `x` (with a numeric `quantile`), `x_sum` and `x_count` join a summary.
//!   Without a TYPE line every sample name is its own untyped family, as in
//!   Prometheus. Samples of one family need not be adjacent.
//!
//! # Real endpoints are messy
//!
//! [`parse_lenient`] reads every line on its own: a bad line is skipped and
//! reported with its 1-based number and the reason, and everything else is
//! kept, so one odd label does not blank a whole dashboard. [`parse`] is the
//! strict form: the first bad line is the error. An escape other than the
//! three above is kept as written (`\t` stays a backslash and a `t`), which
//! is what the Prometheus server does.
//!
//! # This module must never
//! do I/O or allocate without bound beyond the input it is given: callers
//! cap the body they read. It never panics on any text.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// At most this many line errors are kept by [`parse_lenient`]; the rest
/// are only counted (a scrape of an HTML error page would otherwise keep
/// one error per line).
pub const MAX_REPORTED_ERRORS: usize = 100;

/// The type a `# TYPE` line gives a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
    Summary,
    #[default]
    Untyped,
}

impl MetricKind {
    /// The word used on a `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
            MetricKind::Summary => "summary",
            MetricKind::Untyped => "untyped",
        }
    }

    fn from_word(word: &str) -> Option<MetricKind> {
        [
            MetricKind::Counter,
            MetricKind::Gauge,
            MetricKind::Histogram,
            MetricKind::Summary,
            MetricKind::Untyped,
        ]
        .into_iter()
        .find(|k| k.as_str().eq_ignore_ascii_case(word))
    }

    /// Sample-name suffixes that belong to a family of this kind besides
    /// the family's own name (which only summaries and simple kinds use).
    fn suffixes(self) -> &'static [&'static str] {
        match self {
            MetricKind::Histogram => &["_bucket", "_sum", "_count"],
            MetricKind::Summary => &["_sum", "_count"],
            _ => &[],
        }
    }

    /// Whether a sample named exactly like the family belongs to it.
    fn uses_bare_name(self) -> bool {
        self != MetricKind::Histogram
    }
}

/// One metric family: the samples sharing a HELP and TYPE.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    pub name: String,
    /// The HELP text, unescaped; `None` when the endpoint gave none.
    pub help: Option<String>,
    pub kind: MetricKind,
    /// In the order the endpoint wrote them.
    pub samples: Vec<Sample>,
}

impl MetricFamily {
    /// Whether a sample named `sample_name` would belong to this family:
    /// the family's own name (not for histograms) or its name plus one of
    /// the kind's suffixes (`_bucket`, `_sum`, `_count`).
    pub fn owns_sample_name(&self, sample_name: &str) -> bool {
        match sample_name.strip_prefix(self.name.as_str()) {
            Some("") => self.kind.uses_bare_name(),
            Some(suffix) => self.kind.suffixes().contains(&suffix),
            None => false,
        }
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's own name: `x_bucket`, `x_sum`, … for a histogram `x`.
    pub name: String,
    /// Label values unescaped; `le` and `quantile` included.
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    /// Milliseconds since 1970 when the endpoint gave one.
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    /// The value of label `name`, if the sample has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }
}

/// What [`parse_lenient`] read: every family it could, and why the other
/// lines were skipped.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    pub families: Vec<MetricFamily>,
    /// The first [`MAX_REPORTED_ERRORS`] bad lines, in line order.
    pub errors: Vec<ParseError>,
    /// How many lines were skipped in all (may exceed `errors.len()`).
    pub bad_lines: usize,
}

/// A line that could not be read, with its 1-based number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    pub line: usize,
    pub reason: LineError,
}

/// Why a line could not be read. `found` fields quote the offending text,
/// cut to 40 characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error(
        "`{found}` is not a metric name (letters, digits, `_` and `:`, not starting with a digit)"
    )]
    InvalidMetricName { found: String },
    #[error("`{found}` is not a label name (letters, digits and `_`, not starting with a digit)")]
    InvalidLabelName { found: String },
    #[error("expected {expected}, found {found}")]
    Expected {
        expected: &'static str,
        found: String,
    },
    #[error("the value of label `{label}` has no closing `\"`")]
    UnterminatedLabelValue { label: String },
    #[error("label `{label}` appears twice")]
    DuplicateLabel { label: String },
    #[error("no value after the metric name and labels")]
    MissingValue,
    #[error("`{found}` is not a number (write e.g. 1, 2.5e-3, NaN, +Inf or -Inf)")]
    InvalidValue { found: String },
    #[error("`{found}` is not a timestamp (whole milliseconds since 1970)")]
    InvalidTimestamp { found: String },
    #[error("unexpected `{found}` after the timestamp")]
    TrailingText { found: String },
    #[error("unknown metric type `{found}` (counter, gauge, histogram, summary or untyped)")]
    UnknownType { found: String },
    #[error("second TYPE line for `{metric}`")]
    DuplicateType { metric: String },
    #[error("the TYPE line for `{metric}` comes after its samples")]
    TypeAfterSamples { metric: String },
    #[error("second HELP line for `{metric}`")]
    DuplicateHelp { metric: String },
    #[error("histogram bucket `{sample}` has no `le` label")]
    MissingLe { sample: String },
    #[error("`le` label `{found}` is not a number")]
    InvalidLe { found: String },
    #[error("summary sample `{sample}` has no `quantile` label")]
    MissingQuantile { sample: String },
    #[error("`quantile` label `{found}` is not a number")]
    InvalidQuantile { found: String },
    #[error(
        "`{sample}` does not belong to histogram `{family}` \
         (its samples are {family}_bucket, {family}_sum and {family}_count)"
    )]
    NotInHistogram { sample: String, family: String },
}

/// Reads a whole exposition; the first bad line is the error.
pub fn parse(text: &str) -> Result<Vec<MetricFamily>, ParseError> {
    let mut parser = Parser::default();
    for (index, line) in text.split('\n').enumerate() {
        parser.line(line).map_err(|reason| ParseError {
            line: index + 1,
            reason,
        })?;
    }
    Ok(parser.families)
}

/// Reads a whole exposition, skipping and reporting bad lines.
pub fn parse_lenient(text: &str) -> Parsed {
    let mut parser = Parser::default();
    let mut errors = Vec::new();
    let mut bad_lines = 0;
    for (index, line) in text.split('\n').enumerate() {
        if let Err(reason) = parser.line(line) {
            bad_lines += 1;
            if errors.len() < MAX_REPORTED_ERRORS {
                errors.push(ParseError {
                    line: index + 1,
                    reason,
                });
            }
        }
    }
    Parsed {
        families: parser.families,
        errors,
        bad_lines,
    }
}

/// Reads one number as the format writes it: `NaN`, `+Inf`, `-Inf` (any
/// case), or a decimal with optional sign and exponent.
pub fn parse_value(text: &str) -> Option<f64> {
    // Rust also reads `infinity` and `inf`, as Go's ParseFloat does; it
    // refuses hex floats, which no client writes.
    let first = text.bytes().next()?;
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.' | b'n' | b'N' | b'i' | b'I'))
    {
        return None;
    }
    text.parse().ok()
}

#[derive(Default)]
struct Parser {
    families: Vec<MetricFamily>,
    by_name: HashMap<String, usize>,
    /// Per family: whether a TYPE line set its kind.
    typed: Vec<bool>,
}

impl Parser {
    fn line(&mut self, raw: &str) -> Result<(), LineError> {
        let line = raw.trim_matches(|c| matches!(c, ' ' | '\t' | '\r'));
        if let Some(comment) = line.strip_prefix('#') {
            return self.comment(comment);
        }
        if line.is_empty() {
            return Ok(());
        }
        let sample = read_sample(line)?;
        let index = self.family_of(&sample.name)?;
        let family = &mut self.families[index];
        check_sample(family, &sample)?;
        family.samples.push(sample);
        Ok(())
    }

    fn comment(&mut self, text: &str) -> Result<(), LineError> {
        let mut cur = Cursor::new(text);
        cur.skip_blanks();
        let word = cur.take_until_blank();
        if !matches!(word, "HELP" | "TYPE") || !(cur.at_end() || cur.at_blank()) {
            return Ok(()); // an ordinary comment
        }
        cur.skip_blanks();
        let name = cur.take_until_blank();
        if name.is_empty() {
            return Err(LineError::Expected {
                expected: if word == "HELP" {
                    "a metric name after `# HELP`"
                } else {
                    "a metric name after `# TYPE`"
                },
                found: "end of line".into(),
            });
        }
        if !is_metric_name(name) {
            return Err(LineError::InvalidMetricName {
                found: snippet(name),
            });
        }
        cur.skip_blanks();
        if word == "HELP" {
            let help = unescape(cur.rest(), false);
            let index = self.family_named(name);
            let family = &mut self.families[index];
            if family.help.is_some() {
                return Err(LineError::DuplicateHelp {
                    metric: name.into(),
                });
            }
            family.help = Some(help);
            return Ok(());
        }
        let word = cur.take_until_blank();
        if word.is_empty() {
            return Err(LineError::Expected {
                expected: "a type after the metric name",
                found: "end of line".into(),
            });
        }
        let kind = MetricKind::from_word(word).ok_or_else(|| LineError::UnknownType {
            found: snippet(word),
        })?;
        cur.skip_blanks();
        if !cur.at_end() {
            return Err(LineError::Expected {
                expected: "the end of the line after the type",
                found: quoted(cur.rest()),
            });
        }
        let index = self.family_named(name);
        if self.typed[index] {
            return Err(LineError::DuplicateType {
                metric: name.into(),
            });
        }
        if !self.families[index].samples.is_empty() {
            return Err(LineError::TypeAfterSamples {
                metric: name.into(),
            });
        }
        self.typed[index] = true;
        self.families[index].kind = kind;
        Ok(())
    }

    /// The family a sample named `name` joins, created untyped if new.
    fn family_of(&mut self, name: &str) -> Result<usize, LineError> {
        if let Some(&index) = self.by_name.get(name) {
            let family = &self.families[index];
            if !family.kind.uses_bare_name() {
                return Err(LineError::NotInHistogram {
                    sample: name.into(),
                    family: family.name.clone(),
                });
            }
            return Ok(index);
        }
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix)
                && let Some(&index) = self.by_name.get(base)
                && self.families[index].kind.suffixes().contains(&suffix)
            {
                return Ok(index);
            }
        }
        Ok(self.family_named(name))
    }

    fn family_named(&mut self, name: &str) -> usize {
        if let Some(&index) = self.by_name.get(name) {
            return index;
        }
        let index = self.families.len();
        self.families.push(MetricFamily {
            name: name.into(),
            help: None,
            kind: MetricKind::Untyped,
            samples: Vec::new(),
        });
        self.typed.push(false);
        self.by_name.insert(name.into(), index);
        index
    }
}

/// Checks what the family's kind requires of a sample (`le`, `quantile`).
fn check_sample(family: &MetricFamily, sample: &Sample) -> Result<(), LineError> {
    let name = || sample.name.clone();
    match family.kind {
        MetricKind::Histogram if sample.name.ends_with("_bucket") => match sample.label("le") {
            None => Err(LineError::MissingLe { sample: name() }),
            Some(le) if parse_value(le).is_none() => {
                Err(LineError::InvalidLe { found: snippet(le) })
            }
            Some(_) => Ok(()),
        },
        MetricKind::Summary if sample.name == family.name => match sample.label("quantile") {
            None => Err(LineError::MissingQuantile { sample: name() }),
            Some(q) if parse_value(q).is_none() => {
                Err(LineError::InvalidQuantile { found: snippet(q) })
            }
            Some(_) => Ok(()),
        },
        _ => Ok(()),
    }
}

fn read_sample(line: &str) -> Result<Sample, LineError> {
    let mut cur = Cursor::new(line);
    let name = cur.take_while(|c| !matches!(c, ' ' | '\t' | '{'));
    if !is_metric_name(name) {
        return Err(LineError::InvalidMetricName {
            found: snippet(if name.is_empty() { line } else { name }),
        });
    }
    let mut labels = BTreeMap::new();
    cur.skip_blanks();
    if cur.eat('{') {
        read_labels(&mut cur, &mut labels)?;
        cur.skip_blanks();
    }
    let value_text = cur.take_until_blank();
    if value_text.is_empty() {
        return Err(LineError::MissingValue);
    }
    let value = parse_value(value_text).ok_or_else(|| LineError::InvalidValue {
        found: snippet(value_text),
    })?;
    cur.skip_blanks();
    let timestamp_ms = match cur.take_until_blank() {
        "" => None,
        text => Some(text.parse().map_err(|_| LineError::InvalidTimestamp {
            found: snippet(text),
        })?),
    };
    cur.skip_blanks();
    if !cur.at_end() {
        return Err(LineError::TrailingText {
            found: snippet(cur.rest()),
        });
    }
    Ok(Sample {
        name: name.into(),
        labels,
        value,
        timestamp_ms,
    })
}

/// Reads `name="value",…}` (the `{` already taken).
fn read_labels(cur: &mut Cursor, labels: &mut BTreeMap<String, String>) -> Result<(), LineError> {
    loop {
        cur.skip_blanks();
        if cur.eat('}') {
            return Ok(());
        }
        let name = cur.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
        if !is_label_name(name) {
            let found = if name.is_empty() {
                cur.rest().split(['=', ' ', '\t', '}']).next().unwrap_or("")
            } else {
                name
            };
            return Err(if found.is_empty() {
                LineError::Expected {
                    expected: "a label name or `}`",
                    found: quoted(cur.rest()),
                }
            } else {
                LineError::InvalidLabelName {
                    found: snippet(found),
                }
            });
        }
        cur.skip_blanks();
        if !cur.eat('=') {
            return Err(LineError::Expected {
                expected: "`=` after the label name",
                found: quoted(cur.rest()),
            });
        }
        cur.skip_blanks();
        if !cur.eat('"') {
            return Err(LineError::Expected {
                expected: "`\"` opening the label value",
                found: quoted(cur.rest()),
            });
        }
        let value = cur
            .take_quoted()
            .ok_or_else(|| LineError::UnterminatedLabelValue { label: name.into() })?;
        if labels.insert(name.into(), unescape(value, true)).is_some() {
            return Err(LineError::DuplicateLabel { label: name.into() });
        }
        cur.skip_blanks();
        if cur.eat(',') {
            continue;
        }
        if cur.eat('}') {
            return Ok(());
        }
        return Err(LineError::Expected {
            expected: "`,` or `}` after the label value",
            found: quoted(cur.rest()),
        });
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Undoes `\\`, `\n` and (in label values) `\"`; other escapes stay as
/// written.
fn unescape(text: &str, label_value: bool) -> String {
    if !text.contains('\\') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if label_value => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn snippet(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// `found` text for [`LineError::Expected`].
fn quoted(rest: &str) -> String {
    if rest.is_empty() {
        "end of line".into()
    } else {
        format!("`{}`", snippet(rest))
    }
}

/// A position in one line.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Cursor { rest: text }
    }

    fn rest(&self) -> &'a str {
        self.rest
    }

    fn at_end(&self) -> bool {
        self.rest.is_empty()
    }

    fn at_blank(&self) -> bool {
        self.rest.starts_with([' ', '\t'])
    }

    fn skip_blanks(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t']);
    }

    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let end = self.rest.find(|c| !keep(c)).unwrap_or(self.rest.len());
        let (taken, rest) = self.rest.split_at(end);
        self.rest = rest;
        taken
    }

    fn take_until_blank(&mut self) -> &'a str {
        self.take_while(|c| !matches!(c, ' ' | '\t'))
    }

    /// The raw text up to the next unescaped `"`, which is consumed; `None`
    /// when the line ends first.
    fn take_quoted(&mut self) -> Option<&'a str> {
        let mut escaped = false;
        for (i, c) in self.rest.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    let taken = &self.rest[..i];
                    self.rest = &self.rest[i + 1..];
                    return Some(taken);
                }
                _ => {}
            }
        }
        None
    }
}

/// Writes families as exposition text that [`parse`] reads back to equal
/// families: a TYPE line for every family, HELP when there is one, then the
/// samples in order.
pub fn format(families: &[MetricFamily]) -> String {
    let mut out = String::new();
    for family in families {
        if let Some(help) = &family.help {
            let _ = writeln!(out, "# HELP {} {}", family.name, escape(help, false));
        }
        let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind.as_str());
        for sample in &family.samples {
            out.push_str(&sample.name);
            if !sample.labels.is_empty() {
                out.push('{');
                for (i, (name, value)) in sample.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{name}=\"{}\"", escape(value, true));
                }
                out.push('}');
            }
            out.push(' ');
            out.push_str(&format_value(sample.value));
            if let Some(ts) = sample.timestamp_ms {
                let _ = write!(out, " {ts}");
            }
            out.push('\n');
        }
    }
    out
}

/// A value as the format writes it: `NaN`, `+Inf`, `-Inf`, `0.25`, `1e-7`;
/// always read back exactly by [`parse_value`].
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    // Rust's shortest round-trip digits; exponent form when plain would be
    // long (1e300 or 1e-300).
    let plain = v.to_string();
    if plain.len() > 24 {
        format!("{v:e}")
    } else {
        plain
    }
}

fn escape(text: &str, label_value: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if label_value => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GO_CLIENT: &str = include_str!("../../tests/data/metrics/go_client.txt");
    const PYTHON_CLIENT: &str = include_str!("../../tests/data/metrics/python_client.txt");
    const NODE_EXPORTER: &str = include_str!("../../tests/data/metrics/node_exporter.txt");

    fn family<'a>(families: &'a [MetricFamily], name: &str) -> &'a MetricFamily {
        families
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no family {name}"))
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn err(text: &str) -> ParseError {
        parse(text).expect_err(text)
    }

    #[test]
    fn go_client_output_reads_with_summaries_histograms_and_gauges() {
        let families = parse(GO_CLIENT).unwrap();

        let gc = family(&families, "go_gc_duration_seconds");
        assert_eq!(gc.kind, MetricKind::Summary);
        assert_eq!(
            gc.help.as_deref(),
            Some(
                "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles."
            )
        );
        assert_eq!(gc.samples.len(), 7, "5 quantiles, _sum and _count");
        assert_eq!(gc.samples[0].label("quantile"), Some("0"));
        assert_eq!(gc.samples[0].value, 2.4567e-05);
        assert_eq!(gc.samples[4].label("quantile"), Some("1"));
        assert_eq!(gc.samples[4].value, 0.001234567);
        assert_eq!(gc.samples[5].name, "go_gc_duration_seconds_sum");
        assert_eq!(gc.samples[6].name, "go_gc_duration_seconds_count");
        assert_eq!(gc.samples[6].value, 1532.0);

        let http = family(&families, "http_request_duration_seconds");
        assert_eq!(http.kind, MetricKind::Histogram);
        let buckets: Vec<_> = http
            .samples
            .iter()
            .filter(|s| s.name == "http_request_duration_seconds_bucket")
            .filter(|s| s.label("handler") == Some("/api/orders"))
            .map(|s| (s.label("le").unwrap(), s.value))
            .collect();
        assert_eq!(
            buckets,
            [
                ("0.005", 1021.0),
                ("0.01", 2042.0),
                ("0.025", 3518.0),
                ("0.05", 4210.0),
                ("0.1", 4401.0),
                ("0.25", 4460.0),
                ("0.5", 4470.0),
                ("1", 4471.0),
                ("+Inf", 4473.0),
            ]
        );
        assert!(http.samples.iter().any(|s| s.name.ends_with("_sum")));
        assert!(http.samples.iter().any(|s| s.name.ends_with("_count")));

        let rss = family(&families, "process_resident_memory_bytes");
        assert_eq!(rss.kind, MetricKind::Gauge);
        assert_eq!(rss.samples[0].value, 2.4576e+07);
        let fds = family(&families, "process_max_fds");
        assert_eq!(fds.samples[0].value, 1_048_576.0);
        let info = family(&families, "go_info");
        assert_eq!(info.samples[0].label("version"), Some("go1.22.3"));

        let requests = family(&families, "http_requests_total");
        assert_eq!(requests.kind, MetricKind::Counter);
        assert_eq!(
            requests.samples[0].labels,
            labels(&[
                ("code", "200"),
                ("handler", "/api/orders"),
                ("method", "get")
            ])
        );
    }

    #[test]
    fn python_client_output_reads_with_created_series_and_empty_families() {
        let families = parse(PYTHON_CLIENT).unwrap();
        let requests = family(&families, "http_requests_total");
        assert_eq!(requests.kind, MetricKind::Counter);
        assert_eq!(requests.samples.len(), 3);
        let created = family(&families, "http_requests_created");
        assert_eq!(created.kind, MetricKind::Gauge);
        assert_eq!(created.samples[0].value, 1.7170423456789e9);
        // A labelled metric nobody has touched yet: HELP and TYPE only.
        let errors = family(&families, "payment_errors_total");
        assert_eq!(errors.kind, MetricKind::Counter);
        assert!(errors.samples.is_empty());
        let latency = family(&families, "request_latency_seconds");
        assert_eq!(latency.kind, MetricKind::Histogram);
        assert_eq!(latency.samples.len(), 6, "4 buckets, _count and _sum");
        let py = family(&families, "python_info");
        assert_eq!(py.samples[0].label("implementation"), Some("CPython"));
    }

    #[test]
    fn node_exporter_output_reads_with_colons_timestamps_and_special_values() {
        let parsed = parse_lenient(NODE_EXPORTER);
        assert_eq!(parsed.errors, []);
        let families = parsed.families;

        let cpu = family(&families, "node_cpu_seconds_total");
        assert_eq!(cpu.kind, MetricKind::Counter);
        assert_eq!(cpu.samples.len(), 8);
        assert_eq!(
            cpu.samples[3].labels,
            labels(&[("cpu", "0"), ("mode", "user")])
        );
        assert_eq!(cpu.samples[3].value, 8123.45);

        let rule = family(&families, "instance:node_cpu:rate5m");
        assert_eq!(rule.samples[0].value, 0.0734);
        assert_eq!(rule.samples[0].timestamp_ms, Some(1_717_042_345_678));

        let temp = family(&families, "node_hwmon_temp_celsius");
        assert!(temp.samples[0].value.is_nan());
        assert_eq!(temp.samples[1].value, f64::INFINITY);
        assert_eq!(temp.samples[2].value, f64::NEG_INFINITY);

        let escaped = family(&families, "node_textfile_custom_path_info");
        assert_eq!(escaped.samples[0].label("path"), Some("/api/\"quoted\"\\n"));
        assert_eq!(escaped.samples[0].label("note"), Some("line one\nline two"));
        assert_eq!(
            escaped.help.as_deref(),
            Some("Paths with \\ backslashes\nand a second line.")
        );

        let load = family(&families, "node_load1");
        assert_eq!(load.samples[0].value, 1.25e-1);
        assert_eq!(load.help, None, "a HELP-less, TYPE-less sample is untyped");
        assert_eq!(load.kind, MetricKind::Untyped);
    }

    #[test]
    fn every_value_form_reads() {
        for (text, want) in [
            ("1", 1.0),
            ("-1.5", -1.5),
            ("+3", 3.0),
            ("1e3", 1000.0),
            ("2.5E-3", 0.0025),
            (".5", 0.5),
            ("7.", 7.0),
            ("+Inf", f64::INFINITY),
            ("-Inf", f64::NEG_INFINITY),
            ("Inf", f64::INFINITY),
            ("1.7976931348623157e308", f64::MAX),
        ] {
            assert_eq!(parse_value(text), Some(want), "{text}");
        }
        for text in ["NaN", "nan"] {
            assert!(parse_value(text).unwrap().is_nan());
        }
        for text in ["", "abc", "1,5", "0x10", "1_000", "--1", "1e"] {
            assert_eq!(parse_value(text), None, "{text}");
        }
    }

    #[test]
    fn blanks_tabs_trailing_commas_and_crlf_are_tolerated() {
        let text = "  # TYPE   a gauge  \r\n\
                    a{ x = \"1\" ,\ty=\"2\", }\t 5 \t 1000  \r\n\
                    \n\
                    b{} 6\n\
                    c{x=\"1\"}7\n\
                    # just a comment\n\
                    #HELP d comments without a space still count\n\
                    # HELPER is an ordinary comment\n\
                    d 8";
        let families = parse(text).unwrap();
        let a = &family(&families, "a").samples[0];
        assert_eq!(a.labels, labels(&[("x", "1"), ("y", "2")]));
        assert_eq!((a.value, a.timestamp_ms), (5.0, Some(1000)));
        assert_eq!(family(&families, "b").samples[0].value, 6.0);
        assert_eq!(family(&families, "c").samples[0].value, 7.0);
        let d = family(&families, "d");
        assert_eq!(
            d.help.as_deref(),
            Some("comments without a space still count")
        );
        assert_eq!(d.samples[0].value, 8.0);
        assert_eq!(families.len(), 4);
    }

    #[test]
    fn unknown_escapes_are_kept_as_written() {
        let families = parse("a{p=\"C:\\temp\\x\"} 1\n# HELP a tab\\there").unwrap();
        assert_eq!(families[0].samples[0].label("p"), Some("C:\\temp\\x"));
        assert_eq!(families[0].help.as_deref(), Some("tab\\there"));
    }

    #[test]
    fn samples_of_one_family_need_not_be_adjacent() {
        let text = "# TYPE h histogram\n\
                    h_bucket{le=\"1\"} 1\n\
                    other 2\n\
                    h_bucket{le=\"+Inf\"} 3\n\
                    h_count 3\n";
        let families = parse(text).unwrap();
        assert_eq!(families.len(), 2);
        assert_eq!(families[0].samples.len(), 3);
    }

    #[test]
    fn without_a_type_line_suffixed_samples_are_their_own_families() {
        let families = parse("x_bucket{le=\"1\"} 1\nx_sum 2\nx_count 3").unwrap();
        let names: Vec<_> = families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["x_bucket", "x_sum", "x_count"]);
        assert!(families.iter().all(|f| f.kind == MetricKind::Untyped));
    }

    #[test]
    fn bad_lines_name_the_line_and_the_reason() {
        let cases: &[(&str, usize, LineError)] = &[
            (
                "ok 1\n9lives 1",
                2,
                LineError::InvalidMetricName {
                    found: "9lives".into(),
                },
            ),
            (
                "my-metric 1",
                1,
                LineError::InvalidMetricName {
                    found: "my-metric".into(),
                },
            ),
            (
                "a{1x=\"v\"} 1",
                1,
                LineError::InvalidLabelName { found: "1x".into() },
            ),
            (
                "a{x-y=\"v\"} 1",
                1,
                LineError::Expected {
                    expected: "`=` after the label name",
                    found: "`-y=\"v\"} 1`".into(),
                },
            ),
            (
                "a{x=v} 1",
                1,
                LineError::Expected {
                    expected: "`\"` opening the label value",
                    found: "`v} 1`".into(),
                },
            ),
            (
                "\n\na{path=\"/api} 1",
                3,
                LineError::UnterminatedLabelValue {
                    label: "path".into(),
                },
            ),
            (
                "a{x=\"1\" y=\"2\"} 1",
                1,
                LineError::Expected {
                    expected: "`,` or `}` after the label value",
                    found: "`y=\"2\"} 1`".into(),
                },
            ),
            (
                "a{x=\"1\",x=\"2\"} 1",
                1,
                LineError::DuplicateLabel { label: "x".into() },
            ),
            ("a{x=\"1\"}", 1, LineError::MissingValue),
            ("a", 1, LineError::MissingValue),
            (
                "a 12ms",
                1,
                LineError::InvalidValue {
                    found: "12ms".into(),
                },
            ),
            (
                "a 1 1.5e12",
                1,
                LineError::InvalidTimestamp {
                    found: "1.5e12".into(),
                },
            ),
            (
                "a 1 1000 extra",
                1,
                LineError::TrailingText {
                    found: "extra".into(),
                },
            ),
            (
                "# TYPE a gauges",
                1,
                LineError::UnknownType {
                    found: "gauges".into(),
                },
            ),
            (
                "# TYPE a",
                1,
                LineError::Expected {
                    expected: "a type after the metric name",
                    found: "end of line".into(),
                },
            ),
            (
                "# TYPE",
                1,
                LineError::Expected {
                    expected: "a metric name after `# TYPE`",
                    found: "end of line".into(),
                },
            ),
            (
                "# TYPE a gauge\n# TYPE a counter",
                2,
                LineError::DuplicateType { metric: "a".into() },
            ),
            (
                "a 1\n# TYPE a gauge",
                2,
                LineError::TypeAfterSamples { metric: "a".into() },
            ),
            (
                "# HELP a one\n# HELP a two",
                2,
                LineError::DuplicateHelp { metric: "a".into() },
            ),
            (
                "# TYPE h histogram\nh_bucket{x=\"1\"} 1",
                2,
                LineError::MissingLe {
                    sample: "h_bucket".into(),
                },
            ),
            (
                "# TYPE h histogram\nh_bucket{le=\"big\"} 1",
                2,
                LineError::InvalidLe {
                    found: "big".into(),
                },
            ),
            (
                "# TYPE h histogram\nh 1",
                2,
                LineError::NotInHistogram {
                    sample: "h".into(),
                    family: "h".into(),
                },
            ),
            (
                "# TYPE s summary\ns 1",
                2,
                LineError::MissingQuantile { sample: "s".into() },
            ),
            (
                "# TYPE s summary\ns{quantile=\"p99\"} 1",
                2,
                LineError::InvalidQuantile {
                    found: "p99".into(),
                },
            ),
        ];
        for (text, line, reason) in cases {
            assert_eq!(
                err(text),
                ParseError {
                    line: *line,
                    reason: reason.clone()
                },
                "{text:?}"
            );
        }
    }

    #[test]
    fn error_messages_read_as_sentences() {
        assert_eq!(
            err("ok 1\nrequests_total{path=\"/a} 1").to_string(),
            "line 2: the value of label `path` has no closing `\"`"
        );
        assert_eq!(
            err("a 12ms").to_string(),
            "line 1: `12ms` is not a number (write e.g. 1, 2.5e-3, NaN, +Inf or -Inf)"
        );
        let long = format!("a {}", "x".repeat(100));
        let message = err(&long).to_string();
        assert!(
            message.contains(&format!("`{}…`", "x".repeat(40))),
            "{message}"
        );
    }

    #[test]
    fn lenient_parsing_keeps_the_good_lines_and_reports_the_bad() {
        let text = "# TYPE up gauge\n\
                    up 1\n\
                    broken{ 2\n\
                    temperature 21.5\n\
                    also broken\n";
        let parsed = parse_lenient(text);
        let names: Vec<_> = parsed.families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["up", "temperature"]);
        assert_eq!(parsed.bad_lines, 2);
        let lines: Vec<_> = parsed.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 5]);
        assert_eq!(parse(text).unwrap_err().line, 3);
    }

    #[test]
    fn a_garbage_body_reports_a_bounded_number_of_errors() {
        let html = "<html><body>502 Bad Gateway</body></html>\n".repeat(1000);
        let parsed = parse_lenient(&html);
        assert!(parsed.families.is_empty());
        assert_eq!(parsed.bad_lines, 1000);
        assert_eq!(parsed.errors.len(), MAX_REPORTED_ERRORS);
    }

    #[test]
    fn formatting_writes_what_clients_write() {
        let families = vec![MetricFamily {
            name: "http_requests_total".into(),
            help: Some("Requests by path.\nSecond line with \\.".into()),
            kind: MetricKind::Counter,
            samples: vec![Sample {
                name: "http_requests_total".into(),
                labels: labels(&[("path", "/api/\"q\"\\n"), ("code", "200")]),
                value: 1027.0,
                timestamp_ms: Some(1_395_066_363_000),
            }],
        }];
        assert_eq!(
            format(&families),
            "# HELP http_requests_total Requests by path.\\nSecond line with \\\\.\n\
             # TYPE http_requests_total counter\n\
             http_requests_total{code=\"200\",path=\"/api/\\\"q\\\"\\\\n\"} 1027 1395066363000\n"
        );
        for (v, text) in [
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (0.25, "0.25"),
            (1e-300, "1e-300"),
            (1e300, "1e300"),
        ] {
            assert_eq!(format_value(v), text);
        }
    }

    /// Equality with NaN equal to itself.
    fn same_families(a: &[MetricFamily], b: &[MetricFamily]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                x.name == y.name
                    && x.help == y.help
                    && x.kind == y.kind
                    && x.samples.len() == y.samples.len()
                    && x.samples.iter().zip(&y.samples).all(|(s, t)| {
                        s.name == t.name
                            && s.labels == t.labels
                            && s.timestamp_ms == t.timestamp_ms
                            && (s.value == t.value || (s.value.is_nan() && t.value.is_nan()))
                    })
            })
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            (0u32..100_000).prop_map(f64::from),
        ]
    }

    fn text() -> impl Strategy<Value = String> {
        // Printable text with the characters that need escaping; no
        // leading or trailing blanks (the format trims those).
        "[a-zA-Z0-9 \\\\\"\n{}=,#é✓]{0,12}".prop_map(|s| s.trim_matches([' ', '\t']).to_string())
    }

    fn user_labels() -> impl Strategy<Value = BTreeMap<String, String>> {
        proptest::collection::btree_map("[a-z_][a-z0-9_]{0,6}", text(), 0..3).prop_map(|mut m| {
            m.remove("le");
            m.remove("quantile");
            m
        })
    }

    fn sample(name: String, labels: BTreeMap<String, String>) -> impl Strategy<Value = Sample> {
        (value(), proptest::option::of(any::<i64>())).prop_map(move |(value, timestamp_ms)| {
            Sample {
                name: name.clone(),
                labels: labels.clone(),
                value,
                timestamp_ms,
            }
        })
    }

    fn family_strategy(index: usize) -> impl Strategy<Value = MetricFamily> {
        let kind = prop_oneof![
            Just(MetricKind::Counter),
            Just(MetricKind::Gauge),
            Just(MetricKind::Histogram),
            Just(MetricKind::Summary),
            Just(MetricKind::Untyped),
        ];
        // A distinct prefix per family keeps `x` and `x_sum` from colliding.
        (
            "[a-zA-Z_:][a-zA-Z0-9_:]{0,8}",
            proptest::option::of(text()),
            kind,
            user_labels(),
            proptest::collection::vec(-1e3f64..1e3, 0..4),
        )
            .prop_flat_map(move |(base, help, kind, labels, bounds)| {
                let name = format!("f{index}_{base}");
                let mut names = Vec::new();
                match kind {
                    MetricKind::Histogram => {
                        let mut les: Vec<String> =
                            bounds.iter().map(|b| format_value(*b)).collect();
                        les.push("+Inf".into());
                        for le in les {
                            let mut l = labels.clone();
                            l.insert("le".into(), le);
                            names.push((format!("{name}_bucket"), l));
                        }
                        names.push((format!("{name}_sum"), labels.clone()));
                        names.push((format!("{name}_count"), labels.clone()));
                    }
                    MetricKind::Summary => {
                        for q in ["0.5", "0.99"] {
                            let mut l = labels.clone();
                            l.insert("quantile".into(), q.into());
                            names.push((name.clone(), l));
                        }
                        names.push((format!("{name}_sum"), labels.clone()));
                        names.push((format!("{name}_count"), labels.clone()));
                    }
                    _ => {
                        if !bounds.is_empty() {
                            names.push((name.clone(), labels.clone()));
                        }
                    }
                }
                let samples: Vec<_> = names.into_iter().map(|(n, l)| sample(n, l)).collect();
                (Just(name), Just(help), Just(kind), samples)
            })
            .prop_map(|(name, help, kind, samples)| MetricFamily {
                name,
                help,
                kind,
                samples,
            })
    }

    fn families() -> impl Strategy<Value = Vec<MetricFamily>> {
        (0usize..4).prop_flat_map(|n| (0..n).map(family_strategy).collect::<Vec<_>>())
    }

    proptest! {
        #[test]
        fn formatted_families_parse_back_to_themselves(families in families()) {
            let text = format(&families);
            let back = parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            prop_assert!(same_families(&families, &back), "{:#?}\n{}\n{:#?}", families, text, back);
        }

        #[test]
        fn formatted_values_parse_back_exactly(v in any::<f64>()) {
            let back = parse_value(&format_value(v)).unwrap();
            prop_assert!(back.to_bits() == v.to_bits() || (v.is_nan() && back.is_nan()));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "[a-z{}=\",# \\\\\n0-9.+-]{0,60}") {
            let _ = parse_lenient(&text);
        }
    }
}
