//! How many workers a pool (one Heroku process type) should have.
//!
//! Pure arithmetic over one observation of the queue: no clock, no I/O, so the
//! dispatcher can re-decide as often as it likes and tests can replay any
//! scenario exactly.

use std::fmt;
use std::time::Duration;

mod cap;
mod learned;

pub use learned::{Measured, LEARNED_MOST};

/// One row of a rules table: from `at_least` outstanding jobs on, run `workers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub at_least: u64,
    pub workers: u32,
}

/// How outstanding work turns into a worker count before floors and clamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sizing {
    /// The original gem's rule: one worker per this many outstanding jobs, rounded up.
    JobsPerWorker(u32),
    /// JOBS_PER_WORKER=auto: one worker per as many jobs as a dyno does
    /// while another boots, from what was measured
    /// (`Observation::measured`); `fallback` until something is.
    Learned { fallback: u32 },
    /// Step function for apps whose throughput isn't linear in workers.
    /// Sorted by `at_least`; below the first row no worker is needed.
    Rules(Vec<Rule>),
}

/// A validated configuration: once built, `decide` cannot fail or divide by zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    min_workers: u32,
    max_workers: u32,
    sizing: Sizing,
    dyno_concurrency: u32,
    wake_lead: Duration,
}

/// What the queue looks like for one pool right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Observation {
    /// Due now, not failed, not locked.
    pub runnable: u64,
    /// Locked by a live worker, not failed.
    pub running: u64,
    /// Time until the earliest future job is due; `None` when none is scheduled.
    pub next_run_in: Option<Duration>,
    /// Which dynos the busy jobs hold, since Heroku stops from the top.
    pub busy: BusyDynos,
    /// The pool's jobs and boots as measured, for `Sizing::Learned`.
    pub measured: Option<Measured>,
}

/// Where the pool's busy jobs run. Heroku stops the highest-numbered dynos
/// first, busy or not: a formation below a busy dyno's number stops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BusyDynos {
    /// No busy job on a dyno of this pool.
    #[default]
    None,
    /// The highest-numbered dyno with a busy job (`worker.4`: 4).
    Top(u32),
    /// A busy job on a dyno whose name has no number (Fir-generation apps,
    /// or a worker outside Heroku): which dyno a scale-down stops is
    /// unknown, so nothing below this (the quantity Heroku has) while any
    /// job is busy.
    Unnumbered(u32),
}

impl BusyDynos {
    fn floor(self) -> u64 {
        match self {
            BusyDynos::None => 0,
            BusyDynos::Top(n) | BusyDynos::Unnumbered(n) => n.into(),
        }
    }
}

/// The policy's answer, with enough context to log and to schedule the next look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The formation to have: what the work needs, kept up to the busy dynos.
    pub workers: u32,
    /// What the work needs, without keeping busy dynos: the dynos above it
    /// drain (take no new job) so that the formation can shrink.
    pub needed: u32,
    pub reason: Reason,
    /// MAX_WORKERS is below a busy dyno: a call for `workers` stops it.
    pub stops_busy: Option<u32>,
    /// Decide again after this long even if nothing else changes, so that a
    /// scheduled job gets a worker in time; `None` when nothing is scheduled.
    pub consult_at_in: Option<Duration>,
    /// The jobs per worker the work was sized by (`None` with rules).
    pub jobs_per_worker: Option<u32>,
}

/// What determined `Decision::workers`, for log lines and instrumentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Sized by the outstanding jobs.
    Work,
    /// Kept up so no busy worker is fired mid-job.
    BusyFloor,
    /// Kept up to the highest-numbered busy dyno, which a scale-down would stop.
    BusyDyno(u32),
    /// Kept at Heroku's quantity: a job is busy on a dyno without a number.
    BusyUnnumbered,
    /// One worker for a job due within the wake-up lead.
    ScheduledSoon,
    /// Raised to `min_workers`.
    Minimum,
    /// Capped at `max_workers`.
    Maximum,
    /// Nothing to do and no floor applies.
    Idle,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::Work => "sized to outstanding jobs",
            Reason::BusyFloor => "keeping busy workers",
            Reason::BusyDyno(n) => return write!(f, "dyno {n} is busy"),
            Reason::BusyUnnumbered => "a job is busy on a dyno without a number",
            Reason::ScheduledSoon => "job scheduled soon",
            Reason::Minimum => "at min_workers",
            Reason::Maximum => "capped at max_workers",
            Reason::Idle => "no work",
        })
    }
}

impl Sizing {
    /// The rules Ruby's settings enforce (naming the variable): at least one
    /// job per worker; at least one rule, `at_least` strictly increasing and
    /// workers never fewer as it grows (more work never means fewer workers).
    pub fn is_valid(&self) -> bool {
        match self {
            Sizing::JobsPerWorker(n) | Sizing::Learned { fallback: n } => *n >= 1,
            Sizing::Rules(rules) => {
                !rules.is_empty()
                    && rules
                        .windows(2)
                        .all(|w| w[1].at_least > w[0].at_least && w[1].workers >= w[0].workers)
            }
        }
    }
}

impl Policy {
    /// Settings are checked once, in Ruby, where the variable can be named
    /// (`Configuration::Settings`); here they are only asserted.
    pub fn new(
        min_workers: u32,
        max_workers: u32,
        sizing: Sizing,
        dyno_concurrency: u32,
        wake_lead: Duration,
    ) -> Policy {
        debug_assert!(
            min_workers <= max_workers,
            "max_workers {max_workers} below min_workers {min_workers}"
        );
        debug_assert!(dyno_concurrency >= 1, "dyno_concurrency of 0");
        debug_assert!(sizing.is_valid(), "invalid sizing {sizing:?}");
        Policy {
            min_workers,
            max_workers,
            sizing,
            dyno_concurrency,
            wake_lead,
        }
    }

    pub fn min_workers(&self) -> u32 {
        self.min_workers
    }

    pub fn max_workers(&self) -> u32 {
        self.max_workers
    }

    pub fn sizing(&self) -> &Sizing {
        &self.sizing
    }

    pub fn dyno_concurrency(&self) -> u32 {
        self.dyno_concurrency
    }

    pub fn wake_lead(&self) -> Duration {
        self.wake_lead
    }

    /// Work sizing, then the busy floor, then the scheduled wake-up, then the
    /// busy dynos' positions, then the `[min, max]` clamp last, so the
    /// configured bounds are absolute.
    pub fn decide(&self, obs: &Observation) -> Decision {
        let outstanding = obs.runnable.saturating_add(obs.running);
        let jobs_per_worker = self.jobs_per_worker(obs.measured);
        let by_work = self.workers_for(outstanding, jobs_per_worker);
        let busy = obs.running.div_ceil(u64::from(self.dyno_concurrency));

        let (mut workers, mut reason) = match by_work {
            _ if busy > by_work => (busy, Reason::BusyFloor),
            0 => (0, Reason::Idle),
            n => (n, Reason::Work),
        };
        if workers == 0 && obs.next_run_in.is_some_and(|d| d <= self.wake_lead) {
            (workers, reason) = (1, Reason::ScheduledSoon);
        }
        let (needed, _) = self.clamp(workers, reason);
        let position = obs.busy.floor();
        if position > workers {
            workers = position;
            reason = match obs.busy {
                BusyDynos::Unnumbered(_) => Reason::BusyUnnumbered,
                _ => Reason::BusyDyno(u32::try_from(position).expect("a dyno number")),
            };
        }
        let (workers, reason) = self.clamp(workers, reason);
        let stops_busy = match obs.busy {
            BusyDynos::Top(n) if n > workers => Some(n),
            _ => None,
        };

        Decision {
            workers,
            needed,
            reason,
            stops_busy,
            consult_at_in: obs.next_run_in.and_then(|d| self.consult_in(d)),
            jobs_per_worker,
        }
    }

    /// What the work is sized by, rules aside: the number set, or what
    /// the measurements give (the fallback until there are some).
    pub fn jobs_per_worker(&self, measured: Option<Measured>) -> Option<u32> {
        match &self.sizing {
            Sizing::JobsPerWorker(n) => Some(*n),
            Sizing::Learned { fallback } => Some(
                measured.map_or(*fallback, |m| m.jobs_per_worker(self.dyno_concurrency)),
            ),
            Sizing::Rules(_) => None,
        }
    }

    fn clamp(&self, workers: u64, reason: Reason) -> (u32, Reason) {
        let (workers, reason) = if workers < u64::from(self.min_workers) {
            (self.min_workers.into(), Reason::Minimum)
        } else if workers > u64::from(self.max_workers) {
            (self.max_workers.into(), Reason::Maximum)
        } else {
            (workers, reason)
        };
        (
            u32::try_from(workers).expect("clamped to max_workers"),
            reason,
        )
    }

    /// Counts stay in u64 until the clamp so huge queues can't wrap.
    fn workers_for(&self, outstanding: u64, jobs_per_worker: Option<u32>) -> u64 {
        match &self.sizing {
            Sizing::JobsPerWorker(_) | Sizing::Learned { .. } => {
                outstanding.div_ceil(u64::from(jobs_per_worker.expect("sized by jobs per worker")))
            }
            Sizing::Rules(rules) => match rules.partition_point(|r| r.at_least <= outstanding) {
                0 => 0,
                i => rules[i - 1].workers.into(),
            },
        }
    }

    /// Before the lead: come back when the job enters it, so a worker is
    /// started in time. Inside the lead: come back when it is due, when it
    /// turns from scheduled into runnable and the counts take over. A job due
    /// now is already runnable, so there is nothing to come back for.
    fn consult_in(&self, next_run_in: Duration) -> Option<Duration> {
        match next_run_in.checked_sub(self.wake_lead) {
            Some(before_lead) if !before_lead.is_zero() => Some(before_lead),
            _ if next_run_in.is_zero() => None,
            _ => Some(next_run_in),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SEC: Duration = Duration::from_secs(1);

    pub(super) fn policy(min: u32, max: u32, sizing: Sizing, concurrency: u32) -> Policy {
        Policy::new(min, max, sizing, concurrency, 60 * SEC)
    }

    pub(super) fn obs(runnable: u64, running: u64) -> Observation {
        Observation {
            runnable,
            running,
            next_run_in: None,
            busy: BusyDynos::None,
            measured: None,
        }
    }

    pub(super) fn rules(table: &[(u64, u32)]) -> Sizing {
        Sizing::Rules(
            table
                .iter()
                .map(|&(at_least, workers)| Rule { at_least, workers })
                .collect(),
        )
    }

    #[test]
    fn replays_the_readme_chart() {
        let p = policy(0, 10, Sizing::JobsPerWorker(1), 1);
        let chart = [
            ("no jobs in queue", 0, 0),
            ("enqueue 3 image rotation jobs", 3, 3),
            ("1 image job done", 2, 2),
            ("1 image job done", 1, 1),
            ("send 105 emails", 106, 10),
            ("100 email jobs done", 6, 6),
            ("1 email done", 5, 5),
            ("5 jobs done", 0, 0),
        ];
        for (step, outstanding, expected) in chart {
            // Half the jobs already running must not change the answer.
            for running in [0, outstanding / 2] {
                let d = p.decide(&obs(outstanding - running, running));
                assert_eq!(d.workers, expected, "{step} (running {running})");
            }
        }
    }

    #[test]
    fn jobs_per_worker_rounds_up() {
        let p = policy(0, 100, Sizing::JobsPerWorker(10), 100);
        for (outstanding, workers) in [
            (0, 0),
            (1, 1),
            (5, 1),
            (10, 1),
            (11, 2),
            (100, 10),
            (101, 11),
        ] {
            assert_eq!(
                p.decide(&obs(outstanding, 0)).workers,
                workers,
                "{outstanding} jobs"
            );
        }
    }

    #[test]
    fn learned_sizing_uses_the_fallback_until_measured() {
        let p = policy(0, 100, Sizing::Learned { fallback: 10 }, 1);
        let d = p.decide(&obs(25, 0));
        assert_eq!((d.workers, d.jobs_per_worker), (3, Some(10)));
        // Jobs of 2 s, dynos booting in 30 s: 16 jobs a worker.
        let measured = Some(Measured {
            job: 2 * SEC,
            boot: 30 * SEC,
        });
        let d = p.decide(&Observation { measured, ..obs(25, 0) });
        assert_eq!((d.workers, d.jobs_per_worker), (2, Some(16)));
        // A number set keeps its meaning whatever is measured; rules have none.
        let set = policy(0, 100, Sizing::JobsPerWorker(10), 1);
        assert_eq!(set.decide(&Observation { measured, ..obs(25, 0) }).jobs_per_worker, Some(10));
        let ruled = policy(0, 100, rules(&[(1, 1)]), 1);
        assert_eq!(ruled.decide(&Observation { measured, ..obs(25, 0) }).jobs_per_worker, None);
    }

    #[test]
    fn rules_pick_the_highest_matching_row() {
        let p = policy(0, 100, rules(&[(1, 1), (50, 3), (500, 8)]), 100);
        for (outstanding, workers) in [
            (0, 0),
            (1, 1),
            (49, 1),
            (50, 3),
            (499, 3),
            (500, 8),
            (u64::MAX, 8),
        ] {
            assert_eq!(
                p.decide(&obs(outstanding, 0)).workers,
                workers,
                "{outstanding} jobs"
            );
        }
        let always = policy(0, 100, rules(&[(0, 2), (10, 4)]), 100);
        assert_eq!(always.decide(&obs(0, 0)).workers, 2);
        assert_eq!(always.decide(&obs(0, 0)).reason, Reason::Work);
    }

    #[test]
    fn busy_floor_keeps_busy_workers() {
        // A rules table that wants fewer workers than are busy.
        let p = policy(0, 10, rules(&[(0, 1)]), 4);
        let d = p.decide(&obs(0, 9));
        assert_eq!((d.workers, d.reason), (3, Reason::BusyFloor));
        let d = p.decide(&obs(0, 4));
        assert_eq!((d.workers, d.reason), (1, Reason::Work));
    }

    #[test]
    fn maximum_beats_the_busy_floor() {
        let p = policy(0, 2, rules(&[(0, 0)]), 1);
        let d = p.decide(&obs(0, 5));
        assert_eq!((d.workers, d.reason), (2, Reason::Maximum));
    }

    #[test]
    fn clamps_and_reasons() {
        let p = policy(2, 5, Sizing::JobsPerWorker(1), 1);
        let cases = [
            (0, 2, Reason::Minimum),
            (1, 2, Reason::Minimum),
            (2, 2, Reason::Work),
            (4, 4, Reason::Work),
            (5, 5, Reason::Work),
            (6, 5, Reason::Maximum),
        ];
        for (runnable, workers, reason) in cases {
            let d = p.decide(&obs(runnable, 0));
            assert_eq!(
                (d.workers, d.reason),
                (workers, reason),
                "{runnable} runnable"
            );
        }
        let idle = policy(0, 5, Sizing::JobsPerWorker(1), 1).decide(&obs(0, 0));
        assert_eq!(
            (idle.workers, idle.reason, idle.consult_at_in),
            (0, Reason::Idle, None)
        );
    }

    #[test]
    fn scheduled_job_wakes_one_worker_within_the_lead() {
        let p = policy(0, 5, Sizing::JobsPerWorker(1), 1);
        let at = |secs| Observation {
            next_run_in: Some(secs * SEC),
            ..obs(0, 0)
        };

        let far = p.decide(&at(300));
        assert_eq!(
            (far.workers, far.reason, far.consult_at_in),
            (0, Reason::Idle, Some(240 * SEC))
        );
        let edge = p.decide(&at(60));
        assert_eq!(
            (edge.workers, edge.reason, edge.consult_at_in),
            (1, Reason::ScheduledSoon, Some(60 * SEC))
        );
        let near = p.decide(&at(10));
        assert_eq!(
            (near.workers, near.reason, near.consult_at_in),
            (1, Reason::ScheduledSoon, Some(10 * SEC))
        );
        let due = p.decide(&at(0));
        assert_eq!(
            (due.workers, due.reason, due.consult_at_in),
            (1, Reason::ScheduledSoon, None)
        );
    }

    #[test]
    fn scheduled_job_adds_nothing_when_workers_exist_or_max_is_zero() {
        let p = policy(0, 5, Sizing::JobsPerWorker(1), 1);
        let d = p.decide(&Observation {
            next_run_in: Some(SEC),
            ..obs(3, 0)
        });
        assert_eq!(
            (d.workers, d.reason, d.consult_at_in),
            (3, Reason::Work, Some(SEC))
        );
        let none = policy(0, 0, Sizing::JobsPerWorker(1), 1);
        let d = none.decide(&Observation {
            next_run_in: Some(SEC),
            ..obs(0, 0)
        });
        assert_eq!((d.workers, d.reason), (0, Reason::Maximum));
    }

    #[test]
    fn zero_wake_lead_consults_when_due() {
        let p = Policy::new(0, 5, Sizing::JobsPerWorker(1), 1, Duration::ZERO);
        let d = p.decide(&Observation {
            next_run_in: Some(30 * SEC),
            ..obs(0, 0)
        });
        assert_eq!((d.workers, d.consult_at_in), (0, Some(30 * SEC)));
    }

    #[test]
    fn huge_counts_saturate() {
        let p = policy(0, u32::MAX, Sizing::JobsPerWorker(1), 1);
        let d = p.decide(&obs(u64::MAX, u64::MAX));
        assert_eq!((d.workers, d.reason), (u32::MAX, Reason::Maximum));
    }

    #[test]
    fn sizing_validity_is_the_settings_rules() {
        assert!(Sizing::JobsPerWorker(1).is_valid());
        assert!(!Sizing::JobsPerWorker(0).is_valid());
        assert!(!rules(&[]).is_valid());
        assert!(!rules(&[(5, 1), (5, 2)]).is_valid(), "at_least repeated");
        assert!(!rules(&[(10, 1), (5, 2)]).is_valid(), "at_least decreasing");
        assert!(
            !rules(&[(0, 4), (9, 1)]).is_valid(),
            "fewer workers for more work"
        );
        // A zero row and equal workers are fine.
        assert!(rules(&[(0, 4), (9, 4)]).is_valid());
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "below min_workers")]
    fn a_policy_out_of_bounds_is_a_bug_caught_in_debug_builds() {
        Policy::new(3, 2, Sizing::JobsPerWorker(1), 1, SEC);
    }

    #[test]
    fn reasons_read_as_phrases() {
        for r in [
            Reason::Work,
            Reason::BusyFloor,
            Reason::BusyDyno(4),
            Reason::BusyUnnumbered,
            Reason::ScheduledSoon,
            Reason::Minimum,
            Reason::Maximum,
            Reason::Idle,
        ] {
            assert!(!r.to_string().is_empty());
        }
        assert_eq!(Reason::Maximum.to_string(), "capped at max_workers");
        assert_eq!(Reason::BusyDyno(4).to_string(), "dyno 4 is busy");
    }

    fn busy_on(busy: BusyDynos, runnable: u64, running: u64) -> Observation {
        Observation {
            busy,
            ..obs(runnable, running)
        }
    }

    #[test]
    fn keeps_the_highest_busy_dyno_and_says_what_the_work_needs() {
        let p = policy(0, 10, Sizing::JobsPerWorker(1), 1);
        // Two long jobs, on worker.3 and worker.4: the work needs 2 dynos,
        // a formation of 2 would stop both.
        let d = p.decide(&busy_on(BusyDynos::Top(4), 0, 2));
        assert_eq!((d.workers, d.needed, d.reason), (4, 2, Reason::BusyDyno(4)));
        // The long job on worker.1 only: down to 1 at once.
        let d = p.decide(&busy_on(BusyDynos::Top(1), 0, 1));
        assert_eq!((d.workers, d.needed, d.reason), (1, 1, Reason::Work));
        // More work than the position: the work decides.
        let d = p.decide(&busy_on(BusyDynos::Top(2), 5, 1));
        assert_eq!((d.workers, d.needed, d.reason), (6, 6, Reason::Work));
        assert_eq!(d.stops_busy, None);
    }

    #[test]
    fn without_dyno_numbers_nothing_goes_below_herokus_quantity_while_a_job_is_busy() {
        let p = policy(0, 10, Sizing::JobsPerWorker(1), 1);
        let d = p.decide(&busy_on(BusyDynos::Unnumbered(5), 0, 1));
        assert_eq!(
            (d.workers, d.needed, d.reason),
            (5, 1, Reason::BusyUnnumbered)
        );
        let d = p.decide(&busy_on(BusyDynos::Unnumbered(5), 9, 1));
        assert_eq!((d.workers, d.reason), (10, Reason::Work));
    }

    #[test]
    fn max_workers_beats_a_busy_dyno_and_says_so() {
        let p = policy(0, 3, Sizing::JobsPerWorker(1), 1);
        let d = p.decide(&busy_on(BusyDynos::Top(5), 0, 1));
        assert_eq!(
            (d.workers, d.reason, d.stops_busy),
            (3, Reason::Maximum, Some(5))
        );
        let d = p.decide(&busy_on(BusyDynos::Top(3), 0, 1));
        assert_eq!((d.workers, d.stops_busy), (3, None));
    }

    fn any_sizing() -> impl Strategy<Value = Sizing> {
        prop_oneof![
            (1u32..50).prop_map(Sizing::JobsPerWorker),
            (1u32..50).prop_map(|fallback| Sizing::Learned { fallback }),
            prop::collection::btree_map(0u64..1000, 0u32..30, 1..6).prop_map(|m| {
                // Valid tables never lower workers: sort them so.
                let mut workers: Vec<u32> = m.values().copied().collect();
                workers.sort_unstable();
                Sizing::Rules(
                    m.keys()
                        .zip(workers)
                        .map(|(&at_least, workers)| Rule { at_least, workers })
                        .collect(),
                )
            }),
        ]
    }

    pub(super) fn any_policy() -> impl Strategy<Value = Policy> {
        (0u32..20, 0u32..20, any_sizing(), 1u32..8, 0u64..120).prop_map(
            |(a, b, sizing, c, lead)| {
                Policy::new(a.min(b), a.max(b), sizing, c, Duration::from_secs(lead))
            },
        )
    }

    pub(super) fn any_obs() -> impl Strategy<Value = Observation> {
        let count = prop_oneof![0u64..2000, any::<u64>()];
        let measured = prop::option::of((0u64..600_000, 0u64..300_000).prop_map(|(job, boot)| Measured {
            job: Duration::from_millis(job),
            boot: Duration::from_millis(boot),
        }));
        (count.clone(), count, prop::option::of(0u64..600), measured).prop_map(|(runnable, running, next, measured)| {
            Observation {
                runnable,
                running,
                next_run_in: next.map(Duration::from_secs),
                busy: BusyDynos::None,
                measured,
            }
        })
    }

    pub(super) fn any_busy() -> impl Strategy<Value = BusyDynos> {
        prop_oneof![
            Just(BusyDynos::None),
            (1u32..30).prop_map(BusyDynos::Top),
            (0u32..30).prop_map(BusyDynos::Unnumbered),
        ]
    }

    proptest! {
        #[test]
        fn stays_within_bounds_and_above_the_busy_floor(p in any_policy(), o in any_obs()) {
            let d = p.decide(&o);
            prop_assert!(p.min_workers() <= d.workers && d.workers <= p.max_workers());
            let busy = o.running.div_ceil(p.dyno_concurrency().into());
            prop_assert!(u64::from(d.workers) >= busy.min(p.max_workers().into()));
        }

        #[test]
        fn never_below_a_busy_dyno_unless_max_workers_says_so(p in any_policy(), o in any_obs(), busy in any_busy()) {
            let d = p.decide(&Observation { busy, ..o });
            let floor = u32::try_from(busy.floor()).unwrap();
            prop_assert!(d.workers >= floor.min(p.max_workers()));
            prop_assert_eq!(d.stops_busy.is_some(), matches!(busy, BusyDynos::Top(n) if n > p.max_workers()));
            prop_assert!(d.needed <= d.workers);
            prop_assert_eq!(d.needed, p.decide(&o).workers, "the position changes what is kept, not what is needed");
        }

        #[test]
        fn more_work_never_means_fewer_workers(p in any_policy(), o in any_obs(), extra in 0u64..500) {
            let d = p.decide(&o).workers;
            let more_runnable = Observation { runnable: o.runnable.saturating_add(extra), ..o };
            let more_running = Observation { running: o.running.saturating_add(extra), ..o };
            prop_assert!(p.decide(&more_runnable).workers >= d);
            prop_assert!(p.decide(&more_running).workers >= d);
        }

        #[test]
        fn non_decreasing_rules_are_monotone(
            mut table in prop::collection::btree_map(0u64..1000, 0u32..30, 1..6),
            a in 0u64..1200, b in 0u64..1200,
        ) {
            let mut floor = 0;
            for w in table.values_mut() { floor = floor.max(*w); *w = floor; }
            let p = policy(0, 30, rules(&table.into_iter().collect::<Vec<_>>()), 1000);
            let (lo, hi) = (a.min(b), a.max(b));
            prop_assert!(p.decide(&obs(lo, 0)).workers <= p.decide(&obs(hi, 0)).workers);
        }
    }
}
