//! The pure half of the `scrape` metrics source: reading Prometheus text
//! endpoints, keeping a bounded history of scrapes, and turning named
//! chart queries (gauge, rate, histogram quantile, ratio) into
//! `(unix_ms, value)` points for `metrics.query`.
//!
//! * [`exposition`]: the text format 0.0.4, parsed line by line (bad lines
//!   reported with their number, the rest kept) and written back.
//! * [`history`]: the last N scrapes of one target, oldest first.
//! * [`maths`]: counter increases across resets and Prometheus'
//!   `histogram_quantile()`, on plain numbers.
//! * [`query`]: the config's query descriptions and their evaluation over
//!   a history, downsampled to the chart's step.
//!
//! The scraper that fetches `/metrics`, the timer, and the protocol's
//! `Series` live in the gateway; a scrape flows as
//! `parse_lenient(body)` → `Scrape::new(now_ms, families)` →
//! `retain_samples_named(&names the queries read)` → `History::push` →
//! `evaluate(&query, &history, Window::ending_at(now_ms, range, step))`.
//!
//! # This module must never
//! do I/O, read the clock, or spawn anything: callers pass the text, the
//! scrape times and the window. It never panics on any endpoint's output.

pub mod exposition;
pub mod history;
pub mod maths;
pub mod query;

pub use exposition::{
    LineError, MetricFamily, MetricKind, ParseError, Parsed, Sample, parse, parse_lenient,
};
pub use history::{History, HistoryError, Scrape};
pub use maths::{Aggregate, bucket_quantile, counter_increase, rate};
pub use query::{
    Expr, LabelMatcher, MatchTest, Query, QueryConfigError, QueryError, Window, evaluate,
};
