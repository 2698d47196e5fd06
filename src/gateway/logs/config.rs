//! `[services.NAME.logs]`: where a service's log lines come from.
//!
//! ```toml
//! [services.payments.logs]
//! file = "/var/log/payments/*.log"      # a glob, followed like `tail -F`
//! # command = ["journalctl", "-f", "-o", "cat", "-u", "payments"]   # or: argv whose stdout is the stream
//! history = "1h"         # how far back a stream may start (since_s), read from the end of the files
//! backlog_lines = 20000  # lines kept in memory for since_s while the source runs
//! max_line_bytes = 16384 # longer lines are cut and marked
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::sources::Glob;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct LogSourceFile {
    file: Option<PathBuf>,
    command: Option<Vec<String>>,
    #[serde(default = "default_history", with = "crate::duration::serde_human")]
    history: Duration,
    #[serde(default = "default_backlog")]
    backlog_lines: usize,
    #[serde(default = "default_max_line")]
    max_line_bytes: usize,
}

fn default_history() -> Duration {
    Duration::from_secs(3600)
}

fn default_backlog() -> usize {
    20_000
}

fn default_max_line() -> usize {
    16 * 1024
}

/// What produces the lines.
#[derive(Debug, Clone, PartialEq)]
pub enum LogInput {
    /// Files matching a glob, followed across rotation.
    File(PathBuf),
    /// A program whose stdout is the stream (argv, no shell).
    Command(Vec<String>),
}

/// One service's validated log source.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSourceConfig {
    pub input: LogInput,
    /// The longest `since_s` honoured, and how far back file history is read.
    pub history: Duration,
    /// Lines kept in memory for late subscribers' `since_s`.
    pub backlog_lines: usize,
    pub max_line_bytes: usize,
}

impl LogSourceConfig {
    /// A file source with the defaults (the demo's simulated services).
    pub fn file(glob: impl Into<PathBuf>) -> LogSourceConfig {
        LogSourceConfig {
            input: LogInput::File(glob.into()),
            history: default_history(),
            backlog_lines: default_backlog(),
            max_line_bytes: default_max_line(),
        }
    }

    /// Reads and checks a `[services.NAME.logs]` table.
    pub fn from_toml(value: toml::Value) -> Result<LogSourceConfig, String> {
        let raw: LogSourceFile = value
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string())?;
        let input = match (raw.file, raw.command) {
            (Some(glob), None) => {
                Glob::new(&glob).map_err(|e| format!("file: {e}"))?;
                LogInput::File(glob)
            }
            (None, Some(argv)) => {
                if argv.first().is_none_or(|p| p.trim().is_empty()) {
                    return Err("command: give the program and its arguments, e.g. [\"journalctl\", \"-f\", \"-u\", \"payments\"]".into());
                }
                LogInput::Command(argv)
            }
            (Some(_), Some(_)) => {
                return Err("give either `file` or `command`, not both".into());
            }
            (None, None) => {
                return Err(
                    "say where the lines come from: `file = \"/var/log/NAME/*.log\"` or `command = [\"prog\", \"arg\"]`"
                        .into(),
                );
            }
        };
        if raw.backlog_lines == 0 || raw.backlog_lines > 1_000_000 {
            return Err("backlog_lines must be between 1 and 1000000".into());
        }
        if !(256..=1024 * 1024).contains(&raw.max_line_bytes) {
            return Err("max_line_bytes must be between 256 and 1048576".into());
        }
        Ok(LogSourceConfig {
            input,
            history: raw.history,
            backlog_lines: raw.backlog_lines,
            max_line_bytes: raw.max_line_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<LogSourceConfig, String> {
        LogSourceConfig::from_toml(toml::from_str::<toml::Value>(text).unwrap())
    }

    #[test]
    fn a_file_source_takes_the_defaults() {
        let c = parse("file = \"/var/log/p/*.log\"").unwrap();
        assert_eq!(c.input, LogInput::File("/var/log/p/*.log".into()));
        assert_eq!(c.history, Duration::from_secs(3600));
        assert_eq!(c.backlog_lines, 20_000);
    }

    #[test]
    fn a_command_source_keeps_its_argv() {
        let c = parse("command = [\"journalctl\", \"-f\"]\nhistory = \"10m\"").unwrap();
        assert_eq!(
            c.input,
            LogInput::Command(vec!["journalctl".into(), "-f".into()])
        );
        assert_eq!(c.history, Duration::from_secs(600));
    }

    #[test]
    fn mistakes_are_named() {
        assert!(parse("").unwrap_err().contains("file ="));
        assert!(
            parse("file = \"a\"\ncommand = [\"b\"]")
                .unwrap_err()
                .contains("not both")
        );
        assert!(parse("command = []").unwrap_err().contains("program"));
        assert!(
            parse("file = \"a\"\nfiel = 1")
                .unwrap_err()
                .contains("fiel")
        );
        assert!(
            parse("file = \"a\"\nbacklog_lines = 0")
                .unwrap_err()
                .contains("backlog_lines")
        );
    }
}
