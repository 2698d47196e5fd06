//! One service's log writer: history first, then lines at the timeline's
//! rate, in batches every [`TICK`].

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::{Instant, MissedTickBehavior};

use super::logfile::LogFile;
use super::logs::LogGen;
use super::rng::{SimRng, mix};
use super::{Service, SimError, SimOptions, Timeline};

/// How often lines are appended: short enough that a follower sees a
/// steady stream, long enough that each write carries a few lines.
const TICK: Duration = Duration::from_millis(100);

/// A pause longer than this (a suspended laptop) is not made up for with
/// a flood of lines.
const MAX_CATCH_UP_S: f64 = 5.0;

/// Back-fill is written in pieces of about this size, so a small rotation
/// limit already shows rotated files.
const BACKFILL_CHUNK: usize = 64 * 1024;

pub(super) struct LogWriter {
    service: Service,
    timeline: Timeline,
    generator: LogGen,
    /// Spreads each batch's timestamps over its tick.
    jitter: SimRng,
    file: LogFile,
    path: PathBuf,
    rotate_bytes: u64,
    rotate_keep: usize,
    /// Events owed but not yet written (rates are fractional).
    carry: f64,
}

impl LogWriter {
    /// Opens the service's log file and back-fills it if it is empty.
    pub async fn open(
        path: PathBuf,
        service: Service,
        opts: &SimOptions,
        started_at: DateTime<Utc>,
    ) -> Result<LogWriter, SimError> {
        let file = LogFile::open(&path, opts.rotate_bytes, opts.rotate_keep).await?;
        let mut writer = LogWriter {
            service,
            timeline: opts.timeline.clone(),
            generator: LogGen::new(service, opts.seed),
            jitter: SimRng::new(mix(opts.seed ^ 0x5EED ^ service as u64)),
            file,
            path,
            rotate_bytes: opts.rotate_bytes,
            rotate_keep: opts.rotate_keep,
            carry: 0.0,
        };
        if writer.file.len() == 0 {
            writer.backfill(started_at, opts.backfill).await?;
        }
        Ok(writer)
    }

    /// Writes `span` of history ending at `started_at`, the events spaced
    /// by the timeline's rate at each moment.
    async fn backfill(
        &mut self,
        started_at: DateTime<Utc>,
        span: Duration,
    ) -> Result<(), SimError> {
        let mut at = -span.as_secs_f64();
        let mut buf = String::with_capacity(BACKFILL_CHUNK + 4096);
        while at < 0.0 {
            let state = self.timeline.state(self.service, at);
            let stamp = started_at + chrono::Duration::microseconds((at * 1e6) as i64);
            self.generator.write_lines(stamp, &state, &mut buf);
            if buf.len() >= BACKFILL_CHUNK {
                self.file.append(buf.as_bytes()).await?;
                buf.clear();
            }
            // Exponential gaps: arrivals of independent requests.
            let gap = -(1.0 - self.jitter.unit()).ln() / state.log_rate.max(0.1);
            at += gap;
        }
        self.file.append(buf.as_bytes()).await
    }

    /// Appends lines until the task is aborted. A failed write is reported
    /// and the file reopened on the next tick: a demo should survive
    /// someone deleting its log directory.
    pub async fn run(mut self, started: Instant) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last = started.elapsed().as_secs_f64();
        let mut broken = false;
        let mut buf = String::new();
        loop {
            tick.tick().await;
            let now = started.elapsed().as_secs_f64();
            let dt = (now - last).min(MAX_CATCH_UP_S);
            let from = now - dt;
            last = now;
            let wall = Utc::now();
            let state = self.timeline.state(self.service, from + dt / 2.0);
            self.carry += state.log_rate * dt;
            let due = self.carry.floor();
            self.carry -= due;

            let mut offsets: Vec<f64> = (0..due as usize).map(|_| self.jitter.unit()).collect();
            offsets.sort_by(f64::total_cmp);
            buf.clear();
            for u in offsets {
                let ago = (1.0 - u) * dt;
                let stamp = wall - chrono::Duration::microseconds((ago * 1e6) as i64);
                self.generator.write_lines(stamp, &state, &mut buf);
            }
            if buf.is_empty() {
                continue;
            }
            if broken {
                match LogFile::open(&self.path, self.rotate_bytes, self.rotate_keep).await {
                    Ok(file) => {
                        self.file = file;
                        broken = false;
                        tracing::info!(service = %self.service, "simulated log writable again");
                    }
                    Err(_) => continue,
                }
            }
            if let Err(e) = self.file.append(buf.as_bytes()).await {
                tracing::warn!(service = %self.service, error = %e, "simulated log write failed");
                broken = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::parse_timestamp;

    #[tokio::test]
    async fn an_empty_file_gets_history_up_to_the_start_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("search").join("search.log");
        let opts = SimOptions::default();
        let started_at = Utc::now();
        LogWriter::open(path.clone(), Service::Search, &opts, started_at)
            .await
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let stamps: Vec<DateTime<Utc>> = text.lines().filter_map(parse_timestamp).collect();
        // Search logs ~8 events a second: two minutes is about a thousand.
        assert!(stamps.len() > 500, "{} lines", stamps.len());
        assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "out of order");
        let first = started_at - chrono::Duration::seconds(120);
        assert!(stamps[0] >= first - chrono::Duration::milliseconds(1));
        assert!(stamps[0] < first + chrono::Duration::seconds(5));
        assert!(*stamps.last().unwrap() <= started_at);
    }

    #[tokio::test]
    async fn a_file_with_lines_is_not_back_filled_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        std::fs::write(&path, "earlier\n").unwrap();
        LogWriter::open(
            path.clone(),
            Service::Checkout,
            &SimOptions::default(),
            Utc::now(),
        )
        .await
        .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "earlier\n");
    }

    #[tokio::test]
    async fn a_small_limit_rotates_during_back_fill() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("payments.log");
        let opts = SimOptions {
            rotate_bytes: 32 * 1024,
            ..SimOptions::default()
        };
        LogWriter::open(path.clone(), Service::Payments, &opts, Utc::now())
            .await
            .unwrap();
        for n in 1..=3 {
            let rotated = super::super::logfile::numbered(&path, n);
            assert!(rotated.exists(), "{} missing", rotated.display());
        }
        assert!(!super::super::logfile::numbered(&path, 4).exists());
    }
}
