//! What a strategy costs and how long jobs wait: a job trace replayed in
//! virtual time against a model of Heroku (`heroku_model`). Our strategy's
//! decisions come from the real `decision::decide` (policy, pacing, busy
//! floors), made when the gem would make them: at every job change (no more
//! often than the news gap), when a verdict says to look again, and every
//! `count_interval`. Pure: no clock, no I/O.
//!
//! Every replay ends, whatever the strategy does to the jobs: a job killed
//! MAX_ATTEMPTS times is given up (Delayed Job's default), and the replay
//! stops a day after the last job could have ended on time, counting what
//! never finished. A caller may stop it sooner (`simulate_until`).

mod clairvoyant;
mod heroku_model;
mod learner;
mod peers;
mod report;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::decision::{self, Counts, Occasion, Record, Why};
use crate::pacing::PacingConfig;
use crate::policy::{Policy, Sizing};
use heroku_model::Dynos;
use learner::Learner;
pub use heroku_model::HerokuParams;
pub use peers::{HireFire, Judoscale};
use peers::{Memory, Queue};
pub use report::{Fates, Report};

/// A job stopped this often by scale-downs is given up, as Delayed Job
/// gives up after `max_attempts` (25 by default).
pub const MAX_ATTEMPTS: u32 = 25;
/// The replay ends this long after the last job could have ended on time.
const OVERTIME_MS: u64 = 86_400_000;

/// One job of the trace, in ms from the trace's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    pub enqueued_at: u64,
    /// When it may run: `enqueued_at`, or later for a scheduled job.
    pub due_at: u64,
    pub duration: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    /// This gem, with the pool's settings.
    Ours,
    /// A fixed formation for the whole trace.
    AlwaysOn(u32),
    HireFire(HireFire),
    Judoscale(Judoscale),
    /// Every job's dyno booted just in time and stopped when idle.
    Clairvoyant,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub policy: Policy,
    pub pacing: PacingConfig,
    pub count_interval: Duration,
    pub heroku: HerokuParams,
    pub price_per_dyno_hour: f64,
}

pub fn simulate(jobs: &[Job], settings: &Settings, strategy: Strategy) -> Report {
    simulate_until(jobs, settings, strategy, &AtomicBool::new(false))
        .expect("a replay nobody stops ends by itself")
}

/// As `simulate`, but None once `stop` is set (checked at every step).
pub fn simulate_until(
    jobs: &[Job],
    settings: &Settings,
    strategy: Strategy,
    stop: &AtomicBool,
) -> Option<Report> {
    match strategy {
        Strategy::Clairvoyant => Some(clairvoyant::simulate(jobs, settings)),
        _ => Run::new(jobs, settings, strategy).play(stop),
    }
}

/// One replay of the trace through a formation.
struct Run<'a> {
    jobs: &'a [Job],
    settings: &'a Settings,
    strategy: Strategy,
    now: u64,
    formation: Dynos,
    /// Enqueued, due, not started: (due_at, job), oldest due first.
    runnable: BTreeSet<(u64, usize)>,
    /// Enqueued, due later.
    scheduled: BTreeSet<(u64, usize)>,
    arrived: usize,
    started_at: Vec<Option<u64>>,
    /// Times each job was stopped mid-run.
    attempts: Vec<u32>,
    finished: usize,
    killed: u64,
    /// Jobs given up after MAX_ATTEMPTS.
    lost: usize,
    /// When the replay ends, done or not.
    horizon: u64,
    calls: Vec<(u64, u32)>,
    record: Record,
    /// Dynos numbered above this take no job (they drain).
    drain_above: u32,
    news: bool,
    last_decision: Option<u64>,
    look_at: Option<u64>,
    periodic_at: u64,
    /// A peer's next checkup, and its memory.
    checkup_at: Option<u64>,
    peer: Memory,
    /// What the gem would measure, with JOBS_PER_WORKER=auto.
    learner: Option<Learner>,
}

impl<'a> Run<'a> {
    fn new(jobs: &'a [Job], settings: &'a Settings, strategy: Strategy) -> Run<'a> {
        let mut order: Vec<usize> = (0..jobs.len()).collect();
        order.sort_by_key(|&i| jobs[i].enqueued_at);
        debug_assert!(
            order.iter().enumerate().all(|(k, &i)| k == i),
            "jobs come sorted by enqueued_at"
        );
        Run {
            jobs,
            settings,
            strategy,
            now: 0,
            formation: Dynos::default(),
            runnable: BTreeSet::new(),
            scheduled: BTreeSet::new(),
            arrived: 0,
            started_at: vec![None; jobs.len()],
            attempts: vec![0; jobs.len()],
            finished: 0,
            killed: 0,
            lost: 0,
            horizon: jobs
                .iter()
                .map(|j| j.due_at.saturating_add(j.duration))
                .max()
                .unwrap_or(0)
                .saturating_add(OVERTIME_MS),
            calls: Vec::new(),
            // The dispatcher reads Heroku's formation before its first call:
            // no workers, at the trace's start.
            record: Record {
                quantity: Some(0),
                ..Record::default()
            },
            drain_above: u32::MAX,
            news: false,
            last_decision: None,
            look_at: None,
            periodic_at: millis(settings.count_interval),
            checkup_at: match strategy {
                Strategy::HireFire(_) | Strategy::Judoscale(_) => Some(0),
                _ => None,
            },
            peer: Memory::default(),
            learner: (strategy == Strategy::Ours
                && matches!(settings.policy.sizing(), Sizing::Learned { .. }))
            .then(Learner::default),
        }
    }

    fn play(mut self, stop: &AtomicBool) -> Option<Report> {
        if let Strategy::AlwaysOn(n) = self.strategy {
            self.call(n);
        }
        loop {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            self.step();
            // Done when every job has run (or was given up) and nothing
            // more would change: for ours, once the formation has settled
            // after the last job.
            let done = self.finished + self.lost == self.jobs.len();
            let settled = match self.strategy {
                Strategy::Ours => !self.news && self.look_at.is_none(),
                Strategy::HireFire(_) | Strategy::Judoscale(_) => {
                    self.formation.quantity() == self.resting()
                }
                _ => true,
            };
            if done && settled || self.now >= self.horizon {
                break;
            }
            match self.next_time() {
                Some(next) => self.now = next.max(self.now).min(self.horizon),
                None => break,
            }
        }
        let waits = (0..self.jobs.len())
            .filter_map(|i| self.started_at[i].map(|s| s.saturating_sub(self.jobs[i].due_at)))
            .collect();
        let fates = Fates {
            killed: self.killed,
            lost: self.lost as u64,
            unfinished: (self.jobs.len() - self.finished - self.lost) as u64,
        };
        let mut report = Report::new(
            self.formation.billed_until(self.now),
            self.settings.price_per_dyno_hour,
            waits,
            &self.calls,
            self.formation.peak(),
            fates,
        );
        let concurrency = self.settings.policy.dyno_concurrency();
        report.learned = self
            .learner
            .as_mut()
            .and_then(|l| l.measured(self.now))
            .map(|m| (m, m.jobs_per_worker(concurrency)));
        Some(report)
    }

    /// Everything that happens at `now`.
    fn step(&mut self) {
        while self.arrived < self.jobs.len() && self.jobs[self.arrived].enqueued_at <= self.now {
            self.scheduled
                .insert((self.jobs[self.arrived].due_at, self.arrived));
            self.arrived += 1;
            self.news = true;
        }
        while let Some(&(due, job)) = self.scheduled.first().filter(|&&(due, _)| due <= self.now) {
            self.scheduled.pop_first();
            self.runnable.insert((due, job));
        }
        let (ended, killed) = self.formation.advance(self.now);
        self.finished += ended.len();
        if let Some(learner) = &mut self.learner {
            for &job in &ended {
                learner.job_ended(self.now, self.jobs[job].duration);
            }
        }
        self.news |= !ended.is_empty() || !killed.is_empty();
        for kill in killed {
            self.killed += 1;
            self.started_at[kill.job] = None;
            self.attempts[kill.job] += 1;
            if self.attempts[kill.job] >= MAX_ATTEMPTS {
                self.lost += 1;
            } else {
                self.runnable.insert((kill.at, kill.job));
            }
        }
        self.dispatch();
        if self.strategy == Strategy::Ours && self.decision_due() {
            self.decide();
            self.dispatch();
        }
        if self.checkup_at.is_some_and(|at| at <= self.now) {
            self.checkup();
            self.dispatch();
        }
    }

    /// A peer's checkup: what it sees of the queue, and its call if any.
    fn checkup(&mut self) {
        let queue = Queue {
            now: self.now,
            due: self.runnable.len() as u64,
            running: self.formation.running(),
            latency_ms: self.runnable.first().map_or(0, |&(due, _)| self.now - due),
            quantity: self.formation.quantity(),
        };
        let (call, every) = match self.strategy {
            Strategy::HireFire(h) => (h.checkup(&queue, &mut self.peer), h.checkup_ms),
            Strategy::Judoscale(j) => (j.checkup(&queue, &mut self.peer), j.cadence_ms),
            _ => return,
        };
        if let Some(quantity) = call {
            self.call(quantity);
        }
        self.checkup_at = Some(self.now + every.max(1));
    }

    /// Where a peer's formation rests with nothing to do: its minimum.
    fn resting(&self) -> u32 {
        match self.strategy {
            Strategy::HireFire(h) => h.min,
            Strategy::Judoscale(j) => j.min,
            _ => 0,
        }
    }

    fn dispatch(&mut self) {
        let concurrency = self.settings.heroku.concurrency;
        while let Some(&(_, job)) = self.runnable.first() {
            let Some(dyno) = self
                .formation
                .free_dyno(self.now, concurrency, self.drain_above)
            else {
                break;
            };
            self.runnable.pop_first();
            self.formation
                .start(dyno, job, self.now + self.jobs[job].duration);
            self.started_at[job] = Some(self.now);
            self.news = true;
        }
    }

    fn decision_due(&mut self) -> bool {
        let gap_passed = self
            .last_decision
            .map_or(true, |at| self.now >= at + self.news_gap());
        let looked = self.look_at.is_some_and(|at| at <= self.now);
        let periodic = !self.settings.count_interval.is_zero() && self.periodic_at <= self.now;
        (self.news && gap_passed) || looked || periodic
    }

    /// News within this long of the last decision waits for it to pass, as
    /// the gem's store grants no claim within the gap.
    fn news_gap(&self) -> u64 {
        millis(Why::News.gap(self.settings.pacing, self.settings.count_interval))
    }

    fn decide(&mut self) {
        let next_due = self.scheduled.first().map(|&(due, _)| due);
        let counts = Counts {
            runnable: self.runnable.len() as u64,
            running: self.formation.running(),
            next_run_in: next_due.map(|due| Duration::from_millis(due - self.now)),
            top_busy_dyno: self.formation.top_busy(),
            busy_unnumbered: false,
            measured: self.learner.as_mut().and_then(|l| l.measured(self.now)),
        };
        let verdict = decision::decide(
            &self.settings.policy,
            self.settings.pacing,
            &self.record,
            &counts,
            self.now,
            Occasion::Change,
        );
        self.news = false;
        self.last_decision = Some(self.now);
        self.look_at = verdict.look_again_in.map(|d| self.now + millis(d));
        if !self.settings.count_interval.is_zero() {
            self.periodic_at = self.now + millis(self.settings.count_interval);
        }
        self.drain_above = verdict.needed.max(1);
        self.record.memory = verdict.memory;
        self.record.window_opens_at = verdict.window_opens_at;
        if let Some(quantity) = verdict.send {
            self.call(quantity);
        }
    }

    fn call(&mut self, quantity: u32) {
        if let Some(learner) = &mut self.learner {
            let boot = self.settings.heroku.boot_ms;
            for _ in self.formation.quantity()..quantity {
                learner.booted(self.now + boot, boot);
            }
        }
        self.record.quantity = Some(quantity);
        self.calls.push((self.now, quantity));
        self.formation
            .scale(self.now, quantity, &self.settings.heroku);
    }

    fn next_time(&self) -> Option<u64> {
        let arrival = self.jobs.get(self.arrived).map(|j| j.enqueued_at);
        let due = self.scheduled.first().map(|&(due, _)| due);
        let mut times = vec![
            arrival,
            due,
            self.formation.next_event(self.now),
            self.checkup_at,
        ];
        if self.strategy == Strategy::Ours {
            let gap_end = self
                .last_decision
                .map(|at| at + self.news_gap())
                .filter(|_| self.news);
            times.extend([gap_end, self.look_at]);
            if !self.settings.count_interval.is_zero() {
                times.push(Some(self.periodic_at));
            }
        }
        times.into_iter().flatten().filter(|&t| t > self.now).min()
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
