//! The dispatcher's loop, on its own thread's tokio runtime: hear the hooks'
//! wake-ups and Ruby's answers, ask Ruby to decide when a pool has news or
//! a decision is due, and make the calls decisions leave, one at a time,
//! retried and paced by Heroku's rate limit. Which calls are made, and when,
//! is decided app-wide under the store's lease (`crate::decision`): this
//! loop never second-guesses it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Notify;
use tokio::time::{sleep_until, Instant};

use super::api::{Formation, FormationApi};
use super::event::Event;
use super::outbox::Outbox;
use super::pool::{Call, PoolState};
use super::request::{Answer, Request};
use super::signal::Signal;
use super::status::{PoolStatus, Status};
use crate::backoff::{rate_limit_pause, Backoff, RATE_LIMITED_PAUSE};
use crate::heroku::HerokuError;

const RETRY_BASE: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(120);

pub(crate) enum Input {
    Wake {
        pool: usize,
        due_in: Option<Duration>,
    },
    Watch,
    Answer {
        pool: usize,
        answer: Answer,
    },
    Flush(Arc<Signal>),
    Shutdown,
}

pub(crate) struct Engine<A> {
    api: A,
    pools: Vec<PoolState>,
    outbox: Arc<Outbox>,
    status: Arc<Mutex<Status>>,
    dry_run: bool,
    origin: Instant,
    /// A long-running process looks at the queue this often (zero: never).
    count_interval: Duration,
    backoff: Backoff,
    /// No call before this instant: a retry backoff or a rate-limit pause.
    gate: Duration,
    flushers: Vec<Arc<Signal>>,
    rng: u64,
}

impl<A: FormationApi> Engine<A> {
    pub fn new(
        api: A,
        pools: Vec<PoolState>,
        count_interval: Duration,
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
            backoff: Backoff::new(RETRY_BASE, RETRY_MAX),
            gate: Duration::ZERO,
            flushers: Vec::new(),
            rng: seed ^ u64::from(std::process::id()) | 1,
        }
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
                let input = match wake {
                    Some(at) => tokio::select! {
                        input = inputs.recv() => Some(input),
                        () = sleep_until(at) => None,
                    },
                    None => Some(inputs.recv().await),
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
        if !self.flushers.is_empty() || self.pools.iter().any(PoolState::asked) {
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
            Input::Wake { pool, due_in } => {
                if let Some(p) = self.pools.get_mut(pool) {
                    p.wake(now, due_in);
                }
            }
            Input::Watch => self.pools.iter_mut().for_each(|p| p.watch(now)),
            Input::Answer { pool, answer } => {
                let period = self.count_interval;
                if let Some(p) = self.pools.get_mut(pool) {
                    p.answered(now, answer, period);
                }
            }
            Input::Flush(done) => self.flushers.push(done),
            Input::Shutdown => {}
        }
    }

    fn stop(&mut self) {
        for waiter in self.flushers.drain(..) {
            waiter.interrupt();
        }
    }

    fn next_wake(&self) -> Option<Duration> {
        let now = self.now();
        let calls = self
            .pools
            .iter()
            .any(PoolState::has_pending)
            .then_some(self.gate.max(now));
        self.pools
            .iter()
            .filter_map(|p| p.next_wake(now))
            .chain(calls)
            .min()
    }

    async fn tick(&mut self) {
        let now = self.now();
        let flushing = !self.flushers.is_empty();
        let why = self
            .pools
            .iter_mut()
            .filter_map(|p| p.wants_decision(now, flushing))
            .min();
        if let Some(why) = why {
            let news = self.pools.iter_mut().map(|p| p.ask(now, why)).collect();
            self.outbox.request(Request { why, news });
        }
        // Calls wait for every decision under way, so pools that change
        // together go out in one batch.
        if now >= self.gate && !self.pools.iter().any(PoolState::asked) {
            self.send_pending(now).await;
        }
        self.publish_status();
        self.answer_flushers();
    }

    async fn send_pending(&mut self, now: Duration) {
        let mut batch: Vec<(usize, Call)> = self
            .pools
            .iter_mut()
            .enumerate()
            .filter_map(|(i, p)| p.take_pending().map(|call| (i, call)))
            .collect();
        if batch.iter().any(|(_, call)| call.from.is_none()) {
            self.learn_formation(&mut batch).await;
        }
        if batch.is_empty() {
            return;
        }
        match self.call(&batch).await {
            Err(error) if !error.is_transient() && batch.len() > 1 => {
                // One pool's refusal (an Eco type over its limit, say) must not
                // hold the others back: ask again for each on its own.
                for one in batch {
                    if let Err(error) = self.call(&[one]).await {
                        self.failed(now, &[one], error);
                    }
                }
            }
            Err(error) => self.failed(now, &batch, error),
            Ok(()) => {}
        }
    }

    /// Heroku's formation, read when a decision did not know what Heroku
    /// has (the app's record is new, a call failed, or a periodic look
    /// checks it): no call sets what Heroku already has, and log lines say
    /// where scaling started from. A failure here is left for the call
    /// itself to report.
    async fn learn_formation(&mut self, batch: &mut Vec<(usize, Call)>) {
        let Ok(reply) = self.api.list().await else {
            return;
        };
        self.note_rate_limit(self.now(), reply.rate_limit_remaining);
        batch.retain_mut(|(i, call)| {
            let pool = &mut self.pools[*i];
            let Some(has) = pool.config.workers_in(&reply.value) else {
                return true;
            };
            pool.succeeded(has);
            call.from = call.from.or(Some(has));
            has != call.quantity
        });
    }

    /// One formation call for `batch`; successes are recorded here.
    async fn call(&mut self, batch: &[(usize, Call)]) -> Result<(), HerokuError> {
        let mut updates: Formation = Vec::new();
        for &(i, call) in batch {
            updates.extend(self.pools[i].config.formation_for(call.quantity));
        }
        let reply = self.api.apply(updates).await;
        let remaining = match &reply {
            Ok(reply) => reply.rate_limit_remaining,
            Err(error) => error.rate_limit_remaining(),
        };
        self.note_rate_limit(self.now(), remaining);
        let reply = reply?;
        self.backoff.reset();
        for &(i, call) in batch {
            let pool = &mut self.pools[i];
            let to = pool
                .config
                .workers_in(&reply.value)
                .unwrap_or(call.quantity);
            pool.succeeded(to);
            self.record_call(i, "ok".into());
            let pool = &self.pools[i];
            self.outbox.event(Event::Scaled {
                pool: pool.config.name.clone(),
                from: call.from,
                to,
                formation: pool.config.formation_for(to),
                outstanding: call.outstanding,
                at_least: call.at_least,
                sizing: pool.sizing(),
                reason: call.reason,
                dry_run: self.dry_run,
            });
        }
        Ok(())
    }

    fn failed(&mut self, now: Duration, batch: &[(usize, Call)], error: HerokuError) {
        for &(i, _) in batch {
            self.record_call(i, error.to_string());
            self.status.lock().pools[i].errors += 1;
        }
        self.status.lock().errors += 1;
        let retry_in = error.is_transient().then(|| {
            let random = self.random();
            let delay = self.backoff.next_delay(random);
            let delay = if error.status() == Some(429) {
                delay.max(RATE_LIMITED_PAUSE)
            } else {
                delay
            };
            self.gate = self.gate.max(now + delay);
            delay
        });
        if let Some(delay) = retry_in {
            for &(i, _) in batch {
                self.pools[i].retry_after_failure(now + delay);
            }
        }
        let calls = batch
            .iter()
            .map(|&(i, call)| (self.pools[i].config.name.clone(), call.quantity))
            .collect();
        self.outbox.event(Event::CallFailed {
            calls,
            error,
            retry_in,
        });
    }

    fn note_rate_limit(&mut self, now: Duration, remaining: Option<u32>) {
        if remaining.is_some() {
            self.status.lock().rate_limit_remaining = remaining;
        }
        self.gate = self.gate.max(now + rate_limit_pause(remaining));
    }

    fn record_call(&mut self, pool: usize, result: String) {
        let mut status = self.status.lock();
        status.calls += 1;
        let pool = &mut status.pools[pool];
        pool.calls += 1;
        pool.last_call_at = Some(SystemTime::now());
        pool.last_result = Some(result);
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
        }
    }

    /// Flush waiters are released once every pool has settled: no news
    /// undecided, no decision under way, no call left to make.
    fn answer_flushers(&mut self) {
        if self.pools.iter().all(PoolState::settled) {
            for waiter in self.flushers.drain(..) {
                waiter.set();
            }
        }
    }

    /// xorshift64*: jitter only needs to differ between processes.
    fn random(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}
