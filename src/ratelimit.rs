//! Per-user rate limits (DESIGN.md section 4, rule 7): a token bucket, and a
//! map of them keyed by user.
//!
//! # This module must never
//! read the clock or do I/O: every call takes `now`, so the gateway decides
//! what time it is and tests can step time exactly.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Float slack: a bucket that has refilled to exactly one token on paper can
/// hold 0.9999999999 after rounding, and must still let the op through, or
/// a client that waited the advertised `retry_after` would be refused again.
const EPSILON: f64 = 1e-9;

/// A bucket of up to `capacity` tokens, refilled continuously at
/// `refill_per_sec`; each op takes one.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    capacity: f64,
    refill_per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket, so a user's first burst of up to `capacity` ops passes.
    /// A `refill_per_sec` that is not a positive finite number means the
    /// bucket never refills (rather than a panic on a bad config value).
    pub fn new(capacity: u32, refill_per_sec: f64, now: Instant) -> TokenBucket {
        let refill_per_sec = if refill_per_sec.is_finite() && refill_per_sec > 0.0 {
            refill_per_sec
        } else {
            0.0
        };
        TokenBucket {
            capacity: f64::from(capacity),
            refill_per_sec,
            tokens: f64::from(capacity),
            last: now,
        }
    }

    /// Tokens in the bucket at `now`. A `now` earlier than one already seen
    /// (threads racing to the lock) adds nothing rather than going back.
    fn available(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        (self.tokens + elapsed * self.refill_per_sec).min(self.capacity)
    }

    fn is_full(&self, now: Instant) -> bool {
        self.available(now) + EPSILON >= self.capacity
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.tokens = self.available(now);
        self.last = self.last.max(now);
        if self.tokens + EPSILON >= 1.0 {
            self.tokens = (self.tokens - 1.0).max(0.0);
            true
        } else {
            false
        }
    }

    /// How long until [`try_take`](Self::try_take) would succeed: zero when a
    /// token is there now, [`Duration::MAX`] when none will ever come
    /// (capacity 0 or no refill). Rounded up, so waiting this long is enough.
    pub fn retry_after(&self, now: Instant) -> Duration {
        let available = self.available(now);
        if available + EPSILON >= 1.0 {
            return Duration::ZERO;
        }
        if self.refill_per_sec == 0.0 || self.capacity < 1.0 {
            return Duration::MAX;
        }
        let nanos = ((1.0 - available) / self.refill_per_sec * 1e9).ceil();
        if nanos >= u64::MAX as f64 {
            Duration::MAX
        } else {
            Duration::from_nanos(nanos as u64)
        }
    }
}

/// One [`TokenBucket`] per key (user name), all with the same shape.
#[derive(Debug, Clone)]
pub struct RateLimiter<K> {
    capacity: u32,
    refill_per_sec: f64,
    buckets: HashMap<K, TokenBucket>,
}

impl<K: Hash + Eq> RateLimiter<K> {
    /// Each key may burst `capacity` ops, then `refill_per_sec` ops a second.
    pub fn new(capacity: u32, refill_per_sec: f64) -> RateLimiter<K> {
        RateLimiter {
            capacity,
            refill_per_sec,
            buckets: HashMap::new(),
        }
    }

    /// Lets one op of `key` through, or says how long until one would pass.
    pub fn check(&mut self, key: K, now: Instant) -> Result<(), Duration> {
        let (capacity, rate) = (self.capacity, self.refill_per_sec);
        let bucket = self
            .buckets
            .entry(key)
            .or_insert_with(|| TokenBucket::new(capacity, rate, now));
        if bucket.try_take(now) {
            Ok(())
        } else {
            Err(bucket.retry_after(now))
        }
    }

    /// Forgets keys whose bucket has refilled completely: a fresh bucket is
    /// full too, so nobody gains or loses anything, and memory stays bounded
    /// by the users active recently rather than all users ever seen.
    pub fn prune(&mut self, now: Instant) {
        self.buckets.retain(|_, bucket| !bucket.is_full(now));
    }

    /// Keys currently tracked.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_up_to_capacity_passes_then_is_refused() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3, 1.0, t0);
        assert!(b.try_take(t0));
        assert!(b.try_take(t0));
        assert!(b.try_take(t0));
        assert!(!b.try_take(t0));
        assert!(!b.try_take(t0), "a refused op does not reset anything");
    }

    #[test]
    fn tokens_refill_with_time_but_never_beyond_capacity() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(2, 10.0, t0);
        assert!(b.try_take(t0) && b.try_take(t0));
        assert!(!b.try_take(t0 + ms(99)));
        assert!(b.try_take(t0 + ms(100)));
        assert!(!b.try_take(t0 + ms(100)));
        // A long quiet spell refills to capacity, not to an hour's worth.
        let later = t0 + Duration::from_secs(3_600);
        assert!(b.try_take(later) && b.try_take(later));
        assert!(!b.try_take(later));
    }

    #[test]
    fn retry_after_is_the_time_until_the_next_token() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(2, 4.0, t0);
        assert_eq!(b.retry_after(t0), Duration::ZERO);
        assert!(b.try_take(t0) && b.try_take(t0));
        assert_eq!(b.retry_after(t0), ms(250));
        assert_eq!(b.retry_after(t0 + ms(100)), ms(150));
        assert!(!b.try_take(t0 + ms(249)));
        assert!(b.try_take(t0 + ms(250)));
        assert_eq!(b.retry_after(t0 + ms(250)), ms(250));
    }

    #[test]
    fn a_clock_reading_from_the_past_mints_no_tokens() {
        let t0 = Instant::now();
        let later = t0 + ms(500);
        let mut b = TokenBucket::new(1, 1.0, later);
        assert!(b.try_take(later));
        assert!(!b.try_take(t0));
        assert!(!b.try_take(later + ms(999)));
        assert!(b.try_take(later + ms(1_000)));
    }

    #[test]
    fn a_bucket_that_never_refills_says_never() {
        let t0 = Instant::now();
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let mut b = TokenBucket::new(1, rate, t0);
            assert!(b.try_take(t0));
            assert!(!b.try_take(t0 + Duration::from_secs(1_000_000)), "{rate}");
            assert_eq!(b.retry_after(t0), Duration::MAX, "{rate}");
        }
        let b = TokenBucket::new(0, 5.0, t0);
        assert_eq!(b.retry_after(t0), Duration::MAX);
    }

    #[test]
    fn each_user_has_their_own_budget() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(2, 1.0);
        assert_eq!(l.check("alice".to_string(), t0), Ok(()));
        assert_eq!(l.check("alice".to_string(), t0), Ok(()));
        assert_eq!(
            l.check("alice".to_string(), t0),
            Err(Duration::from_secs(1))
        );
        assert_eq!(l.check("bob".to_string(), t0), Ok(()));
        assert_eq!(l.check("alice".to_string(), t0 + ms(400)), Err(ms(600)));
        assert_eq!(l.check("alice".to_string(), t0 + ms(1_000)), Ok(()));
    }

    #[test]
    fn pruning_forgets_only_users_who_are_back_to_full() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(2, 1.0);
        l.check("alice", t0).unwrap();
        l.check("alice", t0).unwrap();
        l.check("bob", t0 + ms(1_500)).unwrap();
        assert_eq!(l.len(), 2);
        // At 2 s alice is full again, bob is still half a token short.
        l.prune(t0 + ms(2_000));
        assert_eq!(l.len(), 1);
        assert_eq!(l.check("bob", t0 + ms(2_000)), Ok(()));
        assert_eq!(l.check("bob", t0 + ms(2_000)), Err(ms(500)));
        // A forgotten user starts with a full burst, as they would have had.
        assert_eq!(l.check("alice", t0 + ms(2_000)), Ok(()));
        assert_eq!(l.check("alice", t0 + ms(2_000)), Ok(()));
        assert!(l.check("alice", t0 + ms(2_000)).is_err());
        l.prune(t0 + Duration::from_secs(60));
        assert!(l.is_empty());
    }

    proptest! {
        #[test]
        fn no_user_ever_gets_more_than_burst_plus_refill(
            capacity in 0u32..20,
            rate in 0.1f64..50.0,
            steps in prop::collection::vec(0u64..300, 1..200),
        ) {
            let t0 = Instant::now();
            let mut b = TokenBucket::new(capacity, rate, t0);
            let mut now = t0;
            let mut passed = 0u64;
            for step in steps {
                now += ms(step);
                if b.try_take(now) {
                    passed += 1;
                }
            }
            let elapsed = now.duration_since(t0).as_secs_f64();
            prop_assert!(
                passed as f64 <= f64::from(capacity) + elapsed * rate + 1e-6,
                "{} passed in {}s", passed, elapsed
            );
        }

        #[test]
        fn waiting_retry_after_is_always_enough(
            capacity in 1u32..10,
            rate in 0.01f64..1000.0,
            steps in prop::collection::vec(0u64..50, 1..100),
        ) {
            let t0 = Instant::now();
            let mut b = TokenBucket::new(capacity, rate, t0);
            let mut now = t0;
            for step in steps {
                now += ms(step);
                if !b.try_take(now) {
                    let wait = b.retry_after(now);
                    prop_assert!(wait > Duration::ZERO);
                    let mut probe = b.clone();
                    prop_assert!(probe.try_take(now + wait), "waited {:?}", wait);
                    if wait > Duration::from_micros(1) {
                        let mut early = b.clone();
                        prop_assert!(!early.try_take(now + wait - Duration::from_micros(1)));
                    }
                }
            }
        }
    }
}
