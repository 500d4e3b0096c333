//! What the gem measures of a pool (Ruby's `Measures`), as a replay sees
//! it: the jobs that ended in the last day (their mean duration, from
//! `MIN_JOBS` of them on) and the dynos that booted (their median boot, of
//! the last `BOOTS` of the day). The windows are `Measures`' own, so a
//! replay with JOBS_PER_WORKER=auto learns as an app does. What was
//! measured is kept while a window holds too little, as the gem keeps it.

use std::collections::VecDeque;
use std::time::Duration;

use crate::policy::Measured;

const JOB_WINDOW_MS: u64 = 86_400_000;
const MIN_JOBS: usize = 5;
const BOOT_WINDOW_MS: u64 = 86_400_000;
const BOOTS: usize = 10;

#[derive(Debug, Default)]
pub struct Learner {
    /// (ended at, duration) of the jobs of the last day.
    jobs: VecDeque<(u64, u64)>,
    jobs_ms: u64,
    /// (booted at, boot) of the last boots.
    boots: VecDeque<(u64, u64)>,
    last_job_ms: Option<f64>,
    last_boot_ms: Option<f64>,
}

impl Learner {
    pub fn job_ended(&mut self, at: u64, duration: u64) {
        self.jobs.push_back((at, duration));
        self.jobs_ms += duration;
    }

    /// A dyno asked for before `at` is ready then, `boot` after the call.
    pub fn booted(&mut self, at: u64, boot: u64) {
        self.boots.push_back((at, boot));
        if self.boots.len() > BOOTS {
            self.boots.pop_front();
        }
    }

    /// What the gem would have measured at `now`, once both halves were.
    pub fn measured(&mut self, now: u64) -> Option<Measured> {
        while let Some(&(at, duration)) = self.jobs.front() {
            if at + JOB_WINDOW_MS >= now {
                break;
            }
            self.jobs.pop_front();
            self.jobs_ms -= duration;
        }
        self.boots.retain(|&(at, _)| at + BOOT_WINDOW_MS >= now);
        if self.jobs.len() >= MIN_JOBS {
            self.last_job_ms = Some(self.jobs_ms as f64 / self.jobs.len() as f64);
        }
        // A boot is seen when its dyno is ready.
        let mut boots: Vec<u64> = self
            .boots
            .iter()
            .filter(|&&(at, _)| at <= now)
            .map(|&(_, boot)| boot)
            .collect();
        if !boots.is_empty() {
            boots.sort_unstable();
            let middle = boots.len() / 2;
            self.last_boot_ms = Some(if boots.len() % 2 == 1 {
                boots[middle] as f64
            } else {
                (boots[middle - 1] + boots[middle]) as f64 / 2.0
            });
        }
        let millis = |ms: f64| Duration::from_secs_f64(ms / 1000.0);
        Some(Measured {
            job: millis(self.last_job_ms?),
            boot: millis(self.last_boot_ms?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_once_enough_jobs_and_a_boot_are_seen_and_follows_the_last_hour() {
        let mut learner = Learner::default();
        for i in 0..4 {
            learner.job_ended(i * 1000, 2_000);
        }
        learner.booted(500, 30_000);
        assert_eq!(learner.measured(5_000), None, "four jobs are too few");
        learner.job_ended(5_000, 4_000);
        let m = learner.measured(5_000).unwrap();
        assert_eq!((m.job, m.boot), (Duration::from_millis(2_400), Duration::from_secs(30)));
        // A day on, new jobs replace the old; a day with too few keeps what was learned.
        for i in 0..5 {
            learner.job_ended(86_500_000 + i, 10_000);
        }
        assert_eq!(learner.measured(86_500_010).unwrap().job, Duration::from_secs(10));
        assert_eq!(learner.measured(200_000_000).unwrap().job, Duration::from_secs(10));
    }

    #[test]
    fn the_boot_is_the_median_of_the_last_ten() {
        let mut learner = Learner::default();
        for i in 0..5 {
            learner.job_ended(i, 1_000);
        }
        for boot in [10_000, 50_000, 20_000, 30_000] {
            learner.booted(0, boot);
        }
        assert_eq!(learner.measured(10).unwrap().boot, Duration::from_secs(25));
        for _ in 0..10 {
            learner.booted(0, 40_000);
        }
        assert_eq!(learner.measured(10).unwrap().boot, Duration::from_secs(40));
    }
}
