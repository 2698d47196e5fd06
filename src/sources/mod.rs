//! Where log lines come from: the `file` source (a glob followed like
//! `tail -F`), and what the gateway reads off each line it passes on (its
//! level, its timestamp for `since_s`).
//!
//! # This module must never
//! decide who may read a source, redact, or talk to a client: it hands
//! complete lines to the gateway, which checks grants, redacts and fans the
//! lines out to subscribers.

mod fields;
pub mod level;
pub mod tail;
pub mod timestamp;

pub use level::{Level, parse_level};
pub use tail::{
    CutLine, FileTail, Glob, LineSplitter, MultiTail, Since, TailError, TailLine, TailOptions,
    expand_glob,
};
pub use timestamp::{SinceFilter, parse_timestamp};
