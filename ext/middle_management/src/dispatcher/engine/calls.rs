//! The calls a decision leaves, as the loop makes them: one batch per
//! round (Heroku's formation read first where the record does not know
//! it), successes reported as the record's truth, failures retried with
//! backoff and paced by Heroku's rate limit.

use std::time::{Duration, SystemTime};

use super::super::api::Quantities;
use super::super::event::Event;
use super::super::pool::Call;
use super::{Engine, FormationApi};
use crate::backoff::{rate_limit_pause, RATE_LIMITED_PAUSE};
use crate::heroku::HerokuError;

impl<A: FormationApi> Engine<A> {
    pub(super) async fn send_pending(&mut self, now: Duration) {
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
                sizing: pool.sizing(call.measured),
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

    /// xorshift64*: jitter only needs to differ between processes.
    fn random(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}
