//! The gateway's own figures, rendered in Prometheus text format at
//! `GET /metrics`. Counting is lock-free or behind short mutexes; this
//! module never blocks an op on anything slow.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the op latency histogram buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
pub struct Metrics {
    connections: AtomicI64,
    connections_total: AtomicU64,
    audit_appends: AtomicU64,
    events_sent: AtomicU64,
    auth_failures: AtomicU64,
    ops: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    latency: Mutex<Histogram>,
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    pub fn connection_opened(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        self.connections.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn auth_failed(&self) {
        self.auth_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn audit_appended(&self, n: usize) {
        self.audit_appends.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn event_sent(&self) {
        self.events_sent.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one op: its name, outcome (`ok` or an error code) and latency.
    pub fn op(&self, name: &'static str, outcome: &'static str, took: Duration) {
        *self
            .ops
            .lock()
            .expect("metrics lock")
            .entry((name, outcome))
            .or_default() += 1;
        let secs = took.as_secs_f64();
        let mut h = self.latency.lock().expect("metrics lock");
        h.count += 1;
        h.sum += secs;
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.buckets[i] += 1;
            }
        }
    }

    /// Prometheus text exposition; `active_grants` is the caller's (the
    /// engine's active-grant index, which follows every commit).
    pub fn render(&self, active_grants: Option<u64>) -> String {
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, kind: &str, value: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        gauge(
            "breakglass_connections",
            "WebSocket connections open now.",
            "gauge",
            self.connections.load(Ordering::Relaxed).to_string(),
        );
        gauge(
            "breakglass_connections_total",
            "WebSocket connections accepted since start.",
            "counter",
            self.connections_total.load(Ordering::Relaxed).to_string(),
        );
        gauge(
            "breakglass_auth_failures_total",
            "Upgrade requests refused for a missing or bad token.",
            "counter",
            self.auth_failures.load(Ordering::Relaxed).to_string(),
        );
        gauge(
            "breakglass_audit_appends_total",
            "Entries appended to the gateway's audit chain.",
            "counter",
            self.audit_appends.load(Ordering::Relaxed).to_string(),
        );
        gauge(
            "breakglass_events_sent_total",
            "Events pushed to connections.",
            "counter",
            self.events_sent.load(Ordering::Relaxed).to_string(),
        );
        if let Some(n) = active_grants {
            gauge(
                "breakglass_active_grants",
                "Grants active now.",
                "gauge",
                n.to_string(),
            );
        }
        let _ = writeln!(
            out,
            "# HELP breakglass_ops_total Protocol ops by op and outcome.\n# TYPE breakglass_ops_total counter"
        );
        for ((op, outcome), n) in self.ops.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "breakglass_ops_total{{op=\"{op}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        let h = self.latency.lock().expect("metrics lock");
        let _ = writeln!(
            out,
            "# HELP breakglass_op_duration_seconds Time from a frame's arrival to its reply.\n# TYPE breakglass_op_duration_seconds histogram"
        );
        for (bound, n) in LATENCY_BUCKETS.iter().zip(h.buckets.iter()) {
            let _ = writeln!(
                out,
                "breakglass_op_duration_seconds_bucket{{le=\"{bound}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "breakglass_op_duration_seconds_bucket{{le=\"+Inf\"}} {}\nbreakglass_op_duration_seconds_sum {}\nbreakglass_op_duration_seconds_count {}",
            h.count, h.sum, h.count
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_counts_ops_by_outcome_and_fills_cumulative_buckets() {
        let m = Metrics::default();
        m.op("request.create", "ok", Duration::from_millis(3));
        m.op("request.create", "ok", Duration::from_millis(30));
        m.op("request.approve", "forbidden", Duration::from_micros(100));
        let text = m.render(Some(2));
        assert!(text.contains("breakglass_ops_total{op=\"request.create\",outcome=\"ok\"} 2"));
        assert!(
            text.contains("breakglass_ops_total{op=\"request.approve\",outcome=\"forbidden\"} 1")
        );
        assert!(text.contains("breakglass_op_duration_seconds_bucket{le=\"0.005\"} 2"));
        assert!(text.contains("breakglass_op_duration_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(text.contains("breakglass_active_grants 2"));
    }
}
