//! The demo's simulated services, `payments`, `checkout` and `search`:
//! they write real log files and serve real Prometheus endpoints, which the
//! gateway reads exactly as it reads production (DESIGN.md section 6), and
//! an incident unfolds in them so the console has something to show.
//!
//! * [`timeline`]: the incident script, a pure function of time.
//! * [`logs`]: each service's log lines (JSON, logfmt, log4j text with
//!   stack traces), with secrets for the redactor and look-alikes that must
//!   survive it.
//! * [`metrics`]: each service's `/metrics` text, integrated over the
//!   timeline.
//! * `logfile`, `writer`, `server`: the I/O around them, started and
//!   stopped together by [`SimServices`].
//!
//! Layout on disk: `DIR/<service>/<service>.log`, rotated by renaming to
//! `<service>.log.1` … `.N` like logrotate's default (the gateway's `file`
//! source follows the rename). Metrics: one loopback listener per service,
//! `http://127.0.0.1:PORT/metrics`, as each would have in production.

mod logfile;
pub mod logs;
pub mod metrics;
mod rng;
mod server;
mod services;
pub mod timeline;
mod writer;

use std::path::PathBuf;
use std::time::Duration;

pub use logs::{LogGen, LogRecord};
pub use metrics::ServiceMetrics;
pub use services::SimServices;
pub use timeline::{Latency, Phase, ServiceState, Timeline};

/// A simulated service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Payments,
    Checkout,
    Search,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::Payments, Service::Checkout, Service::Search];

    /// The name the demo policy and the gateway config use.
    pub fn name(self) -> &'static str {
        match self {
            Service::Payments => "payments",
            Service::Checkout => "checkout",
            Service::Search => "search",
        }
    }

    pub fn from_name(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The seed of the demo's defaults.
pub const DEMO_SEED: u64 = 0x00B2_EA4C_6A55;

/// How the simulation runs.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOptions {
    pub timeline: Timeline,
    /// Seeds the log lines (the timeline has its own seed for its curves).
    pub seed: u64,
    /// A log file past this size is rotated.
    pub rotate_bytes: u64,
    /// Rotated files kept (`.log.1` … `.log.N`); the oldest is dropped.
    pub rotate_keep: usize,
    /// History written at start into an empty or missing log file, so a
    /// `since` query has something to show at once.
    pub backfill: Duration,
}

impl Default for SimOptions {
    /// What `breakglass demo` runs: the demo timeline, logrotate-like
    /// rotation at 5 MiB keeping 3, two minutes of history.
    fn default() -> Self {
        SimOptions {
            timeline: Timeline::demo(DEMO_SEED),
            seed: DEMO_SEED,
            rotate_bytes: 5 * 1024 * 1024,
            rotate_keep: 3,
            backfill: Duration::from_secs(120),
        }
    }
}

/// Why the simulation could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid simulation options: {0}")]
    Options(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen for {service}'s metrics on 127.0.0.1: {source}")]
    Listen {
        service: Service,
        #[source]
        source: std::io::Error,
    },
}

impl SimOptions {
    fn check(&self) -> Result<(), SimError> {
        self.timeline.check().map_err(SimError::Options)?;
        if self.rotate_bytes == 0 {
            return Err(SimError::Options("rotate_bytes must be above zero".into()));
        }
        Ok(())
    }
}
