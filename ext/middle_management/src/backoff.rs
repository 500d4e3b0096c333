//! Retry timing after failed Heroku calls, and pauses that keep the account's
//! API budget from running dry. Randomness is injected so delays are testable.

use std::time::Duration;

/// The bucket refills about 75 tokens a minute: one every 0.8 s.
pub const TOKEN_REFILL: Duration = Duration::from_millis(800);
/// Below this many remaining tokens, calls are spaced out.
pub const LOW_WATER: u32 = 150;
/// After a 429 the bucket is empty; a minute refills enough to go on.
pub const RATE_LIMITED_PAUSE: Duration = Duration::from_secs(60);

/// Exponential backoff with equal jitter: the delay for attempt `n` lies in
/// `[cap/2, cap)` where `cap = min(base * 2^n, max)`. Half the delay is
/// guaranteed so retries really do slow down; the random half keeps many
/// processes that failed together from retrying in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff {
            base,
            max,
            attempt: 0,
        }
    }

    /// The wait before the next retry; `random` is uniform in `[0, 1)`
    /// (out-of-range values are clamped, NaN counts as 0).
    pub fn next_delay(&mut self, random: f64) -> Duration {
        let growth = 1u32.checked_shl(self.attempt).unwrap_or(u32::MAX);
        let cap = self
            .base
            .checked_mul(growth)
            .unwrap_or(self.max)
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let random = if random.is_nan() {
            0.0
        } else {
            random.clamp(0.0, 1.0)
        };
        let half = cap / 2;
        // min: the f64 round trip may overshoot by a nanosecond.
        half.saturating_add((cap - half).mul_f64(random)).min(cap)
    }

    /// After a success the next failure starts from `base` again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Failures since the last success.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

/// How long to pause before the next call, given the last `RateLimit-Remaining`
/// (`None` when no response has said). Our calls are a small share of the
/// account's budget, so plenty remaining costs nothing; below [`LOW_WATER`] the
/// pause lets the bucket win back half the shortfall, so it grows as the bucket
/// empties and reaches [`RATE_LIMITED_PAUSE`] at zero.
pub fn rate_limit_pause(remaining: Option<u32>) -> Duration {
    let shortfall = LOW_WATER.saturating_sub(remaining.unwrap_or(LOW_WATER));
    TOKEN_REFILL * shortfall / 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays_double_until_capped() {
        let mut b = Backoff::new(100 * MS, 1000 * MS);
        let top: Vec<_> = (0..6)
            .map(|_| b.next_delay(0.999_999).as_millis())
            .collect();
        assert_eq!(top, [99, 199, 399, 799, 999, 999]);
        b.reset();
        let bottom: Vec<_> = (0..6).map(|_| b.next_delay(0.0)).collect();
        assert_eq!(
            bottom,
            [50 * MS, 100 * MS, 200 * MS, 400 * MS, 500 * MS, 500 * MS]
        );
        assert_eq!(b.attempt(), 6);
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::new(100 * MS, 10_000 * MS);
        for _ in 0..5 {
            b.next_delay(0.5);
        }
        b.reset();
        assert_eq!(b.attempt(), 0);
        assert_eq!(b.next_delay(0.5), 75 * MS);
    }

    #[test]
    fn survives_many_attempts_and_odd_randomness() {
        let max = Duration::from_secs(300);
        let mut b = Backoff::new(Duration::from_secs(1), max);
        for _ in 0..200 {
            assert!(b.next_delay(0.5) <= max);
        }
        for r in [f64::NAN, -1.0, 1.0, 7.0, f64::INFINITY] {
            let d = b.next_delay(r);
            assert!(max / 2 <= d && d <= max, "{r}: {d:?}");
        }
        let mut huge = Backoff::new(Duration::MAX, Duration::MAX);
        huge.next_delay(0.9);
        assert!(huge.next_delay(0.9) <= Duration::MAX);
    }

    #[test]
    fn zero_base_never_waits() {
        let mut b = Backoff::new(Duration::ZERO, Duration::from_secs(60));
        assert_eq!(b.next_delay(0.7), Duration::ZERO);
    }

    #[test]
    fn rate_limit_pause_only_when_running_low() {
        for remaining in [
            None,
            Some(4500 /* Heroku's bucket, full */),
            Some(1000),
            Some(LOW_WATER),
        ] {
            assert_eq!(rate_limit_pause(remaining), Duration::ZERO, "{remaining:?}");
        }
        let pauses: Vec<_> = (0..LOW_WATER)
            .rev()
            .map(|r| rate_limit_pause(Some(r)))
            .collect();
        assert!(pauses[0] > Duration::ZERO);
        assert!(pauses.windows(2).all(|w| w[0] < w[1]), "{pauses:?}");
        assert_eq!(rate_limit_pause(Some(0)), RATE_LIMITED_PAUSE);
        assert_eq!(rate_limit_pause(Some(140)), Duration::from_secs(4));
    }

    proptest! {
        #[test]
        fn jitter_stays_within_half_cap_and_cap(
            base_ms in 0u64..10_000, max_ms in 0u64..600_000, attempts in 1usize..40,
            randoms in prop::collection::vec(0.0f64..1.0, 40),
        ) {
            let (base, max) = (Duration::from_millis(base_ms), Duration::from_millis(max_ms));
            let mut b = Backoff::new(base, max);
            let mut floor = Duration::ZERO;
            for (n, &r) in randoms.iter().enumerate().take(attempts) {
                let cap = base.saturating_mul(1 << n.min(31)).min(max);
                let d = b.next_delay(r);
                prop_assert!(cap / 2 <= d && d <= cap, "attempt {n}: {d:?} vs cap {cap:?}");
                prop_assert!(cap / 2 >= floor, "guaranteed part never shrinks");
                floor = cap / 2;
            }
            prop_assert_eq!(b.attempt() as usize, attempts);
        }

        #[test]
        fn same_randomness_never_shrinks_the_delay(r in 0.0f64..1.0, base_ms in 1u64..5000, max_ms in 1u64..600_000) {
            let mut b = Backoff::new(Duration::from_millis(base_ms), Duration::from_millis(max_ms));
            let delays: Vec<_> = (0..20).map(|_| b.next_delay(r)).collect();
            prop_assert!(delays.windows(2).all(|w| w[0] <= w[1]), "{:?}", delays);
        }
    }
}
