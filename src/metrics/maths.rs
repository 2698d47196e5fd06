//! The arithmetic behind the scrape source's charts, on plain numbers:
//! counter increases across resets, and quantiles from histogram buckets
//! as Prometheus' `histogram_quantile()` computes them.
//!
//! # This module must never
//! know about scrapes, labels or time windows (that is `query`'s job), or
//! panic on any input: bad numbers give `None` or NaN.

use serde::Deserialize;

/// How much a counter went up from `prev` to `cur`. A drop means the
/// counter restarted from zero in between, so the increase is `cur` (what
/// it counted since the restart), as Prometheus' `rate()` reads it. `None`
/// when either value is NaN or negative: that is no counter.
pub fn counter_increase(prev: f64, cur: f64) -> Option<f64> {
    if prev.is_nan() || cur.is_nan() || prev < 0.0 || cur < 0.0 {
        return None;
    }
    Some(if cur >= prev { cur - prev } else { cur })
}

/// Per-second rate of a counter between two `(unix_ms, value)` readings,
/// resets handled as in [`counter_increase`]. `None` unless time moved
/// forward.
pub fn rate(prev: (i64, f64), cur: (i64, f64)) -> Option<f64> {
    let dt_ms = cur.0.checked_sub(prev.0).filter(|dt| *dt > 0)?;
    Some(counter_increase(prev.1, cur.1)? / (dt_ms as f64 / 1000.0))
}

/// The `q` quantile (0.99 for p99) of observations counted in cumulative
/// histogram buckets `(upper_bound, count)`, in any order; the counts are
/// usually increases between two scrapes. Exactly Prometheus'
/// `histogram_quantile()`:
///
/// * buckets with the same bound are merged, counts that go down with the
///   bound are raised to keep them cumulative;
/// * the rank `q × total` is found in the first bucket whose count reaches
///   it and interpolated linearly between that bucket's lower bound (the
///   previous bucket's bound, or 0 for the first bucket) and its upper
///   bound; a first bucket with a bound ≤ 0 gives its bound;
/// * when the rank falls in the `+Inf` bucket, the answer is the largest
///   finite bound (nothing better is known);
/// * NaN without a `+Inf` bucket, without a finite bucket, or with no
///   observations; −∞ for `q < 0`, +∞ for `q > 1`.
///
/// One difference: for `q = 0` with empty low buckets Prometheus divides
/// 0 by 0 and gives NaN; here the answer is the lower bound of the first
/// bucket with observations, so the quantile is monotone in `q` over all
/// of `0..=1`.
pub fn bucket_quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    let mut sorted: Vec<(f64, f64)> = buckets
        .iter()
        .copied()
        .filter(|(bound, count)| !bound.is_nan() && !count.is_nan())
        .collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(sorted.len());
    for (bound, count) in sorted {
        match merged.last_mut() {
            Some(last) if last.0 == bound => last.1 += count,
            _ => merged.push((bound, count)),
        }
    }
    let mut highest = f64::NEG_INFINITY;
    for bucket in &mut merged {
        highest = highest.max(bucket.1);
        bucket.1 = highest;
    }
    let n = merged.len();
    if n < 2 || merged[n - 1].0 != f64::INFINITY {
        return f64::NAN;
    }
    let total = merged[n - 1].1;
    if total.is_nan() || total <= 0.0 {
        return f64::NAN;
    }
    let rank = q * total;
    let reached = |count: f64| {
        if rank == 0.0 {
            count > 0.0
        } else {
            count >= rank
        }
    };
    let b = merged[..n - 1]
        .iter()
        .position(|(_, count)| reached(*count))
        .unwrap_or(n - 1);
    if b == n - 1 {
        return merged[n - 2].0;
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return merged[0].0;
    }
    let (start, below) = if b == 0 { (0.0, 0.0) } else { merged[b - 1] };
    let (end, count) = merged[b];
    let fraction = (rank - below) / (count - below);
    // Clamped: `start + (end - start)` can round one ulp past `end`.
    (start + (end - start) * fraction).clamp(start, end)
}

/// How the series matching a query are combined into one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregate {
    /// The total, e.g. requests per second over every handler. The sum of
    /// no series is 0.
    #[default]
    Sum,
    Avg,
    Min,
    Max,
}

impl Aggregate {
    /// Combines `values`; `None` for the average, minimum or maximum of no
    /// values.
    pub fn apply(self, values: impl IntoIterator<Item = f64>) -> Option<f64> {
        let values = values.into_iter();
        match self {
            // Not `sum()`: Rust's empty f64 sum is −0, which JSON shows.
            Aggregate::Sum => Some(values.fold(0.0, |a, b| a + b)),
            Aggregate::Avg => {
                let (sum, n) = values.fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
                (n > 0).then(|| sum / f64::from(n))
            }
            Aggregate::Min => values.reduce(f64::min),
            Aggregate::Max => values.reduce(f64::max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const INF: f64 = f64::INFINITY;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn a_rising_counter_gives_its_increase_per_second() {
        // 1000 → 1250 requests in 10 s: (1250 − 1000) / 10 = 25 req/s.
        assert_eq!(rate((0, 1000.0), (10_000, 1250.0)), Some(25.0));
        // Flat counter: 0 req/s.
        assert_eq!(rate((0, 7.0), (15_000, 7.0)), Some(0.0));
    }

    #[test]
    fn a_counter_reset_counts_from_zero() {
        // 1000, then the process restarts and has counted 30 by the next
        // scrape 10 s later: increase 30 (not −970), 30 / 10 = 3 req/s.
        assert_eq!(counter_increase(1000.0, 30.0), Some(30.0));
        assert_eq!(rate((0, 1000.0), (10_000, 30.0)), Some(3.0));
    }

    #[test]
    fn nonsense_counters_and_clocks_give_no_rate() {
        assert_eq!(counter_increase(f64::NAN, 1.0), None);
        assert_eq!(counter_increase(1.0, f64::NAN), None);
        assert_eq!(counter_increase(5.0, -3.0), None);
        assert_eq!(rate((10_000, 1.0), (10_000, 2.0)), None);
        assert_eq!(rate((10_000, 1.0), (0, 2.0)), None);
        assert_eq!(rate((i64::MIN, 1.0), (i64::MAX, 2.0)), None);
    }

    /// Cumulative counts 40, 70, 90, 98, 100 in buckets 0.1, 0.25, 0.5, 1
    /// and +Inf: 40 observations ≤ 0.1 s, 30 in (0.1, 0.25], 20 in
    /// (0.25, 0.5], 8 in (0.5, 1], 2 above 1 s.
    const BUCKETS: [(f64, f64); 5] = [
        (0.1, 40.0),
        (0.25, 70.0),
        (0.5, 90.0),
        (1.0, 98.0),
        (INF, 100.0),
    ];

    #[test]
    fn quantiles_interpolate_inside_the_bucket_like_prometheus() {
        // p50: rank 0.5 × 100 = 50, first reached in le=0.25 (70);
        // 50 − 40 = 10 of that bucket's 30: 0.1 + 0.15 × 10/30 = 0.15.
        assert!(close(bucket_quantile(0.5, &BUCKETS), 0.15));
        // p90: rank 90, reached in le=0.5 (90): 0.25 + 0.25 × 20/20 = 0.5.
        assert_eq!(bucket_quantile(0.9, &BUCKETS), 0.5);
        // p95: rank 95, reached in le=1 (98): 0.5 + 0.5 × (95−90)/8
        // = 0.5 + 0.3125 = 0.8125.
        assert_eq!(bucket_quantile(0.95, &BUCKETS), 0.8125);
        // p25: rank 25 in the first bucket, which starts at 0:
        // 0 + 0.1 × 25/40 = 0.0625.
        assert!(close(bucket_quantile(0.25, &BUCKETS), 0.0625));
    }

    #[test]
    fn a_quantile_in_the_inf_bucket_is_the_largest_finite_bound() {
        // p99: rank 99 > 98 (le=1), so it falls in +Inf: answer 1.
        assert_eq!(bucket_quantile(0.99, &BUCKETS), 1.0);
        assert_eq!(bucket_quantile(1.0, &BUCKETS), 1.0);
    }

    #[test]
    fn bucket_order_duplicates_and_dips_do_not_matter() {
        let mut shuffled = BUCKETS;
        shuffled.reverse();
        assert!(close(bucket_quantile(0.5, &shuffled), 0.15));
        // le="1" and le="1.0" from two series are one bucket: counts add.
        let split = [
            (0.5, 20.0),
            (1.0, 30.0),
            (1.0, 30.0),
            (INF, 40.0),
            (INF, 40.0),
        ];
        // Merged: 0.5→20, 1→60, +Inf→80. p50: rank 40 in le=1:
        // 0.5 + 0.5 × (40−20)/40 = 0.75.
        assert_eq!(bucket_quantile(0.5, &split), 0.75);
        // A count lower than the bucket below is raised to it.
        let dip = [(0.5, 50.0), (1.0, 40.0), (INF, 100.0)];
        // Counts 50, 50, 100. p75: rank 75, reached only in +Inf → 1.
        assert_eq!(bucket_quantile(0.75, &dip), 1.0);
    }

    #[test]
    fn no_observations_or_no_inf_bucket_gives_nan() {
        let empty = [(0.1, 0.0), (1.0, 0.0), (INF, 0.0)];
        assert!(bucket_quantile(0.5, &empty).is_nan());
        let no_inf = [(0.1, 1.0), (1.0, 2.0)];
        assert!(bucket_quantile(0.5, &no_inf).is_nan());
        assert!(bucket_quantile(0.5, &[(INF, 10.0)]).is_nan());
        assert!(bucket_quantile(0.5, &[]).is_nan());
        assert!(bucket_quantile(f64::NAN, &BUCKETS).is_nan());
    }

    #[test]
    fn out_of_range_quantiles_are_infinite_like_prometheus() {
        assert_eq!(bucket_quantile(-0.1, &BUCKETS), f64::NEG_INFINITY);
        assert_eq!(bucket_quantile(1.1, &BUCKETS), INF);
    }

    #[test]
    fn negative_bounds_and_the_zero_quantile() {
        // First bound ≤ 0 and the rank falls in it: the bound itself.
        let below_zero = [(-1.0, 10.0), (1.0, 20.0), (INF, 20.0)];
        assert_eq!(bucket_quantile(0.25, &below_zero), -1.0);
        // p75: rank 15 in le=1: −1 + 2 × 5/10 = 0.
        assert_eq!(bucket_quantile(0.75, &below_zero), 0.0);
        // q = 0 with an empty first bucket: the lower bound of the first
        // bucket holding observations (0.1), not NaN.
        let low_empty = [(0.1, 0.0), (0.2, 5.0), (INF, 5.0)];
        assert_eq!(bucket_quantile(0.0, &low_empty), 0.1);
        assert_eq!(bucket_quantile(0.0, &BUCKETS), 0.0);
    }

    #[test]
    fn aggregates_combine_series() {
        let v = [1.0, 4.0, 2.5];
        assert_eq!(Aggregate::Sum.apply(v), Some(7.5));
        assert_eq!(Aggregate::Avg.apply(v), Some(2.5));
        assert_eq!(Aggregate::Min.apply(v), Some(1.0));
        assert_eq!(Aggregate::Max.apply(v), Some(4.0));
        let nothing = Aggregate::Sum.apply([]).unwrap();
        assert_eq!(nothing.to_bits(), 0.0f64.to_bits(), "+0, not −0");
        for agg in [Aggregate::Avg, Aggregate::Min, Aggregate::Max] {
            assert_eq!(agg.apply([]), None);
        }
    }

    fn histogram() -> impl Strategy<Value = Vec<(f64, f64)>> {
        proptest::collection::vec((-100.0f64..100.0, 0.0f64..1e6), 1..8).prop_map(|mut b| {
            b.push((INF, b.iter().map(|x| x.1).fold(0.0, f64::max) + 1.0));
            b
        })
    }

    proptest! {
        #[test]
        fn rate_is_never_negative(
            prev in prop_oneof![any::<f64>(), 0.0f64..1e12],
            cur in prop_oneof![any::<f64>(), 0.0f64..1e12],
            t0 in any::<i64>(),
            t1 in any::<i64>(),
        ) {
            if let Some(r) = rate((t0, prev), (t1, cur)) {
                prop_assert!(r >= 0.0, "{r}");
            }
        }

        #[test]
        fn quantile_is_monotone_in_q(buckets in histogram(), a in 0.0f64..=1.0, b in 0.0f64..=1.0) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let (x, y) = (bucket_quantile(lo, &buckets), bucket_quantile(hi, &buckets));
            prop_assert!(!x.is_nan() && !y.is_nan(), "{x} {y}");
            prop_assert!(x <= y, "q {lo} → {x}, q {hi} → {y}, {buckets:?}");
        }

        #[test]
        fn quantile_stays_within_the_finite_bounds_or_zero(buckets in histogram(), q in 0.0f64..=1.0) {
            let v = bucket_quantile(q, &buckets);
            let finite = buckets.iter().map(|b| b.0).filter(|b| b.is_finite());
            let lo = finite.clone().fold(0.0, f64::min);
            let hi = finite.fold(f64::NEG_INFINITY, f64::max);
            prop_assert!(lo <= v && v <= hi, "{v} not in {lo}..={hi}");
        }
    }
}
