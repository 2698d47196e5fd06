//! The bounded in-memory history of one scrape target: the last `capacity`
//! successful scrapes, oldest first, each stamped with the time it was
//! taken.
//!
//! A failed scrape is simply not pushed; the hole it leaves is seen by the
//! maths as a longer interval between two scrapes (see
//! [`History::max_gap_ms`]).
//!
//! # This module must never
//! do I/O or read the clock (the scraper stamps each scrape), or hold more
//! than `capacity` scrapes.

use std::collections::VecDeque;
use std::time::Duration;

use super::exposition::{MetricFamily, Sample};

/// One successful scrape of a target.
#[derive(Debug, Clone, PartialEq)]
pub struct Scrape {
    /// When the scrape was taken, in milliseconds since 1970. Sample
    /// timestamps sent by the target are not used by the maths.
    pub at_ms: i64,
    pub families: Vec<MetricFamily>,
}

impl Scrape {
    pub fn new(at_ms: i64, families: Vec<MetricFamily>) -> Self {
        Scrape { at_ms, families }
    }

    /// Every sample named exactly `name` (`x_bucket`, not `x`, for a
    /// histogram's buckets), in the target's order.
    pub fn samples_named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Sample> {
        self.families
            .iter()
            .filter(move |f| name.starts_with(f.name.as_str()))
            .flat_map(|f| &f.samples)
            .filter(move |s| s.name == name)
    }

    /// Drops every sample whose name is not in `names` (use the union of
    /// [`Expr::sample_names`](super::query::Expr::sample_names) over the
    /// target's queries), keeping the families that own or are named like
    /// one of `names` even when left empty, so [`Scrape::knows`] and the
    /// unknown-metric hints still work. A Go service's 200 samples at a
    /// 15 s interval for 6 h would otherwise hold some 200 MB.
    pub fn retain_samples_named(&mut self, names: &[String]) {
        let wanted = |n: &str| names.iter().any(|w| w == n);
        self.families.retain_mut(|f| {
            f.samples.retain(|s| wanted(&s.name));
            !f.samples.is_empty() || names.iter().any(|n| *n == f.name || f.owns_sample_name(n))
        });
    }

    /// Whether the target exports a sample name at all: it has such a
    /// sample, or declares (HELP/TYPE) a family that would own it, as the
    /// Python client does for a labelled counter nobody has touched yet.
    pub fn knows(&self, name: &str) -> bool {
        self.families.iter().any(|f| f.owns_sample_name(name))
            || self.samples_named(name).next().is_some()
    }
}

/// Why a scrape was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    #[error(
        "scrape taken at {at_ms} ms is not later than the previous one at {last_ms} ms \
         (did the clock go back?); it was dropped"
    )]
    OutOfOrder { at_ms: i64, last_ms: i64 },
}

/// The last scrapes of one target, oldest first, at most `capacity`.
#[derive(Debug, Clone)]
pub struct History {
    scrapes: VecDeque<Scrape>,
    capacity: usize,
    interval_ms: i64,
}

impl History {
    /// An empty history keeping `capacity` scrapes (at least one) of a
    /// target scraped every `interval` (at least 1 ms). For 6 h of charts
    /// at a 15 s interval: `History::new(6 * 240, 15 s)`.
    pub fn new(capacity: usize, interval: Duration) -> Self {
        let capacity = capacity.max(1);
        History {
            scrapes: VecDeque::with_capacity(capacity.min(4096)),
            capacity,
            interval_ms: i64::try_from(interval.as_millis())
                .unwrap_or(i64::MAX)
                .max(1),
        }
    }

    /// Adds the newest scrape, dropping the oldest when full. A scrape not
    /// later than the newest one is refused: the maths needs time to move
    /// forward, so stamp scrapes from a clock that does.
    pub fn push(&mut self, scrape: Scrape) -> Result<(), HistoryError> {
        if let Some(last) = self.scrapes.back()
            && scrape.at_ms <= last.at_ms
        {
            return Err(HistoryError::OutOfOrder {
                at_ms: scrape.at_ms,
                last_ms: last.at_ms,
            });
        }
        if self.scrapes.len() == self.capacity {
            self.scrapes.pop_front();
        }
        self.scrapes.push_back(scrape);
        Ok(())
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.scrapes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scrapes.is_empty()
    }

    /// The scrape interval given to [`History::new`], in milliseconds.
    pub fn interval_ms(&self) -> i64 {
        self.interval_ms
    }

    /// Two consecutive scrapes further apart than this (two and a half
    /// intervals: two or more scrapes in a row failed) give no rate or
    /// quantile point between them, so the chart shows the hole instead of
    /// drawing a made-up average across it. One missed scrape is bridged.
    pub fn max_gap_ms(&self) -> i64 {
        self.interval_ms.saturating_mul(5) / 2
    }

    /// Oldest first.
    pub fn scrapes(&self) -> impl DoubleEndedIterator<Item = &Scrape> + ExactSizeIterator {
        self.scrapes.iter()
    }

    pub fn latest(&self) -> Option<&Scrape> {
        self.scrapes.back()
    }

    /// Scrapes from the last one taken before `start_ms` (the left end of
    /// the first interval that ends inside the window) to the newest.
    pub(super) fn since_one_before(&self, start_ms: i64) -> impl Iterator<Item = &Scrape> {
        let first_inside = self.scrapes.partition_point(|s| s.at_ms < start_ms);
        self.scrapes.range(first_inside.saturating_sub(1)..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::exposition::parse;

    fn scrape(at_ms: i64) -> Scrape {
        Scrape::new(at_ms, Vec::new())
    }

    fn times(history: &History) -> Vec<i64> {
        history.scrapes().map(|s| s.at_ms).collect()
    }

    #[test]
    fn keeps_only_the_last_capacity_scrapes() {
        let mut history = History::new(3, Duration::from_secs(10));
        for t in [10, 20, 30, 40, 50] {
            history.push(scrape(t)).unwrap();
        }
        assert_eq!(times(&history), [30, 40, 50]);
        assert_eq!(history.len(), 3);
        assert_eq!(history.latest().unwrap().at_ms, 50);
    }

    #[test]
    fn a_zero_capacity_still_keeps_the_latest_scrape() {
        let mut history = History::new(0, Duration::ZERO);
        history.push(scrape(1)).unwrap();
        history.push(scrape(2)).unwrap();
        assert_eq!(times(&history), [2]);
        assert_eq!(history.interval_ms(), 1);
    }

    #[test]
    fn a_scrape_from_the_past_is_refused_and_changes_nothing() {
        let mut history = History::new(5, Duration::from_secs(10));
        history.push(scrape(100)).unwrap();
        for t in [100, 99] {
            let err = history.push(scrape(t)).unwrap_err();
            assert_eq!(
                err,
                HistoryError::OutOfOrder {
                    at_ms: t,
                    last_ms: 100
                }
            );
            assert!(err.to_string().contains("clock"), "{err}");
        }
        assert_eq!(times(&history), [100]);
    }

    #[test]
    fn one_missed_scrape_is_bridged_two_are_a_gap() {
        let history = History::new(5, Duration::from_secs(10));
        // One miss: 20 s between scrapes (bridged); two misses: 30 s.
        assert_eq!(history.max_gap_ms(), 25_000);
    }

    #[test]
    fn the_window_starts_one_scrape_early() {
        let mut history = History::new(10, Duration::from_secs(10));
        for t in [10, 20, 30, 40] {
            history.push(scrape(t)).unwrap();
        }
        let from =
            |start| -> Vec<i64> { history.since_one_before(start).map(|s| s.at_ms).collect() };
        assert_eq!(from(25), [20, 30, 40]);
        assert_eq!(from(30), [20, 30, 40]);
        assert_eq!(from(0), [10, 20, 30, 40]);
        assert_eq!(from(99), [40]);
    }

    #[test]
    fn declared_but_empty_families_count_as_known() {
        let families = parse(
            "# TYPE errors_total counter\n\
             # TYPE latency histogram\n\
             # TYPE rpc summary\n\
             up 1\n",
        )
        .unwrap();
        let scrape = Scrape::new(0, families);
        for name in [
            "errors_total",
            "latency_bucket",
            "latency_sum",
            "latency_count",
            "rpc",
            "rpc_count",
            "up",
        ] {
            assert!(scrape.knows(name), "{name}");
        }
        for name in ["latency", "errors", "up_total", "rpc_bucket"] {
            assert!(!scrape.knows(name), "{name}");
        }
    }

    #[test]
    fn keeping_only_the_queried_samples_keeps_what_they_need() {
        let text = "# TYPE errors_total counter\n\
                    # TYPE latency histogram\n\
                    latency_bucket{le=\"1\"} 1\n\
                    latency_bucket{le=\"+Inf\"} 2\n\
                    latency_sum 3\n\
                    latency_count 2\n\
                    go_goroutines 12\n\
                    up 1\n";
        let mut scrape = Scrape::new(0, parse(text).unwrap());
        let names = ["latency_bucket", "errors_total", "up"].map(String::from);
        scrape.retain_samples_named(&names);
        let kept: Vec<(&str, usize)> = scrape
            .families
            .iter()
            .map(|f| (f.name.as_str(), f.samples.len()))
            .collect();
        assert_eq!(kept, [("errors_total", 0), ("latency", 2), ("up", 1)]);
        assert!(scrape.knows("errors_total"));
    }
}
