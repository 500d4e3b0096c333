//! The dispatcher's loop, run on its own thread's tokio runtime: take what
//! the hooks reported, let each pool decide, and make at most one Heroku
//! call at a time, paced and retried.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Notify;
use tokio::time::{sleep_until, Instant};

use super::api::{Formation, FormationApi};
use super::event::{Event, EventQueue};
use super::pool::{Count, Delta, PoolState};
use super::signal::Signal;
use super::status::{PoolStatus, Status};
use crate::backoff::{rate_limit_pause, Backoff, RATE_LIMITED_PAUSE};
use crate::heroku::HerokuError;

const RETRY_BASE: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(120);

pub(crate) enum Input {
    Adjust { pool: usize, delta: Delta },
    Counted { pool: usize, count: Count },
    Flush(Arc<Signal>),
    Shutdown,
}

pub(crate) struct Engine<A> {
    api: A,
    pools: Vec<PoolState>,
    activity: Vec<bool>,
    events: Arc<EventQueue>,
    status: Arc<Mutex<Status>>,
    dry_run: bool,
    origin: Instant,
    backoff: Backoff,
    /// No call before this instant: a retry backoff or a rate-limit pause.
    gate: Duration,
    /// The throttle is the app's, not a pool's: calls for several pools in
    /// one window travel together in one batch. Flushing ignores it.
    throttle_until: Duration,
    api_throttle: Duration,
    listed: bool,
    flushers: Vec<Arc<Signal>>,
    rng: u64,
}

impl<A: FormationApi> Engine<A> {
    pub fn new(
        api: A,
        pools: Vec<PoolState>,
        api_throttle: Duration,
        events: Arc<EventQueue>,
        status: Arc<Mutex<Status>>,
        dry_run: bool,
        origin: Instant,
    ) -> Self {
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Engine {
            api,
            activity: vec![false; pools.len()],
            pools,
            events,
            status,
            dry_run,
            origin,
            backoff: Backoff::new(RETRY_BASE, RETRY_MAX),
            gate: Duration::ZERO,
            throttle_until: Duration::ZERO,
            api_throttle,
            listed: false,
            flushers: Vec::new(),
            rng: seed ^ u64::from(std::process::id()) | 1,
        }
    }

    /// `urgent` is notified after inputs that must not wait for the throttle
    /// window (flush, shutdown).
    pub async fn run(mut self, mut inputs: UnboundedReceiver<Input>, urgent: Arc<Notify>) {
        self.publish_status();
        loop {
            let wake = self.next_wake().map(|at| self.origin + at);
            if self.now() < self.throttle_until && self.flushers.is_empty() {
                // Inside a throttle window nothing the hooks report can be sent
                // before it opens: leave their reports in the channel until
                // then, which spares every enqueue a thread wake-up.
                let opens = self.origin + self.throttle_until;
                tokio::select! {
                    () = urgent.notified() => {}
                    () = sleep_until(wake.map_or(opens, |at| at.min(opens))) => {}
                }
            } else {
                let woke_by = match wake {
                    Some(at) => tokio::select! {
                        input = inputs.recv() => Some(input),
                        () = sleep_until(at) => None,
                    },
                    None => Some(inputs.recv().await),
                };
                let input = match woke_by {
                    Some(None) => break, // every handle is gone
                    Some(Some(input)) => Some(input),
                    None => None,
                };
                if input.is_some_and(|input| !self.take(input)) {
                    break;
                }
            }
            // Everything else already waiting is folded into this one tick.
            while let Ok(input) = inputs.try_recv() {
                if !self.take(input) {
                    return self.stop();
                }
            }
            self.tick().await;
        }
        self.stop();
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// False on Shutdown.
    fn take(&mut self, input: Input) -> bool {
        let now = self.now();
        match input {
            Input::Adjust { pool, delta } => {
                if let Some(p) = self.pools.get_mut(pool) {
                    p.adjust(now, delta);
                    self.activity[pool] = true;
                }
            }
            Input::Counted { pool, count } => {
                if let Some(p) = self.pools.get_mut(pool) {
                    p.counted(now, count);
                }
            }
            Input::Flush(done) => self.flushers.push(done),
            Input::Shutdown => return false,
        }
        true
    }

    fn stop(&mut self) {
        for waiter in self.flushers.drain(..) {
            waiter.interrupt();
        }
    }

    fn next_wake(&self) -> Option<Duration> {
        let now = self.now();
        let flushing = !self.flushers.is_empty();
        let gate = self.gate(flushing);
        self.pools
            .iter()
            .filter_map(|p| p.next_wake(now, flushing, gate))
            .min()
    }

    fn gate(&self, flushing: bool) -> Duration {
        let gate = self
            .gate
            .max(self.counts_pending().unwrap_or(Duration::ZERO));
        if flushing {
            gate
        } else {
            gate.max(self.throttle_until)
        }
    }

    /// Counts asked for before a send are on their way (milliseconds): the
    /// pools wait for all of them, so those that change together go out in
    /// one batch. Until when, at the latest.
    fn counts_pending(&self) -> Option<Duration> {
        self.pools
            .iter()
            .filter(|p| p.pacer.flush().is_some())
            .filter_map(|p| p.count_deadline())
            .max()
    }

    async fn tick(&mut self) {
        let now = self.now();
        for (i, pool) in self.pools.iter_mut().enumerate() {
            if pool.wants_recount(now, std::mem::take(&mut self.activity[i])) {
                self.events.push(Event::Recount { pool: i });
            }
        }
        if !self.listed {
            self.learn_formation().await;
        }
        let now = self.now();
        for (i, pool) in self.pools.iter_mut().enumerate() {
            if let Some(event) = pool.decide(now) {
                self.events.push(event);
            }
            if pool.wants_count_to_send(now) {
                self.events.push(Event::Recount { pool: i });
            }
        }
        if now >= self.gate(!self.flushers.is_empty()) && self.counts_pending().is_none() {
            self.send_due(now).await;
        }
        self.publish_status();
        self.answer_flushers();
    }

    fn due(&self, now: Duration) -> Vec<(usize, u32)> {
        let flushing = !self.flushers.is_empty();
        self.pools
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.due(now, flushing).map(|q| (i, q)))
            .collect()
    }

    /// Heroku's formation, read once when the dispatcher first has work (while
    /// Ruby counts), so no call sets what Heroku already has and log lines
    /// say where scaling started from. A failure here is left for the first
    /// real call to report.
    async fn learn_formation(&mut self) {
        self.listed = true;
        if let Ok(reply) = self.api.list().await {
            self.note_rate_limit(self.now(), reply.rate_limit_remaining);
            for pool in &mut self.pools {
                if let Some(workers) = pool.config.workers_in(&reply.value) {
                    pool.pacer.known(workers);
                }
            }
        }
    }

    async fn send_due(&mut self, now: Duration) {
        let batch = self.due(now);
        if batch.is_empty() {
            return;
        }
        match self.call(now, &batch).await {
            Err(error) if !error.is_transient() && batch.len() > 1 => {
                // One pool's refusal (an Eco type over its limit, say) must not
                // hold the others back: ask again for each on its own.
                for one in batch {
                    if let Err(error) = self.call(now, &[one]).await {
                        self.failed(now, &[one], error);
                    }
                }
            }
            Err(error) => self.failed(now, &batch, error),
            Ok(()) => {}
        }
    }

    /// One formation call for `batch` (pool, workers); successes are recorded here.
    async fn call(&mut self, now: Duration, batch: &[(usize, u32)]) -> Result<(), HerokuError> {
        let mut updates: Formation = Vec::new();
        for &(i, workers) in batch {
            self.pools[i].pacer.sent(now, workers);
            updates.extend(self.pools[i].config.formation_for(workers));
        }
        self.throttle_until = now + self.api_throttle;
        let reply = self.api.apply(updates).await;
        let remaining = match &reply {
            Ok(reply) => reply.rate_limit_remaining,
            Err(error) => error.rate_limit_remaining(),
        };
        self.note_rate_limit(now, remaining);
        let reply = reply?;
        self.backoff.reset();
        for &(i, workers) in batch {
            let pool = &mut self.pools[i];
            let from = pool.pacer.known_quantity();
            let to = pool.config.workers_in(&reply.value).unwrap_or(workers);
            pool.pacer.known(to);
            self.record_call(i, "ok".into());
            self.events.push(Event::Scaled {
                pool: self.pools[i].config.name.clone(),
                from,
                to,
                formation: self.pools[i].config.formation_for(to),
                outstanding: self.pools[i].outstanding(),
                sizing: self.pools[i].sizing(),
                dry_run: self.dry_run,
            });
        }
        Ok(())
    }

    fn failed(&mut self, now: Duration, batch: &[(usize, u32)], error: HerokuError) {
        for &(i, workers) in batch {
            self.pools[i].pacer.failed(now);
            if !error.is_transient() {
                self.pools[i].refused = Some(workers);
            }
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
        let pools = batch
            .iter()
            .map(|&(i, _)| self.pools[i].config.name.clone())
            .collect();
        self.events.push(Event::CallFailed {
            pools,
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
            let (runnable, running, next_run_at) = pool.counts();
            shown.name.clone_from(&pool.config.name);
            shown.desired = pool.pacer.desired();
            shown.known = pool.pacer.known_quantity();
            shown.runnable = runnable;
            shown.running = running;
            shown.next_run_in = next_run_at.map(|at| at.saturating_sub(now));
        }
    }

    /// Flush waiters are released once nothing is left to send or count.
    fn answer_flushers(&mut self) {
        let now = self.now();
        let pending = self
            .pools
            .iter()
            .any(|p| p.awaiting_count() || p.due(now, true).is_some());
        if !pending {
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
