//! Log lines of the simulated services: one format per service so the
//! gateway's level and timestamp readers see the variety production has,
//! levels that follow the incident, and secrets (plus their harmless
//! look-alikes) for the redactor to earn its keep.
//!
//! * payments: JSON lines (`{"ts":…,"level":"info","msg":…}`)
//! * checkout: logfmt (`ts=… level=warn msg="upstream slow" …`)
//! * search: log4j text (`2026-11-24 16:40:01,123 [ERROR] c.s.… - …`) with
//!   multi-line Java stack traces.
//!
//! Pure: the caller passes the time to stamp and the timeline's state.

mod checkout;
mod format;
mod payments;
mod search;
pub mod secrets;

use chrono::{DateTime, Utc};

use super::Service;
use super::rng::{SimRng, mix};
use super::timeline::ServiceState;
use crate::sources::Level;

/// Share of events that carry a secret: often enough that a minute of
/// tailing shows redaction at work.
const SECRET_SHARE: f64 = 0.03;

/// Share of DEBUG events while nothing is wrong; noisier loggers are
/// rarely turned down during an incident, so it stays.
const DEBUG_SHARE: f64 = 0.12;

/// One written line and what the generator meant by it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    pub text: String,
    /// The level the line was written at; `None` for the continuation
    /// lines of a stack trace, which carry none.
    pub level: Option<Level>,
    /// The secret in the line exactly as written, if there is one.
    pub secret: Option<String>,
}

/// A seeded source of one service's log events.
#[derive(Debug, Clone)]
pub struct LogGen {
    service: Service,
    rng: SimRng,
}

impl LogGen {
    pub fn new(service: Service, seed: u64) -> Self {
        LogGen {
            service,
            rng: SimRng::new(mix(seed ^ ((service as u64 + 1) << 32))),
        }
    }

    pub fn service(&self) -> Service {
        self.service
    }

    /// Appends the lines of one log event written at `now` to `out`, each
    /// ending in a newline, as they go to the file: usually one, several
    /// for a stack trace.
    pub fn write_lines(&mut self, now: DateTime<Utc>, state: &ServiceState, out: &mut String) {
        let mut records = Vec::new();
        self.next_records(now, state, &mut records);
        for r in records {
            out.push_str(&r.text);
            out.push('\n');
        }
    }

    /// The lines of [`LogGen::write_lines`] with what each was meant to be.
    pub fn next_records(
        &mut self,
        now: DateTime<Utc>,
        state: &ServiceState,
        out: &mut Vec<LogRecord>,
    ) {
        let secret = self.rng.chance(SECRET_SHARE);
        let level = pick_level(&mut self.rng, state);
        let mut e = Emit {
            rng: &mut self.rng,
            now,
            state,
            out,
        };
        match (self.service, secret) {
            (Service::Payments, false) => payments::event(&mut e, level),
            (Service::Payments, true) => payments::secret_event(&mut e),
            (Service::Checkout, false) => checkout::event(&mut e, level),
            (Service::Checkout, true) => checkout::secret_event(&mut e),
            (Service::Search, false) => search::event(&mut e, level),
            (Service::Search, true) => search::secret_event(&mut e),
        }
    }
}

/// Errors follow the 5xx ratio (logged a little more often than they
/// happen, as failures log more than successes); warnings follow slowness.
fn pick_level(rng: &mut SimRng, state: &ServiceState) -> Level {
    let p_error = (0.004 + 1.5 * state.error_ratio).min(0.5);
    let p_warn = 0.03 + 0.35 * state.slowness;
    let u = rng.unit();
    if u < p_error {
        Level::Error
    } else if u < p_error + p_warn {
        Level::Warn
    } else if u < p_error + p_warn + DEBUG_SHARE {
        Level::Debug
    } else {
        Level::Info
    }
}

/// What a service's event writer works with.
struct Emit<'a> {
    rng: &'a mut SimRng,
    now: DateTime<Utc>,
    state: &'a ServiceState,
    out: &'a mut Vec<LogRecord>,
}

impl Emit<'_> {
    fn line(&mut self, level: Level, text: String) {
        self.out.push(LogRecord {
            text,
            level: Some(level),
            secret: None,
        });
    }

    fn secret_line(&mut self, level: Level, text: String, secret: String) {
        debug_assert!(text.contains(&secret), "{secret} not in {text}");
        self.out.push(LogRecord {
            text,
            level: Some(level),
            secret: Some(secret),
        });
    }

    fn continuation(&mut self, text: String) {
        self.out.push(LogRecord {
            text,
            level: None,
            secret: None,
        });
    }

    /// One request's duration in ms, drawn from the current distribution.
    fn duration_ms(&mut self) -> u64 {
        let z = self.rng.normal();
        (self.state.latency.at_z(z) * 1000.0).round().max(1.0) as u64
    }

    /// A duration from the slow tail (beyond the ~p98), for WARN lines.
    fn slow_ms(&mut self) -> u64 {
        let z = 2.0 + self.rng.normal().abs() * 0.6;
        (self.state.latency.at_z(z) * 1000.0).round().max(1.0) as u64
    }
}

#[cfg(test)]
mod tests;
