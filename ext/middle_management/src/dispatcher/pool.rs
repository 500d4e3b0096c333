//! One pool's state inside the dispatcher: what is known of its jobs, what
//! the policy wants, and what Heroku was told. No I/O and no clock of its own.

use std::time::Duration;

use super::config::PoolConfig;
use super::event::Event;
use crate::pacing::{CountFreshness, Pacer, PacingConfig, Step};
use crate::policy::{Decision, Observation, Sizing};

/// How long a requested count may take before the pool goes on with the
/// counts it has: a Ruby side that cannot count must not stop scaling.
pub const RECOUNT_GRACE: Duration = Duration::from_secs(5);

/// How recent a count must be to act on (see `needs_fresh_count`).
pub const FRESH_FOR_SCALE_DOWN: Duration = Duration::from_secs(1);

/// A job change seen by a hook, in the order hooks reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Delta {
    pub seq: u64,
    pub runnable: i64,
    pub running: i64,
    /// A job that becomes runnable this far in the future.
    pub due_in: Option<Duration>,
    /// When the hook reported it, on the dispatcher's clock.
    pub at: Duration,
}

/// A full count from the Ruby side. `marker` is the sequence number read
/// right after counting: deltas up to it are taken as already in the count.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Count {
    pub marker: u64,
    pub runnable: u64,
    pub running: u64,
    pub next_run_in: Option<Duration>,
}

#[derive(Debug)]
pub struct PoolState {
    pub config: PoolConfig,
    pub pacer: Pacer,
    freshness: CountFreshness,
    count_interval: Duration,
    runnable: u64,
    running: u64,
    next_run_at: Option<Duration>,
    counted: bool,
    counted_at: Option<Duration>,
    /// When the oldest hook report since the last count was made.
    unconfirmed_since: Option<Duration>,
    recount_requested_at: Option<Duration>,
    /// Deltas seen while a count is under way: those after its marker are
    /// replayed on top of it.
    in_flight: Vec<Delta>,
    decision: Option<Decision>,
    consult_at: Option<Duration>,
    /// A value Heroku refused for good (401, 404, 422…): not asked again
    /// until the policy wants something else.
    pub refused: Option<u32>,
}

impl PoolState {
    pub fn new(config: PoolConfig, pacing: PacingConfig, count_interval: Duration) -> PoolState {
        PoolState {
            config,
            pacer: Pacer::new(pacing),
            freshness: CountFreshness::new(count_interval),
            count_interval,
            runnable: 0,
            running: 0,
            next_run_at: None,
            counted: false,
            counted_at: None,
            unconfirmed_since: None,
            recount_requested_at: None,
            in_flight: Vec::new(),
            decision: None,
            consult_at: None,
            refused: None,
        }
    }

    pub fn adjust(&mut self, now: Duration, delta: Delta) {
        self.runnable = self.runnable.saturating_add_signed(delta.runnable);
        self.running = self.running.saturating_add_signed(delta.running);
        if let Some(due_in) = delta.due_in {
            self.schedule(now + due_in);
        }
        if self.recount_requested_at.is_some() {
            self.in_flight.push(delta);
        } else {
            self.unconfirmed(delta);
        }
    }

    fn unconfirmed(&mut self, delta: Delta) {
        if delta.runnable != 0 || delta.running != 0 || delta.due_in.is_some() {
            self.unconfirmed_since =
                Some(self.unconfirmed_since.map_or(delta.at, |t| t.min(delta.at)));
        }
    }

    pub fn counted(&mut self, now: Duration, count: Count) {
        self.runnable = count.runnable;
        self.running = count.running;
        self.next_run_at = count.next_run_in.map(|d| now + d);
        self.unconfirmed_since = None;
        for delta in std::mem::take(&mut self.in_flight)
            .into_iter()
            .filter(|d| d.seq > count.marker)
        {
            self.runnable = self.runnable.saturating_add_signed(delta.runnable);
            self.running = self.running.saturating_add_signed(delta.running);
            if let Some(due_in) = delta.due_in {
                self.schedule(now + due_in);
            }
            self.unconfirmed(delta);
        }
        self.counted = true;
        self.counted_at = Some(now);
        self.recount_requested_at = None;
        self.freshness.counted(now);
    }

    fn schedule(&mut self, at: Duration) {
        self.next_run_at = Some(self.next_run_at.map_or(at, |t| t.min(at)));
    }

    /// Whether to ask Ruby for a count now. `activity`: a hook reported a
    /// change since the last tick. Without activity a pool recounts only while
    /// it may have workers to fire or a scheduled job to wake for, so an idle
    /// app costs no queries; with `count_interval` 0, only activity triggers it.
    pub fn wants_recount(&mut self, now: Duration, activity: bool) -> bool {
        if let Some(asked) = self.recount_requested_at {
            if now < asked + RECOUNT_GRACE {
                return false;
            }
            // The count never came: go on with what the hooks reported.
            self.counted = true;
            self.counted_at = Some(now);
            self.unconfirmed_since = None;
            self.recount_requested_at = None;
            self.in_flight.clear();
            self.freshness.counted(now);
        }
        let wanted = !self.counted
            || (self.freshness.is_stale(now)
                && (activity || (self.may_need_recount() && self.periodic())));
        if wanted {
            self.recount_requested_at = Some(now);
        }
        wanted
    }

    fn periodic(&self) -> bool {
        !self.count_interval.is_zero()
    }

    fn may_need_recount(&self) -> bool {
        let min = self.config.policy.min_workers();
        self.next_run_at.is_some()
            || self.runnable + self.running > 0
            || self.pacer.desired().is_some_and(|d| d > min)
            || self.pacer.known_quantity().is_some_and(|k| k > min)
    }

    /// When a count asked for stops being waited for.
    pub fn count_deadline(&self) -> Option<Duration> {
        self.recount_requested_at.map(|asked| asked + RECOUNT_GRACE)
    }

    pub fn awaiting_count(&self) -> bool {
        self.recount_requested_at.is_some()
    }

    /// Runs the policy; returns an event when its answer changed. Until the
    /// first count arrives there is nothing sound to decide from.
    pub fn decide(&mut self, now: Duration) -> Option<Event> {
        if !self.counted {
            return None;
        }
        // A scheduled job came due: it is runnable now (the next count will say
        // exactly how many came due together).
        if self.next_run_at.is_some_and(|at| at <= now) {
            self.next_run_at = None;
            self.runnable = self.runnable.saturating_add(1);
        }
        let observation = Observation {
            runnable: self.runnable,
            running: self.running,
            next_run_in: self.next_run_at.map(|at| at.saturating_sub(now)),
        };
        let decision = self.config.policy.decide(&observation);
        self.consult_at = decision.consult_at_in.map(|d| now + d);
        let changed = self.decision.as_ref().map(|d| d.workers) != Some(decision.workers);

        self.pacer.desire(now, decision.workers);
        if self.pacer.desired() != self.refused {
            self.refused = None;
        }
        let event = changed.then(|| Event::Decided {
            pool: self.config.name.clone(),
            workers: decision.workers,
            reason: decision.reason.to_string(),
            runnable: self.runnable,
            running: self.running,
        });
        self.decision = Some(decision);
        event
    }

    /// The value to send now, if any.
    pub fn due(&self, now: Duration, flushing: bool) -> Option<u32> {
        let value = if flushing {
            self.pacer.flush()
        } else {
            match self.pacer.poll(now) {
                Step::Send(q) => Some(q),
                _ => None,
            }
        };
        value.filter(|q| Some(*q) != self.refused && !self.needs_fresh_count(now, *q))
    }

    /// Only news for more workers goes out on what this process alone has
    /// seen, and only while it is news. A lower count, or a wish built on
    /// reports that waited (for the throttle, for a retry), is sent on a
    /// count taken within the last second with no report since: other
    /// processes change the queue and the formation too, and acting on a
    /// stale view fires the workers they have just hired.
    fn needs_fresh_count(&self, now: Duration, workers: u32) -> bool {
        let scale_down = self
            .pacer
            .known_quantity()
            .is_some_and(|known| workers < known);
        if scale_down {
            let fresh = self
                .counted_at
                .is_some_and(|at| now.saturating_sub(at) <= FRESH_FOR_SCALE_DOWN);
            self.unconfirmed_since.is_some() || !fresh
        } else {
            self.unconfirmed_since
                .is_some_and(|since| now.saturating_sub(since) > FRESH_FOR_SCALE_DOWN)
        }
    }

    /// Asks for a count when a send waits for one; true when asked.
    pub fn wants_count_to_send(&mut self, now: Duration) -> bool {
        let waiting = self
            .pacer
            .flush()
            .is_some_and(|q| self.needs_fresh_count(now, q));
        let ask = waiting && self.recount_requested_at.is_none();
        if ask {
            self.recount_requested_at = Some(now);
        }
        ask
    }

    /// The earliest instant at which this pool has something to do. No call
    /// goes out before `gate` (a retry backoff or a rate-limit pause).
    pub fn next_wake(&self, now: Duration, flushing: bool, gate: Duration) -> Option<Duration> {
        let pacing = match self.pacer.poll(now) {
            _ if self.due(now, flushing).is_some() => Some(now.max(gate)),
            Step::WaitUntil(at) => Some(at.max(gate)),
            Step::Send(_) | Step::Idle => None,
        };
        let recount = match self.recount_requested_at {
            Some(asked) => Some(asked + RECOUNT_GRACE),
            None if self.counted && self.periodic() && self.may_need_recount() => {
                self.freshness.next_recount_at()
            }
            None => None,
        };
        [pacing, recount, self.consult_at]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn outstanding(&self) -> u64 {
        self.runnable.saturating_add(self.running)
    }

    pub fn counts(&self) -> (u64, u64, Option<Duration>) {
        (self.runnable, self.running, self.next_run_at)
    }

    /// How the pool sizes itself, for log lines: "1 job per worker".
    pub fn sizing(&self) -> String {
        match self.config.policy.sizing() {
            Sizing::JobsPerWorker(1) => "1 job per worker".into(),
            Sizing::JobsPerWorker(n) => format!("{n} jobs per worker"),
            Sizing::Rules(rules) => format!("{} rules", rules.len()),
        }
    }
}
