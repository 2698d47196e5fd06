//! The incident script: what each simulated service is doing at a given
//! moment, as a pure function of the seconds since the simulation started.
//!
//! Logs and metrics both read this, so the error burst a person sees in
//! the log pane is the same one the 5xx chart shows.

use std::time::Duration;

use super::Service;
use super::rng::hash_signed;

/// Where a service is in the incident cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    Healthy,
    LatencySpike,
    ErrorBurst,
    Recovery,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Healthy => "healthy",
            Phase::LatencySpike => "latency_spike",
            Phase::ErrorBurst => "error_burst",
            Phase::Recovery => "recovery",
        }
    }
}

/// Phase lengths of one incident cycle. Every cycle is `calm` healthy,
/// then `spike`, `burst` and `recovery`, then healthy until `cycle` ends;
/// the next cycle starts over.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub calm: Duration,
    pub spike: Duration,
    pub burst: Duration,
    pub recovery: Duration,
    pub cycle: Duration,
    /// Shapes the small wobble on every curve, so two demos need not look
    /// identical; the same seed always gives the same curves.
    pub seed: u64,
}

/// A log-normal latency distribution, given by the two figures people
/// quote: the median and the 99th percentile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub median_s: f64,
    pub p99_s: f64,
}

/// What one service is doing at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServiceState {
    pub service: Service,
    pub phase: Phase,
    /// Requests per second.
    pub request_rate: f64,
    /// Share of requests answered 5xx, 0…1.
    pub error_ratio: f64,
    pub latency: Latency,
    /// Log events per second (a stack trace is one event of several lines).
    pub log_rate: f64,
    /// How slow things are compared with the worst of the spike, 0…1.
    pub slowness: f64,
    /// How bad errors are compared with the worst of the burst, 0…1.
    pub failing: f64,
}

/// z of the 99th percentile of a standard normal.
const Z99: f64 = 2.326_347_874;

/// Phase transitions ramp over this long (or a sixth of the phase when
/// that is shorter), as real incidents do not switch on in one second.
const MAX_RAMP_S: f64 = 10.0;

/// Knot spacing of the wobble: slow enough to read as traffic, not noise.
const WOBBLE_PERIOD_S: f64 = 7.0;

/// The healthy and worst figures of one service.
struct Profile {
    rate: f64,
    error_base: f64,
    error_peak: f64,
    healthy: Latency,
    worst: Latency,
    log_base: f64,
    log_on_errors: f64,
    log_on_slowness: f64,
    /// How much of the incident reaches this service, 0…1.
    exposure: f64,
}

fn profile(service: Service) -> Profile {
    match service {
        Service::Payments => Profile {
            rate: 40.0,
            error_base: 0.005,
            error_peak: 0.20,
            healthy: Latency::new(0.040, 0.120),
            worst: Latency::new(0.600, 2.0),
            log_base: 12.0,
            log_on_errors: 30.0,
            log_on_slowness: 6.0,
            exposure: 1.0,
        },
        // Calls payments on every order: upstream timeouts, not an outage.
        Service::Checkout => Profile {
            rate: 60.0,
            error_base: 0.003,
            error_peak: 0.03,
            healthy: Latency::new(0.060, 0.250),
            worst: Latency::new(0.090, 0.900),
            log_base: 15.0,
            log_on_errors: 8.0,
            log_on_slowness: 5.0,
            exposure: 1.0,
        },
        Service::Search => Profile {
            rate: 120.0,
            error_base: 0.001,
            error_peak: 0.001,
            healthy: Latency::new(0.015, 0.080),
            worst: Latency::new(0.015, 0.080),
            log_base: 8.0,
            log_on_errors: 0.0,
            log_on_slowness: 0.0,
            exposure: 0.0,
        },
    }
}

impl Timeline {
    /// The demo's script: trouble a minute in, a 90 s latency spike, a
    /// 60 s error burst, a minute to recover, every 10 minutes.
    pub fn demo(seed: u64) -> Self {
        Timeline {
            calm: Duration::from_secs(60),
            spike: Duration::from_secs(90),
            burst: Duration::from_secs(60),
            recovery: Duration::from_secs(60),
            cycle: Duration::from_secs(600),
            seed,
        }
    }

    /// Why these lengths cannot be played, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        let incident = self.calm + self.spike + self.burst + self.recovery;
        if self.cycle.is_zero() {
            return Err("the cycle must be longer than zero".into());
        }
        if incident > self.cycle {
            return Err(format!(
                "calm + spike + burst + recovery ({incident:?}) is longer than the cycle ({:?})",
                self.cycle
            ));
        }
        Ok(())
    }

    /// The phase `elapsed_s` seconds after start (negative: before start,
    /// as the cycle repeats backwards too, which is what back-filled
    /// history shows).
    pub fn phase(&self, elapsed_s: f64) -> Phase {
        let t = self.in_cycle(elapsed_s);
        let [calm, spike, burst, recovery] = self.bounds();
        if t < calm || t >= recovery {
            Phase::Healthy
        } else if t < spike {
            Phase::LatencySpike
        } else if t < burst {
            Phase::ErrorBurst
        } else {
            Phase::Recovery
        }
    }

    /// The state of `service` `elapsed_s` seconds after start.
    pub fn state(&self, service: Service, elapsed_s: f64) -> ServiceState {
        let p = profile(service);
        let (slow, fail) = self.intensities(elapsed_s);
        let (slowness, failing) = (slow * p.exposure, fail * p.exposure);
        let wobble = |salt: u64| self.wobble(service, salt, elapsed_s);

        // Clients retry failed payments: traffic rises with the errors.
        let request_rate = p.rate * (1.0 + 0.08 * wobble(1)) * (1.0 + 0.3 * failing);
        let error_ratio =
            (p.error_base + (p.error_peak - p.error_base) * failing) * (1.0 + 0.15 * wobble(2));
        let latency = p
            .healthy
            .towards(p.worst, slowness)
            .scaled(1.0 + 0.05 * wobble(3));
        let log_rate = (p.log_base * (1.0 + 0.1 * wobble(4))
            + p.log_on_errors * failing
            + p.log_on_slowness * slowness)
            .max(0.0);
        let phase = if p.exposure > 0.0 {
            self.phase(elapsed_s)
        } else {
            Phase::Healthy
        };
        ServiceState {
            service,
            phase,
            request_rate: request_rate.max(0.0),
            error_ratio: error_ratio.clamp(0.0, 1.0),
            latency,
            log_rate,
            slowness,
            failing,
        }
    }

    fn in_cycle(&self, elapsed_s: f64) -> f64 {
        let cycle = self.cycle.as_secs_f64();
        if cycle > 0.0 {
            elapsed_s.rem_euclid(cycle)
        } else {
            elapsed_s
        }
    }

    /// Ends of calm, spike, burst and recovery, in seconds into the cycle.
    fn bounds(&self) -> [f64; 4] {
        let calm = self.calm.as_secs_f64();
        let spike = calm + self.spike.as_secs_f64();
        let burst = spike + self.burst.as_secs_f64();
        [calm, spike, burst, burst + self.recovery.as_secs_f64()]
    }

    /// (slowness, failing), each 0…1, piecewise linear so nothing jumps.
    fn intensities(&self, elapsed_s: f64) -> (f64, f64) {
        let t = self.in_cycle(elapsed_s);
        let [calm, spike, burst, recovery] = self.bounds();
        let ramp = |len: f64| MAX_RAMP_S.min(len / 6.0).max(f64::MIN_POSITIVE);
        // During the burst the slow requests have mostly become timeouts.
        const SLOW_IN_BURST: f64 = 0.6;
        const FAIL_IN_SPIKE: f64 = 0.05;
        if t < calm || t >= recovery {
            (0.0, 0.0)
        } else if t < spike {
            let up = ((t - calm) / ramp(spike - calm)).min(1.0);
            (up, FAIL_IN_SPIKE * up)
        } else if t < burst {
            let k = ((t - spike) / ramp(burst - spike)).min(1.0);
            (
                1.0 + (SLOW_IN_BURST - 1.0) * k,
                FAIL_IN_SPIKE + (1.0 - FAIL_IN_SPIKE) * k,
            )
        } else {
            let left = 1.0 - (t - burst) / (recovery - burst);
            (SLOW_IN_BURST * left, left)
        }
    }

    /// Smooth value noise in [-1, 1]: hashed knots, smoothstep between.
    fn wobble(&self, service: Service, salt: u64, elapsed_s: f64) -> f64 {
        let x = elapsed_s / WOBBLE_PERIOD_S;
        let k = x.floor();
        let f = x - k;
        let key = (service as u64) << 8 | salt;
        let knot = |i: f64| hash_signed(self.seed, key, i as i64 as u64);
        let s = f * f * (3.0 - 2.0 * f);
        knot(k) * (1.0 - s) + knot(k + 1.0) * s
    }
}

impl Latency {
    pub fn new(median_s: f64, p99_s: f64) -> Self {
        Latency { median_s, p99_s }
    }

    /// σ of the underlying normal.
    pub fn sigma(&self) -> f64 {
        ((self.p99_s / self.median_s).ln() / Z99).max(0.0)
    }

    /// Share of requests done within `x` seconds.
    pub fn cdf(&self, x: f64) -> f64 {
        if x <= 0.0 {
            return 0.0;
        }
        let sigma = self.sigma();
        let z = (x / self.median_s).ln();
        if sigma == 0.0 {
            return if z >= 0.0 { 1.0 } else { 0.0 };
        }
        0.5 * erfc(-z / (sigma * std::f64::consts::SQRT_2))
    }

    pub fn mean(&self) -> f64 {
        let sigma = self.sigma();
        self.median_s * (sigma * sigma / 2.0).exp()
    }

    /// One request's duration, from a standard normal draw `z`.
    pub fn at_z(&self, z: f64) -> f64 {
        self.median_s * (self.sigma() * z).exp()
    }

    pub fn scaled(self, k: f64) -> Self {
        Latency::new(self.median_s * k, self.p99_s * k)
    }

    /// Geometric interpolation: latencies move by factors, not by steps.
    fn towards(self, to: Latency, k: f64) -> Self {
        let lerp = |a: f64, b: f64| a * (b / a).powf(k);
        Latency::new(lerp(self.median_s, to.median_s), lerp(self.p99_s, to.p99_s))
    }
}

/// Complementary error function, fractional error below 1.2e-7
/// (Numerical Recipes' `erfcc`), plenty for histogram buckets.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One minute per phase, five-minute cycle: round numbers to test with.
    fn short() -> Timeline {
        Timeline {
            calm: Duration::from_secs(60),
            spike: Duration::from_secs(60),
            burst: Duration::from_secs(60),
            recovery: Duration::from_secs(60),
            cycle: Duration::from_secs(300),
            seed: 1,
        }
    }

    #[test]
    fn phases_land_where_the_lengths_put_them_and_repeat_every_cycle() {
        let t = short();
        for (at, want) in [
            (0.0, Phase::Healthy),
            (59.9, Phase::Healthy),
            (60.0, Phase::LatencySpike),
            (119.0, Phase::LatencySpike),
            (120.0, Phase::ErrorBurst),
            (179.0, Phase::ErrorBurst),
            (180.0, Phase::Recovery),
            (240.0, Phase::Healthy),
            (299.0, Phase::Healthy),
        ] {
            assert_eq!(t.phase(at), want, "at {at}");
            assert_eq!(t.phase(at + 300.0), want, "at {at} one cycle later");
            assert_eq!(t.phase(at - 300.0), want, "at {at} one cycle earlier");
        }
    }

    #[test]
    fn the_demo_timeline_is_playable_and_a_too_long_incident_is_not() {
        assert_eq!(Timeline::demo(0).check(), Ok(()));
        let mut t = short();
        t.cycle = Duration::from_secs(200);
        assert!(t.check().unwrap_err().contains("longer than the cycle"));
        t.cycle = Duration::ZERO;
        assert!(t.check().is_err());
    }

    #[test]
    fn payments_slows_down_then_fails_then_recovers() {
        let t = Timeline::demo(42);
        let calm = t.state(Service::Payments, 30.0);
        let spike = t.state(Service::Payments, 120.0);
        let burst = t.state(Service::Payments, 180.0);
        let after = t.state(Service::Payments, 400.0);

        assert!((0.10..0.14).contains(&calm.latency.p99_s), "{calm:?}");
        assert!(calm.error_ratio < 0.01, "{calm:?}");
        assert!((1.8..2.2).contains(&spike.latency.p99_s), "{spike:?}");
        assert!(spike.error_ratio < 0.03, "{spike:?}");
        assert!(burst.error_ratio > 0.15, "{burst:?}");
        assert!(burst.log_rate > 2.0 * calm.log_rate, "{burst:?}");
        assert_eq!(after.phase, Phase::Healthy);
        assert!(after.latency.p99_s < 0.14 && after.error_ratio < 0.01);
    }

    #[test]
    fn checkout_feels_it_mildly_and_search_not_at_all() {
        let t = Timeline::demo(42);
        let checkout = t.state(Service::Checkout, 180.0);
        assert!(checkout.error_ratio > 0.01 && checkout.error_ratio < 0.05);
        for at in [30.0, 120.0, 180.0, 240.0] {
            let s = t.state(Service::Search, at);
            assert_eq!(s.phase, Phase::Healthy);
            assert!(s.error_ratio < 0.002 && s.latency.p99_s < 0.1, "{s:?}");
        }
    }

    #[test]
    fn curves_move_smoothly_and_stay_in_range() {
        let t = Timeline::demo(5);
        for service in Service::ALL {
            let mut prev = t.state(service, -130.0);
            for i in 1..20_000 {
                let s = t.state(service, -130.0 + i as f64 * 0.05);
                assert!((0.0..=1.0).contains(&s.error_ratio));
                assert!(s.request_rate > 0.0 && s.log_rate > 0.0);
                assert!(s.latency.p99_s >= s.latency.median_s);
                let jump = (s.request_rate / prev.request_rate - 1.0).abs();
                assert!(jump < 0.05, "{service:?} rate jumps by {jump} at {i}");
                prev = s;
            }
        }
    }

    #[test]
    fn the_latency_distribution_has_the_quoted_quantiles() {
        let l = Latency::new(0.040, 0.120);
        assert!((l.cdf(0.040) - 0.5).abs() < 1e-6);
        assert!((l.cdf(0.120) - 0.99).abs() < 1e-4);
        assert!((l.at_z(Z99) - 0.120).abs() < 1e-9);
        assert!(l.mean() > l.median_s && l.mean() < l.p99_s);
        assert_eq!(l.cdf(0.0), 0.0);
        assert!(l.cdf(1e9) > 0.999_999);
    }
}
