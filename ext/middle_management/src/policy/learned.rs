//! JOBS_PER_WORKER=auto. The original gem defines jobs per worker as "the
//! number of jobs a single worker can do more quickly than it takes to bring
//! up another worker": a dyno's boot time over a job's duration, times the
//! jobs a dyno runs at once. Both are measured in the app (Ruby's
//! `Runtime::Measuring`, the simulator's replay), so neither is a guess.
//!
//! Counted as the jobs the worker that is up starts no later than a new
//! dyno could: it starts the jobs in its line at 0, d, 2d, …, and a dyno
//! asked for now would start one only after the boot B, so each job the
//! worker reaches by B is better left to it (a new dyno would cost its
//! boot and start the job no sooner): floor(B / d) + 1 of them. (B / d
//! rounded down, `bench/cost.rb`'s grid found the defaults up to a fifth
//! dearer than a setting that waits no longer.)

use std::time::Duration;

/// The most jobs per worker a measurement gives: past it the count caps
/// (`Policy::count_cap`) would grow with no gain (a thousand jobs shorter
/// than a boot are a worker's work either way).
pub const LEARNED_MOST: u32 = 1_000;

/// What was measured of a pool, over a recent window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    /// A job's mean duration.
    pub job: Duration,
    /// A dyno's boot: from the call that raised the formation to its first
    /// heartbeat (or job).
    pub boot: Duration,
}

impl Measured {
    /// Jobs a dyno starts no later than another could, from 1 to
    /// `LEARNED_MOST`.
    pub fn jobs_per_worker(self, dyno_concurrency: u32) -> u32 {
        if self.job.is_zero() {
            return LEARNED_MOST;
        }
        let per = self.boot.as_secs_f64() / self.job.as_secs_f64();
        let per = (per.floor() + 1.0) * f64::from(dyno_concurrency);
        // `as` saturates: a huge ratio is LEARNED_MOST after the clamp.
        (per as u32).clamp(1, LEARNED_MOST)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn measured(job_ms: u64, boot_ms: u64) -> Measured {
        Measured {
            job: Duration::from_millis(job_ms),
            boot: Duration::from_millis(boot_ms),
        }
    }

    #[test]
    fn boot_over_duration_times_concurrency() {
        // Jobs of 3.4 s, dynos booting in 31 s: it starts the 10th at 30.6 s.
        assert_eq!(measured(3_400, 31_000).jobs_per_worker(1), 10);
        assert_eq!(measured(3_400, 31_000).jobs_per_worker(5), 50);
        // The 4th job of 10 s starts at 30 s, as a new dyno's first would.
        assert_eq!(measured(10_000, 30_000).jobs_per_worker(1), 4);
        assert_eq!(measured(20_000, 30_000).jobs_per_worker(1), 2);
    }

    #[test]
    fn at_least_one_and_at_most_the_ceiling() {
        // Jobs longer than a boot: one job is a worker's share.
        assert_eq!(measured(600_000, 30_000).jobs_per_worker(1), 1);
        assert_eq!(measured(30_000, 30_000).jobs_per_worker(1), 2);
        assert_eq!(measured(1, 30_000).jobs_per_worker(1), LEARNED_MOST);
        assert_eq!(measured(0, 30_000).jobs_per_worker(1), LEARNED_MOST);
        assert_eq!(measured(5_000, 0).jobs_per_worker(1), 1);
    }

    proptest! {
        #[test]
        fn within_bounds_and_longer_jobs_never_mean_more_per_worker(
            job in 0u64..10_000_000, longer in 0u64..1_000_000, boot in 0u64..10_000_000, c in 1u32..10_000,
        ) {
            let per = measured(job, boot).jobs_per_worker(c);
            prop_assert!((1..=LEARNED_MOST).contains(&per));
            prop_assert!(measured(job + longer, boot).jobs_per_worker(c) <= per);
        }
    }
}
