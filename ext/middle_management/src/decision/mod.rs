//! One decision for one pool, made by whichever process holds the app's
//! decision lease: the fresh count and the app's shared record in, what to
//! want, whether to call Heroku and what to record out. Pure: the record's
//! clock (the store's, in milliseconds since the epoch) is passed in.

mod app;
mod why;

use std::time::Duration;

pub use app::{decide_app, AppVerdict, PoolInput};
pub use why::{Why, NEWS_GAP};

use crate::pacing::{Pacer, PacingConfig, Step};
use crate::policy::{BusyDynos, Measured, Observation, Policy, Reason};

/// What the app's store keeps for a pool, as far as deciding goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// The quantity last sent to Heroku (None: unknown, or a call failed).
    pub quantity: Option<u32>,
    /// No formation call for the app before this (store ms).
    pub window_opens_at: Option<u64>,
    /// The pacing's memory of recent wishes (`Pacer::memory`).
    pub memory: String,
}

/// A count taken for this decision, after the lease was taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub runnable: u64,
    pub running: u64,
    pub next_run_in: Option<Duration>,
    /// The highest number of a dyno of this pool with a busy job.
    pub top_busy_dyno: Option<u32>,
    /// A busy job runs on a dyno whose name has no number.
    pub busy_unnumbered: bool,
    /// The pool's jobs and boots as measured lately, if they were.
    pub measured: Option<Measured>,
}

impl Counts {
    /// Where the busy jobs are, for the policy: without dyno numbers, the
    /// quantity Heroku has is what must not shrink.
    fn busy_dynos(&self, quantity: Option<u32>) -> BusyDynos {
        let top = self.top_busy_dyno.unwrap_or(0);
        if self.busy_unnumbered {
            BusyDynos::Unnumbered(quantity.unwrap_or(0).max(top))
        } else if top > 0 {
            BusyDynos::Top(top)
        } else {
            BusyDynos::None
        }
    }
}

/// What the decision is for, besides the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occasion {
    /// Something changed, or a decision is due.
    Change,
    /// The app has no shared store and this process is exiting: its own
    /// window is all there is, and nobody else will send what it wants.
    ExitAlone,
    /// A periodic look: also check that Heroku has what the record says
    /// (someone may have scaled by hand), without a call when it does.
    Verify,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// What the policy wants now (floors and clamps applied, busy dynos kept).
    pub wanted: u32,
    /// What the work needs: dynos numbered above it drain.
    pub needed: u32,
    pub reason: Reason,
    /// A busy dyno that MAX_WORKERS leaves out.
    pub stops_busy: Option<u32>,
    /// Call Heroku with this quantity now.
    pub send: Option<u32>,
    /// `send` is the record's own quantity, to be checked first: the call
    /// is made only if Heroku has another.
    pub verify: bool,
    /// To record: the window after this decision (moved only by a call).
    pub window_opens_at: Option<u64>,
    /// To record: the pacing's memory after this decision.
    pub memory: String,
    /// Decide again this soon even without news: a change waits for the
    /// window or the scale-down delay, or a scheduled job needs a worker.
    pub look_again_in: Option<Duration>,
    /// The jobs per worker the work was sized by (`None` with rules).
    pub jobs_per_worker: Option<u32>,
}

pub fn decide(
    policy: &Policy,
    pacing: PacingConfig,
    record: &Record,
    counts: &Counts,
    now_ms: u64,
    occasion: Occasion,
) -> Verdict {
    let now = Duration::from_millis(now_ms);
    // A window further off than one throttle was never opened by a call
    // (the store's row was edited, or its clock jumped): no window.
    let window = record
        .window_opens_at
        .filter(|&opens| opens <= now_ms.saturating_add(millis(pacing.api_throttle)));
    let last_call = window
        .filter(|_| occasion != Occasion::ExitAlone)
        .map(|opens| Duration::from_millis(opens).saturating_sub(pacing.api_throttle));
    let mut pacer = Pacer::restore(pacing, record.quantity, last_call, &record.memory, now);
    let decision = policy.decide(&Observation {
        runnable: counts.runnable,
        running: counts.running,
        next_run_in: counts.next_run_in,
        busy: counts.busy_dynos(record.quantity),
        measured: counts.measured,
    });
    pacer.desire(now, decision.workers);
    let send = match pacer.poll(now) {
        Step::Send(quantity) => {
            pacer.sent(now);
            pacer.known(quantity);
            Some(quantity)
        }
        _ => None,
    };
    // What is still to come after this decision's call, if any: the rest of
    // a scale-down held by the delay, or a change waiting for the window.
    let wait = match pacer.poll(now) {
        Step::WaitUntil(at) => Some(at.saturating_sub(now)),
        Step::Send(_) | Step::Idle => None,
    };
    let window_opens_at = match send {
        Some(_) => Some(now_ms + millis(pacing.api_throttle)),
        None => window,
    };
    let verify = occasion == Occasion::Verify && send.is_none() && wait.is_none();
    Verdict {
        wanted: decision.workers,
        needed: decision.needed,
        reason: decision.reason,
        stops_busy: decision.stops_busy,
        send: if verify { record.quantity } else { send },
        verify: verify && record.quantity.is_some(),
        window_opens_at,
        memory: pacer.memory(),
        look_again_in: [wait, decision.consult_at_in].into_iter().flatten().min(),
        jobs_per_worker: decision.jobs_per_worker,
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Sizing;

    const T0: u64 = 1_764_000_000_000; // a store clock reading, ms

    fn pool(max: u32) -> Policy {
        Policy::new(0, max, Sizing::JobsPerWorker(1), 1, Duration::from_secs(30))
    }

    fn pacing(throttle: u64, delay: u64) -> PacingConfig {
        PacingConfig {
            api_throttle: Duration::from_secs(throttle),
            scale_down_delay: Duration::from_secs(delay),
            change_budget: None,
        }
    }

    fn jobs(runnable: u64, running: u64) -> Counts {
        Counts {
            runnable,
            running,
            ..Counts::default()
        }
    }

    /// Applies a verdict as the store would record it.
    fn record_of(before: &Record, verdict: &Verdict) -> Record {
        Record {
            quantity: verdict.send.or(before.quantity),
            window_opens_at: verdict.window_opens_at,
            memory: verdict.memory.clone(),
        }
    }

    #[test]
    fn the_first_decision_calls_at_once_and_opens_the_window() {
        let v = decide(
            &pool(10),
            pacing(10, 0),
            &Record::default(),
            &jobs(3, 0),
            T0,
            Occasion::Change,
        );
        assert_eq!((v.wanted, v.send), (3, Some(3)));
        assert_eq!(v.window_opens_at, Some(T0 + 10_000));
        assert_eq!(v.look_again_in, None);
    }

    #[test]
    fn inside_the_window_nothing_is_sent_and_the_next_look_is_when_it_opens() {
        let first = decide(
            &pool(10),
            pacing(10, 0),
            &Record::default(),
            &jobs(3, 0),
            T0,
            Occasion::Change,
        );
        let record = record_of(&Record::default(), &first);
        let v = decide(
            &pool(10),
            pacing(10, 0),
            &record,
            &jobs(7, 0),
            T0 + 4_000,
            Occasion::Change,
        );
        assert_eq!((v.wanted, v.send), (7, None));
        assert_eq!(
            v.window_opens_at,
            Some(T0 + 10_000),
            "the window is not moved"
        );
        assert_eq!(v.look_again_in, Some(Duration::from_secs(6)));

        let record = record_of(&record, &v);
        let v = decide(
            &pool(10),
            pacing(10, 0),
            &record,
            &jobs(7, 0),
            T0 + 10_000,
            Occasion::Change,
        );
        assert_eq!(v.send, Some(7), "a fresh decision when the window opens");
    }

    #[test]
    fn no_call_when_heroku_has_the_wanted_quantity() {
        let record = Record {
            quantity: Some(4),
            ..Record::default()
        };
        let v = decide(
            &pool(10),
            pacing(10, 0),
            &record,
            &jobs(4, 0),
            T0,
            Occasion::Change,
        );
        assert_eq!((v.send, v.look_again_in), (None, None));
        assert_eq!(v.window_opens_at, None);
    }

    #[test]
    fn a_periodic_look_checks_herokus_quantity_but_never_moves_the_window() {
        let record = Record {
            quantity: Some(2),
            window_opens_at: Some(T0 - 1),
            memory: String::new(),
        };
        let v = decide(
            &pool(10),
            pacing(10, 0),
            &record,
            &jobs(2, 0),
            T0,
            Occasion::Verify,
        );
        assert_eq!((v.send, v.verify), (Some(2), true));
        assert_eq!(v.window_opens_at, Some(T0 - 1));
        let changed = decide(
            &pool(10),
            pacing(10, 0),
            &record,
            &jobs(5, 0),
            T0,
            Occasion::Verify,
        );
        assert_eq!(
            (changed.send, changed.verify),
            (Some(5), false),
            "a real change is a real call"
        );
    }

    #[test]
    fn an_exit_without_a_shared_store_sends_whatever_the_window() {
        let record = Record {
            quantity: Some(1),
            window_opens_at: Some(T0 + 50_000),
            memory: String::new(),
        };
        let v = decide(
            &pool(10),
            pacing(60, 0),
            &record,
            &jobs(10, 0),
            T0,
            Occasion::ExitAlone,
        );
        assert_eq!(v.send, Some(10));
    }

    #[test]
    fn a_record_no_decision_could_have_written_is_no_obstacle() {
        for record in [
            Record {
                quantity: Some(1),
                window_opens_at: Some(T0 + 86_400_000), // a day ahead
                memory: String::new(),
            },
            Record {
                quantity: Some(1),
                window_opens_at: None,
                memory: "é1".into(),
            },
        ] {
            let v = decide(
                &pool(10),
                pacing(10, 0),
                &record,
                &jobs(5, 0),
                T0,
                Occasion::Change,
            );
            assert_eq!(v.send, Some(5), "{record:?}");
            assert_eq!(v.window_opens_at, Some(T0 + 10_000));
        }
    }

    #[test]
    fn the_scale_down_delay_holds_across_decisions_made_by_different_processes() {
        // Each decision restores the pacer from the record alone, as a
        // decision made in another process would.
        let mut record = Record::default();
        let mut now = T0;
        let mut sent = Vec::new();
        for (after, outstanding) in [(0, 8), (5, 2), (20, 2), (31, 2), (40, 0)] {
            now = T0 + after * 1_000;
            let v = decide(
                &pool(10),
                pacing(1, 30),
                &record,
                &jobs(outstanding, 0),
                now,
                Occasion::Change,
            );
            sent.extend(v.send);
            record = record_of(&record, &v);
        }
        assert_eq!(
            sent,
            vec![8, 2],
            "2 only once 8 has not been wanted for 30 s"
        );
        let v = decide(
            &pool(10),
            pacing(1, 30),
            &record,
            &jobs(0, 0),
            now + 1_000,
            Occasion::Change,
        );
        assert_eq!(v.send, None, "0 waits for its own 30 s");
        assert!(v.look_again_in.is_some());
    }

    #[test]
    fn a_call_held_up_by_the_scale_down_delay_asks_for_a_look_when_it_may_go() {
        let mut record = Record::default();
        let first = decide(
            &pool(10),
            pacing(0, 2),
            &record,
            &jobs(5, 0),
            T0,
            Occasion::Change,
        );
        record = record_of(&record, &first);
        let v = decide(
            &pool(10),
            pacing(0, 2),
            &record,
            &jobs(4, 0),
            T0 + 3_000,
            Occasion::Change,
        );
        assert_eq!(v.send, None, "5 was wanted within the last 2 s");
        record = record_of(&record, &v);
        let v = decide(
            &pool(10),
            pacing(0, 2),
            &record,
            &jobs(0, 0),
            T0 + 5_500,
            Occasion::Change,
        );
        assert_eq!(v.send, Some(4), "4 was wanted within the last 2 s");
        assert_eq!(
            v.look_again_in,
            Some(Duration::from_secs(2)),
            "0 may go 2 s after 4 was last wanted"
        );
    }

    #[test]
    fn a_scheduled_job_asks_for_a_look_when_it_enters_the_wake_lead() {
        let counts = Counts {
            next_run_in: Some(Duration::from_secs(100)),
            ..Counts::default()
        };
        let v = decide(
            &pool(10),
            pacing(10, 0),
            &Record::default(),
            &counts,
            T0,
            Occasion::Change,
        );
        assert_eq!(v.wanted, 0);
        assert_eq!(v.look_again_in, Some(Duration::from_secs(70)));
    }

    #[test]
    fn busy_dynos_keep_the_formation_up_while_the_work_needs_less() {
        let record = Record {
            quantity: Some(4),
            ..Record::default()
        };
        let long_jobs_on_3_and_4 = Counts {
            running: 2,
            top_busy_dyno: Some(4),
            ..Counts::default()
        };
        let v = decide(
            &pool(10),
            pacing(0, 0),
            &record,
            &long_jobs_on_3_and_4,
            T0,
            Occasion::Change,
        );
        assert_eq!(
            (v.wanted, v.needed, v.send),
            (4, 2, None),
            "no call: Heroku has 4"
        );
        assert_eq!(v.reason, Reason::BusyDyno(4));

        let last_on_1 = Counts {
            running: 1,
            top_busy_dyno: Some(1),
            ..Counts::default()
        };
        let v = decide(
            &pool(10),
            pacing(0, 0),
            &record,
            &last_on_1,
            T0,
            Occasion::Change,
        );
        assert_eq!((v.wanted, v.send), (1, Some(1)));
    }

    #[test]
    fn a_busy_job_without_a_dyno_number_keeps_what_heroku_has() {
        let record = Record {
            quantity: Some(3),
            ..Record::default()
        };
        let counts = Counts {
            running: 1,
            busy_unnumbered: true,
            ..Counts::default()
        };
        let v = decide(
            &pool(10),
            pacing(0, 0),
            &record,
            &counts,
            T0,
            Occasion::Change,
        );
        assert_eq!((v.wanted, v.needed, v.send), (3, 1, None));
        assert_eq!(v.reason, Reason::BusyUnnumbered);
    }
}
