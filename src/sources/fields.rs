//! Finding one named field in a log line without parsing the whole line:
//! a JSON object's `"key": value` and a logfmt `key=value` pair. Shared by
//! the level and timestamp readers.
//!
//! # This module must never
//! allocate or fail: a malformed line simply has no such field. It reads
//! keys only where a key can stand (never inside a string value), so
//! `"msg":"level: high"` and `msg="level=error"` are not mistaken for fields.

/// A field's raw value: the text inside the quotes, or the bare token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// A quoted value (JSON string or quoted logfmt value), escapes left in.
    Str(&'a str),
    /// An unquoted value: a JSON number/literal or a bare logfmt token.
    Bare(&'a str),
}

impl<'a> Value<'a> {
    pub(crate) fn text(self) -> &'a str {
        match self {
            Value::Str(s) | Value::Bare(s) => s,
        }
    }
}

/// The first JSON member, anywhere after the line's first `{`, whose key is
/// one of `keys` (ASCII case-insensitive), with the index of that key.
pub(crate) fn json_field<'a>(line: &'a str, keys: &[&str]) -> Option<(usize, Value<'a>)> {
    let b = line.as_bytes();
    let mut i = b.iter().position(|&c| c == b'{')?;
    while i < b.len() {
        if b[i] != b'"' {
            i += 1;
            continue;
        }
        let (start, end) = (i + 1, string_end(b, i + 1));
        i = end + 1;
        let mut j = skip_ws(b, i);
        if b.get(j) != Some(&b':') {
            // A string value, not a key: skip it whole.
            continue;
        }
        let key = &b[start..end.min(b.len())];
        let Some(k) = keys
            .iter()
            .position(|k| key.eq_ignore_ascii_case(k.as_bytes()))
        else {
            continue;
        };
        j = skip_ws(b, j + 1);
        return match b.get(j) {
            Some(b'"') => {
                let vend = string_end(b, j + 1);
                Some((k, Value::Str(&line[j + 1..vend.min(b.len())])))
            }
            Some(_) => {
                let vend = j + b[j..]
                    .iter()
                    .position(|&c| matches!(c, b',' | b'}' | b']') || c.is_ascii_whitespace())
                    .unwrap_or(b.len() - j);
                Some((k, Value::Bare(&line[j..vend])))
            }
            None => None,
        };
    }
    None
}

/// The first logfmt pair `key=value` (at the start of a whitespace-separated
/// token) whose key is one of `keys` (ASCII case-insensitive). Quoted values
/// of other pairs are skipped whole.
pub(crate) fn logfmt_field<'a>(line: &'a str, keys: &[&str]) -> Option<(usize, Value<'a>)> {
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let key_start = i;
        while i < b.len() && is_key_byte(b[i]) {
            i += 1;
        }
        if i == key_start || b.get(i) != Some(&b'=') {
            // Not a pair: skip the rest of the token (a quote inside a bare
            // word is part of it).
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += 1;
            }
            continue;
        }
        let key = &b[key_start..i];
        let (value, next) = if b.get(i + 1) == Some(&b'"') {
            let end = string_end(b, i + 2);
            (Value::Str(&line[i + 2..end.min(b.len())]), end + 1)
        } else {
            let end = b[i + 1..]
                .iter()
                .position(|c| c.is_ascii_whitespace())
                .map_or(b.len(), |p| i + 1 + p);
            (Value::Bare(&line[i + 1..end]), end)
        };
        if let Some(k) = keys
            .iter()
            .position(|k| key.eq_ignore_ascii_case(k.as_bytes()))
        {
            return Some((k, value));
        }
        i = next;
    }
    None
}

fn is_key_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'@')
}

/// Index of the closing quote of a string whose content starts at `from`
/// (or `b.len()` if it is unterminated); backslash escapes are skipped.
/// Always on a char boundary: `"` and `\` are ASCII.
pub(crate) fn string_end(b: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i,
            _ => i += 1,
        }
    }
    b.len()
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[&str] = &["level", "lvl"];

    #[test]
    fn json_keys_are_found_where_keys_stand_only() {
        assert_eq!(
            json_field(r#"{"msg":"level","lvl":"warn"}"#, KEYS),
            Some((1, Value::Str("warn")))
        );
        assert_eq!(
            json_field(r#"{"msg":"say \"level\": x", "Level" : 30}"#, KEYS),
            Some((0, Value::Bare("30")))
        );
        assert_eq!(json_field(r#"{"new_level":"debug"}"#, KEYS), None);
        assert_eq!(json_field(r#"{"level":"#, KEYS), None);
        assert_eq!(
            json_field(r#"{"level":"unterminated"#, KEYS),
            Some((0, Value::Str("unterminated")))
        );
    }

    #[test]
    fn logfmt_pairs_skip_quoted_values_of_other_keys() {
        assert_eq!(
            logfmt_field(r#"ts=1 msg="level=error in config" level=info"#, KEYS),
            Some((0, Value::Bare("info")))
        );
        assert_eq!(
            logfmt_field(r#"LVL="warn" x=1"#, KEYS),
            Some((1, Value::Str("warn")))
        );
        assert_eq!(logfmt_field("the new_level=debug", KEYS), None);
        assert_eq!(logfmt_field("a level= b", KEYS), Some((0, Value::Bare(""))));
    }
}
