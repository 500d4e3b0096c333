//! The dispatcher's loop, on its own thread's tokio runtime: hear the hooks'
//! wake-ups and Ruby's answers, ask Ruby to decide when a pool has news or
//! a decision is due, and make the calls decisions leave (`calls`), one
//! batch at a time, retried and paced by Heroku's rate limit. Which calls are made, and when,
//! is decided app-wide under the store's lease (`crate::decision`): this
//! loop never second-guesses it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Notify;
use tokio::time::{sleep_until, Instant};

use super::api::FormationApi;
use super::event::{Event, Level};
use super::outbox::Outbox;
use super::pool::Pool;
use super::request::{Answer, Request};
use super::signal::Signal;
use super::status::{PoolStatus, Status};
use super::wakes::Wakes;
use crate::backoff::Backoff;
use crate::webhook::Webhook;

mod calls;

const RETRY_BASE: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(120);
const ALERTS_IN_FLIGHT: usize = 4;

pub(crate) struct Flusher {
    done: Arc<Signal>,
    deadline: Duration,
    looks: bool,
}

/// What reaches the loop besides the hooks' wake-ups (`Wakes`): few, and
/// each one answered or acted on.
pub(crate) enum Input {
    Watch,
    /// The Scheduler task: every pool decides now and checks Heroku.
    Check,
    Answer {
        pool: usize,
        answer: Answer,
    },
    /// Set the signal once every pool has settled, or interrupt it after
    /// this long (from when the loop hears it); with `looks`, a look due
    /// within that time is waited for too.
    Flush {
        done: Arc<Signal>,
        timeout: Duration,
        looks: bool,
    },
    /// Post an alert to the webhook.
    Alert {
        text: String,
    },
    Shutdown,
}

pub(crate) struct Engine<A> {
    api: A,
    pools: Vec<Pool>,
    outbox: Arc<Outbox>,
    status: Arc<Mutex<Status>>,
    dry_run: bool,
    origin: Instant,
    /// A long-running process looks at the queue this often (zero: never).
    count_interval: Duration,
    wakes: Arc<Wakes>,
    backoff: Backoff,
    /// No call before this instant: a retry backoff or a rate-limit pause.
    gate: Duration,
    /// Flushes waiting for every pool to settle, each until its deadline.
    flushers: Vec<Flusher>,
    rng: u64,
    webhook: Option<Arc<Webhook>>,
    /// Alerts being posted now: past ALERTS_IN_FLIGHT, more are dropped
    /// (and said), so a webhook that hangs holds no memory.
    alerts_in_flight: Arc<AtomicUsize>,
}

impl<A: FormationApi> Engine<A> {
    pub fn new(
        api: A,
        pools: Vec<Pool>,
        count_interval: Duration,
        wakes: Arc<Wakes>,
        outbox: Arc<Outbox>,
        status: Arc<Mutex<Status>>,
        dry_run: bool,
        origin: Instant,
    ) -> Self {
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Engine {
            api,
            pools,
            outbox,
            status,
            dry_run,
            origin,
            count_interval,
            wakes,
            backoff: Backoff::new(RETRY_BASE, RETRY_MAX),
            gate: Duration::ZERO,
            flushers: Vec::new(),
            rng: seed ^ u64::from(std::process::id()) | 1,
            webhook: None,
            alerts_in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Alerts go to `webhook` (`Dispatcher::alert`).
    pub fn with_webhook(mut self, webhook: Option<Arc<Webhook>>) -> Self {
        self.webhook = webhook;
        self
    }

    /// `urgent` is notified after inputs that must not wait while the loop
    /// is parked (watch, flush, shutdown).
    pub async fn run(mut self, mut inputs: UnboundedReceiver<Input>, urgent: Arc<Notify>) {
        self.publish_status();
        loop {
            let wake = self.next_wake().map(|at| self.origin + at);
            if let Some(parked) = self.parked_until() {
                // No wake-up can lead to a decision before `parked` (the app's
                // window is closed): leave them in the channel until then,
                // which spares every enqueue a thread wake-up.
                let until = wake.map_or(self.origin + parked, |at| at.min(self.origin + parked));
                tokio::select! {
                    () = urgent.notified() => {}
                    () = sleep_until(until) => {}
                }
            } else {
                let wakes = self.wakes.clone();
                let far = self.origin + self.now() + Duration::from_secs(86_400);
                let input = tokio::select! {
                    input = inputs.recv() => Some(input),
                    () = wakes.notify.notified() => None,
                    () = sleep_until(wake.unwrap_or(far)) => None,
                };
                match input {
                    Some(None) | Some(Some(Input::Shutdown)) => break, // every handle is gone, or asked to stop
                    Some(Some(input)) => self.take(input),
                    None => {}
                }
            }
            // Everything else already waiting is folded into this one tick.
            loop {
                match inputs.try_recv() {
                    Ok(Input::Shutdown) | Err(TryRecvError::Disconnected) => return self.stop(),
                    Ok(input) => self.take(input),
                    Err(TryRecvError::Empty) => break,
                }
            }
            self.tick().await;
        }
        self.stop();
    }

    /// Until when the loop may leave wake-ups unread: while no decision is
    /// under way, nothing is being flushed and no pool may decide for news.
    fn parked_until(&self) -> Option<Duration> {
        let now = self.now();
        if !self.flushers.is_empty() || self.pools.iter().any(Pool::asked) {
            return None;
        }
        self.pools
            .iter()
            .map(|p| p.news_waits_until(now))
            .try_fold(Duration::MAX, |until, at| at.map(|at| until.min(at)))
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn take(&mut self, input: Input) {
        let now = self.now();
        match input {
            Input::Watch => self.pools.iter_mut().for_each(|p| p.watch(now)),
            Input::Check => self.pools.iter_mut().for_each(Pool::check),
            Input::Answer { pool, answer } => {
                let period = self.count_interval;
                if let Some(p) = self.pools.get_mut(pool) {
                    p.answered(now, answer, period);
                }
            }
            Input::Flush {
                done,
                timeout,
                looks,
            } => self.flushers.push(Flusher {
                done,
                deadline: now + timeout,
                looks,
            }),
            Input::Alert { text } => self.post_alert(text),
            Input::Shutdown => {}
        }
    }

    /// On a task of its own: a webhook that is slow or down never holds
    /// up a call or a decision. Its outcome is a log line.
    fn post_alert(&mut self, text: String) {
        let Some(webhook) = self.webhook.clone() else {
            return;
        };
        let outbox = self.outbox.clone();
        if self.alerts_in_flight.load(Ordering::Relaxed) >= ALERTS_IN_FLIGHT {
            outbox.event(Event::Notice {
                level: Level::Warn,
                message: format!(
                    "an alert was not posted: {ALERTS_IN_FLIGHT} are still on their way to {}",
                    webhook.host()
                ),
            });
            return;
        }
        let in_flight = self.alerts_in_flight.clone();
        let wakes = self.wakes.clone();
        in_flight.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let event = match webhook.post(&text).await {
                Ok(()) => Event::Notice {
                    level: Level::Debug,
                    message: format!("posted the alert to the webhook at {}", webhook.host()),
                },
                Err(problem) => Event::Notice {
                    level: Level::Warn,
                    message: format!(
                        "could not post the alert to MIDDLE_MANAGEMENT_ALERT_WEBHOOK_URL: {problem}"
                    ),
                },
            };
            outbox.event(event);
            in_flight.fetch_sub(1, Ordering::Relaxed);
            wakes.notify.notify_one(); // a flush may be waiting for it
        });
    }

    fn stop(&mut self) {
        for flusher in self.flushers.drain(..) {
            flusher.done.interrupt();
        }
    }

    /// The hooks' news and due jobs since the last tick.
    fn hear_wakes(&mut self) {
        for (i, pool) in self.pools.iter_mut().enumerate() {
            let (news, due_at) = self.wakes.take(i);
            pool.heard(news, due_at);
        }
    }

    fn next_wake(&self) -> Option<Duration> {
        let now = self.now();
        let calls = self
            .pools
            .iter()
            .any(Pool::has_pending)
            .then_some(self.gate.max(now));
        let flushes_end = self.flushers.iter().map(|f| f.deadline).min();
        self.pools
            .iter()
            .filter_map(|p| p.next_wake(now))
            .chain(calls)
            .chain(flushes_end)
            .min()
    }

    async fn tick(&mut self) {
        self.hear_wakes();
        let now = self.now();
        let flushing = !self.flushers.is_empty();
        let why = self
            .pools
            .iter_mut()
            .filter_map(|p| p.wants_decision(now, flushing))
            .min();
        if let Some(why) = why {
            self.pools.iter_mut().for_each(|p| p.ask(now, why));
            self.outbox.request(Request { why });
        }
        // Calls wait for every decision under way, so pools that change
        // together go out in one batch.
        if now >= self.gate && !self.pools.iter().any(Pool::asked) {
            self.send_pending(now).await;
        }
        self.publish_status();
        self.answer_flushers();
    }

    fn publish_status(&mut self) {
        let now = self.now();
        let mut status = self.status.lock();
        status.dry_run = self.dry_run;
        status
            .pools
            .resize_with(self.pools.len(), PoolStatus::default);
        for (pool, shown) in self.pools.iter().zip(status.pools.iter_mut()) {
            shown.name.clone_from(&pool.config.name);
            shown.desired = pool.wanted;
            shown.known = pool.known;
            shown.runnable = pool.counts.runnable;
            shown.running = pool.counts.running;
            shown.next_run_in = pool.next_run_in(now);
            shown.unconfirmed = pool.unconfirmed();
        }
    }

    /// Flush waiters are released once every pool has settled (see
    /// `Pool::settled`) and no alert is on its way (an exiting process
    /// posts its last one), and given up at their deadline.
    fn answer_flushers(&mut self) {
        let now = self.now();
        let pools = &self.pools;
        let posting = self.alerts_in_flight.load(Ordering::Relaxed) > 0;
        self.flushers.retain(|f| {
            let looks_until = f.looks.then_some(f.deadline);
            if !posting && pools.iter().all(|p| p.settled(looks_until)) {
                f.done.set();
            } else if f.deadline <= now {
                f.done.interrupt();
            } else {
                return true;
            }
            false
        });
    }
}
