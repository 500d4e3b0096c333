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

use super::api::{FormationApi, Quantities};
use super::event::Event;
use super::outbox::Outbox;
use super::pool::{Call, Pool};
use super::request::{Answer, Request};
use super::signal::Signal;
use super::status::{PoolStatus, Status};
use super::wakes::Wakes;
use crate::backoff::{rate_limit_pause, Backoff, RATE_LIMITED_PAUSE};
use crate::heroku::HerokuError;

const RETRY_BASE: Duration = Duration::from_secs(1);

pub(crate) struct Flusher {
    done: Arc<Signal>,
    deadline: Duration,
    looks: bool,
}
const RETRY_MAX: Duration = Duration::from_secs(120);

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
            Input::Shutdown => {}
        }
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

    async fn send_pending(&mut self, now: Duration) {
        let mut batch: Vec<(usize, Call)> = self
            .pools
            .iter_mut()
            .enumerate()
            .filter_map(|(i, p)| p.take_pending().map(|call| (i, call)))
            .collect();
        if batch.is_empty() {
            return;
        }
        self.publish_status(); // the calls are unconfirmed while they are made
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
        let outbox = &self.outbox;
        batch.retain_mut(|(i, call)| {
            let pool = &mut self.pools[*i];
            let Some(has) = pool.config.workers_in(&reply.value) else {
                return true;
            };
            pool.succeeded(has);
            outbox.event(Event::Learned {
                pool: pool.config.name.clone(),
                quantity: has,
            });
            call.from = call.from.or(Some(has));
            has != call.quantity
        });
    }

    /// One formation call for `batch`; successes are recorded here.
    async fn call(&mut self, batch: &[(usize, Call)]) -> Result<(), HerokuError> {
        let mut updates: Quantities = Vec::new();
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
            self.pools[i].call_failed();
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
            shown.unconfirmed = pool.unconfirmed();
        }
    }

    /// Flush waiters are released once every pool has settled (see
    /// `Pool::settled`), and given up at their deadline.
    fn answer_flushers(&mut self) {
        let now = self.now();
        let pools = &self.pools;
        self.flushers.retain(|f| {
            let looks_until = f.looks.then_some(f.deadline);
            if pools.iter().all(|p| p.settled(looks_until)) {
                f.done.set();
            } else if f.deadline <= now {
                f.done.interrupt();
            } else {
                return true;
            }
            false
        });
    }

    /// xorshift64*: jitter only needs to differ between processes.
    fn random(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}
