//! One pool as this process's dispatcher sees it: whether it has news that
//! no decision has covered yet, when a decision is due anyway, whether one
//! is being made (Ruby is asked), and the call a decision left to make. The
//! counts, the quantity and the window are the app's, in its store: here
//! they are only the last decision's, for status. No I/O, no clock.

use std::time::Duration;

use super::config::PoolConfig;
use super::request::{Answer, Decided, Why};
use crate::decision::Counts;
use crate::policy::{Measured, Reason};

/// How long Ruby may take to answer a request before it is asked again.
pub const ANSWER_GRACE: Duration = Duration::from_secs(30);
/// After a decision that could not be made (its store or count failed).
pub const FAILED_PAUSE: Duration = Duration::from_secs(5);
/// The least time between two decisions of one process for news (a count
/// each): with no throttle, a busy process would otherwise count non-stop.
pub const DECISION_SPACING: Duration = Duration::from_millis(100);
/// The least wait before trying a held lease again.
pub const HELD_RETRY_MIN: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    pub quantity: u32,
    pub from: Option<u32>,
    pub outstanding: u64,
    /// The runnable count reached the pool's cap (`Policy::count_cap`),
    /// where counts stop: `outstanding` is at least this.
    pub at_least: bool,
    pub reason: Reason,
    /// What was measured of the pool when it decided (JOBS_PER_WORKER=auto).
    pub measured: Option<Measured>,
}

#[derive(Debug, Clone, Copy)]
struct Asked {
    at: Duration,
    why: Why,
    /// The news so far when asked: a decision covers it, not later news.
    news: u64,
}

#[derive(Debug)]
pub struct Pool {
    pub config: PoolConfig,
    /// Hook wakes so far, and how many of them a decision has covered.
    news: u64,
    covered: u64,
    /// Asked to check the record against Heroku (the Scheduler task).
    check: bool,
    /// A call failed and is to be tried again: what the app wants is not
    /// yet what Heroku confirmed.
    unconfirmed: bool,
    /// The last decision asked for a call that Heroku has not answered yet
    /// (unmade, or in flight).
    awaiting: bool,
    asked: Option<Asked>,
    /// No decision for news before this: the app's window is closed, a
    /// lease is held, a call is backing off.
    not_before: Duration,
    /// An exiting process's decision is not asked again before this: its
    /// last try met a held lease, or failed.
    retry_at: Duration,
    /// A decision is due then even without news.
    due_at: Option<Duration>,
    /// A long-running process's next look at the queue.
    periodic_at: Option<Duration>,
    pending: Option<Call>,
    // The last decision, for status.
    pub wanted: Option<u32>,
    pub known: Option<u32>,
    pub counts: Counts,
    pub counted_at: Option<Duration>,
}

impl Pool {
    pub fn new(config: PoolConfig) -> Pool {
        Pool {
            config,
            news: 0,
            covered: 0,
            check: false,
            unconfirmed: false,
            awaiting: false,
            asked: None,
            not_before: Duration::ZERO,
            retry_at: Duration::ZERO,
            due_at: None,
            periodic_at: None,
            pending: None,
            wanted: None,
            known: None,
            counts: Counts::default(),
            counted_at: None,
        }
    }

    /// What the hooks said (`Wakes::take`): the news so far, and a job
    /// due then (from the loop's origin), which wants a decision a wake
    /// lead before.
    pub fn heard(&mut self, news: u64, job_due_at: Option<Duration>) {
        self.news = self.news.max(news);
        if let Some(at) = job_due_at {
            self.schedule(at.saturating_sub(self.config.policy.wake_lead()));
        }
    }

    /// Decide now, and check that Heroku has what the record says.
    pub fn check(&mut self) {
        self.check = true;
    }

    pub fn watch(&mut self, now: Duration) {
        self.periodic_at = Some(now);
    }

    fn schedule(&mut self, at: Duration) {
        self.due_at = Some(self.due_at.map_or(at, |due| due.min(at)));
    }

    fn has_news(&self) -> bool {
        self.news > self.covered
    }

    /// Whether this pool wants the app to decide now, and why. A request
    /// always covers every pool (the lease and the window are the app's).
    pub fn wants_decision(&mut self, now: Duration, flushing: bool) -> Option<Why> {
        if let Some(asked) = self.asked {
            if now < asked.at + ANSWER_GRACE {
                return None;
            }
            self.asked = None; // never answered: ask again
        }
        if self.check && now >= self.retry_at {
            Some(Why::Check)
        } else if flushing && self.has_news() && now >= self.retry_at {
            Some(Why::Flush)
        } else if now < self.not_before {
            None
        } else if self.has_news() {
            Some(Why::News)
        } else if self.due_at.is_some_and(|at| at <= now) {
            Some(Why::Due)
        } else if self.periodic_at.is_some_and(|at| at <= now) {
            Some(if self.counted_at.is_none() {
                Why::Boot
            } else {
                Why::Periodic
            })
        } else {
            None
        }
    }

    /// A request for the app is out: this pool's news so far goes with it.
    pub fn ask(&mut self, now: Duration, why: Why) {
        self.asked = Some(Asked {
            at: now,
            why,
            news: self.news,
        });
    }

    /// `period`: a long-running process's count interval (zero: none).
    pub fn answered(&mut self, now: Duration, answer: Answer, period: Duration) {
        let asked = self.asked.take();
        let why = asked.map(|a| a.why);
        if why == Some(Why::Due) {
            self.due_at = self.due_at.filter(|&at| at > now);
        }
        if matches!(why, Some(Why::Periodic | Why::Boot)) {
            self.periodic_at = self
                .periodic_at
                .map(|_| now + period)
                .filter(|_| !period.is_zero());
        }
        match answer {
            Answer::Decided(decided) => self.decided(now, decided, asked.map_or(0, |a| a.news)),
            Answer::Held { retry_in, look_in } => {
                let retry_at = now + retry_in.max(HELD_RETRY_MIN);
                // A periodic look another process has just made is as good
                // as ours, but the look it asked for is the app's to make:
                // whoever made it may have gone since (the record says when).
                if matches!(why, Some(Why::News | Why::Due | Why::Flush | Why::Check)) {
                    self.not_before = self.not_before.max(retry_at);
                }
                if let Some(look_in) = look_in {
                    self.schedule(now + look_in);
                }
                self.retried(why, retry_at);
            }
            Answer::Failed => {
                let retry_at = now + FAILED_PAUSE;
                self.not_before = self.not_before.max(retry_at);
                self.retried(why, retry_at);
            }
        }
    }

    /// A decision that could not be made now is made at `retry_at`: a due
    /// one is due again then, and an exiting process's is not asked again
    /// before (its flush would spin on a held lease).
    fn retried(&mut self, why: Option<Why>, retry_at: Duration) {
        match why {
            Some(Why::Due) => self.schedule(retry_at),
            Some(Why::Flush | Why::Check) => self.retry_at = retry_at,
            _ => {}
        }
    }

    fn decided(&mut self, now: Duration, decided: Decided, news: u64) {
        self.covered = self.covered.max(news);
        self.check = false;
        // A fresh decision: a call it asks for is confirmed when it succeeds,
        // and none means Heroku has (or the window waits for) what it wants.
        self.unconfirmed = false;
        self.awaiting = decided.send.is_some();
        self.wanted = Some(decided.wanted);
        self.known = decided.send.or(decided.from);
        self.counts = decided.counts;
        self.counted_at = Some(now);
        // News cannot lead to a call before the app's window opens; and one
        // process decides at most every DECISION_SPACING, however busy.
        let opens = decided.window_opens_in.map_or(now, |opens| now + opens);
        self.not_before = opens.max(now + DECISION_SPACING);
        if let Some(look) = decided.look_again_in {
            self.schedule(now + look);
        }
        if let Some(quantity) = decided.send {
            self.pending = Some(Call {
                quantity,
                from: decided.from,
                outstanding: decided
                    .counts
                    .runnable
                    .saturating_add(decided.counts.running),
                at_least: decided.counts.runnable >= self.config.policy.count_cap(),
                reason: decided.reason,
                measured: decided.counts.measured,
            });
        }
    }

    /// When news could next lead to a decision, if not now.
    pub fn news_waits_until(&self, now: Duration) -> Option<Duration> {
        (self.asked.is_none() && self.not_before > now).then_some(self.not_before)
    }

    pub fn asked(&self) -> bool {
        self.asked.is_some()
    }

    pub fn take_pending(&mut self) -> Option<Call> {
        self.pending.take()
    }

    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// A call for this pool failed and will be retried: decide again (with
    /// a fresh count) once `retry_at` has come.
    pub fn retry_after_failure(&mut self, retry_at: Duration) {
        self.not_before = self.not_before.max(retry_at);
        self.schedule(retry_at);
        self.unconfirmed = true;
    }

    pub fn succeeded(&mut self, quantity: u32) {
        self.known = Some(quantity);
        self.unconfirmed = false;
        self.awaiting = false;
    }

    /// Heroku refused or failed the call (`retry_after_failure` follows if
    /// it is to be tried again).
    pub fn call_failed(&mut self) {
        self.awaiting = false;
    }

    /// A change asked of Heroku is not confirmed: unanswered, or failed and
    /// to be tried again. An exiting process says so.
    pub fn unconfirmed(&self) -> bool {
        self.awaiting || self.unconfirmed
    }

    /// Nothing left for a flush to see done: no news undecided, no
    /// decision under way, no call unmade or unconfirmed; and, for a flush
    /// that waits for looks until `looks_until`, no look due before then
    /// (the app's window opening, say).
    pub fn settled(&self, looks_until: Option<Duration>) -> bool {
        !self.has_news()
            && !self.check
            && !self.unconfirmed
            && self.asked.is_none()
            && self.pending.is_none()
            && looks_until.map_or(true, |until| {
                self.due_at
                    .map_or(true, |at| at.max(self.not_before) > until)
            })
    }

    /// The earliest instant at which this pool wants attention.
    pub fn next_wake(&self, now: Duration) -> Option<Duration> {
        if let Some(asked) = self.asked {
            return Some(asked.at + ANSWER_GRACE);
        }
        let news = self.has_news().then_some(self.not_before);
        let due = self.due_at.map(|at| at.max(self.not_before));
        [news, due, self.periodic_at]
            .into_iter()
            .flatten()
            .map(|at| at.max(now))
            .min()
    }

    pub fn next_run_in(&self, now: Duration) -> Option<Duration> {
        let counted_at = self.counted_at?;
        self.counts
            .next_run_in
            .map(|d| (counted_at + d).saturating_sub(now))
    }

    /// How the pool sized itself, for log lines: "1 job per worker", "10
    /// per worker: jobs take 3.4 s, dynos boot in 31 s".
    pub fn sizing(&self, measured: Option<Measured>) -> String {
        use crate::policy::Sizing;
        match (self.config.policy.sizing(), measured) {
            (Sizing::JobsPerWorker(1), _) => "1 job per worker".into(),
            (Sizing::JobsPerWorker(n), _) => format!("{n} jobs per worker"),
            (Sizing::Learned { fallback }, None) => {
                format!("{fallback} per worker until jobs and a boot are measured")
            }
            (Sizing::Learned { .. }, Some(m)) => format!(
                "{} per worker: jobs take {}, dynos boot in {}",
                m.jobs_per_worker(self.config.policy.dyno_concurrency()),
                seconds(m.job),
                seconds(m.boot)
            ),
            (Sizing::Rules(rules), _) => format!("{} rules", rules.len()),
        }
    }
}

/// A measured duration in words: "40 ms", "3.4 s", "31 s".
fn seconds(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs < 1.0 {
        format!("{} ms", duration.as_millis())
    } else if secs < 10.0 {
        format!("{secs:.1} s")
    } else {
        format!("{secs:.0} s")
    }
}
