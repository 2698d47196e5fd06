//! What a simulated service's `/metrics` endpoint says: counters and a
//! latency histogram integrated over the timeline since start, gauges read
//! off the timeline at the scrape's moment, written in the text format
//! 0.0.4 by the project's own writer.
//!
//! Pure: the server passes the elapsed seconds of each scrape.

use std::collections::BTreeMap;

use super::Service;
use super::timeline::{ServiceState, Timeline};
use crate::metrics::exposition::{self, MetricFamily, MetricKind, Sample};

/// Prometheus' default buckets, in seconds.
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Integration step: fine enough that a ramp of a few seconds is followed.
const STEP_S: f64 = 0.5;

/// Of the 5xx answers, this share is 500 and the rest 503.
const SHARE_500: f64 = 0.6;

const MIB: f64 = 1024.0 * 1024.0;

/// A route, its share of the service's traffic, and how its latency
/// compares with the service's typical request.
struct Route {
    path: &'static str,
    share: f64,
    latency_factor: f64,
}

const fn route(path: &'static str, share: f64, latency_factor: f64) -> Route {
    Route {
        path,
        share,
        latency_factor,
    }
}

const PAYMENTS_ROUTES: &[Route] = &[
    route("/v1/charges", 0.7, 1.0),
    route("/v1/charges/{id}", 0.2, 0.4),
    route("/v1/refunds", 0.1, 1.2),
];
// /checkout waits for payments; the cart does not.
const CHECKOUT_ROUTES: &[Route] = &[
    route("/cart", 0.5, 0.4),
    route("/cart/items", 0.2, 0.5),
    route("/checkout", 0.3, 1.6),
];
const SEARCH_ROUTES: &[Route] = &[route("/search", 0.8, 1.0), route("/suggest", 0.2, 0.3)];

fn routes(service: Service) -> &'static [Route] {
    match service {
        Service::Payments => PAYMENTS_ROUTES,
        Service::Checkout => CHECKOUT_ROUTES,
        Service::Search => SEARCH_ROUTES,
    }
}

/// Expected totals of one route since start (fractional: rounded down
/// when written, which keeps them monotonic).
#[derive(Debug, Clone, Default)]
struct Totals {
    ok: f64,
    code_500: f64,
    code_503: f64,
    /// Cumulative, one per [`BUCKETS`] bound.
    buckets: [f64; BUCKETS.len()],
    sum_s: f64,
}

/// One service's figures, integrated up to the last scrape.
#[derive(Debug, Clone)]
pub struct ServiceMetrics {
    service: Service,
    timeline: Timeline,
    at_s: f64,
    totals: Vec<Totals>,
}

impl ServiceMetrics {
    pub fn new(service: Service, timeline: Timeline) -> Self {
        ServiceMetrics {
            service,
            timeline,
            at_s: 0.0,
            totals: vec![Totals::default(); routes(service).len()],
        }
    }

    /// Integrates the counters up to `elapsed_s`; an earlier time changes
    /// nothing (counters never go back).
    pub fn advance_to(&mut self, elapsed_s: f64) {
        while self.at_s < elapsed_s {
            let dt = (elapsed_s - self.at_s).min(STEP_S);
            let state = self.timeline.state(self.service, self.at_s + dt / 2.0);
            for (route, totals) in routes(self.service).iter().zip(&mut self.totals) {
                let n = state.request_rate * route.share * dt;
                let errors = n * state.error_ratio;
                totals.ok += n - errors;
                totals.code_500 += errors * SHARE_500;
                totals.code_503 += errors * (1.0 - SHARE_500);
                let latency = state.latency.scaled(route.latency_factor);
                for (bucket, le) in totals.buckets.iter_mut().zip(BUCKETS) {
                    *bucket += n * latency.cdf(le);
                }
                totals.sum_s += n * latency.mean();
            }
            self.at_s += dt;
        }
    }

    /// The exposition text as of the last [`ServiceMetrics::advance_to`].
    pub fn render(&self) -> String {
        exposition::format(&self.families())
    }

    fn families(&self) -> Vec<MetricFamily> {
        let service = self.service.name();
        let state = self.timeline.state(self.service, self.at_s);
        let mut requests = family(
            "http_requests_total",
            "HTTP requests answered, by route and status code.",
            MetricKind::Counter,
        );
        let mut duration = family(
            "http_request_duration_seconds",
            "Time from request received to response sent.",
            MetricKind::Histogram,
        );
        for (route, totals) in routes(self.service).iter().zip(&self.totals) {
            let labels = [("service", service), ("route", route.path)];
            let mut count = 0.0;
            for (code, total) in [
                ("200", totals.ok),
                ("500", totals.code_500),
                ("503", totals.code_503),
            ] {
                let value = total.floor();
                count += value;
                requests.samples.push(sample(
                    "http_requests_total",
                    &labels,
                    Some(("code", code)),
                    value,
                ));
            }
            // Capped by the count, which is a sum of rounded-down parts and
            // may be a little smaller than the rounded-down whole.
            for (bucket, le) in totals.buckets.iter().zip(BUCKETS) {
                let le = exposition::format_value(le);
                let value = bucket.floor().min(count);
                duration.samples.push(sample(
                    "http_request_duration_seconds_bucket",
                    &labels,
                    Some(("le", &le)),
                    value,
                ));
            }
            let name = "http_request_duration_seconds";
            let inf = Some(("le", "+Inf"));
            duration
                .samples
                .push(sample(&format!("{name}_bucket"), &labels, inf, count));
            duration
                .samples
                .push(sample(&format!("{name}_sum"), &labels, None, totals.sum_s));
            duration
                .samples
                .push(sample(&format!("{name}_count"), &labels, None, count));
        }
        let mut families = vec![requests, duration];
        let labels = [("service", service)];
        let mut gauge = |name: &str, help: &str, value: f64| {
            let mut f = family(name, help, MetricKind::Gauge);
            f.samples.push(sample(name, &labels, None, value));
            families.push(f);
        };
        gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            memory_bytes(self.service, self.at_s, &state),
        );
        let inflight = inflight(&state);
        gauge(
            "inflight_requests",
            "Requests being served right now.",
            inflight.round(),
        );
        if self.service == Service::Payments {
            let (in_use, max) = db_pool(inflight);
            gauge(
                "db_pool_connections_in_use",
                "Database connections checked out of the pool.",
                in_use,
            );
            gauge(
                "db_pool_connections_max",
                "Size of the database connection pool.",
                max,
            );
        }
        families
    }
}

/// Little's law: requests in flight = arrival rate × time in the system.
fn inflight(state: &ServiceState) -> f64 {
    state.request_rate * state.latency.mean()
}

/// Every in-flight charge holds a connection for most of its life, so the
/// pool fills during the latency spike.
fn db_pool(inflight: f64) -> (f64, f64) {
    const POOL_MAX: f64 = 20.0;
    ((2.0 + 0.8 * inflight).round().min(POOL_MAX), POOL_MAX)
}

/// A baseline, a garbage collector's sawtooth, and growth while requests
/// pile up.
fn memory_bytes(service: Service, elapsed_s: f64, state: &ServiceState) -> f64 {
    let (base_mib, gc_period_s) = match service {
        Service::Payments => (180.0, 45.0),
        Service::Checkout => (120.0, 30.0),
        Service::Search => (900.0, 120.0),
    };
    let sawtooth = (elapsed_s / gc_period_s).rem_euclid(1.0);
    let mib = base_mib * (1.0 + 0.15 * sawtooth + 0.3 * state.slowness);
    (mib * MIB).round()
}

fn family(name: &str, help: &str, kind: MetricKind) -> MetricFamily {
    MetricFamily {
        name: name.to_string(),
        help: Some(help.to_string()),
        kind,
        samples: Vec::new(),
    }
}

fn sample(name: &str, labels: &[(&str, &str)], extra: Option<(&str, &str)>, value: f64) -> Sample {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .chain(extra.as_ref())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Sample {
        name: name.to_string(),
        labels,
        value,
        timestamp_ms: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{bucket_quantile, parse};

    fn scrape(m: &mut ServiceMetrics, at: f64) -> Vec<MetricFamily> {
        m.advance_to(at);
        parse(&m.render()).expect("strict parse")
    }

    fn values<'a>(families: &'a [MetricFamily], name: &str) -> Vec<&'a Sample> {
        families
            .iter()
            .flat_map(|f| &f.samples)
            .filter(|s| s.name == name)
            .collect()
    }

    fn total(families: &[MetricFamily], name: &str, filter: impl Fn(&Sample) -> bool) -> f64 {
        values(families, name)
            .into_iter()
            .filter(|s| filter(s))
            .map(|s| s.value)
            .sum()
    }

    #[test]
    fn every_service_renders_text_the_strict_parser_accepts() {
        for service in Service::ALL {
            let mut m = ServiceMetrics::new(service, Timeline::demo(1));
            let families = scrape(&mut m, 95.0);
            let kinds: BTreeMap<&str, MetricKind> =
                families.iter().map(|f| (f.name.as_str(), f.kind)).collect();
            assert_eq!(kinds["http_requests_total"], MetricKind::Counter);
            assert_eq!(
                kinds["http_request_duration_seconds"],
                MetricKind::Histogram
            );
            assert_eq!(kinds["process_resident_memory_bytes"], MetricKind::Gauge);
            assert_eq!(kinds["inflight_requests"], MetricKind::Gauge);
            assert_eq!(
                kinds.contains_key("db_pool_connections_in_use"),
                service == Service::Payments
            );
        }
    }

    #[test]
    fn counters_never_go_down_across_scrapes() {
        for service in Service::ALL {
            let mut m = ServiceMetrics::new(service, Timeline::demo(2));
            let mut prev: BTreeMap<String, f64> = BTreeMap::new();
            for i in 0..200 {
                let at = i as f64 * 3.7;
                let families = scrape(&mut m, at);
                for f in families.iter().filter(|f| f.kind != MetricKind::Gauge) {
                    for s in &f.samples {
                        let key = format!("{}{:?}", s.name, s.labels);
                        let before = prev.insert(key.clone(), s.value).unwrap_or(0.0);
                        assert!(
                            s.value >= before,
                            "{key} went {before} -> {} at {at}",
                            s.value
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn request_rates_between_scrapes_match_the_timeline() {
        let timeline = Timeline::demo(3);
        let mut m = ServiceMetrics::new(Service::Search, timeline.clone());
        let a = total(&scrape(&mut m, 100.0), "http_requests_total", |_| true);
        let b = total(&scrape(&mut m, 130.0), "http_requests_total", |_| true);
        let rate = (b - a) / 30.0;
        let want = timeline.state(Service::Search, 115.0).request_rate;
        assert!(
            (rate / want - 1.0).abs() < 0.1,
            "rate {rate}, timeline {want}"
        );
    }

    #[test]
    fn the_burst_shows_as_5xx_and_the_spike_as_a_slow_p99() {
        let timeline = Timeline::demo(4);
        let mut m = ServiceMetrics::new(Service::Payments, timeline);
        let errors = |f: &[MetricFamily]| {
            total(f, "http_requests_total", |s| s.label("code") != Some("200"))
        };
        let all = |f: &[MetricFamily]| total(f, "http_requests_total", |_| true);
        let buckets = |f: &[MetricFamily]| -> Vec<(f64, f64)> {
            let mut by_le: BTreeMap<String, f64> = BTreeMap::new();
            for s in values(f, "http_request_duration_seconds_bucket") {
                if s.label("route") == Some("/v1/charges") {
                    *by_le.entry(s.label("le").unwrap().to_string()).or_default() += s.value;
                }
            }
            let mut v: Vec<(f64, f64)> = by_le
                .into_iter()
                .map(|(le, n)| (exposition::parse_value(&le).unwrap(), n))
                .collect();
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            v
        };
        let diff = |a: Vec<(f64, f64)>, b: Vec<(f64, f64)>| -> Vec<(f64, f64)> {
            a.iter().zip(&b).map(|(x, y)| (x.0, y.1 - x.1)).collect()
        };

        let calm_a = scrape(&mut m, 20.0);
        let calm_b = scrape(&mut m, 50.0);
        let calm_p99 = bucket_quantile(0.99, &diff(buckets(&calm_a), buckets(&calm_b)));
        let spike_a = scrape(&mut m, 90.0);
        let spike_b = scrape(&mut m, 140.0);
        let spike_p99 = bucket_quantile(0.99, &diff(buckets(&spike_a), buckets(&spike_b)));
        assert!(calm_p99 < 0.25, "calm p99 {calm_p99}");
        assert!(spike_p99 > 1.0, "spike p99 {spike_p99}");

        let burst_a = scrape(&mut m, 170.0);
        let burst_b = scrape(&mut m, 200.0);
        let ratio = (errors(&burst_b) - errors(&burst_a)) / (all(&burst_b) - all(&burst_a));
        let calm_ratio = (errors(&calm_b) - errors(&calm_a)) / (all(&calm_b) - all(&calm_a));
        assert!(ratio > 0.12, "burst 5xx ratio {ratio}");
        assert!(calm_ratio < 0.02, "calm 5xx ratio {calm_ratio}");
    }

    #[test]
    fn histogram_buckets_rise_with_le_and_end_at_the_count() {
        let mut m = ServiceMetrics::new(Service::Checkout, Timeline::demo(5));
        let families = scrape(&mut m, 150.0);
        let count = total(&families, "http_request_duration_seconds_count", |s| {
            s.label("route") == Some("/checkout")
        });
        let mut prev = 0.0;
        for s in values(&families, "http_request_duration_seconds_bucket") {
            if s.label("route") == Some("/checkout") {
                assert!(s.value >= prev && s.value <= count, "{s:?}");
                prev = s.value;
            }
        }
        assert_eq!(prev, count);
        let requests = total(&families, "http_requests_total", |s| {
            s.label("route") == Some("/checkout")
        });
        assert_eq!(requests, count);
    }

    #[test]
    fn the_payments_pool_fills_up_during_the_spike() {
        let mut m = ServiceMetrics::new(Service::Payments, Timeline::demo(6));
        let pool = |f: &[MetricFamily]| total(f, "db_pool_connections_in_use", |_| true);
        let calm = pool(&scrape(&mut m, 30.0));
        let spike = pool(&scrape(&mut m, 130.0));
        assert!(calm < 10.0 && spike == 20.0, "calm {calm}, spike {spike}");
    }
}
